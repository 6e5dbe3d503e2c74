//! What the report reads of a history, so it renders from a [`History`] of `Value`s and from
//! a [`CompactHistory`] alike, without turning one into the other (issue 20: a big check
//! with `--report` must not hold the history twice).
//!
//! The plots, availability and the timeline's lanes and blocks walk every op, but read only
//! its fixed-size facts ([`OpFacts`]) and its function name; a whole [`Op`], values and all,
//! is built only for the ops the timeline draws one by one ([`HistoryView::op_full`]). Pure.

use std::borrow::Cow;

use crate::history::compact::{CompactHistory, CompactOp};
use crate::history::{Event, History, Op, Outcome};

/// The fixed-size part of one client op: what plots, lanes and availability need, cheap to
/// read for every op of a big history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpFacts {
    /// The client process.
    pub process: u64,
    /// History index of the invoke.
    pub invoke_index: u64,
    /// History index of the completion, when there is one.
    pub complete_index: Option<u64>,
    /// Time of the invoke, ns.
    pub invoke_time: u64,
    /// Time of the completion, ns, when there is one.
    pub complete_time: Option<u64>,
    /// ok / fail / info.
    pub outcome: Outcome,
}

/// A history as the report reads it: ops by position (in invoke order, as both histories
/// keep them) and the nemesis events.
pub trait HistoryView {
    /// Number of client ops.
    fn op_count(&self) -> usize;
    /// The fixed-size facts of op `i`.
    fn op_facts(&self, i: usize) -> OpFacts;
    /// The function of op `i`, as recorded.
    fn op_f(&self, i: usize) -> &str;
    /// Op `i` whole (built on demand from a compact history): only for the few ops a page
    /// shows in detail.
    fn op_full(&self, i: usize) -> Cow<'_, Op>;
    /// Nemesis events, in history order.
    fn nemesis_events(&self) -> &[Event];

    /// The position of the op whose invoke has history index `invoke_index`.
    fn position_of_invoke(&self, invoke_index: u64) -> Option<usize> {
        let n = self.op_count();
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.op_facts(mid).invoke_index < invoke_index {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < n && self.op_facts(lo).invoke_index == invoke_index).then_some(lo)
    }
}

impl HistoryView for History {
    fn op_count(&self) -> usize {
        self.ops.len()
    }

    fn op_facts(&self, i: usize) -> OpFacts {
        let o = &self.ops[i];
        OpFacts {
            process: o.process,
            invoke_index: o.invoke_index,
            complete_index: o.complete_index,
            invoke_time: o.invoke_time,
            complete_time: o.complete_time,
            outcome: o.outcome,
        }
    }

    fn op_f(&self, i: usize) -> &str {
        &self.ops[i].f
    }

    fn op_full(&self, i: usize) -> Cow<'_, Op> {
        Cow::Borrowed(&self.ops[i])
    }

    fn nemesis_events(&self) -> &[Event] {
        &self.nemesis
    }
}

impl HistoryView for CompactHistory {
    fn op_count(&self) -> usize {
        self.ops.len()
    }

    fn op_facts(&self, i: usize) -> OpFacts {
        let o: &CompactOp = &self.ops[i];
        OpFacts {
            process: o.process,
            invoke_index: o.invoke_index,
            complete_index: o.complete_index(),
            invoke_time: o.invoke_time,
            complete_time: o.complete_time(),
            outcome: o.outcome,
        }
    }

    fn op_f(&self, i: usize) -> &str {
        CompactHistory::f(self, i)
    }

    fn op_full(&self, i: usize) -> Cow<'_, Op> {
        Cow::Owned(CompactHistory::op(self, i))
    }

    fn nemesis_events(&self) -> &[Event] {
        &self.nemesis
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{EventType, Process};
    use crate::report::html::{render, ReportOptions};
    use crate::report::timeline::TimelineOptions;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde_json::{json, Value};

    fn history() -> History {
        let ops = (0..5u64)
            .map(|i| Op {
                process: i % 2,
                f: if i == 2 { "cas".into() } else { "write".into() },
                key: (i == 1).then(|| json!("k")),
                invoke_value: json!([i, "x"]),
                value: json!(i),
                outcome: if i == 4 { Outcome::Info } else { Outcome::Ok },
                invoke_index: 2 * i + 1,
                complete_index: (i != 4).then_some(2 * i + 2),
                invoke_time: 10 * i,
                complete_time: (i != 4).then_some(10 * i + 5),
                error: (i == 3).then(|| json!({"e": 1.5})),
                node: (i == 0).then(|| "n1".into()),
            })
            .collect();
        History {
            ops,
            nemesis: Vec::new(),
            event_count: 10,
        }
    }

    #[test]
    fn both_histories_read_the_same_through_the_view() {
        let h = history();
        let c = CompactHistory::from_history(&h);
        let (a, b): (&dyn HistoryView, &dyn HistoryView) = (&h, &c);
        assert_eq!(a.op_count(), b.op_count());
        for i in 0..a.op_count() {
            assert_eq!(a.op_facts(i), b.op_facts(i));
            assert_eq!(a.op_f(i), b.op_f(i));
            assert_eq!(a.op_full(i), b.op_full(i));
        }
        assert_eq!(b.op_facts(4).complete_time, None);
    }

    #[test]
    fn an_invoke_index_finds_its_op() {
        let h = history();
        for (i, op) in h.ops.iter().enumerate() {
            assert_eq!(h.position_of_invoke(op.invoke_index), Some(i));
        }
        for missing in [0, 2, 4, 100] {
            assert_eq!(h.position_of_invoke(missing), None, "{missing}");
        }
        assert_eq!(History::default().position_of_invoke(0), None);
    }

    /// A random JSON value of every kind the arena stores differently: inline and big
    /// integers, floats, strings (some with markup), nested arrays, objects.
    fn random_value(rng: &mut ChaCha8Rng, depth: u32) -> Value {
        match rng.random_range(0..10u32) {
            0 => Value::Null,
            1 => json!(rng.random_bool(0.5)),
            2 => json!(rng.random_range(-5..5i64)),
            3 => json!(u64::MAX - rng.random_range(0..3u64)),
            4 => json!(rng.random_range(0..100u32) as f64 / 8.0),
            5 => json!(["a", "<b>", "\"q\"", "é"][rng.random_range(0..4usize)]),
            6 | 7 if depth < 3 => Value::Array(
                (0..rng.random_range(0..4u32))
                    .map(|_| random_value(rng, depth + 1))
                    .collect(),
            ),
            8 if depth < 3 => json!({"k": random_value(rng, depth + 1), "n": 1}),
            _ => json!(rng.random_range(0..1_000i64)),
        }
    }

    /// A random history: overlapping processes (some continuing under a new id), ok / fail /
    /// info ops, ops that never complete, keys, errors, nodes, and nemesis events.
    pub(crate) fn random_history(seed: u64, n: usize) -> History {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut ops = Vec::with_capacity(n);
        let mut nemesis = Vec::new();
        let mut index = 0u64;
        let mut t = 0u64;
        let fs = ["read", "write", "cas", ":txn", "<f>"];
        for i in 0..n {
            t += rng.random_range(1_000..2_000_000u64);
            if rng.random_bool(0.03) {
                let f = [
                    "start-partition",
                    "stop-partition",
                    "kill",
                    "start",
                    "pause",
                ][rng.random_range(0..5usize)];
                nemesis.push(Event {
                    index,
                    time: t,
                    process: Process::Nemesis,
                    kind: EventType::Info,
                    f: f.into(),
                    key: None,
                    value: random_value(&mut rng, 1),
                    node: None,
                    error: None,
                });
                index += 1;
            }
            let completed = i + 3 < n || rng.random_bool(0.5);
            let outcome = match rng.random_range(0..10u32) {
                0 => Outcome::Fail,
                1 => Outcome::Info,
                _ if !completed => Outcome::Info,
                _ => Outcome::Ok,
            };
            let outcome = if completed { outcome } else { Outcome::Info };
            let invoke_value = random_value(&mut rng, 0);
            let value = if !completed || rng.random_bool(0.3) {
                invoke_value.clone()
            } else {
                random_value(&mut rng, 0)
            };
            let latency = rng.random_range(1_000..50_000_000u64);
            ops.push(Op {
                process: rng.random_range(0..6u64) + 10 * (i as u64 / 97),
                f: fs[rng.random_range(0..fs.len())].into(),
                key: rng.random_bool(0.5).then(|| random_value(&mut rng, 2)),
                invoke_value,
                value,
                outcome,
                invoke_index: index,
                complete_index: completed.then_some(index + 1),
                invoke_time: t,
                complete_time: completed.then_some(t + latency),
                error: (outcome != Outcome::Ok && rng.random_bool(0.7))
                    .then(|| random_value(&mut rng, 1)),
                node: rng
                    .random_bool(0.6)
                    .then(|| format!("n{}", rng.random_range(1..4u32))),
            });
            index += 2;
        }
        History {
            event_count: index,
            ops,
            nemesis,
        }
    }

    #[test]
    fn the_page_from_the_compact_form_is_byte_identical() {
        let results = json!({"checkers": [{"checker": "linearizability", "valid": false,
            "anomalies": [{"kind": "nonlinearizable", "ops": [0, 40, 400, 4001],
                           "explanation": "x"}]}]});
        let facts = crate::report::data::facts_from_json(None, &results);
        let small = ReportOptions {
            timeline: TimelineOptions {
                max_ops: 60,
                max_value_chars: 12,
            },
            ..ReportOptions::default()
        };
        for (seed, n) in [(1, 0), (2, 1), (3, 40), (4, 300), (5, 3_000)] {
            let h = random_history(seed, n);
            let c = CompactHistory::from_history(&h);
            for opts in [ReportOptions::default(), small] {
                let full = render(&facts, &h, &["history.jsonl".into()], &opts);
                let compact = render(&facts, &c, &["history.jsonl".into()], &opts);
                assert!(full == compact, "seed {seed}, {n} ops: the pages differ");
            }
        }
    }
}
