//! The system under test as the runner sees it while a test runs: what
//! [`crate::target::Target::start`] returned (nodes, a client factory, the nemesis, the
//! cluster faultline started), with the nemesis shared between the nemesis task and the
//! teardown, which heals and stops everything on every path.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tokio::sync::Mutex;

use super::config::Resolved;
use super::interpreter::FaultRunner;
use super::store::{RunDir, RunLog};
use crate::client::{Client, ClientFactory, NodeInfo};
use crate::cluster::LocalCluster;
use crate::generator::GenOp;
use crate::journal::JOURNAL_FILE;
use crate::nemesis::Nemesis;
use crate::net::netns::new_run_id;
use crate::rundir::NetworkRecord;
use crate::target::{OwnProcesses, StartContext};

/// A running system: its clients' factory, its nemesis and what to stop at the end.
pub struct System {
    nodes: Vec<NodeInfo>,
    factory: Box<dyn ClientFactory>,
    nemesis: Arc<Mutex<Nemesis>>,
    cluster: Option<LocalCluster>,
    running: Option<Arc<dyn OwnProcesses>>,
}

impl System {
    /// Starts (or checks) the target the config names, inside the run directory.
    pub async fn start(resolved: &Resolved, run: &RunDir, log: &Arc<RunLog>) -> Result<System> {
        let config = &resolved.config;
        let line_log = Arc::clone(log);
        let ctx = StartContext {
            dir: &run.path,
            journal: run.file(JOURNAL_FILE),
            log: Arc::new(move |line: &str| line_log.line(line)),
            seed: config.seed,
            run_id: new_run_id(),
            workload: &resolved.workload,
            nemesis: &resolved.nemesis,
        };
        let started = config
            .target
            .start(&config.nodes, resolved.client.as_ref(), &ctx)
            .await?;
        Ok(System {
            nodes: started.nodes,
            factory: started.factory,
            nemesis: Arc::new(Mutex::new(started.nemesis)),
            cluster: started.cluster,
            running: started.running,
        })
    }

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

    /// The message network's counts, for `results.json` (`--target maelstrom` only).
    pub fn network(&self) -> Option<NetworkRecord> {
        self.running.as_ref().and_then(|r| r.network())
    }

    /// The nemesis task's handle on the nemesis.
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
        if let Some(running) = &self.running {
            let left = running.stop();
            if !left.is_empty() {
                bail!("could not stop every node: {}", left.join("; "));
            }
        }
        if let Some(cluster) = &self.cluster {
            let left = cluster.stop();
            if !left.is_empty() {
                bail!(
                    "could not remove all of the private network: {}",
                    left.join("; ")
                );
            }
        }
        healed
    }
}

/// The nemesis behind a mutex, so teardown can heal while the nemesis task holds it.
struct SharedNemesis(Arc<Mutex<Nemesis>>);

#[async_trait::async_trait]
impl FaultRunner for SharedNemesis {
    async fn run(&mut self, op: &GenOp) -> Result<Value, String> {
        let mut nemesis = self.0.lock().await;
        nemesis.invoke(op).await.map_err(|e| e.to_string())
    }
}
