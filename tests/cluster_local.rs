//! A real local raftkv cluster: start, leader lookup, kill -9 and restart, pause and resume,
//! start-up failures, `cluster down` after a simulated crash, and no process left behind.
//!
//! Needs the raftkv binary next to the test executable's target dir (`target/<profile>/raftkv`):
//! build the workspace first (`cargo build` or `cargo build -p raftkv`; CI builds everything).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use faultline::cluster::{self, locate_raftkv, raftkv, ClusterError, ClusterOptions};
use faultline::rundir::{CLUSTER_STATE_FILE, JOURNAL_FILE};
use serde_json::{json, Value};

fn raftkv() -> PathBuf {
    match locate_raftkv(None) {
        Ok(p) => p,
        Err(e) => panic!("{e}\n(these tests need `cargo build -p raftkv` first)"),
    }
}

fn options(n: usize, dir: &std::path::Path) -> ClusterOptions {
    let mut opts = ClusterOptions::new(n, raftkv(), dir.to_path_buf());
    opts.seed = 11;
    opts.startup_timeout = Duration::from_secs(60);
    opts
}

/// Whether `pid` is a live (non-zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
    }
}

async fn put(http: &reqwest::Client, addr: String, key: &str, v: Value) -> u16 {
    match http
        .put(format!("http://{addr}/kv/{key}"))
        .json(&json!({ "value": v }))
        .send()
        .await
    {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_restart_pause_resume_on_a_real_cluster_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = raftkv::start(options(3, dir.path())).await.unwrap();
    assert_eq!(cluster.names(), ["n1", "n2", "n3"]);
    for node in cluster.nodes() {
        assert!(node
            .data_dir
            .starts_with(dir.path().join("nodes").join(&node.name)));
        assert!(node.log.is_file(), "{} has a log", node.name);
    }
    assert!(dir.path().join(CLUSTER_STATE_FILE).is_file());
    let pids: Vec<u32> = cluster
        .names()
        .iter()
        .map(|n| cluster.pid(n).unwrap().unwrap())
        .collect();

    // Writes through the leader work.
    let leader = cluster.leader().await.expect("a leader after start");
    let client = http();
    let addr = cluster.node(&leader).unwrap().client.clone();
    assert_eq!(put(&client, addr, "x", json!(1)).await, 200);

    // kill -9 a follower: its process is gone; restart it on the same data dir.
    let follower = cluster.names().into_iter().find(|n| *n != leader).unwrap();
    let old = cluster.pid(&follower).unwrap().unwrap();
    cluster.kill(&follower).unwrap();
    assert!(!alive(old), "killed process {old} is gone");
    assert_eq!(cluster.killed(), vec![follower.clone()]);
    assert!(cluster.status(&follower).await.is_err());
    cluster.restart(&follower).await.unwrap();
    let new = cluster.pid(&follower).unwrap().unwrap();
    assert_ne!(new, old);
    assert!(cluster.killed().is_empty());
    // The restarted node catches up with the write made before the kill.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = cluster.status(&follower).await.unwrap_or_default();
        if s["last_applied"].as_u64().unwrap_or(0) >= 1 && !s["leader"].is_null() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted node never caught up: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Pause: the node stops answering but its process lives; resume brings it back.
    cluster.pause(&follower).unwrap();
    assert_eq!(cluster.paused(), vec![follower.clone()]);
    assert!(alive(new));
    assert!(
        cluster.status(&follower).await.is_err(),
        "a paused node never answers"
    );
    cluster.resume(&follower).unwrap();
    assert!(cluster.paused().is_empty());
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster.status(&follower).await.is_err() {
        assert!(Instant::now() < deadline, "resumed node never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Leave one paused: stop must still end it. Then every process is gone.
    cluster.pause(&follower).unwrap();
    let all: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|p| *p != old)
        .chain([new])
        .collect();
    drop(cluster);
    for pid in all {
        assert!(!alive(pid), "pid {pid} survived the drop");
    }
    assert!(
        !dir.path().join(CLUSTER_STATE_FILE).exists(),
        "a clean stop removes the state file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_down_cleans_up_after_a_crashed_faultline() {
    let dir = tempfile::tempdir().unwrap();
    let state = cluster::up(options(3, dir.path())).await.unwrap();
    let pids: Vec<u32> = state.nodes.iter().map(|n| n.pid.unwrap()).collect();
    assert!(
        pids.iter().all(|p| alive(*p)),
        "up leaves the nodes running"
    );
    assert!(!state.proxies, "cluster up wires peers directly");

    // A second `up` in the same directory refuses.
    let again = cluster::up(options(3, dir.path())).await.unwrap_err();
    assert!(again.to_string().contains("already running"), "{again}");

    // status sees every node.
    let nodes = cluster::status(dir.path()).await.unwrap().unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|(_, alive, _)| *alive));

    // A paused node, journaled as a crashed faultline would leave it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[1] as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let journal = dir.path().join(JOURNAL_FILE);
    let mut j = faultline::journal::Journal::open(&journal).unwrap();
    j.applying("pause", &["n2".into()], json!({ "pids": [pids[1]] }))
        .unwrap();
    drop(j);

    let report = cluster::down(dir.path()).unwrap();
    assert!(report.found);
    assert_eq!(report.stopped, ["n1", "n2", "n3"]);
    assert_eq!(report.resumed, ["n2"]);
    assert_eq!(report.healed_faults, 1);
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived cluster down");
    }
    assert!(faultline::journal::Journal::open_faults(&journal)
        .unwrap()
        .is_empty());
    // Down again: nothing to do.
    let report = cluster::down(dir.path()).unwrap();
    assert!(!report.found && report.stopped.is_empty());
    assert!(cluster::status(dir.path()).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_start_is_named_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(3, dir.path());
    opts.bugs = vec!["no-such-bug".into()];
    let started = Instant::now();
    let err = raftkv::start(opts).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(30), "fails fast");
    match &err {
        ClusterError::Exited {
            node, log, tail, ..
        } => {
            assert!(node.starts_with('n'));
            assert!(log.ends_with("raftkv.log"));
            assert!(tail.contains("no-such-bug"), "{tail}");
        }
        other => panic!("expected Exited, got {other}"),
    }
    assert!(!dir.path().join(CLUSTER_STATE_FILE).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_reported_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let mut opts = options(3, dir.path());
    // n2's client port is the busy one.
    opts.base_port = Some(port - 1);
    let err = raftkv::start(opts).await.unwrap_err();
    match &err {
        ClusterError::PortInUse { node, addr, .. } => {
            assert_eq!(node, "n2");
            assert_eq!(addr, &format!("127.0.0.1:{port}"));
        }
        other => panic!("expected PortInUse, got {other}"),
    }
    assert!(err.to_string().contains("already in use"));
}
