//! Terms, roles and elections: the term rules every message passes through (§5.1), pre-vote
//! (thesis §9.6), leader stickiness and check-quorum, and the vote itself (§5.2, §5.4.1).

use super::{Progress, RaftNode};
use crate::raft::types::{Index, Message, MessageBody, NodeId, Payload, Role, Term};
use rand::RngExt;

impl RaftNode {
    /// Applies the term rules common to all messages (§5.1, thesis §9.6 for pre-vote, and
    /// leader stickiness). Returns false when the message must not be processed further.
    pub(super) fn step_term(&mut self, msg: &Message) -> bool {
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
    pub(super) fn in_lease(&self) -> bool {
        self.role == Role::Leader
            || (self.leader.is_some() && self.election_elapsed < self.config.election_ticks)
            || self.startup_quiet > 0
    }

    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
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
    pub(super) fn pre_campaign(&mut self) {
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
    pub(super) fn campaign(&mut self) {
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

    pub(super) fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.config.id);
        self.votes.clear();
        self.heartbeat_elapsed = 0;
        self.election_elapsed = 0;
        self.committed_in_term = false;
        self.read_round = 0;
        self.drop_lease();
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
                        snapshot_cooldown: 0,
                    },
                )
            })
            .collect();
        // §8: a new leader commits an entry of its own term at once, which commits earlier
        // terms' entries and enables ReadIndex.
        self.append_own(Payload::Noop);
    }

    pub(super) fn votes_won(&self) -> bool {
        self.votes.values().filter(|granted| **granted).count() >= self.quorum
    }

    pub(super) fn votes_lost(&self) -> bool {
        self.votes.values().filter(|granted| !**granted).count() >= self.quorum
    }

    pub(super) fn on_pre_vote(
        &mut self,
        from: NodeId,
        term: Term,
        last_index: Index,
        last_term: Term,
    ) {
        let granted = term > self.term && self.log.is_up_to_date(last_index, last_term);
        let reply_term = if granted { term } else { self.term };
        self.msgs.push(Message {
            from: self.config.id,
            to: from,
            term: reply_term,
            body: MessageBody::PreVoteResponse { granted },
        });
    }

    pub(super) fn on_pre_vote_response(&mut self, from: NodeId, term: Term, granted: bool) {
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

    pub(super) fn on_vote(&mut self, from: NodeId, last_index: Index, last_term: Term) {
        let can_vote = self.vote == Some(from) || (self.vote.is_none() && self.leader.is_none());
        let granted = can_vote && self.log.is_up_to_date(last_index, last_term);
        if granted {
            self.vote = Some(from);
            self.reset_election_timer();
        }
        self.send(from, MessageBody::VoteResponse { granted });
    }

    pub(super) fn on_vote_response(&mut self, from: NodeId, granted: bool) {
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
    pub(super) fn check_quorum(&mut self) {
        let active = 1 + self.progress.values().filter(|p| p.recent_active).count();
        for progress in self.progress.values_mut() {
            progress.recent_active = false;
        }
        // With the stale-read bug the leader trusts its own belief: like an implementation
        // that serves reads locally and never checks its quorum, a deposed leader cut off by a
        // partition keeps believing it leads, so it keeps serving stale reads until it hears
        // of a higher term.
        // Lease mode: a leader whose lease holds keeps leading until it ends (no other leader
        // can be elected meanwhile, if its clock is right); it steps down at the first check
        // after.
        if active < self.quorum && !self.config.bugs.stale_read && !self.lease_holds() {
            self.become_follower(self.term, None);
        }
    }

    pub(super) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let base = self.config.election_ticks;
        self.randomized_timeout = self.rng.random_range(base..2 * base);
    }
}
