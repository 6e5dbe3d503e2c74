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
            async { Err(NemesisError::NoLeader) },
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
                    Ok("n2".to_string())
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
        }
        let no_leader = partition_grudge(None, PartitionMode::Leader, false, &nodes, async {
            Err(NemesisError::NoLeader)
        })
        .await;
        assert!(matches!(no_leader, Err(NemesisError::NoLeader)));
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
