//! Micro-op parsing: turns each `txn` op's value into compact micro-ops with interned keys and
//! value ids, keeping no reference to the values themselves (messages and explanations
//! materialize the few values they cite, through [`OpView`]).
//!
//! A txn value is a list of `["append", k, v]`, `["r", k, v]` and `["w", k, v]` micro-ops
//! (DESIGN.md; Jepsen's `[:append k v]` reads the same after EDN import). An `ok` txn is read
//! from its completion (reads carry what they saw); `info` and `fail` txns from their
//! invocation, because their completion (if any) says nothing about what was read.
//!
//! One parser serves both kinds of history through [`Source`]: a [`History`] of
//! `serde_json::Value`s ([`HistorySource`]) and a [`CompactHistory`] of arena words
//! ([`CompactSource`]), whose list-append reads are used in place (spans of its arena).

use std::hash::{Hash, Hasher};

use rayon::prelude::*;
use serde_json::Value;

use super::TxnError;
use crate::checker::hash::FxHashMap;
use crate::history::compact::{Arena, CompactHistory, Kind, Val};
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

/// What the checker reads of op `i` besides its micro-ops: the facts the graph and the
/// explanations need, and its values as JSON for messages. Object safe: the checker holds a
/// `&dyn OpView` after parsing.
pub(crate) trait OpView: Sync {
    /// The client process.
    fn process(&self, i: u32) -> u64;
    /// History index of the invocation.
    fn invoke_index(&self, i: u32) -> u64;
    /// History index of the completion, when there is one.
    fn complete_index(&self, i: u32) -> Option<u64>;
    /// ok / info / fail.
    fn outcome(&self, i: u32) -> Outcome;
    /// The value the checker reads (the completion's for `ok`, else the invocation's).
    fn txn_value(&self, i: u32) -> Value;
    /// Part `part` (0 function, 1 key, 2 value) of micro-op `j` of that value (`null` when
    /// absent).
    fn mop_part(&self, i: u32, j: u32, part: usize) -> Value;
}

/// Value access for the parser: one implementation per kind of history, so the one parser
/// below is compiled for each without a `Value` on the compact path.
pub(crate) trait Source: OpView {
    /// A value of the history (a `&Value`, or a [`Val`] word).
    type V: Copy;
    /// A value whose word is not its identity, in hashable form (interned per parse).
    type Key: Hash + Eq + Send;
    /// Number of client ops.
    fn op_count(&self) -> usize;
    /// The function of op `i`.
    fn f(&self, i: usize) -> &str;
    /// The value the checker reads of op `i` (see [`OpView::txn_value`]).
    fn checked(&self, i: usize) -> Self::V;
    /// Number of items when `v` is a list.
    fn list_len(&self, v: Self::V) -> Option<usize>;
    /// Item `j` of list `v` (`j` below [`Source::list_len`]).
    fn item(&self, v: Self::V, j: usize) -> Self::V;
    /// Whether `v` is `null`.
    fn is_null(&self, v: Self::V) -> bool;
    /// The string `v`, when it is one.
    fn as_str(&self, v: Self::V) -> Option<&str>;
    /// The id of `v` when its word says which value it is, else its hashable form.
    fn id(&self, v: Self::V) -> Result<Val, Self::Key>;
    /// List `v` as a span of the history's arena, when every item's word is its id (so a
    /// list-append read is used in place).
    fn in_place(&self, v: Self::V) -> Option<Val>;
    /// The arena spans of [`Source::in_place`] point into.
    fn arena(&self) -> Option<&Arena>;
    /// `v` as JSON (for messages).
    fn json(&self, v: Self::V) -> Value;
}

/// A [`History`] of `Value`s as a [`Source`].
pub(crate) struct HistorySource<'h>(pub &'h History);

impl HistorySource<'_> {
    fn op(&self, i: u32) -> &crate::history::Op {
        &self.0.ops[i as usize]
    }
}

/// The value an op is checked by: the completion's for `ok`, else the invocation's.
fn checked_of(op: &crate::history::Op) -> &Value {
    if op.outcome == Outcome::Ok {
        &op.value
    } else {
        &op.invoke_value
    }
}

impl OpView for HistorySource<'_> {
    fn process(&self, i: u32) -> u64 {
        self.op(i).process
    }
    fn invoke_index(&self, i: u32) -> u64 {
        self.op(i).invoke_index
    }
    fn complete_index(&self, i: u32) -> Option<u64> {
        self.op(i).complete_index
    }
    fn outcome(&self, i: u32) -> Outcome {
        self.op(i).outcome
    }
    fn txn_value(&self, i: u32) -> Value {
        checked_of(self.op(i)).clone()
    }
    fn mop_part(&self, i: u32, j: u32, part: usize) -> Value {
        checked_of(self.op(i))
            .get(j as usize)
            .and_then(|m| m.get(part))
            .cloned()
            .unwrap_or(Value::Null)
    }
}

impl<'h> Source for HistorySource<'h> {
    type V = &'h Value;
    type Key = ValRef<'h>;
    fn op_count(&self) -> usize {
        self.0.ops.len()
    }
    fn f(&self, i: usize) -> &str {
        &self.0.ops[i].f
    }
    fn checked(&self, i: usize) -> &'h Value {
        checked_of(&self.0.ops[i])
    }
    fn list_len(&self, v: &'h Value) -> Option<usize> {
        v.as_array().map(Vec::len)
    }
    fn item(&self, v: &'h Value, j: usize) -> &'h Value {
        &v[j]
    }
    fn is_null(&self, v: &'h Value) -> bool {
        v.is_null()
    }
    fn as_str(&self, v: &'h Value) -> Option<&str> {
        v.as_str()
    }
    fn id(&self, v: &'h Value) -> Result<Val, ValRef<'h>> {
        match v {
            Value::Null => Ok(Val::NULL),
            Value::Number(n) => n.as_i64().and_then(Val::int).ok_or_else(|| ValRef::of(v)),
            _ => Err(ValRef::of(v)),
        }
    }
    fn in_place(&self, _: &'h Value) -> Option<Val> {
        None
    }
    fn arena(&self) -> Option<&Arena> {
        None
    }
    fn json(&self, v: &'h Value) -> Value {
        v.clone()
    }
}

/// A [`CompactHistory`] as a [`Source`].
pub(crate) struct CompactSource<'h>(pub &'h CompactHistory);

impl CompactSource<'_> {
    fn checked_val(&self, i: u32) -> Val {
        let op = &self.0.ops[i as usize];
        if op.outcome == Outcome::Ok {
            op.value
        } else {
            op.invoke_value
        }
    }
}

impl OpView for CompactSource<'_> {
    fn process(&self, i: u32) -> u64 {
        self.0.ops[i as usize].process
    }
    fn invoke_index(&self, i: u32) -> u64 {
        self.0.ops[i as usize].invoke_index
    }
    fn complete_index(&self, i: u32) -> Option<u64> {
        self.0.ops[i as usize].complete_index()
    }
    fn outcome(&self, i: u32) -> Outcome {
        self.0.ops[i as usize].outcome
    }
    fn txn_value(&self, i: u32) -> Value {
        self.0.arena.value(self.checked_val(i))
    }
    fn mop_part(&self, i: u32, j: u32, part: usize) -> Value {
        let a = &self.0.arena;
        a.items(self.checked_val(i))
            .get(j as usize)
            .and_then(|&m| a.items(m).get(part))
            .map_or(Value::Null, |&x| a.value(x))
    }
}

impl<'h> Source for CompactSource<'h> {
    type V = Val;
    type Key = String;
    fn op_count(&self) -> usize {
        self.0.ops.len()
    }
    fn f(&self, i: usize) -> &str {
        self.0.f(i)
    }
    fn checked(&self, i: usize) -> Val {
        self.checked_val(i as u32)
    }
    fn list_len(&self, v: Val) -> Option<usize> {
        match v.kind() {
            Kind::Array { len, .. } => Some(len as usize),
            _ => None,
        }
    }
    fn item(&self, v: Val, j: usize) -> Val {
        self.0.arena.items(v)[j]
    }
    fn is_null(&self, v: Val) -> bool {
        v.is_null()
    }
    fn as_str(&self, v: Val) -> Option<&str> {
        match v.kind() {
            Kind::Str(id) => Some(self.0.arena.str(id)),
            _ => None,
        }
    }
    fn id(&self, v: Val) -> Result<Val, String> {
        if v.is_canonical() {
            Ok(v)
        } else {
            // Floats, big integers, lists and objects: by their JSON text (equal texts are
            // equal values, as `ValRef` compares them).
            Err(self.0.arena.value(v).to_string())
        }
    }
    fn in_place(&self, v: Val) -> Option<Val> {
        let items = self.0.arena.items(v);
        (matches!(v.kind(), Kind::Array { .. }) && items.iter().all(|x| x.is_canonical()))
            .then_some(v)
    }
    fn arena(&self) -> Option<&Arena> {
        Some(&self.0.arena)
    }
    fn json(&self, v: Val) -> Value {
        self.0.arena.value(v)
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

/// The id of a scalar value ([`Mop::val`], [`Txns::elems_of`]): equal ids mean equal values
/// (as [`ValRef`] compares them). Integers in ±2^60, `null` ([`Val::NULL`]) and, in a compact
/// history, booleans and strings are their own [`Val`] word; everything else is interned to
/// a [`Val::local`] id.
pub(crate) type ValId = Val;

/// One micro-op of one txn (24 bytes: no reference to its value).
#[derive(Debug, Clone)]
pub(crate) struct Mop {
    /// What it does.
    pub kind: MopKind,
    /// Reads: the first read of this key in the txn, before the txn wrote it (an "external"
    /// read, the only kind that says what other txns did). Writes: the txn's last write to
    /// this key (so a read of any earlier one of its writes is an intermediate read).
    pub flag: bool,
    /// List-append reads: whether [`Mop::val`] spans [`Txns::elems`] (else the history's
    /// arena).
    pub own: bool,
    /// Its position in its txn's list of micro-ops.
    pub pos: u32,
    /// The interned key.
    pub key: u32,
    /// The txn (index into [`Txns::txns`]) it belongs to.
    pub txn: u32,
    /// Appends, writes and register reads: the id of the value. List-append reads: the span
    /// of the element ids read ([`Txns::elems_of`]).
    pub val: ValId,
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
    /// Index into the history's ops.
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
    pub mops: Vec<Mop>,
    /// Interned keys: id -> the first micro-op (index into `mops`) naming it.
    pub keys: Vec<u32>,
    /// The element ids of list-append reads not read in place, read by read.
    pub elems: Vec<ValId>,
    /// The compact history's arena, which in-place reads span.
    pub arena: Option<&'a Arena>,
}

/// Start and length of a span word.
fn span_parts(v: Val) -> (usize, usize) {
    match v.kind() {
        Kind::Array { start, len } => (start as usize, len as usize),
        _ => (0, 0),
    }
}

impl Txns<'_> {
    /// The micro-ops of txn `t`.
    pub(crate) fn mops_of(&self, t: u32) -> &[Mop] {
        let txn = &self.txns[t as usize];
        &self.mops[txn.start as usize..txn.end as usize]
    }

    /// The element ids a list-append read saw (empty for other micro-ops).
    pub(crate) fn elems_of(&self, m: &Mop) -> &[ValId] {
        if m.kind != MopKind::Read || !matches!(m.val.kind(), Kind::Array { .. }) {
            return &[];
        }
        if m.own {
            let (s, n) = span_parts(m.val);
            &self.elems[s..s + n]
        } else {
            self.arena.map_or(&[], |a| a.items(m.val))
        }
    }

    /// Number of elements a list-append read saw.
    pub(crate) fn read_len(&self, m: &Mop) -> usize {
        self.elems_of(m).len()
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

/// A key or value as the parser interns it: its own word, or its hashable form.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Ident<K> {
    Word(Val),
    Key(K),
}

/// The parse of one run of consecutive ops, with its own key and value tables (local ids),
/// merged into the whole history's by [`parse`].
struct Chunk<K> {
    txns: Vec<Txn>,
    mops: Vec<Mop>,
    elems: Vec<ValId>,
    /// Per chunk-local key id: its first micro-op (chunk-local index) and its identity.
    keys: Vec<(u32, Ident<K>)>,
    key_ids: FxHashMap<Ident<K>, u32>,
    others: Vec<K>,
    other_ids: FxHashMap<K, u32>,
}

impl<K: Hash + Eq + Clone> Chunk<K> {
    /// The (chunk-local) id of scalar `v`.
    fn val_id<S: Source<Key = K>>(&mut self, src: &S, v: S::V) -> ValId {
        match src.id(v) {
            Ok(w) => w,
            Err(k) => {
                let next = self.others.len() as u32;
                let id = *self.other_ids.entry(k.clone()).or_insert(next);
                if id == next {
                    self.others.push(k);
                }
                Val::local(u64::from(id))
            }
        }
    }

    /// The (chunk-local) id of key `k`, first named by chunk-local micro-op `mop`.
    fn key_id<S: Source<Key = K>>(&mut self, src: &S, k: S::V, mop: u32) -> u32 {
        let ident = match src.id(k) {
            Ok(w) => Ident::Word(w),
            Err(key) => Ident::Key(key),
        };
        let next = self.keys.len() as u32;
        match self.key_ids.get(&ident) {
            Some(&id) => id,
            None => {
                self.keys.push((mop, ident.clone()));
                self.key_ids.insert(ident, next);
                next
            }
        }
    }
}

/// Parses every op of `src`. Every client op must be a `txn`.
///
/// Runs of ops are parsed in parallel, each with its own tables; the tables are then merged
/// in history order, so key ids (first appearance) and the error reported (the first bad op)
/// are the same as for one sequential pass.
pub(crate) fn parse<'s, S>(src: &'s S, writes: WriteKind) -> Result<Txns<'s>, TxnError>
where
    S: Source,
    S::Key: Clone,
{
    let n = src.op_count();
    let last = n.saturating_sub(1) as u32;
    let too_big = |what: &str| TxnError::BadOp {
        index: if n == 0 { 0 } else { src.invoke_index(last) },
        process: if n == 0 { 0 } else { src.process(last) },
        reason: format!("more than 2^32 {what} in the history"),
    };
    // A txn and its completion's clock are graph nodes, whose ids take 29 bits.
    if n as u64 >= super::graph::MAX_NODES / 2 {
        return Err(TxnError::BadOp {
            index: src.invoke_index(last),
            process: src.process(last),
            reason: "more than 2^28 txns".into(),
        });
    }
    let parsed: Vec<Result<Chunk<S::Key>, TxnError>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| parse_chunk(src, c * CHUNK, CHUNK.min(n - c * CHUNK), writes))
        .collect();
    // The first bad chunk in history order holds the first bad op.
    let mut chunks = Vec::with_capacity(parsed.len());
    for c in parsed {
        chunks.push(c?);
    }
    // Merge the tables in history order.
    let mut out = Txns {
        arena: src.arena(),
        ..Default::default()
    };
    let mut key_ids: FxHashMap<Ident<S::Key>, u32> = FxHashMap::default();
    let mut other_ids: FxHashMap<S::Key, u32> = FxHashMap::default();
    let mut fixups: Vec<(Vec<u32>, Vec<ValId>, u32, u32)> = Vec::with_capacity(chunks.len());
    let (mut mop_base, mut elem_base) = (0usize, 0usize);
    for c in &mut chunks {
        let mb = u32::try_from(mop_base).map_err(|_| too_big("micro-ops"))?;
        let eb = u32::try_from(elem_base).map_err(|_| too_big("elements read"))?;
        let mut key_map = Vec::with_capacity(c.keys.len());
        for (first, ident) in std::mem::take(&mut c.keys) {
            let next = out.keys.len() as u32;
            let id = *key_ids.entry(ident).or_insert(next);
            if id == next {
                out.keys.push(mb + first);
            }
            key_map.push(id);
        }
        let other_map: Vec<ValId> = std::mem::take(&mut c.others)
            .into_iter()
            .map(|v| {
                let next = other_ids.len() as u32;
                Val::local(u64::from(*other_ids.entry(v).or_insert(next)))
            })
            .collect();
        mop_base += c.mops.len();
        elem_base += c.elems.len();
        u32::try_from(mop_base).map_err(|_| too_big("micro-ops"))?;
        u32::try_from(elem_base).map_err(|_| too_big("elements read"))?;
        fixups.push((key_map, other_map, mb, eb));
    }
    drop(key_ids);
    drop(other_ids);
    // Renumber each chunk to the global ids and offsets (in parallel), then concatenate.
    chunks
        .par_iter_mut()
        .zip(fixups.par_iter())
        .for_each(|(c, (key_map, other_map, mb, eb))| {
            let val = |id: ValId| match id.as_local() {
                Some(n) => other_map[n as usize],
                None => id,
            };
            for m in &mut c.mops {
                m.key = key_map[m.key as usize];
                if m.own {
                    let (s, len) = span_parts(m.val);
                    // Invariant: `parse` checked that every offset fits in 32 bits.
                    m.val = Val::span((s + *eb as usize) as u64, len as u64).unwrap_or(m.val);
                } else {
                    m.val = val(m.val);
                }
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
    out.txns.reserve_exact(n);
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
fn parse_chunk<S>(
    src: &S,
    first: usize,
    count: usize,
    writes: WriteKind,
) -> Result<Chunk<S::Key>, TxnError>
where
    S: Source,
    S::Key: Clone,
{
    let mut out = Chunk {
        txns: Vec::with_capacity(count),
        mops: Vec::with_capacity(count * 4),
        elems: Vec::new(),
        keys: Vec::new(),
        key_ids: FxHashMap::default(),
        others: Vec::new(),
        other_ids: FxHashMap::default(),
    };
    for i in first..first + count {
        // Invariant: `parse` checked that the history has fewer than 2^28 ops.
        let t = i as u32;
        let bad = |reason: String| TxnError::BadOp {
            index: src.invoke_index(t),
            process: src.process(t),
            reason,
        };
        let f = src.f(i);
        if f.strip_prefix(':').unwrap_or(f) != "txn" {
            return Err(bad(format!(
                "f is {f:?}; a transactional history has only \"txn\" ops"
            )));
        }
        let status = match src.outcome(t) {
            Outcome::Ok => Status::Ok,
            Outcome::Info => Status::Info,
            Outcome::Fail => Status::Fail,
        };
        let value = src.checked(i);
        let Some(len) = src.list_len(value) else {
            // A txn whose completion carries no value (some clients log nil on info/fail).
            if src.is_null(value) && status != Status::Ok {
                return Err(bad(
                    "the invocation's value is null; expected a list of micro-ops".into(),
                ));
            }
            return Err(bad(format!(
                "value {} is not a list of micro-ops",
                short(&src.json(value))
            )));
        };
        let start = out.mops.len() as u32;
        for j in 0..len {
            let m = src.item(value, j);
            if src.list_len(m) != Some(3) {
                return Err(bad(format!(
                    "micro-op {j} is {}; expected [f, key, value]",
                    short(&src.json(m))
                )));
            }
            let (f, k, v) = (src.item(m, 0), src.item(m, 1), src.item(m, 2));
            let Some(name) = src.as_str(f) else {
                return Err(bad(format!(
                    "micro-op {j} has function {}; expected \"append\", \"r\" or \"w\"",
                    short(&src.json(f))
                )));
            };
            let name = name.strip_prefix(':').unwrap_or(name);
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
            let key = out.key_id(src, k, out.mops.len() as u32);
            let list_read = kind == MopKind::Read && writes == WriteKind::Append;
            let items = src.list_len(v);
            if list_read && status == Status::Ok && items.is_none() && !src.is_null(v) {
                return Err(bad(format!(
                    "micro-op {j} read {} from key {}; a list-append read is a list or null",
                    short(&src.json(v)),
                    src.json(k)
                )));
            }
            let (own, val) = if !list_read {
                (false, out.val_id(src, v))
            } else if let Some(span) = items.and_then(|_| src.in_place(v)) {
                (false, span)
            } else {
                let s = out.elems.len();
                for e in 0..items.unwrap_or(0) {
                    let id = out.val_id(src, src.item(v, e));
                    out.elems.push(id);
                }
                let span = Val::span(s as u64, (out.elems.len() - s) as u64);
                let Some(span) = span else {
                    return Err(bad(format!("micro-op {j} read a list too long to check")));
                };
                (true, span)
            };
            out.mops.push(Mop {
                kind,
                flag: false,
                own,
                pos: j as u32,
                key,
                txn: t,
                val,
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
pub(crate) fn by_key(txns: &Txns<'_>, keep: impl Fn(&Mop) -> bool) -> ByKey {
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
fn mark_flags(mops: &mut [Mop]) {
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
pub(crate) fn repeats_a_key(mops: &[Mop]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{CompactHistory, History, Op};
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
        let hs = HistorySource(&h);
        let t = parse(&hs, WriteKind::Append).unwrap();
        assert_eq!(t.keys.len(), 2);
        let flags: Vec<bool> = t.mops.iter().map(|m| m.flag).collect();
        assert_eq!(flags, vec![true, false, false, true, true]);
    }

    /// What a parse says, without its ids (which differ between the two sources for
    /// strings): per micro-op (kind, flag, key, txn, position, elements read), per txn
    /// (op, status, start, end), and the keys' first micro-ops.
    type Shape = (
        Vec<(MopKind, bool, u32, u32, u32, usize)>,
        Vec<(u32, Status, u32, u32)>,
        Vec<u32>,
    );

    fn shape(t: &Txns<'_>) -> Shape {
        (
            t.mops
                .iter()
                .map(|m| (m.kind, m.flag, m.key, m.txn, m.pos, t.read_len(m)))
                .collect(),
            t.txns
                .iter()
                .map(|x| (x.op, x.status, x.start, x.end))
                .collect(),
            t.keys.clone(),
        )
    }

    /// Parses `h` from its `Value`s and from its compact form; both must agree.
    fn both(h: &History, w: WriteKind) -> Result<Shape, String> {
        let full = parse(&HistorySource(h), w).map(|t| shape(&t));
        let c = CompactHistory::from_history(h);
        let compact = parse(&CompactSource(&c), w).map(|t| shape(&t));
        let (full, compact) = (
            full.map_err(|e| e.to_string()),
            compact.map_err(|e| e.to_string()),
        );
        assert_eq!(full, compact);
        full
    }

    #[test]
    fn both_sources_parse_every_micro_op_shape_alike() {
        let h = History {
            ops: vec![
                txn(
                    0,
                    Outcome::Ok,
                    json!([["append", "x", 1], ["r", "x", [1]], ["r", "y", null]]),
                ),
                txn(
                    2,
                    Outcome::Ok,
                    json!([[":append", 7, "s"], ["r", 7, ["s", 1.5, [1], {"o": 2}]]]),
                ),
                txn(
                    4,
                    Outcome::Info,
                    json!([["append", "y", 2], ["r", "x", null]]),
                ),
                txn(
                    6,
                    Outcome::Fail,
                    json!([["append", [1, 2], -3], ["r", [1, 2], 9]]),
                ),
                txn(
                    8,
                    Outcome::Ok,
                    json!([["r", "x", [1, 1]], ["append", "x", 18446744073709551615u64]]),
                ),
            ],
            ..Default::default()
        };
        let (mops, txns, keys) = both(&h, WriteKind::Append).unwrap();
        assert_eq!(txns.len(), 5);
        assert_eq!(keys.len(), 4, "x, y, 7 and [1, 2]");
        // The read of a string, a float, a list and an object keeps all four elements.
        assert_eq!(mops[4].5, 4);
        let h = History {
            ops: vec![
                txn(
                    0,
                    Outcome::Ok,
                    json!([["w", "x", 1], ["r", "x", 1], ["r", "y", null]]),
                ),
                txn(2, Outcome::Ok, json!([["w", "y", "a"], ["w", "x", 2.5]])),
            ],
            ..Default::default()
        };
        let (mops, _, keys) = both(&h, WriteKind::Write).unwrap();
        assert_eq!(mops.len(), 5);
        assert_eq!(keys, vec![0, 2]);
    }

    #[test]
    fn equal_values_get_equal_ids_in_both_sources() {
        let h = History {
            ops: vec![
                txn(
                    0,
                    Outcome::Ok,
                    json!([
                        ["append", "k", 1.5],
                        ["append", "k", "s"],
                        ["append", "k", [2]]
                    ]),
                ),
                txn(2, Outcome::Ok, json!([["r", "k", [1.5, "s", [2]]]])),
            ],
            ..Default::default()
        };
        let c = CompactHistory::from_history(&h);
        let (hs, cs) = (HistorySource(&h), CompactSource(&c));
        let full = parse(&hs, WriteKind::Append).unwrap();
        let compact = parse(&cs, WriteKind::Append).unwrap();
        for t in [&full, &compact] {
            let appended: Vec<ValId> = t.mops[..3].iter().map(|m| m.val).collect();
            assert_eq!(t.elems_of(&t.mops[3]), &appended[..]);
        }
        // An all-integer read is used in place in the compact history.
        let h = History {
            ops: vec![txn(0, Outcome::Ok, json!([["r", "k", [1, 2]]]))],
            ..Default::default()
        };
        let c = CompactHistory::from_history(&h);
        let cs = CompactSource(&c);
        let t = parse(&cs, WriteKind::Append).unwrap();
        assert!(!t.mops[0].own);
        assert!(t.elems.is_empty());
        assert_eq!(
            t.elems_of(&t.mops[0]),
            &[Val::int(1).unwrap(), Val::int(2).unwrap()]
        );
    }

    #[test]
    fn bad_micro_ops_are_errors_naming_the_op() {
        let cases = [
            (
                json!([["append", "x"]]),
                "micro-op 0 is [\"append\",\"x\"]; expected [f, key, value]",
            ),
            (
                json!([["cas", "x", 1]]),
                "micro-op 0 has function \"cas\"; expected \"append\", \"r\" or \"w\"",
            ),
            (
                json!([["w", "x", 1]]),
                "micro-op 0 is \"w\", which the list-append checker does not take",
            ),
            (
                json!([["r", "x", 5]]),
                "micro-op 0 read 5 from key \"x\"; a list-append read is a list or null",
            ),
            (
                json!([["r", "x", []], [1, "x", 5]]),
                "micro-op 1 has function 1; expected \"append\", \"r\" or \"w\"",
            ),
            (json!(7), "value 7 is not a list of micro-ops"),
        ];
        for (i, (v, reason)) in cases.into_iter().enumerate() {
            let h = History {
                ops: vec![txn(40, Outcome::Ok, v)],
                ..Default::default()
            };
            let err = both(&h, WriteKind::Append).unwrap_err();
            assert_eq!(err, format!("op 40 (process 0): {reason}"), "case {i}");
        }
        let mut op = txn(40, Outcome::Info, Value::Null);
        op.f = "read".into();
        let h = History {
            ops: vec![txn(38, Outcome::Ok, json!([])), op],
            ..Default::default()
        };
        let err = both(&h, WriteKind::Write).unwrap_err();
        assert!(err.starts_with("op 40 (process 0): f is \"read\""), "{err}");
        let h = History {
            ops: vec![txn(40, Outcome::Info, Value::Null)],
            ..Default::default()
        };
        let err = both(&h, WriteKind::Write).unwrap_err();
        assert!(err.contains("the invocation's value is null"), "{err}");
        let h = History {
            ops: vec![txn(40, Outcome::Ok, json!([["append", "x", 1]]))],
            ..Default::default()
        };
        let err = both(&h, WriteKind::Write).unwrap_err();
        assert!(err.contains("rw-register checker does not take"), "{err}");
    }
}
