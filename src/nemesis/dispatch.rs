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

use super::backend::{ClockFaults, FileFaults, NetworkFaults, PowerFaults};
use super::clock::ClockFault;
use super::corruption::{node_seed, CorruptMode};
use super::fault::{FaultKind, FaultOp, NodeChoice, PartitionMode};
use super::partition::{complete_grudge, majority, one_way_grudge, split_one, Grudge};
use super::NemesisError;
use crate::generator::GenOp;
use crate::journal::Journal;
use crate::net::grudge_nodes;
use crate::node_control::{DataFiles, FoundLeader, LeaderProbe, ProcessControl};

/// The fault journal and the entries applied and not yet healed, so a heal marks exactly the
/// faults of its family healed.
pub(crate) struct FaultBook {
    journal: Journal,
    /// Journal entries applied and not yet healed: (seq, kind, nodes).
    open: Vec<(u64, FaultKind, Vec<String>)>,
    /// Each node's host, when nodes live on remote hosts (journaled with every fault).
    hosts: std::collections::BTreeMap<String, String>,
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
            hosts: std::collections::BTreeMap::new(),
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
        mut detail: Value,
    ) -> Result<(), NemesisError> {
        if let (false, Some(map)) = (self.hosts.is_empty(), detail.as_object_mut()) {
            let hosts: Map<String, Value> = nodes
                .iter()
                .filter_map(|n| self.hosts.get(n).map(|h| (n.clone(), json!(h))))
                .collect();
            map.insert("hosts".into(), Value::Object(hosts));
        }
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
/// `{"leader": name}` (and `"leader_by"`, how the probe found it, when it says). `leader`
/// is awaited only then.
pub(crate) async fn partition_grudge(
    grudge: Option<Grudge>,
    mode: PartitionMode,
    one_way: bool,
    nodes: &[String],
    leader: impl Future<Output = Result<FoundLeader, NemesisError>>,
) -> Result<(Grudge, Map<String, Value>), NemesisError> {
    let mut value = Map::new();
    let grudge = match grudge {
        Some(g) => g,
        None => {
            debug_assert_eq!(mode, PartitionMode::Leader);
            let FoundLeader { node: leader, how } = leader.await?;
            value.insert("leader".into(), json!(leader));
            if let Some(how) = how {
                value.insert("leader_by".into(), json!(how));
            }
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
    /// File faults, when the cluster can list its nodes' data files.
    files: Option<FileFaults>,
    /// Nodes `corrupt-file` took down and `restart-corrupted` has not restarted yet.
    corrupted: BTreeSet<String>,
    /// Nodes that did not start again after their files were damaged: down for good (an
    /// availability event), never faulted again.
    damaged: BTreeSet<String>,
    /// Clock faults, when the cluster runs its nodes under libfaketime.
    clocks: Option<ClockFaults>,
    /// Power-loss faults, when the cluster's data directories sit on power-loss mounts.
    power: Option<PowerFaults>,
    /// Nodes `power-loss` took down and `power-on` has not restarted yet.
    powered_off: BTreeSet<String>,
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
            files: None,
            corrupted: BTreeSet::new(),
            damaged: BTreeSet::new(),
            clocks: None,
            power: None,
            powered_off: BTreeSet::new(),
        })
    }

    /// The same nemesis, able to cut the power of nodes whose data directories `power`
    /// mounts (a local cluster started with power-loss mounts).
    pub fn with_power(mut self, power: PowerFaults) -> Nemesis {
        self.power = Some(power);
        self
    }

    /// The same nemesis, able to skew its nodes' clocks through `clocks` (a local cluster
    /// started under libfaketime).
    pub fn with_clocks(mut self, clocks: ClockFaults) -> Nemesis {
        self.clocks = Some(clocks);
        self
    }

    /// The same nemesis, able to damage the data files `files` lists (a local cluster's).
    pub fn with_files(mut self, files: Arc<dyn DataFiles>) -> Nemesis {
        self.files = Some(FileFaults::new(files));
        self
    }

    /// The same nemesis, journaling each fault with the hosts of the nodes it touches
    /// (`detail.hosts`: node → host), for a cluster on remote hosts.
    pub fn with_hosts(mut self, hosts: std::collections::BTreeMap<String, String>) -> Nemesis {
        self.book.hosts = hosts;
        self
    }

    /// Nodes that did not start again after their files were damaged.
    pub fn damaged(&self) -> Vec<String> {
        self.damaged.iter().cloned().collect()
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

    async fn leader(&self) -> Result<FoundLeader, NemesisError> {
        self.leader.find().await.map_err(NemesisError::NoLeader)
    }

    /// The nodes `choice` names, each checked to be one of the cluster's.
    async fn resolve(&self, choice: &NodeChoice) -> Result<Vec<String>, NemesisError> {
        let names = match choice {
            NodeChoice::Leader => vec![self.leader().await?.node],
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
            FaultOp::CorruptFile { mode, nodes, seed } => self.corrupt(mode, &nodes, seed).await,
            FaultOp::RestartCorrupted => self.restart_corrupted().await,
            FaultOp::Clock { fault, nodes } => self.skew(fault, &nodes).await,
            FaultOp::PowerLoss(nodes) => self.power_loss(&nodes).await,
            FaultOp::PowerOn => self.power_on().await,
            FaultOp::ClockReset => {
                let Some(clocks) = self.clocks.as_mut() else {
                    return Ok(json!({ "reset": [] }));
                };
                let reset = clocks.reset().await;
                self.book.healed(FaultKind::Clock)?;
                Ok(json!({ "reset": reset? }))
            }
        }
    }

    /// `clock-bump` / `clock-strobe` / `clock-rate`: journals the fault with its parameters
    /// and each chosen node's process id, then rewrites the nodes' clock control files (a
    /// node that is down gets the skewed clock when it starts again).
    async fn skew(
        &mut self,
        fault: ClockFault,
        choice: &NodeChoice,
    ) -> Result<Value, NemesisError> {
        if self.clocks.is_none() {
            return Err(super::backend::unsupported(FaultKind::Clock));
        }
        let names = self.resolve(choice).await?;
        let op = FaultOp::Clock {
            fault,
            nodes: NodeChoice::Nodes(names.clone()),
        };
        let mut detail = op.value();
        detail["pids"] = json!(names
            .iter()
            .map(|n| self.processes.pid(n))
            .collect::<Vec<_>>());
        self.book.applying(FaultKind::Clock, &names, detail)?;
        let mut clocks_now = Vec::new();
        for n in &names {
            let pid = self.processes.pid(n);
            let clocks = self.clocks.as_mut().expect("checked above");
            let uptime = clocks.uptime_ms(n, pid);
            clocks_now.push(clocks.apply(n, fault, uptime).await?);
        }
        let mut value = op.value();
        value["clocks"] = json!(clocks_now);
        Ok(value)
    }

    /// `corrupt-file`: kill -9 each chosen node (if running), damage one of its data files
    /// as the seeded plan says, and leave it down. At most a minority of the cluster is ever
    /// down for corruption or damaged for good: victims past that are skipped (and said so),
    /// so a correct system that refuses to start on corrupt files keeps its quorum.
    async fn corrupt(
        &mut self,
        mode: CorruptMode,
        choice: &NodeChoice,
        seed: u64,
    ) -> Result<Value, NemesisError> {
        if self.files.is_none() {
            return Err(super::backend::unsupported(FaultKind::FileCorruption));
        }
        let chosen = self.resolve(choice).await?;
        let cap = self.nodes.len() - majority(self.nodes.len());
        let mut room = cap.saturating_sub(self.damaged.len() + self.corrupted.len());
        let mut victims = Vec::new();
        let mut skipped = Vec::new();
        for n in chosen {
            if room == 0 || self.held_down(&n) {
                skipped.push(n);
            } else {
                room -= 1;
                victims.push(n);
            }
        }
        let mut damage = Vec::new();
        for n in &victims {
            let index = self.nodes.iter().position(|x| x == n).unwrap_or(0);
            self.book.applying(
                FaultKind::FileCorruption,
                std::slice::from_ref(n),
                json!({ "mode": mode.name(), "seed": seed, "pids": [self.processes.pid(n)] }),
            )?;
            // Down first: nothing may write the files while they are damaged. A node the
            // kill family had down, or paused, is now this family's.
            self.corrupted.insert(n.clone());
            self.killed.remove(n);
            self.paused.remove(n);
            self.processes.kill(n).await?;
            let files = self.files.as_mut().expect("checked above");
            let planned = files.plan(n, mode, node_seed(seed, index))?;
            let Some(d) = planned else {
                damage.push(
                    json!({ "node": n, "action": "none", "why": "no data file holds a byte" }),
                );
                continue;
            };
            let mut record = serde_json::to_value(&d).unwrap_or(Value::Null);
            if let Some(obj) = record.as_object_mut() {
                obj.insert("node".into(), json!(n));
            }
            self.book.applying(
                FaultKind::FileCorruption,
                std::slice::from_ref(n),
                record.clone(),
            )?;
            files.apply(n, &d)?;
            damage.push(record);
        }
        let mut value = json!({ "nodes": victims, "damage": damage });
        if !skipped.is_empty() {
            value["skipped"] = json!(skipped);
            value["why"] = json!(format!(
                "at most {cap} node(s) may be down for corruption at once (a minority), counting those that refused to start"
            ));
        }
        Ok(value)
    }

    /// `restart-corrupted`: start every node `corrupt-file` took down. One that does not
    /// come back (a correct system refusing corrupt files, or a crash) stays down for the
    /// rest of the run and is recorded under `"refused"` with why: an availability event,
    /// not a failed fault.
    async fn restart_corrupted(&mut self) -> Result<Value, NemesisError> {
        let down = std::mem::take(&mut self.corrupted);
        self.restart_or_record(down, FaultKind::FileCorruption)
            .await
    }

    /// Starts each of `down` again and marks `family` healed. One that does not come back
    /// stays down for the rest of the run (damaged) and is recorded under `"refused"` with
    /// why: an availability event, not a failed fault.
    async fn restart_or_record(
        &mut self,
        down: impl IntoIterator<Item = String>,
        family: FaultKind,
    ) -> Result<Value, NemesisError> {
        let mut restarted = Vec::new();
        let mut refused = Map::new();
        for n in down {
            match self.processes.restart(&n).await {
                Ok(()) => restarted.push(n),
                Err(e) => {
                    // Not running: stop whatever is left of it so it is not half-up.
                    let _ = self.processes.kill(&n).await;
                    refused.insert(n.clone(), json!(e.to_string()));
                    self.damaged.insert(n);
                }
            }
        }
        self.book.healed(family)?;
        let mut value = json!({ "restarted": restarted });
        if !refused.is_empty() {
            value["refused"] = Value::Object(refused);
        }
        Ok(value)
    }

    /// `power-loss`: kill -9 each chosen node (if running), then make its power-loss mount
    /// drop every write not yet durable, and leave it down. Journaled (with the pids) before
    /// anything is done; a node the kill family had down, or paused, is now this family's.
    async fn power_loss(&mut self, choice: &NodeChoice) -> Result<Value, NemesisError> {
        if self.power.is_none() {
            return Err(super::backend::unsupported(FaultKind::PowerLoss));
        }
        let names: Vec<String> = self
            .resolve(choice)
            .await?
            .into_iter()
            .filter(|n| !self.held_down(n))
            .collect();
        self.book
            .applying(FaultKind::PowerLoss, &names, self.pids(&names))?;
        let mut lost = Vec::new();
        for n in &names {
            self.powered_off.insert(n.clone());
            self.killed.remove(n);
            self.paused.remove(n);
            self.processes.kill(n).await?;
            let power = self.power.as_ref().expect("checked above");
            let mut record = power.lose_unsynced(n)?;
            if let Some(obj) = record.as_object_mut() {
                obj.insert("node".into(), json!(n));
            }
            lost.push(record);
        }
        Ok(json!({ "nodes": names, "lost": lost }))
    }

    /// `power-on`: start every node `power-loss` took down. One that does not come back
    /// stays down for the rest of the run and is recorded under `"refused"` with why (an
    /// availability event, as after file corruption).
    async fn power_on(&mut self) -> Result<Value, NemesisError> {
        let down = std::mem::take(&mut self.powered_off);
        self.restart_or_record(down, FaultKind::PowerLoss).await
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

    /// Whether `n` is down for a family that owns it until its own heal (file corruption,
    /// power loss) or for good (it refused to restart): no other fault may take it.
    fn held_down(&self, n: &str) -> bool {
        self.corrupted.contains(n) || self.powered_off.contains(n) || self.damaged.contains(n)
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
                !self.killed.contains(n)
                    && !self.held_down(n)
                    && (kind == FaultKind::Kill || !self.paused.contains(n))
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
        if let Some(clocks) = self.clocks.as_mut() {
            clocks.reset_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::JournalEntry;
    use crate::nemesis::backend::{CommandFaults, IptablesFaults, MeshFaults, NoFaults};
    use crate::net::{netns, ProxyMesh};
    use std::sync::Mutex;

    /// A leader probe that always names the same node.
    struct Fixed(&'static str);

    #[async_trait::async_trait]
    impl LeaderProbe for Fixed {
        async fn leader(&self) -> Option<String> {
            Some(self.0.to_owned())
        }
    }

    fn names() -> Vec<String> {
        ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect()
    }

    /// Isolates the leader (n1) one way through `network`, then heals; returns the journal's
    /// lines and what the op recorded.
    async fn one_way_leader_partition(
        network: Box<dyn NetworkFaults>,
    ) -> (Vec<JournalEntry>, Value) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("faults.journal");
        let mut nemesis = Nemesis::new(
            names(),
            network,
            Arc::new(NoFaults),
            Arc::new(Fixed("n1")),
            &path,
        )
        .expect("journal");
        let op = FaultOp::StartPartition {
            mode: PartitionMode::Leader,
            one_way: true,
            grudge: None,
        };
        let value = nemesis.apply(op).await.expect("partition applied");
        assert_eq!(Journal::open_faults(&path).expect("journal").len(), 1);
        nemesis.heal_all().await.expect("healed");
        assert!(Journal::open_faults(&path).expect("journal").is_empty());
        let text = std::fs::read_to_string(&path).expect("journal file");
        let lines = text
            .lines()
            .map(|l| serde_json::from_str::<JournalEntry>(l).expect("journal line"))
            .collect();
        (lines, value)
    }

    /// The apply line of a partition: its nodes and detail (times and seqs aside).
    fn applied(lines: &[JournalEntry]) -> (Vec<String>, Value) {
        let e = lines
            .iter()
            .find(|e| e.event == "apply")
            .expect("an apply line");
        assert_eq!(e.kind, "partition");
        (e.nodes.clone(), e.detail.clone())
    }

    #[tokio::test]
    async fn every_backend_journals_both_sides_of_a_partition_identically() {
        // The proxy mesh, over a sink that accepts and drops connections.
        let sink = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("sink");
        let target = sink.local_addr().expect("addr");
        let peers: Vec<_> = names().into_iter().map(|n| (n, target)).collect();
        let mesh = Arc::new(ProxyMesh::start(&peers, 1).await.expect("mesh"));
        let (mesh_lines, mesh_value) =
            one_way_leader_partition(Box::new(MeshFaults::new(Arc::clone(&mesh)))).await;
        assert!(mesh.cut().is_empty(), "healed");

        // iptables in namespaces, with the commands recorded instead of run.
        let plan = netns::plan("abc", &names(), &[]).expect("plan");
        let ran = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = Arc::clone(&ran);
        let iptables = IptablesFaults::with_runner(
            plan,
            Box::new(move |cmd: &[String]| {
                seen.lock().expect("lock").push(cmd.join(" "));
                Ok(())
            }),
        );
        let (ipt_lines, ipt_value) = one_way_leader_partition(Box::new(iptables)).await;
        let ran = ran.lock().expect("lock").clone();
        let drops = ran.iter().filter(|c| c.contains("-j DROP")).count();
        assert_eq!(drops, 2, "n2 and n3 drop what n1 sends: {ran:?}");

        // The user's commands (here: harmless `true`s), logged.
        let spec = crate::nemesis::NemesisSpec::from_toml(
            "[[fault]]\nkind = \"partition\"\n[commands]\npartition = \"true {node} {peers}\"\nheal = \"true {node}\"\n",
            "t.toml",
        )
        .expect("spec");
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let into = Arc::clone(&log);
        let nodes = crate::node_addr::parse_nodes(
            &["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"].map(String::from),
        )
        .expect("nodes");
        let commands = CommandFaults::new(
            nodes,
            spec.commands.expect("commands"),
            Arc::new(move |line: &str| into.lock().expect("lock").push(line.to_owned())),
        );
        let (cmd_lines, cmd_value) = one_way_leader_partition(Box::new(commands)).await;
        let log = log.lock().expect("lock").clone();
        assert!(
            log.iter().any(|l| l.contains("`true n2 127.0.0.1`")),
            "n2 stops hearing n1: {log:?}"
        );

        // The same record, naming both sides, whatever the backend.
        let want_nodes = names();
        let (nodes, detail) = applied(&mesh_lines);
        assert_eq!(nodes, want_nodes, "both sides of the cut");
        assert_eq!(
            detail["grudge"],
            json!({"n2": ["n1"], "n3": ["n1"]}),
            "{detail}"
        );
        assert_eq!(applied(&ipt_lines), (nodes.clone(), detail.clone()));
        assert_eq!(applied(&cmd_lines), (nodes, detail));
        for value in [&mesh_value, &ipt_value, &cmd_value] {
            assert_eq!(value, &mesh_value);
            assert_eq!(value["leader"], json!("n1"));
        }
        for lines in [&mesh_lines, &ipt_lines, &cmd_lines] {
            let events: Vec<&str> = lines.iter().map(|e| e.event.as_str()).collect();
            assert_eq!(events, ["apply", "heal"]);
        }
    }

    #[tokio::test]
    async fn a_given_grudge_never_asks_for_the_leader() {
        let nodes: Vec<String> = ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect();
        let given = complete_grudge(&split_one(&nodes, "n3"));
        let (grudge, value) = partition_grudge(
            Some(given.clone()),
            PartitionMode::Halves,
            false,
            &nodes,
            async { Err(NemesisError::NoLeader("none".into())) },
        )
        .await
        .expect("no leader needed");
        assert_eq!(grudge, given);
        assert!(value.is_empty());
    }

    #[tokio::test]
    async fn a_leader_partition_isolates_the_leader_and_records_it() {
        let nodes: Vec<String> = ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect();
        for one_way in [false, true] {
            let (grudge, value) =
                partition_grudge(None, PartitionMode::Leader, one_way, &nodes, async {
                    Ok(FoundLeader {
                        node: "n2".to_string(),
                        how: Some("asked".into()),
                    })
                })
                .await
                .expect("leader known");
            let want = if one_way {
                one_way_grudge(&["n2".to_string()], &nodes)
            } else {
                complete_grudge(&split_one(&nodes, "n2"))
            };
            assert_eq!(grudge, want, "one_way {one_way}");
            assert_eq!(value.get("leader"), Some(&json!("n2")));
            assert_eq!(value.get("leader_by"), Some(&json!("asked")));
        }
        let no_leader = partition_grudge(None, PartitionMode::Leader, false, &nodes, async {
            Err(NemesisError::NoLeader("no answer".into()))
        })
        .await;
        assert!(matches!(no_leader, Err(NemesisError::NoLeader(_))));
    }

    /// Processes whose restarts fail for the nodes in `refuse`; every call logged.
    struct Procs {
        refuse: Vec<&'static str>,
        log: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl ProcessControl for Procs {
        async fn kill(&self, node: &str) -> Result<(), crate::node_control::ControlError> {
            self.log.lock().expect("lock").push(format!("kill {node}"));
            Ok(())
        }
        async fn restart(&self, node: &str) -> Result<(), crate::node_control::ControlError> {
            self.log
                .lock()
                .expect("lock")
                .push(format!("restart {node}"));
            if self.refuse.contains(&node) {
                return Err(crate::node_control::ControlError(format!(
                    "{node} exited (exit status: 4)"
                )));
            }
            Ok(())
        }
        async fn pause(&self, _node: &str) -> Result<(), crate::node_control::ControlError> {
            Ok(())
        }
        async fn resume(&self, _node: &str) -> Result<(), crate::node_control::ControlError> {
            Ok(())
        }
    }

    /// Every node's data dir is `<root>/<node>`, its files `*.log`.
    struct Files(std::path::PathBuf);

    impl DataFiles for Files {
        fn data_files(
            &self,
            node: &str,
        ) -> Result<Vec<std::path::PathBuf>, crate::node_control::ControlError> {
            crate::glob::find(&self.0.join(node), &["*.log".into()])
                .map_err(crate::node_control::ControlError::new)
        }
    }

    #[tokio::test]
    async fn corruption_keeps_a_majority_up_and_records_refusals() {
        let dir = tempfile::tempdir().expect("temp dir");
        for n in names() {
            std::fs::create_dir_all(dir.path().join(&n)).expect("node dir");
            std::fs::write(dir.path().join(&n).join("wal.log"), vec![0u8; 1000]).expect("file");
        }
        let procs = Arc::new(Procs {
            refuse: vec!["n2"],
            log: Mutex::new(Vec::new()),
        });
        let journal = dir.path().join("faults.journal");
        let mut nemesis = Nemesis::new(
            names(),
            Box::new(NoFaults),
            Arc::clone(&procs) as Arc<dyn ProcessControl>,
            Arc::new(Fixed("n1")),
            &journal,
        )
        .expect("journal")
        .with_files(Arc::new(Files(dir.path().to_path_buf())));
        let corrupt = |nodes: &[&str], seed| FaultOp::CorruptFile {
            mode: CorruptMode::Bitflip,
            nodes: NodeChoice::Nodes(nodes.iter().map(|s| s.to_string()).collect()),
            seed,
        };
        // Two nodes asked for: only one (a minority of three) is taken down.
        let v = nemesis
            .apply(corrupt(&["n2", "n3"], 1))
            .await
            .expect("corrupt");
        assert_eq!(v["nodes"], json!(["n2"]), "{v}");
        assert_eq!(v["skipped"], json!(["n3"]), "{v}");
        let d = &v["damage"][0];
        assert_eq!(d["action"], json!("bitflip"));
        assert!(d["file"].as_str().unwrap().ends_with("n2/wal.log"), "{d}");
        assert_ne!(
            std::fs::read(dir.path().join("n2/wal.log")).expect("read"),
            vec![0u8; 1000]
        );
        // Journaled with file, offset and length, open until the restart.
        let open = Journal::open_faults(&journal).expect("journal");
        assert!(open.iter().any(|e| e.detail.get("offset").is_some()
            && e.detail.get("length").is_some()
            && e.detail.get("file").is_some()));
        // n2 refuses to start: recorded, not an error; it stays down for good.
        let v = nemesis
            .apply(FaultOp::RestartCorrupted)
            .await
            .expect("restart");
        assert!(
            v["refused"]["n2"]
                .as_str()
                .unwrap()
                .contains("exit status: 4"),
            "{v}"
        );
        assert_eq!(nemesis.damaged(), vec!["n2".to_string()]);
        assert!(Journal::open_faults(&journal).expect("journal").is_empty());
        // With n2 gone for good no other node may be taken down, and n2 is left alone.
        let v = nemesis.apply(corrupt(&["n3"], 2)).await.expect("corrupt");
        assert_eq!(v["nodes"], json!([]), "{v}");
        let v = nemesis
            .apply(FaultOp::Kill(NodeChoice::Nodes(vec!["n2".into()])))
            .await;
        assert_eq!(v.expect("kill"), json!([]));
        let log = procs.log.lock().expect("lock").clone();
        assert_eq!(log, ["kill n2", "restart n2", "kill n2"]);
    }

    /// Disks that log every drop into the same log as [`Procs`].
    struct Disks(Arc<Procs>);

    impl crate::node_control::VolatileDisks for Disks {
        fn lose_unsynced(&self, node: &str) -> Result<Value, crate::node_control::ControlError> {
            self.0
                .log
                .lock()
                .expect("lock")
                .push(format!("lose {node}"));
            Ok(json!({ "bytes": 7 }))
        }
    }

    #[tokio::test]
    async fn power_loss_kills_before_it_drops_and_power_on_restarts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let procs = Arc::new(Procs {
            refuse: vec!["n3"],
            log: Mutex::new(Vec::new()),
        });
        let journal = dir.path().join("faults.journal");
        let base = || {
            Nemesis::new(
                names(),
                Box::new(NoFaults),
                Arc::clone(&procs) as Arc<dyn ProcessControl>,
                Arc::new(Fixed("n1")),
                &journal,
            )
            .expect("journal")
        };
        // Without mounts the family is refused, naming it.
        let e = base()
            .apply(FaultOp::PowerLoss(NodeChoice::Leader))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("power-loss"), "{e}");
        let mut nemesis = base().with_power(crate::nemesis::backend::PowerFaults::new(Arc::new(
            Disks(Arc::clone(&procs)),
        )));
        let v = nemesis
            .apply(FaultOp::PowerLoss(NodeChoice::Nodes(vec![
                "n1".into(),
                "n3".into(),
            ])))
            .await
            .expect("power loss");
        assert_eq!(v["nodes"], json!(["n1", "n3"]), "{v}");
        assert_eq!(v["lost"][1], json!({"bytes": 7, "node": "n3"}), "{v}");
        assert_eq!(Journal::open_faults(&journal).expect("journal").len(), 1);
        // A powered-off node is neither killed nor powered off again.
        let v = nemesis
            .apply(FaultOp::Kill(NodeChoice::Nodes(vec!["n1".into()])))
            .await
            .expect("kill");
        assert_eq!(v, json!([]));
        let v = nemesis.apply(FaultOp::PowerOn).await.expect("power on");
        assert_eq!(v["restarted"], json!(["n1"]), "{v}");
        assert!(v["refused"]["n3"].is_string(), "{v}");
        assert!(Journal::open_faults(&journal)
            .expect("journal")
            .iter()
            .all(|e| e.kind != "power-loss"));
        let log = procs.log.lock().expect("lock").clone();
        assert_eq!(
            log,
            [
                "kill n1",
                "lose n1",
                "kill n3",
                "lose n3",
                "restart n1",
                "restart n3",
                "kill n3"
            ]
        );
    }

    #[test]
    fn the_book_journals_applied_then_healed_by_kind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("faults.journal");
        let mut book = FaultBook::open(&path).expect("journal");
        let n1 = vec!["n1".to_string()];
        book.applying(FaultKind::Kill, &n1, Value::Null)
            .expect("kill");
        book.applying(FaultKind::Pause, &n1, Value::Null)
            .expect("pause");
        book.healed(FaultKind::Pause).expect("resume");
        let open = Journal::open_faults(&path).expect("read journal");
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].kind, "kill");
        book.healed(FaultKind::Kill).expect("start");
        assert!(Journal::open_faults(&path).expect("read").is_empty());
    }
}
