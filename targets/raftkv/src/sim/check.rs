//! The safety invariants the simulation asserts after every step (Raft paper Figure 3, plus
//! linearizable reads and durable acknowledgements). Each check is incremental, so asserting
//! after every step stays cheap.

use std::collections::HashMap;
use std::fmt;

use crate::raft::{Entry, Index, NodeId, Payload, RaftNode, Role, Term};

/// A broken safety property, with what was seen where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Election Safety (§5.2): two leaders in one term.
    TwoLeaders {
        /// The term.
        term: Term,
        /// The leader seen first.
        first: NodeId,
        /// The other leader.
        second: NodeId,
    },
    /// Log Matching (§5.3): two logs hold the same (index, term) with different content or
    /// different preceding entries.
    LogMatching {
        /// The node whose log disagrees with an earlier observation.
        node: NodeId,
        /// The entry's index.
        index: Index,
        /// The entry's term.
        term: Term,
        /// What differs.
        detail: String,
    },
    /// Leader Completeness (§5.4): a leader lacks an entry committed in an earlier or equal term.
    LeaderCompleteness {
        /// The leader.
        leader: NodeId,
        /// Its term.
        term: Term,
        /// Index of the committed entry it lacks.
        index: Index,
        /// Term of the committed entry.
        committed_term: Term,
        /// Term the leader holds at that index, if any.
        found: Option<Term>,
    },
    /// A node's commit index covers an entry that differs from the one committed there before:
    /// a committed entry was overwritten (the Figure 8 outcome).
    CommittedEntryChanged {
        /// The node.
        node: NodeId,
        /// The index.
        index: Index,
        /// (term, command) committed earlier.
        before: (Term, u64),
        /// (term, command) this node has now.
        now: (Term, u64),
    },
    /// State Machine Safety (§5.4.3): two nodes applied different entries at one index.
    StateMachineSafety {
        /// The node applying.
        node: NodeId,
        /// The index.
        index: Index,
        /// (term, command) applied earlier by some node.
        before: (Term, u64),
        /// (term, command) this node applies.
        now: (Term, u64),
    },
    /// A write acknowledged to its client is not what gets applied at its index: it was lost.
    AckedWriteLost {
        /// The node applying something else.
        node: NodeId,
        /// The index of the acknowledged write.
        index: Index,
        /// The acknowledged write's id.
        write: u64,
        /// (term, command) applied there instead.
        applied: (Term, u64),
    },
    /// A read missed a write acknowledged before the read started (not linearizable).
    StaleRead {
        /// The node that served the read.
        node: NodeId,
        /// The read request id.
        read: u64,
        /// The read index it was served at.
        read_index: Index,
        /// An acknowledged write the served state lacks.
        missing_write: u64,
        /// Whether a leader of a later term than the server's had already been elected: the
        /// server was a deposed leader still acting on its old belief.
        deposed: bool,
    },
}

impl Violation {
    /// A stable short name of the property broken, for tests that look for one kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::TwoLeaders { .. } => "two_leaders",
            Violation::LogMatching { .. } => "log_matching",
            Violation::LeaderCompleteness { .. } => "leader_completeness",
            Violation::CommittedEntryChanged { .. } => "committed_entry_changed",
            Violation::StateMachineSafety { .. } => "state_machine_safety",
            Violation::AckedWriteLost { .. } => "acked_write_lost",
            Violation::StaleRead { .. } => "stale_read",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::TwoLeaders {
                term,
                first,
                second,
            } => write!(f, "two leaders in term {term}: {first} and {second} (§5.2)"),
            Violation::LogMatching {
                node,
                index,
                term,
                detail,
            } => write!(
                f,
                "log matching broken at node {node}, entry ({index}, term {term}): {detail} (§5.3)"
            ),
            Violation::LeaderCompleteness {
                leader,
                term,
                index,
                committed_term,
                found,
            } => write!(
                f,
                "leader {leader} of term {term} lacks committed entry {index} of term \
                 {committed_term}, has {found:?} (§5.4.1)"
            ),
            Violation::CommittedEntryChanged {
                node,
                index,
                before,
                now,
            } => write!(
                f,
                "node {node} commits {now:?} at index {index}, where {before:?} was committed (§5.4.2)"
            ),
            Violation::StateMachineSafety {
                node,
                index,
                before,
                now,
            } => write!(
                f,
                "node {node} applies {now:?} at index {index}, another node applied {before:?} (§5.4.3)"
            ),
            Violation::AckedWriteLost {
                node,
                index,
                write,
                applied,
            } => write!(
                f,
                "acknowledged write {write} at index {index} lost: node {node} applies {applied:?} there"
            ),
            Violation::StaleRead {
                node,
                read,
                read_index,
                missing_write,
                deposed,
            } => write!(
                f,
                "read {read} served by {}node {node} at read index {read_index} misses write \
                 {missing_write}, acknowledged before the read began (thesis §6.4)",
                if *deposed { "deposed leader " } else { "" }
            ),
        }
    }
}

/// The command id a payload carries (`u64::MAX` for a no-op).
pub fn command_id(payload: &Payload) -> u64 {
    match payload {
        Payload::Noop => u64::MAX,
        Payload::Command(bytes) => bytes
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(u64::MAX - 1, u64::from_le_bytes),
    }
}

/// Everything observed so far across all nodes, against which new observations are checked.
#[derive(Debug, Default)]
pub struct Invariants {
    leaders: HashMap<Term, NodeId>,
    /// (index, term) -> (command, term of the previous entry).
    entries: HashMap<(Index, Term), (u64, Term)>,
    /// committed[i - 1] = (term, command, term of the node that first saw it committed).
    committed: Vec<(Term, u64, Term)>,
    /// Per node: highest commit index already compared with `committed`.
    seen_commit: HashMap<NodeId, Index>,
    /// Per leader: (term, index up to which its log was checked against `committed`).
    leader_checked: HashMap<NodeId, (Term, Index)>,
    /// applied[i - 1] = (term, command) first applied at index i.
    applied: Vec<(Term, u64)>,
    /// index -> (term, write id) of acknowledged writes.
    acked: HashMap<Index, (Term, u64)>,
}

impl Invariants {
    /// Election Safety: records `node` as leader of its term if it is one.
    pub fn observe_role(&mut self, node: &RaftNode) -> Result<(), Violation> {
        if node.role() != Role::Leader {
            return Ok(());
        }
        let first = *self.leaders.entry(node.term()).or_insert(node.id());
        if first != node.id() {
            return Err(Violation::TwoLeaders {
                term: node.term(),
                first,
                second: node.id(),
            });
        }
        Ok(())
    }

    /// The highest term in which a leader has been seen.
    pub fn newest_leader_term(&self) -> Term {
        self.leaders.keys().copied().max().unwrap_or(0)
    }

    /// Log Matching: checks entries a node reports for persistence; `prev_term` is the term of
    /// the entry before the first one.
    pub fn observe_entries(
        &mut self,
        node: NodeId,
        prev_term: Term,
        entries: &[Entry],
    ) -> Result<(), Violation> {
        let mut prev = prev_term;
        for entry in entries {
            let seen = (command_id(&entry.payload), prev);
            let first = *self
                .entries
                .entry((entry.index, entry.term))
                .or_insert(seen);
            if first != seen {
                return Err(Violation::LogMatching {
                    node,
                    index: entry.index,
                    term: entry.term,
                    detail: format!("(command, previous term) is {seen:?}, elsewhere {first:?}"),
                });
            }
            prev = entry.term;
        }
        Ok(())
    }

    /// Records newly committed entries of `node` and checks they agree with earlier commits.
    pub fn observe_commit(&mut self, node: &RaftNode) -> Result<(), Violation> {
        let commit = node.commit_index();
        let seen = self.seen_commit.entry(node.id()).or_insert(0);
        let from = (*seen + 1).max(node.snapshot_position().0 + 1);
        for index in from..=commit {
            let Some(entry) = node
                .log_entries()
                .get((index - node.snapshot_position().0 - 1) as usize)
            else {
                break;
            };
            let now = (entry.term, command_id(&entry.payload));
            match self.committed.get((index - 1) as usize) {
                Some(&(term, command, _)) if (term, command) != now => {
                    return Err(Violation::CommittedEntryChanged {
                        node: node.id(),
                        index,
                        before: (term, command),
                        now,
                    });
                }
                Some(_) => {}
                None if self.committed.len() as Index == index - 1 => {
                    self.committed.push((now.0, now.1, node.term()));
                }
                None => break, // a gap: learnt through a snapshot; nothing to record
            }
        }
        *seen = (*seen).max(commit);
        Ok(())
    }

    /// Leader Completeness: a leader of term T holds every entry committed in terms <= T.
    pub fn check_leader_completeness(&mut self, node: &RaftNode) -> Result<(), Violation> {
        if node.role() != Role::Leader {
            return Ok(());
        }
        let term = node.term();
        let checked = self.leader_checked.entry(node.id()).or_insert((term, 0));
        if checked.0 != term {
            *checked = (term, 0);
        }
        let (snapshot_index, _) = node.snapshot_position();
        let mut index = checked.1 + 1;
        while let Some(&(committed_term, _, commit_term)) = self.committed.get((index - 1) as usize)
        {
            if commit_term > term {
                break; // committed after this leader's term: it need not hold it
            }
            if index > snapshot_index {
                let found = node.term_at(index);
                if found != Some(committed_term) {
                    return Err(Violation::LeaderCompleteness {
                        leader: node.id(),
                        term,
                        index,
                        committed_term,
                        found,
                    });
                }
            }
            checked.1 = index;
            index += 1;
        }
        Ok(())
    }

    /// State Machine Safety and durable acknowledgements: checks one applied entry.
    pub fn observe_apply(&mut self, node: NodeId, entry: &Entry) -> Result<(), Violation> {
        let now = (entry.term, command_id(&entry.payload));
        if let Some(&(term, write)) = self.acked.get(&entry.index) {
            if (term, write) != now {
                return Err(Violation::AckedWriteLost {
                    node,
                    index: entry.index,
                    write,
                    applied: now,
                });
            }
        }
        let slot = (entry.index - 1) as usize;
        match self.applied.get(slot) {
            Some(&before) if before != now => Err(Violation::StateMachineSafety {
                node,
                index: entry.index,
                before,
                now,
            }),
            Some(_) => Ok(()),
            None => {
                // Nobody applies past a gap: snapshots only cover what some node applied.
                if self.applied.len() == slot {
                    self.applied.push(now);
                }
                Ok(())
            }
        }
    }

    /// Records that write `write`, at `index` in `term`, was acknowledged to its client.
    pub fn acknowledge(&mut self, index: Index, term: Term, write: u64) {
        self.acked.insert(index, (term, write));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{Config, RaftNode, Recovered};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn entry(index: Index, term: Term, command: u64) -> Entry {
        Entry {
            index,
            term,
            payload: Payload::Command(command.to_le_bytes().to_vec()),
        }
    }

    /// A single-node cluster that has elected itself: a leader to observe.
    fn lone_leader(id: NodeId) -> RaftNode {
        let config = Config::new(id, vec![id]);
        let rng = ChaCha8Rng::seed_from_u64(id);
        let mut node = RaftNode::new(config, Recovered::default(), rng).expect("valid");
        while node.role() != Role::Leader {
            node.tick();
        }
        node
    }

    #[test]
    fn two_leaders_in_one_term_are_caught() {
        let mut inv = Invariants::default();
        assert_eq!(inv.observe_role(&lone_leader(1)), Ok(()));
        let err = inv.observe_role(&lone_leader(2)).map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), "two_leaders", "{err}");
    }

    #[test]
    fn same_index_and_term_with_different_content_breaks_log_matching() {
        let mut inv = Invariants::default();
        assert_eq!(
            inv.observe_entries(1, 0, &[entry(1, 1, 10), entry(2, 1, 11)]),
            Ok(())
        );
        assert_eq!(
            inv.observe_entries(2, 1, &[entry(2, 1, 11)]),
            Ok(()),
            "same entry"
        );
        let err = inv.observe_entries(3, 1, &[entry(2, 1, 99)]).unwrap_err();
        assert_eq!(err.kind(), "log_matching", "{err}");
        let err = inv.observe_entries(3, 2, &[entry(2, 1, 11)]).unwrap_err();
        assert_eq!(err.kind(), "log_matching", "different previous term: {err}");
    }

    #[test]
    fn different_applies_at_one_index_and_lost_acks_are_caught() {
        let mut inv = Invariants::default();
        assert_eq!(inv.observe_apply(1, &entry(1, 1, 10)), Ok(()));
        assert_eq!(inv.observe_apply(2, &entry(1, 1, 10)), Ok(()));
        let err = inv.observe_apply(3, &entry(1, 2, 20)).unwrap_err();
        assert_eq!(err.kind(), "state_machine_safety", "{err}");
        inv.acknowledge(2, 1, 11);
        let err = inv.observe_apply(1, &entry(2, 2, 21)).unwrap_err();
        assert_eq!(err.kind(), "acked_write_lost", "{err}");
    }

    #[test]
    fn a_leader_lacking_a_committed_entry_breaks_leader_completeness() {
        let mut inv = Invariants::default();
        // Node 1 leads term 1 and commits its no-op at index 1.
        let mut first = lone_leader(1);
        first.ready();
        first.advance(); // persisting the no-op commits it
        assert_eq!(first.commit_index(), 1);
        assert_eq!(inv.observe_commit(&first), Ok(()));
        assert_eq!(inv.check_leader_completeness(&first), Ok(()));
        // Node 2 leads term 3 with a term-2 entry at index 1 instead.
        let recovered = Recovered {
            hard_state: crate::raft::HardState {
                term: 2,
                vote: None,
                commit: 0,
            },
            snapshot: None,
            entries: vec![entry(1, 2, 7)],
        };
        let rng = ChaCha8Rng::seed_from_u64(2);
        let mut later = RaftNode::new(Config::new(2, vec![2]), recovered, rng).expect("valid");
        while later.role() != Role::Leader {
            later.tick();
        }
        assert_eq!(later.term(), 3);
        let err = inv
            .check_leader_completeness(&later)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind(), "leader_completeness", "{err}");
    }
}
