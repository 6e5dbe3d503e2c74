//! The fault backend for a local etcd cluster ([`EtcdCluster`]): partitions and packet loss
//! as iptables rules inside the node namespaces ([`super::iptables`]), kill -9 / restart and
//! pause / resume through the processes. Same op vocabulary, journal and heal order as
//! [`super::local::LocalNemesis`]; link delay needs a userspace proxy and is refused here
//! (the config check rejects a schedule with delays before anything starts).

use std::path::Path;

use serde_json::{json, Value};

use super::dispatch::{self, grudge_nodes, partition_grudge, FaultBackend, FaultBook};
use super::fault::{FaultKind, FaultOp};
use super::iptables::{self, LOSS, PARTITION};
use super::NemesisError;
use crate::cluster::{ClusterError, EtcdCluster};

/// Applies nemesis ops to a local etcd cluster.
pub struct NetnsNemesis {
    cluster: EtcdCluster,
    book: FaultBook,
}

impl NetnsNemesis {
    /// A backend for `cluster`, journaling to `journal` (normally `<run>/faults.journal`).
    pub fn new(cluster: EtcdCluster, journal: &Path) -> Result<NetnsNemesis, NemesisError> {
        Ok(NetnsNemesis {
            cluster,
            book: FaultBook::open(journal)?,
        })
    }

    /// Empties `chain` in every namespace; every node is tried, the first error returned.
    fn flush_everywhere(&self, chain: &str) -> Result<(), NemesisError> {
        let mut first = None;
        for n in self.cluster.names() {
            if let Err(e) = self.cluster.iptables(&n, &iptables::flush(chain)) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), |e| Err(e.into()))
    }

    fn install(&self, rules: Vec<(String, Vec<String>)>) -> Result<(), NemesisError> {
        for (node, rule) in rules {
            self.cluster.iptables(&node, &rule)?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl FaultBackend for NetnsNemesis {
    async fn apply(&mut self, op: FaultOp) -> Result<Value, NemesisError> {
        let ips = self.cluster.ips();
        let unknown = |e: iptables::UnknownNode| NemesisError::from(ClusterError::UnknownNode(e.0));
        match op {
            FaultOp::StartPartition {
                mode,
                one_way,
                grudge,
            } => {
                let names = self.cluster.names();
                let leader = dispatch::leader(&self.cluster);
                let (grudge, mut value) =
                    partition_grudge(grudge, mode, one_way, &names, leader).await?;
                let rules = iptables::partition_rules(&grudge, &ips).map_err(unknown)?;
                // A new partition replaces the old one.
                self.flush_everywhere(PARTITION)?;
                self.book.healed(FaultKind::Partition)?;
                let touched = grudge_nodes(&grudge);
                self.book
                    .applying(FaultKind::Partition, &touched, json!({ "grudge": grudge }))?;
                self.install(rules)?;
                value.insert("grudge".into(), json!(grudge));
                Ok(Value::Object(value))
            }
            FaultOp::StopPartition => {
                self.flush_everywhere(PARTITION)?;
                self.book.healed(FaultKind::Partition)?;
                Ok(json!("network-healed"))
            }
            FaultOp::StartDrop { probability, nodes } => {
                let rules =
                    iptables::loss_rules(probability, nodes.as_deref(), &ips).map_err(unknown)?;
                let touched = nodes.clone().unwrap_or_else(|| self.cluster.names());
                self.flush_everywhere(LOSS)?;
                self.book.healed(FaultKind::Drop)?;
                self.book.applying(
                    FaultKind::Drop,
                    &touched,
                    json!({ "probability": probability }),
                )?;
                self.install(rules)?;
                Ok(json!({ "probability": probability, "nodes": touched }))
            }
            FaultOp::StopDrop => {
                self.flush_everywhere(LOSS)?;
                self.book.healed(FaultKind::Drop)?;
                Ok(json!("loss-removed"))
            }
            FaultOp::StartDelay { .. } => Err(NemesisError::Unsupported(
                "link delay on a namespace cluster (it needs a userspace proxy)".into(),
            )),
            // Nothing to undo: delay is never applied here.
            FaultOp::StopDelay => Ok(json!("delay-removed")),
            FaultOp::Kill(choice) => dispatch::kill(&self.cluster, &mut self.book, &choice).await,
            FaultOp::Start => dispatch::start(&self.cluster, &mut self.book).await,
            FaultOp::Pause(choice) => dispatch::pause(&self.cluster, &mut self.book, &choice).await,
            FaultOp::Resume => dispatch::resume(&self.cluster, &mut self.book).await,
        }
    }
}

impl Drop for NetnsNemesis {
    fn drop(&mut self) {
        // Best effort: paused nodes resumed; the rules go with the namespaces when the
        // cluster stops.
        for n in self.cluster.paused() {
            let _ = self.cluster.resume(&n);
        }
    }
}
