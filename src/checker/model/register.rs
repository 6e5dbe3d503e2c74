//! Registers: `register` (read/write), `cas-register` (+ compare-and-set), `kv` (one register
//! per key, with append), and Porcupine's `etcd` register (a failed cas is an observed
//! compare that failed). One implementation, four flavors: they differ only in which
//! functions they accept and what a failed cas means.

use super::{
    bad_value, fname, show, Dependence, InputId, InputTable, Model, ModelError, ModelOptions,
    Prepared, StateId, ValueTable,
};
use crate::checker::hash::FxHashMap;
use crate::history::{Op, Outcome};
use serde_json::Value;

/// Which register model this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterFlavor {
    /// read/write only.
    Register,
    /// read/write/cas.
    CasRegister,
    /// read/write/cas/append (Porcupine's kv: get/put/append).
    Kv,
    /// read/write/cas, where `fail` on a cas means the compare failed (the op happened).
    Etcd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Input {
    /// The register holds this value.
    Read(u32),
    /// The register becomes this value.
    Write(u32),
    /// The register holds `.0` and becomes `.1`.
    Cas(u32, u32),
    /// The register does not hold this value (etcd's failed cas); unchanged.
    CasFailed(u32),
    /// This value is appended to the register's string or list.
    Append(u32),
}

/// A single register of JSON values; states are interned value ids (0 = never written).
#[derive(Debug, Clone)]
pub struct RegisterModel {
    flavor: RegisterFlavor,
    nil_reads_match_any: bool,
    initial: Value,
    values: ValueTable,
    inputs: InputTable<Input>,
    appended: FxHashMap<(u32, u32), Option<u32>>,
}

impl RegisterModel {
    /// A register of the given flavor with the given options.
    pub fn new(flavor: RegisterFlavor, options: &ModelOptions) -> Self {
        RegisterModel {
            flavor,
            nil_reads_match_any: options.nil_reads_match_any,
            initial: options.initial.clone(),
            values: ValueTable::default(),
            inputs: InputTable::default(),
            appended: FxHashMap::default(),
        }
    }

    fn model_name(&self) -> &'static str {
        match self.flavor {
            RegisterFlavor::Register => "register",
            RegisterFlavor::CasRegister => "cas-register",
            RegisterFlavor::Kv => "kv",
            RegisterFlavor::Etcd => "etcd",
        }
    }

    fn expected(&self) -> &'static str {
        match self.flavor {
            RegisterFlavor::Register => "read or write",
            RegisterFlavor::CasRegister | RegisterFlavor::Etcd => "read, write or cas",
            RegisterFlavor::Kv => "read/get, write/put, cas or append",
        }
    }

    fn append(&mut self, state: u32, chunk: u32) -> Option<u32> {
        if let Some(&next) = self.appended.get(&(state, chunk)) {
            return next;
        }
        let joined = match (self.values.get(state), self.values.get(chunk)) {
            (Value::Null, Value::String(c)) => Some(Value::String(c.clone())),
            (Value::String(s), Value::String(c)) => Some(Value::String(format!("{s}{c}"))),
            (Value::Null, c) => Some(Value::Array(vec![c.clone()])),
            (Value::Array(items), c) => {
                let mut items = items.clone();
                items.push(c.clone());
                Some(Value::Array(items))
            }
            _ => None,
        };
        let next = joined.map(|v| self.values.intern_owned(v));
        self.appended.insert((state, chunk), next);
        next
    }
}

impl Model for RegisterModel {
    fn prepare(&mut self, op: &Op) -> Result<Prepared, ModelError> {
        let f = fname(op);
        let input = match f {
            "read" | "get" | "r" => {
                if op.outcome != Outcome::Ok {
                    // A failed or indeterminate read observed nothing and changed nothing.
                    return Ok(Prepared::Skip);
                }
                if op.value.is_null() && self.nil_reads_match_any {
                    return Ok(Prepared::Skip);
                }
                Input::Read(self.values.intern(&op.value))
            }
            "write" | "put" | "w" => {
                if op.outcome == Outcome::Fail {
                    return Ok(Prepared::Skip);
                }
                Input::Write(self.values.intern(&op.invoke_value))
            }
            "append" if self.flavor == RegisterFlavor::Kv => {
                if op.outcome == Outcome::Fail {
                    return Ok(Prepared::Skip);
                }
                Input::Append(self.values.intern(&op.invoke_value))
            }
            "cas" | "compare-and-set" if self.flavor != RegisterFlavor::Register => {
                let (from, to) = match op.invoke_value.as_array().map(|a| a.as_slice()) {
                    Some([from, to]) => (from, to),
                    _ => return Err(bad_value(op, "cas needs [expected, new]", &op.invoke_value)),
                };
                let from = self.values.intern(from);
                match op.outcome {
                    Outcome::Fail if self.flavor == RegisterFlavor::Etcd => Input::CasFailed(from),
                    Outcome::Fail => return Ok(Prepared::Skip),
                    Outcome::Ok | Outcome::Info => Input::Cas(from, self.values.intern(to)),
                }
            }
            _ => {
                return Err(ModelError::UnknownFunction {
                    model: self.model_name(),
                    index: op.invoke_index,
                    f: f.to_string(),
                    expected: self.expected(),
                })
            }
        };
        Ok(Prepared::Input(self.inputs.intern(input)))
    }

    fn init(&mut self) -> StateId {
        let initial = self.initial.clone();
        self.values.intern(&initial)
    }

    #[inline]
    fn step(&mut self, state: StateId, input: InputId) -> Option<StateId> {
        match *self.inputs.get(input) {
            Input::Read(v) => (state == v).then_some(state),
            Input::Write(v) => Some(v),
            Input::Cas(from, to) => (state == from).then_some(to),
            Input::CasFailed(from) => (state != from).then_some(state),
            Input::Append(chunk) => self.append(state, chunk),
        }
    }

    fn is_read_only(&self, input: InputId) -> bool {
        matches!(self.inputs.get(input), Input::Read(_) | Input::CasFailed(_))
    }

    /// A read of `v` can still become legal only if something can turn `state` into `v`:
    /// with no write or cas among `others`, nothing can if `state` differs from `v` and no
    /// append is pending, and appends only ever extend, so `state` must be a prefix of `v`.
    fn can_reach(&mut self, state: StateId, target: InputId, others: &[InputId]) -> bool {
        let Input::Read(want) = *self.inputs.get(target) else {
            return true;
        };
        if state == want {
            return true;
        }
        let mut appends = false;
        for &o in others {
            match self.inputs.get(o) {
                Input::Write(_) | Input::Cas(..) => return true,
                Input::Append(_) => appends = true,
                Input::Read(_) | Input::CasFailed(_) => {}
            }
        }
        if !appends {
            return false;
        }
        match (self.values.get(state), self.values.get(want)) {
            (Value::Null, _) => true,
            (Value::String(s), Value::String(w)) => w.starts_with(s.as_str()),
            (Value::Array(s), Value::Array(w)) => w.starts_with(s),
            _ => false,
        }
    }

    fn dependence(&self, input: InputId) -> Dependence {
        match *self.inputs.get(input) {
            Input::Read(v) | Input::Cas(v, _) => Dependence::State(v),
            Input::Write(_) => Dependence::Nothing,
            Input::CasFailed(_) | Input::Append(_) => Dependence::All,
        }
    }

    fn produces(&self, input: InputId) -> Option<StateId> {
        match *self.inputs.get(input) {
            Input::Write(v) | Input::Cas(_, v) => Some(v),
            Input::Read(_) | Input::CasFailed(_) | Input::Append(_) => None,
        }
    }

    fn describe_state(&self, state: StateId) -> String {
        show(self.values.get(state))
    }

    fn noun(&self) -> &'static str {
        "the register"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::model::tests_support::op;
    use serde_json::json;

    fn run(model: &mut RegisterModel, ops: &[Op]) -> Option<String> {
        let mut s = model.init();
        for o in ops {
            match model.prepare(o).unwrap() {
                Prepared::Skip => {}
                Prepared::Input(i) => s = model.step(s, i)?,
            }
        }
        Some(model.describe_state(s))
    }

    #[test]
    fn register_table() {
        let opts = ModelOptions::default();
        let cases: Vec<(RegisterFlavor, Vec<Op>, Option<&str>)> = vec![
            (
                RegisterFlavor::Register,
                vec![op("read", json!(null), json!(null), Outcome::Ok)],
                Some("null"),
            ),
            (
                RegisterFlavor::Register,
                vec![op("read", json!(null), json!(1), Outcome::Ok)],
                None,
            ),
            (
                RegisterFlavor::Register,
                vec![
                    op("write", json!(1), json!(1), Outcome::Ok),
                    op("read", json!(null), json!(1), Outcome::Ok),
                ],
                Some("1"),
            ),
            (
                RegisterFlavor::CasRegister,
                vec![
                    op("write", json!(1), json!(1), Outcome::Ok),
                    op("cas", json!([1, 2]), json!([1, 2]), Outcome::Ok),
                ],
                Some("2"),
            ),
            (
                RegisterFlavor::CasRegister,
                vec![op("cas", json!([1, 2]), json!([1, 2]), Outcome::Ok)],
                None,
            ),
            // A failed cas never happened in the cas-register model...
            (
                RegisterFlavor::CasRegister,
                vec![op("cas", json!([1, 2]), json!([1, 2]), Outcome::Fail)],
                Some("null"),
            ),
            // ...but in etcd it is a compare that failed: legal only when the register is not 1.
            (
                RegisterFlavor::Etcd,
                vec![
                    op("write", json!(1), json!(1), Outcome::Ok),
                    op("cas", json!([1, 2]), json!([1, 2]), Outcome::Fail),
                ],
                None,
            ),
            (
                RegisterFlavor::Etcd,
                vec![
                    op("write", json!(3), json!(3), Outcome::Ok),
                    op("cas", json!([1, 2]), json!([1, 2]), Outcome::Fail),
                ],
                Some("3"),
            ),
            (
                RegisterFlavor::Kv,
                vec![
                    op("append", json!("a"), json!("a"), Outcome::Ok),
                    op("append", json!("b"), json!("b"), Outcome::Ok),
                    op("get", json!(null), json!("ab"), Outcome::Ok),
                ],
                Some("\"ab\""),
            ),
            (
                RegisterFlavor::Kv,
                vec![
                    op("put", json!("x"), json!("x"), Outcome::Ok),
                    op("get", json!(null), json!("y"), Outcome::Ok),
                ],
                None,
            ),
        ];
        for (i, (flavor, ops, want)) in cases.into_iter().enumerate() {
            let mut m = RegisterModel::new(flavor, &opts);
            assert_eq!(run(&mut m, &ops).as_deref(), want, "case {i}");
        }
    }

    #[test]
    fn nil_read_is_absent_by_default_and_wildcard_on_request() {
        let ops = vec![
            op("write", json!(1), json!(1), Outcome::Ok),
            op("read", json!(null), json!(null), Outcome::Ok),
        ];
        let mut strict = RegisterModel::new(RegisterFlavor::CasRegister, &ModelOptions::default());
        assert_eq!(run(&mut strict, &ops), None);
        let knossos = ModelOptions {
            initial: json!(0),
            nil_reads_match_any: true,
        };
        let mut lax = RegisterModel::new(RegisterFlavor::CasRegister, &knossos);
        assert_eq!(run(&mut lax, &ops).as_deref(), Some("1"));
    }

    #[test]
    fn unknown_function_and_bad_cas_value_are_errors() {
        let mut m = RegisterModel::new(RegisterFlavor::Register, &ModelOptions::default());
        let err = m
            .prepare(&op("cas", json!([1, 2]), json!([1, 2]), Outcome::Ok))
            .unwrap_err();
        assert!(err.to_string().contains("no operation \"cas\""), "{err}");
        let mut m = RegisterModel::new(RegisterFlavor::CasRegister, &ModelOptions::default());
        let err = m
            .prepare(&op("cas", json!(3), json!(3), Outcome::Ok))
            .unwrap_err();
        assert!(err.to_string().contains("[expected, new]"), "{err}");
    }

    #[test]
    fn reads_and_failed_compares_are_read_only() {
        let mut m = RegisterModel::new(RegisterFlavor::Etcd, &ModelOptions::default());
        let read = m
            .prepare(&op("read", json!(null), json!(1), Outcome::Ok))
            .unwrap();
        let failed = m
            .prepare(&op("cas", json!([1, 2]), json!([1, 2]), Outcome::Fail))
            .unwrap();
        let write = m
            .prepare(&op("write", json!(1), json!(1), Outcome::Ok))
            .unwrap();
        let id = |p: Prepared| match p {
            Prepared::Input(i) => i,
            Prepared::Skip => panic!("dropped"),
        };
        assert!(m.is_read_only(id(read)));
        assert!(m.is_read_only(id(failed)));
        assert!(!m.is_read_only(id(write)));
    }
}
