//! Checking while reading gives exactly the result of checking after reading: random keyed
//! register histories (keys used for a while then never again, keys used throughout,
//! invalid keys planted in several places, `info` ops, ops never completed), read in
//! several chunk plans with small quiet windows.

use super::stream::{read_speculating_in_chunks, SpecModel, StreamOptions};
use super::{check_compact, check_compact_speculated, LinearizabilityOptions};
use crate::checker::model::{ModelKind, ModelOptions};
use crate::checker::CheckResult;
use crate::history::read_jsonl_compact;
use proptest::prelude::*;

use super::test_rng::Rng;

/// One open op of the simulation.
struct Open {
    f: &'static str,
    key: u64,
    arg: String,
    result: Option<String>,
    applied: bool,
}

/// `ops` register ops by 6 processes against a linearizable store: keys 0 and 1 are used
/// throughout, and a new key (100, 101, ...) takes over every `run` ops and is never used
/// again. Reads at the op numbers in `plant` return a value never written. About 5% of ops
/// end `info`; ops still open at the end are left without a completion.
fn history(seed: u64, ops: usize, run: usize, plant: &[usize]) -> String {
    let mut rng = Rng(seed);
    let procs = 6;
    let mut out = String::new();
    let mut store = std::collections::HashMap::<u64, u64>::new();
    let mut open: Vec<Option<Open>> = (0..procs).map(|_| None).collect();
    let mut pids: Vec<u64> = (0..procs as u64).collect();
    let mut next_pid = procs as u64;
    let (mut started, mut value) = (0usize, 0u64);
    let show = |v: Option<&u64>| v.map_or("null".to_string(), u64::to_string);
    let event = |out: &mut String, p: u64, kind: &str, f: &str, key: u64, v: &str| {
        out.push_str(&format!(
            "{{\"process\":{p},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":{key},\"value\":{v}}}\n"
        ));
    };
    // Stop part way through the last ops so some stay open.
    let mut steps = 0;
    while started < ops || (open.iter().any(Option::is_some) && steps < 8 * ops) {
        steps += 1;
        let p = rng.below(procs as u64) as usize;
        match open[p].take() {
            None if started < ops => {
                let key = if rng.below(3) == 0 {
                    rng.below(2)
                } else {
                    100 + (started / run) as u64
                };
                let roll = rng.below(10);
                let (f, arg) = if roll < 5 {
                    ("read", "null".to_string())
                } else if roll < 8 {
                    value += 1;
                    ("write", value.to_string())
                } else {
                    value += 1;
                    let from = if rng.below(2) == 0 {
                        show(store.get(&key))
                    } else {
                        show(Some(&rng.below(value)).filter(|&&v| v > 0))
                    };
                    ("cas", format!("[{from},{value}]"))
                };
                let planted = f == "read" && plant.contains(&started);
                started += 1;
                event(&mut out, pids[p], "invoke", f, key, &arg);
                open[p] = Some(Open {
                    f,
                    key,
                    arg,
                    result: planted.then(|| "999999".to_string()),
                    applied: false,
                });
            }
            None => {}
            Some(mut op) if !op.applied => {
                if rng.below(40) == 0 {
                    event(&mut out, pids[p], "info", op.f, op.key, &op.arg);
                    pids[p] = next_pid;
                    next_pid += 1;
                    continue;
                }
                match op.f {
                    "read" => {
                        if op.result.is_none() {
                            op.result = Some(show(store.get(&op.key)));
                        }
                    }
                    "write" => {
                        store.insert(op.key, op.arg.parse().expect("generated write"));
                    }
                    _ => {
                        let inner = &op.arg[1..op.arg.len() - 1];
                        let (from, to) = inner.split_once(',').expect("generated cas");
                        if show(store.get(&op.key)) == from {
                            store.insert(op.key, to.parse().expect("generated cas"));
                        } else {
                            op.result = Some("fail".to_string());
                        }
                    }
                }
                op.applied = true;
                open[p] = Some(op);
            }
            Some(op) => {
                if rng.below(40) == 0 {
                    event(&mut out, pids[p], "info", op.f, op.key, &op.arg);
                    pids[p] = next_pid;
                    next_pid += 1;
                } else if op.result.as_deref() == Some("fail") {
                    event(&mut out, pids[p], "fail", op.f, op.key, &op.arg);
                } else {
                    let v = op.result.clone().unwrap_or(op.arg.clone());
                    event(&mut out, pids[p], "ok", op.f, op.key, &v);
                }
            }
        }
    }
    out
}

/// The result without what depends on timing (times, cache bytes).
fn timeless(mut r: CheckResult) -> CheckResult {
    r.stats.elapsed_secs = 0.0;
    r.stats.explain_secs = r.stats.explain_secs.map(|_| 0.0);
    r.stats.cache_bytes = 0;
    r
}

fn options(model: ModelKind) -> LinearizabilityOptions {
    LinearizabilityOptions {
        model,
        ..Default::default()
    }
}

/// Checks `text` after reading and while reading (window `window`, `chunk`-byte chunks,
/// `workers` threads) and asserts the same result; returns the keys reused.
fn assert_same(text: &str, model: SpecModel, window: u64, chunk: usize, workers: usize) -> u64 {
    let opts = options(ModelKind::CasRegister);
    let h = read_jsonl_compact(text.as_bytes(), "h").unwrap();
    let want = timeless(check_compact(&h, &opts).unwrap());
    let stream = StreamOptions {
        model,
        model_options: ModelOptions::default(),
        memory_limit: opts.memory_limit,
        window: Some(window),
        wait: true,
    };
    let (h2, spec) = read_speculating_in_chunks(text.as_bytes(), &stream, chunk, workers).unwrap();
    assert_eq!(h2.to_history(), h.to_history());
    let reused = spec.reusable();
    let got = timeless(check_compact_speculated(&h2, &opts, spec).unwrap());
    assert_eq!(
        got, want,
        "window {window}, chunk {chunk}, {workers} workers"
    );
    reused
}

fn guess(fs: &std::collections::BTreeSet<&str>) -> Option<ModelKind> {
    fs.iter()
        .all(|f| ["read", "write", "cas"].contains(f))
        .then_some(ModelKind::CasRegister)
}

#[test]
fn a_valid_history_of_finished_keys_is_mostly_decided_while_reading() {
    let text = history(7, 2_000, 50, &[]);
    let reused = assert_same(
        &text,
        SpecModel::Given(ModelKind::CasRegister),
        40,
        2_000,
        1,
    );
    assert!(reused > 20, "{reused} keys reused");
    let reused = assert_same(&text, SpecModel::Guess(guess), 40, 2_000, 0);
    assert!(reused > 20, "{reused} keys reused with a guessed model");
}

#[test]
fn the_first_invalid_key_is_explained_whether_it_was_searched_while_reading_or_not() {
    // Invalid keys early (decided while reading), in the middle and late.
    let text = history(11, 3_000, 40, &[200, 201, 202, 1_500, 2_900]);
    let reused = assert_same(
        &text,
        SpecModel::Given(ModelKind::CasRegister),
        30,
        1_000,
        2,
    );
    assert!(reused > 10, "{reused} keys reused");
    // The key explained (the first invalid one, early) was decided while reading: its
    // explanation came from searching it again.
    let opts = options(ModelKind::CasRegister);
    let stream = StreamOptions {
        model: SpecModel::Given(ModelKind::CasRegister),
        model_options: ModelOptions::default(),
        memory_limit: opts.memory_limit,
        window: Some(30),
        wait: true,
    };
    let (h, spec) = read_speculating_in_chunks(text.as_bytes(), &stream, 1_000, 2).unwrap();
    let explained = check_compact(&h, &opts).unwrap().anomalies[0].key.clone();
    let at = spec.groups.iter().position(|g| g.0 == explained).unwrap();
    let out = spec.outcomes[at].as_ref().expect("searched while reading");
    assert_eq!(out.key_ops, spec.groups[at].1.len(), "and reused");
}

#[test]
fn another_model_than_the_final_one_reuses_nothing() {
    let text = history(3, 600, 30, &[100]);
    let opts = options(ModelKind::CasRegister);
    let stream = StreamOptions {
        model: SpecModel::Given(ModelKind::Kv),
        model_options: ModelOptions::default(),
        memory_limit: opts.memory_limit,
        window: Some(10),
        wait: true,
    };
    let (h, spec) = read_speculating_in_chunks(text.as_bytes(), &stream, 500, 1).unwrap();
    assert!(spec.searched > 0);
    let want = timeless(check_compact(&h, &opts).unwrap());
    let got = timeless(check_compact_speculated(&h, &opts, spec).unwrap());
    assert_eq!(got, want);
}

#[test]
fn a_key_whose_ops_resume_after_its_search_is_checked_again() {
    // Key 5 looks done (valid), other keys run for a long while, then key 5 gets a read of
    // a value never written: only the final check can see it.
    let mut text = String::new();
    let mut line = |p: u64, kind: &str, f: &str, key: u64, v: &str| {
        text.push_str(&format!(
            "{{\"process\":{p},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":{key},\"value\":{v}}}\n"
        ));
    };
    line(0, "invoke", "write", 5, "1");
    line(0, "ok", "write", 5, "1");
    line(0, "invoke", "read", 5, "null");
    line(0, "ok", "read", 5, "1");
    for i in 0..200 {
        line(1, "invoke", "write", 6, &i.to_string());
        line(1, "ok", "write", 6, &i.to_string());
    }
    line(0, "invoke", "read", 5, "null");
    line(0, "ok", "read", 5, "7");
    let opts = options(ModelKind::CasRegister);
    let stream = StreamOptions {
        model: SpecModel::Given(ModelKind::CasRegister),
        model_options: ModelOptions::default(),
        memory_limit: opts.memory_limit,
        window: Some(20),
        wait: true,
    };
    let (h, spec) = read_speculating_in_chunks(text.as_bytes(), &stream, 300, 1).unwrap();
    assert_eq!(spec.searched, 1, "key 5 was searched while reading");
    assert_eq!(spec.reusable(), 0, "and got an op after");
    let got = check_compact_speculated(&h, &opts, spec).unwrap();
    assert_eq!(got.valid, crate::checker::Validity::Invalid);
    assert_eq!(got.anomalies[0].key, Some(serde_json::json!(5)));
    assert_eq!(timeless(got), timeless(check_compact(&h, &opts).unwrap()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn checking_while_reading_equals_checking_after_reading(
        seed in any::<u64>(),
        ops in 100usize..1_500,
        run in 5usize..80,
        plants in prop::collection::vec(0usize..1_500, 0..4),
        window in 1u64..200,
        chunk in 50usize..5_000,
        workers in 0usize..3,
    ) {
        let text = history(seed, ops, run, &plants);
        assert_same(&text, SpecModel::Given(ModelKind::CasRegister), window, chunk, workers);
    }
}

#[test]
fn functions_with_no_per_key_model_stop_the_tracking_and_reuse_nothing() {
    let text = history(5, 400, 20, &[])
        + "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[]}\n";
    let stream = StreamOptions {
        model: SpecModel::Guess(guess),
        model_options: ModelOptions::default(),
        memory_limit: 1 << 30,
        window: Some(10),
        wait: true,
    };
    let (h, spec) = read_speculating_in_chunks(text.as_bytes(), &stream, 300, 1).unwrap();
    assert_eq!(spec.model(), None, "the txn op leaves no model");
    assert_eq!(h.ops.len(), 401);
    // The final check refuses the txn op the same way either way.
    let opts = options(ModelKind::Kv);
    let want = check_compact(&h, &opts)
        .map(timeless)
        .map_err(|e| e.to_string());
    let got = check_compact_speculated(&h, &opts, spec)
        .map(timeless)
        .map_err(|e| e.to_string());
    assert!(want.is_err());
    assert_eq!(got, want);
}
