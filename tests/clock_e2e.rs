//! End-to-end tests of the clock nemesis (libfaketime) through the built binary against local
//! raftkv clusters: raftkv's lease reads (`--raftkv-read-mode lease`, measured on the wall
//! clock) are caught serving stale reads; ReadIndex raftkv stays valid under the same clock
//! faults on three seeds; lease raftkv stays valid under partitions, kills and pauses with
//! honest clocks; a program libfaketime cannot skew is refused before anything starts; every
//! control file is back at real time when the run ends.
//!
//! The raftkv binary is found next to the faultline binary (`cargo build --release
//! --workspace` first). libfaketime comes with Debian's `faketime` package (.ci/run).

use std::path::Path;

use faultline::checker::Validity;
use serde_json::Value;

mod common;
use common::{
    assert_no_nodes_left, assert_only_leaderless_nemesis_errors, code, history, latest,
    read_results, run_test, text,
};

/// The flags of every run here: the cas-register workload (half its ops are reads of keys
/// written throughout, so a read served from an old leader's state shows), three nodes.
const RUN: &[&str] = &["--workload", "cas-register", "--nodes", "3"];

/// Every run directory under `results`, each with its results.
fn runs(results: &Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for test in std::fs::read_dir(results).expect("results").flatten() {
        if !test.path().is_dir() || test.file_name() == "latest" {
            continue;
        }
        for run in std::fs::read_dir(test.path()).expect("test dir").flatten() {
            if run.path().join("results.json").is_file() {
                all.push(run.path());
            }
        }
    }
    all
}

/// Every node's clock control file of `run` says real time.
fn assert_clocks_reset(run: &Path) {
    for n in ["n1", "n2", "n3"] {
        let file = run.join("nodes").join(n).join("faketime.rc");
        let line = std::fs::read_to_string(&file).expect("control file");
        assert_eq!(line, "+0.000 x1.000000\n", "{}", file.display());
    }
}

#[test]
fn lease_reads_are_caught_by_the_clock_nemesis() {
    if !Path::new(faultline::fakeclock::LIBFAKETIME).is_file() {
        panic!(
            "{} is missing: install Debian's faketime (.ci/run does)",
            faultline::fakeclock::LIBFAKETIME
        );
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let mut args = RUN.to_vec();
    args.extend([
        "--raftkv-read-mode",
        "lease",
        "--nemesis",
        "clock",
        "--time-limit",
        "20",
        "--test-count",
        "3",
        "--seed",
        "1",
    ]);
    let out = run_test(&args, &results);
    assert_no_nodes_left(dir.path());
    assert_eq!(code(&out), 1, "lease reads not caught: {}", text(&out));
    let run = latest(&results);
    let r = read_results(&run);
    assert_eq!(r.valid, Validity::Invalid, "{r:?}");
    assert!(!r.checkers[0].anomalies.is_empty(), "{r:?}");
    assert_clocks_reset(&run);
    // Clock faults are recorded with their parameters and resolved nodes, and journaled.
    let events = history(&run);
    assert!(
        events.iter().any(|e| e["f"] == "clock-bump"
            && e["value"]["ms"].is_i64()
            && e["value"]["clocks"][0]["node"].is_string()),
        "no resolved clock-bump in the history"
    );
    let journal = std::fs::read_to_string(run.join("faults.journal")).expect("journal");
    assert!(
        journal
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|l| l["kind"] == "clock" && l["event"] == "heal"),
        "{journal}"
    );
}

#[test]
fn read_index_raftkv_is_valid_under_clock_faults_on_three_seeds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let mut args = RUN.to_vec();
    args.extend([
        "--nemesis",
        "clock",
        "--time-limit",
        "15",
        "--test-count",
        "3",
        "--seed",
        "1",
    ]);
    let out = run_test(&args, &results);
    assert_no_nodes_left(dir.path());
    assert_eq!(code(&out), 0, "ReadIndex must stay valid: {}", text(&out));
    let all = runs(&results);
    assert_eq!(all.len(), 3, "three seeds ran: {all:?}");
    for run in &all {
        let r = read_results(run);
        assert_eq!(r.valid, Validity::Valid, "{}: {r:?}", run.display());
        // Every clock fault applied; a leader fault may find no leader mid-election.
        assert_only_leaderless_nemesis_errors(&r);
        assert_clocks_reset(run);
    }
}

/// The builtin default schedule.
const MIXED: &str = include_str!("../nemesis/mixed.toml");

/// `schedule` without its `[[fault]]` blocks marked `optional = true` (the families a
/// cluster may lack: power loss, file corruption, clocks).
fn without_optional_faults(schedule: &str) -> String {
    let mut blocks: Vec<String> = vec![String::new()];
    for line in schedule.lines() {
        if line.starts_with("[[") {
            blocks.push(String::new());
        }
        let last = blocks.last_mut().expect("a block");
        last.push_str(line);
        last.push('\n');
    }
    let kept: Vec<String> = blocks
        .into_iter()
        .filter(|b| !(b.starts_with("[[fault]]") && b.contains("optional = true")))
        .collect();
    let out = kept.concat();
    assert!(!out.contains("optional = true") && out.contains("[[pattern]]"));
    out
}

#[test]
fn lease_raftkv_is_valid_under_partitions_kills_and_pauses_with_honest_clocks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    // `mixed` without its optional families (power loss, corruption, clocks): its
    // partitions, kills, pauses and patterns, with every clock honest.
    let schedule = dir.path().join("mixed-honest-clocks.toml");
    std::fs::write(&schedule, without_optional_faults(MIXED)).expect("write schedule");
    let schedule = schedule.to_str().expect("utf-8 path");
    let mut args = RUN.to_vec();
    args.extend([
        "--raftkv-read-mode",
        "lease",
        "--nemesis",
        schedule,
        "--time-limit",
        "20",
        "--seed",
        "2",
    ]);
    let out = run_test(&args, &results);
    assert_no_nodes_left(dir.path());
    assert_eq!(
        code(&out),
        0,
        "lease reads with honest clocks: {}",
        text(&out)
    );
    // No clock faults in the schedule: the nodes ran without libfaketime.
    let run = latest(&results);
    assert!(!run.join("nodes/n1/faketime.rc").exists());
}

#[test]
fn a_program_libfaketime_cannot_skew_is_refused_before_the_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A minimal 64-bit ELF with one PT_LOAD and no PT_INTERP: statically linked.
    let mut elf = vec![0u8; 0x40 + 0x38];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2;
    elf[5] = 1;
    elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
    elf[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
    elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
    elf[0x40..0x44].copy_from_slice(&1u32.to_le_bytes());
    let bin = dir.path().join("static-raftkv");
    std::fs::write(&bin, elf).expect("binary");
    let out = run_test(
        &[
            "--raftkv-bin",
            bin.to_str().expect("utf-8 path"),
            "--nemesis",
            "clock",
            "--time-limit",
            "5",
        ],
        &dir.path().join("results"),
    );
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("static-raftkv") && stderr.contains("statically linked"),
        "{stderr}"
    );
    assert_no_nodes_left(dir.path());
}
