//! The fault backend for a [`LocalCluster`]: partitions, delay and loss through the proxy
//! mesh; kill -9 / restart and pause / resume through the processes. Every fault is journaled
//! before it is applied and marked healed after; dropping the backend heals the network and
//! resumes paused nodes (the last, best-effort net — `heal_all` is the real one).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::dispatch::{
    self, grudge_nodes, heal_every_kind, partition_grudge, FaultBackend, FaultBook,
};
use super::fault::{FaultKind, FaultOp};
use super::NemesisError;
use crate::cluster::LocalCluster;

/// Applies nemesis ops to a local cluster.
pub struct LocalNemesis {
    cluster: LocalCluster,
    book: FaultBook,
}

impl LocalNemesis {
    /// A backend for `cluster`, journaling to `journal` (normally
    /// `<run>/faults.journal`, [`super::journal::JOURNAL_FILE`]).
    /// Takes a [`LocalCluster`] handle (or an `Arc` of one).
    pub fn new(
        cluster: impl Into<LocalCluster>,
        journal: &Path,
    ) -> Result<LocalNemesis, NemesisError> {
        Ok(LocalNemesis {
            cluster: cluster.into(),
            book: FaultBook::open(journal)?,
        })
    }

    /// The cluster it acts on.
    pub fn cluster(&self) -> &LocalCluster {
        &self.cluster
    }

    fn mesh(&self) -> Result<&crate::nemesis::proxy::ProxyMesh, NemesisError> {
        self.cluster.mesh().ok_or(NemesisError::NoProxies)
    }

    /// Heals every fault family and returns what each stop op did (for logs).
    pub async fn heal_everything(&mut self) -> Result<Value, NemesisError> {
        heal_every_kind(self).await
    }
}

#[async_trait::async_trait]
impl FaultBackend for LocalNemesis {
    async fn apply(&mut self, op: FaultOp) -> Result<Value, NemesisError> {
        match op {
            FaultOp::StartPartition {
                mode,
                one_way,
                grudge,
            } => {
                self.mesh()?;
                let names = self.cluster.names();
                let leader = dispatch::leader(&self.cluster);
                let (grudge, mut value) =
                    partition_grudge(grudge, mode, one_way, &names, leader).await?;
                for (to, froms) in &grudge {
                    for n in std::iter::once(to).chain(froms) {
                        self.cluster.node(n)?;
                    }
                }
                // A new partition replaces the old one.
                self.book.healed(FaultKind::Partition)?;
                let touched = grudge_nodes(&grudge);
                self.book
                    .applying(FaultKind::Partition, &touched, json!({ "grudge": grudge }))?;
                self.mesh()?.partition(&grudge);
                value.insert("grudge".into(), json!(grudge));
                Ok(Value::Object(value))
            }
            FaultOp::StopPartition => {
                if let Some(mesh) = self.cluster.mesh() {
                    mesh.heal_partition();
                }
                self.book.healed(FaultKind::Partition)?;
                Ok(json!("network-healed"))
            }
            FaultOp::Kill(choice) => dispatch::kill(&self.cluster, &mut self.book, &choice).await,
            FaultOp::Start => dispatch::start(&self.cluster, &mut self.book).await,
            FaultOp::Pause(choice) => dispatch::pause(&self.cluster, &mut self.book, &choice).await,
            FaultOp::Resume => dispatch::resume(&self.cluster, &mut self.book).await,
            FaultOp::StartDelay { ms, nodes } => {
                self.mesh()?;
                let touched = nodes.clone().unwrap_or_else(|| self.cluster.names());
                self.book.healed(FaultKind::Delay)?;
                self.book
                    .applying(FaultKind::Delay, &touched, json!({ "ms": ms }))?;
                let mesh = self.mesh()?;
                mesh.set_delay(Duration::ZERO, None);
                mesh.set_delay(Duration::from_millis(ms), nodes.as_deref());
                Ok(json!({ "ms": ms, "nodes": touched }))
            }
            FaultOp::StopDelay => {
                if let Some(mesh) = self.cluster.mesh() {
                    mesh.set_delay(Duration::ZERO, None);
                }
                self.book.healed(FaultKind::Delay)?;
                Ok(json!("delay-removed"))
            }
            FaultOp::StartDrop { probability, nodes } => {
                self.mesh()?;
                let touched = nodes.clone().unwrap_or_else(|| self.cluster.names());
                self.book.healed(FaultKind::Drop)?;
                self.book.applying(
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
                self.book.healed(FaultKind::Drop)?;
                Ok(json!("loss-removed"))
            }
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
