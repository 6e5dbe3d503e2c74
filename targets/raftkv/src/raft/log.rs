//! The core's in-memory copy of the replicated log: the last snapshot's position plus the
//! entries after it. The host keeps the durable copy (told through `Ready`); this copy lets the
//! core answer consistency checks and build appends without calling back into the host.

use super::types::{Entry, Index, Term};

/// Entries `snapshot_index + 1 ..= last_index`, with the term of the snapshot's last entry.
#[derive(Clone, Debug, Default)]
pub(crate) struct RaftLog {
    /// Index of the last entry folded into the snapshot (0 when none).
    snapshot_index: Index,
    /// Term of the entry at `snapshot_index` (0 when none).
    snapshot_term: Term,
    /// `entries[k]` has index `snapshot_index + 1 + k`.
    entries: Vec<Entry>,
}

impl RaftLog {
    /// A log whose first `snapshot_index` entries live only in a snapshot.
    pub(crate) fn new(snapshot_index: Index, snapshot_term: Term) -> Self {
        RaftLog {
            snapshot_index,
            snapshot_term,
            entries: Vec::new(),
        }
    }

    pub(crate) fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }

    pub(crate) fn snapshot_term(&self) -> Term {
        self.snapshot_term
    }

    pub(crate) fn last_index(&self) -> Index {
        self.snapshot_index + self.entries.len() as Index
    }

    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// The entries held in memory, in index order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Term of the entry at `index`; `None` if compacted away (below the snapshot) or absent.
    pub(crate) fn term_at(&self, index: Index) -> Option<Term> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        self.entry(index).map(|e| e.term)
    }

    /// The entry at `index`, if held in memory.
    pub(crate) fn entry(&self, index: Index) -> Option<&Entry> {
        if index <= self.snapshot_index {
            return None;
        }
        self.entries.get((index - self.snapshot_index - 1) as usize)
    }

    /// Copies of entries `lo ..= hi` that are held in memory (clamped to the log).
    pub(crate) fn slice(&self, lo: Index, hi: Index) -> Vec<Entry> {
        let lo = lo.max(self.snapshot_index + 1);
        let hi = hi.min(self.last_index());
        if lo > hi {
            return Vec::new();
        }
        let start = (lo - self.snapshot_index - 1) as usize;
        let end = (hi - self.snapshot_index) as usize;
        self.entries[start..end].to_vec()
    }

    /// Appends one entry at `last_index + 1`.
    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push(entry);
    }

    /// Stores `entries` (contiguous, following an entry that matches the leader's), skipping
    /// those already present with the same term and truncating at the first conflict (§5.3).
    /// Entries at or below the snapshot are committed and therefore already held: skipped.
    /// Returns the index the log was truncated from, if it was.
    pub(crate) fn merge(&mut self, entries: &[Entry]) -> Option<Index> {
        let mut truncated = None;
        for entry in entries {
            if entry.index <= self.snapshot_index {
                continue;
            }
            match self.term_at(entry.index) {
                Some(term) if term == entry.term => continue,
                Some(_) => {
                    self.entries
                        .truncate((entry.index - self.snapshot_index - 1) as usize);
                    truncated = Some(entry.index);
                    self.entries.push(entry.clone());
                }
                None => self.entries.push(entry.clone()),
            }
        }
        truncated
    }

    /// Drops entries up to and including `index`, which must be held (or be the snapshot index).
    pub(crate) fn compact(&mut self, index: Index) {
        if index <= self.snapshot_index {
            return;
        }
        let Some(term) = self.term_at(index) else {
            return;
        };
        let drop = (index - self.snapshot_index) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// Replaces the whole log with an installed snapshot's position.
    pub(crate) fn reset(&mut self, snapshot_index: Index, snapshot_term: Term) {
        self.entries.clear();
        self.snapshot_index = snapshot_index;
        self.snapshot_term = snapshot_term;
    }

    /// Whether a candidate's log ending at (`last_index`, `last_term`) is at least as
    /// up-to-date as this one (§5.4.1).
    pub(crate) fn is_up_to_date(&self, last_index: Index, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// First index of the run of `term` that contains `index` (for the conflict hint).
    pub(crate) fn first_index_of_term_at(&self, index: Index) -> Index {
        let Some(term) = self.term_at(index) else {
            return index;
        };
        let mut first = index;
        while first > self.snapshot_index + 1 && self.term_at(first - 1) == Some(term) {
            first -= 1;
        }
        first
    }

    /// Last index holding an entry of `term`, if any (the leader's side of fast back-off).
    pub(crate) fn last_index_of_term(&self, term: Term) -> Option<Index> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.term == term)
            .map(|e| e.index)
            .or((self.snapshot_term == term && self.snapshot_index > 0)
                .then_some(self.snapshot_index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::types::Payload;

    fn entries(terms: &[(Index, Term)]) -> Vec<Entry> {
        terms
            .iter()
            .map(|&(index, term)| Entry {
                index,
                term,
                payload: Payload::Noop,
            })
            .collect()
    }

    #[test]
    fn merge_truncates_at_first_conflict_only() {
        // §5.3: "If an existing entry conflicts with a new one (same index but different
        // terms), delete the existing entry and all that follow it".
        let mut log = RaftLog::new(0, 0);
        assert_eq!(log.merge(&entries(&[(1, 1), (2, 1), (3, 2)])), None);
        assert_eq!(log.merge(&entries(&[(2, 1)])), None, "duplicates are kept");
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.merge(&entries(&[(2, 1), (3, 3)])), Some(3));
        assert_eq!(log.last_index(), 3);
        assert_eq!(log.term_at(3), Some(3));
    }

    #[test]
    fn compaction_keeps_the_boundary_term() {
        let mut log = RaftLog::new(0, 0);
        log.merge(&entries(&[(1, 1), (2, 1), (3, 2), (4, 2)]));
        log.compact(3);
        assert_eq!((log.snapshot_index(), log.snapshot_term()), (3, 2));
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(2), None);
        assert_eq!(log.slice(1, 10).len(), 1);
        assert_eq!(log.merge(&entries(&[(2, 1), (3, 2), (4, 2), (5, 2)])), None);
        assert_eq!(log.last_index(), 5);
    }

    #[test]
    fn term_runs_for_fast_back_off() {
        let mut log = RaftLog::new(0, 0);
        log.merge(&entries(&[(1, 1), (2, 2), (3, 2), (4, 2), (5, 4)]));
        assert_eq!(log.first_index_of_term_at(4), 2);
        assert_eq!(log.first_index_of_term_at(5), 5);
        assert_eq!(log.last_index_of_term(2), Some(4));
        assert_eq!(log.last_index_of_term(3), None);
    }
}
