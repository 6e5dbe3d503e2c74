//! Workloads: what clients do and how their history is judged, defined in TOML
//! (`workloads/*.toml`) and turned into generators and checker settings.
//!
//! Loading has two stages (ripgrep's low/high split): [`WorkloadSpec::from_toml`] validates
//! text with no I/O, naming the file and field in every error, so a bad file fails before any
//! node starts; [`WorkloadSpec::load`] is the only function that reads a file.
//!
//! # Fields
//!
//! Every workload has a `kind` (default `register`): `register` (the register family:
//! `register`, `cas-register`), `set`, `counter`, `bank`, `unique-ids`, `list-append`,
//! `rw-register`. Each kind has its own fields (docs/workloads.md lists them all); the
//! register family's are:
//!
//! | field | meaning |
//! |---|---|
//! | `name`, `description` | what the workload is called and does |
//! | `keys` | keys worked on at once (each by a group of client threads); 0 or absent = one register, ops carry no key |
//! | `ops_per_key` | ops on a key before its group moves to a fresh key (keyed workloads; default 100) |
//! | `final_reads` | after healing, every client thread reads every key used (default true) |
//! | `[mix]` `read`, `write`, `cas` | relative weights, non-negative numbers |
//! | `[values]` `kind`, `range` | `"unique"` (default): each write/cas writes the next integer for its key; `"random"`: uniform in `range = [min, max]` |
//! | `[[checkers]]` `name`, `model`, `initial`, `nil_reads_match_any` | `linearizability` against `register` or `cas-register`, with the model options |
//!
//! `[[checkers]]` of the other kinds name their checker by `model` (`set-full`, `counter`,
//! `bank` with `accounts`/`total`, `unique-ids`, `list-append`/`rw-register` with
//! `consistency_model`). Each table becomes one [`CheckerSpec`] variant carrying that checker's
//! options only; the kind's ops reach the target through its client [`Profile`]
//! ([`WorkloadSpec::client_profile`]).
//!
//! Keys and the rotation: see [`crate::generator::independent`]. Keys are integers 0, 1, ...

mod classic;
mod error;
mod kind;
mod ops;
mod parse;
mod txn;

pub use error::WorkloadError;
pub use kind::{
    BankParams, CounterParams, KeyDistribution, SetParams, TxnParams, WorkloadKind, KAFKA_KEYS,
};
pub use ops::{RegisterOps, RECENT};
pub use parse::DEFAULT_OPS_PER_KEY;
pub use txn::{TxnOps, TxnStyle};

use crate::seed::{names, SeedTree};
use serde_json::Value;

use crate::checker::txn::ConsistencyModel;
use crate::checker::{
    workload::BankOptions, CheckModel, CheckOptions, LinearizabilityOptions, ModelKind,
    ModelOptions,
};
use crate::client::{Invocation, Profile};
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
    ("set", include_str!("../../workloads/set.toml")),
    ("counter", include_str!("../../workloads/counter.toml")),
    ("bank", include_str!("../../workloads/bank.toml")),
    (
        "unique-ids",
        include_str!("../../workloads/unique-ids.toml"),
    ),
    (
        "list-append",
        include_str!("../../workloads/list-append.toml"),
    ),
    (
        "rw-register",
        include_str!("../../workloads/rw-register.toml"),
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

/// One checker of a workload, with the options of that checker only (`[[checkers]]` in the
/// TOML file, validated).
#[derive(Debug, Clone, PartialEq)]
pub enum CheckerSpec {
    /// Linearizability against a sequential model (the register family: `register` or
    /// `cas-register`).
    Linearizability {
        /// The sequential model.
        model: ModelKind,
        /// The initial value and the nil-read rule.
        options: ModelOptions,
    },
    /// Jepsen's set-full: what became of every element added.
    SetFull {
        /// Whether a stale element is an anomaly (default true: the targets promise
        /// linearizability).
        linearizable: bool,
    },
    /// Every counter read lies between the acknowledged and the attempted increments.
    Counter {
        /// Whether every read owes the lower bound (default true); `false`: only reads after
        /// the adds are over (an eventually consistent counter).
        linearizable: bool,
    },
    /// Every read of all balances keeps the total and has no negative balance.
    Bank {
        /// The number of accounts, named "0" .. "accounts-1".
        accounts: u64,
        /// What they hold together.
        total: i64,
    },
    /// No id handed out twice.
    UniqueIds,
    /// Maelstrom's kafka logs: no lost, reordered or conflicting offsets, committed offsets
    /// never going back.
    Kafka,
    /// Elle's list-append: the transactions' dependency graph has no cycle the model forbids.
    ListAppend {
        /// The consistency model to check (`None`: the checker's default,
        /// strict-serializable).
        consistency_model: Option<ConsistencyModel>,
    },
    /// Elle's rw-register: as list-append, for transactions of register writes and reads.
    RwRegister {
        /// The consistency model to check (`None`: the checker's default,
        /// strict-serializable).
        consistency_model: Option<ConsistencyModel>,
    },
}

impl CheckerSpec {
    /// What [`crate::checker::check_with`] checks against for this checker.
    pub fn model(&self) -> CheckModel {
        match self {
            CheckerSpec::Linearizability { model, .. } => CheckModel::Linear(*model),
            CheckerSpec::SetFull { .. } => CheckModel::SetFull,
            CheckerSpec::Counter { .. } => CheckModel::Counter,
            CheckerSpec::Bank { .. } => CheckModel::Bank,
            CheckerSpec::UniqueIds => CheckModel::UniqueIds,
            CheckerSpec::Kafka => CheckModel::Kafka,
            CheckerSpec::ListAppend { .. } => CheckModel::ListAppend,
            CheckerSpec::RwRegister { .. } => CheckModel::RwRegister,
        }
    }

    /// The checker's name in results: `linearizability` or the workload checker's model name.
    pub fn checker_name(&self) -> &'static str {
        match self {
            CheckerSpec::Linearizability { .. } => "linearizability",
            other => other.model().name(),
        }
    }

    /// The options to pass to [`crate::checker::check`] (keys checked independently; no
    /// deadline or cancel flag: the runner adds those). Meaningful for linearizability only:
    /// any other checker gets the register model with default options.
    pub fn linearizability_options(&self) -> LinearizabilityOptions {
        match self {
            CheckerSpec::Linearizability { model, options } => LinearizabilityOptions {
                model: *model,
                model_options: options.clone(),
                ..LinearizabilityOptions::default()
            },
            _ => LinearizabilityOptions {
                model: ModelKind::Register,
                ..LinearizabilityOptions::default()
            },
        }
    }

    /// The options to pass to [`crate::checker::check_with`]; the runner adds the deadline.
    pub fn check_options(&self) -> CheckOptions {
        let mut opts = CheckOptions::new(self.model());
        match self {
            CheckerSpec::Linearizability { options, .. } => opts.model_options = options.clone(),
            CheckerSpec::SetFull { linearizable } => opts.set_full.linearizable = *linearizable,
            CheckerSpec::Counter { linearizable } => opts.counter.linearizable = *linearizable,
            CheckerSpec::Bank { accounts, total } => {
                opts.bank = BankOptions {
                    accounts: Some(BankOptions::numbered(
                        usize::try_from(*accounts).unwrap_or(usize::MAX),
                    )),
                    total: Some(*total),
                };
            }
            CheckerSpec::ListAppend { consistency_model }
            | CheckerSpec::RwRegister { consistency_model } => {
                if let Some(c) = consistency_model {
                    opts.consistency_model = *c;
                }
            }
            CheckerSpec::UniqueIds | CheckerSpec::Kafka => {}
        }
        opts
    }

    /// The spec as JSON in the TOML file's shape.
    fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("name".into(), Value::from(self.checker_name()));
        m.insert("model".into(), Value::from(self.model().name()));
        match self {
            CheckerSpec::Linearizability { options, .. } => {
                if !options.initial.is_null() {
                    m.insert("initial".into(), options.initial.clone());
                }
                m.insert(
                    "nil_reads_match_any".into(),
                    Value::from(options.nil_reads_match_any),
                );
            }
            CheckerSpec::SetFull { linearizable } => {
                m.insert("linearizable".into(), Value::from(*linearizable));
            }
            // Written only when set, so the default counter's JSON stays as it always was.
            CheckerSpec::Counter { linearizable } => {
                if !linearizable {
                    m.insert("linearizable".into(), Value::from(false));
                }
            }
            CheckerSpec::Bank { accounts, total } => {
                m.insert("accounts".into(), Value::from(*accounts));
                m.insert("total".into(), Value::from(*total));
            }
            CheckerSpec::ListAppend { consistency_model }
            | CheckerSpec::RwRegister { consistency_model } => {
                if let Some(c) = consistency_model {
                    m.insert("consistency_model".into(), Value::from(c.name()));
                }
            }
            CheckerSpec::UniqueIds | CheckerSpec::Kafka => {}
        }
        Value::Object(m)
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
    /// What kind of workload, with the parameters of kinds other than the register family.
    pub kind: WorkloadKind,
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

impl WorkloadSpec {
    /// Makes every transactional checker (list-append, rw-register) judge against `model`
    /// (`faultline test --consistency-model`); false when the spec has none.
    pub fn set_consistency_model(&mut self, model: ConsistencyModel) -> bool {
        let mut any = false;
        for checker in &mut self.checkers {
            if let CheckerSpec::ListAppend { consistency_model }
            | CheckerSpec::RwRegister { consistency_model } = checker
            {
                *consistency_model = Some(model);
                any = true;
            }
        }
        any
    }

    /// The spec as JSON in the TOML file's shape (for test.json: the whole resolved config).
    /// `initial` is left out when it is `null`, as TOML has no null.
    pub fn to_json(&self) -> Value {
        let checkers: Vec<Value> = self.checkers.iter().map(CheckerSpec::to_json).collect();
        if self.kind != WorkloadKind::Register {
            let mut spec = self.kind.params_json();
            spec.insert("name".into(), Value::from(self.name.clone()));
            spec.insert("description".into(), Value::from(self.description.clone()));
            spec.insert("source".into(), Value::from(self.source.clone()));
            spec.insert("kind".into(), Value::from(self.kind.name()));
            if self.final_reads_apply() {
                spec.insert("final_reads".into(), Value::from(self.final_reads));
            }
            spec.insert("checkers".into(), Value::from(checkers));
            return Value::Object(spec);
        }
        let values = match self.values {
            ValueSpec::Unique => serde_json::json!({ "kind": "unique" }),
            ValueSpec::Random { min, max } => {
                serde_json::json!({ "kind": "random", "range": [min, max] })
            }
        };
        let mut spec = serde_json::json!({
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "keys": self.keys,
            "final_reads": self.final_reads,
            "mix": { "read": self.mix.read, "write": self.mix.write, "cas": self.mix.cas },
            "values": values,
            "checkers": checkers,
        });
        if self.keys > 0 {
            spec["ops_per_key"] = Value::from(self.ops_per_key);
        }
        spec
    }
}

impl serde::Serialize for WorkloadSpec {
    /// As [`WorkloadSpec::to_json`].
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// The generators a workload contributes to a test.
pub struct WorkloadGenerators {
    /// Client ops for the main phase: endless (the runner time-limits it and, for `--rate`,
    /// wraps it in [`crate::generator::stagger`]). Routed to client threads only.
    pub client: BoxGen,
    /// Final reads after healing and recovery: one read of every key used per client thread
    /// (set, counter, bank: one read of the whole state per client thread); `None` when the
    /// workload has none or turns them off.
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
        self.checkers.iter().find_map(|c| match c {
            CheckerSpec::Linearizability { model, options } => Some((*model, options.clone())),
            _ => None,
        })
    }

    /// Whether this kind reads its whole state after healing (set, counter, bank, and the
    /// register family).
    pub fn final_reads_apply(&self) -> bool {
        matches!(
            self.kind,
            WorkloadKind::Register
                | WorkloadKind::Set(_)
                | WorkloadKind::Counter(_)
                | WorkloadKind::Bank(_)
        )
    }

    /// The client profile the workload's ops go through (`None`: read, write, cas): raftkv's
    /// and `--client` specs' `[profiles.NAME.OP]`, etcd's mappings.
    pub fn client_profile(&self) -> Option<Profile> {
        self.kind.client_profile()
    }

    /// Ops to run once, before the main phase and outside the history (Jepsen's client
    /// setup): the bank's opening balances, written to keys `bank-0`, `bank-1`, ... through
    /// the client's `write`. Each is idempotent, so the runner may retry it until it is ok.
    pub fn setup_ops(&self) -> Vec<Invocation> {
        match &self.kind {
            WorkloadKind::Bank(p) => (0..p.accounts)
                .map(|i| Invocation {
                    f: "write".into(),
                    key: Some(Value::from(format!("bank-{i}"))),
                    value: Value::from(p.opening_balance(i)),
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The client and final-read generators, drawing from their own random streams: the
    /// sub-seeds `ops` and `final-reads` of the run's `seed` ([`crate::seed`]), so the same
    /// seed gives the same ops whatever else draws randomness. The
    /// concurrency comes from the driver's [`crate::generator::Context`].
    pub fn generators(&self, seed: u64) -> WorkloadGenerators {
        let seeds = SeedTree::new(seed);
        let (ops_seed, reads_seed) = (seeds.derive(names::OPS), seeds.derive(names::FINAL_READS));
        let keys = KeyCounter::new();
        let other: Option<BoxGen> = match &self.kind {
            WorkloadKind::Register => None,
            WorkloadKind::Set(p) => Some(classic::set_ops(*p)),
            WorkloadKind::Counter(p) => Some(classic::counter_ops(*p)),
            WorkloadKind::Bank(p) => Some(classic::bank_ops(*p)),
            WorkloadKind::UniqueIds => Some(classic::unique_id_ops()),
            WorkloadKind::Kafka => Some(classic::kafka_ops()),
            WorkloadKind::ListAppend(p) => Some(Box::new(TxnOps::new(*p, TxnStyle::Append))),
            WorkloadKind::RwRegister(p) => Some(Box::new(TxnOps::new(*p, TxnStyle::Write))),
        };
        if let Some(client) = other {
            let final_reads = (self.final_reads && self.final_reads_apply()).then(|| {
                let per_thread = |_thread| -> BoxGen { Box::new(op(classic::final_read())) };
                Box::new(with_rng(reads_seed, on_clients(each_thread(per_thread)))) as BoxGen
            });
            return WorkloadGenerators {
                client: Box::new(with_rng(ops_seed, on_clients(client))),
                final_reads,
                keys,
            };
        }
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
        let client = Box::new(with_rng(ops_seed, on_clients(client)));
        let final_reads = self
            .final_reads
            .then(|| final_reads(self.keys > 0, keys.clone(), reads_seed));
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
    Box::new(with_rng(seed, on_clients(each_thread(per_thread))))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use super::*;
    use crate::generator::sim::{invokes, simulate, SimConfig};
    use crate::generator::{phases, time_limit};
    use crate::history::{Event, EventType, Process};

    /// The main phase for `limit` of simulated time, then the final reads.
    fn run(spec: &WorkloadSpec, c: usize, seed: u64, crash: f64, limit: Duration) -> Vec<Event> {
        let gens = spec.generators(seed);
        let mut parts: Vec<BoxGen> = vec![Box::new(time_limit(limit, gens.client))];
        parts.extend(gens.final_reads);
        let config = SimConfig {
            concurrency: c,
            seed,
            info_probability: crash,
            ..SimConfig::default()
        };
        simulate(phases(parts), &config).unwrap_or_else(|e| panic!("seed {seed}: {e}"))
    }

    fn builtin(name: &str) -> WorkloadSpec {
        WorkloadSpec::load(name).unwrap()
    }

    /// Every built-in workload as the hand-written reader read it (its `to_json`), and the
    /// first ops it generates for a fixed seed: pinned before the reader moved to serde, so
    /// any change in what a built-in means shows up here.
    const PINNED_BUILTINS: &str = include_str!("../../tests/fixtures/workload-builtins.json");

    /// A built-in's spec and its first 40 invokes (process, f, key, value) for seed 42.
    fn pinned_view(spec: &WorkloadSpec) -> Value {
        let events = run(spec, 4, 42, 0.1, Duration::from_micros(20));
        let ops: Vec<Value> = invokes(&events)
            .iter()
            .take(40)
            .map(|e| serde_json::json!([e.process, e.f, e.key, e.value]))
            .collect();
        let checks: Vec<Value> = spec
            .checkers
            .iter()
            .map(|c| {
                let o = c.check_options();
                serde_json::json!({
                    "checker": c.checker_name(),
                    "model": o.model.name(),
                    "initial": o.model_options.initial,
                    "nil_reads_match_any": o.model_options.nil_reads_match_any,
                    "set_full_linearizable": o.set_full.linearizable,
                    "bank_accounts": o.bank.accounts,
                    "bank_total": o.bank.total,
                    "consistency_model": o.consistency_model.name(),
                })
            })
            .collect();
        let fields = serde_json::json!({
            "keys": spec.keys,
            "ops_per_key": spec.ops_per_key,
            "final_reads": spec.final_reads,
            "mix": [spec.mix.read, spec.mix.write, spec.mix.cas],
            "values": format!("{:?}", spec.values),
            "profile": spec.client_profile().map(|p| p.to_string()),
            "setup": spec.setup_ops().iter().map(|op| serde_json::json!([op.f, op.key, op.value])).collect::<Vec<_>>(),
        });
        serde_json::json!({ "spec": spec.to_json(), "fields": fields, "checks": checks, "ops": ops })
    }

    #[test]
    fn builtins_read_and_generate_as_pinned() {
        let pinned: Value = serde_json::from_str(PINNED_BUILTINS).unwrap();
        let names = WorkloadSpec::builtin_names();
        assert_eq!(pinned.as_object().map(|m| m.len()), Some(names.len()));
        for name in names {
            assert_eq!(pinned_view(&builtin(name)), pinned[name], "{name}");
        }
    }

    /// Rewrites the pinned fixture from the current reader: run it (`cargo test --lib
    /// bless_pinned_builtins -- --ignored`) only after an intended change to a built-in.
    #[test]
    #[ignore = "rewrites tests/fixtures/workload-builtins.json"]
    fn bless_pinned_builtins() {
        let names = WorkloadSpec::builtin_names();
        let mut text = String::from("{\n");
        for (i, name) in names.iter().enumerate() {
            let view = pinned_view(&builtin(name));
            text.push_str(&format!("  {}: {{\n", Value::from(*name)));
            for part in ["spec", "fields", "checks"] {
                text.push_str(&format!("    \"{part}\": {},\n", view[part]));
            }
            let ops: Vec<String> = view["ops"]
                .as_array()
                .unwrap()
                .iter()
                .map(|op| format!("      {op}"))
                .collect();
            text.push_str(&format!("    \"ops\": [\n{}\n    ]\n", ops.join(",\n")));
            let comma = if i + 1 < names.len() { "," } else { "" };
            text.push_str(&format!("  }}{comma}\n"));
        }
        text.push_str("}\n");
        std::fs::write("tests/fixtures/workload-builtins.json", text).unwrap();
    }

    #[test]
    fn builtins_parse_and_the_default_is_cas_register() {
        for name in WorkloadSpec::builtin_names() {
            let spec = builtin(name);
            assert_eq!(spec.name, name);
            assert_eq!(spec.source, format!("builtin:{name}"));
            assert!(!spec.description.is_empty(), "{name}");
        }
        let spec = builtin(DEFAULT_WORKLOAD);
        assert_eq!((spec.keys, spec.ops_per_key), (2, 300));
        assert!(spec.mix.cas > 0.0);
        assert_eq!(spec.model().map(|m| m.0), Some(ModelKind::CasRegister));
        let register = builtin("register");
        assert_eq!((register.keys, register.mix.cas), (0, 0.0));
        assert_eq!(register.model().map(|m| m.0), Some(ModelKind::Register));
        let options = register.checkers[0].linearizability_options();
        assert_eq!(options.model, ModelKind::Register);
        assert!(options.partition);
    }

    #[test]
    fn load_reads_a_file_when_the_name_is_not_builtin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        let text =
            WorkloadSpec::builtin("register")
                .unwrap()
                .replacen("\"register\"\n", "\"mine\"\n", 1);
        std::fs::write(&path, text).unwrap();
        let spec = WorkloadSpec::load(path.to_str().unwrap()).unwrap();
        assert_eq!(spec.name, "mine");
        assert_eq!(spec.source, path.to_str().unwrap());

        std::fs::write(&path, "name = 3\n").unwrap();
        let err = WorkloadSpec::load(path.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}: field \"name\": invalid type: integer `3`, expected a string",
                path.display()
            )
        );

        let missing = dir.path().join("nope.toml");
        let err = WorkloadSpec::load(missing.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "workload {:?} is not a built-in workload ({}) and could not be read as a file: ",
                missing.display().to_string(),
                WorkloadSpec::builtin_names().join(", ")
            )),
            "{err}"
        );
    }

    #[test]
    fn cas_register_keys_are_bounded_and_writes_unique_per_key() {
        let spec = builtin("cas-register");
        for seed in 0..3 {
            let events = run(&spec, 10, seed, 0.05, Duration::from_micros(5));
            let mut per_key: BTreeMap<u64, usize> = BTreeMap::new();
            let mut written: BTreeMap<u64, BTreeSet<i64>> = BTreeMap::new();
            let main: Vec<&Event> = invokes(&events);
            let (mut cas, mut writes) = (0, 0);
            for e in &main {
                let key = e.key.as_ref().and_then(Value::as_u64).expect("keyed op");
                *per_key.entry(key).or_default() += 1;
                let new = match e.f.as_str() {
                    "write" => {
                        writes += 1;
                        e.value.as_i64()
                    }
                    "cas" => {
                        cas += 1;
                        let pair = e.value.as_array().expect("cas takes [from, to]");
                        let from = pair[0].as_i64().expect("integer");
                        assert!(
                            written.get(&key).is_some_and(|w| w.contains(&from)),
                            "seed {seed}: cas expects {from}, never written to key {key}"
                        );
                        pair[1].as_i64()
                    }
                    _ => None,
                };
                if let Some(v) = new {
                    assert!(
                        written.entry(key).or_default().insert(v),
                        "seed {seed}: {v} written twice to key {key}"
                    );
                }
            }
            assert!(cas > 0 && writes > 0, "seed {seed}");
            let keys_used = per_key.len() as u64;
            assert!(keys_used > 5, "seed {seed}: {keys_used} keys");
            // Main-phase ops per key are bounded; the final reads add one read per thread.
            for (key, n) in &per_key {
                assert!(
                    *n as u64 <= spec.ops_per_key + 10,
                    "seed {seed}: key {key} has {n} ops"
                );
            }
        }
    }

    #[test]
    fn final_reads_read_every_key_once_per_client_thread() {
        let spec = builtin("cas-register");
        let events = run(&spec, 4, 1, 0.0, Duration::from_micros(40));
        let inv = invokes(&events);
        let keys: BTreeSet<u64> = inv
            .iter()
            .filter_map(|e| e.key.as_ref()?.as_u64())
            .collect();
        // The final phase is the trailing run of reads after the last non-read.
        let last_main = inv.iter().rposition(|e| e.f != "read").unwrap();
        let tail = &inv[last_main + 1..];
        let mut finals: BTreeMap<(u64, u64), usize> = BTreeMap::new();
        for e in tail.iter().rev().take(4 * keys.len()) {
            let Process::Client(p) = e.process else {
                panic!("nemesis read")
            };
            let key = e.key.as_ref().and_then(Value::as_u64).unwrap();
            *finals.entry((p % 4, key)).or_default() += 1;
        }
        for t in 0..4 {
            for k in &keys {
                assert_eq!(finals.get(&(t, *k)), Some(&1), "thread {t} key {k}");
            }
        }
    }

    #[test]
    fn register_is_one_key_with_reads_and_writes_only() {
        let spec = builtin("register");
        let events = run(&spec, 3, 2, 0.1, Duration::from_micros(20));
        let inv = invokes(&events);
        assert!(inv.iter().all(|e| e.key.is_none()));
        assert!(inv.iter().all(|e| e.f == "read" || e.f == "write"));
        let values: Vec<i64> = inv.iter().filter_map(|e| e.value.as_i64()).collect();
        let expected: Vec<i64> = (1..=values.len() as i64).collect();
        assert_eq!(values, expected, "writes count up from 1");
        // The last three ops are the final reads, one per thread.
        let tail: BTreeSet<u64> = inv[inv.len() - 3..]
            .iter()
            .map(|e| match e.process {
                Process::Client(p) => p % 3,
                Process::Nemesis => u64::MAX,
            })
            .collect();
        assert_eq!(tail, BTreeSet::from([0, 1, 2]));
        assert!(inv[inv.len() - 3..].iter().all(|e| e.f == "read"));
        assert!(events.iter().any(|e| e.kind == EventType::Info));
    }

    #[test]
    fn random_values_stay_in_range() {
        let text = WorkloadSpec::builtin("cas-register")
            .unwrap()
            .replace("kind = \"unique\"", "kind = \"random\"\nrange = [0, 4]");
        let spec = WorkloadSpec::from_toml(&text, "x").unwrap();
        let events = run(&spec, 4, 3, 0.0, Duration::from_micros(10));
        for e in invokes(&events) {
            let vals: Vec<i64> = match &e.value {
                Value::Array(a) => a.iter().filter_map(Value::as_i64).collect(),
                v => v.as_i64().into_iter().collect(),
            };
            assert!(vals.iter().all(|v| (0..=4).contains(v)), "{e:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_ops() {
        let spec = builtin("cas-register");
        for seed in [0u64, 7, 1234] {
            let a = run(&spec, 5, seed, 0.1, Duration::from_micros(20));
            let b = run(&spec, 5, seed, 0.1, Duration::from_micros(20));
            assert_eq!(a, b, "seed {seed}");
        }
        let a = run(&spec, 5, 1, 0.0, Duration::from_micros(20));
        let b = run(&spec, 5, 2, 0.0, Duration::from_micros(20));
        assert_ne!(a, b);
    }

    #[test]
    fn to_json_round_trips_through_toml() {
        let random = WorkloadSpec::builtin("cas-register")
            .unwrap()
            .replace("kind = \"unique\"", "kind = \"random\"\nrange = [0, 4]")
            .replace(
                "model = \"cas-register\"",
                "model = \"cas-register\"\ninitial = 0",
            );
        let specs = [
            builtin("register"),
            builtin("cas-register"),
            WorkloadSpec::from_toml(&random, "x").unwrap(),
        ];
        for (i, spec) in specs.iter().enumerate() {
            let mut json = spec.to_json();
            json.as_object_mut().unwrap().remove("source");
            let text = toml::to_string(&json).unwrap();
            let back = WorkloadSpec::from_toml(&text, &spec.source).unwrap();
            assert_eq!(&back, spec, "case {i}: {text}");
        }
    }

    /// Checks a simulated history with the workload's own checker settings.
    fn check(spec: &WorkloadSpec, events: &[Event]) -> crate::checker::CheckResult {
        let mut jsonl = String::new();
        for e in events {
            jsonl.push_str(&serde_json::to_string(e).unwrap());
            jsonl.push('\n');
        }
        let history = crate::history::read_jsonl(jsonl.as_bytes(), "sim").unwrap();
        let options = spec.checkers[0].linearizability_options();
        crate::checker::check(&history, &options).unwrap()
    }

    #[test]
    fn simulated_histories_of_the_builtins_are_linearizable() {
        for name in WorkloadSpec::builtin_names() {
            let spec = builtin(name);
            if spec.kind != WorkloadKind::Register {
                continue;
            }
            for seed in 0..3 {
                let events = run(&spec, 10, seed, 0.1, Duration::from_micros(3));
                let oks = events.iter().filter(|e| e.kind == EventType::Ok);
                assert!(oks.filter(|e| e.f == "read" && !e.value.is_null()).count() > 10);
                let result = check(&spec, &events);
                assert_eq!(
                    result.valid,
                    crate::checker::Validity::Valid,
                    "{name} seed {seed}"
                );
            }
        }
    }

    #[test]
    fn cas_register_cas_ops_both_succeed_and_fail() {
        let spec = builtin("cas-register");
        let events = run(&spec, 10, 5, 0.0, Duration::from_micros(3));
        let cas = |kind| {
            events
                .iter()
                .filter(|e| e.f == "cas" && e.kind == kind)
                .count()
        };
        let (ok, fail) = (cas(EventType::Ok), cas(EventType::Fail));
        assert!(ok > 0 && fail > 0, "{ok} ok, {fail} failed");
    }

    /// The invokes of the main phase and of the final phase (the trailing `read`s, one per
    /// client thread), for kinds whose final reads read the whole state.
    fn split_final(events: &[Event], threads: usize) -> (Vec<&Event>, Vec<&Event>) {
        let inv = invokes(events);
        let cut = inv.len() - threads;
        (inv[..cut].to_vec(), inv[cut..].to_vec())
    }

    fn client_threads(events: &[&Event], threads: u64) -> BTreeSet<u64> {
        events
            .iter()
            .map(|e| match e.process {
                Process::Client(p) => p % threads,
                Process::Nemesis => u64::MAX,
            })
            .collect()
    }

    #[test]
    fn every_builtin_kind_has_its_profile_checker_and_final_reads() {
        let table = [
            ("set", Some(Profile::Set), "set-full", true),
            ("counter", Some(Profile::Counter), "counter", true),
            ("bank", Some(Profile::Bank), "bank", true),
            ("unique-ids", Some(Profile::UniqueIds), "unique-ids", false),
            ("list-append", Some(Profile::Txn), "list-append", false),
            ("rw-register", Some(Profile::Txn), "rw-register", false),
            ("register", None, "register", true),
        ];
        for (name, profile, model, finals) in table {
            let spec = builtin(name);
            assert_eq!(spec.kind.name(), name, "{name}");
            assert_eq!(spec.client_profile(), profile, "{name}");
            assert_eq!(spec.checkers[0].model().name(), model, "{name}");
            assert_eq!(spec.generators(0).final_reads.is_some(), finals, "{name}");
        }
    }

    #[test]
    fn set_adds_unique_elements_then_every_thread_reads_the_set() {
        let spec = builtin("set");
        let events = run(&spec, 4, 3, 0.1, Duration::from_micros(30));
        let (main, finals) = split_final(&events, 4);
        let adds: Vec<i64> = main
            .iter()
            .filter(|e| e.f == "add")
            .map(|e| e.value.as_i64().expect("integer element"))
            .collect();
        let expected: Vec<i64> = (1..=adds.len() as i64).collect();
        assert_eq!(adds, expected, "elements count up from 1, each once");
        let reads = main.iter().filter(|e| e.f == "read").count();
        assert!(
            reads > 0 && adds.len() > 4 * reads,
            "{} adds, {reads} reads",
            adds.len()
        );
        assert!(main.iter().chain(&finals).all(|e| e.key.is_none()));
        assert!(finals.iter().all(|e| e.f == "read" && e.value.is_null()));
        assert_eq!(client_threads(&finals, 4), BTreeSet::from([0, 1, 2, 3]));
    }

    #[test]
    fn counter_adds_positive_amounts_up_to_the_maximum() {
        let spec = builtin("counter");
        let WorkloadKind::Counter(p) = spec.kind else {
            panic!("not a counter")
        };
        let events = run(&spec, 3, 1, 0.0, Duration::from_micros(30));
        let (main, finals) = split_final(&events, 3);
        let amounts: BTreeSet<i64> = main
            .iter()
            .filter(|e| e.f == "add")
            .map(|e| e.value.as_i64().expect("integer"))
            .collect();
        assert!(
            amounts.iter().all(|a| (1..=p.max_increment).contains(a)),
            "{amounts:?}"
        );
        assert!(amounts.len() > 1, "{amounts:?}");
        assert!(main.iter().all(|e| e.f == "add" || e.f == "read"));
        assert!(finals.iter().all(|e| e.f == "read"));
    }

    #[test]
    fn bank_transfers_between_two_accounts_and_setup_opens_the_total() {
        let spec = builtin("bank");
        let WorkloadKind::Bank(p) = spec.kind else {
            panic!("not a bank")
        };
        let events = run(&spec, 5, 2, 0.1, Duration::from_micros(30));
        let (main, finals) = split_final(&events, 5);
        let mut transfers = 0;
        for e in main.iter().filter(|e| e.f == "transfer") {
            transfers += 1;
            let (from, to) = (e.value["from"].as_u64(), e.value["to"].as_u64());
            let amount = e.value["amount"].as_i64().expect("amount");
            assert!(
                from != to && from < Some(p.accounts) && to < Some(p.accounts),
                "{e:?}"
            );
            assert!((1..=p.max_transfer).contains(&amount), "{e:?}");
        }
        assert!(transfers > 10);
        assert!(finals.iter().all(|e| e.f == "read"));
        let setup = spec.setup_ops();
        assert_eq!(setup.len() as u64, p.accounts);
        let total: i64 = setup.iter().filter_map(|op| op.value.as_i64()).sum();
        assert_eq!(total, p.total);
        assert_eq!(setup[4].key, Some(Value::from("bank-4")));
        assert!(setup.iter().all(|op| op.f == "write"));
        let opts = spec.checkers[0].check_options();
        assert_eq!(opts.bank.total, Some(100));
        assert_eq!(opts.bank.accounts.map(|a| a.len()), Some(5));
        assert!(builtin("set").setup_ops().is_empty());
    }

    #[test]
    fn unique_ids_only_generate() {
        let spec = builtin("unique-ids");
        let events = run(&spec, 3, 0, 0.1, Duration::from_micros(10));
        let inv = invokes(&events);
        assert!(inv.len() > 10);
        assert!(inv.iter().all(|e| e.f == "generate" && e.value.is_null()));
    }

    fn txn_params(distribution: KeyDistribution) -> TxnParams {
        TxnParams {
            key_count: 3,
            distribution,
            min_txn_length: 2,
            max_txn_length: 5,
            max_writes_per_key: 4,
            read_fraction: 0.5,
        }
    }

    fn txn_events(params: TxnParams, style: TxnStyle, seed: u64) -> Vec<Event> {
        let gen = with_rng(seed, on_clients(TxnOps::new(params, style)));
        let config = SimConfig {
            concurrency: 4,
            seed,
            ..SimConfig::default()
        };
        simulate(time_limit(Duration::from_micros(40), gen), &config)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"))
    }

    #[test]
    fn txns_write_unique_values_per_key_and_rotate_keys() {
        for (style, write) in [(TxnStyle::Append, "append"), (TxnStyle::Write, "w")] {
            let params = txn_params(KeyDistribution::Uniform);
            let events = txn_events(params, style, 4);
            let mut written: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            let mut reads = 0;
            for e in invokes(&events) {
                assert_eq!(e.f, "txn");
                let ops = e.value.as_array().expect("a list of micro-ops");
                assert!((2..=5).contains(&ops.len()), "{e:?}");
                for m in ops {
                    let m = m.as_array().expect("a micro-op");
                    let key = m[1].as_str().expect("string key").to_string();
                    match m[0].as_str() {
                        Some("r") => {
                            assert!(m[2].is_null());
                            reads += 1;
                        }
                        Some(f) if f == write => {
                            written
                                .entry(key)
                                .or_default()
                                .push(m[2].as_i64().expect("int"));
                        }
                        other => panic!("unexpected micro-op {other:?}"),
                    }
                }
            }
            assert!(reads > 10, "{write}: {reads} reads");
            assert!(
                written.len() > 3,
                "{write}: keys rotate: {:?}",
                written.keys()
            );
            for (key, values) in &written {
                let expected: Vec<i64> = (1..=values.len() as i64).collect();
                assert_eq!(values, &expected, "{write}: key {key}");
                assert!(
                    values.len() <= 4,
                    "{write}: key {key} written {} times",
                    values.len()
                );
            }
        }
    }

    #[test]
    fn exponential_keys_favour_the_first_active_key() {
        let params = TxnParams {
            max_writes_per_key: 1_000_000,
            ..txn_params(KeyDistribution::Exponential)
        };
        let events = txn_events(params, TxnStyle::Append, 9);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for e in invokes(&events) {
            for m in e.value.as_array().into_iter().flatten() {
                *counts
                    .entry(m[1].as_str().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
        let (k0, k1, k2) = (counts["0"], counts["1"], counts["2"]);
        assert!(k0 > k1 && k1 > k2 && k2 > 0, "{counts:?}");
        assert_eq!(
            counts.len(),
            3,
            "no rotation when writes per key are unbounded"
        );
    }

    #[test]
    fn new_kinds_give_the_same_ops_for_the_same_seed_and_round_trip() {
        for name in [
            "set",
            "counter",
            "bank",
            "unique-ids",
            "list-append",
            "rw-register",
        ] {
            let spec = builtin(name);
            let a = run(&spec, 4, 11, 0.1, Duration::from_micros(10));
            let b = run(&spec, 4, 11, 0.1, Duration::from_micros(10));
            assert_eq!(a, b, "{name}");
            let mut json = spec.to_json();
            json.as_object_mut().unwrap().remove("source");
            let text = toml::to_string(&json).unwrap();
            let back = WorkloadSpec::from_toml(&text, &spec.source).unwrap();
            assert_eq!(back, spec, "{name}: {text}");
        }
        let a = txn_events(
            txn_params(KeyDistribution::Exponential),
            TxnStyle::Append,
            3,
        );
        let b = txn_events(
            txn_params(KeyDistribution::Exponential),
            TxnStyle::Append,
            3,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn generators_without_final_reads() {
        let text = WorkloadSpec::builtin("register")
            .unwrap()
            .replace("final_reads = true", "final_reads = false");
        let spec = WorkloadSpec::from_toml(&text, "x").unwrap();
        assert!(spec.generators(0).final_reads.is_none());
    }
}
