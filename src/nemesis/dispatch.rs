//! What the nemesis backends ([`super::local`], [`super::netns`], [`super::external`]) share,
//! so each keeps only how it applies a fault:
//!
//! - [`FaultBackend`]: a backend applies one typed [`FaultOp`]; every backend is then a
//!   [`Nemesis`] (decoding `f`/`value`, and healing every fault family in order).
//! - [`FaultBook`]: the fault journal and the faults applied and not yet healed.
//! - [`partition_grudge`] and [`grudge_nodes`]: the grudge a `start-partition` op asks for.
//! - [`NodeProcesses`] with [`kill`], [`start`], [`pause`] and [`resume`]: the process faults
//!   on a cluster whose node processes faultline runs (raftkv or etcd).

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::fault::{FaultKind, FaultOp, NodeChoice, PartitionMode};
use super::journal::Journal;
use super::partition::{complete_grudge, one_way_grudge, split_one, Grudge};
use super::{Nemesis, NemesisError};
use crate::cluster::{ClusterError, EtcdCluster, LocalCluster};
use crate::generator::GenOp;

/// A nemesis backend: applies one decoded fault op. Every `FaultBackend` is a [`Nemesis`]:
/// `invoke` decodes the op, `heal_all` runs [`heal_every_kind`].
#[async_trait::async_trait]
pub trait FaultBackend: Send {
    /// Applies or heals `op` and returns what was done, for the history.
    async fn apply(&mut self, op: FaultOp) -> Result<Value, NemesisError>;
}

#[async_trait::async_trait]
impl<B: FaultBackend> Nemesis for B {
    async fn invoke(&mut self, op: &GenOp) -> Result<Value, NemesisError> {
        let op = FaultOp::parse(&op.f, &op.value)?;
        self.apply(op).await
    }

    async fn heal_all(&mut self) -> Result<(), NemesisError> {
        heal_every_kind(self).await.map(|_| ())
    }
}

/// Applies every fault family's stop op, network first (so resumed and restarted nodes come
/// back to a whole network), and returns what each did, by op name. Every step runs even if
/// an earlier one failed; the first error is returned.
pub async fn heal_every_kind<B: FaultBackend + ?Sized>(
    backend: &mut B,
) -> Result<Value, NemesisError> {
    let mut done = Map::new();
    let mut first_err = None;
    for kind in FaultKind::ALL {
        match backend.apply(kind.stop_op()).await {
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

/// Every node a grudge names, on either side, sorted: the nodes a partition touches.
pub(crate) fn grudge_nodes(grudge: &Grudge) -> Vec<String> {
    grudge
        .iter()
        .flat_map(|(to, froms)| std::iter::once(to).chain(froms))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A cluster whose node processes faultline runs ([`LocalCluster`], [`EtcdCluster`]): what
/// the kill, start, pause and resume ops need of it.
#[async_trait::async_trait]
pub trait NodeProcesses: Send + Sync {
    /// Every node's name.
    fn names(&self) -> Vec<String>;
    /// The current leader, if some node claims it.
    async fn leader(&self) -> Option<String>;
    /// Nodes currently killed.
    fn killed(&self) -> Vec<String>;
    /// Nodes currently paused.
    fn paused(&self) -> Vec<String>;
    /// A node's pid, `None` while killed.
    fn pid(&self, name: &str) -> Result<Option<u32>, ClusterError>;
    /// `kill -9` a node.
    fn kill(&self, name: &str) -> Result<(), ClusterError>;
    /// Restarts a killed node and waits until it answers.
    async fn restart(&self, name: &str) -> Result<(), ClusterError>;
    /// SIGSTOP a node; false when it is killed.
    fn pause(&self, name: &str) -> Result<bool, ClusterError>;
    /// SIGCONT a node; false when it is killed.
    fn resume(&self, name: &str) -> Result<bool, ClusterError>;
}

/// Implements [`NodeProcesses`] for a cluster type by forwarding to its inherent methods of
/// the same names.
macro_rules! node_processes_by_inherent_methods {
    ($cluster:ty) => {
        #[async_trait::async_trait]
        impl NodeProcesses for $cluster {
            fn names(&self) -> Vec<String> {
                <$cluster>::names(self)
            }
            async fn leader(&self) -> Option<String> {
                <$cluster>::leader(self).await
            }
            fn killed(&self) -> Vec<String> {
                <$cluster>::killed(self)
            }
            fn paused(&self) -> Vec<String> {
                <$cluster>::paused(self)
            }
            fn pid(&self, name: &str) -> Result<Option<u32>, ClusterError> {
                <$cluster>::pid(self, name)
            }
            fn kill(&self, name: &str) -> Result<(), ClusterError> {
                <$cluster>::kill(self, name)
            }
            async fn restart(&self, name: &str) -> Result<(), ClusterError> {
                <$cluster>::restart(self, name).await
            }
            fn pause(&self, name: &str) -> Result<bool, ClusterError> {
                <$cluster>::pause(self, name)
            }
            fn resume(&self, name: &str) -> Result<bool, ClusterError> {
                <$cluster>::resume(self, name)
            }
        }
    };
}

node_processes_by_inherent_methods!(LocalCluster);
node_processes_by_inherent_methods!(EtcdCluster);

/// The leader of `cluster`, or [`NemesisError::NoLeader`].
pub(crate) async fn leader<C: NodeProcesses>(cluster: &C) -> Result<String, NemesisError> {
    cluster.leader().await.ok_or(NemesisError::NoLeader)
}

/// The nodes `choice` names, each checked to be one of `cluster`'s.
async fn resolve<C: NodeProcesses>(
    cluster: &C,
    choice: &NodeChoice,
) -> Result<Vec<String>, NemesisError> {
    let names = match choice {
        NodeChoice::Leader => vec![leader(cluster).await?],
        NodeChoice::Nodes(ns) => ns.clone(),
    };
    let known = cluster.names();
    if let Some(bad) = names.iter().find(|n| !known.contains(n)) {
        return Err(ClusterError::UnknownNode(bad.clone()).into());
    }
    Ok(names)
}

/// `kill`: kill -9 the chosen nodes not already killed (journaled with their pids); the
/// value is the nodes killed.
pub(crate) async fn kill<C: NodeProcesses>(
    cluster: &C,
    book: &mut FaultBook,
    choice: &NodeChoice,
) -> Result<Value, NemesisError> {
    let killed = cluster.killed();
    let names: Vec<String> = resolve(cluster, choice)
        .await?
        .into_iter()
        .filter(|n| !killed.contains(n))
        .collect();
    let mut pids = Vec::new();
    for n in &names {
        pids.push(cluster.pid(n)?);
    }
    book.applying(FaultKind::Kill, &names, json!({ "pids": pids }))?;
    for n in &names {
        cluster.kill(n)?;
    }
    Ok(json!(names))
}

/// `start`: restarts every killed node (each is tried; the first error is returned and the
/// kills stay open); the value is the nodes restarted.
pub(crate) async fn start<C: NodeProcesses>(
    cluster: &C,
    book: &mut FaultBook,
) -> Result<Value, NemesisError> {
    let mut first_err = None;
    let mut started = Vec::new();
    for n in cluster.killed() {
        match cluster.restart(&n).await {
            Ok(()) => started.push(n),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e.into());
    }
    book.healed(FaultKind::Kill)?;
    Ok(json!(started))
}

/// `pause`: SIGSTOP the chosen nodes neither killed nor paused (journaled with their pids);
/// the value is the nodes paused.
pub(crate) async fn pause<C: NodeProcesses>(
    cluster: &C,
    book: &mut FaultBook,
    choice: &NodeChoice,
) -> Result<Value, NemesisError> {
    let (killed, paused) = (cluster.killed(), cluster.paused());
    let names: Vec<String> = resolve(cluster, choice)
        .await?
        .into_iter()
        .filter(|n| !killed.contains(n) && !paused.contains(n))
        .collect();
    let mut pids = Vec::new();
    for n in &names {
        pids.push(cluster.pid(n)?);
    }
    book.applying(FaultKind::Pause, &names, json!({ "pids": pids }))?;
    for n in &names {
        cluster.pause(n)?;
    }
    Ok(json!(names))
}

/// `resume`: SIGCONT every paused node; the value is the nodes resumed.
pub(crate) async fn resume<C: NodeProcesses>(
    cluster: &C,
    book: &mut FaultBook,
) -> Result<Value, NemesisError> {
    let paused = cluster.paused();
    for n in &paused {
        cluster.resume(n)?;
    }
    book.healed(FaultKind::Pause)?;
    Ok(json!(paused))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grudge_touches_both_sides_once_each_in_order() {
        let nodes: Vec<String> = ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect();
        let grudge = one_way_grudge(&["n2".to_string()], &nodes);
        assert_eq!(grudge_nodes(&grudge), nodes);
        assert!(grudge_nodes(&Grudge::new()).is_empty());
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
