//! The transaction dependency graph: one node per txn, plus (when real-time order matters)
//! one "clock" node per `ok` completion, and edges labelled with a bit set of relations.
//!
//! Real-time order is an interval order: T1 < T2 when T1 completed before T2 was invoked.
//! Writing it out edge by edge needs up to concurrency × n edges, so it is encoded with a
//! chain of clock nodes instead, one per `ok` completion in history order: T -> C(T's
//! completion) -> C(next completion) -> ... -> T2 for the last completion before T2's
//! invocation. A path through clock nodes exists exactly when the real-time order holds, so
//! cycles (and strongly connected components) are the same as with explicit edges, at
//! O(n) edges. Cycles found are collapsed back to one `realtime` step per clock segment.
//!
//! `info` txns get no `process` or `realtime` edge from their completion (they may take
//! effect any time later); `fail` txns get no edge at all.

use rayon::prelude::*;

use super::parse::{OpView, Status, Txns};

/// Write-write dependency: T1 installed a version, T2 installed the next one.
pub(crate) const WW: u8 = 1;
/// Write-read dependency: T2 read a version T1 installed.
pub(crate) const WR: u8 = 2;
/// Read-write anti-dependency: T1 read a version that T2 overwrote.
pub(crate) const RW: u8 = 4;
/// Process order: T1 completed, then the same process invoked T2.
pub(crate) const PROCESS: u8 = 8;
/// Real-time order (edges into, out of and between clock nodes).
pub(crate) const REALTIME: u8 = 16;

/// Short name of one relation bit, as Elle prints it.
pub(crate) fn rel_name(bit: u8) -> &'static str {
    match bit {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        PROCESS => "process",
        _ => "realtime",
    }
}

/// A directed graph in compressed sparse row form (edges sorted by source, then target).
#[derive(Debug, Default)]
pub(crate) struct DepGraph {
    /// Number of txn nodes; nodes at or past this are clock nodes.
    pub txns: u32,
    /// `offsets[n]..offsets[n + 1]` indexes `targets`/`bits` for node `n`'s out-edges.
    pub offsets: Vec<u32>,
    /// Edge targets.
    pub targets: Vec<u32>,
    /// Edge relation bits.
    pub bits: Vec<u8>,
}

impl DepGraph {
    /// Number of nodes, clock nodes included.
    pub(crate) fn nodes(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Number of edges.
    pub(crate) fn edges(&self) -> usize {
        self.targets.len()
    }

    /// Out-edges of `n` as (target, relation bits).
    pub(crate) fn out(&self, n: u32) -> impl Iterator<Item = (u32, u8)> + '_ {
        let (a, b) = (
            self.offsets[n as usize] as usize,
            self.offsets[n as usize + 1] as usize,
        );
        self.targets[a..b]
            .iter()
            .copied()
            .zip(self.bits[a..b].iter().copied())
    }

    /// The relation bits of edge `a -> b`, 0 when absent.
    #[cfg(test)]
    pub(crate) fn rel(&self, a: u32, b: u32) -> u8 {
        let (s, e) = (
            self.offsets[a as usize] as usize,
            self.offsets[a as usize + 1] as usize,
        );
        match self.targets[s..e].binary_search(&b) {
            Ok(i) => self.bits[s + i],
            Err(_) => 0,
        }
    }

    /// Whether `n` is a clock node.
    pub(crate) fn is_clock(&self, n: u32) -> bool {
        n >= self.txns
    }
}

/// Most nodes a graph may have: node ids take 29 bits of a [`pack`]ed edge.
pub(crate) const MAX_NODES: u64 = 1 << 29;

/// Bits of a node id in a packed edge.
const NODE_BITS: u32 = 29;

/// An edge in one word (source, target, relation bits), so the whole graph's edge list
/// takes 8 bytes an edge and sorts as integers: by source, then target.
pub(crate) fn pack(a: u32, b: u32, rel: u8) -> u64 {
    (u64::from(a) << (NODE_BITS + 5)) | (u64::from(b) << 5) | u64::from(rel & 31)
}

/// The (source, target, relation bits) of a [`pack`]ed edge.
fn unpack(w: u64) -> (u32, u32, u8) {
    (
        (w >> (NODE_BITS + 5)) as u32,
        ((w >> 5) & ((1 << NODE_BITS) - 1)) as u32,
        (w & 31) as u8,
    )
}

/// Adds process-order edges: from each `ok` txn to the next non-failed txn of its process.
pub(crate) fn process_edges(txns: &Txns<'_>, src: &dyn OpView, edges: &mut Vec<u64>) {
    let mut last_ok: crate::checker::hash::FxHashMap<u64, u32> = Default::default();
    for (t, txn) in txns.txns.iter().enumerate() {
        if txn.status == Status::Fail {
            continue;
        }
        let process = src.process(txn.op);
        if let Some(&prev) = last_ok.get(&process) {
            edges.push(pack(prev, t as u32, PROCESS));
        }
        if txn.status == Status::Ok {
            last_ok.insert(process, t as u32);
        }
    }
}

/// Adds the real-time chain (see the module doc); returns the number of clock nodes, which
/// are numbered from `txns.txns.len()` on, in completion order. `clock_txn[i]` is the txn
/// whose completion clock node `i` stands for.
pub(crate) fn realtime_edges(
    txns: &Txns<'_>,
    src: &dyn OpView,
    edges: &mut Vec<u64>,
    clock_txn: &mut Vec<u32>,
) -> u32 {
    let n = txns.txns.len() as u32;
    let mut completions: Vec<(u64, u32)> = txns
        .txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status == Status::Ok)
        .filter_map(|(i, t)| src.complete_index(t.op).map(|c| (c, i as u32)))
        .collect();
    completions.sort_unstable();
    clock_txn.clear();
    clock_txn.extend(completions.iter().map(|&(_, t)| t));
    for (i, &(_, t)) in completions.iter().enumerate() {
        let clock = n + i as u32;
        edges.push(pack(t, clock, REALTIME));
        if i + 1 < completions.len() {
            edges.push(pack(clock, clock + 1, REALTIME));
        }
    }
    // Ops are in invoke order, so one pointer walks the completions.
    let mut done = 0usize;
    for (t, txn) in txns.txns.iter().enumerate() {
        if txn.status == Status::Fail {
            continue;
        }
        let invoked = src.invoke_index(txn.op);
        while done < completions.len() && completions[done].0 < invoked {
            done += 1;
        }
        if done > 0 {
            edges.push(pack(n + done as u32 - 1, t as u32, REALTIME));
        }
    }
    completions.len() as u32
}

/// Builds the CSR graph over `nodes` nodes (fewer than [`MAX_NODES`]), merging parallel
/// edges (their bits are OR-ed) and dropping self-edges.
pub(crate) fn build(txn_nodes: u32, nodes: u32, edges: Vec<(u32, u32, u8)>) -> DepGraph {
    let packed = edges.into_iter().map(|(a, b, r)| pack(a, b, r)).collect();
    build_packed(txn_nodes, nodes, packed)
}

/// [`build`] from [`pack`]ed edges: they are sorted in place (in parallel), then read once
/// into the rows, so building needs no second edge list.
pub(crate) fn build_packed(txn_nodes: u32, nodes: u32, mut edges: Vec<u64>) -> DepGraph {
    edges.par_sort_unstable();
    let n = nodes as usize;
    // The (source, target) pair of a packed edge.
    let pair = |w: u64| w >> 5;
    let mut distinct = 0usize;
    let mut prev = u64::MAX;
    for &w in &edges {
        let (a, b, _) = unpack(w);
        if a != b && pair(w) != prev {
            distinct += 1;
            prev = pair(w);
        }
    }
    let mut offsets = vec![0u32; n + 1];
    let mut targets = Vec::with_capacity(distinct);
    let mut bits: Vec<u8> = Vec::with_capacity(distinct);
    let mut prev = u64::MAX;
    for &w in &edges {
        let (a, b, r) = unpack(w);
        if a == b {
            continue;
        }
        if pair(w) == prev {
            // Invariant: `bits` grows with `targets`, so it is non-empty here.
            if let Some(x) = bits.last_mut() {
                *x |= r;
            }
            continue;
        }
        prev = pair(w);
        targets.push(b);
        bits.push(r);
        offsets[a as usize + 1] += 1;
    }
    drop(edges);
    for i in 0..n {
        offsets[i + 1] += offsets[i];
    }
    DepGraph {
        txns: txn_nodes,
        offsets,
        targets,
        bits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_edges_merge_and_self_edges_vanish() {
        let g = build(3, 3, vec![(1, 2, WW), (0, 1, WR), (1, 2, RW), (2, 2, WW)]);
        assert_eq!(g.edges(), 2);
        assert_eq!(g.rel(1, 2), WW | RW);
        assert_eq!(g.rel(0, 1), WR);
        assert_eq!(g.rel(2, 1), 0);
        assert_eq!(g.out(2).count(), 0);
    }

    #[test]
    fn packed_edges_keep_their_ends_and_bits() {
        let top = (MAX_NODES - 1) as u32;
        for (a, b, r) in [(0, 0, 0), (top, 5, REALTIME | RW), (7, top, 31)] {
            assert_eq!(unpack(pack(a, b, r)), (a, b, r));
        }
        assert!(pack(1, 0, 0) > pack(0, top, 31), "sorted by source first");
    }
}
