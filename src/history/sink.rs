//! Where the EDN-based readers (Jepsen EDN, Porcupine's etcd and kv logs) put what they
//! decode. Each reader's rules are written once, generic over an [`EdnSink`]: a
//! [`Pairer`] into a [`History`] holds values as `serde_json::Value`s, a pairer into a
//! [`CompactHistory`](super::CompactHistory) (`compact::edn`) pushes them straight into its
//! arena. Both store a value as [`Edn::to_json`] maps it and pair events by the same
//! [`Pairer`] rules, so both give the same history and the same errors.

use serde_json::Value;

use super::edn::Edn;
use super::error::Reason;
use super::pair::{Pairer, RawEvent};
use super::History;

/// A history being built from EDN-decoded events: how values are stored, compared and
/// quoted, and where the events go.
pub(crate) trait EdnSink {
    /// A value as the history holds it.
    type V;
    /// The finished history.
    type Out;
    /// Stores `e` as the JSON value [`Edn::to_json`] gives.
    fn value(&mut self, e: &Edn) -> Self::V;
    /// Whether two stored values are equal JSON values.
    fn same(&self, a: &Self::V, b: &Self::V) -> bool;
    /// A stored value as JSON text, for messages.
    fn show(&self, v: &Self::V) -> String;
    /// Pairs the next event, read at `line`.
    fn event(&mut self, ev: RawEvent<'_, Self::V>, line: u64) -> Result<(), Reason>;
    /// The history, once every event is in.
    fn finish(self) -> Self::Out;
}

/// Values as `serde_json::Value`s, into a [`History`].
impl EdnSink for Pairer<History> {
    type V = Value;
    type Out = History;
    fn value(&mut self, e: &Edn) -> Value {
        e.to_json()
    }
    fn same(&self, a: &Value, b: &Value) -> bool {
        a == b
    }
    fn show(&self, v: &Value) -> String {
        v.to_string()
    }
    fn event(&mut self, ev: RawEvent<'_, Value>, line: u64) -> Result<(), Reason> {
        self.push(ev, line)
    }
    fn finish(self) -> History {
        Pairer::finish(self)
    }
}

/// For tests: `full`, the `Value` reader's result, after checking that `compact`, the compact
/// reader's on the same `input`, is the same history or the same error (message and line).
#[cfg(test)]
pub(crate) fn assert_same_reading(
    full: Result<History, super::HistoryError>,
    compact: Result<super::CompactHistory, super::HistoryError>,
    input: &str,
) -> Result<History, super::HistoryError> {
    match (&full, &compact) {
        (Ok(h), Ok(c)) => assert_eq!(&c.to_history(), h, "{input}"),
        (Err(e), Err(c)) => {
            assert_eq!(
                (c.to_string(), c.line()),
                (e.to_string(), e.line()),
                "{input}"
            )
        }
        _ => panic!("the readers disagree on {input}: {full:?} / {compact:?}"),
    }
    full
}
