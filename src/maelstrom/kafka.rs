//! Maelstrom's kafka workload's messages (`doc/workloads.md`, "Workload: Kafka"), with the one
//! piece of client state they need: each client's position in each key's log. Pure.
//!
//! | op | request body | ok reply | completion value |
//! |---|---|---|---|
//! | send (key k, value m) | `{"type":"send","key":k,"msg":m}` | `send_ok {offset}` | `[m, offset]` |
//! | poll | `{"type":"poll","offsets":{k: position, ...}}` (every key) | `poll_ok {msgs: {k: [[offset, m], ...]}}` | the `msgs` |
//! | commit_offsets | `{"type":"commit_offsets","offsets":{k: last polled offset}}` | `commit_offsets_ok` | the offsets sent |
//! | list_committed_offsets | `{"type":"list_committed_offsets","keys":[every key]}` | `list_committed_offsets_ok {offsets}` | the `offsets` |
//!
//! A client's position in a key starts at 0 and moves past the last offset each ok poll
//! returned for it. Errors map through [`super::errors`]; `send` and `commit_offsets` have
//! effects (unknown outcome: `info`), polls and lists do not (`fail`).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::errors;
use crate::client::{Completion, Invocation};
use crate::history::Outcome;
use crate::workload::KAFKA_KEYS;

/// One client's positions, and its requests and completions.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KafkaClient {
    /// The next offset to poll, per key.
    positions: BTreeMap<String, i64>,
}

/// Whether op `f` can change the system.
pub fn has_effect(f: &str) -> bool {
    matches!(f, "send" | "commit_offsets")
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl KafkaClient {
    /// The offsets a commit sends: the last offset polled, per key polled.
    fn committed(&self) -> Map<String, Value> {
        self.positions
            .iter()
            .filter(|(_, p)| **p > 0)
            .map(|(k, p)| (k.clone(), json!(p - 1)))
            .collect()
    }

    /// The request body of `op` (without `msg_id`).
    pub fn request(&self, op: &Invocation) -> Result<Map<String, Value>, String> {
        Ok(object(match op.f.as_str() {
            "send" => {
                let key = op.key.clone().ok_or("a send needs a key")?;
                json!({"type": "send", "key": key, "msg": op.value})
            }
            "poll" => {
                let offsets: Map<String, Value> = KAFKA_KEYS
                    .iter()
                    .map(|k| {
                        (
                            k.to_string(),
                            json!(self.positions.get(*k).copied().unwrap_or(0)),
                        )
                    })
                    .collect();
                json!({"type": "poll", "offsets": offsets})
            }
            "commit_offsets" => json!({"type": "commit_offsets", "offsets": self.committed()}),
            "list_committed_offsets" => {
                json!({"type": "list_committed_offsets", "keys": KAFKA_KEYS})
            }
            f => return Err(format!("no Maelstrom kafka message for op {f:?}")),
        }))
    }

    /// The completion of `op` answered with `reply`; an ok poll moves the positions.
    pub fn complete(&mut self, op: &Invocation, reply: &Map<String, Value>) -> Completion {
        let effect = has_effect(&op.f);
        let done = |outcome, value, error: Option<String>| Completion {
            outcome,
            value,
            error,
            node: None,
        };
        let unknown = |why: String| done(errors::no_reply(effect), op.value.clone(), Some(why));
        let kind = reply.get("type").and_then(Value::as_str).unwrap_or("");
        if kind == "error" {
            return match reply.get("code").and_then(Value::as_i64) {
                Some(code) => done(
                    errors::outcome(code, effect),
                    op.value.clone(),
                    Some(errors::describe(
                        code,
                        reply.get("text").and_then(Value::as_str),
                    )),
                ),
                None => unknown(format!("an error reply without an integer code: {reply:?}")),
            };
        }
        let expected = format!("{}_ok", op.f);
        if kind != expected {
            return unknown(format!("expected {expected} or error, got {kind:?}"));
        }
        match op.f.as_str() {
            "send" => match reply.get("offset").and_then(Value::as_i64) {
                Some(offset) => done(Outcome::Ok, json!([op.value, offset]), None),
                None => unknown("send_ok without an integer offset".into()),
            },
            "poll" => {
                let Some(msgs) = reply.get("msgs").and_then(Value::as_object) else {
                    return unknown("poll_ok without msgs".into());
                };
                for (key, entries) in msgs {
                    let last = entries
                        .as_array()
                        .and_then(|e| e.last())
                        .and_then(|e| e.get(0))
                        .and_then(Value::as_i64);
                    if let Some(last) = last {
                        let p = self.positions.entry(key.clone()).or_insert(0);
                        *p = (*p).max(last + 1);
                    }
                }
                done(Outcome::Ok, Value::Object(msgs.clone()), None)
            }
            "commit_offsets" => done(Outcome::Ok, Value::Object(self.committed()), None),
            _ => match reply.get("offsets") {
                Some(offsets @ Value::Object(_)) => done(Outcome::Ok, offsets.clone(), None),
                _ => unknown("list_committed_offsets_ok without offsets".into()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(f: &str, key: Option<&str>, value: Value) -> Invocation {
        Invocation {
            f: f.into(),
            key: key.map(|k| json!(k)),
            value,
        }
    }

    #[test]
    fn requests_and_replies_have_maelstroms_shapes_and_polls_move_on() {
        let mut c = KafkaClient::default();
        let send = inv("send", Some("1"), json!(7));
        assert_eq!(
            Value::Object(c.request(&send).expect("send")),
            json!({"type":"send","key":"1","msg":7})
        );
        let done = c.complete(&send, &object(json!({"type":"send_ok","offset":3})));
        assert_eq!((done.outcome, done.value), (Outcome::Ok, json!([7, 3])));
        let poll = inv("poll", None, Value::Null);
        assert_eq!(
            Value::Object(c.request(&poll).expect("poll")),
            json!({"type":"poll","offsets":{"0":0,"1":0,"2":0}})
        );
        let done = c.complete(
            &poll,
            &object(json!({"type":"poll_ok","msgs":{"1":[[2,5],[3,7]]}})),
        );
        assert_eq!(done.value, json!({"1":[[2,5],[3,7]]}));
        assert_eq!(
            Value::Object(c.request(&poll).expect("poll")),
            json!({"type":"poll","offsets":{"0":0,"1":4,"2":0}})
        );
        let commit = inv("commit_offsets", None, Value::Null);
        assert_eq!(
            Value::Object(c.request(&commit).expect("commit")),
            json!({"type":"commit_offsets","offsets":{"1":3}})
        );
        let done = c.complete(&commit, &object(json!({"type":"commit_offsets_ok"})));
        assert_eq!((done.outcome, done.value), (Outcome::Ok, json!({"1":3})));
        let list = inv("list_committed_offsets", None, Value::Null);
        assert_eq!(
            Value::Object(c.request(&list).expect("list")),
            json!({"type":"list_committed_offsets","keys":["0","1","2"]})
        );
        let done = c.complete(
            &list,
            &object(json!({"type":"list_committed_offsets_ok","offsets":{"1":3}})),
        );
        assert_eq!(done.value, json!({"1":3}));
    }

    #[test]
    fn errors_and_odd_replies_follow_the_error_table() {
        let mut c = KafkaClient::default();
        let send = inv("send", Some("1"), json!(7));
        let poll = inv("poll", None, Value::Null);
        let e = |code| object(json!({"type":"error","code":code}));
        assert_eq!(c.complete(&send, &e(11)).outcome, Outcome::Fail);
        assert_eq!(c.complete(&send, &e(13)).outcome, Outcome::Info);
        assert_eq!(c.complete(&poll, &e(13)).outcome, Outcome::Fail);
        let odd = object(json!({"type":"send_ok"}));
        assert_eq!(c.complete(&send, &odd).outcome, Outcome::Info);
        assert!(c.request(&inv("read", None, Value::Null)).is_err());
        assert!(c.request(&inv("send", None, json!(1))).is_err());
    }
}
