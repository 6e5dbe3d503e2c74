//! Micro-op parsing: turns each `txn` op's JSON value into compact micro-ops with interned
//! keys, borrowing values from the history (nothing is cloned on this path).
//!
//! A txn value is a list of `["append", k, v]`, `["r", k, v]` and `["w", k, v]` micro-ops
//! (DESIGN.md; Jepsen's `[:append k v]` reads the same after EDN import). An `ok` txn is read
//! from its completion (reads carry what they saw); `info` and `fail` txns from their
//! invocation, because their completion (if any) says nothing about what was read.

use std::hash::{Hash, Hasher};

use rayon::prelude::*;
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

/// The id of a scalar value ([`Mop::val`], [`Txns::elems`]): equal ids mean equal values
/// (as [`ValRef`] compares them). Integers in `0..2^63` are their own id, so the common
/// all-integer history needs no table; `null` is [`NULL_ID`]; everything else is interned
/// to `2^63 + n`.
pub(crate) type ValId = u64;

/// The id of `null`.
pub(crate) const NULL_ID: ValId = u64::MAX;

/// Ids at or above this (except [`NULL_ID`]) are interned values.
const INTERNED: ValId = 1 << 63;

/// One micro-op of one txn.
#[derive(Debug, Clone)]
pub(crate) struct Mop<'a> {
    /// What it does.
    pub kind: MopKind,
    /// Reads: the first read of this key in the txn, before the txn wrote it (an "external"
    /// read, the only kind that says what other txns did). Writes: the txn's last write to
    /// this key (so a read of any earlier one of its writes is an intermediate read).
    pub flag: bool,
    /// The interned key.
    pub key: u32,
    /// The txn (index into [`Txns::txns`]) it belongs to.
    pub txn: u32,
    /// The element appended, the value written, or the value read (for messages).
    pub value: &'a Value,
    /// The id of `value` when it is a scalar (appends, writes, register reads); for a
    /// list-append read, [`NULL_ID`].
    pub val: ValId,
    /// List-append reads: where the ids of the elements read start in [`Txns::elems`].
    pub elems_start: u32,
    /// List-append reads: how many elements were read.
    pub elems_len: u32,
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
    /// The element ids of every list-append read, read by read (see [`Mop::elems_start`]).
    pub elems: Vec<ValId>,
}

impl<'a> Txns<'a> {
    /// The micro-ops of txn `t`.
    pub(crate) fn mops_of(&self, t: u32) -> &[Mop<'a>] {
        let txn = &self.txns[t as usize];
        &self.mops[txn.start as usize..txn.end as usize]
    }

    /// The element ids a list-append read saw (empty for other micro-ops).
    pub(crate) fn elems_of(&self, m: &Mop<'_>) -> &[ValId] {
        let s = m.elems_start as usize;
        &self.elems[s..s + m.elems_len as usize]
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

/// Ops per parallel parse chunk.
const CHUNK: usize = 16_384;

/// The parse of one run of consecutive ops, with its own key and value tables (local ids),
/// merged into the whole history's by [`parse`].
#[derive(Default)]
struct Chunk<'a> {
    txns: Vec<Txn>,
    mops: Vec<Mop<'a>>,
    elems: Vec<ValId>,
    keys: Vec<&'a Value>,
    key_ids: FxHashMap<ValRef<'a>, u32>,
    others: Vec<ValRef<'a>>,
    other_ids: FxHashMap<ValRef<'a>, u32>,
}

impl<'a> Chunk<'a> {
    /// The (chunk-local) id of scalar `v`.
    fn val_id(&mut self, v: &'a Value) -> ValId {
        match v {
            Value::Null => return NULL_ID,
            Value::Number(n) => {
                if let Some(u) = n.as_u64().filter(|&u| u < INTERNED) {
                    return u;
                }
            }
            _ => {}
        }
        let next = self.others.len() as u32;
        let r = ValRef::of(v);
        let id = *self.other_ids.entry(r.clone()).or_insert(next);
        if id == next {
            self.others.push(r);
        }
        INTERNED + u64::from(id)
    }

    /// The (chunk-local) id of key `k`.
    fn key_id(&mut self, k: &'a Value) -> u32 {
        let next = self.keys.len() as u32;
        let id = *self.key_ids.entry(ValRef::of(k)).or_insert(next);
        if id == next {
            self.keys.push(k);
        }
        id
    }
}

/// Parses every op of `history`. Every client op must be a `txn`.
///
/// Runs of ops are parsed in parallel, each with its own tables; the tables are then merged
/// in history order, so key ids (first appearance) and the error reported (the first bad op)
/// are the same as for one sequential pass.
pub(crate) fn parse(history: &History, writes: WriteKind) -> Result<Txns<'_>, TxnError> {
    u32::try_from(history.ops.len()).map_err(|_| TxnError::BadOp {
        index: history.ops.last().map_or(0, |o| o.invoke_index),
        process: history.ops.last().map_or(0, |o| o.process),
        reason: "more than 2^32 txns".into(),
    })?;
    let parsed: Vec<Result<Chunk<'_>, TxnError>> = history
        .ops
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(c, ops)| parse_chunk(history, c * CHUNK, ops.len(), writes))
        .collect();
    // The first bad chunk in history order holds the first bad op.
    let mut chunks = Vec::with_capacity(parsed.len());
    for c in parsed {
        chunks.push(c?);
    }
    // Merge the tables in history order.
    let mut out = Txns::default();
    let mut key_ids: FxHashMap<ValRef<'_>, u32> = FxHashMap::default();
    let mut other_ids: FxHashMap<ValRef<'_>, u32> = FxHashMap::default();
    let mut fixups: Vec<(Vec<u32>, Vec<ValId>, u32, u32)> = Vec::with_capacity(chunks.len());
    let (mut mop_base, mut elem_base) = (0usize, 0usize);
    for c in &mut chunks {
        let key_map: Vec<u32> = c
            .keys
            .iter()
            .map(|&k| {
                let next = out.keys.len() as u32;
                let id = *key_ids.entry(ValRef::of(k)).or_insert(next);
                if id == next {
                    out.keys.push(k);
                }
                id
            })
            .collect();
        let other_map: Vec<ValId> = std::mem::take(&mut c.others)
            .into_iter()
            .map(|v| {
                let next = other_ids.len() as u32;
                INTERNED + u64::from(*other_ids.entry(v).or_insert(next))
            })
            .collect();
        let too_big = |what: &str| TxnError::BadOp {
            index: history.ops.last().map_or(0, |o| o.invoke_index),
            process: history.ops.last().map_or(0, |o| o.process),
            reason: format!("more than 2^32 {what} in the history"),
        };
        let mb = u32::try_from(mop_base).map_err(|_| too_big("micro-ops"))?;
        let eb = u32::try_from(elem_base).map_err(|_| too_big("elements read"))?;
        mop_base += c.mops.len();
        elem_base += c.elems.len();
        u32::try_from(mop_base).map_err(|_| too_big("micro-ops"))?;
        u32::try_from(elem_base).map_err(|_| too_big("elements read"))?;
        fixups.push((key_map, other_map, mb, eb));
    }
    // Renumber each chunk to the global ids and offsets (in parallel), then concatenate.
    chunks
        .par_iter_mut()
        .zip(fixups.par_iter())
        .for_each(|(c, (key_map, other_map, mb, eb))| {
            let val = |id: ValId| {
                if id >= INTERNED && id != NULL_ID {
                    other_map[(id - INTERNED) as usize]
                } else {
                    id
                }
            };
            for m in &mut c.mops {
                m.key = key_map[m.key as usize];
                m.val = val(m.val);
                m.elems_start += eb;
            }
            if !other_map.is_empty() {
                for e in &mut c.elems {
                    *e = val(*e);
                }
            }
            for t in &mut c.txns {
                t.start += mb;
                t.end += mb;
            }
        });
    out.txns.reserve_exact(history.ops.len());
    out.mops.reserve_exact(mop_base);
    out.elems.reserve_exact(elem_base);
    for c in chunks {
        out.txns.extend_from_slice(&c.txns);
        out.mops.extend_from_slice(&c.mops);
        out.elems.extend_from_slice(&c.elems);
    }
    Ok(out)
}

/// Parses ops `first..first + count` into a chunk with local ids and offsets.
fn parse_chunk(
    history: &History,
    first: usize,
    count: usize,
    writes: WriteKind,
) -> Result<Chunk<'_>, TxnError> {
    let mut out = Chunk {
        txns: Vec::with_capacity(count),
        mops: Vec::with_capacity(count * 4),
        ..Default::default()
    };
    for i in first..first + count {
        let op = &history.ops[i];
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
        // Invariant: `parse` checked that the history has fewer than 2^32 ops.
        let t = i as u32;
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
            let key = out.key_id(&parts[1]);
            let value = &parts[2];
            let list_read = kind == MopKind::Read && writes == WriteKind::Append;
            if list_read && status == Status::Ok && !matches!(value, Value::Null | Value::Array(_))
            {
                return Err(bad(format!(
                    "micro-op {j} read {} from key {}; a list-append read is a list or null",
                    short(value),
                    parts[1]
                )));
            }
            let elems_start = out.elems.len() as u32;
            let val = if list_read {
                for e in list_of(value) {
                    let id = out.val_id(e);
                    out.elems.push(id);
                }
                NULL_ID
            } else {
                out.val_id(value)
            };
            let elems_len = out.elems.len() as u32 - elems_start;
            out.mops.push(Mop {
                kind,
                flag: false,
                key,
                txn: t,
                value,
                val,
                elems_start,
                elems_len,
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

/// Micro-op indices grouped by key (compressed rows): key `k`'s are
/// `mops[offsets[k]..offsets[k + 1]]`, in history order.
#[derive(Debug, Default)]
pub(crate) struct ByKey {
    offsets: Vec<u32>,
    mops: Vec<u32>,
}

impl ByKey {
    /// The micro-ops of key `k`.
    pub(crate) fn of(&self, k: u32) -> &[u32] {
        &self.mops[self.offsets[k as usize] as usize..self.offsets[k as usize + 1] as usize]
    }
}

/// Groups the micro-ops that `keep` selects by key (a counting sort: two passes, no
/// per-key allocation).
pub(crate) fn by_key(txns: &Txns<'_>, keep: impl Fn(&Mop<'_>) -> bool) -> ByKey {
    let mut offsets = vec![0u32; txns.keys.len() + 1];
    for m in &txns.mops {
        if keep(m) {
            offsets[m.key as usize + 1] += 1;
        }
    }
    for k in 0..txns.keys.len() {
        offsets[k + 1] += offsets[k];
    }
    let mut next: Vec<u32> = offsets[..txns.keys.len()].to_vec();
    let mut mops = vec![0u32; offsets[txns.keys.len()] as usize];
    for (i, m) in txns.mops.iter().enumerate() {
        if keep(m) {
            let slot = &mut next[m.key as usize];
            mops[*slot as usize] = i as u32;
            *slot += 1;
        }
    }
    ByKey { offsets, mops }
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

/// Whether two micro-ops of `mops` touch the same key (txns are short: a quadratic scan).
pub(crate) fn repeats_a_key(mops: &[Mop<'_>]) -> bool {
    mops.iter()
        .enumerate()
        .any(|(i, m)| mops[i + 1..].iter().any(|n| n.key == m.key))
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
