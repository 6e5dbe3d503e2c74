//! Turning a [`History`] back into its events, in index order, one at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{Event, EventType, History, Op, Outcome, Process};

/// Iterator over a history's events in index order; see [`History::events`].
///
/// It merges three ordered streams: invokes (ops are in invoke order), nemesis events (in
/// history order), and completions, which a min-heap orders as their invokes are passed.
#[derive(Debug)]
pub struct Events<'a> {
    history: &'a History,
    next_op: usize,
    next_nemesis: usize,
    /// (completion index, op position) of ops whose invoke was already yielded.
    completions: BinaryHeap<Reverse<(u64, usize)>>,
}

impl<'a> Events<'a> {
    pub(super) fn new(history: &'a History) -> Self {
        Events {
            history,
            next_op: 0,
            next_nemesis: 0,
            completions: BinaryHeap::new(),
        }
    }
}

/// Which stream the next event comes from.
enum Next {
    Invoke,
    Nemesis,
    Completion,
}

impl Iterator for Events<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        let h = self.history;
        let mut best: Option<(u64, Next)> = None;
        let mut consider = |index: u64, which: Next| {
            if best.as_ref().is_none_or(|(b, _)| index < *b) {
                best = Some((index, which));
            }
        };
        if let Some(op) = h.ops.get(self.next_op) {
            consider(op.invoke_index, Next::Invoke);
        }
        if let Some(ev) = h.nemesis.get(self.next_nemesis) {
            consider(ev.index, Next::Nemesis);
        }
        if let Some(Reverse((index, _))) = self.completions.peek() {
            consider(*index, Next::Completion);
        }
        match best?.1 {
            Next::Invoke => {
                let pos = self.next_op;
                self.next_op += 1;
                let op = &h.ops[pos];
                if let Some(ci) = op.complete_index {
                    self.completions.push(Reverse((ci, pos)));
                }
                Some(invoke_event(op))
            }
            Next::Nemesis => {
                self.next_nemesis += 1;
                Some(h.nemesis[self.next_nemesis - 1].clone())
            }
            Next::Completion => {
                // peek() just returned Some, so pop() does too.
                let Reverse((_, pos)) = self.completions.pop()?;
                Some(completion_event(&h.ops[pos]))
            }
        }
    }
}

fn invoke_event(op: &Op) -> Event {
    let completed = op.complete_index.is_some();
    Event {
        index: op.invoke_index,
        time: op.invoke_time,
        process: Process::Client(op.process),
        kind: EventType::Invoke,
        f: op.f.clone(),
        key: op.key.clone(),
        value: op.invoke_value.clone(),
        node: if completed { None } else { op.node.clone() },
        error: if completed { None } else { op.error.clone() },
    }
}

fn completion_event(op: &Op) -> Event {
    Event {
        index: op.complete_index.unwrap_or(op.invoke_index),
        time: op.complete_time.unwrap_or(op.invoke_time),
        process: Process::Client(op.process),
        kind: match op.outcome {
            Outcome::Ok => EventType::Ok,
            Outcome::Fail => EventType::Fail,
            Outcome::Info => EventType::Info,
        },
        f: op.f.clone(),
        key: op.key.clone(),
        value: op.value.clone(),
        node: op.node.clone(),
        error: op.error.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn op(process: u64, invoke: u64, complete: Option<u64>, outcome: Outcome) -> Op {
        Op {
            process,
            f: "write".into(),
            key: None,
            invoke_value: json!(process),
            value: json!(process),
            outcome,
            invoke_index: invoke,
            complete_index: complete,
            invoke_time: invoke * 10,
            complete_time: complete.map(|c| c * 10),
            error: None,
            node: None,
        }
    }

    #[test]
    fn interleaves_invokes_completions_and_nemesis_by_index() {
        let h = History {
            ops: vec![
                op(0, 0, Some(3), Outcome::Ok),
                op(1, 1, Some(2), Outcome::Fail),
                op(2, 5, None, Outcome::Info),
            ],
            nemesis: vec![Event {
                index: 4,
                time: 40,
                process: Process::Nemesis,
                kind: EventType::Info,
                f: "kill".into(),
                key: None,
                value: Value::Null,
                node: None,
                error: None,
            }],
            event_count: 6,
        };
        let got: Vec<(u64, Process, EventType)> =
            h.events().map(|e| (e.index, e.process, e.kind)).collect();
        let c = Process::Client;
        assert_eq!(
            got,
            vec![
                (0, c(0), EventType::Invoke),
                (1, c(1), EventType::Invoke),
                (2, c(1), EventType::Fail),
                (3, c(0), EventType::Ok),
                (4, Process::Nemesis, EventType::Info),
                (5, c(2), EventType::Invoke),
            ]
        );
    }
}
