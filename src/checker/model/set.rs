//! A grow-only set: `add` an element, `read` the whole set (a list, order ignored).

use super::{
    bad_value, fname, InputId, InputTable, Model, ModelError, ModelOptions, Prepared, StateId,
    StateTable, ValueTable,
};
use crate::history::{Op, Outcome};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Input {
    Add(u32),
    /// The set equals exactly these elements (sorted, deduplicated ids).
    Read(Box<[u32]>),
}

/// A set of JSON values; states are interned sorted element-id lists.
#[derive(Debug, Clone)]
pub struct SetModel {
    initial: Value,
    values: ValueTable,
    inputs: InputTable<Input>,
    states: StateTable<Box<[u32]>>,
}

impl SetModel {
    /// A set; `initial` is a list of elements or null (empty).
    pub fn new(options: &ModelOptions) -> Result<Self, ModelError> {
        if !(options.initial.is_null() || options.initial.is_array()) {
            return Err(ModelError::BadInitial {
                model: "set",
                what: "expected a list of elements or null",
                value: options.initial.to_string(),
            });
        }
        Ok(SetModel {
            initial: options.initial.clone(),
            values: ValueTable::default(),
            inputs: InputTable::default(),
            states: StateTable::default(),
        })
    }

    fn elements(&mut self, items: &[Value]) -> Box<[u32]> {
        let mut ids: Vec<u32> = items.iter().map(|v| self.values.intern(v)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_boxed_slice()
    }
}

impl Model for SetModel {
    fn prepare(&mut self, op: &Op) -> Result<Prepared, ModelError> {
        let input = match fname(op) {
            "add" => {
                if op.outcome == Outcome::Fail {
                    return Ok(Prepared::Skip);
                }
                Input::Add(self.values.intern(&op.invoke_value))
            }
            "read" => {
                if op.outcome != Outcome::Ok {
                    return Ok(Prepared::Skip);
                }
                let items = match &op.value {
                    Value::Array(items) => items.clone(),
                    Value::Null => Vec::new(),
                    other => {
                        return Err(bad_value(op, "a set read needs a list of elements", other))
                    }
                };
                Input::Read(self.elements(&items))
            }
            other => {
                return Err(ModelError::UnknownFunction {
                    model: "set",
                    index: op.invoke_index,
                    f: other.to_string(),
                    expected: "add or read",
                })
            }
        };
        Ok(Prepared::Input(self.inputs.intern(input)))
    }

    fn init(&mut self) -> StateId {
        let items = self.initial.as_array().cloned().unwrap_or_default();
        let set = self.elements(&items);
        self.states.intern(set)
    }

    fn step(&mut self, state: StateId, input: InputId) -> Option<StateId> {
        match self.inputs.get(input) {
            Input::Read(want) => (self.states.get(state) == want).then_some(state),
            Input::Add(e) => {
                let e = *e;
                let cur = self.states.get(state);
                match cur.binary_search(&e) {
                    Ok(_) => Some(state),
                    Err(at) => {
                        let mut next = Vec::with_capacity(cur.len() + 1);
                        next.extend_from_slice(&cur[..at]);
                        next.push(e);
                        next.extend_from_slice(&cur[at..]);
                        Some(self.states.intern(next.into_boxed_slice()))
                    }
                }
            }
        }
    }

    fn is_read_only(&self, input: InputId) -> bool {
        matches!(self.inputs.get(input), Input::Read(_))
    }

    fn describe_state(&self, state: StateId) -> String {
        self.values.describe_list(self.states.get(state))
    }

    fn noun(&self) -> &'static str {
        "the set"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::model::tests_support::op;
    use serde_json::json;

    #[test]
    fn add_then_read_in_any_order() {
        let mut m = SetModel::new(&ModelOptions::default()).unwrap();
        let Prepared::Input(a1) = m
            .prepare(&op("add", json!(1), json!(1), Outcome::Ok))
            .unwrap()
        else {
            panic!()
        };
        let Prepared::Input(a2) = m
            .prepare(&op("add", json!(2), json!(2), Outcome::Ok))
            .unwrap()
        else {
            panic!()
        };
        let Prepared::Input(r) = m
            .prepare(&op("read", json!(null), json!([2, 1]), Outcome::Ok))
            .unwrap()
        else {
            panic!()
        };
        let Prepared::Input(r1) = m
            .prepare(&op("read", json!(null), json!([1]), Outcome::Ok))
            .unwrap()
        else {
            panic!()
        };
        let s0 = m.init();
        assert_eq!(m.step(s0, r), None);
        let s1 = m.step(s0, a2).unwrap();
        let s2 = m.step(s1, a1).unwrap();
        assert_eq!(m.step(s2, r), Some(s2));
        assert_eq!(m.step(s2, r1), None);
        assert_eq!(m.describe_state(s2), "[1,2]");
        assert!(m.is_read_only(r) && !m.is_read_only(a1));
        assert!(SetModel::new(&ModelOptions {
            initial: json!(3),
            nil_reads_match_any: false
        })
        .is_err());
    }
}
