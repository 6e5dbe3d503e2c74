//! JSONL end to end: write -> read is the identity (property test), imported histories
//! convert to JSONL losslessly, and every bad input is reported as `FILE:LINE: reason`.

use std::io::Write;
use std::path::Path;

use faultline::history::{
    read_history, read_history_from, Event, EventType, Format, History, HistoryWriter, Process,
};
use proptest::prelude::*;
use serde_json::{json, Value};

fn to_jsonl<'a>(events: impl IntoIterator<Item = &'a Event>) -> Vec<u8> {
    let mut w = HistoryWriter::new(Vec::new());
    for e in events {
        w.write_event(e).unwrap();
    }
    w.into_inner().unwrap()
}

fn from_jsonl(bytes: &[u8]) -> History {
    let (h, format, _) = read_history_from(bytes, "mem", Some(Format::Jsonl))
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(bytes)));
    assert_eq!(format, Format::Jsonl);
    h
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z\"\\\\]{0,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One generator step: who acts, and with what, if it is their turn to invoke or complete.
#[derive(Debug, Clone)]
struct Step {
    who: u8,
    completion: u8,
    f: u8,
    key: Option<Value>,
    value: Value,
    node: Option<String>,
    error: Option<Value>,
    dt: u64,
    gap: u64,
    explicit_index: bool,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0u8..6,
        0u8..3,
        0u8..4,
        prop::option::of(prop_oneof![
            "[a-z]{1,3}".prop_map(Value::from),
            any::<u16>().prop_map(Value::from)
        ]),
        json_value(),
        prop::option::of("n[1-5]"),
        prop::option::of(json_value().prop_filter("not null", |v| !v.is_null())),
        0u64..1_000_000,
        1u64..4,
        any::<bool>(),
    )
        .prop_map(
            |(who, completion, f, key, value, node, error, dt, gap, explicit_index)| Step {
                who,
                completion,
                f,
                key,
                value,
                node,
                error,
                dt,
                gap,
                explicit_index,
            },
        )
}

/// Turns steps into a well-formed event sequence (processes 0-4, 5 = nemesis).
fn events_from(steps: &[Step]) -> Vec<Event> {
    const FS: [&str; 4] = ["read", "write", "cas", "txn"];
    let mut open: [Option<(String, Option<Value>)>; 5] = Default::default();
    let mut events = Vec::new();
    let (mut index, mut time) = (0u64, 0u64);
    let mut all_explicit = true;
    for s in steps {
        all_explicit &= s.explicit_index;
    }
    for s in steps {
        time += s.dt;
        let (process, kind, f, key, node, error) = if s.who == 5 {
            let kind = if s.completion == 0 {
                EventType::Invoke
            } else {
                EventType::Info
            };
            (
                Process::Nemesis,
                kind,
                "partition".to_string(),
                None,
                s.node.clone(),
                s.error.clone(),
            )
        } else {
            let p = usize::from(s.who);
            match open[p].take() {
                None => {
                    let f = FS[usize::from(s.f)].to_string();
                    open[p] = Some((f.clone(), s.key.clone()));
                    (
                        Process::Client(u64::from(s.who)),
                        EventType::Invoke,
                        f,
                        s.key.clone(),
                        None,
                        None,
                    )
                }
                Some((f, key)) => {
                    let kind = [EventType::Ok, EventType::Fail, EventType::Info]
                        [usize::from(s.completion)];
                    (
                        Process::Client(u64::from(s.who)),
                        kind,
                        f,
                        key,
                        s.node.clone(),
                        s.error.clone(),
                    )
                }
            }
        };
        events.push(Event {
            index,
            time,
            process,
            kind,
            f,
            key,
            value: s.value.clone(),
            node,
            error,
        });
        // Explicit indices may leave gaps; implicit ones are positions.
        index += if all_explicit { s.gap } else { 1 };
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed), ..ProptestConfig::default() })]

    /// Events written and read back come out of `History::events` unchanged, and a history
    /// written and read back is the same history.
    #[test]
    fn jsonl_round_trip_is_identity(steps in prop::collection::vec(step(), 0..40)) {
        let events = events_from(&steps);
        let h = from_jsonl(&to_jsonl(&events));
        prop_assert_eq!(h.event_count as usize, events.len());
        let back: Vec<Event> = h.events().collect();
        prop_assert_eq!(&back, &events);

        let mut w = HistoryWriter::new(Vec::new());
        w.write_history(&h).unwrap();
        let again = from_jsonl(&w.into_inner().unwrap());
        prop_assert_eq!(again, h);
    }
}

fn corpus(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(rel)
}

#[test]
fn imported_histories_convert_to_jsonl_losslessly() {
    for (rel, format) in [
        ("knossos/cas-register/bad/cas-failure.edn", Format::Edn),
        (
            "knossos/multi-register/good/multi-register.edn",
            Format::Edn,
        ),
        ("knossos/mutex/bad/etcd.edn", Format::Edn),
        ("elle/huge-scc.edn", Format::Edn),
        ("porcupine/jepsen/etcd_002.log", Format::PorcupineEtcd),
        ("porcupine/kv/c10-ok.txt", Format::PorcupineKv),
    ] {
        let (h, _, _) = read_history(&corpus(rel), Some(format)).unwrap();
        let mut w = HistoryWriter::new(Vec::new());
        w.write_history(&h).unwrap();
        let bytes = w.into_inner().unwrap();
        assert_eq!(
            bytes.iter().filter(|&&b| b == b'\n').count() as u64,
            h.event_count,
            "{rel}"
        );
        let (back, guessed_format, guessed) = read_history_from(&bytes[..], rel, None).unwrap();
        assert_eq!((guessed_format, guessed), (Format::Jsonl, true));
        assert_eq!(back, h, "{rel}");
    }
}

/// Writes `text` to a temporary file and returns the error reading it gives.
fn file_error(text: &str) -> (String, String) {
    let mut f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let name = f.path().display().to_string();
    let e = read_history(f.path(), Some(Format::Jsonl)).unwrap_err();
    (name, e.to_string())
}

#[test]
fn bad_jsonl_inputs_name_file_line_and_reason() {
    let invoke = r#"{"index":0,"time":1,"process":1,"type":"invoke","f":"read","value":null}"#;
    let cases: &[(&str, u64, &str)] = &[
        (
            "{\"index\":0,",
            1,
            "invalid JSON: EOF while parsing a value",
        ),
        ("\n\n@not json\n", 3, "invalid JSON: expected value"),
        (
            r#"{"process":0,"f":"read"}"#,
            1,
            "missing required field \"type\"",
        ),
        (
            r#"{"process":0,"type":"okay","f":"read"}"#,
            1,
            "\"type\" must be invoke, ok, fail or info, got \"okay\"",
        ),
        (
            r#"{"process":"p","type":"ok","f":"read"}"#,
            1,
            "\"process\" must be a non-negative integer or \"nemesis\", got \"p\"",
        ),
        (
            r#"{"process":7,"type":"ok","f":"read","value":1}"#,
            1,
            "ok by process 7 (f \"read\") has no matching invoke",
        ),
        (
            &format!(
                "{invoke}\n{}",
                r#"{"index":1,"process":1,"type":"invoke","f":"write","value":2}"#
            ),
            2,
            "process 1 invokes \"write\" while its invoke of \"read\" at line 1 has not completed",
        ),
        (
            &format!(
                "{invoke}\n{}",
                r#"{"index":1,"process":1,"type":"ok","f":"write","value":2}"#
            ),
            2,
            "ok by process 1 has f \"write\", but its invoke at line 1 has f \"read\"",
        ),
        (
            &format!("{invoke}\n{invoke}"),
            2,
            "index 0 is not greater than the previous event's index 0",
        ),
    ];
    for (text, line, reason) in cases {
        let (name, msg) = file_error(text);
        let prefix = format!("{name}:{line}: {reason}");
        assert!(msg.starts_with(&prefix), "got {msg:?}, want {prefix:?}");
    }
}

#[test]
fn missing_file_names_the_file() {
    let e = read_history(Path::new("/no/such/history.jsonl"), None).unwrap_err();
    assert!(e.to_string().starts_with("/no/such/history.jsonl: "), "{e}");
}

/// A synthetic history of `ops` ops over 64 processes and 1,000 keys, 5% never completed.
fn big_history_jsonl(ops: u64) -> Vec<u8> {
    let mut w = HistoryWriter::new(Vec::with_capacity((ops * 200) as usize));
    let mut index = 0;
    let mut pending: Vec<Option<Event>> = vec![None; 64];
    // A process whose op never completes continues under a new id, as in Jepsen.
    let mut incarnation = [0u64; 64];
    for i in 0..ops {
        let p = (i * 7919) % 64;
        if let Some(done) = pending[p as usize].take() {
            w.write_event(&Event { index, ..done }).unwrap();
            index += 1;
        }
        let key = Some(json!(format!("k{}", (i * 31) % 1000)));
        let (f, value) = if i % 2 == 0 {
            ("read", Value::Null)
        } else {
            ("write", json!(i))
        };
        let invoke = Event {
            index,
            time: index * 1000,
            process: Process::Client(p + 64 * incarnation[p as usize]),
            kind: EventType::Invoke,
            f: f.to_string(),
            key,
            value,
            node: None,
            error: None,
        };
        w.write_event(&invoke).unwrap();
        index += 1;
        if i % 20 != 0 {
            pending[p as usize] = Some(Event {
                kind: EventType::Ok,
                value: json!(i),
                ..invoke
            });
        } else {
            incarnation[p as usize] += 1;
        }
    }
    for done in pending.into_iter().flatten() {
        w.write_event(&Event { index, ..done }).unwrap();
        index += 1;
    }
    w.into_inner().unwrap()
}

#[test]
fn a_generated_large_history_parses() {
    let bytes = big_history_jsonl(20_000);
    let h = from_jsonl(&bytes);
    assert_eq!(h.ops.len(), 20_000);
}
