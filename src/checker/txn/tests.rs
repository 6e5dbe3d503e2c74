//! Hand-built histories, one (or more) per anomaly class: each is detected and named, and the
//! same txns run one after another (a serial history) are valid.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::*;
use crate::history::{History, Op, Outcome};

/// One txn: (process, invoke index, completion index, 'o'k / 'i'nfo / 'f'ail, micro-ops as
/// completed).
type T = (u64, u64, u64, char, Value);

/// The invocation's micro-ops: reads carry null.
fn blank_reads(v: &Value) -> Value {
    match v {
        Value::Array(ms) => Value::Array(
            ms.iter()
                .map(|m| match m {
                    Value::Array(p) if p.len() == 3 && p[0] == "r" => {
                        json!(["r", p[1].clone(), null])
                    }
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn history(ts: &[T]) -> History {
    let mut ops: Vec<Op> = ts
        .iter()
        .map(|(p, inv, comp, o, v)| {
            let outcome = match o {
                'o' => Outcome::Ok,
                'i' => Outcome::Info,
                _ => Outcome::Fail,
            };
            let invoke_value = blank_reads(v);
            Op {
                process: *p,
                f: "txn".into(),
                key: None,
                value: if outcome == Outcome::Ok {
                    v.clone()
                } else {
                    invoke_value.clone()
                },
                invoke_value,
                outcome,
                invoke_index: *inv,
                complete_index: Some(*comp),
                invoke_time: *inv,
                complete_time: Some(*comp),
                error: None,
                node: None,
            }
        })
        .collect();
    ops.sort_by_key(|o| o.invoke_index);
    History {
        event_count: 2 * ops.len() as u64,
        ops,
        nemesis: Vec::new(),
    }
}

/// The same txns executed one at a time in invoke order, reads filled in from the state.
fn serial(h: &History, workload: TxnWorkload) -> History {
    let mut lists: HashMap<String, Vec<Value>> = HashMap::new();
    let mut regs: HashMap<String, Value> = HashMap::new();
    let mut ops = Vec::new();
    for (i, op) in h.ops.iter().enumerate() {
        let Value::Array(ms) = &op.invoke_value else {
            panic!("test txns are lists")
        };
        let commit = op.outcome != Outcome::Fail;
        let mut done = Vec::new();
        for m in ms {
            let p = m.as_array().expect("micro-op");
            let k = p[1].to_string();
            let f = p[0].as_str().expect("f");
            done.push(match f {
                "append" => {
                    if commit {
                        lists.entry(k).or_default().push(p[2].clone());
                    }
                    m.clone()
                }
                "w" => {
                    if commit {
                        regs.insert(k, p[2].clone());
                    }
                    m.clone()
                }
                _ => match workload {
                    TxnWorkload::ListAppend => {
                        json!([
                            "r",
                            p[1].clone(),
                            lists.get(&k).cloned().unwrap_or_default()
                        ])
                    }
                    TxnWorkload::RwRegister => {
                        json!([
                            "r",
                            p[1].clone(),
                            regs.get(&k).cloned().unwrap_or(Value::Null)
                        ])
                    }
                },
            });
        }
        let (o, v) = if commit {
            ('o', Value::Array(done))
        } else {
            ('f', op.invoke_value.clone())
        };
        ops.push((op.process, 10 * i as u64, 10 * i as u64 + 1, o, v));
    }
    history(&ops)
}

/// Checks `h` from its `Value`s and from its compact form: both must say the same (anomalies,
/// explanations and witnesses included).
fn run(h: &History, w: TxnWorkload, m: ConsistencyModel) -> CheckResult {
    let mut o = TxnOptions::new(w);
    o.consistency_model = m;
    let full = check(h, &o).unwrap();
    let compact = check_compact(&crate::history::CompactHistory::from_history(h), &o).unwrap();
    let same = |r: &CheckResult| {
        let mut d = r.details.clone().unwrap_or_default();
        d["phase-secs"] = Value::Null;
        (
            r.valid,
            r.cause.clone(),
            serde_json::to_value(&r.anomalies).unwrap(),
            d,
            r.stats.ops,
            r.stats.keys,
        )
    };
    assert_eq!(same(&full), same(&compact));
    full
}

fn kinds(r: &CheckResult) -> Vec<String> {
    r.anomalies.iter().map(|a| a.kind.clone()).collect()
}

use ConsistencyModel as M;
use TxnWorkload::{ListAppend as LA, RwRegister as RW};

/// (name, workload, txns, anomaly that must be found, model it must fail, a weaker model it
/// must pass, when there is one).
type Case = (
    &'static str,
    TxnWorkload,
    Vec<T>,
    &'static str,
    M,
    Option<M>,
);

fn cases() -> Vec<Case> {
    vec![
        (
            "G0: two txns' appends interleave in opposite orders on x and y",
            LA,
            vec![
                (
                    0,
                    0,
                    10,
                    'o',
                    json!([["append", "x", 1], ["append", "y", 1]]),
                ),
                (
                    1,
                    1,
                    11,
                    'o',
                    json!([["append", "x", 2], ["append", "y", 2]]),
                ),
                (
                    2,
                    12,
                    13,
                    'o',
                    json!([["r", "x", [1, 2]], ["r", "y", [2, 1]]]),
                ),
            ],
            "G0",
            M::ReadUncommitted,
            None,
        ),
        (
            "G1c: each txn reads the other's append",
            LA,
            vec![
                (0, 0, 10, 'o', json!([["append", "x", 1], ["r", "y", [1]]])),
                (1, 1, 11, 'o', json!([["append", "y", 1], ["r", "x", [1]]])),
            ],
            "G1c",
            M::ReadCommitted,
            Some(M::ReadUncommitted),
        ),
        (
            "G-single-item: read skew, x seen but not y from one txn",
            LA,
            vec![
                (
                    0,
                    0,
                    10,
                    'o',
                    json!([["append", "x", 1], ["append", "y", 1]]),
                ),
                (1, 1, 11, 'o', json!([["r", "x", [1]], ["r", "y", []]])),
            ],
            "G-single-item",
            M::SnapshotIsolation,
            Some(M::ReadCommitted),
        ),
        (
            "G-nonadjacent-item: rw, wr, rw, wr",
            LA,
            vec![
                (0, 0, 10, 'o', json!([["r", "a", []], ["r", "c", [4]]])),
                (1, 1, 11, 'o', json!([["append", "a", 2]])),
                (2, 2, 12, 'o', json!([["r", "a", [2]], ["r", "b", []]])),
                (
                    3,
                    3,
                    13,
                    'o',
                    json!([["append", "b", 4], ["append", "c", 4]]),
                ),
            ],
            "G-nonadjacent-item",
            M::SnapshotIsolation,
            Some(M::ReadCommitted),
        ),
        (
            "G2-item: write skew",
            LA,
            vec![
                (
                    0,
                    0,
                    10,
                    'o',
                    json!([["r", "x", []], ["r", "y", []], ["append", "x", 1]]),
                ),
                (
                    1,
                    1,
                    11,
                    'o',
                    json!([["r", "x", []], ["r", "y", []], ["append", "y", 2]]),
                ),
            ],
            "G2-item",
            M::RepeatableRead,
            Some(M::SnapshotIsolation),
        ),
        (
            "G0-process: a process's second append lands before its first",
            LA,
            vec![
                (0, 0, 1, 'o', json!([["append", "x", 1]])),
                (0, 2, 3, 'o', json!([["append", "x", 2]])),
                (1, 4, 5, 'o', json!([["r", "x", [2, 1]]])),
            ],
            "G0-process",
            M::StrongSessionReadUncommitted,
            Some(M::Serializable),
        ),
        (
            "G1c-process: a process's earlier txn reads its later txn's append",
            LA,
            vec![
                (0, 0, 1, 'o', json!([["r", "y", [1]]])),
                (0, 2, 3, 'o', json!([["append", "y", 1]])),
            ],
            "G1c-process",
            M::StrongSessionReadCommitted,
            Some(M::Serializable),
        ),
        (
            "G-single-item-process: a process does not read its own earlier append",
            LA,
            vec![
                (0, 0, 1, 'o', json!([["append", "x", 1]])),
                (0, 2, 3, 'o', json!([["r", "x", []]])),
            ],
            "G-single-item-process",
            M::StrongSessionSnapshotIsolation,
            Some(M::Serializable),
        ),
        (
            "G0-realtime: appends land in the reverse of real-time order",
            LA,
            vec![
                (0, 0, 1, 'o', json!([["append", "x", 1]])),
                (1, 2, 3, 'o', json!([["append", "x", 2]])),
                (2, 4, 5, 'o', json!([["r", "x", [2, 1]]])),
            ],
            "G0-realtime",
            M::StrongReadUncommitted,
            Some(M::StrongSessionSerializable),
        ),
        (
            "G-single-item-realtime: a stale read after the append completed",
            LA,
            vec![
                (0, 0, 1, 'o', json!([["append", "x", 1]])),
                (1, 2, 3, 'o', json!([["r", "x", []]])),
            ],
            "G-single-item-realtime",
            M::StrongSnapshotIsolation,
            Some(M::StrongSessionSerializable),
        ),
        (
            "G2-item-realtime: rw, rw, then real time closes the loop",
            LA,
            vec![
                (1, 0, 20, 'o', json!([["append", "a", 1], ["r", "b", []]])),
                (2, 1, 2, 'o', json!([["append", "b", 3]])),
                (0, 3, 4, 'o', json!([["r", "a", []]])),
            ],
            "G2-item-realtime",
            M::StrictSerializable,
            Some(M::StrongSnapshotIsolation),
        ),
        (
            "G1a: a read sees a failed txn's append",
            LA,
            vec![
                (0, 0, 1, 'f', json!([["append", "x", 1]])),
                (1, 2, 3, 'o', json!([["r", "x", [1]]])),
            ],
            "G1a",
            M::ReadCommitted,
            Some(M::ReadUncommitted),
        ),
        (
            "G1b: a read sees an intermediate state of another txn",
            LA,
            vec![
                (
                    0,
                    0,
                    1,
                    'o',
                    json!([["append", "x", 1], ["append", "x", 2]]),
                ),
                (1, 2, 3, 'o', json!([["r", "x", [1]]])),
            ],
            "G1b",
            M::ReadCommitted,
            Some(M::ReadUncommitted),
        ),
        (
            "internal: a txn does not see its own append",
            LA,
            vec![(0, 0, 1, 'o', json!([["append", "x", 1], ["r", "x", []]]))],
            "internal",
            M::SnapshotIsolation,
            Some(M::ReadCommitted),
        ),
        (
            "dirty-update: a committed append lands after a failed one",
            LA,
            vec![
                (0, 0, 1, 'f', json!([["append", "x", 1]])),
                (1, 2, 3, 'o', json!([["append", "x", 2]])),
                (2, 4, 5, 'o', json!([["r", "x", [1, 2]]])),
            ],
            "dirty-update",
            M::ReadCommitted,
            Some(M::ReadUncommitted),
        ),
        (
            "duplicate-elements: an element read twice",
            LA,
            vec![
                (0, 0, 1, 'o', json!([["append", "x", 1]])),
                (1, 2, 3, 'o', json!([["r", "x", [1, 1]]])),
            ],
            "duplicate-elements",
            M::ReadUncommitted,
            None,
        ),
        (
            "incompatible-order: two reads that are not prefixes of each other",
            LA,
            vec![
                (0, 0, 1, 'o', json!([["append", "x", 1]])),
                (1, 2, 3, 'o', json!([["append", "x", 2]])),
                (2, 4, 5, 'o', json!([["r", "x", [1, 2]]])),
                (3, 6, 7, 'o', json!([["r", "x", [2, 1]]])),
            ],
            "incompatible-order",
            M::ReadCommitted,
            Some(M::ReadUncommitted),
        ),
        (
            "future-read: a txn reads the element it appends later",
            LA,
            vec![(0, 0, 1, 'o', json!([["r", "x", [1]], ["append", "x", 1]]))],
            "future-read",
            M::ReadCommitted,
            Some(M::ReadUncommitted),
        ),
        (
            "lost-update: two txns read the same version, both append, both commit",
            LA,
            vec![
                (0, 0, 10, 'o', json!([["r", "x", []], ["append", "x", 1]])),
                (1, 1, 11, 'o', json!([["r", "x", []], ["append", "x", 2]])),
                (2, 12, 13, 'o', json!([["r", "x", [1, 2]]])),
            ],
            "lost-update",
            M::RepeatableRead,
            Some(M::ReadCommitted),
        ),
        (
            "garbage-read: an element nobody appended",
            LA,
            vec![(0, 0, 1, 'o', json!([["r", "x", [7]]]))],
            "garbage-read",
            M::ReadCommitted,
            Some(M::ReadUncommitted),
        ),
        (
            "rw-register G-single-item: x seen, y not, from one txn",
            RW,
            vec![
                (0, 0, 10, 'o', json!([["w", "x", 1], ["w", "y", 1]])),
                (1, 1, 11, 'o', json!([["r", "x", 1], ["r", "y", null]])),
            ],
            "G-single-item",
            M::SnapshotIsolation,
            Some(M::ReadCommitted),
        ),
        (
            "rw-register G0: each txn overwrites the other's write",
            RW,
            vec![
                (
                    0,
                    0,
                    10,
                    'o',
                    json!([["w", "x", 1], ["r", "y", 2], ["w", "y", 1]]),
                ),
                (
                    1,
                    1,
                    11,
                    'o',
                    json!([["w", "y", 2], ["r", "x", 1], ["w", "x", 2]]),
                ),
            ],
            "G0",
            M::ReadUncommitted,
            None,
        ),
        (
            "rw-register G1a",
            RW,
            vec![
                (0, 0, 1, 'f', json!([["w", "x", 1]])),
                (1, 2, 3, 'o', json!([["r", "x", 1]])),
            ],
            "G1a",
            M::ReadCommitted,
            Some(M::ReadUncommitted),
        ),
        (
            "rw-register G1b",
            RW,
            vec![
                (0, 0, 1, 'o', json!([["w", "x", 1], ["w", "x", 2]])),
                (1, 2, 3, 'o', json!([["r", "x", 1]])),
            ],
            "G1b",
            M::ReadCommitted,
            Some(M::ReadUncommitted),
        ),
        (
            "rw-register internal",
            RW,
            vec![(0, 0, 1, 'o', json!([["w", "x", 1], ["r", "x", 2]]))],
            "internal",
            M::SnapshotIsolation,
            Some(M::ReadCommitted),
        ),
        (
            "rw-register lost-update",
            RW,
            vec![
                (0, 0, 10, 'o', json!([["r", "x", null], ["w", "x", 1]])),
                (1, 1, 11, 'o', json!([["r", "x", null], ["w", "x", 2]])),
            ],
            "lost-update",
            M::RepeatableRead,
            Some(M::ReadCommitted),
        ),
        (
            "rw-register G2-item: write skew",
            RW,
            vec![
                (
                    0,
                    0,
                    10,
                    'o',
                    json!([["r", "x", null], ["r", "y", null], ["w", "x", 1]]),
                ),
                (
                    1,
                    1,
                    11,
                    'o',
                    json!([["r", "x", null], ["r", "y", null], ["w", "y", 2]]),
                ),
            ],
            "G2-item",
            M::Serializable,
            Some(M::SnapshotIsolation),
        ),
        (
            "rw-register G-single-item-realtime: stale read",
            RW,
            vec![
                (0, 0, 1, 'o', json!([["w", "x", 1]])),
                (1, 2, 3, 'o', json!([["r", "x", null]])),
            ],
            "G-single-item-realtime",
            M::StrictSerializable,
            Some(M::Serializable),
        ),
    ]
}

#[test]
fn every_anomaly_class_is_detected_and_named() {
    for (i, (name, w, ts, kind, fails, passes)) in cases().into_iter().enumerate() {
        let h = history(&ts);
        let r = run(&h, w, fails);
        assert_eq!(
            r.valid,
            Validity::Invalid,
            "case {i} ({name}): {:?}",
            kinds(&r)
        );
        let a = r
            .anomalies
            .iter()
            .find(|a| a.kind == kind)
            .unwrap_or_else(|| panic!("case {i} ({name}): no {kind} in {:?}", kinds(&r)));
        assert!(!a.ops.is_empty(), "case {i}: anomaly names its ops");
        assert!(!a.explanation.is_empty(), "case {i}");
        if let Some(Witness::Cycle(c)) = &a.witness {
            assert_eq!(c.steps.len(), c.txns.len(), "case {i}");
            assert!(c.steps.iter().all(|s| !s.why.is_empty()), "case {i}");
        }
        let types = detail_list(&r, "anomaly-types");
        assert!(types.contains(&kind.to_string()), "case {i}: {types:?}");
        let not = detail_list(&r, "not");
        let also = detail_list(&r, "also-not");
        assert!(
            not.contains(&fails.name().to_string()) || also.contains(&fails.name().to_string()),
            "case {i} ({name}): {fails} not ruled out: not {not:?}, also-not {also:?}"
        );
        if let Some(weaker) = passes {
            let r = run(&h, w, weaker);
            assert_eq!(
                r.valid,
                Validity::Valid,
                "case {i} ({name}) under {weaker}: {:?}",
                kinds(&r)
            );
        }
    }
}

#[test]
fn serial_histories_of_the_same_txns_are_valid() {
    for (i, (name, w, ts, ..)) in cases().into_iter().enumerate() {
        let h = serial(&history(&ts), w);
        let r = run(&h, w, M::StrictSerializable);
        assert_eq!(
            r.valid,
            Validity::Valid,
            "case {i} ({name}): {:?}",
            r.anomalies
        );
        assert!(r.anomalies.is_empty(), "case {i}");
    }
}

#[test]
fn cycle_explanations_name_ops_and_relations() {
    let h = history(&[
        (
            0,
            0,
            10,
            'o',
            json!([["append", "x", 1], ["append", "y", 1]]),
        ),
        (1, 1, 11, 'o', json!([["r", "x", [1]], ["r", "y", []]])),
    ]);
    let r = run(&h, LA, M::Serializable);
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == "G-single-item")
        .unwrap();
    // The cycle starts at its anchor, the rw edge's source.
    assert_eq!(a.ops, vec![1, 0]);
    assert!(
        a.explanation
            .contains("T0 -wr-> T1: T0 appended 1 to \"x\", which T1 read"),
        "{}",
        a.explanation
    );
    assert!(
        a.explanation.contains("T1 -rw-> T0: T1 read \"y\" as []"),
        "{}",
        a.explanation
    );
    let dots = dot::cycle_files(&r);
    assert_eq!(dots.len(), 1);
    assert!(dots[0].0.ends_with("G-single-item.dot"));
}

#[test]
fn info_txns_are_neither_assumed_committed_nor_aborted() {
    // An info append nobody saw may not have happened: a later empty read is fine.
    let unseen = history(&[
        (0, 0, 1, 'i', json!([["append", "x", 1]])),
        (1, 2, 3, 'o', json!([["r", "x", []]])),
    ]);
    assert_eq!(
        run(&unseen, LA, M::StrictSerializable).valid,
        Validity::Valid
    );
    // One that was seen did happen; seeing it is no aborted read.
    let seen = history(&[
        (0, 0, 1, 'i', json!([["append", "x", 1]])),
        (1, 2, 3, 'o', json!([["r", "x", [1]]])),
    ]);
    assert_eq!(run(&seen, LA, M::StrictSerializable).valid, Validity::Valid);
    // It may take effect after its completion: no real-time edge out of it. A read that
    // began after the info "completed" and missed it, then a read that saw it, is fine.
    let late = history(&[
        (0, 0, 1, 'i', json!([["append", "x", 1]])),
        (1, 2, 3, 'o', json!([["r", "x", []]])),
        (2, 4, 5, 'o', json!([["r", "x", [1]]])),
    ]);
    assert_eq!(run(&late, LA, M::StrictSerializable).valid, Validity::Valid);
    // But an ok append followed in real time by a read that missed it is a stale read.
    let stale = history(&[
        (0, 0, 1, 'o', json!([["append", "x", 1]])),
        (1, 2, 3, 'o', json!([["r", "x", []]])),
        (2, 4, 5, 'o', json!([["r", "x", [1]]])),
    ]);
    assert_eq!(
        run(&stale, LA, M::StrictSerializable).valid,
        Validity::Invalid
    );
}

#[test]
fn an_exhausted_search_is_never_a_silent_pass() {
    let h = history(&[
        (
            0,
            0,
            10,
            'o',
            json!([["r", "x", []], ["r", "y", []], ["append", "x", 1]]),
        ),
        (
            1,
            1,
            11,
            'o',
            json!([["r", "x", []], ["r", "y", []], ["append", "y", 2]]),
        ),
    ]);
    // No search budget at all: the cheap existence check still proves the model broken.
    let mut o = TxnOptions::new(LA);
    o.consistency_model = M::Serializable;
    o.search_budget = 0;
    let r = check(&h, &o).unwrap();
    assert_eq!(r.valid, Validity::Invalid);
    let k = kinds(&r);
    assert!(k.contains(&"cycle-search-timeout".to_string()), "{k:?}");
    assert!(
        k.contains(&"serializable-cycle-exists".to_string()),
        "{k:?}"
    );
    // Snapshot isolation allows write skew: with the budget gone, the existence check shows
    // no forbidden cycle, so the timeouts do not matter.
    o.consistency_model = M::SnapshotIsolation;
    assert_eq!(check(&h, &o).unwrap().valid, Validity::Valid);
    // Out of time before searching: unknown, never valid.
    o.consistency_model = M::Serializable;
    o.search_budget = DEFAULT_SEARCH_BUDGET;
    o.deadline = Some(Instant::now());
    let r = check(&h, &o).unwrap();
    assert_eq!(r.valid, Validity::Unknown, "{:?}", kinds(&r));
    assert_eq!(r.cause.as_deref(), Some("timeout"));
}

#[test]
fn a_history_with_no_committed_txn_is_unknown() {
    let h = history(&[(0, 0, 1, 'f', json!([["append", "x", 1]]))]);
    let r = run(&h, LA, M::StrictSerializable);
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(kinds(&r), vec!["empty-transaction-graph"]);
}

#[test]
fn reused_values_and_foreign_micro_ops_are_bad_input() {
    let h = history(&[
        (0, 0, 1, 'o', json!([["append", "x", 1]])),
        (1, 2, 3, 'o', json!([["append", "x", 1]])),
    ]);
    let e = check(&h, &TxnOptions::new(LA)).unwrap_err().to_string();
    assert!(e.contains("written by op 0 and again by op 2"), "{e}");
    let both = |h: &History, w| {
        let c = crate::history::CompactHistory::from_history(h);
        let compact = check_compact(&c, &TxnOptions::new(w)).unwrap_err();
        assert_eq!(check(h, &TxnOptions::new(w)).unwrap_err(), compact);
        compact.to_string()
    };
    assert_eq!(both(&h, LA), e);
    let h = history(&[(0, 0, 1, 'o', json!([["w", "x", 1]]))]);
    let e = both(&h, LA);
    assert!(e.starts_with("op 0 (process 0)"), "{e}");
    let h = history(&[
        (0, 0, 1, 'o', json!([["w", "x", "v"]])),
        (1, 2, 3, 'o', json!([["w", "x", "v"]])),
    ]);
    let e = both(&h, RW);
    assert!(
        e.contains("key \"x\": value \"v\" is written by op 0 and again by op 2"),
        "{e}"
    );
}

/// A tiny random history for the property test below: `n` concurrent committed txns run in
/// a random serial order (so reads are filled in from that order), then, when `mutate`, one
/// read is changed; elements are strings when `strings` (the interning path).
fn tiny_history(seed: u64, workload: TxnWorkload, mutate: bool, strings: bool) -> Vec<Value> {
    let mut s = seed | 1;
    let mut rnd = |n: u64| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s % n
    };
    let n = 2 + rnd(4) as usize;
    let mut next = 1u64;
    let mut txns: Vec<Vec<(bool, &str, u64)>> = Vec::new();
    for _ in 0..n {
        let len = 1 + rnd(3) as usize;
        let mut t = Vec::new();
        for _ in 0..len {
            let key = if rnd(2) == 0 { "x" } else { "y" };
            if rnd(2) == 0 {
                t.push((true, key, next));
                next += 1;
            } else {
                t.push((false, key, 0));
            }
        }
        txns.push(t);
    }
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rnd(i as u64 + 1) as usize);
    }
    let elem = |e: u64| {
        if strings {
            json!(format!("e{e}"))
        } else {
            json!(e)
        }
    };
    let mut state: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut values: Vec<Value> = vec![Value::Null; n];
    for &t in &order {
        let mut done = Vec::new();
        for &(write, key, e) in &txns[t] {
            let f = match (write, workload) {
                (true, TxnWorkload::ListAppend) => "append",
                (true, TxnWorkload::RwRegister) => "w",
                (false, _) => "r",
            };
            if write {
                state.entry(key).or_default().push(e);
                done.push(json!([f, key, elem(e)]));
            } else {
                let list = state.get(key).cloned().unwrap_or_default();
                let seen = match workload {
                    TxnWorkload::ListAppend => {
                        Value::Array(list.iter().map(|&e| elem(e)).collect())
                    }
                    TxnWorkload::RwRegister => list.last().map_or(Value::Null, |&e| elem(e)),
                };
                done.push(json!(["r", key, seen]));
            }
        }
        values[t] = Value::Array(done);
    }
    if mutate {
        // Change one read: drop its last element, or claim one more (the last written).
        let reads: Vec<(usize, usize)> = (0..n)
            .flat_map(|t| {
                txns[t]
                    .iter()
                    .enumerate()
                    .filter(|m| !m.1 .0)
                    .map(move |(i, _)| (t, i))
            })
            .collect();
        if !reads.is_empty() {
            let (t, i) = reads[rnd(reads.len() as u64) as usize];
            let last = elem(next - 1);
            let m = &mut values[t][i];
            let seen = &mut m[2];
            match seen {
                Value::Array(list) if !list.is_empty() && rnd(2) == 0 => {
                    list.pop();
                }
                Value::Array(list) => list.push(last),
                other if other.is_null() => *other = last,
                other => *other = Value::Null,
            }
        }
    }
    values
}

/// Whether some serial order of the txns (all committed) explains every read exactly.
fn serializable_by_brute_force(values: &[Value], workload: TxnWorkload) -> bool {
    fn permute(k: usize, order: &mut Vec<usize>, check: &mut dyn FnMut(&[usize]) -> bool) -> bool {
        if k == order.len() {
            return check(order);
        }
        for i in k..order.len() {
            order.swap(k, i);
            if permute(k + 1, order, check) {
                return true;
            }
            order.swap(k, i);
        }
        false
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    permute(0, &mut order, &mut |order: &[usize]| {
        let mut state: HashMap<String, Vec<Value>> = HashMap::new();
        for &t in order {
            for m in values[t].as_array().expect("txn") {
                let key = m[1].to_string();
                let list = state.entry(key).or_default();
                if m[0] == "r" {
                    let expected = match workload {
                        TxnWorkload::ListAppend => Value::Array(list.clone()),
                        TxnWorkload::RwRegister => list.last().cloned().unwrap_or(Value::Null),
                    };
                    if m[2] != expected {
                        return false;
                    }
                } else {
                    list.push(m[2].clone());
                }
            }
        }
        true
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

    /// Soundness against a brute-force reference on tiny histories: the checker calls a
    /// history non-serializable only when no serial order explains it, and a history made by
    /// a serial execution is always valid (integer and string elements, both workloads).
    #[test]
    fn tiny_histories_agree_with_a_brute_force_serial_order(
        seed in proptest::prelude::any::<u64>(),
        rw in proptest::prelude::any::<bool>(),
        mutate in proptest::prelude::any::<bool>(),
        strings in proptest::prelude::any::<bool>(),
    ) {
        let workload = if rw { TxnWorkload::RwRegister } else { TxnWorkload::ListAppend };
        let values = tiny_history(seed, workload, mutate, strings);
        let n = values.len() as u64;
        // All txns concurrent: invoked at 0..n, completed at n..2n.
        let ts: Vec<T> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u64, i as u64, n + i as u64, 'o', v.clone()))
            .collect();
        let h = history(&ts);
        let r = run(&h, workload, M::Serializable);
        let brute = serializable_by_brute_force(&values, workload);
        if !mutate {
            proptest::prop_assert!(brute);
            proptest::prop_assert_eq!(r.valid, Validity::Valid, "{:?}", kinds(&r));
        }
        if r.valid == Validity::Invalid {
            proptest::prop_assert!(!brute, "{:?} {:?}", kinds(&r), values);
        }
    }
}
