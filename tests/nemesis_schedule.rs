//! Every fault kind a schedule can produce, applied to a real 3-node raftkv cluster through
//! the local backend in schedule order; afterwards `heal_all` leaves a cluster that elects a
//! leader and accepts writes on every path through the proxies.
//!
//! Needs `target/<profile>/raftkv` (build the workspace first).

use std::time::{Duration, Instant};

use faultline::cluster::{locate_raftkv, raftkv, ClusterOptions};
use faultline::generator::GenOp;
use faultline::history::Process;
use faultline::journal::{Journal, JOURNAL_FILE};
use faultline::nemesis::{NemesisSpec, Schedule};
use faultline::target::raftkv::local_nemesis;
use serde_json::json;

const EVERYTHING: &str = r#"
description = "every fault kind"
[[fault]]
kind = "partition"
mode = "halves"
[[fault]]
kind = "partition"
mode = "one"
one-way = true
[[fault]]
kind = "partition"
mode = "leader"
[[fault]]
kind = "partition"
mode = "majorities-ring"
[[fault]]
kind = "partition"
mode = "bridge"
[[fault]]
kind = "kill"
target = "minority"
[[fault]]
kind = "kill"
target = "leader"
[[fault]]
kind = "pause"
target = "majority"
[[fault]]
kind = "delay"
ms = 30
[[fault]]
kind = "drop"
probability = 0.2
target = "one"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_of_every_fault_kind_runs_on_a_real_cluster_and_heals() {
    let binary = locate_raftkv(None)
        .unwrap_or_else(|e| panic!("{e}\n(these tests need `cargo build -p raftkv` first)"));
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ClusterOptions::new(3, binary, dir.path().to_path_buf());
    opts.seed = 3;
    opts.startup_timeout = Duration::from_secs(60);
    let cluster = raftkv::start(opts).await.unwrap();
    let journal = dir.path().join(JOURNAL_FILE);
    let mut nemesis = local_nemesis(&cluster, &journal).unwrap();

    let spec = NemesisSpec::from_toml(EVERYTHING, "everything.toml").unwrap();
    let schedule = Schedule::new(&spec, &cluster.names(), Duration::from_millis(300), 21);
    let mut kinds = std::collections::BTreeSet::new();
    for fault in schedule.take(30) {
        let op = GenOp {
            process: Process::Nemesis,
            time: fault.time,
            f: fault.op.f().to_string(),
            key: None,
            value: fault.op.value(),
        };
        match nemesis.invoke(&op).await {
            Ok(done) => {
                kinds.insert(fault.op.kind());
                assert!(!done.is_null(), "{} returned nothing", op.f);
            }
            // With a leader paused or cut off, no node may claim leadership yet: a
            // leader-targeted fault is then refused, which the history records as such.
            Err(e) => assert!(e.to_string().contains("no leader"), "{}: {e}", op.f),
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(kinds.len(), 5, "every family was applied: {kinds:?}");

    nemesis.heal_all().await.unwrap();
    assert!(cluster.killed().is_empty() && cluster.paused().is_empty());
    assert!(cluster.mesh().unwrap().cut().is_empty());
    assert!(Journal::open_faults(&journal).unwrap().is_empty());

    // The healed cluster elects a leader and commits a write.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(leader) = cluster.leader().await {
            let addr = cluster.node(&leader).unwrap().client.clone();
            let ok = http
                .put(format!("http://{addr}/kv/after"))
                .json(&json!({"value": 1}))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no write succeeded after healing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
