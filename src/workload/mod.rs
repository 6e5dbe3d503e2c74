//! Workloads: what clients do and how their history is judged, defined in TOML
//! (`workloads/*.toml`) and turned into generators and checker settings.
//!
//! Loading has two stages (ripgrep's low/high split): [`WorkloadSpec::from_toml`] validates
//! text with no I/O, naming the file and field in every error, so a bad file fails before any
//! node starts; [`WorkloadSpec::load`] is the only function that reads a file.
//!
//! # Fields
//!
//! | field | meaning |
//! |---|---|
//! | `name`, `description` | what the workload is called and does |
//! | `keys` | keys worked on at once (each by a group of client threads); 0 or absent = one register, ops carry no key |
//! | `ops_per_key` | ops on a key before its group moves to a fresh key (keyed workloads; default 200) |
//! | `final_reads` | after healing, every client thread reads every key used (default true) |
//! | `[mix]` `read`, `write`, `cas` | relative weights, non-negative numbers |
//! | `[values]` `kind`, `range` | `"unique"` (default): each write/cas writes the next integer for its key; `"random"`: uniform in `range = [min, max]` |
//! | `[[checkers]]` `name`, `model`, `initial`, `nil_reads_match_any` | `linearizability` against `register` or `cas-register`, with the model options |
//!
//! Keys and the rotation: see [`crate::generator::independent`]. Keys are integers 0, 1, ...

mod error;
mod ops;
mod parse;

pub use error::WorkloadError;
pub use ops::{RegisterOps, RECENT};
pub use parse::DEFAULT_OPS_PER_KEY;

use serde_json::Value;

use crate::checker::{LinearizabilityOptions, ModelKind, ModelOptions};
use crate::generator::{
    each_thread, from_fn, independent, on_clients, op, with_rng, BoxGen, KeyCounter, OpTemplate,
};

/// The built-in workloads, by name, embedded in the binary.
const BUILTINS: &[(&str, &str)] = &[
    ("register", include_str!("../../workloads/register.toml")),
    (
        "cas-register",
        include_str!("../../workloads/cas-register.toml"),
    ),
];

/// The workload `faultline test` runs when `--workload` is not given.
pub const DEFAULT_WORKLOAD: &str = "cas-register";

/// Relative weights of each register op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpMix {
    /// Weight of `read`.
    pub read: f64,
    /// Weight of `write`.
    pub write: f64,
    /// Weight of `cas`.
    pub cas: f64,
}

/// Which values writes and cas ops write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueSpec {
    /// The next integer for the key (1, 2, ...): every write is distinguishable.
    Unique,
    /// Uniform integers in `min..=max` (Jepsen's style; values repeat).
    Random {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
}

/// Which checker judges the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckerKind {
    /// The linearizability checker ([`crate::checker::check`]).
    Linearizability,
}

/// One checker of a workload, with its model and the model's options.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckerSpec {
    /// Which checker.
    pub kind: CheckerKind,
    /// The sequential specification.
    pub model: ModelKind,
    /// Initial value and the nil-read rule.
    pub options: ModelOptions,
}

impl CheckerSpec {
    /// The options to pass to [`crate::checker::check`] (keys checked independently; no
    /// deadline or cancel flag: the runner adds those).
    pub fn linearizability_options(&self) -> LinearizabilityOptions {
        LinearizabilityOptions {
            model: self.model,
            model_options: self.options.clone(),
            ..LinearizabilityOptions::default()
        }
    }
}

/// A validated workload definition.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    /// Its name (also the test name in `results/<test>/`).
    pub name: String,
    /// One line on what it does.
    pub description: String,
    /// Where it came from: a path, or `builtin:NAME`.
    pub source: String,
    /// Keys worked on at once; 0 = the single register.
    pub keys: u64,
    /// Ops per key before moving to a fresh key (ignored when `keys` is 0).
    pub ops_per_key: u64,
    /// Whether to read every key after healing.
    pub final_reads: bool,
    /// Op weights.
    pub mix: OpMix,
    /// Value policy.
    pub values: ValueSpec,
    /// How the history is judged (at least one).
    pub checkers: Vec<CheckerSpec>,
}

/// The generators a workload contributes to a test.
pub struct WorkloadGenerators {
    /// Client ops for the main phase: endless (the runner time-limits it and, for `--rate`,
    /// wraps it in [`crate::generator::stagger`]). Routed to client threads only.
    pub client: BoxGen,
    /// Final reads after healing and recovery: one read of every key used per client thread;
    /// `None` when the workload turns them off.
    pub final_reads: Option<BoxGen>,
    /// Keys used so far (`0..keys.get()`); the final reads read this at their start.
    pub keys: KeyCounter,
}

impl WorkloadSpec {
    /// Parses and validates TOML `text`; `source` names it in errors (a path or
    /// `builtin:NAME`). No I/O.
    pub fn from_toml(text: &str, source: &str) -> Result<WorkloadSpec, WorkloadError> {
        parse::parse(text, source)
    }

    /// The TOML text of a built-in workload (`register`, `cas-register`), if `name` is one.
    pub fn builtin(name: &str) -> Option<&'static str> {
        BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// The names of the built-in workloads.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTINS.iter().map(|(n, _)| *n).collect()
    }

    /// `--workload NAME|FILE`: a built-in name, else the file at that path. The only function
    /// here that does I/O.
    pub fn load(name_or_path: &str) -> Result<WorkloadSpec, WorkloadError> {
        if let Some(text) = WorkloadSpec::builtin(name_or_path) {
            return WorkloadSpec::from_toml(text, &format!("builtin:{name_or_path}"));
        }
        let text =
            std::fs::read_to_string(name_or_path).map_err(|error| WorkloadError::NotFound {
                name: name_or_path.to_string(),
                builtins: WorkloadSpec::builtin_names().join(", "),
                error,
            })?;
        WorkloadSpec::from_toml(&text, name_or_path)
    }

    /// The model of the first linearizability checker, with its options (what `faultline
    /// check --model` would be given for this workload's history).
    pub fn model(&self) -> Option<(ModelKind, ModelOptions)> {
        self.checkers
            .iter()
            .find(|c| c.kind == CheckerKind::Linearizability)
            .map(|c| (c.model, c.options.clone()))
    }

    /// The client and final-read generators, drawing from their own random streams derived
    /// from `seed` (so the same seed gives the same ops whatever else draws randomness). The
    /// concurrency comes from the driver's [`crate::generator::Context`].
    pub fn generators(&self, seed: u64) -> WorkloadGenerators {
        let keys = KeyCounter::new();
        let (mix, values) = (self.mix, self.values);
        let client: BoxGen = if self.keys == 0 {
            Box::new(RegisterOps::new(mix, values))
        } else {
            let groups = usize::try_from(self.keys).unwrap_or(usize::MAX);
            Box::new(
                independent(groups, self.ops_per_key, move |_key| {
                    Box::new(RegisterOps::new(mix, values)) as BoxGen
                })
                .with_counter(keys.clone()),
            )
        };
        let client = Box::new(with_rng(seed, on_clients(client)));
        let final_reads = self
            .final_reads
            .then(|| final_reads(self.keys > 0, keys.clone(), seed));
        WorkloadGenerators {
            client,
            final_reads,
            keys,
        }
    }
}

/// One read of every key used (or of the single register) per client thread.
fn final_reads(keyed: bool, keys: KeyCounter, seed: u64) -> BoxGen {
    let per_thread = move |_thread| -> BoxGen {
        if !keyed {
            return Box::new(op(OpTemplate::new("read", Value::Null)));
        }
        // Built when the final phase first asks, so it sees every key the main phase used.
        let n = keys.get();
        let mut k = 0u64;
        Box::new(from_fn(move |_rng| {
            (k < n).then(|| {
                let t = OpTemplate::new("read", Value::Null).with_key(Value::from(k));
                k += 1;
                t
            })
        }))
    };
    Box::new(with_rng(
        seed.wrapping_add(1),
        on_clients(each_thread(per_thread)),
    ))
}
