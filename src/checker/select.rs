//! One entry point for every checker: what `faultline check --model NAME` and a workload's
//! `[[checkers]]` name, and the options they share.
//!
//! The linearizability checker judges histories against a sequential model; other checkers
//! (transactional isolation, set, bank, counter, unique ids) judge them against a property of
//! the whole history. Callers name a [`CheckModel`] and call [`check_with`], so the CLI and the
//! runner never grow a checker-specific branch of their own.

use std::str::FromStr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use super::linear::{self, default_memory_limit, CheckError, LinearizabilityOptions};
use super::model::{ModelError, ModelKind, ModelOptions};
use super::txn::{self, ConsistencyModel, TxnOptions, TxnWorkload};
use super::workload::{self, BankOptions, CounterOptions, SetFullOptions};
use super::CheckResult;
use crate::history::compact::CompactHistory;
use crate::history::History;

/// Everything a checker can be asked to judge a history against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckModel {
    /// Linearizability against a sequential model (register, cas-register, kv, ...).
    Linear(ModelKind),
    /// Jepsen's set-full: what became of every element added to a set.
    SetFull,
    /// Bank: every read of all balances keeps the total and has no negative balance.
    Bank,
    /// Counter: every read lies between the acknowledged and the attempted increments.
    Counter,
    /// Unique ids: no id handed out twice.
    UniqueIds,
    /// Transactional isolation of list-append txns (Elle's list-append).
    ListAppend,
    /// Transactional isolation of read-write register txns (Elle's rw-register).
    RwRegister,
    /// Maelstrom's kafka logs: sends, polls and committed offsets.
    Kafka,
}

/// The whole-history workload checkers, in the order the CLI lists them.
const WORKLOAD_MODELS: [CheckModel; 4] = [
    CheckModel::SetFull,
    CheckModel::Bank,
    CheckModel::Counter,
    CheckModel::UniqueIds,
];

impl CheckModel {
    /// The exact command-line name.
    pub fn name(self) -> &'static str {
        match self {
            CheckModel::Linear(kind) => kind.name(),
            CheckModel::SetFull => "set-full",
            CheckModel::Bank => "bank",
            CheckModel::Counter => "counter",
            CheckModel::UniqueIds => "unique-ids",
            CheckModel::ListAppend => TxnWorkload::ListAppend.name(),
            CheckModel::RwRegister => TxnWorkload::RwRegister.name(),
            CheckModel::Kafka => workload::kafka::CHECKER,
        }
    }

    /// Every name `--model` accepts, in the order the CLI lists them.
    pub fn names() -> Vec<&'static str> {
        let linear = ModelKind::ALL.iter().map(|k| k.name());
        linear
            .chain(WORKLOAD_MODELS.iter().map(|m| m.name()))
            .chain([
                CheckModel::ListAppend.name(),
                CheckModel::RwRegister.name(),
                CheckModel::Kafka.name(),
            ])
            .collect()
    }

    /// The sequential model, when this is a linearizability check.
    pub fn linear(self) -> Option<ModelKind> {
        match self {
            CheckModel::Linear(kind) => Some(kind),
            CheckModel::SetFull
            | CheckModel::Bank
            | CheckModel::Counter
            | CheckModel::UniqueIds
            | CheckModel::ListAppend
            | CheckModel::RwRegister
            | CheckModel::Kafka => None,
        }
    }
}

impl std::fmt::Display for CheckModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CheckModel {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(kind) = s.parse::<ModelKind>() {
            return Ok(CheckModel::Linear(kind));
        }
        if let Some(m) = WORKLOAD_MODELS.iter().find(|m| m.name() == s) {
            return Ok(*m);
        }
        match s {
            "list-append" => return Ok(CheckModel::ListAppend),
            "rw-register" => return Ok(CheckModel::RwRegister),
            "kafka" => return Ok(CheckModel::Kafka),
            _ => {}
        }
        Err(ModelError::UnknownModel(s.to_string()))
    }
}

impl From<ModelKind> for CheckModel {
    fn from(kind: ModelKind) -> Self {
        CheckModel::Linear(kind)
    }
}

/// Options every checker understands; a checker ignores the ones that do not apply to it.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// What to check against (`--model`).
    pub model: CheckModel,
    /// Initial value and nil-read rule (`--initial`, `--nil-reads-match-any`).
    pub model_options: ModelOptions,
    /// Check each key on its own (default). `false` is `--no-partition`.
    pub partition: bool,
    /// Give up with `Unknown` after this instant (`--timeout`).
    pub deadline: Option<Instant>,
    /// Give up with `Unknown` when this flag becomes true (Ctrl-C).
    pub cancel: Option<Arc<AtomicBool>>,
    /// Give up with `Unknown` when this process's resident memory exceeds this many bytes
    /// during a search (linearizability; the other checkers run in near-linear time and
    /// memory and do not search).
    pub memory_limit: u64,
    /// The bank checker's accounts and total (`--bank-accounts`, `--bank-total`).
    pub bank: BankOptions,
    /// What the set-full checker holds the set to (`--allow-stale`).
    pub set_full: SetFullOptions,
    /// What the counter checker holds the counter to (`--allow-stale`).
    pub counter: CounterOptions,
    /// The transactional consistency model (`--consistency-model`; list-append and
    /// rw-register only).
    pub consistency_model: ConsistencyModel,
}

impl CheckOptions {
    /// Default options for `model`.
    pub fn new(model: CheckModel) -> CheckOptions {
        CheckOptions {
            model,
            model_options: ModelOptions::default(),
            partition: true,
            deadline: None,
            cancel: None,
            memory_limit: default_memory_limit(),
            bank: BankOptions::default(),
            set_full: SetFullOptions::default(),
            counter: CounterOptions::default(),
            consistency_model: ConsistencyModel::default(),
        }
    }

    /// The transactional checker's options for `workload`.
    pub fn txn(&self, workload: TxnWorkload) -> TxnOptions {
        TxnOptions {
            workload,
            consistency_model: self.consistency_model,
            search_budget: txn::DEFAULT_SEARCH_BUDGET,
            deadline: self.deadline,
            cancel: self.cancel.clone(),
        }
    }

    /// The linearizability checker's options for sequential model `kind`.
    pub fn linearizability(&self, kind: ModelKind) -> LinearizabilityOptions {
        LinearizabilityOptions {
            model: kind,
            model_options: self.model_options.clone(),
            partition: self.partition,
            deadline: self.deadline,
            cancel: self.cancel.clone(),
            memory_limit: self.memory_limit,
            explain_core: true,
        }
    }
}

/// Checks `history` with the checker `opts.model` names.
pub fn check_with(history: &History, opts: &CheckOptions) -> Result<CheckResult, CheckError> {
    match opts.model {
        CheckModel::Linear(kind) => linear::check(history, &opts.linearizability(kind)),
        // The workload checkers run in linear time: they ignore deadline and memory limit.
        CheckModel::SetFull => workload::set_full::check(history, &opts.set_full),
        CheckModel::Bank => workload::bank::check(history, &opts.bank),
        CheckModel::Counter => workload::counter::check(history, &opts.counter),
        CheckModel::UniqueIds => workload::unique_ids::check(history),
        CheckModel::ListAppend => Ok(txn::check(history, &opts.txn(TxnWorkload::ListAppend))?),
        CheckModel::RwRegister => Ok(txn::check(history, &opts.txn(TxnWorkload::RwRegister))?),
        CheckModel::Kafka => workload::kafka::check(history),
    }
}

/// A compact history to check, with its `Value` form built only if a checker needs it (the
/// workload checkers read `Op`s): several checkers of one run share one build of it.
pub struct Checkable<'h> {
    compact: &'h CompactHistory,
    full: std::cell::OnceCell<History>,
}

impl<'h> Checkable<'h> {
    /// `compact`, nothing built yet.
    pub fn new(compact: &'h CompactHistory) -> Checkable<'h> {
        Checkable {
            compact,
            full: std::cell::OnceCell::new(),
        }
    }

    /// The compact history.
    pub fn compact(&self) -> &'h CompactHistory {
        self.compact
    }

    /// The history with `Value`s, built on the first call.
    pub fn full(&self) -> &History {
        self.full.get_or_init(|| self.compact.to_history())
    }
}

/// [`check_with`] from a compact history: linearizability and the transactional checkers
/// read the compact records directly (the verdicts are those of [`check_with`] on the same
/// history; their tests compare both); the workload checkers get the `Value` form.
pub fn check_compact_with(
    history: &Checkable<'_>,
    opts: &CheckOptions,
) -> Result<CheckResult, CheckError> {
    let compact = history.compact();
    match opts.model {
        CheckModel::Linear(kind) => linear::check_compact(compact, &opts.linearizability(kind)),
        CheckModel::ListAppend => Ok(txn::check_compact(
            compact,
            &opts.txn(TxnWorkload::ListAppend),
        )?),
        CheckModel::RwRegister => Ok(txn::check_compact(
            compact,
            &opts.txn(TxnWorkload::RwRegister),
        )?),
        CheckModel::SetFull
        | CheckModel::Bank
        | CheckModel::Counter
        | CheckModel::UniqueIds
        | CheckModel::Kafka => check_with(history.full(), opts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_itself() {
        for name in CheckModel::names() {
            let model: CheckModel = name.parse().unwrap();
            assert_eq!(model.name(), name);
        }
        assert!("elle".parse::<CheckModel>().is_err());
        for name in ["set-full", "bank", "counter", "unique-ids"] {
            assert!(CheckModel::names().contains(&name), "{name}");
            assert_eq!(name.parse::<CheckModel>().unwrap().linear(), None);
        }
        assert_eq!("set".parse::<CheckModel>().unwrap().name(), "set");
    }

    #[test]
    fn workload_models_go_to_their_checkers() {
        let text = "{\"type\":\"invoke\",\"process\":0,\"f\":\"generate\",\"value\":null}\n\
                    {\"type\":\"ok\",\"process\":0,\"f\":\"generate\",\"value\":1}\n\
                    {\"type\":\"invoke\",\"process\":1,\"f\":\"generate\",\"value\":null}\n\
                    {\"type\":\"ok\",\"process\":1,\"f\":\"generate\",\"value\":1}\n";
        let history = crate::history::read_jsonl(text.as_bytes(), "t.jsonl").unwrap();
        let opts = CheckOptions::new("unique-ids".parse().unwrap());
        let result = check_with(&history, &opts).unwrap();
        assert_eq!(result.checker, "unique-ids");
        assert_eq!(result.valid, super::super::Validity::Invalid);
        let opts = CheckOptions::new(CheckModel::Counter);
        assert!(matches!(
            check_with(&history, &opts),
            Err(CheckError::Malformed { index: 0, .. })
        ));
    }

    /// A read of 2 after the only write, of 1: not linearizable as a register.
    const STALE_READ: &str =
        "{\"type\":\"invoke\",\"process\":0,\"f\":\"write\",\"value\":1,\"time\":0}\n\
         {\"type\":\"ok\",\"process\":0,\"f\":\"write\",\"value\":1,\"time\":1}\n\
         {\"type\":\"invoke\",\"process\":1,\"f\":\"read\",\"value\":null,\"time\":2}\n\
         {\"type\":\"ok\",\"process\":1,\"f\":\"read\",\"value\":2,\"time\":3}\n";

    #[test]
    fn a_compact_history_gets_the_same_verdicts_and_builds_values_only_when_needed() {
        let text = STALE_READ;
        let history = crate::history::read_jsonl(text.as_bytes(), "t.jsonl").unwrap();
        let compact =
            crate::history::compact::read_jsonl_compact(text.as_bytes(), "t.jsonl").unwrap();
        let checkable = Checkable::new(&compact);
        for model in ["register", "cas-register", "set-full", "unique-ids"] {
            let opts = CheckOptions::new(model.parse().unwrap());
            let full = check_with(&history, &opts).map(|r| (r.valid, r.anomalies.len()));
            let from_compact =
                check_compact_with(&checkable, &opts).map(|r| (r.valid, r.anomalies.len()));
            assert_eq!(format!("{full:?}"), format!("{from_compact:?}"), "{model}");
            // Only the workload checkers needed the `Value` form.
            let workload = !model.contains("register");
            assert_eq!(checkable.full.get().is_some(), workload, "{model}");
        }
    }

    #[test]
    fn linear_models_go_to_the_linearizability_checker() {
        let text = STALE_READ;
        let history = crate::history::read_jsonl(text.as_bytes(), "t.jsonl").unwrap();
        let result = check_with(&history, &CheckOptions::new("register".parse().unwrap())).unwrap();
        assert_eq!(result.valid, super::super::Validity::Invalid);
    }
}
