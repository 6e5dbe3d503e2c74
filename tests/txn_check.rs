//! End to end through the `faultline` binary: the Elle corpus (tests/corpus/elle) gives the
//! verdicts its EXPECTED.md states, and `check` takes `--model list-append|rw-register`,
//! `--consistency-model` and `--dot-dir`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn elle(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/elle")
        .join(name)
}

/// Runs `faultline check --json ARGS`; returns the exit code and the one file's report.
fn check(args: &[&str]) -> (i32, Value, Output) {
    let out = common::faultline()
        .arg("check")
        .arg("--json")
        .args(args)
        .output()
        .expect("the faultline binary runs");
    let code = out.status.code().expect("faultline exited normally");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "--json output is JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, report["files"][0].clone(), out)
}

fn list(file: &Value, field: &str) -> Vec<String> {
    file["result"]["details"][field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn kinds(file: &Value) -> Vec<String> {
    file["result"]["anomalies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["kind"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn si_without_g_single_is_snapshot_isolated_but_not_repeatable_read() {
    let f = elle("si-without-g-single.edn");
    let f = f.to_str().unwrap();
    // EXPECTED.md: G2-item, not repeatable-read; valid under snapshot isolation.
    let (code, file, _) = check(&[f, "--consistency-model", "snapshot-isolation"]);
    assert_eq!(code, 0, "{file}");
    assert_eq!(file["model"], "list-append");
    assert_eq!(file["model_guessed"], true);
    for model in ["repeatable-read", "serializable"] {
        let (code, file, _) = check(&[f, "--model", "list-append", "--consistency-model", model]);
        assert_eq!(code, 1, "{model}: {file}");
        assert_eq!(kinds(&file), vec!["G2-item"], "{model}");
        assert_eq!(list(&file, "not"), vec!["repeatable-read"], "{model}");
        assert!(
            !kinds(&file).iter().any(|k| k.starts_with("G-single")),
            "{model}"
        );
    }
    // The default model, strict serializability, also sees the real-time order.
    let (code, file, _) = check(&[f]);
    assert_eq!(code, 1);
    assert_eq!(
        file["result"]["details"]["consistency-model"],
        "strict-serializable"
    );
    assert!(kinds(&file).contains(&"G2-item".to_string()));
}

#[test]
fn huge_scc_is_invalid_with_strong_snapshot_isolation_ruled_out() {
    let f = elle("huge-scc.edn");
    let (code, file, _) = check(&[f.to_str().unwrap()]);
    // EXPECTED.md: invalid, with the strongest SI-family model (strong snapshot isolation)
    // ruled out; a faster checker may name the G-single-realtime cycle itself.
    assert_eq!(code, 1, "{file}");
    let mut ruled_out = list(&file, "not");
    ruled_out.extend(list(&file, "also-not"));
    assert!(
        ruled_out.contains(&"strong-snapshot-isolation".to_string()),
        "{ruled_out:?}"
    );
    assert_eq!(file["result"]["details"]["txns"]["ok"], 3036);
    assert_eq!(file["result"]["details"]["txns"]["fail"], 7070);
    assert_eq!(file["result"]["details"]["txns"]["info"], 148);
}

#[test]
fn paper_example_needs_processes_and_then_shows_g_single() {
    // As stored, its ops have no :process: bad input, naming the line (EXPECTED.md).
    let f = elle("paper-example.edn");
    let (code, file, _) = check(&[f.to_str().unwrap(), "--model", "list-append"]);
    assert_eq!(code, 3);
    assert!(
        file["error"].as_str().unwrap_or("").contains(":process"),
        "{file}"
    );
    // With a process and :f :txn per txn: G-single-item (EXPECTED.md's hand analysis).
    let text = std::fs::read_to_string(&f).unwrap();
    let mut fixed = String::new();
    for line in text.lines() {
        let index: u64 = line
            .split(":index ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.trim_end_matches(',').parse().ok())
            .expect("every line has an :index");
        fixed.push_str(&line.replacen('{', &format!("{{:process {} :f :txn ", index / 2), 1));
        fixed.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paper-example-with-processes.edn");
    std::fs::write(&path, fixed).unwrap();
    let (code, file, _) = check(&[
        path.to_str().unwrap(),
        "--consistency-model",
        "serializable",
    ]);
    assert_eq!(code, 1, "{file}");
    assert_eq!(kinds(&file), vec!["G-single-item"]);
    let steps = &file["result"]["anomalies"][0]["witness"]["steps"];
    let rels: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["relation"].as_str().unwrap())
        .collect();
    let mut sorted = rels.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["rw", "wr", "ww"], "{rels:?}");
    assert_eq!(
        file["result"]["anomalies"][0]["ops"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// A small JSONL list-append history with a stale read: process 1 reads x after process 0's
/// append of 1 completed, and misses it.
const STALE: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"txn","value":[["append","x",1]]}
{"index":1,"time":1,"process":0,"type":"ok","f":"txn","value":[["append","x",1]]}
{"index":2,"time":2,"process":1,"type":"invoke","f":"txn","value":[["r","x",null]]}
{"index":3,"time":3,"process":1,"type":"ok","f":"txn","value":[["r","x",[]]]}
"#;

#[test]
fn dot_dir_gets_a_dot_and_svg_per_cycle_and_the_human_summary_names_the_models() {
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("stale.jsonl");
    std::fs::write(&hist, STALE).unwrap();
    let dots = dir.path().join("dots");
    let out = common::faultline()
        .arg("check")
        .arg(&hist)
        .arg("--dot-dir")
        .arg(&dots)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("G-single-item-realtime"), "{stdout}");
    assert!(
        stdout.contains("not: strong-snapshot-isolation"),
        "{stdout}"
    );
    assert!(stdout.contains("T2 -rw-> T0"), "{stdout}");
    let dot = dots.join("cycle-000-G-single-item-realtime.dot");
    let text = std::fs::read_to_string(&dot).expect("the DOT file is written");
    assert!(text.contains("T2 -> T0"), "{text}");
    // Graphviz is installed by .ci/run, so an SVG is rendered too.
    let svg = std::fs::read_to_string(dot.with_extension("svg")).expect("an SVG beside it");
    assert!(svg.contains("<svg"));
    // Under plain serializability there is no cycle.
    let (code, file, _) = check(&[
        hist.to_str().unwrap(),
        "--consistency-model",
        "serializable",
    ]);
    assert_eq!(code, 0, "{file}");
}

#[test]
fn rw_register_is_guessed_and_multi_register_still_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("rw.jsonl");
    std::fs::write(
        &hist,
        r#"{"process":0,"type":"invoke","f":"txn","value":[["w","x",1],["w","y",1]]}
{"process":1,"type":"invoke","f":"txn","value":[["r","x",null],["r","y",null]]}
{"process":0,"type":"ok","f":"txn","value":[["w","x",1],["w","y",1]]}
{"process":1,"type":"ok","f":"txn","value":[["r","x",1],["r","y",null]]}
"#,
    )
    .unwrap();
    let (code, file, _) = check(&[hist.to_str().unwrap()]);
    assert_eq!(code, 1, "{file}");
    assert_eq!(file["model"], "rw-register");
    assert_eq!(kinds(&file), vec!["G-single-item"]);
    // Knossos multi-register histories use read/write micro-ops: still guessed as such.
    let knossos = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/knossos/multi-register/good/multi-register.edn");
    let (_, file, _) = check(&[knossos.to_str().unwrap(), "--initial", r#"{"x":0,"y":0}"#]);
    assert_eq!(file["model"], "multi-register");
}

#[test]
fn bad_transactional_input_exits_3_naming_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("dup.jsonl");
    std::fs::write(
        &hist,
        r#"{"process":0,"type":"invoke","f":"txn","value":[["append","x",1]]}
{"process":0,"type":"ok","f":"txn","value":[["append","x",1]]}
{"process":1,"type":"invoke","f":"txn","value":[["append","x",1]]}
{"process":1,"type":"ok","f":"txn","value":[["append","x",1]]}
"#,
    )
    .unwrap();
    let (code, file, _) = check(&[hist.to_str().unwrap(), "--model", "list-append"]);
    assert_eq!(code, 3);
    let err = file["error"].as_str().unwrap();
    assert!(
        err.contains("dup.jsonl") && err.contains("op 0") && err.contains("op 2"),
        "{err}"
    );
    let out = common::faultline()
        .args(["check", "--consistency-model", "linearizable"])
        .arg(&hist)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown consistency model"));
}
