//! etcd as a local cluster (root only): the [`EtcdLauncher`] runs each node as an `etcd`
//! process in its own network namespace (see [`crate::net::netns`]), data dir and log under
//! the run directory, so partitions and packet loss are real packet drops by iptables inside
//! the namespaces.
//!
//! etcd runs with its defaults (heartbeat 100 ms, election 1000 ms, pre-vote off in 3.4);
//! only names, URLs, the initial cluster (token = the run prefix) and the data dir are set.
//! Every node listens on its own namespace address, ports 2379 (clients) and 2380 (peers).
//!
//! Order of creation, so every exit path (and `faultline cluster down` after a `kill -9`)
//! removes exactly what this run made: the state file is written with the network plan
//! before the network exists (the launcher's `prepare` creates it), and again with each pid as
//! nodes start; stopping kills the processes (resuming paused ones first), removes the
//! network, then the state file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::launcher::{Launcher, NodeLayout, Status};
use super::local::{LocalCluster, Wired};
use super::ClusterError;
use crate::client::etcd::leader_from_statuses;
use crate::net::netns::{self, NetnsNode, NetnsPlan};

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

/// A node's client URL on the private network, `http://ip:2379`.
pub fn client_url(node: &NetnsNode) -> String {
    format!("http://{}:{CLIENT_PORT}", node.ip)
}

/// A node's peer URL on the private network, `http://ip:2380`.
pub fn peer_url(node: &NetnsNode) -> String {
    format!("http://{}:{PEER_PORT}", node.ip)
}

/// The command line (after the binary) of node `i` of `plan`, with its data dir. Pure.
pub fn etcd_args(plan: &NetnsPlan, i: usize, data_dir: &Path) -> Vec<String> {
    let node = &plan.nodes[i];
    let initial: Vec<String> = plan
        .nodes
        .iter()
        .map(|n| format!("{}={}", n.name, peer_url(n)))
        .collect();
    [
        "--name",
        &node.name,
        "--data-dir",
        &data_dir.display().to_string(),
        "--listen-client-urls",
        &client_url(node),
        "--advertise-client-urls",
        &client_url(node),
        "--listen-peer-urls",
        &peer_url(node),
        "--initial-advertise-peer-urls",
        &peer_url(node),
        "--initial-cluster",
        &initial.join(","),
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        &plan.prefix,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// A running local etcd cluster: the generic [`LocalCluster`] (it derefs to it) and the
/// private network its nodes live in, for the nemesis's iptables backend.
pub type EtcdCluster = Wired<NetnsPlan>;

impl EtcdCluster {
    /// The network plan (prefix, bridge, namespaces, addresses).
    pub fn plan(&self) -> &NetnsPlan {
        self.network()
    }

    /// Each node's client URL, in order.
    pub fn client_urls(&self) -> Vec<(String, String)> {
        self.plan()
            .nodes
            .iter()
            .map(|n| (n.name.clone(), client_url(n)))
            .collect()
    }
}

/// How etcd nodes are run: `ip netns exec NS etcd ...`, health from `/health`, status and
/// leadership from `POST /v3/maintenance/status`.
#[derive(Debug)]
pub struct EtcdLauncher {
    binary: PathBuf,
    plan: NetnsPlan,
    nodes: Vec<NodeLayout>,
    http: reqwest::Client,
}

impl EtcdLauncher {
    async fn health(&self, i: usize) -> Result<bool, String> {
        let url = format!("{}/health", client_url(&self.plan.nodes[i]));
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(crate::net::cause::http)?;
        Ok(resp.status().is_success())
    }
}

#[async_trait::async_trait]
impl Launcher for EtcdLauncher {
    fn program(&self) -> &Path {
        &self.binary
    }

    fn nodes(&self) -> &[NodeLayout] {
        &self.nodes
    }

    fn command(&self, i: usize) -> Command {
        // `ip netns exec` enters the namespace and execs etcd: the child's pid is etcd's.
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.plan.nodes[i].namespace])
            .arg(&self.binary)
            .args(etcd_args(&self.plan, i, &self.nodes[i].data_dir));
        cmd
    }

    fn describe(&self, i: usize) -> String {
        format!("{} in {}", self.nodes[i].name, self.plan.nodes[i].namespace)
    }

    /// The maintenance status, with `"healthy"`: whether `/health` said 200 too.
    async fn status(&self, i: usize) -> Status {
        let url = format!("{}/v3/maintenance/status", client_url(&self.plan.nodes[i]));
        let resp = self
            .http
            .post(url)
            .body("{}")
            .send()
            .await
            .map_err(|e| format!("no answer: {}", crate::net::cause::http(e)))?;
        let mut value: Value = resp
            .json()
            .await
            .map_err(|e| format!("bad status body: {e}"))?;
        let healthy = self.health(i).await.unwrap_or(false);
        if let Value::Object(m) = &mut value {
            m.insert("healthy".into(), Value::Bool(healthy));
        }
        Ok(value)
    }

    /// Any answer to `/health` (a node catching up may report no leader yet).
    async fn answers(&self, i: usize) -> bool {
        self.health(i).await.is_ok()
    }

    fn leader(&self, statuses: &[(String, Status)]) -> Option<String> {
        let answered: Vec<(String, Value)> = statuses
            .iter()
            .filter_map(|(n, s)| Some((n.clone(), s.as_ref().ok()?.clone())))
            .collect();
        leader_from_statuses(&answered)
    }

    /// Every node healthy and a leader known.
    fn ready(&self, statuses: &[(String, Status)]) -> bool {
        let healthy = statuses.iter().all(|(_, s)| {
            s.as_ref()
                .is_ok_and(|v| v.get("healthy") == Some(&Value::Bool(true)))
        });
        healthy && self.leader(statuses).is_some()
    }

    fn restart_timeout(&self) -> Duration {
        RESTART_TIMEOUT
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(200)
    }

    fn network(&self) -> Option<&NetnsPlan> {
        Some(&self.plan)
    }

    fn prepare(&self) -> Result<(), ClusterError> {
        // Never adopt (and later remove) objects of another run that drew the same id.
        let existing = netns::leftovers(&self.plan);
        if !existing.is_empty() {
            return Err(ClusterError::Options(format!(
                "network objects named {}-* already exist (another run?): {}",
                self.plan.prefix,
                existing.join("; ")
            )));
        }
        netns::create(&self.plan).map_err(ClusterError::Options)
    }

    fn cleanup(&self) -> Vec<String> {
        netns::destroy(&self.plan)
    }
}

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
    let taken = netns::taken_networks().map_err(ClusterError::Options)?;
    let plan = netns::plan(&opts.run_id, &names, &taken).map_err(ClusterError::Options)?;
    let nodes = plan
        .nodes
        .iter()
        .map(|n| {
            let dir = opts.dir.join(crate::rundir::NODES_DIR).join(&n.name);
            NodeLayout {
                name: n.name.clone(),
                client: format!("{}:{CLIENT_PORT}", n.ip),
                peer: format!("{}:{PEER_PORT}", n.ip),
                data_dir: dir.join("data"),
                log: dir.join("etcd.log"),
            }
        })
        .collect();
    let http = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| ClusterError::Options(format!("HTTP client: {e}")))?;
    let launcher = EtcdLauncher {
        binary: opts.binary.clone(),
        plan: plan.clone(),
        nodes,
        http,
    };
    let cluster = LocalCluster::start(Box::new(launcher), &opts.dir, opts.startup_timeout).await?;
    Ok(Wired::new(cluster, plan))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_knows_the_whole_initial_cluster() {
        let names: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
        let plan = netns::plan("abc", &names, &[]).expect("plan");
        let args = etcd_args(&plan, 1, Path::new("/r/nodes/n2/data")).join(" ");
        let ip = |i: usize| plan.nodes[i].ip;
        assert!(
            args.starts_with("--name n2 --data-dir /r/nodes/n2/data"),
            "{args}"
        );
        assert!(
            args.contains(&format!("--listen-client-urls http://{}:2379", ip(1))),
            "{args}"
        );
        assert!(args.contains(&format!(
            "--initial-advertise-peer-urls http://{}:2380",
            ip(1)
        )));
        assert!(args.contains(&format!(
            "--initial-cluster n1=http://{}:2380,n2=http://{}:2380,n3=http://{}:2380",
            ip(0),
            ip(1),
            ip(2)
        )));
        assert!(args.ends_with("--initial-cluster-token flabc"));
    }
}
