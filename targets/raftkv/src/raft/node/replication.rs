//! Log replication: the AppendEntries and InstallSnapshot receivers (§5.3, §7) and the
//! leader's side — sending bounded appends or snapshots, fast back-off, and the commit rule
//! (§5.4.2).

use super::RaftNode;
use crate::raft::types::{
    Entry, Index, Message, MessageBody, NodeId, Payload, Role, Snapshot, Term,
};

impl RaftNode {
    /// A message from the current term's leader: follow it and restart the election clock.
    pub(super) fn heard_from_leader(&mut self, from: NodeId) {
        if self.role != Role::Follower {
            self.become_follower(self.term, Some(from));
        }
        self.leader = Some(from);
        self.election_elapsed = 0;
    }

    /// AppendEntries receiver (§5.3, Figure 2).
    pub(super) fn on_append(
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
    pub(super) fn truncated(&mut self, from_index: Index) {
        self.stable = self.stable.min(from_index - 1);
        if let Some(flight) = self.in_flight.as_mut() {
            flight.stable_to = flight.stable_to.min(from_index - 1);
        }
    }

    pub(super) fn on_heartbeat(&mut self, from: NodeId, commit: Index, round: u64) {
        self.heard_from_leader(from);
        // The leader caps `commit` at what it knows we hold in agreement with it.
        let commit = commit.min(self.log.last_index());
        if commit > self.commit {
            self.commit = commit;
        }
        self.send(from, MessageBody::HeartbeatResponse { round });
    }

    /// InstallSnapshot receiver (§7): replace the log and the state machine.
    pub(super) fn on_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
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

    pub(super) fn append_own(&mut self, payload: Payload) {
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

    /// Pipelines appends to `peer` until it has been sent the whole log (or a snapshot), at
    /// most `max_append_burst` messages per call, so a burst of proposals is not held back to
    /// one bounded append per round trip.
    pub(super) fn send_appends(&mut self, peer: NodeId) {
        for _ in 0..self.config.max_append_burst {
            let Some(progress) = self.progress.get(&peer) else {
                return;
            };
            if progress.next > self.log.last_index() {
                return;
            }
            let snapshot = progress.next <= self.log.snapshot_index();
            self.send_append(peer);
            if snapshot {
                return;
            }
        }
    }

    /// Sends the entries `progress.next ..` (at most `max_entries_per_append`) to `peer`, or
    /// the snapshot if they were compacted away.
    pub(super) fn send_append(&mut self, peer: NodeId) {
        let Some(progress) = self.progress.get(&peer).copied() else {
            return;
        };
        if progress.next <= self.log.snapshot_index() {
            if progress.snapshot_cooldown > 0 {
                return; // one is in flight; snapshots are big, so do not resend it every beat
            }
            if let Some(snapshot) = self.snapshot.clone() {
                if let Some(p) = self.progress.get_mut(&peer) {
                    p.next = snapshot.index + 1;
                    p.snapshot_cooldown = self.config.election_ticks;
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

    pub(super) fn on_accepted(&mut self, from: NodeId, match_index: Index) {
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
            self.send_appends(from);
        }
    }

    /// Fast back-off (§5.3, last paragraphs): jump `next` past a whole conflicting term.
    pub(super) fn on_rejected(
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
    pub(super) fn maybe_commit(&mut self) {
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

    pub(super) fn broadcast_heartbeat(&mut self) {
        self.next_lease_round();
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

    pub(super) fn on_heartbeat_response(&mut self, from: NodeId, round: u64) {
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
        self.renew_lease();
        self.confirm_reads();
    }
}
