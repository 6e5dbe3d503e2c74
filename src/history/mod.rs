//! The history model: events as recorded (one JSON object per line, see DESIGN.md), and
//! operations (an invoke paired with its completion) as the checkers consume them.
//!
//! Nothing here does I/O beyond reading from a `BufRead` or writing to a `Write`, except
//! [`read_history`], which opens the file it is given.
//!
//! # Layout
//!
//! - [`jsonl`]: faultline's own format (DESIGN.md): a streaming reader and a line writer.
//! - [`edn`]: a small EDN reader (Jepsen, Knossos, Elle and Porcupine files are EDN).
//! - [`jepsen`]: imports Jepsen `history.edn`, Knossos and Elle histories.
//! - [`porcupine`]: imports Porcupine's etcd and kv logs.
//! - [`format`]: the format names, the guesser, and the entry points the CLI calls.
//! - [`compact`]: the compact in-memory history (fixed-size op records, values in an arena)
//!   and its JSONL reader, for checking at scale.
//! - `chunked` (private): the parallel JSONL reader behind [`read_jsonl`] and
//!   [`read_jsonl_compact`].
//! - `pair` (private): pairs invokes with completions and validates, for every reader.
//! - `sink` (private): where the EDN-based readers put values and events, so one set of
//!   rules builds both a [`History`] and a [`CompactHistory`].

mod chunked;
pub mod compact;
pub mod edn;
mod emit;
mod error;
pub mod format;
pub mod jepsen;
pub mod jsonl;
mod pair;
pub mod porcupine;
mod sink;

pub use compact::{read_jsonl_compact, CompactHistory};
pub use emit::Events;
pub use error::{HistoryError, Reason, TypeName};
pub use format::{guess, read_history, read_history_compact, read_history_from, Format};
pub use jsonl::{read_jsonl, read_jsonl_lines, HistoryWriter};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// Who performed an event: a logical client process, or the nemesis injecting faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A logical client. A worker whose op ended `info` continues under a new id.
    Client(u64),
    /// The fault injector; its events are recorded but never checked as client ops.
    Nemesis,
}

impl Serialize for Process {
    /// A client is its integer id, the nemesis the string `"nemesis"` (DESIGN.md).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// The type of one history event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// A client began an operation.
    Invoke,
    /// The operation certainly happened.
    Ok,
    /// The operation certainly did not happen.
    Fail,
    /// Unknown: it may or may not have happened, and may take effect at any later time.
    Info,
}

impl EventType {
    /// The name used in JSONL (`invoke`, `ok`, `fail`, `info`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }

    /// Parses a JSONL/EDN type name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<EventType> {
        match name {
            "invoke" => Some(EventType::Invoke),
            "ok" => Some(EventType::Ok),
            "fail" => Some(EventType::Fail),
            "info" => Some(EventType::Info),
            _ => None,
        }
    }
}

/// One line of a history: an invocation, a completion, or a nemesis event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// 0-based position in the history.
    pub index: u64,
    /// Nanoseconds since the test started (monotonic clock).
    pub time: u64,
    /// Who did it.
    pub process: Process,
    /// invoke / ok / fail / info.
    pub kind: EventType,
    /// The function: `read`, `write`, `cas`, `txn`, `partition-start`, ...
    pub f: String,
    /// The key for keyed workloads; `None` means the single register.
    pub key: Option<Value>,
    /// The op's argument (on invoke) or result (on completion).
    pub value: Value,
    /// Which node served it, when known.
    pub node: Option<String>,
    /// Why it failed, when known.
    pub error: Option<Value>,
}

impl Serialize for Event {
    /// One JSONL line, fields in DESIGN.md's order: index, time, process, type, f, key (when
    /// present), value, node and error (when present).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let len = 6
            + usize::from(self.key.is_some())
            + usize::from(self.node.is_some())
            + usize::from(self.error.is_some());
        let mut m = s.serialize_map(Some(len))?;
        m.serialize_entry("index", &self.index)?;
        m.serialize_entry("time", &self.time)?;
        m.serialize_entry("process", &self.process)?;
        m.serialize_entry("type", self.kind.as_str())?;
        m.serialize_entry("f", &self.f)?;
        if let Some(key) = &self.key {
            m.serialize_entry("key", key)?;
        }
        m.serialize_entry("value", &self.value)?;
        if let Some(node) = &self.node {
            m.serialize_entry("node", node)?;
        }
        if let Some(error) = &self.error {
            m.serialize_entry("error", error)?;
        }
        m.end()
    }
}

/// How a client operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened, between its invoke and its completion.
    Ok,
    /// It never happened.
    Fail,
    /// It may or may not have happened, at any time after its invoke (also: no completion).
    Info,
}

/// A client operation: an invoke paired with its completion. This is what checkers consume.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// The client process (never the nemesis).
    pub process: u64,
    /// The function, as on the invoke.
    pub f: String,
    /// The key, as on the invoke; `None` means the single register.
    pub key: Option<Value>,
    /// The invoke's value (the argument: written value, `[from, to]` for cas, `null` for reads).
    pub invoke_value: Value,
    /// The completion's value (the result: the value read, ...). For an op with no completion
    /// this is the invoke's value.
    pub value: Value,
    /// ok / fail / info.
    pub outcome: Outcome,
    /// History index of the invoke event.
    pub invoke_index: u64,
    /// History index of the completion event; `None` when the history ended first.
    pub complete_index: Option<u64>,
    /// Time of the invoke, ns.
    pub invoke_time: u64,
    /// Time of the completion, ns; `None` when the history ended first.
    pub complete_time: Option<u64>,
    /// The completion's error, when any.
    pub error: Option<Value>,
    /// The node that served it, when known.
    pub node: Option<String>,
}

/// A whole history: client ops in invoke order plus nemesis events, as read from a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Client ops, ordered by `invoke_index`.
    pub ops: Vec<Op>,
    /// Nemesis events (faults started and healed), in history order.
    pub nemesis: Vec<Event>,
    /// Number of events (lines) the history had, nemesis included.
    pub event_count: u64,
}

impl History {
    /// The history's events in index order (client invokes and completions rebuilt from the
    /// ops, nemesis events as stored), lazily, so a history imported from EDN or a Porcupine
    /// log can be written as JSONL without a second copy in memory.
    ///
    /// An op's `node` and `error` go on its completion (on its invoke when it has none), so
    /// reading the written events back gives the same `History`. The ops must be consistent
    /// as the readers produce them: an op without completion has `outcome` Info and
    /// `value == invoke_value`; a `None` key is written as no key.
    pub fn events(&self) -> Events<'_> {
        Events::new(self)
    }
}
