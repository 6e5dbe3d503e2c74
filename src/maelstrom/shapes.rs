//! Each workload's messages, as Maelstrom's workload documentation (`doc/workloads.md` in
//! jepsen-io/maelstrom) shapes them, and how a reply becomes a completion. Pure.
//!
//! | faultline profile | op | request body | ok reply |
//! |---|---|---|---|
//! | register (`lin-kv`) | read | `{"type":"read","key":k}` | `read_ok` `value` (error 20: ok, `null`) |
//! | | write | `{"type":"write","key":k,"value":v}` | `write_ok` |
//! | | cas | `{"type":"cas","key":k,"from":a,"to":b}` | `cas_ok` |
//! | set (`g-set`) | add | `{"type":"add","element":e}` | `add_ok` |
//! | | read | `{"type":"read"}` | `read_ok` `value` (a list) |
//! | counter (`g-counter`, `pn-counter`) | add | `{"type":"add","delta":d}` | `add_ok` |
//! | | read | `{"type":"read"}` | `read_ok` `value` (an integer) |
//! | unique-ids | generate | `{"type":"generate"}` | `generate_ok` `id` |
//! | set (`broadcast`) | add | `{"type":"broadcast","message":m}` | `broadcast_ok` |
//! | | read | `{"type":"read"}` | `read_ok` `messages` (a list) |
//! | unique-ids (`echo`) | generate | `{"type":"echo","echo":p}` (`p` unique: the client and `msg_id`) | `echo_ok` `echo` (the op's id: a wrong echo repeats some other op's) |
//! | txn (`txn-list-append`, `txn-rw-register`) | txn | `{"type":"txn","txn":[["r",k,null],["append",k,v],["w",k,v]]}` | `txn_ok` `txn` (the same micro-ops, reads filled in) |
//!
//! Transaction keys are the workload's decimal strings sent as integers, as Maelstrom's own
//! txn workloads send them; a `txn_ok` is mapped back onto the invocation's micro-ops (its
//! keys, its writes), taking only each read's value from the reply, and a reply whose
//! micro-ops do not match the request's (count, function, key) is an unknown outcome.
//!
//! An `error` reply maps through [`super::errors`]; a reply of any other type, or an ok reply
//! without the field the op needs, is an unknown outcome (`info` for an op with an effect).

use serde_json::{json, Map, Value};

use super::errors;
use crate::client::{Completion, Invocation, Profile};
use crate::history::Outcome;

/// The message family of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Maelstrom's `lin-kv`: read, write, cas on keys.
    LinKv,
    /// Maelstrom's `g-set`: add, read.
    GSet,
    /// Maelstrom's `g-counter` and `pn-counter`: add, read.
    Counter,
    /// Maelstrom's `unique-ids`: generate.
    UniqueIds,
    /// Maelstrom's `txn-list-append` and `txn-rw-register`: txn.
    Txn,
    /// Maelstrom's `broadcast`: a set whose adds are `broadcast` and whose reads answer
    /// `messages`.
    Broadcast,
    /// Maelstrom's `echo`: each request carries a unique payload that must come back; the
    /// echoed payloads are checked as unique ids.
    Echo,
    /// Maelstrom's `kafka`: its messages and client state are in [`super::kafka`].
    Kafka,
}

impl Shape {
    /// The shape of a workload whose ops go through `profile` (`None`: registers); the
    /// profiles Maelstrom has no messages for here are refused, naming them.
    pub fn for_profile(profile: Option<Profile>) -> Result<Shape, String> {
        match profile {
            None => Ok(Shape::LinKv),
            Some(Profile::Set) => Ok(Shape::GSet),
            Some(Profile::Counter) => Ok(Shape::Counter),
            Some(Profile::UniqueIds) => Ok(Shape::UniqueIds),
            Some(Profile::Txn) => Ok(Shape::Txn),
            Some(Profile::Kafka) => Ok(Shape::Kafka),
            Some(p) => Err(format!(
                "--target maelstrom has no message shapes for {p} workloads yet (it runs register/lin-kv, set/g-set, counter/g-counter/pn-counter, unique-ids and list-append/rw-register (txn-list-append, txn-rw-register) workloads)"
            )),
        }
    }

    /// Whether op `f` can change the system (then an unknown outcome is `info`).
    pub fn has_effect(self, f: &str) -> bool {
        match self {
            Shape::Kafka => super::kafka::has_effect(f),
            _ => f != "read",
        }
    }

    /// The request body of `op` (without `msg_id`); an op this shape has no message for is
    /// an error (the op then fails, unsent).
    pub fn request(self, op: &Invocation) -> Result<Map<String, Value>, String> {
        let key = op.key.clone().unwrap_or_else(|| json!(0));
        let body = match (self, op.f.as_str()) {
            (Shape::LinKv, "read") => json!({"type": "read", "key": key}),
            (Shape::LinKv, "write") => json!({"type": "write", "key": key, "value": op.value}),
            (Shape::LinKv, "cas") => match op.value.as_array().map(Vec::as_slice) {
                Some([from, to]) => json!({"type": "cas", "key": key, "from": from, "to": to}),
                _ => return Err(format!("a cas needs [from, to], got {}", op.value)),
            },
            (Shape::GSet, "add") => json!({"type": "add", "element": op.value}),
            (Shape::Counter, "add") => json!({"type": "add", "delta": op.value}),
            (Shape::GSet | Shape::Counter, "read") => json!({"type": "read"}),
            (Shape::UniqueIds, "generate") => json!({"type": "generate"}),
            (Shape::Broadcast, "add") => json!({"type": "broadcast", "message": op.value}),
            (Shape::Broadcast, "read") => json!({"type": "read"}),
            // The client adds the payload, which names the request (see `echo_payload`).
            (Shape::Echo, "generate") => json!({"type": "echo"}),
            (Shape::Txn, "txn") => json!({"type": "txn", "txn": txn_request(&op.value)?}),
            (_, f) => return Err(format!("no Maelstrom message for op {f:?} in {self:?}")),
        };
        match body {
            Value::Object(m) => Ok(m),
            _ => Err("internal: a body is always an object".into()),
        }
    }

    /// The completion of `op` answered with `reply` (the reply's body).
    pub fn complete(self, op: &Invocation, reply: &Map<String, Value>) -> Completion {
        let effect = self.has_effect(&op.f);
        let kind = reply.get("type").and_then(Value::as_str).unwrap_or("");
        let done = |outcome, value, error: Option<String>| Completion {
            outcome,
            value,
            error,
            node: None,
        };
        if kind == "error" {
            let code = reply.get("code").and_then(Value::as_i64);
            let text = reply.get("text").and_then(Value::as_str);
            return match code {
                Some(errors::KEY_DOES_NOT_EXIST) if self == Shape::LinKv && op.f == "read" => {
                    done(Outcome::Ok, Value::Null, None)
                }
                Some(code) => done(
                    errors::outcome(code, effect),
                    op.value.clone(),
                    Some(errors::describe(code, text)),
                ),
                None => done(
                    errors::no_reply(effect),
                    op.value.clone(),
                    Some(format!("an error reply without an integer code: {reply:?}")),
                ),
            };
        }
        let expected = match (self, op.f.as_str()) {
            (Shape::Broadcast, "add") => "broadcast_ok".to_owned(),
            (Shape::Echo, _) => "echo_ok".to_owned(),
            (_, f) => format!("{f}_ok"),
        };
        if kind != expected {
            return done(
                errors::no_reply(effect),
                op.value.clone(),
                Some(format!(
                    "expected {expected} or error, got {:?}",
                    Value::Object(reply.clone()).to_string()
                )),
            );
        }
        if self == Shape::Txn {
            return match txn_reply(&op.value, reply.get("txn")) {
                Ok(value) => done(Outcome::Ok, value, None),
                Err(e) => done(errors::no_reply(effect), op.value.clone(), Some(e)),
            };
        }
        let field = match (self, op.f.as_str()) {
            (Shape::Broadcast, "read") => Some("messages"),
            (_, "read") => Some("value"),
            (Shape::UniqueIds, "generate") => Some("id"),
            (Shape::Echo, _) => Some("echo"),
            _ => None,
        };
        match field {
            None => done(Outcome::Ok, op.value.clone(), None),
            Some(name) => match reply.get(name) {
                Some(v) if op.f == "read" || !v.is_null() => done(Outcome::Ok, v.clone(), None),
                _ => done(
                    errors::no_reply(effect),
                    op.value.clone(),
                    Some(format!("{expected} without {name:?}")),
                ),
            },
        }
    }
}

/// The payload of echo request `msg_id` from `client`: unique in the run, so an echo that
/// is not its own request's shows up as an id handed out twice.
pub fn echo_payload(client: &str, msg_id: u64) -> Value {
    json!(format!("{client} #{msg_id}"))
}

/// A key as Maelstrom's txn workloads send it: an integer when the workload's key is a
/// decimal string.
fn wire_key(key: &Value) -> Value {
    match key.as_str().and_then(|k| k.parse::<i64>().ok()) {
        Some(n) => json!(n),
        None => key.clone(),
    }
}

/// A transaction's micro-ops (`[f, k, v]`) with wire keys.
fn txn_request(ops: &Value) -> Result<Value, String> {
    let ops = ops
        .as_array()
        .ok_or_else(|| format!("a txn needs a list of micro-ops, got {ops}"))?;
    ops.iter()
        .map(|m| match m.as_array().map(Vec::as_slice) {
            Some([f, k, v]) => Ok(json!([f, wire_key(k), v])),
            _ => Err(format!("a micro-op is [f, key, value], got {m}")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// The invocation's micro-ops `invoked` with each read's value taken from the reply's
/// `txn`; an error when the reply's micro-ops are not the request's.
fn txn_reply(invoked: &Value, reply: Option<&Value>) -> Result<Value, String> {
    let (Some(invoked), Some(got)) = (invoked.as_array(), reply.and_then(Value::as_array)) else {
        return Err("txn_ok without a \"txn\" list".into());
    };
    if invoked.len() != got.len() {
        return Err(format!(
            "txn_ok has {} micro-ops for a txn of {}",
            got.len(),
            invoked.len()
        ));
    }
    invoked
        .iter()
        .zip(got)
        .map(|(mine, theirs)| {
            let (Some([f, k, v]), Some([gf, gk, gv])) = (
                mine.as_array().map(Vec::as_slice),
                theirs.as_array().map(Vec::as_slice),
            ) else {
                return Err(format!("txn_ok micro-op {theirs} is not [f, key, value]"));
            };
            if f != gf || wire_key(k) != wire_key(gk) {
                return Err(format!(
                    "txn_ok micro-op {theirs} does not answer {}",
                    json!([f, wire_key(k), v])
                ));
            }
            Ok(if f == "r" {
                json!([f, k, gv])
            } else {
                mine.clone()
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(f: &str, key: Option<Value>, value: Value) -> Invocation {
        Invocation {
            f: f.into(),
            key,
            value,
        }
    }

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn lin_kv_requests_have_maelstroms_shapes() {
        let s = Shape::LinKv;
        let req = |op| Value::Object(s.request(&op).expect("request"));
        assert_eq!(
            req(inv("read", Some(json!(3)), Value::Null)),
            json!({"type":"read","key":3})
        );
        assert_eq!(
            req(inv("write", Some(json!(3)), json!(5))),
            json!({"type":"write","key":3,"value":5})
        );
        assert_eq!(
            req(inv("cas", None, json!([1, 2]))),
            json!({"type":"cas","key":0,"from":1,"to":2})
        );
        assert!(s.request(&inv("cas", None, json!(1))).is_err());
        assert!(s.request(&inv("add", None, json!(1))).is_err());
    }

    #[test]
    fn lin_kv_replies_become_completions() {
        let s = Shape::LinKv;
        let read = inv("read", Some(json!(1)), Value::Null);
        let cas = inv("cas", Some(json!(1)), json!([1, 2]));
        let write = inv("write", Some(json!(1)), json!(7));
        let c = s.complete(&read, &body(json!({"type":"read_ok","value":4})));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(4)));
        let c = s.complete(&read, &body(json!({"type":"error","code":20})));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, Value::Null));
        let c = s.complete(&cas, &body(json!({"type":"error","code":20})));
        assert_eq!(c.outcome, Outcome::Fail);
        let c = s.complete(&cas, &body(json!({"type":"error","code":22,"text":"no"})));
        assert_eq!(c.outcome, Outcome::Fail);
        assert_eq!(
            c.error.as_deref(),
            Some("error 22 (precondition-failed): no")
        );
        let c = s.complete(&cas, &body(json!({"type":"error","code":13})));
        assert_eq!(c.outcome, Outcome::Info);
        let c = s.complete(&read, &body(json!({"type":"error","code":0})));
        assert_eq!(c.outcome, Outcome::Fail);
        let c = s.complete(&write, &body(json!({"type":"write_ok"})));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(7)));
        let c = s.complete(&write, &body(json!({"type":"read_ok"})));
        assert_eq!(c.outcome, Outcome::Info);
        let c = s.complete(&write, &body(json!({"type":"error"})));
        assert_eq!(c.outcome, Outcome::Info);
    }

    #[test]
    fn set_counter_and_id_messages() {
        let add = inv("add", None, json!(9));
        let read = inv("read", None, Value::Null);
        let gen = inv("generate", None, Value::Null);
        assert_eq!(
            Value::Object(Shape::GSet.request(&add).expect("add")),
            json!({"type":"add","element":9})
        );
        assert_eq!(
            Value::Object(Shape::Counter.request(&add).expect("add")),
            json!({"type":"add","delta":9})
        );
        assert_eq!(
            Value::Object(Shape::UniqueIds.request(&gen).expect("generate")),
            json!({"type":"generate"})
        );
        let c = Shape::GSet.complete(&read, &body(json!({"type":"read_ok","value":[1,2]})));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!([1, 2])));
        let c = Shape::UniqueIds.complete(&gen, &body(json!({"type":"generate_ok","id":"a"})));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!("a")));
        let c = Shape::UniqueIds.complete(&gen, &body(json!({"type":"generate_ok"})));
        assert_eq!(c.outcome, Outcome::Info);
        let c = Shape::Counter.complete(&add, &body(json!({"type":"error","code":11})));
        assert_eq!(c.outcome, Outcome::Fail);
    }

    #[test]
    fn txn_messages_use_integer_keys_and_replies_fill_in_reads() {
        let op = inv(
            "txn",
            None,
            json!([["r", "3", null], ["append", "3", 1], ["w", "x", 2]]),
        );
        assert_eq!(
            Value::Object(Shape::Txn.request(&op).expect("txn")),
            json!({"type":"txn","txn":[["r",3,null],["append",3,1],["w","x",2]]})
        );
        let c = Shape::Txn.complete(
            &op,
            &body(json!({"type":"txn_ok","txn":[["r",3,[1,2]],["append",3,1],["w","x",2]]})),
        );
        assert_eq!(c.outcome, Outcome::Ok);
        assert_eq!(
            c.value,
            json!([["r", "3", [1, 2]], ["append", "3", 1], ["w", "x", 2]])
        );
        for bad in [
            json!({"type":"txn_ok"}),
            json!({"type":"txn_ok","txn":[["r",3,null]]}),
            json!({"type":"txn_ok","txn":[["r",4,null],["append",3,1],["w","x",2]]}),
            json!({"type":"txn_ok","txn":[["w",3,null],["append",3,1],["w","x",2]]}),
        ] {
            let c = Shape::Txn.complete(&op, &body(bad.clone()));
            assert_eq!(c.outcome, Outcome::Info, "{bad}");
            assert_eq!(c.value, op.value);
        }
        let c = Shape::Txn.complete(&op, &body(json!({"type":"error","code":30})));
        assert_eq!(c.outcome, Outcome::Fail);
        let c = Shape::Txn.complete(&op, &body(json!({"type":"error","code":13})));
        assert_eq!(c.outcome, Outcome::Info);
        assert!(Shape::Txn
            .request(&inv("txn", None, json!([["r", 1]])))
            .is_err());
    }

    #[test]
    fn broadcast_and_echo_messages() {
        let add = inv("add", None, json!(4));
        let read = inv("read", None, Value::Null);
        let gen = inv("generate", None, Value::Null);
        let b = Shape::Broadcast;
        assert_eq!(
            Value::Object(b.request(&add).expect("add")),
            json!({"type":"broadcast","message":4})
        );
        assert_eq!(
            b.complete(&add, &body(json!({"type":"broadcast_ok"})))
                .outcome,
            Outcome::Ok
        );
        assert_eq!(
            b.complete(&add, &body(json!({"type":"add_ok"}))).outcome,
            Outcome::Info
        );
        let c = b.complete(&read, &body(json!({"type":"read_ok","messages":[4,1]})));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!([4, 1])));
        let c = b.complete(&read, &body(json!({"type":"read_ok","value":[4]})));
        assert_eq!(c.outcome, Outcome::Fail, "a read_ok without messages");
        assert_eq!(
            Value::Object(Shape::Echo.request(&gen).expect("echo")),
            json!({"type":"echo"})
        );
        assert_eq!(echo_payload("c2", 7), json!("c2 #7"));
        let c = Shape::Echo.complete(&gen, &body(json!({"type":"echo_ok","echo":"c2 #7"})));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!("c2 #7")));
        let c = Shape::Echo.complete(&gen, &body(json!({"type":"echo_ok"})));
        assert_eq!(c.outcome, Outcome::Info);
    }

    #[test]
    fn profiles_without_messages_are_refused() {
        assert_eq!(Shape::for_profile(None), Ok(Shape::LinKv));
        let e = Shape::for_profile(Some(Profile::Bank)).unwrap_err();
        assert!(e.contains("bank"), "{e}");
    }
}
