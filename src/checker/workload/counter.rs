//! The counter checker: a counter starts at 0 and changes by `add`s (a negative one
//! subtracts, as Maelstrom's pn-counter), so each read must lie between what was certainly
//! added before the read began and what may have been added before it ended.
//!
//! Ops (docs/workload-checkers.md): `add` with an integer value, `read` whose ok value is the
//! integer read (`null` reads as 0: never written). Keys, when present, are independent
//! counters.
//!
//! For each ok read: the *lower bound* is the sum of positive adds whose `ok` completion comes
//! before the read's invoke in the history, plus every negative add invoked before the
//! read's completion that did not fail; the *upper bound* is the sum of positive adds invoked
//! before the read's completion that did not fail (ok, info, or never completed), plus the
//! negative adds acknowledged before the read's invoke. With positive adds only, that is:
//! acknowledged before the read began ≤ read ≤ attempted before it ended. An `info` add may or
//! may not have happened, at any time after its invoke, so it only ever widens the upper
//! bound; a `fail` add never happened and counts in neither. A read outside its bounds is an
//! anomaly: `counter-too-low` (it misses acknowledged increments) or `counter-too-high` (it
//! counts increments nobody attempted yet). One sweep over the ops in history order after a
//! sort of the completions.
//!
//! A counter that does not promise linearizability ([`CounterOptions::linearizable`]
//! `false`: Maelstrom's g-counter and pn-counter, replicated by gossip) may read low while
//! increments spread: until the adds and the faults are over it may miss any add, so it is
//! held only to the sum of the negative adds attempted (below) and of the positive ones
//! attempted (above); a read invoked after every add's last event and every nemesis event
//! (in a test, the final reads: after the final heal and the recovery wait) is held to both
//! bounds, so it must count every acknowledged add.

use std::time::Instant;

use serde_json::{json, Value};

use super::{as_int, f_name, group_by_key, malformed, unexpected_f, KeyGroup, LIST_KEEP};
use crate::checker::{Anomaly, CheckError, CheckResult, CheckStats, Validity};
use crate::history::{History, Op, Outcome};

/// The checker's name in results.
pub const CHECKER: &str = "counter";

/// A read with its bounds.
struct Bounded<'h> {
    op: &'h Op,
    lower: i128,
    value: i128,
    upper: i128,
    /// The bounds of a read that may miss any add: the negative adds attempted before it
    /// ended, and the positive ones.
    loose: (i128, i128),
}

/// What moves a bound, at a history index.
#[derive(Clone, Copy)]
enum Step {
    /// An add that did not fail was invoked: it may count from now on.
    Attempt(i128),
    /// An add completed ok: it counts from now on.
    Ack(i128),
    /// A read began: it takes the lower bound now.
    ReadStart(u32),
    /// A read ended: it takes the upper bound now.
    ReadEnd(u32),
}

/// What the counter promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterOptions {
    /// Every read is held to both bounds (default). `false`: an eventually consistent
    /// counter, whose reads must reach the lower bound only once the adds are over.
    pub linearizable: bool,
}

impl Default for CounterOptions {
    fn default() -> CounterOptions {
        CounterOptions { linearizable: true }
    }
}

/// Checks a counter history (see the module doc).
pub fn check(history: &History, opts: &CounterOptions) -> Result<CheckResult, CheckError> {
    let started = Instant::now();
    let groups = group_by_key(&history.ops);
    let mut reads = Vec::new();
    for group in &groups {
        bound_key(group, &mut reads)?;
    }
    if !opts.linearizable {
        // Adds may still be spreading: only reads after the last add's last event and the
        // last nemesis event (the final heal) owe the lower bound.
        let last_add = history
            .ops
            .iter()
            .filter(|op| f_name(op) == "add")
            .map(|op| op.complete_index.unwrap_or(op.invoke_index));
        let last_fault = history.nemesis.iter().map(|e| e.index);
        let quiet_from = last_add.chain(last_fault).max().unwrap_or(0);
        for r in &mut reads {
            if r.op.invoke_index < quiet_from {
                (r.lower, r.upper) = r.loose;
            }
        }
    }
    let mut anomalies = Vec::new();
    let mut errors = Vec::new();
    let mut worst: Option<&Bounded<'_>> = None;
    for r in &reads {
        let error = if r.value < r.lower {
            r.lower - r.value
        } else if r.value > r.upper {
            r.value - r.upper
        } else {
            continue;
        };
        if worst.is_none_or(|w| error > distance(w)) {
            worst = Some(r);
        }
        if errors.len() < LIST_KEEP {
            errors.push(bounds_json(r));
        }
        anomalies.push(anomaly(r));
    }
    let valid = if anomalies.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let mut details = json!({
        "read_count": reads.len(),
        "out_of_bounds_count": anomalies.len(),
        "errors": errors,
    });
    if let Some(w) = worst {
        let mut v = bounds_json(w);
        v["error"] = json!(distance(w));
        details["max_absolute_error"] = v;
    }
    Ok(CheckResult {
        checker: CHECKER.to_string(),
        valid,
        cause: None,
        anomalies,
        stats: CheckStats {
            ops: history.ops.len() as u64,
            keys: groups.len() as u64,
            elapsed_secs: started.elapsed().as_secs_f64(),
            ..CheckStats::default()
        },
        details: Some(details),
    })
}

/// How far outside its bounds a read is (0 inside).
fn distance(r: &Bounded<'_>) -> i128 {
    (r.lower - r.value).max(r.value - r.upper).max(0)
}

fn bounds_json(r: &Bounded<'_>) -> Value {
    let mut v = json!({
        "op": r.op.invoke_index,
        "lower": r.lower,
        "value": r.value,
        "upper": r.upper,
    });
    if let Some(k) = &r.op.key {
        v["key"] = k.clone();
    }
    v
}

fn anomaly(r: &Bounded<'_>) -> Anomaly {
    let (kind, why) = if r.value < r.lower {
        (
            "counter-too-low",
            format!(
                "increments totalling {} were acknowledged before it began",
                r.lower
            ),
        )
    } else {
        (
            "counter-too-high",
            format!(
                "increments invoked before it ended (ok or info) total only {}",
                r.upper
            ),
        )
    };
    Anomaly {
        kind: kind.to_string(),
        key: r.op.key.clone(),
        ops: vec![r.op.invoke_index],
        explanation: format!(
            "read #{} returned {}, but {why}: it must lie between {} and {}",
            r.op.invoke_index, r.value, r.lower, r.upper
        ),
        witness: None,
    }
}

/// One key: the bounds of each of its ok reads.
fn bound_key<'h>(group: &'h KeyGroup<'h>, out: &mut Vec<Bounded<'h>>) -> Result<(), CheckError> {
    let mut steps: Vec<(u64, Step)> = Vec::with_capacity(group.ops.len() * 2);
    let first = out.len();
    for op in &group.ops {
        match f_name(op) {
            "add" => {
                let n = match as_int(&op.invoke_value) {
                    Some(n) => n,
                    _ => {
                        return Err(malformed(
                            op,
                            format!("an add's value must be an integer, got {}", op.invoke_value),
                        ))
                    }
                };
                if op.outcome == Outcome::Fail {
                    continue;
                }
                steps.push((op.invoke_index, Step::Attempt(n)));
                if let (Outcome::Ok, Some(c)) = (op.outcome, op.complete_index) {
                    steps.push((c, Step::Ack(n)));
                }
            }
            "read" => {
                if op.outcome != Outcome::Ok {
                    continue;
                }
                let value = match &op.value {
                    Value::Null => 0,
                    v => as_int(v).ok_or_else(|| {
                        malformed(
                            op,
                            format!("an ok read's value must be an integer, got {v}"),
                        )
                    })?,
                };
                let slot = (out.len() - first) as u32;
                steps.push((op.invoke_index, Step::ReadStart(slot)));
                // An ok op always has its completion.
                steps.push((
                    op.complete_index.unwrap_or(op.invoke_index),
                    Step::ReadEnd(slot),
                ));
                out.push(Bounded {
                    op,
                    lower: 0,
                    value,
                    upper: 0,
                    loose: (0, 0),
                });
            }
            _ => return Err(unexpected_f(op, CHECKER, "add and read")),
        }
    }
    // History indices are unique per event (the readers enforce strictly increasing ones),
    // so an unstable sort orders the steps exactly.
    steps.sort_unstable_by_key(|(index, _)| *index);
    // Positive adds acknowledged and attempted, negative ones acknowledged and attempted.
    let (mut pos_ack, mut pos_try, mut neg_ack, mut neg_try) = (0i128, 0i128, 0i128, 0i128);
    let reads = &mut out[first..];
    for (_, step) in steps {
        match step {
            Step::Attempt(n) if n >= 0 => pos_try += n,
            Step::Attempt(n) => neg_try += n,
            Step::Ack(n) if n >= 0 => pos_ack += n,
            Step::Ack(n) => neg_ack += n,
            // Start: what was certainly done; the end adds what may have been.
            Step::ReadStart(slot) => {
                let r = &mut reads[slot as usize];
                (r.lower, r.upper) = (pos_ack, neg_ack);
            }
            Step::ReadEnd(slot) => {
                let r = &mut reads[slot as usize];
                r.lower += neg_try;
                r.upper += pos_try;
                r.loose = (neg_try, pos_try);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{history, keyed};
    use super::*;
    use serde_json::json;

    #[test]
    fn an_eventual_counter_may_read_low_until_the_adds_are_over() {
        let h = history(&[
            (1, "invoke", "add", json!(2)),
            (1, "ok", "add", json!(2)),
            // Reads low while the add spreads: fine for an eventual counter only.
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(0)),
            (1, "invoke", "add", json!(3)),
            (1, "ok", "add", json!(3)),
            // After every add: the final read must count every acknowledged increment.
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(5)),
        ]);
        let eventual = CounterOptions {
            linearizable: false,
        };
        let r = check(&h, &eventual).unwrap();
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
        let r = check(&h, &CounterOptions::default()).unwrap();
        assert_eq!(kinds(&r), ["counter-too-low"]);
        let mut late_low = h.clone();
        late_low.ops.last_mut().expect("read").value = json!(2);
        let r = check(&late_low, &eventual).unwrap();
        assert_eq!(kinds(&r), ["counter-too-low"]);
        // A fault after the last read: that read was not yet after the faults, so it may be low.
        let mut faulted = late_low.clone();
        faulted.nemesis.push(crate::history::Event {
            index: 100,
            time: 100,
            process: crate::history::Process::Nemesis,
            kind: crate::history::EventType::Info,
            f: "stop-partition".into(),
            key: None,
            value: Value::Null,
            node: None,
            error: None,
        });
        let r = check(&faulted, &eventual).unwrap();
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
        let mut high = h.clone();
        high.ops[1].value = json!(9);
        let r = check(&high, &eventual).unwrap();
        assert_eq!(kinds(&r), ["counter-too-high"]);
    }

    fn kinds(r: &CheckResult) -> Vec<&str> {
        r.anomalies.iter().map(|a| a.kind.as_str()).collect()
    }

    #[test]
    fn reads_within_bounds_are_valid() {
        let h = history(&[
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(null)),
            (1, "invoke", "add", json!(3)),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(3)),
            (1, "ok", "add", json!(3)),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(3)),
        ]);
        let r = check(&h, &CounterOptions::default()).unwrap();
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
        assert_eq!(r.details.unwrap()["read_count"], json!(3));
    }

    #[test]
    fn read_missing_an_acknowledged_increment_is_too_low() {
        let h = history(&[
            (1, "invoke", "add", json!(2)),
            (1, "ok", "add", json!(2)),
            (1, "invoke", "add", json!(5)),
            (1, "ok", "add", json!(5)),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(2)),
        ]);
        let r = check(&h, &CounterOptions::default()).unwrap();
        assert_eq!(kinds(&r), vec!["counter-too-low"]);
        assert_eq!(r.anomalies[0].ops, vec![4]);
        assert!(
            r.anomalies[0].explanation.contains("between 7 and 7"),
            "{}",
            r.anomalies[0].explanation
        );
        let d = r.details.unwrap();
        assert_eq!(
            d["max_absolute_error"],
            json!({"op": 4, "lower": 7, "value": 2, "upper": 7, "error": 5})
        );
    }

    #[test]
    fn read_beyond_every_attempt_is_too_high() {
        let h = history(&[
            (1, "invoke", "add", json!(2)),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(5)),
            (1, "ok", "add", json!(2)),
            (1, "invoke", "add", json!(3)),
            (1, "ok", "add", json!(3)),
        ]);
        let r = check(&h, &CounterOptions::default()).unwrap();
        assert_eq!(kinds(&r), vec!["counter-too-high"]);
        assert!(r.anomalies[0].explanation.contains("between 0 and 2"));
    }

    #[test]
    fn info_increment_widens_only_the_upper_bound() {
        let events = |read: i64| {
            history(&[
                (1, "invoke", "add", json!(4)),
                (1, "info", "add", json!(4)),
                (0, "invoke", "read", json!(null)),
                (0, "ok", "read", json!(read)),
            ])
        };
        assert_eq!(
            check(&events(0), &CounterOptions::default()).unwrap().valid,
            Validity::Valid
        );
        assert_eq!(
            check(&events(4), &CounterOptions::default()).unwrap().valid,
            Validity::Valid
        );
        assert_eq!(
            kinds(&check(&events(5), &CounterOptions::default()).unwrap()),
            vec!["counter-too-high"]
        );
        // An info add invoked after the read ended cannot explain it.
        let late = history(&[
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(4)),
            (1, "invoke", "add", json!(4)),
            (1, "info", "add", json!(4)),
        ]);
        assert_eq!(
            kinds(&check(&late, &CounterOptions::default()).unwrap()),
            vec!["counter-too-high"]
        );
    }

    #[test]
    fn failed_increment_counts_nowhere() {
        let h = history(&[
            (1, "invoke", "add", json!(4)),
            (1, "fail", "add", json!(4)),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(4)),
        ]);
        assert_eq!(
            kinds(&check(&h, &CounterOptions::default()).unwrap()),
            vec!["counter-too-high"]
        );
    }

    #[test]
    fn failed_and_info_reads_are_not_judged() {
        let h = history(&[
            (1, "invoke", "add", json!(4)),
            (1, "ok", "add", json!(4)),
            (0, "invoke", "read", json!(null)),
            (0, "info", "read", json!(null)),
            (2, "invoke", "read", json!(null)),
            (2, "fail", "read", json!(99)),
        ]);
        let r = check(&h, &CounterOptions::default()).unwrap();
        assert_eq!(r.valid, Validity::Valid);
        assert_eq!(r.details.unwrap()["read_count"], json!(0));
    }

    #[test]
    fn negative_adds_widen_the_bounds_the_other_way() {
        // +5 ok, then -3 ok, then a read: a linearizable counter reads 2.
        let base = [
            (1, "invoke", "add", json!(5)),
            (1, "ok", "add", json!(5)),
            (1, "invoke", "add", json!(-3)),
            (1, "ok", "add", json!(-3)),
            (0, "invoke", "read", json!(null)),
        ];
        let with_read = |v: i64| {
            let mut events = base.to_vec();
            events.push((0, "ok", "read", json!(v)));
            history(&events)
        };
        let lin = CounterOptions::default();
        assert!(kinds(&check(&with_read(2), &lin).unwrap()).is_empty());
        assert_eq!(
            kinds(&check(&with_read(5), &lin).unwrap()),
            vec!["counter-too-high"]
        );
        assert_eq!(
            kinds(&check(&with_read(-1), &lin).unwrap()),
            vec!["counter-too-low"]
        );
        // An eventual counter may not have seen the -3 (or the +5) yet: 5 and -3 are fine,
        // 7 never was possible (at most 5 + 1).
        let eventual = CounterOptions {
            linearizable: false,
        };
        let mut events = base.to_vec();
        // Reads while an add of 1 is in flight: each may have missed any add.
        events.insert(0, (2, "invoke", "add", json!(1)));
        events.extend([
            (0, "ok", "read", json!(5)),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(-3)),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!(7)),
            (2, "ok", "add", json!(1)),
        ]);
        let r = check(&history(&events), &eventual).unwrap();
        assert_eq!(kinds(&r), vec!["counter-too-high"], "{:?}", r.anomalies);
        // An info -2 may or may not have happened: 0 and 2 are both fine after +2 ok.
        for v in [0, 2] {
            let h = history(&[
                (1, "invoke", "add", json!(2)),
                (1, "ok", "add", json!(2)),
                (2, "invoke", "add", json!(-2)),
                (2, "info", "add", json!(-2)),
                (0, "invoke", "read", json!(null)),
                (0, "ok", "read", json!(v)),
            ]);
            assert!(kinds(&check(&h, &lin).unwrap()).is_empty(), "read {v}");
        }
    }

    #[test]
    fn keys_are_independent_counters() {
        let h = keyed(&[
            (1, "invoke", "add", json!("a"), json!(4)),
            (1, "ok", "add", json!("a"), json!(4)),
            (0, "invoke", "read", json!("b"), json!(null)),
            (0, "ok", "read", json!("b"), json!(4)),
        ]);
        let r = check(&h, &CounterOptions::default()).unwrap();
        assert_eq!(kinds(&r), vec!["counter-too-high"]);
        assert_eq!(r.anomalies[0].key, Some(json!("b")));
    }

    #[test]
    fn malformed_ops_name_their_index() {
        let cases = [
            (
                vec![(0, "invoke", "add", json!("1"))],
                0,
                "must be an integer",
            ),
            (
                vec![
                    (0, "invoke", "read", json!(null)),
                    (0, "ok", "read", json!([1])),
                ],
                0,
                "must be an integer",
            ),
            (vec![(0, "invoke", "transfer", json!(1))], 0, "add and read"),
        ];
        for (i, (events, index, text)) in cases.iter().enumerate() {
            match check(&history(events), &CounterOptions::default()) {
                Err(CheckError::Malformed { index: got, reason }) => {
                    assert_eq!(got, *index, "case {i}");
                    assert!(reason.contains(text), "case {i}: {reason}");
                }
                other => panic!("case {i}: {other:?}"),
            }
        }
    }
}
