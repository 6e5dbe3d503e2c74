//! The system under test as the runner sees it: a started (or, for external clusters,
//! checked) cluster, clients for its nodes, a fault backend for the nemesis, and a teardown
//! that heals and stops everything.
//!
//! | `--target` | `--cluster local` | `--cluster external` |
//! |---|---|---|
//! | `raftkv` | raftkv processes on 127.0.0.1, links through proxies ([`LocalNemesis`]) | the user's nodes, faults by command templates ([`ExternalNemesis`]) |
//! | `etcd` | etcd in network namespaces, iptables faults ([`NetnsNemesis`]), root only | the user's nodes, faults by command templates |
//! | `http` | — (refused: faultline does not start your service) | the user's nodes through the `--client` spec ([`super::http_target`]), faults by command templates |

use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::sync::Mutex;

use super::config::Resolved;
use super::interpreter::FaultRunner;
use super::store::{RunDir, RunLog};
use crate::client::{
    Client, ClientFactory, EtcdFactory, EtcdOptions, NodeInfo, RaftkvFactory, RaftkvOptions,
};
use crate::cluster::external::{self, Protocol};
use crate::cluster::netns::new_run_id;
use crate::cluster::{
    locate_etcd, locate_raftkv, ClusterOptions, EtcdCluster, EtcdClusterOptions, LocalCluster,
};
use crate::generator::GenOp;
use crate::nemesis::journal::JOURNAL_FILE;
use crate::nemesis::{ExternalNemesis, LocalNemesis, Nemesis, NetnsNemesis};

/// How long a local etcd cluster may take to be healthy with a leader.
const ETCD_STARTUP: std::time::Duration = std::time::Duration::from_secs(60);

/// Who owns the nodes' lifecycle.
enum Cluster {
    /// A local raftkv cluster faultline started.
    Raftkv(Arc<LocalCluster>),
    /// A local etcd cluster in network namespaces faultline started.
    Etcd(EtcdCluster),
    /// Nodes faultline only talks to.
    External,
}

/// A running cluster with its clients' factory and its fault backend.
pub struct Target {
    cluster: Cluster,
    nemesis: Arc<Mutex<Box<dyn Nemesis>>>,
    factory: Box<dyn ClientFactory>,
    nodes: Vec<NodeInfo>,
}

/// A backend for a nemesis that never injects anything (external clusters without
/// `[commands]`): every heal is a no-op.
struct NoFaults;

#[async_trait::async_trait]
impl Nemesis for NoFaults {
    async fn invoke(&mut self, op: &GenOp) -> Result<Value, crate::nemesis::NemesisError> {
        Err(crate::nemesis::NemesisError::Unsupported(format!(
            "{}: this cluster has no fault commands",
            op.f
        )))
    }

    async fn heal_all(&mut self) -> Result<(), crate::nemesis::NemesisError> {
        Ok(())
    }
}

/// Starts (or checks) the target the config names, inside the run directory.
pub async fn start(resolved: &Resolved, run: &RunDir, log: &Arc<RunLog>) -> Result<Target> {
    let config = &resolved.config;
    let journal = run.file(JOURNAL_FILE);
    let run_id = new_run_id();
    // The workload's ops beyond read/write/cas go through a profile of the client (set,
    // counter, bank, unique-ids, txn); raftkv's spec and etcd's mappings share the names.
    let profile = resolved.workload.client_profile();
    let raftkv_options = RaftkvOptions {
        profile,
        ..RaftkvOptions::default()
    };
    let etcd_options = EtcdOptions {
        serializable_reads: config.etcd_serializable_reads,
        // A per-run prefix: runs against the same (external) cluster never share keys.
        key_prefix: format!("faultline/{run_id}/"),
        profile,
        ..EtcdOptions::default()
    };
    if config.cluster == "external" {
        let ext = external::parse_nodes(&config.node_urls).map_err(anyhow::Error::msg)?;
        let protocol = match config.target.as_str() {
            "etcd" => Protocol::Etcd,
            _ => Protocol::Raftkv,
        };
        match (&resolved.client, &config.client) {
            // --target http: the spec's health path (or a TCP connect); leader lookups, the
            // only other use of `protocol`, are refused for it when the config resolves.
            (Some(spec), Some(file)) => {
                let copy = super::http_target::store_spec(file, run)?;
                log.line(format_args!(
                    "client spec {} kept as {}",
                    file.display(),
                    copy.display()
                ));
                super::http_target::check_reachable(&ext, spec).await?;
            }
            _ => external::check_reachable(&ext, protocol).await?,
        }
        let nodes: Vec<NodeInfo> = ext
            .iter()
            .map(|n| NodeInfo {
                name: n.name.clone(),
                http: n.url.clone(),
            })
            .collect();
        let nemesis: Box<dyn Nemesis> = match &resolved.nemesis.commands {
            Some(templates) => {
                let log = Arc::clone(log);
                Box::new(
                    ExternalNemesis::new(
                        ext,
                        protocol,
                        templates.clone(),
                        &journal,
                        Arc::new(move |line: &str| log.line(line)),
                    )
                    .context("opening the fault journal")?,
                )
            }
            None => {
                let note = format!(
                    "external cluster: {} has no [commands], so no faults are injected (nemesis none)",
                    config.nemesis
                );
                eprintln!("faultline test: {note}");
                log.line(note);
                Box::new(NoFaults)
            }
        };
        let factory: Box<dyn ClientFactory> = match (&resolved.client, protocol) {
            (Some(spec), _) => Box::new(super::http_target::factory(spec, &nodes, profile)?),
            (None, Protocol::Etcd) => Box::new(EtcdFactory::new(&nodes, etcd_options)?),
            (None, Protocol::Raftkv) => Box::new(RaftkvFactory::new(&nodes, raftkv_options)?),
        };
        return Ok(Target {
            cluster: Cluster::External,
            nemesis: Arc::new(Mutex::new(nemesis)),
            factory,
            nodes,
        });
    }
    if config.target == "etcd" {
        let binary = locate_etcd(config.etcd_bin.as_deref())?;
        let cluster = EtcdCluster::start(EtcdClusterOptions {
            nodes: config.nodes,
            binary,
            dir: run.path.clone(),
            run_id,
            startup_timeout: ETCD_STARTUP,
        })
        .await
        .context("starting the local etcd cluster")?;
        log.line(format_args!(
            "private network {}: bridge {} at {}",
            cluster.plan().prefix,
            cluster.plan().bridge,
            cluster.plan().gateway
        ));
        let nodes: Vec<NodeInfo> = cluster
            .nodes()
            .iter()
            .map(|n| NodeInfo {
                name: n.name.clone(),
                http: n.client_url(),
            })
            .collect();
        let nemesis =
            NetnsNemesis::new(cluster.clone(), &journal).context("opening the fault journal")?;
        return Ok(Target {
            factory: Box::new(EtcdFactory::new(&nodes, etcd_options)?),
            cluster: Cluster::Etcd(cluster),
            nemesis: Arc::new(Mutex::new(Box::new(nemesis))),
            nodes,
        });
    }
    let binary = locate_raftkv(config.raftkv_bin.as_deref())?;
    let mut opts = ClusterOptions::new(config.nodes, binary, run.path.clone());
    opts.bugs = config.raftkv_bugs.clone();
    opts.seed = config.seed;
    opts.base_port = config.base_port;
    let cluster = Arc::new(
        LocalCluster::start(opts)
            .await
            .context("starting the local raftkv cluster")?,
    );
    let nemesis =
        LocalNemesis::new(Arc::clone(&cluster), &journal).context("opening the fault journal")?;
    let nodes: Vec<NodeInfo> = cluster
        .nodes()
        .iter()
        .map(|n| NodeInfo {
            name: n.name.clone(),
            http: n.http.to_string(),
        })
        .collect();
    Ok(Target {
        factory: Box::new(
            RaftkvFactory::new(&nodes, raftkv_options).context("setting up the raftkv client")?,
        ),
        cluster: Cluster::Raftkv(cluster),
        nemesis: Arc::new(Mutex::new(Box::new(nemesis))),
        nodes,
    })
}

impl Target {
    /// The nodes clients can talk to.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes.clone()
    }

    /// One client per worker; worker i talks to node i mod N (Jepsen spreads clients so both
    /// sides of a partition are exercised).
    pub fn open_clients(&self, concurrency: usize) -> Result<Vec<Box<dyn Client>>> {
        (0..concurrency)
            .map(|i| {
                let node = &self.nodes[i % self.nodes.len()];
                self.factory
                    .open(node)
                    .with_context(|| format!("opening a client for {}", node.name))
            })
            .collect()
    }

    /// The nemesis task's handle on the fault backend.
    pub fn fault_runner(&self) -> Box<dyn FaultRunner> {
        Box::new(SharedNemesis(Arc::clone(&self.nemesis)))
    }

    /// Heals every fault (links, paused and killed nodes).
    pub async fn heal_all(&mut self) -> Result<()> {
        self.nemesis
            .lock()
            .await
            .heal_all()
            .await
            .context("healing every fault")
    }

    /// Heals everything and stops every node faultline started (and removes its network);
    /// called on every exit path.
    pub async fn teardown(&mut self) -> Result<()> {
        let healed = self.heal_all().await;
        match &self.cluster {
            Cluster::Raftkv(c) => c.stop(),
            Cluster::Etcd(c) => {
                let left = c.stop();
                if !left.is_empty() {
                    anyhow::bail!(
                        "could not remove all of the private network: {}",
                        left.join("; ")
                    );
                }
            }
            Cluster::External => {}
        }
        healed
    }
}

/// The fault backend behind a mutex, so teardown can heal while the nemesis task holds it.
struct SharedNemesis(Arc<Mutex<Box<dyn Nemesis>>>);

#[async_trait::async_trait]
impl FaultRunner for SharedNemesis {
    async fn run(&mut self, op: &GenOp) -> Result<Value, String> {
        let mut nemesis = self.0.lock().await;
        nemesis.invoke(op).await.map_err(|e| e.to_string())
    }
}
