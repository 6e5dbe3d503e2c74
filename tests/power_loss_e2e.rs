//! End-to-end tests of the power-loss nemesis through the built binary against local raftkv
//! clusters whose data dirs sit on faultline's FUSE filesystem: `--raftkv-bug fsync-lie` (a
//! log that acknowledges before it fsyncs) is caught; correct raftkv stays valid on three
//! seeds and every fault is journaled, recorded with what it lost and healed; no mount
//! outlives a run, nor a faultline killed with `kill -9` once `cluster down` ran; clusters
//! that cannot lose power refuse the schedule with exit 3. Needs root and /dev/fuse (each
//! test says so and returns without them).
//!
//! The raftkv binary is found next to the faultline binary (`cargo build --release
//! --workspace` first).

use std::path::Path;
use std::time::Duration;

use faultline::checker::Validity;
use serde_json::Value;

mod common;
use common::{
    assert_no_nodes_left, cluster_down, code, fault_journaled, history, latest, read_results,
    run_test, spawn_test, text, wait_for_run, ClusterDown,
};

/// Three nodes, the set workload (every add is read back by every later read, so one lost
/// add shows), a power fault every 1.5 s for 20 s, three seeds.
const RUN: &[&str] = &[
    "--nemesis",
    "power-loss",
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

fn can_run(test: &str) -> bool {
    match faultline::powerfs::check_available() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("skipping {test}: {why}");
            false
        }
    }
}

/// Every faultline-powerfs mount under `dir`, from /proc/self/mountinfo.
fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let dir = dir.to_string_lossy().into_owned();
    info.lines()
        .filter(|l| l.contains("faultline-powerfs") && l.contains(&dir))
        .map(String::from)
        .collect()
}

/// Waits (up to 15 s) until no power-loss mount is left under `dir`.
fn assert_no_mounts_left(dir: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = mounts_under(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mounts left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn fsync_lie_is_caught_by_power_loss() {
    if !can_run("fsync_lie_is_caught_by_power_loss") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let mut args = RUN.to_vec();
    args.extend(["--raftkv-bug", "fsync-lie", "--seed", "1"]);
    let out = run_test(&args, &results);
    assert_no_nodes_left(dir.path());
    assert_no_mounts_left(dir.path());
    assert_eq!(code(&out), 1, "fsync-lie must be caught: {}", text(&out));
    let r = read_results(&latest(&results));
    assert_eq!(r.valid, Validity::Invalid, "{r:?}");
    assert!(!r.checkers[0].anomalies.is_empty(), "{r:?}");
    // The lie shows as bytes a power loss threw away.
    let lost: u64 = history(&latest(&results))
        .iter()
        .filter(|e| e["f"] == "power-loss")
        .flat_map(|e| e["value"]["lost"].as_array().cloned().unwrap_or_default())
        .map(|l| l["bytes"].as_u64().unwrap_or(0))
        .sum();
    assert!(lost > 0, "no unsynced byte was ever lost");
}

#[test]
fn correct_raftkv_is_valid_under_power_loss_on_three_seeds() {
    if !can_run("correct_raftkv_is_valid_under_power_loss_on_three_seeds") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let mut args = RUN.to_vec();
    args.extend(["--seed", "1"]);
    let out = run_test(&args, &results);
    assert_no_nodes_left(dir.path());
    assert_no_mounts_left(dir.path());
    assert_eq!(
        code(&out),
        0,
        "correct raftkv must be valid: {}",
        text(&out)
    );
    let runs: Vec<_> = std::fs::read_dir(results.join("raftkv-set-power-loss"))
        .expect("the test's runs")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("results.json").is_file())
        .collect();
    assert_eq!(runs.len(), 3, "three seeds ran: {runs:?}");
    for run in &runs {
        let r = read_results(run);
        assert_eq!(r.valid, Validity::Valid, "{}: {r:?}", run.display());
        assert!(r.nemesis_errors.is_empty(), "{:?}", r.nemesis_errors);
        assert!(r.availability.is_empty(), "{:?}", r.availability);
        let events = history(run);
        let losses: Vec<&Value> = events
            .iter()
            .filter(|e| e["f"] == "power-loss" && e["value"]["lost"].is_array())
            .collect();
        assert!(!losses.is_empty(), "{}: no power loss", run.display());
        for e in losses {
            for l in e["value"]["lost"].as_array().into_iter().flatten() {
                assert!(l["node"].is_string() && l["bytes"].is_u64(), "{l}");
            }
        }
        // Journaled before applied, healed by the end.
        let journal = std::fs::read_to_string(run.join("faults.journal")).expect("journal");
        let lines: Vec<Value> = journal
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|l: &Value| l["kind"] == "power-loss")
            .collect();
        let applied = lines.iter().filter(|l| l["event"] == "apply").count();
        let healed = lines.iter().filter(|l| l["event"] == "heal").count();
        assert!(applied >= 1 && applied == healed, "{journal}");
        // The nodes' files are back in their plain data dirs.
        assert!(
            run.join("nodes/n1/data/wal.log").is_file(),
            "{}",
            run.display()
        );
    }
}

#[test]
fn cluster_down_cleans_up_after_faultline_is_killed() {
    if !can_run("cluster_down_cleans_up_after_faultline_is_killed") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = [
        "--nemesis",
        "power-loss",
        "--nodes",
        "3",
        "--nemesis-interval",
        "1",
        "--time-limit",
        "60",
        "--seed",
        "2",
    ];
    let mut child = spawn_test(&args, &results, false);
    let run = wait_for_run(
        &mut child,
        &results,
        Duration::from_secs(60),
        "power loss",
        |run| fault_journaled(run) && !mounts_under(run).is_empty(),
    );
    let _guard = ClusterDown(run.clone());
    child.kill().expect("kill -9 faultline");
    let _ = child.wait();
    let down = cluster_down(&run);
    assert_eq!(code(&down), 0, "{}", text(&down));
    assert_no_nodes_left(dir.path());
    assert_no_mounts_left(dir.path());
}

#[test]
fn clusters_that_cannot_lose_power_refuse_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let out = run_test(
        &[
            "--target",
            "maelstrom",
            "--bin",
            "/bin/true",
            "--workload",
            "lin-kv",
            "--nodes",
            "3",
            "--nemesis",
            "power-loss",
        ],
        &results,
    );
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        text(&out).contains("power loss is not available for --target maelstrom"),
        "{}",
        text(&out)
    );
}

#[test]
fn without_root_power_loss_exits_3_saying_why() {
    if unsafe { libc::geteuid() } != 0 || common::etcd::on_path("setpriv").is_none() {
        eprintln!("skipping without_root_power_loss_exits_3_saying_why: needs root and setpriv to drop to nobody");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let faultline = dir.path().join("faultline");
    std::fs::copy(env!("CARGO_BIN_EXE_faultline"), &faultline).expect("copy faultline");
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&faultline)
        .env("FAULTLINE_NO_PROGRESS", "1")
        .args(["test", "--nemesis", "power-loss", "--results"])
        .arg(dir.path().join("results"))
        .output()
        .expect("setpriv runs");
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must run as root"),
        "{}",
        text(&out)
    );
}
