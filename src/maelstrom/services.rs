//! Maelstrom's services, nodes faultline itself plays for the user's nodes to call by name
//! (Maelstrom's `doc/services.md`): `lin-kv`, `seq-kv`, `lww-kv` and `lin-tso`. A node sends
//! a request to the service's name like to any node; the network
//! ([`super::network::Network`]) delivers it here after its latency, [`Services::handle`]
//! answers at once, and the reply travels back through the network. Pure: state and seeded
//! draws, no clock, no I/O.
//!
//! The key-value services take Maelstrom's `lin-kv` messages: `read {key}` → `read_ok
//! {value}`, `write {key, value}` → `write_ok`, `cas {key, from, to, create_if_not_exists?}`
//! → `cas_ok`; a missing key is error 20 (key-does-not-exist, also for a cas without
//! `create_if_not_exists`), a cas whose `from` is not the value error 22
//! (precondition-failed). What differs is what a request sees:
//!
//! - **lin-kv**: one store; every request acts on its latest state (linearizable, since the
//!   service answers at the instant it receives).
//! - **seq-kv**: one linear log of states; each caller (by `src`) has a position in it that
//!   only moves forward. A read is served from a state drawn between the caller's position
//!   and the latest, and moves the caller there; an update acts on the latest state (a new
//!   entry at the end of the log) and moves the caller to the end. Every caller sees one total
//!   order in its own program order, but may see an older state than another caller has:
//!   sequential consistency, not linearizability.
//! - **lww-kv**: [`LWW_REPLICAS`] independent replicas; each request goes to a replica drawn
//!   at random, which answers from its own copy. A write is stamped with a roughly
//!   synchronised clock (a counter with a random skew of up to [`LWW_SKEW`] ticks); replicas
//!   merge from one another now and then (each request, with probability
//!   [`LWW_GOSSIP`]), the higher stamp winning. Deliberately weak: stale reads, lost updates.
//! - **lin-tso**: `ts` → `ts_ok {ts}`, a strictly increasing integer per request.
//!
//! A request of another type is error 10 (not-supported).

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use super::errors;
use super::protocol::Message;

/// The linearizable key-value service's name.
pub const LIN_KV: &str = "lin-kv";
/// The sequentially consistent key-value service's name.
pub const SEQ_KV: &str = "seq-kv";
/// The last-write-wins key-value service's name.
pub const LWW_KV: &str = "lww-kv";
/// The timestamp oracle's name.
pub const LIN_TSO: &str = "lin-tso";

/// Every service, by name.
pub const NAMES: [&str; 4] = [LIN_KV, SEQ_KV, LWW_KV, LIN_TSO];

/// lww-kv's replica count (Maelstrom's default).
pub const LWW_REPLICAS: usize = 5;
/// lww-kv's clock skew, in ticks of its counter.
pub const LWW_SKEW: u64 = 3;
/// lww-kv's chance, per request, that its replicas merge.
pub const LWW_GOSSIP: f64 = 0.2;
/// seq-kv's log keeps this many states; a caller behind the oldest one moves up to it.
const SEQ_KV_HISTORY: usize = 256;

/// Whether `name` is one of the services.
pub fn is_service(name: &str) -> bool {
    NAMES.contains(&name)
}

/// One key-value state: keys by their JSON text (Maelstrom keys may be any JSON value).
type Store = HashMap<String, Value>;

/// What a key-value request asks, decoded.
enum KvOp {
    Read(String),
    Write(String, Value),
    Cas {
        key: String,
        from: Value,
        to: Value,
        create: bool,
    },
}

/// The answer to a key-value request: the reply body, and the new state if it changed one.
struct Answer {
    body: Value,
    write: Option<(String, Value)>,
}

fn error(code: i64, text: String) -> Value {
    json!({"type": "error", "code": code, "text": text})
}

impl KvOp {
    fn decode(body: &Map<String, Value>) -> Result<KvOp, Value> {
        let key = || match body.get("key") {
            Some(k) => Ok(k.to_string()),
            None => Err(error(12, "no \"key\"".into())),
        };
        let field = |name: &str| {
            body.get(name)
                .cloned()
                .ok_or_else(|| error(12, format!("no {name:?}")))
        };
        match body.get("type").and_then(Value::as_str).unwrap_or("") {
            "read" => Ok(KvOp::Read(key()?)),
            "write" => Ok(KvOp::Write(key()?, field("value")?)),
            "cas" => Ok(KvOp::Cas {
                key: key()?,
                from: field("from")?,
                to: field("to")?,
                create: body
                    .get("create_if_not_exists")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            }),
            other => Err(error(
                10,
                format!("the key-value services take read, write and cas, not {other:?}"),
            )),
        }
    }

    fn is_read(&self) -> bool {
        matches!(self, KvOp::Read(_))
    }

    /// The answer of this op on `store`.
    fn apply(self, store: &Store) -> Answer {
        let missing = |key: &str| {
            error(
                errors::KEY_DOES_NOT_EXIST,
                format!("key {key} does not exist"),
            )
        };
        match self {
            KvOp::Read(key) => Answer {
                body: match store.get(&key) {
                    Some(v) => json!({"type": "read_ok", "value": v}),
                    None => missing(&key),
                },
                write: None,
            },
            KvOp::Write(key, value) => Answer {
                body: json!({"type": "write_ok"}),
                write: Some((key, value)),
            },
            KvOp::Cas {
                key,
                from,
                to,
                create,
            } => match store.get(&key) {
                None if create => Answer {
                    body: json!({"type": "cas_ok"}),
                    write: Some((key, to)),
                },
                None => Answer {
                    body: missing(&key),
                    write: None,
                },
                Some(v) if *v == from => Answer {
                    body: json!({"type": "cas_ok"}),
                    write: Some((key, to)),
                },
                Some(v) => Answer {
                    body: error(
                        errors::PRECONDITION_FAILED,
                        format!("current value {v} is not {from}"),
                    ),
                    write: None,
                },
            },
        }
    }
}

/// seq-kv's log of states and each caller's position in it.
#[derive(Debug, Default)]
struct SeqKv {
    /// States, oldest first; `states[i]` is log position `base + i`.
    states: Vec<Store>,
    base: usize,
    positions: HashMap<String, usize>,
}

impl SeqKv {
    fn latest(&self) -> usize {
        self.base + self.states.len() - 1
    }

    fn handle(&mut self, caller: &str, op: KvOp, rng: &mut ChaCha8Rng) -> Value {
        if self.states.is_empty() {
            self.states.push(Store::new());
        }
        let latest = self.latest();
        let from = self
            .positions
            .get(caller)
            .copied()
            .unwrap_or(0)
            .clamp(self.base, latest);
        if op.is_read() {
            let at = rng.random_range(from..=latest);
            self.positions.insert(caller.to_owned(), at);
            return op.apply(&self.states[at - self.base]).body;
        }
        let answer = op.apply(&self.states[latest - self.base]);
        if let Some((key, value)) = answer.write {
            let mut next = self.states[latest - self.base].clone();
            next.insert(key, value);
            self.states.push(next);
            if self.states.len() > SEQ_KV_HISTORY {
                self.states.remove(0);
                self.base += 1;
            }
        }
        self.positions.insert(caller.to_owned(), self.latest());
        answer.body
    }
}

/// lww-kv's replicas: each key's (stamp, value).
#[derive(Debug)]
struct LwwKv {
    replicas: Vec<HashMap<String, (u64, Value)>>,
    clock: u64,
}

impl LwwKv {
    fn new() -> LwwKv {
        LwwKv {
            replicas: vec![HashMap::new(); LWW_REPLICAS],
            clock: LWW_SKEW,
        }
    }

    fn handle(&mut self, op: KvOp, rng: &mut ChaCha8Rng) -> Value {
        if rng.random_bool(LWW_GOSSIP) {
            self.gossip();
        }
        let r = rng.random_range(0..self.replicas.len());
        let view: Store = self.replicas[r]
            .iter()
            .map(|(k, (_, v))| (k.clone(), v.clone()))
            .collect();
        let answer = op.apply(&view);
        if let Some((key, value)) = answer.write {
            self.clock += 1;
            let stamp = self.clock - rng.random_range(0..=LWW_SKEW);
            self.replicas[r].insert(key, (stamp, value));
        }
        answer.body
    }

    /// Every replica takes, per key, the value with the highest stamp any replica has.
    fn gossip(&mut self) {
        let mut merged: HashMap<String, (u64, Value)> = HashMap::new();
        for replica in &self.replicas {
            for (k, (stamp, v)) in replica {
                if merged.get(k).is_none_or(|(s, _)| stamp > s) {
                    merged.insert(k.clone(), (*stamp, v.clone()));
                }
            }
        }
        for replica in &mut self.replicas {
            replica.clone_from(&merged);
        }
    }
}

/// All four services' state and their random stream.
#[derive(Debug)]
pub struct Services {
    lin: Store,
    seq: SeqKv,
    lww: LwwKv,
    tso: u64,
    rng: ChaCha8Rng,
}

impl Services {
    /// Fresh services, their draws seeded by `seed`.
    pub fn new(seed: u64) -> Services {
        Services {
            lin: Store::new(),
            seq: SeqKv::default(),
            lww: LwwKv::new(),
            tso: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The reply to `msg` (addressed to a service), or `None` when it is not a request (no
    /// `msg_id`: Maelstrom's services answer requests only) or not for a service.
    pub fn handle(&mut self, msg: &Message) -> Option<Message> {
        let msg_id = msg.msg_id()?;
        let body = match msg.dest.as_str() {
            LIN_KV => match KvOp::decode(&msg.body) {
                Ok(op) => {
                    let answer = op.apply(&self.lin);
                    if let Some((k, v)) = answer.write {
                        self.lin.insert(k, v);
                    }
                    answer.body
                }
                Err(e) => e,
            },
            SEQ_KV => match KvOp::decode(&msg.body) {
                Ok(op) => self.seq.handle(&msg.src, op, &mut self.rng),
                Err(e) => e,
            },
            LWW_KV => match KvOp::decode(&msg.body) {
                Ok(op) => self.lww.handle(op, &mut self.rng),
                Err(e) => e,
            },
            LIN_TSO => match msg.kind() {
                "ts" => {
                    self.tso += 1;
                    json!({"type": "ts_ok", "ts": self.tso})
                }
                other => error(10, format!("lin-tso takes ts, not {other:?}")),
            },
            _ => return None,
        };
        let Value::Object(mut body) = body else {
            return None;
        };
        body.insert("in_reply_to".into(), json!(msg_id));
        Some(Message {
            src: msg.dest.clone(),
            dest: msg.src.clone(),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Caller {
        services: Services,
        next: u64,
    }

    impl Caller {
        fn new(seed: u64) -> Caller {
            Caller {
                services: Services::new(seed),
                next: 0,
            }
        }

        /// `src` sends `body` to `dest`; the reply's body.
        fn call(&mut self, src: &str, dest: &str, body: Value) -> Value {
            self.next += 1;
            let Value::Object(mut body) = body else {
                panic!("body")
            };
            body.insert("msg_id".into(), json!(self.next));
            let reply = self
                .services
                .handle(&Message {
                    src: src.into(),
                    dest: dest.into(),
                    body,
                })
                .expect("a reply");
            assert_eq!((reply.src.as_str(), reply.dest.as_str()), (dest, src));
            assert_eq!(reply.in_reply_to(), Some(self.next));
            Value::Object(reply.body)
        }
    }

    fn code(reply: &Value) -> Option<i64> {
        reply["code"].as_i64()
    }

    #[test]
    fn lin_kv_reads_writes_and_cas_with_maelstroms_error_codes() {
        let mut c = Caller::new(1);
        let r = c.call("n0", LIN_KV, json!({"type":"read","key":"x"}));
        assert_eq!((r["type"].as_str(), code(&r)), (Some("error"), Some(20)));
        let r = c.call(
            "n0",
            LIN_KV,
            json!({"type":"cas","key":"x","from":1,"to":2}),
        );
        assert_eq!(code(&r), Some(20));
        let r = c.call(
            "n0",
            LIN_KV,
            json!({"type":"cas","key":"x","from":1,"to":2,"create_if_not_exists":true}),
        );
        assert_eq!(r["type"], "cas_ok");
        let r = c.call("n1", LIN_KV, json!({"type":"read","key":"x"}));
        assert_eq!(
            (r["type"].as_str(), &r["value"]),
            (Some("read_ok"), &json!(2))
        );
        let r = c.call(
            "n1",
            LIN_KV,
            json!({"type":"cas","key":"x","from":1,"to":3}),
        );
        assert_eq!(code(&r), Some(22));
        let r = c.call("n1", LIN_KV, json!({"type":"write","key":"x","value":[1]}));
        assert_eq!(r["type"], "write_ok");
        let r = c.call(
            "n2",
            LIN_KV,
            json!({"type":"cas","key":"x","from":[1],"to":{"a":1}}),
        );
        assert_eq!(r["type"], "cas_ok");
        let r = c.call("n0", LIN_KV, json!({"type":"read","key":"x"}));
        assert_eq!(r["value"], json!({"a":1}));
        // Keys are JSON values: 1 and "1" differ.
        let r = c.call("n0", LIN_KV, json!({"type":"read","key":1}));
        assert_eq!(code(&r), Some(20));
        let r = c.call("n0", LIN_KV, json!({"type":"add","key":1}));
        assert_eq!(code(&r), Some(10));
        let r = c.call("n0", LIN_KV, json!({"type":"write","key":1}));
        assert_eq!(code(&r), Some(12));
    }

    #[test]
    fn requests_without_msg_id_and_other_destinations_get_no_reply() {
        let mut s = Services::new(1);
        let msg = |dest: &str, body: Value| Message {
            src: "n0".into(),
            dest: dest.into(),
            body: body.as_object().cloned().unwrap_or_default(),
        };
        assert!(s
            .handle(&msg(LIN_KV, json!({"type":"read","key":1})))
            .is_none());
        assert!(s
            .handle(&msg("n1", json!({"type":"read","key":1,"msg_id":1})))
            .is_none());
    }

    #[test]
    fn lin_tso_counts_up() {
        let mut c = Caller::new(1);
        let ts: Vec<i64> = (0..5)
            .map(|i| {
                let r = c.call(&format!("n{}", i % 2), LIN_TSO, json!({"type":"ts"}));
                r["ts"].as_i64().unwrap_or(-1)
            })
            .collect();
        assert_eq!(ts, [1, 2, 3, 4, 5]);
        let r = c.call("n0", LIN_TSO, json!({"type":"read"}));
        assert_eq!(code(&r), Some(10));
    }

    /// seq-kv on a seed: a reader that has not written may see old states, but never goes
    /// back, and an update always acts on the latest state.
    #[test]
    fn seq_kv_is_sequential_per_caller_and_serves_stale_states() {
        let mut c = Caller::new(7);
        for v in 1..=50 {
            let r = c.call("n0", SEQ_KV, json!({"type":"write","key":"k","value":v}));
            assert_eq!(r["type"], "write_ok");
        }
        // n0 wrote 50 last: it never reads anything older.
        for _ in 0..20 {
            let r = c.call("n0", SEQ_KV, json!({"type":"read","key":"k"}));
            assert_eq!(r["value"], 50);
        }
        // n1 has seen nothing: its reads are stale at first, and never go back.
        let mut last = -1;
        let mut stale = 0;
        for _ in 0..40 {
            let r = c.call("n1", SEQ_KV, json!({"type":"read","key":"k"}));
            let v = r["value"].as_i64().unwrap_or(0); // 0: the key did not exist yet
            assert!(v >= last, "n1 went back from {last} to {v}");
            stale += usize::from(v < 50);
            last = v;
        }
        assert!(stale > 0, "a fresh caller sees an old state on seed 7");
        assert_eq!(last, 50, "repeated reads catch up");
        // A cas acts on the latest state, whatever its caller saw: from a stale view it fails.
        let r = c.call(
            "n2",
            SEQ_KV,
            json!({"type":"cas","key":"k","from":49,"to":0}),
        );
        assert_eq!(code(&r), Some(22));
        let r = c.call(
            "n2",
            SEQ_KV,
            json!({"type":"cas","key":"k","from":50,"to":51}),
        );
        assert_eq!(r["type"], "cas_ok");
        let r = c.call("n2", SEQ_KV, json!({"type":"read","key":"k"}));
        assert_eq!(r["value"], 51);
    }

    #[test]
    fn seq_kv_same_seed_same_answers() {
        let run = |seed| {
            let mut c = Caller::new(seed);
            for v in 0..30 {
                c.call("n0", SEQ_KV, json!({"type":"write","key":1,"value":v}));
            }
            (0..30)
                .map(|i| {
                    c.call(
                        &format!("n{}", 1 + i % 3),
                        SEQ_KV,
                        json!({"type":"read","key":1}),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    /// lww-kv on a seed: reads from other replicas miss writes until a merge, and two
    /// read-then-write updates can lose one.
    #[test]
    fn lww_kv_is_weak_but_converges() {
        let mut c = Caller::new(2);
        let mut missed = 0;
        for v in 0..100 {
            c.call("n0", LWW_KV, json!({"type":"write","key":"k","value":v}));
            let r = c.call("n1", LWW_KV, json!({"type":"read","key":"k"}));
            missed += usize::from(r["value"] != json!(v));
        }
        assert!(
            missed > 10,
            "{missed} of 100 reads missed the write just made"
        );
        // Merges happen: after enough requests every replica answers the same.
        c.services.lww.gossip();
        let values: Vec<Value> = (0..20)
            .map(|_| c.call("n2", LWW_KV, json!({"type":"read","key":"k"}))["value"].clone())
            .collect();
        assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
    }
}
