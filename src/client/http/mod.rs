//! The templated HTTP client: any HTTP service, described in TOML ([`HttpSpec`]), becomes a
//! faultline target without Rust. Each op is a request built from templates; each answer's
//! status is read through the spec's status lists; the error mapping in [`super::mapping`]
//! does the rest.

pub mod codec;
pub mod leader;
pub mod selftest;
mod spec;
mod template;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, Url};
use serde_json::Value;

use super::mapping::{self, AnswerRules, Exchange, OpKind, Pointers};
use super::render::{authority, base_url};
use super::transport::{Hint, Outgoing, Transport};
use super::{Client, ClientError, ClientFactory, Completion, Invocation, NodeInfo, Profile};
use codec::Codecs;
use template::Vars;

pub use leader::{HttpLeader, LeaderSpec};
pub use spec::{
    HttpSpec, OpSpec, SpecError, DEFAULT_KEY_PREFIX, DEFAULT_REDIRECTS, DEFAULT_REGISTER_KEY,
    DEFAULT_TIMEOUT,
};
pub use template::BodyFormat;

/// Opens templated clients; all of them share one connection pool.
#[derive(Clone)]
pub struct HttpFactory {
    spec: Arc<HttpSpec>,
    transport: Transport,
    hint: Option<Arc<dyn Hint>>,
    profile: Option<Profile>,
    /// The run's id (`""`: none) and its key prefix.
    run: Arc<RunScope>,
}

/// The run a factory's clients belong to: `{run}` and the key prefix.
#[derive(Debug, Default)]
struct RunScope {
    run: String,
    prefix: String,
}

impl std::fmt::Debug for HttpFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFactory")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl HttpFactory {
    /// A factory for `spec`; `nodes` are the cluster's nodes, so that a request redirected to
    /// another node is reported under that node's name.
    pub fn new(spec: HttpSpec, nodes: &[NodeInfo]) -> Result<HttpFactory, ClientError> {
        let mut names = HashMap::new();
        for node in nodes {
            let base = base_url(node)?;
            let url = Url::parse(&base).map_err(|e| bad_address(node, e))?;
            names.insert(authority(&url), node.name.clone());
        }
        let transport = Transport::new(names, spec.headers.clone(), connect_timeout(&spec))?;
        Ok(HttpFactory {
            spec: Arc::new(spec),
            transport,
            hint: None,
            profile: None,
            run: Arc::new(RunScope::default()),
        })
    }

    /// Clients of run `run`: `{run}` is `run` and every key carries the spec's key prefix
    /// for it ([`HttpSpec::prefix_for`]). Without it: no run, no prefix.
    pub fn with_run(mut self, run: &str) -> HttpFactory {
        self.run = Arc::new(RunScope {
            run: run.to_owned(),
            prefix: self.spec.prefix_for(run),
        });
        self
    }

    /// The key prefix this factory's clients send (`""`: none).
    pub fn key_prefix(&self) -> &str {
        &self.run.prefix
    }

    /// Clients that send ops through `profile` first (`[profiles.NAME.OP]`), falling back to
    /// the top-level ops; an error when the spec does not define that profile.
    pub fn with_profile(mut self, profile: Profile) -> Result<HttpFactory, ClientError> {
        if !self.spec.has_profile(profile) {
            let has = self.spec.profile_names();
            let has = if has.is_empty() {
                "none".to_owned()
            } else {
                has.join(", ")
            };
            return Err(ClientError::Setup(format!(
                "the client spec has no profile \"{profile}\" (it has: {has})"
            )));
        }
        self.profile = Some(profile);
        Ok(self)
    }

    /// Adds a target-specific redirect hint (raftkv's 421).
    pub(crate) fn with_hint(mut self, hint: Arc<dyn Hint>) -> HttpFactory {
        self.hint = Some(hint);
        self
    }

    /// The spec the clients follow.
    pub fn spec(&self) -> &HttpSpec {
        &self.spec
    }
}

impl ClientFactory for HttpFactory {
    fn open(&self, node: &NodeInfo) -> Result<Box<dyn Client>, ClientError> {
        let base = base_url(node)?;
        let url = Url::parse(&base).map_err(|e| bad_address(node, e))?;
        Ok(Box::new(HttpClient {
            base,
            node: node.name.clone(),
            spec: Arc::clone(&self.spec),
            transport: self.transport.knowing(authority(&url), &node.name),
            hint: self.hint.clone(),
            profile: self.profile,
            run: Arc::clone(&self.run),
        }))
    }
}

/// Half the shortest request timeout: a connect that takes longer is given up as unsent
/// before the request timeout could make it look possibly sent.
fn connect_timeout(spec: &HttpSpec) -> Duration {
    let shortest = spec
        .all_ops()
        .map(|op| op.timeout)
        .min()
        .unwrap_or(DEFAULT_TIMEOUT);
    (shortest / 2).max(Duration::from_millis(1))
}

fn bad_address(node: &NodeInfo, e: impl std::fmt::Display) -> ClientError {
    ClientError::BadAddress {
        node: node.name.clone(),
        address: node.http.clone(),
        reason: e.to_string(),
    }
}

/// A templated client bound to one node.
struct HttpClient {
    /// `http://host:port`, no trailing slash.
    base: String,
    /// The node's name, for completions that never reached the wire.
    node: String,
    spec: Arc<HttpSpec>,
    transport: Transport,
    hint: Option<Arc<dyn Hint>>,
    /// The profile whose ops come first.
    profile: Option<Profile>,
    run: Arc<RunScope>,
}

impl HttpClient {
    /// How `f` is sent: the profile's op, else the top-level register op of that name.
    fn op_spec(&self, f: &str) -> Result<&OpSpec, (OpKind, String)> {
        if let Some(spec) = self.profile.and_then(|p| self.spec.profile_op(p, f)) {
            return Ok(spec);
        }
        let Some(kind) = OpKind::parse(f) else {
            let reason = match self.profile {
                Some(p) => format!(
                    "unsupported op {f:?}: profile \"{p}\" does not define it and it is not read, write or cas"
                ),
                None => format!("unsupported op {f:?}: this client does read, write and cas"),
            };
            // The kind only matters for answered requests; this one is never sent.
            return Err((OpKind::Read, reason));
        };
        self.spec.op(kind).ok_or_else(|| {
            let reason = format!("the client spec has no [{}] section", kind.as_str());
            (kind, reason)
        })
    }

    /// A `fail` for an op that was never sent (unsupported, malformed).
    fn unsent(&self, kind: OpKind, op: &Invocation, reason: String) -> Completion {
        let exchange = Exchange::NotSent { reason };
        let pointers = Pointers {
            value: "",
            error: None,
            not_found: None,
        };
        mapping::complete(
            kind,
            &op.value,
            &exchange,
            |_| mapping::StatusMeaning::Fail,
            pointers,
            &self.node,
        )
    }
}

#[async_trait]
impl Client for HttpClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        let spec = match self.op_spec(&op.f) {
            Ok(spec) => spec,
            Err((kind, reason)) => return self.unsent(kind, op, reason),
        };
        let kind = spec.kind;
        let register = Value::String(self.spec.register_key.clone());
        let key = op.key.as_ref().unwrap_or(&register);
        let codecs = Codecs {
            value: spec.codec,
            key: spec.key_codec,
            prefix: &self.run.prefix,
        };
        let txn = self.profile == Some(Profile::Txn) && matches!(kind, OpKind::Custom(_));
        let vars = match Vars::for_op(kind, key, &op.value) {
            Ok(vars) => vars.encoded(&self.run.run, codecs).txn(txn),
            Err(reason) => return self.unsent(kind, op, reason),
        };
        let url_text = format!("{}{}", self.base, spec.path.render(&vars, true));
        let url = match Url::parse(&url_text) {
            Ok(url) => url,
            Err(e) => return self.unsent(kind, op, format!("bad URL {url_text:?}: {e}")),
        };
        let method = match Method::from_bytes(spec.method.as_bytes()) {
            Ok(m) => m,
            Err(e) => return self.unsent(kind, op, format!("bad method {:?}: {e}", spec.method)),
        };
        let out = Outgoing {
            method,
            url,
            body: spec.body.as_ref().map(|b| b.render(&vars)),
            headers: spec.headers.clone(),
            timeout: spec.timeout,
            max_redirects: spec.max_redirects,
        };
        let delivered = self.transport.send(out, self.hint.as_deref()).await;
        let pointers = Pointers {
            value: &spec.value,
            error: spec.error.as_deref(),
            not_found: spec.not_found_value.as_ref(),
        };
        let rules = AnswerRules {
            text_value: spec.text_value,
            missing_is_not_found: spec.missing_is_not_found,
            succeeded: spec.succeeded.as_deref(),
        };
        let codec = spec.codec;
        mapping::complete_with(
            kind,
            &op.value,
            &delivered.exchange,
            |status| spec.meaning(status),
            (pointers, rules),
            |value| {
                if txn {
                    codec::decode_txn(value, &op.value, codec)
                } else {
                    codec.decode(value)
                }
            },
            &delivered.node,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_the_spec_lacks_is_refused_with_the_ones_it_has() {
        let nodes = [NodeInfo {
            name: "n1".into(),
            http: "127.0.0.1:7001".into(),
        }];
        let registers = HttpSpec::from_toml(
            "[write]\nmethod = \"PUT\"\npath = \"/kv/{key}\"\n",
            "r.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let err = HttpFactory::new(registers, &nodes)
            .and_then(|f| f.with_profile(Profile::Set))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(
                |e| e.ends_with("the client spec has no profile \"set\" (it has: none)")
            ),
            "{err:?}"
        );
        let counter = HttpSpec::from_toml(
            "[profiles.counter.add]\nmethod = \"POST\"\npath = \"/c\"\n",
            "c.toml",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let factory = HttpFactory::new(counter, &nodes).unwrap_or_else(|e| panic!("{e}"));
        let err = factory
            .clone()
            .with_profile(Profile::Txn)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.ends_with("(it has: counter)")),
            "{err:?}"
        );
        assert!(factory.with_profile(Profile::Counter).is_ok());
    }
}
