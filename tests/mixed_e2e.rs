//! End-to-end tests of the default `mixed` schedule's optional families (power loss, file
//! corruption, clocks: the shared last slot of each round) through the built binary: correct
//! raftkv stays valid once the last slot has fired, and a cluster that cannot inject a family
//! runs without it, saying so in one line everywhere a reader looks (summary, faultline.log,
//! test.json, results.json, report.html) — while naming such a family explicitly still exits 3.
//!
//! The raftkv binary is found next to the faultline binary (`cargo build --release
//! --workspace` first). The etcd test needs root, etcd, ip and iptables (it says so and
//! returns without them, or fails under `FAULTLINE_REQUIRE_ETCD=1`).

use std::path::Path;

use faultline::checker::Validity;
use faultline::rundir::{LOG_FILE, REPORT_FILE};

mod common;
use common::etcd::{assert_nothing_left, can_run, network_prefix};
use common::{assert_no_nodes_left, code, latest, nemesis_fs, read_results, run_test, text};

/// The families of `mixed`'s last slot, as their start ops are named in the history.
const LAST_SLOT_STARTS: &[(&str, &str)] = &[
    ("power-loss", "power-loss"),
    ("file-corruption", "corrupt-file"),
    ("clock", "clock-bump"),
    ("clock", "clock-strobe"),
    ("clock", "clock-rate"),
];

/// Asserts `line` is in the summary (stdout), faultline.log, both records and the report.
fn assert_skipped_everywhere(run: &Path, stdout: &str, family: &str, why: &str) {
    let line = format!("skipped: {family} ({why}");
    assert!(stdout.contains(&line), "summary lacks {line:?}:\n{stdout}");
    let log = std::fs::read_to_string(run.join(LOG_FILE)).expect("faultline.log");
    assert!(log.contains(&line), "faultline.log lacks {line:?}:\n{log}");
    let results = read_results(run);
    assert!(
        results
            .nemesis_skipped
            .iter()
            .any(|s| s.family == family && s.why.starts_with(why)),
        "results.json: {:?}",
        results.nemesis_skipped
    );
    let test = common::read_test_record(run);
    assert_eq!(test.nemesis_skipped, results.nemesis_skipped);
    let report = std::fs::read_to_string(run.join(REPORT_FILE)).expect("report.html");
    assert!(
        report.contains(&format!("Nemesis skipped: {family} (")),
        "report.html names the skipped {family}"
    );
}

/// Correct raftkv under the default schedule at a 1.5 s pace for 35 s: from seed 3 the first
/// round (partitions, kills, pauses, both patterns) ends before 30 s and its last slot fires
/// (a power loss on a machine with root and /dev/fuse). Whatever this machine supports, each
/// optional family either ran or is reported skipped, and the verdict is valid.
#[test]
fn correct_raftkv_under_mixed_is_valid_once_its_last_slot_fired() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = [
        "--seed",
        "3",
        "--time-limit",
        "35",
        "--nemesis-interval",
        "1.5",
    ];
    let out = run_test(&args, &results);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&results);
    let record = read_results(&run);
    assert_eq!(record.valid, Validity::Valid, "{record:?}");
    let fs = nemesis_fs(&run);
    for wanted in ["start-partition", "kill", "pause"] {
        assert!(fs.iter().any(|f| f == wanted), "no {wanted}: {fs:?}");
    }
    let skipped: Vec<&str> = record
        .nemesis_skipped
        .iter()
        .map(|s| s.family.as_str())
        .collect();
    let ran: Vec<&str> = LAST_SLOT_STARTS
        .iter()
        .filter(|(_, f)| fs.iter().any(|g| g == f))
        .map(|(family, _)| *family)
        .collect();
    if skipped.len() < 3 {
        assert!(
            !ran.is_empty(),
            "the last slot never fired (skipped: {skipped:?}): {fs:?}"
        );
    }
    for family in &ran {
        assert!(!skipped.contains(family), "{family} both ran and skipped");
    }
    assert_no_nodes_left(dir.path());
}

/// etcd under the default schedule: clocks are dropped (a Go binary), with the note in every
/// place a reader looks, and the run is valid; `--nemesis clock` still exits 3.
#[test]
fn etcd_under_mixed_skips_clocks_with_a_note_and_an_explicit_clock_schedule_exits_3() {
    if !can_run("etcd_under_mixed_skips_clocks_with_a_note_and_an_explicit_clock_schedule_exits_3")
    {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = [
        "--target",
        "etcd",
        "--nodes",
        "3",
        "--seed",
        "1",
        "--time-limit",
        "8",
        "--nemesis-interval",
        "3",
    ];
    let out = run_test(&args, &results);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&results);
    assert_eq!(read_results(&run).valid, Validity::Valid);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_skipped_everywhere(&run, &stdout, "clock", "etcd is a Go binary");
    let prefix = network_prefix(&run).expect("the run logged its network");
    assert_nothing_left(&prefix, dir.path());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("skipped: clock (etcd is a Go binary"),
        "{}",
        text(&out)
    );

    let refused = dir.path().join("refused");
    let out = run_test(
        &[
            "--target",
            "etcd",
            "--nemesis",
            "clock",
            "--time-limit",
            "5",
        ],
        &refused,
    );
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        text(&out).contains("--nemesis clock: etcd is a Go binary"),
        "{}",
        text(&out)
    );
}
