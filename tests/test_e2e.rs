//! End-to-end tests of `faultline test` through the built binary against local raftkv
//! clusters: a correct cluster is never reported invalid; each deliberate raftkv bug is found
//! with a fixed seed and a bounded number of tries; Ctrl-C mid-partition leaves nothing behind;
//! bad configuration exits 3 before anything starts.
//!
//! The raftkv binary is found next to the faultline binary (CI builds the whole workspace
//! first: `cargo build --release --workspace`).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{assert_no_nodes_left, faultline};

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The newest run directory under `results`.
fn latest(results: &Path) -> PathBuf {
    std::fs::canonicalize(results.join("latest")).expect("results/latest points at the run")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The nemesis functions recorded in a run's history so far (none before the file exists).
fn nemesis_fs(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("history.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["process"] == "nemesis")
        .filter_map(|e| e["f"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn correct_raftkv_under_mixed_faults_is_valid_with_partition_kill_and_pause_recorded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let out = faultline()
        .args([
            "test",
            "--seed",
            "1",
            "--time-limit",
            "25",
            "--nemesis-interval",
            "3",
        ])
        .arg("--results")
        .arg(&results)
        .output()
        .expect("faultline runs");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&results);
    let results_json = read_json(&run.join("results.json"));
    assert_eq!(results_json["valid"], Value::Bool(true), "{results_json}");
    let fs = nemesis_fs(&run);
    for wanted in ["start-partition", "kill", "pause"] {
        assert!(
            fs.iter().any(|f| f == wanted),
            "no {wanted} in the history's nemesis events: {fs:?}"
        );
    }
    let test_json = read_json(&run.join("test.json"));
    assert_eq!(test_json["config"]["seed"], 1);
    let log = std::fs::read_to_string(run.join("faultline.log")).expect("faultline.log");
    for wanted in [
        "cluster started",
        "teardown: every fault healed",
        "verdict: exit code 0",
    ] {
        assert!(
            log.contains(wanted),
            "faultline.log lacks {wanted:?}:\n{log}"
        );
    }
    assert_no_nodes_left(dir.path());
}

/// Runs a test with `bug` and `nemesis`, up to `tries` seeds, and asserts one is invalid with
/// the anomaly in results.json.
fn bug_is_caught(bug: &str, nemesis: &str, workload: &str, extra: &[&str], tries: u32) {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let out = faultline()
        .args([
            "test",
            "--raftkv-bug",
            bug,
            "--nemesis",
            nemesis,
            "--workload",
            workload,
            "--seed",
            "3",
            "--test-count",
            &tries.to_string(),
        ])
        .args(extra)
        .arg("--results")
        .arg(&results)
        .output()
        .expect("faultline runs");
    assert_eq!(code(&out), 1, "bug {bug} was not caught: {}", text(&out));
    let run = latest(&results);
    let results_json = read_json(&run.join("results.json"));
    assert_eq!(results_json["valid"], Value::Bool(false), "{results_json}");
    let anomalies = results_json["checkers"][0]["anomalies"]
        .as_array()
        .expect("anomalies");
    assert!(!anomalies.is_empty(), "{results_json}");
    assert_no_nodes_left(dir.path());
}

#[test]
fn stale_read_bug_is_caught() {
    bug_is_caught(
        "stale-read",
        "partition-leader",
        "cas-register",
        &[
            "--nodes",
            "3",
            "--time-limit",
            "15",
            "--nemesis-interval",
            "3",
            "--rate",
            "200",
        ],
        3,
    );
}

#[test]
fn early_ack_bug_is_caught() {
    bug_is_caught(
        "early-ack",
        "partition-leader",
        "cas-register",
        &[
            "--nodes",
            "3",
            "--time-limit",
            "15",
            "--nemesis-interval",
            "3",
            "--rate",
            "200",
        ],
        3,
    );
}

/// The `isolated-restarts` script (see nemesis/isolated-restarts.toml): isolate a node, crash
/// and restart every node, kill the new leader, heal. With term and vote not persisted the
/// restarted majority commits under term 1 while the isolated node's log ends with a higher
/// term, so on healing it wins the election and overwrites acknowledged writes. One cycle of
/// the script takes 8 intervals (12 s at its 1.5 s pace).
const VOLATILE_VOTE_ARGS: &[&str] = &["--nodes", "3", "--time-limit", "15", "--rate", "200"];

#[test]
fn volatile_vote_bug_is_caught() {
    bug_is_caught(
        "volatile-vote",
        "isolated-restarts",
        "cas-register",
        VOLATILE_VOTE_ARGS,
        3,
    );
}

#[test]
fn correct_raftkv_is_valid_under_the_volatile_vote_nemesis() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let out = faultline()
        .args([
            "test",
            "--nemesis",
            "isolated-restarts",
            "--workload",
            "cas-register",
            "--seed",
            "3",
        ])
        .args(VOLATILE_VOTE_ARGS)
        .arg("--results")
        .arg(&results)
        .output()
        .expect("faultline runs");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&results);
    let results_json = read_json(&run.join("results.json"));
    assert_eq!(results_json["valid"], Value::Bool(true), "{results_json}");
    let fs = nemesis_fs(&run);
    for wanted in ["start-partition", "kill", "start", "stop-partition"] {
        assert!(
            fs.iter().any(|f| f == wanted),
            "no {wanted} in the history's nemesis events: {fs:?}"
        );
    }
    assert_no_nodes_left(dir.path());
}

#[test]
fn sigint_mid_partition_heals_cleans_up_and_leaves_a_checkable_history() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let mut child = faultline()
        .args([
            "test",
            "--nodes",
            "3",
            "--nemesis",
            "partition-halves",
            "--nemesis-interval",
            "1",
            "--time-limit",
            "60",
            "--seed",
            "5",
        ])
        .arg("--results")
        .arg(&results)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline starts");
    // Wait until a partition has started (it is flushed to the history at once).
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        assert!(
            Instant::now() < deadline,
            "no partition started within 60 s"
        );
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            panic!(
                "faultline exited ({status}) before a partition: {}",
                text(&out)
            );
        }
        if let Ok(run) = std::fs::canonicalize(results.join("latest")) {
            if nemesis_fs(&run).iter().any(|f| f == "start-partition") {
                break run;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT sent");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("faultline did not stop within 60 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    // Interrupted: not a pass (3) unless it found an anomaly, which correct raftkv never has.
    assert_eq!(status.code(), Some(3), "{}", text(&out));
    assert_no_nodes_left(dir.path());
    let results_json = read_json(&run.join("results.json"));
    assert_eq!(results_json["interrupted"], Value::Bool(true));
    assert_eq!(results_json["valid"], Value::Bool(true), "{results_json}");
    // The history up to that point checks on its own, too.
    let check = faultline()
        .arg("check")
        .arg(run.join("history.jsonl"))
        .output()
        .expect("check runs");
    assert_eq!(code(&check), 0, "{}", text(&check));
}

#[test]
fn bad_configuration_exits_3_before_anything_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad_workload = dir.path().join("bad.toml");
    std::fs::write(&bad_workload, "name = \"x\"\n[mix]\nread = -1\n").expect("write");
    let bad_nemesis = dir.path().join("bad-nemesis.toml");
    std::fs::write(&bad_nemesis, "[[fault]]\nkind = \"meteor\"\n").expect("write");
    let results = dir.path().join("results");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--workload".into(),
                bad_workload.to_string_lossy().into_owned(),
            ],
            "bad.toml",
        ),
        (
            vec![
                "--nemesis".into(),
                bad_nemesis.to_string_lossy().into_owned(),
            ],
            "bad-nemesis.toml",
        ),
        (
            vec!["--workload".into(), "no-such-workload".into()],
            "no-such-workload",
        ),
        (
            vec!["--nemesis".into(), "no-such-nemesis".into()],
            "no-such-nemesis",
        ),
        (vec!["--raftkv-bug".into(), "typo".into()], "typo"),
        (vec!["--nodes".into(), "0".into()], "--nodes"),
    ];
    for (i, (args, needle)) in cases.iter().enumerate() {
        let started = Instant::now();
        let out = faultline()
            .arg("test")
            .args(args)
            .arg("--results")
            .arg(&results)
            .output()
            .expect("faultline runs");
        assert_eq!(code(&out), 3, "case {i}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "case {i}: the error should name {needle}: {}",
            text(&out)
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "case {i} did not fail fast"
        );
    }
    assert_no_nodes_left(dir.path());
}

#[test]
fn a_port_in_use_exits_3_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let started = Instant::now();
    let out = faultline()
        .args(["test", "--nodes", "1", "--time-limit", "5", "--base-port"])
        .arg(port.to_string())
        .arg("--results")
        .arg(dir.path().join("results"))
        .output()
        .expect("faultline runs");
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use"), "{}", text(&out));
    assert!(stderr.contains(&port.to_string()), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "did not fail fast"
    );
    assert_no_nodes_left(dir.path());
}
