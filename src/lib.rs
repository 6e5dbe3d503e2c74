//! faultline: a Jepsen-style consistency test harness.
//!
//! # Layout
//!
//! - [`history`]: the op model, the JSONL history reader/writer, and importers for Jepsen EDN
//!   and Porcupine logs. Pure: readers take any `BufRead`.
//! - [`checker`]: pure functions from a history to a verdict: linearizability (Wing–Gong–Lowe
//!   search with memoization and P-compositionality) over pluggable models.
//!
//! Later parts (generator, runner, client, nemesis, cluster, report) follow DESIGN.md.
#![warn(missing_docs)]

pub mod checker;
pub mod cli;
pub mod history;
