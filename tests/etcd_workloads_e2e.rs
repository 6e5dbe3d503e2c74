//! End-to-end tests of the non-register workloads on etcd through the built binary: each
//! (set, counter, bank, unique-ids, list-append, rw-register) is valid on a local 3-node etcd
//! cluster under the mixed nemesis (short runs), and `--etcd-serializable-reads` — stale reads
//! from a cut-off node — is caught by the counter checker (fixed seed, bounded tries). Each run
//! leaves no namespace, link, rule or process behind.
//!
//! These need root, `etcd` (Debian: etcd-server), `ip` and `iptables`. Without them each test
//! prints why and passes, unless `FAULTLINE_REQUIRE_ETCD=1` (CI sets it) makes that a failure.

use std::path::{Path, PathBuf};

use faultline::checker::Validity;
use faultline::report::data::CheckerView;
use faultline::rundir::{ResultsRecord, TEST_FILE};

mod common;
use common::etcd::{assert_nothing_left, can_run, network_prefix};
use common::{faultline, read_results, text};

/// Every run directory under `results` (`results/<test name>/<time>`, one per
/// `--test-count` try).
fn runs(results: &Path) -> Vec<PathBuf> {
    let subdirs = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir() && !p.is_symlink())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut dirs: Vec<PathBuf> = subdirs(results)
        .iter()
        .flat_map(|test| subdirs(test))
        .filter(|run| run.join(TEST_FILE).is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Removes the runs' clusters on drop (`faultline cluster down`), so a failing test cleans up.
struct Down(Vec<PathBuf>);

impl Drop for Down {
    fn drop(&mut self) {
        for dir in &self.0 {
            let _ = faultline().args(["cluster", "down"]).arg(dir).output();
        }
    }
}

/// What a `faultline test --target etcd` run gave.
struct Ran {
    code: i32,
    /// results.json of the last try.
    results: ResultsRecord<CheckerView>,
    shown: String,
}

/// Runs `faultline test --target etcd --nodes 3 --workload NAME` with `extra` flags; checks
/// that every try's network and processes are gone.
fn run(workload: &str, extra: &[&str]) -> Ran {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let out = faultline()
        .args([
            "test",
            "--target",
            "etcd",
            "--nodes",
            "3",
            "--workload",
            workload,
        ])
        .args(extra)
        .arg("--results")
        .arg(&results)
        .output()
        .expect("faultline runs");
    let tries = runs(&results);
    let _down = Down(tries.clone());
    let shown = text(&out);
    assert!(!tries.is_empty(), "no run directory: {shown}");
    for run in &tries {
        let prefix = network_prefix(run).unwrap_or_else(|| panic!("no network logged: {shown}"));
        assert_nothing_left(&prefix, dir.path());
    }
    let latest = std::fs::canonicalize(results.join("latest")).expect("results/latest");
    Ran {
        code: out.status.code().unwrap_or(-1),
        results: read_results(&latest),
        shown,
    }
}

/// Under the mixed nemesis (partitions, kills, pauses): valid, judged by `checker`, with
/// more than 20 ok ops.
fn valid_on_etcd(workload: &str, checker: &str) {
    if !can_run(&format!("{workload}_is_valid_on_etcd")) {
        return;
    }
    let ran = run(
        workload,
        &[
            "--nemesis",
            "mixed",
            "--seed",
            "5",
            "--time-limit",
            "10",
            "--nemesis-interval",
            "2",
        ],
    );
    let json = &ran.results;
    assert_eq!(ran.code, 0, "{workload}: {json:?}\n{}", ran.shown);
    assert_eq!(json.valid, Validity::Valid, "{json:?}");
    assert_eq!(json.checkers[0].checker, checker, "{json:?}");
    assert!(json.counts.unwrap_or_default().ok > 20, "{json:?}");
}

#[test]
fn set_is_valid_on_etcd() {
    valid_on_etcd("set", "set-full");
}

#[test]
fn counter_is_valid_on_etcd() {
    valid_on_etcd("counter", "counter");
}

#[test]
fn bank_is_valid_on_etcd() {
    valid_on_etcd("bank", "bank");
}

#[test]
fn unique_ids_is_valid_on_etcd() {
    valid_on_etcd("unique-ids", "unique-ids");
}

#[test]
fn list_append_is_valid_on_etcd() {
    valid_on_etcd("list-append", "list-append");
}

#[test]
fn rw_register_is_valid_on_etcd() {
    valid_on_etcd("rw-register", "rw-register");
}

#[test]
fn serializable_reads_are_caught_by_the_counter() {
    if !can_run("serializable_reads_are_caught_by_the_counter") {
        return;
    }
    let ran = run(
        "counter",
        &[
            "--etcd-serializable-reads",
            "--nemesis",
            "partition-one",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "10",
            "--rate",
            "200",
            "--seed",
            "2",
            "--test-count",
            "3",
        ],
    );
    let json = &ran.results;
    assert_eq!(
        ran.code, 1,
        "the stale read was not caught: {json:?}\n{}",
        ran.shown
    );
    assert_eq!(json.valid, Validity::Invalid, "{json:?}");
    assert!(
        json.checkers[0]
            .anomalies
            .iter()
            .any(|a| a.kind == "counter-too-low"),
        "{json:?}"
    );
}
