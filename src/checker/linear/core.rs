//! Shrinking an invalid key's history to a small *core*: a few ops that, with the ops they
//! rely on, are still not linearizable, so a person sees the cause instead of a long prefix.
//!
//! Dropping ops from a history is not sound in general: dropping the write a read saw makes a
//! legal read look illegal. So a candidate set `S` is tested together with its *support*
//! `T(S)`: every op that could have produced a state an op of `T(S)` relies on
//! ([`Model::dependence`], [`Model::produces`]; for a register, every write or cas of each
//! value a read or cas in the set expects). Claim: if `T(S)` is not linearizable, neither is
//! the whole key. Take a linearization of the whole key and keep only the ops of `T(S)`: the
//! state before each kept op that relies on a value was produced by the last state-changing
//! op before it, which produced that value and so is kept, and only read-only ops (which
//! change nothing) lie between; ops that need nothing are legal anywhere; real-time order
//! is kept. So `T(S)` would be linearizable, a contradiction.
//!
//! The search is delta debugging (Zeller's ddmin) over the key's *required* ops (ok ops, and
//! etcd's failed compares); `info` ops only ever add possible orders, so none is needed in a
//! core, though one that could have produced a needed value is part of the support. Before
//! ddmin, the set is cut to the shortest suffix (by invoke) ending at the op the search could
//! not linearize that still fails, so the tests ddmin runs are small and fast. Every test is
//! bounded by a deadline; a test that cannot decide in time counts as "still linearizable"
//! (the op stays), so the core is always a proven one, minimal only when `minimal` says so.

use super::search::{KeySearch, Limits, SearchOp, Verdict};
use crate::checker::hash::{FxHashMap, FxHashSet};
use crate::checker::model::{Dependence, Model, ModelError, Prepared, StateId};
use crate::history::{Op, Outcome};
use crate::procmem::MemoryCeiling;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Instant;

/// A proven core: positions in the key's op list, in history order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Core {
    /// The core's ops (the shrunk set and its support), as positions in the key's op list.
    pub ops: Vec<u32>,
    /// True when no single op of the shrunk set can be dropped (ddmin finished in time).
    pub minimal: bool,
    /// Searches run while shrinking.
    pub tests: u32,
}

/// Bounds on the shrinking.
pub(crate) struct CoreLimits<'a> {
    /// Stop shrinking (keep the best core so far) at this instant.
    pub deadline: Instant,
    /// The caller's cancel flag.
    pub cancel: Option<&'a AtomicBool>,
    /// Memory ceiling for one test's memo.
    pub memory_limit: u64,
    /// The ceiling on the whole process (a shrinking test that passes it is undecided).
    pub ceiling: &'a MemoryCeiling,
}

/// Precomputed dependence facts of the key's search ops.
struct Support {
    /// Per search op: what it needs.
    deps: Vec<Dependence>,
    /// State-changing search ops that always produce a given state, sorted by invoke.
    producers: FxHashMap<StateId, Vec<u32>>,
    /// State-changing search ops whose result depends on the state before them, by invoke.
    unfixed: Vec<u32>,
    /// Every state-changing search op, by invoke.
    mutators: Vec<u32>,
    /// Per search op: it never changes the state.
    read_only: Vec<bool>,
    /// Per search op: its invoke.
    calls: Vec<u64>,
    /// Per search op: its completion (`u64::MAX` for an optional op: it may take effect late).
    rets: Vec<u64>,
    /// Completions of the required state-changing ops, ascending, with
    /// [`Support::latest_call`] beside them.
    mutator_rets: Vec<u64>,
    /// `latest[k]`: the latest invoke among the required state-changing ops with the
    /// `k + 1` earliest completions, and that op.
    latest: Vec<(u64, u32)>,
}

impl Support {
    fn new<M: Model>(model: &M, search_ops: &[SearchOp]) -> Self {
        let n = search_ops.len();
        let mut s = Support {
            deps: search_ops
                .iter()
                .map(|o| model.dependence(o.input))
                .collect(),
            producers: FxHashMap::default(),
            unfixed: Vec::new(),
            mutators: Vec::new(),
            read_only: search_ops
                .iter()
                .map(|o| model.is_read_only(o.input))
                .collect(),
            calls: search_ops.iter().map(|o| o.call).collect(),
            rets: search_ops
                .iter()
                .map(|o| o.ret.unwrap_or(u64::MAX))
                .collect(),
            mutator_rets: Vec::new(),
            latest: Vec::new(),
        };
        let mut by_call: Vec<u32> = (0..n as u32).collect();
        by_call.sort_by_key(|&i| search_ops[i as usize].call);
        let mut required_mutators: Vec<(u64, u64, u32)> = Vec::new();
        for &i in &by_call {
            let op = &search_ops[i as usize];
            if s.read_only[i as usize] {
                continue;
            }
            s.mutators.push(i);
            if let Some(ret) = op.ret {
                required_mutators.push((ret, op.call, i));
            }
            match model.produces(op.input) {
                Some(v) => s.producers.entry(v).or_default().push(i),
                None => s.unfixed.push(i),
            }
        }
        required_mutators.sort_unstable();
        let mut latest = (0, 0);
        for (ret, call, i) in required_mutators {
            if call >= latest.0 {
                latest = (call, i);
            }
            s.mutator_rets.push(ret);
            s.latest.push(latest);
        }
        s
    }

    /// The required state-changing op with the latest invoke among those that completed
    /// before `x` was invoked, and that invoke: every op that completed before this instant
    /// is linearized before that op, hence before `x` with a state change between (`None`:
    /// no such op).
    fn horizon(&self, x: u32) -> Option<(u64, u32)> {
        let k = self
            .mutator_rets
            .partition_point(|&r| r < self.calls[x as usize]);
        k.checked_sub(1).map(|k| self.latest[k])
    }

    /// Of `candidates` (sorted by invoke), the one completed last before `horizon`: the
    /// newest value the horizon's op overwrote, which a person needs to see why an op that
    /// expected it was too late.
    fn overwritten(&self, candidates: &[u32], horizon: u64) -> Option<u32> {
        let upto = candidates.partition_point(|&p| self.calls[p as usize] < horizon);
        candidates[..upto]
            .iter()
            .copied()
            .filter(|&p| self.rets[p as usize] < horizon)
            .max_by_key(|&p| self.rets[p as usize])
    }

    /// The ops of `candidates` (sorted by invoke) that could be the last state change before
    /// `x` in some linearization: invoked before `x` completed, and not completed before
    /// `horizon` (some other required change then lies between it and `x`).
    fn could_precede<'a>(
        &'a self,
        candidates: &'a [u32],
        x: u32,
        horizon: Option<u64>,
    ) -> impl Iterator<Item = u32> + 'a {
        let end = self.rets[x as usize];
        let upto = candidates.partition_point(|&p| self.calls[p as usize] < end);
        candidates[..upto]
            .iter()
            .copied()
            .filter(move |&p| p != x && horizon.is_none_or(|h| self.rets[p as usize] >= h))
    }

    /// A required state change wholly between `old` and `x` in real time, so certainly
    /// linearized between them: a blind one when there is (it needs nothing, so the core
    /// stays small), else the latest. `None` when there is none.
    fn overwriter(&self, old: u32, x: u32) -> Option<u32> {
        let (after, before) = (self.rets[old as usize], self.calls[x as usize]);
        let from = self
            .mutators
            .partition_point(|&p| self.calls[p as usize] <= after);
        let upto = self
            .mutators
            .partition_point(|&p| self.calls[p as usize] < before);
        let between = self.mutators[from..upto.max(from)]
            .iter()
            .copied()
            .filter(|&p| self.rets[p as usize] < before);
        let mut latest = None;
        for p in between {
            if self.deps[p as usize] == Dependence::Nothing {
                return Some(p);
            }
            latest = Some(p);
        }
        latest
    }

    /// `T(S)`: the set and everything it relies on, as sorted search-op positions.
    ///
    /// An op that needs a state relies only on the ops that could be the last state change
    /// before it (see [`Support::could_precede`]), not on every op that ever produced that
    /// state: in a linearization of the whole key, the last change before it is invoked
    /// before it completes, and no required change lies wholly between the two in real
    /// time. Keeping only those keeps the proof of the module doc and keeps cores small when
    /// values repeat. When no op could have produced the needed state in time, the evidence
    /// joins instead (the horizon's op and the last older producer of the state, with what
    /// they need):
    /// more ops never break the proof, and without them a stale read's core would be the
    /// read alone.
    fn closure(&self, set: &[u32]) -> Vec<u32> {
        let mut inside = vec![false; self.deps.len()];
        let mut work: Vec<u32> = Vec::with_capacity(set.len() * 2);
        // (needed state or none for "any", horizon, completion): asked once each.
        let mut asked: FxHashSet<(Option<StateId>, Option<u64>, u64)> = FxHashSet::default();
        let mut push = |i: u32, work: &mut Vec<u32>| {
            if !inside[i as usize] {
                inside[i as usize] = true;
                work.push(i);
            }
        };
        for &i in set {
            push(i, &mut work);
        }
        let mut next = 0;
        let mut found: Vec<u32> = Vec::new();
        while next < work.len() {
            let x = work[next];
            next += 1;
            let need = match self.deps[x as usize] {
                Dependence::Nothing => continue,
                Dependence::State(v) => Some(v),
                Dependence::All => None,
            };
            let horizon = self.horizon(x);
            let at = horizon.map(|(call, _)| call);
            if !asked.insert((need, at, self.rets[x as usize])) {
                continue;
            }
            found.clear();
            match need {
                Some(v) => {
                    let ps = self.producers.get(&v).map(Vec::as_slice).unwrap_or(&[]);
                    found.extend(self.could_precede(ps, x, at));
                    found.extend(self.could_precede(&self.unfixed, x, at));
                    // Nothing could have produced it in time: say what came too early
                    // and what overwrote it.
                    if let (true, Some((call, q))) = (found.is_empty(), horizon) {
                        if let Some(old) = self.overwritten(ps, call) {
                            found.push(old);
                            found.push(self.overwriter(old, x).unwrap_or(q));
                        }
                    }
                }
                None => found.extend(self.could_precede(&self.mutators, x, at)),
            }
            for &p in &found {
                push(p, &mut work);
            }
        }
        work.sort_unstable();
        work
    }
}

/// Shrinks the failed key (`ops`, prepared into `search_ops` by the model `model`) to a core.
/// `make` builds fresh models for the test searches; `failing` is the position (in `ops`) of
/// the op the search could not linearize. With `verify_whole`, the whole set is first checked
/// to fail (when `ops` were cut from a larger history); otherwise it is known to. `None` when
/// the whole set could not be shown to fail, or on a model error (which cannot happen for ops
/// the model already prepared once).
pub(crate) fn find_core<M, F>(
    make: &F,
    model: &M,
    ops: &[&Op],
    search_ops: &[SearchOp],
    failing: u32,
    verify_whole: bool,
    limits: &CoreLimits,
) -> Option<Core>
where
    M: Model,
    F: Fn() -> Result<M, ModelError>,
{
    let support = Support::new(model, search_ops);
    let mut tester = Tester {
        make,
        ops,
        search_ops,
        support: &support,
        limits,
        tests: 0,
        out_of_time: false,
        seen: FxHashMap::default(),
        _model: std::marker::PhantomData,
    };
    // Units: the required ops, by invoke.
    let mut units: Vec<u32> = (0..search_ops.len() as u32)
        .filter(|&i| search_ops[i as usize].ret.is_some())
        .collect();
    units.sort_by_key(|&i| search_ops[i as usize].call);
    if verify_whole && !tester.fails(&units)? {
        return None;
    }
    // The whole set fails without a test: it is the key itself, less `info` ops nothing relies
    // on, and dropping an op that only adds possible orders cannot make it linearizable.
    // Cut it to the shortest failing suffix of the ops invoked before the failing op
    // completed, galloping then bisecting on its length: small sets first, so most tests are
    // cheap, and the whole key is never searched again.
    let end = search_ops
        .iter()
        .find(|s| s.source == failing)
        .and_then(|s| s.ret)
        .unwrap_or(u64::MAX);
    let head: Vec<u32> = units
        .iter()
        .copied()
        .filter(|&i| search_ops[i as usize].call <= end)
        .collect();
    // Prefer ops whose support is small: an op that relies on every write (etcd's failed
    // compare, an append) pulls the whole key into each test. Try without them first.
    let cheap: Vec<u32> = head
        .iter()
        .copied()
        .filter(|&i| support.deps[i as usize] != Dependence::All)
        .collect();
    if !cheap.is_empty() && cheap.len() < head.len() {
        if let Some(len) = shortest_failing_suffix(&cheap, &mut tester)? {
            units = cheap[cheap.len() - len..].to_vec();
            return finish(units, &support, search_ops, tester);
        }
    }
    if let Some(len) = shortest_failing_suffix(&head, &mut tester)? {
        units = head[head.len() - len..].to_vec();
    }
    finish(units, &support, search_ops, tester)
}

/// The length of the shortest suffix of `units` that fails, galloping then bisecting (not
/// every length is tried, so it is short, not always the shortest); `None` when none does
/// (or time ran out first).
fn shortest_failing_suffix<M: Model, F: Fn() -> Result<M, ModelError>>(
    units: &[u32],
    tester: &mut Tester<'_, M, F>,
) -> Option<Option<usize>> {
    let head = units;
    let n = head.len();
    let mut found = None;
    let mut lo = 0; // the longest suffix known not to fail
    let mut len = 1.min(n);
    while len > 0 && !tester.out_of_time {
        if tester.fails(&head[n - len..])? {
            found = Some(len);
            break;
        }
        if len == n {
            break;
        }
        lo = len;
        len = (len * 2).min(n);
    }
    if let Some(mut hi) = found {
        while hi - lo > 1 && !tester.out_of_time {
            let mid = (lo + hi) / 2;
            if tester.fails(&head[n - mid..])? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        return Some(Some(hi));
    }
    Some(None)
}

/// ddmin on the cut set, then the support's ops tried once each; the core is the support of
/// what is left.
fn finish<M: Model, F: Fn() -> Result<M, ModelError>>(
    mut units: Vec<u32>,
    support: &Support,
    search_ops: &[SearchOp],
    mut tester: Tester<'_, M, F>,
) -> Option<Core> {
    let mut minimal = ddmin(&mut units, &mut tester)?;
    // ddmin makes the shrunk set small, not its support: a read kept in the set pulls in the
    // writes of its value. Try dropping each required op of the support too, reads first.
    let mut set: Vec<u32> = support
        .closure(&units)
        .into_iter()
        .filter(|&i| search_ops[i as usize].ret.is_some())
        .collect();
    let mut order = set.clone();
    order.sort_by_key(|&i| (!support.read_only[i as usize], std::cmp::Reverse(i)));
    for x in order {
        if tester.out_of_time {
            minimal = false;
            break;
        }
        let trial: Vec<u32> = set.iter().copied().filter(|&i| i != x).collect();
        if !trial.is_empty() && tester.fails(&trial)? {
            set = trial;
        }
    }
    units = set;
    let mut core: Vec<u32> = support
        .closure(&units)
        .into_iter()
        .map(|i| search_ops[i as usize].source)
        .collect();
    core.sort_unstable();
    core.dedup();
    Some(Core {
        ops: core,
        minimal: minimal && !tester.out_of_time,
        tests: tester.tests,
    })
}

/// Zeller's ddmin over `units` (which must fail): shrinks it in place to a 1-minimal failing
/// set, or as far as time allows. True when it finished.
fn ddmin<M: Model, F: Fn() -> Result<M, ModelError>>(
    units: &mut Vec<u32>,
    tester: &mut Tester<'_, M, F>,
) -> Option<bool> {
    let mut n = 2usize;
    while units.len() >= 2 {
        if tester.out_of_time {
            return Some(false);
        }
        let len = units.len();
        let n_here = n.min(len);
        let bounds: Vec<(usize, usize)> = (0..n_here)
            .map(|k| (k * len / n_here, (k + 1) * len / n_here))
            .collect();
        let mut reduced = false;
        for &(a, b) in &bounds {
            if tester.fails(&units[a..b])? {
                *units = units[a..b].to_vec();
                n = 2;
                reduced = true;
                break;
            }
        }
        if !reduced && n_here > 2 {
            for &(a, b) in &bounds {
                let rest: Vec<u32> = units[..a].iter().chain(&units[b..]).copied().collect();
                if tester.fails(&rest)? {
                    *units = rest;
                    n = (n_here - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n_here >= len {
                return Some(!tester.out_of_time);
            }
            n = (n_here * 2).min(len);
        }
    }
    Some(!tester.out_of_time)
}

/// Runs one bounded search per candidate set.
struct Tester<'a, M, F> {
    make: &'a F,
    ops: &'a [&'a Op],
    search_ops: &'a [SearchOp],
    support: &'a Support,
    limits: &'a CoreLimits<'a>,
    tests: u32,
    out_of_time: bool,
    /// Verdicts of the closures searched so far.
    seen: FxHashMap<Vec<u32>, bool>,
    _model: std::marker::PhantomData<fn() -> M>,
}

impl<M: Model, F: Fn() -> Result<M, ModelError>> Tester<'_, M, F> {
    /// True when `T(set)` is proven not linearizable; false when it is linearizable or the
    /// search could not decide in time. `None` on a model error.
    fn fails(&mut self, set: &[u32]) -> Option<bool> {
        if self.out_of_time || Instant::now() >= self.limits.deadline {
            self.out_of_time = true;
            return Some(false);
        }
        let closure = self.support.closure(set);
        // ddmin and the support pass often ask about sets whose closures coincide: a set's
        // verdict depends only on its closure, so each closure is searched once.
        if let Some(&known) = self.seen.get(&closure) {
            return Some(known);
        }
        self.tests += 1;
        let verdict = self.search(&closure)?;
        self.seen.insert(closure, verdict);
        Some(verdict)
    }

    /// Searches the ops of `closure` (search-op positions) on their own.
    fn search(&mut self, closure: &[u32]) -> Option<bool> {
        let mut model = (self.make)().ok()?;
        let mut sub = Vec::with_capacity(closure.len());
        for &i in closure {
            let s = self.search_ops[i as usize];
            let op = self.ops[s.source as usize];
            let Prepared::Input(input) = model.prepare(op).ok()? else {
                return None;
            };
            let ret = match (op.outcome, op.complete_index) {
                (Outcome::Info, _) | (_, None) => None,
                (_, Some(c)) => Some(c),
            };
            sub.push(SearchOp {
                input,
                call: op.invoke_index,
                ret,
                source: s.source,
            });
        }
        let stop = AtomicBool::new(false);
        let memory_used = AtomicU64::new(0);
        let limits = Limits {
            deadline: Some(self.limits.deadline),
            cancel: self.limits.cancel,
            stop: &stop,
            memory_used: &memory_used,
            memory_limit: self.limits.memory_limit,
            ceiling: self.limits.ceiling,
        };
        let mut search = KeySearch::new(model, &sub);
        match search.resume(&limits, u64::MAX) {
            Some(Verdict::NotLinearizable(_)) => Some(true),
            Some(Verdict::Linearizable) => Some(false),
            Some(Verdict::Undecided(_)) | None => {
                if Instant::now() >= self.limits.deadline {
                    self.out_of_time = true;
                }
                Some(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::model::tests_support::op;
    use crate::checker::model::{ModelOptions, RegisterFlavor, RegisterModel};
    use serde_json::json;

    /// Sequential ops (each completes before the next begins) on one register.
    fn sequential(spec: &[(&str, Value, Value)]) -> Vec<Op> {
        spec.iter()
            .enumerate()
            .map(|(i, (f, inv, val))| {
                let mut o = op(f, inv.clone(), val.clone(), Outcome::Ok);
                o.invoke_index = 2 * i as u64;
                o.complete_index = Some(2 * i as u64 + 1);
                o
            })
            .collect()
    }

    fn prepared(model: &mut RegisterModel, ops: &[Op]) -> Vec<SearchOp> {
        ops.iter()
            .enumerate()
            .filter_map(|(i, o)| match model.prepare(o).unwrap() {
                Prepared::Input(input) => Some(SearchOp {
                    input,
                    call: o.invoke_index,
                    ret: o.complete_index,
                    source: i as u32,
                }),
                Prepared::Skip => None,
            })
            .collect()
    }

    fn make() -> Result<RegisterModel, ModelError> {
        Ok(RegisterModel::new(
            RegisterFlavor::CasRegister,
            &ModelOptions::default(),
        ))
    }

    use serde_json::Value;

    #[test]
    fn the_support_of_a_read_is_the_writes_of_its_value_that_could_be_last_and_their_needs() {
        let ops = sequential(&[
            ("write", json!(1), json!(1)),
            ("write", json!(2), json!(2)),
            ("cas", json!([2, 1]), json!([2, 1])),
            ("read", json!(null), json!(1)),
            ("write", json!(3), json!(3)),
        ]);
        let mut m = make().unwrap();
        let s = prepared(&mut m, &ops);
        let support = Support::new(&m, &s);
        // The read of 1 relies on the cas (the write of 1 was overwritten before the read
        // began, by the write of 2); the cas relies on the write of 2.
        assert_eq!(support.closure(&[3]), vec![1, 2, 3]);
        assert_eq!(
            support.closure(&[4]),
            vec![4],
            "a blind write needs nothing"
        );
    }

    #[test]
    fn a_stale_read_shrinks_to_the_read_the_overwrite_and_the_old_write() {
        let mut spec = vec![("write", json!(0), json!(0))];
        for v in 1..40 {
            spec.push(("write", json!(v), json!(v)));
            spec.push(("read", json!(null), json!(v)));
        }
        spec.push(("read", json!(null), json!(17))); // stale
        for v in 40..60 {
            spec.push(("write", json!(v), json!(v)));
        }
        let ops = sequential(&spec);
        let refs: Vec<&Op> = ops.iter().collect();
        let mut m = make().unwrap();
        let s = prepared(&mut m, &ops);
        let stale = ops.len() as u32 - 21;
        let limits = CoreLimits {
            deadline: Instant::now() + std::time::Duration::from_secs(60),
            cancel: None,
            memory_limit: 1 << 30,
            ceiling: &MemoryCeiling::new(u64::MAX),
        };
        let core = find_core(&make, &m, &refs, &s, stale, false, &limits).unwrap();
        let values: Vec<(&str, &Value)> = core
            .ops
            .iter()
            .map(|&i| {
                let o = &ops[i as usize];
                (
                    o.f.as_str(),
                    if o.f == "read" {
                        &o.value
                    } else {
                        &o.invoke_value
                    },
                )
            })
            .collect();
        assert_eq!(values.len(), 3, "{values:?}");
        assert_eq!(values[0], ("write", &json!(17)));
        assert_eq!(values[1].0, "write");
        assert_eq!(values[2], ("read", &json!(17)));
        assert!(core.minimal);
    }

    #[test]
    fn no_time_left_still_gives_a_proven_core() {
        let ops = sequential(&[
            ("write", json!(1), json!(1)),
            ("write", json!(2), json!(2)),
            ("read", json!(null), json!(1)),
        ]);
        let refs: Vec<&Op> = ops.iter().collect();
        let mut m = make().unwrap();
        let s = prepared(&mut m, &ops);
        let limits = CoreLimits {
            deadline: Instant::now(),
            cancel: None,
            memory_limit: 1 << 30,
            ceiling: &MemoryCeiling::new(u64::MAX),
        };
        let core = find_core(&make, &m, &refs, &s, 2, false, &limits).unwrap();
        assert_eq!(
            core.ops,
            vec![0, 1, 2],
            "the whole key, which is known to fail"
        );
        assert!(!core.minimal);
    }
}
