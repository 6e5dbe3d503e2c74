//! The one nemesis: it decodes a fault op, resolves what it needs (the leader, the grudge of
//! a leader partition, which nodes are still up), journals the fault, and hands it to the
//! backend for its family — a [`NetworkFaults`] for partitions, delay and loss, a
//! [`ProcessControl`] for kills and pauses. Every backend gets the same journal records
//! (both sides of every partition), the same "replace the old partition" rule and the same
//! heal order, because none of that is in a backend.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::backend::NetworkFaults;
use super::fault::{FaultKind, FaultOp, NodeChoice, PartitionMode};
use super::partition::{complete_grudge, one_way_grudge, split_one, Grudge};
use super::NemesisError;
use crate::generator::GenOp;
use crate::journal::Journal;
use crate::net::grudge_nodes;
use crate::node_control::{LeaderProbe, ProcessControl};

/// The fault journal and the entries applied and not yet healed, so a heal marks exactly the
/// faults of its family healed.
pub(crate) struct FaultBook {
    journal: Journal,
    /// Journal entries applied and not yet healed: (seq, kind, nodes).
    open: Vec<(u64, FaultKind, Vec<String>)>,
}

impl FaultBook {
    /// Opens (appends to) the journal at `path` (normally `<run>/faults.journal`).
    pub(crate) fn open(path: &Path) -> Result<FaultBook, NemesisError> {
        let journal = Journal::open(path).map_err(|source| NemesisError::Journal {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(FaultBook {
            journal,
            open: Vec::new(),
        })
    }

    fn journal_err(&self, source: std::io::Error) -> NemesisError {
        NemesisError::Journal {
            path: self.journal.path().to_path_buf(),
            source,
        }
    }

    /// Journals a fault of `kind` on `nodes` before it is applied.
    pub(crate) fn applying(
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

    /// Journals every open fault of `kind` as healed.
    pub(crate) fn healed(&mut self, kind: FaultKind) -> Result<(), NemesisError> {
        let (done, keep): (Vec<_>, Vec<_>) = self.open.drain(..).partition(|(_, k, _)| *k == kind);
        self.open = keep;
        for (seq, kind, nodes) in done {
            self.journal
                .healed(seq, kind.name(), &nodes)
                .map_err(|e| self.journal_err(e))?;
        }
        Ok(())
    }
}

/// The grudge of a `start-partition` op and the start of its recorded value: the op's own
/// grudge, or (mode `leader`, the only one without) one isolating the node `leader` names
/// from the rest of `nodes` (one-way: only what it sends is lost), recorded as
/// `{"leader": name}`. `leader` is awaited only then.
pub(crate) async fn partition_grudge(
    grudge: Option<Grudge>,
    mode: PartitionMode,
    one_way: bool,
    nodes: &[String],
    leader: impl Future<Output = Result<String, NemesisError>>,
) -> Result<(Grudge, Map<String, Value>), NemesisError> {
    let mut value = Map::new();
    let grudge = match grudge {
        Some(g) => g,
        None => {
            debug_assert_eq!(mode, PartitionMode::Leader);
            let leader = leader.await?;
            value.insert("leader".into(), json!(leader));
            if one_way {
                one_way_grudge(&[leader], nodes)
            } else {
                complete_grudge(&split_one(nodes, &leader))
            }
        }
    };
    Ok((grudge, value))
}

/// Applies nemesis ops to a cluster through its backends, journaling each fault before it is
/// applied and marking it healed after. Dropping it heals what can be healed without waiting
/// (the network, paused nodes): the last, best-effort net — [`Nemesis::heal_all`] is the
/// real one.
pub struct Nemesis {
    nodes: Vec<String>,
    network: Box<dyn NetworkFaults>,
    processes: Arc<dyn ProcessControl>,
    leader: Arc<dyn LeaderProbe>,
    book: FaultBook,
    killed: BTreeSet<String>,
    paused: BTreeSet<String>,
}

impl Nemesis {
    /// A nemesis for the cluster of `nodes`: network faults through `network`, process faults
    /// through `processes`, "the leader" from `leader`, journaling to `journal` (normally
    /// `<run>/faults.journal`, [`crate::journal::JOURNAL_FILE`]).
    pub fn new(
        nodes: Vec<String>,
        network: Box<dyn NetworkFaults>,
        processes: Arc<dyn ProcessControl>,
        leader: Arc<dyn LeaderProbe>,
        journal: &Path,
    ) -> Result<Nemesis, NemesisError> {
        Ok(Nemesis {
            nodes,
            network,
            processes,
            leader,
            book: FaultBook::open(journal)?,
            killed: BTreeSet::new(),
            paused: BTreeSet::new(),
        })
    }

    /// The nodes it acts on.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// Nodes it killed and has not restarted yet.
    pub fn killed(&self) -> Vec<String> {
        self.killed.iter().cloned().collect()
    }

    /// Nodes it paused and has not resumed yet.
    pub fn paused(&self) -> Vec<String> {
        self.paused.iter().cloned().collect()
    }

    /// Applies or heals the fault op `op.f` (with its `value`, see [`super::fault`]) and
    /// returns what was done, for the history: e.g. `{"grudge": {...}}` or `["n2"]`.
    pub async fn invoke(&mut self, op: &GenOp) -> Result<Value, NemesisError> {
        let op = FaultOp::parse(&op.f, &op.value)?;
        self.apply(op).await
    }

    /// Heals every fault: reconnects all links, clears delay and loss, resumes paused nodes,
    /// restarts killed ones, network first (so resumed and restarted nodes come back to a
    /// whole network). Call it before the run (start clean), in the final heal phase and in
    /// teardown on every path. Every step runs even if one fails; the first error is returned.
    pub async fn heal_all(&mut self) -> Result<(), NemesisError> {
        self.heal_everything().await.map(|_| ())
    }

    /// [`Nemesis::heal_all`], returning what each stop op did, by op name (for logs).
    pub async fn heal_everything(&mut self) -> Result<Value, NemesisError> {
        let mut done = Map::new();
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

    fn check_known<'a>(
        &self,
        names: impl IntoIterator<Item = &'a String>,
    ) -> Result<(), NemesisError> {
        match names.into_iter().find(|n| !self.nodes.contains(n)) {
            Some(bad) => Err(NemesisError::UnknownNode(bad.clone())),
            None => Ok(()),
        }
    }

    async fn leader(&self) -> Result<String, NemesisError> {
        self.leader.leader().await.ok_or(NemesisError::NoLeader)
    }

    /// The nodes `choice` names, each checked to be one of the cluster's.
    async fn resolve(&self, choice: &NodeChoice) -> Result<Vec<String>, NemesisError> {
        let names = match choice {
            NodeChoice::Leader => vec![self.leader().await?],
            NodeChoice::Nodes(ns) => ns.clone(),
        };
        self.check_known(&names)?;
        Ok(names)
    }

    /// Applies or heals one decoded op.
    pub async fn apply(&mut self, op: FaultOp) -> Result<Value, NemesisError> {
        match op {
            FaultOp::StartPartition {
                mode,
                one_way,
                grudge,
            } => {
                let (grudge, mut value) =
                    partition_grudge(grudge, mode, one_way, &self.nodes, self.leader()).await?;
                let touched = grudge_nodes(&grudge);
                self.check_known(&touched)?;
                // A new partition replaces the old one.
                self.network.heal_partition().await?;
                self.book.healed(FaultKind::Partition)?;
                self.book
                    .applying(FaultKind::Partition, &touched, json!({ "grudge": grudge }))?;
                self.network.partition(&grudge).await?;
                value.insert("grudge".into(), json!(grudge));
                Ok(Value::Object(value))
            }
            FaultOp::StopPartition => {
                self.network.heal_partition().await?;
                self.book.healed(FaultKind::Partition)?;
                Ok(json!("network-healed"))
            }
            FaultOp::StartDelay { ms, nodes } => {
                let touched = self.links_of(nodes.as_deref())?;
                self.network.heal_delay().await?;
                self.book.healed(FaultKind::Delay)?;
                self.book
                    .applying(FaultKind::Delay, &touched, json!({ "ms": ms }))?;
                self.network.delay(ms, nodes.as_deref()).await?;
                Ok(json!({ "ms": ms, "nodes": touched }))
            }
            FaultOp::StopDelay => {
                self.network.heal_delay().await?;
                self.book.healed(FaultKind::Delay)?;
                Ok(json!("delay-removed"))
            }
            FaultOp::StartDrop { probability, nodes } => {
                let touched = self.links_of(nodes.as_deref())?;
                self.network.heal_loss().await?;
                self.book.healed(FaultKind::Drop)?;
                self.book.applying(
                    FaultKind::Drop,
                    &touched,
                    json!({ "probability": probability }),
                )?;
                self.network.loss(probability, nodes.as_deref()).await?;
                Ok(json!({ "probability": probability, "nodes": touched }))
            }
            FaultOp::StopDrop => {
                self.network.heal_loss().await?;
                self.book.healed(FaultKind::Drop)?;
                Ok(json!("loss-removed"))
            }
            FaultOp::Kill(choice) => self.hit(FaultKind::Kill, &choice).await,
            FaultOp::Start => self.undo(FaultKind::Kill).await,
            FaultOp::Pause(choice) => self.hit(FaultKind::Pause, &choice).await,
            FaultOp::Resume => self.undo(FaultKind::Pause).await,
        }
    }

    /// The nodes whose links a delay or loss touches (every node when `None`), checked.
    fn links_of(&self, nodes: Option<&[String]>) -> Result<Vec<String>, NemesisError> {
        match nodes {
            Some(ns) => {
                self.check_known(ns)?;
                Ok(ns.to_vec())
            }
            None => Ok(self.nodes.clone()),
        }
    }

    fn pids(&self, names: &[String]) -> Value {
        json!({ "pids": names.iter().map(|n| self.processes.pid(n)).collect::<Vec<_>>() })
    }

    /// `kill` / `pause`: kill -9 or SIGSTOP the chosen nodes not already so (journaled with
    /// their pids); the value is the nodes hit. A node counts as hit even when the signal or
    /// command failed: it may have half-worked, and healing a healthy node is harmless.
    async fn hit(&mut self, kind: FaultKind, choice: &NodeChoice) -> Result<Value, NemesisError> {
        let names: Vec<String> = self
            .resolve(choice)
            .await?
            .into_iter()
            // A paused node can still be killed; a killed one is neither killed nor paused.
            .filter(|n| {
                !self.killed.contains(n) && (kind == FaultKind::Kill || !self.paused.contains(n))
            })
            .collect();
        self.book.applying(kind, &names, self.pids(&names))?;
        let mut first = None;
        for n in &names {
            let done = if kind == FaultKind::Kill {
                self.killed.insert(n.clone());
                // SIGKILL also ends a stopped process: it is no longer paused.
                self.paused.remove(n);
                self.processes.kill(n).await
            } else {
                self.paused.insert(n.clone());
                self.processes.pause(n).await
            };
            if let Err(e) = done {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e.into()),
            None => Ok(json!(names)),
        }
    }

    /// `start` / `resume`: restart every killed node or SIGCONT every paused one; the value
    /// is the nodes healed. The fault is healed once every one of them is back.
    async fn undo(&mut self, kind: FaultKind) -> Result<Value, NemesisError> {
        let hit = if kind == FaultKind::Kill {
            self.killed.clone()
        } else {
            self.paused.clone()
        };
        let mut first = None;
        let mut healed = Vec::new();
        for n in hit {
            let done = if kind == FaultKind::Kill {
                self.processes.restart(&n).await
            } else {
                self.processes.resume(&n).await
            };
            match done {
                Ok(()) => {
                    self.killed.remove(&n);
                    self.paused.remove(&n);
                    healed.push(n);
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first {
            return Err(e.into());
        }
        self.book.healed(kind)?;
        Ok(json!(healed))
    }
}

impl Drop for Nemesis {
    fn drop(&mut self) {
        self.network.heal_now();
        for n in &self.paused {
            self.processes.resume_now(n);
        }
    }
}
