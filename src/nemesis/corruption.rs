//! File corruption as data (Jepsen's file nemesis): the modes, and the seeded plan of one
//! fault on one node's files — which file, which bytes, what happens to them. Pure: the
//! backend ([`super::backend::files`]) lists the files, applies the plan and keeps the
//! chunks a `restore` puts back.
//!
//! Every plan works on recent data: chunks fall in the last [`WINDOW`] bytes of the chosen
//! file (where an append-only log keeps what was written in the last seconds, the data a
//! test reads) and are at most [`CHUNK`] bytes long.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The most bytes one chunk covers.
pub const CHUNK: u64 = 4096;
/// Chunks start within this many bytes of the end of the file.
pub const WINDOW: u64 = 64 * 1024;

/// What a file-corruption fault does to the chosen file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CorruptMode {
    /// Cut 1..=CHUNK bytes off the end (a lost tail).
    Truncate,
    /// Flip 1..=4 random bits in one chunk.
    Bitflip,
    /// Copy one chunk over another place of the same file (a misdirected write).
    Copy,
    /// Snapshot a chunk now; at the next `restore` on this node, write it back (a lost
    /// write: the bytes revert to what they were).
    Restore,
}

impl CorruptMode {
    /// Every mode, for messages.
    pub const ALL: [CorruptMode; 4] = [
        CorruptMode::Truncate,
        CorruptMode::Bitflip,
        CorruptMode::Copy,
        CorruptMode::Restore,
    ];

    /// The name in TOML and the history.
    pub fn name(self) -> &'static str {
        match self {
            CorruptMode::Truncate => "truncate",
            CorruptMode::Bitflip => "bitflip",
            CorruptMode::Copy => "copy",
            CorruptMode::Restore => "restore",
        }
    }

    /// The mode named `s`.
    pub fn parse(s: &str) -> Option<CorruptMode> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// One file a plan may touch: its path (as recorded) and its length now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLen {
    /// The file's path.
    pub path: String,
    /// Its length in bytes.
    pub len: u64,
}

/// A chunk saved by an earlier `restore` fault, to be written back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedChunk {
    /// The file it came from.
    pub file: String,
    /// Where in the file.
    pub offset: u64,
    /// The bytes as they were.
    pub bytes: Vec<u8>,
}

/// The damage one fault does to one file: recorded (file, offset, length) in the journal and
/// the history before it is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Damage {
    /// The file is cut to `offset` bytes, losing `length`.
    Truncate {
        /// The file.
        file: String,
        /// The new length.
        offset: u64,
        /// Bytes lost.
        length: u64,
    },
    /// Bits flipped in `[offset, offset + length)`.
    Bitflip {
        /// The file.
        file: String,
        /// The chunk's start.
        offset: u64,
        /// The chunk's length.
        length: u64,
        /// The flipped bits, as bit numbers from the start of the file.
        bits: Vec<u64>,
    },
    /// `length` bytes from `from` written over `[offset, offset + length)`.
    Copy {
        /// The file.
        file: String,
        /// Where the bytes come from.
        from: u64,
        /// Where they are written.
        offset: u64,
        /// How many.
        length: u64,
    },
    /// `[offset, offset + length)` saved for a later restore; nothing changes now.
    Snapshot {
        /// The file.
        file: String,
        /// The chunk's start.
        offset: u64,
        /// The chunk's length.
        length: u64,
    },
    /// The chunk saved earlier written back over `[offset, offset + length)` (never past
    /// the file's current end: a reverted write does not grow a file).
    Restore {
        /// The file.
        file: String,
        /// The chunk's start.
        offset: u64,
        /// Bytes written back.
        length: u64,
    },
}

impl Damage {
    /// The file it touches.
    pub fn file(&self) -> &str {
        match self {
            Damage::Truncate { file, .. }
            | Damage::Bitflip { file, .. }
            | Damage::Copy { file, .. }
            | Damage::Snapshot { file, .. }
            | Damage::Restore { file, .. } => file,
        }
    }
}

/// The seeded plan of one fault of `mode` over `files` (a node's data files, in a fixed
/// order), with `saved` the chunk an earlier `restore` took on this node. `None` when there
/// is nothing to damage (no file holds a byte, or a saved chunk lies past its file's end and
/// nothing else can be taken).
pub fn plan(
    mode: CorruptMode,
    seed: u64,
    files: &[FileLen],
    saved: Option<&SavedChunk>,
) -> Option<Damage> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    if mode == CorruptMode::Restore {
        if let Some(s) = saved {
            let len = files.iter().find(|f| f.path == s.file).map(|f| f.len);
            if let Some(len) = len.filter(|l| *l > s.offset) {
                let length = (s.bytes.len() as u64).min(len - s.offset);
                return Some(Damage::Restore {
                    file: s.file.clone(),
                    offset: s.offset,
                    length,
                });
            }
        }
    }
    let candidates: Vec<&FileLen> = files.iter().filter(|f| f.len > 0).collect();
    if candidates.is_empty() {
        return None;
    }
    let file = candidates[rng.random_range(0..candidates.len())];
    let len = file.len;
    let path = file.path.clone();
    // A chunk of 1..=CHUNK bytes (no more than the file) starting in the last WINDOW bytes.
    let chunk = |rng: &mut ChaCha8Rng, size: u64| -> (u64, u64) {
        let length = rng.random_range(1..=size.clamp(1, CHUNK));
        let lowest = len.saturating_sub(WINDOW.max(length));
        let offset = rng.random_range(lowest..=len - length);
        (offset, length)
    };
    Some(match mode {
        CorruptMode::Truncate => {
            let length = rng.random_range(1..=len.min(CHUNK));
            Damage::Truncate {
                file: path,
                offset: len - length,
                length,
            }
        }
        CorruptMode::Bitflip => {
            let (offset, length) = chunk(&mut rng, len);
            let count = rng.random_range(1..=4u64).min(length * 8);
            let mut bits: Vec<u64> = Vec::new();
            while (bits.len() as u64) < count {
                let bit = offset * 8 + rng.random_range(0..length * 8);
                if !bits.contains(&bit) {
                    bits.push(bit);
                }
            }
            bits.sort_unstable();
            Damage::Bitflip {
                file: path,
                offset,
                length,
                bits,
            }
        }
        CorruptMode::Copy => {
            if len < 2 {
                return None;
            }
            // Two different places; the chunk fits at both.
            let (offset, length) = chunk(&mut rng, len - 1);
            let lowest = len.saturating_sub(WINDOW.max(length));
            let mut from = rng.random_range(lowest..=len - length);
            if from == offset {
                from = if offset + length < len {
                    offset + 1
                } else {
                    offset - 1
                };
            }
            Damage::Copy {
                file: path,
                from,
                offset,
                length,
            }
        }
        CorruptMode::Restore => {
            let (offset, length) = chunk(&mut rng, len);
            Damage::Snapshot {
                file: path,
                offset,
                length,
            }
        }
    })
}

/// The seed of the plan for the `index`-th node of a fault whose op carries `seed`, so each
/// node of a multi-node fault gets its own draw and the op replays exactly.
pub fn node_seed(seed: u64, index: usize) -> u64 {
    seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Applies `damage` to `bytes` (the file's content), returning the new content; a
/// `Snapshot` changes nothing, a `Restore` writes `saved` back. Pure, so the backend and the
/// tests agree on what each action does.
pub fn apply(damage: &Damage, mut bytes: Vec<u8>, saved: Option<&[u8]>) -> Vec<u8> {
    let len = bytes.len() as u64;
    match damage {
        Damage::Truncate { offset, .. } => bytes.truncate((*offset).min(len) as usize),
        Damage::Bitflip { bits, .. } => {
            for bit in bits {
                if let Some(b) = bytes.get_mut((bit / 8) as usize) {
                    *b ^= 1 << (bit % 8);
                }
            }
        }
        Damage::Copy {
            from,
            offset,
            length,
            ..
        } => {
            if from + length <= len && offset + length <= len {
                let chunk = bytes[*from as usize..(from + length) as usize].to_vec();
                bytes[*offset as usize..(offset + length) as usize].copy_from_slice(&chunk);
            }
        }
        Damage::Snapshot { .. } => {}
        Damage::Restore { offset, length, .. } => {
            if let Some(saved) = saved {
                let n = (*length as usize).min(saved.len());
                let start = (*offset).min(len) as usize;
                let end = (start + n).min(bytes.len());
                bytes[start..end].copy_from_slice(&saved[..end - start]);
            }
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<FileLen> {
        vec![
            FileLen {
                path: "snapshot.bin".into(),
                len: 300,
            },
            FileLen {
                path: "wal.log".into(),
                len: 200_000,
            },
            FileLen {
                path: "empty".into(),
                len: 0,
            },
        ]
    }

    #[test]
    fn the_same_seed_gives_the_same_plan_and_seeds_differ() {
        for mode in CorruptMode::ALL {
            let plans: Vec<_> = (0..20).map(|s| plan(mode, s, &files(), None)).collect();
            let again: Vec<_> = (0..20).map(|s| plan(mode, s, &files(), None)).collect();
            assert_eq!(plans, again, "{mode:?}");
            let distinct: std::collections::BTreeSet<String> =
                plans.iter().map(|p| format!("{p:?}")).collect();
            assert!(distinct.len() > 10, "{mode:?}: {distinct:?}");
        }
    }

    #[test]
    fn every_plan_stays_inside_a_non_empty_file_and_near_its_end() {
        for seed in 0..500 {
            for mode in CorruptMode::ALL {
                let d = plan(mode, seed, &files(), None).expect("a file to damage");
                assert_ne!(d.file(), "empty");
                let len = files().iter().find(|f| f.path == d.file()).unwrap().len;
                let (offset, length) = match &d {
                    Damage::Truncate { offset, length, .. } => {
                        assert_eq!(offset + length, len);
                        (*offset, *length)
                    }
                    Damage::Bitflip {
                        offset,
                        length,
                        bits,
                        ..
                    } => {
                        assert!(!bits.is_empty() && bits.len() <= 4);
                        for b in bits {
                            assert!((offset * 8..(offset + length) * 8).contains(b), "{d:?}");
                        }
                        (*offset, *length)
                    }
                    Damage::Copy {
                        from,
                        offset,
                        length,
                        ..
                    } => {
                        assert_ne!(from, offset);
                        assert!(from + length <= len, "{d:?}");
                        (*offset, *length)
                    }
                    Damage::Snapshot { offset, length, .. } => (*offset, *length),
                    Damage::Restore { .. } => unreachable!("nothing saved"),
                };
                assert!((1..=CHUNK).contains(&length), "{d:?}");
                assert!(offset + length <= len, "{d:?}");
                assert!(offset + WINDOW.max(length) >= len, "near the end: {d:?}");
            }
        }
    }

    #[test]
    fn a_restore_writes_back_what_was_saved_within_the_file() {
        let saved = SavedChunk {
            file: "wal.log".into(),
            offset: 10,
            bytes: vec![7; 8],
        };
        let small = vec![FileLen {
            path: "wal.log".into(),
            len: 14,
        }];
        let d = plan(CorruptMode::Restore, 1, &small, Some(&saved)).unwrap();
        assert_eq!(
            d,
            Damage::Restore {
                file: "wal.log".into(),
                offset: 10,
                length: 4
            }
        );
        let out = apply(&d, vec![0; 14], Some(&saved.bytes));
        assert_eq!(out, [vec![0; 10], vec![7; 4]].concat());
        // A saved chunk past the end: a new snapshot is taken instead.
        let tiny = vec![FileLen {
            path: "wal.log".into(),
            len: 5,
        }];
        let d = plan(CorruptMode::Restore, 1, &tiny, Some(&saved)).unwrap();
        assert!(matches!(d, Damage::Snapshot { .. }), "{d:?}");
    }

    #[test]
    fn apply_does_what_the_damage_says() {
        let bytes: Vec<u8> = (0..100).collect();
        let t = Damage::Truncate {
            file: "f".into(),
            offset: 90,
            length: 10,
        };
        assert_eq!(apply(&t, bytes.clone(), None).len(), 90);
        let f = Damage::Bitflip {
            file: "f".into(),
            offset: 2,
            length: 1,
            bits: vec![16, 23],
        };
        let out = apply(&f, bytes.clone(), None);
        assert_eq!(out[2], 2 ^ 0x81);
        assert_eq!(out.len(), 100);
        let c = Damage::Copy {
            file: "f".into(),
            from: 0,
            offset: 50,
            length: 4,
        };
        assert_eq!(&apply(&c, bytes.clone(), None)[50..54], &[0, 1, 2, 3]);
        let s = Damage::Snapshot {
            file: "f".into(),
            offset: 0,
            length: 4,
        };
        assert_eq!(apply(&s, bytes.clone(), None), bytes);
    }

    #[test]
    fn no_bytes_no_plan() {
        let none = vec![FileLen {
            path: "wal.log".into(),
            len: 0,
        }];
        for mode in CorruptMode::ALL {
            assert_eq!(plan(mode, 3, &none, None), None);
            assert_eq!(plan(mode, 3, &[], None), None);
        }
    }
}
