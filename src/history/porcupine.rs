//! Imports Porcupine's test logs (tests/corpus/porcupine/EXPECTED.md describes them).
//!
//! Both have no timestamps: time is line order, so an event's `time` is its 0-based line
//! number and its `index` its position among the events. Blank lines are skipped.
//!
//! - etcd (`jepsen/etcd_NNN.log`): `INFO jepsen.util - P TYPE F VALUE`, fields split on any
//!   run of whitespace, the value being the rest of the line in EDN (`nil`, `3`, `[1 2]`,
//!   `:timed-out`). `:info :write :timed-out` becomes an `info` op whose invoke value is the
//!   written value and whose completion value is `"timed-out"`; `:fail :cas [a b]` and
//!   `:fail :read :timed-out` become `fail` ops. What a failed cas means is the checker's
//!   etcd model's business.
//! - kv (`kv/cNN-*.txt`): one EDN map per line,
//!   `{:process P, :type T, :f F, :key "K", :value V}`, with `:get` read as `read`, `:put`
//!   as `write` and `:append` as `append`; the key becomes the op's key.

use std::borrow::Cow;
use std::io::BufRead;

use super::compact::CompactHistory;
use super::edn::parse_str;
use super::error::{HistoryError, Reason};
use super::jepsen::{op_event, quote};
use super::pair::{Pairer, RawEvent};
use super::sink::EdnSink;
use super::{EventType, History, Process};

/// Reads Porcupine's Jepsen etcd log format; `source` names it in errors.
pub fn read_etcd<R: BufRead>(reader: R, source: &str) -> Result<History, HistoryError> {
    read_lines(reader, source, Pairer::new(), etcd_event)
}

/// [`read_etcd`] straight into a [`CompactHistory`]: the same history and errors.
pub fn read_etcd_compact<R: BufRead>(
    reader: R,
    source: &str,
) -> Result<CompactHistory, HistoryError> {
    read_lines(reader, source, compact(), etcd_event)
}

/// Reads Porcupine's kv log format; `source` names it in errors.
pub fn read_kv<R: BufRead>(reader: R, source: &str) -> Result<History, HistoryError> {
    read_lines(reader, source, Pairer::new(), kv_event)
}

/// [`read_kv`] straight into a [`CompactHistory`]: the same history and errors.
pub fn read_kv_compact<R: BufRead>(
    reader: R,
    source: &str,
) -> Result<CompactHistory, HistoryError> {
    read_lines(reader, source, compact(), kv_event)
}

fn compact() -> Pairer<CompactHistory> {
    Pairer::with_store(CompactHistory::default())
}

/// Feeds each non-blank line through `parse` (values into `sink`), stamps it with its time
/// (its 0-based line number), then pairs it.
fn read_lines<R: BufRead, S: EdnSink>(
    mut reader: R,
    source: &str,
    mut sink: S,
    parse: impl Fn(&str, &mut S) -> Result<RawEvent<'static, S::V>, Reason>,
) -> Result<S::Out, HistoryError> {
    let mut buf = String::new();
    let mut line: u64 = 0;
    loop {
        buf.clear();
        let n = reader
            .read_line(&mut buf)
            .map_err(|error| HistoryError::Io {
                file: source.to_string(),
                error,
            })?;
        if n == 0 {
            break;
        }
        line += 1;
        let text = buf.trim();
        if text.is_empty() {
            continue;
        }
        let invalid = |reason| HistoryError::Invalid {
            file: source.to_string(),
            line,
            reason,
        };
        let mut event = parse(text, &mut sink).map_err(invalid)?;
        event.time = line - 1;
        sink.event(event, line).map_err(invalid)?;
    }
    Ok(sink.finish())
}

/// The next whitespace-separated field and the rest of the line after it.
fn field(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    Some((&text[..end], &text[end..]))
}

/// Parses one etcd log line, its value stored by `sink`.
fn etcd_event<S: EdnSink>(text: &str, sink: &mut S) -> Result<RawEvent<'static, S::V>, Reason> {
    let shape = || {
        Reason::Syntax(format!(
            "expected `INFO jepsen.util - PROCESS :TYPE :F VALUE`, got {text:?}"
        ))
    };
    let (info, rest) = field(text).ok_or_else(shape)?;
    let (logger, rest) = field(rest).ok_or_else(shape)?;
    let (dash, rest) = field(rest).ok_or_else(shape)?;
    if info != "INFO" || logger != "jepsen.util" || dash != "-" {
        return Err(shape());
    }
    let (process, rest) = field(rest).ok_or_else(shape)?;
    let (kind, rest) = field(rest).ok_or_else(shape)?;
    let (f, rest) = field(rest).ok_or_else(shape)?;
    let value_text = rest.trim();
    if value_text.is_empty() {
        return Err(shape());
    }
    let process = match process {
        ":nemesis" => Process::Nemesis,
        p => Process::Client(p.parse().map_err(|_| Reason::InvalidField {
            field: "process",
            expected: "a non-negative integer or :nemesis",
            got: format!("{p:?}"),
        })?),
    };
    let kind = kind
        .strip_prefix(':')
        .and_then(EventType::from_name)
        .ok_or_else(|| Reason::InvalidField {
            field: "type",
            expected: ":invoke, :ok, :fail or :info",
            got: format!("{kind:?}"),
        })?;
    let f = f
        .strip_prefix(':')
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Reason::InvalidField {
            field: "f",
            expected: "a keyword such as :read",
            got: format!("{f:?}"),
        })?;
    let value = parse_str(value_text)
        .map_err(|e| Reason::Edn(format!("in value {value_text:?}: {}", e.message)))?;
    let value = sink.value(&value);
    Ok(RawEvent {
        index: None,
        time: 0,
        process,
        kind,
        f: Cow::Owned(f.to_string()),
        key: None,
        value,
        node: None,
        error: None,
    })
}

/// Parses one kv log line, its values stored by `sink`.
fn kv_event<S: EdnSink>(text: &str, sink: &mut S) -> Result<RawEvent<'static, S::V>, Reason> {
    let form = parse_str(text).map_err(|e| Reason::Edn(e.message))?;
    let mut event = op_event(&form, sink)?;
    event.f = Cow::Borrowed(match event.f.as_ref() {
        "get" => "read",
        "put" => "write",
        "append" => "append",
        _ => {
            return Err(Reason::InvalidField {
                field: ":f",
                expected: ":get, :put or :append",
                got: form.get("f").map_or_else(String::new, quote),
            })
        }
    });
    if event.key.is_none() {
        return Err(Reason::MissingField(":key"));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::sink::assert_same_reading;
    use crate::history::Outcome;
    use serde_json::{json, Value};

    /// [`super::read_etcd`], checked against [`read_etcd_compact`].
    fn read_etcd(input: &[u8], source: &str) -> Result<History, HistoryError> {
        assert_same_reading(
            super::read_etcd(input, source),
            read_etcd_compact(input, source),
            &String::from_utf8_lossy(input),
        )
    }

    /// [`super::read_kv`], checked against [`read_kv_compact`].
    fn read_kv(input: &[u8], source: &str) -> Result<History, HistoryError> {
        assert_same_reading(
            super::read_kv(input, source),
            read_kv_compact(input, source),
            &String::from_utf8_lossy(input),
        )
    }

    #[test]
    fn etcd_lines_with_tabs_or_spaces() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 4\t:invoke\t:cas\t[4 0]\n\
                    INFO  jepsen.util - 1    :invoke  :write  3\n\
                    \n\
                    INFO  jepsen.util - 4\t:fail\t:cas\t[4 0]\n\
                    INFO  jepsen.util - 0\t:ok\t:read\tnil\n\
                    INFO  jepsen.util - 1    :info    :write  :timed-out\n";
        let h = read_etcd(text.as_bytes(), "e.log").unwrap();
        assert_eq!(h.event_count, 6);
        assert_eq!(h.ops.len(), 3);
        let (read, cas, write) = (&h.ops[0], &h.ops[1], &h.ops[2]);
        assert_eq!((read.outcome, &read.value), (Outcome::Ok, &Value::Null));
        assert_eq!((read.invoke_time, read.complete_time), (0, Some(5)));
        assert_eq!((read.invoke_index, read.complete_index), (0, Some(4)));
        assert_eq!(
            (cas.outcome, &cas.invoke_value),
            (Outcome::Fail, &json!([4, 0]))
        );
        assert_eq!(write.outcome, Outcome::Info);
        assert_eq!(write.invoke_value, json!(3));
        assert_eq!(write.value, json!("timed-out"));
        assert_eq!(write.complete_time, Some(6));
    }

    #[test]
    fn etcd_errors_name_line_and_reason() {
        let e = read_etcd(
            &b"INFO jepsen.util - 0 :invoke :read nil\nWARN something else\n"[..],
            "e.log",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "e.log:2: expected `INFO jepsen.util - PROCESS :TYPE :F VALUE`, got \"WARN something else\""
        );
        let e = read_etcd(&b"INFO jepsen.util - x :invoke :read nil\n"[..], "e.log")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "e.log:1: process must be a non-negative integer or :nemesis, got \"x\""
        );
        let e = read_etcd(&b"INFO jepsen.util - 1 :done :read nil\n"[..], "e.log")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "e.log:1: type must be :invoke, :ok, :fail or :info, got \":done\""
        );
        let e = read_etcd(&b"INFO jepsen.util - 1 :invoke :cas [1 2\n"[..], "e.log")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("e.log:1: invalid EDN: in value \"[1 2\""),
            "{e}"
        );
        let e = read_etcd(&b"INFO jepsen.util - 1 :ok :read 1\n"[..], "e.log")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "e.log:1: ok by process 1 (f \"read\") has no matching invoke"
        );
    }

    #[test]
    fn etcd_nemesis_lines_are_nemesis_events() {
        let text = "INFO jepsen.util - :nemesis :info :start nil\n\
                    INFO jepsen.util - 0 :invoke :read nil\n";
        let h = read_etcd(text.as_bytes(), "e.log").unwrap();
        assert_eq!(h.nemesis.len(), 1);
        assert_eq!((h.nemesis[0].f.as_str(), h.nemesis[0].time), ("start", 0));
        assert_eq!((h.ops[0].invoke_index, h.ops[0].invoke_time), (1, 1));
    }

    #[test]
    fn empty_etcd_log_is_an_empty_history() {
        let h = read_etcd(&b""[..], "e.log").unwrap();
        assert_eq!(h, History::default());
    }

    #[test]
    fn kv_lines_map_functions_and_keys() {
        let text = concat!(
            "{:process 9, :type :invoke, :f :append, :key \"0\", :value \"x 9 0 y\"}\n",
            "{:process 1, :type :invoke, :f :get, :key \"9\", :value nil}\n",
            "{:process 9, :type :ok, :f :append, :key \"0\", :value \"x 9 0 y\"}\n",
            "{:process 1, :type :ok, :f :get, :key \"9\", :value \"\"}\n",
            "{:process 2, :type :invoke, :f :put, :key \"3\", :value \"a\"}\n",
        );
        let h = read_kv(text.as_bytes(), "k.txt").unwrap();
        let fs: Vec<&str> = h.ops.iter().map(|o| o.f.as_str()).collect();
        assert_eq!(fs, ["append", "read", "write"]);
        assert_eq!(h.ops[1].key, Some(json!("9")));
        assert_eq!(h.ops[1].value, json!(""));
        assert_eq!(h.ops[1].complete_time, Some(3));
        assert_eq!(h.ops[2].outcome, Outcome::Info);
    }

    #[test]
    fn kv_errors_name_line_and_reason() {
        let e = read_kv(
            &b"{:process 1, :type :invoke, :f :cas, :key \"1\", :value nil}\n"[..],
            "k.txt",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "k.txt:1: :f must be :get, :put or :append, got :cas");
        let e = read_kv(
            &b"\n{:process 1, :type :invoke, :f :get, :value nil}\n"[..],
            "k.txt",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "k.txt:2: missing required field :key");
        let e = read_kv(&b"{:process 1, :type :invoke"[..], "k.txt")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "k.txt:1: invalid EDN: '{' opened at line 1 is never closed"
        );
    }
}
