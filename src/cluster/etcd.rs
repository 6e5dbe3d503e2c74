//! A local etcd cluster (root only): each node an `etcd` process in its own network namespace
//! (see [`super::netns`]), data dir and log under the run directory, so partitions and packet
//! loss are real packet drops by iptables inside the namespaces.
//!
//! etcd runs with its defaults (heartbeat 100 ms, election 1000 ms, pre-vote off in 3.4);
//! only names, URLs, the initial cluster (token = the run prefix) and the data dir are set.
//! Every node listens on its own namespace address, ports 2379 (clients) and 2380 (peers).
//!
//! Order of creation, so every exit path (and `faultline cluster down` after a `kill -9`)
//! removes exactly what this run made: the state file is written with the network plan
//! before the network exists, and again with each pid as nodes start; stopping kills the
//! processes (resuming paused ones first), removes the network, then the state file.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use super::netns::{self, NetnsPlan};
use super::process::{log_tail, spawn_logged, wait_answering, Procs};
use super::state::{ClusterState, NodeRecord};
use super::ClusterError;
use crate::client::etcd::leader_from_statuses;

/// etcd's client port inside each namespace.
pub const CLIENT_PORT: u16 = 2379;
/// etcd's peer port inside each namespace.
pub const PEER_PORT: u16 = 2380;
/// How long one status or health request may take (a paused node never answers).
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a restarted node may take to answer `/health` at all.
const RESTART_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start a local etcd cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct EtcdClusterOptions {
    /// Number of nodes (1..=99).
    pub nodes: usize,
    /// The etcd binary (see [`locate_etcd`]).
    pub binary: PathBuf,
    /// The run directory: `nodes/nI/{data,etcd.log}` and `cluster.json` go here.
    pub dir: PathBuf,
    /// The run id naming every namespace, link and rule (six hex digits).
    pub run_id: String,
    /// How long to wait for every node to be healthy with a leader.
    pub startup_timeout: Duration,
}

/// Finds etcd: `explicit` (`--etcd-bin`), then `$FAULTLINE_ETCD`, then `etcd` on `PATH`.
pub fn locate_etcd(explicit: Option<&Path>) -> Result<PathBuf, ClusterError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = std::env::var_os("FAULTLINE_ETCD") {
            candidates.push(PathBuf::from(p));
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|d| d.join("etcd")));
        }
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            ClusterError::Options(format!(
                "etcd binary not found (looked at: {}); install etcd (Debian: apt-get install etcd-server) or pass --etcd-bin",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// One etcd node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdNode {
    /// `n1`, `n2`, ...
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its address on the private network.
    pub ip: Ipv4Addr,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// stdout and stderr, appended across restarts.
    pub log: PathBuf,
}

impl EtcdNode {
    /// The client URL, `http://ip:2379`.
    pub fn client_url(&self) -> String {
        format!("http://{}:{CLIENT_PORT}", self.ip)
    }

    /// The peer URL, `http://ip:2380`.
    pub fn peer_url(&self) -> String {
        format!("http://{}:{PEER_PORT}", self.ip)
    }
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    binary: PathBuf,
    plan: NetnsPlan,
    nodes: Vec<EtcdNode>,
    args: Vec<Vec<String>>,
    procs: Procs,
    http: reqwest::Client,
    stopped: AtomicBool,
}

/// A running local etcd cluster. Cloning gives another handle; when the last is dropped,
/// every node is stopped and the network removed.
#[derive(Debug, Clone)]
pub struct EtcdCluster {
    inner: Arc<Inner>,
}

/// The command line (after the binary) of node `i` of `nodes`. Pure.
pub fn etcd_args(nodes: &[EtcdNode], i: usize, token: &str) -> Vec<String> {
    let node = &nodes[i];
    let initial: Vec<String> = nodes
        .iter()
        .map(|n| format!("{}={}", n.name, n.peer_url()))
        .collect();
    [
        "--name",
        &node.name,
        "--data-dir",
        &node.data_dir.display().to_string(),
        "--listen-client-urls",
        &node.client_url(),
        "--advertise-client-urls",
        &node.client_url(),
        "--listen-peer-urls",
        &node.peer_url(),
        "--initial-advertise-peer-urls",
        &node.peer_url(),
        "--initial-cluster",
        &initial.join(","),
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        token,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

impl EtcdCluster {
    /// Creates the network, starts every node and waits until each answers `/health` and a
    /// leader is known. On error, everything already made is removed.
    pub async fn start(opts: EtcdClusterOptions) -> Result<EtcdCluster, ClusterError> {
        if !netns::is_root() {
            return Err(ClusterError::Options(
                "--target etcd starts nodes in network namespaces and needs root (run as root, or use --cluster external)".into(),
            ));
        }
        for tool in ["ip", "iptables"] {
            let found = std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
                .unwrap_or(false);
            if !found {
                return Err(ClusterError::Options(format!(
                    "`{tool}` not found on PATH; a local etcd cluster needs iproute2 and iptables"
                )));
            }
        }
        if !opts.binary.is_file() {
            return Err(locate_etcd(Some(&opts.binary)).err().unwrap_or_else(|| {
                ClusterError::Options(format!("{}: not a file", opts.binary.display()))
            }));
        }
        let names: Vec<String> = (1..=opts.nodes).map(|i| format!("n{i}")).collect();
        let plan = netns::plan(&opts.run_id, &names, &netns::taken_networks()?)
            .map_err(ClusterError::Options)?;
        // Never adopt (and later remove) objects of another run that drew the same id.
        let existing = netns::leftovers(&plan);
        if !existing.is_empty() {
            return Err(ClusterError::Options(format!(
                "network objects named {}-* already exist (another run?): {}",
                plan.prefix,
                existing.join("; ")
            )));
        }
        let mut nodes = Vec::new();
        for n in &plan.nodes {
            let dir = opts.dir.join(crate::rundir::NODES_DIR).join(&n.name);
            let data_dir = dir.join("data");
            std::fs::create_dir_all(&dir).map_err(ClusterError::io(&dir))?;
            nodes.push(EtcdNode {
                name: n.name.clone(),
                namespace: n.namespace.clone(),
                ip: n.ip,
                data_dir,
                log: dir.join("etcd.log"),
            });
        }
        let args = (0..nodes.len())
            .map(|i| etcd_args(&nodes, i, &plan.prefix))
            .collect();
        let http = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| ClusterError::Options(format!("HTTP client: {e}")))?;
        let cluster = EtcdCluster {
            inner: Arc::new(Inner {
                dir: opts.dir.clone(),
                binary: opts.binary.clone(),
                procs: Procs::new(nodes.len()),
                plan,
                nodes,
                args,
                http,
                stopped: AtomicBool::new(false),
            }),
        };
        // Recorded before created; from here on an error drops `cluster`, which removes it all.
        cluster.write_state()?;
        netns::create(&cluster.inner.plan)?;
        for i in 0..cluster.inner.nodes.len() {
            cluster.inner.procs.start_with(i, || cluster.spawn(i))?;
        }
        cluster.write_state()?;
        cluster.wait_until_ready(opts.startup_timeout).await?;
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
        // `ip netns exec` enters the namespace and execs etcd: the child's pid is etcd's.
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &node.namespace])
            .arg(&self.inner.binary)
            .args(&self.inner.args[i]);
        let what = format!("{} in {}", node.name, node.namespace);
        spawn_logged(cmd, &node.name, &what, &self.inner.binary, &node.log)
    }

    fn write_state(&self) -> Result<(), ClusterError> {
        let state = {
            let pids = self.inner.procs.pids();
            ClusterState {
                version: 1,
                faultline_pid: std::process::id(),
                binary: self.inner.binary.clone(),
                proxies: false,
                nodes: self
                    .inner
                    .nodes
                    .iter()
                    .zip(pids)
                    .enumerate()
                    .map(|(i, (n, pid))| NodeRecord {
                        name: n.name.clone(),
                        id: i as u64 + 1,
                        pid,
                        http: format!("{}:{CLIENT_PORT}", n.ip),
                        peer: format!("{}:{PEER_PORT}", n.ip),
                        data_dir: n.data_dir.clone(),
                        log: n.log.clone(),
                    })
                    .collect(),
                netns: Some(self.inner.plan.clone()),
            }
        };
        state.write(&self.inner.dir)
    }

    /// The nodes, in order.
    pub fn nodes(&self) -> &[EtcdNode] {
        &self.inner.nodes
    }

    /// The node names.
    pub fn names(&self) -> Vec<String> {
        self.inner.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The network plan (prefix, bridge, namespaces, addresses).
    pub fn plan(&self) -> &NetnsPlan {
        &self.inner.plan
    }

    /// Node name → address on the private network.
    pub fn ips(&self) -> BTreeMap<String, Ipv4Addr> {
        self.inner
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.ip))
            .collect()
    }

    /// Runs `iptables -w ARGS` inside `node`'s namespace.
    pub fn iptables(&self, node: &str, rule: &[String]) -> Result<(), ClusterError> {
        let ns = &self.inner.nodes[self.index(node)?].namespace;
        let mut cmd: Vec<String> = ["ip", "netns", "exec", ns, "iptables", "-w"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        cmd.extend(rule.iter().cloned());
        netns::run(&cmd).map_err(|e| ClusterError::Options(format!("{node}: {e}")))
    }

    /// The current pid of `name`, `None` while killed.
    pub fn pid(&self, name: &str) -> Result<Option<u32>, ClusterError> {
        let i = self.index(name)?;
        Ok(self.inner.procs.pid(i))
    }

    /// The node names, in slot order, for [`Procs`] queries.
    fn name_strs(&self) -> impl Iterator<Item = &str> {
        self.inner.nodes.iter().map(|n| n.name.as_str())
    }

    /// Nodes currently killed.
    pub fn killed(&self) -> Vec<String> {
        self.inner.procs.killed(self.name_strs())
    }

    /// Nodes currently paused.
    pub fn paused(&self) -> Vec<String> {
        self.inner.procs.paused(self.name_strs())
    }

    /// `kill -9` a node and reap it; a killed node stays killed.
    pub fn kill(&self, name: &str) -> Result<(), ClusterError> {
        let i = self.index(name)?;
        self.inner.procs.kill(i);
        self.write_state()
    }

    /// Restarts a killed node on its data dir and waits until it answers `/health` (with any
    /// status: a node catching up may report no leader yet). A running node is left alone.
    pub async fn restart(&self, name: &str) -> Result<(), ClusterError> {
        let i = self.index(name)?;
        if !self.inner.procs.start_with(i, || self.spawn(i))? {
            return Ok(());
        }
        self.write_state()?;
        let node = &self.inner.nodes[i];
        wait_answering(
            RESTART_TIMEOUT,
            Duration::from_millis(100),
            || self.check_alive(i),
            || async { self.health(i).await.is_ok() },
            (&node.name, node.client_url(), &node.log),
        )
        .await
    }

    /// SIGSTOP a node; false (nothing done) when it is killed.
    pub fn pause(&self, name: &str) -> Result<bool, ClusterError> {
        let i = self.index(name)?;
        self.inner.procs.signal(i, name, Signal::SIGSTOP)
    }

    /// SIGCONT a node; false when it is killed.
    pub fn resume(&self, name: &str) -> Result<bool, ClusterError> {
        let i = self.index(name)?;
        self.inner.procs.signal(i, name, Signal::SIGCONT)
    }

    fn check_alive(&self, i: usize) -> Result<(), ClusterError> {
        let node = &self.inner.nodes[i];
        match self
            .inner
            .procs
            .exited(i)
            .map_err(ClusterError::io(&node.log))?
        {
            None => Ok(()),
            Some(status) => Err(ClusterError::Exited {
                node: node.name.clone(),
                status: status.to_string(),
                log: node.log.clone(),
                tail: log_tail(&node.log),
            }),
        }
    }

    /// `GET /health` of node `i`: `Ok(true)` healthy, `Ok(false)` answering but not healthy
    /// (503: no leader), `Err` no answer.
    async fn health(&self, i: usize) -> Result<bool, String> {
        let url = format!("{}/health", self.inner.nodes[i].client_url());
        let resp = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        Ok(resp.status().is_success())
    }

    async fn wait_until_ready(&self, timeout: Duration) -> Result<(), ClusterError> {
        let deadline = Instant::now() + timeout;
        loop {
            for i in 0..self.inner.nodes.len() {
                self.check_alive(i)?;
            }
            let mut healthy = true;
            let mut last = Vec::new();
            for i in 0..self.inner.nodes.len() {
                let h = self.health(i).await;
                healthy &= h == Ok(true);
                last.push(format!("{}: {h:?}", self.inner.nodes[i].name));
            }
            if healthy && self.leader().await.is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ClusterError::NoLeader {
                    waited: timeout,
                    statuses: last.join("; "),
                    dir: self.inner.dir.join(crate::rundir::NODES_DIR),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The leader, from every running, unpaused node's `/v3/maintenance/status`.
    pub async fn leader(&self) -> Option<String> {
        let (killed, paused) = (self.killed(), self.paused());
        let targets: Vec<(String, String)> = self
            .inner
            .nodes
            .iter()
            .filter(|n| !killed.contains(&n.name) && !paused.contains(&n.name))
            .map(|n| (n.name.clone(), n.client_url()))
            .collect();
        etcd_leader(&self.inner.http, &targets).await
    }

    /// Kills every node (resuming paused ones first), removes the network and the state
    /// file. Safe to call more than once; returns what could not be removed.
    pub fn stop(&self) -> Vec<String> {
        stop_all(&self.inner)
    }
}

/// Asks every `(name, base URL)` for `POST /v3/maintenance/status` concurrently and names
/// the leader (see [`leader_from_statuses`]); `None` when no answer names a known member.
pub async fn etcd_leader(http: &reqwest::Client, nodes: &[(String, String)]) -> Option<String> {
    let mut set = tokio::task::JoinSet::new();
    for (name, base) in nodes {
        let (http, name, url) = (
            http.clone(),
            name.clone(),
            format!("{}/v3/maintenance/status", base.trim_end_matches('/')),
        );
        set.spawn(async move {
            let resp = http.post(url).body("{}").send().await.ok()?;
            let value: Value = resp.json().await.ok()?;
            Some((name, value))
        });
    }
    let mut statuses = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(Some(s)) = joined {
            statuses.push(s);
        }
    }
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    leader_from_statuses(&statuses)
}

fn stop_all(inner: &Inner) -> Vec<String> {
    if inner.stopped.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    inner.procs.stop_all();
    let left = netns::destroy(&inner.plan);
    if left.is_empty() {
        let _ = ClusterState::remove(&inner.dir);
    }
    left
}

impl Drop for Inner {
    fn drop(&mut self) {
        stop_all(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_knows_the_whole_initial_cluster() {
        let nodes: Vec<EtcdNode> = (1..=3)
            .map(|i| EtcdNode {
                name: format!("n{i}"),
                namespace: format!("flabc-n{i}"),
                ip: Ipv4Addr::new(10, 200, 1, 10 + i),
                data_dir: PathBuf::from(format!("/r/nodes/n{i}/data")),
                log: PathBuf::from(format!("/r/nodes/n{i}/etcd.log")),
            })
            .collect();
        let args = etcd_args(&nodes, 1, "flabc").join(" ");
        assert!(
            args.starts_with("--name n2 --data-dir /r/nodes/n2/data"),
            "{args}"
        );
        assert!(
            args.contains("--listen-client-urls http://10.200.1.12:2379"),
            "{args}"
        );
        assert!(args.contains("--initial-advertise-peer-urls http://10.200.1.12:2380"));
        assert!(args.contains(
            "--initial-cluster n1=http://10.200.1.11:2380,n2=http://10.200.1.12:2380,n3=http://10.200.1.13:2380"
        ));
        assert!(args.ends_with("--initial-cluster-token flabc"));
    }
}
