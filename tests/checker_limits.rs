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

#[test]
fn the_memory_ceiling_counts_the_whole_process_not_only_the_search() {
    // Hold 96 MiB of touched memory for the whole test: the process's resident memory never
    // drops below it, so a 64 MiB ceiling is passed by the process while the search's own
    // caches stay far below it.
    let ballast = vec![1u8; 96 << 20];
    let h = simulate(42, 8, 3000, &["a", "b"]);
    let roomy = LinearizabilityOptions {
        model: ModelKind::CasRegister,
        memory_limit: u64::MAX,
        ..Default::default()
    };
    let decided = check(&h, &roomy).unwrap();
    assert_eq!(decided.valid, Validity::Valid);
    let ceiling = 64u64 << 20;
    assert!(
        decided.stats.cache_bytes < ceiling / 4,
        "the search alone stays under the ceiling ({} bytes of caches)",
        decided.stats.cache_bytes
    );
    for partition in [true, false] {
        let o = LinearizabilityOptions {
            memory_limit: ceiling,
            partition,
            ..roomy.clone()
        };
        let r = check(&h, &o).unwrap();
        assert_eq!(
            (r.valid, r.cause.as_deref()),
            (Validity::Unknown, Some("memory limit")),
            "partition {partition}"
        );
    }
    assert_eq!(ballast.iter().map(|&b| b as usize).sum::<usize>(), 96 << 20);
}

#[test]
fn the_default_ceiling_is_most_of_the_machine() {
    let limit = faultline::checker::linear::default_memory_limit();
    let machine = faultline::procmem::memory_available().expect("linux /proc");
    assert!(
        limit <= machine && limit >= machine / 2,
        "{limit} of {machine}"
    );
}
