//! The key-value state machine that committed log entries are applied to.
//!
//! Pure: no I/O, no clock. Every write the server accepts becomes an [`Op`], travels through
//! the Raft log as bytes ([`Op::encode`]) and is applied here in log order on every node, so
//! every node holds the same map at the same applied index. Reads are answered from [`Kv::get`]
//! once the node has applied up to a ReadIndex the leader confirmed.
//!
//! Decisions written where they are made:
//! - A key that was never written reads as `null` inside a transaction and as "absent" (HTTP
//!   404) on `GET`. A compare-and-set treats an absent key as `null`, so `cas null -> x` on a
//!   fresh key succeeds; this matches a register model whose initial value is `null`.
//! - A transaction is all or nothing: it is computed on a copy of the keys it touches and only
//!   installed when every micro-op succeeded (an `append` onto a non-list value fails it).
//! - The map is a `BTreeMap` so a snapshot's bytes are the same on every node.
//! - `incr` treats an absent key as 0 and rejects a value that is not an integer (or would
//!   overflow); `transfer` only moves money between two accounts that both hold integers and
//!   never takes an account below zero (a rejected transfer changes nothing).
//! - Ids come from a counter that is part of the replicated state (and of snapshots), so a
//!   correct cluster hands out each id once: 1, 2, 3, ...
//! - Reads ([`ReadQuery`]) never go through the log: a `GET`, a prefix scan and a read-only
//!   transaction are all answered from the applied state after a ReadIndex round.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Errors decoding a command or a snapshot: both come from disk or the network.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes of a log entry are not a command.
    #[error("log entry is not a raftkv command: {0}")]
    Command(#[source] serde_json::Error),
    /// The bytes of a snapshot are not a key-value map.
    #[error("snapshot is not a raftkv key-value map: {0}")]
    Snapshot(#[source] serde_json::Error),
}

/// One micro-operation of a transaction, written on the wire as a three-element JSON array
/// (`["append","x",1]`, `["r","y",null]`, `["w","z",3]`), as in Elle's list-append and
/// rw-register workloads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "(String, String, Value)", into = "(String, String, Value)")]
pub enum MicroOp {
    /// Append a value to the list stored at the key (creating the list when absent).
    Append(String, Value),
    /// Read the key; `Value::Null` on invocation, the value read on completion.
    Read(String, Value),
    /// Overwrite the key with a value.
    Write(String, Value),
}

impl TryFrom<(String, String, Value)> for MicroOp {
    type Error = String;

    fn try_from((f, key, value): (String, String, Value)) -> Result<Self, Self::Error> {
        match f.as_str() {
            "append" => Ok(MicroOp::Append(key, value)),
            "r" => Ok(MicroOp::Read(key, value)),
            "w" => Ok(MicroOp::Write(key, value)),
            other => Err(format!(
                "micro-op must be \"append\", \"r\" or \"w\", got {other:?}"
            )),
        }
    }
}

impl From<MicroOp> for (String, String, Value) {
    fn from(op: MicroOp) -> Self {
        match op {
            MicroOp::Append(k, v) => ("append".to_owned(), k, v),
            MicroOp::Read(k, v) => ("r".to_owned(), k, v),
            MicroOp::Write(k, v) => ("w".to_owned(), k, v),
        }
    }
}

/// What a client asked for, as stored in a log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Set a key to a value.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Value,
    },
    /// Set a key to `to` only if it currently holds `from`.
    Cas {
        /// The key.
        key: String,
        /// The value the key must hold (absent counts as `null`).
        from: Value,
        /// The value to install.
        to: Value,
    },
    /// Apply micro-ops atomically, filling in reads.
    Txn {
        /// The micro-ops, in order.
        ops: Vec<MicroOp>,
    },
    /// Add `by` to the integer at `key` (absent = 0) and return the new value.
    Incr {
        /// The key.
        key: String,
        /// How much to add (may be negative).
        by: i64,
    },
    /// Hand out the next id of the cluster-wide id counter.
    NewId,
    /// Move `amount` from account `from` to account `to` atomically, never below zero.
    Transfer {
        /// The account debited.
        from: String,
        /// The account credited.
        to: String,
        /// How much to move (non-negative).
        amount: i64,
    },
}

impl Op {
    /// Encodes the op as log-entry bytes (JSON: values are arbitrary JSON, which bincode
    /// cannot carry).
    pub fn encode(&self) -> Vec<u8> {
        // Serialising an enum of strings and `Value`s into a Vec cannot fail.
        serde_json::to_vec(self).expect("an Op always serialises")
    }

    /// Decodes log-entry bytes written by [`Op::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Op, DecodeError> {
        serde_json::from_slice(bytes).map_err(DecodeError::Command)
    }
}

/// The result of applying one [`Op`].
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A put succeeded.
    Written,
    /// A compare-and-set succeeded.
    Swapped,
    /// A compare-and-set found another value (`None`: the key was never written).
    CasMismatch {
        /// What the key held.
        current: Option<Value>,
    },
    /// A transaction committed; reads are filled in.
    Txn(Vec<MicroOp>),
    /// A transaction was rejected as a whole and changed nothing.
    TxnAborted {
        /// Why, in plain words.
        reason: String,
    },
    /// An increment succeeded; the key now holds this value.
    Incremented(i64),
    /// A fresh id.
    Id(u64),
    /// A transfer moved the money.
    Transferred,
    /// An increment or transfer was refused and changed nothing.
    Rejected {
        /// Why, in plain words.
        reason: String,
    },
}

/// A read answered from the applied state (after ReadIndex), never through the log.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadQuery {
    /// The value at one key.
    Get(String),
    /// Every key starting with the prefix.
    Scan(String),
    /// A transaction of reads only (`["r", k, null]` micro-ops).
    Txn(Vec<MicroOp>),
}

/// The answer to a [`ReadQuery`].
#[derive(Debug, Clone, PartialEq)]
pub enum ReadAnswer {
    /// The value at the key; `None` when it was never written.
    Value(Option<Value>),
    /// The keys under the prefix, with the prefix cut off, and their values.
    Scan(BTreeMap<String, Value>),
    /// The micro-ops with their reads filled in.
    Txn(Vec<MicroOp>),
}

/// Whether every micro-op is a read (so the transaction can be served like a `GET`).
pub fn read_only(ops: &[MicroOp]) -> bool {
    ops.iter().all(|op| matches!(op, MicroOp::Read(..)))
}

/// The replicated key-value map, plus the id counter.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kv {
    map: BTreeMap<String, Value>,
    /// The last id handed out (0: none yet).
    #[serde(default)]
    last_id: u64,
}

impl Kv {
    /// An empty map.
    pub fn new() -> Kv {
        Kv::default()
    }

    /// The value at `key`, `None` when it was never written.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key was ever written.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Applies one op and says what happened. Deterministic: same map + same op = same result.
    pub fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Put { key, value } => {
                self.map.insert(key.clone(), value.clone());
                Outcome::Written
            }
            Op::Cas { key, from, to } => {
                let current = self.map.get(key);
                if current.unwrap_or(&Value::Null) == from {
                    self.map.insert(key.clone(), to.clone());
                    Outcome::Swapped
                } else {
                    Outcome::CasMismatch {
                        current: current.cloned(),
                    }
                }
            }
            Op::Txn { ops } => self.apply_txn(ops),
            Op::Incr { key, by } => {
                let current = match self.integer(key) {
                    Ok(v) => v.unwrap_or(0),
                    Err(reason) => return Outcome::Rejected { reason },
                };
                match current.checked_add(*by) {
                    Some(new) => {
                        self.map.insert(key.clone(), Value::from(new));
                        Outcome::Incremented(new)
                    }
                    None => Outcome::Rejected {
                        reason: format!("{current} + {by} overflows at key {key:?}"),
                    },
                }
            }
            Op::NewId => {
                self.last_id += 1;
                Outcome::Id(self.last_id)
            }
            Op::Transfer { from, to, amount } => self.transfer(from, to, *amount),
        }
    }

    /// The integer at `key`: `Ok(None)` when absent, an error when it holds something else.
    fn integer(&self, key: &str) -> Result<Option<i64>, String> {
        match self.map.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("key {key:?} holds {v}, not an integer")),
        }
    }

    fn transfer(&mut self, from: &str, to: &str, amount: i64) -> Outcome {
        let reject = |reason: String| Outcome::Rejected { reason };
        if amount < 0 {
            return reject(format!("amount must not be negative, got {amount}"));
        }
        let balance = |key: &str| match self.integer(key) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(format!("no account {key:?}")),
            Err(e) => Err(e),
        };
        let (have, other) = match (balance(from), balance(to)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return reject(e),
        };
        if have < amount {
            return reject(format!(
                "insufficient funds: account {from:?} holds {have}, cannot move {amount}"
            ));
        }
        if from == to {
            return Outcome::Transferred;
        }
        let Some(credited) = other.checked_add(amount) else {
            return reject(format!("account {to:?} would overflow"));
        };
        self.map.insert(from.to_owned(), Value::from(have - amount));
        self.map.insert(to.to_owned(), Value::from(credited));
        Outcome::Transferred
    }

    /// Answers a read from the current state.
    pub fn read(&self, query: &ReadQuery) -> ReadAnswer {
        match query {
            ReadQuery::Get(key) => ReadAnswer::Value(self.map.get(key).cloned()),
            ReadQuery::Scan(prefix) => ReadAnswer::Scan(
                self.map
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(prefix.as_str()))
                    .map(|(k, v)| (k[prefix.len()..].to_owned(), v.clone()))
                    .collect(),
            ),
            ReadQuery::Txn(ops) => ReadAnswer::Txn(
                ops.iter()
                    .map(|op| match op {
                        MicroOp::Read(key, _) => MicroOp::Read(
                            key.clone(),
                            self.map.get(key).cloned().unwrap_or(Value::Null),
                        ),
                        other => other.clone(),
                    })
                    .collect(),
            ),
        }
    }

    /// Runs the micro-ops against an overlay of the keys they touch, then installs the overlay
    /// only if none failed, so a transaction is atomic.
    fn apply_txn(&mut self, ops: &[MicroOp]) -> Outcome {
        let mut overlay: BTreeMap<&str, Value> = BTreeMap::new();
        let mut done = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                MicroOp::Read(key, _) => {
                    let v = overlay
                        .get(key.as_str())
                        .or_else(|| self.map.get(key))
                        .cloned()
                        .unwrap_or(Value::Null);
                    done.push(MicroOp::Read(key.clone(), v));
                }
                MicroOp::Write(key, value) => {
                    overlay.insert(key, value.clone());
                    done.push(op.clone());
                }
                MicroOp::Append(key, value) => {
                    let current = overlay
                        .get(key.as_str())
                        .or_else(|| self.map.get(key))
                        .cloned();
                    let list = match current {
                        None | Some(Value::Null) => vec![value.clone()],
                        Some(Value::Array(mut items)) => {
                            items.push(value.clone());
                            items
                        }
                        Some(other) => {
                            return Outcome::TxnAborted {
                                reason: format!(
                                    "cannot append to key {key:?}: it holds {other}, not a list"
                                ),
                            }
                        }
                    };
                    overlay.insert(key, Value::Array(list));
                    done.push(op.clone());
                }
            }
        }
        for (key, value) in overlay {
            self.map.insert(key.to_owned(), value);
        }
        Outcome::Txn(done)
    }

    /// Serialises the whole state (map and id counter) for a Raft snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        // A map of strings to `Value`s and an integer always serialise.
        serde_json::to_vec(self).expect("a key-value map always serialises")
    }

    /// Rebuilds the state from [`Kv::snapshot`] bytes (an empty slice is the empty map).
    pub fn restore(bytes: &[u8]) -> Result<Kv, DecodeError> {
        if bytes.is_empty() {
            return Ok(Kv::new());
        }
        serde_json::from_slice(bytes).map_err(DecodeError::Snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(k: &str, v: Value) -> Op {
        Op::Put {
            key: k.into(),
            value: v,
        }
    }

    #[test]
    fn put_then_get_returns_the_value_and_unwritten_keys_are_absent() {
        let mut kv = Kv::new();
        assert_eq!(kv.apply(&put("x", json!(3))), Outcome::Written);
        assert_eq!(kv.get("x"), Some(&json!(3)));
        assert_eq!(kv.get("y"), None);
    }

    #[test]
    fn cas_table() {
        // (initial value of "x", from, to, expected outcome, value of "x" after)
        type Case = (Option<Value>, Value, Value, Outcome, Option<Value>);
        let cases: Vec<Case> = vec![
            (
                Some(json!(1)),
                json!(1),
                json!(2),
                Outcome::Swapped,
                Some(json!(2)),
            ),
            (
                Some(json!(1)),
                json!(5),
                json!(2),
                Outcome::CasMismatch {
                    current: Some(json!(1)),
                },
                Some(json!(1)),
            ),
            (
                None,
                Value::Null,
                json!(7),
                Outcome::Swapped,
                Some(json!(7)),
            ),
            (
                None,
                json!(0),
                json!(7),
                Outcome::CasMismatch { current: None },
                None,
            ),
        ];
        for (i, (init, from, to, want, after)) in cases.into_iter().enumerate() {
            let mut kv = Kv::new();
            if let Some(v) = init {
                kv.apply(&put("x", v));
            }
            let got = kv.apply(&Op::Cas {
                key: "x".into(),
                from,
                to,
            });
            assert_eq!(got, want, "case {i}");
            assert_eq!(kv.get("x").cloned(), after, "case {i}");
        }
    }

    #[test]
    fn txn_fills_reads_and_sees_its_own_writes() {
        let mut kv = Kv::new();
        kv.apply(&put("y", json!(9)));
        let ops: Vec<MicroOp> = serde_json::from_value(json!([
            ["append", "x", 1],
            ["r", "x", null],
            ["r", "y", null],
            ["r", "q", null],
            ["w", "z", 3],
            ["append", "x", 2],
            ["r", "x", null]
        ]))
        .unwrap();
        let got = kv.apply(&Op::Txn { ops });
        let Outcome::Txn(done) = got else {
            panic!("txn aborted: {got:?}")
        };
        assert_eq!(
            serde_json::to_value(&done).unwrap(),
            json!([
                ["append", "x", 1],
                ["r", "x", [1]],
                ["r", "y", 9],
                ["r", "q", null],
                ["w", "z", 3],
                ["append", "x", 2],
                ["r", "x", [1, 2]]
            ])
        );
        assert_eq!(kv.get("x"), Some(&json!([1, 2])));
        assert_eq!(kv.get("z"), Some(&json!(3)));
    }

    #[test]
    fn txn_that_appends_to_a_scalar_changes_nothing() {
        let mut kv = Kv::new();
        kv.apply(&put("s", json!("text")));
        let before = kv.clone();
        let ops = vec![
            MicroOp::Write("a".into(), json!(1)),
            MicroOp::Append("s".into(), json!(2)),
        ];
        assert!(matches!(
            kv.apply(&Op::Txn { ops }),
            Outcome::TxnAborted { .. }
        ));
        assert_eq!(kv, before);
    }

    #[test]
    fn incr_counts_from_zero_and_rejects_non_integers() {
        let mut kv = Kv::new();
        let incr = |by| Op::Incr {
            key: "c".into(),
            by,
        };
        assert_eq!(kv.apply(&incr(3)), Outcome::Incremented(3));
        assert_eq!(kv.apply(&incr(4)), Outcome::Incremented(7));
        assert_eq!(kv.get("c"), Some(&json!(7)));
        kv.apply(&put("c", json!(i64::MAX)));
        assert!(matches!(kv.apply(&incr(1)), Outcome::Rejected { .. }));
        kv.apply(&put("c", json!("seven")));
        let before = kv.clone();
        let Outcome::Rejected { reason } = kv.apply(&incr(1)) else {
            panic!("incr of a string applied")
        };
        assert!(reason.contains("not an integer"), "{reason}");
        assert_eq!(kv, before);
    }

    #[test]
    fn ids_are_unique_and_survive_a_snapshot() {
        let mut kv = Kv::new();
        assert_eq!(kv.apply(&Op::NewId), Outcome::Id(1));
        assert_eq!(kv.apply(&Op::NewId), Outcome::Id(2));
        let mut back = Kv::restore(&kv.snapshot()).unwrap();
        assert_eq!(back.apply(&Op::NewId), Outcome::Id(3));
    }

    #[test]
    fn transfers_move_money_atomically_and_never_below_zero() {
        let mut kv = Kv::new();
        kv.apply(&put("a", json!(10)));
        kv.apply(&put("b", json!(0)));
        let t = |from: &str, to: &str, amount| Op::Transfer {
            from: from.into(),
            to: to.into(),
            amount,
        };
        assert_eq!(kv.apply(&t("a", "b", 4)), Outcome::Transferred);
        assert_eq!(
            (kv.get("a"), kv.get("b")),
            (Some(&json!(6)), Some(&json!(4)))
        );
        let before = kv.clone();
        for (op, why) in [
            (t("a", "b", 7), "insufficient funds"),
            (t("a", "z", 1), "no account \"z\""),
            (t("z", "a", 0), "no account \"z\""),
            (t("a", "b", -1), "must not be negative"),
        ] {
            let Outcome::Rejected { reason } = kv.apply(&op) else {
                panic!("{op:?} applied")
            };
            assert!(reason.contains(why), "{reason}");
            assert_eq!(kv, before);
        }
        assert_eq!(kv.apply(&t("a", "a", 6)), Outcome::Transferred);
        assert_eq!(kv, before);
    }

    #[test]
    fn reads_answer_keys_prefixes_and_read_only_txns() {
        let mut kv = Kv::new();
        for (k, v) in [
            ("bank-0", 5),
            ("bank-1", 7),
            ("bank", 1),
            ("bankz", 2),
            ("c", 3),
        ] {
            kv.apply(&put(k, json!(v)));
        }
        assert_eq!(
            kv.read(&ReadQuery::Get("c".into())),
            ReadAnswer::Value(Some(json!(3)))
        );
        assert_eq!(
            kv.read(&ReadQuery::Get("q".into())),
            ReadAnswer::Value(None)
        );
        let ReadAnswer::Scan(found) = kv.read(&ReadQuery::Scan("bank-".into())) else {
            panic!("not a scan")
        };
        assert_eq!(
            serde_json::to_value(found).unwrap(),
            json!({"0": 5, "1": 7})
        );
        let ops = vec![
            MicroOp::Read("c".into(), Value::Null),
            MicroOp::Read("q".into(), Value::Null),
        ];
        assert!(read_only(&ops));
        assert_eq!(
            kv.read(&ReadQuery::Txn(ops)),
            ReadAnswer::Txn(vec![
                MicroOp::Read("c".into(), json!(3)),
                MicroOp::Read("q".into(), Value::Null),
            ])
        );
        assert!(!read_only(&[MicroOp::Write("c".into(), json!(1))]));
    }

    #[test]
    fn micro_op_with_unknown_function_is_rejected() {
        let err = serde_json::from_value::<MicroOp>(json!(["incr", "x", 1])).unwrap_err();
        assert!(err.to_string().contains("\"incr\""), "{err}");
    }

    #[test]
    fn command_and_snapshot_round_trip() {
        let ops = [
            Op::Txn {
                ops: vec![MicroOp::Read("k".into(), Value::Null)],
            },
            Op::Incr {
                key: "c".into(),
                by: 2,
            },
            Op::NewId,
            Op::Transfer {
                from: "a".into(),
                to: "b".into(),
                amount: 1,
            },
        ];
        for op in ops {
            assert_eq!(Op::decode(&op.encode()).unwrap(), op);
        }
        let mut kv = Kv::new();
        kv.apply(&put("a", json!({"nested": [1, "two"]})));
        assert_eq!(Kv::restore(&kv.snapshot()).unwrap(), kv);
        assert!(Kv::restore(b"").unwrap().is_empty());
        assert!(Kv::restore(b"not json").is_err());
    }
}
