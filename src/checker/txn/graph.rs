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

/// Adds process-order edges: from each `ok` txn to the next non-failed txn of its process.
pub(crate) fn process_edges(txns: &Txns<'_>, src: &dyn OpView, edges: &mut Vec<(u32, u32, u8)>) {
    let mut last_ok: crate::checker::hash::FxHashMap<u64, u32> = Default::default();
    for (t, txn) in txns.txns.iter().enumerate() {
        if txn.status == Status::Fail {
            continue;
        }
        let process = src.process(txn.op);
        if let Some(&prev) = last_ok.get(&process) {
            edges.push((prev, t as u32, PROCESS));
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
    edges: &mut Vec<(u32, u32, u8)>,
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
        edges.push((t, clock, REALTIME));
        if i + 1 < completions.len() {
            edges.push((clock, clock + 1, REALTIME));
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
            edges.push((n + done as u32 - 1, t as u32, REALTIME));
        }
    }
    completions.len() as u32
}

/// Builds the CSR graph over `nodes` nodes, merging parallel edges (their bits are OR-ed)
/// and dropping self-edges.
///
/// A counting sort by source (two linear passes), then a sort of each node's short row by
/// target: linear in the edges instead of one big comparison sort.
pub(crate) fn build(txn_nodes: u32, nodes: u32, edges: Vec<(u32, u32, u8)>) -> DepGraph {
    let n = nodes as usize;
    let mut start = vec![0u32; n + 1];
    for &(a, b, _) in &edges {
        if a != b {
            start[a as usize + 1] += 1;
        }
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    let mut fill: Vec<u32> = start[..n].to_vec();
    let mut rows: Vec<(u32, u8)> = vec![(0, 0); start[n] as usize];
    for (a, b, r) in edges {
        if a != b {
            let slot = &mut fill[a as usize];
            rows[*slot as usize] = (b, r);
            *slot += 1;
        }
    }
    drop(fill);
    let mut offsets = vec![0u32; n + 1];
    let mut targets = Vec::with_capacity(rows.len());
    let mut bits: Vec<u8> = Vec::with_capacity(rows.len());
    for x in 0..n {
        let row = &mut rows[start[x] as usize..start[x + 1] as usize];
        row.sort_unstable_by_key(|e| e.0);
        let first = targets.len();
        for &(b, r) in row.iter() {
            if targets.len() > first && targets.last() == Some(&b) {
                // Invariant: `bits` grows with `targets`, so it is non-empty here.
                if let Some(x) = bits.last_mut() {
                    *x |= r;
                }
                continue;
            }
            targets.push(b);
            bits.push(r);
        }
        offsets[x + 1] = targets.len() as u32;
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
}
