//! Sequential specifications for the linearizability checker.
//!
//! A model is a pure step function over compact states, in Porcupine's style: the checker
//! first hands every op to [`Model::prepare`], which turns it into a small interned *input*
//! (or drops it, when the op cannot constrain anything), then explores orders by calling
//! [`Model::step`] on interned state ids. States and inputs are `u32`s so the search can hash
//! and memoize them cheaply; the model owns the tables that give them meaning.
//!
//! Semantics shared by every model (DESIGN.md): an `ok` op happened between its invoke and
//! completion, a `fail` op never happened (models drop it — except `etcd`, where a failed cas is
//! an observed compare that failed), and an `info` op may take effect at any time after its
//! invoke, or never. Models see the outcome in `prepare` and encode what it implies.

mod map;
mod multi_register;
mod mutex;
mod queue;
mod register;
mod set;

pub use map::MapModel;
pub use multi_register::MultiRegisterModel;
pub use mutex::MutexModel;
pub use queue::FifoQueueModel;
pub use register::{RegisterFlavor, RegisterModel};
pub use set::SetModel;

use crate::checker::hash::FxHashMap;
use crate::history::Op;
use serde_json::Value;
use std::hash::Hash;
use std::str::FromStr;

/// An interned model state. Equal ids mean equal states.
pub type StateId = u32;
/// An interned model input (an op's effect). Equal ids mean ops with the same effect.
pub type InputId = u32;

/// What a model makes of one history op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// The op cannot constrain the search (a failed write, an unconstrained read): drop it.
    Skip,
    /// The op's interned effect.
    Input(InputId),
}

/// A sequential specification the linearizability search can run.
///
/// Implementations must be deterministic: the same (state, input) always gives the same
/// answer, and equal states get equal ids.
pub trait Model: Send {
    /// Interns the effect of `op`, or says it can be dropped. Errors name what is wrong.
    fn prepare(&mut self, op: &Op) -> Result<Prepared, ModelError>;
    /// The initial state. Called once, after every op has been prepared (models that learn
    /// their shape from the ops, like multi-register's register names, rely on that).
    fn init(&mut self) -> StateId;
    /// Applies `input` in `state`: the next state, or `None` when the op is illegal there.
    fn step(&mut self, state: StateId, input: InputId) -> Option<StateId>;
    /// True when `input` never changes the state wherever it is legal (a read). The search
    /// may then linearize it greedily as soon as it is legal, without backtracking over it.
    fn is_read_only(&self, input: InputId) -> bool;
    /// Lookahead: could `state` still become one where the read-only `target` is legal, if
    /// only ops with the inputs in `others` (in some order, each at most once) ran first?
    /// Must answer `true` whenever that is possible (answering `true` is always sound); a
    /// `false` lets the search drop a branch early. The default never prunes.
    fn can_reach(&mut self, _state: StateId, _target: InputId, _others: &[InputId]) -> bool {
        true
    }
    /// The independent component `input` touches (the key, for map-valued states), or `None`
    /// when it may touch everything. Ops on different components commute; the search uses
    /// this for partial-order reduction.
    fn component(&self, _input: InputId) -> Option<u32> {
        None
    }
    /// For a *product* state (one independent sub-state per component, as in a map of keys):
    /// the id of `component`'s part of `state`. Returning `Some` promises that whether an op is
    /// legal, and what it does, depends only on its component's part, and that it changes only
    /// that part. The search then learns *nogoods* per component (a key's projection that
    /// cannot be completed prunes every configuration sharing it, by locality). The default,
    /// `None`, means the state is not a product and the search memoizes whole configurations.
    fn component_state(&self, _state: StateId, _component: u32) -> Option<StateId> {
        None
    }
    /// What `input` needs from the state before it, for shrinking an invalid history to a
    /// small core (`linear::core`): a core must keep every op that could have produced the
    /// state its ops rely on. The default, [`Dependence::All`], is always sound.
    fn dependence(&self, _input: InputId) -> Dependence {
        Dependence::All
    }
    /// The state a state-changing `input` always leaves, whatever the state before it (a
    /// write of v, a cas to v), or `None` when that depends on the state before (an append),
    /// which makes every op that relies on a state depend on it.
    fn produces(&self, _input: InputId) -> Option<StateId> {
        None
    }
    /// A short human-readable rendering of `state`, for explanations.
    fn describe_state(&self, state: StateId) -> String;
    /// Renders the part of `state` that `input` looks at (the whole state by default).
    fn describe_state_for(&self, state: StateId, _input: InputId) -> String {
        self.describe_state(state)
    }
    /// What the model calls the object in sentences ("the register", "the mutex").
    fn noun(&self) -> &'static str;
}

/// What an op needs from the state before it (see [`Model::dependence`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependence {
    /// Legal in every state (a blind write).
    Nothing,
    /// Legal only in exactly this state (a read, a cas from this value).
    State(StateId),
    /// Depends on every state-changing op before it.
    All,
}

/// Which sequential specification to check against (`--model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// read/write register.
    Register,
    /// read/write/compare-and-set register.
    CasRegister,
    /// Independent keys, each a register of strings or JSON: read/write/cas/append.
    Kv,
    /// acquire/release lock.
    Mutex,
    /// add an element / read the whole set.
    Set,
    /// Knossos's multi-register: `txn` ops of `[read|write, key, value]` micro-ops.
    MultiRegister,
    /// enqueue/dequeue FIFO queue.
    FifoQueue,
    /// Porcupine's etcd register: a failed cas is an observed failed compare.
    Etcd,
}

impl ModelKind {
    /// Every model, in the order the CLI lists them.
    pub const ALL: [ModelKind; 8] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::Mutex,
        ModelKind::Set,
        ModelKind::MultiRegister,
        ModelKind::FifoQueue,
        ModelKind::Etcd,
    ];

    /// The exact command-line name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::Mutex => "mutex",
            ModelKind::Set => "set",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::FifoQueue => "fifo-queue",
            ModelKind::Etcd => "etcd",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| ModelError::UnknownModel(s.to_string()))
    }
}

/// Options every model understands (`--initial`, `--nil-reads-match-any`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelOptions {
    /// The initial value. `null` (the default) means never written. For multi-register an
    /// object `{"x":0,"y":0}`; for set and fifo-queue a list; ignored by mutex.
    pub initial: Value,
    /// Knossos's rule: a read of `null` matches any state. faultline's default (false) reads
    /// `null` as "absent / never written".
    pub nil_reads_match_any: bool,
}

/// Why a model cannot accept an op or an option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// `--model` named no known model.
    #[error("unknown model {0:?}; expected one of register, cas-register, kv, mutex, set, multi-register, fifo-queue, etcd")]
    UnknownModel(String),
    /// The op's function is not one the model knows.
    #[error("op at index {index}: the {model} model has no operation {f:?} (expected {expected})")]
    UnknownFunction {
        /// The model's name.
        model: &'static str,
        /// The op's invoke index.
        index: u64,
        /// The function found.
        f: String,
        /// The functions the model accepts.
        expected: &'static str,
    },
    /// The op's value does not have the shape its function needs.
    #[error("op at index {index}: {what}, got {value}")]
    BadValue {
        /// The op's invoke index.
        index: u64,
        /// What shape was expected.
        what: String,
        /// The value found (JSON).
        value: String,
    },
    /// `--initial` does not suit the model.
    #[error("initial value {value} does not suit the {model} model: {what}")]
    BadInitial {
        /// The model's name.
        model: &'static str,
        /// What shape was expected.
        what: &'static str,
        /// The value given (JSON).
        value: String,
    },
}

/// The op's function name without a leading `:` (EDN keywords may keep it).
pub(crate) fn fname(op: &Op) -> &str {
    op.f.strip_prefix(':').unwrap_or(&op.f)
}

/// Builds a [`ModelError::BadValue`] for `op`.
pub(crate) fn bad_value(op: &Op, what: &str, value: &Value) -> ModelError {
    ModelError::BadValue {
        index: op.invoke_index,
        what: what.to_string(),
        value: value.to_string(),
    }
}

/// Interns JSON values to small ids. Id 0 is always `null` (absent / never written).
///
/// Strings are hashed and compared in place (no canonical copy), since the kv model makes
/// new strings on every append.
#[derive(Debug, Clone)]
pub(crate) struct ValueTable {
    table: hashbrown::HashTable<u32>,
    values: Vec<Value>,
}

impl Default for ValueTable {
    fn default() -> Self {
        let mut t = ValueTable {
            table: hashbrown::HashTable::new(),
            values: Vec::new(),
        };
        t.intern_owned(Value::Null);
        t
    }
}

fn value_hash(v: &Value) -> u64 {
    use std::hash::Hasher;
    let mut h = crate::checker::hash::FxHasher::default();
    match v {
        Value::String(s) => {
            h.write_u8(1);
            h.write(s.as_bytes());
        }
        other => {
            h.write_u8(2);
            h.write(other.to_string().as_bytes());
        }
    }
    h.finish()
}

impl ValueTable {
    /// The id of `null`, the absent value.
    pub(crate) const NULL: u32 = 0;

    /// The id of `v`, interning it if new. Equality is JSON equality (maps compare by key),
    /// so `1` and `1.0` differ as they do in the history.
    pub(crate) fn intern(&mut self, v: &Value) -> u32 {
        let hash = value_hash(v);
        if let Some(&id) = self.table.find(hash, |&id| self.values[id as usize] == *v) {
            return id;
        }
        self.insert_new(hash, v.clone())
    }

    /// Like [`ValueTable::intern`], taking ownership (no clone when the value is new).
    pub(crate) fn intern_owned(&mut self, v: Value) -> u32 {
        let hash = value_hash(&v);
        if let Some(&id) = self.table.find(hash, |&id| self.values[id as usize] == v) {
            return id;
        }
        self.insert_new(hash, v)
    }

    fn insert_new(&mut self, hash: u64, v: Value) -> u32 {
        let id = self.values.len() as u32;
        self.values.push(v);
        let values = &self.values;
        self.table
            .insert_unique(hash, id, |&i| value_hash(&values[i as usize]));
        id
    }

    /// The value behind `id`.
    pub(crate) fn get(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    /// The values behind `ids`, as a JSON array: how list-like states (a set, a queue) print.
    pub(crate) fn describe_list(&self, ids: &[u32]) -> String {
        let items: Vec<Value> = ids.iter().map(|&id| self.get(id).clone()).collect();
        Value::Array(items).to_string()
    }
}

/// Interns composite states (sets, queues, maps) to ids.
#[derive(Debug, Clone)]
pub(crate) struct StateTable<T: Hash + Eq + Clone> {
    ids: FxHashMap<T, u32>,
    states: Vec<T>,
}

impl<T: Hash + Eq + Clone> Default for StateTable<T> {
    fn default() -> Self {
        StateTable {
            ids: FxHashMap::default(),
            states: Vec::new(),
        }
    }
}

impl<T: Hash + Eq + Clone> StateTable<T> {
    /// The id of `s`, interning it if new.
    pub(crate) fn intern(&mut self, s: T) -> u32 {
        if let Some(&id) = self.ids.get(&s) {
            return id;
        }
        let id = self.states.len() as u32;
        self.states.push(s.clone());
        self.ids.insert(s, id);
        id
    }

    /// The state behind `id`.
    pub(crate) fn get(&self, id: u32) -> &T {
        &self.states[id as usize]
    }
}

/// Interns model inputs (op effects) so identical effects share an id.
#[derive(Debug, Clone)]
pub(crate) struct InputTable<T: Hash + Eq + Clone> {
    inner: StateTable<T>,
}

impl<T: Hash + Eq + Clone> Default for InputTable<T> {
    fn default() -> Self {
        InputTable {
            inner: StateTable::default(),
        }
    }
}

impl<T: Hash + Eq + Clone> InputTable<T> {
    /// The id of `input`, interning it if new.
    pub(crate) fn intern(&mut self, input: T) -> InputId {
        self.inner.intern(input)
    }
    /// The input behind `id`.
    pub(crate) fn get(&self, id: InputId) -> &T {
        self.inner.get(id)
    }
}

/// Renders a value for sentences as the history writes it: JSON, so a never-written
/// register reads `null` (not Clojure's `nil`, which a user of the JSON history never sees).
pub(crate) fn show(v: &Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_round_trip() {
        for k in ModelKind::ALL {
            assert_eq!(k.name().parse::<ModelKind>().unwrap(), k);
        }
        assert!(matches!(
            "registr".parse::<ModelKind>(),
            Err(ModelError::UnknownModel(_))
        ));
    }

    #[test]
    fn value_table_interns_equal_json_once() {
        let mut t = ValueTable::default();
        assert_eq!(t.intern(&Value::Null), ValueTable::NULL);
        let a = t.intern(&serde_json::json!(3));
        let b = t.intern(&serde_json::json!("3"));
        assert_ne!(a, b, "the number 3 and the string \"3\" differ");
        assert_eq!(
            t.intern(&serde_json::json!({"b":1,"a":2})),
            t.intern(&serde_json::json!({"a":2,"b":1}))
        );
        assert_eq!(t.get(a), &serde_json::json!(3));
    }
}

/// Helpers for the models' unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use crate::history::{Op, Outcome};
    use serde_json::Value;

    /// A completed op on the single register at index 0 (models ignore times and indexes).
    pub(crate) fn op(f: &str, invoke_value: Value, value: Value, outcome: Outcome) -> Op {
        Op {
            process: 0,
            f: f.to_string(),
            key: None,
            invoke_value,
            value,
            outcome,
            invoke_index: 0,
            complete_index: Some(1),
            invoke_time: 0,
            complete_time: Some(1),
            error: None,
            node: None,
        }
    }
}
