//! What kind of workload a spec describes, with the parameters of each kind.
//!
//! The register family (`register`, `cas-register`) keeps its parameters in
//! [`super::WorkloadSpec`]'s own fields (keys, mix, values) as it always did; every other kind
//! carries its own here.

use serde_json::{json, Value};

use crate::checker::CheckModel;
use crate::client::Profile;

/// The kinds of workload, by their TOML `kind` name.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadKind {
    /// Reads, writes and cas on registers (the default `kind`).
    Register,
    /// Unique elements added to one set; reads read it whole.
    Set(SetParams),
    /// Increments by positive amounts; reads read the sum.
    Counter(CounterParams),
    /// Transfers between a fixed number of accounts with a fixed total; reads read every
    /// balance at once.
    Bank(BankParams),
    /// Clients ask the cluster for ids; none may be handed out twice.
    UniqueIds,
    /// Transactions of appends to and reads of lists (Elle's list-append).
    ListAppend(TxnParams),
    /// Transactions of writes and reads of registers (Elle's rw-register).
    RwRegister(TxnParams),
    /// Maelstrom's kafka: sends to, polls of and committed offsets of logs on
    /// [`KAFKA_KEYS`] keys (`--target maelstrom` only).
    Kafka,
}

/// The kafka workload's keys.
pub const KAFKA_KEYS: [&str; 3] = ["0", "1", "2"];

/// Op weights of the set workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SetParams {
    /// Weight of `add`.
    pub add: f64,
    /// Weight of `read`.
    pub read: f64,
}

/// Parameters of the counter workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CounterParams {
    /// Weight of `add`.
    pub add: f64,
    /// Weight of `read`.
    pub read: f64,
    /// Each add adds a uniform integer in `1..=max_increment`.
    pub max_increment: i64,
    /// `negative_deltas = true`: each add is negated with probability 1/2 (Maelstrom's
    /// pn-counter), so adds lie in `-max_increment..=max_increment` without 0.
    pub negative_deltas: bool,
}

/// Parameters of the bank workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BankParams {
    /// Number of accounts, named `"0"` .. `"accounts-1"`.
    pub accounts: u64,
    /// The sum of all balances, at the start and always.
    pub total: i64,
    /// Each transfer moves a uniform amount in `1..=max_transfer`.
    pub max_transfer: i64,
    /// Weight of `transfer`.
    pub transfer: f64,
    /// Weight of `read`.
    pub read: f64,
}

impl BankParams {
    /// The opening balance of account `i`: the total split evenly, the remainder going to the
    /// first accounts (so the balances always sum to the total).
    pub fn opening_balance(&self, i: u64) -> i64 {
        let n = self.accounts.max(1) as i64;
        self.total / n + i64::from((i as i64) < self.total % n)
    }
}

/// How a transaction picks the keys it touches among the active ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDistribution {
    /// Every active key equally likely.
    Uniform,
    /// Active key `i` with probability proportional to `2^-i` (a few hot keys, as in Elle).
    Exponential,
}

impl KeyDistribution {
    /// The TOML name.
    pub fn name(self) -> &'static str {
        match self {
            KeyDistribution::Uniform => "uniform",
            KeyDistribution::Exponential => "exponential",
        }
    }
}

/// Parameters of the transactional workloads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TxnParams {
    /// Keys active at once.
    pub key_count: u64,
    /// How a micro-op picks among the active keys.
    pub distribution: KeyDistribution,
    /// Fewest micro-ops per transaction.
    pub min_txn_length: u64,
    /// Most micro-ops per transaction.
    pub max_txn_length: u64,
    /// Writes (appends) to a key before it retires and a fresh key takes its place.
    pub max_writes_per_key: u64,
    /// Probability that a micro-op is a read (else an append or write).
    pub read_fraction: f64,
}

impl WorkloadKind {
    /// The TOML `kind` name.
    pub fn name(&self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::Set(_) => "set",
            WorkloadKind::Counter(_) => "counter",
            WorkloadKind::Bank(_) => "bank",
            WorkloadKind::UniqueIds => "unique-ids",
            WorkloadKind::ListAppend(_) => "list-append",
            WorkloadKind::RwRegister(_) => "rw-register",
            WorkloadKind::Kafka => "kafka",
        }
    }

    /// Every kind name, for messages.
    pub const NAMES: &'static [&'static str] = &[
        "register",
        "set",
        "counter",
        "bank",
        "unique-ids",
        "list-append",
        "rw-register",
        "kafka",
    ];

    /// The checker that judges this kind's histories; `None` for the register family, which
    /// linearizability judges against the `register` or `cas-register` model.
    pub fn checker_model(&self) -> Option<CheckModel> {
        match self {
            WorkloadKind::Register => None,
            WorkloadKind::Set(_) => Some(CheckModel::SetFull),
            WorkloadKind::Counter(_) => Some(CheckModel::Counter),
            WorkloadKind::Bank(_) => Some(CheckModel::Bank),
            WorkloadKind::UniqueIds => Some(CheckModel::UniqueIds),
            WorkloadKind::ListAppend(_) => Some(CheckModel::ListAppend),
            WorkloadKind::RwRegister(_) => Some(CheckModel::RwRegister),
            WorkloadKind::Kafka => Some(CheckModel::Kafka),
        }
    }

    /// The client profile this kind's ops go through; `None`: plain read, write and cas.
    pub fn client_profile(&self) -> Option<Profile> {
        match self {
            WorkloadKind::Register => None,
            WorkloadKind::Set(_) => Some(Profile::Set),
            WorkloadKind::Counter(_) => Some(Profile::Counter),
            WorkloadKind::Bank(_) => Some(Profile::Bank),
            WorkloadKind::UniqueIds => Some(Profile::UniqueIds),
            WorkloadKind::ListAppend(_) | WorkloadKind::RwRegister(_) => Some(Profile::Txn),
            WorkloadKind::Kafka => Some(Profile::Kafka),
        }
    }

    /// The kind's own fields as JSON in the TOML file's shape (empty for the register family).
    pub fn params_json(&self) -> serde_json::Map<String, Value> {
        let value = match self {
            WorkloadKind::Register | WorkloadKind::UniqueIds | WorkloadKind::Kafka => json!({}),
            WorkloadKind::Set(p) => json!({ "mix": { "add": p.add, "read": p.read } }),
            WorkloadKind::Counter(p) => {
                let mut v = json!({
                    "max_increment": p.max_increment,
                    "mix": { "add": p.add, "read": p.read },
                });
                if p.negative_deltas {
                    v["negative_deltas"] = json!(true);
                }
                v
            }
            WorkloadKind::Bank(p) => json!({
                "accounts": p.accounts,
                "total": p.total,
                "max_transfer": p.max_transfer,
                "mix": { "transfer": p.transfer, "read": p.read },
            }),
            WorkloadKind::ListAppend(p) | WorkloadKind::RwRegister(p) => json!({
                "key_count": p.key_count,
                "key_distribution": p.distribution.name(),
                "min_txn_length": p.min_txn_length,
                "max_txn_length": p.max_txn_length,
                "max_writes_per_key": p.max_writes_per_key,
                "read_fraction": p.read_fraction,
            }),
        };
        match value {
            Value::Object(map) => map,
            // Every arm above builds an object.
            _ => serde_json::Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_balances_sum_to_the_total() {
        for (accounts, total) in [(5, 100), (8, 100), (3, 2), (1, 7)] {
            let p = BankParams {
                accounts,
                total,
                max_transfer: 1,
                transfer: 1.0,
                read: 1.0,
            };
            let balances: Vec<i64> = (0..accounts).map(|i| p.opening_balance(i)).collect();
            assert_eq!(balances.iter().sum::<i64>(), total, "{balances:?}");
            let (lo, hi) = (balances.iter().min(), balances.iter().max());
            assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{balances:?}");
        }
    }
}
