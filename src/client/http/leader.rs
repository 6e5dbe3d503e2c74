//! The client spec's `[leader]` section: how to ask a service which of its nodes leads, so
//! leader faults (`partition-leader`, kills and pauses aimed at `"leader"`) work for
//! `--target http` on external and local clusters alike.
//!
//! Three forms (exactly one):
//!
//! ```toml
//! # (a) every node reports its own id and the id of the node it believes leads
//! [leader]
//! method = "GET"            # default GET
//! path = "/status"
//! self = "/id"              # JSON pointer: the answering node's own id
//! leader = "/leader"        # JSON pointer: the id of the node it believes leads
//!
//! # (b) every node names the leader directly, as a node name, a URL or host:port
//! [leader]
//! path = "/leader"
//! leader = "/url"
//!
//! # (c) a command prints the leader (name, URL or host:port) on its first line
//! [leader]
//! command = "my-admin-tool leader --nodes {urls}"
//! ```
//!
//! Ids may be JSON strings or numbers (`2` and `"2"` are the same id). With (a) and (b) the
//! leader is the one claimed by the most answering nodes (a deposed leader cut off by a
//! partition still believes it leads, but the majority has moved on); a tie is no answer, and
//! with (a) the claimed node must itself answer, with that id, claiming to lead. The pure
//! resolution is [`resolve_by_ids`] and [`resolve_by_names`]; [`HttpLeader`] does the asking.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::client::NodeInfo;
use crate::node_control::LeaderProbe;

/// Default time one leader question may take (a paused node never answers).
pub const DEFAULT_LEADER_TIMEOUT: Duration = Duration::from_millis(1000);
const MAX_TIMEOUT_MS: u64 = 60_000;

/// `[leader]` as written (unknown fields are errors).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLeader {
    method: Option<String>,
    path: Option<String>,
    body: Option<toml::Value>,
    #[serde(rename = "self")]
    self_id: Option<String>,
    leader: Option<String>,
    command: Option<String>,
    timeout_ms: Option<u64>,
}

/// A validated `[leader]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderSpec {
    /// How the leader is found.
    pub how: LeaderHow,
    /// How long one question (one request, or the command) may take.
    pub timeout: Duration,
}

/// The three ways of finding the leader.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaderHow {
    /// Ask every node; read its own id at `self_id` and the leader's id at `leader`.
    Ids {
        /// The request.
        request: LeaderRequest,
        /// Pointer to the answering node's own id.
        self_id: String,
        /// Pointer to the id of the node it believes leads.
        leader: String,
    },
    /// Ask every node; read the leader's name, URL or host:port at `leader`.
    Named {
        /// The request.
        request: LeaderRequest,
        /// Pointer to the leader's name, URL or host:port.
        leader: String,
    },
    /// Run `sh -c command` (after `{nodes}`, `{urls}` substitution); its first output line
    /// names the leader.
    Command(String),
}

/// One request sent to every node.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderRequest {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path starting with `/`.
    pub path: String,
    /// The body sent verbatim (a TOML table is sent as JSON), if any.
    pub body: Option<String>,
}

/// Validates `[leader]`; the error is `(field, message)` with the field as a TOML path.
pub fn validate(raw: RawLeader) -> Result<LeaderSpec, (String, String)> {
    let bad = |field: &str, message: String| (format!("leader.{field}"), message);
    let timeout = match raw.timeout_ms {
        None => DEFAULT_LEADER_TIMEOUT,
        Some(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Duration::from_millis(ms),
        Some(ms) => {
            return Err(bad(
                "timeout_ms",
                format!("must be 1..={MAX_TIMEOUT_MS} ms, got {ms}"),
            ))
        }
    };
    if let Some(command) = raw.command {
        let extra = [
            ("method", raw.method.is_some()),
            ("path", raw.path.is_some()),
            ("body", raw.body.is_some()),
            ("self", raw.self_id.is_some()),
            ("leader", raw.leader.is_some()),
        ];
        if let Some((field, _)) = extra.iter().find(|(_, given)| *given) {
            return Err(bad(
                field,
                "a [leader] with a command takes no request fields (give either command, or path and leader)".into(),
            ));
        }
        if command.trim().is_empty() {
            return Err(bad("command", "must not be empty".into()));
        }
        return Ok(LeaderSpec {
            how: LeaderHow::Command(command),
            timeout,
        });
    }
    let Some(path) = raw.path else {
        return Err(bad(
            "path",
            "give path and leader (the node's answer names the leader), or command".into(),
        ));
    };
    if !path.starts_with('/') || reqwest::Url::parse(&format!("http://127.0.0.1:1{path}")).is_err()
    {
        return Err(bad(
            "path",
            format!("must be a URL path starting with '/', got {path:?}"),
        ));
    }
    let method = raw
        .method
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(bad("method", format!("not an HTTP method: {method:?}")));
    }
    let body = match raw.body {
        None => None,
        Some(toml::Value::String(s)) => Some(s),
        Some(other) => Some(
            serde_json::to_string(&other)
                .map_err(|e| bad("body", format!("cannot be JSON: {e}")))?,
        ),
    };
    let request = LeaderRequest { method, path, body };
    let pointer = |field: &str, p: Option<String>| -> Result<String, (String, String)> {
        match p {
            None => Err(bad(
                field,
                "missing: a JSON pointer into the node's answer (e.g. \"/leader\")".into(),
            )),
            Some(p) if !p.is_empty() && !p.starts_with('/') => Err(bad(
                field,
                format!("a JSON pointer is \"\" or starts with '/', got {p:?}"),
            )),
            Some(p) => Ok(p),
        }
    };
    let leader = pointer("leader", raw.leader)?;
    let how = match raw.self_id {
        Some(s) => LeaderHow::Ids {
            request,
            self_id: pointer("self", Some(s))?,
            leader,
        },
        None => LeaderHow::Named { request, leader },
    };
    Ok(LeaderSpec { how, timeout })
}

/// An id as found in an answer: a string as is, a number in decimal; anything else (null, an
/// object, an empty string) is no id. Pure.
pub fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Form (a): each answering node's `(name, own id, leader id it reports)`. The leader is the
/// id claimed by the most answering nodes (a tie is `None`) whose node answered with that id
/// as its own and claims to lead itself. Pure.
pub fn resolve_by_ids(answers: &[(String, Option<String>, Option<String>)]) -> Option<String> {
    let claims = answers.iter().filter_map(|(_, _, leader)| leader.clone());
    let winner = most_claimed(claims)?;
    answers
        .iter()
        .find(|(_, own, leader)| {
            own.as_deref() == Some(winner.as_str()) && leader.as_deref() == Some(winner.as_str())
        })
        .map(|(name, _, _)| name.clone())
}

/// Form (b): the leader each answering node names (name, URL or host:port, matched against
/// `nodes`); the node named by the most (a tie is `None`). Pure.
pub fn resolve_by_names(claims: &[String], nodes: &[NodeInfo]) -> Option<String> {
    most_claimed(claims.iter().filter_map(|c| match_node(c, nodes)))
}

/// The value claimed most often; `None` when there is none or the top count is shared.
fn most_claimed(claims: impl Iterator<Item = String>) -> Option<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in claims {
        *counts.entry(c).or_default() += 1;
    }
    let top = counts.values().copied().max()?;
    let mut winners = counts.into_iter().filter(|(_, n)| *n == top);
    let (winner, _) = winners.next()?;
    winners.next().is_none().then_some(winner)
}

/// The node `text` names: its name, its URL (a trailing `/` ignored) or its host:port. Pure.
pub fn match_node(text: &str, nodes: &[NodeInfo]) -> Option<String> {
    let text = text.trim().trim_end_matches('/');
    let bare = |s: &str| {
        s.trim_end_matches('/')
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_owned()
    };
    nodes
        .iter()
        .find(|n| n.name == text)
        .or_else(|| nodes.iter().find(|n| bare(&n.http) == bare(text)))
        .map(|n| n.name.clone())
}

/// The base URL of a node (`http://` added to a bare `host:port`).
fn base_url(node: &NodeInfo) -> String {
    let base = node.http.trim_end_matches('/');
    if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    }
}

/// The spec's leader probe over a set of nodes: the nemesis's "who leads now".
#[derive(Debug, Clone)]
pub struct HttpLeader {
    spec: LeaderSpec,
    nodes: Vec<NodeInfo>,
    headers: Vec<(String, String)>,
    http: reqwest::Client,
}

impl HttpLeader {
    /// A probe asking `nodes` as `spec` says, sending `headers` (the client spec's) with each
    /// request.
    pub fn new(
        spec: LeaderSpec,
        nodes: Vec<NodeInfo>,
        headers: Vec<(String, String)>,
    ) -> anyhow::Result<HttpLeader> {
        let http = reqwest::Client::builder()
            .timeout(spec.timeout)
            .no_proxy()
            .build()
            .map_err(|e| anyhow::anyhow!("building the leader probe's HTTP client: {e}"))?;
        Ok(HttpLeader {
            spec,
            nodes,
            headers,
            http,
        })
    }

    /// Every node's answer to `request` (JSON), in node order; nodes that gave none are left
    /// out.
    async fn ask_all(&self, request: &LeaderRequest) -> Vec<(String, Value)> {
        let mut set = tokio::task::JoinSet::new();
        for (k, node) in self.nodes.iter().enumerate() {
            let url = format!("{}{}", base_url(node), request.path);
            let method = reqwest::Method::from_bytes(request.method.as_bytes())
                .unwrap_or(reqwest::Method::GET);
            let mut req = self.http.request(method, url);
            for (name, value) in &self.headers {
                req = req.header(name, value);
            }
            if let Some(body) = &request.body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            set.spawn(async move {
                let resp = req.send().await.ok()?;
                if !resp.status().is_success() {
                    return None;
                }
                Some((k, resp.json::<Value>().await.ok()?))
            });
        }
        let mut out = Vec::new();
        while let Some(joined) = set.join_next().await {
            if let Ok(Some(answer)) = joined {
                out.push(answer);
            }
        }
        out.sort_by_key(|(k, _)| *k);
        out.into_iter()
            .map(|(k, v)| (self.nodes[k].name.clone(), v))
            .collect()
    }

    async fn run_command(&self, template: &str) -> Option<String> {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        let urls: Vec<String> = self.nodes.iter().map(base_url).collect();
        let command = template
            .replace("{nodes}", &names.join(" "))
            .replace("{urls}", &urls.join(" "));
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("FAULTLINE_NODES", names.join(" "))
            .env("FAULTLINE_NODE_URLS", urls.join(" "))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        let out = tokio::time::timeout(self.spec.timeout, child.wait_with_output())
            .await
            .ok()?
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        match_node(text.lines().next()?, &self.nodes)
    }
}

#[async_trait::async_trait]
impl LeaderProbe for HttpLeader {
    async fn leader(&self) -> Option<String> {
        match &self.spec.how {
            LeaderHow::Ids {
                request,
                self_id,
                leader,
            } => {
                let answers: Vec<(String, Option<String>, Option<String>)> = self
                    .ask_all(request)
                    .await
                    .into_iter()
                    .map(|(name, v)| {
                        let own = v.pointer(self_id).and_then(id_of);
                        let lead = v.pointer(leader).and_then(id_of);
                        (name, own, lead)
                    })
                    .collect();
                resolve_by_ids(&answers)
            }
            LeaderHow::Named { request, leader } => {
                let claims: Vec<String> = self
                    .ask_all(request)
                    .await
                    .into_iter()
                    .filter_map(|(_, v)| id_of(v.pointer(leader)?))
                    .collect();
                resolve_by_names(&claims, &self.nodes)
            }
            LeaderHow::Command(template) => self.run_command(template).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(text: &str) -> Result<LeaderSpec, (String, String)> {
        let raw: RawLeader = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        validate(raw)
    }

    fn a(name: &str, own: &str, leader: Option<&str>) -> (String, Option<String>, Option<String>) {
        (name.into(), Some(own.into()), leader.map(str::to_owned))
    }

    fn nodes() -> Vec<NodeInfo> {
        (1..=3)
            .map(|i| NodeInfo {
                name: format!("n{i}"),
                http: format!("http://10.0.0.{i}:2379"),
            })
            .collect()
    }

    #[test]
    fn the_three_forms_parse() {
        let ids = parse("path = \"/status\"\nself = \"/id\"\nleader = \"/leader\"").unwrap();
        assert!(matches!(ids.how, LeaderHow::Ids { ref request, .. } if request.method == "GET"));
        let named =
            parse("method = \"post\"\npath = \"/l\"\nleader = \"/url\"\nbody = {}").unwrap();
        match named.how {
            LeaderHow::Named { request, leader } => {
                assert_eq!(request.method, "POST");
                assert_eq!(request.body.as_deref(), Some("{}"));
                assert_eq!(leader, "/url");
            }
            other => panic!("{other:?}"),
        }
        let cmd = parse("command = \"echo n1\"\ntimeout_ms = 5000").unwrap();
        assert_eq!(cmd.how, LeaderHow::Command("echo n1".into()));
        assert_eq!(cmd.timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_sections_name_the_field() {
        let field = |t: &str| parse(t).unwrap_err().0;
        assert_eq!(field("command = \"x\"\npath = \"/s\""), "leader.path");
        assert_eq!(field("leader = \"/l\""), "leader.path");
        assert_eq!(field("path = \"/s\""), "leader.leader");
        assert_eq!(field("path = \"s\"\nleader = \"/l\""), "leader.path");
        assert_eq!(field("path = \"/s\"\nleader = \"l\""), "leader.leader");
        assert_eq!(
            field("path = \"/s\"\nleader = \"/l\"\ntimeout_ms = 0"),
            "leader.timeout_ms"
        );
        assert!(toml::from_str::<RawLeader>("paht = \"/s\"").is_err());
    }

    #[test]
    fn ids_are_strings_or_numbers() {
        assert_eq!(id_of(&json!(2)).as_deref(), Some("2"));
        assert_eq!(id_of(&json!("123")).as_deref(), Some("123"));
        assert_eq!(id_of(&json!(null)), None);
        assert_eq!(id_of(&json!("")), None);
    }

    #[test]
    fn the_majority_beats_a_deposed_leader() {
        // n1 was leader and is cut off with n2; n3, n4, n5 elected n4.
        let answers = vec![
            a("n1", "1", Some("1")),
            a("n2", "2", Some("1")),
            a("n3", "3", Some("4")),
            a("n4", "4", Some("4")),
            a("n5", "5", Some("4")),
        ];
        assert_eq!(resolve_by_ids(&answers).as_deref(), Some("n4"));
    }

    #[test]
    fn the_claimed_node_must_answer_and_claim_itself() {
        // n3 is claimed but did not answer (paused): no leader.
        let answers = vec![a("n1", "1", Some("3")), a("n2", "2", Some("3"))];
        assert_eq!(resolve_by_ids(&answers), None);
        // n3 answers but follows someone else now.
        let mut answers = answers;
        answers.push(a("n3", "3", Some("2")));
        assert_eq!(resolve_by_ids(&answers), None);
    }

    #[test]
    fn a_tie_or_no_claim_is_no_leader() {
        let tie = vec![
            a("n1", "1", Some("1")),
            a("n2", "2", Some("2")),
            a("n3", "3", None),
        ];
        assert_eq!(resolve_by_ids(&tie), None);
        assert_eq!(resolve_by_ids(&[a("n1", "1", None)]), None);
        assert_eq!(resolve_by_ids(&[]), None);
        // etcd ids: the leader's member id as a string.
        let etcd = vec![
            a("n1", "8e9e05c52164694d", Some("91bc3c398fb3c146")),
            a("n2", "91bc3c398fb3c146", Some("91bc3c398fb3c146")),
        ];
        assert_eq!(resolve_by_ids(&etcd).as_deref(), Some("n2"));
    }

    #[tokio::test]
    async fn a_command_names_the_leader_by_url() {
        let spec = parse("command = \"echo {urls} | cut -d' ' -f3\"").unwrap();
        let probe = HttpLeader::new(spec, nodes(), Vec::new()).unwrap();
        assert_eq!(probe.leader().await.as_deref(), Some("n3"));
        let spec = parse("command = \"echo nobody\"").unwrap();
        let probe = HttpLeader::new(spec, nodes(), Vec::new()).unwrap();
        assert_eq!(probe.leader().await, None);
    }

    #[test]
    fn names_urls_and_host_ports_match_nodes() {
        let nodes = nodes();
        assert_eq!(match_node("n2", &nodes).as_deref(), Some("n2"));
        assert_eq!(
            match_node("http://10.0.0.3:2379/", &nodes).as_deref(),
            Some("n3")
        );
        assert_eq!(match_node("10.0.0.1:2379", &nodes).as_deref(), Some("n1"));
        assert_eq!(match_node("10.0.0.9:2379", &nodes), None);
        let claims = vec!["n2".into(), "10.0.0.2:2379".into(), "n1".into()];
        assert_eq!(resolve_by_names(&claims, &nodes).as_deref(), Some("n2"));
        assert_eq!(resolve_by_names(&claims[1..], &nodes), None);
    }
}
