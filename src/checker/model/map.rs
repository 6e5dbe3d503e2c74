//! A map of independent per-key models checked as ONE state (`--no-partition`).
//!
//! Porcupine's unpartitioned kv tests use a single map-valued state; so does this. The search
//! stays a single search over the whole map: the only things this wrapper adds are
//! [`Model::component`], which tells the search that ops on different keys commute, so it can
//! apply a sound partial-order reduction, and [`Model::component_state`], which tells it the
//! state is a product of per-key states, so it can learn per-key nogoods (see
//! `linear::search`).

use super::{InputId, InputTable, Model, ModelError, Prepared, StateId};
use crate::checker::hash::{hash_words32, FxHashMap};
use crate::history::Op;
use serde_json::Value;

/// Per-key models behind one interned map state (a vector of per-key state ids).
pub struct MapModel<M: Model> {
    make: Box<dyn Fn() -> M + Send>,
    slots: FxHashMap<String, u32>,
    keys: Vec<Value>,
    models: Vec<M>,
    /// (key slot, the key model's input).
    inputs: InputTable<(u32, InputId)>,
    states: RowTable,
    scratch: Vec<u32>,
}

/// Interned map states: rows of per-key state ids, all the same width, back to back in one
/// arena; the hash table holds row numbers. Looking a row up allocates nothing, which matters
/// because the search steps the map millions of times.
#[derive(Default)]
struct RowTable {
    width: usize,
    arena: Vec<u32>,
    table: hashbrown::HashTable<u32>,
}

impl RowTable {
    fn intern(&mut self, row: &[u32]) -> StateId {
        if self.table.is_empty() && self.arena.is_empty() {
            self.width = row.len();
        }
        debug_assert_eq!(
            row.len(),
            self.width,
            "every map state has one slot per key"
        );
        let hash = hash_words32(row);
        let (arena, w) = (&self.arena, self.width);
        if let Some(&id) = self.table.find(hash, |&id| {
            &arena[id as usize * w..(id as usize + 1) * w] == row
        }) {
            return id;
        }
        let id = (self.arena.len() / w.max(1)) as u32;
        self.arena.extend_from_slice(row);
        let arena = &self.arena;
        self.table.insert_unique(hash, id, |&id| {
            hash_words32(&arena[id as usize * w..(id as usize + 1) * w])
        });
        id
    }

    fn get(&self, id: StateId) -> &[u32] {
        let w = self.width;
        &self.arena[id as usize * w..(id as usize + 1) * w]
    }
}

impl<M: Model> MapModel<M> {
    /// A map whose per-key models come from `make`.
    pub fn new(make: impl Fn() -> M + Send + 'static) -> Self {
        MapModel {
            make: Box::new(make),
            slots: FxHashMap::default(),
            keys: Vec::new(),
            models: Vec::new(),
            inputs: InputTable::default(),
            states: RowTable::default(),
            scratch: Vec::new(),
        }
    }

    fn slot(&mut self, key: &Value) -> u32 {
        let text = key.to_string();
        if let Some(&s) = self.slots.get(&text) {
            return s;
        }
        let s = self.models.len() as u32;
        self.slots.insert(text, s);
        self.keys.push(key.clone());
        self.models.push((self.make)());
        s
    }

    fn key_text(&self, slot: u32) -> String {
        match &self.keys[slot as usize] {
            Value::Null => "(no key)".to_string(),
            k => k.to_string(),
        }
    }
}

impl<M: Model> Model for MapModel<M> {
    fn prepare(&mut self, op: &Op) -> Result<Prepared, ModelError> {
        let slot = self.slot(op.key.as_ref().unwrap_or(&Value::Null));
        match self.models[slot as usize].prepare(op)? {
            Prepared::Skip => Ok(Prepared::Skip),
            Prepared::Input(i) => Ok(Prepared::Input(self.inputs.intern((slot, i)))),
        }
    }

    fn init(&mut self) -> StateId {
        let inits: Vec<u32> = self.models.iter_mut().map(|m| m.init()).collect();
        self.states.intern(&inits)
    }

    #[inline]
    fn step(&mut self, state: StateId, input: InputId) -> Option<StateId> {
        let (slot, inner) = *self.inputs.get(input);
        let cur = self.states.get(state)[slot as usize];
        let next = self.models[slot as usize].step(cur, inner)?;
        if next == cur {
            return Some(state);
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(self.states.get(state));
        self.scratch[slot as usize] = next;
        Some(self.states.intern(&self.scratch))
    }

    fn is_read_only(&self, input: InputId) -> bool {
        let (slot, inner) = *self.inputs.get(input);
        self.models[slot as usize].is_read_only(inner)
    }

    fn can_reach(&mut self, state: StateId, target: InputId, others: &[InputId]) -> bool {
        let (slot, inner) = *self.inputs.get(target);
        let mut same_key = std::mem::take(&mut self.scratch);
        same_key.clear();
        same_key.extend(
            others
                .iter()
                .map(|&o| *self.inputs.get(o))
                .filter(|&(s, _)| s == slot)
                .map(|(_, i)| i),
        );
        let cur = self.states.get(state)[slot as usize];
        let ok = self.models[slot as usize].can_reach(cur, inner, &same_key);
        self.scratch = same_key;
        ok
    }

    fn component(&self, input: InputId) -> Option<u32> {
        Some(self.inputs.get(input).0)
    }

    /// The map is a product of its keys' states: an op reads and changes only its key's part.
    #[inline]
    fn component_state(&self, state: StateId, component: u32) -> Option<StateId> {
        self.states.get(state).get(component as usize).copied()
    }

    fn describe_state(&self, state: StateId) -> String {
        let parts: Vec<String> = self
            .states
            .get(state)
            .iter()
            .enumerate()
            .map(|(slot, &s)| {
                format!(
                    "{}: {}",
                    self.key_text(slot as u32),
                    self.models[slot].describe_state(s)
                )
            })
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    fn describe_state_for(&self, state: StateId, input: InputId) -> String {
        let (slot, inner) = *self.inputs.get(input);
        let s = self.states.get(state)[slot as usize];
        format!(
            "key {} = {}",
            self.key_text(slot),
            self.models[slot as usize].describe_state_for(s, inner)
        )
    }

    fn noun(&self) -> &'static str {
        "the map"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::model::tests_support::op;
    use crate::checker::model::{ModelOptions, RegisterFlavor, RegisterModel};
    use crate::history::Outcome;
    use serde_json::json;

    #[test]
    fn keys_are_independent_components() {
        let mut m = MapModel::new(|| {
            RegisterModel::new(
                RegisterFlavor::Kv,
                &ModelOptions {
                    initial: json!(""),
                    nil_reads_match_any: false,
                },
            )
        });
        let mut keyed = |k: &str, f: &str, v: serde_json::Value, out: serde_json::Value| {
            let mut o = op(f, v, out, Outcome::Ok);
            o.key = Some(json!(k));
            match m.prepare(&o).unwrap() {
                Prepared::Input(i) => i,
                Prepared::Skip => panic!("dropped"),
            }
        };
        let put_a = keyed("a", "put", json!("1"), json!("1"));
        let get_b = keyed("b", "get", json!(null), json!(""));
        let get_a = keyed("a", "get", json!(null), json!("1"));
        let s0 = m.init();
        assert_eq!(m.step(s0, get_b), Some(s0));
        assert_eq!(m.step(s0, get_a), None);
        let s1 = m.step(s0, put_a).unwrap();
        assert_eq!(m.step(s1, get_a), Some(s1));
        assert_eq!(m.step(s1, get_b), Some(s1));
        assert_ne!(m.component(put_a), m.component(get_b));
        let (a, b) = (m.component(put_a).unwrap(), m.component(get_b).unwrap());
        assert_ne!(m.component_state(s1, a), m.component_state(s0, a));
        assert_eq!(m.component_state(s1, b), m.component_state(s0, b));
        assert_eq!(m.describe_state_for(s1, get_a), "key \"a\" = \"1\"");
    }
}
