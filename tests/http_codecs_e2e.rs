//! End to end through the real binary: a service that stores values as strings and takes
//! form-encoded writes (`tests/fixtures/strkv.py`), and etcd's v3 JSON gateway, driven by
//! `--target http` through client specs with value codecs.
//!
//! - A spec without the codec: the self-test refuses the run (exit 3, before any history)
//!   and names the fix; `faultline probe` does the same.
//! - The right spec (`examples/http/strkv.toml`): register and cas-register runs are valid.
//! - `--stale-reads` (a planted bug): the run is invalid.
//! - `examples/http/etcd-v3.toml` against one etcd on 127.0.0.1: probe passes, a run is valid
//!   (skipped with a notice when etcd is not installed, unless `FAULTLINE_REQUIRE_ETCD=1`).
//!
//! Every process a test starts is killed by a Drop guard, also when the test panics.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{code, faultline, run_test, text};

/// A process the test started, killed (and reaped) when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// strkv on a free port of 127.0.0.1 (the port it prints on its first line).
fn strkv(stale: bool) -> (Guard, String) {
    let mut cmd = Command::new("python3");
    cmd.arg(repo("tests/fixtures/strkv.py"))
        .args(["--port", "0"]);
    if stale {
        cmd.arg("--stale-reads");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 starts strkv");
    let stdout = child.stdout.take().expect("strkv's stdout");
    let guard = Guard(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("strkv prints its port");
    let port: u16 = line.trim().parse().expect("a port on strkv's first line");
    (guard, format!("127.0.0.1:{port}"))
}

/// strkv.toml without its codec line: values come back as strings.
fn spec_without_codec(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo("examples/http/strkv.toml")).expect("strkv.toml");
    let bad: String = text
        .lines()
        .filter(|l| !l.starts_with("codec ="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(bad, text, "strkv.toml has a codec line to remove");
    let path = dir.join("strkv-no-codec.toml");
    std::fs::write(&path, bad).expect("write the spec");
    path
}

fn http_run(spec: &Path, node: &str, workload: &str, seed: &str, results: &Path) -> Output {
    let spec = spec.to_str().expect("utf-8 path");
    run_test(
        &[
            "--target",
            "http",
            "--client",
            spec,
            "--cluster",
            "external",
            "--node",
            node,
            "--nemesis",
            "none",
            "--workload",
            workload,
            "--time-limit",
            "5",
            "--seed",
            seed,
        ],
        results,
    )
}

fn probe(spec: &Path, node: &str, workload: &str) -> Output {
    faultline()
        .arg("probe")
        .arg("--client")
        .arg(spec)
        .args(["--node", node, "--workload", workload])
        .output()
        .expect("faultline probe runs")
}

/// No run of `results` recorded an op (a history file, if any, is empty).
fn no_history(results: &Path) -> bool {
    let mut stack = vec![results.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else if path.file_name() == Some(std::ffi::OsStr::new("history.jsonl"))
                && std::fs::metadata(&path).is_ok_and(|m| m.len() > 0)
            {
                return false;
            }
        }
    }
    true
}

#[test]
fn a_spec_without_the_codec_is_refused_before_the_run_with_the_fix() {
    let (_service, node) = strkv(false);
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = spec_without_codec(dir.path());
    let fix = "add codec = \"string\" to [read]";
    let results = dir.path().join("results");
    let out = http_run(&spec, &node, "cas-register", "1", &results);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(fix), "{}", text(&out));
    assert!(stderr.contains("(a string)"), "{}", text(&out));
    assert!(no_history(&results), "the run must not start");
    let out = probe(&spec, &node, "cas-register");
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(fix),
        "{}",
        text(&out)
    );
}

#[test]
fn the_right_spec_fits_and_register_runs_are_valid() {
    let (_service, node) = strkv(false);
    let spec = repo("examples/http/strkv.toml");
    let out = probe(&spec, &node, "cas-register");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let dir = tempfile::tempdir().expect("temp dir");
    for (workload, seed) in [
        ("cas-register", "1"),
        ("cas-register", "2"),
        ("register", "3"),
    ] {
        let out = http_run(&spec, &node, workload, seed, dir.path());
        assert_eq!(code(&out), 0, "{workload} seed {seed}: {}", text(&out));
        let run = common::latest(dir.path());
        let log =
            std::fs::read_to_string(run.join(faultline::rundir::LOG_FILE)).unwrap_or_default();
        assert!(log.contains("run id "), "the run id is logged: {log}");
        assert!(log.contains("self-test passed"), "{log}");
    }
}

#[test]
fn stale_reads_are_caught() {
    let (_service, node) = strkv(true);
    let spec = repo("examples/http/strkv.toml");
    let dir = tempfile::tempdir().expect("temp dir");
    // A read served from a copy up to 0.7 s old misses writes within the first second of
    // nearly every run; three seeds bound the (already remote) chance of a quiet one.
    let mut outputs = Vec::new();
    for seed in ["1", "2", "3"] {
        let out = http_run(&spec, &node, "cas-register", seed, dir.path());
        if code(&out) == 1 {
            return;
        }
        outputs.push(text(&out));
    }
    panic!("stale reads were never caught:\n{}", outputs.join("\n"));
}

/// One etcd on free ports of 127.0.0.1, its data in `dir`; killed on drop.
fn etcd(dir: &Path) -> Option<(Guard, String)> {
    let Some(bin) = common::etcd::on_path("etcd") else {
        assert!(
            std::env::var_os("FAULTLINE_REQUIRE_ETCD").is_none(),
            "FAULTLINE_REQUIRE_ETCD is set but etcd is not installed"
        );
        eprintln!("skipping the etcd-v3 spec test: etcd is not installed");
        return None;
    };
    let ports = common::free_ports(2);
    let client = format!("http://127.0.0.1:{}", ports[0]);
    let peer = format!("http://127.0.0.1:{}", ports[1]);
    let log = std::fs::File::create(dir.join("etcd.log")).expect("etcd log");
    let child = Command::new(bin)
        .args(["--name", "e1", "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .arg("--initial-cluster")
        .arg(format!("e1={peer}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("etcd starts");
    let guard = Guard(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = format!("127.0.0.1:{}", ports[0]);
    loop {
        if health_ok(&addr) {
            break;
        }
        assert!(Instant::now() < deadline, "etcd not healthy within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    Some((guard, addr))
}

fn health_ok(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(sock) = addr.parse::<std::net::SocketAddr>() else {
        return false;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(stream, "GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.contains("\"health\":\"true\"")
}

#[test]
fn the_etcd_v3_spec_fits_etcd_and_a_run_is_valid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Some((_etcd, node)) = etcd(dir.path()) else {
        return;
    };
    let spec = repo("examples/http/etcd-v3.toml");
    let out = probe(&spec, &node, "cas-register");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let results = dir.path().join("results");
    for (workload, seed) in [("cas-register", "1"), ("register", "2")] {
        let out = http_run(&spec, &node, workload, seed, &results);
        assert_eq!(code(&out), 0, "{workload}: {}", text(&out));
    }
}
