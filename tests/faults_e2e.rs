//! End-to-end tests of the file-corruption nemesis through the built binary against local
//! raftkv clusters: `--raftkv-bug no-checksum` (storage that trusts what it reads back) is
//! caught; correct raftkv, which refuses to start on a corrupt data dir, stays valid on three
//! seeds and its refusals are recorded as availability events, not anomalies; every fault is
//! journaled with its file, offset and length; a db spec without `data_files` is refused
//! before anything starts.
//!
//! The raftkv binary is found next to the faultline binary (`cargo build --release
//! --workspace` first).

use faultline::checker::Validity;
use serde_json::Value;

mod common;
use common::{assert_no_nodes_left, code, history, latest, read_results, run_test, text};

/// The flags of every run here: the set workload (every add is read back by every later
/// read, so one lost add anywhere shows), three nodes (a killed leader's successor is the
/// corrupted node half the time), a fault change every 1.5 s for 20 s.
const RUN: &[&str] = &[
    "--nemesis",
    "file-corruption",
    "--workload",
    "set",
    "--nodes",
    "3",
    "--nemesis-interval",
    "1.5",
    "--time-limit",
    "20",
    "--test-count",
    "3",
];

#[test]
fn no_checksum_is_caught_by_file_corruption() {
    // The corruption plan is seeded, but which log entries sit in a damaged chunk and who
    // leads afterwards depend on timing: two bounded rounds of three seeds each.
    let mut last = String::new();
    for first_seed in ["1", "4"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let results = dir.path().join("results");
        let mut args = RUN.to_vec();
        args.extend(["--raftkv-bug", "no-checksum", "--seed", first_seed]);
        let out = run_test(&args, &results);
        assert_no_nodes_left(dir.path());
        match code(&out) {
            1 => {
                let r = read_results(&latest(&results));
                assert_eq!(r.valid, Validity::Invalid, "{r:?}");
                assert!(!r.checkers[0].anomalies.is_empty(), "{r:?}");
                return;
            }
            0 => last = text(&out),
            other => panic!("exit {other}: {}", text(&out)),
        }
    }
    panic!("no-checksum was not caught in six seeds: {last}");
}

#[test]
fn correct_raftkv_is_valid_under_file_corruption_and_refusals_are_availability_events() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let mut args = RUN.to_vec();
    args.extend(["--seed", "1"]);
    let out = run_test(&args, &results);
    assert_eq!(
        code(&out),
        0,
        "correct raftkv must be valid: {}",
        text(&out)
    );
    assert_no_nodes_left(dir.path());
    let runs: Vec<_> = std::fs::read_dir(results.join("raftkv-set-file-corruption"))
        .expect("the test's runs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("results.json").is_file())
        .collect();
    assert_eq!(runs.len(), 3, "three seeds ran: {runs:?}");
    let mut refusals = 0;
    for run in &runs {
        let r = read_results(run);
        assert_eq!(r.valid, Validity::Valid, "{}: {r:?}", run.display());
        assert!(r.nemesis_errors.is_empty(), "{:?}", r.nemesis_errors);
        // Every corrupt-file op that damaged something says what, where and how much.
        let events = history(run);
        let mut damaged = 0;
        for e in events.iter().filter(|e| e["f"] == "corrupt-file") {
            for d in e["value"]["damage"].as_array().into_iter().flatten() {
                if d["action"] == "none" {
                    continue;
                }
                damaged += 1;
                assert!(
                    d["file"]
                        .as_str()
                        .is_some_and(|f| f.ends_with("wal.log") || f.ends_with("snapshot.bin")),
                    "{d}"
                );
                assert!(d["offset"].is_u64() && d["length"].is_u64(), "{d}");
            }
        }
        assert!(damaged >= 1, "{}: no file was damaged", run.display());
        let journal = std::fs::read_to_string(run.join("faults.journal")).expect("journal");
        assert!(
            journal
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .any(|l| l["kind"] == "file-corruption" && l["detail"]["offset"].is_u64()),
            "{journal}"
        );
        // A node that refused to start is named as an availability event, with raftkv's
        // exit status for detected corruption, and never more than a minority.
        assert!(r.availability.len() <= 1, "{:?}", r.availability);
        for a in &r.availability {
            assert_eq!(a.event, "refused to start after file corruption");
            assert!(a.cause.contains("exit status: 4"), "{}", a.cause);
            refusals += 1;
        }
        let report = std::fs::read_to_string(run.join("report.html")).expect("report");
        assert_eq!(
            report.contains("Availability event, not a safety violation"),
            !r.availability.is_empty()
        );
    }
    assert!(
        refusals >= 1,
        "correct raftkv never refused a corrupt data dir"
    );
}

#[test]
fn a_db_spec_without_data_files_is_refused_for_file_corruption() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("db.toml");
    std::fs::write(
        &spec,
        "name = \"x\"\nbinary = \"/bin/sh\"\nclient_port = 7001\n",
    )
    .expect("spec");
    let client = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/http/raftkv.toml");
    let out = run_test(
        &[
            "--db",
            spec.to_str().expect("utf-8 path"),
            "--client",
            client,
            "--nemesis",
            "file-corruption",
        ],
        &dir.path().join("results"),
    );
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("data_files") && stderr.contains("db.toml"),
        "{stderr}"
    );
}
