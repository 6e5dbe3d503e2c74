//! faultline: a Jepsen-style consistency test harness.
//!
//! # Layout
//!
//! - [`history`]: the op model, the JSONL history reader/writer, and importers for Jepsen EDN
//!   and Porcupine logs. Pure: readers take any `BufRead`.
//! - [`checker`]: pure functions from a history to a verdict: linearizability (Wing–Gong–Lowe
//!   search with memoization and P-compositionality) over pluggable models.
//! - [`generator`]: pure, seeded op generators and combinators (Jepsen's design): logical
//!   time in a context, a driver for the runner, a simulated interpreter for tests.
//! - [`workload`]: workload definitions (TOML in `workloads/`, validated without I/O) turned
//!   into client and final-read generators and checker settings.
//! - [`nemesis`]: faults as data (partition maths, the op vocabulary, TOML schedules, the
//!   seeded schedule) plus the backends that apply and heal them: the link proxy mesh,
//!   iptables inside network namespaces, and user commands for external clusters.
//! - [`cluster`]: local raftkv processes wired through the proxy mesh, local etcd processes in
//!   per-run network namespaces, and external nodes: start, kill -9, restart, pause, resume,
//!   leader lookup, and `cluster up|down|status`.
//! - [`client`]: how a worker talks to a node: the `Client` trait, the error mapping
//!   (ok / fail / info), the raftkv and etcd clients and the templated HTTP client (TOML).
//!
//! - [`rundir`]: a run directory, typed: its file names, `test.json` and `results.json` as
//!   versioned serde records, the directory itself and its log. Shared by the runner (which
//!   writes) and the report, `serve` and JUnit (which read).
//! - [`runner`]: the test lifecycle, the only part that spawns tasks and reads the clock:
//!   workers, the nemesis task, history streaming, heal on every path, the results store.
//! - [`report`]: report.html (anomalies, timeline, plots) and JUnit XML, rendered purely from a
//!   run's facts and history.
//! - [`cli`]: the `faultline` commands (`check`, `test`, `cluster`, `report`, `serve`) over the
//!   parts above.
#![warn(missing_docs)]

pub mod checker;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod generator;
pub mod history;
pub mod journal;
pub mod nemesis;
pub mod net;
pub mod node_addr;
pub mod node_control;
pub mod report;
pub mod rundir;
pub mod runner;
pub mod seed;
pub mod target;
pub mod workload;
