//! rw-register inference: registers only say which write a read saw, not the order of
//! writes, so only the version orders that are sound without more assumptions are used
//! (Elle's defaults):
//! - every value is written at most once per key (checked: a repeat is bad input), so a read
//!   names its writer;
//! - the initial state (`null`) precedes every written version;
//! - a txn that read version `v` of k and then wrote `v'` puts `v` right before `v'`.
//!
//! Each known version step `v -> v'` (written by W and W') gives `W -ww-> W'` and, for
//! every txn R whose external read saw `v`, `R -rw-> W'`; a read of `v` gives
//! `W -wr-> R`. Writers of an unread `info` txn give no edges (it may not have committed).

use super::graph::{pack, RW, WR, WW};
use super::list_append::Edges;
use super::parse::{by_key, short, Mop, MopKind, Status, ValId};
use super::{within_txns, Ctx, Found, TxnError};
use crate::checker::hash::FxHashMap;
use crate::history::compact::Val;

/// What rw-register inference found.
#[derive(Debug, Default)]
pub(crate) struct Inference {
    /// Dependency edges, [`pack`]ed.
    pub edges: Vec<u64>,
    /// Non-cycle anomalies.
    pub found: Vec<Found>,
}

/// Infers edges and non-cycle anomalies.
pub(crate) fn infer(ctx: &Ctx<'_, '_>) -> Result<Inference, TxnError> {
    let txns = ctx.txns;
    let mut writers: FxHashMap<(u32, ValId), u32> = FxHashMap::default();
    for (i, m) in txns.mops.iter().enumerate() {
        if m.kind == MopKind::Write {
            if let Some(first) = writers.insert((m.key, m.val), i as u32) {
                return Err(TxnError::DuplicateWrite {
                    key: ctx.key(m.key).to_string(),
                    value: short(&ctx.value(m)),
                    first: ctx.index(txns.mops[first as usize].txn),
                    second: ctx.index(m.txn),
                });
            }
        }
    }
    let groups = by_key(txns, |m| match m.kind {
        MopKind::Write => true,
        MopKind::Read => txns.txns[m.txn as usize].status == Status::Ok,
        MopKind::Append => false,
    });
    let mut out = Inference::default();
    out.edges.reserve(super::edge_room(txns));
    super::for_each_key(
        txns.keys.len() as u32,
        || (),
        |_, k| infer_key(ctx, &writers, k, groups.of(k)),
        |(edges, found)| {
            out.edges
                .extend(edges.into_iter().map(|(a, b, r)| pack(a, b, r)));
            out.found.extend(found);
            Ok(())
        },
    )?;
    drop(groups);
    out.found.extend(within_txns(ctx, within_txn));
    Ok(out)
}

/// A txn's final write to `key`, if it wrote it.
fn final_write<'c>(ctx: &Ctx<'_, 'c>, t: u32, key: u32) -> Option<&'c Mop> {
    ctx.txns
        .mops_of(t)
        .iter()
        .rev()
        .find(|m| m.key == key && m.kind == MopKind::Write)
}

fn infer_key(
    ctx: &Ctx<'_, '_>,
    writers: &FxHashMap<(u32, ValId), u32>,
    key: u32,
    mops: &[u32],
) -> (Edges, Vec<Found>) {
    let txns = ctx.txns;
    let key_v = || ctx.key(key);
    let status = |t: u32| txns.txns[t as usize].status;
    let mut edges = Vec::new();
    let mut found = Vec::new();
    let writer_of = |v: ValId| -> Option<(u32, bool)> {
        writers.get(&(key, v)).map(|&m| {
            let mop = &txns.mops[m as usize];
            (mop.txn, mop.flag)
        })
    };
    // Versions read, with their readers; observed info writers.
    let mut readers: FxHashMap<ValId, Vec<u32>> = FxHashMap::default();
    let mut observed: Vec<u32> = Vec::new();
    for &m in mops {
        let mop = &txns.mops[m as usize];
        if mop.kind != MopKind::Read {
            continue;
        }
        let t = mop.txn;
        // A read after the txn's own write reads that write: `within_txn` checks it.
        if mop.flag && mop.val != Val::NULL {
            match writer_of(mop.val) {
                None => found.push(ctx.found(
                    "garbage-read",
                    Some(key),
                    vec![t],
                    format!(
                        "{} read key {} = {}, which no txn ever wrote",
                        ctx.name(t),
                        key_v(),
                        short(&ctx.value(mop))
                    ),
                )),
                Some((w, _)) if status(w) == Status::Fail => found.push(ctx.found(
                    "G1a",
                    Some(key),
                    vec![t, w],
                    format!(
                        "{} read key {} = {}, written by {}, which failed (aborted read)",
                        ctx.name(t),
                        key_v(),
                        short(&ctx.value(mop)),
                        ctx.name(w)
                    ),
                )),
                Some((w, last)) => {
                    if !last && w != t {
                        found.push(ctx.found(
                            "G1b",
                            Some(key),
                            vec![t, w],
                            format!(
                                "{} read key {} = {}, which {} overwrote later in the same txn (intermediate read)",
                                ctx.name(t),
                                key_v(),
                                short(&ctx.value(mop)),
                                ctx.name(w)
                            ),
                        ));
                    }
                    if status(w) == Status::Info {
                        observed.push(w);
                    }
                }
            }
        }
        if mop.flag {
            readers.entry(mop.val).or_default().push(t);
        }
    }
    let committed = |w: u32| status(w) == Status::Ok || observed.contains(&w);
    // Version steps v -> v' (by the txn that read v then wrote v').
    let mut lost: FxHashMap<ValId, Vec<u32>> = FxHashMap::default();
    for &m in mops {
        let mop = &txns.mops[m as usize];
        if mop.kind != MopKind::Read || !mop.flag {
            continue;
        }
        let t = mop.txn;
        let Some(_) = final_write(ctx, t, key) else {
            continue;
        };
        lost.entry(mop.val).or_default().push(t);
        if mop.val != Val::NULL {
            if let Some((w, _)) = writer_of(mop.val) {
                if committed(w) {
                    edges.push((w, t, WW));
                }
                if let Some(rs) = readers.get(&mop.val) {
                    edges.extend(rs.iter().filter(|&&r| r != t).map(|&r| (r, t, RW)));
                }
            }
        }
    }
    // Reads: wr from the writer; a read of the initial state precedes every write.
    for (&v, rs) in &readers {
        if v == Val::NULL {
            for &m in mops {
                let mop = &txns.mops[m as usize];
                if mop.kind == MopKind::Write && mop.flag && committed(mop.txn) {
                    edges.extend(rs.iter().map(|&r| (r, mop.txn, RW)));
                }
            }
        } else {
            let Some(&wm) = writers.get(&(key, v)) else {
                continue;
            };
            let w = txns.mops[wm as usize].txn;
            if committed(w) {
                edges.extend(rs.iter().map(|&r| (w, r, WR)));
            }
        }
    }
    let mut groups: Vec<Vec<u32>> = lost.into_values().filter(|g| g.len() > 1).collect();
    groups.sort_unstable();
    for ts in groups {
        let names: Vec<String> = ts.iter().map(|&t| ctx.name(t)).collect();
        let seen = txns
            .mops_of(ts[0])
            .iter()
            .find(|m| m.key == key && m.kind == MopKind::Read)
            .map_or_else(|| "null".to_string(), |m| short(&ctx.value(m)));
        found.push(ctx.found(
            "lost-update",
            Some(key),
            ts,
            format!(
                "{} all read key {} = {seen} and then wrote it, and all committed (lost update)",
                names.join(", "),
                key_v()
            ),
        ));
    }
    (edges, found)
}

/// Internal consistency and future reads within one committed txn.
fn within_txn(ctx: &Ctx<'_, '_>, t: u32, found: &mut Vec<Found>) {
    let mops = ctx.txns.mops_of(t);
    if !super::parse::repeats_a_key(mops) {
        // Both anomalies need two micro-ops on one key; most txns have none.
        return;
    }
    // Per key: the micro-op whose value the txn last knew it to hold.
    let mut known: Vec<(u32, &Mop)> = Vec::new();
    for (i, m) in mops.iter().enumerate() {
        let slot = known.iter().position(|s| s.0 == m.key);
        match m.kind {
            MopKind::Write | MopKind::Append => match slot {
                Some(s) => known[s].1 = m,
                None => known.push((m.key, m)),
            },
            MopKind::Read => {
                if let Some(s) = slot {
                    if known[s].1.val != m.val {
                        found.push(ctx.found(
                            "internal",
                            Some(m.key),
                            vec![t],
                            format!(
                                "{} read key {} = {}, but its own earlier micro-ops imply {} (internal inconsistency)",
                                ctx.name(t),
                                ctx.key(m.key),
                                short(&ctx.value(m)),
                                short(&ctx.value(known[s].1))
                            ),
                        ));
                    }
                    known[s].1 = m;
                } else {
                    known.push((m.key, m));
                    let future = mops[i + 1..]
                        .iter()
                        .any(|x| x.key == m.key && x.kind == MopKind::Write && x.val == m.val);
                    if future && m.val != Val::NULL {
                        found.push(ctx.found(
                            "future-read",
                            Some(m.key),
                            vec![t],
                            format!(
                                "{} read key {} = {}, a value the same txn writes only later (future read)",
                                ctx.name(t),
                                ctx.key(m.key),
                                short(&ctx.value(m))
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// Why edge `a -> b` of relation `rel` holds, in words, with the key it concerns.
pub(crate) fn why(ctx: &Ctx<'_, '_>, a: u32, b: u32, rel: u8) -> Option<(u32, String)> {
    let txns = ctx.txns;
    let (na, nb) = (ctx.tname(a), ctx.tname(b));
    let ext_read = |t: u32, k: u32| {
        txns.mops_of(t)
            .iter()
            .find(|m| m.key == k && m.kind == MopKind::Read && m.flag)
    };
    let keys_of = |t: u32| {
        let mut ks: Vec<u32> = txns.mops_of(t).iter().map(|m| m.key).collect();
        ks.dedup();
        ks
    };
    let v = |m: &Mop| ctx.value(m);
    for k in keys_of(if rel == WR { a } else { b }) {
        match rel {
            WW => {
                if let (Some(va), Some(r), Some(vb)) = (
                    final_write(ctx, a, k),
                    ext_read(b, k),
                    final_write(ctx, b, k),
                ) {
                    if va.val == r.val {
                        return Some((
                            k,
                            format!(
                                "{na} wrote {} = {}, which {nb} read and then overwrote with {}",
                                ctx.key(k),
                                v(va),
                                v(vb)
                            ),
                        ));
                    }
                }
            }
            WR => {
                if let (Some(va), Some(r)) = (final_write(ctx, a, k), ext_read(b, k)) {
                    if va.val == r.val {
                        return Some((
                            k,
                            format!("{na} wrote {} = {}, which {nb} read", ctx.key(k), v(va)),
                        ));
                    }
                }
            }
            RW => {
                if let (Some(r), Some(vb)) = (ext_read(a, k), final_write(ctx, b, k)) {
                    if r.val == Val::NULL {
                        return Some((
                            k,
                            format!(
                                "{na} read {} as null (never written), but {nb} wrote {} to it",
                                ctx.key(k),
                                v(vb)
                            ),
                        ));
                    }
                    if ext_read(b, k).map(|x| x.val) == Some(r.val) {
                        return Some((
                            k,
                            format!(
                                "{na} read {} = {}, a version {nb} then overwrote with {}",
                                ctx.key(k),
                                v(r),
                                v(vb)
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    None
}
