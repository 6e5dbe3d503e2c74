//! The memo of visited search configurations (set of linearized ops, model state).
//!
//! Keys are variable-length word strings (see `search::Search::key`), stored back to back in
//! one arena with a length prefix; the hash table holds only 4-byte arena offsets. This keeps
//! a configuration to a few words instead of a boxed bitset per entry, which is what lets
//! the unpartitioned searches stay inside their memory ceiling.

use crate::checker::hash::hash_words;
use hashbrown::HashTable;

/// A set of word strings with compact storage.
#[derive(Default)]
pub(crate) struct Memo {
    table: HashTable<u32>,
    arena: Vec<u64>,
}

/// The arena outgrew its 32-bit offsets; the caller treats this like a memory limit.
#[derive(Debug)]
pub(crate) struct MemoFull;

impl Memo {
    /// Inserts `key`; `Ok(true)` when it was new, `Ok(false)` when already present.
    pub(crate) fn insert(&mut self, key: &[u64]) -> Result<bool, MemoFull> {
        let hash = hash_words(key);
        let arena = &self.arena;
        let entry = |off: &u32| -> &[u64] {
            let off = *off as usize;
            // Invariant: every stored offset points at a length word followed by that many words.
            let len = arena[off] as usize;
            &arena[off + 1..off + 1 + len]
        };
        if self.table.find(hash, |off| entry(off) == key).is_some() {
            return Ok(false);
        }
        let off = u32::try_from(self.arena.len()).map_err(|_| MemoFull)?;
        self.arena.push(key.len() as u64);
        self.arena.extend_from_slice(key);
        let arena = &self.arena;
        self.table.insert_unique(hash, off, |off| {
            let off = *off as usize;
            let len = arena[off] as usize;
            hash_words(&arena[off + 1..off + 1 + len])
        });
        Ok(true)
    }

    /// True when `key` is stored.
    pub(crate) fn contains(&self, key: &[u64]) -> bool {
        let hash = hash_words(key);
        let arena = &self.arena;
        self.table
            .find(hash, |off| {
                let off = *off as usize;
                // Invariant: every stored offset points at a length word and its words.
                let len = arena[off] as usize;
                &arena[off + 1..off + 1 + len] == key
            })
            .is_some()
    }

    /// Number of configurations stored.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Approximate heap bytes held.
    pub(crate) fn bytes(&self) -> u64 {
        (self.arena.capacity() * 8 + self.table.allocation_size()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_each_key_once() {
        let mut m = Memo::default();
        assert!(m.insert(&[1, 2, 3]).unwrap());
        assert!(m.insert(&[1, 2]).unwrap());
        assert!(!m.insert(&[1, 2, 3]).unwrap());
        assert!(m.insert(&[]).unwrap());
        assert!(!m.insert(&[]).unwrap());
        for i in 0..10_000u64 {
            assert!(m.insert(&[i, i * 7]).unwrap());
        }
        assert!(!m.insert(&[9_999, 69_993]).unwrap());
        assert!(m.contains(&[9_999, 69_993]) && m.contains(&[]) && m.contains(&[1, 2]));
        assert!(!m.contains(&[1, 2, 4]) && !m.contains(&[10_000, 70_000]));
        assert_eq!(m.len(), 10_003);
        assert!(m.bytes() > 10_000 * 8);
    }
}
