//! `faultline cluster up|status|down` through the built binary, and `cluster down` cleaning up
//! after a `kill -9` of a running `faultline test`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::{assert_no_nodes_left, faultline, nodes_under};

/// Kills every raftkv under `dir` when dropped, so a failing test leaves nothing behind.
struct Reaper<'a>(&'a Path);

impl Drop for Reaper<'_> {
    fn drop(&mut self) {
        let _ = faultline().args(["cluster", "down"]).arg(self.0).output();
    }
}

#[test]
fn cluster_up_status_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster_dir = dir.path().join("cluster");
    let _reaper = Reaper(&cluster_dir);
    let up = faultline()
        .args(["cluster", "up", "--nodes", "3"])
        .arg(&cluster_dir)
        .output()
        .expect("runs");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert_eq!(nodes_under(&cluster_dir).len(), 3);

    let status = faultline()
        .args(["cluster", "status"])
        .arg(&cluster_dir)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success());
    assert_eq!(text.matches("running").count(), 3, "{text}");
    assert!(text.contains("\"role\":\"leader\""), "{text}");

    let down = faultline()
        .args(["cluster", "down"])
        .arg(&cluster_dir)
        .output()
        .expect("runs");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert_no_nodes_left(&cluster_dir);
}

#[test]
fn cluster_down_cleans_up_after_faultline_test_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let mut child = faultline()
        .args([
            "test",
            "--nodes",
            "3",
            "--nemesis",
            "pause",
            "--nemesis-interval",
            "1",
            "--time-limit",
            "60",
            "--seed",
            "2",
        ])
        .arg("--results")
        .arg(&results)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("faultline starts");
    // Wait for the nodes to run and a fault to be journaled.
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("no fault journaled within 60 s");
        }
        if let Ok(run) = std::fs::canonicalize(results.join("latest")) {
            let journal = std::fs::read_to_string(run.join("faults.journal")).unwrap_or_default();
            if journal.contains("\"apply\"") {
                break run;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _reaper = Reaper(&run);
    child.kill().expect("kill -9 faultline");
    let _ = child.wait();
    let down = faultline()
        .args(["cluster", "down"])
        .arg(&run)
        .output()
        .expect("runs");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert_no_nodes_left(&run);
    // Nothing is left paused or journaled as open.
    let again = faultline()
        .args(["cluster", "down"])
        .arg(&run)
        .output()
        .expect("runs");
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to stop"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}
