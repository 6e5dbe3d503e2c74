//! Explanations of invalid histories, and each model end to end through `check`.

mod checker_support;

use checker_support::Builder;
use faultline::checker::{
    check, LinearizabilityOptions, ModelKind, ModelOptions, Validity, Witness,
};
use serde_json::{json, Value};

fn run(
    b: &Builder,
    model: ModelKind,
    mo: ModelOptions,
    partition: bool,
) -> faultline::checker::CheckResult {
    let o = LinearizabilityOptions {
        model,
        model_options: mo,
        partition,
        ..Default::default()
    };
    check(&b.build(), &o).expect("history suits the model")
}

#[test]
fn stale_read_explanation_names_the_op_the_state_and_the_writer() {
    let mut b = Builder::new();
    b.invoke(1, "write", None, json!(2)).ok_same(1);
    b.invoke(5, "write", None, json!(4)).ok_same(5);
    b.invoke(3, "read", None, Value::Null).ok(3, json!(2));
    let r = run(&b, ModelKind::CasRegister, ModelOptions::default(), true);
    assert_eq!(r.valid, Validity::Invalid);
    let a = &r.anomalies[0];
    assert_eq!(a.kind, "nonlinearizable");
    assert_eq!(a.ops[0], 4, "the read's invoke index");
    assert_eq!(
        a.ops,
        vec![4, 2, 0],
        "the read, the write that replaced 2, the write of 2"
    );
    for want in [
        "Lost write",
        "op 2 (process 5's write 4) was acknowledged at 0.040 s",
        "no read ever returned 4",
        "op 4 (process 3 read 2, invoked 0.050 s",
        "op 0 (process 1's write 2), completed at 0.020 s",
    ] {
        assert!(
            a.explanation.contains(want),
            "missing {want:?} in: {}",
            a.explanation
        );
    }
    let Some(Witness::Linearization(w)) = &a.witness else {
        panic!("no witness")
    };
    // The search's own view stays beside the core's sentence.
    for want in [
        "process 3 read 2",
        "invoked 0.050 s, completed 0.060 s",
        "holds 4",
        "process 5's write 4",
        "completed 0.040 s",
        "(2 ops)",
    ] {
        assert!(
            w.prefix_sentence.contains(want),
            "missing {want:?} in: {}",
            w.prefix_sentence
        );
    }
    let core: Vec<u64> = w.core.iter().map(|o| o.index).collect();
    assert_eq!(core, [0, 2, 4]);
    assert!(w.core_minimal);
    assert_eq!(w.pattern, "lost-write");
    assert_eq!(
        (w.op.process, w.op.f.as_str(), &w.op.value),
        (3, "read", &json!(2))
    );
    assert_eq!(w.state, "4");
    assert_eq!(w.prefix_len, 2);
    let states: Vec<&str> = w.prefix.iter().map(|s| s.state.as_str()).collect();
    assert_eq!(states, ["2", "4"]);
    assert!(w.concurrent.is_empty());
    let j = serde_json::to_value(&r).unwrap();
    assert_eq!(j["valid"], false);
    assert_eq!(j["anomalies"][0]["witness"]["type"], "linearization");
    assert_eq!(j["anomalies"][0]["witness"]["op"]["index"], 4);
}

#[test]
fn a_never_written_register_is_named_null_as_the_history_writes_it() {
    // Leftover data from another run reads as "read 63 but the key still holds its initial
    // value": the value is named as the JSON history writes it, never Clojure's nil.
    let mut b = Builder::new();
    b.invoke(1, "read", None, Value::Null).ok(1, json!(63));
    let r = run(&b, ModelKind::CasRegister, ModelOptions::default(), true);
    assert_eq!(r.valid, Validity::Invalid);
    let e = &r.anomalies[0].explanation;
    assert!(e.contains("it started as null"), "{e}");
    assert!(!e.contains("nil"), "{e}");
    let Some(Witness::Linearization(w)) = &r.anomalies[0].witness else {
        panic!("no witness")
    };
    let p = &w.prefix_sentence;
    assert!(p.contains("still holds its initial value null"), "{p}");
    assert!(!p.contains("nil"), "{p}");
    assert_eq!(w.state, "null");
}

#[test]
fn without_times_explanations_cite_event_indexes() {
    let mut b = Builder::new();
    b.times = false;
    b.invoke(0, "write", None, json!(0)).ok_same(0);
    b.invoke(0, "write", None, json!(4))
        .invoke(1, "read", None, Value::Null)
        .ok(1, json!(3))
        .ok_same(0);
    let r = run(&b, ModelKind::CasRegister, ModelOptions::default(), true);
    assert_eq!(r.valid, Validity::Invalid);
    let a = &r.anomalies[0];
    assert!(
        a.explanation
            .contains("op 3 (process 1 read 3, invoked event 3, completed event 4)"),
        "{}",
        a.explanation
    );
    let Some(Witness::Linearization(w)) = &a.witness else {
        panic!("no witness")
    };
    assert_eq!(w.concurrent.len(), 1, "the write of 4 overlaps the read");
    assert_eq!(w.concurrent[0].value, json!(4));
    assert_eq!(
        a.ops,
        vec![3],
        "a read of a value never written needs nothing else"
    );
}

#[test]
fn unpartitioned_explanations_show_the_key() {
    let mut b = Builder::new();
    b.invoke(0, "write", Some("x"), json!(1)).ok_same(0);
    b.invoke(1, "write", Some("y"), json!(2)).ok_same(1);
    b.invoke(2, "read", Some("x"), Value::Null).ok(2, json!(2));
    for partition in [true, false] {
        let r = run(
            &b,
            ModelKind::CasRegister,
            ModelOptions::default(),
            partition,
        );
        assert_eq!(r.valid, Validity::Invalid, "partition {partition}");
        let Some(Witness::Linearization(w)) = &r.anomalies[0].witness else {
            panic!("no witness")
        };
        assert_eq!(
            r.anomalies[0].key,
            Some(json!("x")),
            "partition {partition}"
        );
        if partition {
            assert_eq!(w.state, "1");
        } else {
            assert_eq!(w.state, "key \"x\" = 1");
            assert!(
                r.anomalies[0].explanation.contains("process 0's write 1"),
                "{}",
                r.anomalies[0].explanation
            );
        }
    }
}

#[test]
fn indeterminate_write_may_explain_a_later_read() {
    let mut b = Builder::new();
    b.invoke(0, "write", None, json!(1)).info(0);
    b.invoke(1, "read", None, Value::Null).ok(1, Value::Null);
    b.invoke(2, "read", None, Value::Null).ok(2, json!(1));
    b.invoke(3, "read", None, Value::Null).ok(3, json!(1));
    assert_eq!(
        run(&b, ModelKind::CasRegister, ModelOptions::default(), true).valid,
        Validity::Valid
    );
    // ...but it cannot un-happen.
    b.invoke(4, "read", None, Value::Null).ok(4, Value::Null);
    assert_eq!(
        run(&b, ModelKind::CasRegister, ModelOptions::default(), true).valid,
        Validity::Invalid
    );
}

#[test]
fn mutex_double_acquire_is_invalid_and_info_acquire_may_never_happen() {
    let mut b = Builder::new();
    b.invoke(0, "acquire", None, Value::Null).ok_same(0);
    b.invoke(1, "acquire", None, Value::Null).info(1);
    b.invoke(0, "release", None, Value::Null).ok_same(0);
    b.invoke(2, "acquire", None, Value::Null).ok_same(2);
    assert_eq!(
        run(&b, ModelKind::Mutex, ModelOptions::default(), true).valid,
        Validity::Valid
    );
    b.invoke(3, "acquire", None, Value::Null).ok_same(3);
    let r = run(&b, ModelKind::Mutex, ModelOptions::default(), true);
    assert_eq!(r.valid, Validity::Invalid);
    let Some(Witness::Linearization(w)) = &r.anomalies[0].witness else {
        panic!("no witness")
    };
    assert!(
        w.prefix_sentence.contains("the mutex holds held"),
        "{}",
        w.prefix_sentence
    );
    let e = &r.anomalies[0].explanation;
    assert!(e.contains("op 8 (process 3's acquire"), "{e}");
    assert_eq!(w.pattern, "general");
}

#[test]
fn set_reads_must_see_every_completed_add() {
    let mut b = Builder::new();
    b.invoke(0, "add", None, json!(1)).ok_same(0);
    b.invoke(1, "add", None, json!(2))
        .invoke(2, "read", None, Value::Null)
        .ok(2, json!([1]))
        .ok_same(1);
    b.invoke(2, "read", None, Value::Null).ok(2, json!([2, 1]));
    assert_eq!(
        run(&b, ModelKind::Set, ModelOptions::default(), true).valid,
        Validity::Valid
    );
    b.invoke(3, "read", None, Value::Null).ok(3, json!([1]));
    assert_eq!(
        run(&b, ModelKind::Set, ModelOptions::default(), true).valid,
        Validity::Invalid
    );
}

#[test]
fn fifo_queue_order_is_checked() {
    let mut b = Builder::new();
    b.invoke(0, "enqueue", None, json!(1)).ok_same(0);
    b.invoke(0, "enqueue", None, json!(2)).ok_same(0);
    b.invoke(1, "dequeue", None, Value::Null).ok(1, json!(2));
    let r = run(&b, ModelKind::FifoQueue, ModelOptions::default(), true);
    assert_eq!(r.valid, Validity::Invalid);
    let mut b = Builder::new();
    b.invoke(0, "enqueue", None, json!(1))
        .invoke(1, "enqueue", None, json!(2))
        .ok_same(0)
        .ok_same(1);
    b.invoke(2, "dequeue", None, Value::Null).ok(2, json!(2));
    b.invoke(2, "dequeue", None, Value::Null).ok(2, json!(1));
    b.invoke(2, "dequeue", None, Value::Null).ok(2, Value::Null);
    assert_eq!(
        run(&b, ModelKind::FifoQueue, ModelOptions::default(), true).valid,
        Validity::Valid
    );
}

#[test]
fn multi_register_txns_are_atomic() {
    let mo = ModelOptions {
        initial: json!({"x": 0, "y": 0}),
        nil_reads_match_any: true,
    };
    let mut b = Builder::new();
    b.invoke(
        0,
        "txn",
        None,
        json!([["write", "x", 1], ["write", "y", 1]]),
    )
    .ok_same(0);
    b.invoke(
        1,
        "txn",
        None,
        json!([["read", "x", null], ["read", "y", null]]),
    )
    .ok(1, json!([["read", "x", 1], ["read", "y", 1]]));
    assert_eq!(
        run(&b, ModelKind::MultiRegister, mo.clone(), true).valid,
        Validity::Valid
    );
    b.invoke(
        2,
        "txn",
        None,
        json!([["read", "x", null], ["read", "y", null]]),
    )
    .ok(2, json!([["read", "x", 1], ["read", "y", 0]]));
    let r = run(&b, ModelKind::MultiRegister, mo, true);
    assert_eq!(r.valid, Validity::Invalid);
    let Some(Witness::Linearization(w)) = &r.anomalies[0].witness else {
        panic!("no witness")
    };
    assert_eq!(w.state, "{x=1, y=1}");
}

#[test]
fn an_op_the_model_does_not_know_is_an_error_not_a_verdict() {
    let mut b = Builder::new();
    b.invoke(0, "increment", None, json!(1)).ok_same(0);
    let o = LinearizabilityOptions {
        model: ModelKind::CasRegister,
        ..Default::default()
    };
    let err = check(&b.build(), &o).unwrap_err();
    assert!(
        err.to_string()
            .contains("op at index 0: the cas-register model has no operation \"increment\""),
        "{err}"
    );
    let o = LinearizabilityOptions {
        model: ModelKind::Set,
        model_options: ModelOptions {
            initial: json!(5),
            nil_reads_match_any: false,
        },
        ..Default::default()
    };
    assert!(
        check(&Builder::new().build(), &o).is_err(),
        "a bad --initial is reported even for an empty history"
    );
}

#[test]
fn stats_count_ops_keys_and_states() {
    let mut b = Builder::new();
    for (p, k) in [(0, "a"), (1, "b"), (2, "c")] {
        b.invoke(p, "write", Some(k), json!(1)).ok_same(p);
        b.invoke(p, "read", Some(k), Value::Null).ok(p, json!(1));
    }
    let r = run(&b, ModelKind::CasRegister, ModelOptions::default(), true);
    assert_eq!(r.valid, Validity::Valid);
    assert_eq!((r.stats.ops, r.stats.keys), (6, 3));
    assert!(r.stats.states_explored >= 6);
    assert!(r.stats.elapsed_secs >= 0.0);
}

/// One row of the pattern table: a hand-made history and what its explanation must say.
struct PatternCase {
    name: &'static str,
    history: Builder,
    pattern: &'static str,
    /// The core, by invoke index.
    core: Vec<u64>,
    /// The first op cited (the op that went wrong).
    first: u64,
    /// Facts the sentence must state.
    says: Vec<&'static str>,
    /// Ops the sentence cites beyond the core, as context (by invoke index).
    context: Vec<u64>,
}

fn pattern_cases() -> Vec<PatternCase> {
    let mut cases = Vec::new();

    // Stale read: 31 was replaced by 37 (acknowledged, and read by someone), then read again.
    // Events: w31 0-1, w37 2-3, r37 4-5, noise w40 6 (concurrent with nothing that matters,
    // invoked after the stale read completed), r31 7-8.
    let mut b = Builder::new();
    b.invoke(1, "write", None, json!(31)).ok_same(1);
    b.invoke(2, "write", None, json!(37)).ok_same(2);
    b.invoke(3, "read", None, Value::Null).ok(3, json!(37));
    b.invoke(4, "read", None, Value::Null).ok(4, json!(31));
    b.invoke(5, "write", None, json!(40)).ok_same(5);
    cases.push(PatternCase {
        name: "stale read",
        history: b,
        pattern: "stale-read",
        core: vec![0, 2, 6],
        first: 6,
        says: vec![
            "Stale read: op 6 (process 4 read 31",
            "op 2 (process 2's write 37) had been acknowledged at 0.040 s",
            "the last write of 31 that could precede it, op 0 (process 1's write 31), completed at 0.020 s",
        ],
        context: vec![],
    });

    // A read of a value nothing wrote (the write of 9 starts only after the read).
    let mut b = Builder::new();
    b.invoke(1, "write", None, json!(1)).ok_same(1);
    b.invoke(2, "read", None, Value::Null).ok(2, json!(9));
    b.invoke(3, "write", None, json!(9)).ok_same(3);
    cases.push(PatternCase {
        name: "never written",
        history: b,
        pattern: "never-written",
        // The read alone proves it: the later write of 9 cannot precede it. The sentence
        // still names that write, as context.
        core: vec![2],
        first: 2,
        says: vec![
            "op 2 (process 2 read 9",
            "nothing had written 9 to the register by then (it started as null)",
            "the first write of 9, op 4 by process 3, began only at 0.050 s",
        ],
        context: vec![4],
    });

    // Lost write: 2 is acknowledged, no read ever sees it, a later read sees the older 1.
    let mut b = Builder::new();
    b.invoke(1, "write", None, json!(1)).ok_same(1);
    b.invoke(9, "read", None, Value::Null).ok(9, json!(1));
    b.invoke(2, "write", None, json!(2)).ok_same(2);
    b.invoke(3, "read", None, Value::Null).ok(3, json!(1));
    cases.push(PatternCase {
        name: "lost write",
        history: b,
        pattern: "lost-write",
        core: vec![0, 4, 6],
        first: 6,
        says: vec![
            "Lost write: op 4 (process 2's write 2) was acknowledged at 0.060 s",
            "no read ever returned 2",
            "op 6 (process 3 read 1, invoked 0.070 s",
        ],
        context: vec![],
    });

    // A cas that succeeded on a value overwritten before it began.
    let mut b = Builder::new();
    b.invoke(1, "write", None, json!(1)).ok_same(1);
    b.invoke(2, "write", None, json!(2)).ok_same(2);
    b.invoke(3, "cas", None, json!([1, 3])).ok_same(3);
    cases.push(PatternCase {
        name: "impossible cas",
        history: b,
        pattern: "impossible-cas",
        core: vec![0, 2, 4],
        first: 4,
        says: vec![
            "Impossible cas: op 4 (process 3's cas [1,3]",
            "the register could not hold 1 then",
            "op 2 (process 2's write 2) was acknowledged at 0.040 s",
        ],
        context: vec![],
    });

    // Non-monotonic reads: the write of 2 never completed, but one read saw it and a later
    // one saw the older 1 again.
    let mut b = Builder::new();
    b.invoke(1, "write", None, json!(1)).ok_same(1);
    b.invoke(2, "write", None, json!(2));
    b.invoke(3, "read", None, Value::Null).ok(3, json!(2));
    b.invoke(4, "read", None, Value::Null).ok(4, json!(1));
    b.info(2);
    cases.push(PatternCase {
        name: "non-monotonic reads",
        history: b,
        pattern: "non-monotonic-reads",
        core: vec![0, 2, 3, 5],
        first: 5,
        says: vec![
            "Non-monotonic reads: op 3 (process 3 read 2), completed at 0.050 s",
            "then op 5 (process 4 read 1, invoked 0.060 s",
            "op 0 (process 1's write 1), completed at 0.020 s, before the read of 2 began",
        ],
        context: vec![],
    });

    // No pattern: a mutex acquired twice (the general sentence lists the core).
    let mut b = Builder::new();
    b.invoke(0, "acquire", None, Value::Null).ok_same(0);
    b.invoke(1, "acquire", None, Value::Null).ok_same(1);
    cases.push(PatternCase {
        name: "general",
        history: b,
        pattern: "general",
        core: vec![0, 2],
        first: 0,
        says: vec![
            "no order of these 2 ops is legal",
            "op 0 (process 0's acquire",
            "op 2 (process 1's acquire",
        ],
        context: vec![],
    });
    cases
}

#[test]
fn each_pattern_gets_its_core_and_its_sentence() {
    for case in pattern_cases() {
        let model = if case.pattern == "general" {
            ModelKind::Mutex
        } else {
            ModelKind::CasRegister
        };
        let r = run(&case.history, model, ModelOptions::default(), true);
        assert_eq!(r.valid, Validity::Invalid, "{}", case.name);
        let a = &r.anomalies[0];
        let Some(Witness::Linearization(w)) = &a.witness else {
            panic!("{}: no witness", case.name)
        };
        let core: Vec<u64> = w.core.iter().map(|o| o.index).collect();
        assert_eq!(
            core, case.core,
            "{}: core; sentence: {}",
            case.name, a.explanation
        );
        assert!(w.core_minimal, "{}", case.name);
        assert_eq!(w.pattern, case.pattern, "{}: {}", case.name, a.explanation);
        assert_eq!(a.ops[0], case.first, "{}", case.name);
        let mut cited = a.ops.clone();
        cited.sort_unstable();
        let mut expected: Vec<u64> = case.core.iter().chain(&case.context).copied().collect();
        expected.sort_unstable();
        assert_eq!(
            cited, expected,
            "{}: cites the core and its context, nothing else",
            case.name
        );
        for want in &case.says {
            assert!(
                a.explanation.contains(want),
                "{}: missing {want:?} in: {}",
                case.name,
                a.explanation
            );
        }
        let j = serde_json::to_value(&r).unwrap();
        let wj = &j["anomalies"][0]["witness"];
        assert_eq!(wj["pattern"], case.pattern, "{}", case.name);
        assert_eq!(
            wj["core"].as_array().map(|c| c.len()),
            Some(case.core.len())
        );
    }
}
