//! list-append inference: per key, the version order is the longest list any committed txn
//! read; every other read must be a prefix of it (else `incompatible-order`). From that
//! order come the dependency edges, and the non-cycle anomalies that a list shows directly.
//!
//! Edges, for key k with version order `L = [e0, e1, ...]` written by `W(e)`:
//! - `ww`: `W(e_i) -> W(e_{i+1})`; and from the last element's writer to every committed
//!   txn whose append to k no read ever saw (a committed append missing from the longest read
//!   came after all of it: any later read would otherwise contain it before later elements).
//! - `wr`: a txn's external read of k ending in `e` depends on `W(e)`.
//! - `rw`: a txn whose external read saw the first `p` elements precedes `W(e_p)` (or, when it
//!   saw all of `L`, every committed unread appender).
//!
//! `info` txns: their reads are unknown, so they give no `wr`/`rw` edges as readers; their
//! appends give edges only when some read saw them (then they certainly committed).

use serde_json::Value;

use super::graph::{pack, RW, WR, WW};
use super::parse::{by_key, short, Mop, MopKind, Status, Txns, ValId};
use super::{within_txns, Ctx, Found, TxnError};
use crate::checker::hash::FxHashMap;

/// Edges (txn, txn, relation) as inference emits them.
pub(crate) type Edges = Vec<(u32, u32, u8)>;

/// One element a txn knows a list to hold: its id, and where it was written in the txn (the
/// micro-op, and the position in what it read; `None` for the element it appended).
type Known<'m> = (ValId, &'m Mop, Option<usize>);

/// Per txn and key while scanning one txn: the whole list when known (after a read), and the
/// txn's own appends since.
type KeyState<'m> = (u32, Option<Vec<Known<'m>>>, Vec<Known<'m>>);

/// A value shown in a message only when the message is written.
struct Shown<F>(F);

impl<F: Fn() -> Value> std::fmt::Display for Shown<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (self.0)().fmt(f)
    }
}

/// No writer (an element nobody appended).
pub(crate) const NONE: u32 = u32::MAX;

/// The inferred version order of one key.
#[derive(Debug, Default)]
pub(crate) struct KeyOrder {
    /// The longest read (a micro-op index): the version order.
    pub longest: Option<u32>,
    /// The txn that appended each element ([`NONE`] when nobody did).
    pub writers: Vec<u32>,
    /// Committed txns whose appends to this key no read saw.
    pub unobserved: Vec<u32>,
}

/// What list-append inference found.
#[derive(Debug, Default)]
pub(crate) struct Inference {
    /// Dependency edges, [`pack`]ed.
    pub edges: Vec<u64>,
    /// Non-cycle anomalies.
    pub found: Vec<Found>,
    /// Per key id, its version order (for explanations).
    pub orders: Vec<KeyOrder>,
}

/// Infers version orders, edges and non-cycle anomalies.
pub(crate) fn infer(ctx: &Ctx<'_, '_>) -> Result<Inference, TxnError> {
    let txns = ctx.txns;
    let groups = by_key(txns, |m| match m.kind {
        MopKind::Append => true,
        MopKind::Read => txns.txns[m.txn as usize].status == Status::Ok,
        MopKind::Write => false,
    });
    // Each key on its own, with small per-thread tables reused from key to key (parallel);
    // the first bad key in key order is the error, so it does not depend on scheduling.
    let mut out = Inference {
        orders: Vec::with_capacity(txns.keys.len()),
        ..Default::default()
    };
    out.edges.reserve(super::edge_room(txns));
    super::for_each_key(
        txns.keys.len() as u32,
        Scratch::default,
        |s, k| infer_key(ctx, s, k, groups.of(k)),
        |key| {
            let (edges, found, order) = key?;
            out.edges
                .extend(edges.into_iter().map(|(a, b, r)| pack(a, b, r)));
            out.found.extend(found);
            out.orders.push(order);
            Ok(())
        },
    )?;
    drop(groups);
    out.found.extend(within_txns(ctx, within_txn));
    Ok(out)
}

/// What inference finds for one key.
type KeyOut = (Edges, Vec<Found>, KeyOrder);

/// Per-thread tables for [`infer_key`], cleared and reused from key to key.
#[derive(Default)]
struct Scratch {
    /// Element id -> the mop that appended it.
    writers: FxHashMap<ValId, u32>,
    /// Element id -> its position in the version order.
    pos: FxHashMap<ValId, u32>,
    /// The key's committed reads (mop indices).
    reads: Vec<u32>,
    /// Per read: whether it is a prefix of the longest.
    compatible: Vec<bool>,
    /// (elements read, reader) of reads whose txn appended to the key later.
    lost: Vec<(usize, u32)>,
}

/// Every append to one key, by element id: unique, or the history is ambiguous.
type Writers = FxHashMap<ValId, u32>;

fn infer_key(
    ctx: &Ctx<'_, '_>,
    s: &mut Scratch,
    key: u32,
    mops: &[u32],
) -> Result<KeyOut, TxnError> {
    let txns = ctx.txns;
    let Scratch {
        writers,
        pos,
        reads,
        compatible,
        lost,
    } = s;
    // The writer index (mops are in history order, so `first` is the earlier op).
    writers.clear();
    for &i in mops {
        let m = &txns.mops[i as usize];
        if m.kind != MopKind::Append {
            continue;
        }
        if let Some(first) = writers.insert(m.val, i) {
            return Err(TxnError::DuplicateWrite {
                key: ctx.key(key).to_string(),
                value: short(&ctx.value(m)),
                first: ctx.index(txns.mops[first as usize].txn),
                second: ctx.index(m.txn),
            });
        }
    }
    let writers: &Writers = writers;
    let mut edges = Vec::new();
    let mut found = Vec::new();
    let key_v = Shown(|| ctx.key(key));
    reads.clear();
    reads.extend(
        mops.iter()
            .copied()
            .filter(|&m| txns.mops[m as usize].kind == MopKind::Read),
    );
    let reads: &[u32] = reads;
    let longest = reads
        .iter()
        .copied()
        .max_by_key(|&m| (txns.read_len(&txns.mops[m as usize]), std::cmp::Reverse(m)));
    let elem_ids: &[ValId] = longest.map_or(&[], |m| txns.elems_of(&txns.mops[m as usize]));
    // Element `i` of the longest read, for messages.
    let elem = |i: usize| {
        Shown(move || longest.map_or(Value::Null, |l| ctx.elem(&txns.mops[l as usize], i)))
    };
    let status = |t: u32| txns.txns[t as usize].status;
    pos.clear();
    pos.reserve(elem_ids.len());
    let mut order_writers = Vec::with_capacity(elem_ids.len());
    let mut dup_reported = false;
    for (i, &r) in elem_ids.iter().enumerate() {
        let w = writers.get(&r).copied();
        order_writers.push(w.map_or(NONE, |m| txns.mops[m as usize].txn));
        if pos.insert(r, i as u32).is_some() && !dup_reported {
            dup_reported = true;
            // Invariant: elems is non-empty only when `longest` is Some.
            let reader = longest.map_or(0, |m| txns.mops[m as usize].txn);
            found.push(ctx.found(
                "duplicate-elements",
                Some(key),
                vec![reader],
                format!(
                    "{} read key {key_v} as {}, which holds {} more than once; an append-only list never repeats an element",
                    ctx.name(reader),
                    short(&ctx.value(&txns.mops[longest.map_or(0, |m| m as usize)])),
                    elem(i)
                ),
            ));
        }
    }
    // Which reads are prefixes of the longest one.
    compatible.clear();
    compatible.resize(reads.len(), true);
    for (ri, &m) in reads.iter().enumerate() {
        if Some(m) == longest {
            continue;
        }
        let list = txns.elems_of(&txns.mops[m as usize]);
        let prefix = list.len() <= elem_ids.len() && *list == elem_ids[..list.len()];
        if !prefix {
            compatible[ri] = false;
            let t = txns.mops[m as usize].txn;
            let lt = longest.map_or(t, |l| txns.mops[l as usize].txn);
            found.push(ctx.found(
                "incompatible-order",
                Some(key),
                vec![t, lt],
                format!(
                    "{} read key {key_v} as {}, but {} read it as {}; neither is a prefix of the other, so they cannot come from one order of appends",
                    ctx.name(t),
                    short(&ctx.value(&txns.mops[m as usize])),
                    ctx.name(lt),
                    short(&ctx.value(&txns.mops[longest.map_or(m, |l| l) as usize]))
                ),
            ));
            check_elements(ctx, writers, key, m, &mut found);
        }
    }
    // Aborted and never-written elements, read by compatible reads.
    let first_fail = order_writers
        .iter()
        .position(|&w| w != NONE && status(w) == Status::Fail);
    let first_garbage = order_writers.iter().position(|&w| w == NONE);
    for (ri, &m) in reads.iter().enumerate() {
        if !compatible[ri] {
            continue;
        }
        let mop = &txns.mops[m as usize];
        let len = txns.read_len(mop);
        let t = mop.txn;
        if let Some(f) = first_fail.filter(|&f| f < len) {
            let w = order_writers[f];
            found.push(ctx.found(
                "G1a",
                Some(key),
                vec![t, w],
                format!(
                    "{} read key {key_v} as {}, which contains {}, appended by {}, which failed (aborted read)",
                    ctx.name(t),
                    short(&ctx.value(mop)),
                    elem(f),
                    ctx.name(w)
                ),
            ));
        }
        if let Some(g) = first_garbage.filter(|&g| g < len) {
            found.push(ctx.found(
                "garbage-read",
                Some(key),
                vec![t],
                format!(
                    "{} read key {key_v} as {}, which contains {}, which no txn ever appended",
                    ctx.name(t),
                    short(&ctx.value(mop)),
                    elem(g)
                ),
            ));
        }
        if len > 0 {
            let w = order_writers[len - 1];
            if w != NONE && w != t && status(w) != Status::Fail {
                if let Some(&wm) = writers.get(&elem_ids[len - 1]) {
                    if !txns.mops[wm as usize].flag {
                        found.push(ctx.found(
                            "G1b",
                            Some(key),
                            vec![t, w],
                            format!(
                                "{} read key {key_v} as {}, ending in {}, an intermediate state of {}, which appended more to it later in the same txn (intermediate read)",
                                ctx.name(t),
                                short(&ctx.value(mop)),
                                elem(len - 1),
                                ctx.name(w)
                            ),
                        ));
                    }
                }
            }
        }
    }
    if let Some(f) = first_fail {
        if let Some(later) = order_writers[f + 1..]
            .iter()
            .copied()
            .find(|&w| w != NONE && status(w) != Status::Fail)
        {
            let w = order_writers[f];
            found.push(ctx.found(
                "dirty-update",
                Some(key),
                vec![w, later],
                format!(
                    "key {key_v}: {} appended {}, then failed, yet {} appended after it (a committed write built on an aborted one)",
                    ctx.name(w),
                    elem(f),
                    ctx.name(later)
                ),
            ));
        }
    }
    // Committed appends nobody saw.
    let mut unobserved: Vec<u32> = mops
        .iter()
        .map(|&m| &txns.mops[m as usize])
        .filter(|m| m.kind == MopKind::Append && status(m.txn) == Status::Ok)
        .filter(|m| !pos.contains_key(&m.val))
        .map(|m| m.txn)
        .collect();
    unobserved.dedup();
    // Edges.
    let valid = |w: u32| w != NONE && status(w) != Status::Fail;
    let mut prev: Option<u32> = None;
    for &w in &order_writers {
        if !valid(w) {
            continue;
        }
        if let Some(p) = prev {
            if p != w {
                edges.push((p, w, WW));
            }
        }
        prev = Some(w);
    }
    if let Some(p) = prev {
        for &u in &unobserved {
            edges.push((p, u, WW));
        }
    }
    lost.clear();
    for (ri, &m) in reads.iter().enumerate() {
        let mop = &txns.mops[m as usize];
        if !compatible[ri] || !mop.flag {
            continue;
        }
        let t = mop.txn;
        let p = txns.read_len(mop);
        if p > 0 && valid(order_writers[p - 1]) {
            edges.push((order_writers[p - 1], t, WR));
        }
        // The first later version by another txn: the reader's own append does not count.
        match order_writers[p..]
            .iter()
            .copied()
            .find(|&w| valid(w) && w != t)
        {
            Some(next) => edges.push((t, next, RW)),
            None => edges.extend(unobserved.iter().map(|&u| (t, u, RW))),
        }
        let appends_later = txns
            .mops_of(t)
            .iter()
            .any(|x| x.key == key && x.kind == MopKind::Append);
        if appends_later {
            lost.push((p, t));
        }
    }
    lost.sort_unstable();
    for group in lost.chunk_by(|a, b| a.0 == b.0) {
        if group.len() > 1 {
            let ts: Vec<u32> = group.iter().map(|g| g.1).collect();
            let names: Vec<String> = ts.iter().map(|&t| ctx.name(t)).collect();
            found.push(ctx.found(
                "lost-update",
                Some(key),
                ts,
                format!(
                    "{} all read the same version of key {key_v} (its first {} element{}) and then appended to it, and all committed (lost update)",
                    names.join(", "),
                    group[0].0,
                    if group[0].0 == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    let order = KeyOrder {
        longest,
        writers: order_writers,
        unobserved,
    };
    Ok((edges, found, order))
}

/// Aborted and never-written elements in a read that is not part of the version order.
fn check_elements(ctx: &Ctx<'_, '_>, writers: &Writers, key: u32, m: u32, found: &mut Vec<Found>) {
    let txns = ctx.txns;
    let mop = &txns.mops[m as usize];
    let key_v = Shown(|| ctx.key(key));
    let e = |i: usize| Shown(move || ctx.elem(mop, i));
    let mut seen: FxHashMap<ValId, ()> = FxHashMap::default();
    for (i, &r) in txns.elems_of(mop).iter().enumerate() {
        if seen.insert(r, ()).is_some() {
            found.push(ctx.found(
                "duplicate-elements",
                Some(key),
                vec![mop.txn],
                format!(
                    "{} read key {key_v} as {}, which holds {} more than once",
                    ctx.name(mop.txn),
                    short(&ctx.value(mop)),
                    e(i)
                ),
            ));
            return;
        }
        match writers.get(&r) {
            None => {
                found.push(ctx.found(
                    "garbage-read",
                    Some(key),
                    vec![mop.txn],
                    format!(
                        "{} read key {key_v} as {}, which contains {}, which no txn ever appended",
                        ctx.name(mop.txn),
                        short(&ctx.value(mop)),
                        e(i)
                    ),
                ));
                return;
            }
            Some(&w) => {
                let wt = txns.mops[w as usize].txn;
                if txns.txns[wt as usize].status == Status::Fail {
                    found.push(ctx.found(
                        "G1a",
                        Some(key),
                        vec![mop.txn, wt],
                        format!(
                            "{} read key {key_v} as {}, which contains {}, appended by {}, which failed (aborted read)",
                            ctx.name(mop.txn),
                            short(&ctx.value(mop)),
                            e(i),
                            ctx.name(wt)
                        ),
                    ));
                    return;
                }
            }
        }
    }
}

/// The JSON list a txn knows, for a message.
fn known_list(ctx: &Ctx<'_, '_>, list: &[Known<'_>]) -> Value {
    Value::Array(
        list.iter()
            .map(|&(_, m, at)| match at {
                Some(i) => ctx.elem(m, i),
                None => ctx.value(m),
            })
            .collect(),
    )
}

/// Internal consistency and future reads within one committed txn.
fn within_txn(ctx: &Ctx<'_, '_>, t: u32, found: &mut Vec<Found>) {
    let txns = ctx.txns;
    let mops = txns.mops_of(t);
    if !super::parse::repeats_a_key(mops) {
        // Both anomalies need two micro-ops on one key; most txns have none.
        return;
    }
    // Per key: the whole list when known (after a read), and own appends since.
    let mut state: Vec<KeyState<'_>> = Vec::new();
    for (i, m) in mops.iter().enumerate() {
        let slot = match state.iter().position(|s| s.0 == m.key) {
            Some(s) => s,
            None => {
                state.push((m.key, None, Vec::new()));
                state.len() - 1
            }
        };
        let key_v = Shown(|| ctx.key(m.key));
        match m.kind {
            MopKind::Append | MopKind::Write => {
                let (_, known, own) = &mut state[slot];
                match known {
                    Some(list) => list.push((m.val, m, None)),
                    None => own.push((m.val, m, None)),
                }
            }
            MopKind::Read => {
                let read = txns.elems_of(m);
                let (_, known, own) = &mut state[slot];
                let ids = |l: &[Known<'_>]| l.iter().map(|k| k.0).collect::<Vec<ValId>>();
                let expected: Option<String> = match known {
                    Some(list) if ids(list) != read => Some(format!("{}", known_list(ctx, list))),
                    None if !own.is_empty()
                        && (read.len() < own.len()
                            || read[read.len() - own.len()..] != ids(own)[..]) =>
                    {
                        Some(format!("a list ending in {}", known_list(ctx, own)))
                    }
                    _ => None,
                };
                if let Some(expected) = expected {
                    found.push(ctx.found(
                        "internal",
                        Some(m.key),
                        vec![t],
                        format!(
                            "{} read key {key_v} as {}, but its own earlier micro-ops imply {expected} (internal inconsistency)",
                            ctx.name(t),
                            short(&ctx.value(m))
                        ),
                    ));
                }
                *known = Some(
                    read.iter()
                        .enumerate()
                        .map(|(p, &id)| (id, m, Some(p)))
                        .collect(),
                );
                own.clear();
                for later in &mops[i + 1..] {
                    if later.key == m.key
                        && later.kind == MopKind::Append
                        && read.contains(&later.val)
                    {
                        found.push(ctx.found(
                            "future-read",
                            Some(m.key),
                            vec![t],
                            format!(
                                "{} read key {key_v} as {}, which contains {}, an element the same txn appends only later (future read)",
                                ctx.name(t),
                                short(&ctx.value(m)),
                                ctx.value(later)
                            ),
                        ));
                        break;
                    }
                }
            }
        }
    }
}

/// Why edge `a -> b` of relation `rel` holds, in words, with the key it concerns.
pub(crate) fn why(
    inf: &Inference,
    ctx: &Ctx<'_, '_>,
    a: u32,
    b: u32,
    rel: u8,
) -> Option<(u32, String)> {
    let txns: &Txns<'_> = ctx.txns;
    let (na, nb) = (ctx.tname(a), ctx.tname(b));
    let position = |k: u32, t: u32| -> Option<usize> {
        inf.orders[k as usize].writers.iter().rposition(|&w| w == t)
    };
    let appended = |t: u32, k: u32| -> Option<Value> {
        txns.mops_of(t)
            .iter()
            .rev()
            .find(|m| m.key == k && m.kind == MopKind::Append)
            .map(|m| ctx.value(m))
    };
    // Element `i` of key `k`'s version order.
    let elem = |k: u32, i: usize| {
        inf.orders[k as usize]
            .longest
            .map_or(Value::Null, |l| ctx.elem(&txns.mops[l as usize], i))
    };
    match rel {
        WW => {
            for m in txns.mops_of(a).iter().filter(|m| m.kind == MopKind::Append) {
                let k = m.key;
                let order = &inf.orders[k as usize];
                let key_v = ctx.key(k);
                let (Some(pa), Some(vb)) = (position(k, a), appended(b, k)) else {
                    continue;
                };
                match position(k, b) {
                    Some(pb) if pb > pa => {
                        return Some((
                            k,
                            format!(
                                "{na} appended {} to {key_v}, and {nb} appended {} after it",
                                elem(k, pa),
                                elem(k, pb)
                            ),
                        ))
                    }
                    None if order.unobserved.contains(&b) => {
                        return Some((
                            k,
                            format!(
                                "{na} appended {} to {key_v}; {nb}'s append of {vb} was never read, so it came after every element read",
                                elem(k, pa)
                            ),
                        ))
                    }
                    _ => {}
                }
            }
            None
        }
        WR => {
            for m in txns
                .mops_of(b)
                .iter()
                .filter(|m| m.kind == MopKind::Read && m.flag)
            {
                let len = txns.read_len(m);
                if len == 0 {
                    continue;
                }
                let order = &inf.orders[m.key as usize];
                if len <= order.writers.len()
                    && order.writers[..len]
                        .iter()
                        .rev()
                        .find(|&&w| w != NONE && txns.txns[w as usize].status != Status::Fail)
                        == Some(&a)
                {
                    return Some((
                        m.key,
                        format!(
                            "{na} appended {} to {}, which {nb} read ({})",
                            ctx.elem(m, len - 1),
                            ctx.key(m.key),
                            short(&ctx.value(m))
                        ),
                    ));
                }
            }
            None
        }
        RW => {
            for m in txns
                .mops_of(a)
                .iter()
                .filter(|m| m.kind == MopKind::Read && m.flag)
            {
                let k = m.key;
                let Some(vb) = appended(b, k) else { continue };
                let p = txns.read_len(m);
                let order = &inf.orders[k as usize];
                let after = match position(k, b) {
                    Some(pb) => pb >= p,
                    None => order.unobserved.contains(&b) && p <= order.writers.len(),
                };
                if after {
                    return Some((
                        k,
                        format!(
                            "{na} read {} as {}, which does not include {vb}, appended by {nb}",
                            ctx.key(k),
                            short(&ctx.value(m))
                        ),
                    ));
                }
            }
            None
        }
        _ => None,
    }
}
