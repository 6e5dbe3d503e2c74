//! A FIFO queue: `enqueue` a value at the back, `dequeue` takes the front (a dequeue of
//! `null` saw an empty queue). An indeterminate dequeue, if it happened, took the front.

use super::{
    bad_value, fname, InputId, InputTable, Model, ModelError, ModelOptions, Prepared, StateId,
    StateTable, ValueTable,
};
use crate::history::{Op, Outcome};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Input {
    Enqueue(u32),
    /// Took this value from the front.
    Dequeue(u32),
    /// Saw an empty queue.
    DequeueEmpty,
    /// An indeterminate dequeue: took whatever was at the front.
    DequeueAny,
}

/// A queue of JSON values; states are interned value-id sequences.
#[derive(Debug, Clone)]
pub struct FifoQueueModel {
    initial: Value,
    values: ValueTable,
    inputs: InputTable<Input>,
    states: StateTable<Box<[u32]>>,
}

impl FifoQueueModel {
    /// A queue; `initial` is a list (front first) or null (empty).
    pub fn new(options: &ModelOptions) -> Result<Self, ModelError> {
        if !(options.initial.is_null() || options.initial.is_array()) {
            return Err(ModelError::BadInitial {
                model: "fifo-queue",
                what: "expected a list (front first) or null",
                value: options.initial.to_string(),
            });
        }
        Ok(FifoQueueModel {
            initial: options.initial.clone(),
            values: ValueTable::default(),
            inputs: InputTable::default(),
            states: StateTable::default(),
        })
    }
}

impl Model for FifoQueueModel {
    fn prepare(&mut self, op: &Op) -> Result<Prepared, ModelError> {
        if op.outcome == Outcome::Fail {
            return Ok(Prepared::Skip);
        }
        let input = match fname(op) {
            "enqueue" | "enq" => {
                if op.invoke_value.is_null() {
                    return Err(bad_value(
                        op,
                        "enqueue needs a non-null value",
                        &op.invoke_value,
                    ));
                }
                Input::Enqueue(self.values.intern(&op.invoke_value))
            }
            "dequeue" | "deq" => match op.outcome {
                Outcome::Info => Input::DequeueAny,
                _ if op.value.is_null() => Input::DequeueEmpty,
                _ => Input::Dequeue(self.values.intern(&op.value)),
            },
            other => {
                return Err(ModelError::UnknownFunction {
                    model: "fifo-queue",
                    index: op.invoke_index,
                    f: other.to_string(),
                    expected: "enqueue or dequeue",
                })
            }
        };
        Ok(Prepared::Input(self.inputs.intern(input)))
    }

    fn init(&mut self) -> StateId {
        let items = self.initial.as_array().cloned().unwrap_or_default();
        let ids: Vec<u32> = items.iter().map(|v| self.values.intern(v)).collect();
        self.states.intern(ids.into_boxed_slice())
    }

    fn step(&mut self, state: StateId, input: InputId) -> Option<StateId> {
        let cur = self.states.get(state);
        match *self.inputs.get(input) {
            Input::Enqueue(v) => {
                let mut next = cur.to_vec();
                next.push(v);
                Some(self.states.intern(next.into_boxed_slice()))
            }
            Input::DequeueEmpty => cur.is_empty().then_some(state),
            Input::Dequeue(v) => {
                if cur.first() != Some(&v) {
                    return None;
                }
                let next: Box<[u32]> = cur[1..].into();
                Some(self.states.intern(next))
            }
            Input::DequeueAny => {
                if cur.is_empty() {
                    return None;
                }
                let next: Box<[u32]> = cur[1..].into();
                Some(self.states.intern(next))
            }
        }
    }

    fn is_read_only(&self, input: InputId) -> bool {
        matches!(self.inputs.get(input), Input::DequeueEmpty)
    }

    fn describe_state(&self, state: StateId) -> String {
        self.values.describe_list(self.states.get(state))
    }

    fn noun(&self) -> &'static str {
        "the queue"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::model::tests_support::op;
    use serde_json::json;

    #[test]
    fn dequeues_come_out_in_enqueue_order() {
        let mut m = FifoQueueModel::new(&ModelOptions::default()).unwrap();
        let mut id = |o: Op| match m.prepare(&o).unwrap() {
            Prepared::Input(i) => i,
            Prepared::Skip => panic!("dropped"),
        };
        let e1 = id(op("enqueue", json!(1), json!(1), Outcome::Ok));
        let e2 = id(op("enqueue", json!(2), json!(2), Outcome::Ok));
        let d1 = id(op("dequeue", json!(null), json!(1), Outcome::Ok));
        let d2 = id(op("dequeue", json!(null), json!(2), Outcome::Ok));
        let empty = id(op("dequeue", json!(null), json!(null), Outcome::Ok));
        let s0 = m.init();
        assert_eq!(m.step(s0, empty), Some(s0));
        let s1 = m.step(s0, e1).unwrap();
        let s2 = m.step(s1, e2).unwrap();
        assert_eq!(m.describe_state(s2), "[1,2]");
        assert_eq!(m.step(s2, d2), None, "2 is not at the front");
        let s3 = m.step(s2, d1).unwrap();
        assert_eq!(m.step(s3, empty), None);
        assert_eq!(m.step(s3, d2), Some(s0));
    }
}
