//! End-to-end tests: a real 3-node cluster of the built `raftkv` binary on loopback.
//!
//! Each test starts its own cluster on free ports with temporary data directories, talks to it
//! over HTTP, kills nodes with SIGKILL and restarts them on their data directories. Every
//! process is killed by the [`Cluster`] drop guard, also when a test fails. Timeouts are
//! generous (the machine may be a busy 2-core box) and every wait is a bounded loop.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long to wait for an election or for a node to catch up.
const SETTLE: Duration = Duration::from_secs(30);

/// A free port for a node, from below the kernel's ephemeral range (32768 and up), handed out
/// once per test process. A node keeps its ports across restarts and some nodes start long
/// after the cluster is laid out, so a port from `bind(0)` could meanwhile be taken by a proxy
/// or client binding port 0, or be handed out twice; ports from this range cannot.
fn free_port() -> u16 {
    use std::sync::atomic::AtomicU32;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let offset = (std::process::id() % 97) * 120;
    for _ in 0..SPAN {
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (LOW + (offset + k) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 127.0.0.1:{LOW}..{}", LOW + SPAN)
}

/// One node's fixed identity: ports and data directory survive restarts.
struct NodeSpec {
    id: u64,
    http: u16,
    peer: u16,
    dir: PathBuf,
    log: PathBuf,
}

/// A running cluster; kills every process on drop.
struct Cluster {
    nodes: Vec<NodeSpec>,
    children: BTreeMap<u64, Child>,
    extra_args: Vec<String>,
    /// Flags for one node only, appended after `extra_args` (replaceable between restarts).
    node_args: BTreeMap<u64, Vec<String>>,
    /// Directed link (from, to) → port of a proxy that carries it, when links are proxied.
    links: BTreeMap<(u64, u64), u16>,
    _tmp: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Cluster {
    /// Starts `n` nodes (ids 1..=n), each with `extra_args`.
    fn start(n: u64, extra_args: &[&str]) -> Cluster {
        let mut c = Cluster::new(n, extra_args);
        for id in 1..=n {
            c.spawn(id);
        }
        c
    }

    /// A cluster description with no process started yet.
    fn new(n: u64, extra_args: &[&str]) -> Cluster {
        let tmp = tempfile::tempdir().expect("temp dir");
        let nodes = (1..=n)
            .map(|id| NodeSpec {
                id,
                http: free_port(),
                peer: free_port(),
                dir: tmp.path().join(format!("n{id}")),
                log: tmp.path().join(format!("n{id}.log")),
            })
            .collect();
        Cluster {
            nodes,
            children: BTreeMap::new(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            node_args: BTreeMap::new(),
            links: BTreeMap::new(),
            _tmp: tmp,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
        }
    }

    fn spec(&self, id: u64) -> &NodeSpec {
        &self.nodes[(id - 1) as usize]
    }

    fn spawn(&mut self, id: u64) {
        let me = self.spec(id);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftkv"));
        cmd.arg("--id")
            .arg(id.to_string())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", me.http))
            .arg("--peer-listen")
            .arg(format!("127.0.0.1:{}", me.peer))
            .arg("--data-dir")
            .arg(&me.dir)
            .arg("--seed")
            .arg("42");
        for other in self.nodes.iter().filter(|o| o.id != id) {
            let port = self
                .links
                .get(&(id, other.id))
                .copied()
                .unwrap_or(other.peer);
            cmd.arg("--peer")
                .arg(format!("{}=127.0.0.1:{}", other.id, port))
                .arg("--peer-http")
                .arg(format!("{}=127.0.0.1:{}", other.id, other.http));
        }
        cmd.args(&self.extra_args);
        cmd.args(self.node_args.get(&id).into_iter().flatten());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&me.log)
            .expect("node log file");
        cmd.stdout(Stdio::null()).stderr(log);
        let child = cmd.spawn().expect("spawn raftkv");
        self.children.insert(id, child);
    }

    /// SIGKILL, no goodbye.
    fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.children.remove(&id) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self, id: u64, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.spec(id).http, path)
    }

    /// The last lines of every node's log, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let text = std::fs::read_to_string(&n.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out.push_str(&format!("--- node {} ---\n", n.id));
            for line in tail.iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    async fn status(&self, id: u64) -> Option<Value> {
        let resp = self.http.get(self.url(id, "/status")).send().await.ok()?;
        resp.json().await.ok()
    }

    /// Waits until a running node reports itself leader, and returns its id.
    async fn leader(&self) -> u64 {
        let deadline = Instant::now() + SETTLE;
        while Instant::now() < deadline {
            for &id in self.children.keys() {
                if let Some(s) = self.status(id).await {
                    if s["role"] == "leader" {
                        return id;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no leader within {SETTLE:?}\n{}", self.logs());
    }

    /// Waits until node `id` has applied at least `index`.
    async fn caught_up(&self, id: u64, index: u64) {
        let deadline = Instant::now() + SETTLE;
        while Instant::now() < deadline {
            if let Some(s) = self.status(id).await {
                if s["last_applied"].as_u64().unwrap_or(0) >= index {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "node {id} did not apply index {index} within {SETTLE:?}\n{}",
            self.logs()
        );
    }

    async fn put(&self, id: u64, key: &str, value: Value) -> reqwest::Result<reqwest::Response> {
        self.http
            .put(self.url(id, &format!("/kv/{key}")))
            .json(&json!({ "value": value }))
            .send()
            .await
    }

    async fn get(&self, id: u64, key: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(id, &format!("/kv/{key}")))
            .send()
            .await
            .expect("GET answered");
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap_or(Value::Null))
    }

    /// Writes `key = value` through whichever node leads, retrying refusals that are known
    /// not to have happened; returns whether the write was acknowledged. A write with an
    /// unknown outcome (500/504/connection lost) is not retried and not counted.
    async fn write_acked(&self, key: &str, value: Value) -> bool {
        for _ in 0..50 {
            let leader = self.leader().await;
            match self.put(leader, key, value.clone()).await {
                Ok(r) if r.status() == 200 => return true,
                Ok(r) if matches!(r.status().as_u16(), 307 | 421 | 503) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => return false,
            }
        }
        false
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_serves_writes_reads_cas_and_txn() {
    let c = Cluster::start(3, &[]);
    let l = c.leader().await;

    let r = c.put(l, "x", json!(3)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.get(l, "x").await, (200, json!({"value": 3})));
    assert_eq!(c.get(l, "never").await.0, 404);

    let cas = |from: Value, to: Value| {
        c.http
            .post(c.url(l, "/kv/x/cas"))
            .json(&json!({"from": from, "to": to}))
            .send()
    };
    assert_eq!(cas(json!(3), json!(4)).await.unwrap().status(), 200);
    let r = cas(json!(3), json!(5)).await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().await.unwrap()["current"], json!(4));
    assert_eq!(c.get(l, "x").await.1, json!({"value": 4}));

    let r = c
        .http
        .post(c.url(l, "/txn"))
        .json(&json!([
            ["append", "l", 1],
            ["append", "l", 2],
            ["r", "l", null],
            ["r", "x", null],
            ["r", "q", null],
            ["w", "z", "zz"]
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!([
            ["append", "l", 1],
            ["append", "l", 2],
            ["r", "l", [1, 2]],
            ["r", "x", 4],
            ["r", "q", null],
            ["w", "z", "zz"]
        ])
    );
    assert_eq!(c.get(l, "z").await.1, json!({"value": "zz"}));

    // A follower redirects to the leader (reqwest follows 307 for reads and writes).
    let f = (1..=3).find(|&id| id != l).unwrap();
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = raw.get(c.url(f, "/kv/x")).send().await.unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"].to_str().unwrap(), c.url(l, "/kv/x"));
    let r = c.put(f, "via-follower", json!(true)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(c.get(f, "via-follower").await.1, json!({"value": true}));

    let s = c.status(l).await.unwrap();
    for field in [
        "id",
        "role",
        "term",
        "leader",
        "commit_index",
        "last_applied",
    ] {
        assert!(s.get(field).is_some(), "status lacks {field}: {s}");
    }
    assert_eq!(s["leader"], json!(l));
}

/// The endpoints the set, counter, unique-ids and bank workloads use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_serves_incr_append_ids_transfer_and_scan() {
    let c = Cluster::start(3, &[]);
    let l = c.leader().await;
    let post = |path: &str, body: Value| c.http.post(c.url(l, path)).json(&body).send();
    let answer = |r: reqwest::Response| async move {
        let code = r.status().as_u16();
        (code, r.json::<Value>().await.unwrap_or(Value::Null))
    };

    let r = post("/kv/n/incr", json!({"by": 3})).await.unwrap();
    assert_eq!(answer(r).await, (200, json!({"value": 3})));
    let r = post("/kv/n/incr", json!({"by": 4})).await.unwrap();
    assert_eq!(answer(r).await, (200, json!({"value": 7})));
    assert_eq!(c.get(l, "n").await, (200, json!({"value": 7})));
    c.put(l, "s", json!("text")).await.unwrap();
    assert_eq!(
        post("/kv/s/incr", json!({"by": 1})).await.unwrap().status(),
        409
    );

    for v in [1, 2] {
        let r = post("/kv/set/append", json!({"value": v})).await.unwrap();
        assert_eq!(answer(r).await, (200, json!({"ok": true})));
    }
    assert_eq!(c.get(l, "set").await, (200, json!({"value": [1, 2]})));
    assert_eq!(
        post("/kv/s/append", json!({"value": 1}))
            .await
            .unwrap()
            .status(),
        409
    );

    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = c.http.post(c.url(l, "/ids")).send().await.unwrap();
        let (code, body) = answer(r).await;
        assert_eq!(code, 200);
        ids.push(body["id"].as_u64().unwrap());
    }
    assert_eq!(ids, vec![1, 2, 3]);

    for (k, v) in [("bank-0", 10), ("bank-1", 0)] {
        assert_eq!(c.put(l, k, json!(v)).await.unwrap().status(), 200);
    }
    let transfer = |amount: i64| {
        post(
            "/transfer",
            json!({"from": "bank-0", "to": "bank-1", "amount": amount}),
        )
    };
    assert_eq!(
        answer(transfer(4).await.unwrap()).await,
        (200, json!({"ok": true}))
    );
    let (code, body) = answer(transfer(7).await.unwrap()).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("insufficient funds"),
        "{body}"
    );
    let r = c.http.get(c.url(l, "/scan/bank-")).send().await.unwrap();
    assert_eq!(answer(r).await, (200, json!({"values": {"0": 6, "1": 4}})));
    let r = post(
        "/txn",
        json!([["r", "bank-0", null], ["r", "bank-9", null]]),
    )
    .await
    .unwrap();
    assert_eq!(
        answer(r).await,
        (200, json!([["r", "bank-0", 6], ["r", "bank-9", null]]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_a_quorum_answers_503_quickly() {
    // Start only node 1 of a 3-node cluster: it can never elect a leader.
    let mut c = Cluster::start(3, &["--request-timeout-ms", "2000"]);
    c.kill(2);
    c.kill(3);
    c.kill(1);
    c.spawn(1);
    let deadline = Instant::now() + SETTLE;
    let mut answered = None;
    while Instant::now() < deadline {
        let started = Instant::now();
        if let Ok(r) = c.put(1, "x", json!(1)).await {
            answered = Some((r.status().as_u16(), started.elapsed()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, took) = answered.expect("node 1 never answered");
    assert_eq!(code, 503, "{}", c.logs());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let (code, _) = c.get(1, "x").await;
    assert_eq!(code, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_across_kill_9_of_followers_and_leaders() {
    let mut c = Cluster::start(3, &[]);
    let mut acked: Vec<(String, i64)> = Vec::new();
    let mut next = 0i64;
    let mut write_batch = |n: usize| {
        let keys: Vec<(String, i64)> = (0..n)
            .map(|_| {
                next += 1;
                (format!("k{next}"), next)
            })
            .collect();
        keys
    };

    for (k, v) in write_batch(60) {
        if c.write_acked(&k, json!(v)).await {
            acked.push((k, v));
        }
    }
    // Kill a follower, keep writing, bring it back.
    let l = c.leader().await;
    let f = (1..=3).find(|&id| id != l).unwrap();
    c.kill(f);
    for (k, v) in write_batch(60) {
        if c.write_acked(&k, json!(v)).await {
            acked.push((k, v));
        }
    }
    c.spawn(f);
    // Kill the leader twice in a row, restarting each on its data directory.
    for round in 0..2 {
        let l = c.leader().await;
        c.kill(l);
        for (k, v) in write_batch(60) {
            if c.write_acked(&k, json!(v)).await {
                acked.push((k, v));
            }
        }
        c.spawn(l);
        let new = c.leader().await;
        assert_ne!(new, l, "round {round}: a killed node cannot still lead");
    }
    assert!(
        acked.len() >= 150,
        "only {} of 240 writes acknowledged\n{}",
        acked.len(),
        c.logs()
    );

    // Every node rejoins and catches up.
    let l = c.leader().await;
    let commit = c.status(l).await.unwrap()["commit_index"].as_u64().unwrap();
    for id in 1..=3 {
        c.caught_up(id, commit).await;
    }
    // Read everything back from the leader (killed and restarted nodes included).
    let l = c.leader().await;
    for (k, v) in &acked {
        let (code, body) = c.get(l, k).await;
        assert_eq!(
            (code, &body),
            (200, &json!({ "value": v })),
            "acknowledged write {k}={v} lost\n{}",
            c.logs()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_bound_the_log_and_bring_a_lagging_node_back() {
    let mut c = Cluster::start(3, &["--snapshot-entries", "40"]);
    let l = c.leader().await;
    let f = (1..=3).find(|&id| id != l).unwrap();
    c.kill(f);
    for i in 0..200 {
        assert!(c.write_acked(&format!("s{}", i % 25), json!(i)).await);
    }
    let l = c.leader().await;
    let s = c.status(l).await.unwrap();
    let snap = s["snapshot_index"].as_u64().unwrap();
    assert!(snap >= 120, "leader did not compact: {s}");
    // The lagging node's log ends before the leader's snapshot: it must install it.
    c.spawn(f);
    let commit = s["commit_index"].as_u64().unwrap();
    c.caught_up(f, commit).await;
    // Data directories stay small: snapshot + at most ~2 compaction intervals of log.
    for n in &c.nodes {
        let wal = std::fs::metadata(n.dir.join("wal.log"))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(wal < 64 << 10, "node {} wal is {wal} bytes", n.id);
    }
    // Restart everything from disk: values come back from snapshot + log.
    for id in 1..=3 {
        c.kill(id);
    }
    for id in 1..=3 {
        c.spawn(id);
    }
    let l = c.leader().await;
    for k in 0..25 {
        let last = (0..200).filter(|i| i % 25 == k).max().unwrap();
        assert_eq!(
            c.get(l, &format!("s{k}")).await,
            (200, json!({ "value": last })),
            "{}",
            c.logs()
        );
    }
}

/// Concurrent writers keep going while the leader is killed with SIGKILL twice and restarted;
/// every write acknowledged with 200 must be readable afterwards (Raft §5.4, §5.6 durability).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_acknowledged_writes_survive_leader_kills() {
    let mut c = Cluster::start(3, &["--request-timeout-ms", "2000"]);
    c.leader().await;
    let ports: Vec<u16> = c.nodes.iter().map(|n| n.http).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8u64 {
        let (ports, stop, http) = (ports.clone(), stop.clone(), c.http.clone());
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            // Bounded: at most 2000 attempts per writer, and stops when told.
            for i in 0..2000u64 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let port = ports[(i as usize + w as usize) % ports.len()];
                let key = format!("c{w}-{i}");
                let r = http
                    .put(format!("http://127.0.0.1:{port}/kv/{key}"))
                    .json(&json!({ "value": i }))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => acked.push((key, i)),
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            acked
        }));
    }
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let l = c.leader().await;
        c.kill(l);
        tokio::time::sleep(Duration::from_millis(700)).await;
        c.spawn(l);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(w.await.expect("writer task"));
    }
    assert!(
        acked.len() >= 50,
        "only {} writes acknowledged\n{}",
        acked.len(),
        c.logs()
    );
    let l = c.leader().await;
    for (k, v) in &acked {
        let (code, body) = c.get(l, k).await;
        assert_eq!(
            (code, &body),
            (200, &json!({ "value": v })),
            "acknowledged write {k}={v} lost\n{}",
            c.logs()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_cluster_works_and_reports_its_bugs() {
    let c = Cluster::start(1, &["--bug", "stale-read", "--bug", "early_ack"]);
    let l = c.leader().await;
    assert_eq!(l, 1);
    assert_eq!(c.put(1, "solo", json!([1])).await.unwrap().status(), 200);
    assert_eq!(c.get(1, "solo").await, (200, json!({"value": [1]})));
    let s = c.status(1).await.unwrap();
    assert_eq!(s["bugs"], json!(["stale_read", "early_ack"]));
}

/// A TCP proxy for one directed peer link that the test can cut: while `cut` is set, new
/// connections are closed at once and established ones are dropped within 10 ms.
async fn link_proxy(listener: tokio::net::TcpListener, upstream: u16, cut: Arc<AtomicBool>) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        if cut.load(Ordering::SeqCst) {
            continue; // dropping `inbound` closes it
        }
        let cut = cut.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
            else {
                return;
            };
            let watch = async {
                while !cut.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = watch => {}
            }
        });
    }
}

/// Routes every directed link of `c` through a cuttable proxy; returns the cut switches.
async fn proxy_all_links(c: &mut Cluster) -> BTreeMap<(u64, u64), Arc<AtomicBool>> {
    let mut switches = BTreeMap::new();
    let ids: Vec<u64> = c.nodes.iter().map(|n| n.id).collect();
    for &from in &ids {
        for &to in ids.iter().filter(|&&t| t != from) {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let cut = Arc::new(AtomicBool::new(false));
            tokio::spawn(link_proxy(listener, c.spec(to).peer, cut.clone()));
            c.links.insert((from, to), port);
            switches.insert((from, to), cut);
        }
    }
    switches
}

/// Makes node 1 a leader that notices a lost quorum only slowly (check-quorum after 500 ticks
/// of 10 ms) with `x = 1` committed everywhere, then cuts every link to and from it. Node 1
/// keeps believing it leads for several seconds while nodes 2 and 3 can elect a new leader.
async fn isolate_a_slow_leader(bugs: &[&str]) -> Cluster {
    let mut common = vec!["--tick-ms", "10", "--request-timeout-ms", "1500"];
    for b in bugs {
        common.extend(["--bug", b]);
    }
    let mut c = Cluster::new(3, &common);
    let cuts = proxy_all_links(&mut c).await;
    let args = |ticks: &str| vec!["--election-ticks".to_string(), ticks.to_string()];
    // Node 2 never campaigns and node 3 is down, so node 1 wins the first election.
    c.node_args.insert(1, args("500"));
    c.node_args.insert(2, args("1000000"));
    c.spawn(1);
    c.spawn(2);
    assert_eq!(c.leader().await, 1, "{}", c.logs());
    // Now give 2 and 3 quick elections.
    c.kill(2);
    c.node_args.insert(2, args("10"));
    c.node_args.insert(3, args("10"));
    c.spawn(2);
    c.spawn(3);
    assert_eq!(c.put(1, "x", json!(1)).await.unwrap().status(), 200);
    let commit = c.status(1).await.unwrap()["commit_index"].as_u64().unwrap();
    c.caught_up(2, commit).await;
    c.caught_up(3, commit).await;
    for ((from, to), cut) in &cuts {
        if *from == 1 || *to == 1 {
            cut.store(true, Ordering::SeqCst);
        }
    }
    // The proxies notice within 10 ms; wait well past that so nothing in flight slips through.
    tokio::time::sleep(Duration::from_millis(200)).await;
    c
}

/// Waits for node 2 or 3 to lead (node 1 being isolated) and returns it.
async fn new_leader_among_2_and_3(c: &Cluster) -> u64 {
    let deadline = Instant::now() + SETTLE;
    loop {
        assert!(
            Instant::now() < deadline,
            "2 and 3 elected no leader\n{}",
            c.logs()
        );
        for id in [2, 3] {
            if c.status(id).await.is_some_and(|s| s["role"] == "leader") {
                return id;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Isolates a slow leader, overwrites `x` through the new leader, and reads `x` at the old
/// leader while it still believes it leads. Returns node 1's answer.
async fn read_at_an_isolated_old_leader(bugs: &[&str]) -> (u16, Value, Cluster) {
    let c = isolate_a_slow_leader(bugs).await;
    let new = new_leader_among_2_and_3(&c).await;
    assert_eq!(c.put(new, "x", json!(2)).await.unwrap().status(), 200);
    let s = c.status(1).await.unwrap();
    assert_eq!(s["role"], "leader", "node 1 stepped down too early: {s}");
    let (code, body) = c.get(1, "x").await;
    (code, body, c)
}

/// Isolates a slow leader, writes `y` through it, lets 2 and 3 elect a new leader, and reads
/// `y` there. Returns the write's status code and the new leader's answer.
async fn write_at_an_isolated_old_leader(bugs: &[&str]) -> (u16, u16, Cluster) {
    let c = isolate_a_slow_leader(bugs).await;
    let put = c
        .put(1, "y", json!("lost?"))
        .await
        .unwrap()
        .status()
        .as_u16();
    let new = new_leader_among_2_and_3(&c).await;
    let (code, _) = c.get(new, "y").await;
    (put, code, c)
}

/// Thesis §6.4: a leader confirms leadership with a quorum before serving a read, so an
/// isolated old leader never returns the overwritten value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_old_leader_does_not_serve_a_stale_read() {
    let (code, body, c) = read_at_an_isolated_old_leader(&[]).await;
    assert_ne!(code, 200, "served {body} without a quorum\n{}", c.logs());
}

/// With `--bug stale-read` the same read returns the overwritten value: the bug is visible
/// through the HTTP API, as faultline's checkers need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_read_bug_serves_an_overwritten_value_at_an_isolated_old_leader() {
    let (code, body, c) = read_at_an_isolated_old_leader(&["stale-read"]).await;
    assert_eq!((code, body), (200, json!({"value": 1})), "{}", c.logs());
    // Scans and read-only transactions take the same read path, so they are stale too.
    let r = c.http.get(c.url(1, "/scan/x")).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", c.logs());
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"values": {"": 1}}));
    let r = c
        .http
        .post(c.url(1, "/txn"))
        .json(&json!([["r", "x", null]]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", c.logs());
    assert_eq!(r.json::<Value>().await.unwrap(), json!([["r", "x", 1]]));
}

/// §5.3: a write is acknowledged only once a quorum stores it, so an isolated leader cannot
/// acknowledge one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_does_not_acknowledge_writes() {
    let (put, read, c) = write_at_an_isolated_old_leader(&[]).await;
    assert_ne!(put, 200, "acknowledged without a quorum\n{}", c.logs());
    assert_eq!(read, 404, "{}", c.logs());
}

/// With `--bug early-ack` the isolated leader acknowledges the write, and the new leader has
/// never heard of it: an acknowledged write is lost, visible through the HTTP API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_ack_bug_loses_an_acknowledged_write() {
    let (put, read, c) = write_at_an_isolated_old_leader(&["early-ack"]).await;
    assert_eq!((put, read), (200, 404), "{}", c.logs());
}
