//! The etcd client: etcd's v3 JSON gateway (grpc-gateway, `POST /v3/kv/...`), measured on
//! etcd 3.4.
//!
//! | op | request |
//! |---|---|
//! | read | `POST /v3/kv/range {"key": K}` (`"serializable": true` with `--etcd-serializable-reads`) |
//! | write | `POST /v3/kv/put {"key": K, "value": V}` |
//! | cas `[from, to]` | `POST /v3/kv/txn`: compare `VALUE EQUAL from` (or `CREATE` revision `0` when `from` is `null`: never written), then put `to` |
//!
//! Keys and values travel base64-encoded; a value is stored as its JSON text, so `3` is the
//! bytes `3` and reads give back the JSON value. Keys are the op's key text behind a per-run
//! prefix, so runs against the same (external) cluster never see each other's data. The
//! gateway leaves out zero, false and empty fields: a missing `kvs` is a key never written,
//! a missing `succeeded` is a cas whose comparison failed (certainly not applied). 64-bit
//! numbers (`member_id`, `leader`, revisions) arrive as strings.
//!
//! Error mapping (see [`super`]): 200 is ok (a cas whose compare failed is `fail`); a 4xx is
//! `fail` (the gateway rejected the request); a 5xx (etcd answers 503 "request timed out"
//! for a write it could not commit in time, which may still commit) and a timeout are `info`
//! for writes and cas, `fail` for reads. Every node serves every op (followers forward to the
//! leader), so there are no redirects. A linearizable read goes through the leader's read
//! index; a serializable one is answered from the node's own state, which may be stale — a
//! real linearizability violation the checker must report when a node is cut off.
//!
//! The workloads beyond registers (set, counter, bank, unique-ids, list-append and
//! rw-register) go through [`workloads`]: with [`EtcdOptions::profile`] set, an op the profile
//! defines runs as a pure [`workloads::Plan`] of one or more requests (optimistic
//! read-modify-writes as a range and a compare-and-put txn); other ops fall back to read,
//! write and cas. [`kv`] holds the gateway's request and answer pieces.

pub mod kv;
pub mod workloads;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::mapping::{self, Exchange, OpKind, Pointers, StatusMeaning};
use super::render::{self, authority, base_url};
use super::transport::{Body, Delivered, Outgoing, Transport};
use super::{Client, ClientError, ClientFactory, Completion, Invocation, NodeInfo, Profile};
use crate::history::Outcome;
use workloads::{Plan, Step, MAX_REQUESTS};

/// Default request timeout: etcd commits in milliseconds when healthy; a write on a
/// partitioned minority is only refused after about 7 s, which a worker need not wait for.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2500);

/// Settings of the etcd client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Request timeout.
    pub timeout: Duration,
    /// Reads with `"serializable": true`: answered locally, possibly stale.
    pub serializable_reads: bool,
    /// Prepended to every key (e.g. `faultline/1a2b3c/`).
    pub key_prefix: String,
    /// The key used for ops without one (after the prefix).
    pub register_key: String,
    /// The workload mapping the ops go through first
    /// ([`crate::workload::WorkloadSpec::client_profile`]; every [`Profile`] has one); `None`:
    /// read, write and cas only.
    pub profile: Option<Profile>,
}

impl Default for EtcdOptions {
    fn default() -> EtcdOptions {
        EtcdOptions {
            timeout: DEFAULT_TIMEOUT,
            serializable_reads: false,
            key_prefix: String::new(),
            register_key: "register".into(),
            profile: None,
        }
    }
}

/// Opens etcd clients; all share one connection pool.
#[derive(Clone)]
pub struct EtcdFactory {
    transport: Transport,
    options: Arc<EtcdOptions>,
}

impl std::fmt::Debug for EtcdFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdFactory")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl EtcdFactory {
    /// A factory for a cluster of `nodes` (their names label completions).
    pub fn new(nodes: &[NodeInfo], options: EtcdOptions) -> Result<EtcdFactory, ClientError> {
        let mut names = HashMap::new();
        for node in nodes {
            let url = node_url(node)?;
            names.insert(authority(&url), node.name.clone());
        }
        // Half the request timeout: a connect that takes longer is given up as unsent.
        let connect = (options.timeout / 2).max(Duration::from_millis(1));
        Ok(EtcdFactory {
            transport: Transport::new(names, Vec::new(), connect)?,
            options: Arc::new(options),
        })
    }
}

fn node_url(node: &NodeInfo) -> Result<Url, ClientError> {
    let base = base_url(node)?;
    Url::parse(&base).map_err(|e| ClientError::BadAddress {
        node: node.name.clone(),
        address: node.http.clone(),
        reason: e.to_string(),
    })
}

impl ClientFactory for EtcdFactory {
    fn open(&self, node: &NodeInfo) -> Result<Box<dyn Client>, ClientError> {
        let url = node_url(node)?;
        Ok(Box::new(EtcdClient {
            base: base_url(node)?,
            node: node.name.clone(),
            transport: self.transport.knowing(authority(&url), &node.name),
            options: Arc::clone(&self.options),
        }))
    }
}

/// An etcd client bound to one node.
struct EtcdClient {
    /// `http://host:port`, no trailing slash.
    base: String,
    node: String,
    transport: Transport,
    options: Arc<EtcdOptions>,
}

#[async_trait]
impl Client for EtcdClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        let unsent = |reason: String| Completion {
            outcome: Outcome::Fail,
            value: op.value.clone(),
            error: Some(format!("not sent: {reason}")),
            node: Some(self.node.clone()),
        };
        if let Some(profile) = self.options.profile {
            match workloads::plan(profile, op, &self.options) {
                Some(Ok(plan)) => return self.run(plan).await,
                Some(Err(reason)) => return unsent(reason),
                None => {}
            }
        }
        let Some(kind) = OpKind::parse(&op.f) else {
            return unsent(format!(
                "unsupported op {:?}: the etcd client does read, write and cas{}",
                op.f,
                if self.options.profile.is_some() {
                    " and its workload's ops"
                } else {
                    ""
                }
            ));
        };
        let key = etcd_key(&self.options, op.key.as_ref());
        let (path, body) = match request(kind, &key, &op.value, self.options.serializable_reads) {
            Ok(r) => r,
            Err(reason) => return unsent(reason),
        };
        let delivered = self.post(path, body).await;
        complete(kind, &op.value, &delivered.exchange, &delivered.node)
    }
}

impl EtcdClient {
    /// One `POST` of `body` to `path` on this client's node.
    async fn post(&self, path: &str, body: Value) -> Delivered {
        let url = match Url::parse(&format!("{}{path}", self.base)) {
            Ok(url) => url,
            Err(e) => {
                return Delivered {
                    exchange: Exchange::NotSent {
                        reason: format!("bad URL {}{path}: {e}", self.base),
                    },
                    node: self.node.clone(),
                }
            }
        };
        let out = Outgoing {
            method: Method::POST,
            url,
            body: Some(Body::Json(body)),
            headers: Vec::new(),
            timeout: self.options.timeout,
            max_redirects: 0,
        };
        self.transport.send(out, None).await
    }

    /// Runs a workload op's plan: each request it asks for, until it is done.
    async fn run(&self, mut plan: Box<dyn Plan>) -> Completion {
        let mut step = plan.start();
        // Bounded: a plan is done within MAX_REQUESTS sends (unit-tested in `workloads`).
        for _ in 0..=MAX_REQUESTS {
            match step {
                Step::Done(completion) => return completion,
                Step::Send(request) => {
                    let delivered = self.post(request.path, request.body).await;
                    step = plan.advance(&delivered.exchange, &delivered.node);
                }
            }
        }
        match step {
            Step::Done(completion) => completion,
            // Requests with effects may have been sent: the outcome is unknown.
            Step::Send(_) => Completion {
                outcome: Outcome::Info,
                value: Value::Null,
                error: Some(format!("gave up after {MAX_REQUESTS} requests")),
                node: Some(self.node.clone()),
            },
        }
    }
}

/// The etcd key of an op: the prefix, then the op's key as text (the register key if none).
pub fn etcd_key(options: &EtcdOptions, key: Option<&Value>) -> String {
    let text = match key {
        Some(k) => render::text(k),
        None => options.register_key.clone(),
    };
    format!("{}{text}", options.key_prefix)
}

/// Bytes as the gateway wants them: base64 (standard alphabet, padded).
pub fn encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// A value as stored: its JSON text, base64-encoded.
fn encode_value(value: &Value) -> String {
    encode(value.to_string().as_bytes())
}

/// The path and JSON body for one op on `key`. Pure.
pub fn request(
    kind: OpKind,
    key: &str,
    value: &Value,
    serializable: bool,
) -> Result<(&'static str, Value), String> {
    let k = encode(key.as_bytes());
    Ok(match kind {
        OpKind::Read => {
            let mut body = json!({ "key": k });
            if serializable {
                body["serializable"] = json!(true);
            }
            ("/v3/kv/range", body)
        }
        OpKind::Write => (
            "/v3/kv/put",
            json!({ "key": k, "value": encode_value(value) }),
        ),
        OpKind::Cas => {
            let [from, to] = match value.as_array().map(Vec::as_slice) {
                Some([from, to]) => [from, to],
                _ => return Err(format!("a cas value must be [from, to], got {value}")),
            };
            let compare = if from.is_null() {
                // Never written: no create revision yet.
                json!({ "key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0" })
            } else {
                json!({ "key": k, "target": "VALUE", "result": "EQUAL", "value": encode_value(from) })
            };
            (
                "/v3/kv/txn",
                json!({
                    "compare": [compare],
                    "success": [{ "request_put": { "key": k, "value": encode_value(to) } }],
                }),
            )
        }
        OpKind::Custom(_) => {
            return Err("the etcd client maps only read, write and cas ops".to_string())
        }
    })
}

/// The value a 200 range answer holds: `null` when `kvs` is absent (never written), else the
/// first kv's value, base64-decoded and parsed as JSON (bytes that are not JSON come back as
/// a string, so a foreign value is still reported faithfully).
pub fn decode_range(body: &str) -> Result<Value, String> {
    let answer: Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON ({e})"))?;
    let Some(kvs) = answer.get("kvs") else {
        return Ok(Value::Null);
    };
    let Some(first) = kvs.as_array().and_then(|a| a.first()) else {
        return Ok(Value::Null);
    };
    // An empty value is left out like any empty field.
    let Some(encoded) = first.get("value") else {
        return Ok(Value::String(String::new()));
    };
    let encoded = encoded
        .as_str()
        .ok_or_else(|| format!("kvs[0].value is not a string: {encoded}"))?;
    let bytes = B64
        .decode(encoded)
        .map_err(|e| format!("kvs[0].value is not base64 ({e}): {encoded:?}"))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned())))
}

/// Whether a 200 txn answer says the comparison held (`succeeded` is absent when false);
/// `None` when the body is not the JSON object a txn answer is.
pub fn txn_succeeded(body: &str) -> Option<bool> {
    let answer: Value = serde_json::from_str(body).ok()?;
    let object = answer.as_object()?;
    Some(object.get("succeeded").and_then(Value::as_bool) == Some(true))
}

/// What a status means on the gateway: 2xx done, 4xx rejected (not done), anything else
/// (5xx: timeouts, no leader, unavailable) unknown.
fn meaning(status: u16) -> StatusMeaning {
    match status {
        200..=299 => StatusMeaning::Ok,
        400..=499 => StatusMeaning::Fail,
        _ => StatusMeaning::Unknown,
    }
}

/// Turns what the wire said into the op's completion (pure).
pub fn complete(kind: OpKind, invoke_value: &Value, exchange: &Exchange, node: &str) -> Completion {
    let done = |outcome, value, error| Completion {
        outcome,
        value,
        error,
        node: Some(node.to_owned()),
    };
    if let Exchange::Answered { status, body } = exchange {
        if (200..300).contains(status) {
            match kind {
                OpKind::Read => {
                    return match decode_range(body) {
                        Ok(v) => done(Outcome::Ok, v, None),
                        Err(why) => {
                            done(Outcome::Fail, Value::Null, Some(format!("{status}: {why}")))
                        }
                    };
                }
                OpKind::Cas => {
                    return match txn_succeeded(body) {
                        Some(true) => done(Outcome::Ok, invoke_value.clone(), None),
                        Some(false) => done(
                            Outcome::Fail,
                            invoke_value.clone(),
                            Some("precondition failed: the compare did not hold".into()),
                        ),
                        // A 200 we cannot read: the txn may have been applied.
                        None => done(
                            Outcome::Info,
                            invoke_value.clone(),
                            Some(format!("{status}: unreadable txn answer: {body}")),
                        ),
                    };
                }
                // Never sent: `request` refuses ops other than read, write and cas.
                OpKind::Write | OpKind::Custom(_) => {}
            }
        }
    }
    let pointers = Pointers {
        value: "",
        error: Some("/message"),
        not_found: None,
    };
    mapping::complete(kind, invoke_value, exchange, meaning, pointers, node)
}

/// The leader of an etcd cluster from each node's `POST /v3/maintenance/status` answer
/// (`(node name, answer)`): the member the answers with the highest `raftTerm` name as
/// `leader`, mapped to a node by that node's own `header.member_id`. Pure.
pub fn leader_from_statuses(statuses: &[(String, Value)]) -> Option<String> {
    let num = |v: Option<&Value>| -> Option<u64> {
        match v? {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    };
    let ids: HashMap<u64, &str> = statuses
        .iter()
        .filter_map(|(name, s)| Some((num(s.pointer("/header/member_id"))?, name.as_str())))
        .collect();
    statuses
        .iter()
        .filter_map(|(_, s)| {
            let leader = num(s.get("leader")).filter(|l| *l != 0)?;
            let term = num(s.get("raftTerm")).unwrap_or(0);
            Some((term, leader))
        })
        .max()
        .and_then(|(_, leader)| ids.get(&leader).map(|n| (*n).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, body: &str) -> Exchange {
        Exchange::Answered {
            status,
            body: body.to_owned(),
        }
    }

    #[test]
    fn keys_and_values_are_base64_of_their_text() {
        let opts = EtcdOptions {
            key_prefix: "fl/ab/".into(),
            ..EtcdOptions::default()
        };
        assert_eq!(etcd_key(&opts, Some(&json!(3))), "fl/ab/3");
        assert_eq!(etcd_key(&opts, None), "fl/ab/register");
        let (path, body) = request(OpKind::Write, "foo", &json!(3), false).unwrap();
        assert_eq!(path, "/v3/kv/put");
        assert_eq!(body, json!({"key": "Zm9v", "value": "Mw=="}));
        let (path, body) = request(OpKind::Read, "foo", &Value::Null, false).unwrap();
        assert_eq!((path, body), ("/v3/kv/range", json!({"key": "Zm9v"})));
        let (_, body) = request(OpKind::Read, "foo", &Value::Null, true).unwrap();
        assert_eq!(body, json!({"key": "Zm9v", "serializable": true}));
    }

    #[test]
    fn cas_compares_the_value_or_absence() {
        let (path, body) = request(OpKind::Cas, "k", &json!([1, 2]), false).unwrap();
        assert_eq!(path, "/v3/kv/txn");
        assert_eq!(
            body,
            json!({
                "compare": [{"key": "aw==", "target": "VALUE", "result": "EQUAL", "value": "MQ=="}],
                "success": [{"request_put": {"key": "aw==", "value": "Mg=="}}],
            })
        );
        let (_, body) = request(OpKind::Cas, "k", &json!([null, 2]), false).unwrap();
        assert_eq!(
            body["compare"][0],
            json!({"key": "aw==", "target": "CREATE", "result": "EQUAL", "create_revision": "0"})
        );
        assert!(request(OpKind::Cas, "k", &json!(5), false).is_err());
    }

    #[test]
    fn range_answers_decode_with_omitted_fields() {
        // Measured on etcd 3.4.23: numbers as strings, kvs absent for a missing key.
        let found = r#"{"header":{"cluster_id":"2874022255895604555","member_id":"4762423265421606244","revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"NDI="}],"count":"1"}"#;
        assert_eq!(decode_range(found), Ok(json!(42)));
        let missing =
            r#"{"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"}}"#;
        assert_eq!(decode_range(missing), Ok(Value::Null));
        let not_json = r#"{"kvs":[{"key":"Zm9v","value":"YmFy"}]}"#;
        assert_eq!(decode_range(not_json), Ok(json!("bar")));
        let empty = r#"{"kvs":[{"key":"Zm9v"}]}"#;
        assert_eq!(decode_range(empty), Ok(json!("")));
        assert!(decode_range(r#"{"kvs":[{"value":"***"}]}"#).is_err());
        assert!(decode_range("<html>").is_err());
    }

    #[test]
    fn txn_success_is_absent_when_false() {
        assert_eq!(
            txn_succeeded(r#"{"header":{"revision":"3"},"succeeded":true,"responses":[]}"#),
            Some(true)
        );
        assert_eq!(txn_succeeded(r#"{"header":{"revision":"3"}}"#), Some(false));
        assert_eq!(txn_succeeded("nope"), None);
    }

    #[test]
    fn completions_follow_the_error_mapping() {
        let w = json!(7);
        let cas = json!([1, 2]);
        let timeout = Exchange::NoAnswer {
            reason: "no answer within 2500 ms".into(),
        };
        let refused = Exchange::NotSent {
            reason: "connection refused".into(),
        };
        let unavailable = answered(
            503,
            r#"{"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14}"#,
        );
        let bad = answered(
            400,
            r#"{"error":"x","message":"invalid character","code":3}"#,
        );
        let cases: Vec<(OpKind, &Value, Exchange, Outcome)> = vec![
            (
                OpKind::Write,
                &w,
                answered(200, r#"{"header":{}}"#),
                Outcome::Ok,
            ),
            (OpKind::Write, &w, timeout.clone(), Outcome::Info),
            (OpKind::Write, &w, unavailable.clone(), Outcome::Info),
            (OpKind::Write, &w, answered(500, "{}"), Outcome::Info),
            (OpKind::Write, &w, bad.clone(), Outcome::Fail),
            (OpKind::Write, &w, refused.clone(), Outcome::Fail),
            (
                OpKind::Cas,
                &cas,
                answered(200, r#"{"succeeded":true}"#),
                Outcome::Ok,
            ),
            (
                OpKind::Cas,
                &cas,
                answered(200, r#"{"header":{}}"#),
                Outcome::Fail,
            ),
            (OpKind::Cas, &cas, answered(200, "garbled"), Outcome::Info),
            (OpKind::Cas, &cas, unavailable.clone(), Outcome::Info),
            (OpKind::Cas, &cas, timeout.clone(), Outcome::Info),
            (OpKind::Read, &Value::Null, unavailable, Outcome::Fail),
            (OpKind::Read, &Value::Null, timeout, Outcome::Fail),
            (OpKind::Read, &Value::Null, bad, Outcome::Fail),
            (OpKind::Read, &Value::Null, answered(200, "{}"), Outcome::Ok),
        ];
        for (i, (kind, v, ex, want)) in cases.into_iter().enumerate() {
            let c = complete(kind, v, &ex, "n1");
            assert_eq!(c.outcome, want, "case {i}: {kind:?} {ex:?} -> {c:?}");
            assert_eq!(c.node.as_deref(), Some("n1"), "case {i}");
        }
        let c = complete(
            OpKind::Write,
            &w,
            &answered(503, r#"{"message":"etcdserver: request timed out"}"#),
            "n2",
        );
        assert_eq!(
            c.error.as_deref(),
            Some("503: etcdserver: request timed out")
        );
        assert_eq!(c.value, w);
    }

    #[test]
    fn the_leader_is_named_by_the_highest_term_and_mapped_by_member_id() {
        let status = |me: &str, leader: &str, term: &str| json!({"header": {"member_id": me}, "leader": leader, "raftTerm": term});
        let statuses = vec![
            ("n1".to_string(), status("11", "22", "3")),
            ("n2".to_string(), status("22", "22", "3")),
            // An isolated old leader still names itself in an older term.
            ("n3".to_string(), status("33", "33", "2")),
        ];
        assert_eq!(leader_from_statuses(&statuses).as_deref(), Some("n2"));
        let no_leader = vec![("n1".to_string(), status("11", "0", "4"))];
        assert_eq!(leader_from_statuses(&no_leader), None);
        // A leader id no answering node has: unknown.
        let unknown = vec![("n1".to_string(), status("11", "99", "4"))];
        assert_eq!(leader_from_statuses(&unknown), None);
    }
}
