//! Cycles in words: each step of a cycle says which relation holds and why ("T1 appended 3
//! to x, which T2 read"), naming txns by the history index of their invocation, so
//! `T12` is the op invoked at index 12.

use serde::Serialize;
use serde_json::Value;

use super::graph::{rel_name, PROCESS, REALTIME};
use super::search::Cycle;
use super::{Ctx, Inferred};

/// One txn of a cycle, as the explanation and the DOT graph show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleTxn {
    /// History index of the invocation (the `12` of `T12`).
    pub index: u64,
    /// History index of the completion, when it completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
    /// The client process.
    pub process: u64,
    /// `ok` or `info`.
    pub outcome: String,
    /// The txn's micro-ops as completed (as invoked for `info`).
    pub value: Value,
}

/// One step of a cycle: `from` must precede `to` because of `relation`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleStep {
    /// Position of the earlier txn in [`TxnCycle::txns`].
    pub from: usize,
    /// Position of the later txn in [`TxnCycle::txns`].
    pub to: usize,
    /// `ww`, `wr`, `rw`, `process` or `realtime`.
    pub relation: String,
    /// The key the dependency concerns (data relations only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// Why it holds, in words.
    pub why: String,
}

/// A dependency cycle: the evidence behind a G0/G1c/G-single/G-nonadjacent/G2 anomaly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnCycle {
    /// The txns, in cycle order.
    pub txns: Vec<CycleTxn>,
    /// One step per txn: `txns[i]` precedes `txns[(i + 1) % len]`.
    pub steps: Vec<CycleStep>,
}

/// Describes `cycle`: the witness and the explanation text.
pub(crate) fn describe(
    ctx: &Ctx<'_, '_>,
    inf: &Inferred,
    cycle: &Cycle,
    kind: &str,
) -> (TxnCycle, String) {
    let n = cycle.nodes.len();
    let txns: Vec<CycleTxn> = cycle
        .nodes
        .iter()
        .map(|&t| {
            let op = ctx.op(t);
            let ok = ctx.src.outcome(op) == crate::history::Outcome::Ok;
            CycleTxn {
                index: ctx.src.invoke_index(op),
                complete_index: ctx.src.complete_index(op),
                process: ctx.src.process(op),
                outcome: if ok { "ok" } else { "info" }.to_string(),
                value: ctx.src.txn_value(op),
            }
        })
        .collect();
    let mut steps = Vec::with_capacity(n);
    for i in 0..n {
        let (a, b) = (cycle.nodes[i], cycle.nodes[(i + 1) % n]);
        let rel = cycle.rels[i];
        let (key, why) = step_why(ctx, inf, a, b, rel);
        steps.push(CycleStep {
            from: i,
            to: (i + 1) % n,
            relation: rel_name(rel).to_string(),
            key,
            why,
        });
    }
    let mut text =
        format!("a {kind} cycle of {n} txns, so no order of them explains what they saw:");
    for s in &steps {
        text.push_str(&format!(
            "\n  {} -{}-> {}: {}",
            ctx.tname(cycle.nodes[s.from]),
            s.relation,
            ctx.tname(cycle.nodes[s.to]),
            s.why
        ));
    }
    text.push_str(&format!(
        "\n  so {} would have to come before itself.",
        ctx.tname(cycle.nodes[0])
    ));
    (TxnCycle { txns, steps }, text)
}

fn step_why(ctx: &Ctx<'_, '_>, inf: &Inferred, a: u32, b: u32, rel: u8) -> (Option<Value>, String) {
    let (na, nb) = (ctx.tname(a), ctx.tname(b));
    match rel {
        PROCESS => {
            let (oa, ob) = (ctx.op(a), ctx.op(b));
            (
                None,
                format!(
                    "process {} completed {na} (event {}) before it invoked {nb} (event {})",
                    ctx.src.process(oa),
                    ctx.src
                        .complete_index(oa)
                        .map_or_else(|| "?".into(), |c| c.to_string()),
                    ctx.src.invoke_index(ob)
                ),
            )
        }
        REALTIME => {
            let (oa, ob) = (ctx.op(a), ctx.op(b));
            (
                None,
                format!(
                    "{na} completed (event {}) before {nb} was invoked (event {})",
                    ctx.src
                        .complete_index(oa)
                        .map_or_else(|| "?".into(), |c| c.to_string()),
                    ctx.src.invoke_index(ob)
                ),
            )
        }
        _ => {
            let found = match inf {
                Inferred::ListAppend(i) => super::list_append::why(i, ctx, a, b, rel),
                Inferred::RwRegister(_) => super::rw_register::why(ctx, a, b, rel),
            };
            match found {
                Some((k, text)) => (Some(ctx.key(k)), text),
                None => (None, format!("{na} -{}-> {nb}", rel_name(rel))),
            }
        }
    }
}
