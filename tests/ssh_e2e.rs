//! End-to-end tests of `faultline test --cluster ssh` through the built binary, on SSH hosts
//! built on this machine (tests/common/ssh_hosts.rs: a network namespace per host on a
//! private bridge, each with its own sshd and keys generated for the test): raftkv and etcd
//! through their db specs, valid under the mixed nemesis; raftkv's stale-read bug and etcd's
//! serializable reads caught under partition-leader; raftkv valid under the clock nemesis
//! (libfaketime on the hosts) and its lease reads caught by it; a `kill -9` of faultline
//! mid-partition, then `faultline cluster down`, leaves no process and no rule on any host;
//! a wrong key, an unknown host key and an unreachable host exit 3 within seconds naming the
//! host and SSH's own message, leaving nothing behind.
//!
//! They need root, sshd (Debian: openssh-server), `ip` and `iptables` (and etcd for the etcd
//! tests). Without them each test prints why and passes, unless `FAULTLINE_REQUIRE_SSH` or
//! `FAULTLINE_REQUIRE_ETCD` (CI) is set. The tests run one at a time (a lock): each starts a
//! cluster on a 2-core machine.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use faultline::checker::Validity;

mod common;
use common::ssh_hosts::{can_run, SshHosts};
use common::{
    assert_only_leaderless_nemesis_errors, cluster_down, code, fault_journaled, interrupt, latest,
    nemesis_fs, read_results, read_test_record, run_test, spawn_test, text, wait_for_run,
    ClusterDown, SHORT_PARTITION_RUN,
};

/// One cluster at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The lock and 3 fresh hosts for the test `name`; `None` (the test passes, having said why)
/// when this machine cannot build hosts.
fn three_hosts(name: &str) -> Option<(std::sync::MutexGuard<'static, ()>, SshHosts)> {
    if !can_run(name) {
        return None;
    }
    let one = serial();
    Some((one, SshHosts::create(3)))
}

/// A file of the repository.
fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

fn args_of(parts: &[&[String]]) -> Vec<String> {
    parts.concat()
}

/// `--db DB --client examples/http/raftkv.toml`, then `host_flags`, then `rest`: a db spec's
/// nodes on the hosts, driven through raftkv's HTTP client spec.
fn db_run(db: &str, host_flags: &[String], rest: &[String]) -> Vec<String> {
    let client = repo("examples/http/raftkv.toml");
    args_of(&[
        &strs(&["--db", &repo(db), "--client", &client]),
        host_flags,
        rest,
    ])
}

/// Starts a 60 s raftkv run on `hosts` with a partition every second (its output piped when
/// `capture`), and returns once a partition is journaled and one of its DROP rules is in
/// place on a host: (temp dir, the child, its run directory).
fn start_partitioned_run(
    hosts: &SshHosts,
    capture: bool,
) -> (tempfile::TempDir, std::process::Child, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = db_run(
        "db/raftkv.toml",
        &hosts.flags(),
        &strs(&[
            "--nemesis",
            "partition-halves",
            "--nemesis-interval",
            "1",
            "--time-limit",
            "60",
            "--seed",
            "5",
        ]),
    );
    let mut child = spawn_test(&refs(&args), &results, capture);
    let run = wait_for_run(
        &mut child,
        &results,
        Duration::from_secs(90),
        "journaled partition",
        fault_journaled,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(0..3).any(|i| hosts.our_rules(i).iter().any(|r| r.contains("DROP"))) {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = cluster_down(&run);
            panic!("no DROP rule ever appeared");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (dir, child, run)
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// No `/tmp/faultline-*` directory of the run in `run` is left (the hosts share this
/// machine's file system).
fn assert_no_remote_dir(run: &Path) {
    let log = std::fs::read_to_string(run.join(faultline::rundir::LOG_FILE)).unwrap_or_default();
    let at = log
        .find("remote directory ")
        .map(|i| i + "remote directory ".len());
    let Some(at) = at else { return };
    let remote: String = log[at..].chars().take_while(|c| *c != ',').collect();
    assert!(
        remote.starts_with("/tmp/faultline-") && !Path::new(&remote).exists(),
        "remote directory {remote} left behind"
    );
}

#[test]
fn raftkv_on_ssh_hosts_is_valid_under_the_mixed_nemesis() {
    let Some((_one, hosts)) = three_hosts("raftkv_on_ssh_hosts_is_valid_under_the_mixed_nemesis")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = db_run(
        "db/raftkv.toml",
        &hosts.flags(),
        &strs(&[
            "--nemesis",
            "mixed",
            "--time-limit",
            "20",
            "--nemesis-interval",
            "2",
            "--seed",
            "8",
        ]),
    );
    let out = run_test(&refs(&args), &results);
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(read_results(&run).valid, Validity::Valid);
    let fs = nemesis_fs(&run);
    for wanted in ["start-partition", "kill", "start", "pause", "resume"] {
        assert!(fs.iter().any(|f| f == wanted), "no {wanted} in {fs:?}");
    }
    // Every fault is journaled with its hosts.
    let journal =
        std::fs::read_to_string(run.join(faultline::rundir::JOURNAL_FILE)).expect("journal");
    let first_ip = hosts.ips()[0].to_string();
    assert!(
        journal.contains("\"hosts\"") && journal.contains(&first_ip),
        "{journal}"
    );
    // Logs downloaded, the command that reproduces it names the hosts.
    for n in ["n1", "n2", "n3"] {
        let log = run.join("nodes").join(n).join("raftkv.log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains("--- faultline: starting"),
            "{}: {text}",
            log.display()
        );
    }
    let reproduce = read_test_record(&run).reproduce.unwrap_or_default();
    assert!(
        reproduce.contains("--cluster ssh") && reproduce.contains(&format!("--host n1={first_ip}")),
        "{reproduce}"
    );
    hosts.assert_clean();
    assert_no_remote_dir(&run);
}

#[test]
fn raftkvs_stale_read_is_caught_on_ssh_hosts() {
    let Some((_one, hosts)) = three_hosts("raftkvs_stale_read_is_caught_on_ssh_hosts") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let short: Vec<String> = SHORT_PARTITION_RUN
        .iter()
        .skip(2) // --nodes 3: an SSH cluster has one node per --host
        .map(|s| (*s).to_owned())
        .collect();
    let rest = args_of(&[
        &short,
        &strs(&[
            "--nemesis",
            "partition-leader",
            "--seed",
            "1",
            "--test-count",
            "3",
        ]),
    ]);
    let args = db_run("db/raftkv-stale-read.toml", &hosts.flags(), &rest);
    let out = run_test(&refs(&args), &results);
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(code(&out), 1, "the stale read is caught: {}", text(&out));
    assert_eq!(read_results(&run).valid, Validity::Invalid);
    hosts.assert_clean();
}

#[test]
fn kill_9_mid_partition_then_cluster_down_leaves_nothing_on_the_hosts() {
    let Some((_one, hosts)) =
        three_hosts("kill_9_mid_partition_then_cluster_down_leaves_nothing_on_the_hosts")
    else {
        return;
    };
    // A partition is in place (rules in our chains) when faultline dies.
    let (_dir, mut child, run) = start_partitioned_run(&hosts, true);
    child.kill().expect("kill -9 faultline");
    let _ = child.wait();
    let _down = ClusterDown(run.clone());
    assert!(
        (0..3).any(|i| !hosts.processes(i).is_empty()),
        "nodes outlive faultline"
    );
    let started = Instant::now();
    let out = cluster_down(&run);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "cluster down took {:?}",
        started.elapsed()
    );
    hosts.assert_clean();
    assert_no_remote_dir(&run);
    // The logs came home, and the journal has no open fault.
    assert!(run.join("nodes/n1/raftkv.log").is_file());
    let open = faultline::journal::Journal::open_faults(&run.join(faultline::rundir::JOURNAL_FILE))
        .expect("journal");
    assert!(open.is_empty(), "{open:?}");
}

#[test]
fn sigint_mid_partition_leaves_no_rule_and_no_process_on_the_hosts() {
    let Some((_one, hosts)) =
        three_hosts("sigint_mid_partition_leaves_no_rule_and_no_process_on_the_hosts")
    else {
        return;
    };
    let (_dir, mut child, run) = start_partitioned_run(&hosts, false);
    let _down = ClusterDown(run.clone());
    let status = interrupt(&mut child, Duration::from_secs(60));
    assert!(
        status.code().is_some(),
        "faultline ended by a signal: {status}"
    );
    hosts.assert_clean();
    assert_no_remote_dir(&run);
    assert!(run.join("nodes/n2/raftkv.log").is_file(), "logs downloaded");
}

/// `faultline test --cluster ssh` with `flags` must exit 3 within `limit`, its stderr naming
/// `host` and `cause`, and leave nothing on the hosts.
fn assert_refused_fast(hosts: &SshHosts, flags: &[String], host: &str, cause: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = db_run(
        "db/raftkv.toml",
        flags,
        &strs(&["--nemesis", "mixed", "--time-limit", "10"]),
    );
    let started = Instant::now();
    let out = run_test(&refs(&args), &results);
    let took = started.elapsed();
    assert_eq!(code(&out), 3, "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(host) && err.contains(cause),
        "should name {host} and {cause:?}: {}",
        text(&out)
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
    hosts.assert_clean();
}

#[test]
fn a_wrong_key_an_unknown_host_key_or_an_unreachable_host_exit_3_naming_the_host() {
    let Some((_one, hosts)) = three_hosts(
        "a_wrong_key_an_unknown_host_key_or_an_unreachable_host_exit_3_naming_the_host",
    ) else {
        return;
    };
    let ips: Vec<String> = hosts.ips().iter().map(|ip| ip.to_string()).collect();
    let host_flags = |list: &[String]| -> Vec<String> {
        let mut f = strs(&["--cluster", "ssh"]);
        for h in list {
            f.extend(["--host".into(), h.clone()]);
        }
        f
    };
    // A key the hosts do not know.
    let other = hosts.keys.path().join("other");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .expect("ssh-keygen");
    assert!(ok.success());
    let wrong_key = args_of(&[
        &host_flags(&ips),
        &hosts.ssh_flags(&other, &hosts.known_hosts()),
    ]);
    assert_refused_fast(&hosts, &wrong_key, &ips[0], "Permission denied");
    // Hosts whose keys are not in known_hosts (strict checking stays on).
    let empty = hosts.keys.path().join("empty_known_hosts");
    std::fs::write(&empty, "").expect("empty known_hosts");
    let unknown = args_of(&[&host_flags(&ips), &hosts.ssh_flags(&hosts.key(), &empty)]);
    assert_refused_fast(&hosts, &unknown, &ips[0], "Host key verification failed");
    // One host where nothing answers.
    let mut with_dead = ips.clone();
    with_dead[2] = hosts.unreachable_ip().to_string();
    let dead = args_of(&[
        &host_flags(&with_dead),
        &hosts.ssh_flags(&hosts.key(), &hosts.known_hosts()),
    ]);
    assert_refused_fast(&hosts, &dead, &with_dead[2], "cannot reach host");
}

#[test]
fn a_host_without_iptables_exits_3_naming_the_host() {
    if !can_run("a_host_without_iptables_exits_3_naming_the_host") {
        return;
    }
    let _one = serial();
    let hosts = SshHosts::create_without_iptables(3, &[1]);
    let ip = hosts.ips()[1].to_string();
    assert_refused_fast(&hosts, &hosts.flags(), &ip, "iptables not found");
}

/// `faultline test --db db/etcd.toml --client CLIENT` on the hosts: `count` runs from
/// `seed`, stopping at the first that is not valid.
fn etcd_on_hosts(
    hosts: &SshHosts,
    client: &str,
    nemesis: &str,
    (seed, count): (&str, &str),
    results: &Path,
) -> std::process::Output {
    let args = args_of(&[
        &strs(&["--db", &repo("db/etcd.toml"), "--client", client]),
        &hosts.flags(),
        &strs(&[
            "--time-limit",
            "15",
            "--nemesis-interval",
            "3",
            "--rate",
            "200",
        ]),
        &strs(&["--nemesis", nemesis, "--seed", seed, "--test-count", count]),
    ]);
    run_test(&refs(&args), results)
}

fn etcd_installed(test: &str) -> bool {
    if common::etcd::on_path("etcd").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("FAULTLINE_REQUIRE_ETCD").is_none(),
        "{test}: FAULTLINE_REQUIRE_ETCD is set but etcd is not installed"
    );
    eprintln!("skipping {test}: etcd is not installed");
    false
}

#[test]
fn etcd_on_ssh_hosts_is_valid_under_the_mixed_nemesis_and_caught_with_serializable_reads() {
    let name =
        "etcd_on_ssh_hosts_is_valid_under_the_mixed_nemesis_and_caught_with_serializable_reads";
    if !can_run(name) || !etcd_installed(name) {
        return;
    }
    let _one = serial();
    let hosts = SshHosts::create(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("valid");
    let out = etcd_on_hosts(
        &hosts,
        &repo("examples/http/etcd-v3.toml"),
        "mixed",
        ("1", "1"),
        &results,
    );
    let run = latest(&results);
    let down = ClusterDown(run.clone());
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(read_results(&run).valid, Validity::Valid);
    hosts.assert_clean();
    drop(down);
    // The same with reads answered by one member alone: stale reads, caught.
    let linearizable = std::fs::read_to_string(repo("examples/http/etcd-v3.toml")).expect("spec");
    let read_body = r#"body = { key = "{key}" }"#;
    assert!(linearizable.contains(read_body), "the read's body moved");
    let serializable = linearizable.replacen(
        read_body,
        r#"body = { key = "{key}", serializable = true }"#,
        1,
    );
    let client = dir.path().join("etcd-v3-serializable.toml");
    std::fs::write(&client, serializable).expect("write spec");
    let results = dir.path().join("serializable");
    let out = etcd_on_hosts(
        &hosts,
        &client.display().to_string(),
        "partition-leader",
        ("2", "3"),
        &results,
    );
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(code(&out), 1, "the stale read is caught: {}", text(&out));
    assert_eq!(read_results(&run).valid, Validity::Invalid);
    hosts.assert_clean();
}

/// `--nemesis clock` on the hosts for `db`: cas-register, 3 nodes, `secs` seconds per run.
fn clock_run(hosts: &SshHosts, db: &str, secs: &str, seed: &str, count: &str) -> Vec<String> {
    db_run(
        db,
        &hosts.flags(),
        &strs(&[
            "--workload",
            "cas-register",
            "--nemesis",
            "clock",
            "--time-limit",
            secs,
            "--seed",
            seed,
            "--test-count",
            count,
        ]),
    )
}

/// Clock faults on SSH hosts run each node under libfaketime on its host (never the host's
/// own clock): correct raftkv (ReadIndex) stays valid, every clock fault is applied and
/// journaled with its host, and the run's remote directory (control files included) is gone.
#[test]
fn raftkv_on_ssh_hosts_is_valid_under_clock_faults() {
    if !Path::new(faultline::fakeclock::LIBFAKETIME).is_file() {
        eprintln!("skipping: {} is missing", faultline::fakeclock::LIBFAKETIME);
        return;
    }
    let Some((_one, hosts)) = three_hosts("raftkv_on_ssh_hosts_is_valid_under_clock_faults") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = clock_run(&hosts, "db/raftkv.toml", "15", "1", "1");
    let out = run_test(&refs(&args), &results);
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(code(&out), 0, "{}", text(&out));
    let r = read_results(&run);
    assert_eq!(r.valid, Validity::Valid, "{r:?}");
    assert_only_leaderless_nemesis_errors(&r);
    let fs = nemesis_fs(&run);
    assert!(fs.iter().any(|f| f.starts_with("clock-")), "{fs:?}");
    let journal =
        std::fs::read_to_string(run.join(faultline::rundir::JOURNAL_FILE)).expect("journal");
    let lines: Vec<serde_json::Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let ips: Vec<String> = hosts.ips().iter().map(|ip| ip.to_string()).collect();
    assert!(
        lines.iter().any(|l| l["kind"] == "clock"
            && l["detail"]["hosts"]
                .as_object()
                .is_some_and(|h| h.values().any(|v| ips.iter().any(|ip| v == ip)))),
        "{journal}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "clock" && l["event"] == "heal"),
        "{journal}"
    );
    hosts.assert_clean();
    assert_no_remote_dir(&run);
}

/// raftkv's lease reads trust the leader's clock: the clock nemesis over SSH catches them
/// serving stale reads, as it does locally (tests/clock_e2e.rs).
#[test]
fn raftkv_lease_reads_are_caught_by_clock_faults_on_ssh_hosts() {
    if !Path::new(faultline::fakeclock::LIBFAKETIME).is_file() {
        eprintln!("skipping: {} is missing", faultline::fakeclock::LIBFAKETIME);
        return;
    }
    let Some((_one, hosts)) =
        three_hosts("raftkv_lease_reads_are_caught_by_clock_faults_on_ssh_hosts")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let args = clock_run(&hosts, "db/raftkv-lease.toml", "20", "1", "3");
    let out = run_test(&refs(&args), &results);
    let run = latest(&results);
    let _down = ClusterDown(run.clone());
    assert_eq!(code(&out), 1, "lease reads not caught: {}", text(&out));
    assert_eq!(read_results(&run).valid, Validity::Invalid);
    hosts.assert_clean();
    assert_no_remote_dir(&run);
}
