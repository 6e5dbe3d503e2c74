//! ReadIndex (thesis §6.4): a read is confirmed by a quorum heartbeat round started after the
//! leader has committed an entry of its term, and is released once its index is applied.
//!
//! Lease reads (thesis §6.4.1): every heartbeat broadcast is a round stamped with the host
//! clock; when a quorum has acknowledged a round, the leader holds a lease from that round's
//! send time for `lease_us`. Each follower that acknowledged reset its election timer after
//! the send and will not vote for another node for an election timeout (stickiness, and a
//! quiet start after a restart), so no other leader can be elected while the lease holds —
//! as long as the leader's clock does not run slower than the followers' by more than the
//! margin the host left. A read that arrives while the lease holds is confirmed at once.

use std::collections::VecDeque;

use super::RaftNode;
use crate::raft::config::ReadMode;
use crate::raft::types::{ReadState, Role};

/// Most unacknowledged lease rounds remembered (a cut-off leader stops counting).
const MAX_LEASE_ROUNDS: usize = 1024;

impl RaftNode {
    /// Gives every read without a round the current commit index and a fresh heartbeat round,
    /// once the leader has committed an entry of its term.
    pub(super) fn start_read_round(&mut self) {
        if !self.committed_in_term || !self.pending_reads.iter().any(|r| r.round == 0) {
            return;
        }
        if !self.lease_mode() {
            self.read_round += 1;
        }
        let round = self.read_round + u64::from(self.lease_mode());
        for read in self.pending_reads.iter_mut().filter(|r| r.round == 0) {
            read.round = round;
            read.index = self.commit;
        }
        self.heartbeat_elapsed = 0;
        // In lease mode the broadcast itself starts the next round (`round`).
        self.broadcast_heartbeat();
        self.confirm_reads();
    }

    pub(super) fn lease_mode(&self) -> bool {
        matches!(self.config.read_mode, ReadMode::Lease { .. })
    }

    /// Lease mode, at a heartbeat broadcast: starts the next round, stamped with the clock.
    pub(super) fn next_lease_round(&mut self) {
        if !self.lease_mode() {
            return;
        }
        self.read_round += 1;
        if let Some(now) = self.clock_us {
            if self.lease_rounds.len() == MAX_LEASE_ROUNDS {
                self.lease_rounds.pop_front();
            }
            self.lease_rounds.push_back((self.read_round, now));
        }
    }

    /// Lease mode, after an acknowledgement: the lease starts at the send time of the
    /// latest round a quorum (us included) has acknowledged.
    pub(super) fn renew_lease(&mut self) {
        if !self.lease_mode() || self.quorum < 2 {
            return;
        }
        let mut acked: Vec<u64> = self.progress.values().map(|p| p.acked_round).collect();
        acked.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&round) = acked.get(self.quorum - 2) else {
            return;
        };
        let mut sent = None;
        while let Some(&(r, at)) = self.lease_rounds.front() {
            if r > round {
                break;
            }
            sent = Some(at);
            self.lease_rounds.pop_front();
        }
        if let Some(at) = sent {
            self.lease_start = Some(self.lease_start.map_or(at, |s| s.max(at)));
        }
    }

    /// Whether this node may answer a read locally now: lease mode, leader, an entry of its
    /// term committed (so its commit index covers every committed write), and the clock last
    /// set within the lease.
    pub(super) fn lease_holds(&self) -> bool {
        let ReadMode::Lease { lease_us } = self.config.read_mode else {
            return false;
        };
        if self.role != Role::Leader || !self.committed_in_term {
            return false;
        }
        if self.quorum < 2 {
            return true;
        }
        match (self.lease_start, self.clock_us) {
            (Some(start), Some(now)) => now < start.saturating_add(lease_us),
            _ => false,
        }
    }

    /// Lease mode: forgets every round and the lease (a new term starts from nothing).
    pub(super) fn drop_lease(&mut self) {
        self.lease_rounds = VecDeque::new();
        self.lease_start = None;
    }

    /// Moves reads whose round a quorum (us included) has acknowledged to `confirmed_reads`.
    pub(super) fn confirm_reads(&mut self) {
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

    pub(super) fn fail_pending_reads(&mut self) {
        // Confirmed reads stay valid: leadership was confirmed after they arrived.
        self.failed_reads
            .extend(self.pending_reads.drain(..).map(|r| r.id));
    }
}
