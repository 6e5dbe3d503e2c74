//! Durable Raft state on disk: hard state (term, vote, commit), log entries and the latest
//! snapshot, in one data directory.
//!
//! Layout of the data directory:
//! - `wal.log` — a [`Wal`] of bincode [`Record`]s: hard-state updates and appended entries.
//! - `snapshot.bin` — the latest snapshot, one checksummed frame, replaced atomically.
//!
//! The host calls [`Storage::set_hard_state`] and [`Storage::append`] for everything in a Raft
//! `Ready`, then [`Storage::sync`] once: one fsync covers every entry of the batch (group
//! commit), and only after it may the host send the Ready's messages or answer clients.
//!
//! Compaction: when the host snapshots its state machine it calls [`Storage::compact`], which
//! writes the snapshot file and then rewrites `wal.log` with only the hard state and the entries
//! after the snapshot. Both steps are atomic renames, so disk use stays bounded by one snapshot
//! plus the entries since it. A snapshot received from the leader goes through
//! [`Storage::install_snapshot`], the same way.
//!
//! Recovery ([`Storage::open`]) reads the snapshot, then replays the log: an `Entries` record
//! overwrites any suffix from its first index on (a follower truncating a conflicting tail
//! writes exactly that), and entries covered by the snapshot are dropped.
//!
//! Corruption: a log rewritten after a snapshot starts with a `Base` record naming that
//! snapshot, so a `snapshot.bin` rolled back to an older (intact) version is caught, as is a
//! missing `wal.log` next to a snapshot. Together with the log's own checks ([`crate::wal`])
//! and the snapshot's checksum, any damage a crash cannot explain is
//! [`StorageError::is_corruption`], and the node refuses to start (exit 4) instead of
//! forgetting entries it acknowledged. [`Storage::open_with`]`(dir, false)` is the
//! `no_checksum` bug: every check is skipped and the log ends at the first record that does
//! not decode.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::raft::{Entry, HardState, Index, Recovered, Snapshot};
use crate::wal::{self, Wal, WalError};

/// Failures opening or writing the data directory.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] WalError),
    /// The data directory could not be created.
    #[error("create data directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A record passed its checksum but does not decode: written by another version, or a bug.
    #[error("{path}: record {record} does not decode: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// 0-based record number.
        record: usize,
        /// Why.
        #[source]
        source: bincode::Error,
    },
    /// The snapshot file is damaged (it is written atomically, so this is not a torn write).
    #[error("{path}: snapshot file is corrupt")]
    CorruptSnapshot {
        /// The file.
        path: PathBuf,
    },
    /// The files disagree in a way no crash explains.
    #[error("{path}: corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading the snapshot file failed.
    #[error("read {path}: {source}")]
    ReadSnapshot {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// One record of `wal.log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// The hard state changed.
    HardState(HardState),
    /// Entries appended in index order; any entry at or after the first one's index that was
    /// stored before is overwritten (a follower truncating a conflicting suffix).
    Entries(Vec<Entry>),
    /// First in a log rewritten after a snapshot: that snapshot's index and term.
    Base {
        /// The snapshot's last index.
        index: Index,
        /// Its term.
        term: u64,
    },
}

impl StorageError {
    /// Whether this is detected corruption (the node refuses to start; an availability
    /// event, not a crash to retry).
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StorageError::Corrupt { .. }
                | StorageError::CorruptSnapshot { .. }
                | StorageError::Decode { .. }
                | StorageError::Io(WalError::Corrupt { .. })
        )
    }
}

/// The durable copy of one node's Raft state.
#[derive(Debug)]
pub struct Storage {
    wal: Wal,
    wal_path: PathBuf,
    snapshot_path: PathBuf,
    hard_state: HardState,
    /// Index and term of the latest snapshot (0, 0 when none).
    snapshot_index: Index,
    /// Entries after the snapshot; kept so compaction can rewrite the log without the core.
    entries: Vec<Entry>,
}

fn encode(record: &Record) -> Vec<u8> {
    // bincode of plain integers, vectors and enums into memory cannot fail.
    bincode::serialize(record).expect("a Record always serialises")
}

/// Drops entries at or after `first` (they are being overwritten), then appends `new`.
fn splice(entries: &mut Vec<Entry>, new: &[Entry]) {
    if let Some(first) = new.first() {
        let keep = entries
            .iter()
            .position(|e| e.index >= first.index)
            .unwrap_or(entries.len());
        entries.truncate(keep);
        entries.extend_from_slice(new);
    }
}

/// Keeps only the entries after a snapshot at (`index`, `term`): if the log holds the
/// snapshot's last entry with the same term, the entries after it are still valid; if it holds
/// a different term there (or nothing there but entries after), the whole log is discarded.
fn drop_covered(entries: &mut Vec<Entry>, index: Index, term: u64) {
    let matches = entries
        .iter()
        .find(|e| e.index == index)
        .map(|e| e.term == term);
    let starts_after = entries.first().is_some_and(|e| e.index == index + 1);
    match matches {
        Some(true) => entries.retain(|e| e.index > index),
        _ if starts_after => {}
        _ => entries.clear(),
    }
}

impl Storage {
    /// Opens (creating if needed) the data directory and recovers what it holds, refusing
    /// corrupt files.
    pub fn open(dir: &Path) -> Result<(Storage, Recovered), StorageError> {
        Self::open_with(dir, true)
    }

    /// [`Storage::open`], with every corruption check skipped when `verify` is false (the
    /// `no_checksum` bug: it trusts what it reads back).
    pub fn open_with(dir: &Path, verify: bool) -> Result<(Storage, Recovered), StorageError> {
        fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let snapshot_path = dir.join("snapshot.bin");
        let wal_path = dir.join("wal.log");
        let snapshot = read_snapshot(&snapshot_path, verify)?;
        if verify && snapshot.is_some() && !wal_path.exists() {
            return Err(StorageError::Corrupt {
                path: wal_path,
                reason: "missing, but snapshot.bin exists (the log is written first)".into(),
            });
        }
        let (wal, payloads) = Wal::open(&wal_path, verify)?;
        let mut hard_state = HardState::default();
        let mut entries = Vec::new();
        let mut base = 0;
        for (i, payload) in payloads.iter().enumerate() {
            let record: Record = match bincode::deserialize(payload) {
                Ok(r) => r,
                Err(source) if verify => {
                    return Err(StorageError::Decode {
                        path: wal_path.clone(),
                        record: i,
                        source,
                    })
                }
                Err(e) => {
                    // Trusting: the log is taken to end here.
                    tracing::warn!(
                        record = i,
                        "wal record does not decode; the log ends here: {e}"
                    );
                    break;
                }
            };
            match record {
                Record::HardState(hs) => hard_state = hs,
                Record::Entries(new) => splice(&mut entries, &new),
                Record::Base { index, .. } => base = index,
            }
        }
        let snapshot_index = snapshot.as_ref().map_or(0, |s| s.index);
        if verify && base > snapshot_index {
            return Err(StorageError::Corrupt {
                path: snapshot_path,
                reason: format!(
                    "holds index {snapshot_index}, but wal.log was rewritten after a snapshot at index {base} (an older snapshot.bin)"
                ),
            });
        }
        if let Some(s) = &snapshot {
            drop_covered(&mut entries, s.index, s.term);
        }
        let storage = Storage {
            wal,
            wal_path,
            snapshot_path,
            hard_state,
            snapshot_index,
            entries: entries.clone(),
        };
        let recovered = Recovered {
            hard_state,
            snapshot,
            entries,
        };
        Ok((storage, recovered))
    }

    /// Buffers a hard-state update (skipped when unchanged); durable after [`Storage::sync`].
    pub fn set_hard_state(&mut self, hs: HardState) {
        if hs != self.hard_state {
            self.hard_state = hs;
            self.wal.append(&encode(&Record::HardState(hs)));
        }
    }

    /// Buffers entries to append (overwriting any stored suffix from the first one's index);
    /// durable after [`Storage::sync`].
    pub fn append(&mut self, entries: &[Entry]) {
        if entries.is_empty() {
            return;
        }
        splice(&mut self.entries, entries);
        self.wal.append(&encode(&Record::Entries(entries.to_vec())));
    }

    /// The `fsync_lie` bug: from now on [`Storage::sync`] writes the log but never fsyncs it
    /// (snapshots and log rewrites still do).
    pub fn lie_about_fsync(&mut self) {
        self.wal.skip_fsync();
    }

    /// Makes every buffered update durable with one fsync.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        Ok(self.wal.sync()?)
    }

    /// The last persisted (or buffered) hard state.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Index of the latest snapshot (0 when none).
    pub fn snapshot_index(&self) -> Index {
        self.snapshot_index
    }

    /// Number of entries stored after the snapshot.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of `wal.log` on disk.
    pub fn wal_bytes(&self) -> u64 {
        self.wal.len()
    }

    /// Stores a snapshot the host took of its own state machine and compacts the log to the
    /// entries after it.
    pub fn compact(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.store_snapshot(snapshot, false)
    }

    /// Stores a snapshot received from the leader: the stored log is discarded as a whole (the
    /// core sends the entries that follow in the same Ready).
    pub fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StorageError> {
        self.store_snapshot(snapshot, true)
    }

    /// Writes the snapshot file, then rewrites the log to hold the hard state plus the entries
    /// after the snapshot (none when `discard_log`). Buffered records are synced first so the
    /// rewrite loses nothing.
    fn store_snapshot(
        &mut self,
        snapshot: &Snapshot,
        discard_log: bool,
    ) -> Result<(), StorageError> {
        if snapshot.index <= self.snapshot_index && self.snapshot_index != 0 {
            return Ok(());
        }
        self.wal.sync()?;
        let bytes = bincode::serialize(snapshot).expect("a Snapshot always serialises");
        let mut framed = Vec::with_capacity(bytes.len() + 8);
        wal::frame(&bytes, 0, 0, &mut framed);
        wal::write_atomically(&self.snapshot_path, &framed)?;
        if discard_log {
            self.entries.clear();
        } else {
            drop_covered(&mut self.entries, snapshot.index, snapshot.term);
        }
        self.snapshot_index = snapshot.index;
        let mut records = vec![
            encode(&Record::Base {
                index: snapshot.index,
                term: snapshot.term,
            }),
            encode(&Record::HardState(self.hard_state)),
        ];
        if !self.entries.is_empty() {
            records.push(encode(&Record::Entries(self.entries.clone())));
        }
        self.wal.rewrite(&records)?;
        tracing::debug!(
            index = snapshot.index,
            kept = self.entries.len(),
            wal = %self.wal_path.display(),
            "snapshot stored, log rewritten"
        );
        Ok(())
    }
}

/// Reads `snapshot.bin` (one frame of generation 0 at offset 0), `None` when absent. Without
/// `verify`, a frame that fails its checksum is read anyway and one that does not decode is
/// no snapshot.
fn read_snapshot(path: &Path, verify: bool) -> Result<Option<Snapshot>, StorageError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StorageError::ReadSnapshot {
                path: path.to_owned(),
                source,
            })
        }
    };
    let found = wal::scan(&bytes, 0, 0, verify);
    if !verify {
        return Ok(found
            .records
            .first()
            .and_then(|r| bincode::deserialize(r).ok()));
    }
    if found.records.len() != 1 || found.good != bytes.len() {
        return Err(StorageError::CorruptSnapshot {
            path: path.to_owned(),
        });
    }
    bincode::deserialize(&found.records[0])
        .map(Some)
        .map_err(|source| StorageError::Decode {
            path: path.to_owned(),
            record: 0,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{Payload, Term};

    fn entry(index: Index, term: Term) -> Entry {
        Entry {
            index,
            term,
            payload: Payload::Command(format!("{index}@{term}").into_bytes()),
        }
    }

    fn hs(term: Term, vote: Option<u64>, commit: Index) -> HardState {
        HardState { term, vote, commit }
    }

    #[test]
    fn fresh_directory_recovers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (_, rec) = Storage::open(&dir.path().join("node")).unwrap();
        assert_eq!(rec, Recovered::default());
    }

    #[test]
    fn synced_hard_state_and_entries_survive_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (mut st, _) = Storage::open(dir.path()).unwrap();
        st.set_hard_state(hs(2, Some(3), 0));
        st.append(&[entry(1, 1), entry(2, 2)]);
        st.append(&[entry(3, 2)]);
        st.set_hard_state(hs(2, Some(3), 2));
        st.sync().unwrap();
        drop(st);
        let (_, rec) = Storage::open(dir.path()).unwrap();
        assert_eq!(rec.hard_state, hs(2, Some(3), 2));
        assert_eq!(rec.entries, vec![entry(1, 1), entry(2, 2), entry(3, 2)]);
        assert_eq!(rec.snapshot, None);
    }

    #[test]
    fn a_conflicting_append_overwrites_the_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let (mut st, _) = Storage::open(dir.path()).unwrap();
        st.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        st.append(&[entry(2, 3)]);
        st.sync().unwrap();
        drop(st);
        let (_, rec) = Storage::open(dir.path()).unwrap();
        assert_eq!(rec.entries, vec![entry(1, 1), entry(2, 3)]);
    }

    #[test]
    fn unsynced_updates_are_lost_and_synced_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut st, _) = Storage::open(dir.path()).unwrap();
        st.append(&[entry(1, 1)]);
        st.sync().unwrap();
        st.append(&[entry(2, 1)]);
        st.set_hard_state(hs(5, None, 0));
        drop(st);
        let (_, rec) = Storage::open(dir.path()).unwrap();
        assert_eq!(rec.entries, vec![entry(1, 1)]);
        assert_eq!(rec.hard_state, HardState::default());
    }

    #[test]
    fn compaction_bounds_the_log_and_recovery_uses_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (mut st, _) = Storage::open(dir.path()).unwrap();
        let mut biggest = 0;
        for round in 0..20u64 {
            for i in 1..=100 {
                let index = round * 100 + i;
                st.append(&[entry(index, 1)]);
            }
            st.set_hard_state(hs(1, Some(1), (round + 1) * 100));
            st.sync().unwrap();
            biggest = biggest.max(st.wal_bytes());
            let snap = Snapshot {
                index: round * 100 + 90,
                term: 1,
                data: format!("state at {}", round * 100 + 90).into_bytes(),
            };
            st.compact(&snap).unwrap();
            assert_eq!(st.entry_count(), 10, "round {round}");
        }
        // The log never held more than about one round of entries.
        assert!(biggest < 100 * 64, "wal grew to {biggest} bytes");
        drop(st);
        let (_, rec) = Storage::open(dir.path()).unwrap();
        let snap = rec.snapshot.unwrap();
        assert_eq!((snap.index, snap.term), (1990, 1));
        assert_eq!(snap.data, b"state at 1990");
        assert_eq!(rec.entries.first().map(|e| e.index), Some(1991));
        assert_eq!(rec.entries.last().map(|e| e.index), Some(2000));
        assert_eq!(rec.hard_state, hs(1, Some(1), 2000));
    }

    #[test]
    fn an_installed_snapshot_that_disagrees_discards_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (mut st, _) = Storage::open(dir.path()).unwrap();
        st.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        st.sync().unwrap();
        let snap = Snapshot {
            index: 2,
            term: 2,
            data: vec![],
        };
        st.install_snapshot(&snap).unwrap();
        assert_eq!(st.entry_count(), 0);
        drop(st);
        let (_, rec) = Storage::open(dir.path()).unwrap();
        assert_eq!(rec.snapshot, Some(snap));
        assert!(rec.entries.is_empty());
    }

    #[test]
    fn a_crash_between_snapshot_and_log_rewrite_recovers_consistently() {
        let dir = tempfile::tempdir().unwrap();
        let (mut st, _) = Storage::open(dir.path()).unwrap();
        st.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        st.sync().unwrap();
        drop(st);
        // Simulate the snapshot file landing but the log rewrite not happening.
        let snap = Snapshot {
            index: 2,
            term: 1,
            data: b"s".to_vec(),
        };
        let bytes = bincode::serialize(&snap).unwrap();
        let mut framed = Vec::new();
        wal::frame(&bytes, 0, 0, &mut framed);
        fs::write(dir.path().join("snapshot.bin"), framed).unwrap();
        let (_, rec) = Storage::open(dir.path()).unwrap();
        assert_eq!(rec.entries, vec![entry(3, 1)]);
    }

    #[test]
    fn a_corrupt_snapshot_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("snapshot.bin"), b"garbage!garbage!").unwrap();
        let err = Storage::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("snapshot.bin"), "{err}");
    }

    /// A directory with a snapshot at 2 and entries up to 5, synced and closed.
    fn compacted_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let (mut st, _) = Storage::open(dir.path()).unwrap();
        st.append(&[entry(1, 1), entry(2, 1), entry(3, 1)]);
        st.set_hard_state(hs(1, Some(1), 3));
        st.sync().unwrap();
        let snap = Snapshot {
            index: 2,
            term: 1,
            data: b"s2".to_vec(),
        };
        st.compact(&snap).unwrap();
        st.append(&[entry(4, 1), entry(5, 1)]);
        st.sync().unwrap();
        dir
    }

    #[test]
    fn an_older_intact_snapshot_is_refused() {
        let dir = compacted_dir();
        let old = Snapshot {
            index: 1,
            term: 1,
            data: b"s1".to_vec(),
        };
        let mut framed = Vec::new();
        wal::frame(&bincode::serialize(&old).unwrap(), 0, 0, &mut framed);
        fs::write(dir.path().join("snapshot.bin"), framed).unwrap();
        let err = Storage::open(dir.path()).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        assert!(err.to_string().contains("older snapshot.bin"), "{err}");
    }

    #[test]
    fn a_missing_log_next_to_a_snapshot_is_refused() {
        let dir = compacted_dir();
        fs::remove_file(dir.path().join("wal.log")).unwrap();
        let err = Storage::open(dir.path()).unwrap_err();
        assert!(err.is_corruption(), "{err}");
    }

    #[test]
    fn corruption_is_refused_and_trusted_without_checksums() {
        let dir = compacted_dir();
        let wal = dir.path().join("wal.log");
        let mut bytes = fs::read(&wal).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        fs::write(&wal, &bytes).unwrap();
        let err = Storage::open(dir.path()).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        // The no_checksum bug replays the damaged record as if it were good.
        let (_, rec) = Storage::open_with(dir.path(), false).unwrap();
        assert_eq!(rec.snapshot.map(|s| s.index), Some(2));
        assert_eq!(rec.entries.first().map(|e| e.index), Some(3));
    }
}
