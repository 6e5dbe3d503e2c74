//! Plain data the core exchanges with its host: log entries, persistent state, snapshots and
//! messages. All of it is serde-serialisable so the host can put it on disk and on the wire in
//! whatever encoding it likes; nothing here does I/O.

use serde::{Deserialize, Serialize};

/// Identifies a node of the cluster. Ids are chosen by the host; 0 is allowed but unusual.
pub type NodeId = u64;
/// A Raft term (§5.1): a logical clock that increases with every election.
pub type Term = u64;
/// A position in the replicated log, starting at 1; 0 means "before the first entry".
pub type Index = u64;

/// One slot of the replicated log (§5.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// Position of the entry in the log.
    pub index: Index,
    /// Term of the leader that created the entry.
    pub term: Term,
    /// What the entry carries.
    pub payload: Payload,
}

/// The content of a log entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Payload {
    /// The empty entry a new leader appends to commit entries of earlier terms (§5.4.2, §8).
    /// The host skips it when applying.
    Noop,
    /// A client command, opaque to the core; the host's state machine interprets it.
    Command(Vec<u8>),
}

/// Identifies one entry: a proposal is acknowledged when the entry applied at `index` has
/// this `term` (another term there means the proposal was overwritten and lost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntryId {
    /// Log index assigned to the proposal.
    pub index: Index,
    /// Term of the leader that accepted it.
    pub term: Term,
}

/// The state that must be on stable storage before the node answers anyone (Figure 2):
/// current term, the vote cast in it, and the commit index (kept so a restart can re-apply
/// committed entries without waiting for a leader).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    /// Latest term the node has seen.
    pub term: Term,
    /// Candidate the node voted for in `term`, if any.
    pub vote: Option<NodeId>,
    /// Highest log index known committed.
    pub commit: Index,
}

/// A state-machine snapshot (§7): the state after applying every entry up to `index`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snapshot {
    /// Last log index the snapshot covers.
    pub index: Index,
    /// Term of the entry at `index`.
    pub term: Term,
    /// The host's serialised state machine; opaque to the core.
    pub data: Vec<u8>,
}

/// A message between two Raft nodes. The host delivers it to `to` with [`crate::raft::RaftNode::step`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// Sender's term (for a pre-vote request: the term the sender would campaign in).
    pub term: Term,
    /// What the message says.
    pub body: MessageBody,
}

/// The kinds of Raft message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    /// Pre-vote request (thesis §9.6): "would you vote for me in `term`?" Changes no state.
    PreVote {
        /// Index of the candidate's last log entry.
        last_index: Index,
        /// Term of the candidate's last log entry.
        last_term: Term,
    },
    /// Answer to [`MessageBody::PreVote`].
    PreVoteResponse {
        /// Whether the pre-vote is granted.
        granted: bool,
    },
    /// RequestVote (§5.2).
    Vote {
        /// Index of the candidate's last log entry.
        last_index: Index,
        /// Term of the candidate's last log entry.
        last_term: Term,
    },
    /// Answer to [`MessageBody::Vote`]; a grant is only sent after the vote is persisted.
    VoteResponse {
        /// Whether the vote is granted.
        granted: bool,
    },
    /// AppendEntries (§5.3); at most `Config::max_entries_per_append` entries.
    Append {
        /// Index of the entry just before `entries`.
        prev_index: Index,
        /// Term of the entry at `prev_index`.
        prev_term: Term,
        /// Entries to store, in index order (may be empty).
        entries: Vec<Entry>,
        /// Leader's commit index, capped at the last index this message proves matching.
        commit: Index,
    },
    /// The follower's log matches the leader's up to `match_index` (sent after persisting).
    AppendAccepted {
        /// Highest index known to match the leader's log.
        match_index: Index,
    },
    /// The consistency check failed at `prev_index`; the hint lets the leader skip a whole
    /// conflicting term per round trip (fast back-off, §5.3 end).
    AppendRejected {
        /// The `prev_index` of the rejected append.
        prev_index: Index,
        /// Term of the follower's entry at `prev_index`, if it has one.
        conflict_term: Option<Term>,
        /// First index of `conflict_term` in the follower's log, or its last index + 1.
        conflict_index: Index,
    },
    /// Leader heartbeat; `round` numbers the heartbeat round so ReadIndex can count acks.
    Heartbeat {
        /// Leader's commit index, capped at what the follower is known to hold.
        commit: Index,
        /// Heartbeat round number (monotonic per leader term).
        round: u64,
    },
    /// Acknowledges a heartbeat of the sender's current term.
    HeartbeatResponse {
        /// Round echoed from the heartbeat.
        round: u64,
    },
    /// InstallSnapshot (§7): the follower is too far behind for the leader's log.
    InstallSnapshot {
        /// The leader's latest snapshot.
        snapshot: Snapshot,
    },
}

impl MessageBody {
    /// A short name for logs and test output.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageBody::PreVote { .. } => "PreVote",
            MessageBody::PreVoteResponse { .. } => "PreVoteResponse",
            MessageBody::Vote { .. } => "Vote",
            MessageBody::VoteResponse { .. } => "VoteResponse",
            MessageBody::Append { .. } => "Append",
            MessageBody::AppendAccepted { .. } => "AppendAccepted",
            MessageBody::AppendRejected { .. } => "AppendRejected",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResponse { .. } => "HeartbeatResponse",
            MessageBody::InstallSnapshot { .. } => "InstallSnapshot",
        }
    }
}

/// The role a node plays (§5.1, plus the pre-candidate of thesis §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking for pre-votes; has not bumped its term.
    PreCandidate,
    /// Campaigning in its own new term.
    Candidate,
    /// Leads the cluster for its term.
    Leader,
}

/// Volatile status the host shows or routes by: who leads, in which term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SoftState {
    /// This node's role.
    pub role: Role,
    /// This node's current term.
    pub term: Term,
    /// The leader this node currently follows (itself when leader), if known.
    pub leader: Option<NodeId>,
}

/// A linearizable read that may now be served (thesis §6.4): the host answers request `id`
/// from its state machine once it has applied at least `index` — which it has, by the time
/// it sees the read state, if it applies the same Ready's committed entries first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReadState {
    /// The host's request id passed to `read_index`.
    pub id: u64,
    /// The read index: the commit index when leadership was confirmed.
    pub index: Index,
}
