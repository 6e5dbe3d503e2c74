//! The file-corruption backend: lists a node's data files through a
//! [`DataFiles`](crate::node_control::DataFiles), draws the seeded plan
//! ([`crate::nemesis::corruption::plan`]) and applies it to the file, keeping the chunks a
//! `restore` fault saved for later. The node is down while this runs (the nemesis killed
//! it), so nothing else writes the file.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::nemesis::corruption::{plan, CorruptMode, Damage, FileLen, SavedChunk};
use crate::nemesis::NemesisError;
use crate::node_control::DataFiles;

/// Damages nodes' data files; remembers saved chunks per node.
pub struct FileFaults {
    files: Arc<dyn DataFiles>,
    saved: BTreeMap<String, SavedChunk>,
}

fn io_err(what: &str, path: &str, e: std::io::Error) -> NemesisError {
    NemesisError::Files(format!("{what} {path}: {e}"))
}

impl FileFaults {
    /// File faults on the files `files` names.
    pub fn new(files: Arc<dyn DataFiles>) -> FileFaults {
        FileFaults {
            files,
            saved: BTreeMap::new(),
        }
    }

    /// The plan of one `mode` fault on `node`'s files, drawn from `seed` (`None`: no file
    /// with a byte in it).
    pub fn plan(
        &self,
        node: &str,
        mode: CorruptMode,
        seed: u64,
    ) -> Result<Option<Damage>, NemesisError> {
        let paths = self
            .files
            .data_files(node)
            .map_err(|e| NemesisError::Files(e.to_string()))?;
        let mut lens = Vec::with_capacity(paths.len());
        for p in paths {
            let path = p.display().to_string();
            let len = std::fs::metadata(&p)
                .map_err(|e| io_err("stat", &path, e))?
                .len();
            lens.push(FileLen { path, len });
        }
        Ok(plan(mode, seed, &lens, self.saved.get(node)))
    }

    /// Applies `damage` to `node`'s file (a snapshot saves the chunk; a restore writes the
    /// saved chunk back and forgets it).
    pub fn apply(&mut self, node: &str, damage: &Damage) -> Result<(), NemesisError> {
        let path = damage.file().to_owned();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(PathBuf::from(&path))
            .map_err(|e| io_err("open", &path, e))?;
        let read = |offset: u64, length: u64| -> Result<Vec<u8>, NemesisError> {
            let mut buf = vec![0u8; length as usize];
            file.read_exact_at(&mut buf, offset)
                .map_err(|e| io_err("read", &path, e))?;
            Ok(buf)
        };
        let write = |offset: u64, bytes: &[u8]| -> Result<(), NemesisError> {
            file.write_all_at(bytes, offset)
                .map_err(|e| io_err("write", &path, e))
        };
        match damage {
            Damage::Truncate { offset, .. } => file
                .set_len(*offset)
                .map_err(|e| io_err("truncate", &path, e))?,
            Damage::Bitflip {
                offset,
                length,
                bits,
                ..
            } => {
                let mut chunk = read(*offset, *length)?;
                for bit in bits {
                    let at = (bit / 8 - offset) as usize;
                    chunk[at] ^= 1 << (bit % 8);
                }
                write(*offset, &chunk)?;
            }
            Damage::Copy {
                from,
                offset,
                length,
                ..
            } => {
                let chunk = read(*from, *length)?;
                write(*offset, &chunk)?;
            }
            Damage::Snapshot { offset, length, .. } => {
                let bytes = read(*offset, *length)?;
                self.saved.insert(
                    node.to_owned(),
                    SavedChunk {
                        file: path.clone(),
                        offset: *offset,
                        bytes,
                    },
                );
            }
            Damage::Restore { offset, length, .. } => {
                if let Some(saved) = self.saved.remove(node) {
                    let n = (*length as usize).min(saved.bytes.len());
                    write(*offset, &saved.bytes[..n])?;
                }
            }
        }
        file.sync_all().map_err(|e| io_err("sync", &path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::corruption::apply;
    use crate::node_control::ControlError;

    struct Dir(PathBuf);

    impl DataFiles for Dir {
        fn data_files(&self, _node: &str) -> Result<Vec<PathBuf>, ControlError> {
            crate::glob::find(&self.0, &["*.log".into()]).map_err(ControlError::new)
        }
    }

    #[test]
    fn the_file_ends_up_as_the_pure_apply_says() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        let original: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut faults = FileFaults::new(Arc::new(Dir(dir.path().to_path_buf())));
        for mode in CorruptMode::ALL {
            for seed in 0..10 {
                std::fs::write(&path, &original).unwrap();
                let saved = faults.saved.get("n1").map(|s| s.bytes.clone());
                let damage = faults.plan("n1", mode, seed).unwrap().expect("a plan");
                faults.apply("n1", &damage).unwrap();
                let want = apply(&damage, original.clone(), saved.as_deref());
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    want,
                    "{mode:?} {seed}: {damage:?}"
                );
            }
        }
    }

    #[test]
    fn a_restore_puts_back_the_bytes_of_an_earlier_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.log");
        std::fs::write(&path, vec![1u8; 5000]).unwrap();
        let mut faults = FileFaults::new(Arc::new(Dir(dir.path().to_path_buf())));
        let first = faults.plan("n1", CorruptMode::Restore, 5).unwrap().unwrap();
        assert!(matches!(first, Damage::Snapshot { .. }), "{first:?}");
        faults.apply("n1", &first).unwrap();
        std::fs::write(&path, vec![2u8; 5000]).unwrap();
        let second = faults.plan("n1", CorruptMode::Restore, 6).unwrap().unwrap();
        let Damage::Restore { offset, length, .. } = second else {
            panic!("{second:?}")
        };
        faults.apply("n1", &second).unwrap();
        let now = std::fs::read(&path).unwrap();
        assert!(now[offset as usize..(offset + length) as usize]
            .iter()
            .all(|b| *b == 1));
        assert_eq!(
            now.iter().filter(|b| **b == 2).count() as u64,
            5000 - length
        );
        // Forgotten once restored: the next restore takes a new snapshot.
        let third = faults.plan("n1", CorruptMode::Restore, 7).unwrap().unwrap();
        assert!(matches!(third, Damage::Snapshot { .. }));
    }
}
