//! Checkers: pure functions from a history to a verdict.
//!
//! Every checker returns a [`CheckResult`]: a three-way [`Validity`] (unknown is never a silent
//! true), the [`Anomaly`]s it found (each citing ops by history index with a plain-language
//! explanation), and [`CheckStats`]. The set, bank and transaction checkers reuse these types.
//!
//! - [`model`]: sequential specifications (register, cas-register, kv, mutex, set, ...), each a
//!   pure step function over compact interned states.
//! - [`select`]: the one entry point ([`check_with`]) from a named [`CheckModel`] to its checker.
//! - [`txn`]: transactional isolation (Elle-style list-append and rw-register checking).
//! - [`linear`]: the linearizability checker (Wing–Gong–Lowe search with memoization,
//!   P-compositionality and partial-order reduction), with explanations for invalid histories.
//! - [`workload`]: whole-history checkers for Jepsen's classic workloads: `set-full`, `bank`,
//!   `counter` and `unique-ids`.
//!
//! Nothing here does I/O or touches a clock other than reading `Instant::now()` against a
//! deadline.

pub(crate) mod hash;
pub mod linear;
pub mod model;
pub mod select;
pub mod txn;
pub mod verdict;
pub mod workload;

use serde::Serialize;
use serde_json::Value;

pub use linear::{check, CheckError, LinearizabilityOptions};
pub use model::{ModelKind, ModelOptions};
pub use select::{check_compact_with, check_with, CheckModel, CheckOptions, Checkable};
pub use verdict::{Outcome, Validity};

/// One thing wrong with a history, as a person should read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// What kind of anomaly, e.g. `nonlinearizable`, `lost-write`, `G1c`.
    pub kind: String,
    /// The key it concerns, when the workload is keyed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The ops involved, by history index of their invoke event; the most relevant first.
    pub ops: Vec<u64>,
    /// One or two plain sentences saying what went wrong.
    pub explanation: String,
    /// Checker-specific evidence (a failed linearization, a cycle, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
}

/// Checker-specific evidence behind an anomaly; later checkers add variants.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Witness {
    /// Why a history (or one key of it) is not linearizable.
    Linearization(Box<linear::LinearizationWitness>),
    /// A dependency cycle between transactions (G0, G1c, G-single, ...).
    Cycle(txn::TxnCycle),
}

/// Counters a checker reports beside its verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CheckStats {
    /// Client ops the checker looked at (after dropping ops that cannot matter).
    pub ops: u64,
    /// Independent sub-histories (keys) checked.
    pub keys: u64,
    /// Search states explored (memoized configurations), summed over keys.
    pub states_explored: u64,
    /// Peak approximate memory of the checker's caches, in bytes.
    pub cache_bytes: u64,
    /// Wall-clock checking time, in seconds (explanation included).
    pub elapsed_secs: f64,
    /// Of `elapsed_secs`, the seconds spent explaining an invalid verdict (shrinking the
    /// failing key to its core, the witness), when the checker does that as a step of its
    /// own (linearizability); `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain_secs: Option<f64>,
}

/// A checker's verdict with its anomalies and stats; what results.json stores per checker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// Which checker produced this, e.g. `linearizability`.
    pub checker: String,
    /// The verdict.
    pub valid: Validity,
    /// Why the verdict is unknown (`timeout`, `memory limit`, `cancelled`), when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// What was found wrong; empty when valid.
    pub anomalies: Vec<Anomaly>,
    /// Counters.
    pub stats: CheckStats,
    /// Checker-specific facts beside the verdict (set-full's per-outcome counts, bank's series
    /// of totals over time, the transactional checker's consistency model and the models ruled
    /// out, `not` and `also-not`); `None` for checkers that have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_serializes_like_jepsen() {
        let cases = [
            (Validity::Valid, "true"),
            (Validity::Invalid, "false"),
            (Validity::Unknown, "\"unknown\""),
        ];
        for (i, (v, want)) in cases.iter().enumerate() {
            assert_eq!(serde_json::to_string(v).unwrap(), *want, "case {i}");
        }
    }

    #[test]
    fn merge_ranks_invalid_over_unknown_over_valid() {
        use Validity::*;
        assert_eq!(Valid.merge(Valid), Valid);
        assert_eq!(Valid.merge(Unknown), Unknown);
        assert_eq!(Unknown.merge(Invalid), Invalid);
        assert_eq!(Invalid.merge(Valid), Invalid);
        assert_eq!(Invalid.exit_code(), 1);
    }
}
