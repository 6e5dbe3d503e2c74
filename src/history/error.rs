//! Errors from reading a history: every one names the file and, for content errors, the line.

use std::fmt;

/// Why reading a history failed. Display is `FILE:LINE: reason` for content errors and
/// `FILE: reason` for I/O errors, so a user can jump straight to the offending line.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be opened or read.
    #[error("{file}: {error}")]
    Io {
        /// The file (or stream name) being read.
        file: String,
        /// The underlying I/O error.
        #[source]
        error: std::io::Error,
    },
    /// A line's content is wrong: bad syntax, a bad field, or an event that does not pair.
    #[error("{file}:{line}: {reason}")]
    Invalid {
        /// The file (or stream name) being read.
        file: String,
        /// 1-based line number of the offending event (its first line, for multi-line forms).
        line: u64,
        /// What is wrong.
        reason: Reason,
    },
    /// The format could not be guessed from the file's first line; `--format` is needed.
    #[error("{file}: cannot guess the history format from its first line; give --format (jsonl, edn, porcupine-etcd or porcupine-kv)")]
    UnknownFormat {
        /// The file (or stream name) being read.
        file: String,
    },
}

impl HistoryError {
    /// The line a content error points at, if any (tests and tools use it to locate errors).
    pub fn line(&self) -> Option<u64> {
        match self {
            HistoryError::Invalid { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The reason of a content error, if this is one.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            HistoryError::Invalid { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// What is wrong with one event. Values are quoted as they appear in the input (JSON or EDN).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Reason {
    /// The line is not valid JSON (or not a JSON object).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The text is not valid EDN.
    #[error("invalid EDN: {0}")]
    Edn(String),
    /// A line does not match the expected shape of its format (Porcupine logs).
    #[error("{0}")]
    Syntax(String),
    /// A required field is absent.
    #[error("missing required field {0}")]
    MissingField(&'static str),
    /// A field is present but its value is not acceptable.
    #[error("{field} must be {expected}, got {got}")]
    InvalidField {
        /// The field as written in the input format (`"type"`, `:process`).
        field: &'static str,
        /// What would have been accepted.
        expected: &'static str,
        /// The offending value, quoted as in the input.
        got: String,
    },
    /// The same field appears twice in one event.
    #[error("duplicate field {0}")]
    DuplicateField(String),
    /// Event indices must strictly increase.
    #[error("index {index} is not greater than the previous event's index {previous}")]
    IndexNotIncreasing {
        /// This event's index.
        index: u64,
        /// The previous event's index.
        previous: u64,
    },
    /// An `ok`/`fail`/`info` from a process that has no outstanding invoke.
    #[error("{kind} by process {process} (f {f:?}) has no matching invoke")]
    CompletionWithoutInvoke {
        /// ok, fail or info.
        kind: TypeName,
        /// The client process.
        process: u64,
        /// The completion's function.
        f: String,
    },
    /// An invoke from a process that still has one outstanding.
    #[error("process {process} invokes {f:?} while its invoke of {open_f:?} at line {open_line} has not completed")]
    DoubleInvoke {
        /// The client process.
        process: u64,
        /// The new invoke's function.
        f: String,
        /// The outstanding invoke's function.
        open_f: String,
        /// The line of the outstanding invoke.
        open_line: u64,
    },
    /// A completion whose `f` is not the `f` of its invoke.
    #[error("{kind} by process {process} has f {f:?}, but its invoke at line {invoke_line} has f {invoke_f:?}")]
    FunctionMismatch {
        /// ok, fail or info.
        kind: TypeName,
        /// The client process.
        process: u64,
        /// The completion's function.
        f: String,
        /// The invoke's function.
        invoke_f: String,
        /// The line of the invoke.
        invoke_line: u64,
    },
    /// A completion whose key differs from its invoke's key.
    #[error("{kind} by process {process} has key {key}, but its invoke at line {invoke_line} has key {invoke_key}")]
    KeyMismatch {
        /// ok, fail or info.
        kind: TypeName,
        /// The client process.
        process: u64,
        /// The completion's key (JSON).
        key: String,
        /// The invoke's key (JSON, or `none`).
        invoke_key: String,
        /// The line of the invoke.
        invoke_line: u64,
    },
}

/// An event type's name, for messages (`ok`, `fail`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeName(pub super::EventType);

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}
