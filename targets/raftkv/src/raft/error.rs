//! Errors the core returns to its host.

use super::types::{Index, NodeId};

/// Why a call into the core was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RaftError {
    /// The config is unusable.
    #[error("invalid raft config: {reason}")]
    InvalidConfig {
        /// What is wrong, with the values.
        reason: String,
    },
    /// The recovered state is inconsistent (e.g. log entries not contiguous after the snapshot).
    #[error("invalid recovered state: {reason}")]
    InvalidRecovery {
        /// What is wrong, with the values.
        reason: String,
    },
    /// Proposals and reads go to the leader; `leader` is this node's best guess of who that is.
    #[error("node {node} is not the leader (leader: {leader:?})")]
    NotLeader {
        /// The node that refused.
        node: NodeId,
        /// The leader it knows of, if any.
        leader: Option<NodeId>,
    },
    /// `compact` was asked for an index the state machine has not applied.
    #[error("cannot compact to index {index}: only {applied} applied")]
    CompactBeyondApplied {
        /// Requested snapshot index.
        index: Index,
        /// The node's applied index.
        applied: Index,
    },
    /// A `--bug` name that is not one of `Bug::NAMES`.
    #[error(
        "unknown bug {name:?}; known bugs: stale_read, early_ack, volatile_vote, commit_old_term, no_checksum, fsync_lie"
    )]
    UnknownBug {
        /// The name given.
        name: String,
    },
}
