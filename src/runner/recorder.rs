//! The history recorder: assigns each event its index, streams it to `history.jsonl`, and
//! keeps the counters the progress line shows. Buffered, flushed at least every second and at
//! every nemesis event, so a crash or Ctrl-C leaves a readable, checkable history.

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::history::{Event, EventType, HistoryWriter, Process};

/// The recorder's counters; they live with `results.json`'s record, which stores them.
pub use crate::rundir::OpCounts;

/// How often buffered events are pushed to disk at the latest.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Streams events to a JSONL file, numbering them.
pub struct Recorder {
    writer: HistoryWriter<File>,
    next_index: u64,
    last_flush: Instant,
    counts: OpCounts,
    last_nemesis: String,
    path: std::path::PathBuf,
}

impl Recorder {
    /// Creates (truncates) the history file at `path`.
    pub fn create(path: &Path) -> Result<Recorder> {
        let file = File::create(path)
            .with_context(|| format!("creating the history file {}", path.display()))?;
        Ok(Recorder {
            writer: HistoryWriter::new(file),
            next_index: 0,
            last_flush: Instant::now(),
            counts: OpCounts::default(),
            last_nemesis: String::new(),
            path: path.to_path_buf(),
        })
    }

    /// Records one event: sets its index, writes it, and flushes when a nemesis event was
    /// written or a second has passed. Returns the event as recorded.
    pub fn record(&mut self, mut event: Event) -> Result<Event> {
        event.index = self.next_index;
        self.next_index += 1;
        match (event.process, event.kind) {
            (Process::Nemesis, _) => {
                self.counts.nemesis += 1;
                self.last_nemesis.clone_from(&event.f);
            }
            (_, EventType::Invoke) => self.counts.invoked += 1,
            (_, EventType::Ok) => self.counts.ok += 1,
            (_, EventType::Fail) => self.counts.fail += 1,
            (_, EventType::Info) => self.counts.info += 1,
        }
        self.writer
            .write_event(&event)
            .with_context(|| format!("writing {}", self.path.display()))?;
        if event.process == Process::Nemesis || self.last_flush.elapsed() >= FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(event)
    }

    /// Pushes buffered events to disk if a second has passed since the last flush.
    pub fn flush_if_due(&mut self) -> Result<()> {
        if self.last_flush.elapsed() >= FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    /// Pushes buffered events to disk now.
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        self.writer
            .flush()
            .with_context(|| format!("flushing {}", self.path.display()))
    }

    /// The counters so far.
    pub fn counts(&self) -> OpCounts {
        self.counts
    }

    /// The function of the last nemesis event (empty before the first).
    pub fn last_nemesis(&self) -> &str {
        &self.last_nemesis
    }

    /// How many events were recorded.
    pub fn len(&self) -> u64 {
        self.next_index
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.next_index == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::read_jsonl;
    use serde_json::{json, Value};

    fn event(process: Process, kind: EventType, f: &str, value: Value) -> Event {
        Event {
            index: 999,
            time: 5,
            process,
            kind,
            f: f.into(),
            key: None,
            value,
            node: None,
            error: None,
        }
    }

    #[test]
    fn events_are_numbered_counted_and_readable_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut r = Recorder::create(&path).unwrap();
        r.record(event(
            Process::Client(0),
            EventType::Invoke,
            "write",
            json!(1),
        ))
        .unwrap();
        let nem = event(
            Process::Nemesis,
            EventType::Info,
            "start-partition",
            json!({}),
        );
        assert_eq!(r.record(nem).unwrap().index, 1);
        // The nemesis event forced a flush: both lines are on disk already.
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        r.record(event(Process::Client(0), EventType::Ok, "write", json!(1)))
            .unwrap();
        r.flush().unwrap();
        let h = read_jsonl(
            std::fs::File::open(&path)
                .map(std::io::BufReader::new)
                .unwrap(),
            "h",
        )
        .unwrap();
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.nemesis.len(), 1);
        assert_eq!(
            r.counts(),
            OpCounts {
                invoked: 1,
                ok: 1,
                fail: 0,
                info: 0,
                nemesis: 1
            }
        );
        assert_eq!(r.len(), 3);
    }
}
