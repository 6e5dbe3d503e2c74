//! Limits turn an undecided search into Unknown — never into Valid.

mod checker_support;

use checker_support::simulate;
use faultline::checker::{check, LinearizabilityOptions, ModelKind, Validity};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn big() -> faultline::history::History {
    simulate(42, 8, 3000, &["a", "b", "c", "d"])
}

#[test]
fn a_deadline_already_passed_gives_unknown_with_cause_timeout() {
    let h = big();
    let o = LinearizabilityOptions {
        model: ModelKind::CasRegister,
        deadline: Some(Instant::now()),
        ..Default::default()
    };
    let r = check(&h, &o).unwrap();
    assert_eq!(r.valid, Validity::Unknown);
    assert_eq!(r.cause.as_deref(), Some("timeout"));
    assert!(r.anomalies.is_empty());
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["valid"], "unknown");
}

#[test]
fn a_generous_deadline_still_decides() {
    let h = big();
    let o = LinearizabilityOptions {
        model: ModelKind::CasRegister,
        deadline: Some(Instant::now() + Duration::from_secs(600)),
        ..Default::default()
    };
    assert_eq!(check(&h, &o).unwrap().valid, Validity::Valid);
}

#[test]
fn a_raised_cancel_flag_gives_unknown() {
    let h = big();
    let o = LinearizabilityOptions {
        model: ModelKind::CasRegister,
        cancel: Some(Arc::new(AtomicBool::new(true))),
        ..Default::default()
    };
    let r = check(&h, &o).unwrap();
    assert_eq!(
        (r.valid, r.cause.as_deref()),
        (Validity::Unknown, Some("cancelled"))
    );
}

#[test]
fn a_tiny_memory_ceiling_gives_unknown() {
    // Keys long enough that each search runs past its first memory check (the memo is
    // measured every 1024 steps; a search that decides sooner is not cut short).
    let h = simulate(42, 8, 3000, &["a", "b"]);
    for partition in [true, false] {
        let o = LinearizabilityOptions {
            model: ModelKind::CasRegister,
            memory_limit: 1,
            partition,
            ..Default::default()
        };
        let r = check(&h, &o).unwrap();
        assert_eq!(
            (r.valid, r.cause.as_deref()),
            (Validity::Unknown, Some("memory limit")),
            "partition {partition}"
        );
    }
}
