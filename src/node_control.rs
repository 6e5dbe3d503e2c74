//! What the nemesis may ask of the node processes of a cluster, and of its leader: the two
//! small traits [`crate::cluster`] implements (for the processes faultline runs itself) and
//! [`crate::nemesis`] drives (next to its own command backend), so neither module imports the
//! other. A leaf: it depends on nothing else in faultline.

use std::fmt;

/// Why a process fault could not be applied: the node and what went wrong, in words (the
/// history records it as the nemesis op's error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlError(pub String);

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ControlError {}

impl ControlError {
    /// An error from anything that prints.
    pub fn new(message: impl fmt::Display) -> ControlError {
        ControlError(message.to_string())
    }
}

/// Process faults on a cluster's nodes: kill -9 and restart, pause and resume. Implemented by
/// a cluster faultline runs (signals to its own children) and by user commands (an external
/// cluster). Which nodes are killed or paused is the nemesis's book, not the backend's: each
/// call names one node, and the nemesis never kills a killed node or pauses a paused one.
#[async_trait::async_trait]
pub trait ProcessControl: Send + Sync {
    /// The node's process id, when this backend knows it (recorded in the fault journal).
    fn pid(&self, _node: &str) -> Option<u32> {
        None
    }

    /// `kill -9` the node.
    async fn kill(&self, node: &str) -> Result<(), ControlError>;

    /// Starts a killed node again (same data, same addresses) and waits until it answers.
    async fn restart(&self, node: &str) -> Result<(), ControlError>;

    /// Stops the node's process (SIGSTOP) without killing it.
    async fn pause(&self, node: &str) -> Result<(), ControlError>;

    /// Lets a paused node run again (SIGCONT).
    async fn resume(&self, node: &str) -> Result<(), ControlError>;

    /// Resumes a paused node at once, best effort, without waiting (the nemesis's last net
    /// when it is dropped). Default: nothing.
    fn resume_now(&self, _node: &str) {}
}

/// Who leads, for faults aimed at "the leader": asked when the fault is applied, so it names
/// the leader of that moment. `None` when no node claims it (or the target cannot tell).
#[async_trait::async_trait]
pub trait LeaderProbe: Send + Sync {
    /// The node that claims leadership now, if any.
    async fn leader(&self) -> Option<String>;

    /// The leader and how it was found, or why there is none, in words the nemesis op
    /// records (so a leader fault never fails without saying why). Default: [`Self::leader`],
    /// with no note.
    async fn find(&self) -> Result<FoundLeader, String> {
        self.leader()
            .await
            .map(|node| FoundLeader { node, how: None })
            .ok_or_else(|| "no node reports role \"leader\"".to_owned())
    }
}

/// A leader a [`LeaderProbe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLeader {
    /// The node.
    pub node: String,
    /// How it was found, when that is not the probe's only way (recorded as `leader_by`).
    pub how: Option<String>,
}

/// A target that cannot tell which node leads (a schedule that needs a leader is refused
/// before the run for such targets).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLeader;

#[async_trait::async_trait]
impl LeaderProbe for NoLeader {
    async fn leader(&self) -> Option<String> {
        None
    }
}

/// The data files of a cluster's nodes, for file faults: which files of a node may be
/// damaged while it is down (the db spec's `data_files` globs, raftkv's log and snapshot).
/// Implemented by a cluster faultline runs itself; a cluster without it cannot have its
/// files corrupted.
pub trait DataFiles: Send + Sync {
    /// The node's files a file fault may touch, sorted (absolute paths).
    fn data_files(&self, node: &str) -> Result<Vec<std::path::PathBuf>, ControlError>;
}

/// Nodes whose data directories sit on faultline's power-loss filesystem
/// ([`crate::powerfs`]), for power-loss faults: what the nemesis asks after it killed a node.
/// Implemented by a local cluster started with power-loss mounts; a cluster without it
/// cannot lose power.
pub trait VolatileDisks: Send + Sync {
    /// Throws away every write to `node`'s data directory that is not durable yet (the node
    /// must be down) and says what was lost, for the fault's record.
    fn lose_unsynced(&self, node: &str) -> Result<serde_json::Value, ControlError>;
}
