//! The unique-ids checker: an id allocator must never hand out the same id twice.
//!
//! Ops (docs/workload-checkers.md): `generate` with value `null` on invoke and the id (any
//! JSON value but `null`) on its ok completion. Only ok generates carry an id; `info` and
//! `fail` generates are counted as attempts and otherwise ignored (an id nobody received
//! cannot be a duplicate). Ids are compared as JSON values, across all keys: uniqueness is
//! global. Each duplicated id is one `duplicate-id` anomaly citing every op that got it.
//!
//! An ok op whose value is [`NOT_ITS_OWN`] is a client's mark for an answer that was not its
//! request's own (Maelstrom's echo: the node echoed another payload): each one is a
//! `mismatched-echo` anomaly by itself, so a single wrong answer is caught.

use std::time::Instant;

use serde_json::{json, Value};

use super::{f_name, malformed, unexpected_f, Atom};
use crate::checker::hash::FxHashMap;
use crate::checker::{Anomaly, CheckError, CheckResult, CheckStats, Validity};
use crate::history::{History, Op, Outcome};

/// The checker's name in results.
pub const CHECKER: &str = "unique-ids";

/// The value a client records for an answer that is not its own request's (see the module
/// doc).
pub const NOT_ITS_OWN: &str = "mismatched echo";

/// How many ops an explanation names for one duplicated id (the anomaly's ops list them all).
const NAMED_OPS: usize = 10;

/// Checks a unique-ids history (see the module doc).
pub fn check(history: &History) -> Result<CheckResult, CheckError> {
    let started = Instant::now();
    let mut first: FxHashMap<Atom, &Op> = FxHashMap::default();
    first.reserve(history.ops.len());
    let mut dups: FxHashMap<Atom, Vec<&Op>> = FxHashMap::default();
    let (mut attempted, mut acknowledged) = (0u64, 0u64);
    let mut range: Option<(i128, i128)> = None;
    let mut wrong: Vec<&Op> = Vec::new();
    for op in &history.ops {
        if f_name(op) != "generate" {
            return Err(unexpected_f(op, CHECKER, "generate"));
        }
        attempted += 1;
        if op.outcome != Outcome::Ok {
            continue;
        }
        if op.value.is_null() {
            return Err(malformed(
                op,
                "an ok generate's value must be the id, got null",
            ));
        }
        acknowledged += 1;
        if op.value.as_str() == Some(NOT_ITS_OWN) {
            wrong.push(op);
            continue;
        }
        if let Some(n) = super::as_int(&op.value) {
            range = Some(range.map_or((n, n), |(lo, hi)| (lo.min(n), hi.max(n))));
        }
        let atom = Atom::of(&op.value);
        match first.get(&atom) {
            None => {
                first.insert(atom, op);
            }
            Some(earlier) => dups.entry(atom).or_insert_with(|| vec![earlier]).push(op),
        }
    }
    let mut dups: Vec<(Atom, Vec<&Op>)> = dups.into_iter().collect();
    dups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let mut anomalies: Vec<Anomaly> = dups.iter().map(|(id, ops)| anomaly(id, ops)).collect();
    anomalies.extend(wrong.iter().map(|op| Anomaly {
        kind: "mismatched-echo".to_string(),
        key: None,
        ops: vec![op.invoke_index],
        explanation: format!(
            "op #{} (process {}) got an answer that is not its own request's ({NOT_ITS_OWN})",
            op.invoke_index, op.process
        ),
        witness: None,
    }));
    let valid = if anomalies.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let details = json!({
        "attempted_count": attempted,
        "acknowledged_count": acknowledged,
        "duplicated_count": dups.len(),
        "mismatched_count": wrong.len(),
        "range": range.map(|(lo, hi)| json!([lo, hi])).unwrap_or(Value::Null),
    });
    Ok(CheckResult {
        checker: CHECKER.to_string(),
        valid,
        cause: None,
        anomalies,
        stats: CheckStats {
            ops: history.ops.len() as u64,
            keys: 1,
            elapsed_secs: started.elapsed().as_secs_f64(),
            ..CheckStats::default()
        },
        details: Some(details),
    })
}

fn anomaly(id: &Atom, ops: &[&Op]) -> Anomaly {
    let named: Vec<String> = ops
        .iter()
        .take(NAMED_OPS)
        .map(|o| format!("#{} (process {})", o.invoke_index, o.process))
        .collect();
    let more = if ops.len() > NAMED_OPS {
        format!(" and {} more", ops.len() - NAMED_OPS)
    } else {
        String::new()
    };
    Anomaly {
        kind: "duplicate-id".to_string(),
        key: None,
        ops: ops.iter().map(|o| o.invoke_index).collect(),
        explanation: format!(
            "id {id} was handed out {} times: to {}{more}",
            ops.len(),
            named.join(", ")
        ),
        witness: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::history;
    use super::*;
    use serde_json::json;

    #[test]
    fn distinct_ids_are_valid() {
        let h = history(&[
            (0, "invoke", "generate", json!(null)),
            (1, "invoke", "generate", json!(null)),
            (0, "ok", "generate", json!(1)),
            (1, "ok", "generate", json!(2)),
            (2, "invoke", "generate", json!(null)),
            (2, "info", "generate", json!(null)),
            (3, "invoke", "generate", json!(null)),
            (3, "fail", "generate", json!(null)),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.valid, Validity::Valid);
        let d = r.details.unwrap();
        assert_eq!(d["attempted_count"], json!(4));
        assert_eq!(d["acknowledged_count"], json!(2));
        assert_eq!(d["range"], json!([1, 2]));
    }

    #[test]
    fn a_single_answer_that_is_not_its_own_is_caught() {
        let h = history(&[
            (0, "invoke", "generate", json!(null)),
            (0, "ok", "generate", json!("c1 #1")),
            (1, "invoke", "generate", json!(null)),
            (1, "ok", "generate", json!(NOT_ITS_OWN)),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.anomalies.len(), 1);
        assert_eq!(r.anomalies[0].kind, "mismatched-echo");
        assert!(r.anomalies[0].explanation.contains(NOT_ITS_OWN));
        assert_eq!(r.details.unwrap()["mismatched_count"], json!(1));
    }

    #[test]
    fn an_id_handed_out_twice_names_both_ops() {
        let h = history(&[
            (0, "invoke", "generate", json!(null)),
            (0, "ok", "generate", json!("id-7")),
            (1, "invoke", "generate", json!(null)),
            (1, "ok", "generate", json!("id-8")),
            (2, "invoke", "generate", json!(null)),
            (2, "ok", "generate", json!("id-7")),
            (3, "invoke", "generate", json!(null)),
            (3, "ok", "generate", json!("id-7")),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.anomalies.len(), 1);
        let a = &r.anomalies[0];
        assert_eq!(a.kind, "duplicate-id");
        assert_eq!(a.ops, vec![0, 4, 6]);
        assert_eq!(
            a.explanation,
            "id \"id-7\" was handed out 3 times: to #0 (process 0), #4 (process 2), #6 (process 3)"
        );
        assert_eq!(r.details.unwrap()["duplicated_count"], json!(1));
    }

    #[test]
    fn ids_compare_as_json_values() {
        let h = history(&[
            (0, "invoke", "generate", json!(null)),
            (0, "ok", "generate", json!({"node": 1, "seq": 2})),
            (1, "invoke", "generate", json!(null)),
            (1, "ok", "generate", json!({"seq": 2, "node": 1})),
            (2, "invoke", "generate", json!(null)),
            (2, "ok", "generate", json!("1")),
            (3, "invoke", "generate", json!(null)),
            (3, "ok", "generate", json!(1)),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.anomalies.len(), 1, "the string \"1\" is not the number 1");
        assert_eq!(r.anomalies[0].ops, vec![0, 2]);
    }

    #[test]
    fn malformed_ops_name_their_index() {
        let cases = [
            (
                vec![
                    (0, "invoke", "generate", json!(null)),
                    (0, "ok", "generate", json!(null)),
                ],
                "got null",
            ),
            (vec![(0, "invoke", "read", json!(null))], "only generate"),
        ];
        for (i, (events, text)) in cases.iter().enumerate() {
            match check(&history(events)) {
                Err(CheckError::Malformed { index, reason }) => {
                    assert_eq!(index, 0, "case {i}");
                    assert!(reason.contains(text), "case {i}: {reason}");
                }
                other => panic!("case {i}: {other:?}"),
            }
        }
    }
}
