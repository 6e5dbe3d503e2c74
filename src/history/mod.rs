//! The history model: events as recorded (one JSON object per line, see DESIGN.md), and
//! operations (an invoke paired with its completion) as the checkers consume them.
//!
//! Nothing here does I/O beyond reading from a `BufRead` or writing to a `Write`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who performed an event: a logical client process, or the nemesis injecting faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    /// A logical client. A worker whose op ended `info` continues under a new id.
    Client(u64),
    /// The fault injector; its events are recorded but never checked as client ops.
    Nemesis,
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
