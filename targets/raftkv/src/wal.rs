//! An append-only file of checksummed records: the write-ahead log under [`crate::storage`].
//!
//! Each record is framed as `len: u32 LE | crc32(payload): u32 LE | payload`. Appends are
//! buffered in memory and reach the disk with one `write` + one `fdatasync` in [`Wal::sync`], so
//! a caller that appends everything in a Raft `Ready` and syncs once gets group commit.
//!
//! A crash can leave the last record half written. [`Wal::open`] reads records until the first
//! frame that is short or fails its checksum, truncates the file there (and syncs), and returns
//! the good prefix: a torn tail is tolerated, and because nothing was acknowledged before its
//! sync, nothing acknowledged is lost.
//!
//! [`write_atomically`] replaces a whole file (temp file, fsync, rename, fsync of the directory);
//! it is how log compaction rewrites the log and how snapshots are stored.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes of framing before each payload.
const HEADER: usize = 8;
/// Upper bound on one record, so a corrupt length cannot make us allocate gigabytes.
const MAX_RECORD: usize = 256 << 20;

/// I/O failures, each naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct WalError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl WalError {
    fn new<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WalError + 'a {
        move |source| WalError {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// An open write-ahead log file.
#[derive(Debug)]
pub struct Wal {
    path: PathBuf,
    file: File,
    /// Framed records appended since the last sync.
    pending: Vec<u8>,
    /// Bytes durably in the file.
    synced_len: u64,
}

/// Frames one payload as `len | crc | payload` onto `out`.
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Splits `bytes` into the payloads of its well-formed records, returning them and the length
/// of the good prefix (where a torn or corrupt record starts, or the end).
pub fn parse(bytes: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= HEADER {
        // The slices are exactly 4 bytes long, so the conversions cannot fail.
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        if len > MAX_RECORD || bytes.len() - at - HEADER < len {
            break;
        }
        let payload = &bytes[at + HEADER..at + HEADER + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        records.push(payload.to_vec());
        at += HEADER + len;
    }
    (records, at)
}

impl Wal {
    /// Opens (creating if absent) the log at `path`, returns it with every intact record, and
    /// truncates a torn or corrupt tail.
    pub fn open(path: &Path) -> Result<(Wal, Vec<Vec<u8>>), WalError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(WalError::new("open", path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(WalError::new("read", path))?;
        let (records, good) = parse(&bytes);
        if good < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                kept = good,
                dropped = bytes.len() - good,
                "write-ahead log has a torn or corrupt tail; truncating it"
            );
            file.set_len(good as u64)
                .map_err(WalError::new("truncate", path))?;
            file.sync_all().map_err(WalError::new("sync", path))?;
        }
        file.seek(SeekFrom::Start(good as u64))
            .map_err(WalError::new("seek", path))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        let wal = Wal {
            path: path.to_owned(),
            file,
            pending: Vec::new(),
            synced_len: good as u64,
        };
        Ok((wal, records))
    }

    /// Buffers one record; it is durable only after the next [`Wal::sync`].
    pub fn append(&mut self, payload: &[u8]) {
        frame(payload, &mut self.pending);
    }

    /// Whether records were appended since the last sync.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes every buffered record and fsyncs once (group commit).
    pub fn sync(&mut self) -> Result<(), WalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.pending)
            .map_err(WalError::new("write", &self.path))?;
        self.file
            .sync_data()
            .map_err(WalError::new("sync", &self.path))?;
        self.synced_len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Bytes durably in the file.
    pub fn len(&self) -> u64 {
        self.synced_len
    }

    /// Whether the file holds no durable record.
    pub fn is_empty(&self) -> bool {
        self.synced_len == 0
    }

    /// Replaces the whole log with `payloads`, atomically and durably, and keeps appending after
    /// them. Used for compaction: the old file stays intact until the rename.
    pub fn rewrite(&mut self, payloads: &[Vec<u8>]) -> Result<(), WalError> {
        let mut bytes = Vec::new();
        for p in payloads {
            frame(p, &mut bytes);
        }
        write_atomically(&self.path, &bytes)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(WalError::new("reopen", &self.path))?;
        file.seek(SeekFrom::End(0))
            .map_err(WalError::new("seek", &self.path))?;
        self.file = file;
        self.pending.clear();
        self.synced_len = bytes.len() as u64;
        Ok(())
    }
}

/// Durably replaces `path` with `bytes`: write a temp file, fsync it, rename it over `path`,
/// fsync the directory. A crash at any point leaves either the old or the new file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WalError> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(WalError::new("create", &tmp))?;
        f.write_all(bytes).map_err(WalError::new("write", &tmp))?;
        f.sync_all().map_err(WalError::new("sync", &tmp))?;
    }
    fs::rename(&tmp, path).map_err(WalError::new("rename into", path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Fsyncs a directory so a create or rename in it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), WalError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(WalError::new("sync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("record {i}").into_bytes()).collect()
    }

    #[test]
    fn appended_records_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, got) = Wal::open(&path).unwrap();
        assert!(got.is_empty());
        for r in records(5) {
            wal.append(&r);
        }
        assert!(wal.has_pending());
        wal.sync().unwrap();
        drop(wal);
        let (mut wal, got) = Wal::open(&path).unwrap();
        assert_eq!(got, records(5));
        wal.append(b"more");
        wal.sync().unwrap();
        drop(wal);
        let (_, got) = Wal::open(&path).unwrap();
        assert_eq!(got.len(), 6);
        assert_eq!(got[5], b"more");
    }

    #[test]
    fn unsynced_records_are_not_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, _) = Wal::open(&path).unwrap();
        wal.append(b"a");
        wal.sync().unwrap();
        wal.append(b"b");
        drop(wal);
        assert_eq!(Wal::open(&path).unwrap().1, vec![b"a".to_vec()]);
    }

    #[test]
    fn every_torn_tail_is_truncated_and_the_prefix_kept() {
        let mut full = Vec::new();
        for r in records(3) {
            frame(&r, &mut full);
        }
        let first_two = {
            let mut b = Vec::new();
            for r in &records(3)[..2] {
                frame(r, &mut b);
            }
            b.len()
        };
        // Cut the file at every byte inside the last record.
        for cut in first_two..full.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("wal");
            fs::write(&path, &full[..cut]).unwrap();
            let (mut wal, got) = Wal::open(&path).unwrap();
            assert_eq!(got, records(2), "cut at {cut}");
            assert_eq!(fs::metadata(&path).unwrap().len(), first_two as u64);
            wal.append(b"after");
            wal.sync().unwrap();
            drop(wal);
            let (_, got) = Wal::open(&path).unwrap();
            assert_eq!(got.last().unwrap(), b"after", "cut at {cut}");
        }
    }

    #[test]
    fn a_corrupt_checksum_ends_the_log() {
        let mut bytes = Vec::new();
        for r in records(3) {
            frame(&r, &mut bytes);
        }
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        let (got, good) = parse(&bytes);
        assert_eq!(got, records(2));
        assert!(good < bytes.len());
    }

    #[test]
    fn rewrite_replaces_the_log_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, _) = Wal::open(&path).unwrap();
        for r in records(10) {
            wal.append(&r);
        }
        wal.sync().unwrap();
        wal.rewrite(&records(2)).unwrap();
        wal.append(b"x");
        wal.sync().unwrap();
        drop(wal);
        let (_, got) = Wal::open(&path).unwrap();
        let mut want = records(2);
        want.push(b"x".to_vec());
        assert_eq!(got, want);
    }
}
