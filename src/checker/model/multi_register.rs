//! Knossos's multi-register: each op is a `txn` whose value is a list of micro-ops
//! `["read", k, v]` / `["write", k, v]` over named registers, applied atomically in order.

use super::{
    bad_value, fname, show, InputId, InputTable, Model, ModelError, ModelOptions, Prepared,
    StateId, StateTable, ValueTable,
};
use crate::checker::hash::FxHashMap;
use crate::history::{Op, Outcome};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Micro {
    /// Register `slot` holds value id `.1`.
    Read(u32, u32),
    /// Register `slot` becomes value id `.1`.
    Write(u32, u32),
}

/// Several registers changed together by transactions; states are interned value-id vectors.
#[derive(Debug, Clone)]
pub struct MultiRegisterModel {
    nil_reads_match_any: bool,
    initial: Vec<(String, Value)>,
    slots: FxHashMap<String, u32>,
    names: Vec<String>,
    values: ValueTable,
    inputs: InputTable<Box<[Micro]>>,
    states: StateTable<Box<[u32]>>,
}

/// A register name from JSON: strings lose an EDN keyword's leading `:`.
fn key_name(k: &Value) -> String {
    match k {
        Value::String(s) => s.strip_prefix(':').unwrap_or(s).to_string(),
        other => other.to_string(),
    }
}

impl MultiRegisterModel {
    /// Registers start at `initial` (an object of name -> value; others start never written).
    pub fn new(options: &ModelOptions) -> Result<Self, ModelError> {
        let initial = match &options.initial {
            Value::Null => Vec::new(),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (key_name(&Value::String(k.clone())), v.clone()))
                .collect(),
            other => {
                return Err(ModelError::BadInitial {
                    model: "multi-register",
                    what: "expected an object of register name to value, or null",
                    value: other.to_string(),
                })
            }
        };
        let mut m = MultiRegisterModel {
            nil_reads_match_any: options.nil_reads_match_any,
            initial: Vec::new(),
            slots: FxHashMap::default(),
            names: Vec::new(),
            values: ValueTable::default(),
            inputs: InputTable::default(),
            states: StateTable::default(),
        };
        for (k, _) in &initial {
            m.slot(k);
        }
        m.initial = initial;
        Ok(m)
    }

    fn slot(&mut self, name: &str) -> u32 {
        if let Some(&s) = self.slots.get(name) {
            return s;
        }
        let s = self.names.len() as u32;
        self.slots.insert(name.to_string(), s);
        self.names.push(name.to_string());
        s
    }
}

impl Model for MultiRegisterModel {
    fn prepare(&mut self, op: &Op) -> Result<Prepared, ModelError> {
        match fname(op) {
            "txn" => {}
            other => {
                return Err(ModelError::UnknownFunction {
                    model: "multi-register",
                    index: op.invoke_index,
                    f: other.to_string(),
                    expected: "txn",
                })
            }
        }
        if op.outcome == Outcome::Fail {
            return Ok(Prepared::Skip);
        }
        let source = if op.outcome == Outcome::Ok {
            &op.value
        } else {
            &op.invoke_value
        };
        let Some(list) = source.as_array() else {
            return Err(bad_value(
                op,
                "a txn needs a list of [f, key, value] micro-ops",
                source,
            ));
        };
        let mut micros = Vec::with_capacity(list.len());
        for m in list {
            let Some([f, k, v]) = m.as_array().map(|a| a.as_slice()) else {
                return Err(bad_value(op, "each micro-op must be [f, key, value]", m));
            };
            let f = f
                .as_str()
                .map(|s| s.strip_prefix(':').unwrap_or(s))
                .unwrap_or("");
            let slot = self.slot(&key_name(k));
            match f {
                "read" | "r" => {
                    let unconstrained =
                        op.outcome != Outcome::Ok || (v.is_null() && self.nil_reads_match_any);
                    if !unconstrained {
                        micros.push(Micro::Read(slot, self.values.intern(v)));
                    }
                }
                "write" | "w" => micros.push(Micro::Write(slot, self.values.intern(v))),
                _ => return Err(bad_value(op, "micro-op function must be read or write", m)),
            }
        }
        if micros.is_empty() {
            return Ok(Prepared::Skip);
        }
        Ok(Prepared::Input(
            self.inputs.intern(micros.into_boxed_slice()),
        ))
    }

    fn init(&mut self) -> StateId {
        let mut regs = vec![ValueTable::NULL; self.names.len()];
        for (k, v) in self.initial.clone() {
            let slot = self.slot(&k) as usize;
            regs[slot] = self.values.intern(&v);
        }
        self.states.intern(regs.into_boxed_slice())
    }

    fn step(&mut self, state: StateId, input: InputId) -> Option<StateId> {
        let cur = self.states.get(state);
        let micros = self.inputs.get(input);
        let mut next: Option<Vec<u32>> = None;
        for m in micros.iter() {
            match *m {
                Micro::Read(slot, v) => {
                    let now = next
                        .as_ref()
                        .map_or(cur[slot as usize], |n| n[slot as usize]);
                    if now != v {
                        return None;
                    }
                }
                Micro::Write(slot, v) => {
                    next.get_or_insert_with(|| cur.to_vec())[slot as usize] = v;
                }
            }
        }
        match next {
            None => Some(state),
            Some(n) => Some(self.states.intern(n.into_boxed_slice())),
        }
    }

    fn is_read_only(&self, input: InputId) -> bool {
        self.inputs
            .get(input)
            .iter()
            .all(|m| matches!(m, Micro::Read(..)))
    }

    fn describe_state(&self, state: StateId) -> String {
        let regs = self.states.get(state);
        let parts: Vec<String> = self
            .names
            .iter()
            .zip(regs.iter())
            .map(|(n, &v)| format!("{n}={}", show(self.values.get(v))))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    fn noun(&self) -> &'static str {
        "the registers"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::model::tests_support::op;
    use serde_json::json;

    #[test]
    fn txn_reads_see_state_and_earlier_writes() {
        let opts = ModelOptions {
            initial: json!({"x": 0, "y": 0}),
            nil_reads_match_any: true,
        };
        let mut m = MultiRegisterModel::new(&opts).unwrap();
        let mut id = |o: Op| match m.prepare(&o).unwrap() {
            Prepared::Input(i) => i,
            Prepared::Skip => panic!("dropped"),
        };
        let w = id(op(
            "txn",
            json!([["write", ":x", 2], ["read", "x", 2]]),
            json!([["write", ":x", 2], ["read", "x", 2]]),
            Outcome::Ok,
        ));
        let r = id(op(
            "txn",
            json!([["read", "x", null], ["read", "y", null]]),
            json!([["read", "x", 2], ["read", "y", 0]]),
            Outcome::Ok,
        ));
        let r0 = id(op(
            "txn",
            json!([["read", "x", null]]),
            json!([["read", "x", 0]]),
            Outcome::Ok,
        ));
        let s0 = m.init();
        assert_eq!(m.describe_state(s0), "{x=0, y=0}");
        assert_eq!(m.step(s0, r), None);
        assert_eq!(m.step(s0, r0), Some(s0));
        let s1 = m.step(s0, w).unwrap();
        assert_eq!(m.step(s1, r), Some(s1));
        assert!(m.is_read_only(r) && !m.is_read_only(w));
        // A nil read is a wildcard under Knossos's rule: the whole txn drops.
        let wild = op(
            "txn",
            json!([["read", "x", null]]),
            json!([["read", "x", null]]),
            Outcome::Ok,
        );
        assert_eq!(m.prepare(&wild).unwrap(), Prepared::Skip);
    }
}
