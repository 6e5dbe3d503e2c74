//! The runner through its library API: a caller cancels a running test with its shutdown
//! trigger (no signals), and the same seed plans the same ops and faults.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use faultline::checker::Outcome;
use faultline::generator::sim::{simulate, SimConfig};
use faultline::history::EventType;
use faultline::journal::Journal;
use faultline::rundir::{CLUSTER_STATE_FILE, JOURNAL_FILE};
use faultline::runner::run::test_generator;
use faultline::runner::{shutdown, Shutdown, TestConfig};
use faultline::seed::{names, SeedTree};
use faultline::target::raftkv::RaftkvTarget;
use faultline::target::{Nodes, Target};

fn config(nemesis: &str, seed: u64, results: PathBuf, time_limit: Duration) -> TestConfig {
    TestConfig {
        target: Target::Raftkv(RaftkvTarget::default()),
        nodes: Nodes::Local { count: 3 },
        workload: "cas-register".into(),
        nemesis: nemesis.into(),
        nemesis_interval: Some(Duration::from_secs(1)),
        concurrency: 4,
        rate: Some(50.0),
        time_limit,
        seed,
        results,
        check_timeout: Duration::from_secs(60),
        consistency_model: None,
    }
}

#[test]
fn a_caller_cancels_a_run_mid_partition_and_everything_is_healed_and_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let config = config(
        "partition-halves",
        3,
        results.clone(),
        Duration::from_secs(120),
    );
    let (trigger, shutdown) = shutdown();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = done_tx.send(faultline::runner::run_test(&config, shutdown));
    });

    // Wait until a partition is in force (journaled and not healed), then cancel.
    let deadline = Instant::now() + Duration::from_secs(120);
    let run = loop {
        assert!(Instant::now() < deadline, "no partition within 120 s");
        if let Ok(run) = std::fs::canonicalize(results.join("latest")) {
            let open = Journal::open_faults(&run.join(JOURNAL_FILE)).unwrap_or_default();
            if open.iter().any(|e| e.kind == "partition") {
                break run;
            }
        }
        if let Ok(result) = done_rx.try_recv() {
            panic!("the run ended before a partition: {result:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    trigger.trigger();
    let report = done_rx
        .recv_timeout(Duration::from_secs(180))
        .expect("the run ends after the shutdown")
        .expect("the run started");
    runner.join().expect("runner thread");

    // An interrupted run proves nothing valid; on a correct raftkv it found no anomaly.
    assert_eq!(report.outcome, Outcome::Error);
    assert_eq!(report.run_dir, run);
    let results = common::read_results(&run);
    assert!(results.interrupted, "results.json says interrupted");
    let open = Journal::open_faults(&run.join(JOURNAL_FILE)).expect("journal");
    assert!(open.is_empty(), "every fault healed: {open:?}");
    assert!(
        !run.join(CLUSTER_STATE_FILE).exists(),
        "the cluster's state file is gone with its nodes"
    );
    common::assert_no_nodes_left(&run);
    let log = std::fs::read_to_string(run.join("faultline.log")).expect("run log");
    assert!(log.contains("shutdown requested"), "{log}");
}

/// The planned client ops and fault ops of a test, in logical time (no cluster): process,
/// function, key and value of every invocation, one JSON line each.
fn plan(seed: u64) -> String {
    let config = config(
        "mixed",
        seed,
        PathBuf::from("unused"),
        Duration::from_secs(60),
    );
    let resolved = config.resolve().expect("config resolves");
    let nodes: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
    let sim = SimConfig {
        concurrency: config.concurrency,
        seed: SeedTree::new(seed).derive(names::CONTEXT),
        latency: Duration::from_millis(3),
        info_probability: 0.0,
        max_events: 200_000,
    };
    let events = simulate(test_generator(&resolved, &nodes), &sim).expect("simulates");
    events
        .iter()
        .filter(|e| e.kind == EventType::Invoke)
        .map(|e| serde_json::json!([format!("{:?}", e.process), e.f, e.key, e.value]).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_same_seed_plans_byte_identical_ops_and_faults() {
    let a = plan(42);
    assert_eq!(a, plan(42), "same seed, same plan");
    assert_ne!(a, plan(43), "another seed, another plan");
    let faults = a.lines().filter(|l| l.starts_with("[\"Nemesis\"")).count();
    let ops = a.lines().count() - faults;
    assert!(faults >= 10 && ops >= 500, "{faults} faults, {ops} ops");
    assert!(
        a.contains("start-partition") && a.contains("\"kill\""),
        "{a}"
    );
}

#[test]
fn never_is_a_shutdown_that_does_not_fire() {
    assert!(!Shutdown::never().is_triggered());
}
