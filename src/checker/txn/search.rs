//! Cycle search: strongly connected components (petgraph's Tarjan), then, inside each
//! component and for each cycle class, a breadth-first search for the shortest cycle of that
//! class through some anchor edge, as Elle does.
//!
//! 1. **Trim.** Nodes with no in-edge (repeatedly), then nodes with no out-edge, cannot be on
//!    a cycle; peeling them first leaves an empty graph for a valid history, so Tarjan only
//!    runs on the part that matters (and its recursion stays shallow).
//! 2. **Components.** Tarjan on what is left; components of one node are dropped.
//! 3. **Per component and class** ([`Spec`]): the component restricted to the class's edges
//!    is split again into components; from each anchor edge `u -> v` of the class (an `rw`
//!    edge for the G-single/G-nonadjacent/G2 classes, `wr` for G1c, `ww` for G0), a BFS
//!    over (node, flags) states finds the shortest way back to `u` that the class accepts
//!    (flags count `rw` edges, remember whether the last one was `rw`, and whether a
//!    required process/real-time edge was used). A found closed walk is split into simple
//!    cycles, clock nodes are collapsed into `realtime` steps, and each cycle is named by
//!    [`classify`](super::classify::classify).
//! 4. **Budget.** Each (component, class) search may pop at most `budget` states; one that
//!    runs out without a cycle is reported as a timeout, never as "no cycle". When that
//!    happens, [`cycle_exists`] decides cheaply whether the component has *some* cycle the
//!    checked model forbids (for the snapshot-isolation family, via Cerone and Gotsman's
//!    composed relation `D ∪ D;rw`), so a timeout still gives a verdict when it can.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use petgraph::algo::TarjanScc;
use petgraph::graph::{DiGraph, NodeIndex};
use rayon::prelude::*;

use super::classify::{classify, Base, Spec};
use super::consistency::ConsistencyModel;
use super::graph::{DepGraph, PROCESS, REALTIME, RW, WR, WW};

/// A simple cycle over txns: step i goes from `nodes[i]` to `nodes[(i + 1) % len]` by the
/// single relation `rels[i]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cycle {
    /// Txn ids.
    pub nodes: Vec<u32>,
    /// One relation bit per step.
    pub rels: Vec<u8>,
}

/// What became of a component whose search ran out of budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// No search ran out of budget.
    NotNeeded,
    /// A cycle the checked model forbids exists (found by the cheap check).
    Exists,
    /// No cycle the checked model forbids exists, so the timeouts do not matter.
    Absent,
    /// The cheap check was too big to run.
    Undecided,
}

/// The result of searching one component.
#[derive(Debug)]
pub(crate) struct ComponentResult {
    /// Cycles found (deduplicated within the component).
    pub cycles: Vec<Cycle>,
    /// Classes whose search ran out of budget without finding a cycle.
    pub timeouts: Vec<Spec>,
    /// Whether the search was stopped by the deadline or cancel flag.
    pub interrupted: bool,
    /// The fallback check's verdict.
    pub fallback: Fallback,
}

/// Limits for the search.
#[derive(Debug, Clone)]
pub(crate) struct Limits<'a> {
    /// States popped per (component, class).
    pub budget: u64,
    /// Stop after this instant.
    pub deadline: Option<Instant>,
    /// Stop when this becomes true.
    pub cancel: Option<&'a AtomicBool>,
}

impl Limits<'_> {
    fn stop(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
            || self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// Nodes of `g` (restricted to edges in `mask`) that lie on some cycle, grouped into
/// strongly connected components of two or more nodes.
pub(crate) fn components(g: &DepGraph, mask: u8) -> Vec<Vec<u32>> {
    let n = g.nodes();
    // Forward trim: Kahn's algorithm peels every node not reachable from a cycle.
    let mut indeg = vec![0u32; n];
    for x in 0..n as u32 {
        for (y, r) in g.out(x) {
            if r & mask != 0 {
                indeg[y as usize] += 1;
            }
        }
    }
    let mut alive = vec![true; n];
    let mut stack: Vec<u32> = (0..n as u32).filter(|&x| indeg[x as usize] == 0).collect();
    while let Some(x) = stack.pop() {
        alive[x as usize] = false;
        for (y, r) in g.out(x) {
            if r & mask != 0 {
                indeg[y as usize] -= 1;
                if indeg[y as usize] == 0 {
                    stack.push(y);
                }
            }
        }
    }
    drop(indeg);
    let rest: Vec<u32> = (0..n as u32).filter(|&x| alive[x as usize]).collect();
    if rest.is_empty() {
        return Vec::new();
    }
    // Backward trim on what is left: peel nodes that reach no cycle.
    let mut outdeg = vec![0u32; n];
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); n];
    for &x in &rest {
        for (y, r) in g.out(x) {
            if r & mask != 0 && alive[y as usize] {
                outdeg[x as usize] += 1;
                preds[y as usize].push(x);
            }
        }
    }
    let mut stack: Vec<u32> = rest
        .iter()
        .copied()
        .filter(|&x| outdeg[x as usize] == 0)
        .collect();
    while let Some(x) = stack.pop() {
        alive[x as usize] = false;
        for &p in &preds[x as usize] {
            outdeg[p as usize] -= 1;
            if outdeg[p as usize] == 0 {
                stack.push(p);
            }
        }
    }
    let core: Vec<u32> = rest.into_iter().filter(|&x| alive[x as usize]).collect();
    if core.is_empty() {
        return Vec::new();
    }
    // Tarjan (petgraph) on the core.
    let mut pg: DiGraph<u32, ()> = DiGraph::with_capacity(core.len(), core.len() * 2);
    let mut local = vec![u32::MAX; n];
    for &x in &core {
        local[x as usize] = pg.add_node(x).index() as u32;
    }
    for &x in &core {
        for (y, r) in g.out(x) {
            if r & mask != 0 && alive[y as usize] {
                pg.add_edge(
                    NodeIndex::new(local[x as usize] as usize),
                    NodeIndex::new(local[y as usize] as usize),
                    (),
                );
            }
        }
    }
    let run = move || {
        let mut out: Vec<Vec<u32>> = Vec::new();
        let mut tarjan = TarjanScc::new();
        tarjan.run(&pg, |scc| {
            if scc.len() > 1 {
                let mut c: Vec<u32> = scc.iter().map(|i| pg[*i]).collect();
                c.sort_unstable();
                out.push(c);
            }
        });
        out
    };
    // petgraph's Tarjan recurses once per node on a path: give deep cores a deep stack.
    let depth = core.len();
    let mut out = if depth < 20_000 {
        run()
    } else {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size((depth * 512).max(64 << 20))
                .spawn_scoped(s, run)
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default()
        })
    };
    out.sort_unstable_by(|a, b| a[0].cmp(&b[0]));
    out
}

/// The subgraph of `g` induced by the sorted node list `nodes`, renumbered 0.., keeping
/// only edges in `mask`. Clock-ness is kept by numbering: `is_clock[i]` for local node i.
fn induced(g: &DepGraph, nodes: &[u32], mask: u8) -> DepGraph {
    let mut edges = Vec::new();
    for (i, &x) in nodes.iter().enumerate() {
        for (y, r) in g.out(x) {
            if r & mask != 0 {
                if let Ok(j) = nodes.binary_search(&y) {
                    edges.push((i as u32, j as u32, r & mask));
                }
            }
        }
    }
    super::graph::build(nodes.len() as u32, nodes.len() as u32, edges)
}

/// Searches every component for every class in `specs`.
pub(crate) fn search(
    g: &DepGraph,
    comps: &[Vec<u32>],
    specs: &[Spec],
    model: ConsistencyModel,
    limits: &Limits<'_>,
) -> Vec<ComponentResult> {
    let mask = specs.iter().fold(0u8, |m, s| m | s.allowed());
    comps
        .par_iter()
        .map(|nodes| search_component(g, nodes, mask, specs, model, limits))
        .collect()
}

fn search_component(
    g: &DepGraph,
    nodes: &[u32],
    mask: u8,
    specs: &[Spec],
    model: ConsistencyModel,
    limits: &Limits<'_>,
) -> ComponentResult {
    let local = induced(g, nodes, mask);
    let is_clock: Vec<bool> = nodes.iter().map(|&x| g.is_clock(x)).collect();
    let mut result = ComponentResult {
        cycles: Vec::new(),
        timeouts: Vec::new(),
        interrupted: false,
        fallback: Fallback::NotNeeded,
    };
    let mut bfs = Bfs::new(nodes.len());
    for &spec in specs {
        if limits.stop() {
            result.interrupted = true;
            result.timeouts.push(spec);
            continue;
        }
        let subs = components(&local, spec.allowed());
        let mut budget = limits.budget;
        let mut exhausted = false;
        for sub in subs {
            let mut member = vec![false; nodes.len()];
            for &x in &sub {
                member[x as usize] = true;
            }
            match search_sub(&local, &member, &sub, spec, &mut bfs, &mut budget, limits) {
                Ok(Some(walk)) => {
                    for c in simple_cycles(&walk, &is_clock) {
                        let cycle = Cycle {
                            nodes: c.nodes.iter().map(|&l| nodes[l as usize]).collect(),
                            rels: c.rels,
                        };
                        if !result.cycles.contains(&cycle) {
                            result.cycles.push(cycle);
                        }
                    }
                }
                Ok(None) => {}
                Err(Stop::Budget) => {
                    exhausted = true;
                    break;
                }
                Err(Stop::Interrupted) => {
                    exhausted = true;
                    result.interrupted = true;
                    break;
                }
            }
        }
        let found_this = result
            .cycles
            .iter()
            .any(|c| classify(&c.rels) == (spec.base, spec.variant));
        if exhausted && !found_this {
            result.timeouts.push(spec);
        }
    }
    if !result.timeouts.is_empty() {
        let forbidden = model.prohibited();
        let already = result
            .cycles
            .iter()
            .any(|c| forbidden.contains(&super::classify::cycle_name(&c.rels)));
        result.fallback = if result.interrupted {
            // Out of time: do not start another pass over the component.
            Fallback::Undecided
        } else if already {
            // The model is violated by a named cycle; the timeouts are only information.
            Fallback::NotNeeded
        } else {
            match cycle_exists(&local, model) {
                Some(true) => Fallback::Exists,
                Some(false) => Fallback::Absent,
                None => Fallback::Undecided,
            }
        };
    }
    result
}

/// Why a search stopped early.
enum Stop {
    Budget,
    Interrupted,
}

/// Reusable BFS buffers: 16 flag combinations per node.
struct Bfs {
    visited: Vec<u16>,
    parent: Vec<u64>,
    touched: Vec<u32>,
    queue: VecDeque<(u32, u8)>,
}

const RW_COUNT: u8 = 0b0011;
const LAST_RW: u8 = 0b0100;
const REQUIRED: u8 = 0b1000;
const NO_PARENT: u64 = u64::MAX;

impl Bfs {
    fn new(n: usize) -> Bfs {
        Bfs {
            visited: vec![0; n],
            parent: vec![NO_PARENT; n * 16],
            touched: Vec::new(),
            queue: VecDeque::new(),
        }
    }

    fn reset(&mut self) {
        for &x in &self.touched {
            self.visited[x as usize] = 0;
        }
        self.touched.clear();
        self.queue.clear();
    }

    fn visit(&mut self, x: u32, f: u8, parent: u64) -> bool {
        let bit = 1u16 << f;
        let v = &mut self.visited[x as usize];
        if *v & bit != 0 {
            return false;
        }
        if *v == 0 {
            self.touched.push(x);
        }
        *v |= bit;
        self.parent[x as usize * 16 + f as usize] = parent;
        true
    }
}

/// Flags after taking an edge of relation `rel` in a `spec` search, or `None` when the class
/// forbids that step.
fn step(spec: Spec, f: u8, rel: u8) -> Option<u8> {
    let mut nf = f;
    if rel == RW {
        match spec.base {
            Base::G0 | Base::G1c | Base::GSingle => return None,
            Base::GNonadjacent if f & LAST_RW != 0 => return None,
            _ => {}
        }
        nf = (nf & !RW_COUNT) | ((f & RW_COUNT) + 1).min(2) | LAST_RW;
    } else {
        nf &= !LAST_RW;
    }
    if rel == spec.required() {
        nf |= REQUIRED;
    }
    Some(nf)
}

/// Whether a walk closing with flags `f` is a cycle of class `spec`.
fn accepts(spec: Spec, f: u8) -> bool {
    if spec.required() != 0 && f & REQUIRED == 0 {
        return false;
    }
    let rw = f & RW_COUNT;
    match spec.base {
        Base::G0 | Base::G1c => true,
        Base::GSingle => rw == 1,
        Base::GNonadjacent => rw >= 2 && f & LAST_RW == 0,
        Base::G2Item => rw >= 2,
    }
}

/// The shortest closed walk of class `spec` through some anchor edge inside the component
/// `member`, as (local node, relation to the next) pairs.
fn search_sub(
    g: &DepGraph,
    member: &[bool],
    sub: &[u32],
    spec: Spec,
    bfs: &mut Bfs,
    budget: &mut u64,
    limits: &Limits<'_>,
) -> Result<Option<Vec<(u32, u8)>>, Stop> {
    const EXTRA_ANCHORS: usize = 16;
    let allowed = spec.allowed();
    let mut best: Option<Vec<(u32, u8)>> = None;
    let mut extra = 0usize;
    for &u in sub {
        for (v, r) in g.out(u) {
            if r & spec.anchor() == 0 || !member[v as usize] {
                continue;
            }
            let anchor = spec.anchor();
            // The anchor is the cycle's first step: one rw edge for the rw classes.
            let f0 = if anchor == RW { 1 | LAST_RW } else { 0 };
            bfs.reset();
            bfs.visit(v, f0, NO_PARENT);
            bfs.queue.push_back((v, f0));
            let mut closing: Option<(u32, u8, u8)> = None;
            'bfs: while let Some((x, f)) = bfs.queue.pop_front() {
                if *budget == 0 {
                    return if best.is_some() {
                        Ok(best)
                    } else {
                        Err(Stop::Budget)
                    };
                }
                *budget -= 1;
                if (*budget).is_multiple_of(4096) && limits.stop() {
                    return if best.is_some() {
                        Ok(best)
                    } else {
                        Err(Stop::Interrupted)
                    };
                }
                for (y, bits) in g.out(x) {
                    if !member[y as usize] {
                        continue;
                    }
                    let mut rest = bits & allowed;
                    while rest != 0 {
                        let rel = rest & rest.wrapping_neg();
                        rest &= !rel;
                        let Some(nf) = step(spec, f, rel) else {
                            continue;
                        };
                        if y == u {
                            if accepts(spec, nf) {
                                closing = Some((x, f, rel));
                                break 'bfs;
                            }
                            continue;
                        }
                        if bfs.visit(y, nf, pack(x, f, rel)) {
                            bfs.queue.push_back((y, nf));
                        }
                    }
                }
            }
            if let Some((x, f, rel)) = closing {
                // Rebuild: u -anchor-> v ... x -rel-> u.
                let mut back = vec![(x, rel)];
                let (mut cx, mut cf) = (x, f);
                loop {
                    let p = bfs.parent[cx as usize * 16 + cf as usize];
                    if p == NO_PARENT {
                        break;
                    }
                    let (px, pf, prel) = unpack(p);
                    back.push((px, prel));
                    cx = px;
                    cf = pf;
                }
                back.push((u, anchor));
                back.reverse();
                if best.as_ref().is_none_or(|b| back.len() < b.len()) {
                    best = Some(back);
                }
            }
            if best.is_some() {
                extra += 1;
                if extra > EXTRA_ANCHORS || best.as_ref().is_some_and(|b| b.len() <= 2) {
                    return Ok(best);
                }
            }
        }
    }
    Ok(best)
}

fn pack(x: u32, f: u8, rel: u8) -> u64 {
    (u64::from(x) << 16) | (u64::from(f) << 8) | u64::from(rel)
}

fn unpack(p: u64) -> (u32, u8, u8) {
    ((p >> 16) as u32, ((p >> 8) & 0xff) as u8, (p & 0xff) as u8)
}

/// Splits a closed walk into simple cycles and collapses clock nodes into `realtime` steps.
fn simple_cycles(walk: &[(u32, u8)], is_clock: &[bool]) -> Vec<Cycle> {
    let mut raw: Vec<Vec<(u32, u8)>> = Vec::new();
    let mut stack: Vec<(u32, u8)> = Vec::new();
    for &(n, r) in walk {
        if let Some(j) = stack.iter().position(|s| s.0 == n) {
            raw.push(stack.split_off(j));
        }
        stack.push((n, r));
    }
    raw.push(stack);
    let mut out = Vec::new();
    for c in raw {
        let Some(start) = c.iter().position(|s| !is_clock[s.0 as usize]) else {
            continue;
        };
        let rotated: Vec<(u32, u8)> = c[start..].iter().chain(&c[..start]).copied().collect();
        let mut nodes = Vec::new();
        let mut rels = Vec::new();
        for &(n, r) in &rotated {
            if is_clock[n as usize] {
                continue;
            }
            nodes.push(n);
            rels.push(r);
        }
        // A txn's step into a clock node is already REALTIME, which stands for the whole
        // clock segment up to the next txn.
        if nodes.len() >= 2 {
            out.push(Cycle { nodes, rels });
        }
    }
    out
}

/// Whether the component `g` (local numbering) contains a cycle that `model` forbids;
/// `None` when the check would be too large.
pub(crate) fn cycle_exists(g: &DepGraph, model: ConsistencyModel) -> Option<bool> {
    use ConsistencyModel as M;
    let order = |m: M| match m {
        M::StrictSerializable
        | M::StrongSnapshotIsolation
        | M::StrongReadCommitted
        | M::StrongReadUncommitted => PROCESS | REALTIME,
        M::StrongSessionSerializable
        | M::StrongSessionSnapshotIsolation
        | M::StrongSessionReadCommitted
        | M::StrongSessionReadUncommitted => PROCESS,
        _ => 0,
    };
    let si = matches!(
        model,
        M::SnapshotIsolation | M::StrongSessionSnapshotIsolation | M::StrongSnapshotIsolation
    );
    if !si {
        let data = match model {
            M::ReadUncommitted | M::StrongReadUncommitted | M::StrongSessionReadUncommitted => WW,
            M::ReadCommitted | M::StrongReadCommitted | M::StrongSessionReadCommitted => WW | WR,
            _ => WW | WR | RW,
        };
        return Some(!components(g, data | order(model)).is_empty());
    }
    // SI family: a cycle in D ∪ D;rw, where D is ww, wr and the model's order edges.
    const CAP: usize = 20_000_000;
    let d = WW | WR | order(model);
    let n = g.nodes();
    let mut preds: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut edges: Vec<(u32, u32, u8)> = Vec::new();
    for x in 0..n as u32 {
        for (y, r) in g.out(x) {
            if r & d != 0 {
                preds[y as usize].push(x);
                edges.push((x, y, WW));
            }
        }
    }
    for x in 0..n as u32 {
        for (y, r) in g.out(x) {
            if r & RW != 0 {
                for &w in &preds[x as usize] {
                    edges.push((w, y, WW));
                }
                if edges.len() > CAP {
                    return None;
                }
            }
        }
    }
    let h = super::graph::build(n as u32, n as u32, edges);
    Some(!components(&h, WW).is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::txn::classify::Variant;
    use crate::checker::txn::graph::build;

    fn limits() -> Limits<'static> {
        Limits {
            budget: 1_000_000,
            deadline: None,
            cancel: None,
        }
    }

    #[test]
    fn trimming_leaves_only_cycles() {
        // 0 -> 1 -> 2 -> 1, 2 -> 3; 4 alone.
        let g = build(5, 5, vec![(0, 1, WW), (1, 2, WW), (2, 1, WW), (2, 3, WW)]);
        assert_eq!(components(&g, WW), vec![vec![1, 2]]);
        assert!(components(&g, WR).is_empty());
    }

    #[test]
    fn nonadjacent_search_skips_adjacent_rw_pairs() {
        // 0 -rw-> 1 -rw-> 2 -wr-> 0 is G2-item; 0 -rw-> 1 -wr-> 3 -rw-> 4 -ww-> 0 is nonadjacent.
        let g = build(
            5,
            5,
            vec![
                (0, 1, RW),
                (1, 2, RW),
                (2, 0, WR),
                (1, 3, WR),
                (3, 4, RW),
                (4, 0, WW),
            ],
        );
        let comps = components(&g, WW | WR | RW);
        let spec = Spec {
            base: Base::GNonadjacent,
            variant: Variant::Plain,
        };
        let r = search(
            &g,
            &comps,
            &[spec],
            ConsistencyModel::Serializable,
            &limits(),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].cycles.len(), 1);
        assert_eq!(r[0].cycles[0].nodes, vec![0, 1, 3, 4]);
        assert_eq!(r[0].cycles[0].rels, vec![RW, WR, RW, WW]);
    }

    #[test]
    fn a_tiny_budget_is_a_timeout_and_the_fallback_still_decides() {
        let g = build(3, 3, vec![(0, 1, RW), (1, 2, RW), (2, 0, RW)]);
        let comps = components(&g, RW);
        let spec = Spec {
            base: Base::G2Item,
            variant: Variant::Plain,
        };
        let l = Limits {
            budget: 1,
            ..limits()
        };
        let r = search(&g, &comps, &[spec], ConsistencyModel::Serializable, &l);
        assert!(r[0].cycles.is_empty());
        assert_eq!(r[0].timeouts, vec![spec]);
        assert_eq!(r[0].fallback, Fallback::Exists);
        // Snapshot isolation allows a cycle of adjacent rw edges only.
        let r = search(&g, &comps, &[spec], ConsistencyModel::SnapshotIsolation, &l);
        assert_eq!(r[0].fallback, Fallback::Absent);
    }

    #[test]
    fn clock_segments_collapse_into_one_realtime_step() {
        // txns 0, 1; clock 2. 0 -rt-> 2 -rt-> 1 -rw-> 0.
        let walk = [(0, REALTIME), (2, REALTIME), (1, RW)];
        let c = simple_cycles(&walk, &[false, false, true]);
        assert_eq!(
            c,
            vec![Cycle {
                nodes: vec![0, 1],
                rels: vec![REALTIME, RW]
            }]
        );
    }
}
