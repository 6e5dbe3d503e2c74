//! The fault backend for a [`LocalCluster`]: partitions, delay and loss through the proxy
//! mesh; kill -9 / restart and pause / resume through the processes. Every fault is journaled
//! before it is applied and marked healed after; dropping the backend heals the network and
//! resumes paused nodes (the last, best-effort net — `heal_all` is the real one).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::fault::{FaultKind, FaultOp, NodeChoice, PartitionMode};
use super::journal::Journal;
use super::partition::{complete_grudge, one_way_grudge, split_one, Grudge};
use super::{Nemesis, NemesisError};
use crate::cluster::LocalCluster;
use crate::generator::GenOp;

/// Applies nemesis ops to a local cluster.
pub struct LocalNemesis {
    cluster: LocalCluster,
    journal: Journal,
    /// Journal entries applied and not yet healed: (seq, kind, nodes).
    open: Vec<(u64, FaultKind, Vec<String>)>,
}

impl LocalNemesis {
    /// A backend for `cluster`, journaling to `journal` (normally
    /// `<run>/faults.journal`, [`super::journal::JOURNAL_FILE`]).
    /// Takes a [`LocalCluster`] handle (or an `Arc` of one).
    pub fn new(
        cluster: impl Into<LocalCluster>,
        journal: &Path,
    ) -> Result<LocalNemesis, NemesisError> {
        let cluster = cluster.into();
        let journal = Journal::open(journal).map_err(|e| NemesisError::Journal {
            path: journal.to_path_buf(),
            source: e,
        })?;
        Ok(LocalNemesis {
            cluster,
            journal,
            open: Vec::new(),
        })
    }

    /// The cluster it acts on.
    pub fn cluster(&self) -> &LocalCluster {
        &self.cluster
    }

    fn journal_err(&self, e: std::io::Error) -> NemesisError {
        NemesisError::Journal {
            path: self.journal.path().to_path_buf(),
            source: e,
        }
    }

    fn applying(
        &mut self,
        kind: FaultKind,
        nodes: &[String],
        detail: Value,
    ) -> Result<(), NemesisError> {
        let seq = self
            .journal
            .applying(kind.name(), nodes, detail)
            .map_err(|e| self.journal_err(e))?;
        self.open.push((seq, kind, nodes.to_vec()));
        Ok(())
    }

    fn healed(&mut self, kind: FaultKind) -> Result<(), NemesisError> {
        let (done, keep): (Vec<_>, Vec<_>) = self.open.drain(..).partition(|(_, k, _)| *k == kind);
        self.open = keep;
        for (seq, kind, nodes) in done {
            self.journal
                .healed(seq, kind.name(), &nodes)
                .map_err(|e| self.journal_err(e))?;
        }
        Ok(())
    }

    fn mesh(&self) -> Result<&crate::nemesis::proxy::ProxyMesh, NemesisError> {
        self.cluster.mesh().ok_or(NemesisError::NoProxies)
    }

    async fn leader(&self) -> Result<String, NemesisError> {
        self.cluster.leader().await.ok_or(NemesisError::NoLeader)
    }

    async fn resolve(&self, choice: &NodeChoice) -> Result<Vec<String>, NemesisError> {
        let names = match choice {
            NodeChoice::Leader => vec![self.leader().await?],
            NodeChoice::Nodes(ns) => ns.clone(),
        };
        for n in &names {
            self.cluster.node(n)?;
        }
        Ok(names)
    }

    async fn apply(&mut self, op: FaultOp) -> Result<Value, NemesisError> {
        match op {
            FaultOp::StartPartition {
                mode,
                one_way,
                grudge,
            } => {
                self.mesh()?;
                let mut value = serde_json::Map::new();
                let grudge: Grudge = match grudge {
                    Some(g) => g,
                    None => {
                        debug_assert_eq!(mode, PartitionMode::Leader);
                        let leader = self.leader().await?;
                        value.insert("leader".into(), json!(leader));
                        let nodes = self.cluster.names();
                        if one_way {
                            one_way_grudge(&[leader], &nodes)
                        } else {
                            complete_grudge(&split_one(&nodes, &leader))
                        }
                    }
                };
                for (to, froms) in &grudge {
                    for n in std::iter::once(to).chain(froms) {
                        self.cluster.node(n)?;
                    }
                }
                // A new partition replaces the old one.
                self.healed(FaultKind::Partition)?;
                let touched: Vec<String> = grudge
                    .iter()
                    .flat_map(|(to, froms)| std::iter::once(to).chain(froms))
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                self.applying(FaultKind::Partition, &touched, json!({ "grudge": grudge }))?;
                self.mesh()?.partition(&grudge);
                value.insert("grudge".into(), json!(grudge));
                Ok(Value::Object(value))
            }
            FaultOp::StopPartition => {
                if let Some(mesh) = self.cluster.mesh() {
                    mesh.heal_partition();
                }
                self.healed(FaultKind::Partition)?;
                Ok(json!("network-healed"))
            }
            FaultOp::Kill(choice) => {
                let killed = self.cluster.killed();
                let names: Vec<String> = self
                    .resolve(&choice)
                    .await?
                    .into_iter()
                    .filter(|n| !killed.contains(n))
                    .collect();
                let mut pids = Vec::new();
                for n in &names {
                    pids.push(self.cluster.pid(n)?);
                }
                self.applying(FaultKind::Kill, &names, json!({ "pids": pids }))?;
                for n in &names {
                    self.cluster.kill(n)?;
                }
                Ok(json!(names))
            }
            FaultOp::Start => {
                let killed = self.cluster.killed();
                let mut first_err = None;
                let mut started = Vec::new();
                for n in &killed {
                    match self.cluster.restart(n).await {
                        Ok(()) => started.push(n.clone()),
                        Err(e) => {
                            first_err.get_or_insert(e);
                        }
                    }
                }
                if let Some(e) = first_err {
                    return Err(e.into());
                }
                self.healed(FaultKind::Kill)?;
                Ok(json!(started))
            }
            FaultOp::Pause(choice) => {
                let (killed, paused) = (self.cluster.killed(), self.cluster.paused());
                let names: Vec<String> = self
                    .resolve(&choice)
                    .await?
                    .into_iter()
                    .filter(|n| !killed.contains(n) && !paused.contains(n))
                    .collect();
                let mut pids = Vec::new();
                for n in &names {
                    pids.push(self.cluster.pid(n)?);
                }
                self.applying(FaultKind::Pause, &names, json!({ "pids": pids }))?;
                for n in &names {
                    self.cluster.pause(n)?;
                }
                Ok(json!(names))
            }
            FaultOp::Resume => {
                let paused = self.cluster.paused();
                for n in &paused {
                    self.cluster.resume(n)?;
                }
                self.healed(FaultKind::Pause)?;
                Ok(json!(paused))
            }
            FaultOp::StartDelay { ms, nodes } => {
                self.mesh()?;
                let touched = nodes.clone().unwrap_or_else(|| self.cluster.names());
                self.healed(FaultKind::Delay)?;
                self.applying(FaultKind::Delay, &touched, json!({ "ms": ms }))?;
                let mesh = self.mesh()?;
                mesh.set_delay(Duration::ZERO, None);
                mesh.set_delay(Duration::from_millis(ms), nodes.as_deref());
                Ok(json!({ "ms": ms, "nodes": touched }))
            }
            FaultOp::StopDelay => {
                if let Some(mesh) = self.cluster.mesh() {
                    mesh.set_delay(Duration::ZERO, None);
                }
                self.healed(FaultKind::Delay)?;
                Ok(json!("delay-removed"))
            }
            FaultOp::StartDrop { probability, nodes } => {
                self.mesh()?;
                let touched = nodes.clone().unwrap_or_else(|| self.cluster.names());
                self.healed(FaultKind::Drop)?;
                self.applying(
                    FaultKind::Drop,
                    &touched,
                    json!({ "probability": probability }),
                )?;
                let mesh = self.mesh()?;
                mesh.set_loss(0.0, None);
                mesh.set_loss(probability, nodes.as_deref());
                Ok(json!({ "probability": probability, "nodes": touched }))
            }
            FaultOp::StopDrop => {
                if let Some(mesh) = self.cluster.mesh() {
                    mesh.set_loss(0.0, None);
                }
                self.healed(FaultKind::Drop)?;
                Ok(json!("loss-removed"))
            }
        }
    }
}

#[async_trait::async_trait]
impl Nemesis for LocalNemesis {
    async fn invoke(&mut self, op: &GenOp) -> Result<Value, NemesisError> {
        let op = FaultOp::parse(&op.f, &op.value)?;
        self.apply(op).await
    }

    async fn heal_all(&mut self) -> Result<(), NemesisError> {
        self.heal_everything().await.map(|_| ())
    }
}

impl LocalNemesis {
    /// Heals every fault family and returns what each stop op did (for logs).
    pub async fn heal_everything(&mut self) -> Result<Value, NemesisError> {
        // Network first, so resumed and restarted nodes come back to a whole network; every
        // step runs even if an earlier one failed, and the first error is reported.
        let mut done = serde_json::Map::new();
        let mut first_err = None;
        for kind in FaultKind::ALL {
            match self.apply(kind.stop_op()).await {
                Ok(v) => {
                    done.insert(kind.stop_op().f().to_string(), v);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(Value::Object(done)),
        }
    }
}

impl Drop for LocalNemesis {
    fn drop(&mut self) {
        if let Some(mesh) = self.cluster.mesh() {
            mesh.heal_all();
        }
        for n in self.cluster.paused() {
            let _ = self.cluster.resume(&n);
        }
    }
}
