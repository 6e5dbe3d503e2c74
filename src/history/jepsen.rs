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

use serde_json::Value;

use super::edn::{Edn, EdnError, EdnReader};
use super::error::{HistoryError, Reason};
use super::pair::{Pairer, RawEvent};
use super::{EventType, History, Process};

/// The tag Jepsen's independent generator uses for `[key value]` tuples.
pub const TUPLE_TAG: &str = "jepsen.independent/tuple";

/// Reads a Jepsen/Knossos/Elle EDN history; `source` names it in errors.
pub fn read_edn<R: BufRead>(reader: R, source: &str) -> Result<History, HistoryError> {
    let mut r = EdnReader::new(reader);
    let mut pairer = Pairer::new();
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
        let event = op_event(&form).map_err(invalid)?;
        pairer.push(event, line).map_err(invalid)
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
    Ok(pairer.finish())
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

/// Converts one op map into an event (not yet paired).
pub(crate) fn op_event(form: &Edn) -> Result<RawEvent<'static>, Reason> {
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
        Some(k) => Some(k.to_json()),
    };
    let (tuple_key, value) = match op.get("value") {
        None => (None, Value::Null),
        Some(Edn::Tagged(tag, inner)) if tag == TUPLE_TAG => match inner.as_ref() {
            Edn::Vector(kv) | Edn::List(kv) if kv.len() == 2 => {
                (Some(kv[0].to_json()), kv[1].to_json())
            }
            other => {
                return Err(Reason::InvalidField {
                    field: ":value",
                    expected: "a [key value] pair after #jepsen.independent/tuple",
                    got: quote(other),
                })
            }
        },
        Some(v) => (None, v.to_json()),
    };
    let key = match (explicit_key, tuple_key) {
        (Some(k), Some(t)) if k != t => {
            return Err(Reason::Syntax(format!(
                ":key {k} differs from the key {t} of the op's independent tuple"
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
        Some(e) => Some(e.to_json()),
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
/// fit, by index.
pub fn split_independent_tuples(history: &mut History) -> Result<(), String> {
    for op in &history.ops {
        let pair = |v: &Value| matches!(v, Value::Array(a) if a.len() == 2);
        let completion_ok = op.complete_index.is_none() || pair(&op.value);
        if op.key.is_some() || !pair(&op.invoke_value) || !completion_ok {
            return Err(format!(
                "op at index {} (process {}, f {:?}) is not an independent [key value] tuple: {}",
                op.invoke_index, op.process, op.f, op.invoke_value
            ));
        }
        if let (Value::Array(a), Value::Array(b)) = (&op.invoke_value, &op.value) {
            if op.complete_index.is_some() && a[0] != b[0] {
                return Err(format!(
                    "op at index {}: its completion's key {} differs from its invoke's key {}",
                    op.invoke_index, b[0], a[0]
                ));
            }
        }
    }
    for op in &mut history.ops {
        let take = |v: &mut Value| -> (Value, Value) {
            match v.take() {
                Value::Array(mut a) if a.len() == 2 => {
                    // Checked above: every value here is a 2-element array.
                    let value = a.pop().unwrap_or(Value::Null);
                    let key = a.pop().unwrap_or(Value::Null);
                    (key, value)
                }
                other => (Value::Null, other),
            }
        };
        let (key, invoke_value) = take(&mut op.invoke_value);
        op.invoke_value = invoke_value;
        op.value = if op.complete_index.is_some() {
            take(&mut op.value).1
        } else {
            op.invoke_value.clone()
        };
        op.key = Some(key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;
    use serde_json::json;

    fn read(text: &str) -> Result<History, HistoryError> {
        read_edn(text.as_bytes(), "h.edn")
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
}
