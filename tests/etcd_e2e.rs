//! End-to-end tests of `faultline test --target etcd` through the built binary: a local etcd
//! cluster in network namespaces (partitions as iptables drops) is valid under partitions,
//! kills and pauses; serializable reads under a partition are caught as stale; an external
//! cluster started by the test is driven through fault command templates, and a failing
//! template is reported while the run still heals and exits; SIGINT mid-partition and
//! `cluster down` after `kill -9` leave no namespace, link, rule or process behind.
//!
//! These need root, `etcd` (Debian: etcd-server), `ip` and `iptables`. Without them each test
//! prints why and passes, unless `FAULTLINE_REQUIRE_ETCD=1` (CI sets it) makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use faultline::checker::Validity;
use faultline::rundir::LOG_FILE;
use serde_json::Value;

mod common;
use common::etcd::{assert_nothing_left, can_run, leftovers, network_prefix, on_path, stdout_of};
use common::{
    assert_refused, cluster_down, code, fault_journaled, history, interrupt, latest, nemesis_fs,
    partition_started, read_results, read_test_record, run_test, spawn_test, text, wait_for_run,
    ClusterDown, PARTITION_HALVES_RUN, PAUSE_RUN,
};

#[test]
fn etcd_under_partitions_kills_and_pauses_is_valid() {
    if !can_run("etcd_under_partitions_kills_and_pauses_is_valid") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let out = run_test(
        &[
            "--target",
            "etcd",
            "--nodes",
            "3",
            "--nemesis",
            "mixed",
            "--time-limit",
            "30",
            "--nemesis-interval",
            "2.5",
            // Seed 6's schedule (3 nodes, 2.5 s) pauses, partitions and kills, then runs the
            // split-majority-crash pattern (the majority side crashes during a split).
            "--seed",
            "6",
        ],
        &results,
    );
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(code(&out), 0, "{}", text(&out));
    let results_record = read_results(&run);
    assert_eq!(results_record.valid, Validity::Valid, "{results_record:?}");
    let fs = nemesis_fs(&run);
    for wanted in [
        "start-partition",
        "kill",
        "pause",
        "stop-partition",
        "start",
        "resume",
    ] {
        assert!(fs.iter().any(|f| f == wanted), "no {wanted} in {fs:?}");
    }
    let ops = history(&run);
    let ok = ops
        .iter()
        .filter(|e| e["type"] == "ok" && e["process"].is_u64())
        .count();
    assert!(ok > 100, "only {ok} ok client ops");
    let prefix = network_prefix(&run).expect("the run logs its network");
    assert_nothing_left(&prefix, dir.path());
}

#[test]
fn serializable_reads_on_an_isolated_node_are_caught_as_stale() {
    if !can_run("serializable_reads_on_an_isolated_node_are_caught_as_stale") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let out = run_test(
        &[
            "--target",
            "etcd",
            "--nodes",
            "3",
            "--etcd-serializable-reads",
            "--nemesis",
            "partition-one",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "15",
            "--rate",
            "200",
            "--seed",
            "2",
            "--test-count",
            "3",
        ],
        &results,
    );
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(
        code(&out),
        1,
        "the stale read was not caught: {}",
        text(&out)
    );
    let results_record = read_results(&run);
    assert_eq!(
        results_record.valid,
        Validity::Invalid,
        "{results_record:?}"
    );
    let anomalies = &results_record.checkers[0].anomalies;
    assert!(!anomalies.is_empty(), "{results_record:?}");
    // The explanation names the read whose value no linearization allows, by pattern.
    let explanation = &anomalies[0].explanation;
    assert!(
        explanation.contains(" read ")
            && [
                "Stale read",
                "Lost write",
                "Non-monotonic reads",
                "never written",
                "Impossible cas",
                "No linearization exists",
            ]
            .iter()
            .any(|p| explanation.contains(p)),
        "{explanation}"
    );
    assert!(read_test_record(&run).config.etcd_serializable_reads);
    let prefix = network_prefix(&run).expect("the run logs its network");
    assert_nothing_left(&prefix, dir.path());
}

#[test]
fn sigint_mid_partition_leaves_no_namespace_link_rule_or_process() {
    if !can_run("sigint_mid_partition_leaves_no_namespace_link_rule_or_process") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = [&["--target", "etcd"], PARTITION_HALVES_RUN].concat();
    let mut child = spawn_test(&args, &results, false);
    let run = wait_for_run(
        &mut child,
        &results,
        Duration::from_secs(90),
        "partition started",
        partition_started,
    );
    let _down = ClusterDown(run.clone());
    let prefix = network_prefix(&run).expect("the run logs its network");
    // Mid-partition: the DROP rules are in place inside the namespaces.
    let ns = format!("{prefix}-n1");
    let rules = stdout_of(&["ip", "netns", "exec", &ns, "iptables", "-w", "-S"]);
    assert!(rules.contains("FL-PARTITION"), "{rules}");
    let status = interrupt(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(3), "interrupted, no anomaly");
    assert_nothing_left(&prefix, dir.path());
    assert!(read_results(&run).interrupted);
}

#[test]
fn cluster_down_removes_the_network_after_faultline_is_killed() {
    if !can_run("cluster_down_removes_the_network_after_faultline_is_killed") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = [&["--target", "etcd"], PAUSE_RUN, &["--seed", "4"]].concat();
    let mut child = spawn_test(&args, &results, false);
    let run = wait_for_run(
        &mut child,
        &results,
        Duration::from_secs(90),
        "fault journaled",
        fault_journaled,
    );
    let _down = ClusterDown(run.clone());
    child.kill().expect("kill -9 faultline");
    let _ = child.wait();
    let prefix = network_prefix(&run).expect("the run logs its network");
    assert!(
        !leftovers(&prefix, dir.path()).is_empty(),
        "the cluster outlives faultline"
    );
    let down = cluster_down(&run);
    assert_eq!(code(&down), 0, "{}", text(&down));
    assert!(
        String::from_utf8_lossy(&down.stdout).contains(&format!("network {prefix} removed")),
        "{}",
        text(&down)
    );
    assert_nothing_left(&prefix, dir.path());
}

/// An etcd cluster on 127.0.0.1 that the test starts itself, through the same start scripts
/// its fault templates use; killed on drop.
struct ExternalEtcd {
    dir: PathBuf,
    urls: Vec<String>,
}

/// `GET path` on `http://127.0.0.1:port` (plain HTTP/1.0 over std), the answer as text.
fn http_get(url: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Some(addr) = url.strip_prefix("http://") else {
        return String::new();
    };
    let Ok(addr) = addr.parse::<std::net::SocketAddr>() else {
        return String::new();
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

impl ExternalEtcd {
    fn start(dir: &Path, n: usize) -> ExternalEtcd {
        let etcd = on_path("etcd").expect("etcd on PATH");
        let ports = common::free_ports(2 * n);
        let peer = |i: usize| format!("http://127.0.0.1:{}", ports[n + i]);
        let client = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
        let initial: Vec<String> = (0..n).map(|i| format!("n{}={}", i + 1, peer(i))).collect();
        for i in 0..n {
            let name = format!("n{}", i + 1);
            let d = dir.display();
            // Idempotent: a node whose pid file names a live process is left alone. Output goes
            // to a log, so faultline's pipes close when the script exits.
            let script = format!(
                "#!/bin/sh\n\
                 if [ -f {d}/{name}.pid ] && kill -0 \"$(cat {d}/{name}.pid)\" 2>/dev/null; then exit 0; fi\n\
                 setsid {etcd} --name {name} --data-dir {d}/{name}.data \
                 --listen-client-urls {c} --advertise-client-urls {c} \
                 --listen-peer-urls {p} --initial-advertise-peer-urls {p} \
                 --initial-cluster {ic} --initial-cluster-state new \
                 >> {d}/{name}.log 2>&1 < /dev/null &\n\
                 echo $! > {d}/{name}.pid\n",
                etcd = etcd.display(),
                c = client(i),
                p = peer(i),
                ic = initial.join(","),
            );
            let path = dir.join(format!("start-{name}.sh"));
            std::fs::write(&path, script).expect("write start script");
            let status = Command::new("sh")
                .arg(&path)
                .status()
                .expect("start script runs");
            assert!(status.success());
        }
        let cluster = ExternalEtcd {
            dir: dir.to_path_buf(),
            urls: (0..n).map(client).collect(),
        };
        cluster.wait_healthy();
        cluster
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for url in &self.urls {
            loop {
                let out = http_get(url, "/health");
                if out.contains("\"health\":\"true\"") {
                    break;
                }
                assert!(Instant::now() < deadline, "{url} not healthy in 60 s");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    fn pids(&self) -> Vec<i32> {
        common::node_pids(&self.dir, self.urls.len())
    }
}

impl Drop for ExternalEtcd {
    fn drop(&mut self) {
        common::kill_all(&self.pids());
    }
}

#[test]
fn an_external_etcd_is_driven_through_command_templates() {
    if !can_run("an_external_etcd_is_driven_through_command_templates") {
        return;
    }
    if on_path("setsid").is_none() {
        eprintln!("skipping: this test's own start scripts need setsid (util-linux)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = ExternalEtcd::start(dir.path(), 3);
    let d = dir.path().display();
    let nodes: Vec<String> = cluster
        .urls
        .iter()
        .flat_map(|u| ["--node".to_string(), u.clone()])
        .collect();
    let results = dir.path().join("results");
    // `faultline test` against this cluster, with `extra` flags.
    let external = |extra: &[&str]| {
        let mut args = vec!["--target", "etcd", "--cluster", "external"];
        args.extend(nodes.iter().map(String::as_str));
        args.extend_from_slice(extra);
        run_test(&args, &results)
    };

    // 1. kill -9 and pause through templates: valid, every fault applied without error.
    let nemesis = dir.path().join("external.toml");
    std::fs::write(
        &nemesis,
        format!(
            "description = \"kill and pause through scripts\"\n\
             [[fault]]\nkind = \"kill\"\ntarget = \"one\"\n\
             [[fault]]\nkind = \"pause\"\ntarget = \"one\"\n\
             [commands]\ntimeout = 20\n\
             kill = \"kill -9 $(cat {d}/{{node}}.pid) && rm {d}/{{node}}.pid\"\n\
             start = \"sh {d}/start-{{node}}.sh\"\n\
             pause = \"kill -STOP $(cat {d}/{{node}}.pid)\"\n\
             resume = \"kill -CONT $(cat {d}/{{node}}.pid)\"\n"
        ),
    )
    .expect("write nemesis");
    let out = external(&[
        "--nemesis",
        nemesis.to_str().expect("a UTF-8 temp path"),
        "--time-limit",
        "20",
        "--nemesis-interval",
        "2",
        "--seed",
        "7",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&results);
    let results_record = read_results(&run);
    assert_eq!(results_record.valid, Validity::Valid, "{results_record:?}");
    assert!(
        results_record.nemesis_errors.is_empty(),
        "{results_record:?}"
    );
    let fs = nemesis_fs(&run);
    for wanted in ["kill", "start", "pause", "resume"] {
        assert!(fs.iter().any(|f| f == wanted), "no {wanted} in {fs:?}");
    }
    let log = std::fs::read_to_string(run.join(LOG_FILE)).expect("faultline.log");
    assert!(log.contains("nemesis command `kill -9 $(cat "), "{log}");
    assert!(log.contains(": ok; output"), "{log}");
    cluster.wait_healthy();

    // 2. A failing template is reported with its command and output; the run heals and exits.
    let failing = dir.path().join("failing.toml");
    std::fs::write(
        &failing,
        "[[fault]]\nkind = \"pause\"\ntarget = \"one\"\n\
         [commands]\ntimeout = 10\n\
         pause = \"echo pause-broke-on-{node} >&2; exit 7\"\n\
         resume = \"echo resumed {node}\"\n",
    )
    .expect("write nemesis");
    let out = external(&[
        "--nemesis",
        failing.to_str().expect("a UTF-8 temp path"),
        "--time-limit",
        "6",
        "--nemesis-interval",
        "1",
        "--seed",
        "8",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&results);
    let results_record = read_results(&run);
    let first = &results_record
        .nemesis_errors
        .first()
        .unwrap_or_else(|| panic!("no nemesis_errors: {results_record:?}"))
        .error;
    assert!(
        first.contains("echo pause-broke-on-n") && first.contains("exited with 7"),
        "{first}"
    );
    assert!(first.contains("output: pause-broke-on-n"), "{first}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("nemesis op pause failed"));
    let log = std::fs::read_to_string(run.join(LOG_FILE)).expect("faultline.log");
    assert!(
        log.contains("exited with 7; output: pause-broke-on-n"),
        "{log}"
    );
    // The heal (resume) ran for the node the failed pause was counted against.
    assert!(log.contains("nemesis command `echo resumed n"), "{log}");
    assert!(log.contains("teardown: every fault healed"), "{log}");

    // 3. No [commands] (the default nemesis): no faults at all, said so, still valid.
    let out = external(&["--time-limit", "3", "--seed", "9"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no faults are injected (nemesis none)"),
        "{}",
        text(&out)
    );
    assert!(nemesis_fs(&latest(&results)).is_empty());

    // 4. An unreachable node: exit 3 naming it, before any op.
    let dead = common::free_ports(1)[0];
    let lost = format!("lost=http://127.0.0.1:{dead}");
    let out = external(&["--node", &lost, "--time-limit", "5"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("external node lost") && stderr.contains("unreachable"),
        "{stderr}"
    );
    drop(cluster);
}

#[test]
fn etcd_configuration_errors_exit_3_before_anything_starts() {
    // Pure validation: runs everywhere, root or not.
    let dir = tempfile::tempdir().expect("temp dir");
    let delay = dir.path().join("delay.toml");
    std::fs::write(&delay, "[[fault]]\nkind = \"delay\"\nms = 50\n").expect("write");
    let half = dir.path().join("half.toml");
    std::fs::write(
        &half,
        "[[fault]]\nkind = \"partition\"\n[commands]\nkill = \"k\"\nstart = \"s\"\n",
    )
    .expect("write");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--target".into(),
                "etcd".into(),
                "--nemesis".into(),
                delay.display().to_string(),
            ],
            "link delay is not available",
        ),
        (
            vec!["--etcd-serializable-reads".into()],
            "needs --target etcd",
        ),
        (
            vec!["--cluster".into(), "external".into()],
            "at least one --node",
        ),
        (
            vec!["--node".into(), "http://127.0.0.1:1".into()],
            "--node is for --cluster external",
        ),
        (
            vec![
                "--cluster".into(),
                "external".into(),
                "--node".into(),
                "http://127.0.0.1:1".into(),
                "--nemesis".into(),
                half.display().to_string(),
            ],
            "no template",
        ),
        (
            vec![
                "--cluster".into(),
                "external".into(),
                "--node".into(),
                "x;y=http://127.0.0.1:1".into(),
            ],
            "letters, digits",
        ),
    ];
    for (i, (args, needle)) in cases.iter().enumerate() {
        assert_refused(i, args, &dir.path().join("results"), needle);
    }
}

fn nemesis_op(f: &str, value: Value) -> faultline::generator::GenOp {
    faultline::generator::GenOp {
        process: faultline::history::Process::Nemesis,
        time: 0,
        f: f.to_string(),
        key: None,
        value,
    }
}

/// The rules in `chain` inside `ns` (without the `-N` line).
fn chain_rules(ns: &str, chain: &str) -> Vec<String> {
    stdout_of(&["ip", "netns", "exec", ns, "iptables", "-w", "-S", chain])
        .lines()
        .filter(|l| l.starts_with("-A"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn packet_loss_and_one_way_partitions_are_rules_in_the_namespaces_and_heal() {
    use faultline::client::{ClientFactory, EtcdFactory, EtcdOptions, Invocation, NodeInfo};
    use faultline::cluster::etcd;
    use faultline::cluster::{locate_etcd, EtcdClusterOptions};
    use faultline::history::Outcome;
    use faultline::target::etcd::local_nemesis;
    use serde_json::json;

    if !can_run("packet_loss_and_one_way_partitions_are_rules_in_the_namespaces_and_heal") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let prefix = runtime.block_on(async {
        let cluster = etcd::start(EtcdClusterOptions {
            nodes: 3,
            binary: locate_etcd(None).expect("etcd"),
            dir: dir.path().to_path_buf(),
            run_id: faultline::net::netns::new_run_id(),
            startup_timeout: Duration::from_secs(60),
            power_loss: false,
        })
        .await
        .expect("etcd starts");
        let prefix = cluster.network().prefix.clone();
        let ns = |i: usize| format!("{prefix}-n{i}");
        let mut nemesis =
            local_nemesis(&cluster, &dir.path().join("faults.journal")).expect("journal");

        // Loss on the links to and from n2: n2 drops from both peers, the others from n2.
        nemesis
            .invoke(&nemesis_op(
                "start-drop",
                json!({"probability": 0.3, "nodes": ["n2"]}),
            ))
            .await
            .expect("loss applied");
        let n2_ip = cluster.network().node("n2").expect("n2").ip.to_string();
        assert_eq!(chain_rules(&ns(2), "FL-LOSS").len(), 2);
        let n1_loss = chain_rules(&ns(1), "FL-LOSS");
        assert_eq!(n1_loss.len(), 1, "{n1_loss:?}");
        assert!(
            n1_loss[0].contains(&n2_ip) && n1_loss[0].contains("statistic"),
            "{n1_loss:?}"
        );

        // A one-way partition of the leader: only the others drop what it sends.
        let done = nemesis
            .invoke(&nemesis_op(
                "start-partition",
                json!({"mode": "leader", "one_way": true}),
            ))
            .await
            .expect("partition applied");
        let leader = done["leader"].as_str().expect("leader named").to_string();
        let leader_ns = cluster
            .network()
            .nodes
            .iter()
            .find(|n| n.name == leader)
            .map(|n| n.namespace.clone())
            .expect("leader node");
        assert!(
            chain_rules(&leader_ns, "FL-PARTITION").is_empty(),
            "the leader hears all"
        );
        for n in cluster.network().nodes.iter().filter(|n| n.name != leader) {
            assert_eq!(
                chain_rules(&n.namespace, "FL-PARTITION").len(),
                1,
                "{}",
                n.name
            );
        }
        // Healing the partition leaves the loss alone; heal_all clears both.
        nemesis
            .invoke(&nemesis_op("stop-partition", Value::Null))
            .await
            .expect("healed");
        assert!(chain_rules(&ns(1), "FL-PARTITION").is_empty());
        assert_eq!(chain_rules(&ns(2), "FL-LOSS").len(), 2);
        nemesis.heal_all().await.expect("heal all");
        for i in 1..=3 {
            assert!(chain_rules(&ns(i), "FL-LOSS").is_empty());
        }

        // The healed cluster takes a write through the client, from the root namespace.
        let nodes: Vec<NodeInfo> = etcd::client_urls(&cluster)
            .into_iter()
            .map(|(name, http)| NodeInfo { name, http })
            .collect();
        let factory = EtcdFactory::new(&nodes, EtcdOptions::default()).expect("factory");
        let mut client = factory.open(&nodes[0]).expect("client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done = client
                .invoke(&Invocation {
                    f: "write".into(),
                    key: Some(json!("k")),
                    value: json!(1),
                })
                .await;
            if done.outcome == Outcome::Ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no write after healing: {done:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        drop(nemesis);
        assert!(cluster.stop().is_empty(), "everything removed");
        prefix
    });
    assert_nothing_left(&prefix, dir.path());
}
