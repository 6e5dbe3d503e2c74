//! Transactional isolation checking in the manner of Elle (Kingsbury & Alvaro, VLDB 2020):
//! infer a dependency graph between txns from what they read, then find the cycles (and
//! the direct anomalies) that rule out a consistency model.
//!
//! Two workloads: `list-append` (micro-ops `append` and `r`; a read returns the whole list,
//! which reveals the order of writes) and `rw-register` (`w` and `r`; only the writer of a
//! read is known). DESIGN.md gives the history format; `docs/transactions.md` the method.
//!
//! # Layout (one job per file)
//!
//! - [`parse`](self) micro-ops from history values (`Value`s or compact words), interned keys;
//! - `list_append` / `rw_register`: version orders, dependency edges, non-cycle anomalies;
//! - `graph`: the CSR dependency graph with process and real-time (clock-node) edges;
//! - `search`: trimming, Tarjan components (petgraph), per-class BFS cycle search, budget;
//! - `classify`: cycle classes and names; [`consistency`]: the model lattice;
//! - `explain`: cycles in words; [`dot`]: Graphviz text per cycle.
//!
//! Nothing here does I/O.
//!
//! ```
//! use faultline::checker::txn::{check, TxnOptions, TxnWorkload};
//! use faultline::checker::Validity;
//! use faultline::history::read_jsonl;
//!
//! let text = r#"{"type":"invoke","process":0,"f":"txn","value":[["append","x",1]]}
//! {"type":"ok","process":0,"f":"txn","value":[["append","x",1]]}
//! {"type":"invoke","process":1,"f":"txn","value":[["r","x",null]]}
//! {"type":"ok","process":1,"f":"txn","value":[["r","x",[1]]]}
//! "#;
//! let history = read_jsonl(text.as_bytes(), "example.jsonl").unwrap();
//! let result = check(&history, &TxnOptions::new(TxnWorkload::ListAppend)).unwrap();
//! assert_eq!(result.valid, Validity::Valid);
//! ```

mod classify;
pub mod consistency;
pub mod dot;
mod explain;
mod graph;
mod list_append;
mod parse;
mod rw_register;
mod search;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};

pub use consistency::{boundary, Boundary, ConsistencyModel, UnknownConsistencyModel};
pub use explain::{CycleStep, CycleTxn, TxnCycle};

use crate::checker::{Anomaly, CheckResult, CheckStats, Validity, Witness};
use crate::history::{CompactHistory, History};
use classify::{Spec, Variant};
use parse::{OpView, Status, Txns, WriteKind};
use search::{Fallback, Limits};

/// The default search budget: BFS states per (component, cycle class).
pub const DEFAULT_SEARCH_BUDGET: u64 = 5_000_000;

/// At most this many anomalies of one kind are kept in a result (all are counted).
pub const MAX_PER_KIND: usize = 100;

/// Which kind of transactional history this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnWorkload {
    /// Append-only lists: `append` and `r` micro-ops.
    ListAppend,
    /// Read-write registers: `w` and `r` micro-ops.
    RwRegister,
}

impl TxnWorkload {
    /// The model name (`list-append`, `rw-register`).
    pub fn name(self) -> &'static str {
        match self {
            TxnWorkload::ListAppend => "list-append",
            TxnWorkload::RwRegister => "rw-register",
        }
    }
}

/// How to check a transactional history.
#[derive(Debug, Clone)]
pub struct TxnOptions {
    /// list-append or rw-register.
    pub workload: TxnWorkload,
    /// The model to check against (`--consistency-model`).
    pub consistency_model: ConsistencyModel,
    /// BFS states per (component, cycle class) before that search gives up with a
    /// `cycle-search-timeout` anomaly.
    pub search_budget: u64,
    /// Give up (unknown, unless already invalid) after this instant.
    pub deadline: Option<Instant>,
    /// Give up when this becomes true.
    pub cancel: Option<Arc<AtomicBool>>,
}

impl TxnOptions {
    /// Defaults: strict serializability, the default budget, no deadline.
    pub fn new(workload: TxnWorkload) -> TxnOptions {
        TxnOptions {
            workload,
            consistency_model: ConsistencyModel::default(),
            search_budget: DEFAULT_SEARCH_BUDGET,
            deadline: None,
            cancel: None,
        }
    }
}

/// Why a history cannot be checked as transactions (bad input: exit code 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    /// An op is not a well-formed txn.
    #[error("op {index} (process {process}): {reason}")]
    BadOp {
        /// History index of its invocation.
        index: u64,
        /// Its process.
        process: u64,
        /// What is wrong.
        reason: String,
    },
    /// The same value is written twice to one key, so reads cannot name their writer.
    #[error("key {key}: value {value} is written by op {first} and again by op {second}; the checker needs every value written at most once per key")]
    DuplicateWrite {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// Index of the first writer.
        first: u64,
        /// Index of the second writer.
        second: u64,
    },
}

/// A non-cycle anomaly as inference builds it.
pub(crate) type Found = Anomaly;

/// What checkers share while working on one history.
pub(crate) struct Ctx<'a, 'b> {
    /// The history's ops (facts, and values for messages).
    pub src: &'a dyn OpView,
    /// Its txns.
    pub txns: &'b Txns<'a>,
}

impl Ctx<'_, '_> {
    /// The history's op index of txn `t`.
    pub(crate) fn op(&self, t: u32) -> u32 {
        self.txns.txns[t as usize].op
    }

    /// History index of txn `t`'s invocation.
    pub(crate) fn index(&self, t: u32) -> u64 {
        self.src.invoke_index(self.op(t))
    }

    /// `T<index>`.
    pub(crate) fn tname(&self, t: u32) -> String {
        format!("T{}", self.index(t))
    }

    /// `T<index> (process p)`.
    pub(crate) fn name(&self, t: u32) -> String {
        format!(
            "T{} (process {})",
            self.index(t),
            self.src.process(self.op(t))
        )
    }

    /// Key `k` as written (materialized from the history).
    pub(crate) fn key(&self, k: u32) -> Value {
        self.part(&self.txns.mops[self.txns.keys[k as usize] as usize], 1)
    }

    /// Part `part` (0 function, 1 key, 2 value) of micro-op `m`, as written.
    fn part(&self, m: &parse::Mop, part: usize) -> Value {
        self.src.mop_part(self.op(m.txn), m.pos, part)
    }

    /// The value of micro-op `m` as written (the element appended, the value read, ...).
    pub(crate) fn value(&self, m: &parse::Mop) -> Value {
        self.part(m, 2)
    }

    /// Element `i` of what list-append read `m` saw.
    pub(crate) fn elem(&self, m: &parse::Mop, i: usize) -> Value {
        match self.value(m) {
            Value::Array(mut a) if i < a.len() => a.swap_remove(i),
            _ => Value::Null,
        }
    }

    /// A non-cycle anomaly about txns `ts` (most relevant first).
    pub(crate) fn found(
        &self,
        kind: &str,
        key: Option<u32>,
        ts: Vec<u32>,
        explanation: String,
    ) -> Found {
        Anomaly {
            kind: kind.to_string(),
            key: key.map(|k| self.key(k)),
            ops: ts.iter().map(|&t| self.index(t)).collect(),
            explanation,
            witness: None,
        }
    }
}

/// Runs `check` (a within-txn check: internal consistency, future reads) on every committed
/// txn, in parallel runs of txns, and returns what it found in txn order.
pub(crate) fn within_txns(
    ctx: &Ctx<'_, '_>,
    check: fn(&Ctx<'_, '_>, u32, &mut Vec<Found>),
) -> Vec<Found> {
    use rayon::prelude::*;
    const RUN: u32 = 8192;
    let n = ctx.txns.txns.len() as u32;
    let runs: Vec<Vec<Found>> = (0..n.div_ceil(RUN))
        .into_par_iter()
        .map(|r| {
            let mut found = Vec::new();
            for t in r * RUN..((r + 1) * RUN).min(n) {
                if ctx.txns.txns[t as usize].status == parse::Status::Ok {
                    check(ctx, t, &mut found);
                }
            }
            found
        })
        .collect();
    runs.into_iter().flatten().collect()
}

/// Keys per batch of per-key inference: a batch's results are merged (and freed) before the
/// next batch runs, so the per-key results of a big history never all wait at once.
const KEY_BATCH: u32 = 1 << 14;

/// Runs `infer` on every key (in parallel within batches of keys, with per-thread scratch
/// from `init`) and hands each key's result to `take` in key order; the first error stops.
pub(crate) fn for_each_key<S, T: Send>(
    keys: u32,
    init: impl Fn() -> S + Sync + Send,
    infer: impl Fn(&mut S, u32) -> T + Sync + Send,
    mut take: impl FnMut(T) -> Result<(), TxnError>,
) -> Result<(), TxnError> {
    use rayon::prelude::*;
    let mut start = 0;
    while start < keys {
        let end = keys.min(start.saturating_add(KEY_BATCH));
        let batch: Vec<T> = (start..end)
            .into_par_iter()
            .map_init(&init, |s, k| infer(s, k))
            .collect();
        for r in batch {
            take(r)?;
        }
        start = end;
    }
    Ok(())
}

/// Room to reserve for the graph's edges (packed, 8 bytes each): about what inference
/// emits (two per micro-op) plus the process and real-time edges (at most four per txn), so
/// the list is not doubled and copied at its largest.
pub(crate) fn edge_room(txns: &Txns<'_>) -> usize {
    2 * txns.mops.len() + 4 * txns.txns.len()
}

/// The workload-specific inference, kept for explanations.
pub(crate) enum Inferred {
    ListAppend(list_append::Inference),
    RwRegister(rw_register::Inference),
}

/// Checks a transactional history against `opts.consistency_model`.
///
/// The result lists every anomaly found (at most [`MAX_PER_KIND`] per kind), and in
/// `details`: the model checked, the anomaly types, their counts, and `not` / `also-not`
/// (the weakest models the anomalies rule out, and the stronger ones that fall with them).
/// It is invalid when an anomaly the model prohibits was found, unknown when a search ran
/// out of budget or time without that, else valid.
pub fn check(history: &History, opts: &TxnOptions) -> Result<CheckResult, TxnError> {
    check_source(&parse::HistorySource(history), opts)
}

/// [`check`] on a compact history: micro-ops are read from its arena (list-append reads in
/// place), and only the values an anomaly cites are turned into `Value`s.
pub fn check_compact(history: &CompactHistory, opts: &TxnOptions) -> Result<CheckResult, TxnError> {
    check_source(&parse::CompactSource(history), opts)
}

/// [`check`] over either kind of history.
fn check_source<S>(src: &S, opts: &TxnOptions) -> Result<CheckResult, TxnError>
where
    S: parse::Source,
    S::Key: Clone,
{
    let started = Instant::now();
    let writes = match opts.workload {
        TxnWorkload::ListAppend => WriteKind::Append,
        TxnWorkload::RwRegister => WriteKind::Write,
    };
    let txns = parse::parse(src, writes)?;
    let t_parse = started.elapsed().as_secs_f64();
    let ctx = Ctx { src, txns: &txns };
    let mut inferred = match opts.workload {
        TxnWorkload::ListAppend => Inferred::ListAppend(list_append::infer(&ctx)?),
        TxnWorkload::RwRegister => Inferred::RwRegister(rw_register::infer(&ctx)?),
    };
    let t_infer = started.elapsed().as_secs_f64();
    let (edges, mut anomalies) = match &mut inferred {
        Inferred::ListAppend(i) => (std::mem::take(&mut i.edges), std::mem::take(&mut i.found)),
        Inferred::RwRegister(i) => (std::mem::take(&mut i.edges), std::mem::take(&mut i.found)),
    };

    let model = opts.consistency_model;
    let prohibited = model.prohibited();
    let specs: Vec<Spec> = Spec::all()
        .into_iter()
        .filter(|s| prohibited.contains(&s.name()))
        .collect();
    let mut edges = edges;
    if specs.iter().any(|s| s.variant != Variant::Plain) {
        graph::process_edges(&txns, src, &mut edges);
    }
    let mut clock_txn = Vec::new();
    let clocks = if specs.iter().any(|s| s.variant == Variant::Realtime) {
        graph::realtime_edges(&txns, src, &mut edges, &mut clock_txn)
    } else {
        0
    };
    let n = txns.txns.len() as u32;
    let g = graph::build_packed(n, n + clocks, edges);
    let t_graph = started.elapsed().as_secs_f64();
    let mask = specs.iter().fold(0u8, |m, s| m | s.allowed());
    let comps = search::components(&g, mask);
    let limits = Limits {
        budget: opts.search_budget,
        deadline: opts.deadline,
        cancel: opts.cancel.as_deref(),
    };
    let results = search::search(&g, &comps, &specs, model, &limits);
    let t_search = started.elapsed().as_secs_f64();

    let mut interrupted = false;
    for (ci, r) in results.iter().enumerate() {
        interrupted |= r.interrupted;
        for c in &r.cycles {
            let kind = classify::cycle_name(&c.rels);
            let (witness, text) = explain::describe(&ctx, &inferred, c, &kind);
            anomalies.push(Anomaly {
                kind,
                key: None,
                ops: c.nodes.iter().map(|&t| ctx.index(t)).collect(),
                explanation: text,
                witness: Some(Witness::Cycle(witness)),
            });
        }
        let txn_count = comps[ci].iter().filter(|&&x| x < n).count();
        match r.fallback {
            Fallback::Absent => {}
            Fallback::Exists => anomalies.push(Anomaly {
                kind: consistency::cycle_exists(model),
                key: None,
                ops: comps[ci].iter().filter(|&&x| x < n).take(20).map(|&t| ctx.index(t)).collect(),
                explanation: format!(
                    "a strongly connected component of {txn_count} txns contains a cycle that {model} forbids; the search for a named cycle ran out of budget, so only its existence is shown"
                ),
                witness: None,
            }),
            Fallback::NotNeeded | Fallback::Undecided => {}
        }
        if r.fallback != Fallback::Absent {
            for spec in &r.timeouts {
                anomalies.push(Anomaly {
                    kind: "cycle-search-timeout".to_string(),
                    key: None,
                    ops: comps[ci].iter().filter(|&&x| x < n).take(20).map(|&t| ctx.index(t)).collect(),
                    explanation: format!(
                        "the search for a {} cycle in a strongly connected component of {txn_count} txns ran out of {}; such a cycle may exist",
                        spec.name(),
                        if r.interrupted { "time" } else { "budget (raise the search budget)" }
                    ),
                    witness: None,
                });
            }
        }
    }
    let committed = txns.txns.iter().filter(|t| t.status == Status::Ok).count();
    if committed == 0 {
        anomalies.push(Anomaly {
            kind: "empty-transaction-graph".to_string(),
            key: None,
            ops: Vec::new(),
            explanation: "no txn committed, so there is nothing to infer an order from".to_string(),
            witness: None,
        });
    }

    // Count, cap and judge.
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    anomalies.retain(|a| {
        let c = counts.entry(a.kind.clone()).or_insert(0);
        *c += 1;
        *c as usize <= MAX_PER_KIND
    });
    let kinds: Vec<&String> = counts.keys().collect();
    let bad = kinds.iter().any(|k| prohibited.contains(k.as_str()));
    let undecided = interrupted
        || kinds
            .iter()
            .any(|k| consistency::UNKNOWN_ANOMALIES.contains(&k.as_str()));
    let valid = if bad {
        Validity::Invalid
    } else if undecided {
        Validity::Unknown
    } else {
        Validity::Valid
    };
    let b = boundary(&kinds);
    let count = |s: Status| txns.txns.iter().filter(|t| t.status == s).count();
    let details = json!({
        "consistency-model": model.name(),
        "anomaly-types": kinds,
        "anomaly-counts": counts,
        "not": b.not.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "also-not": b.also_not.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "txns": {"ok": committed, "info": count(Status::Info), "fail": count(Status::Fail)},
        "phase-secs": {
            "parse": t_parse,
            "infer": t_infer - t_parse,
            "graph": t_graph - t_infer,
            "search": t_search - t_graph,
        },
        "graph": {
            "nodes": g.nodes(),
            "edges": g.edges(),
            "components": comps.len(),
            "largest-component": comps.iter().map(Vec::len).max().unwrap_or(0),
        },
    });
    let cause = match valid {
        Validity::Unknown if interrupted => Some(
            if opts
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            {
                "cancelled"
            } else {
                "timeout"
            }
            .to_string(),
        ),
        Validity::Unknown => Some(
            kinds
                .iter()
                .find(|k| consistency::UNKNOWN_ANOMALIES.contains(&k.as_str()))
                .map_or("unknown", |k| k.as_str())
                .to_string(),
        ),
        _ => None,
    };
    Ok(CheckResult {
        checker: opts.workload.name().to_string(),
        valid,
        cause,
        anomalies,
        stats: CheckStats {
            ops: txns.txns.len() as u64,
            keys: txns.keys.len() as u64,
            states_explored: 0,
            cache_bytes: 0,
            elapsed_secs: started.elapsed().as_secs_f64(),
            // The cycles found are the verdict: there is no separate explanation step.
            explain_secs: None,
        },
        details: Some(details),
    })
}

/// The `details` value's field `name` as a list of strings (for `not`, `also-not`,
/// `anomaly-types`); empty when absent.
pub fn detail_list(result: &CheckResult, name: &str) -> Vec<String> {
    result
        .details
        .as_ref()
        .and_then(|d| d.get(name))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
