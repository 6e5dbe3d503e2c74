//! The linearizability checker.
//!
//! [`check`] splits a history by key (P-compositionality: a history of independent keys is
//! linearizable iff every key's sub-history is), checks the keys in parallel on all cores with
//! the Wing–Gong–Lowe search in [`search`] in rounds of counted steps, and stops after the
//! round that finds a key invalid (so the key explained does not depend on timing). Keys
//! stream through in batches, so only undecided keys' searches stay in memory.
//! With `partition: false` a keyed history is checked as ONE map-valued state instead (the
//! hard case); the search is still one search over the whole map, helped by a partial-order
//! reduction and by per-key nogoods learned from the model's product state (see `search`).
//!
//! A deadline, a cancel flag and a memory ceiling each turn an undecided search into
//! [`Validity::Unknown`], never into `Valid`.
//!
//! ```
//! use faultline::checker::{check, LinearizabilityOptions, ModelKind, Validity};
//! use faultline::history::History;
//!
//! let history = History::default();
//! let opts = LinearizabilityOptions { model: ModelKind::CasRegister, ..Default::default() };
//! let result = check(&history, &opts).unwrap();
//! assert_eq!(result.valid, Validity::Valid); // nothing to linearize
//! ```

mod core;
mod explain;
mod memo;
#[cfg(test)]
mod nogood_tests;
mod quiet;
mod search;
mod sentence;
pub mod stream;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod test_rng;
mod unobserved;

pub use explain::{LinearizationWitness, OpSummary, PrefixStep, CONCURRENT_KEEP, PREFIX_KEEP};

use crate::checker::model::{
    FifoQueueModel, MapModel, Model, ModelError, ModelKind, ModelOptions, MultiRegisterModel,
    MutexModel, Prepared, RegisterFlavor, RegisterModel, SetModel,
};
use crate::checker::{Anomaly, CheckResult, CheckStats, Validity, Witness};
use crate::history::{CompactHistory, History, Op, Outcome};
use explain::Clock;
use rayon::prelude::*;
use search::{KeySearch, Limits, SearchOp, Undecided, Verdict};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::procmem::MemoryCeiling;
use std::time::{Duration, Instant};

/// The default ceiling on the checking process's resident memory: 80% of what this machine
/// (or the cgroup the process runs in) has, so that a search too big for the machine ends as
/// `unknown` instead of in swap or the OOM killer; 4 GiB where that cannot be read.
pub fn default_memory_limit() -> u64 {
    crate::procmem::memory_available().map_or(FALLBACK_MEMORY_LIMIT, |m| m / 5 * 4)
}

/// [`default_memory_limit`] where the machine's memory is unknown (not Linux).
const FALLBACK_MEMORY_LIMIT: u64 = 4 << 30;

/// How to check a history for linearizability (`faultline check` flags map onto these).
#[derive(Debug, Clone)]
pub struct LinearizabilityOptions {
    /// The sequential specification (`--model`).
    pub model: ModelKind,
    /// Initial value and nil-read rule (`--initial`, `--nil-reads-match-any`).
    pub model_options: ModelOptions,
    /// Check each key on its own (default). `false` is `--no-partition`: one map-valued state.
    pub partition: bool,
    /// Give up with `Unknown` after this instant (`--timeout`).
    pub deadline: Option<Instant>,
    /// Give up with `Unknown` when this flag becomes true (Ctrl-C).
    pub cancel: Option<Arc<AtomicBool>>,
    /// Give up with `Unknown` when this process's resident memory (the history, every
    /// search, the explanation) exceeds this many bytes (`--memory-limit`).
    pub memory_limit: u64,
    /// Shrink an invalid key to its core for the explanation (default); `false` explains from
    /// the search's longest prefix alone (for timing what shrinking costs).
    pub explain_core: bool,
}

impl Default for LinearizabilityOptions {
    fn default() -> Self {
        LinearizabilityOptions {
            model: ModelKind::CasRegister,
            model_options: ModelOptions::default(),
            partition: true,
            deadline: None,
            cancel: None,
            memory_limit: default_memory_limit(),
            explain_core: true,
        }
    }
}

/// Why a history could not be checked at all (bad input: exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// An op or option does not suit the model.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An op's value does not have the shape its checker reads (docs/workload-checkers.md).
    #[error("malformed op at history index {index}: {reason}")]
    Malformed {
        /// History index of the op's invoke event.
        index: u64,
        /// What is wrong with it, naming the op's process and function.
        reason: String,
    },
    /// A transactional history is malformed.
    #[error(transparent)]
    Txn(#[from] crate::checker::txn::TxnError),
}

/// Checks `history` for linearizability against `opts.model`.
///
/// `Ok` ops happened between invoke and completion, `fail` ops never happened (except the
/// etcd model's failed cas), `info` ops (and ops with no completion) may have happened at any
/// time after their invoke, or not at all. Real-time order is by history index.
pub fn check(history: &History, opts: &LinearizabilityOptions) -> Result<CheckResult, CheckError> {
    check_source(Source::Full(history), opts, None)
}

/// [`check`] on a compact history: the same verdict and explanation, without the `Value`s
/// of every op in memory at once (each key's ops become `Op`s only while its search inputs
/// are prepared, and again only for the key that is explained).
pub fn check_compact(
    history: &CompactHistory,
    opts: &LinearizabilityOptions,
) -> Result<CheckResult, CheckError> {
    check_source(Source::Compact(history), opts, None)
}

/// [`check_compact`] of a history read by [`stream::read_jsonl_speculating`], reusing the
/// keys searched while it was read: the same [`CheckResult`] as [`check_compact`] (verdict,
/// cause, the key explained and its anomaly, keys and ops counts), found sooner. A key's
/// outcome is reused only when the key got no op after it was searched and the model and
/// its options are the ones searched with (docs/checking.md, "Checking while reading").
pub fn check_compact_speculated(
    history: &CompactHistory,
    opts: &LinearizabilityOptions,
    speculation: stream::Speculation,
) -> Result<CheckResult, CheckError> {
    let usable = opts.partition
        && speculation.model == Some(opts.model)
        && speculation.model_options == opts.model_options;
    let spec = usable.then(|| speculation.into_reuse(history));
    check_source(Source::Compact(history), opts, spec)
}

/// The history being checked, in either representation.
#[derive(Clone, Copy)]
enum Source<'h> {
    Full(&'h History),
    Compact(&'h CompactHistory),
}

impl<'h> Source<'h> {
    /// Whether any op has a key.
    fn keyed(self) -> bool {
        match self {
            Source::Full(h) => h.ops.iter().any(|o| o.key.is_some()),
            Source::Compact(h) => h.ops.iter().any(|o| !o.key.is_absent()),
        }
    }

    /// Every op, as one group.
    fn whole(self) -> Group<'h> {
        let ops = match self {
            Source::Full(h) => GroupOps::Refs(h.ops.iter().collect()),
            Source::Compact(h) => GroupOps::Compact(h, (0..h.ops.len() as u32).collect()),
        };
        Group { key: None, ops }
    }

    /// Whether the history has real times (else the explanation cites indices only).
    fn clock(self) -> Clock {
        let has_times = match self {
            Source::Full(h) => h
                .ops
                .iter()
                .any(|o| o.invoke_time != 0 || o.complete_time.is_some_and(|t| t != 0)),
            Source::Compact(h) => h
                .ops
                .iter()
                .any(|o| o.invoke_time != 0 || o.complete_time().is_some_and(|t| t != 0)),
        };
        Clock { has_times }
    }

    /// The ops split by key, groups in order of first appearance.
    fn by_key(self) -> Vec<Group<'h>> {
        match self {
            Source::Full(h) => group_by_key(h),
            Source::Compact(h) => group_compact_by_key(h),
        }
    }
}

/// What a streamed read leaves for the final check: the history's key groups (as
/// [`group_compact_by_key`] makes them) and, per group, a speculative outcome to reuse.
pub(super) struct Reuse<'h> {
    groups: Vec<Group<'h>>,
    outcomes: Vec<Option<stream::SpecOutcome>>,
}

fn check_source(
    history: Source<'_>,
    opts: &LinearizabilityOptions,
    spec: Option<Reuse<'_>>,
) -> Result<CheckResult, CheckError> {
    let started = Instant::now();
    let mo = opts.model_options.clone();
    let outcome = match opts.model {
        ModelKind::Register => run_kind(history, opts, spec, move || {
            Ok(RegisterModel::new(RegisterFlavor::Register, &mo))
        }),
        ModelKind::CasRegister => run_kind(history, opts, spec, move || {
            Ok(RegisterModel::new(RegisterFlavor::CasRegister, &mo))
        }),
        ModelKind::Kv => run_kind(history, opts, spec, move || {
            Ok(RegisterModel::new(RegisterFlavor::Kv, &mo))
        }),
        ModelKind::Etcd => run_kind(history, opts, spec, move || {
            Ok(RegisterModel::new(RegisterFlavor::Etcd, &mo))
        }),
        ModelKind::Mutex => run_kind(history, opts, spec, move || Ok(MutexModel::new(&mo))),
        ModelKind::Set => run_kind(history, opts, spec, move || SetModel::new(&mo)),
        ModelKind::FifoQueue => run_kind(history, opts, spec, move || FifoQueueModel::new(&mo)),
        ModelKind::MultiRegister => {
            // Keys live inside the txn values: never split, never wrapped in a map.
            let groups = vec![history.whole()];
            run_groups(
                groups,
                Vec::new(),
                opts,
                &move || MultiRegisterModel::new(&mo),
                history.clock(),
            )
        }
    }?;
    let mut result = outcome;
    result.stats.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(result)
}

/// Where a group's ops are.
enum GroupOps<'h> {
    /// Ops of a [`History`].
    Refs(Vec<&'h Op>),
    /// Positions of ops in a [`CompactHistory`], made into `Op`s when needed.
    Compact(&'h CompactHistory, Vec<u32>),
}

impl GroupOps<'_> {
    /// Number of ops.
    fn len(&self) -> usize {
        match self {
            GroupOps::Refs(ops) => ops.len(),
            GroupOps::Compact(_, at) => at.len(),
        }
    }

    /// Calls `each` with every op, in order, and its position in the group.
    fn for_each<E>(&self, mut each: impl FnMut(usize, &Op) -> Result<(), E>) -> Result<(), E> {
        match self {
            GroupOps::Refs(ops) => ops.iter().enumerate().try_for_each(|(i, op)| each(i, op)),
            GroupOps::Compact(h, at) => at
                .iter()
                .enumerate()
                .try_for_each(|(i, &j)| each(i, &h.op(j as usize))),
        }
    }

    /// The ops as `Op`s: built into `store` for a compact history.
    fn refs<'s>(&'s self, store: &'s mut Vec<Op>) -> Vec<&'s Op> {
        match self {
            GroupOps::Refs(ops) => ops.clone(),
            GroupOps::Compact(h, at) => {
                *store = at.iter().map(|&j| h.op(j as usize)).collect();
                store.iter().collect()
            }
        }
    }
}

/// The ops of one independent sub-history.
struct Group<'h> {
    key: Option<Value>,
    ops: GroupOps<'h>,
}

/// Splits by key (or not) and picks the per-key model or the map-valued one.
fn run_kind<'h, M, F>(
    history: Source<'h>,
    opts: &LinearizabilityOptions,
    spec: Option<Reuse<'h>>,
    make: F,
) -> Result<CheckResult, CheckError>
where
    M: Model + 'static,
    F: Fn() -> Result<M, ModelError> + Send + Sync + Clone + 'static,
{
    // Surface a bad --initial even when the history is empty.
    make()?;
    let keyed = history.keyed();
    if opts.partition || !keyed {
        let (groups, reuse) = match spec {
            Some(r) => (r.groups, r.outcomes),
            None => (history.by_key(), Vec::new()),
        };
        return run_groups(groups, reuse, opts, &make, history.clock());
    }
    let groups = vec![history.whole()];
    let inner = make.clone();
    let make_map = move || -> Result<MapModel<M>, ModelError> {
        let inner = inner.clone();
        // The inner constructor already succeeded once above with the same options.
        Ok(MapModel::new(move || {
            inner().expect("model options were validated before the search")
        }))
    };
    run_groups(groups, Vec::new(), opts, &make_map, history.clock())
}

fn group_by_key(history: &History) -> Vec<Group<'_>> {
    let mut index: crate::checker::hash::FxHashMap<String, usize> = Default::default();
    let mut groups: Vec<(Option<Value>, Vec<&Op>)> = Vec::new();
    for op in &history.ops {
        let text = match &op.key {
            None => String::new(),
            Some(Value::String(s)) => format!("\"{s}"),
            Some(k) => k.to_string(),
        };
        let at = *index.entry(text).or_insert_with(|| {
            groups.push((op.key.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(op);
    }
    groups
        .into_iter()
        .map(|(key, ops)| Group {
            key,
            ops: GroupOps::Refs(ops),
        })
        .collect()
}

/// A compact key as [`group_by_key`] tells keys apart (by their JSON text), without the
/// text for the common keys.
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyText {
    Absent,
    Int(i64),
    Str(u32),
    Text(String),
}

impl KeyText {
    /// The text of `key`, a key of `history`.
    fn of(history: &CompactHistory, key: crate::history::compact::Val) -> KeyText {
        use crate::history::compact::Kind;
        match key.kind() {
            Kind::Absent => KeyText::Absent,
            Kind::Int(n) => KeyText::Int(n),
            Kind::Str(id) => KeyText::Str(id),
            _ => KeyText::Text(history.arena.value(key).to_string()),
        }
    }
}

fn group_compact_by_key(history: &CompactHistory) -> Vec<Group<'_>> {
    let mut index: crate::checker::hash::FxHashMap<KeyText, usize> = Default::default();
    let mut groups: Vec<(Option<Value>, Vec<u32>)> = Vec::new();
    for (i, op) in history.ops.iter().enumerate() {
        let text = KeyText::of(history, op.key);
        let at = *index.entry(text).or_insert_with(|| {
            groups.push((history.arena.optional(op.key), Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(i as u32);
    }
    groups
        .into_iter()
        .map(|(key, at)| Group {
            key,
            ops: GroupOps::Compact(history, at),
        })
        .collect()
}

/// One group, prepared for the search.
struct PreparedGroup<'h, M> {
    key: Option<Value>,
    ops: GroupOps<'h>,
    model: M,
    search_ops: Vec<SearchOp>,
}

fn prepare_group<'h, M: Model>(
    group: Group<'h>,
    mut model: M,
) -> Result<PreparedGroup<'h, M>, ModelError> {
    let mut search_ops = Vec::new();
    group.ops.for_each(|i, op| {
        if let Prepared::Input(input) = model.prepare(op)? {
            let ret = match (op.outcome, op.complete_index) {
                (Outcome::Info, _) | (_, None) => None,
                (_, Some(c)) => Some(c),
            };
            search_ops.push(SearchOp {
                input,
                call: op.invoke_index,
                ret,
                source: i as u32,
            });
        }
        Ok::<(), ModelError>(())
    })?;
    Ok(PreparedGroup {
        key: group.key,
        ops: group.ops,
        model,
        search_ops,
    })
}

/// What one group's search concluded, with its explanation when invalid.
struct GroupOutcome {
    order: usize,
    verdict: Validity,
    undecided: Option<Undecided>,
    anomaly: Option<Anomaly>,
    states: u64,
    memo_bytes: u64,
    ops: u64,
}

fn run_groups<M, F>(
    groups: Vec<Group<'_>>,
    reuse: Vec<Option<stream::SpecOutcome>>,
    opts: &LinearizabilityOptions,
    make: &F,
    clock: Clock,
) -> Result<CheckResult, CheckError>
where
    M: Model,
    F: Fn() -> Result<M, ModelError> + Sync,
{
    let started = Instant::now();
    let keys = groups.len() as u64;
    let peak = AtomicU64::new(0);
    let shared = SharedLimits::new(opts);
    let limits = shared.limits(opts);
    let stop = shared.stop();
    let mut outcomes = Vec::with_capacity(groups.len());
    let mut failed: Vec<Task<M>> = Vec::new();
    // Keys searched while the history was read decide as virtual tasks, in the round their
    // real search would have decided in (stream::SpecOutcome::slot).
    let mut reuse = reuse.into_iter();
    let mut virtuals: Vec<Virtual> = Vec::new();
    let mut failed_virtual: Vec<Virtual> = Vec::new();
    let mut reused_secs = 0.0;
    // Keys stream through in batches: each batch is prepared and searched for a first step
    // budget, and only the keys it leaves undecided stay in memory (a key's search inputs,
    // model tables and memo are most of a check's memory).
    let mut tasks: Vec<Task<M>> = Vec::new();
    let mut groups = groups.into_iter().enumerate().peekable();
    while groups.peek().is_some() {
        let mut batch = Vec::new();
        let mut batch_virtual = Vec::new();
        let mut batch_ops = 0;
        while let Some((i, g)) = groups.next_if(|_| batch_ops < BATCH_OPS) {
            batch_ops += g.ops.len();
            match reuse.next().flatten() {
                Some(out) => {
                    reused_secs += out.secs;
                    batch_virtual.push(Virtual {
                        order: i,
                        group: g,
                        out,
                    });
                }
                None => batch.push((i, g)),
            }
        }
        let mut prepared: Vec<(usize, PreparedGroup<M>)> = batch
            .into_par_iter()
            .map(|(i, g)| Ok((i, prepare_group(g, make()?)?)))
            .collect::<Result<_, ModelError>>()?;
        // Biggest first, so the long searches start while the small ones fill the gaps.
        prepared.sort_by_key(|(i, g)| (std::cmp::Reverse(g.search_ops.len()), *i));
        let mut batch_tasks: Vec<Task<M>> = prepared.into_iter().map(Task::new).collect();
        let stopped = stop.load(Ordering::Relaxed);
        run_round(&mut batch_tasks, &limits, FIRST_BUDGET, &peak);
        batch_virtual = settle_virtual(
            batch_virtual,
            0,
            stopped,
            stop,
            &mut outcomes,
            &mut failed_virtual,
        );
        virtuals.extend(batch_virtual);
        tasks.extend(settle(batch_tasks, &mut outcomes, &mut failed));
    }
    // Run the undecided keys for a larger budget, and so on: a key that fails quickly is
    // found quickly even when others are hard.
    let mut budget = FIRST_BUDGET;
    let mut round = 0;
    while !tasks.is_empty() || !virtuals.is_empty() {
        round += 1;
        if stop.load(Ordering::Relaxed) {
            outcomes.extend(tasks.drain(..).map(|mut t| {
                t.verdict = Some(Verdict::Undecided(Undecided::Stopped));
                finish(t)
            }));
            settle_virtual(
                std::mem::take(&mut virtuals),
                round,
                true,
                stop,
                &mut outcomes,
                &mut failed_virtual,
            );
            break;
        }
        budget = budget.saturating_mul(4);
        run_round(&mut tasks, &limits, budget, &peak);
        virtuals = settle_virtual(
            std::mem::take(&mut virtuals),
            round,
            false,
            stop,
            &mut outcomes,
            &mut failed_virtual,
        );
        tasks = settle(tasks, &mut outcomes, &mut failed);
    }
    // Only the first invalid key (in group order) is explained: the others may have been cut
    // short, and shrinking one key to its core is the costly part of an explanation.
    let mut explain_secs = None;
    let first_real = failed.into_iter().min_by_key(|t| t.order);
    let first_virtual = failed_virtual.into_iter().min_by_key(|v| v.order);
    let search_time = started.elapsed() + Duration::from_secs_f64(reused_secs);
    let first = match (first_real, first_virtual) {
        (Some(t), Some(v)) if v.order < t.order => research(v, make, opts)?,
        (Some(t), _) => Some(t),
        (None, Some(v)) => research(v, make, opts)?,
        (None, None) => None,
    };
    if let Some(first) = first {
        let order = first.order;
        let explain_started = Instant::now();
        let anomaly = explain_invalid(first, make, opts, clock, search_time);
        explain_secs = Some(explain_started.elapsed().as_secs_f64());
        if let Some(o) = outcomes.iter_mut().find(|o| o.order == order) {
            o.anomaly = anomaly;
        }
    }
    let mut result = merge(outcomes, keys, peak.load(Ordering::Relaxed));
    result.stats.explain_secs = explain_secs;
    Ok(result)
}

/// A key whose search ran while the history was read, standing in for its real search.
struct Virtual<'h> {
    order: usize,
    group: Group<'h>,
    out: stream::SpecOutcome,
}

/// Decides the virtual tasks whose real search would decide in round `round` (0: their
/// batch's first round), as `settle` does for real ones, and returns the others. `stopped`:
/// another key was found invalid before this round, so the real search would stop (a key
/// with no op to place still decides at once, as `KeySearch::resume` does). Raises `stop`
/// when one is invalid, as `run_round` does.
fn settle_virtual<'h>(
    tasks: Vec<Virtual<'h>>,
    round: u32,
    stopped: bool,
    stop: &AtomicBool,
    outcomes: &mut Vec<GroupOutcome>,
    failed: &mut Vec<Virtual<'h>>,
) -> Vec<Virtual<'h>> {
    let mut pending = Vec::new();
    for v in tasks {
        match v.out.slot(round, stopped) {
            stream::Slot::Pending => pending.push(v),
            stream::Slot::Stopped { states } => outcomes.push(GroupOutcome {
                order: v.order,
                verdict: Validity::Unknown,
                undecided: Some(Undecided::Stopped),
                anomaly: None,
                states,
                memo_bytes: 0,
                ops: v.out.search_ops,
            }),
            stream::Slot::Decided { valid } => {
                outcomes.push(GroupOutcome {
                    order: v.order,
                    verdict: if valid {
                        Validity::Valid
                    } else {
                        Validity::Invalid
                    },
                    undecided: None,
                    anomaly: None,
                    states: v.out.states,
                    memo_bytes: v.out.memo_bytes,
                    ops: v.out.search_ops,
                });
                if !valid {
                    stop.store(true, Ordering::Relaxed);
                    failed.push(v);
                }
            }
        }
    }
    pending
}

/// The real search of an invalid virtual task, run again to explain it (the search is a
/// function of its ops, so it fails the same way). `None` when a limit stops it first.
fn research<'h, M, F>(
    v: Virtual<'h>,
    make: &F,
    opts: &LinearizabilityOptions,
) -> Result<Option<Task<'h, M>>, CheckError>
where
    M: Model,
    F: Fn() -> Result<M, ModelError> + Sync,
{
    let shared = SharedLimits::new(opts);
    let limits = shared.limits(opts);
    let mut t = Task::new((v.order, prepare_group(v.group, make()?)?));
    t.verdict = t.search.resume(&limits, u64::MAX);
    Ok(matches!(t.verdict, Some(Verdict::NotLinearizable(_))).then_some(t))
}

/// What the searches of one check share: the stop flag, the memo bytes in use, and the
/// process's memory ceiling (`opts.memory_limit`). [`SharedLimits::limits`] lends them out
/// with the options' deadline and cancel flag.
struct SharedLimits {
    stop: AtomicBool,
    memory_used: AtomicU64,
    ceiling: MemoryCeiling,
}

impl SharedLimits {
    fn new(opts: &LinearizabilityOptions) -> SharedLimits {
        SharedLimits {
            stop: AtomicBool::new(false),
            memory_used: AtomicU64::new(0),
            ceiling: MemoryCeiling::new(opts.memory_limit),
        }
    }

    /// The limits of every search of the check.
    fn limits<'a>(&'a self, opts: &'a LinearizabilityOptions) -> Limits<'a> {
        Limits {
            deadline: opts.deadline,
            cancel: opts.cancel.as_deref(),
            stop: &self.stop,
            memory_used: &self.memory_used,
            memory_limit: opts.memory_limit,
            ceiling: &self.ceiling,
        }
    }

    /// The stop flag, raised when a key is found invalid.
    fn stop(&self) -> &AtomicBool {
        &self.stop
    }
}

/// Shrinking gets as long as the search took, within these bounds (and `--timeout`).
const CORE_MIN_TIME: Duration = Duration::from_millis(5);
const CORE_MAX_TIME: Duration = Duration::from_secs(10);

/// The anomaly of an invalid key: its core, the sentence, and the prefix witness.
fn explain_invalid<M, F>(
    t: Task<'_, M>,
    make: &F,
    opts: &LinearizabilityOptions,
    clock: Clock,
    search_time: Duration,
) -> Option<Anomaly>
where
    M: Model,
    F: Fn() -> Result<M, ModelError> + Sync,
{
    let Some(Verdict::NotLinearizable(failure)) = &t.verdict else {
        return None;
    };
    let mut store = Vec::new();
    let ops = t.ops.refs(&mut store);
    // One map: name the key of the op that cannot be linearized (the key proven dead).
    let key = t.key.clone().or_else(|| {
        ops.get(failure.failing as usize)
            .and_then(|o| o.key.clone())
    });
    let mut deadline = Instant::now() + search_time.clamp(CORE_MIN_TIME, CORE_MAX_TIME);
    if let Some(d) = opts.deadline {
        deadline = deadline.min(d);
    }
    let ceiling = MemoryCeiling::new(opts.memory_limit);
    let limits = core::CoreLimits {
        deadline,
        cancel: opts.cancel.as_deref(),
        memory_limit: opts.memory_limit / 4,
        ceiling: &ceiling,
    };
    let core = if !opts.explain_core {
        None
    } else if t.key.is_none() && key.is_some() {
        // One map of every key: shrink the failing key's ops alone (by locality they fail on
        // their own; checked, not assumed).
        let positions: Vec<u32> = (0..ops.len() as u32)
            .filter(|&i| ops[i as usize].key == key)
            .collect();
        let sub_ops: Vec<&Op> = positions.iter().map(|&i| ops[i as usize]).collect();
        let mut back = vec![u32::MAX; ops.len()];
        for (j, &i) in positions.iter().enumerate() {
            back[i as usize] = j as u32;
        }
        let sub_search: Vec<SearchOp> = t
            .search_ops
            .iter()
            .filter(|s| back[s.source as usize] != u32::MAX)
            .map(|s| SearchOp {
                source: back[s.source as usize],
                ..*s
            })
            .collect();
        core::find_core(
            make,
            t.search.model(),
            &sub_ops,
            &sub_search,
            back[failure.failing as usize],
            true,
            &limits,
        )
        .map(|mut c| {
            for i in &mut c.ops {
                *i = positions[*i as usize];
            }
            c
        })
    } else {
        core::find_core(
            make,
            t.search.model(),
            &ops,
            &t.search_ops,
            failure.failing,
            false,
            &limits,
        )
    };
    let told = explain::explain(
        t.search.model(),
        key.clone(),
        &ops,
        &t.search_ops,
        failure,
        clock,
        core.as_ref(),
        &opts.model_options.initial,
    );
    Some(Anomaly {
        kind: "nonlinearizable".to_string(),
        key,
        ops: told.ops,
        explanation: told.sentence,
        witness: Some(Witness::Linearization(Box::new(told.witness))),
    })
}

/// Steps every key gets in the first round of the scheduler.
const FIRST_BUDGET: u64 = 20_000;

/// The step budget of round `round` (0: a batch's first round; each later round gets four
/// times the one before).
fn round_budget(round: u32) -> u64 {
    (0..round).fold(FIRST_BUDGET, |b, _| b.saturating_mul(4))
}

/// Ops of the keys prepared and first searched together (the keys beyond stream in later).
const BATCH_OPS: usize = 1 << 18;

/// Runs every task for `budget` more steps, in parallel, and raises `stop` when one was
/// found invalid. An invalid key does not cut the others' steps short within the round:
/// steps are counted, not timed, so which keys are found invalid (and the first of them,
/// the one explained) does not depend on the machine's timing.
fn run_round<M: Model>(tasks: &mut [Task<'_, M>], limits: &Limits, budget: u64, peak: &AtomicU64) {
    let run = |t: &mut Task<M>| {
        t.verdict = t.search.resume(limits, budget);
    };
    if tasks.len() == 1 {
        tasks.iter_mut().for_each(run);
    } else {
        tasks.par_iter_mut().with_max_len(1).for_each(run);
    }
    peak.fetch_max(
        limits.memory_used.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    if tasks
        .iter()
        .any(|t| matches!(t.verdict, Some(Verdict::NotLinearizable(_))))
    {
        limits.stop.store(true, Ordering::Relaxed);
    }
}

/// Moves the decided tasks' outcomes into `outcomes` (the invalid ones' tasks into
/// `failed`, to be explained) and returns the undecided tasks.
fn settle<'h, M: Model>(
    tasks: Vec<Task<'h, M>>,
    outcomes: &mut Vec<GroupOutcome>,
    failed: &mut Vec<Task<'h, M>>,
) -> Vec<Task<'h, M>> {
    let (done, pending): (Vec<Task<M>>, Vec<Task<M>>) =
        tasks.into_iter().partition(|t| t.verdict.is_some());
    for t in done {
        if matches!(t.verdict, Some(Verdict::NotLinearizable(_))) {
            outcomes.push(GroupOutcome {
                order: t.order,
                verdict: Validity::Invalid,
                undecided: None,
                anomaly: None,
                states: t.search.stats().states,
                memo_bytes: t.search.stats().memo_bytes,
                ops: t.n_ops,
            });
            failed.push(t);
        } else {
            outcomes.push(finish(t));
        }
    }
    pending
}

/// One key being searched.
struct Task<'h, M: Model> {
    order: usize,
    key: Option<Value>,
    ops: GroupOps<'h>,
    search_ops: Vec<SearchOp>,
    search: KeySearch<M>,
    verdict: Option<Verdict>,
    n_ops: u64,
}

impl<'h, M: Model> Task<'h, M> {
    /// The task of group number `order`, its search ready to start.
    fn new((order, g): (usize, PreparedGroup<'h, M>)) -> Self {
        let n_ops = g.search_ops.len() as u64;
        let search = KeySearch::new(g.model, &g.search_ops);
        Task {
            order,
            key: g.key,
            ops: g.ops,
            search_ops: g.search_ops,
            search,
            verdict: None,
            n_ops,
        }
    }
}

fn finish<M: Model>(t: Task<'_, M>) -> GroupOutcome {
    let stats = t.search.stats();
    let mut out = GroupOutcome {
        order: t.order,
        verdict: Validity::Valid,
        undecided: None,
        anomaly: None,
        states: stats.states,
        memo_bytes: stats.memo_bytes,
        ops: t.n_ops,
    };
    if let Some(Verdict::Undecided(u)) = t.verdict {
        out.verdict = Validity::Unknown;
        out.undecided = Some(u);
    }
    out
}

fn merge(mut outcomes: Vec<GroupOutcome>, keys: u64, peak: u64) -> CheckResult {
    outcomes.sort_by_key(|o| o.order);
    let mut stats = CheckStats {
        keys,
        cache_bytes: peak,
        ..Default::default()
    };
    let mut valid = Validity::Valid;
    let mut anomalies = Vec::new();
    let mut cause: Option<Undecided> = None;
    for o in &mut outcomes {
        stats.ops += o.ops;
        stats.states_explored += o.states;
        stats.cache_bytes = stats.cache_bytes.max(o.memo_bytes);
        valid = valid.merge(o.verdict);
        if let Some(a) = o.anomaly.take() {
            anomalies.push(a);
        }
        // A key stopped because another was invalid says nothing; real limits do.
        if let Some(u) = o.undecided.filter(|u| *u != Undecided::Stopped) {
            cause.get_or_insert(u);
        }
    }
    // Only the first invalid key is explained: the others may have been cut short.
    anomalies.truncate(1);
    let cause = match valid {
        Validity::Unknown => Some(
            match cause {
                Some(Undecided::Timeout) => "timeout",
                Some(Undecided::Memory) => "memory limit",
                Some(Undecided::Cancelled) => "cancelled",
                Some(Undecided::Stopped) | None => "stopped",
            }
            .to_string(),
        ),
        _ => None,
    };
    CheckResult {
        checker: "linearizability".to_string(),
        valid,
        cause,
        anomalies,
        stats,
        details: None,
    }
}
