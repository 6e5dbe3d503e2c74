//! End-to-end tests of `faultline check --model set-full|bank|counter|unique-ids` through the
//! built binary: small JSONL histories written by each test; valid exits 0, an anomaly exits
//! 1 naming it, a malformed op exits 3 naming its history index.

use std::path::PathBuf;
use std::process::Output;

use serde_json::{json, Value};
use tempfile::TempDir;

mod common;

/// Writes `events` (process, type, f, value) as a JSONL history; a nemesis event is put in
/// the middle (at event `len / 2`, so later events are one history index further on) to
/// show it is ignored.
fn write_history(dir: &TempDir, name: &str, events: &[(u64, &str, &str, Value)]) -> PathBuf {
    let mut text = String::new();
    for (i, (p, t, f, v)) in events.iter().enumerate() {
        if i == events.len() / 2 {
            text.push_str(
                "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"partition-start\",\"value\":null}\n",
            );
        }
        let e = json!({"process": p, "type": t, "f": f, "value": v});
        text.push_str(&e.to_string());
        text.push('\n');
    }
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write the history");
    path
}

fn check(path: &PathBuf, args: &[&str]) -> Output {
    common::faultline()
        .arg("check")
        .arg(path)
        .args(args)
        .output()
        .expect("the faultline binary runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("faultline exited normally")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read(value: Value) -> [(u64, &'static str, &'static str, Value); 2] {
    [(9, "invoke", "read", Value::Null), (9, "ok", "read", value)]
}

#[test]
fn set_full_valid_lost_and_malformed() {
    let dir = TempDir::new().unwrap();
    let mut ok = vec![
        (0, "invoke", "add", json!(1)),
        (0, "ok", "add", json!(1)),
        (1, "invoke", "add", json!(2)),
        (1, "info", "add", json!(2)),
    ];
    ok.extend(read(json!([1, 2])));
    let valid = write_history(&dir, "set-ok.jsonl", &ok);
    let out = check(&valid, &["--model", "set-full"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("model set-full;"), "{}", text(&out));

    let mut lost = ok.clone();
    lost.extend(read(json!([2])));
    let lost = write_history(&dir, "set-lost.jsonl", &lost);
    let out = check(&lost, &["--model", "set-full"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("lost: 1 element"), "{}", text(&out));

    let mut bad = ok.clone();
    bad.extend(read(json!({"not": "a list"})));
    let bad = write_history(&dir, "set-bad.jsonl", &bad);
    let out = check(&bad, &["--model", "set-full"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    // Six events before it, the nemesis event included: its invoke is history index 7.
    assert!(
        text(&out).contains("set-bad.jsonl: malformed op at history index 7: read by process 9"),
        "{}",
        text(&out)
    );
}

#[test]
fn set_full_stale_is_invalid_unless_allowed() {
    let dir = TempDir::new().unwrap();
    let mut events = vec![(0, "invoke", "add", json!(1)), (0, "ok", "add", json!(1))];
    events.extend(read(json!([])));
    events.extend(read(json!([1])));
    let path = write_history(&dir, "stale.jsonl", &events);
    let out = check(&path, &["--model", "set-full"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("stale: 1 element became visible late"));
    let out = check(&path, &["--model", "set-full", "--allow-stale", "--json"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let details = &report["files"][0]["result"]["details"];
    assert_eq!(details["stale_count"], json!(1));
    assert_eq!(details["linearizable"], json!(false));
}

#[test]
fn add_and_read_is_still_guessed_as_the_linearizable_set() {
    let dir = TempDir::new().unwrap();
    let mut events = vec![(0, "invoke", "add", json!(1)), (0, "ok", "add", json!(1))];
    events.extend(read(json!([1])));
    let path = write_history(&dir, "set.jsonl", &events);
    let out = check(&path, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("model set (guessed)"), "{}", text(&out));
}

#[test]
fn bank_valid_wrong_total_flags_and_malformed() {
    let dir = TempDir::new().unwrap();
    let t = json!({"from": 0, "to": 1, "amount": 5});
    let mut events = vec![
        (1, "invoke", "transfer", t.clone()),
        (1, "info", "transfer", t),
    ];
    events.extend(read(json!({"0": 10, "1": 10})));
    events.extend(read(json!({"0": 5, "1": 15})));
    let valid = write_history(&dir, "bank-ok.jsonl", &events);
    let out = check(&valid, &["--bank-total", "20", "--bank-accounts", "2"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("model bank (guessed)"),
        "{}",
        text(&out)
    );

    // The same history against a total of 30: every read is wrong.
    let out = check(&valid, &["--model", "bank", "--bank-total", "30", "--json"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let result = &report["files"][0]["result"];
    assert_eq!(result["anomalies"].as_array().unwrap().len(), 2);
    assert_eq!(result["anomalies"][0]["kind"], json!("wrong-total"));
    assert_eq!(result["details"]["series"]["total"], json!([20, 20]));
    assert_eq!(result["details"]["inferred"], json!(["accounts"]));

    // Inferred: the output says so.
    let mut events = events.clone();
    events.extend(read(json!({"0": -5, "1": 25})));
    let negative = write_history(&dir, "bank-neg.jsonl", &events);
    let out = check(&negative, &[]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("note: the total (20) was inferred"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("negative-balance: read #"),
        "{}",
        text(&out)
    );

    let bad = write_history(
        &dir,
        "bank-bad.jsonl",
        &[(1, "invoke", "transfer", json!({"from": 0, "amount": 5}))],
    );
    let out = check(&bad, &["--model", "bank"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("malformed op at history index 1: transfer by process 1"));

    let out = check(&valid, &["--bank-accounts", "0"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
}

#[test]
fn counter_valid_out_of_bounds_and_malformed() {
    let dir = TempDir::new().unwrap();
    let mut events = vec![
        (0, "invoke", "add", json!(2)),
        (0, "ok", "add", json!(2)),
        (1, "invoke", "add", json!(3)),
        (1, "info", "add", json!(3)),
    ];
    events.extend(read(json!(5)));
    let valid = write_history(&dir, "counter-ok.jsonl", &events);
    let out = check(&valid, &["--model", "counter"]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    let mut low = events.clone();
    low.extend(read(json!(1)));
    let low = write_history(&dir, "counter-low.jsonl", &low);
    let out = check(&low, &["--model", "counter"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("counter-too-low: read #7 returned 1")
            && text(&out).contains("between 2 and 5"),
        "{}",
        text(&out)
    );

    let bad = write_history(
        &dir,
        "counter-bad.jsonl",
        &[(0, "invoke", "add", json!("two"))],
    );
    let out = check(&bad, &["--model", "counter"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        text(&out).contains("malformed op at history index 1: add by process 0")
            && text(&out).contains("an add's value must be an integer"),
        "{}",
        text(&out)
    );
}

#[test]
fn unique_ids_valid_duplicate_and_malformed() {
    let dir = TempDir::new().unwrap();
    let gen = |p: u64, id: Value| {
        [
            (p, "invoke", "generate", Value::Null),
            (p, "ok", "generate", id),
        ]
    };
    let mut events: Vec<_> = gen(0, json!(1))
        .into_iter()
        .chain(gen(1, json!(2)))
        .collect();
    let valid = write_history(&dir, "ids-ok.jsonl", &events);
    let out = check(&valid, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("model unique-ids (guessed)"),
        "{}",
        text(&out)
    );

    events.extend(gen(2, json!(1)));
    let dup = write_history(&dir, "ids-dup.jsonl", &events);
    let out = check(&dup, &["--model", "unique-ids"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains(
            "duplicate-id: id 1 was handed out 2 times: to #0 (process 0), #5 (process 2)"
        ),
        "{}",
        text(&out)
    );

    let bad = write_history(&dir, "ids-bad.jsonl", &gen(0, Value::Null));
    let out = check(&bad, &["--model", "unique-ids"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        text(&out).contains("malformed op at history index 0"),
        "{}",
        text(&out)
    );
}

#[test]
fn unknown_model_lists_the_workload_checkers() {
    let dir = TempDir::new().unwrap();
    let path = write_history(&dir, "h.jsonl", &read(json!(1)));
    let out = check(&path, &["--model", "sets"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    for name in ["set-full", "bank", "counter", "unique-ids"] {
        assert!(text(&out).contains(name), "{name}: {}", text(&out));
    }
}
