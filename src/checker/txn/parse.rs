//! Micro-op parsing: turns each `txn` op's JSON value into compact micro-ops with interned
//! keys, borrowing values from the history (nothing is cloned on this path).
//!
//! A txn value is a list of `["append", k, v]`, `["r", k, v]` and `["w", k, v]` micro-ops
//! (DESIGN.md; Jepsen's `[:append k v]` reads the same after EDN import). An `ok` txn is read
//! from its completion (reads carry what they saw); `info` and `fail` txns from their
//! invocation, because their completion (if any) says nothing about what was read.

use std::hash::{Hash, Hasher};

use serde_json::Value;

use super::TxnError;
use crate::checker::hash::FxHashMap;
use crate::history::{History, Outcome};

/// A JSON scalar as a hashable, cheaply comparable key or element (borrowed from the history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValRef<'a> {
    /// `null`.
    Null,
    /// An integer that fits in `i64`.
    Int(i64),
    /// An integer beyond `i64::MAX`.
    UInt(u64),
    /// A float, by bit pattern.
    Float(u64),
    /// `true` / `false`.
    Bool(bool),
    /// A string.
    Str(&'a str),
    /// Anything else (arrays, objects), by its JSON text.
    Other(String),
}

impl Hash for ValRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            ValRef::Null => h.write_u8(0),
            ValRef::Int(i) => h.write_u64(*i as u64),
            ValRef::UInt(u) => {
                h.write_u8(2);
                h.write_u64(*u)
            }
            ValRef::Float(b) => {
                h.write_u8(3);
                h.write_u64(*b)
            }
            ValRef::Bool(b) => h.write_u8(4 + u8::from(*b)),
            ValRef::Str(s) => {
                h.write_u8(6);
                h.write(s.as_bytes())
            }
            ValRef::Other(s) => {
                h.write_u8(7);
                h.write(s.as_bytes())
            }
        }
    }
}

impl<'a> ValRef<'a> {
    /// The comparable form of `v`.
    pub(crate) fn of(v: &'a Value) -> ValRef<'a> {
        match v {
            Value::Null => ValRef::Null,
            Value::Bool(b) => ValRef::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    ValRef::Int(i)
                } else if let Some(u) = n.as_u64() {
                    ValRef::UInt(u)
                } else {
                    ValRef::Float(n.as_f64().unwrap_or(f64::NAN).to_bits())
                }
            }
            Value::String(s) => ValRef::Str(s),
            other => ValRef::Other(other.to_string()),
        }
    }
}

/// What a micro-op does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MopKind {
    /// `["append", k, v]`: appends element `v` to the list at `k`.
    Append,
    /// `["r", k, v]`: read `k`; `v` is what was seen (`null` before completion).
    Read,
    /// `["w", k, v]`: sets register `k` to `v`.
    Write,
}

/// One micro-op of one txn.
#[derive(Debug, Clone)]
pub(crate) struct Mop<'a> {
    /// What it does.
    pub kind: MopKind,
    /// The interned key.
    pub key: u32,
    /// The txn (index into [`Txns::txns`]) it belongs to.
    pub txn: u32,
    /// The element appended, the value written, or the value read.
    pub value: &'a Value,
    /// Reads: the first read of this key in the txn, before the txn wrote it (an "external"
    /// read, the only kind that says what other txns did). Writes: the txn's last write to
    /// this key (so a read of any earlier one of its writes is an intermediate read).
    pub flag: bool,
}

/// How a txn ended, for the checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Committed; its reads are known.
    Ok,
    /// Unknown: it may have committed (its writes may be seen), its reads are unknown.
    Info,
    /// Aborted: its writes must never be seen.
    Fail,
}

/// One txn op of the history.
#[derive(Debug, Clone)]
pub(crate) struct Txn {
    /// Index into `History::ops`.
    pub op: u32,
    /// How it ended.
    pub status: Status,
    /// Its micro-ops: `mops[start..end]`.
    pub start: u32,
    /// End of its micro-ops (exclusive).
    pub end: u32,
}

/// Every txn of a history, parsed.
#[derive(Debug, Default)]
pub(crate) struct Txns<'a> {
    /// In history (invoke) order.
    pub txns: Vec<Txn>,
    /// All micro-ops, txn by txn.
    pub mops: Vec<Mop<'a>>,
    /// Interned keys: id -> the key as written.
    pub keys: Vec<&'a Value>,
}

impl<'a> Txns<'a> {
    /// The micro-ops of txn `t`.
    pub(crate) fn mops_of(&self, t: u32) -> &[Mop<'a>] {
        let txn = &self.txns[t as usize];
        &self.mops[txn.start as usize..txn.end as usize]
    }
}

/// Which micro-op writes a workload allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// list-append: `append`.
    Append,
    /// rw-register: `w`.
    Write,
}

/// Parses every op of `history`. Every client op must be a `txn`.
pub(crate) fn parse(history: &History, writes: WriteKind) -> Result<Txns<'_>, TxnError> {
    let mut out = Txns {
        txns: Vec::with_capacity(history.ops.len()),
        mops: Vec::with_capacity(history.ops.len() * 4),
        keys: Vec::new(),
    };
    let mut key_ids: FxHashMap<ValRef<'_>, u32> = FxHashMap::default();
    for (i, op) in history.ops.iter().enumerate() {
        let bad = |reason: String| TxnError::BadOp {
            index: op.invoke_index,
            process: op.process,
            reason,
        };
        let f = op.f.strip_prefix(':').unwrap_or(&op.f);
        if f != "txn" {
            return Err(bad(format!(
                "f is {:?}; a transactional history has only \"txn\" ops",
                op.f
            )));
        }
        let status = match op.outcome {
            Outcome::Ok => Status::Ok,
            Outcome::Info => Status::Info,
            Outcome::Fail => Status::Fail,
        };
        let value = if status == Status::Ok {
            &op.value
        } else {
            &op.invoke_value
        };
        let list = match value {
            Value::Array(list) => list,
            // A txn whose completion carries no value (some clients log nil on info/fail).
            Value::Null if status != Status::Ok => {
                return Err(bad(
                    "the invocation's value is null; expected a list of micro-ops".into(),
                ))
            }
            other => {
                return Err(bad(format!(
                    "value {} is not a list of micro-ops",
                    short(other)
                )))
            }
        };
        let t = u32::try_from(i).map_err(|_| bad("more than 2^32 txns".into()))?;
        let start = out.mops.len() as u32;
        for (j, m) in list.iter().enumerate() {
            let parts = match m {
                Value::Array(p) if p.len() == 3 => p,
                other => {
                    return Err(bad(format!(
                        "micro-op {j} is {}; expected [f, key, value]",
                        short(other)
                    )))
                }
            };
            let name = match &parts[0] {
                Value::String(s) => s.strip_prefix(':').unwrap_or(s),
                other => {
                    return Err(bad(format!(
                        "micro-op {j} has function {}; expected \"append\", \"r\" or \"w\"",
                        short(other)
                    )))
                }
            };
            let kind = match (name, writes) {
                ("r", _) => MopKind::Read,
                ("append", WriteKind::Append) => MopKind::Append,
                ("w", WriteKind::Write) => MopKind::Write,
                ("append", WriteKind::Write) | ("w", WriteKind::Append) => {
                    let model = if writes == WriteKind::Append {
                        "list-append"
                    } else {
                        "rw-register"
                    };
                    return Err(bad(format!(
                        "micro-op {j} is {name:?}, which the {model} checker does not take"
                    )));
                }
                _ => {
                    return Err(bad(format!(
                        "micro-op {j} has function {name:?}; expected \"append\", \"r\" or \"w\""
                    )))
                }
            };
            let key_ref = ValRef::of(&parts[1]);
            let next = out.keys.len() as u32;
            let key = *key_ids.entry(key_ref).or_insert(next);
            if key == next {
                out.keys.push(&parts[1]);
            }
            let value = &parts[2];
            if kind == MopKind::Read
                && status == Status::Ok
                && writes == WriteKind::Append
                && !matches!(value, Value::Null | Value::Array(_))
            {
                return Err(bad(format!(
                    "micro-op {j} read {} from key {}; a list-append read is a list or null",
                    short(value),
                    parts[1]
                )));
            }
            out.mops.push(Mop {
                kind,
                key,
                txn: t,
                value,
                flag: false,
            });
        }
        let end = out.mops.len() as u32;
        mark_flags(&mut out.mops[start as usize..end as usize]);
        out.txns.push(Txn {
            op: t,
            status,
            start,
            end,
        });
    }
    Ok(out)
}

/// Sets [`Mop::flag`]: external reads and last writes per key (txns are short, so the
/// quadratic scan is cheaper than a map).
fn mark_flags(mops: &mut [Mop<'_>]) {
    for i in 0..mops.len() {
        let key = mops[i].key;
        let flag = match mops[i].kind {
            MopKind::Read => !mops[..i].iter().any(|m| m.key == key),
            MopKind::Append | MopKind::Write => !mops[i + 1..]
                .iter()
                .any(|m| m.key == key && m.kind != MopKind::Read),
        };
        mops[i].flag = flag;
    }
}

/// A value for a message, shortened when long.
pub(crate) fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        let s: String = text.chars().take(57).collect();
        format!("{s}...")
    } else {
        text
    }
}

/// The elements of a list-append read (`null` reads as the empty list).
pub(crate) fn list_of(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Op};
    use serde_json::json;

    fn txn(index: u64, outcome: Outcome, value: Value) -> Op {
        Op {
            process: 0,
            f: "txn".into(),
            key: None,
            invoke_value: value.clone(),
            value,
            outcome,
            invoke_index: index,
            complete_index: Some(index + 1),
            invoke_time: 0,
            complete_time: Some(0),
            error: None,
            node: None,
        }
    }

    #[test]
    fn keys_are_interned_and_flags_mark_external_reads_and_last_writes() {
        let h = History {
            ops: vec![txn(
                0,
                Outcome::Ok,
                json!([
                    ["r", "x", [1]],
                    ["append", "x", 2],
                    ["r", "x", [1, 2]],
                    ["append", "y", 3],
                    ["append", "x", 4]
                ]),
            )],
            ..Default::default()
        };
        let t = parse(&h, WriteKind::Append).unwrap();
        assert_eq!(t.keys.len(), 2);
        let flags: Vec<bool> = t.mops.iter().map(|m| m.flag).collect();
        assert_eq!(flags, vec![true, false, false, true, true]);
    }

    #[test]
    fn bad_micro_ops_are_errors_naming_the_op() {
        let cases = [
            json!([["append", "x"]]),
            json!([["cas", "x", 1]]),
            json!([["w", "x", 1]]),
            json!([["r", "x", 5]]),
            json!(7),
        ];
        for (i, v) in cases.into_iter().enumerate() {
            let h = History {
                ops: vec![txn(40, Outcome::Ok, v)],
                ..Default::default()
            };
            let err = parse(&h, WriteKind::Append).unwrap_err().to_string();
            assert!(err.starts_with("op 40"), "case {i}: {err}");
        }
    }
}
