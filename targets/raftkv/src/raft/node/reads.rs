//! ReadIndex (thesis §6.4): a read is confirmed by a quorum heartbeat round started after the
//! leader has committed an entry of its term, and is released once its index is applied.

use super::RaftNode;
use crate::raft::types::ReadState;

impl RaftNode {
    /// Gives every read without a round the current commit index and a fresh heartbeat round,
    /// once the leader has committed an entry of its term.
    pub(super) fn start_read_round(&mut self) {
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
