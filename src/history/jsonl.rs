//! faultline's own history format (DESIGN.md): one JSON event per line.
//!
//! Reading goes chunk by chunk (see `chunked`): lines are parsed on worker threads and paired
//! in file order, with at most a few chunks in flight, so memory is proportional to the ops,
//! not to the file. Field rules:
//! - `type`, `process` and `f` are required;
//! - `index` defaults to the event's 0-based position (blank lines do not count), and indices
//!   must strictly increase;
//! - `time` defaults to 0; `value` defaults to `null`;
//! - `key`, `node` and `error` are optional, and `null` counts as absent;
//! - unknown fields are ignored (so later versions can add fields), blank lines are skipped.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, BufRead, BufWriter, Write};

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

use super::chunked::{read_chunked, ChunkPlan};
use super::error::{HistoryError, Reason};
use super::pair::{Pairer, RawEvent};
use super::{Event, EventType, History, Process};

/// Reads a JSONL history from `reader`; `source` names it in errors (`source:line: ...`).
///
/// Big inputs are read in chunks whose lines are parsed on worker threads (one per core) and
/// paired in file order on the calling thread; the result, errors included, is exactly that
/// of [`read_jsonl_lines`].
pub fn read_jsonl<R: BufRead>(reader: R, source: &str) -> Result<History, HistoryError> {
    read_chunked(reader, source, ChunkPlan::for_this_machine())
}

/// The line-at-a-time reader: one thread, one line in memory at a time. [`read_jsonl`] gives
/// the same result faster; this one stays as the reference its tests and benches compare
/// with.
pub fn read_jsonl_lines<R: BufRead>(mut reader: R, source: &str) -> Result<History, HistoryError> {
    let mut buf = Vec::with_capacity(256);
    let mut line: u64 = 0;
    let mut pairer = Pairer::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|error| HistoryError::Io {
                file: source.to_string(),
                error,
            })?;
        if n == 0 {
            break;
        }
        line += 1;
        let text = line_text(&buf, line == 1);
        if text.is_empty() {
            continue;
        }
        let invalid = |reason| HistoryError::Invalid {
            file: source.to_string(),
            line,
            reason,
        };
        let event = parse_event(text).map_err(invalid)?;
        pairer.push(event, line).map_err(invalid)?;
    }
    Ok(pairer.finish())
}

/// A line's content: without surrounding ASCII whitespace (so `\r\n` ends work), and on the
/// first line of the input without a UTF-8 byte order mark. Empty for a blank line.
pub(super) fn line_text(line: &[u8], first_line: bool) -> &[u8] {
    let text = line.trim_ascii();
    if first_line {
        text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text)
    } else {
        text
    }
}

/// Parses one JSONL line into an [`Event`], with the same rules as the reader (an absent
/// `index` becomes 0 here, since a lone line has no position).
pub fn parse_event_line(line: &str) -> Result<Event, Reason> {
    let raw = parse_event(line.trim().as_bytes())?;
    Ok(Event {
        index: raw.index.unwrap_or(0),
        time: raw.time,
        process: raw.process,
        kind: raw.kind,
        f: raw.f.into_owned(),
        key: raw.key,
        value: raw.value,
        node: raw.node.map(Cow::into_owned),
        error: raw.error,
    })
}

/// Parses and validates one non-blank line.
pub(super) fn parse_event(text: &[u8]) -> Result<RawEvent<'_>, Reason> {
    parse_event_with(text, &mut JsonValues)
}

/// How a line's `key`, `value` and `error` fields are read: as `serde_json::Value`s ([`JsonValues`],
/// for [`History`]) or into a compact arena (`compact`). Every other field is read and
/// checked the same way for both, so both give the same events and the same errors.
pub(super) trait ValueReader<'de> {
    /// A value as this reader holds it.
    type V;
    /// Reads the next map value.
    fn read<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<Self::V, A::Error>;
    /// Whether `v` is JSON `null` (a `null` key or error counts as absent).
    fn is_null(&self, v: &Self::V) -> bool;
    /// JSON `null` (the default value).
    fn null(&self) -> Self::V;
}

/// Reads values as `serde_json::Value`s.
pub(super) struct JsonValues;

impl<'de> ValueReader<'de> for JsonValues {
    type V = Value;
    fn read<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<Value, A::Error> {
        map.next_value()
    }
    fn is_null(&self, v: &Value) -> bool {
        v.is_null()
    }
    fn null(&self) -> Value {
        Value::Null
    }
}

/// Parses and validates one non-blank line, reading `key`, `value` and `error` with `values`.
pub(super) fn parse_event_with<'a, R: ValueReader<'a>>(
    text: &'a [u8],
    values: &mut R,
) -> Result<RawEvent<'a, R::V>, Reason> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let line = LineSeed {
        values: &mut *values,
    }
    .deserialize(&mut de)
    .and_then(|line| de.end().map(|()| line))
    .map_err(json_reason)?;
    if let Some(field) = line.duplicate {
        return Err(Reason::DuplicateField(format!("{field:?}")));
    }
    let kind = match line.kind {
        None => return Err(Reason::MissingField("\"type\"")),
        Some(k) => match &k {
            Loose::Str(s) => EventType::from_name(s),
            _ => None,
        }
        .ok_or_else(|| Reason::InvalidField {
            field: "\"type\"",
            expected: "invoke, ok, fail or info",
            got: k.to_string(),
        })?,
    };
    let process = match line.process {
        None => return Err(Reason::MissingField("\"process\"")),
        Some(Loose::U64(p)) => Process::Client(p),
        Some(Loose::Str(s)) if s == "nemesis" => Process::Nemesis,
        Some(other) => {
            return Err(Reason::InvalidField {
                field: "\"process\"",
                expected: "a non-negative integer or \"nemesis\"",
                got: other.to_string(),
            })
        }
    };
    let f = match line.f {
        None => return Err(Reason::MissingField("\"f\"")),
        Some(Loose::Str(s)) => s,
        Some(other) => {
            return Err(Reason::InvalidField {
                field: "\"f\"",
                expected: "a string",
                got: other.to_string(),
            })
        }
    };
    let index = match line.index {
        None | Some(Loose::Null) => None,
        Some(Loose::U64(i)) => Some(i),
        Some(other) => {
            return Err(Reason::InvalidField {
                field: "\"index\"",
                expected: "a non-negative integer",
                got: other.to_string(),
            })
        }
    };
    let time = match line.time {
        None | Some(Loose::Null) => 0,
        Some(Loose::U64(t)) => t,
        Some(other) => {
            return Err(Reason::InvalidField {
                field: "\"time\"",
                expected: "a non-negative integer (nanoseconds)",
                got: other.to_string(),
            })
        }
    };
    let node = match line.node {
        None | Some(Loose::Null) => None,
        Some(Loose::Str(s)) => Some(s),
        Some(other) => {
            return Err(Reason::InvalidField {
                field: "\"node\"",
                expected: "a string",
                got: other.to_string(),
            })
        }
    };
    Ok(RawEvent {
        index,
        time,
        process,
        kind,
        f,
        key: line.key.filter(|k| !values.is_null(k)),
        value: line.value.unwrap_or_else(|| values.null()),
        node,
        error: line.error.filter(|e| !values.is_null(e)),
    })
}

/// serde_json's message without its " at line 1 column N" suffix, plus the column.
fn json_reason(e: serde_json::Error) -> Reason {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
    Reason::Json(format!("{msg} (column {})", e.column()))
}

/// One line's fields, kept loose so that validation can say what it got.
struct Line<'a, V> {
    index: Option<Loose<'a>>,
    time: Option<Loose<'a>>,
    process: Option<Loose<'a>>,
    kind: Option<Loose<'a>>,
    f: Option<Loose<'a>>,
    key: Option<V>,
    value: Option<V>,
    node: Option<Loose<'a>>,
    error: Option<V>,
    duplicate: Option<&'static str>,
}

impl<V> Default for Line<'_, V> {
    fn default() -> Self {
        Line {
            index: None,
            time: None,
            process: None,
            kind: None,
            f: None,
            key: None,
            value: None,
            node: None,
            error: None,
            duplicate: None,
        }
    }
}

/// A field value: strings borrowed from the line when they have no escapes.
enum Loose<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Null,
    Other(Value),
}

impl fmt::Display for Loose<'_> {
    /// The value as JSON, for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loose::Str(s) => write!(f, "{}", Value::String(s.to_string())),
            Loose::U64(n) => write!(f, "{n}"),
            Loose::I64(n) => write!(f, "{n}"),
            Loose::F64(x) => write!(f, "{x}"),
            Loose::Bool(b) => write!(f, "{b}"),
            Loose::Null => f.write_str("null"),
            Loose::Other(v) => write!(f, "{v}"),
        }
    }
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(u64::try_from(v).map_or(Loose::I64(v), Loose::U64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose::F64(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Loose::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Loose::Other)
    }
}

/// The known field names, matched without allocating.
enum Field {
    Index,
    Time,
    Process,
    Type,
    F,
    Key,
    Value,
    Node,
    Error,
    Unknown,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "index" => Field::Index,
                    "time" => Field::Time,
                    "process" => Field::Process,
                    "type" => Field::Type,
                    "f" => Field::F,
                    "key" => Field::Key,
                    "value" => Field::Value,
                    "node" => Field::Node,
                    "error" => Field::Error,
                    _ => Field::Unknown,
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

/// Reads one line's object, its `key`, `value` and `error` with `values`.
struct LineSeed<'r, R> {
    values: &'r mut R,
}

impl<'de, R: ValueReader<'de>> DeserializeSeed<'de> for LineSeed<'_, R> {
    type Value = Line<'de, R::V>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(LineVisitor {
            values: self.values,
        })
    }
}

struct LineVisitor<'r, R> {
    values: &'r mut R,
}

/// Stores a field's value, remembering the first duplicate instead of failing inside serde
/// (so the message can be ours).
fn set<T>(slot: &mut Option<T>, v: T, name: &'static str, dup: &mut Option<&'static str>) {
    if slot.is_some() && dup.is_none() {
        *dup = Some(name);
    }
    *slot = Some(v);
}

impl<'de, R: ValueReader<'de>> Visitor<'de> for LineVisitor<'_, R> {
    type Value = Line<'de, R::V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut l = Line::default();
        let d = &mut l.duplicate;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Index => set(&mut l.index, map.next_value()?, "index", d),
                Field::Time => set(&mut l.time, map.next_value()?, "time", d),
                Field::Process => set(&mut l.process, map.next_value()?, "process", d),
                Field::Type => set(&mut l.kind, map.next_value()?, "type", d),
                Field::F => set(&mut l.f, map.next_value()?, "f", d),
                Field::Key => set(&mut l.key, self.values.read(&mut map)?, "key", d),
                Field::Value => set(&mut l.value, self.values.read(&mut map)?, "value", d),
                Field::Node => set(&mut l.node, map.next_value()?, "node", d),
                Field::Error => set(&mut l.error, self.values.read(&mut map)?, "error", d),
                Field::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(l)
    }
}

/// Writes events as JSONL, one per line, fields in DESIGN.md's order. Output is buffered;
/// call [`HistoryWriter::flush`] when the events written so far must be on disk (the runner
/// does so every second and at every nemesis event).
#[derive(Debug)]
pub struct HistoryWriter<W: Write> {
    out: BufWriter<W>,
}

impl<W: Write> HistoryWriter<W> {
    /// A writer appending to `out`.
    pub fn new(out: W) -> Self {
        HistoryWriter {
            out: BufWriter::new(out),
        }
    }

    /// Writes one event as one line.
    pub fn write_event(&mut self, event: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, event)?;
        self.out.write_all(b"\n")
    }

    /// Writes every event of `history`, in index order.
    pub fn write_history(&mut self, history: &History) -> io::Result<()> {
        history.events().try_for_each(|e| self.write_event(&e))
    }

    /// Pushes everything written so far to the underlying writer and flushes it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;
    use serde_json::json;

    fn read(text: &str) -> Result<History, HistoryError> {
        read_jsonl(text.as_bytes(), "h.jsonl")
    }

    fn err(text: &str) -> String {
        read(text).unwrap_err().to_string()
    }

    const DESIGN_EXAMPLE: &str = r#"{"index":0,"time":1200,"process":0,"type":"invoke","f":"write","key":"x","value":3}
{"index":1,"time":1300,"process":1,"type":"invoke","f":"read","key":"x","value":null}
{"index":2,"time":5300,"process":0,"type":"ok","f":"write","key":"x","value":3}
{"index":3,"time":5400,"process":1,"type":"ok","f":"read","key":"x","value":3}
{"index":4,"time":6000,"process":"nemesis","type":"info","f":"partition-start","value":{"grudge":{"n1":["n2","n3"]}}}
{"index":5,"time":7000,"process":2,"type":"invoke","f":"cas","key":"x","value":[3,4]}
{"index":6,"time":9000,"process":2,"type":"fail","f":"cas","key":"x","value":[3,4],"error":"precondition failed"}
"#;

    #[test]
    fn reads_the_design_example() {
        let h = read(DESIGN_EXAMPLE).unwrap();
        assert_eq!(h.event_count, 7);
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.nemesis.len(), 1);
        let cas = &h.ops[2];
        assert_eq!(cas.outcome, Outcome::Fail);
        assert_eq!(cas.invoke_value, json!([3, 4]));
        assert_eq!(cas.error, Some(json!("precondition failed")));
        assert_eq!(cas.key, Some(json!("x")));
        assert_eq!((cas.invoke_time, cas.complete_time), (7000, Some(9000)));
        assert_eq!(h.ops[1].value, json!(3));
    }

    #[test]
    fn writes_fields_in_design_order_and_round_trips() {
        let h = read(DESIGN_EXAMPLE).unwrap();
        let mut w = HistoryWriter::new(Vec::new());
        w.write_history(&h).unwrap();
        let out = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(out, DESIGN_EXAMPLE);
    }

    #[test]
    fn defaults_index_to_position_and_time_to_zero_and_skips_blank_lines() {
        let h = read(concat!(
            "\n",
            r#"{"process":0,"type":"invoke","f":"read"}"#,
            "\n\n  \r\n",
            r#"{"process":0,"type":"ok","f":"read","value":1}"#,
            "\n"
        ))
        .unwrap();
        assert_eq!(h.event_count, 2);
        assert_eq!(h.ops[0].invoke_index, 0);
        assert_eq!(h.ops[0].complete_index, Some(1));
        assert_eq!(h.ops[0].invoke_time, 0);
        assert_eq!(h.ops[0].invoke_value, Value::Null);
    }

    #[test]
    fn invoke_without_completion_is_info() {
        let h = read(r#"{"process":4,"type":"invoke","f":"write","value":7}"#).unwrap();
        assert_eq!(h.ops[0].outcome, Outcome::Info);
        assert_eq!(h.ops[0].complete_index, None);
        assert_eq!(h.ops[0].complete_time, None);
        assert_eq!(h.ops[0].value, json!(7));
    }

    #[test]
    fn rejects_unparsable_json() {
        let e = err("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\n");
        assert!(e.starts_with("h.jsonl:2: invalid JSON: "), "{e}");
        let e = err("[1,2]\n");
        assert!(
            e.starts_with(
                "h.jsonl:1: invalid JSON: invalid type: sequence, expected an event object"
            ),
            "{e}"
        );
    }

    #[test]
    fn rejects_missing_required_fields() {
        assert_eq!(
            err(r#"{"process":0,"f":"read"}"#),
            "h.jsonl:1: missing required field \"type\""
        );
        assert_eq!(
            err(r#"{"type":"invoke","f":"read"}"#),
            "h.jsonl:1: missing required field \"process\""
        );
        assert_eq!(
            err(r#"{"type":"invoke","process":0}"#),
            "h.jsonl:1: missing required field \"f\""
        );
    }

    #[test]
    fn rejects_unknown_type_quoting_it() {
        assert_eq!(
            err(r#"{"process":0,"type":"okay","f":"read"}"#),
            "h.jsonl:1: \"type\" must be invoke, ok, fail or info, got \"okay\""
        );
        assert_eq!(
            err(r#"{"process":0,"type":3,"f":"read"}"#),
            "h.jsonl:1: \"type\" must be invoke, ok, fail or info, got 3"
        );
    }

    #[test]
    fn rejects_bad_process_index_time_and_node() {
        assert_eq!(
            err(r#"{"process":"p1","type":"invoke","f":"read"}"#),
            "h.jsonl:1: \"process\" must be a non-negative integer or \"nemesis\", got \"p1\""
        );
        assert_eq!(
            err(r#"{"process":-1,"type":"invoke","f":"read"}"#),
            "h.jsonl:1: \"process\" must be a non-negative integer or \"nemesis\", got -1"
        );
        assert_eq!(
            err(r#"{"process":1.5,"type":"invoke","f":"read"}"#),
            "h.jsonl:1: \"process\" must be a non-negative integer or \"nemesis\", got 1.5"
        );
        assert_eq!(
            err(r#"{"index":"a","process":0,"type":"invoke","f":"read"}"#),
            "h.jsonl:1: \"index\" must be a non-negative integer, got \"a\""
        );
        assert_eq!(
            err(r#"{"time":-5,"process":0,"type":"invoke","f":"read"}"#),
            "h.jsonl:1: \"time\" must be a non-negative integer (nanoseconds), got -5"
        );
        assert_eq!(
            err(r#"{"process":0,"type":"invoke","f":["read"]}"#),
            "h.jsonl:1: \"f\" must be a string, got [\"read\"]"
        );
        assert_eq!(
            err(r#"{"process":0,"type":"invoke","f":"read","node":7}"#),
            "h.jsonl:1: \"node\" must be a string, got 7"
        );
    }

    #[test]
    fn rejects_duplicate_fields() {
        assert_eq!(
            err(r#"{"process":0,"type":"invoke","f":"read","f":"write"}"#),
            "h.jsonl:1: duplicate field \"f\""
        );
    }

    #[test]
    fn rejects_completion_without_invoke() {
        let e = err(concat!(
            r#"{"process":0,"type":"invoke","f":"read"}"#,
            "\n",
            r#"{"process":1,"type":"ok","f":"read","value":2}"#
        ));
        assert_eq!(
            e,
            "h.jsonl:2: ok by process 1 (f \"read\") has no matching invoke"
        );
    }

    #[test]
    fn rejects_second_invoke_while_one_is_outstanding() {
        let e = err(concat!(
            r#"{"process":3,"type":"invoke","f":"read"}"#,
            "\n\n",
            r#"{"process":3,"type":"invoke","f":"write","value":1}"#
        ));
        assert_eq!(
            e,
            "h.jsonl:3: process 3 invokes \"write\" while its invoke of \"read\" at line 1 has not completed"
        );
    }

    #[test]
    fn rejects_completion_with_another_f() {
        let e = err(concat!(
            r#"{"process":3,"type":"invoke","f":"read"}"#,
            "\n",
            r#"{"process":3,"type":"fail","f":"write","value":1}"#
        ));
        assert_eq!(
            e,
            "h.jsonl:2: fail by process 3 has f \"write\", but its invoke at line 1 has f \"read\""
        );
    }

    #[test]
    fn rejects_completion_with_another_key() {
        let e = err(concat!(
            r#"{"process":3,"type":"invoke","f":"read","key":"x"}"#,
            "\n",
            r#"{"process":3,"type":"ok","f":"read","key":"y","value":1}"#
        ));
        assert_eq!(
            e,
            "h.jsonl:2: ok by process 3 has key \"y\", but its invoke at line 1 has key \"x\""
        );
    }

    #[test]
    fn rejects_indices_that_go_backwards() {
        let e = err(concat!(
            r#"{"index":4,"process":3,"type":"invoke","f":"read"}"#,
            "\n",
            r#"{"index":2,"process":3,"type":"ok","f":"read"}"#
        ));
        assert_eq!(
            e,
            "h.jsonl:2: index 2 is not greater than the previous event's index 4"
        );
    }

    #[test]
    fn ignores_unknown_fields_and_null_optionals() {
        let h = read(r#"{"process":0,"type":"invoke","f":"read","key":null,"latency":5,"node":null,"error":null}"#)
            .unwrap();
        assert_eq!(h.ops[0].key, None);
        assert_eq!(h.ops[0].node, None);
        assert_eq!(h.ops[0].error, None);
    }

    #[test]
    fn reads_strings_with_escapes() {
        let h = read(r#"{"process":0,"type":"invoke","f":"re\"ad","node":"n\u0031"}"#).unwrap();
        assert_eq!(h.ops[0].f, "re\"ad");
        assert_eq!(h.ops[0].node.as_deref(), Some("n1"));
    }

    #[test]
    fn parse_event_line_builds_an_event() {
        let e =
            parse_event_line(r#"{"process":"nemesis","type":"info","f":"kill","value":["n1"]}"#)
                .unwrap();
        assert_eq!(e.process, Process::Nemesis);
        assert_eq!(e.value, json!(["n1"]));
    }
}
