//! Write throughput of raftkv against etcd, side by side on this machine.
//!
//! `cargo bench -p raftkv --bench throughput` starts a 3-node raftkv cluster (the binary built
//! with the bench profile) and a 3-node etcd cluster on loopback, each with its data in a
//! temporary directory on the same disk, finds each cluster's leader, and drives 64 concurrent
//! writers against it for 10 s (distinct keys, one write in flight per writer). It prints
//! writes/s and p50/p99 latency for both and, as its last line,
//! `raftkv/etcd write throughput ratio: X.XX`.
//!
//! etcd comes from Debian's `etcd-server` package. If `etcd` is not on PATH the bench says how
//! to install it (`apt-get install -y etcd-server`), measures raftkv alone, and ends with
//! `raftkv/etcd write throughput ratio: n/a`. `BENCH_SECONDS` and `BENCH_WRITERS` override the
//! duration and the number of writers.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// Kills every started process on drop, so a failing bench leaves nothing behind.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The measurement for one system.
struct Result {
    name: &'static str,
    ok: usize,
    errors: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
}

impl Result {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// How to send one write to a system's leader.
#[derive(Clone)]
enum Target {
    Raftkv(String),
    Etcd(String),
}

impl Target {
    async fn write(&self, http: &reqwest::Client, key: &str, value: u64) -> bool {
        let resp = match self {
            Target::Raftkv(base) => {
                http.put(format!("{base}/kv/{key}"))
                    .json(&json!({ "value": value }))
                    .send()
                    .await
            }
            Target::Etcd(base) => {
                let b64 = base64::engine::general_purpose::STANDARD;
                http.post(format!("{base}/v3/kv/put"))
                    .json(&json!({
                        "key": b64.encode(key),
                        "value": b64.encode(value.to_string()),
                    }))
                    .send()
                    .await
            }
        };
        matches!(resp, Ok(r) if r.status().is_success())
    }
}

/// Runs `writers` closed-loop writers against `target` for `secs` seconds.
async fn drive(name: &'static str, target: Target, writers: u64, secs: u64) -> Result {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(writers as usize)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    // Warm up connections and the leader for a second; not measured.
    let warm = Instant::now() + Duration::from_secs(1);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (http, target) = (http.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < warm {
                target.write(&http, &format!("warm-{w}-{i}"), i).await;
                i += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (http, target) = (http.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                if target.write(&http, &format!("w{w}-{i}"), i).await {
                    lat.push(t0.elapsed());
                } else {
                    errors += 1;
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((lat, e)) = t.await {
            all.extend(lat);
            errors += e;
        }
    }
    let elapsed = start.elapsed();
    all.sort_unstable();
    let pct = |p: f64| -> Duration {
        if all.is_empty() {
            return Duration::ZERO;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i]
    };
    Result {
        name,
        ok: all.len(),
        errors,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

/// Polls `probe` until it yields a leader URL or 30 s pass.
async fn wait_for<F, Fut>(what: &str, mut probe: F) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    for _ in 0..300 {
        if let Some(url) = probe().await {
            return url;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: no leader within 30 s");
}

async fn start_raftkv(dir: &Path, procs: &mut Procs) -> String {
    let nodes: Vec<(u64, u16, u16)> = (1..=3).map(|id| (id, free_port(), free_port())).collect();
    for &(id, http, peer) in &nodes {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftkv"));
        cmd.args(["--id", &id.to_string()])
            .args(["--listen", &format!("127.0.0.1:{http}")])
            .args(["--peer-listen", &format!("127.0.0.1:{peer}")])
            .arg("--data-dir")
            .arg(dir.join(format!("raftkv{id}")));
        for &(other, ohttp, opeer) in nodes.iter().filter(|n| n.0 != id) {
            cmd.args(["--peer", &format!("{other}=127.0.0.1:{opeer}")]);
            cmd.args(["--peer-http", &format!("{other}=127.0.0.1:{ohttp}")]);
        }
        cmd.env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        procs.0.push(cmd.spawn().expect("spawn raftkv"));
    }
    let http = reqwest::Client::new();
    wait_for("raftkv", || {
        let http = http.clone();
        let nodes = nodes.clone();
        async move {
            for (_, port, _) in nodes {
                let url = format!("http://127.0.0.1:{port}");
                let s: Value = http
                    .get(format!("{url}/status"))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                if s["role"] == "leader" {
                    return Some(url);
                }
            }
            None
        }
    })
    .await
}

async fn start_etcd(dir: &Path, procs: &mut Procs) -> String {
    let nodes: Vec<(u64, u16, u16)> = (1..=3).map(|id| (id, free_port(), free_port())).collect();
    let cluster: Vec<String> = nodes
        .iter()
        .map(|(id, _, peer)| format!("e{id}=http://127.0.0.1:{peer}"))
        .collect();
    for &(id, client, peer) in &nodes {
        let mut cmd = Command::new("etcd");
        cmd.args(["--name", &format!("e{id}")])
            .arg("--data-dir")
            .arg(dir.join(format!("etcd{id}")))
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args([
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
            ])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "raftkv-bench"])
            .args(["--log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        procs.0.push(cmd.spawn().expect("spawn etcd"));
    }
    let http = reqwest::Client::new();
    wait_for("etcd", || {
        let http = http.clone();
        let nodes = nodes.clone();
        async move {
            for (_, port, _) in nodes {
                let url = format!("http://127.0.0.1:{port}");
                let s: Value = http
                    .post(format!("{url}/v3/maintenance/status"))
                    .json(&json!({}))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                let me = s["header"]["member_id"].as_str()?;
                if s["leader"].as_str() == Some(me) {
                    return Some(url);
                }
            }
            None
        }
    })
    .await
}

fn etcd_installed() -> bool {
    Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn row(r: &Result) {
    println!(
        "{:<8} {:>9} {:>7} {:>11.0} {:>9.2} {:>9.2}",
        r.name,
        r.ok,
        r.errors,
        r.rate(),
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
    );
}

fn main() {
    let secs = env_or("BENCH_SECONDS", 10);
    let writers = env_or("BENCH_WRITERS", 64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = Arc::new(tmp.path().to_owned());
    println!("{writers} concurrent writers, {secs} s per system, 3 nodes each, loopback\n");

    let raftkv = rt.block_on(async {
        let mut procs = Procs(Vec::new());
        let url = start_raftkv(&dir, &mut procs).await;
        drive("raftkv", Target::Raftkv(url), writers, secs).await
    });
    let etcd = if etcd_installed() {
        Some(rt.block_on(async {
            let mut procs = Procs(Vec::new());
            let url = start_etcd(&dir, &mut procs).await;
            drive("etcd", Target::Etcd(url), writers, secs).await
        }))
    } else {
        println!(
            "etcd is not on PATH; measuring raftkv only. Install it with:\n    \
             apt-get update && apt-get install -y etcd-server\n"
        );
        None
    };

    println!(
        "{:<8} {:>9} {:>7} {:>11} {:>9} {:>9}",
        "system", "writes", "errors", "writes/s", "p50 ms", "p99 ms"
    );
    row(&raftkv);
    if let Some(e) = &etcd {
        row(e);
    }
    match etcd {
        Some(e) if e.rate() > 0.0 => println!(
            "raftkv/etcd write throughput ratio: {:.2}",
            raftkv.rate() / e.rate()
        ),
        _ => println!("raftkv/etcd write throughput ratio: n/a"),
    }
}
