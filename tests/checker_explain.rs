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
    for want in [
        "process 3 read 2",
        "invoked 0.050 s, completed 0.060 s",
        "holds 4",
        "process 5's write 4",
        "completed 0.040 s",
        "(2 ops)",
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
    assert!(e.contains("still holds its initial value null"), "{e}");
    assert!(!e.contains("nil"), "{e}");
    let Some(Witness::Linearization(w)) = &r.anomalies[0].witness else {
        panic!("no witness")
    };
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
            .contains("process 1 read 3 (invoked event 3, completed event 4)"),
        "{}",
        a.explanation
    );
    let Some(Witness::Linearization(w)) = &a.witness else {
        panic!("no witness")
    };
    assert_eq!(w.concurrent.len(), 1, "the write of 4 overlaps the read");
    assert_eq!(w.concurrent[0].value, json!(4));
    assert_eq!(a.ops, vec![3, 2]);
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
    assert!(
        r.anomalies[0].explanation.contains("the mutex holds held"),
        "{}",
        r.anomalies[0].explanation
    );
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
