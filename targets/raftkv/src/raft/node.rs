//! The Raft state machine of one node: roles, elections, replication, commit, reads and
//! snapshots. Pure: it only changes its own fields and queues messages and work for the host.

use std::collections::{BTreeMap, VecDeque};

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::config::Config;
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
        if self.role == Role::Leader {
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

    /// Starts a linearizable read (ReadIndex, thesis §6.4). Once leadership is confirmed by a
    /// quorum heartbeat round — after the leader has committed an entry of its term — and the
    /// read index is applied, a [`ReadState`] with this `request` id appears in a Ready. If the
    /// node loses leadership first, the id appears in [`Ready::failed_reads`].
    pub fn read_index(&mut self, request: u64) -> Result<(), RaftError> {
        if self.role != Role::Leader {
            return Err(self.not_leader());
        }
        if self.config.bugs.stale_read {
            // BUG stale_read: trust our belief that we lead; no quorum round.
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
                    if self
                        .progress
                        .get(&peer)
                        .is_some_and(|p| p.next <= self.log.last_index())
                    {
                        self.send_append(peer);
                    }
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

    // ----- terms and roles ---------------------------------------------------------------------

    /// Applies the term rules common to all messages (§5.1, thesis §9.6 for pre-vote, and
    /// leader stickiness). Returns false when the message must not be processed further.
    fn step_term(&mut self, msg: &Message) -> bool {
        let is_vote_request = matches!(
            msg.body,
            MessageBody::PreVote { .. } | MessageBody::Vote { .. }
        );
        if msg.term > self.term {
            if is_vote_request && self.in_lease() {
                // Stickiness: we heard from a leader within the election timeout, so a
                // campaigner is disrupting a healthy cluster; do not move terms for it.
                if matches!(msg.body, MessageBody::PreVote { .. }) {
                    self.send(msg.from, MessageBody::PreVoteResponse { granted: false });
                }
                return false;
            }
            match msg.body {
                // A pre-vote carries the term the sender would use; it changes nothing here.
                MessageBody::PreVote { .. } => {}
                // A granted pre-vote echoes our prospective term.
                MessageBody::PreVoteResponse { granted: true } => {}
                MessageBody::Append { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::InstallSnapshot { .. } => {
                    self.become_follower(msg.term, Some(msg.from))
                }
                _ => self.become_follower(msg.term, None),
            }
        } else if msg.term < self.term {
            match msg.body {
                // A stale leader: answer with our term so it steps down.
                MessageBody::Append { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::InstallSnapshot { .. } => {
                    self.send(msg.from, MessageBody::HeartbeatResponse { round: 0 })
                }
                MessageBody::PreVote { .. } => {
                    self.send(msg.from, MessageBody::PreVoteResponse { granted: false })
                }
                _ => {}
            }
            return false;
        }
        true
    }

    /// Whether a leader is known to be alive: a leader itself, or a follower that heard from
    /// its leader within the minimum election timeout.
    fn in_lease(&self) -> bool {
        self.role == Role::Leader
            || (self.leader.is_some() && self.election_elapsed < self.config.election_ticks)
    }

    fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        if self.role == Role::Leader {
            self.fail_pending_reads();
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.progress.clear();
        self.broadcast_due = false;
        self.reset_election_timer();
    }

    /// Starts a pre-vote round (thesis §9.6): ask whether peers would vote for us in term + 1,
    /// without bumping our term, so a node returning from a partition cannot unseat a leader.
    fn pre_campaign(&mut self) {
        if self.role == Role::Leader {
            self.fail_pending_reads();
        }
        self.role = Role::PreCandidate;
        self.leader = None;
        self.progress.clear();
        self.votes.clear();
        self.votes.insert(self.config.id, true);
        self.reset_election_timer();
        if self.votes_won() {
            self.campaign();
            return;
        }
        let body = MessageBody::PreVote {
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
        };
        for peer in self.peers() {
            self.msgs.push(Message {
                from: self.config.id,
                to: peer,
                term: self.term + 1,
                body: body.clone(),
            });
        }
    }

    /// Starts a real election (§5.2): new term, vote for ourselves, ask everyone.
    fn campaign(&mut self) {
        self.role = Role::Candidate;
        self.term += 1;
        self.vote = Some(self.config.id);
        self.leader = None;
        self.votes.clear();
        self.votes.insert(self.config.id, true);
        self.reset_election_timer();
        if self.votes_won() {
            self.become_leader();
            return;
        }
        let body = MessageBody::Vote {
            last_index: self.log.last_index(),
            last_term: self.log.last_term(),
        };
        for peer in self.peers() {
            // The request carries our own vote, which must be durable first.
            self.send(peer, body.clone());
        }
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.config.id);
        self.votes.clear();
        self.heartbeat_elapsed = 0;
        self.election_elapsed = 0;
        self.committed_in_term = false;
        self.read_round = 0;
        let next = self.log.last_index() + 1;
        self.progress = self
            .peers()
            .into_iter()
            .map(|peer| {
                (
                    peer,
                    Progress {
                        matched: 0,
                        next,
                        recent_active: true,
                        acked_round: 0,
                        matched_at_heartbeat: 0,
                    },
                )
            })
            .collect();
        // §8: a new leader commits an entry of its own term at once, which commits earlier
        // terms' entries and enables ReadIndex.
        self.append_own(Payload::Noop);
    }

    fn votes_won(&self) -> bool {
        self.votes.values().filter(|granted| **granted).count() >= self.quorum
    }

    fn votes_lost(&self) -> bool {
        self.votes.values().filter(|granted| !**granted).count() >= self.quorum
    }

    fn on_pre_vote(&mut self, from: NodeId, term: Term, last_index: Index, last_term: Term) {
        let granted = term > self.term && self.log.is_up_to_date(last_index, last_term);
        let reply_term = if granted { term } else { self.term };
        self.msgs.push(Message {
            from: self.config.id,
            to: from,
            term: reply_term,
            body: MessageBody::PreVoteResponse { granted },
        });
    }

    fn on_pre_vote_response(&mut self, from: NodeId, term: Term, granted: bool) {
        if self.role != Role::PreCandidate || (granted && term != self.term + 1) {
            return;
        }
        self.votes.insert(from, granted);
        if self.votes_won() {
            self.campaign();
        } else if self.votes_lost() {
            self.become_follower(self.term, None);
        }
    }

    fn on_vote(&mut self, from: NodeId, last_index: Index, last_term: Term) {
        let can_vote = self.vote == Some(from) || (self.vote.is_none() && self.leader.is_none());
        let granted = can_vote && self.log.is_up_to_date(last_index, last_term);
        if granted {
            self.vote = Some(from);
            self.reset_election_timer();
        }
        self.send(from, MessageBody::VoteResponse { granted });
    }

    fn on_vote_response(&mut self, from: NodeId, granted: bool) {
        if self.role != Role::Candidate {
            return;
        }
        self.votes.insert(from, granted);
        if self.votes_won() {
            self.become_leader();
        } else if self.votes_lost() {
            self.become_follower(self.term, None);
        }
    }

    /// Leaders step down when they have not heard from a quorum for an election timeout, so
    /// a partitioned leader stops serving (and a healthy one keeps its followers sticky).
    fn check_quorum(&mut self) {
        let active = 1 + self.progress.values().filter(|p| p.recent_active).count();
        for progress in self.progress.values_mut() {
            progress.recent_active = false;
        }
        if active < self.quorum {
            self.become_follower(self.term, None);
        }
    }

    fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let base = self.config.election_ticks;
        self.randomized_timeout = self.rng.random_range(base..2 * base);
    }

    // ----- replication (follower side) ---------------------------------------------------------

    fn heard_from_leader(&mut self, from: NodeId) {
        if self.role != Role::Follower {
            self.become_follower(self.term, Some(from));
        }
        self.leader = Some(from);
        self.election_elapsed = 0;
    }

    /// AppendEntries receiver (§5.3, Figure 2).
    fn on_append(
        &mut self,
        from: NodeId,
        prev_index: Index,
        prev_term: Term,
        entries: &[Entry],
        leader_commit: Index,
    ) {
        self.heard_from_leader(from);
        let last_new = prev_index + entries.len() as Index;
        if prev_index < self.log.snapshot_index() {
            // The prefix up to our snapshot is committed, hence identical to the leader's;
            // only the entries past it need checking (merge skips the rest).
            if last_new <= self.log.snapshot_index() {
                let matched = self.log.snapshot_index();
                self.send(
                    from,
                    MessageBody::AppendAccepted {
                        match_index: matched,
                    },
                );
                return;
            }
            let first = (self.log.snapshot_index() - prev_index) as usize;
            // `first` >= 1, so entries[first - 1] is the entry at snapshot_index.
            if entries[first - 1].term != self.log.snapshot_term() {
                // Cannot happen in a correct cluster (committed prefixes agree); refuse safely.
                return;
            }
        } else {
            match self.log.term_at(prev_index) {
                None => {
                    let conflict_index = self.log.last_index() + 1;
                    self.send(
                        from,
                        MessageBody::AppendRejected {
                            prev_index,
                            conflict_term: None,
                            conflict_index,
                        },
                    );
                    return;
                }
                Some(term) if term != prev_term => {
                    let conflict_index = self.log.first_index_of_term_at(prev_index);
                    self.send(
                        from,
                        MessageBody::AppendRejected {
                            prev_index,
                            conflict_term: Some(term),
                            conflict_index,
                        },
                    );
                    return;
                }
                Some(_) => {}
            }
        }
        if let Some(from_index) = self.log.merge(entries) {
            self.truncated(from_index);
        }
        // Figure 2: commit = min(leaderCommit, index of last new entry).
        let commit = leader_commit.min(last_new);
        if commit > self.commit {
            self.commit = commit;
        }
        self.send(
            from,
            MessageBody::AppendAccepted {
                match_index: last_new,
            },
        );
    }

    /// The log lost its suffix from `from_index`: the host must overwrite it too.
    fn truncated(&mut self, from_index: Index) {
        self.stable = self.stable.min(from_index - 1);
        if let Some(flight) = self.in_flight.as_mut() {
            flight.stable_to = flight.stable_to.min(from_index - 1);
        }
    }

    fn on_heartbeat(&mut self, from: NodeId, commit: Index, round: u64) {
        self.heard_from_leader(from);
        // The leader caps `commit` at what it knows we hold in agreement with it.
        let commit = commit.min(self.log.last_index());
        if commit > self.commit {
            self.commit = commit;
        }
        self.send(from, MessageBody::HeartbeatResponse { round });
    }

    /// InstallSnapshot receiver (§7): replace the log and the state machine.
    fn on_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        self.heard_from_leader(from);
        if snapshot.index <= self.commit {
            let matched = self.commit;
            self.send(
                from,
                MessageBody::AppendAccepted {
                    match_index: matched,
                },
            );
            return;
        }
        let index = snapshot.index;
        if self.log.term_at(index) == Some(snapshot.term) {
            // §7: our log already holds the snapshot's last entry, so it matches the leader's
            // up to there; keep the entries after it (we may have acknowledged them) and let
            // the committed ones be applied the ordinary way.
            self.commit = index;
            self.send(from, MessageBody::AppendAccepted { match_index: index });
            return;
        }
        self.log.reset(snapshot.index, snapshot.term);
        self.stable = index;
        if let Some(flight) = self.in_flight.as_mut() {
            flight.stable_to = flight.stable_to.min(index);
        }
        self.commit = index;
        self.applied = index;
        self.snapshot = Some(snapshot.clone());
        self.pending_snapshot = Some(snapshot);
        self.send(from, MessageBody::AppendAccepted { match_index: index });
    }

    // ----- replication (leader side) -----------------------------------------------------------

    fn append_own(&mut self, payload: Payload) {
        let entry = Entry {
            index: self.log.last_index() + 1,
            term: self.term,
            payload,
        };
        self.log.push(entry);
        self.broadcast_due = true;
        if self.quorum == 1 {
            // Alone: commit follows our own persistence, in `advance`.
            self.broadcast_due = false;
        }
    }

    /// Sends the entries `progress.next ..` (at most `max_entries_per_append`) to `peer`, or
    /// the snapshot if they were compacted away.
    fn send_append(&mut self, peer: NodeId) {
        let Some(progress) = self.progress.get(&peer).copied() else {
            return;
        };
        if progress.next <= self.log.snapshot_index() {
            if let Some(snapshot) = self.snapshot.clone() {
                if let Some(p) = self.progress.get_mut(&peer) {
                    p.next = snapshot.index + 1;
                }
                self.msgs.push(Message {
                    from: self.config.id,
                    to: peer,
                    term: self.term,
                    body: MessageBody::InstallSnapshot { snapshot },
                });
            }
            return;
        }
        let prev_index = progress.next - 1;
        let Some(prev_term) = self.log.term_at(prev_index) else {
            // Unreachable: snapshot_index <= prev_index <= last_index here.
            return;
        };
        let max = self.config.max_entries_per_append as Index;
        let entries = self.log.slice(progress.next, progress.next + max - 1);
        let sent_to = prev_index + entries.len() as Index;
        if let Some(p) = self.progress.get_mut(&peer) {
            p.next = sent_to + 1;
        }
        self.msgs.push(Message {
            from: self.config.id,
            to: peer,
            term: self.term,
            body: MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit: self.commit,
            },
        });
    }

    fn on_accepted(&mut self, from: NodeId, match_index: Index) {
        if self.role != Role::Leader {
            return;
        }
        let last = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        progress.recent_active = true;
        progress.matched = progress.matched.max(match_index);
        progress.next = progress.next.max(progress.matched + 1);
        let (matched, next) = (progress.matched, progress.next);
        self.maybe_commit();
        if matched < last && next <= last {
            self.send_append(from);
        }
    }

    /// Fast back-off (§5.3, last paragraphs): jump `next` past a whole conflicting term.
    fn on_rejected(
        &mut self,
        from: NodeId,
        prev_index: Index,
        conflict_term: Option<Term>,
        conflict_index: Index,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let hint = match conflict_term {
            Some(term) => self
                .log
                .last_index_of_term(term)
                .map_or(conflict_index, |i| i + 1),
            None => conflict_index,
        };
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        progress.recent_active = true;
        if prev_index < progress.matched {
            return; // a stale rejection, overtaken by a later acceptance
        }
        progress.next = hint.min(prev_index).max(progress.matched + 1);
        self.send_append(from);
    }

    /// The commit rule (§5.3, §5.4.2): the highest index stored on a quorum (counting our own
    /// persisted log) is committed — if its entry is from the current term.
    fn maybe_commit(&mut self) {
        let mut matched: Vec<Index> = self.progress.values().map(|p| p.matched).collect();
        matched.push(self.stable.min(self.log.last_index()));
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = matched[self.quorum - 1];
        if candidate <= self.commit {
            return;
        }
        let term = self.log.term_at(candidate);
        if term == Some(self.term) || (self.config.bugs.commit_old_term && term.is_some()) {
            // BUG commit_old_term: the second arm counts replicas of older terms (Figure 8).
            self.commit = candidate;
        }
        if !self.committed_in_term && self.log.term_at(self.commit) == Some(self.term) {
            self.committed_in_term = true;
        }
    }

    fn broadcast_heartbeat(&mut self) {
        for peer in self.peers() {
            let matched = self.progress.get(&peer).map_or(0, |p| p.matched);
            self.msgs.push(Message {
                from: self.config.id,
                to: peer,
                term: self.term,
                body: MessageBody::Heartbeat {
                    commit: self.commit.min(matched),
                    round: self.read_round,
                },
            });
        }
    }

    fn on_heartbeat_response(&mut self, from: NodeId, round: u64) {
        if self.role != Role::Leader {
            return;
        }
        let last = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        progress.recent_active = true;
        progress.acked_round = progress.acked_round.max(round);
        let stalled = progress.matched < last && progress.matched == progress.matched_at_heartbeat;
        progress.matched_at_heartbeat = progress.matched;
        if stalled {
            // No progress for a whole heartbeat interval: appends were lost. Resend from
            // what we know matches.
            progress.next = progress.matched + 1;
            self.send_append(from);
        }
        self.confirm_reads();
    }

    // ----- ReadIndex ---------------------------------------------------------------------------

    /// Gives every read without a round the current commit index and a fresh heartbeat round,
    /// once the leader has committed an entry of its term.
    fn start_read_round(&mut self) {
        if !self.committed_in_term || !self.pending_reads.iter().any(|r| r.round == 0) {
            return;
        }
        self.read_round += 1;
        for read in self.pending_reads.iter_mut().filter(|r| r.round == 0) {
            read.round = self.read_round;
            read.index = self.commit;
        }
        self.heartbeat_elapsed = 0;
        self.broadcast_heartbeat();
        self.confirm_reads();
    }

    /// Moves reads whose round a quorum (us included) has acknowledged to `confirmed_reads`.
    fn confirm_reads(&mut self) {
        while let Some(read) = self.pending_reads.front().copied() {
            if read.round == 0 {
                break;
            }
            let acks = 1 + self
                .progress
                .values()
                .filter(|p| p.acked_round >= read.round)
                .count();
            if acks < self.quorum {
                break;
            }
            self.pending_reads.pop_front();
            self.confirmed_reads.push_back(ReadState {
                id: read.id,
                index: read.index,
            });
        }
    }

    fn fail_pending_reads(&mut self) {
        // Confirmed reads stay valid: leadership was confirmed after they arrived.
        self.failed_reads
            .extend(self.pending_reads.drain(..).map(|r| r.id));
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
