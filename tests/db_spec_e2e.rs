//! End-to-end tests of `faultline test --db DB.toml --client SPEC.toml` through the built
//! binary: any binary as a local cluster, each node in its own network namespace. raftkv
//! through db/raftkv.toml is valid under the mixed nemesis and its planted stale-read bug is
//! caught under partition-leader (the leader found by the client spec's [leader] probe);
//! etcd through db/etcd.toml and examples/http/etcd-v3.toml alone (base64 codecs, the leader
//! from its status API) is valid under the mixed nemesis on three seeds and caught with
//! serializable reads when the probed leader is partitioned; a
//! missing binary, a missing root (faultline run as nobody) and a node that never becomes
//! healthy exit 3 naming what; `cluster down`
//! after `kill -9` and every failed start leave no namespace, link, rule or process behind.
//!
//! These need root, `ip` and `iptables` (and `etcd` for the etcd test). Without them each
//! test prints why and passes, unless `FAULTLINE_REQUIRE_ETCD=1` (CI sets it) makes that a
//! failure.

use std::path::Path;
use std::time::Duration;

use faultline::checker::Validity;
use faultline::rundir::{DB_SPEC_FILE, LOG_FILE};

mod common;
use common::etcd::{assert_nothing_left, can_run, network_prefix};
use common::{
    cluster_down, code, fault_journaled, history, latest, nemesis_fs, processes_under,
    read_results, read_test_record, run_test, spawn_test, text, wait_for_run, ClusterDown,
    SHORT_PARTITION_RUN,
};

/// A file of the repository.
fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// Nothing of the run under `dir` is left: no namespace, link or rule named `prefix`, no
/// raftkv or etcd process whose command line mentions `dir`.
fn assert_clean(prefix: &str, dir: &Path) {
    assert_nothing_left(prefix, dir);
    let raftkv = processes_under("raftkv", dir);
    assert!(raftkv.is_empty(), "raftkv processes left: {raftkv:#?}");
}

/// A run that failed to start left nothing: no namespace, link or rule of its network, no
/// node process or child of one (`sh` with its data dir on the command line).
fn assert_failed_start_clean(results: &Path, dir: &Path) {
    let run = latest(results);
    let prefix = network_prefix(&run).expect("the run logs its network before starting");
    assert_nothing_left(&prefix, dir);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !processes_under("sh", dir).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {:#?}",
            processes_under("sh", dir)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn raftkv_through_its_db_spec_is_valid_under_the_mixed_nemesis() {
    if !can_run("raftkv_through_its_db_spec_is_valid_under_the_mixed_nemesis") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let (db, client) = (repo("db/raftkv.toml"), repo("examples/http/raftkv.toml"));
    let out = run_test(
        &[
            "--db",
            &db,
            "--client",
            &client,
            "--nodes",
            "3",
            "--nemesis",
            "mixed",
            "--time-limit",
            "20",
            "--nemesis-interval",
            "2",
            "--seed",
            "8",
        ],
        &results,
    );
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(read_results(&run).valid, Validity::Valid);
    // Seed 8's schedule (3 nodes, 2 s) has a leader cut off while its successor is killed,
    // then a pause, within the 20 s.
    let fs = nemesis_fs(&run);
    for wanted in ["start-partition", "kill", "start", "pause", "resume"] {
        assert!(fs.iter().any(|f| f == wanted), "no {wanted} in {fs:?}");
    }
    let ok = history(&run)
        .iter()
        .filter(|e| e["type"] == "ok" && e["process"].is_u64())
        .count();
    assert!(ok > 50, "only {ok} ok client ops");
    // The db spec is kept in the run and named in the command that reproduces it.
    assert!(run.join(DB_SPEC_FILE).is_file());
    let reproduce = read_test_record(&run).reproduce.unwrap_or_default();
    assert!(
        reproduce.contains(&format!("--db {db}")) && reproduce.contains("--target http"),
        "{reproduce}"
    );
    let prefix = network_prefix(&run).expect("the run logs its network");
    assert_clean(&prefix, dir.path());
}

#[test]
fn raftkvs_stale_read_bug_is_caught_through_the_leader_probe() {
    if !can_run("raftkvs_stale_read_bug_is_caught_through_the_leader_probe") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let (db, client) = (
        repo("db/raftkv-stale-read.toml"),
        repo("examples/http/raftkv.toml"),
    );
    let args = [
        &["--db", &db, "--client", &client][..],
        SHORT_PARTITION_RUN,
        &[
            "--nemesis",
            "partition-leader",
            "--seed",
            "1",
            "--test-count",
            "3",
        ],
    ]
    .concat();
    let out = run_test(&args, &results);
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(code(&out), 1, "the stale read is caught: {}", text(&out));
    assert_eq!(read_results(&run).valid, Validity::Invalid);
    // The partition isolated the leader the [leader] probe named.
    let leaders = partitioned_leaders(&run);
    assert!(
        leaders.iter().any(|l| l.starts_with('n')),
        "no partition named its leader"
    );
    let prefix = network_prefix(&run).expect("the run logs its network");
    assert_clean(&prefix, dir.path());
}

/// The leaders the run's partitions isolated, as journaled in its history.
fn partitioned_leaders(run: &Path) -> Vec<String> {
    history(run)
        .into_iter()
        .filter(|e| e["f"] == "start-partition")
        .filter_map(|e| e["value"]["leader"].as_str().map(str::to_owned))
        .collect()
}

/// `faultline test --db db/etcd.toml --client CLIENT` on 3 nodes with `nemesis`, seeds 1..=3
/// (stopping at the first run that is not valid).
fn etcd_through_the_generic_path(
    client: &str,
    nemesis: &str,
    seed: &str,
    results: &Path,
) -> std::process::Output {
    let db = repo("db/etcd.toml");
    let args = [
        &["--db", &db, "--client", client][..],
        SHORT_PARTITION_RUN,
        &["--nemesis", nemesis, "--seed", seed, "--test-count", "3"],
    ]
    .concat();
    run_test(&args, results)
}

#[test]
fn etcd_through_its_db_and_client_specs_is_valid_under_the_mixed_nemesis() {
    if !can_run("etcd_through_its_db_and_client_specs_is_valid_under_the_mixed_nemesis") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let client = repo("examples/http/etcd-v3.toml");
    let out = etcd_through_the_generic_path(&client, "mixed", "1", &results);
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    // Three runs on seeds 1, 2, 3, every one valid (the series stops at the first that is not).
    assert_eq!(code(&out), 0, "{}", text(&out));
    let runs = std::fs::read_dir(run.parent().expect("a test directory"))
        .expect("the test directory")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("results.json").is_file())
        .count();
    assert_eq!(runs, 3, "{}", text(&out));
    assert_eq!(read_results(&run).valid, Validity::Valid);
    let fs = nemesis_fs(&run);
    assert!(fs.iter().any(|f| f == "start-partition"), "{fs:?}");
    let ok = history(&run)
        .iter()
        .filter(|e| e["type"] == "ok" && e["process"].is_u64())
        .count();
    assert!(ok > 50, "only {ok} ok client ops");
    let prefix = network_prefix(&run).expect("the run logs its network");
    assert_clean(&prefix, dir.path());
}

#[test]
fn etcds_serializable_reads_are_caught_when_the_probed_leader_is_partitioned() {
    if !can_run("etcds_serializable_reads_are_caught_when_the_probed_leader_is_partitioned") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    // etcd-v3.toml with reads answered by the member alone, possibly stale.
    let linearizable = std::fs::read_to_string(repo("examples/http/etcd-v3.toml"))
        .expect("examples/http/etcd-v3.toml");
    let read_body = r#"body = { key = "{key}" }"#;
    assert!(linearizable.contains(read_body), "the read's body moved");
    let serializable = linearizable.replacen(
        read_body,
        r#"body = { key = "{key}", serializable = true }"#,
        1,
    );
    let client = dir.path().join("etcd-v3-serializable.toml");
    std::fs::write(&client, serializable).expect("write spec");
    let out = etcd_through_the_generic_path(
        &client.display().to_string(),
        "partition-leader",
        "2",
        &results,
    );
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(code(&out), 1, "the stale read is caught: {}", text(&out));
    assert_eq!(read_results(&run).valid, Validity::Invalid);
    // The leader the [leader] probe found is the one cut off.
    let leaders = partitioned_leaders(&run);
    assert!(
        !leaders.is_empty()
            && leaders
                .iter()
                .all(|l| ["n1", "n2", "n3"].contains(&l.as_str())),
        "partitions named leaders {leaders:?}"
    );
    let log = std::fs::read_to_string(run.join(LOG_FILE)).unwrap_or_default();
    assert!(log.contains("leader probe: n"), "{log}");
    let prefix = network_prefix(&run).expect("the run logs its network");
    assert_clean(&prefix, dir.path());
}

/// A db spec of `/bin/sh` running `script` (with the node's data dir as `$0`, so its command
/// line names the run), health on a port nothing listens on, a short startup timeout.
fn sh_spec(dir: &Path, script: &str) -> String {
    let path = dir.join("sh-db.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"shdb\"\nbinary = \"/bin/sh\"\nclient_port = 4001\nstartup_timeout_s = 4\nstop_grace_ms = 500\n\
             args = [\"-c\", {script:?}, \"{{data_dir}}\"]\n[health]\nhttp = \"/ready\"\n"
        ),
    )
    .expect("write spec");
    path.display().to_string()
}

/// `faultline test` of a two-node cluster of `db` (raftkv's client spec, no faults): how the
/// failed-start tests start the nodes that never come up.
fn start_two_nodes(db: &str, results: &Path) -> std::process::Output {
    let client = repo("examples/http/raftkv.toml");
    run_test(
        &[
            "--db",
            db,
            "--client",
            &client,
            "--nodes",
            "2",
            "--nemesis",
            "none",
        ],
        results,
    )
}

#[test]
fn a_node_that_never_becomes_healthy_is_named_with_its_log() {
    if !can_run("a_node_that_never_becomes_healthy_is_named_with_its_log") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let db = sh_spec(
        dir.path(),
        // The node forks a long-lived child (as a wrapper script would): stopping the node
        // stops its whole process group.
        "echo 'shdb: waiting for a quorum that never comes'; sh -c 'while :; do sleep 1; done' \"$0-child\" & wait",
    );
    let out = start_two_nodes(&db, &results);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "never became healthy",
        "n1",
        "n2",
        "/ready",
        "shdb: waiting for a quorum that never comes",
    ] {
        assert!(stderr.contains(needle), "no {needle:?} in {}", text(&out));
    }
    assert_failed_start_clean(&results, dir.path());
}

#[test]
fn a_node_that_exits_at_start_is_named_with_its_log() {
    if !can_run("a_node_that_exits_at_start_is_named_with_its_log") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let db = sh_spec(dir.path(), "echo 'shdb: bad flag --frobnicate' >&2; exit 2");
    let out = start_two_nodes(&db, &results);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("exited") && stderr.contains("shdb: bad flag --frobnicate"),
        "{}",
        text(&out)
    );
    assert_failed_start_clean(&results, dir.path());
}

#[test]
fn a_missing_binary_is_named_and_no_op_runs() {
    // Needs no root: the binary is looked for before any namespace is made.
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let db = dir.path().join("missing.toml");
    std::fs::write(
        &db,
        "name = \"mydb\"\nbinary = \"/nonexistent/bin/mydb\"\nclient_port = 4001\n",
    )
    .expect("write spec");
    let client = repo("examples/http/raftkv.toml");
    let out = run_test(
        &[
            "--db",
            &db.display().to_string(),
            "--client",
            &client,
            "--nemesis",
            "none",
        ],
        &results,
    );
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/bin/mydb") && stderr.contains("not found"),
        "{}",
        text(&out)
    );
    // The run that never started says why, and has no history.
    let run = latest(&results);
    let record = read_results(&run);
    assert_eq!(record.valid, Validity::Unknown);
    let error = record.run_error.unwrap_or_default();
    assert!(error.contains("/nonexistent/bin/mydb"), "{error}");
    assert!(!run.join(faultline::rundir::HISTORY_FILE).exists());
}

#[test]
fn flags_of_a_db_cluster_are_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let client = repo("examples/http/raftkv.toml");
    let db = repo("db/raftkv.toml");
    let cases: [(Vec<&str>, &str); 3] = [
        // --target http on a local cluster without --db names the fix.
        (
            vec!["--target", "http", "--client", &client],
            "needs --db DB.toml",
        ),
        // --db is for local clusters.
        (
            vec![
                "--client",
                &client,
                "--db",
                &db,
                "--cluster",
                "external",
                "--node",
                "http://127.0.0.1:1",
            ],
            "is for a local cluster",
        ),
        // --db belongs to the http target.
        (
            vec!["--target", "raftkv", "--db", &db],
            "--db needs --target http",
        ),
    ];
    for (i, (args, needle)) in cases.iter().enumerate() {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        common::assert_refused(i, &args, &results, needle);
    }
}

#[test]
fn cluster_down_removes_a_db_cluster_after_faultline_is_killed() {
    if !can_run("cluster_down_removes_a_db_cluster_after_faultline_is_killed") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let (db, client) = (repo("db/raftkv.toml"), repo("examples/http/raftkv.toml"));
    let args = [
        "--db",
        &db,
        "--client",
        &client,
        "--nodes",
        "3",
        "--nemesis",
        "pause",
        "--nemesis-interval",
        "1",
        "--time-limit",
        "60",
        "--seed",
        "4",
    ];
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
        !processes_under("raftkv", dir.path()).is_empty(),
        "the cluster outlives faultline"
    );
    let down = cluster_down(&run);
    assert_eq!(code(&down), 0, "{}", text(&down));
    assert_clean(&prefix, dir.path());
}

#[test]
fn without_root_a_db_cluster_exits_3_saying_so() {
    // Run as root, the test drops to `nobody` for faultline with setpriv.
    if !can_run("without_root_a_db_cluster_exits_3_saying_so") {
        return;
    }
    if common::etcd::on_path("setpriv").is_none() {
        eprintln!("skipping without_root_a_db_cluster_exits_3_saying_so: no setpriv");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    // Everything nobody needs lives in the world-readable temp dir: the checkout may sit in a
    // directory nobody cannot enter (/root), which would fail for another reason than root.
    let faultline = dir.path().join("faultline");
    std::fs::copy(env!("CARGO_BIN_EXE_faultline"), &faultline).expect("copy faultline");
    let client = dir.path().join("client.toml");
    std::fs::copy(repo("examples/http/raftkv.toml"), &client).expect("copy the client spec");
    let db = sh_spec(dir.path(), "sleep 60");
    for file in [client.clone(), Path::new(&db).to_path_buf()] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&faultline)
        .env("FAULTLINE_NO_PROGRESS", "1")
        .args([
            "test",
            "--db",
            &db,
            "--client",
            &client.display().to_string(),
            "--nodes",
            "3",
            "--results",
            &results.display().to_string(),
        ])
        .output()
        .expect("setpriv runs");
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs root"),
        "{}",
        text(&out)
    );
}

/// A db spec running tests/fixtures/strkv.py (the string-valued test service) as each node,
/// through a shell that first forks a long-lived child naming the node's data dir: a node
/// that leaves a process of its own behind unless its whole process group is killed.
fn forking_strkv_spec(dir: &Path) -> String {
    let path = dir.join("strkv-db.toml");
    let script = format!(
        "sh -c 'while :; do sleep 1; done' \"$0\" & exec python3 {} --host \"$1\" --port \"$2\"",
        repo("tests/fixtures/strkv.py")
    );
    std::fs::write(
        &path,
        format!(
            "name = \"strkv\"\nbinary = \"/bin/sh\"\nclient_port = 4001\nstartup_timeout_s = 30\n\
             args = [\"-c\", {script:?}, \"{{data_dir}}\", \"{{host}}\", \"{{client_port}}\"]\n\
             [health]\nhttp = \"/health\"\n"
        ),
    )
    .expect("write spec");
    path.display().to_string()
}

#[test]
fn cluster_down_removes_what_a_node_forked_after_faultline_is_killed() {
    if !can_run("cluster_down_removes_what_a_node_forked_after_faultline_is_killed") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let db = forking_strkv_spec(dir.path());
    let client = repo("examples/http/strkv.toml");
    // No faults: a node paused when faultline dies would be killed by the kernel anyway (an
    // orphaned process group with a stopped member gets SIGHUP), hiding what is tested here.
    let args = [
        "--db",
        &db,
        "--client",
        &client,
        "--nodes",
        "1",
        "--nemesis",
        "none",
        "--time-limit",
        "60",
        "--seed",
        "5",
    ];
    let mut child = spawn_test(&args, &results, false);
    let run = wait_for_run(
        &mut child,
        &results,
        Duration::from_secs(90),
        "client ops recorded",
        |run| {
            std::fs::metadata(run.join(faultline::rundir::HISTORY_FILE)).is_ok_and(|m| m.len() > 0)
        },
    );
    let _down = ClusterDown(run.clone());
    child.kill().expect("kill -9 faultline");
    let _ = child.wait();
    let prefix = network_prefix(&run).expect("the run logs its network");
    assert!(
        !processes_under("sh", dir.path()).is_empty(),
        "the node's forked child outlives faultline"
    );
    let down = cluster_down(&run);
    assert_eq!(code(&down), 0, "{}", text(&down));
    // The node is recognised by its namespace (its command line does not name its data dir).
    assert!(text(&down).contains("stopped [\"n1\"]"), "{}", text(&down));
    assert_nothing_left(&prefix, dir.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !processes_under("sh", dir.path()).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {:#?}",
            processes_under("sh", dir.path())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
