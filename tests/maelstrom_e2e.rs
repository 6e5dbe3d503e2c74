//! `--target maelstrom` end to end through the real binary, with the Python 3 test nodes of
//! tests/fixtures/maelstrom/ (copied into a temp dir per test, so every node's command line
//! names that dir and the test can check none is left behind): a correct lin-kv node is valid
//! under partitions, kills and pauses; its stale-read variant is caught; persisting g-set and
//! g-counter nodes are valid and their broken variants invalid; a counter on the seq-kv
//! service is valid with a cas loop and invalid with blind writes; a txn node on the lin-kv
//! service is valid (list-append, and rw-register under --consistency-model) and its
//! stale-read variant is reported as G-single-item-realtime; an echo node is valid and one
//! echoing a single wrong payload caught; a broadcast node with anti-entropy is valid under loss,
//! partitions, kills and pauses on the grid topology, and one that never retries loses
//! messages on a tree; a kafka node on lin-kv is valid and one keeping node-local logs
//! caught; a unique-ids node that does not
//! persist its counter is caught by kill and restart; a node printing stray lines or exiting on its
//! own is counted and the run goes on; leader faults find the lin-kv leader from the traffic
//! and by asking, and gossip nodes have none, said in the history; nodes that fail at init, and a missing binary, exit 3
//! naming the node.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{
    cluster_down, code, latest, processes_under, read_json, run_test, spawn_test, text,
    wait_for_run, ClusterDown,
};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/maelstrom");

/// A temp dir holding copies of the test nodes, and the results root under it.
struct Nodes {
    dir: tempfile::TempDir,
}

impl Nodes {
    fn new() -> Nodes {
        let dir = tempfile::tempdir().expect("temp dir");
        for entry in std::fs::read_dir(FIXTURES).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "py") {
                let to = dir.path().join(path.file_name().expect("name"));
                std::fs::copy(&path, &to).expect("copy a fixture");
            }
        }
        Nodes { dir }
    }

    fn bin(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn results(&self) -> PathBuf {
        self.dir.path().join("results")
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        // Every node faultline started must be gone once it exits (waits up to 15 s).
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = processes_under(".py", self.dir.path());
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                for line in &left {
                    if let Some(pid) = line.split_whitespace().next() {
                        let _ = std::process::Command::new("kill")
                            .args(["-9", pid])
                            .status();
                    }
                }
                if !std::thread::panicking() {
                    panic!("node processes left behind: {left:?}");
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A short maelstrom run's flags: `bin` (with `extra` flags) on 3 nodes for 10 s, a fault
/// change every 1.5 s, unless `extra` sets `--nodes`, `--time-limit` or `--nemesis-interval`.
fn flags<'a>(bin: &'a str, workload: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut f = vec![
        "--target",
        "maelstrom",
        "--bin",
        bin,
        "--workload",
        workload,
        "--rate",
        "100",
    ];
    for (flag, default) in [
        ("--nodes", "3"),
        ("--time-limit", "10"),
        ("--nemesis-interval", "1.5"),
    ] {
        if !extra.contains(&flag) {
            f.extend([flag, default]);
        }
    }
    f.extend_from_slice(extra);
    f
}

fn results_json(run: &Path) -> Value {
    read_json(&run.join("results.json"))
}

fn network(run: &Path) -> Value {
    results_json(run)["network"].clone()
}

/// The run exited 1 (invalid) and its summary names `anomaly`.
fn assert_caught(out: &std::process::Output, anomaly: &str) {
    assert_eq!(code(out), 1, "{}", text(out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(anomaly),
        "{anomaly} not named: {}",
        text(out)
    );
}

/// Under a schedule with clock faults the stdio nodes run under libfaketime, each with its
/// control file `nodes/NAME/faketime.rc` (reset to real time at the end); the clock faults
/// are applied to them and a correct lin-kv node (which never reads the clock) stays valid.
#[test]
fn under_clock_faults_the_nodes_run_under_libfaketime_and_stay_valid() {
    if !Path::new(faultline::fakeclock::LIBFAKETIME).is_file() {
        eprintln!("skipping: no libfaketime (apt-get install faketime)");
        return;
    }
    let nodes = Nodes::new();
    let bin = nodes.bin("lin_kv.py");
    let out = run_test(
        &flags(
            &bin,
            "lin-kv",
            &["--nemesis", "clock", "--seed", "1", "--time-limit", "12"],
        ),
        &nodes.results(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&nodes.results());
    let journal = std::fs::read_to_string(run.join("faults.journal")).expect("journal");
    assert!(
        journal.contains("\"clock\""),
        "seed 1 skews a clock: {journal}"
    );
    for n in ["n0", "n1", "n2"] {
        let rc = std::fs::read_to_string(run.join("nodes").join(n).join("faketime.rc"))
            .expect("a control file per node");
        assert_eq!(rc, "+0.000 x1.000000\n", "{n}: reset at the end");
    }
}

#[test]
fn a_correct_lin_kv_node_is_valid_under_partitions_kills_and_pauses() {
    let nodes = Nodes::new();
    let bin = nodes.bin("lin_kv.py");
    let out = run_test(
        &flags(
            &bin,
            "lin-kv",
            &[
                "--seed",
                "11",
                "--latency",
                "2",
                "--latency-dist",
                "exponential",
            ],
        ),
        &nodes.results(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&nodes.results());
    let journal = std::fs::read_to_string(run.join("faults.journal")).expect("journal");
    for kind in ["\"partition\"", "\"kill\"", "\"pause\""] {
        assert!(
            journal.contains(kind),
            "seed 11 applies a {kind}: {journal}"
        );
    }
    let net = network(&run);
    assert!(net["servers"]["sent"].as_u64() > Some(0), "{net}");
    assert!(net["clients"]["received"].as_u64() > Some(0), "{net}");
    assert!(net["msgs_per_op"].as_f64() > Some(0.0), "{net}");
    // Client latency (request to reply) apart from the network's own delays (mean 2 ms): an
    // op crosses the network at least twice, and the node's work adds to that.
    let client = &net["client_latency_ms"];
    let delay = &net["network_delay_ms"];
    assert!(client["count"].as_u64() > Some(0), "{net}");
    assert!(delay["count"].as_u64() > client["count"].as_u64(), "{net}");
    assert!(
        (0.5..=6.0).contains(&delay["mean"].as_f64().unwrap_or(-1.0)),
        "{net}"
    );
    assert!(client["mean"].as_f64() > delay["mean"].as_f64(), "{net}");
    assert!(client["p99"].as_f64() >= client["p50"].as_f64(), "{net}");
    let report = std::fs::read_to_string(run.join("report.html")).expect("report");
    assert!(
        report.contains("client latency (request to reply)")
            && report.contains("network delay per message"),
        "the report shows both latencies"
    );
    let messages = std::fs::read_to_string(run.join("messages.jsonl")).expect("message log");
    let first: Value =
        serde_json::from_str(messages.lines().next().expect("a message")).expect("JSON");
    for field in ["t", "event", "src", "dest", "body"] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    // The killed node was started again with the same data directory.
    assert!(run.join("nodes/n0/data").is_dir());
}

#[test]
fn a_node_answering_reads_from_a_stale_copy_is_caught() {
    let nodes = Nodes::new();
    let bin = nodes.bin("lin_kv.py");
    let out = run_test(
        &flags(
            &bin,
            "lin-kv",
            &[
                "--bin-arg",
                "--stale",
                "--nemesis",
                "partition-one",
                "--seed",
                "1",
                "--test-count",
                "3",
            ],
        ),
        &nodes.results(),
    );
    assert_caught(&out, "nonlinearizable");
}

#[test]
fn a_gossip_g_set_is_valid_and_its_lossy_variant_invalid() {
    let nodes = Nodes::new();
    let bin = nodes.bin("g_set.py");
    let out = run_test(&flags(&bin, "g-set", &["--seed", "3"]), &nodes.results());
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = run_test(
        &flags(&bin, "g-set", &["--seed", "3", "--bin-arg", "--broken"]),
        &nodes.results(),
    );
    assert_caught(&out, "lost");
}

#[test]
fn a_gossip_g_counter_is_valid_and_one_reading_only_its_own_count_invalid() {
    let nodes = Nodes::new();
    let bin = nodes.bin("g_counter.py");
    let out = run_test(
        &flags(&bin, "g-counter", &["--seed", "5"]),
        &nodes.results(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = run_test(
        &flags(
            &bin,
            "g-counter",
            &["--seed", "5", "--nemesis", "none", "--bin-arg", "--broken"],
        ),
        &nodes.results(),
    );
    assert_caught(&out, "counter-too-low");
    // pn-counter adds negative deltas: a g-counter's maximum merge keeps stale higher counts.
    let pn = ["--seed", "5", "--nemesis", "none", "--time-limit", "6"];
    let mut good = pn.to_vec();
    good.extend(["--bin-arg", "--pn"]);
    let out = run_test(&flags(&bin, "pn-counter", &good), &nodes.results());
    assert_eq!(code(&out), 0, "{}", text(&out));
    let history =
        std::fs::read_to_string(latest(&nodes.results()).join("history.jsonl")).expect("history");
    assert!(
        history.contains(r#""value":-"#),
        "negative deltas were added"
    );
    let out = run_test(&flags(&bin, "pn-counter", &pn), &nodes.results());
    assert_caught(&out, "counter-too-high");
}

#[test]
fn a_counter_on_seq_kv_with_cas_is_valid_and_one_with_blind_writes_invalid() {
    let nodes = Nodes::new();
    let bin = nodes.bin("seq_counter.py");
    let out = run_test(
        &flags(&bin, "g-counter", &["--seed", "5"]),
        &nodes.results(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&nodes.results());
    let messages = std::fs::read_to_string(run.join("messages.jsonl")).expect("message log");
    assert!(
        messages.contains(r#""dest":"seq-kv""#) && messages.contains(r#""src":"seq-kv""#),
        "the nodes' requests to seq-kv and its replies go through the network"
    );
    let net = network(&run);
    assert!(net["msgs_per_op"].as_f64() > Some(1.0), "{net}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("network: messages: clients sent/received"),
        "the summary counts messages: {}",
        text(&out)
    );
    let report = std::fs::read_to_string(run.join("report.html")).expect("report");
    assert!(
        report.contains("messages per op"),
        "the report counts messages"
    );
    let out = run_test(
        &flags(&bin, "g-counter", &["--seed", "5", "--bin-arg", "--broken"]),
        &nodes.results(),
    );
    assert_caught(&out, "counter-too-low");
}

#[test]
fn a_txn_node_on_lin_kv_is_valid_and_its_stale_read_variant_names_the_elle_anomaly() {
    let nodes = Nodes::new();
    let bin = nodes.bin("txn.py");
    let out = run_test(
        &flags(&bin, "txn-list-append", &["--seed", "7"]),
        &nodes.results(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = run_test(
        &flags(
            &bin,
            "txn-rw-register",
            &[
                "--seed",
                "7",
                "--time-limit",
                "5",
                "--consistency-model",
                "serializable",
            ],
        ),
        &nodes.results(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&nodes.results());
    let results = results_json(&run);
    assert!(
        results
            .to_string()
            .contains(r#""consistency-model":"serializable""#),
        "--consistency-model reaches the checker: {results}"
    );
    // test.json keeps it (and the target's flags), and its reproduce command repeats it.
    let test = read_json(&run.join("test.json"));
    assert_eq!(
        test["config"]["consistency_model"], "serializable",
        "{test}"
    );
    assert!(
        test["config"]["target_flags"]
            .to_string()
            .contains("txn.py"),
        "{test}"
    );
    let reproduce = test["reproduce"].as_str().unwrap_or_default();
    assert!(
        reproduce.contains("--consistency-model serializable") && reproduce.contains("--bin "),
        "{reproduce}"
    );
    let out = run_test(
        &flags(
            &bin,
            "txn-list-append",
            &["--seed", "7", "--bin-arg", "--stale"],
        ),
        &nodes.results(),
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    let results = results_json(&latest(&nodes.results()));
    let kinds: Vec<String> = results["checkers"][0]["anomalies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["kind"].as_str().map(String::from))
        .collect();
    assert!(
        kinds.iter().any(|k| k == "G-single-item-realtime"),
        "a read-only txn served from a stale copy misses a write that completed before it began: {kinds:?}"
    );
}

#[test]
fn an_echo_node_is_valid_and_one_echoing_another_payload_invalid() {
    let nodes = Nodes::new();
    let bin = nodes.bin("echo.py");
    let short = ["--seed", "1", "--time-limit", "3", "--nemesis", "none"];
    let out = run_test(&flags(&bin, "echo", &short), &nodes.results());
    assert_eq!(code(&out), 0, "{}", text(&out));
    // A single wrong echo is enough.
    let mut once = short.to_vec();
    once.extend(["--bin-arg", "--once"]);
    let out = run_test(&flags(&bin, "echo", &once), &nodes.results());
    assert_caught(&out, "mismatched-echo");
    let results = results_json(&latest(&nodes.results()));
    assert_eq!(
        results["checkers"][0]["anomalies"].as_array().map(Vec::len),
        Some(1),
        "{results}"
    );
}

/// Whether the run's message log has a message sent from `src` to `dest`.
fn sent(run: &Path, src: &str, dest: &str) -> bool {
    let log = std::fs::read_to_string(run.join("messages.jsonl")).expect("message log");
    log.lines().any(|l| {
        let m: Value = serde_json::from_str(l).expect("a JSON line");
        m["event"] == "send" && m["src"] == src && m["dest"] == dest
    })
}

#[test]
fn a_gossiping_broadcast_node_is_valid_under_loss_and_faults_and_one_without_retries_loses_messages(
) {
    let nodes = Nodes::new();
    let bin = nodes.bin("broadcast.py");
    let lossy = [
        "--seed",
        "2",
        "--nodes",
        "5",
        "--net-loss",
        "0.05",
        "--latency",
        "5",
    ];
    let out = run_test(&flags(&bin, "broadcast", &lossy), &nodes.results());
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&nodes.results());
    let results = results_json(&run);
    assert!(
        results["checkers"][0]["details"]["stable_latencies_ms"]["0.5"].is_number(),
        "stable latencies reported: {results}"
    );
    assert!(
        results["network"]["msgs_per_op"].as_f64() > Some(1.0),
        "{results}"
    );
    // The default topology is Maelstrom's grid: 5 nodes as n0 n1 n2 / n3 n4.
    assert!(sent(&run, "n2", "n1") && sent(&run, "n1", "n4"));
    assert!(!sent(&run, "n2", "n3") && !sent(&run, "n0", "n4"));
    let mut broken = lossy.to_vec();
    broken.extend(["--topology", "tree2", "--bin-arg", "--broken"]);
    let out = run_test(&flags(&bin, "broadcast", &broken), &nodes.results());
    assert_caught(&out, "lost");
    // tree2: n0 over n1 and n2, n1 over n3 and n4.
    let run = latest(&nodes.results());
    assert!(sent(&run, "n1", "n3") && sent(&run, "n2", "n0"));
    assert!(!sent(&run, "n2", "n1") && !sent(&run, "n0", "n3"));
}

#[test]
fn a_kafka_node_on_lin_kv_is_valid_and_one_with_node_local_logs_invalid() {
    let nodes = Nodes::new();
    let bin = nodes.bin("kafka.py");
    let out = run_test(&flags(&bin, "kafka", &["--seed", "3"]), &nodes.results());
    assert_eq!(code(&out), 0, "{}", text(&out));
    let out = run_test(
        &flags(&bin, "kafka", &["--seed", "3", "--bin-arg", "--local"]),
        &nodes.results(),
    );
    assert_caught(&out, "inconsistent-offset");
    // Kafka is Maelstrom's only.
    let out = run_test(
        &["--target", "raftkv", "--workload", "kafka", "--nodes", "3"],
        &nodes.results(),
    );
    assert_eq!(code(&out), 3, "{}", text(&out));
}

#[test]
fn a_node_that_forgets_its_ids_across_a_kill_hands_them_out_twice() {
    let nodes = Nodes::new();
    let bin = nodes.bin("unique_ids.py");
    let schedule = nodes.dir.path().join("kill-one.toml");
    std::fs::write(
        &schedule,
        "description = \"kill a random node\"\n[[fault]]\nkind = \"kill\"\ntarget = \"one\"\n",
    )
    .expect("write the schedule");
    let schedule = schedule.to_string_lossy().into_owned();
    let out = run_test(
        &flags(
            &bin,
            "unique-ids",
            &[
                "--seed",
                "5",
                "--nemesis",
                &schedule,
                "--nemesis-interval",
                "3",
                "--bin-arg",
                "--broken",
            ],
        ),
        &nodes.results(),
    );
    assert_caught(&out, "duplicate-id");
}

#[test]
fn stray_lines_and_a_node_that_exits_are_counted_and_the_run_goes_on() {
    let nodes = Nodes::new();
    let bin = nodes.bin("g_set.py");
    let out = run_test(
        &flags(
            &bin,
            "g-set",
            &[
                "--nemesis",
                "none",
                "--seed",
                "4",
                "--bin-arg",
                "--noisy",
                "--bin-arg",
                "--exit-at",
                "--bin-arg",
                "3",
            ],
        ),
        &nodes.results(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&nodes.results());
    let net = network(&run);
    assert!(net["malformed_lines"].as_u64() > Some(0), "{net}");
    let exited = net["nodes_exited"].as_array().cloned().unwrap_or_default();
    assert_eq!(exited.len(), 1, "{net}");
    assert_eq!(exited[0]["node"], "n2", "{net}");
    let log = std::fs::read_to_string(run.join("faultline.log")).expect("run log");
    assert!(
        log.contains("node n1: malformed line") && log.contains("debug: gossiping"),
        "the run log names the node and quotes the line"
    );
    assert!(log.contains("node n2 exited on its own"), "{log}");
}

#[test]
fn nodes_that_fail_at_init_exit_3_naming_the_node() {
    let nodes = Nodes::new();
    let bad = nodes.bin("bad_init.py");
    let missing = nodes.bin("no-such-node");
    let cases: [(Vec<&str>, &[&str]); 3] = [
        (
            vec!["--bin", &missing],
            &["node n0", "no-such-node", "No such file"],
        ),
        (
            vec!["--bin", &bad, "--bin-arg", "--exit"],
            &["node n1", "exited before init_ok", "giving up on purpose"],
        ),
        (
            vec!["--bin", &bad, "--bin-arg", "--garbage"],
            &[
                "node n1",
                "not a Maelstrom message",
                "hello, this is not json",
            ],
        ),
    ];
    for (i, (args, needles)) in cases.iter().enumerate() {
        let mut all = vec!["--target", "maelstrom", "--nodes", "3", "--time-limit", "3"];
        all.extend(args.iter().copied());
        let out = run_test(&all, &nodes.results());
        assert_eq!(code(&out), 3, "case {i}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in *needles {
            assert!(
                stderr.contains(needle),
                "case {i}: {needle:?} in {}",
                text(&out)
            );
        }
    }
}

#[test]
fn leader_faults_find_the_leader_from_traffic_or_by_asking_and_say_when_there_is_none() {
    let nodes = Nodes::new();
    let schedule = nodes.dir.path().join("leader.toml");
    std::fs::write(
        &schedule,
        "description = \"the leader\"\n[[fault]]\nkind = \"partition\"\nmode = \"leader\"\n[[fault]]\nkind = \"kill\"\ntarget = \"leader\"\n",
    )
    .expect("write the schedule");
    let schedule = schedule.to_string_lossy().into_owned();
    let lin_kv = nodes.bin("lin_kv.py");
    let history = |run: &Path| std::fs::read_to_string(run.join("history.jsonl")).expect("history");
    for (probe, how) in [
        ("traffic", "inferred from traffic"),
        ("message", "named by 3 of the 3 nodes"),
    ] {
        let out = run_test(
            &flags(
                &lin_kv,
                "lin-kv",
                &[
                    "--seed",
                    "3",
                    "--time-limit",
                    "6",
                    "--nemesis",
                    &schedule,
                    "--nemesis-interval",
                    "1",
                    "--leader-probe",
                    probe,
                ],
            ),
            &nodes.results(),
        );
        assert_eq!(code(&out), 0, "{probe}: {}", text(&out));
        let run = latest(&nodes.results());
        let h = history(&run);
        assert!(
            h.contains(r#""leader":"n0""#) && h.contains(how),
            "{probe}: {how:?} in the history"
        );
        let journal = std::fs::read_to_string(run.join("faults.journal")).expect("journal");
        assert!(
            journal.contains("\"kill\"") && journal.contains("\"n0\""),
            "{probe}: {journal}"
        );
    }
    // Gossip nodes answer the probe with error 10 and hear from everyone: no leader, said.
    let g_set = nodes.bin("g_set.py");
    let out = run_test(
        &flags(
            &g_set,
            "g-set",
            &[
                "--seed",
                "3",
                "--time-limit",
                "4",
                "--nemesis",
                "partition-leader",
                "--nemesis-interval",
                "1",
                "--leader-probe",
                "message",
            ],
        ),
        &nodes.results(),
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let h = history(&latest(&nodes.results()));
    assert!(
        h.contains("no leader to target: no node answers faultline_leader")
            && h.contains("no single leader in the traffic"),
        "the failed leader fault says why"
    );
}

#[test]
fn cluster_down_stops_the_nodes_of_a_run_whose_faultline_was_killed() {
    let nodes = Nodes::new();
    let bin = nodes.bin("g_set.py");
    // Nodes that outlive their stdin, and pauses: after a kill -9 of faultline they stay.
    let mut child = spawn_test(
        &flags(
            &bin,
            "g-set",
            &[
                "--time-limit",
                "120",
                "--nemesis",
                "pause",
                "--nemesis-interval",
                "1",
                "--bin-arg",
                "--linger",
            ],
        ),
        &nodes.results(),
        false,
    );
    let run = wait_for_run(
        &mut child,
        &nodes.results(),
        Duration::from_secs(90),
        "pause",
        |run| {
            std::fs::read_to_string(run.join("faults.journal"))
                .unwrap_or_default()
                .contains("\"pause\"")
        },
    );
    let _reaper = ClusterDown(run.clone());
    child.kill().expect("kill -9 faultline");
    let _ = child.wait();
    std::thread::sleep(Duration::from_secs(1));
    let left = processes_under("g_set.py", nodes.dir.path());
    assert_eq!(left.len(), 3, "the nodes outlive faultline: {left:?}");
    let down = cluster_down(&run);
    assert!(down.status.success(), "{}", text(&down));
    let said = String::from_utf8_lossy(&down.stdout).into_owned();
    assert!(said.contains("stopped [\"n0\", \"n1\", \"n2\"]"), "{said}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !processes_under("g_set.py", nodes.dir.path()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "node processes left after cluster down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let again = cluster_down(&run);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing to stop"),
        "{}",
        text(&again)
    );
}

#[test]
fn flags_of_other_targets_are_refused() {
    let nodes = Nodes::new();
    let bin = nodes.bin("lin_kv.py");
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec![
                "--target",
                "maelstrom",
                "--bin",
                &bin,
                "--raftkv-bug",
                "stale-read",
            ],
            "--raftkv-bug needs --target raftkv",
        ),
        (vec!["--latency", "5"], "--latency needs --target maelstrom"),
        (
            vec![
                "--target",
                "maelstrom",
                "--bin",
                &bin,
                "--workload",
                "lin-kv",
                "--consistency-model",
                "serializable",
            ],
            "--consistency-model is for transactional workloads",
        ),
        (
            vec!["--leader-probe", "message"],
            "--leader-probe needs --target maelstrom",
        ),
    ];
    for (i, (args, needle)) in cases.iter().enumerate() {
        let out = run_test(args, &nodes.results());
        assert_eq!(code(&out), 3, "case {i}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "case {i}: {needle:?} in {}",
            text(&out)
        );
    }
}
