//! The report renders from a compact history exactly as from the same history with `Value`s
//! (issue 20): byte-identical pages for every corpus history (as imported, and written as
//! JSONL then read back by both JSONL readers) and for the stored runs of tests/fixtures
//! (what `faultline report` reads), with the default timeline and with one small enough to
//! downsample.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use faultline::checker::Validity;
use faultline::history::{
    read_history, read_history_compact, CompactHistory, Format, History, HistoryWriter,
};
use faultline::report::data::{AnomalyView, CheckerView};
use faultline::report::timeline::TimelineOptions;
use faultline::report::{self, HistoryView, ReportOptions, RunFacts};
use serde_json::Value;

fn root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Files under `dir` (recursively) with one of `exts`, sorted.
fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("a corpus directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| exts.iter().any(|x| e == *x))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Facts with one invalid checker whose anomaly cites the first, middle and last ops (the
/// timeline must keep them), so the page has every section.
fn facts_citing(h: &dyn HistoryView) -> RunFacts {
    let n = h.op_count();
    let ops: Vec<u64> = if n == 0 {
        Vec::new()
    } else {
        [0, n / 2, n - 1]
            .iter()
            .map(|&i| h.op_facts(i).invoke_index)
            .collect()
    };
    RunFacts {
        name: "compact".into(),
        started_at: None,
        reproduce: None,
        config: vec![("file".into(), "x".into())],
        checkers: vec![CheckerView {
            checker: "linearizability".into(),
            valid: Validity::Invalid,
            cause: None,
            anomalies: vec![AnomalyView {
                kind: "nonlinearizable".into(),
                key: None,
                ops,
                explanation: "cited".into(),
                witness: None,
            }],
            stats: Value::Null,
        }],
        run_error: None,
        interrupted: false,
        availability: Vec::new(),
        skipped: Vec::new(),
    }
}

fn option_sets() -> [ReportOptions; 2] {
    let small = ReportOptions {
        timeline: TimelineOptions {
            max_ops: 40,
            max_value_chars: 20,
        },
        ..ReportOptions::default()
    };
    [ReportOptions::default(), small]
}

/// Renders both and fails naming `what` and the first differing byte.
fn assert_same_pages(what: &str, facts: &RunFacts, full: &History, compact: &CompactHistory) {
    for opts in option_sets() {
        let a = report::render(facts, full, &[], &opts);
        let b = report::render(facts, compact, &[], &opts);
        if a != b {
            let at = a
                .bytes()
                .zip(b.bytes())
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            let lo = at.saturating_sub(80);
            panic!(
                "{what} (max_ops {}): the pages differ at byte {at}:\n{}\nvs\n{}",
                opts.timeline.max_ops,
                String::from_utf8_lossy(&a.as_bytes()[lo..(at + 80).min(a.len())]),
                String::from_utf8_lossy(&b.as_bytes()[lo..(at + 80).min(b.len())])
            );
        }
    }
}

#[test]
fn every_corpus_history_renders_the_same_page_in_compact_form() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut checked = 0;
    for path in files(&root("tests/corpus"), &["edn", "log", "txt"]) {
        if path.ends_with("paper-example.edn") {
            continue; // Not a history: rejected by the reader (tests/history_corpus.rs).
        }
        let name = path.display().to_string();
        let (imported, _, _) = read_history(&path, None).unwrap_or_else(|e| panic!("{e}"));
        let facts = facts_citing(&imported);
        assert_same_pages(
            &name,
            &facts,
            &imported,
            &CompactHistory::from_history(&imported),
        );

        // Written as JSONL, then read by the Value reader and by the compact one.
        let jsonl = dir.path().join("h.jsonl");
        let mut w = HistoryWriter::new(BufWriter::new(
            fs::File::create(&jsonl).expect("a temp file"),
        ));
        w.write_history(&imported).expect("written");
        w.flush().expect("flushed");
        drop(w);
        let (full, _, _) = read_history(&jsonl, Some(Format::Jsonl)).expect("JSONL back");
        let (compact, _, _) = read_history_compact(&jsonl, Some(Format::Jsonl)).expect("compact");
        assert_same_pages(&format!("{name} as JSONL"), &facts, &full, &compact);
        checked += 1;
    }
    assert!(checked > 200, "only {checked} corpus histories found");
}

#[test]
fn stored_runs_render_the_same_page_from_load_run() {
    for dir in [
        "raftkv-cas-register-mixed",
        "raftkv-register-partition-leader-bug-stale-read",
    ] {
        let dir = root("tests/fixtures/v0-runs").join(dir);
        let (facts, compact) = report::load_run(&dir).expect("the stored run");
        let (full, _, _) = read_history(&dir.join("history.jsonl"), Some(Format::Jsonl))
            .expect("the stored history");
        assert!(full.ops.len() > 10, "{}", dir.display());
        assert_same_pages(&dir.display().to_string(), &facts, &full, &compact);
    }
}
