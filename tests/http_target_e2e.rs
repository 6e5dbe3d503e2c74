//! `faultline test --target http`: a user's own service, described by a client spec, on nodes
//! the user runs. The "user's service" here is a 3-node raftkv cluster this file starts itself
//! (start scripts, pid files), driven only through `examples/http/raftkv.toml` and a nemesis
//! file whose `[commands]` kill, restart, pause and resume the nodes and cut their peer links.
//!
//! Peer links go through small proxies in this test, one per directed link; the partition
//! command creates a file `cut-FROM-TO` in the cluster directory, and while it exists the
//! proxy from FROM to TO drops every connection (the heal command removes the files). So the
//! nemesis's partitions are real message loss, without root.
//!
//! - a correct cluster under kills, pauses and leader partitions (the leader found by the
//!   spec's `[leader]` probe) is valid; the spec is copied into the
//!   run and the reproduce command names it; a profile workload (counter) runs through the
//!   spec's `[profiles.counter]`;
//! - missing or bad input exits 3 naming what is wrong.
//!
//! The raftkv binary is found next to the faultline binary (CI builds the whole workspace).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use faultline::checker::Validity;
use faultline::rundir::{CLIENT_SPEC_FILE, HISTORY_FILE};
use serde_json::Value;

mod common;
use common::{code, faultline, latest, nemesis_fs, read_results, read_test_record, text};

/// The repository's raftkv spec.
fn spec_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/http/raftkv.toml")
}

fn raftkv_bin() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_faultline")).with_file_name("raftkv")
}

/// `GET path` on `addr` (HTTP/1.0 over std), the answer's body parsed as JSON.
fn get_json(addr: &str, path: &str) -> Option<Value> {
    let addr: SocketAddr = addr.parse().ok()?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (_, body) = answer.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// One directed peer link FROM → TO: forwards connections to TO's peer port unless the file
/// `cut-FROM-TO` exists in `dir`, in which case it drops them (new and open ones alike).
struct Link {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl Link {
    fn start(dir: &Path, from: &str, to: &str, upstream: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind link");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let cut = dir.join(format!("cut-{from}-{to}"));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut pumps = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((down, _)) => {
                        if cut.exists() {
                            continue; // dropped: the connection closes here
                        }
                        let Ok(up) = TcpStream::connect_timeout(&upstream, Duration::from_secs(1))
                        else {
                            continue;
                        };
                        for (a, b) in [(&down, &up), (&up, &down)] {
                            let (Ok(a), Ok(b)) = (a.try_clone(), b.try_clone()) else {
                                continue;
                            };
                            let (cut, flag) = (cut.clone(), Arc::clone(&flag));
                            pumps.push(std::thread::spawn(move || pump(a, b, &cut, &flag)));
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
                pumps.retain(|p: &JoinHandle<()>| !p.is_finished());
            }
            for p in pumps {
                let _ = p.join();
            }
        });
        Link {
            stop,
            thread: Some(thread),
            addr,
        }
    }
}

/// Copies `from` to `to` until either closes, the link is cut or the test stops; then closes
/// both.
fn pump(mut from: TcpStream, mut to: TcpStream, cut: &Path, stop: &AtomicBool) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) && !cut.exists() {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if cut.exists() || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A 3-node raftkv cluster run the way a user runs their service: a start script per node
/// (idempotent: a node whose pid file names a live process is left alone), a pid file, peer
/// links through [`Link`]s. Dropping it kills every node and stops the links.
struct Cluster {
    dir: PathBuf,
    /// Client addresses, `127.0.0.1:PORT`, of n1, n2, n3.
    addrs: Vec<String>,
    _links: Vec<Link>,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let n = 3;
        let ports = common::free_ports(2 * n);
        let addr = |i: usize| format!("127.0.0.1:{}", ports[i]);
        let peer = |i: usize| -> SocketAddr {
            format!("127.0.0.1:{}", ports[n + i])
                .parse()
                .expect("peer addr")
        };
        let name = |i: usize| format!("n{}", i + 1);
        let mut links = Vec::new();
        let d = dir.display();
        let bin = raftkv_bin();
        assert!(bin.is_file(), "{} not built", bin.display());
        for i in 0..n {
            let mut args = format!(
                "--id {} --listen {} --peer-listen {} --data-dir {d}/{}.data --seed {}",
                i + 1,
                addr(i),
                peer(i),
                name(i),
                41 + i
            );
            for j in (0..n).filter(|&j| j != i) {
                let link = Link::start(dir, &name(i), &name(j), peer(j));
                args.push_str(&format!(
                    " --peer {}={} --peer-http {}={}",
                    j + 1,
                    link.addr,
                    j + 1,
                    addr(j)
                ));
                links.push(link);
            }
            let node = name(i);
            let script = format!(
                "#!/bin/sh\n\
                 if [ -f {d}/{node}.pid ] && kill -0 \"$(cat {d}/{node}.pid)\" 2>/dev/null; then exit 0; fi\n\
                 setsid {bin} {args} >> {d}/{node}.log 2>&1 < /dev/null &\n\
                 echo $! > {d}/{node}.pid\n",
                bin = bin.display(),
            );
            let path = dir.join(format!("start-{node}.sh"));
            std::fs::write(&path, script).expect("write start script");
            let status = Command::new("sh")
                .arg(&path)
                .status()
                .expect("start script runs");
            assert!(status.success());
        }
        let cluster = Cluster {
            dir: dir.to_path_buf(),
            addrs: (0..n).map(addr).collect(),
            _links: links,
        };
        cluster.wait_for_leader();
        cluster
    }

    /// Waits (up to 60 s) until every node answers /status and one leads.
    fn wait_for_leader(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let statuses: Vec<Option<Value>> =
                self.addrs.iter().map(|a| get_json(a, "/status")).collect();
            let leader = statuses.iter().enumerate().find_map(|(i, s)| {
                s.as_ref()
                    .filter(|s| s["role"] == "leader")
                    .map(|_| format!("n{}", i + 1))
            });
            let all_up = statuses.iter().all(Option::is_some);
            if all_up && leader.is_some() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no leader within 60 s: {statuses:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `--node NAME=URL` for every node.
    fn node_args(&self) -> Vec<String> {
        self.addrs
            .iter()
            .enumerate()
            .flat_map(|(i, a)| ["--node".to_string(), format!("n{}=http://{a}", i + 1)])
            .collect()
    }

    /// The `[commands]` table driving this cluster: kill -9 / restart through the pid file and
    /// start script, SIGSTOP / SIGCONT, and partitions as cut files read by the links.
    fn commands(&self) -> String {
        let d = self.dir.display();
        format!(
            "[commands]\ntimeout = 20\n\
             kill = \"kill -9 $(cat {d}/{{node}}.pid) && rm {d}/{{node}}.pid\"\n\
             start = \"sh {d}/start-{{node}}.sh\"\n\
             pause = \"kill -STOP $(cat {d}/{{node}}.pid)\"\n\
             resume = \"kill -CONT $(cat {d}/{{node}}.pid)\"\n\
             partition = \"for p in {{peer_names}}; do touch {d}/cut-$p-{{node}}; done\"\n\
             heal = \"rm -f {d}/cut-*-{{node}}\"\n"
        )
    }

    fn pids(&self) -> Vec<i32> {
        common::node_pids(&self.dir, self.addrs.len())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        common::kill_all(&self.pids());
        common::assert_no_nodes_left(&self.dir);
    }
}

/// Runs `faultline test --target http --client SPEC --cluster external` on `cluster` with
/// `extra` flags, results under `results`.
fn run_http(cluster: &Cluster, spec: &Path, results: &Path, extra: &[&str]) -> Output {
    faultline()
        .args(["test", "--target", "http", "--cluster", "external"])
        .arg("--client")
        .arg(spec)
        .args(cluster.node_args())
        .args(extra)
        .arg("--results")
        .arg(results)
        .output()
        .expect("faultline runs")
}

#[test]
fn a_correct_service_under_kills_pauses_and_partitions_is_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = Cluster::start(dir.path());
    let results = dir.path().join("results");
    let nemesis = dir.path().join("faults.toml");
    std::fs::write(
        &nemesis,
        format!(
            "description = \"kill, pause and isolate one node through commands\"\n\
             [[fault]]\nkind = \"kill\"\ntarget = \"one\"\n\
             [[fault]]\nkind = \"pause\"\ntarget = \"one\"\n\
             [[fault]]\nkind = \"partition\"\nmode = \"leader\"\n\
             {}",
            cluster.commands()
        ),
    )
    .expect("write nemesis");
    let nemesis_arg = nemesis.display().to_string();
    let out = run_http(
        &cluster,
        &spec_path(),
        &results,
        &[
            "--nemesis",
            &nemesis_arg,
            "--time-limit",
            "20",
            "--nemesis-interval",
            "2",
            "--seed",
            "11",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&results);
    let results_record = read_results(&run);
    assert_eq!(results_record.valid, Validity::Valid, "{results_record:?}");
    assert!(
        results_record.nemesis_errors.is_empty(),
        "{results_record:?}"
    );
    let fs = nemesis_fs(&run);
    for wanted in ["kill", "start", "pause", "resume", "start-partition"] {
        assert!(fs.iter().any(|f| f == wanted), "no {wanted} in {fs:?}");
    }
    // The partitions isolated the leader the spec's [leader] probe named.
    let history = std::fs::read_to_string(run.join(HISTORY_FILE)).expect("history");
    assert!(
        history
            .lines()
            .any(|l| l.contains("\"f\":\"start-partition\"") && l.contains("\"leader\":\"n")),
        "no partition named its leader"
    );
    // Ops went through the spec and some succeeded.
    let history = std::fs::read_to_string(run.join(HISTORY_FILE)).expect("history");
    let oks = history
        .lines()
        .filter(|l| l.contains("\"type\":\"ok\""))
        .count();
    assert!(oks > 20, "only {oks} ok ops");
    // The run keeps the spec it was tested with, and how to rerun it.
    let kept = std::fs::read_to_string(run.join(CLIENT_SPEC_FILE)).expect("client.toml");
    let original = std::fs::read_to_string(spec_path()).expect("spec");
    assert_eq!(kept, original);
    let test_record = read_test_record(&run);
    assert_eq!(test_record.config.client, Some(spec_path()));
    let reproduce = test_record.reproduce.unwrap_or_default();
    assert!(
        reproduce.starts_with("faultline test --target http --cluster external --node n1=http://")
            && reproduce.contains(&format!(" --client {}", spec_path().display()))
            && reproduce.contains(" --seed 11"),
        "{reproduce}"
    );
    assert!(
        run.parent().and_then(Path::file_name).is_some_and(|n| n
            .to_string_lossy()
            .starts_with("http-raftkv-external-cas-register-faults")),
        "{}",
        run.display()
    );

    // A profile workload: the counter's adds and reads go through [profiles.counter].
    cluster.wait_for_leader();
    let counter = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/counter.toml");
    let counter_arg = counter.display().to_string();
    let out = run_http(
        &cluster,
        &spec_path(),
        &results,
        &[
            "--workload",
            &counter_arg,
            "--nemesis",
            &nemesis_arg,
            "--time-limit",
            "8",
            "--nemesis-interval",
            "2",
            "--seed",
            "12",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&results);
    let history = std::fs::read_to_string(run.join(HISTORY_FILE)).expect("history");
    let added = history
        .lines()
        .filter(|l| l.contains("\"type\":\"ok\"") && l.contains("\"f\":\"add\""))
        .count();
    assert!(added > 5, "only {added} ok adds");

    // The bank: its self-test opens two scratch accounts, transfers and reads them back
    // (under its own key prefix) before the run's setup opens the real ones.
    let bank = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/bank.toml");
    let bank_arg = bank.display().to_string();
    let out = run_http(
        &cluster,
        &spec_path(),
        &results,
        &[
            "--workload",
            &bank_arg,
            "--nemesis",
            "none",
            "--time-limit",
            "5",
            "--seed",
            "13",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let run = latest(&results);
    let log = std::fs::read_to_string(run.join(faultline::rundir::LOG_FILE)).expect("run log");
    assert!(log.contains("self-test: transfer"), "{log}");
    drop(cluster);
}

#[test]
fn bad_input_exits_3_naming_what_is_wrong() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let spec_s = spec_path().display().to_string();
    let spec = spec_s.as_str();
    let run = |args: &[&str]| -> Output {
        faultline()
            .arg("test")
            .args(args)
            .arg("--results")
            .arg(&results)
            .output()
            .expect("faultline runs")
    };
    let bad_field = dir.path().join("bad.toml");
    std::fs::write(
        &bad_field,
        "[read]\nmethod = \"GET\"\npath = \"/kv/{key}\"\nvalue = \"value\"\n",
    )
    .expect("write");
    let bad_field_s = bad_field.display().to_string();
    let bad_field = bad_field_s.as_str();
    let no_profiles = dir.path().join("registers.toml");
    std::fs::write(
        &no_profiles,
        "[read]\nmethod = \"GET\"\npath = \"/kv/{key}\"\nvalue = \"/value\"\n\
         [write]\nmethod = \"PUT\"\npath = \"/kv/{key}\"\nbody = { value = \"{value}\" }\n",
    )
    .expect("write");
    let no_profiles_s = no_profiles.display().to_string();
    let no_profiles = no_profiles_s.as_str();
    let missing_s = dir.path().join("missing.toml").display().to_string();
    let missing = missing_s.as_str();
    let counter_s = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("workloads/counter.toml")
        .display()
        .to_string();
    let counter = counter_s.as_str();
    let dead = common::free_ports(1)[0];
    let dead_node = format!("http://127.0.0.1:{dead}");
    let ext = ["--cluster", "external", "--node", dead_node.as_str()];
    let cases: Vec<(Vec<&str>, Vec<String>)> = vec![
        (
            [&["--target", "http"][..], &ext].concat(),
            vec!["--target http needs --client SPEC.toml".into()],
        ),
        (
            vec!["--target", "http", "--client", spec],
            vec!["--target http on a local cluster needs --db DB.toml".into()],
        ),
        (
            vec!["--target", "raftkv", "--client", spec],
            vec!["is for --target http".into()],
        ),
        (
            [&["--target", "http", "--client", missing][..], &ext].concat(),
            vec![format!("{missing}: cannot read")],
        ),
        (
            [&["--target", "http", "--client", bad_field][..], &ext].concat(),
            vec![format!(
                "{bad_field}: read.value: a JSON pointer is \"\" or starts with '/'"
            )],
        ),
        (
            [
                &[
                    "--target",
                    "http",
                    "--client",
                    no_profiles,
                    "--workload",
                    counter,
                ][..],
                &ext,
            ]
            .concat(),
            vec![
                format!("--client {no_profiles}: workload counter needs profile \"counter\""),
                "the spec's profiles: none".into(),
            ],
        ),
        (
            [&["--target", "http", "--client", no_profiles][..], &ext].concat(),
            vec![format!(
                "--client {no_profiles}: workload cas-register needs [cas]"
            )],
        ),
        (
            [
                &[
                    "--target",
                    "http",
                    "--client",
                    spec,
                    "--nemesis",
                    "partition-leader",
                ][..],
                &ext,
            ]
            .concat(),
            vec![],
        ),
    ];
    for (args, wanted) in &cases {
        let out = run(args);
        if wanted.is_empty() {
            // A builtin schedule has no [commands]: on an external cluster its faults are
            // dropped, so only the unreachable node stops this run.
            assert_eq!(code(&out), 3, "{args:?}: {}", text(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("external node n1")
                    && stderr.contains("is unreachable (3 tries of GET")
                    && stderr.contains("/status"),
                "{args:?}: {stderr}"
            );
            continue;
        }
        assert_eq!(code(&out), 3, "{args:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        for w in wanted {
            assert!(
                stderr.contains(w.as_str()),
                "{args:?}: wanted {w:?} in {stderr}"
            );
        }
    }

    // A leader-targeted fault with [commands] and a spec without [leader]: refused, naming
    // the fix.
    let leader = dir.path().join("leader.toml");
    std::fs::write(
        &leader,
        "[[fault]]\nkind = \"kill\"\ntarget = \"leader\"\n\
         [commands]\nkill = \"true\"\nstart = \"true\"\n",
    )
    .expect("write");
    let leader_s = leader.display().to_string();
    let leader = leader_s.as_str();
    let out = run(&[
        &[
            "--target",
            "http",
            "--client",
            no_profiles,
            "--workload",
            "register",
            "--nemesis",
            leader,
        ][..],
        &ext,
    ]
    .concat());
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "kill target \"leader\" targets the leader, but --client {no_profiles} cannot tell which node leads: add a [leader] section"
        )),
        "{}",
        text(&out)
    );

    // Without a health path the probe is a TCP connect.
    let out = run(&[
        &[
            "--target",
            "http",
            "--client",
            no_profiles,
            "--workload",
            "register",
        ][..],
        &ext,
    ]
    .concat());
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("(3 tries of a TCP connect to 127.0.0.1:{dead})")),
        "{}",
        text(&out)
    );
}
