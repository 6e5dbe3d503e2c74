//! etcd as a local cluster (root only): the generic launcher ([`super::generic`]) running
//! the db spec `db/etcd.toml`, embedded in the binary ([`DB_SPEC`]), so `--target etcd` and
//! `--db db/etcd.toml` start exactly the same nodes (names, URLs, initial cluster with the
//! run prefix as token, data dir and log under `nodes/nI/`, one network namespace each).
//!
//! What the spec cannot say lives here: which binary runs (`--etcd-bin`, then
//! `$FAULTLINE_ETCD`, then `PATH`, with `--target etcd`'s message), who leads (every
//! member's `POST /v3/maintenance/status`, also asked of external etcd nodes), and that a
//! fresh cluster is ready only once a leader is known.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::db_spec::DbSpec;
use super::generic::{self, GenericCluster, GenericOptions};
use super::ClusterError;
use crate::client::etcd::leader_from_statuses;
use crate::net::netns;
use crate::node_control::LeaderProbe;

/// The db spec of a local etcd cluster (`db/etcd.toml`), embedded in the binary.
pub const DB_SPEC: &str = include_str!("../../db/etcd.toml");
/// etcd's client port inside each namespace (the embedded spec's `client_port`).
pub const CLIENT_PORT: u16 = 2379;
/// How long one maintenance status request may take (a paused node never answers).
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

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
    /// How long to wait for every node to be healthy with a leader (and a restarted node to
    /// answer).
    pub startup_timeout: Duration,
    /// Mount a power-loss filesystem over every node's data dir (a schedule with power-loss
    /// faults; see [`crate::powerfs`]).
    pub power_loss: bool,
}

/// A running local etcd cluster: the generic cluster and its private network.
pub type EtcdCluster = GenericCluster;

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

/// The embedded db spec running `binary`, every node given `startup_timeout`.
pub fn db_spec(binary: &Path, startup_timeout: Duration) -> Result<DbSpec, ClusterError> {
    let mut spec = DbSpec::from_toml(DB_SPEC, Path::new("db/etcd.toml"))
        .map_err(|e| ClusterError::Options(format!("the embedded etcd db spec: {e}")))?
        .with_binary(binary);
    spec.startup_timeout = startup_timeout;
    Ok(spec)
}

/// Each node's `(name, client URL)`, in order.
pub fn client_urls(cluster: &EtcdCluster) -> Vec<(String, String)> {
    cluster
        .network()
        .nodes
        .iter()
        .map(|n| (n.name.clone(), format!("http://{}:{CLIENT_PORT}", n.ip)))
        .collect()
}

/// Starts the nodes through the generic launcher and waits until every node answers
/// `/health` and a leader is known. On error, everything already made is removed.
pub async fn start(opts: EtcdClusterOptions) -> Result<EtcdCluster, ClusterError> {
    if !netns::is_root() {
        return Err(ClusterError::Options(
            "--target etcd starts nodes in network namespaces and needs root (run as root, or use --cluster external)".into(),
        ));
    }
    let deadline = Instant::now() + opts.startup_timeout;
    let spec = db_spec(&opts.binary, opts.startup_timeout)?;
    let cluster = generic::start(GenericOptions {
        spec,
        nodes: opts.nodes,
        dir: opts.dir.clone(),
        run_id: opts.run_id.clone(),
        // The etcd spec uses no `{seed}`.
        seed: 0,
        // etcd is a Go binary: the target refuses clock faults before this.
        fake_clocks: false,
        power_loss: opts.power_loss,
    })
    .await?;
    let leader = EtcdLeader::new(client_urls(&cluster))?;
    loop {
        if leader.leader().await.is_some() {
            return Ok(cluster);
        }
        if let Err(e) = cluster.check() {
            cluster.stop();
            return Err(e);
        }
        if Instant::now() >= deadline {
            let statuses = cluster
                .statuses()
                .await
                .into_iter()
                .map(|(n, s)| format!("{n}: {}", s.map_or_else(|e| e, |v| v.to_string())))
                .collect::<Vec<_>>()
                .join("; ");
            cluster.stop();
            return Err(ClusterError::NoLeader {
                waited: opts.startup_timeout,
                statuses,
                dir: opts.dir.join(crate::rundir::NODES_DIR),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The leader of etcd nodes, asked of every member's maintenance status when a fault needs
/// it (local clusters and external etcd nodes alike).
#[derive(Debug, Clone)]
pub struct EtcdLeader {
    nodes: Vec<(String, String)>,
    http: reqwest::Client,
}

impl EtcdLeader {
    /// A probe of `(name, base URL)` nodes.
    pub fn new(nodes: Vec<(String, String)>) -> Result<EtcdLeader, ClusterError> {
        let http = reqwest::Client::builder()
            .timeout(PROBE_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| ClusterError::Options(format!("HTTP client: {e}")))?;
        Ok(EtcdLeader { nodes, http })
    }
}

#[async_trait::async_trait]
impl LeaderProbe for EtcdLeader {
    async fn leader(&self) -> Option<String> {
        etcd_leader(&self.http, &self.nodes).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::db_spec::NodeFacts;

    #[test]
    fn every_node_knows_the_whole_initial_cluster() {
        let spec = db_spec(Path::new("/opt/etcd"), Duration::from_secs(7)).expect("spec");
        assert_eq!(spec.startup_timeout, Duration::from_secs(7));
        assert_eq!(spec.client_port, CLIENT_PORT);
        assert_eq!(spec.locate_binary().ok(), None, "no /opt/etcd here");
        let names: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
        let plan = netns::plan("abc", &names, &[]).expect("plan");
        let facts: Vec<NodeFacts> = plan
            .nodes
            .iter()
            .map(|n| NodeFacts {
                name: n.name.clone(),
                host: n.ip.to_string(),
                data_dir: PathBuf::from(format!("/r/nodes/{}/data", n.name)),
                seed: 0,
            })
            .collect();
        let args = spec.command_args(&facts, 1, &plan.prefix).join(" ");
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
        assert!(args.ends_with("--initial-cluster-token flabc"), "{args}");
    }

    #[test]
    fn the_binary_given_is_the_binary_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("my-etcd");
        std::fs::write(&bin, "").expect("write");
        let spec = db_spec(&bin, Duration::from_secs(1)).expect("spec");
        assert_eq!(spec.locate_binary(), Ok(bin));
    }
}
