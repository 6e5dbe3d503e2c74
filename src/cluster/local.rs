//! A local raftkv cluster: N processes on 127.0.0.1 with data dirs and logs inside the run
//! directory, every directed peer link through its own proxy (see
//! [`crate::nemesis::proxy`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), faultline::cluster::ClusterError> {
//! use faultline::cluster::{locate_raftkv, ClusterOptions, LocalCluster};
//! let binary = locate_raftkv(None)?;
//! let cluster = LocalCluster::start(ClusterOptions::new(3, binary, "results/run1".into())).await?;
//! let leader = cluster.leader().await;          // Some("n2"), asked via /status
//! cluster.kill("n1")?;                          // kill -9
//! cluster.restart("n1").await?;                 // same data dir, same ports
//! cluster.stop();                               // also what Drop does
//! # Ok(()) }
//! ```
//!
//! Node processes run in their own process group, so a Ctrl-C in the terminal reaches only
//! faultline, which then heals and stops them in order. [`LocalCluster`] is a cheap handle
//! (clone it for the nemesis); when the last handle is dropped every node is resumed, killed
//! and reaped, and the proxies stop.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use super::process::{log_tail, spawn_logged, wait_answering, Procs};
use super::state::{ClusterState, NodeRecord};
use super::ClusterError;
use crate::nemesis::proxy::ProxyMesh;

/// How long one `/status` request may take (a paused node never answers).
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a restarted node may take to answer `/status`.
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(20);

/// How to start a local cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOptions {
    /// Number of nodes (1..=99).
    pub nodes: usize,
    /// The raftkv binary (see [`locate_raftkv`]).
    pub binary: PathBuf,
    /// The run directory: `nodes/nI/{data,raftkv.log}` and `cluster.json` go here.
    pub dir: PathBuf,
    /// `--bug` names passed to every node.
    pub bugs: Vec<String>,
    /// The test seed; each node's `--seed` derives from it.
    pub seed: u64,
    /// Route every peer link through a proxy (needed for partitions, delay and loss). Off for
    /// `cluster up`, whose proxies would die with the faultline process that started them.
    pub proxies: bool,
    /// Fixed ports: node i's client API on `base + i - 1`, its peer listener on
    /// `base + nodes + i - 1`. `None` picks free ports.
    pub base_port: Option<u16>,
    /// How long to wait for the first leader.
    pub startup_timeout: Duration,
    /// Extra raftkv flags for every node (e.g. `--tick-ms 10`).
    pub extra_args: Vec<String>,
}

impl ClusterOptions {
    /// `nodes` nodes of `binary` in `dir`, free ports, proxies on, no bugs, seed 0, 30 s to
    /// elect a leader.
    pub fn new(nodes: usize, binary: PathBuf, dir: PathBuf) -> ClusterOptions {
        ClusterOptions {
            nodes,
            binary,
            dir,
            bugs: Vec::new(),
            seed: 0,
            proxies: true,
            base_port: None,
            startup_timeout: Duration::from_secs(30),
            extra_args: Vec::new(),
        }
    }
}

/// One node's identity and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `n1`, `n2`, ... (the name in histories and grudges).
    pub name: String,
    /// raftkv `--id`.
    pub id: u64,
    /// Client HTTP API.
    pub http: SocketAddr,
    /// Peer listener (the proxies forward here).
    pub peer: SocketAddr,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// stdout and stderr, appended across restarts.
    pub log: PathBuf,
}

/// Finds the raftkv binary: `explicit` (`--raftkv-bin`), then `$FAULTLINE_RAFTKV`, then next
/// to the running executable, then in its parent directory (where cargo puts binaries when
/// the running executable is a test in `target/<profile>/deps`).
pub fn locate_raftkv(explicit: Option<&Path>) -> Result<PathBuf, ClusterError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = std::env::var_os("FAULTLINE_RAFTKV") {
            candidates.push(PathBuf::from(p));
        }
        if let Ok(exe) = std::env::current_exe() {
            for dir in exe.ancestors().skip(1).take(2) {
                candidates.push(dir.join("raftkv"));
            }
        }
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ClusterError::BinaryNotFound {
            looked: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    binary: PathBuf,
    nodes: Vec<Node>,
    /// Each node's full raftkv command line (without the binary).
    args: Vec<Vec<String>>,
    procs: Procs,
    mesh: Option<ProxyMesh>,
    http: reqwest::Client,
    detached: AtomicBool,
}

/// A running local cluster. Cloning gives another handle to the same processes.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    inner: Arc<Inner>,
}

/// SplitMix64: derives independent per-node seeds from the test seed.
fn derive_seed(seed: u64, k: u64) -> u64 {
    let mut z = seed.wrapping_add(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Free loopback ports: bound together (so distinct), released just before the nodes bind.
fn free_addrs(n: usize) -> Result<Vec<SocketAddr>, ClusterError> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind(("127.0.0.1", 0)))
        .collect::<Result<_, _>>()
        .map_err(ClusterError::io("127.0.0.1:0"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map_err(ClusterError::io("127.0.0.1:0")))
        .collect()
}

/// The address a "bind ... Address already in use" line in a log names, if any.
fn port_in_use(tail: &str) -> Option<String> {
    let line = tail.lines().find(|l| l.contains("already in use"))?;
    let after = line.split("address ").nth(1)?;
    Some(
        after
            .split_whitespace()
            .next()?
            .trim_end_matches(':')
            .to_string(),
    )
}

impl LocalCluster {
    /// Starts the cluster and waits until a leader is elected. Needs a tokio runtime (the
    /// proxies run on it). On error every process already started is stopped.
    ///
    /// Free ports are found by binding port 0 and releasing it just before a node binds, so
    /// another process (a parallel test, a proxy) can take one in between; with free ports a
    /// start that fails on a port in use is retried on fresh ports and fresh data dirs.
    pub async fn start(opts: ClusterOptions) -> Result<LocalCluster, ClusterError> {
        const ATTEMPTS: usize = 4;
        let mut attempt = 1;
        loop {
            match LocalCluster::start_once(&opts).await {
                Err(ClusterError::PortInUse { .. })
                    if opts.base_port.is_none() && attempt < ATTEMPTS =>
                {
                    attempt += 1;
                    let nodes_dir = opts.dir.join(crate::rundir::NODES_DIR);
                    std::fs::remove_dir_all(&nodes_dir).map_err(ClusterError::io(&nodes_dir))?;
                }
                result => return result,
            }
        }
    }

    async fn start_once(opts: &ClusterOptions) -> Result<LocalCluster, ClusterError> {
        let opts = opts.clone();
        let n = opts.nodes;
        if n == 0 || n > 99 {
            return Err(ClusterError::Options(format!(
                "a local cluster has 1 to 99 nodes, not {n}"
            )));
        }
        if !opts.binary.is_file() {
            return Err(ClusterError::BinaryNotFound {
                looked: opts.binary.display().to_string(),
            });
        }
        let nodes_dir = opts.dir.join(crate::rundir::NODES_DIR);
        let (https, peers) = match opts.base_port {
            Some(base) => {
                let port = |k: usize| -> Result<u16, ClusterError> {
                    u16::try_from(usize::from(base) + k)
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| {
                            ClusterError::Options(format!(
                                "--base-port {base} leaves no room for {n} nodes"
                            ))
                        })
                };
                let https = (0..n)
                    .map(|i| Ok(SocketAddr::from(([127, 0, 0, 1], port(i)?))))
                    .collect::<Result<Vec<_>, ClusterError>>()?;
                let peers = (0..n)
                    .map(|i| Ok(SocketAddr::from(([127, 0, 0, 1], port(n + i)?))))
                    .collect::<Result<Vec<_>, ClusterError>>()?;
                (https, peers)
            }
            None => {
                let addrs = free_addrs(2 * n)?;
                (addrs[..n].to_vec(), addrs[n..].to_vec())
            }
        };
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("n{}", i + 1);
            let dir = nodes_dir.join(&name);
            let data_dir = dir.join("data");
            std::fs::create_dir_all(&data_dir).map_err(ClusterError::io(&data_dir))?;
            nodes.push(Node {
                log: dir.join("raftkv.log"),
                name,
                id: i as u64 + 1,
                http: https[i],
                peer: peers[i],
                data_dir,
            });
        }
        // Fixed ports: check them before starting anything, so the message names the port.
        if opts.base_port.is_some() {
            for node in &nodes {
                for addr in [node.http, node.peer] {
                    if TcpListener::bind(addr).is_err() {
                        return Err(ClusterError::PortInUse {
                            node: node.name.clone(),
                            addr: addr.to_string(),
                            log: node.log.clone(),
                        });
                    }
                }
            }
        }
        let mesh = if opts.proxies {
            let peer_addrs: Vec<(String, SocketAddr)> =
                nodes.iter().map(|n| (n.name.clone(), n.peer)).collect();
            Some(
                ProxyMesh::start(&peer_addrs, opts.seed)
                    .await
                    .map_err(ClusterError::io("127.0.0.1:0 (link proxy)"))?,
            )
        } else {
            None
        };
        let args = nodes
            .iter()
            .map(|node| {
                let mut a = vec![
                    "--id".to_string(),
                    node.id.to_string(),
                    "--listen".into(),
                    node.http.to_string(),
                    "--peer-listen".into(),
                    node.peer.to_string(),
                    "--data-dir".into(),
                    node.data_dir.display().to_string(),
                    "--seed".into(),
                    derive_seed(opts.seed, node.id).to_string(),
                ];
                for other in nodes.iter().filter(|o| o.id != node.id) {
                    let dial = match &mesh {
                        // The mesh has a link for every ordered pair of distinct nodes.
                        Some(m) => m
                            .link_addr(&node.name, &other.name)
                            .expect("a proxy per directed link"),
                        None => other.peer,
                    };
                    a.push("--peer".into());
                    a.push(format!("{}={dial}", other.id));
                    a.push("--peer-http".into());
                    a.push(format!("{}={}", other.id, other.http));
                }
                for bug in &opts.bugs {
                    a.push("--bug".into());
                    a.push(bug.clone());
                }
                a.extend(opts.extra_args.iter().cloned());
                a
            })
            .collect();
        let http = reqwest::Client::builder()
            .timeout(STATUS_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| ClusterError::Options(format!("HTTP client: {e}")))?;
        let cluster = LocalCluster {
            inner: Arc::new(Inner {
                dir: opts.dir.clone(),
                binary: opts.binary.clone(),
                procs: Procs::new(n),
                nodes,
                args,
                mesh,
                http,
                detached: AtomicBool::new(false),
            }),
        };
        // From here on, an error drops `cluster`, which stops whatever was started.
        for i in 0..n {
            cluster.inner.procs.start_with(i, || cluster.spawn(i))?;
        }
        cluster.write_state()?;
        cluster.wait_for_leader(opts.startup_timeout).await?;
        Ok(cluster)
    }

    fn index(&self, name: &str) -> Result<usize, ClusterError> {
        self.inner
            .nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| ClusterError::UnknownNode(name.to_string()))
    }

    fn spawn(&self, i: usize) -> Result<Child, ClusterError> {
        let node = &self.inner.nodes[i];
        let mut cmd = Command::new(&self.inner.binary);
        cmd.args(&self.inner.args[i]);
        spawn_logged(cmd, &node.name, &node.name, &self.inner.binary, &node.log)
    }

    /// The node names, in slot order, for [`Procs`] queries.
    fn name_strs(&self) -> impl Iterator<Item = &str> {
        self.inner.nodes.iter().map(|n| n.name.as_str())
    }

    /// Rewrites the state file with the current pids.
    fn write_state(&self) -> Result<(), ClusterError> {
        let state = {
            let pids = self.inner.procs.pids();
            ClusterState {
                version: 1,
                faultline_pid: std::process::id(),
                binary: self.inner.binary.clone(),
                proxies: self.inner.mesh.is_some(),
                nodes: self
                    .inner
                    .nodes
                    .iter()
                    .zip(pids)
                    .map(|(n, pid)| NodeRecord {
                        name: n.name.clone(),
                        id: n.id,
                        pid,
                        http: n.http.to_string(),
                        peer: n.peer.to_string(),
                        data_dir: n.data_dir.clone(),
                        log: n.log.clone(),
                    })
                    .collect(),
                netns: None,
            }
        };
        state.write(&self.inner.dir)
    }

    /// The nodes, in id order.
    pub fn nodes(&self) -> &[Node] {
        &self.inner.nodes
    }

    /// The node names (`n1`..`nN`), as grudges and fault ops use them.
    pub fn names(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Result<&Node, ClusterError> {
        Ok(&self.inner.nodes[self.index(name)?])
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The proxy mesh, when the cluster was started with proxies.
    pub fn mesh(&self) -> Option<&ProxyMesh> {
        self.inner.mesh.as_ref()
    }

    /// The current pid of `name`, `None` while it is killed.
    pub fn pid(&self, name: &str) -> Result<Option<u32>, ClusterError> {
        let i = self.index(name)?;
        Ok(self.inner.procs.pid(i))
    }

    /// Nodes currently killed.
    pub fn killed(&self) -> Vec<String> {
        self.inner.procs.killed(self.name_strs())
    }

    /// Nodes currently paused.
    pub fn paused(&self) -> Vec<String> {
        self.inner.procs.paused(self.name_strs())
    }

    /// `kill -9` a node and reap it. Killing a killed node does nothing.
    pub fn kill(&self, name: &str) -> Result<(), ClusterError> {
        let i = self.index(name)?;
        self.inner.procs.kill(i);
        self.write_state()
    }

    /// Restarts a killed node on its data dir and ports, and waits until it answers
    /// `/status`. Restarting a running node does nothing.
    pub async fn restart(&self, name: &str) -> Result<(), ClusterError> {
        let i = self.index(name)?;
        if !self.inner.procs.start_with(i, || self.spawn(i))? {
            return Ok(());
        }
        self.write_state()?;
        let node = &self.inner.nodes[i];
        wait_answering(
            RESTART_TIMEOUT,
            Duration::from_millis(50),
            || self.check_alive(i),
            || async { self.status(name).await.is_ok() },
            (&node.name, node.http.to_string(), &node.log),
        )
        .await
    }

    /// SIGSTOP a node. Returns false (and does nothing) when it is killed.
    pub fn pause(&self, name: &str) -> Result<bool, ClusterError> {
        let i = self.index(name)?;
        self.inner.procs.signal(i, name, Signal::SIGSTOP)
    }

    /// SIGCONT a node. Returns false when it is killed.
    pub fn resume(&self, name: &str) -> Result<bool, ClusterError> {
        let i = self.index(name)?;
        self.inner.procs.signal(i, name, Signal::SIGCONT)
    }

    /// An error if node `i` should be running but its process has exited (reaped here).
    fn check_alive(&self, i: usize) -> Result<(), ClusterError> {
        let node = &self.inner.nodes[i];
        let Some(status) = self
            .inner
            .procs
            .exited(i)
            .map_err(ClusterError::io(&node.log))?
        else {
            return Ok(());
        };
        let tail = log_tail(&node.log);
        Err(match port_in_use(&tail) {
            Some(addr) => ClusterError::PortInUse {
                node: node.name.clone(),
                addr,
                log: node.log.clone(),
            },
            None => ClusterError::Exited {
                node: node.name.clone(),
                status: status.to_string(),
                log: node.log.clone(),
                tail,
            },
        })
    }

    /// Every node that should be running and is: an error naming the first that exited.
    pub fn check(&self) -> Result<(), ClusterError> {
        (0..self.inner.nodes.len()).try_for_each(|i| self.check_alive(i))
    }

    /// `GET /status` of one node (short timeout: a paused node never answers).
    pub async fn status(&self, name: &str) -> Result<Value, String> {
        let node = self.node(name).map_err(|e| e.to_string())?;
        fetch_status(&self.inner.http, node.http).await
    }

    /// Every node's `/status` (or why it has none), asked concurrently.
    pub async fn statuses(&self) -> Vec<(String, Result<Value, String>)> {
        let (killed, paused) = (self.killed(), self.paused());
        let mut set = tokio::task::JoinSet::new();
        for (k, node) in self.inner.nodes.iter().enumerate() {
            if killed.contains(&node.name) {
                continue;
            }
            if paused.contains(&node.name) {
                continue;
            }
            let http = self.inner.http.clone();
            let addr = node.http;
            set.spawn(async move { (k, fetch_status(&http, addr).await) });
        }
        let mut out: Vec<(usize, Result<Value, String>)> = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(r) = joined {
                out.push(r);
            }
        }
        for (k, node) in self.inner.nodes.iter().enumerate() {
            if killed.contains(&node.name) {
                out.push((k, Err("killed".into())));
            } else if paused.contains(&node.name) {
                out.push((k, Err("paused".into())));
            }
        }
        out.sort_by_key(|(k, _)| *k);
        out.into_iter()
            .map(|(k, r)| (self.inner.nodes[k].name.clone(), r))
            .collect()
    }

    /// The node that claims leadership in the highest term, asked via `/status` of every
    /// running, unpaused node; `None` when no node claims it.
    pub async fn leader(&self) -> Option<String> {
        leader_of(&self.statuses().await)
    }

    /// Waits until some node is leader, up to `timeout`; fails at once if a node exits.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<String, ClusterError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check()?;
            let statuses = self.statuses().await;
            if let Some(leader) = leader_of(&statuses) {
                return Ok(leader);
            }
            if Instant::now() >= deadline {
                let summary = statuses
                    .iter()
                    .map(|(n, s)| match s {
                        Ok(v) => format!("{n}: {v}"),
                        Err(e) => format!("{n}: {e}"),
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(ClusterError::NoLeader {
                    waited: timeout,
                    statuses: summary,
                    dir: self.inner.dir.join(crate::rundir::NODES_DIR),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resumes paused nodes, kills and reaps every node, stops the proxies' links (by
    /// healing nothing: they end with the last handle) and removes the state file. Safe to
    /// call more than once.
    pub fn stop(&self) {
        stop_all(&self.inner);
    }

    /// Leaves the nodes running when the last handle is dropped (`cluster up`); the state
    /// file stays for `cluster down`.
    pub fn detach(&self) {
        self.inner.detached.store(true, Ordering::SeqCst);
    }
}

impl From<Arc<LocalCluster>> for LocalCluster {
    /// Another handle to the same cluster.
    fn from(cluster: Arc<LocalCluster>) -> LocalCluster {
        LocalCluster::clone(&cluster)
    }
}

fn stop_all(inner: &Inner) {
    inner.procs.stop_all();
    let _ = ClusterState::remove(&inner.dir);
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.detached.load(Ordering::SeqCst) {
            stop_all(self);
        }
    }
}

async fn fetch_status(http: &reqwest::Client, addr: SocketAddr) -> Result<Value, String> {
    let resp = http
        .get(format!("http://{addr}/status"))
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    resp.json::<Value>()
        .await
        .map_err(|e| format!("bad /status body: {e}"))
}

/// The node claiming leadership in the highest term.
pub(crate) fn leader_of(statuses: &[(String, Result<Value, String>)]) -> Option<String> {
    statuses
        .iter()
        .filter_map(|(name, s)| {
            let s = s.as_ref().ok()?;
            let term = s.get("term")?.as_u64()?;
            (s.get("role")?.as_str()? == "leader").then_some((term, name))
        })
        .max()
        .map(|(_, name)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_leader_is_the_one_with_the_highest_term() {
        let statuses = vec![
            ("n1".to_string(), Ok(json!({"role": "leader", "term": 3}))),
            ("n2".to_string(), Ok(json!({"role": "leader", "term": 5}))),
            ("n3".to_string(), Ok(json!({"role": "follower", "term": 7}))),
            ("n4".to_string(), Err("paused".to_string())),
        ];
        assert_eq!(leader_of(&statuses).as_deref(), Some("n2"));
        assert_eq!(leader_of(&statuses[2..]), None);
    }

    #[test]
    fn a_bind_failure_names_the_address() {
        let tail = "INFO something\nraftkv: bind peer address 127.0.0.1:7101: Address already in use (os error 98)";
        assert_eq!(port_in_use(tail).as_deref(), Some("127.0.0.1:7101"));
        assert_eq!(port_in_use("raftkv: invalid flags"), None);
    }

    #[test]
    fn node_seeds_differ_and_replay() {
        assert_eq!(derive_seed(1, 1), derive_seed(1, 1));
        assert_ne!(derive_seed(1, 1), derive_seed(1, 2));
        assert_ne!(derive_seed(1, 1), derive_seed(2, 1));
    }

    #[test]
    fn a_missing_binary_lists_where_we_looked() {
        let e = locate_raftkv(Some(Path::new("/nonexistent/raftkv"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/raftkv"), "{e}");
    }
}
