//! The Wing–Gong–Lowe search over one (sub-)history, as in Lowe's "Testing for
//! linearizability" and Porcupine: a doubly linked list of call/return entries, ops lifted out
//! of it as they are linearized and put back on backtracking, and a memo of visited
//! configurations (set of linearized ops, model state) so no configuration is explored twice.
//!
//! A configuration is *completable* when the remaining ops can be linearized from it. Every
//! pruning rule below rests on a fact about completability that depends on the configuration
//! alone (never on the path that reached it), which is what keeps the memo sound:
//!
//! 1. **Candidates.** Only ops whose call comes before the first remaining return may go next
//!    (the op owning that return, `o*`, must be linearized before anything invoked later).
//! 2. **Optional ops.** An `info` op has no return (it returns at +infinity): it may be
//!    linearized at any point after its call, or never. The search succeeds as soon as every
//!    *required* op (ok ops, and etcd's failed compares) is linearized.
//! 3. **Greedy reads.** If a read-only op (one that never changes the state) is a candidate
//!    and legal now, some completion starts with it if any completion exists at all: moving
//!    it to the front changes no state and breaks no real-time order, because nothing
//!    remaining must precede it. So it is linearized with no alternative to backtrack to.
//! 4. **Identical indeterminate ops.** Among `info` ops with the same effect, one invoked
//!    earlier can stand in for one invoked later anywhere the later one could go, so they are
//!    only linearized in invoke order.
//! 5. **Partial-order reduction** (map-valued states, `--no-partition`). If the model says
//!    which component (key) each op touches, only candidates that touch `o*`'s component (or
//!    everything) are tried. Any completion can be reordered to start with such an op: its
//!    first op dependent on `o*`'s key was already a candidate (it comes no later than `o*`),
//!    and it commutes with the independent ops before it. This is a persistent-set reduction;
//!    the search is still one search over the whole map state.
//! 6. **Lookahead.** The first remaining read R (by return; on `o*`'s component when the
//!    model has components) must be linearized before any op
//!    invoked after R returned, so only remaining ops invoked before that can come between now
//!    and R; a candidate after which the model says R can never become legal with those ops
//!    ([`Model::can_reach`]) is not tried.
//! 7. **Backjumping** (map-valued states). When every candidate at a configuration is
//!    illegal, the key of `o*` has no legal next op: by locality (Herlihy & Wing), the
//!    remaining ops of that key cannot be linearized from that key's state, so every
//!    configuration with the same ops of that key done and the same value for it is dead
//!    too. The search backs up past ops on other keys (they change neither) to the last op
//!    on that key. The search is still one search; locality only says which of its
//!    configurations are already known to fail.
//! 8. **Nogood learning** (models whose state is a product of components,
//!    [`Model::component_state`]: the map of `--no-partition`). The *projection* of a
//!    configuration on key `c` is (the linearized ops of `c`, `c`'s part of the state). By
//!    locality, a configuration is completable iff each of its projections is completable in
//!    `c`'s own sub-history, so a projection that cannot be completed (a *nogood*) kills every
//!    configuration sharing it, whatever the other keys did. Nogoods are learned exactly: at a
//!    configuration whose candidates are all on one key `c` (rules 3 and 5 make that so),
//!    the candidates are the ones `c`'s own search would try from its projection (minus ones
//!    rules 4 and 6 prove dead), so when every candidate failed because of `c`, `c`'s
//!    projection is a nogood; when a candidate failed because of another key `d`, `d`'s
//!    projection is unchanged and the search backjumps (rule 7, generalized) to the last op
//!    on `d`. The nogood set replaces the memo of whole configurations: every configuration
//!    the search leaves has a nogood projection, so none is entered twice, while one nogood
//!    prunes its key's dead end under all the interleavings of the other keys at once
//!    (which is what made the whole-map memo explode). The search stays one search over the
//!    whole map, and its witness is a prefix of one global linearization; only the key that
//!    was proven dead picks the op reported as failing.
//! 9. **Unobserved indeterminate effects** (registers: models whose every op observes one
//!    state or blindly produces one, `unobserved`). Some completion, if any exists, has every
//!    optional op that produces a state `v` immediately followed by an op observing `v`. So an
//!    optional op whose value no other op observes is removed before the search, and one is
//!    tried only when an observer of its value is among the enabled ops. The proof is in
//!    `unobserved`.

use super::memo::Memo;
use super::unobserved::{effects, Effect, Observers};
use crate::checker::model::{InputId, Model, StateId};
use crate::procmem::MemoryCeiling;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
/// How often (in search steps) the deadline, flags and memory are checked.
const CHECK_EVERY: u64 = 1024;
/// How far past `k` the lookahead looks for a pending read.
const LOOKAHEAD_SCAN: u32 = 512;

/// One op as the search sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchOp {
    /// The model input.
    pub input: InputId,
    /// History index of the invoke.
    pub call: u64,
    /// History index of the completion; `None` for optional (indeterminate) ops.
    pub ret: Option<u64>,
    /// Position of the op in the caller's op list (for explanations).
    pub source: u32,
}

/// Limits shared by every key's search.
pub(crate) struct Limits<'a> {
    /// Give up (unknown) after this instant.
    pub deadline: Option<Instant>,
    /// The caller's cancel flag.
    pub cancel: Option<&'a AtomicBool>,
    /// Set when another key was found invalid: stop, the verdict is already known.
    pub stop: &'a AtomicBool,
    /// Memo bytes in use, summed over concurrent searches.
    pub memory_used: &'a AtomicU64,
    /// The ceiling for `memory_used`.
    pub memory_limit: u64,
    /// The ceiling on the whole process's resident memory (`--memory-limit`).
    pub ceiling: &'a MemoryCeiling,
}

/// Why a search stopped without deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undecided {
    /// The deadline passed.
    Timeout,
    /// The process (or the memos alone) reached the memory ceiling.
    Memory,
    /// The caller cancelled.
    Cancelled,
    /// Another key was found invalid.
    Stopped,
}

/// The longest linearizable prefix found, for explaining an invalid history.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// (position in `SearchOp` list, state after it), in linearization order.
    pub prefix: Vec<(u32, StateId)>,
    /// The state after the prefix.
    pub state: StateId,
    /// The initial state.
    pub init: StateId,
    /// The op that could not be linearized: the remaining required op that returned first.
    pub failing: u32,
}

/// What one search concluded.
#[derive(Debug)]
pub(crate) enum Verdict {
    Linearizable,
    NotLinearizable(Failure),
    Undecided(Undecided),
}

/// Counters from one search.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SearchStats {
    pub states: u64,
    pub memo_bytes: u64,
}

/// One level of the depth-first search: a configuration and the candidates still to try.
struct Level {
    start: u32,
    pos: u32,
    end: u32,
    /// The op linearized from this configuration into the next level, or NIL.
    taken: u32,
    prev_state: StateId,
    prev_k: u32,
    prev_hi: u32,
    prev_ohi: u32,
    /// The component of `o*` here (rule 5), or NIL.
    focus: u32,
    /// True while every candidate tried so far was illegal (rule 7).
    local_dead: bool,
    /// Rule 8: the (dense) component every candidate here touches, or NIL.
    key: u32,
}

/// Search state for one sub-history. Ops are renumbered: required ops by return index
/// (positions `0..required`), then optional ops by call index.
struct Search<M: Model> {
    model: M,
    required: usize,
    input: Vec<InputId>,
    read_only: Vec<bool>,
    component: Vec<u32>,
    /// For optional ops: the previous optional op with the same input (rule 4), or NIL.
    twin: Vec<u32>,
    next: Vec<u32>,
    prev: Vec<u32>,
    /// Linearized ops, one bit per position.
    bits: Vec<u64>,
    /// First unlinearized required position.
    k: u32,
    /// One past the highest linearized required position.
    hi: u32,
    /// One past the highest linearized optional position (relative to `required`).
    ohi: u32,
    key: Vec<u64>,
    /// Scratch: inputs of the enabled ops, for the lookahead.
    others: Vec<InputId>,
    memo: Memo,
    /// Rule 8 applies: the model's state is a product of components and every op has one.
    /// Then `nogoods` replaces `memo`.
    nogood_mode: bool,
    /// Rule 8: position -> dense component index (empty unless `nogood_mode`).
    cdense: Vec<u32>,
    /// Rule 8: dense component index -> the model's component id.
    comp_of: Vec<u32>,
    /// Rule 8: position -> index among its component's positions.
    cpos: Vec<u32>,
    /// Rule 8: per-component bitsets of linearized ops, back to back; component `d` owns
    /// words `coff[d]..coff[d + 1]`.
    cbits: Vec<u64>,
    coff: Vec<u32>,
    /// Rule 8: (component, its linearized ops, its state) projections known not completable.
    nogoods: Memo,
    /// Rule 8: the dense component of the configuration `candidates` last looked at.
    last_key: u32,
    /// Rule 9: position -> what the op observes and produces (empty when the rule is off).
    effect: Vec<Effect>,
    /// Rule 9 scratch: the states the enabled ops observe.
    observers: Observers,
}

#[inline]
fn call_node(op: u32) -> u32 {
    1 + 2 * op
}
#[inline]
fn ret_node(op: u32) -> u32 {
    2 + 2 * op
}
#[inline]
fn node_op(node: u32) -> u32 {
    (node - 1) / 2
}
#[inline]
fn is_ret(node: u32) -> bool {
    node & 1 == 0
}

impl<M: Model> Search<M> {
    fn new(model: M, ops: &[SearchOp], order: &[u32], init: StateId) -> Self {
        let n = ops.len();
        let required = ops.iter().filter(|o| o.ret.is_some()).count();
        let input: Vec<InputId> = order.iter().map(|&i| ops[i as usize].input).collect();
        let read_only = input.iter().map(|&i| model.is_read_only(i)).collect();
        let component: Vec<u32> = input
            .iter()
            .map(|&i| model.component(i).unwrap_or(NIL))
            .collect();
        let mut twin = vec![NIL; n];
        let mut last_by_input = crate::checker::hash::FxHashMap::<InputId, u32>::default();
        for p in required..n {
            if let Some(prev) = last_by_input.insert(input[p], p as u32) {
                twin[p] = prev;
            }
        }
        // The entry list, in history order; a call sorts before a return at the same index so
        // that malformed ties count as concurrent rather than ordered.
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * n);
        for (p, &i) in order.iter().enumerate() {
            let op = &ops[i as usize];
            events.push((op.call, 0, call_node(p as u32)));
            if let Some(r) = op.ret {
                events.push((r, 1, ret_node(p as u32)));
            }
        }
        events.sort_unstable();
        let nodes = 1 + 2 * n;
        let mut next = vec![NIL; nodes];
        let mut prev = vec![NIL; nodes];
        let mut last = HEAD;
        for &(_, _, node) in &events {
            next[last as usize] = node;
            prev[node as usize] = last;
            last = node;
        }
        // Rule 8 needs every op on a component and a product state.
        let nogood_mode = n > 0
            && component.iter().all(|&c| c != NIL)
            && model.component_state(init, component[0]).is_some();
        let (mut cdense, mut comp_of, mut cpos, mut coff) =
            (Vec::new(), Vec::new(), Vec::new(), vec![0u32]);
        if nogood_mode {
            let mut dense = crate::checker::hash::FxHashMap::<u32, u32>::default();
            let mut counts: Vec<u32> = Vec::new();
            for &c in &component {
                let d = *dense.entry(c).or_insert_with(|| {
                    comp_of.push(c);
                    counts.push(0);
                    counts.len() as u32 - 1
                });
                cdense.push(d);
                cpos.push(counts[d as usize]);
                counts[d as usize] += 1;
            }
            for &count in &counts {
                let last = *coff.last().expect("coff starts with 0");
                coff.push(last + count.div_ceil(64));
            }
        }
        let cwords = *coff.last().expect("coff starts with 0") as usize;
        let effect = effects(&model, input.iter().copied()).unwrap_or_default();
        Search {
            model,
            required,
            input,
            read_only,
            component,
            twin,
            next,
            prev,
            bits: vec![0; n.div_ceil(64).max(1)],
            k: 0,
            hi: 0,
            ohi: 0,
            key: Vec::new(),
            others: Vec::new(),
            memo: Memo::default(),
            nogood_mode,
            cdense,
            comp_of,
            cpos,
            cbits: vec![0; cwords],
            coff,
            nogoods: Memo::default(),
            last_key: NIL,
            effect,
            observers: Observers::default(),
        }
    }

    /// The bit of `p` in its component's bitset (rule 8): (word index, mask).
    #[inline]
    fn cbit(&self, p: u32) -> (usize, u64) {
        let d = self.cdense[p as usize];
        let i = self.cpos[p as usize];
        ((self.coff[d as usize] + i / 64) as usize, 1u64 << (i % 64))
    }

    /// The rule-8 key of dense component `d`'s projection of the current configuration with
    /// model state `state`: the component, its part of the state, and its linearized ops (the
    /// count of leading all-ones words, then the words up to the last non-zero one). Equal
    /// projections give equal keys.
    fn build_projection_key(&mut self, d: u32, state: StateId) {
        let part = self
            .model
            .component_state(state, self.comp_of[d as usize])
            .expect("nogood mode is only on when the model has product states");
        self.key.clear();
        self.key.push(u64::from(d) | u64::from(part) << 32);
        let words = &self.cbits[self.coff[d as usize] as usize..self.coff[d as usize + 1] as usize];
        let skip = words.iter().take_while(|&&w| w == u64::MAX).count();
        let end = words
            .iter()
            .rposition(|&w| w != 0)
            .map_or(0, |i| i + 1)
            .max(skip);
        self.key.push(skip as u64);
        self.key.extend_from_slice(&words[skip..end]);
    }

    /// Heap bytes held by the memo and the nogoods.
    fn memo_bytes(&self) -> u64 {
        self.memo.bytes() + self.nogoods.bytes()
    }

    #[inline]
    fn bit(&self, p: u32) -> bool {
        self.bits[(p / 64) as usize] >> (p % 64) & 1 == 1
    }

    #[inline]
    fn remove(&mut self, node: u32) {
        let (p, nx) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = nx;
        if nx != NIL {
            self.prev[nx as usize] = p;
        }
    }

    #[inline]
    fn restore(&mut self, node: u32) {
        let (p, nx) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = node;
        if nx != NIL {
            self.prev[nx as usize] = node;
        }
    }

    fn lift(&mut self, p: u32) {
        self.remove(call_node(p));
        if (p as usize) < self.required {
            self.remove(ret_node(p));
        }
    }

    fn unlift(&mut self, p: u32) {
        if (p as usize) < self.required {
            self.restore(ret_node(p));
        }
        self.restore(call_node(p));
    }

    /// Marks `p` linearized and updates the summary positions.
    fn mark(&mut self, p: u32) {
        self.bits[(p / 64) as usize] |= 1 << (p % 64);
        if self.nogood_mode {
            let (w, m) = self.cbit(p);
            self.cbits[w] |= m;
        }
        let required = self.required as u32;
        if p < required {
            if p == self.k {
                self.k += 1;
                while self.k < required && self.bit(self.k) {
                    self.k += 1;
                }
            }
            self.hi = self.hi.max(p + 1);
        } else {
            self.ohi = self.ohi.max(p - required + 1);
        }
    }

    fn unmark(&mut self, p: u32, k: u32, hi: u32, ohi: u32) {
        self.bits[(p / 64) as usize] &= !(1 << (p % 64));
        if self.nogood_mode {
            let (w, m) = self.cbit(p);
            self.cbits[w] &= !m;
        }
        self.k = k;
        self.hi = hi;
        self.ohi = ohi;
    }

    /// The memo key of the current linearized set with model state `state`: the state, the
    /// first unlinearized required position `k` (everything before it is linearized), the
    /// words covering linearized required positions at or after `k`, and the words of the
    /// optional positions up to the last linearized one. Equal sets give equal keys.
    fn build_key(&mut self, state: StateId) {
        self.key.clear();
        self.key.push(u64::from(state) | u64::from(self.k) << 32);
        let (req_from, req_to) = if self.hi > self.k {
            (self.k / 64, (self.hi - 1) / 64 + 1)
        } else {
            (0, 0)
        };
        let opt_words = if self.ohi > 0 {
            let first = self.required as u32;
            let last = first + self.ohi - 1;
            (first / 64, last / 64 + 1)
        } else {
            (0, 0)
        };
        self.key
            .push(u64::from(req_to - req_from) | u64::from(opt_words.1 - opt_words.0) << 32);
        for w in req_from..req_to {
            let mut word = self.bits[w as usize];
            if (w + 1) * 64 > self.required as u32 {
                // Mask off optional positions sharing the last required word.
                let keep = self.required as u32 - w * 64;
                word &= if keep >= 64 {
                    u64::MAX
                } else {
                    (1u64 << keep) - 1
                };
            }
            self.key.push(word);
        }
        for w in opt_words.0..opt_words.1 {
            let mut word = self.bits[w as usize];
            if w * 64 < self.required as u32 {
                let skip = self.required as u32 - w * 64;
                word &= !((1u64 << skip) - 1);
            }
            self.key.push(word);
        }
    }

    /// Fills `cands` with the ops to try from the current configuration (rules 1, 3, 4, 5).
    fn candidates(&mut self, state: StateId, cands: &mut Vec<u32>, enabled: &mut Vec<u32>) -> u32 {
        enabled.clear();
        let mut node = self.next[HEAD as usize];
        let mut first_ret_op = NIL;
        while node != NIL {
            if is_ret(node) {
                first_ret_op = node_op(node);
                break;
            }
            enabled.push(node_op(node));
            node = self.next[node as usize];
        }
        // Rule 3: a legal read goes now, alone.
        for &p in enabled.iter() {
            if self.read_only[p as usize]
                && self.model.step(state, self.input[p as usize]).is_some()
            {
                cands.push(p);
                if self.nogood_mode {
                    self.last_key = self.cdense[p as usize];
                }
                return NIL;
            }
        }
        if self.nogood_mode {
            // Invariant: a configuration is only expanded while a required op remains, and
            // a remaining required op keeps its return entry in the list.
            self.last_key = if first_ret_op == NIL {
                NIL
            } else {
                self.cdense[first_ret_op as usize]
            };
        }
        let focus = if first_ret_op == NIL {
            NIL
        } else {
            self.component[first_ret_op as usize]
        };
        let dependent = |c: u32| focus == NIL || c == NIL || c == focus;
        // Rule 6 (lookahead): the first remaining required read (in return order) must come
        // before every op invoked after its return, so only unlinearized ops invoked before
        // that return can run between now and it. A candidate after which the model says the
        // read can never become legal with those ops is dropped.
        let mut target = NIL;
        if first_ret_op != NIL {
            let mut p = self.k;
            while (p as usize) < self.required {
                if !self.bit(p)
                    && self.read_only[p as usize]
                    && (focus == NIL || self.component[p as usize] == focus)
                {
                    target = p;
                    break;
                }
                p += 1;
                if p - self.k > LOOKAHEAD_SCAN {
                    break;
                }
            }
        }
        if target != NIL {
            self.others.clear();
            let stop = ret_node(target);
            let mut node = self.next[HEAD as usize];
            while node != NIL && node != stop {
                if !is_ret(node) {
                    self.others.push(self.input[node_op(node) as usize]);
                }
                node = self.next[node as usize];
            }
        }
        // Rule 9: an optional op is tried only when an enabled op observes what it produces.
        let rule9 = !self.effect.is_empty();
        if rule9 {
            let effect = &self.effect;
            self.observers
                .fill(enabled.iter().map(|&p| &effect[p as usize]));
        }
        // Required ops first, then optional ones (they are only ever needed to explain a
        // later observation, so trying them last finds valid orders sooner).
        for pass in 0..2 {
            for &p in enabled.iter() {
                let optional = (p as usize) >= self.required;
                if optional != (pass == 1) || !dependent(self.component[p as usize]) {
                    continue;
                }
                if optional {
                    let twin = self.twin[p as usize];
                    if twin != NIL && !self.bit(twin) {
                        continue;
                    }
                    if rule9 && !self.observers.observed_next(self.effect[p as usize]) {
                        continue;
                    }
                }
                if target != NIL && p != target {
                    let input = self.input[p as usize];
                    match self.model.step(state, input) {
                        None => continue,
                        Some(next) => {
                            if !self.model.can_reach(
                                next,
                                self.input[target as usize],
                                &self.others,
                            ) {
                                continue;
                            }
                        }
                    }
                }
                cands.push(p);
            }
        }
        focus
    }
}

/// A resumable search over one sub-history: [`KeySearch::resume`] runs it for a bounded
/// number of steps, so the caller can interleave many keys and find a quickly failing one
/// first (Porcupine gets the same effect by running every key at once).
pub(crate) struct KeySearch<M: Model> {
    s: Search<M>,
    /// Position -> `SearchOp::source`.
    sources: Vec<u32>,
    init: StateId,
    state: StateId,
    remaining: usize,
    cands: Vec<u32>,
    enabled: Vec<u32>,
    levels: Vec<Level>,
    path: Vec<(u32, StateId)>,
    best: Vec<(u32, StateId)>,
    best_valid: usize,
    steps: u64,
    started: bool,
    /// Rule 7: the dead component being backjumped over, or NIL (in rule 8's mode: its dense
    /// index).
    carried_dead: u32,
    /// Configurations expanded so far.
    visited: u64,
    /// Memo bytes this search has added to the shared counter.
    reported: u64,
}

impl<M: Model> KeySearch<M> {
    /// Prepares the search of `ops` (already prepared by `model`).
    pub(crate) fn new(mut model: M, ops: &[SearchOp]) -> Self {
        // Rule 9: optional ops whose effect no other op observes never take part.
        let kept: Vec<SearchOp>;
        let ops = match effects(&model, ops.iter().map(|o| o.input)) {
            Some(effect) => {
                let mut all = Observers::default();
                all.fill(&effect);
                kept = ops
                    .iter()
                    .zip(&effect)
                    .filter(|(o, &e)| o.ret.is_some() || !all.unobserved(e))
                    .map(|(o, _)| *o)
                    .collect();
                &kept[..]
            }
            None => ops,
        };
        // Renumber: required ops by return index, then optional ops by call index.
        let mut order: Vec<u32> = (0..ops.len() as u32).collect();
        order.sort_by_key(|&i| {
            let op = &ops[i as usize];
            match op.ret {
                Some(r) => (0u8, r, op.call),
                None => (1u8, op.call, 0),
            }
        });
        let init = model.init();
        let s = Search::new(model, ops, &order, init);
        let sources = order.iter().map(|&i| ops[i as usize].source).collect();
        let remaining = s.required;
        KeySearch {
            s,
            sources,
            init,
            state: init,
            remaining,
            cands: Vec::new(),
            enabled: Vec::new(),
            levels: Vec::new(),
            path: Vec::new(),
            best: Vec::new(),
            best_valid: 0,
            steps: 0,
            started: false,
            carried_dead: NIL,
            visited: 0,
            reported: 0,
        }
    }

    /// True when this search learns per-key nogoods (rule 8) instead of memoizing whole
    /// configurations.
    #[cfg(test)]
    pub(crate) fn learns_nogoods(&self) -> bool {
        self.s.nogood_mode
    }

    /// The model (for explanations).
    pub(crate) fn model(&self) -> &M {
        &self.s.model
    }

    /// Counters so far.
    pub(crate) fn stats(&self) -> SearchStats {
        SearchStats {
            states: self.visited,
            memo_bytes: self.s.memo_bytes(),
        }
    }

    /// Runs until decided, a limit is hit, or about `budget` more steps have passed (`None`).
    pub(crate) fn resume(&mut self, limits: &Limits, budget: u64) -> Option<Verdict> {
        let verdict = self.explore(limits, budget)?;
        // Hand back this search's share of the shared memory counter.
        limits
            .memory_used
            .fetch_sub(self.reported, Ordering::Relaxed);
        self.reported = 0;
        Some(match verdict {
            Verdict::NotLinearizable(mut f) => {
                // Map positions back to the caller's op list.
                for step in &mut f.prefix {
                    step.0 = self.sources[step.0 as usize];
                }
                f.failing = self.sources[f.failing as usize];
                Verdict::NotLinearizable(f)
            }
            v => v,
        })
    }

    fn explore(&mut self, limits: &Limits, budget: u64) -> Option<Verdict> {
        let s = &mut self.s;
        if !self.started {
            self.started = true;
            if self.remaining == 0 {
                return Some(Verdict::Linearizable);
            }
            if let Some(u) = limit_hit(limits, 0, &mut self.reported) {
                return Some(Verdict::Undecided(u));
            }
            self.visited += 1;
            let focus = s.candidates(self.state, &mut self.cands, &mut self.enabled);
            self.levels.push(Level {
                focus,
                key: s.last_key,
                local_dead: true,
                start: 0,
                pos: 0,
                end: self.cands.len() as u32,
                taken: NIL,
                prev_state: self.state,
                prev_k: 0,
                prev_hi: 0,
                prev_ohi: 0,
            });
        }
        let stop_at = self.steps.saturating_add(budget);
        loop {
            self.steps += 1;
            if self.steps % CHECK_EVERY == 1 {
                if let Some(u) = limit_hit(limits, s.memo_bytes(), &mut self.reported) {
                    return Some(Verdict::Undecided(u));
                }
                if self.steps >= stop_at {
                    return None;
                }
            }
            // Invariant: `levels` is never empty inside the loop (the root is popped only to return).
            let top = self.levels.len() - 1;
            if self.levels[top].pos == self.levels[top].end {
                let done = self.levels.pop().expect("levels is non-empty");
                self.cands.truncate(done.start as usize);
                // Rule 8: every candidate here failed because of this level's component (a
                // failure because of another one backjumps past it), so that component's
                // projection of this configuration cannot be completed.
                let mut dead_key = NIL;
                if s.nogood_mode {
                    dead_key = self.carried_dead;
                    if dead_key == NIL && done.key != NIL {
                        s.build_projection_key(done.key, self.state);
                        if s.nogoods.insert(&s.key).is_err() {
                            return Some(Verdict::Undecided(Undecided::Memory));
                        }
                        dead_key = done.key;
                    }
                }
                let Some(parent) = self.levels.last_mut() else {
                    let best = std::mem::take(&mut self.best);
                    let failing = if dead_key != NIL {
                        // The op that cannot be linearized is on the key found dead.
                        first_unlinearized_required(s.required, &best, |p| {
                            s.cdense[p as usize] == dead_key
                        })
                    } else {
                        first_unlinearized_required(s.required, &best, |_| true)
                    };
                    let end_state = best.last().map_or(self.init, |&(_, st)| st);
                    return Some(Verdict::NotLinearizable(Failure {
                        prefix: best,
                        state: end_state,
                        init: self.init,
                        failing,
                    }));
                };
                let p = parent.taken;
                parent.taken = NIL;
                self.state = parent.prev_state;
                let (k, hi, ohi) = (parent.prev_k, parent.prev_hi, parent.prev_ohi);
                s.unlift(p);
                s.unmark(p, k, hi, ohi);
                if (p as usize) < s.required {
                    self.remaining += 1;
                }
                self.path.pop();
                self.best_valid = self.best_valid.min(self.path.len());
                if s.nogood_mode {
                    // Rule 8: the parent shares the dead projection unless `p` changed it.
                    self.carried_dead = NIL;
                    if dead_key != NIL && s.cdense[p as usize] != dead_key {
                        let parent = self.levels.last_mut().expect("a parent level exists here");
                        parent.pos = parent.end;
                        self.carried_dead = dead_key;
                    }
                    continue;
                }
                // Rule 7: a component found dead stays dead until an op on it is undone.
                let dead = if self.carried_dead != NIL {
                    self.carried_dead
                } else if done.local_dead {
                    done.focus
                } else {
                    NIL
                };
                self.carried_dead = NIL;
                let c = s.component[p as usize];
                if dead != NIL && c != NIL && c != dead {
                    let parent = self.levels.last_mut().expect("a parent level exists here");
                    parent.pos = parent.end;
                    self.carried_dead = dead;
                }
                continue;
            }
            let p = self.cands[self.levels[top].pos as usize];
            self.levels[top].pos += 1;
            let Some(next) = s.model.step(self.state, s.input[p as usize]) else {
                continue;
            };
            self.levels[top].local_dead = false;
            let (k, hi, ohi) = (s.k, s.hi, s.ohi);
            s.mark(p);
            let fresh = if s.nogood_mode {
                // Rule 8: only `p`'s component changed; the others were checked on the way.
                s.build_projection_key(s.cdense[p as usize], next);
                !s.nogoods.contains(&s.key)
            } else {
                s.build_key(next);
                match s.memo.insert(&s.key) {
                    Ok(fresh) => fresh,
                    Err(_) => return Some(Verdict::Undecided(Undecided::Memory)),
                }
            };
            if !fresh {
                s.unmark(p, k, hi, ohi);
                continue;
            }
            s.lift(p);
            let lvl = &mut self.levels[top];
            lvl.taken = p;
            lvl.prev_state = self.state;
            lvl.prev_k = k;
            lvl.prev_hi = hi;
            lvl.prev_ohi = ohi;
            self.state = next;
            if (p as usize) < s.required {
                self.remaining -= 1;
            }
            self.path.push((p, next));
            if self.path.len() > self.best.len() {
                self.best.truncate(self.best_valid);
                self.best.extend_from_slice(&self.path[self.best_valid..]);
                self.best_valid = self.path.len();
            }
            if self.remaining == 0 {
                return Some(Verdict::Linearizable);
            }
            self.visited += 1;
            let start = self.cands.len() as u32;
            let focus = s.candidates(self.state, &mut self.cands, &mut self.enabled);
            self.levels.push(Level {
                focus,
                key: s.last_key,
                local_dead: true,
                start,
                pos: start,
                end: self.cands.len() as u32,
                taken: NIL,
                prev_state: self.state,
                prev_k: 0,
                prev_hi: 0,
                prev_ohi: 0,
            });
        }
    }
}

fn limit_hit(limits: &Limits, memo_bytes: u64, reported: &mut u64) -> Option<Undecided> {
    if limits.stop.load(Ordering::Relaxed) {
        return Some(Undecided::Stopped);
    }
    if limits.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
        return Some(Undecided::Cancelled);
    }
    if limits.deadline.is_some_and(|d| Instant::now() >= d) {
        return Some(Undecided::Timeout);
    }
    if limits.ceiling.exceeded() {
        return Some(Undecided::Memory);
    }
    if memo_bytes != *reported {
        let total = if memo_bytes > *reported {
            limits
                .memory_used
                .fetch_add(memo_bytes - *reported, Ordering::Relaxed)
                + (memo_bytes - *reported)
        } else {
            limits
                .memory_used
                .fetch_sub(*reported - memo_bytes, Ordering::Relaxed)
                - (*reported - memo_bytes)
        };
        *reported = memo_bytes;
        if total > limits.memory_limit {
            return Some(Undecided::Memory);
        }
    }
    None
}

/// The first required position (they are ordered by return) that `wanted` accepts and that is
/// missing from `prefix` (or, if there is none, the first one missing at all).
fn first_unlinearized_required(
    required: usize,
    prefix: &[(u32, StateId)],
    wanted: impl Fn(u32) -> bool,
) -> u32 {
    let mut done = vec![false; required];
    for &(p, _) in prefix {
        if (p as usize) < required {
            done[p as usize] = true;
        }
    }
    let missing = |p: &usize| !done[*p];
    (0..required)
        .filter(missing)
        .find(|&p| wanted(p as u32))
        .or_else(|| (0..required).find(missing))
        // Invariant: a failed search leaves at least one required op unlinearized.
        .unwrap_or(0) as u32
}
