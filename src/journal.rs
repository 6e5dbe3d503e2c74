//! The fault journal (`<run>/faults.journal`): every fault is written (and synced) here
//! *before* it is applied, and a heal line once it is healed, so a `kill -9` of faultline
//! leaves a record `faultline cluster down` can clean up from.
//!
//! One JSON object per line:
//!
//! ```json
//! {"seq":1,"event":"apply","at":"2026-11-27T02:00:00Z","kind":"pause","nodes":["n2"],"detail":{"pids":[4242]}}
//! {"seq":1,"event":"heal","at":"2026-11-27T02:00:05Z","kind":"pause","nodes":["n2"],"detail":null}
//! ```
//!
//! A fault is open while its `apply` line has no `heal` line with the same `seq`. A torn last
//! line (a crash mid-write) is ignored: the fault it described was never applied.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The journal's file name inside a run directory.
pub const JOURNAL_FILE: &str = crate::rundir::JOURNAL_FILE;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Pairs an apply with its heal.
    pub seq: u64,
    /// `apply` or `heal`.
    pub event: String,
    /// Wall-clock time (RFC 3339), for people reading the file.
    pub at: String,
    /// The fault family: `partition`, `kill`, `pause`, `delay`, `drop`.
    pub kind: String,
    /// The nodes it touches.
    pub nodes: Vec<String>,
    /// What exactly was done (grudge, pids, ms, ...).
    pub detail: Value,
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Every parseable line of the journal at `path` (none if the file does not exist).
fn read_entries(path: &Path) -> io::Result<Vec<JournalEntry>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        // A torn or foreign line is skipped: only complete apply lines describe faults.
        if let Ok(entry) = serde_json::from_str::<JournalEntry>(&line?) {
            out.push(entry);
        }
    }
    Ok(out)
}

impl Journal {
    /// Opens (or creates) the journal at `path`; sequence numbers continue after any lines
    /// already there.
    pub fn open(path: &Path) -> io::Result<Journal> {
        let next_seq = read_entries(path)?.iter().map(|e| e.seq).max().unwrap_or(0) + 1;
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        // After a torn last line, start on a fresh line so the next entry parses.
        let text = std::fs::read(path)?;
        if text.last().is_some_and(|b| *b != b'\n') {
            file.write_all(b"\n")?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            next_seq,
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, entry: &JournalEntry) -> io::Result<()> {
        // A struct of strings and JSON values always serialises.
        let mut line = serde_json::to_string(entry).expect("journal entry serialises");
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()
    }

    /// Records (durably) that a fault is about to be applied; returns its sequence number.
    pub fn applying(&mut self, kind: &str, nodes: &[String], detail: Value) -> io::Result<u64> {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.write(&JournalEntry {
            seq,
            event: "apply".into(),
            at: now(),
            kind: kind.into(),
            nodes: nodes.to_vec(),
            detail,
        })?;
        Ok(seq)
    }

    /// Records that the fault `seq` is healed.
    pub fn healed(&mut self, seq: u64, kind: &str, nodes: &[String]) -> io::Result<()> {
        self.write(&JournalEntry {
            seq,
            event: "heal".into(),
            at: now(),
            kind: kind.into(),
            nodes: nodes.to_vec(),
            detail: Value::Null,
        })
    }

    /// The apply lines of the journal at `path` that have no heal line: the faults still in
    /// force when their faultline stopped writing.
    pub fn open_faults(path: &Path) -> io::Result<Vec<JournalEntry>> {
        let mut open: BTreeMap<u64, JournalEntry> = BTreeMap::new();
        for e in read_entries(path)? {
            match e.event.as_str() {
                "apply" => {
                    open.insert(e.seq, e);
                }
                "heal" => {
                    open.remove(&e.seq);
                }
                _ => {}
            }
        }
        Ok(open.into_values().collect())
    }

    /// Appends heal lines for `entries` (cleared by someone else, e.g. `cluster down`), with
    /// `by` in the detail.
    pub fn append_cleared(path: &Path, entries: &[JournalEntry], by: &str) -> io::Result<()> {
        let mut journal = Journal::open(path)?;
        for e in entries {
            journal.write(&JournalEntry {
                seq: e.seq,
                event: "heal".into(),
                at: now(),
                kind: e.kind.clone(),
                nodes: e.nodes.clone(),
                detail: serde_json::json!({ "by": by }),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn open_faults_are_applies_without_heals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        assert!(Journal::open_faults(&path).unwrap().is_empty());
        let mut j = Journal::open(&path).unwrap();
        let a = j
            .applying("pause", &["n2".into()], json!({"pids": [1]}))
            .unwrap();
        let b = j.applying("partition", &[], json!({"grudge": {}})).unwrap();
        j.healed(a, "pause", &["n2".into()]).unwrap();
        let open = Journal::open_faults(&path).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].seq, open[0].kind.as_str()), (b, "partition"));

        // A torn last line (crash mid-write) is ignored; numbering continues after reopening.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"seq\":9,\"ev")
            .unwrap();
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(
            j.applying("kill", &["n1".into()], json!(null)).unwrap(),
            b + 1
        );
        Journal::append_cleared(&path, &Journal::open_faults(&path).unwrap(), "test").unwrap();
        assert!(Journal::open_faults(&path).unwrap().is_empty());
    }
}
