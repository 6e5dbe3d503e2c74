//! The system under test as the runner sees it: a started cluster, clients for its nodes,
//! a fault runner for the nemesis, and a teardown that heals and stops everything.

use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::sync::Mutex;

use super::config::TestConfig;
use super::interpreter::FaultRunner;
use super::store::RunDir;
use crate::client::{Client, ClientFactory, NodeInfo, RaftkvFactory, RaftkvOptions};
use crate::cluster::{locate_raftkv, ClusterOptions, LocalCluster};
use crate::generator::GenOp;
use crate::nemesis::{LocalNemesis, Nemesis};

/// A running local raftkv cluster with its fault backend.
pub struct Target {
    cluster: Arc<LocalCluster>,
    nemesis: Arc<Mutex<LocalNemesis>>,
    nodes: Vec<NodeInfo>,
}

/// Starts the target the config names, inside the run directory.
pub async fn start(config: &TestConfig, run: &RunDir) -> Result<Target> {
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
    let nemesis = LocalNemesis::new(Arc::clone(&cluster), &run.file("faults.journal"))
        .context("opening the fault journal")?;
    let nodes = cluster
        .nodes()
        .iter()
        .map(|n| NodeInfo {
            name: n.name.clone(),
            http: n.http.to_string(),
        })
        .collect();
    Ok(Target {
        cluster,
        nemesis: Arc::new(Mutex::new(nemesis)),
        nodes,
    })
}

impl Target {
    /// The nodes clients can talk to.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.nodes.clone()
    }

    /// One client per worker; worker i talks to node i mod N (Jepsen spreads clients so both
    /// sides of a partition are exercised). `profile` is the workload's client profile
    /// ([`crate::workload::WorkloadSpec::client_profile`]).
    pub fn open_clients(
        &self,
        concurrency: usize,
        profile: Option<&str>,
    ) -> Result<Vec<Box<dyn Client>>> {
        let options = RaftkvOptions {
            profile: profile.map(str::to_owned),
            ..RaftkvOptions::default()
        };
        let factory =
            RaftkvFactory::new(&self.nodes, options).context("setting up the raftkv client")?;
        (0..concurrency)
            .map(|i| {
                let node = &self.nodes[i % self.nodes.len()];
                factory
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

    /// Heals everything and stops every node; called on every exit path.
    pub async fn teardown(&mut self) -> Result<()> {
        let healed = self.heal_all().await;
        self.cluster.stop();
        healed
    }
}

/// The fault backend behind a mutex, so teardown can heal while the nemesis task holds it.
struct SharedNemesis(Arc<Mutex<LocalNemesis>>);

#[async_trait::async_trait]
impl FaultRunner for SharedNemesis {
    async fn run(&mut self, op: &GenOp) -> Result<Value, String> {
        let mut nemesis = self.0.lock().await;
        nemesis.invoke(op).await.map_err(|e| e.to_string())
    }
}
