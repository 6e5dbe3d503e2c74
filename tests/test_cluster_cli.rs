//! `faultline cluster up|status|down` through the built binary, and `cluster down` cleaning up
//! after a `kill -9` of a running `faultline test`.

use std::time::Duration;

mod common;
use common::{
    assert_no_nodes_left, cluster_down, fault_journaled, faultline, nodes_under, spawn_test,
    wait_for_run, ClusterDown, PAUSE_RUN,
};

#[test]
fn cluster_up_status_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster_dir = dir.path().join("cluster");
    let _reaper = ClusterDown(cluster_dir.clone());
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

    let down = cluster_down(&cluster_dir);
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
    let args = [PAUSE_RUN, &["--seed", "2"]].concat();
    let mut child = spawn_test(&args, &results, false);
    // Wait for the nodes to run and a fault to be journaled.
    let run = wait_for_run(
        &mut child,
        &results,
        Duration::from_secs(60),
        "fault journaled",
        fault_journaled,
    );
    let _reaper = ClusterDown(run.clone());
    child.kill().expect("kill -9 faultline");
    let _ = child.wait();
    let down = cluster_down(&run);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert_no_nodes_left(&run);
    // Nothing is left paused or journaled as open.
    let again = cluster_down(&run);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to stop"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}
