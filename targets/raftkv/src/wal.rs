//! An append-only file of checksummed records: the write-ahead log under [`crate::storage`].
//!
//! The file starts with a 32-byte header — `magic "RKVWAL02" | generation: u64 LE |
//! synced_len: u64 LE | crc32(the 24 bytes before): u32 LE | 4 zero bytes` — followed by
//! records framed as `len: u32 LE | crc32(generation ‖ offset ‖ payload): u32 LE | payload`,
//! where `offset` is where the frame starts in the file. Binding each checksum to its place
//! and to the file's generation (bumped by every [`Wal::rewrite`]) means a frame copied to
//! another offset, or restored from an older version of the file, fails its check like a
//! flipped bit does.
//!
//! Appends are buffered in memory and reach the disk in [`Wal::sync`] with one `write` of
//! the frames, one `pwrite` of the header (its `synced_len` now covering them) and one
//! `fdatasync`, so a caller that appends everything in a Raft `Ready` and syncs once gets
//! group commit.
//!
//! Recovery ([`Wal::open`]) tells a crash from corruption. A crash (kill -9: the page cache
//! survives) can leave frames written after `synced_len` (the header not yet updated) and at
//! worst one short, torn frame at the very end: those were never acknowledged, and the torn
//! frame is cut off. Anything else — a header that fails its checksum, a frame inside
//! `synced_len` that is short or fails its checksum, a full-length bad frame after it — means
//! bytes the node once synced are gone or changed: [`WalError::Corrupt`], and the node
//! refuses to start rather than silently forget acknowledged entries (which can break Raft
//! safety when more than one node does it). With `verify` off (the `no_checksum` bug) it
//! trusts what it reads: checksums and `synced_len` are ignored, and the log ends at the
//! first frame whose length runs past the end.
//!
//! [`write_atomically`] replaces a whole file (temp file, fsync, rename, fsync of the directory);
//! it is how log compaction rewrites the log, how snapshots are stored and how a new log is
//! created (so `wal.log` never exists without its header).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Bytes of framing before each payload.
const FRAME_HEADER: usize = 8;
/// Bytes of the file header.
pub const FILE_HEADER: usize = 32;
/// The file header's magic.
const MAGIC: &[u8; 8] = b"RKVWAL02";
/// Upper bound on one record, so a corrupt length cannot make us allocate gigabytes.
const MAX_RECORD: usize = 256 << 20;

/// I/O failures and detected corruption, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file holds bytes a crash cannot explain: synced data is gone or changed.
    #[error("{path}: corrupt at byte {offset}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the damage was found.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

impl WalError {
    fn new<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> WalError + 'a {
        move |source| WalError::Io {
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
    /// Bytes in the file (header and frames), all of them synced after [`Wal::sync`].
    end: u64,
    /// This version of the file (see the module docs).
    generation: u64,
    /// The `fsync_lie` bug: [`Wal::sync`] never fsyncs.
    skip_fsync: bool,
}

/// The 32-byte file header for `generation` with `synced_len` bytes synced.
pub fn header(generation: u64, synced_len: u64) -> [u8; FILE_HEADER] {
    let mut h = [0u8; FILE_HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&generation.to_le_bytes());
    h[16..24].copy_from_slice(&synced_len.to_le_bytes());
    let crc = crc32fast::hash(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A header read back: `(generation, synced_len)`, or why it is not one. With `verify` off
/// the magic and checksum are not looked at.
pub fn read_header(bytes: &[u8], verify: bool) -> Result<(u64, u64), String> {
    if bytes.len() < FILE_HEADER {
        return Err(format!(
            "{} bytes, shorter than the {FILE_HEADER}-byte header",
            bytes.len()
        ));
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    if verify {
        if &bytes[..8] != MAGIC {
            return Err("the header's magic is wrong".into());
        }
        let crc = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes"));
        if crc32fast::hash(&bytes[..24]) != crc {
            return Err("the header fails its checksum".into());
        }
    }
    Ok((word(8), word(16)))
}

fn frame_crc(generation: u64, offset: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&generation.to_le_bytes());
    h.update(&offset.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Frames one payload as `len | crc | payload` onto `out`, for a file of `generation` where
/// the frame starts at byte `offset`.
pub fn frame(payload: &[u8], generation: u64, offset: u64, out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&frame_crc(generation, offset, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Why a scan of frames stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// At the end of the bytes.
    End,
    /// At a frame shorter than its length says (a torn write).
    Short,
    /// At a frame whose length is impossible.
    BadLength,
    /// At a full-length frame that fails its checksum.
    BadChecksum,
}

/// The frames of a file, read from `start`: their payloads, where the good prefix ends and
/// why the scan stopped there. Frames' checksums are checked for `generation` when `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The payloads of the good frames, in order.
    pub records: Vec<Vec<u8>>,
    /// Bytes from the file's start to the end of the last good frame.
    pub good: usize,
    /// Why the scan stopped at `good`.
    pub stop: Stop,
}

/// Scans frames from byte `start` of `bytes` (see [`Scan`]).
pub fn scan(bytes: &[u8], start: usize, generation: u64, verify: bool) -> Scan {
    let mut records = Vec::new();
    let mut at = start.min(bytes.len());
    let stop = loop {
        if at == bytes.len() {
            break Stop::End;
        }
        if bytes.len() - at < FRAME_HEADER {
            break Stop::Short;
        }
        // The slices are exactly 4 bytes long, so the conversions cannot fail.
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            break Stop::BadLength;
        }
        if bytes.len() - at - FRAME_HEADER < len {
            break Stop::Short;
        }
        let payload = &bytes[at + FRAME_HEADER..at + FRAME_HEADER + len];
        if verify && frame_crc(generation, at as u64, payload) != crc {
            break Stop::BadChecksum;
        }
        records.push(payload.to_vec());
        at += FRAME_HEADER + len;
    };
    Scan {
        records,
        good: at,
        stop,
    }
}

/// What recovery keeps of a log file: its generation, the payloads, the length of the good
/// prefix.
pub type Kept = (u64, Vec<Vec<u8>>, usize);

/// What recovery keeps of a log file's bytes, or the corruption found (offset and reason).
/// Pure: see the module docs for the rules.
pub fn recover(bytes: &[u8], verify: bool) -> Result<Kept, (u64, String)> {
    let (generation, synced) = match read_header(bytes, verify) {
        Ok(h) => h,
        // Trusting: a header too short to read is an empty log.
        Err(_) if !verify => return Ok((1, Vec::new(), FILE_HEADER)),
        Err(r) => return Err((0, r)),
    };
    let found = scan(bytes, FILE_HEADER, generation, verify);
    if verify {
        let what = match found.stop {
            Stop::End => None,
            Stop::Short => Some("a frame is cut short"),
            Stop::BadLength => Some("a frame has an impossible length"),
            Stop::BadChecksum => Some("a frame fails its checksum"),
        };
        if let Some(what) = what {
            if (found.good as u64) < synced {
                return Err((
                    found.good as u64,
                    format!("{what} inside the {synced} bytes the header says were synced"),
                ));
            }
            if found.stop != Stop::Short {
                return Err((
                    found.good as u64,
                    format!("{what} (a crash leaves at most a short last frame)"),
                ));
            }
        } else if (found.good as u64) < synced {
            return Err((
                found.good as u64,
                format!("the file ends before the {synced} bytes the header says were synced"),
            ));
        }
    }
    Ok((generation, found.records, found.good))
}

impl Wal {
    /// Opens the log at `path` (creating it, with its header, if absent), returns it with
    /// every intact record, and cuts off a torn last frame. With `verify` (the default;
    /// off only for the `no_checksum` bug) damage a crash cannot explain is
    /// [`WalError::Corrupt`].
    pub fn open(path: &Path, verify: bool) -> Result<(Wal, Vec<Vec<u8>>), WalError> {
        if !path.exists() {
            write_atomically(path, &header(1, FILE_HEADER as u64))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(WalError::new("open", path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(WalError::new("read", path))?;
        let (generation, records, good) =
            recover(&bytes, verify).map_err(|(offset, reason)| WalError::Corrupt {
                path: path.to_owned(),
                offset,
                reason,
            })?;
        // Without verification a header too short to read is rewritten from scratch.
        let good = good.max(FILE_HEADER);
        if good < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                kept = good,
                dropped = bytes.len() - good,
                "write-ahead log has a torn tail; cutting it off"
            );
        }
        if good != bytes.len() {
            file.set_len(good as u64)
                .map_err(WalError::new("truncate", path))?;
            file.write_all_at(&header(generation, good as u64), 0)
                .map_err(WalError::new("write header", path))?;
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
            end: good as u64,
            generation,
            skip_fsync: false,
        };
        Ok((wal, records))
    }

    /// Buffers one record; it is durable only after the next [`Wal::sync`].
    pub fn append(&mut self, payload: &[u8]) {
        let offset = self.end + self.pending.len() as u64;
        frame(payload, self.generation, offset, &mut self.pending);
    }

    /// Whether records were appended since the last sync.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The `fsync_lie` bug: [`Wal::sync`] stops after the writes, without the fdatasync.
    pub fn skip_fsync(&mut self) {
        self.skip_fsync = true;
    }

    /// Writes every buffered record and the header that covers them, and fsyncs once
    /// (group commit).
    pub fn sync(&mut self) -> Result<(), WalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.pending)
            .map_err(WalError::new("write", &self.path))?;
        let end = self.end + self.pending.len() as u64;
        self.file
            .write_all_at(&header(self.generation, end), 0)
            .map_err(WalError::new("write header", &self.path))?;
        if !self.skip_fsync {
            self.file
                .sync_data()
                .map_err(WalError::new("sync", &self.path))?;
        }
        self.end = end;
        self.pending.clear();
        Ok(())
    }

    /// Bytes durably in the file, header included.
    pub fn len(&self) -> u64 {
        self.end
    }

    /// Whether the file holds no durable record.
    pub fn is_empty(&self) -> bool {
        self.end <= FILE_HEADER as u64
    }

    /// Replaces the whole log with `payloads` in a new generation, atomically and durably,
    /// and keeps appending after them. Used for compaction: the old file stays intact until
    /// the rename.
    pub fn rewrite(&mut self, payloads: &[Vec<u8>]) -> Result<(), WalError> {
        let generation = self.generation + 1;
        let mut bytes = header(generation, 0).to_vec();
        for p in payloads {
            let offset = bytes.len() as u64;
            frame(p, generation, offset, &mut bytes);
        }
        let end = bytes.len() as u64;
        bytes[..FILE_HEADER].copy_from_slice(&header(generation, end));
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
        self.end = end;
        self.generation = generation;
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

    /// A synced log of `n` records in a temp dir: (dir, path, file bytes).
    fn synced_log(n: usize) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, _) = Wal::open(&path, true).unwrap();
        for r in records(n) {
            wal.append(&r);
        }
        wal.sync().unwrap();
        drop(wal);
        let bytes = fs::read(&path).unwrap();
        (dir, path, bytes)
    }

    #[test]
    fn appended_records_survive_reopen() {
        let (_dir, path, _) = synced_log(5);
        let (mut wal, got) = Wal::open(&path, true).unwrap();
        assert_eq!(got, records(5));
        wal.append(b"more");
        wal.sync().unwrap();
        drop(wal);
        let (_, got) = Wal::open(&path, true).unwrap();
        assert_eq!(got.len(), 6);
        assert_eq!(got[5], b"more");
    }

    #[test]
    fn unsynced_records_are_not_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, _) = Wal::open(&path, true).unwrap();
        wal.append(b"a");
        wal.sync().unwrap();
        wal.append(b"b");
        drop(wal);
        assert_eq!(Wal::open(&path, true).unwrap().1, vec![b"a".to_vec()]);
    }

    #[test]
    fn a_torn_frame_after_the_synced_length_is_cut_off() {
        // Frames written but the header not yet updated (kill -9 between the two writes),
        // the last one torn at every possible byte.
        let (_dir, path, synced) = synced_log(2);
        let mut more = Vec::new();
        let base = synced.len() as u64;
        frame(b"unacked 1", 1, base, &mut more);
        let second = base + more.len() as u64;
        frame(b"unacked 2", 1, second, &mut more);
        let first_len = (second - base) as usize;
        for cut in first_len..more.len() {
            let mut bytes = synced.clone();
            bytes.extend_from_slice(&more[..cut]);
            fs::write(&path, &bytes).unwrap();
            let (mut wal, got) = Wal::open(&path, true).unwrap();
            let mut want = records(2);
            want.push(b"unacked 1".to_vec());
            assert_eq!(got, want, "cut at {cut}");
            wal.append(b"after");
            wal.sync().unwrap();
            drop(wal);
            let (_, got) = Wal::open(&path, true).unwrap();
            assert_eq!(got.last().unwrap(), b"after", "cut at {cut}");
        }
    }

    #[test]
    fn damage_to_synced_bytes_is_corruption_not_a_torn_tail() {
        let (_dir, path, good) = synced_log(4);
        let flip = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x10;
            b
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated tail", good[..good.len() - 3].to_vec()),
            (
                "truncated at a frame boundary",
                good[..FILE_HEADER + 8 + 8].to_vec(),
            ),
            ("truncated to nothing", Vec::new()),
            ("bit flip in the last payload", flip(good.len() - 1)),
            ("bit flip in a middle frame", flip(FILE_HEADER + 20)),
            ("bit flip in the header", flip(17)),
            ("bit flip in a length", flip(FILE_HEADER)),
        ];
        for (what, bytes) in cases {
            fs::write(&path, &bytes).unwrap();
            let e = Wal::open(&path, true).unwrap_err();
            assert!(matches!(e, WalError::Corrupt { .. }), "{what}: {e}");
            // The damaged file is left as it was for a person to look at.
            assert_eq!(fs::read(&path).unwrap(), bytes, "{what}");
        }
    }

    #[test]
    fn a_frame_copied_to_another_offset_fails_its_check() {
        let (_dir, path, good) = synced_log(3);
        // Frames 0 and 1 have the same length: copy frame 0 over frame 1.
        let len = 8 + records(1)[0].len();
        let mut bytes = good.clone();
        let first = good[FILE_HEADER..FILE_HEADER + len].to_vec();
        bytes[FILE_HEADER + len..FILE_HEADER + 2 * len].copy_from_slice(&first);
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            Wal::open(&path, true),
            Err(WalError::Corrupt { .. })
        ));
        // Trusting, the copy reads back as a duplicate record.
        let (_, got) = Wal::open(&path, false).unwrap();
        assert_eq!(got[1], records(1)[0]);
    }

    #[test]
    fn without_verification_a_truncated_log_silently_loses_its_tail() {
        let (_dir, path, good) = synced_log(4);
        fs::write(&path, &good[..good.len() - 3]).unwrap();
        let (_, got) = Wal::open(&path, false).unwrap();
        assert_eq!(got, records(3));
        fs::write(&path, b"").unwrap();
        let (mut wal, got) = Wal::open(&path, false).unwrap();
        assert!(got.is_empty());
        wal.append(b"x");
        wal.sync().unwrap();
        assert_eq!(Wal::open(&path, true).unwrap().1, vec![b"x".to_vec()]);
    }

    #[test]
    fn rewrite_replaces_the_log_in_a_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        let (mut wal, _) = Wal::open(&path, true).unwrap();
        for r in records(10) {
            wal.append(&r);
        }
        wal.sync().unwrap();
        let old = fs::read(&path).unwrap();
        wal.rewrite(&records(2)).unwrap();
        wal.append(b"x");
        wal.sync().unwrap();
        drop(wal);
        let (_, got) = Wal::open(&path, true).unwrap();
        let mut want = records(2);
        want.push(b"x".to_vec());
        assert_eq!(got, want);
        // The old generation's frames restored over the new file do not pass.
        let mut bytes = fs::read(&path).unwrap();
        let n = bytes.len().min(old.len()) - FILE_HEADER;
        bytes[FILE_HEADER..FILE_HEADER + n].copy_from_slice(&old[FILE_HEADER..FILE_HEADER + n]);
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            Wal::open(&path, true),
            Err(WalError::Corrupt { .. })
        ));
    }
}
