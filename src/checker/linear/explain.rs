//! Turning a failed search into something a person can act on: the op that cannot be
//! linearized, the longest linearizable prefix (with the state after each op), the ops
//! concurrent with the failing one, and one sentence saying why.

use super::core::Core;
use super::search::{Failure, SearchOp};
use super::sentence::{self, Pattern};
use crate::checker::model::{Model, StateId};
use crate::history::{Op, Outcome};
use serde::Serialize;
use serde_json::Value;

/// How many prefix steps an explanation keeps (the last ones, nearest the failure).
pub const PREFIX_KEEP: usize = 200;
/// How many concurrent ops an explanation lists.
pub const CONCURRENT_KEEP: usize = 50;

/// One op as shown in an explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpSummary {
    /// History index of the invoke.
    pub index: u64,
    /// History index of the completion, if any.
    pub complete_index: Option<u64>,
    /// The client process.
    pub process: u64,
    /// The function.
    pub f: String,
    /// The value that matters: the result for ok ops, the argument otherwise.
    pub value: Value,
    /// ok / fail / info.
    pub outcome: Outcome,
    /// Invoke time, ns.
    pub invoke_time: u64,
    /// Completion time, ns.
    pub complete_time: Option<u64>,
}

impl OpSummary {
    /// Summarizes `op`.
    pub fn of(op: &Op) -> Self {
        OpSummary {
            index: op.invoke_index,
            complete_index: op.complete_index,
            process: op.process,
            f: op.f.strip_prefix(':').unwrap_or(&op.f).to_string(),
            value: if op.outcome == Outcome::Ok {
                op.value.clone()
            } else {
                op.invoke_value.clone()
            },
            outcome: op.outcome,
            invoke_time: op.invoke_time,
            complete_time: op.complete_time,
        }
    }
}

/// One step of a linearization: the op and the model state right after it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrefixStep {
    /// The op linearized.
    pub op: OpSummary,
    /// The model state after it.
    pub state: String,
}

/// Why a history (or one key of it) is not linearizable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearizationWitness {
    /// The key, when the history was checked key by key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    /// The op that cannot be linearized.
    pub op: OpSummary,
    /// The model state after the longest linearizable prefix (the part the op looks at).
    pub state: String,
    /// How many ops the longest linearizable prefix has.
    pub prefix_len: usize,
    /// How many of its first steps were left out of `prefix` (only the last ones are kept).
    pub prefix_omitted: usize,
    /// The last steps of the longest linearizable prefix, in order.
    pub prefix: Vec<PrefixStep>,
    /// Ops whose intervals overlap the failing op's (by history index).
    pub concurrent: Vec<OpSummary>,
    /// The core: a few ops that, as recorded, cannot be linearized together, with every op
    /// that could have written a value they rely on (so they prove the key invalid by
    /// themselves), in history order. Empty when shrinking could not run.
    pub core: Vec<OpSummary>,
    /// True when no op of the core could be dropped (shrinking finished within its time
    /// bound); false when the core is proven but perhaps not the smallest.
    pub core_minimal: bool,
    /// The shape the core was recognised as (`stale-read`, `never-written`, `lost-write`,
    /// `impossible-cas`, `non-monotonic-reads`, or `general`).
    pub pattern: String,
    /// The sentence from the longest linearizable prefix (the search's point of view).
    pub prefix_sentence: String,
}

/// How times are written in sentences: seconds when the history has times, else event indexes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub has_times: bool,
}

impl Clock {
    pub(crate) fn at(&self, index: u64, time: u64) -> String {
        if self.has_times {
            format!("{:.3} s", time as f64 / 1e9)
        } else {
            format!("event {index}")
        }
    }

    pub(crate) fn span(&self, op: &Op) -> String {
        match (op.complete_index, op.complete_time) {
            (Some(ci), Some(ct)) => format!(
                "invoked {}, completed {}",
                self.at(op.invoke_index, op.invoke_time),
                self.at(ci, ct)
            ),
            _ => format!(
                "invoked {}, never completed",
                self.at(op.invoke_index, op.invoke_time)
            ),
        }
    }
}

/// "process 5's write 4", for the op that last set the state.
fn noun_phrase(op: &Op) -> String {
    let s = OpSummary::of(op);
    if s.value.is_null() {
        format!("process {}'s {}", s.process, s.f)
    } else {
        format!("process {}'s {} {}", s.process, s.f, s.value)
    }
}

/// "process 3 read 2" / "process 1's cas [1,2]".
fn deed(op: &Op) -> String {
    let s = OpSummary::of(op);
    match s.f.as_str() {
        "read" | "get" | "r" => format!("process {} read {}", s.process, s.value),
        "write" | "put" | "w" => format!("process {} wrote {}", s.process, s.value),
        _ if s.value.is_null() => format!("process {}'s {}", s.process, s.f),
        f => format!("process {}'s {} {}", s.process, f, s.value),
    }
}

/// What [`explain`] says about a failed key.
pub(crate) struct Explained {
    pub witness: LinearizationWitness,
    /// The sentence: from the core when there is one, else from the prefix.
    pub sentence: String,
    /// The ops to cite, by invoke index, most relevant first.
    pub ops: Vec<u64>,
}

/// Builds the witness and the one-sentence explanation for a failed search over `ops`
/// (the key's ops, indexed by `SearchOp::source`); `core` (positions in `ops`) when shrinking
/// found one, `initial` the model's initial value.
#[allow(clippy::too_many_arguments)]
pub(crate) fn explain<M: Model>(
    model: &M,
    key: Option<Value>,
    ops: &[&Op],
    search_ops: &[SearchOp],
    failure: &Failure,
    clock: Clock,
    core: Option<&Core>,
    initial: &Value,
) -> Explained {
    let failing = ops[failure.failing as usize];
    let failing_input = search_ops
        .iter()
        .find(|s| s.source == failure.failing)
        .map(|s| s.input);
    let describe = |st: StateId| match failing_input {
        Some(i) => model.describe_state_for(st, i),
        None => model.describe_state(st),
    };
    let prefix_len = failure.prefix.len();
    let omitted = prefix_len.saturating_sub(PREFIX_KEEP);
    let prefix = failure.prefix[omitted..]
        .iter()
        .map(|&(src, st)| PrefixStep {
            op: OpSummary::of(ops[src as usize]),
            state: model.describe_state(st),
        })
        .collect();
    let f_end = failing.complete_index.unwrap_or(u64::MAX);
    let concurrent: Vec<OpSummary> = ops
        .iter()
        .filter(|o| {
            o.invoke_index != failing.invoke_index
                && o.invoke_index < f_end
                && o.complete_index.is_none_or(|c| c > failing.invoke_index)
        })
        .take(CONCURRENT_KEEP)
        .map(|o| OpSummary::of(o))
        .collect();
    let state_text = describe(failure.state);
    // The last op in the prefix that changed the part of the state the failing op looks at.
    let mut writer = None;
    let scan_from = prefix_len.saturating_sub(10_000);
    for i in (scan_from..prefix_len).rev() {
        let before = if i == 0 {
            failure.init
        } else {
            failure.prefix[i - 1].1
        };
        if describe(before) != describe(failure.prefix[i].1) {
            writer = Some(ops[failure.prefix[i].0 as usize]);
            break;
        }
    }
    let held = match writer {
        Some(w) => {
            let when = match (w.complete_index, w.complete_time) {
                (Some(ci), Some(ct)) => format!("completed {}", clock.at(ci, ct)),
                _ => "never completed".to_string(),
            };
            format!(
                "{} holds {state_text}, last set by {} ({when})",
                model.noun(),
                noun_phrase(w)
            )
        }
        None => format!(
            "{} still holds its initial value {state_text}",
            model.noun()
        ),
    };
    let others = concurrent.len();
    let sentence = format!(
        "{} ({}), but no linearization allows that: after the longest linearizable prefix found ({} ops) {}, and no order of the {} ops concurrent with it makes it legal.",
        deed(failing),
        clock.span(failing),
        prefix_len,
        held,
        others
    );
    let mut cited = vec![failing.invoke_index];
    cited.extend(concurrent.iter().map(|o| o.index));
    let (core_ops, core_minimal) = match core {
        Some(c) => (
            c.ops.iter().map(|&i| ops[i as usize]).collect::<Vec<&Op>>(),
            c.minimal,
        ),
        None => (Vec::new(), false),
    };
    let (pattern, text, ops_cited) = if core_ops.is_empty() {
        (Pattern::General, sentence.clone(), cited)
    } else {
        let told = sentence::tell(&core_ops, ops, initial, clock);
        let mut cited = told.cited;
        for o in &core_ops {
            if !cited.contains(&o.invoke_index) {
                cited.push(o.invoke_index);
            }
        }
        (told.pattern, told.sentence, cited)
    };
    let witness = LinearizationWitness {
        key,
        op: OpSummary::of(failing),
        state: state_text,
        prefix_len,
        prefix_omitted: omitted,
        prefix,
        concurrent,
        core: core_ops.iter().map(|o| OpSummary::of(o)).collect(),
        core_minimal,
        pattern: pattern.name().to_string(),
        prefix_sentence: sentence,
    };
    Explained {
        witness,
        sentence: text,
        ops: ops_cited,
    }
}
