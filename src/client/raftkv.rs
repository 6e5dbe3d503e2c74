//! The raftkv client: the templated HTTP client with raftkv's API built in
//! (`examples/http/raftkv.toml`), plus raftkv's 421 leader hint.
//!
//! **Redirects.** Each worker talks to one node, but only raftkv's leader serves requests: a
//! follower answers 307 (leader's address known) or 421 `{"leader": ID}` (only its id known),
//! and in both cases did nothing. The client follows such answers to the leader, at most
//! [`RaftkvOptions::max_redirects`] hops, so both sides of a partition are exercised (a
//! minority follower redirects to a leader it can no longer reach, or answers 503) while
//! requests still reach a leader. The completion names the node that answered last. A 421 is
//! followed when the leader's id matches a known node: raftkv ids are node names without
//! their leading `n` (`n3` is id 3), as faultline's local clusters name them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::http::{
    HttpFactory, HttpSpec, SpecError, DEFAULT_REDIRECTS, DEFAULT_REGISTER_KEY, DEFAULT_TIMEOUT,
};
use super::render::{self, base_url};
use super::transport::Hint;
use super::{Client, ClientError, ClientFactory, NodeInfo, Profile};

/// raftkv's API as a templated-client spec (the file shipped as an example).
pub const SPEC_TOML: &str = include_str!("../../examples/http/raftkv.toml");

/// Settings of the raftkv client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftkvOptions {
    /// Request timeout, redirects included.
    pub timeout: Duration,
    /// Redirects (307, or 421 with a known leader) followed at most.
    pub max_redirects: u32,
    /// The key used for ops without one.
    pub register_key: String,
    /// The spec profile the workload's ops go through first
    /// ([`crate::workload::WorkloadSpec::client_profile`]); `None`: read, write and cas only.
    pub profile: Option<Profile>,
}

impl Default for RaftkvOptions {
    fn default() -> RaftkvOptions {
        RaftkvOptions {
            timeout: DEFAULT_TIMEOUT,
            max_redirects: DEFAULT_REDIRECTS,
            register_key: DEFAULT_REGISTER_KEY.to_owned(),
            profile: None,
        }
    }
}

/// raftkv's API spec, parsed from [`SPEC_TOML`].
pub fn spec() -> Result<HttpSpec, SpecError> {
    HttpSpec::from_toml(SPEC_TOML, "examples/http/raftkv.toml")
}

/// Opens raftkv clients.
#[derive(Debug, Clone)]
pub struct RaftkvFactory {
    inner: HttpFactory,
}

impl RaftkvFactory {
    /// A factory for a cluster of `nodes` (used to name redirect targets and follow 421s).
    pub fn new(nodes: &[NodeInfo], options: RaftkvOptions) -> Result<RaftkvFactory, ClientError> {
        let mut spec = spec()?;
        spec.set_timeout(options.timeout);
        spec.set_max_redirects(options.max_redirects);
        spec.register_key = options.register_key;
        let mut leaders = HashMap::new();
        for node in nodes {
            let id = node.name.strip_prefix('n').unwrap_or(&node.name);
            leaders.insert(id.to_owned(), base_url(node)?);
        }
        let hint = LeaderHint { leaders };
        let mut inner = HttpFactory::new(spec, nodes)?.with_hint(Arc::new(hint));
        if let Some(profile) = options.profile {
            inner = inner.with_profile(profile)?;
        }
        Ok(RaftkvFactory { inner })
    }
}

impl ClientFactory for RaftkvFactory {
    fn open(&self, node: &NodeInfo) -> Result<Box<dyn Client>, ClientError> {
        self.inner.open(node)
    }
}

/// Follows raftkv's 421 `{"error":"not leader","leader":ID}` to the node with that id.
#[derive(Debug)]
struct LeaderHint {
    /// raftkv id (as text) → base URL.
    leaders: HashMap<String, String>,
}

impl Hint for LeaderHint {
    fn redirect(&self, status: u16, body: &str, url: &Url) -> Option<Url> {
        if status != 421 {
            return None;
        }
        let answer: Value = serde_json::from_str(body).ok()?;
        let leader = answer.get("leader").filter(|l| !l.is_null())?;
        let base = self.leaders.get(&render::text(leader))?;
        let mut next = Url::parse(base).ok()?;
        next.set_path(url.path());
        next.set_query(url.query());
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::mapping::{OpKind, StatusMeaning};

    #[test]
    fn the_built_in_spec_maps_raftkv_statuses() {
        let s = spec().unwrap_or_else(|e| panic!("{e}"));
        let table = [
            (OpKind::Read, 200, StatusMeaning::Ok),
            (OpKind::Read, 404, StatusMeaning::NotFound),
            (OpKind::Read, 503, StatusMeaning::Fail),
            (OpKind::Read, 504, StatusMeaning::Unknown),
            (OpKind::Write, 200, StatusMeaning::Ok),
            (OpKind::Write, 307, StatusMeaning::Fail),
            (OpKind::Write, 421, StatusMeaning::Fail),
            (OpKind::Write, 404, StatusMeaning::Fail),
            (OpKind::Write, 503, StatusMeaning::Fail),
            (OpKind::Write, 500, StatusMeaning::Unknown),
            (OpKind::Write, 504, StatusMeaning::Unknown),
            (OpKind::Write, 502, StatusMeaning::Unknown),
            (OpKind::Cas, 200, StatusMeaning::Ok),
            (OpKind::Cas, 409, StatusMeaning::Fail),
            (OpKind::Cas, 503, StatusMeaning::Fail),
            (OpKind::Cas, 500, StatusMeaning::Unknown),
            (OpKind::Cas, 504, StatusMeaning::Unknown),
        ];
        for (kind, status, want) in table {
            let op = s.op(kind).unwrap_or_else(|| panic!("{kind:?}"));
            assert_eq!(op.meaning(status), want, "{kind:?} {status}");
        }
        assert_eq!(s.register_key, "register");
    }

    #[test]
    fn a_421_is_followed_to_the_named_leader_keeping_the_path() {
        let hint = LeaderHint {
            leaders: HashMap::from([("2".to_owned(), "http://127.0.0.1:7002".to_owned())]),
        };
        let url =
            Url::parse("http://127.0.0.1:7001/kv/a%2Fb/cas").unwrap_or_else(|e| panic!("{e}"));
        let next = hint.redirect(421, r#"{"error":"not leader","leader":2}"#, &url);
        assert_eq!(
            next.map(String::from).as_deref(),
            Some("http://127.0.0.1:7002/kv/a%2Fb/cas")
        );
        assert_eq!(
            hint.redirect(421, r#"{"leader":9}"#, &url),
            None,
            "unknown id"
        );
        assert_eq!(hint.redirect(421, r#"{"leader":null}"#, &url), None);
        assert_eq!(
            hint.redirect(503, r#"{"leader":2}"#, &url),
            None,
            "only 421"
        );
        assert_eq!(hint.redirect(421, "not json", &url), None);
    }

    #[test]
    fn options_override_the_spec() {
        let nodes = [NodeInfo {
            name: "n1".into(),
            http: "127.0.0.1:7001".into(),
        }];
        let options = RaftkvOptions {
            timeout: Duration::from_millis(250),
            max_redirects: 0,
            register_key: "r".into(),
            profile: Some(Profile::Bank),
        };
        let f = RaftkvFactory::new(&nodes, options).unwrap_or_else(|e| panic!("{e}"));
        let s = f.inner.spec();
        assert_eq!(s.register_key, "r");
        let w = s.op(OpKind::Write).unwrap_or_else(|| panic!("write"));
        assert_eq!(
            (w.timeout, w.max_redirects),
            (Duration::from_millis(250), 0)
        );
        let t = s
            .profile_op(Profile::Bank, "transfer")
            .unwrap_or_else(|| panic!("transfer"));
        assert_eq!(
            (t.timeout, t.max_redirects),
            (Duration::from_millis(250), 0)
        );
        for profile in Profile::ALL {
            let options = RaftkvOptions {
                profile: Some(profile),
                ..RaftkvOptions::default()
            };
            if let Err(e) = RaftkvFactory::new(&nodes, options) {
                panic!("{profile}: {e}");
            }
        }
    }

    #[test]
    fn the_built_in_spec_has_a_profile_per_workload() {
        let s = spec().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.profile_names(),
            vec!["bank", "counter", "set", "txn", "unique-ids"]
        );
        let read = s
            .profile_op(Profile::Set, "read")
            .unwrap_or_else(|| panic!("set read"));
        assert!(!read.kind.has_effect() && read.kind.returns_value());
        assert_eq!(read.not_found_value, Some(serde_json::json!([])));
        assert_eq!(read.meaning(404), StatusMeaning::NotFound);
        let add = s
            .profile_op(Profile::Counter, "add")
            .unwrap_or_else(|| panic!("add"));
        assert!(add.kind.has_effect() && !add.kind.returns_value());
        assert_eq!(add.meaning(409), StatusMeaning::Fail);
        assert_eq!(add.meaning(504), StatusMeaning::Unknown);
        let txn = s
            .profile_op(Profile::Txn, "txn")
            .unwrap_or_else(|| panic!("txn"));
        assert!(txn.kind.has_effect() && txn.kind.returns_value());
        let id = s
            .profile_op(Profile::UniqueIds, "generate")
            .unwrap_or_else(|| panic!("gen"));
        assert!(id.kind.returns_value());
    }
}
