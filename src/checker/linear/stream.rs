//! Checking while reading (issue 20): per-key linearizability searches that start before
//! the whole file is read.
//!
//! [`read_jsonl_speculating`] reads a JSONL history into a [`CompactHistory`] and, as the
//! reader pairs events, hands each key that went *quiet* (`quiet::KeyTracker`: no open op,
//! no event for a window of events) to one background thread, which searches it to a
//! verdict with the same round budgets as the final scheduler (`run_groups`) and records
//! the round it decided in, its verdict, states and memo bytes. The key's search inputs are
//! prepared on the reading thread, so the worker never looks at the history while it grows.
//!
//! [`super::check_compact_speculated`] then checks the whole history as
//! [`super::check_compact`] does, except that a key whose outcome is reusable decides, with
//! no search, in exactly the round its real search would have decided in: which key is
//! invalid first, and so the key explained, cannot change. An outcome is reusable only when
//! the key got no op after it was searched (the same op count; none of its ops was open, so
//! none has changed) and it was searched with the final model and options; the search is a
//! function of its ops and its step budgets as long as no limit stops it, and a search a
//! limit stopped is not kept.

use std::collections::{BTreeSet, VecDeque};
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use super::quiet::KeyTracker;
use super::search::{KeySearch, Limits, SearchOp, Verdict};
use super::{prepare_group, round_budget, Group, GroupOps, Reuse};
use crate::checker::model::{
    FifoQueueModel, Model, ModelKind, ModelOptions, MutexModel, RegisterFlavor, RegisterModel,
    SetModel,
};
use crate::history::compact::read_jsonl_compact_watched;
use crate::history::CompactHistory;
use crate::history::HistoryError;
use crate::procmem::MemoryCeiling;
use serde_json::Value;

/// How the searches run while reading pick their model.
#[derive(Debug, Clone, Copy)]
pub enum SpecModel {
    /// The model is known (`--model`).
    Given(ModelKind),
    /// Guessed from the functions of the ops read so far (names without a leading `:`), as
    /// `faultline check` guesses from the whole file; `None`: not a per-key linearizability
    /// model (yet). When the guess changes, everything searched under the old one is
    /// dropped, and if the final model is another, nothing is reused.
    Guess(fn(&BTreeSet<&str>) -> Option<ModelKind>),
}

/// What [`read_jsonl_speculating`] needs to know.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// The model to search with.
    pub model: SpecModel,
    /// `--initial`, `--nil-reads-match-any`.
    pub model_options: ModelOptions,
    /// A search whose memo passes this many bytes is dropped (its key is checked at the end).
    pub memory_limit: u64,
    /// Events after its last one before a key counts as quiet; `None`: [`window_for`] of
    /// the input's size.
    pub window: Option<u64>,
    /// After each chunk, wait until the searches handed out are done (tests: which keys
    /// are decided while reading then does not depend on timing).
    pub wait: bool,
}

/// The default quiet window for an input of `bytes` bytes: 2^20 events, or 1/25 of the
/// input's events (about 100 bytes each) when that is more (docs/checking.md says why).
pub fn window_for(bytes: u64) -> u64 {
    (1u64 << 20).max(bytes / 100 / 25)
}

/// Ops the prepared searches waiting for the worker may hold, all together (a key alone may
/// be bigger when nothing else waits).
const QUEUE_OPS: usize = 1 << 18;

/// More ops open than this (a history of crashed clients that never complete) turns the
/// speculation off: re-scanning them after every chunk would cost more than it saves.
const MAX_OPEN: usize = 1 << 16;

/// How one key's search, run while reading, decided.
#[derive(Debug, Clone)]
pub(crate) struct SpecOutcome {
    /// The key's op count it covered.
    pub(super) key_ops: usize,
    valid: bool,
    /// The round it decided in (0: the first budget).
    round: u32,
    /// Decided before any step (no op to place): decides even after a stop.
    instant: bool,
    /// Configurations visited at the end of each round before `round`.
    states_before: Vec<u64>,
    /// Configurations visited in all.
    pub(super) states: u64,
    /// Memo bytes at the end.
    pub(super) memo_bytes: u64,
    /// Ops the search was given (the model may drop some).
    pub(super) search_ops: u64,
    /// Seconds the search took.
    pub(super) secs: f64,
}

/// What a virtual task does in one round of the final scheduler.
#[derive(Debug, PartialEq)]
pub(super) enum Slot {
    /// Not decided yet.
    Pending,
    /// Decided in this round.
    Decided { valid: bool },
    /// Stopped because another key was found invalid, having visited `states`.
    Stopped { states: u64 },
}

impl SpecOutcome {
    /// What the real search would do in round `round` (0: its batch's first round);
    /// `stopped`: another key was found invalid before the round.
    pub(super) fn slot(&self, round: u32, stopped: bool) -> Slot {
        if stopped {
            if round == 0 && self.instant {
                return Slot::Decided { valid: self.valid };
            }
            let states = match round {
                0 => 0,
                r => self
                    .states_before
                    .get(r as usize - 1)
                    .copied()
                    .unwrap_or(self.states),
            };
            return Slot::Stopped { states };
        }
        if round == self.round {
            Slot::Decided { valid: self.valid }
        } else {
            Slot::Pending
        }
    }
}

/// What reading left for the check: the key groups and the searches run while reading.
#[derive(Debug)]
pub struct Speculation {
    pub(super) groups: Vec<(Option<Value>, Vec<u32>)>,
    pub(super) outcomes: Vec<Option<SpecOutcome>>,
    /// The model the outcomes were found with (`None`: none was).
    pub(super) model: Option<ModelKind>,
    pub(super) model_options: ModelOptions,
    /// Keys searched to a verdict while reading.
    pub searched: u64,
}

impl Speculation {
    /// The model the searches ran with (`None`: none ran).
    pub fn model(&self) -> Option<ModelKind> {
        self.model
    }

    /// Keys whose outcome the final check can reuse: searched while reading, with no op
    /// since.
    pub fn reusable(&self) -> u64 {
        self.outcomes
            .iter()
            .zip(&self.groups)
            .filter(|(o, g)| o.as_ref().is_some_and(|o| o.key_ops == g.1.len()))
            .count() as u64
    }

    /// The groups of `history` (the one read) and the outcomes still valid for them.
    pub(super) fn into_reuse(self, history: &CompactHistory) -> Reuse<'_> {
        let outcomes = self
            .outcomes
            .into_iter()
            .zip(&self.groups)
            .map(|(o, g)| o.filter(|o| o.key_ops == g.1.len()))
            .collect();
        let groups = self
            .groups
            .into_iter()
            .map(|(key, at)| Group {
                key,
                ops: GroupOps::Compact(history, at),
            })
            .collect();
        Reuse { groups, outcomes }
    }
}

/// Reads a JSONL history as `history::read_jsonl_compact_sized` does (the same history,
/// the same errors), searching quiet keys on a background thread meanwhile.
pub fn read_jsonl_speculating<R: Read>(
    reader: R,
    source: &str,
    bytes: u64,
    opts: &StreamOptions,
) -> Result<(CompactHistory, Speculation), HistoryError> {
    read_speculating(reader, bytes, opts, opts.wait, |reader, watch| {
        read_jsonl_compact_watched(reader, source, bytes, watch)
    })
}

/// [`read_jsonl_speculating`] with the plan of chunks given (tests vary it).
#[cfg(test)]
pub(super) fn read_speculating_in_chunks<R: Read>(
    reader: R,
    opts: &StreamOptions,
    chunk_bytes: usize,
    workers: usize,
) -> Result<(CompactHistory, Speculation), HistoryError> {
    read_speculating(reader, 0, opts, true, |reader, watch| {
        crate::history::compact::read_watched_with_chunks(reader, "h", chunk_bytes, workers, watch)
    })
}

/// `drain`: after each chunk, wait until every search handed out is done (tests: which
/// keys were searched then does not depend on timing).
fn read_speculating<R: Read>(
    reader: R,
    bytes: u64,
    opts: &StreamOptions,
    drain: bool,
    read: impl FnOnce(R, &mut dyn FnMut(&CompactHistory, u64)) -> Result<CompactHistory, HistoryError>,
) -> Result<(CompactHistory, Speculation), HistoryError> {
    let shared = Shared::default();
    let window = opts.window.unwrap_or_else(|| window_for(bytes));
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| shared.work(opts.memory_limit));
        let mut engine = Engine {
            tracker: KeyTracker::new(window),
            opts,
            shared: &shared,
            model: match opts.model {
                SpecModel::Given(kind) => Some(kind),
                SpecModel::Guess(_) => None,
            },
            generation: 0,
            used_f: Vec::new(),
            f_seen: 0,
            off: false,
        };
        let read = read(reader, &mut |h, now| {
            engine.observe(h, now);
            if drain {
                shared.drain();
            }
        });
        // Searches still running or waiting are dropped: the final check does those keys.
        shared.abort.store(true, Ordering::Relaxed);
        shared.close();
        if worker.join().is_err() {
            // A panicking search only loses its speculation; the final check redoes it.
            shared.lock_results().clear();
        }
        let history = read?;
        let Engine {
            tracker,
            model,
            generation,
            off,
            ..
        } = engine;
        // Off part way: the tracker's groups miss the later ops, so nothing may be used.
        let model = if off { None } else { model };
        let groups = tracker.into_groups();
        let mut outcomes: Vec<Option<SpecOutcome>> = vec![None; groups.len()];
        let mut searched = 0;
        for (gen, k, out) in shared.lock_results().drain(..) {
            if gen != generation {
                continue;
            }
            searched += 1;
            let slot = &mut outcomes[k as usize];
            if slot.as_ref().is_none_or(|o| o.key_ops < out.key_ops) {
                *slot = Some(out);
            }
        }
        Ok((
            history,
            Speculation {
                groups,
                outcomes,
                model,
                model_options: opts.model_options.clone(),
                searched,
            },
        ))
    })
}

/// A search prepared on the reading thread, run by the worker.
type Run = Box<dyn FnOnce(&Limits) -> Option<SpecOutcome> + Send>;

/// One key's search waiting for the worker.
struct Job {
    generation: u64,
    key: u32,
    ops: usize,
    run: Run,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Ops of the jobs waiting and running.
    ops: usize,
    closed: bool,
}

/// What the reading thread and the worker share.
#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    /// (generation, key, outcome) of every search finished.
    results: Mutex<Vec<(u64, u32, SpecOutcome)>>,
    /// Reading is over: stop the search running.
    abort: AtomicBool,
}

impl Shared {
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_results(&self) -> std::sync::MutexGuard<'_, Vec<(u64, u32, SpecOutcome)>> {
        self.results.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        self.lock_queue().closed = true;
        self.ready.notify_all();
    }

    /// Waits until no search is waiting or running.
    fn drain(&self) {
        let mut q = self.lock_queue();
        while q.ops > 0 || !q.jobs.is_empty() {
            q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The worker: runs jobs in order until the queue is closed.
    fn work(&self, memory_limit: u64) {
        let memory_used = AtomicU64::new(0);
        let ceiling = MemoryCeiling::new(memory_limit);
        let limits = Limits {
            deadline: None,
            cancel: None,
            stop: &self.abort,
            memory_used: &memory_used,
            memory_limit,
            ceiling: &ceiling,
        };
        loop {
            let job = {
                let mut q = self.lock_queue();
                loop {
                    if q.closed {
                        return;
                    }
                    if let Some(job) = q.jobs.pop_front() {
                        break job;
                    }
                    q = self.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
                }
            };
            let (generation, key, ops) = (job.generation, job.key, job.ops);
            let outcome = (job.run)(&limits);
            if let Some(out) = outcome {
                self.lock_results().push((generation, key, out));
            }
            self.lock_queue().ops -= ops;
            self.ready.notify_all();
        }
    }
}

/// The reading thread's side: tracks keys, picks the model, prepares quiet keys' searches.
struct Engine<'a> {
    tracker: KeyTracker,
    opts: &'a StreamOptions,
    shared: &'a Shared,
    /// The model searches are prepared with now.
    model: Option<ModelKind>,
    /// Bumped when the model changes; results of older generations are dropped.
    generation: u64,
    /// Function ids seen so far (for a guessed model).
    used_f: Vec<bool>,
    /// Ops whose function was looked at.
    f_seen: usize,
    /// Speculation turned itself off (too many open ops, or no model): nothing is reused.
    off: bool,
}

impl Engine<'_> {
    /// After each chunk: `history` so far, `now` events read.
    fn observe(&mut self, history: &CompactHistory, now: u64) {
        if self.off {
            return;
        }
        self.tracker.observe(history, now);
        if self.tracker.open_ops() > MAX_OPEN {
            self.off = true;
            return;
        }
        if let SpecModel::Guess(guess) = self.opts.model {
            self.guess(history, guess);
        }
        let Some(kind) = self.model else {
            // No per-key linearizability model for these functions (transactions, a
            // workload checker's ops): a later op does not make one, so stop tracking.
            self.off = true;
            return;
        };
        for k in self.tracker.quiet(now) {
            let n = self.tracker.key(k).ops.len();
            {
                let q = self.shared.lock_queue();
                if q.ops > 0 && q.ops + n > QUEUE_OPS {
                    drop(q);
                    self.tracker.defer(k);
                    continue;
                }
            }
            self.tracker.take(k);
            let at = self.tracker.key(k).ops.clone();
            let Some(run) = prepare(kind, &self.opts.model_options, history, at) else {
                // The model refuses an op: the final check reports it.
                continue;
            };
            let mut q = self.shared.lock_queue();
            q.ops += n;
            q.jobs.push_back(Job {
                generation: self.generation,
                key: k,
                ops: n,
                run,
            });
            drop(q);
            self.shared.ready.notify_all();
        }
    }

    /// Updates the guessed model from the functions of the new ops.
    fn guess(&mut self, history: &CompactHistory, guess: fn(&BTreeSet<&str>) -> Option<ModelKind>) {
        let mut new_f = false;
        for op in &history.ops[self.f_seen..] {
            let f = op.f as usize;
            if f >= self.used_f.len() {
                self.used_f.resize(f + 1, false);
            }
            new_f |= !self.used_f[f];
            self.used_f[f] = true;
        }
        self.f_seen = history.ops.len();
        if !new_f && self.generation > 0 {
            return;
        }
        let fs: BTreeSet<&str> = (0..self.used_f.len())
            .filter(|&f| self.used_f[f])
            .map(|f| history.arena.str(f as u32))
            .map(|f| f.strip_prefix(':').unwrap_or(f))
            .collect();
        let model = guess(&fs).filter(|&k| k != ModelKind::MultiRegister);
        if model != self.model || self.generation == 0 {
            if model != self.model {
                // Everything prepared under the old model is of no use.
                let mut q = self.shared.lock_queue();
                let dropped: usize = q.jobs.iter().map(|j| j.ops).sum();
                q.jobs.clear();
                q.ops -= dropped;
                drop(q);
                self.tracker.retake_all();
            }
            self.model = model;
            self.generation += 1;
        }
    }
}

/// Key ops `at` of `history`, prepared for `kind`'s search; `None` when the model refuses
/// one of them or is not searched per key.
fn prepare(
    kind: ModelKind,
    mo: &ModelOptions,
    history: &CompactHistory,
    at: Vec<u32>,
) -> Option<Run> {
    match kind {
        ModelKind::Register => job(
            history,
            at,
            RegisterModel::new(RegisterFlavor::Register, mo),
        ),
        ModelKind::CasRegister => job(
            history,
            at,
            RegisterModel::new(RegisterFlavor::CasRegister, mo),
        ),
        ModelKind::Kv => job(history, at, RegisterModel::new(RegisterFlavor::Kv, mo)),
        ModelKind::Etcd => job(history, at, RegisterModel::new(RegisterFlavor::Etcd, mo)),
        ModelKind::Mutex => job(history, at, MutexModel::new(mo)),
        ModelKind::Set => job(history, at, SetModel::new(mo).ok()?),
        ModelKind::FifoQueue => job(history, at, FifoQueueModel::new(mo).ok()?),
        ModelKind::MultiRegister => None,
    }
}

fn job<M: Model + 'static>(history: &CompactHistory, at: Vec<u32>, model: M) -> Option<Run> {
    let key_ops = at.len();
    let group = Group {
        key: None,
        ops: GroupOps::Compact(history, at),
    };
    let prepared = prepare_group(group, model).ok()?;
    let (model, ops) = (prepared.model, prepared.search_ops);
    Some(Box::new(move |limits: &Limits| {
        search(model, &ops, limits, key_ops)
    }))
}

/// Searches to a verdict in the final scheduler's rounds (`run_groups`: `round_budget`
/// steps each), recording where it decided; `None` when a limit stopped it.
fn search<M: Model>(
    model: M,
    ops: &[SearchOp],
    limits: &Limits,
    key_ops: usize,
) -> Option<SpecOutcome> {
    let started = Instant::now();
    let mut search = KeySearch::new(model, ops);
    let mut states_before = Vec::new();
    let mut round = 0;
    let verdict = loop {
        match search.resume(limits, round_budget(round)) {
            Some(v) => break v,
            None => {
                states_before.push(search.stats().states);
                round += 1;
            }
        }
    };
    let valid = match verdict {
        Verdict::Linearizable => true,
        Verdict::NotLinearizable(_) => false,
        Verdict::Undecided(_) => return None,
    };
    let stats = search.stats();
    Some(SpecOutcome {
        key_ops,
        valid,
        round,
        instant: stats.states == 0,
        states_before,
        states: stats.states,
        memo_bytes: stats.memo_bytes,
        search_ops: ops.len() as u64,
        secs: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(valid: bool, round: u32, states_before: Vec<u64>, states: u64) -> SpecOutcome {
        SpecOutcome {
            key_ops: 1,
            valid,
            round,
            instant: states == 0,
            states_before,
            states,
            memo_bytes: 0,
            search_ops: 1,
            secs: 0.0,
        }
    }

    #[test]
    fn a_virtual_task_decides_in_its_round_and_stops_as_the_real_one_would() {
        let late = outcome(false, 2, vec![10, 50], 70);
        assert_eq!(late.slot(0, false), Slot::Pending);
        assert_eq!(late.slot(1, false), Slot::Pending);
        assert_eq!(late.slot(2, false), Slot::Decided { valid: false });
        // Stopped before its batch's first round: nothing visited; before round 2: what
        // rounds 0 and 1 visited.
        assert_eq!(late.slot(0, true), Slot::Stopped { states: 0 });
        assert_eq!(late.slot(1, true), Slot::Stopped { states: 10 });
        assert_eq!(late.slot(2, true), Slot::Stopped { states: 50 });
        // A key with nothing to place decides before any limit is looked at.
        let empty = outcome(true, 0, vec![], 0);
        assert_eq!(empty.slot(0, true), Slot::Decided { valid: true });
        let quick = outcome(true, 0, vec![], 5);
        assert_eq!(quick.slot(0, true), Slot::Stopped { states: 0 });
        assert_eq!(quick.slot(0, false), Slot::Decided { valid: true });
    }

    #[test]
    fn the_window_is_a_million_events_or_a_twenty_fifth_of_the_file() {
        assert_eq!(window_for(0), 1 << 20);
        assert_eq!(window_for(2_000_000_000), 1 << 20);
        assert_eq!(window_for(10_000_000_000), 4_000_000);
    }
}
