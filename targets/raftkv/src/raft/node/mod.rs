//! The Raft state machine of one node: roles, elections, replication, commit, reads and
//! snapshots. Pure: it only changes its own fields and queues messages and work for the host.

mod election;
mod reads;
mod replication;

use std::collections::{BTreeMap, VecDeque};

use rand_chacha::ChaCha8Rng;

use super::config::{Config, ReadMode};
use super::error::RaftError;
use super::log::RaftLog;
use super::ready::{Ready, Recovered};
use super::types::{
    Entry, EntryId, HardState, Index, Message, MessageBody, NodeId, Payload, ReadState, Role,
    Snapshot, SoftState, Term,
};

/// What the leader knows about one follower's log (§5.3).
#[derive(Clone, Copy, Debug, Default)]
struct Progress {
    /// Highest index known to match the leader's log.
    matched: Index,
    /// Next index to send (optimistic: advanced as appends are sent, reset on loss).
    next: Index,
    /// Heard from this peer since the last check-quorum round.
    recent_active: bool,
    /// Highest heartbeat round this peer acknowledged in the current term.
    acked_round: u64,
    /// `matched` at the previous heartbeat response, to detect a stalled follower.
    matched_at_heartbeat: Index,
    /// Ticks before a lost snapshot may be sent again.
    snapshot_cooldown: u64,
}

/// A ReadIndex request waiting for its leadership confirmation (thesis §6.4).
#[derive(Clone, Copy, Debug)]
struct PendingRead {
    id: u64,
    /// Read index, fixed when the confirming round starts (0 until then).
    index: Index,
    /// Heartbeat round confirming it; 0 until a round is started.
    round: u64,
}

/// What the last [`Ready`] promised the host would persist, confirmed by `advance`.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    stable_to: Index,
    hard_state: HardState,
}

/// One Raft node. See the [module docs](crate::raft) for the Ready loop that drives it.
#[derive(Debug)]
pub struct RaftNode {
    config: Config,
    /// Seeded by the host: the only source of randomness (election timeouts).
    rng: ChaCha8Rng,
    quorum: usize,

    term: Term,
    vote: Option<NodeId>,
    role: Role,
    leader: Option<NodeId>,

    log: RaftLog,
    /// Latest snapshot, kept to send to followers that fell behind the compacted log.
    snapshot: Option<Snapshot>,
    commit: Index,
    /// Highest index handed to the host for applying.
    applied: Index,
    /// Highest index the host has persisted (confirmed by `advance`).
    stable: Index,

    election_elapsed: u64,
    randomized_timeout: u64,
    heartbeat_elapsed: u64,

    /// Pre-vote or vote answers of the current campaign.
    votes: BTreeMap<NodeId, bool>,
    /// Leader only: per-follower replication state.
    progress: BTreeMap<NodeId, Progress>,
    /// Leader only: whether an entry of the current term is committed (ReadIndex precondition).
    committed_in_term: bool,
    /// Leader only: appends are due to followers (new entries since the last Ready).
    broadcast_due: bool,

    read_round: u64,
    /// Lease mode: the host clock (µs) as last told by [`RaftNode::set_clock`].
    clock_us: Option<u64>,
    /// Lease mode, leader only: heartbeat rounds not yet acknowledged by a quorum, with the
    /// host clock when each was sent.
    lease_rounds: VecDeque<(u64, u64)>,
    /// Lease mode, leader only: send time of the latest round a quorum acknowledged.
    lease_start: Option<u64>,
    /// Lease mode: ticks left of the quiet start, during which a restarted node grants no
    /// vote, as if it had just heard from a leader (it may have acknowledged a lease round
    /// just before it went down).
    startup_quiet: u64,
    pending_reads: VecDeque<PendingRead>,
    confirmed_reads: VecDeque<ReadState>,
    failed_reads: Vec<u64>,

    msgs: Vec<Message>,
    persisted_msgs: Vec<Message>,
    pending_snapshot: Option<Snapshot>,

    persisted_hs: HardState,
    reported_soft: SoftState,
    in_flight: Option<InFlight>,
}

impl RaftNode {
    /// Builds a node from its config, what the host recovered from storage
    /// (`Recovered::default()` for a brand-new node) and a seeded RNG.
    pub fn new(config: Config, recovered: Recovered, rng: ChaCha8Rng) -> Result<Self, RaftError> {
        config.validate()?;
        let (snap_index, snap_term) = recovered
            .snapshot
            .as_ref()
            .map_or((0, 0), |s| (s.index, s.term));
        let mut log = RaftLog::new(snap_index, snap_term);
        for entry in recovered
            .entries
            .into_iter()
            .filter(|e| e.index > snap_index)
        {
            if entry.index != log.last_index() + 1 {
                return Err(RaftError::InvalidRecovery {
                    reason: format!(
                        "entry index {} does not follow index {}",
                        entry.index,
                        log.last_index()
                    ),
                });
            }
            log.push(entry);
        }
        let hs = recovered.hard_state;
        if hs.commit > log.last_index() {
            return Err(RaftError::InvalidRecovery {
                reason: format!(
                    "commit index {} is past the last recovered entry {}",
                    hs.commit,
                    log.last_index()
                ),
            });
        }
        let quorum = config.voters.len() / 2 + 1;
        let soft = SoftState {
            role: Role::Follower,
            term: hs.term,
            leader: None,
        };
        let mut node = RaftNode {
            quorum,
            term: hs.term,
            vote: hs.vote,
            role: Role::Follower,
            leader: None,
            commit: hs.commit.max(snap_index),
            applied: snap_index,
            stable: log.last_index(),
            log,
            snapshot: recovered.snapshot,
            election_elapsed: 0,
            randomized_timeout: config.election_ticks,
            heartbeat_elapsed: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            committed_in_term: false,
            broadcast_due: false,
            read_round: 0,
            clock_us: None,
            lease_rounds: VecDeque::new(),
            lease_start: None,
            startup_quiet: match config.read_mode {
                ReadMode::Lease { .. } => config.election_ticks,
                ReadMode::ReadIndex => 0,
            },
            pending_reads: VecDeque::new(),
            confirmed_reads: VecDeque::new(),
            failed_reads: Vec::new(),
            msgs: Vec::new(),
            persisted_msgs: Vec::new(),
            pending_snapshot: None,
            persisted_hs: hs,
            reported_soft: soft,
            in_flight: None,
            config,
            rng,
        };
        node.reset_election_timer();
        Ok(node)
    }

    // ----- introspection -------------------------------------------------------------------

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// The config the node was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Current term.
    pub fn term(&self) -> Term {
        self.term
    }

    /// Vote cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }

    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The leader this node follows (itself when leader), if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// Role, term and leader together.
    pub fn soft_state(&self) -> SoftState {
        SoftState {
            role: self.role,
            term: self.term,
            leader: self.leader,
        }
    }

    /// The true hard state (what a correct node persists), regardless of bugs.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.commit,
        }
    }

    /// Highest index known committed.
    pub fn commit_index(&self) -> Index {
        self.commit
    }

    /// Highest index handed to the host for applying.
    pub fn applied_index(&self) -> Index {
        self.applied
    }

    /// Index of the last log entry (in memory, persisted or not).
    pub fn last_index(&self) -> Index {
        self.log.last_index()
    }

    /// Term of the last log entry.
    pub fn last_term(&self) -> Term {
        self.log.last_term()
    }

    /// Term of the entry at `index`, if the in-memory log (or its snapshot boundary) has it.
    pub fn term_at(&self, index: Index) -> Option<Term> {
        self.log.term_at(index)
    }

    /// The in-memory log entries after the snapshot, in index order.
    pub fn log_entries(&self) -> &[Entry] {
        self.log.entries()
    }

    /// Index and term of the last entry folded into the snapshot ((0, 0) when none).
    pub fn snapshot_position(&self) -> (Index, Term) {
        (self.log.snapshot_index(), self.log.snapshot_term())
    }

    /// The latest snapshot the node holds, if any.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    // ----- inputs ------------------------------------------------------------------------------

    /// Advances the logical clock by one tick: followers count towards an election timeout,
    /// leaders send heartbeats and check they still hear from a quorum.
    pub fn tick(&mut self) {
        self.election_elapsed += 1;
        self.startup_quiet = self.startup_quiet.saturating_sub(1);
        if self.role == Role::Leader {
            for progress in self.progress.values_mut() {
                progress.snapshot_cooldown = progress.snapshot_cooldown.saturating_sub(1);
            }
            self.heartbeat_elapsed += 1;
            if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
                self.heartbeat_elapsed = 0;
                self.broadcast_heartbeat();
            }
            if self.election_elapsed >= self.config.election_ticks {
                self.election_elapsed = 0;
                self.check_quorum();
            }
        } else if self.election_elapsed >= self.randomized_timeout {
            self.pre_campaign();
        }
    }

    /// Feeds a message from a peer. Messages not addressed to this node, or from outside the
    /// cluster, are ignored (a network may misdeliver; Raft tolerates loss).
    pub fn step(&mut self, msg: Message) {
        if msg.to != self.config.id
            || msg.from == self.config.id
            || !self.config.voters.contains(&msg.from)
        {
            return;
        }
        if !self.step_term(&msg) {
            return;
        }
        let from = msg.from;
        match msg.body {
            MessageBody::PreVote {
                last_index,
                last_term,
            } => self.on_pre_vote(from, msg.term, last_index, last_term),
            MessageBody::PreVoteResponse { granted } => {
                self.on_pre_vote_response(from, msg.term, granted)
            }
            MessageBody::Vote {
                last_index,
                last_term,
            } => self.on_vote(from, last_index, last_term),
            MessageBody::VoteResponse { granted } => self.on_vote_response(from, granted),
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => self.on_append(from, prev_index, prev_term, &entries, commit),
            MessageBody::AppendAccepted { match_index } => self.on_accepted(from, match_index),
            MessageBody::AppendRejected {
                prev_index,
                conflict_term,
                conflict_index,
            } => self.on_rejected(from, prev_index, conflict_term, conflict_index),
            MessageBody::Heartbeat { commit, round } => self.on_heartbeat(from, commit, round),
            MessageBody::HeartbeatResponse { round } => self.on_heartbeat_response(from, round),
            MessageBody::InstallSnapshot { snapshot } => self.on_snapshot(from, snapshot),
        }
    }

    /// Appends a client command to the leader's log and returns where it went; the command is
    /// done when [`Ready::committed_entries`] delivers that index with that term.
    pub fn propose(&mut self, command: Vec<u8>) -> Result<EntryId, RaftError> {
        if self.role != Role::Leader {
            return Err(self.not_leader());
        }
        let id = EntryId {
            index: self.log.last_index() + 1,
            term: self.term,
        };
        self.append_own(Payload::Command(command));
        Ok(id)
    }

    /// Tells the core the host's monotonic clock, in microseconds (lease mode only: the
    /// core stamps heartbeat rounds with it and checks the read lease against it). Call it
    /// before [`RaftNode::tick`] (rounds are stamped with it: an older value only shortens
    /// the lease) and with the current time right before [`RaftNode::read_index`].
    pub fn set_clock(&mut self, now_us: u64) {
        self.clock_us = Some(now_us);
    }

    /// Starts a linearizable read (ReadIndex, thesis §6.4). Once leadership is confirmed by a
    /// quorum heartbeat round — after the leader has committed an entry of its term — and the
    /// read index is applied, a [`ReadState`] with this `request` id appears in a Ready. If the
    /// node loses leadership first, the id appears in [`Ready::failed_reads`]. In lease mode a
    /// leader whose lease holds at the clock last set confirms the read at once (it still
    /// waits for its index to be applied); otherwise the read takes the ReadIndex path.
    pub fn read_index(&mut self, request: u64) -> Result<(), RaftError> {
        if self.role != Role::Leader {
            return Err(self.not_leader());
        }
        if self.config.bugs.stale_read || self.lease_holds() {
            // BUG stale_read: trust our belief that we lead; no quorum round. Lease mode: a
            // quorum promised not to elect anyone else while the lease lasts.
            self.confirmed_reads.push_back(ReadState {
                id: request,
                index: self.commit,
            });
            return Ok(());
        }
        self.pending_reads.push_back(PendingRead {
            id: request,
            index: 0,
            round: 0,
        });
        Ok(())
    }

    /// Tells the core the host's state machine, having applied everything up to `index`, is
    /// serialised as `data`: the core keeps it as its snapshot (to send to lagging followers)
    /// and drops log entries up to `index` (§7). The host stores the snapshot itself and may
    /// discard its stored log up to `index`. Ignored if not newer than the current snapshot.
    pub fn compact(&mut self, index: Index, data: Vec<u8>) -> Result<(), RaftError> {
        let limit = self.applied.min(self.commit);
        if index > limit {
            return Err(RaftError::CompactBeyondApplied {
                index,
                applied: limit,
            });
        }
        if index <= self.log.snapshot_index() {
            return Ok(());
        }
        let Some(term) = self.log.term_at(index) else {
            // Unreachable: snapshot_index < index <= commit <= last_index, so it is held.
            return Ok(());
        };
        self.log.compact(index);
        self.stable = self.stable.max(index);
        self.snapshot = Some(Snapshot { index, term, data });
        Ok(())
    }

    // ----- the Ready handshake ---------------------------------------------------------------

    /// Whether [`RaftNode::ready`] has anything for the host.
    pub fn has_ready(&self) -> bool {
        self.soft_state() != self.reported_soft
            || self.reported_hard_state() != self.persisted_hs
            || self.pending_snapshot.is_some()
            || self.stable < self.log.last_index()
            || !self.msgs.is_empty()
            || !self.persisted_msgs.is_empty()
            || self.applied < self.apply_limit()
            || self.broadcast_due
            || !self.failed_reads.is_empty()
            || (self.committed_in_term && self.pending_reads.iter().any(|r| r.round == 0))
            || self
                .confirmed_reads
                .front()
                .is_some_and(|r| r.index <= self.apply_limit())
    }

    /// Collects the work accumulated since the last `advance`. Call [`RaftNode::advance`]
    /// once it is done, before the next `ready`.
    pub fn ready(&mut self) -> Ready {
        if self.role == Role::Leader {
            self.start_read_round();
            if self.broadcast_due {
                self.broadcast_due = false;
                for peer in self.peers() {
                    self.send_appends(peer);
                }
            }
        }
        let soft = self.soft_state();
        let soft_state = (soft != self.reported_soft).then_some(soft);
        self.reported_soft = soft;
        let hs = self.reported_hard_state();
        let hard_state = (hs != self.persisted_hs).then_some(hs);
        let entries = self.log.slice(self.stable + 1, self.log.last_index());
        let limit = self.apply_limit();
        let committed_entries = self.log.slice(self.applied + 1, limit);
        self.applied = self.applied.max(limit);
        let mut read_states = Vec::new();
        while let Some(read) = self.confirmed_reads.front() {
            if read.index > self.applied {
                break;
            }
            read_states.extend(self.confirmed_reads.pop_front());
        }
        self.in_flight = Some(InFlight {
            stable_to: self.log.last_index(),
            hard_state: hs,
        });
        Ready {
            soft_state,
            hard_state,
            snapshot: self.pending_snapshot.take(),
            entries,
            messages: std::mem::take(&mut self.msgs),
            persisted_messages: std::mem::take(&mut self.persisted_msgs),
            committed_entries,
            read_states,
            failed_reads: std::mem::take(&mut self.failed_reads),
        }
    }

    /// Confirms the last Ready was handled: its snapshot, entries and hard state are durable.
    /// A leader counts its own log towards commit only from here (§10.2.1 of the thesis lets it
    /// send appends before its own write finishes).
    pub fn advance(&mut self) {
        let Some(done) = self.in_flight.take() else {
            return;
        };
        self.stable = self.stable.max(done.stable_to.min(self.log.last_index()));
        self.persisted_hs = done.hard_state;
        if self.role == Role::Leader {
            self.maybe_commit();
        }
    }

    // ----- helpers -----------------------------------------------------------------------------

    fn peers(&self) -> Vec<NodeId> {
        self.config
            .voters
            .iter()
            .copied()
            .filter(|&id| id != self.config.id)
            .collect()
    }

    /// Queues a message that promises persisted state (see [`Ready::persisted_messages`]).
    fn send(&mut self, to: NodeId, body: MessageBody) {
        self.persisted_msgs.push(Message {
            from: self.config.id,
            to,
            term: self.term,
            body,
        });
    }

    fn not_leader(&self) -> RaftError {
        RaftError::NotLeader {
            node: self.config.id,
            leader: self.leader,
        }
    }

    /// Highest index the host may apply now: the commit index — or, with the early_ack bug,
    /// a leader's whole log.
    fn apply_limit(&self) -> Index {
        if self.config.bugs.early_ack && self.role == Role::Leader {
            // BUG early_ack: uncommitted entries go to the state machine (and the client).
            self.log.last_index().max(self.commit)
        } else {
            self.commit
        }
    }

    /// The hard state as reported for persistence: the volatile_vote bug drops term and vote.
    fn reported_hard_state(&self) -> HardState {
        let mut hs = self.hard_state();
        if self.config.bugs.volatile_vote {
            // BUG volatile_vote: term and vote never reach stable storage.
            hs.term = 0;
            hs.vote = None;
        }
        hs
    }
}
