//! Imports Jepsen `history.edn`, Knossos and Elle histories.
//!
//! Two layouts are accepted, both read as a stream of op maps:
//! - a sequence of top-level maps, usually one per line (Jepsen, Elle);
//! - one top-level vector `[...]` or list `(...)` of maps (Knossos), maps possibly spanning
//!   several lines.
//!
//! `;` comments may appear anywhere. Op keys: `:process` (an integer or `:nemesis`), `:type`
//! (`:invoke`, `:ok`, `:fail`, `:info`) and `:f` are required — an op without them (Elle's
//! `paper-example.edn`) is an error naming its line, since guessing them would invent a
//! history. `:value` defaults to `nil`, `:time` (ns) to 0, `:index` to the op's 0-based
//! position in the file, nemesis ops included (as Knossos numbers them). `:error` and `:key`
//! are optional. Values convert to JSON as [`Edn::to_json`] says, so list-append micro-ops
//! read `["append", 253, 1]`.
//!
//! Independent keys: a value tagged `#jepsen.independent/tuple [k v]` becomes key `k` and
//! value `v`. A plain 2-vector is never taken for a tuple, because cas values `[from to]` look
//! the same; a history whose values are untagged tuples can be split explicitly with
//! [`split_independent_tuples`].

use std::borrow::Cow;
use std::io::BufRead;

use super::compact::{Arena, CompactHistory, Kind, Val};
use super::edn::{Edn, EdnError, EdnReader};
use super::error::{HistoryError, Reason};
use super::pair::{Pairer, RawEvent};
use super::sink::EdnSink;
use super::{EventType, History, Process};

/// The tag Jepsen's independent generator uses for `[key value]` tuples.
pub const TUPLE_TAG: &str = "jepsen.independent/tuple";

/// Reads a Jepsen/Knossos/Elle EDN history; `source` names it in errors.
pub fn read_edn<R: BufRead>(reader: R, source: &str) -> Result<History, HistoryError> {
    read_edn_into(reader, source, Pairer::new())
}

/// Reads a Jepsen/Knossos/Elle EDN history straight into a [`CompactHistory`] (each op's
/// values from its parsed form into the arena, no `serde_json::Value`s); the history and the
/// errors are exactly those of [`read_edn`] (`to_history` of the result equals its result).
pub fn read_edn_compact<R: BufRead>(
    reader: R,
    source: &str,
) -> Result<CompactHistory, HistoryError> {
    read_edn_into(
        reader,
        source,
        Pairer::with_store(CompactHistory::default()),
    )
}

/// Reads an EDN history into `sink`.
fn read_edn_into<R: BufRead, S: EdnSink>(
    reader: R,
    source: &str,
    mut sink: S,
) -> Result<S::Out, HistoryError> {
    let mut r = EdnReader::new(reader);
    let syntax = |e: EdnError| HistoryError::Invalid {
        file: source.to_string(),
        line: e.line,
        reason: Reason::Edn(e.message),
    };
    let mut push = |form: Edn, line: u64| -> Result<(), HistoryError> {
        let invalid = |reason| HistoryError::Invalid {
            file: source.to_string(),
            line,
            reason,
        };
        let event = op_event(&form, &mut sink).map_err(invalid)?;
        sink.event(event, line).map_err(invalid)
    };
    match r.peek_form_start().map_err(syntax)? {
        Some(open @ (b'[' | b'(')) => {
            let close = if open == b'[' { b']' } else { b')' };
            let start = r.line();
            r.consume_byte();
            loop {
                match r.peek_form_start().map_err(syntax)? {
                    None => {
                        return Err(syntax(r.error(format!(
                            "'{}' opened at line {start} is never closed",
                            open as char
                        ))))
                    }
                    Some(b) if b == close => {
                        r.consume_byte();
                        break;
                    }
                    Some(_) => {
                        let line = r.line();
                        if let Some(form) = r.next_form().map_err(syntax)? {
                            push(form, line)?;
                        }
                    }
                }
            }
            if r.peek_form_start().map_err(syntax)?.is_some() {
                return Err(syntax(r.error(format!(
                    "unexpected value after the history's closing '{}'",
                    close as char
                ))));
            }
        }
        _ => loop {
            // Position on the next form first, so `line` is where it starts.
            if r.peek_form_start().map_err(syntax)?.is_none() {
                break;
            }
            let line = r.line();
            match r.next_form().map_err(syntax)? {
                Some(form) => push(form, line)?,
                None => break,
            }
        },
    }
    Ok(sink.finish())
}

/// EDN text of a value for a message, shortened when long.
pub(crate) fn quote(value: &Edn) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        let short: String = text.chars().take(77).collect();
        format!("{short}...")
    } else {
        text
    }
}

/// Converts one op map into an event (not yet paired), its values stored by `sink`.
pub(crate) fn op_event<S: EdnSink>(
    form: &Edn,
    sink: &mut S,
) -> Result<RawEvent<'static, S::V>, Reason> {
    // A record literal such as `#jepsen.history.Op{...}` is the map it wraps.
    let mut op = form;
    while let Edn::Tagged(_, inner) = op {
        op = inner;
    }
    if !matches!(op, Edn::Map(_)) {
        return Err(Reason::Syntax(format!(
            "expected an op map {{:process .. :type .. :f .. :value ..}}, got {}",
            quote(form)
        )));
    }
    let process = match op.get("process") {
        None => return Err(Reason::MissingField(":process")),
        Some(Edn::Int(p)) if *p >= 0 => Process::Client(p.unsigned_abs()),
        Some(Edn::Keyword(k)) if k == "nemesis" => Process::Nemesis,
        Some(other) => {
            return Err(Reason::InvalidField {
                field: ":process",
                expected: "a non-negative integer or :nemesis",
                got: quote(other),
            })
        }
    };
    let kind = match op.get("type") {
        None => return Err(Reason::MissingField(":type")),
        Some(t) => match t {
            Edn::Keyword(k) => EventType::from_name(k),
            _ => None,
        }
        .ok_or_else(|| Reason::InvalidField {
            field: ":type",
            expected: ":invoke, :ok, :fail or :info",
            got: quote(t),
        })?,
    };
    let f = match op.get("f") {
        None => return Err(Reason::MissingField(":f")),
        Some(Edn::Keyword(s) | Edn::Str(s) | Edn::Symbol(s)) => s.clone(),
        Some(other) => {
            return Err(Reason::InvalidField {
                field: ":f",
                expected: "a keyword or string",
                got: quote(other),
            })
        }
    };
    let index = match op.get("index") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Int(i)) if *i >= 0 => Some(i.unsigned_abs()),
        Some(other) => {
            return Err(Reason::InvalidField {
                field: ":index",
                expected: "a non-negative integer",
                got: quote(other),
            })
        }
    };
    let time = match op.get("time") {
        None | Some(Edn::Nil) => 0,
        Some(Edn::Int(t)) if *t >= 0 => t.unsigned_abs(),
        Some(other) => {
            return Err(Reason::InvalidField {
                field: ":time",
                expected: "a non-negative integer (nanoseconds)",
                got: quote(other),
            })
        }
    };
    let explicit_key = match op.get("key") {
        None | Some(Edn::Nil) => None,
        Some(k) => Some(sink.value(k)),
    };
    let (tuple_key, value) = match op.get("value") {
        None => (None, sink.value(&Edn::Nil)),
        Some(Edn::Tagged(tag, inner)) if tag == TUPLE_TAG => match inner.as_ref() {
            Edn::Vector(kv) | Edn::List(kv) if kv.len() == 2 => {
                (Some(sink.value(&kv[0])), sink.value(&kv[1]))
            }
            other => {
                return Err(Reason::InvalidField {
                    field: ":value",
                    expected: "a [key value] pair after #jepsen.independent/tuple",
                    got: quote(other),
                })
            }
        },
        Some(v) => (None, sink.value(v)),
    };
    let key = match (explicit_key, tuple_key) {
        (Some(k), Some(t)) if !sink.same(&k, &t) => {
            return Err(Reason::Syntax(format!(
                ":key {} differs from the key {} of the op's independent tuple",
                sink.show(&k),
                sink.show(&t)
            )))
        }
        (k, t) => k.or(t),
    };
    let node = match op.get("node") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s)) => Some(Cow::Owned(s.clone())),
        Some(other) => {
            return Err(Reason::InvalidField {
                field: ":node",
                expected: "a string",
                got: quote(other),
            })
        }
    };
    let error = match op.get("error") {
        None | Some(Edn::Nil) => None,
        Some(e) => Some(sink.value(e)),
    };
    Ok(RawEvent {
        index,
        time,
        process,
        kind,
        f: Cow::Owned(f),
        key,
        value,
        node,
        error,
    })
}

/// Splits untagged independent tuples: every client op's values must be `[key value]`
/// pairs (as Jepsen's independent generator prints them, without a tag) and the op must have
/// no key yet; each becomes `key` + `value`. This is an explicit choice by the user (a cas
/// value `[from to]` looks the same), never a guess. Errors name the first op that does not
/// fit, by index. The rules are [`split_independent_tuples_compact`]'s.
pub fn split_independent_tuples(history: &mut History) -> Result<(), String> {
    let mut compact = CompactHistory::from_history(history);
    split_independent_tuples_compact(&mut compact)?;
    *history = compact.to_history();
    Ok(())
}

/// [`split_independent_tuples`] of a compact history: the same rules and errors, the keys
/// and values taken from the tuples' items in the arena. On error the ops are unchanged.
pub fn split_independent_tuples_compact(history: &mut CompactHistory) -> Result<(), String> {
    // Every op is checked before any changes: (key, invoke value, completion value).
    let mut split = Vec::with_capacity(history.ops.len());
    for op in &history.ops {
        let a = &mut history.arena;
        let invoke = halves(a, op.invoke_value);
        let completion = if op.completed {
            halves(a, op.value)
        } else {
            invoke
        };
        let (Some((key, invoke_value)), Some((completion_key, value)), true) =
            (invoke, completion, op.key.is_absent())
        else {
            return Err(format!(
                "op at index {} (process {}, f {:?}) is not an independent [key value] tuple: {}",
                op.invoke_index,
                op.process,
                a.str(op.f),
                a.value(op.invoke_value)
            ));
        };
        if !a.equal(key, completion_key) {
            return Err(format!(
                "op at index {}: its completion's key {} differs from its invoke's key {}",
                op.invoke_index,
                a.value(completion_key),
                a.value(key)
            ));
        }
        split.push((key, invoke_value, value));
    }
    for (op, (key, invoke_value, value)) in history.ops.iter_mut().zip(split) {
        op.key = key;
        op.invoke_value = invoke_value;
        op.value = value;
    }
    Ok(())
}

/// The two items of `v` when it is a 2-element array.
fn halves(arena: &mut Arena, v: Val) -> Option<(Val, Val)> {
    match v.kind() {
        Kind::Array { len: 2, .. } => match arena.items(v) {
            &[key, value] => Some((key, value)),
            _ => None,
        },
        // An array the arena kept whole (only when its item table is full).
        Kind::Other(i) => match arena.other(i) {
            serde_json::Value::Array(items) if items.len() == 2 => {
                let (key, value) = (items[0].clone(), items[1].clone());
                Some((arena.push_value(&key), arena.push_value(&value)))
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::sink::assert_same_reading;
    use crate::history::Outcome;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    /// The `Value` reader's result, checked against the compact reader's: the same history,
    /// or the same error (message and line).
    fn read(text: &str) -> Result<History, HistoryError> {
        assert_same_reading(
            read_edn(text.as_bytes(), "h.edn"),
            read_edn_compact(text.as_bytes(), "h.edn"),
            text,
        )
    }

    fn err(text: &str) -> String {
        read(text).unwrap_err().to_string()
    }

    #[test]
    fn reads_a_stream_of_maps() {
        let h = read(concat!(
            "; comment\n",
            "{:process 0, :type :invoke, :f :read, :value nil, :time 5}\n",
            "{:process :nemesis, :type :info, :f :start, :value [:n1 :n2]}\n",
            "{:process 0, :type :ok, :f :read, :value 3, :time 9}\n",
        ))
        .unwrap();
        assert_eq!(h.event_count, 3);
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].value, json!(3));
        assert_eq!(h.ops[0].complete_index, Some(2));
        assert_eq!(h.ops[0].complete_time, Some(9));
        assert_eq!(h.nemesis[0].value, json!(["n1", "n2"]));
        assert_eq!(h.nemesis[0].index, 1);
    }

    #[test]
    fn reads_one_top_level_vector_or_list_with_multiline_maps() {
        for (open, close) in [("[", "]"), ("(", ")")] {
            let text = format!(
                "; header\n{open}{{:type :invoke,\n :f :txn,\n :value [[:read :x nil]],\n :process 3}}\n; between\n{{:type :ok, :f :txn, :value [[:read :x 0]], :process 3}}{close}\n"
            );
            let h = read(&text).unwrap();
            assert_eq!(h.ops.len(), 1);
            assert_eq!(h.ops[0].invoke_value, json!([["read", "x", null]]));
            assert_eq!(h.ops[0].value, json!([["read", "x", 0]]));
            assert_eq!(h.ops[0].outcome, Outcome::Ok);
        }
    }

    #[test]
    fn independent_tuples_only_when_tagged() {
        let h = read(concat!(
            "{:process 0, :type :invoke, :f :cas, :value #jepsen.independent/tuple [7 [1 2]]}\n",
            "{:process 0, :type :ok, :f :cas, :value #jepsen.independent/tuple [7 [1 2]]}\n",
            "{:process 1, :type :invoke, :f :cas, :value [1 2]}\n",
            "{:process 2, :type :invoke, :f :write, :key \"k\", :value 4}\n",
        ))
        .unwrap();
        assert_eq!(h.ops[0].key, Some(json!(7)));
        assert_eq!(h.ops[0].invoke_value, json!([1, 2]));
        assert_eq!(h.ops[1].key, None);
        assert_eq!(h.ops[1].invoke_value, json!([1, 2]));
        assert_eq!(h.ops[2].key, Some(json!("k")));
    }

    #[test]
    fn discarded_forms_are_skipped_anywhere() {
        let h = read("[#_{:x 1} {:process 0 :type :invoke :f :read #_ :value} #_ 5]").unwrap();
        assert_eq!(h.ops.len(), 1);
        let h = read("#_{:bad 1}\n{:process 0 :type :invoke :f :read}\n#_ [1 2]\n").unwrap();
        assert_eq!(h.ops.len(), 1);
    }

    #[test]
    fn record_literals_are_their_maps() {
        let h = read("#jepsen.history.Op{:index 4, :time 1, :type :invoke, :process 0, :f :read, :value nil}\n")
            .unwrap();
        assert_eq!(h.ops[0].invoke_index, 4);
    }

    #[test]
    fn errors_name_the_line_and_reason() {
        assert_eq!(
            err("{:process 0, :type :invoke, :f :read}\n{:index 1 :type :ok :value 3}\n"),
            "h.edn:2: missing required field :process"
        );
        assert_eq!(
            err("{:process 0, :type :invoke, :value 3}"),
            "h.edn:1: missing required field :f"
        );
        assert_eq!(
            err("{:process 0, :type :okay, :f :read}"),
            "h.edn:1: :type must be :invoke, :ok, :fail or :info, got :okay"
        );
        assert_eq!(
            err("{:process \"p\", :type :ok, :f :read}"),
            "h.edn:1: :process must be a non-negative integer or :nemesis, got \"p\""
        );
        assert_eq!(
            err("[{:process 1, :type :ok, :f :read}]"),
            "h.edn:1: ok by process 1 (f \"read\") has no matching invoke"
        );
        assert_eq!(
            err("[{:process 1, :type :invoke, :f :read}\n {:process 1, :type :invoke, :f :read}]"),
            "h.edn:2: process 1 invokes \"read\" while its invoke of \"read\" at line 1 has not completed"
        );
        assert_eq!(
            err("[{:process 1, :type :invoke, :f :read}\n\n {:process 1, :type :ok, :f :write}]"),
            "h.edn:3: ok by process 1 has f \"write\", but its invoke at line 1 has f \"read\""
        );
        assert_eq!(
            err("[{:process 1, :type :invoke, :f :read}\n"),
            "h.edn:1: invalid EDN: '[' opened at line 1 is never closed"
        );
        assert_eq!(
            err("[{:process 1, :type :invoke, :f :read}] [1]"),
            "h.edn:1: invalid EDN: unexpected value after the history's closing ']'"
        );
        assert_eq!(
            err("{:process 1, :type :invoke, :f :read}\n[1 2]"),
            "h.edn:2: expected an op map {:process .. :type .. :f .. :value ..}, got [1 2]"
        );
        assert_eq!(
            err("{:process 1, :type :invoke, :f :read, :time -3}"),
            "h.edn:1: :time must be a non-negative integer (nanoseconds), got -3"
        );
        assert_eq!(
            err("{:process 1, :type :invoke, :f :read, :value #jepsen.independent/tuple [1]}"),
            "h.edn:1: :value must be a [key value] pair after #jepsen.independent/tuple, got [1]"
        );
        assert_eq!(
            err("{:process 1, :type :invoke, :f :read, :key 2, :value #jepsen.independent/tuple [1.0 5]}"),
            "h.edn:1: :key 2 differs from the key 1.0 of the op's independent tuple"
        );
        assert_eq!(
            err("{:process 1, :type :invoke, :f :read, :node 3}"),
            "h.edn:1: :node must be a string, got 3"
        );
        assert_eq!(
            err("{:process 1 :type :invoke :f :read}\n{:process 2 :type :invoke :f :read :value {:a}}"),
            "h.edn:2: invalid EDN: a map needs an even number of forms (a value for every key)"
        );
    }

    #[test]
    fn split_independent_tuples_is_explicit() {
        let mut h = read(concat!(
            "{:process 0, :type :invoke, :f :write, :value [:k 1]}\n",
            "{:process 0, :type :ok, :f :write, :value [:k 1]}\n",
            "{:process 1, :type :invoke, :f :read, :value [:j nil]}\n",
        ))
        .unwrap();
        split_independent_tuples(&mut h).unwrap();
        assert_eq!(h.ops[0].key, Some(json!("k")));
        assert_eq!(
            (&h.ops[0].invoke_value, &h.ops[0].value),
            (&json!(1), &json!(1))
        );
        assert_eq!(h.ops[1].key, Some(json!("j")));
        assert_eq!(h.ops[1].value, Value::Null);

        let mut bad = read("{:process 0, :type :invoke, :f :write, :value 3}").unwrap();
        let e = split_independent_tuples(&mut bad).unwrap_err();
        assert!(
            e.contains("index 0") && e.contains("not an independent"),
            "{e}"
        );
    }

    /// The compact split gives what the `Value` split gives, and the same errors; on error
    /// the history is left as it was.
    #[test]
    fn split_independent_tuples_compact_is_the_same_split() {
        let cases = [
            (
                concat!(
                    "{:process 0, :type :invoke, :f :cas, :value [:k [1 2]]}\n",
                    "{:process 0, :type :fail, :f :cas, :value [:k [1 2]], :error [:no \"x\"]}\n",
                    "{:process 1, :type :invoke, :f :read, :value [[1 \"a\"] nil]}\n",
                    "{:process 2, :type :invoke, :f :read, :value [2.5 nil]}\n",
                    "{:process 2, :type :info, :f :read, :value [2.5 #{3}]}\n",
                ),
                Ok(()),
            ),
            (
                concat!(
                    "{:process 0, :type :invoke, :f :write, :value [:k 1]}\n",
                    "{:process 0, :type :ok, :f :write, :value [:j 1]}\n",
                ),
                Err("op at index 0: its completion's key \"j\" differs from its invoke's key \"k\""),
            ),
            (
                concat!(
                    "{:process 0, :type :invoke, :f :write, :value [:k 1]}\n",
                    "{:process 0, :type :ok, :f :write, :value 3}\n",
                ),
                Err("op at index 0 (process 0, f \"write\") is not an independent [key value] tuple: [\"k\",1]"),
            ),
            (
                "{:process 0, :type :invoke, :f :write, :key 1, :value [:k 1]}\n",
                Err("op at index 0 (process 0, f \"write\") is not an independent [key value] tuple: [\"k\",1]"),
            ),
            (
                "{:process 4, :type :invoke, :f :write, :value [:k 1 2]}\n",
                Err("op at index 0 (process 4, f \"write\") is not an independent [key value] tuple: [\"k\",1,2]"),
            ),
        ];
        for (text, want) in cases {
            let mut full = read(text).unwrap();
            let mut compact = read_edn_compact(text.as_bytes(), "h.edn").unwrap();
            let before = compact.to_history();
            let got = split_independent_tuples_compact(&mut compact);
            assert_eq!(got, want.map_err(str::to_string), "{text}");
            assert_eq!(split_independent_tuples(&mut full), got, "{text}");
            if got.is_ok() {
                assert_eq!(compact.to_history(), full, "{text}");
                assert!(compact.ops.iter().all(|op| !op.key.is_absent()));
            } else {
                assert_eq!(compact.to_history(), before, "{text}");
            }
        }
    }

    /// A random EDN history, one op map a line: values of every shape (tagged tuples, keys,
    /// errors, nodes); each process alternates invokes and completions of the same `f`
    /// (so most histories pair), with nemesis ops, comments and blank lines between and,
    /// now and then, a bad line.
    fn edn_history() -> impl Strategy<Value = Vec<String>> {
        let value = prop_oneof![
            Just("nil"),
            Just("3"),
            Just("-1"),
            Just("[1 2]"),
            Just("[[:append 1 2] [:r 1 [1 2]] [:r :x nil]]"),
            Just("\"s\""),
            Just(":timed-out"),
            Just("2.5"),
            Just("#{1 :a}"),
            Just("{:a [1] \"b\" 2}"),
            Just("18446744073709551616"),
            Just("#jepsen.independent/tuple [3 [1 2]]"),
            Just("#jepsen.independent/tuple [3 nil]"),
        ];
        let extra = prop_oneof![
            8 => Just(""),
            1 => Just(", :key 3"),
            1 => Just(", :key \"k\""),
            1 => Just(", :key [1 :k]"),
            1 => Just(", :error [:unknown \"timeout\"]"),
            1 => Just(", :node \"n1\""),
            1 => Just(", :time 7"),
        ];
        let step = prop_oneof![
            40 => (0u64..4, 0usize..3, 0usize..3, value, extra).prop_map(|(p, f, kind, v, x)| {
                Some((p, f, kind, v, x))
            }),
            4 => Just(None),
        ];
        let other = prop_oneof![
            3 => Just(""),
            3 => Just("; a comment"),
            3 => Just("{:process :nemesis, :type :info, :f :kill, :value [:n1 :n2]}"),
            1 => Just("{:process 1, :value [1"),
            1 => Just("{:index 3, :process 9, :type :invoke, :f :read}"),
            1 => Just("{:process 2, :type :invoke, :f :read, :node 3}"),
            1 => Just("{:process 2, :type :invoke, :f :read, :value #jepsen.independent/tuple [1]}"),
            1 => Just("[1 2]"),
        ];
        prop::collection::vec((step, other), 0..40).prop_map(|steps| {
            // Each process's open invoke: its f and extra fields (its completion repeats them,
            // so keys match unless a tuple value says otherwise).
            let mut open: [Option<(usize, &str)>; 4] = [None; 4];
            let mut lines = Vec::new();
            for (step, other) in steps {
                let Some((p, f, kind, v, x)) = step else {
                    lines.push(other.to_string());
                    continue;
                };
                let (kind, f, x) = match open[p as usize].take() {
                    Some((f, x)) => ([":ok", ":fail", ":info"][kind], f, x),
                    None => {
                        open[p as usize] = Some((f, x));
                        (":invoke", f, x)
                    }
                };
                let f = [":read", ":write", ":cas"][f];
                lines.push(format!(
                    "{{:process {p}, :type {kind}, :f {f}, :value {v}{x}}}"
                ));
            }
            lines
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 400,
            rng_seed: proptest::test_runner::RngSeed::Fixed(20),
            ..ProptestConfig::default()
        })]

        /// The compact reader equals the `Value` reader on random histories, as a stream of
        /// maps and as one vector, errors included (`read` compares them).
        #[test]
        fn compact_reading_equals_value_reading(lines in edn_history()) {
            let stream = lines.join("\n");
            let _ = read(&stream);
            let _ = read(&format!("[{stream}\n]"));
        }
    }
}
