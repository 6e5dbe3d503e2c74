//! The workloads beyond registers on etcd (pure): each op is a [`Plan`], a small state machine
//! that says which gateway request to send next and, from each answer, what comes after, until
//! the op's completion. The client ([`super`]) only sends; every decision is here, so every
//! path (conflicts, retries, timeouts mid-way) is unit-tested without I/O.
//!
//! | profile | op | requests |
//! |---|---|---|
//! | `set` | `add v` | put `P/set/v` = `v` (one key per element) |
//! | `set` | `read` | one range over `P/set/` → every value |
//! | `counter` | `add n` | range `P/counter`, then txn: compare its `mod_revision`, put the sum |
//! | `counter` | `read` | range `P/counter` (absent: `0`) |
//! | `unique-ids` | `generate` | put `P/unique-ids`; the id is the answer's header revision |
//! | `bank` | `transfer` | range `P/bank-` (every account), then txn: compare both accounts' `mod_revision`, put both balances |
//! | `bank` | `read` | one range over `P/bank-` → `{"0": balance, ...}` |
//! | `txn` | `txn` (writes) | one txn ranging every key, then one txn comparing every key's `mod_revision` and putting each written key's new value; reads answered from the ranged values |
//! | `txn` | `txn` (reads only) | one txn of ranges |
//!
//! `P` is the per-run key prefix. The read-modify-write ops are optimistic: a compare that
//! fails is a definite "not applied" (etcd evaluates compares and puts atomically), so the op
//! starts over with a fresh range, at most [`MAX_ATTEMPTS`] times, then fails. A failed range
//! fails the op (nothing was written yet, or the last txn certainly was not applied); a txn
//! or put whose outcome is unknown (timeout, 5xx, an unreadable 200) makes the op `info` and
//! is never retried. Reads (`read`, read-only `txn`) use `"serializable": true` with
//! `--etcd-serializable-reads`; the ranges inside a read-modify-write never do (a stale one
//! would only make the compare fail).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::kv::{self, Kv};
use super::{meaning, txn_succeeded, EtcdOptions};
use crate::client::mapping::{self, Exchange, OpKind, OpShape, Pointers};
use crate::client::render;
use crate::client::{Completion, Invocation, Profile};
use crate::history::Outcome;

/// Attempts of a read-modify-write whose compare keeps failing before it gives up (`fail`).
pub const MAX_ATTEMPTS: u32 = 10;

/// Requests one op sends at most: a range and a txn per attempt.
pub const MAX_REQUESTS: u32 = 2 * MAX_ATTEMPTS;

/// One gateway request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The path (`/v3/kv/...`).
    pub path: &'static str,
    /// The JSON body.
    pub body: Value,
}

/// What an op does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this request and [`Plan::advance`] with what the wire said.
    Send(Request),
    /// The op is over.
    Done(Completion),
}

/// One op as a state machine; bounded: at most [`MAX_REQUESTS`] sends before `Done`.
pub trait Plan: Send {
    /// The first request.
    fn start(&mut self) -> Step;
    /// The next step after the last request's `exchange`, answered (or not) by `node`.
    fn advance(&mut self, exchange: &Exchange, node: &str) -> Step;
}

/// The plan of `op` under `profile`: `None` when the profile does not define `op.f` (the
/// register ops then apply: the bank's setup writes go through `write`); `Err` for a value the
/// op cannot have.
pub fn plan(
    profile: Profile,
    op: &Invocation,
    options: &EtcdOptions,
) -> Option<Result<Box<dyn Plan>, String>> {
    let p = &options.key_prefix;
    let serializable = options.serializable_reads;
    let plan: Result<Box<dyn Plan>, String> = match (profile, op.f.as_str()) {
        (Profile::Set, "add") => {
            let key = format!("{p}set/{}", render::text(&op.value));
            Ok(Box::new(Single::new(
                op,
                true,
                Request {
                    path: kv::PUT,
                    body: kv::put(&key, &op.value),
                },
                Box::new(|_, invoke: &Value| Ok(invoke.clone())),
            )))
        }
        (Profile::Set, "read") => {
            let range = kv::range_prefix(&format!("{p}set/"), serializable);
            Ok(Box::new(Single::new(
                op,
                false,
                Request {
                    path: kv::RANGE,
                    body: range,
                },
                Box::new(|body, _| {
                    let kvs = kv::kvs(&kv::parse_answer(body)?)?;
                    Ok(Value::Array(kvs.into_iter().map(|kv| kv.value).collect()))
                }),
            )))
        }
        (Profile::Counter, "add") => counter_add(op, format!("{p}counter")),
        (Profile::Counter, "read") => Ok(Box::new(Single::new(
            op,
            false,
            Request {
                path: kv::RANGE,
                body: kv::range_key(&format!("{p}counter"), serializable),
            },
            Box::new(|body, _| {
                let kvs = kv::kvs(&kv::parse_answer(body)?)?;
                // Never incremented: 0.
                Ok(kvs.into_iter().next().map_or(json!(0), |kv| kv.value))
            }),
        ))),
        (Profile::UniqueIds, "generate") => Ok(Box::new(Single::new(
            op,
            true,
            Request {
                path: kv::PUT,
                body: kv::put(&format!("{p}unique-ids"), &Value::Null),
            },
            Box::new(|body, _| {
                let answer = kv::parse_answer(body)?;
                kv::header_revision(&answer)
                    .map(Value::from)
                    .ok_or_else(|| format!("no header revision in the put's answer: {answer}"))
            }),
        ))),
        (Profile::Bank, "transfer") => bank_transfer(op, format!("{p}bank-")),
        (Profile::Bank, "read") => {
            let prefix = format!("{p}bank-");
            let range = kv::range_prefix(&prefix, serializable);
            Ok(Box::new(Single::new(
                op,
                false,
                Request {
                    path: kv::RANGE,
                    body: range,
                },
                Box::new(move |body, _| {
                    let kvs = kv::kvs(&kv::parse_answer(body)?)?;
                    let balances: Map<String, Value> = kvs
                        .into_iter()
                        .filter_map(|kv| {
                            let account = kv.key.strip_prefix(&prefix)?.to_owned();
                            Some((account, kv.value))
                        })
                        .collect();
                    Ok(Value::Object(balances))
                }),
            )))
        }
        (Profile::Txn, "txn") => txn(op, options),
        _ => return None,
    };
    Some(plan)
}

/// A completion naming `node`.
fn done(outcome: Outcome, value: Value, error: Option<String>, node: &str) -> Completion {
    Completion {
        outcome,
        value,
        error,
        node: Some(node.to_owned()),
    }
}

/// The body of a 2xx answer; for anything else, the completion the error mapping gives a step
/// with (or without) an effect: not sent and 4xx are `fail`, no answer and 5xx are `info` for
/// an effect and `fail` otherwise. The completion carries the invoke's value.
fn body_of<'e>(
    exchange: &'e Exchange,
    effect: bool,
    invoke: &Value,
    node: &str,
) -> Result<&'e str, Completion> {
    if let Exchange::Answered { status, body } = exchange {
        if (200..300).contains(status) {
            return Ok(body);
        }
    }
    let kind = OpKind::Custom(OpShape {
        effect,
        returns_value: false,
    });
    let pointers = Pointers {
        value: "",
        error: Some("/message"),
        not_found: None,
    };
    Err(mapping::complete(
        kind, invoke, exchange, meaning, pointers, node,
    ))
}

/// Reads a 2xx body into the op's value.
type Finish = Box<dyn Fn(&str, &Value) -> Result<Value, String> + Send>;

/// An op of one request: a put (set add, unique-ids) or a read.
struct Single {
    request: Request,
    effect: bool,
    invoke: Value,
    finish: Finish,
}

impl Single {
    fn new(op: &Invocation, effect: bool, request: Request, finish: Finish) -> Single {
        Single {
            request,
            effect,
            invoke: op.value.clone(),
            finish,
        }
    }
}

impl Plan for Single {
    fn start(&mut self) -> Step {
        Step::Send(self.request.clone())
    }

    fn advance(&mut self, exchange: &Exchange, node: &str) -> Step {
        let body = match body_of(exchange, self.effect, &self.invoke, node) {
            Ok(body) => body,
            Err(completion) => return Step::Done(completion),
        };
        Step::Done(match (self.finish)(body, &self.invoke) {
            Ok(value) => done(Outcome::Ok, value, None, node),
            // A 200 we cannot read: a put happened (or may have); a read tells nothing.
            Err(why) if self.effect => done(Outcome::Info, self.invoke.clone(), Some(why), node),
            Err(why) => done(Outcome::Fail, self.invoke.clone(), Some(why), node),
        })
    }
}

/// What a read-modify-write does with the state it ranged.
enum Decision {
    /// Send this txn (compares and puts); on success the op's value is `value`.
    Write(Request, Value),
    /// Nothing to write: the op certainly fails (e.g. insufficient funds).
    Refuse(String),
}

/// The read-modify-write part of an optimistic op: which range to read, and what to write.
trait Rmw: Send {
    /// The range (a range or a txn of ranges) the decision reads.
    fn read(&self) -> Request;
    /// From a 2xx answer to [`Rmw::read`]: the txn to send, or a refusal. `Err`: the answer
    /// cannot be read (the op fails: nothing was written).
    fn decide(&self, body: &str) -> Result<Decision, String>;
}

/// Where an optimistic op is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Reading,
    Writing,
}

/// An optimistic read-modify-write: range, then a txn that applies only if nothing it read
/// changed; a failed compare starts over (bounded), an unknown txn is `info`.
struct Optimistic<R> {
    rmw: R,
    invoke: Value,
    phase: Phase,
    attempts: u32,
    /// The op's value if the txn in flight succeeds.
    success: Value,
}

impl<R: Rmw> Optimistic<R> {
    fn new(op: &Invocation, rmw: R) -> Optimistic<R> {
        Optimistic {
            rmw,
            invoke: op.value.clone(),
            phase: Phase::Reading,
            attempts: 0,
            success: Value::Null,
        }
    }
}

impl<R: Rmw> Plan for Optimistic<R> {
    fn start(&mut self) -> Step {
        self.phase = Phase::Reading;
        Step::Send(self.rmw.read())
    }

    fn advance(&mut self, exchange: &Exchange, node: &str) -> Step {
        let fail =
            |why: String| Step::Done(done(Outcome::Fail, self.invoke.clone(), Some(why), node));
        match self.phase {
            Phase::Reading => {
                // Nothing of this op is applied yet: any failure here is a definite fail.
                let body = match body_of(exchange, false, &self.invoke, node) {
                    Ok(body) => body,
                    Err(completion) => return Step::Done(completion),
                };
                match self.rmw.decide(body) {
                    Ok(Decision::Write(txn, success)) => {
                        self.success = success;
                        self.phase = Phase::Writing;
                        self.attempts += 1;
                        Step::Send(txn)
                    }
                    Ok(Decision::Refuse(why)) => fail(why),
                    Err(why) => fail(format!("unreadable range answer: {why}")),
                }
            }
            Phase::Writing => {
                let body = match body_of(exchange, true, &self.invoke, node) {
                    Ok(body) => body,
                    Err(completion) => return Step::Done(completion),
                };
                match txn_succeeded(body) {
                    Some(true) => Step::Done(done(Outcome::Ok, self.success.clone(), None, node)),
                    Some(false) if self.attempts >= MAX_ATTEMPTS => fail(format!(
                        "contended: the compare failed {} times in a row, nothing was applied",
                        self.attempts
                    )),
                    // Certainly not applied: read again and retry.
                    Some(false) => self.start(),
                    // A 200 we cannot read: the txn may have been applied.
                    None => Step::Done(done(
                        Outcome::Info,
                        self.invoke.clone(),
                        Some(format!("unreadable txn answer: {body}")),
                        node,
                    )),
                }
            }
        }
    }
}

/// The one kv a single-key range answered, if the key exists.
fn single(body: &str) -> Result<Option<Kv>, String> {
    Ok(kv::kvs(&kv::parse_answer(body)?)?.into_iter().next())
}

/// A counter increment: `value` is the amount.
struct CounterAdd {
    key: String,
    delta: i64,
}

fn counter_add(op: &Invocation, key: String) -> Result<Box<dyn Plan>, String> {
    let delta = op
        .value
        .as_i64()
        .ok_or_else(|| format!("a counter add's value must be an integer, got {}", op.value))?;
    Ok(Box::new(Optimistic::new(op, CounterAdd { key, delta })))
}

impl Rmw for CounterAdd {
    fn read(&self) -> Request {
        Request {
            path: kv::RANGE,
            body: kv::range_key(&self.key, false),
        }
    }

    fn decide(&self, body: &str) -> Result<Decision, String> {
        let (current, revision) = match single(body)? {
            None => (0, 0),
            Some(kv) => {
                let n = kv
                    .value
                    .as_i64()
                    .ok_or_else(|| format!("{} holds {}, not an integer", kv.key, kv.value))?;
                (n, kv.mod_revision)
            }
        };
        let Some(next) = current.checked_add(self.delta) else {
            return Ok(Decision::Refuse(format!(
                "{} + {} overflows a 64-bit counter",
                current, self.delta
            )));
        };
        let txn = kv::txn_puts(
            vec![kv::compare_mod(&self.key, revision)],
            vec![kv::put(&self.key, &json!(next))],
        );
        Ok(Decision::Write(
            Request {
                path: kv::TXN,
                body: txn,
            },
            json!(self.delta),
        ))
    }
}

/// A bank transfer between two accounts (keys `prefix` + account).
struct Transfer {
    prefix: String,
    from: String,
    to: String,
    amount: i64,
    invoke: Value,
}

fn bank_transfer(op: &Invocation, prefix: String) -> Result<Box<dyn Plan>, String> {
    let field = |name: &str| {
        op.value
            .get(name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| format!("a transfer needs {name:?}: {}", op.value))
    };
    let from = render::text(field("from")?);
    let to = render::text(field("to")?);
    let amount = field("amount")?
        .as_i64()
        .filter(|a| *a >= 0)
        .ok_or_else(|| {
            format!(
                "a transfer's amount must be a non-negative integer: {}",
                op.value
            )
        })?;
    if from == to {
        return Err(format!(
            "a transfer needs two different accounts: {}",
            op.value
        ));
    }
    let rmw = Transfer {
        prefix,
        from,
        to,
        amount,
        invoke: op.value.clone(),
    };
    Ok(Box::new(Optimistic::new(op, rmw)))
}

impl Rmw for Transfer {
    fn read(&self) -> Request {
        Request {
            path: kv::RANGE,
            body: kv::range_prefix(&self.prefix, false),
        }
    }

    fn decide(&self, body: &str) -> Result<Decision, String> {
        let kvs = kv::kvs(&kv::parse_answer(body)?)?;
        let account = |name: &str| -> Result<(String, i64, i64), String> {
            let key = format!("{}{name}", self.prefix);
            let kv = kvs
                .iter()
                .find(|kv| kv.key == key)
                .ok_or_else(|| format!("account {key} was never opened"))?;
            let balance = kv
                .value
                .as_i64()
                .ok_or_else(|| format!("{key} holds {}, not a balance", kv.value))?;
            Ok((key, balance, kv.mod_revision))
        };
        let (from_key, from_balance, from_rev) = account(&self.from)?;
        let (to_key, to_balance, to_rev) = account(&self.to)?;
        if from_balance < self.amount {
            return Ok(Decision::Refuse(format!(
                "insufficient funds: {from_key} holds {from_balance}, the transfer takes {}",
                self.amount
            )));
        }
        let Some(credited) = to_balance.checked_add(self.amount) else {
            return Ok(Decision::Refuse(format!("{to_key} would overflow")));
        };
        let txn = kv::txn_puts(
            vec![
                kv::compare_mod(&from_key, from_rev),
                kv::compare_mod(&to_key, to_rev),
            ],
            vec![
                kv::put(&from_key, &json!(from_balance - self.amount)),
                kv::put(&to_key, &json!(credited)),
            ],
        );
        Ok(Decision::Write(
            Request {
                path: kv::TXN,
                body: txn,
            },
            self.invoke.clone(),
        ))
    }
}

/// One micro-op of a transaction: `["r", k, null]`, `["w", k, v]` or `["append", k, v]`.
#[derive(Debug, Clone, PartialEq)]
struct Micro {
    f: MicroF,
    /// The op's key as JSON (kept for the completion).
    key: Value,
    /// The etcd key.
    etcd_key: String,
    value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MicroF {
    Read,
    Write,
    Append,
}

/// Parses a txn's value into micro-ops; the etcd key of each is the per-run prefix and the
/// key's text.
fn micro_ops(value: &Value, options: &EtcdOptions) -> Result<Vec<Micro>, String> {
    let ops = value
        .as_array()
        .ok_or_else(|| format!("a txn's value must be a list of micro-ops, got {value}"))?;
    ops.iter()
        .map(|m| {
            let Some([f, key, v]) = m.as_array().map(Vec::as_slice) else {
                return Err(format!("a micro-op must be [f, key, value], got {m}"));
            };
            let f = match f.as_str() {
                Some("r") => MicroF::Read,
                Some("w") => MicroF::Write,
                Some("append") => MicroF::Append,
                _ => return Err(format!("unknown micro-op {f} in {m}: r, w or append")),
            };
            Ok(Micro {
                f,
                key: key.clone(),
                etcd_key: super::etcd_key(options, Some(key)),
                value: v.clone(),
            })
        })
        .collect()
}

/// The distinct etcd keys of `ops`, in first-use order.
fn distinct_keys(ops: &[Micro]) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for m in ops {
        if !keys.contains(&m.etcd_key) {
            keys.push(m.etcd_key.clone());
        }
    }
    keys
}

/// The kvs of a txn of ranges, one range per key in `keys` order: key → (value, revision),
/// absent keys left out.
fn ranged(body: &str, keys: &[String]) -> Result<BTreeMap<String, (Value, i64)>, String> {
    let answer = kv::parse_answer(body)?;
    let responses = kv::txn_range_responses(&answer)?;
    if responses.len() != keys.len() {
        return Err(format!(
            "{} range answers for {} keys: {answer}",
            responses.len(),
            keys.len()
        ));
    }
    let mut state = BTreeMap::new();
    for (key, response) in keys.iter().zip(responses) {
        if let Some(kv) = kv::kvs(response)?.into_iter().next() {
            state.insert(key.clone(), (kv.value, kv.mod_revision));
        }
    }
    Ok(state)
}

/// A txn of ranges of `keys`.
fn ranges(keys: &[String], serializable: bool) -> Request {
    Request {
        path: kv::TXN,
        body: kv::txn_ranges(
            keys.iter()
                .map(|k| kv::range_key(k, serializable))
                .collect(),
        ),
    }
}

/// Runs `ops` in order on `values` (etcd key → value; absent is `null`): reads are filled in,
/// writes and appends change `values`. Returns the completed micro-ops.
fn apply(ops: &[Micro], values: &mut BTreeMap<String, Value>) -> Result<Value, String> {
    let mut out = Vec::with_capacity(ops.len());
    for m in ops {
        let current = values.get(&m.etcd_key).cloned().unwrap_or(Value::Null);
        let (f, v) = match m.f {
            MicroF::Read => ("r", current),
            MicroF::Write => {
                values.insert(m.etcd_key.clone(), m.value.clone());
                ("w", m.value.clone())
            }
            MicroF::Append => {
                let list = match current {
                    Value::Null => vec![m.value.clone()],
                    Value::Array(mut list) => {
                        list.push(m.value.clone());
                        list
                    }
                    other => return Err(format!("{} holds {other}, not a list", m.etcd_key)),
                };
                values.insert(m.etcd_key.clone(), Value::Array(list));
                ("append", m.value.clone())
            }
        };
        out.push(json!([f, m.key, v]));
    }
    Ok(Value::Array(out))
}

fn txn(op: &Invocation, options: &EtcdOptions) -> Result<Box<dyn Plan>, String> {
    let ops = micro_ops(&op.value, options)?;
    let keys = distinct_keys(&ops);
    if ops.iter().all(|m| m.f == MicroF::Read) {
        let request = ranges(&keys, options.serializable_reads);
        return Ok(Box::new(Single::new(
            op,
            false,
            request,
            Box::new(move |body, _| {
                let state = ranged(body, &keys)?;
                let mut values = state.into_iter().map(|(k, (v, _))| (k, v)).collect();
                apply(&ops, &mut values)
            }),
        )));
    }
    Ok(Box::new(Optimistic::new(op, TxnWrite { ops, keys })))
}

/// A transaction with writes: every key ranged at one revision, then one txn that applies
/// only if none of them changed since.
struct TxnWrite {
    ops: Vec<Micro>,
    keys: Vec<String>,
}

impl Rmw for TxnWrite {
    fn read(&self) -> Request {
        ranges(&self.keys, false)
    }

    fn decide(&self, body: &str) -> Result<Decision, String> {
        let state = ranged(body, &self.keys)?;
        let before: BTreeMap<String, Value> = state
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect();
        let mut values = before.clone();
        let completed = match apply(&self.ops, &mut values) {
            Ok(completed) => completed,
            Err(why) => return Ok(Decision::Refuse(why)),
        };
        let compares = self
            .keys
            .iter()
            .map(|k| kv::compare_mod(k, state.get(k).map_or(0, |(_, rev)| *rev)))
            .collect();
        // One put per written key (etcd refuses a txn that puts a key twice), in key order.
        let written: Vec<&String> = self
            .keys
            .iter()
            .filter(|k| {
                self.ops
                    .iter()
                    .any(|m| &m.etcd_key == *k && m.f != MicroF::Read)
            })
            .collect();
        let puts = written
            .into_iter()
            .filter_map(|k| values.get(k).map(|v| kv::put(k, v)))
            .collect();
        Ok(Decision::Write(
            Request {
                path: kv::TXN,
                body: kv::txn_puts(compares, puts),
            },
            completed,
        ))
    }
}

#[cfg(test)]
mod tests;
