//! The local nemesis backend on a real 3-node raftkv cluster: isolating the leader through the
//! proxy mesh makes the majority elect a new one; healing reunites the cluster; kills and
//! pauses are healed by `heal_all`; the journal records every fault and its heal.
//!
//! Needs `target/<profile>/raftkv` (build the workspace first).

use std::time::{Duration, Instant};

use faultline::cluster::{locate_raftkv, raftkv, ClusterOptions, RaftkvCluster};
use faultline::generator::GenOp;
use faultline::history::Process;
use faultline::journal::{Journal, JOURNAL_FILE};
use faultline::target::raftkv::local_nemesis;
use serde_json::{json, Value};

fn op(f: &str, value: Value) -> GenOp {
    GenOp {
        process: Process::Nemesis,
        time: 0,
        f: f.to_string(),
        key: None,
        value,
    }
}

async fn start(dir: &std::path::Path) -> RaftkvCluster {
    let binary = locate_raftkv(None)
        .unwrap_or_else(|e| panic!("{e}\n(these tests need `cargo build -p raftkv` first)"));
    let mut opts = ClusterOptions::new(3, binary, dir.to_path_buf());
    opts.seed = 5;
    opts.startup_timeout = Duration::from_secs(60);
    raftkv::start(opts).await.unwrap()
}

/// Waits until `pred` holds for the current leader (asked via /status).
async fn wait_leader(cluster: &RaftkvCluster, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(l) = cluster.leader().await {
            if pred(&l) {
                return l;
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolating_the_leader_elects_a_new_one_on_the_majority_side() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(dir.path()).await;
    let mut nemesis = local_nemesis(&cluster, &dir.path().join(JOURNAL_FILE)).unwrap();
    nemesis.heal_all().await.unwrap();
    let old = wait_leader(&cluster, "a first leader", |_| true).await;

    let done = nemesis
        .invoke(&op("start-partition", json!({"mode": "leader"})))
        .await
        .unwrap();
    assert_eq!(done["leader"], json!(old));
    let others: Vec<String> = cluster.names().into_iter().filter(|n| *n != old).collect();
    assert_eq!(done["grudge"][&old], json!(others), "{done}");
    assert_eq!(cluster.mesh().unwrap().cut().len(), 4);

    // The majority elects a new leader in a higher term.
    let new = wait_leader(&cluster, "a new leader among the majority", |l| l != old).await;
    assert!(others.contains(&new));
    let open = Journal::open_faults(&dir.path().join(JOURNAL_FILE)).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].kind, "partition");

    // Heal: the old leader hears the new term and follows.
    let healed = nemesis
        .invoke(&op("stop-partition", json!(null)))
        .await
        .unwrap();
    assert_eq!(healed, json!("network-healed"));
    assert!(cluster.mesh().unwrap().cut().is_empty());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = cluster.status(&old).await.unwrap_or_default();
        if s["role"] == "follower" && !s["leader"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "old leader never rejoined: {s}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(Journal::open_faults(&dir.path().join(JOURNAL_FILE))
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heal_all_restarts_killed_and_resumes_paused_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(dir.path()).await;
    let journal = dir.path().join(JOURNAL_FILE);
    let mut nemesis = local_nemesis(&cluster, &journal).unwrap();

    let killed = nemesis.invoke(&op("kill", json!(["n1"]))).await.unwrap();
    assert_eq!(killed, json!(["n1"]));
    let paused = nemesis.invoke(&op("pause", json!(["n2"]))).await.unwrap();
    assert_eq!(paused, json!(["n2"]));
    let delayed = nemesis
        .invoke(&op("start-delay", json!({"ms": 20})))
        .await
        .unwrap();
    assert_eq!(delayed["ms"], json!(20));
    assert_eq!(cluster.killed(), ["n1"]);
    assert_eq!(cluster.paused(), ["n2"]);
    assert_eq!(Journal::open_faults(&journal).unwrap().len(), 3);

    // A malformed op is refused with its reason and changes nothing.
    let err = nemesis.invoke(&op("kill", json!(7))).await.unwrap_err();
    assert!(err.to_string().contains("\"leader\" or a list"), "{err}");

    nemesis.heal_all().await.unwrap();
    assert!(cluster.killed().is_empty());
    assert!(cluster.paused().is_empty());
    assert!(cluster
        .mesh()
        .unwrap()
        .link_state("n1", "n2")
        .unwrap()
        .is_clear());
    assert!(Journal::open_faults(&journal).unwrap().is_empty());
    wait_leader(&cluster, "a leader after healing", |_| true).await;
    for n in cluster.names() {
        assert!(
            cluster.status(&n).await.is_ok(),
            "{n} answers after heal_all"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_nemesis_resumes_paused_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(dir.path()).await;
    let mut nemesis = local_nemesis(&cluster, &dir.path().join(JOURNAL_FILE)).unwrap();
    nemesis.invoke(&op("pause", json!(["n3"]))).await.unwrap();
    nemesis
        .invoke(&op(
            "start-partition",
            json!({"mode": "halves", "grudge": {"n1": ["n2"]}}),
        ))
        .await
        .unwrap();
    assert_eq!(cluster.mesh().unwrap().cut().len(), 1);
    drop(nemesis);
    assert!(cluster.paused().is_empty());
    assert!(cluster.mesh().unwrap().cut().is_empty());
}
