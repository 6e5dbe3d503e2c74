//! What the core hands its host after a batch of calls, and what a restarting host hands back.

use super::types::{Entry, HardState, Message, ReadState, Snapshot, SoftState};

/// Everything the host must do since the last [`crate::raft::RaftNode::advance`], in the
/// order given in the module docs: install `snapshot`, store `entries`, store `hard_state`,
/// then send `persisted_messages`, apply `committed_entries`, serve `read_states`, fail
/// `failed_reads`, and call `advance`. `messages` may be sent at any time.
///
/// Group commit falls out of this shape: every entry and state change made by all the
/// `step`/`propose`/`tick` calls since the last `advance` is in one Ready, so one fsync covers
/// them all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// New role, term or leader, when it changed since the last Ready.
    pub soft_state: Option<SoftState>,
    /// New term/vote/commit to store durably, when it changed since the last Ready.
    pub hard_state: Option<HardState>,
    /// A snapshot received from the leader: store it, discard the whole stored log, and reset
    /// the state machine to it before storing `entries`.
    pub snapshot: Option<Snapshot>,
    /// Entries to append to stable storage, contiguous and in order. If `entries[0].index` is
    /// at or below the last stored index, first discard stored entries from `entries[0].index`
    /// on (they were overwritten by a new leader, §5.3).
    pub entries: Vec<Entry>,
    /// Messages that do not depend on this Ready being persisted (a leader's appends and
    /// heartbeats, pre-vote traffic): send them whenever convenient, even before persisting.
    pub messages: Vec<Message>,
    /// Messages that promise what this Ready persists (vote grants, append acknowledgements,
    /// vote requests carrying the node's own vote): send only after `snapshot`, `entries`
    /// and `hard_state` are durable.
    pub persisted_messages: Vec<Message>,
    /// Entries to apply to the state machine, in index order, after persisting. A proposal
    /// `EntryId { index, term }` is done when the entry applied at `index` has `term`.
    pub committed_entries: Vec<Entry>,
    /// Linearizable reads that may be answered once `committed_entries` are applied.
    pub read_states: Vec<ReadState>,
    /// Read requests (by id) that will never be confirmed because this node lost leadership:
    /// answer them with an error so the client can retry elsewhere.
    pub failed_reads: Vec<u64>,
}

impl Ready {
    /// True when there is something to persist before `persisted_messages` may be sent (so
    /// the host can skip an fsync when false).
    pub fn must_persist(&self) -> bool {
        self.hard_state.is_some() || self.snapshot.is_some() || !self.entries.is_empty()
    }
}

/// What a host recovered from stable storage, to construct a restarted node: the last hard
/// state, the last snapshot, and the stored log entries after it. A fresh node passes
/// `Recovered::default()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The last hard state stored.
    pub hard_state: HardState,
    /// The last snapshot stored, if any.
    pub snapshot: Option<Snapshot>,
    /// Stored entries following the snapshot, contiguous and in index order (entries at or
    /// below the snapshot index are ignored).
    pub entries: Vec<Entry>,
}
