//! Pairing events into ops: the one place every reader's events go through, so every format
//! and every in-memory form (the `Value` [`History`], the compact history) gets the same
//! validation (completion without invoke, double invoke, `f` or key mismatch, indices that
//! do not increase) with the same messages. The rules live in [`Pairer`]; how ops are
//! stored and how their fields are compared and named lives in a [`PairStore`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde_json::Value;

use super::error::{Reason, TypeName};
use super::{Event, EventType, History, Op, Outcome, Process};

/// One event as a reader parsed it, before pairing. Borrowed strings let the JSONL reader
/// avoid allocating for a completion's `f` (it is only compared with the invoke's). `V` is
/// how `key`, `value` and `error` are held: `Value`s here, arena handles in the compact
/// readers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawEvent<'a, V = Value> {
    /// Explicit index; `None` means "the event's 0-based position".
    pub index: Option<u64>,
    /// Time in ns (readers default it to 0 when absent).
    pub time: u64,
    pub process: Process,
    pub kind: EventType,
    pub f: Cow<'a, str>,
    pub key: Option<V>,
    pub value: V,
    pub node: Option<Cow<'a, str>>,
    pub error: Option<V>,
}

impl<V> RawEvent<'_, V> {
    /// The same event owning its strings, so it can outlive the line it was parsed from
    /// (the parallel reader sends events between threads).
    pub fn into_owned(self) -> RawEvent<'static, V> {
        RawEvent {
            index: self.index,
            time: self.time,
            process: self.process,
            kind: self.kind,
            f: Cow::Owned(self.f.into_owned()),
            key: self.key,
            value: self.value,
            node: self.node.map(|n| Cow::Owned(n.into_owned())),
            error: self.error,
        }
    }
}

/// What a [`Pairer`] builds from events of type `E`: it stores nemesis events and ops, and
/// compares and names the fields the pairing rules look at. Ops are addressed by their
/// position in invoke order.
pub(crate) trait PairStore<E> {
    /// The event's explicit index (if any), process and type.
    fn head(ev: &E) -> (Option<u64>, Process, EventType);
    /// The event's `f`, for messages.
    fn event_f(&self, ev: &E) -> String;
    /// The `f` of op `op`, for messages.
    fn op_f(&self, op: usize) -> String;
    /// Whether the completion `ev` has the `f` of op `op`.
    fn same_f(&self, op: usize, ev: &E) -> bool;
    /// When the completion `ev` names a key that is not op `op`'s: the event's key and the
    /// op's (`none` when it has none), for messages.
    fn key_mismatch(&self, op: usize, ev: &E) -> Option<(String, String)>;
    /// Keeps a nemesis event at `index`.
    fn nemesis(&mut self, ev: E, index: u64);
    /// Opens an op for the invoke `ev` of `process` at `index`; returns its position.
    fn invoke(&mut self, process: u64, ev: E, index: u64) -> usize;
    /// Completes op `op` with `ev` at `index`.
    fn complete(&mut self, op: usize, ev: E, index: u64, outcome: Outcome);
    /// Op `op` never completed: its value is its invoke's.
    fn leave_open(&mut self, op: usize);
    /// The history had `n` events.
    fn set_event_count(&mut self, n: u64);
}

/// The invoke a process is waiting on.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Position of the op in the store.
    op: usize,
    /// Line of the invoke, for messages.
    line: u64,
}

/// A multiplicative hasher for process ids: the open-invoke map is hit twice per op, and
/// process ids are small integers a user cannot pick to collide on purpose in a useful way.
#[derive(Default)]
struct ProcessHasher(u64);

impl Hasher for ProcessHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing spreads consecutive ids over the high bits hashbrown uses.
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Builds a history (a [`History`] by default) from events fed in file order.
#[derive(Debug, Default)]
pub(crate) struct Pairer<S = History> {
    store: S,
    open: HashMap<u64, Open, BuildHasherDefault<ProcessHasher>>,
    /// Number of events seen so far (the default index of the next one).
    position: u64,
    last_index: Option<u64>,
}

impl Pairer {
    /// A pairer into a [`History`], with no events yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Pairer<S> {
    /// A pairer that adds to `store` (which may have room reserved).
    pub fn with_store(store: S) -> Self {
        Self {
            store,
            open: HashMap::default(),
            position: 0,
            last_index: None,
        }
    }

    /// The store being built: the compact readers compare and quote values in its arena, and
    /// a reader that watches the history grow sees it as built so far (ops still open have no
    /// completion yet; `compact::read_jsonl_compact_watched`).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store being built, for a reader that keeps more in it than events (the compact
    /// reader's arena).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Number of events seen so far (nemesis events included).
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Adds the next event, read at `line`; on error the history is unusable.
    pub fn push<E>(&mut self, ev: E, line: u64) -> Result<(), Reason>
    where
        S: PairStore<E>,
    {
        let (index, process, kind) = S::head(&ev);
        let index = index.unwrap_or(self.position);
        if let Some(previous) = self.last_index {
            if index <= previous {
                return Err(Reason::IndexNotIncreasing { index, previous });
            }
        }
        let process = match process {
            Process::Nemesis => {
                self.store.nemesis(ev, index);
                self.advance(index);
                return Ok(());
            }
            Process::Client(p) => p,
        };
        match kind {
            EventType::Invoke => {
                if let Some(open) = self.open.get(&process) {
                    return Err(Reason::DoubleInvoke {
                        process,
                        f: self.store.event_f(&ev),
                        open_f: self.store.op_f(open.op),
                        open_line: open.line,
                    });
                }
                let op = self.store.invoke(process, ev, index);
                self.open.insert(process, Open { op, line });
            }
            kind => {
                let Some(open) = self.open.get(&process).copied() else {
                    return Err(Reason::CompletionWithoutInvoke {
                        kind: TypeName(kind),
                        process,
                        f: self.store.event_f(&ev),
                    });
                };
                if !self.store.same_f(open.op, &ev) {
                    return Err(Reason::FunctionMismatch {
                        kind: TypeName(kind),
                        process,
                        f: self.store.event_f(&ev),
                        invoke_f: self.store.op_f(open.op),
                        invoke_line: open.line,
                    });
                }
                if let Some((key, invoke_key)) = self.store.key_mismatch(open.op, &ev) {
                    return Err(Reason::KeyMismatch {
                        kind: TypeName(kind),
                        process,
                        key,
                        invoke_key,
                        invoke_line: open.line,
                    });
                }
                let outcome = match kind {
                    EventType::Ok => Outcome::Ok,
                    EventType::Fail => Outcome::Fail,
                    _ => Outcome::Info,
                };
                self.store.complete(open.op, ev, index, outcome);
                self.open.remove(&process);
            }
        }
        self.advance(index);
        Ok(())
    }

    fn advance(&mut self, index: u64) {
        self.last_index = Some(index);
        self.position += 1;
    }

    /// The history so far; invokes still open stay `info` with no completion.
    pub fn finish<E>(mut self) -> S
    where
        S: PairStore<E>,
    {
        for open in self.open.values() {
            self.store.leave_open(open.op);
        }
        self.store.set_event_count(self.position);
        self.store
    }
}

impl<'a> PairStore<RawEvent<'a>> for History {
    fn head(ev: &RawEvent<'a>) -> (Option<u64>, Process, EventType) {
        (ev.index, ev.process, ev.kind)
    }
    fn event_f(&self, ev: &RawEvent<'a>) -> String {
        ev.f.to_string()
    }
    fn op_f(&self, op: usize) -> String {
        self.ops[op].f.clone()
    }
    fn same_f(&self, op: usize, ev: &RawEvent<'a>) -> bool {
        self.ops[op].f == ev.f
    }
    fn key_mismatch(&self, op: usize, ev: &RawEvent<'a>) -> Option<(String, String)> {
        let key = ev.key.as_ref()?;
        let op_key = self.ops[op].key.as_ref();
        (op_key != Some(key)).then(|| {
            (
                key.to_string(),
                op_key.map_or_else(|| "none".to_string(), Value::to_string),
            )
        })
    }
    fn nemesis(&mut self, ev: RawEvent<'a>, index: u64) {
        self.nemesis.push(Event {
            index,
            time: ev.time,
            process: Process::Nemesis,
            kind: ev.kind,
            f: ev.f.into_owned(),
            key: ev.key,
            value: ev.value,
            node: ev.node.map(Cow::into_owned),
            error: ev.error,
        });
    }
    fn invoke(&mut self, process: u64, ev: RawEvent<'a>, index: u64) -> usize {
        self.ops.push(Op {
            process,
            f: ev.f.into_owned(),
            key: ev.key,
            // Filled in by the completion, or by `leave_open`.
            value: Value::Null,
            invoke_value: ev.value,
            outcome: Outcome::Info,
            invoke_index: index,
            complete_index: None,
            invoke_time: ev.time,
            complete_time: None,
            error: ev.error,
            node: ev.node.map(Cow::into_owned),
        });
        self.ops.len() - 1
    }
    fn complete(&mut self, op: usize, ev: RawEvent<'a>, index: u64, outcome: Outcome) {
        let op = &mut self.ops[op];
        op.outcome = outcome;
        op.value = ev.value;
        op.complete_index = Some(index);
        op.complete_time = Some(ev.time);
        if ev.error.is_some() {
            op.error = ev.error;
        }
        if let Some(node) = ev.node {
            op.node = Some(node.into_owned());
        }
    }
    fn leave_open(&mut self, op: usize) {
        let op = &mut self.ops[op];
        op.value = op.invoke_value.clone();
    }
    fn set_event_count(&mut self, n: u64) {
        self.event_count = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(process: Process, kind: EventType, f: &str, value: Value) -> RawEvent<'static> {
        RawEvent {
            index: None,
            time: 0,
            process,
            kind,
            f: Cow::Owned(f.to_string()),
            key: None,
            value,
            node: None,
            error: None,
        }
    }

    #[test]
    fn pairs_by_process_and_keeps_invoke_order() {
        let mut p = Pairer::new();
        let c = Process::Client;
        p.push(ev(c(0), EventType::Invoke, "write", json!(1)), 1)
            .unwrap();
        p.push(ev(c(1), EventType::Invoke, "read", Value::Null), 2)
            .unwrap();
        p.push(ev(c(1), EventType::Ok, "read", json!(1)), 3)
            .unwrap();
        p.push(
            ev(Process::Nemesis, EventType::Info, "kill", Value::Null),
            4,
        )
        .unwrap();
        let h = p.finish();
        assert_eq!(h.event_count, 4);
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].outcome, Outcome::Info);
        assert_eq!(h.ops[0].complete_index, None);
        assert_eq!(h.ops[0].value, json!(1));
        assert_eq!(h.ops[1].outcome, Outcome::Ok);
        assert_eq!(h.ops[1].invoke_value, Value::Null);
        assert_eq!(h.ops[1].value, json!(1));
        assert_eq!(h.ops[1].complete_index, Some(2));
        assert_eq!(h.nemesis.len(), 1);
        assert_eq!(h.nemesis[0].index, 3);
    }

    #[test]
    fn rejects_unpaired_and_mismatched_events() {
        let c = Process::Client;
        let mut p = Pairer::new();
        let err = p.push(ev(c(3), EventType::Ok, "read", json!(1)), 1);
        assert!(matches!(
            err,
            Err(Reason::CompletionWithoutInvoke { process: 3, .. })
        ));

        let mut p = Pairer::new();
        p.push(ev(c(3), EventType::Invoke, "read", Value::Null), 1)
            .unwrap();
        let err = p
            .push(ev(c(3), EventType::Invoke, "write", json!(2)), 2)
            .unwrap_err();
        assert!(matches!(err, Reason::DoubleInvoke { open_line: 1, .. }));
        let err = p
            .push(ev(c(3), EventType::Ok, "write", json!(2)), 3)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ok by process 3 has f \"write\", but its invoke at line 1 has f \"read\""
        );
    }

    #[test]
    fn rejects_indices_that_do_not_increase() {
        let mut p = Pairer::new();
        let mut a = ev(Process::Client(0), EventType::Invoke, "read", Value::Null);
        a.index = Some(5);
        p.push(a, 1).unwrap();
        let mut b = ev(Process::Client(0), EventType::Ok, "read", Value::Null);
        b.index = Some(5);
        let err = p.push(b, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "index 5 is not greater than the previous event's index 5"
        );
    }
}
