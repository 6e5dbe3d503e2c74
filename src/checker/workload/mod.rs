//! Whole-history checkers for Jepsen's classic workloads.
//!
//! Unlike the linearizability checker, these judge a property of the whole history in one
//! linear pass (plus a sort), so a 1,000,000-op history takes well under two seconds:
//!
//! - [`set_full`]: Jepsen's `set-full`: per element, stable / lost / never-read / stale, plus
//!   unexpected, duplicated and recovered elements, with latencies.
//! - [`bank`]: every read of all balances sums to the total and has no negative balance; a
//!   plot-ready series of totals over time.
//! - [`counter`]: every read lies between the increments acknowledged before it began and
//!   those invoked (ok or info) before it ended.
//! - [`unique_ids`]: no id is handed out twice.
//! - [`kafka`]: Maelstrom's kafka logs: no lost, reordered or conflicting offsets, sends'
//!   offsets rising in real time, committed offsets never going back (not yet a workload).
//!
//! The history shapes they read are in `docs/workload-checkers.md`. A value of the wrong shape
//! is [`CheckError::Malformed`] naming the op's history index, never a guess. Nemesis events
//! never reach these checkers (the history keeps them apart from client ops). None of them
//! does I/O or reads a clock other than to time itself.

pub mod bank;
pub mod counter;
pub mod kafka;
pub mod set_full;
pub mod unique_ids;

pub use bank::BankOptions;
pub use counter::CounterOptions;
pub use set_full::SetFullOptions;

use std::fmt;

use serde_json::{Map, Value};

use super::hash::FxHashMap;
use super::CheckError;
use crate::history::{Op, Outcome};

/// How many elements, reads or ids a result lists in full before it only counts them.
pub const LIST_KEEP: usize = 1000;

/// How many of the worst cases an anomaly's explanation names.
pub const WORST_KEEP: usize = 8;

/// The op's function without the leading `:` an EDN keyword import may leave.
pub(crate) fn f_name(op: &Op) -> &str {
    op.f.strip_prefix(':').unwrap_or(&op.f)
}

/// The error for an op whose value does not have the shape its checker reads.
pub(crate) fn malformed(op: &Op, reason: impl fmt::Display) -> CheckError {
    CheckError::Malformed {
        index: op.invoke_index,
        reason: format!("{} by process {}: {reason}", f_name(op), op.process),
    }
}

/// The error for an op whose function the checker does not know.
pub(crate) fn unexpected_f(op: &Op, checker: &str, expected: &str) -> CheckError {
    malformed(
        op,
        format!("the {checker} checker reads only {expected} ops (is --model right?)"),
    )
}

/// `ok`, `fail` or `info`, as the history writes it.
pub(crate) fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Info => "info",
    }
}

/// An integer JSON value as i128 (wide enough for any i64 or u64); `None` for anything else.
pub(crate) fn as_int(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

/// A JSON value as a hashable, ordered key: elements, ids and keys are compared by value.
///
/// Integers get a fast, allocation-free path; everything else is kept as its canonical JSON
/// text (serde_json writes object keys sorted), so equal values give equal atoms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Atom {
    /// An integer that fits i64.
    Int(i64),
    /// An integer above i64::MAX.
    UInt(u64),
    /// A string.
    Str(Box<str>),
    /// Any other value, as canonical JSON text.
    Json(Box<str>),
}

impl Atom {
    /// The atom of `v`.
    pub(crate) fn of(v: &Value) -> Atom {
        match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Atom::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Atom::UInt(u)
                } else {
                    Atom::Json(v.to_string().into())
                }
            }
            Value::String(s) => Atom::Str(s.as_str().into()),
            other => Atom::Json(other.to_string().into()),
        }
    }

    /// The JSON value this atom stands for.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Atom::Int(i) => Value::from(*i),
            Atom::UInt(u) => Value::from(*u),
            Atom::Str(s) => Value::String(s.to_string()),
            // The text was written by serde_json from a Value, so it parses back; the
            // fallback keeps the text rather than panicking if that ever changed.
            Atom::Json(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
            }
        }
    }
}

impl fmt::Display for Atom {
    /// As JSON text (strings quoted, escaped), so values from the target print safely.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Int(i) => write!(f, "{i}"),
            Atom::UInt(u) => write!(f, "{u}"),
            Atom::Str(s) => write!(f, "{}", Value::String(s.to_string())),
            Atom::Json(text) => f.write_str(text),
        }
    }
}

/// One independent sub-history: the ops of one key (Jepsen's `independent` workloads).
pub(crate) struct KeyGroup<'h> {
    /// The key, or `None` for an unkeyed history.
    pub key: Option<Value>,
    /// Its ops, in invoke order.
    pub ops: Vec<&'h Op>,
}

/// Splits ops by key, in order of each key's first op; an unkeyed history is one group.
pub(crate) fn group_by_key(ops: &[Op]) -> Vec<KeyGroup<'_>> {
    if ops.iter().all(|op| op.key.is_none()) {
        return vec![KeyGroup {
            key: None,
            ops: ops.iter().collect(),
        }];
    }
    let mut index: FxHashMap<Option<Atom>, usize> = FxHashMap::default();
    let mut groups: Vec<KeyGroup<'_>> = Vec::new();
    for op in ops {
        let atom = op.key.as_ref().map(Atom::of);
        let slot = *index.entry(atom).or_insert_with(|| {
            groups.push(KeyGroup {
                key: op.key.clone(),
                ops: Vec::new(),
            });
            groups.len() - 1
        });
        groups[slot].ops.push(op);
    }
    groups
}

/// Jepsen's frequency distribution: the values at quantiles 0, 0.5, 0.95, 0.99 and 1, as a
/// JSON object keyed by the quantile; `None` when there are no values.
pub(crate) fn quantiles(mut xs: Vec<f64>) -> Option<Value> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let mut m = Map::new();
    for (name, q) in [
        ("0", 0.0),
        ("0.5", 0.5),
        ("0.95", 0.95),
        ("0.99", 0.99),
        ("1", 1.0),
    ] {
        // floor(n * q), clamped to the last value: q = 1 is the maximum.
        let i = ((n as f64 * q).floor() as usize).min(n - 1);
        m.insert(name.to_string(), Value::from(xs[i]));
    }
    Some(Value::Object(m))
}

/// Nanoseconds as milliseconds (for latencies in results).
pub(crate) fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// "1 read" / "3 reads".
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Hand-made histories for the checkers' unit tests.

    use crate::history::{read_jsonl, History};
    use serde_json::{json, Value};

    /// Builds a history from `(process, type, f, value)` events, indices and times in order
    /// (time = 10 × index).
    pub fn history(events: &[(u64, &str, &str, Value)]) -> History {
        keyed(
            &events
                .iter()
                .map(|(p, t, f, v)| (*p, *t, *f, Value::Null, v.clone()))
                .collect::<Vec<_>>(),
        )
    }

    /// Like [`history`], with a key per event (`null` = none).
    pub fn keyed(events: &[(u64, &str, &str, Value, Value)]) -> History {
        let mut text = String::new();
        for (i, (p, t, f, k, v)) in events.iter().enumerate() {
            let mut e = json!({"index": i, "time": i * 10, "process": p, "type": t, "f": f,
                               "value": v});
            if !k.is_null() {
                e["key"] = k.clone();
            }
            text.push_str(&e.to_string());
            text.push('\n');
        }
        read_jsonl(text.as_bytes(), "test.jsonl").expect("hand-made history parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_give_equal_atoms_and_print_as_json() {
        assert_eq!(Atom::of(&json!(3)), Atom::Int(3));
        assert_eq!(
            Atom::of(&json!({"b": 1, "a": 2})),
            Atom::of(&json!({"a": 2, "b": 1}))
        );
        assert_ne!(Atom::of(&json!("3")), Atom::of(&json!(3)));
        assert_eq!(Atom::of(&json!("a\"b")).to_string(), "\"a\\\"b\"");
        for v in [
            json!(1),
            json!(u64::MAX),
            json!("x"),
            json!([1, 2]),
            json!(1.5),
        ] {
            assert_eq!(Atom::of(&v).to_value(), v);
        }
    }

    #[test]
    fn quantiles_follow_jepsen_points() {
        let q = quantiles((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!(q["0"], json!(1.0));
        assert_eq!(q["0.5"], json!(51.0));
        assert_eq!(q["1"], json!(100.0));
        assert!(quantiles(Vec::new()).is_none());
    }

    #[test]
    fn ops_are_grouped_by_key_in_first_seen_order() {
        let h = test_support::keyed(&[
            (0, "invoke", "add", json!("b"), json!(1)),
            (1, "invoke", "add", json!("a"), json!(2)),
            (0, "ok", "add", json!("b"), json!(1)),
            (1, "ok", "add", json!("a"), json!(2)),
            (0, "invoke", "add", json!("b"), json!(3)),
        ]);
        let groups = group_by_key(&h.ops);
        let keys: Vec<_> = groups.iter().map(|g| g.key.clone()).collect();
        assert_eq!(keys, vec![Some(json!("b")), Some(json!("a"))]);
        assert_eq!(groups[0].ops.len(), 2);
    }
}
