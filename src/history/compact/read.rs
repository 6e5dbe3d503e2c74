//! Reading JSONL straight into a [`CompactHistory`]: the parallel chunk reader of
//! `chunked`, with each line's key, value and error read into the chunk's own [`Arena`] (no
//! `serde_json::Value` per line), chunk arenas merged into the history's in file order, and
//! events paired by the one `pair::Pairer` (the same rules and error messages as the `Value`
//! reader).

use std::fmt;
use std::io::Read;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::arena::{Arena, Val};
use super::{CompactHistory, CompactOp};
use crate::history::chunked::{read_chunked_with, ChunkFormat, ChunkPlan, ChunkSink};
use crate::history::error::{HistoryError, Reason};
use crate::history::jsonl::{parse_event_with, ValueReader};
use crate::history::pair::{PairStore, Pairer, RawEvent};
use crate::history::{Event, EventType, Outcome, Process};

/// Reads a JSONL history from `reader` into a [`CompactHistory`]; `source` names it in
/// errors. The history and the errors are exactly those of [`crate::history::read_jsonl`]
/// (`CompactHistory::to_history` of the result equals its result).
pub fn read_jsonl_compact<R: Read>(
    reader: R,
    source: &str,
) -> Result<CompactHistory, HistoryError> {
    read_jsonl_compact_sized(reader, source, 0)
}

/// [`read_jsonl_compact`] of an input of about `bytes` bytes: room for its ops is reserved
/// up front (address space only; pages are touched as ops arrive), so the op table never
/// doubles and copies itself, and no freed old tables stay resident at the peak.
pub fn read_jsonl_compact_sized<R: Read>(
    reader: R,
    source: &str,
    bytes: u64,
) -> Result<CompactHistory, HistoryError> {
    let history = sized_for(bytes);
    read_with(
        reader,
        source,
        ChunkPlan::for_this_machine(),
        Pairer::with_store(history),
    )
}

/// [`read_jsonl_compact_sized`] that calls `watch` on the pairing thread after each chunk's
/// events are paired, with the history so far and the number of events read: a checker
/// that works per key can start on keys that are done while the rest is still being read
/// (`checker::linear::stream`). Ops still open in the history passed to `watch` have no
/// completion yet; an op, once completed, never changes again.
pub fn read_jsonl_compact_watched<R: Read>(
    reader: R,
    source: &str,
    bytes: u64,
    watch: &mut dyn FnMut(&CompactHistory, u64),
) -> Result<CompactHistory, HistoryError> {
    read_watched_with_plan(reader, source, bytes, ChunkPlan::for_this_machine(), watch)
}

/// [`read_jsonl_compact_watched`] in chunks of `chunk_bytes` parsed by `workers` threads
/// (tests vary the plan: the watcher then sees the history at other points).
#[cfg(test)]
pub(crate) fn read_watched_with_chunks<R: Read>(
    reader: R,
    source: &str,
    chunk_bytes: usize,
    workers: usize,
    watch: &mut dyn FnMut(&CompactHistory, u64),
) -> Result<CompactHistory, HistoryError> {
    let plan = ChunkPlan {
        chunk_bytes,
        workers,
        inline_below: 0,
    };
    read_watched_with_plan(reader, source, 0, plan, watch)
}

fn read_watched_with_plan<R: Read>(
    reader: R,
    source: &str,
    bytes: u64,
    plan: ChunkPlan,
    watch: &mut dyn FnMut(&CompactHistory, u64),
) -> Result<CompactHistory, HistoryError> {
    let history = sized_for(bytes);
    let sink = Watched {
        pairer: Pairer::with_store(history),
        watch,
    };
    read_chunked_with(reader, source, plan, &CompactLines, sink).map(|w| w.pairer.finish())
}

/// A pairer that shows the history to a watcher after every chunk.
struct Watched<'w> {
    pairer: Pairer<CompactHistory>,
    watch: &'w mut dyn FnMut(&CompactHistory, u64),
}

impl ChunkSink<CompactChunk> for Watched<'_> {
    fn feed(&mut self, chunk: CompactChunk, base: u64) -> Result<(), (u64, Reason)> {
        self.pairer.feed(chunk, base)?;
        (self.watch)(self.pairer.store(), self.pairer.position());
        Ok(())
    }
}

/// An empty history with room reserved for `bytes` of JSONL (see [`ops_room`],
/// [`items_room`]).
fn sized_for(bytes: u64) -> CompactHistory {
    let mut history = CompactHistory::default();
    history.ops.reserve(ops_room(bytes));
    history.arena.reserve_items(items_room(bytes));
    history
}

/// Op records to reserve for `bytes` of JSONL: an op is two lines of at least about 40
/// bytes each; at most 8 GiB of records (a longer history grows past it).
fn ops_room(bytes: u64) -> usize {
    const MAX_RECORDS_BYTES: u64 = 8 << 30;
    let most = MAX_RECORDS_BYTES / std::mem::size_of::<CompactOp>() as u64;
    usize::try_from((bytes / 80).min(most)).unwrap_or(0)
}

/// Array items to reserve for `bytes` of JSONL: one per 8 bytes (a transactional history
/// has about one per 9: micro-op lists, their parts and the elements read; a register
/// history far fewer), at most 12 GiB of items (a denser history grows past it).
fn items_room(bytes: u64) -> usize {
    const MAX_ITEMS_BYTES: u64 = 12 << 30;
    usize::try_from((bytes / 8).min(MAX_ITEMS_BYTES / 8)).unwrap_or(0)
}

/// [`read_jsonl_compact`] with an explicit chunk plan (tests vary it).
#[cfg(test)]
pub(crate) fn read_with_plan<R: Read>(
    reader: R,
    source: &str,
    plan: ChunkPlan,
) -> Result<CompactHistory, HistoryError> {
    read_with(
        reader,
        source,
        plan,
        Pairer::with_store(CompactHistory::default()),
    )
}

fn read_with<R: Read>(
    reader: R,
    source: &str,
    plan: ChunkPlan,
    pairer: Pairer<CompactHistory>,
) -> Result<CompactHistory, HistoryError> {
    read_chunked_with(reader, source, plan, &CompactLines, pairer).map(Pairer::finish)
}

/// One event as a reader parsed it, its values and strings in an arena (a JSONL chunk's, or
/// the history's for the EDN-based readers).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CEvent {
    index: Option<u64>,
    time: u64,
    process: Process,
    kind: EventType,
    f: u32,
    key: Val,
    value: Val,
    node: u32,
    error: Val,
}

impl CEvent {
    /// The event `raw`, whose values are in `arena`, with its `f` and node interned there.
    pub(crate) fn new(raw: RawEvent<'_, Val>, arena: &mut Arena) -> CEvent {
        CEvent {
            index: raw.index,
            time: raw.time,
            process: raw.process,
            kind: raw.kind,
            f: arena.intern(&raw.f),
            key: raw.key.unwrap_or(Val::ABSENT),
            value: raw.value,
            node: raw
                .node
                .as_deref()
                .map_or(CompactOp::NO_NODE, |n| arena.intern(n)),
            error: raw.error.unwrap_or(Val::ABSENT),
        }
    }
}

/// One chunk's events (with their line numbers in the chunk) and its arena.
#[derive(Debug, Default)]
pub(crate) struct CompactChunk {
    events: Vec<(CEvent, u64)>,
    arena: Arena,
}

/// Lines into [`CompactChunk`]s.
struct CompactLines;

impl ChunkFormat for CompactLines {
    type Events = CompactChunk;

    fn events(&self, bytes: usize) -> CompactChunk {
        CompactChunk {
            events: Vec::with_capacity(bytes / 80),
            arena: Arena::new(),
        }
    }

    fn parse_line(&self, chunk: &mut CompactChunk, text: &[u8], number: u64) -> Result<(), Reason> {
        let arena = &mut chunk.arena;
        let raw = parse_event_with(text, &mut ArenaValues { arena })?;
        let ev = CEvent::new(raw, &mut chunk.arena);
        chunk.events.push((ev, number));
        Ok(())
    }
}

/// Reads `key`, `value` and `error` fields into an arena.
struct ArenaValues<'r> {
    arena: &'r mut Arena,
}

impl<'de> ValueReader<'de> for ArenaValues<'_> {
    type V = Val;
    fn read<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<Val, A::Error> {
        map.next_value_seed(ValSeed {
            arena: &mut *self.arena,
        })
    }
    fn is_null(&self, v: &Val) -> bool {
        v.is_null()
    }
    fn null(&self) -> Val {
        Val::NULL
    }
}

/// Reads any JSON value into the arena.
struct ValSeed<'r> {
    arena: &'r mut Arena,
}

impl<'de> DeserializeSeed<'de> for ValSeed<'_> {
    type Value = Val;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValSeed<'_> {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val, E> {
        Ok(Val::bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val, E> {
        Ok(Val::int(v).unwrap_or_else(|| self.arena.push_other(Value::from(v))))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val, E> {
        Ok(i64::try_from(v)
            .ok()
            .and_then(Val::int)
            .unwrap_or_else(|| self.arena.push_other(Value::from(v))))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val, E> {
        // As `Value` reads it: a float that is not finite is null.
        Ok(serde_json::Number::from_f64(v)
            .map_or(Val::NULL, |n| self.arena.push_other(Value::Number(n))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Val, E> {
        Ok(Val::str(self.arena.intern(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::NULL)
    }
    fn visit_none<E: de::Error>(self) -> Result<Val, E> {
        Ok(Val::NULL)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        let mark = self.arena.begin_array();
        loop {
            let item = seq.next_element_seed(ValSeed {
                arena: &mut *self.arena,
            });
            match item {
                Ok(Some(v)) => self.arena.push_item(v),
                Ok(None) => break,
                Err(e) => {
                    self.arena.abandon(mark);
                    return Err(e);
                }
            }
        }
        Ok(self.arena.end_array(mark))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Val, A::Error> {
        let v = Value::deserialize(MapAccessDeserializer::new(map))?;
        Ok(self.arena.push_other(v))
    }
}

impl ChunkSink<CompactChunk> for Pairer<CompactHistory> {
    fn feed(&mut self, chunk: CompactChunk, base: u64) -> Result<(), (u64, Reason)> {
        let remap = self.store_mut().arena.absorb(chunk.arena);
        for (ev, rel) in chunk.events {
            let ev = CEvent {
                f: remap.string(ev.f),
                node: if ev.node == CompactOp::NO_NODE {
                    ev.node
                } else {
                    remap.string(ev.node)
                },
                key: ev.key.remapped(&remap),
                value: ev.value.remapped(&remap),
                error: ev.error.remapped(&remap),
                ..ev
            };
            let line = base + rel;
            self.push(ev, line).map_err(|reason| (line, reason))?;
        }
        Ok(())
    }
}

/// The compact history under the pairing rules of [`Pairer`]: fields compared as arena
/// handles, named as the `Value` reader names them.
impl PairStore<CEvent> for CompactHistory {
    fn head(ev: &CEvent) -> (Option<u64>, Process, EventType) {
        (ev.index, ev.process, ev.kind)
    }
    fn event_f(&self, ev: &CEvent) -> String {
        self.arena.str(ev.f).to_string()
    }
    fn op_f(&self, op: usize) -> String {
        self.f(op).to_string()
    }
    fn same_f(&self, op: usize, ev: &CEvent) -> bool {
        self.ops[op].f == ev.f
    }
    fn key_mismatch(&self, op: usize, ev: &CEvent) -> Option<(String, String)> {
        let op_key = self.ops[op].key;
        let differs =
            !ev.key.is_absent() && (op_key.is_absent() || !self.arena.equal(op_key, ev.key));
        differs.then(|| {
            (
                self.arena.value(ev.key).to_string(),
                self.arena
                    .optional(op_key)
                    .map_or_else(|| "none".to_string(), |k| k.to_string()),
            )
        })
    }
    fn nemesis(&mut self, ev: CEvent, index: u64) {
        let a = &self.arena;
        self.nemesis.push(Event {
            index,
            time: ev.time,
            process: Process::Nemesis,
            kind: ev.kind,
            f: a.str(ev.f).to_string(),
            key: a.optional(ev.key),
            value: a.value(ev.value),
            node: (ev.node != CompactOp::NO_NODE).then(|| a.str(ev.node).to_string()),
            error: a.optional(ev.error),
        });
    }
    fn invoke(&mut self, process: u64, ev: CEvent, index: u64) -> usize {
        self.ops.push(CompactOp {
            process,
            invoke_index: index,
            complete_index: 0,
            invoke_time: ev.time,
            complete_time: 0,
            key: ev.key,
            invoke_value: ev.value,
            // Filled in by the completion, or by `leave_open`.
            value: Val::NULL,
            error: ev.error,
            f: ev.f,
            node: ev.node,
            outcome: Outcome::Info,
            completed: false,
        });
        self.ops.len() - 1
    }
    fn complete(&mut self, op: usize, ev: CEvent, index: u64, outcome: Outcome) {
        let op = &mut self.ops[op];
        op.outcome = outcome;
        op.value = ev.value;
        op.complete_index = index;
        op.complete_time = ev.time;
        op.completed = true;
        if !ev.error.is_absent() {
            op.error = ev.error;
        }
        if ev.node != CompactOp::NO_NODE {
            op.node = ev.node;
        }
    }
    fn leave_open(&mut self, op: usize) {
        let op = &mut self.ops[op];
        op.value = op.invoke_value;
    }
    fn set_event_count(&mut self, n: u64) {
        self.event_count = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{read_jsonl, read_jsonl_lines, History};
    use proptest::prelude::*;

    /// The `Value` reader's result and the compact reader's (as a `History`), errors as
    /// their messages, at a few chunk plans.
    fn assert_same(text: &str) {
        let want = read_jsonl_lines(text.as_bytes(), "h.jsonl").map_err(|e| e.to_string());
        for (chunk_bytes, workers) in [(1, 0), (7, 2), (64, 1), (1 << 20, 0), (1 << 20, 3)] {
            let plan = ChunkPlan {
                chunk_bytes,
                workers,
                inline_below: 0,
            };
            let got = read_with_plan(text.as_bytes(), "h.jsonl", plan)
                .map(|c| c.to_history())
                .map_err(|e| e.to_string());
            assert_eq!(got, want, "chunk {chunk_bytes}, {workers} workers:\n{text}");
        }
    }

    const EVERY_FIELD: &str = r#"{"index":0,"time":1200,"process":0,"type":"invoke","f":"write","key":"x","value":3,"node":"n1"}
{"index":1,"time":1300,"process":1,"type":"invoke","f":"read","key":["k",1],"value":null}
{"index":2,"time":5300,"process":0,"type":"ok","f":"write","key":"x","value":3,"node":"n2","extra":[1,{"a":2}]}
{"index":3,"time":5400,"process":1,"type":"ok","f":"read","key":["k",1],"value":{"m":[1,2.5]}}
{"index":4,"time":6000,"process":"nemesis","type":"info","f":"partition-start","value":{"grudge":{"n1":["n2","n3"]}},"error":"e"}
{"index":5,"time":7000,"process":2,"type":"invoke","f":"cas","key":7,"value":[3,4],"error":{"why":1}}
{"index":6,"time":9000,"process":2,"type":"fail","f":"cas","key":7,"value":[3,4],"error":"precondition failed"}
{"index":7,"time":9100,"process":3,"type":"invoke","f":"txn","value":[["append",1,2],["r",1,null],["r","k",[1,-2,18446744073709551615,1.0,"s",true,false]]]}
{"index":8,"time":9200,"process":3,"type":"ok","f":"txn","value":[["append",1,2],["r",1,[1,2]],["r","k",[]]]}
{"index":9,"process":4,"type":"invoke","f":"re\"ad","node":"n\u0031","key":null,"value":-1152921504606846977}
{"index":11,"process":5,"type":"invoke","f":"w","value":1152921504606846975}
"#;

    #[test]
    fn every_field_reads_as_the_value_reader_reads_it() {
        assert_same(EVERY_FIELD);
        let h = read_jsonl_compact(EVERY_FIELD.as_bytes(), "h.jsonl").unwrap();
        assert_eq!(h.ops.len(), 6);
        assert_eq!(h.event_count, 11);
        assert_eq!(h.f(5), "w");
        assert!(!h.ops[4].completed);
        assert_eq!(h.ops[4].value, h.ops[4].invoke_value);
        let full: History = read_jsonl(EVERY_FIELD.as_bytes(), "h.jsonl").unwrap();
        assert_eq!(h.to_history(), full);
        assert_eq!(CompactHistory::from_history(&full).to_history(), full);
    }

    #[test]
    fn errors_name_the_same_line_and_reason() {
        let bad = [
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\n",
            "[1,2]\n",
            r#"{"process":0,"f":"read"}"#,
            r#"{"process":0,"type":"okay","f":"read"}"#,
            r#"{"process":-1,"type":"invoke","f":"read"}"#,
            r#"{"process":0,"type":"invoke","f":"read","value":[1,[2,}"#,
            r#"{"process":0,"type":"invoke","f":"read","key":[1,2],"key":3}"#,
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\"}",
            "{\"process\":3,\"type\":\"invoke\",\"f\":\"read\"}\n\n{\"process\":3,\"type\":\"invoke\",\"f\":\"write\"}",
            "{\"process\":3,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":3,\"type\":\"fail\",\"f\":\"write\"}",
            "{\"process\":3,\"type\":\"invoke\",\"f\":\"read\",\"key\":[\"x\",1]}\n{\"process\":3,\"type\":\"ok\",\"f\":\"read\",\"key\":[\"x\",2]}",
            "{\"process\":3,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":3,\"type\":\"ok\",\"f\":\"read\",\"key\":1.0}",
            "{\"process\":3,\"type\":\"invoke\",\"f\":\"read\",\"key\":1}\n{\"process\":3,\"type\":\"ok\",\"f\":\"read\",\"key\":1.0}",
            "{\"index\":4,\"process\":3,\"type\":\"invoke\",\"f\":\"read\"}\n{\"index\":2,\"process\":3,\"type\":\"ok\",\"f\":\"read\"}",
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"} x",
        ];
        for text in bad {
            assert!(read_jsonl_lines(text.as_bytes(), "h").is_err(), "{text}");
            assert_same(text);
        }
        let e = read_jsonl_compact(
            &b"{\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n\n{\"process\":1,\n"[..],
            "h.jsonl",
        )
        .unwrap_err();
        assert_eq!(e.line(), Some(3));
        assert!(
            e.to_string().starts_with("h.jsonl:3: invalid JSON: "),
            "{e}"
        );
    }

    /// A line for the property test: events of a few processes with keys and values of
    /// every shape, some blank, some bad.
    fn line() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just("null".to_string()),
            (-3i64..1000).prop_map(|v| v.to_string()),
            Just("[1,2]".to_string()),
            Just("[[\"append\",1,2],[\"r\",1,[1,2]]]".to_string()),
            Just("\"s\"".to_string()),
            Just("2.5".to_string()),
            Just("{\"a\":[1]}".to_string()),
        ];
        let key = prop_oneof![
            Just(String::new()),
            Just(r#","key":"k""#.to_string()),
            Just(r#","key":1"#.to_string()),
            Just(r#","key":[1,"k"]"#.to_string()),
            Just(r#","key":null"#.to_string()),
        ];
        let event = (0u8..4, 0u8..5, 0u8..3, key, value).prop_map(|(p, kind, f, key, v)| {
            let kind = ["invoke", "invoke", "ok", "fail", "info"][kind as usize];
            let f = ["read", "write", "cas"][f as usize];
            format!(r#"{{"process":{p},"type":"{kind}","f":"{f}"{key},"value":{v}}}"#)
        });
        prop_oneof![
            20 => event,
            2 => Just(String::new()),
            1 => Just(r#"{"process":"nemesis","type":"info","f":"kill","value":["n1"]}"#.to_string()),
            1 => Just("{\"process\":1,\"value\":[1,".to_string()),
            1 => Just(r#"{"index":3,"process":9,"type":"invoke","f":"read"}"#.to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn compact_reading_equals_value_reading(
            lines in prop::collection::vec(line(), 0..60),
            chunk_bytes in 1usize..300,
            workers in 0usize..3,
        ) {
            let text = lines.join("\n");
            let want = read_jsonl_lines(text.as_bytes(), "h.jsonl").map_err(|e| e.to_string());
            let plan = ChunkPlan { chunk_bytes, workers, inline_below: 0 };
            let got = read_with_plan(text.as_bytes(), "h.jsonl", plan)
                .map(|c| c.to_history())
                .map_err(|e| e.to_string());
            prop_assert_eq!(got, want);
        }
    }
}
