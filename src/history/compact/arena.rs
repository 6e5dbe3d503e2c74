//! Values without `serde_json::Value` trees: [`Val`] is one 8-byte word (an integer inline,
//! a string as an interned id, an array as a span of the [`Arena`]'s items), and the
//! [`Arena`] holds what the words point at. A million register ops need no value heap at
//! all; a transaction's micro-ops are a few words each.

use std::collections::HashMap;

use serde_json::Value;

use crate::checker::hash::FxBuild;

/// One JSON value in 8 bytes: the top 3 bits say what it is, the other 61 hold it.
///
/// - integers in `-2^60 .. 2^60` inline;
/// - `null`, `true`, `false`;
/// - a string: its id in the arena's string table (equal ids iff equal strings);
/// - an array of fewer than 2^25 items: its start (36 bits) and length (25 bits) in the
///   arena's items;
/// - anything else (floats, bigger integers, objects, huge arrays): its index in the arena's
///   side table of `Value`s;
/// - "absent" (an event without a key or an error), which is not a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Val(u64);

const TAG_SHIFT: u32 = 61;
const PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;
const INT: u64 = 0;
const NULL: u64 = 1;
const BOOL: u64 = 2;
const STR: u64 = 3;
const ARRAY: u64 = 4;
const OTHER: u64 = 5;
const ABSENT: u64 = 6;
/// A checker's own interned id ([`Val::local`]), never stored in an arena.
const LOCAL: u64 = 7;
/// Bits of an array's length; its start takes the rest of the payload.
const LEN_BITS: u32 = 25;
const MAX_LEN: u64 = (1 << LEN_BITS) - 1;
const MAX_START: u64 = (1 << (TAG_SHIFT - LEN_BITS)) - 1;
/// Inline integers are `-INT_LIMIT .. INT_LIMIT`.
const INT_LIMIT: i64 = 1 << 60;

/// What a [`Val`] is, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer (inline).
    Int(i64),
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A string, by id ([`Arena::str`]).
    Str(u32),
    /// An array: `len` items from `start` ([`Arena::items`]).
    Array {
        /// First item's position in the arena.
        start: u64,
        /// Number of items.
        len: u32,
    },
    /// A value in the side table ([`Arena::other`]).
    Other(u32),
    /// No value (an absent key or error).
    Absent,
}

impl Val {
    /// JSON `null`.
    pub const NULL: Val = Val(NULL << TAG_SHIFT);
    /// No value: an event's absent key or error.
    pub const ABSENT: Val = Val(ABSENT << TAG_SHIFT);

    const fn tagged(tag: u64, payload: u64) -> Val {
        Val((tag << TAG_SHIFT) | (payload & PAYLOAD))
    }

    /// `i` inline, when it fits (`-2^60 .. 2^60`).
    pub fn int(i: i64) -> Option<Val> {
        (-INT_LIMIT..INT_LIMIT)
            .contains(&i)
            .then(|| Val::tagged(INT, i as u64))
    }

    /// A boolean.
    pub fn bool(b: bool) -> Val {
        Val::tagged(BOOL, u64::from(b))
    }

    /// The string with id `id`.
    pub fn str(id: u32) -> Val {
        Val::tagged(STR, u64::from(id))
    }

    /// A span of `len` items from `start`, when it fits an array word.
    pub fn span(start: u64, len: u64) -> Option<Val> {
        (len <= MAX_LEN && start <= MAX_START).then(|| array(start, len as u32))
    }

    /// Id `n` of a value a checker interned itself (a value whose word is not its identity,
    /// such as a float): never stored in an arena, distinct from every arena word.
    pub fn local(n: u64) -> Val {
        Val::tagged(LOCAL, n)
    }

    /// `n` when this is [`Val::local`]`(n)`.
    pub fn as_local(self) -> Option<u64> {
        (self.0 >> TAG_SHIFT == LOCAL).then_some(self.0 & PAYLOAD)
    }

    /// Whether the word alone says which value this is (integers, `null`, booleans, interned
    /// strings): two such words are equal exactly when their JSON values are.
    pub fn is_canonical(self) -> bool {
        matches!(self.0 >> TAG_SHIFT, INT | NULL | BOOL | STR)
    }

    /// What this is.
    pub fn kind(self) -> Kind {
        let payload = self.0 & PAYLOAD;
        match self.0 >> TAG_SHIFT {
            // Sign-extend the 61-bit integer.
            INT => Kind::Int(((payload << 3) as i64) >> 3),
            NULL => Kind::Null,
            BOOL => Kind::Bool(payload != 0),
            STR => Kind::Str(payload as u32),
            ARRAY => Kind::Array {
                start: payload >> LEN_BITS,
                len: (payload & MAX_LEN) as u32,
            },
            OTHER => Kind::Other(payload as u32),
            _ => Kind::Absent,
        }
    }

    /// Whether this is [`Val::ABSENT`].
    pub fn is_absent(self) -> bool {
        self == Val::ABSENT
    }

    /// Whether this is JSON `null`.
    pub fn is_null(self) -> bool {
        self == Val::NULL
    }

    /// The integer, when this is an inline one.
    pub fn as_int(self) -> Option<i64> {
        match self.kind() {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The same value with its arena positions moved as `remap` says (merging a chunk's
    /// arena into the history's).
    pub(crate) fn remapped(self, remap: &Remap) -> Val {
        match self.kind() {
            Kind::Str(id) => Val::str(remap.strings[id as usize]),
            Kind::Array { start, len } => array(start + remap.items, len),
            Kind::Other(i) => Val::tagged(OTHER, u64::from(i) + remap.others),
            _ => self,
        }
    }
}

fn array(start: u64, len: u32) -> Val {
    Val::tagged(ARRAY, (start << LEN_BITS) | u64::from(len))
}

/// Interned strings: ids in first-appearance order.
#[derive(Debug, Default, Clone)]
pub struct Strings {
    list: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32, FxBuild>,
}

impl Strings {
    /// The id of `s`, interning it.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.list.len() as u32;
        self.list.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }

    /// The string with id `id`.
    pub fn get(&self, id: u32) -> &str {
        &self.list[id as usize]
    }

    /// The id of `s`, if interned.
    pub fn id(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// How a chunk's arena positions map into the history's arena.
#[derive(Debug, Default)]
pub(crate) struct Remap {
    strings: Vec<u32>,
    items: u64,
    others: u64,
}

impl Remap {
    /// The history's id of the chunk's string `id`.
    pub(crate) fn string(&self, id: u32) -> u32 {
        self.strings[id as usize]
    }
}

/// What [`Val`]s point at: array items, interned strings, and the rare values kept whole.
#[derive(Debug, Default, Clone)]
pub struct Arena {
    items: Vec<Val>,
    strings: Strings,
    others: Vec<Value>,
    /// Scratch stack of array items being read (an array's items are placed together
    /// when it ends, after any nested arrays).
    stack: Vec<Val>,
}

impl Arena {
    /// An empty arena.
    pub fn new() -> Arena {
        Arena::default()
    }

    /// The interned strings.
    pub fn strings(&self) -> &Strings {
        &self.strings
    }

    /// Interns a string.
    pub fn intern(&mut self, s: &str) -> u32 {
        self.strings.intern(s)
    }

    /// The string with id `id`.
    pub fn str(&self, id: u32) -> &str {
        self.strings.get(id)
    }

    /// The items of an array value (empty for anything else).
    pub fn items(&self, v: Val) -> &[Val] {
        match v.kind() {
            Kind::Array { start, len } => {
                let s = start as usize;
                &self.items[s..s + len as usize]
            }
            _ => &[],
        }
    }

    /// A value kept whole.
    pub fn other(&self, i: u32) -> &Value {
        &self.others[i as usize]
    }

    /// Bytes the arena holds (items, side-table headers and strings), for the stats.
    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * 8
            + self.others.capacity() * std::mem::size_of::<Value>()
            + self
                .strings
                .list
                .iter()
                .map(|s| 2 * s.len() + 48)
                .sum::<usize>()
    }

    /// Room for `n` more array items, reserved at once (address space: pages are touched
    /// as items arrive), so a big history's items are not doubled and copied at their
    /// largest.
    pub(crate) fn reserve_items(&mut self, n: usize) {
        self.items.reserve(n);
    }

    /// Keeps `v` whole in the side table.
    pub fn push_other(&mut self, v: Value) -> Val {
        let i = self.others.len() as u64;
        self.others.push(v);
        Val::tagged(OTHER, i)
    }

    /// Stores `v`.
    pub fn push_value(&mut self, v: &Value) -> Val {
        match v {
            Value::Null => Val::NULL,
            Value::Bool(b) => Val::bool(*b),
            Value::Number(n) => n
                .as_i64()
                .and_then(Val::int)
                .unwrap_or_else(|| self.push_other(v.clone())),
            Value::String(s) => Val::str(self.intern(s)),
            Value::Array(a) => {
                let mark = self.stack.len();
                for item in a {
                    let x = self.push_value(item);
                    self.stack.push(x);
                }
                self.end_array(mark)
            }
            Value::Object(_) => self.push_other(v.clone()),
        }
    }

    /// Begins reading an array's items: push each with [`Arena::push_item`], then call
    /// [`Arena::end_array`] with the mark.
    pub(crate) fn begin_array(&self) -> usize {
        self.stack.len()
    }

    /// One item of the array being read.
    pub(crate) fn push_item(&mut self, v: Val) {
        self.stack.push(v);
    }

    /// Ends the array begun at `mark`: its items move into the arena, or, when it is too
    /// long or the arena too big for a span, it is kept whole in the side table.
    pub(crate) fn end_array(&mut self, mark: usize) -> Val {
        let len = (self.stack.len() - mark) as u64;
        let start = self.items.len() as u64;
        if len > MAX_LEN || start + len > MAX_START {
            let whole: Vec<Value> = self.stack[mark..].iter().map(|&x| self.value(x)).collect();
            self.stack.truncate(mark);
            return self.push_other(Value::Array(whole));
        }
        self.items.extend(self.stack.drain(mark..));
        array(start, len as u32)
    }

    /// Drops array items read since `mark` (an array abandoned on a parse error).
    pub(crate) fn abandon(&mut self, mark: usize) {
        self.stack.truncate(mark);
    }

    /// The JSON value `v` stands for (`null` for absent).
    pub fn value(&self, v: Val) -> Value {
        match v.kind() {
            Kind::Int(i) => Value::from(i),
            Kind::Null | Kind::Absent => Value::Null,
            Kind::Bool(b) => Value::Bool(b),
            Kind::Str(id) => Value::String(self.str(id).to_string()),
            Kind::Array { .. } => {
                Value::Array(self.items(v).iter().map(|&x| self.value(x)).collect())
            }
            Kind::Other(i) => self.others[i as usize].clone(),
        }
    }

    /// `Some(value)` unless `v` is absent.
    pub fn optional(&self, v: Val) -> Option<Value> {
        (!v.is_absent()).then(|| self.value(v))
    }

    /// Whether `a` and `b` stand for equal JSON values (as `Value`'s `==` says).
    pub fn equal(&self, a: Val, b: Val) -> bool {
        if a == b {
            return true;
        }
        match (a.kind(), b.kind()) {
            (Kind::Array { len: la, .. }, Kind::Array { len: lb, .. }) => {
                la == lb
                    && self
                        .items(a)
                        .iter()
                        .zip(self.items(b))
                        .all(|(&x, &y)| self.equal(x, y))
            }
            (Kind::Other(_), _) | (_, Kind::Other(_)) => self.value(a) == self.value(b),
            _ => false,
        }
    }

    /// Moves `other`'s contents into this arena; returns how its positions map here.
    pub(crate) fn absorb(&mut self, other: Arena) -> Remap {
        let remap = Remap {
            strings: other.strings.list.iter().map(|s| self.intern(s)).collect(),
            items: self.items.len() as u64,
            others: self.others.len() as u64,
        };
        self.items.reserve(other.items.len());
        self.items
            .extend(other.items.into_iter().map(|v| v.remapped(&remap)));
        self.others.extend(other.others);
        remap
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_json_value_round_trips() {
        let mut a = Arena::new();
        let cases = [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-1),
            json!((1i64 << 60) - 1),
            json!(-(1i64 << 60)),
            json!(1i64 << 60),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1.5),
            json!(1.0),
            json!("x"),
            json!(""),
            json!([]),
            json!([1, "x", [2, [3, null]], {"a": 1}]),
            json!({"k": [1, 2]}),
        ];
        for v in cases {
            let x = a.push_value(&v);
            assert_eq!(a.value(x), v);
            assert!(a.equal(x, x));
        }
        assert!(Val::int(1 << 60).is_none());
        assert_eq!(Val::int(-5).and_then(Val::as_int), Some(-5));
    }

    #[test]
    fn equality_follows_json() {
        let mut a = Arena::new();
        let one = a.push_value(&json!(1));
        let one_f = a.push_value(&json!(1.0));
        let l1 = a.push_value(&json!([1, "a", [2]]));
        let l2 = a.push_value(&json!([1, "a", [2]]));
        let l3 = a.push_value(&json!([1, "a", [3]]));
        let big1 = a.push_value(&json!(u64::MAX));
        let big2 = a.push_value(&json!(u64::MAX));
        assert!(!a.equal(one, one_f));
        assert!(a.equal(l1, l2));
        assert!(!a.equal(l1, l3));
        assert!(a.equal(big1, big2));
        assert_eq!(a.str(a.strings().id("a").unwrap()), "a");
    }

    #[test]
    fn absorbing_moves_spans_strings_and_others() {
        let mut main = Arena::new();
        let first = main.push_value(&json!(["b", [1.5]]));
        let mut chunk = Arena::new();
        let v = json!(["a", "b", [2, 2.5], {"o": 1}]);
        let local = chunk.push_value(&v);
        let remap = main.absorb(chunk);
        let moved = local.remapped(&remap);
        assert_eq!(main.value(moved), v);
        assert_eq!(main.value(first), json!(["b", [1.5]]));
        assert_eq!(main.strings().len(), 2);
    }
}
