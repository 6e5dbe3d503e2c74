//! The fault backend for a local etcd cluster ([`EtcdCluster`]): partitions and packet loss
//! as iptables rules inside the node namespaces ([`super::iptables`]), kill -9 / restart and
//! pause / resume through the processes. Same op vocabulary, journal and heal order as
//! [`super::local::LocalNemesis`]; link delay needs a userspace proxy and is refused here
//! (the config check rejects a schedule with delays before anything starts).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};

use super::fault::{FaultKind, FaultOp, NodeChoice, PartitionMode};
use super::iptables::{self, LOSS, PARTITION};
use super::journal::Journal;
use super::partition::{complete_grudge, one_way_grudge, split_one, Grudge};
use super::{Nemesis, NemesisError};
use crate::cluster::{ClusterError, EtcdCluster};
use crate::generator::GenOp;

/// Applies nemesis ops to a local etcd cluster.
pub struct NetnsNemesis {
    cluster: EtcdCluster,
    journal: Journal,
    /// Journal entries applied and not yet healed: (seq, kind, nodes).
    open: Vec<(u64, FaultKind, Vec<String>)>,
}

impl NetnsNemesis {
    /// A backend for `cluster`, journaling to `journal` (normally `<run>/faults.journal`).
    pub fn new(cluster: EtcdCluster, journal: &Path) -> Result<NetnsNemesis, NemesisError> {
        let journal = Journal::open(journal).map_err(|e| NemesisError::Journal {
            path: journal.to_path_buf(),
            source: e,
        })?;
        Ok(NetnsNemesis {
            cluster,
            journal,
            open: Vec::new(),
        })
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

    async fn leader(&self) -> Result<String, NemesisError> {
        self.cluster.leader().await.ok_or(NemesisError::NoLeader)
    }

    async fn resolve(&self, choice: &NodeChoice) -> Result<Vec<String>, NemesisError> {
        let names = match choice {
            NodeChoice::Leader => vec![self.leader().await?],
            NodeChoice::Nodes(ns) => ns.clone(),
        };
        let known = self.cluster.names();
        if let Some(bad) = names.iter().find(|n| !known.contains(n)) {
            return Err(ClusterError::UnknownNode(bad.clone()).into());
        }
        Ok(names)
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

    async fn apply(&mut self, op: FaultOp) -> Result<Value, NemesisError> {
        let ips = self.cluster.ips();
        let unknown = |e: iptables::UnknownNode| NemesisError::from(ClusterError::UnknownNode(e.0));
        match op {
            FaultOp::StartPartition {
                mode,
                one_way,
                grudge,
            } => {
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
                let rules = iptables::partition_rules(&grudge, &ips).map_err(unknown)?;
                // A new partition replaces the old one.
                self.flush_everywhere(PARTITION)?;
                self.healed(FaultKind::Partition)?;
                let touched: Vec<String> = grudge
                    .iter()
                    .flat_map(|(to, froms)| std::iter::once(to).chain(froms))
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                self.applying(FaultKind::Partition, &touched, json!({ "grudge": grudge }))?;
                self.install(rules)?;
                value.insert("grudge".into(), json!(grudge));
                Ok(Value::Object(value))
            }
            FaultOp::StopPartition => {
                self.flush_everywhere(PARTITION)?;
                self.healed(FaultKind::Partition)?;
                Ok(json!("network-healed"))
            }
            FaultOp::StartDrop { probability, nodes } => {
                let rules =
                    iptables::loss_rules(probability, nodes.as_deref(), &ips).map_err(unknown)?;
                let touched = nodes.clone().unwrap_or_else(|| self.cluster.names());
                self.flush_everywhere(LOSS)?;
                self.healed(FaultKind::Drop)?;
                self.applying(
                    FaultKind::Drop,
                    &touched,
                    json!({ "probability": probability }),
                )?;
                self.install(rules)?;
                Ok(json!({ "probability": probability, "nodes": touched }))
            }
            FaultOp::StopDrop => {
                self.flush_everywhere(LOSS)?;
                self.healed(FaultKind::Drop)?;
                Ok(json!("loss-removed"))
            }
            FaultOp::StartDelay { .. } => Err(NemesisError::Unsupported(
                "link delay on a namespace cluster (it needs a userspace proxy)".into(),
            )),
            // Nothing to undo: delay is never applied here.
            FaultOp::StopDelay => Ok(json!("delay-removed")),
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
                let mut first_err = None;
                let mut started = Vec::new();
                for n in self.cluster.killed() {
                    match self.cluster.restart(&n).await {
                        Ok(()) => started.push(n),
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
        }
    }
}

#[async_trait::async_trait]
impl Nemesis for NetnsNemesis {
    async fn invoke(&mut self, op: &GenOp) -> Result<Value, NemesisError> {
        let op = FaultOp::parse(&op.f, &op.value)?;
        self.apply(op).await
    }

    async fn heal_all(&mut self) -> Result<(), NemesisError> {
        // Network first, so resumed and restarted nodes come back to a whole network; every
        // step runs even if an earlier one failed.
        let mut first_err = None;
        for kind in FaultKind::ALL {
            if let Err(e) = self.apply(kind.stop_op()).await {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
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
