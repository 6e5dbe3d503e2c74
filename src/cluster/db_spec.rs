//! The db spec (`--db DB.toml`): how to run one node of any system, so faultline can start a
//! local cluster of it ([`super::generic`]). Parsing, validation and template rendering are
//! pure; nothing here starts a process. The format, by example (`db/etcd.toml` and
//! `db/raftkv.toml` are complete ones; docs/db-spec.md walks through them):
//!
//! ```toml
//! name = "etcd"
//! binary = "etcd"                # a name looked up on PATH, an absolute path, or a path
//!                                # with a '/' relative to this file's directory
//! binary_env = "FAULTLINE_ETCD"  # optional: this variable, when set, overrides binary
//! client_port = 2379             # each node has its own namespace and IP: fixed ports work
//! peer_port = 2380
//! args = ["--name", "{name}", "--data-dir", "{data_dir}", "--initial-cluster", "{peers}"]
//! peer = "{name}=http://{host}:{peer_port}"   # one peer in {peers}
//! peer_separator = ","
//! peer_args = []                 # appended per other node (raftkv: ["--peer", "{index}={host}:{peer_port}"])
//! env = { GOMAXPROCS = "2" }
//! stop_signal = "TERM"           # graceful stop at the end (then KILL after stop_grace_ms)
//! startup_timeout_s = 60
//! logs = []                      # extra log files (relative to the data dir) quoted on failure
//! data_files = ["member/wal/*.wal"]  # globs (relative to the data dir) the file-corruption
//!                                # nemesis may damage; none: it refuses the schedule
//!
//! [health]                       # one of: http = "/path" (GET answers 2xx), tcp = true,
//! http = "/health"               # command = "..." (sh -c, exit 0)
//! ```
//!
//! Templates: `{name}` (`n1`...), `{index}` (1-based), `{index0}`, `{host}` (the node's IP),
//! `{client_port}`, `{peer_port}`, `{client_url}` (`http://{host}:{client_port}`),
//! `{peer_url}`, `{data_dir}`, `{run}` (the run id, e.g. a cluster token), `{seed}` (the
//! node's seed from the run's seed tree), `{peers}` (every node rendered through `peer` and
//! joined with `peer_separator`). In `peer` and `peer_args` the variables are the peer's
//! (`{peers}` is not available there). `{{` and `}}` are literal braces.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::placeholders::{self, Piece};

/// Why a db spec was rejected: the file and what is wrong with which field.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct DbSpecError {
    /// The spec file.
    pub file: String,
    /// The field, as a TOML path (`args[2]`), or `file` for a read or syntax error.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Every variable a node template may use.
pub const NODE_VARS: &[&str] = &[
    "name",
    "index",
    "index0",
    "host",
    "client_port",
    "peer_port",
    "client_url",
    "peer_url",
    "data_dir",
    "run",
    "seed",
    "peers",
];

const DEFAULT_STARTUP: Duration = Duration::from_secs(60);
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_millis(1000);

/// A validated db spec.
#[derive(Debug, Clone, PartialEq)]
pub struct DbSpec {
    /// The system's name (messages, run names).
    pub name: String,
    /// Where the binary is to be found.
    pub binary: BinarySource,
    /// The command line after the binary.
    pub args: Vec<Template>,
    /// Per other node, appended after `args` with that node's variables.
    pub peer_args: Vec<Template>,
    /// One peer of `{peers}`, with that peer's variables.
    pub peer: Template,
    /// Between two peers in `{peers}`.
    pub peer_separator: String,
    /// Extra environment of every node.
    pub env: Vec<(String, Template)>,
    /// The port clients use, on the node's own IP.
    pub client_port: u16,
    /// The port peers use, on the node's own IP.
    pub peer_port: u16,
    /// When a node counts as up.
    pub health: Health,
    /// How long one health probe may take.
    pub health_timeout: Duration,
    /// The signal of a graceful stop at the end of a run.
    pub stop_signal: nix::sys::signal::Signal,
    /// How long a graceful stop may take before the node is killed.
    pub stop_grace: Duration,
    /// How long every node may take to be healthy at start (and a restarted one to answer).
    pub startup_timeout: Duration,
    /// Extra log files, relative to the node's data dir, quoted when it fails.
    pub logs: Vec<PathBuf>,
    /// Globs, relative to the data dir, of the files file-corruption faults may damage
    /// (`*`, `?` within a segment, `**` across; see [`crate::glob`]).
    pub data_files: Vec<String>,
}

/// Where the node binary comes from (resolved by [`DbSpec::locate_binary`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BinarySource {
    /// As written.
    pub written: String,
    /// The spec file's directory (relative paths with a `/` are relative to it).
    pub base: PathBuf,
    /// An environment variable that overrides `written` when set.
    pub env: Option<String>,
}

/// A node's health probe.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// `GET http://{host}:{client_port}PATH` answers 2xx.
    Http(String),
    /// A TCP connect to the client port succeeds.
    Tcp,
    /// `sh -c COMMAND` (a template with the node's variables) exits 0.
    Command(Template),
}

/// A string with `{var}` placeholders, checked against the variables it may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

type Part = Piece<String>;

impl Template {
    /// Parses `text`, allowing only `vars`. Pure.
    pub fn parse(text: &str, vars: &[&str]) -> Result<Template, String> {
        let parts = placeholders::split(text, |name| {
            if vars.contains(&name) {
                Ok(name.to_owned())
            } else {
                Err(format!(
                    "unknown placeholder {{{name}}} in {text:?}; available: {}",
                    vars.iter()
                        .map(|v| format!("{{{v}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        })?;
        Ok(Template { parts })
    }

    /// The text with every placeholder replaced from `vars` (a missing one renders empty;
    /// parsing has already refused unknown names). Pure.
    pub fn render(&self, vars: &BTreeMap<&str, String>) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Var(v) => vars.get(v.as_str()).map_or("", String::as_str),
            })
            .collect()
    }
}

/// One node as the templates see it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    /// `n1`, ...
    pub name: String,
    /// Its IP on the private network.
    pub host: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its seed (from the run's seed tree).
    pub seed: u64,
}

impl DbSpec {
    /// Parses and validates a spec; `path` names it in errors and anchors relative binaries.
    pub fn from_toml(text: &str, path: &Path) -> Result<DbSpec, DbSpecError> {
        let file = path.display().to_string();
        let err = |field: String, message: String| DbSpecError {
            file: file.clone(),
            field,
            message,
        };
        let raw: RawDb =
            toml::from_str(text).map_err(|e| err("file".into(), e.to_string().trim().into()))?;
        let base = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        raw.validate(base).map_err(|(f, m)| err(f, m))
    }

    /// Reads and validates a spec file.
    pub fn from_file(path: &Path) -> Result<DbSpec, DbSpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| DbSpecError {
            file: path.display().to_string(),
            field: "file".into(),
            message: format!("cannot read: {e}"),
        })?;
        DbSpec::from_toml(&text, path)
    }

    /// The binary: `$binary_env` when set, else `binary` (an absolute path; a relative path
    /// with a `/`, against the spec's directory; a bare name, on `PATH`). The error lists
    /// every place looked at.
    pub fn locate_binary(&self) -> Result<PathBuf, String> {
        let b = &self.binary;
        let mut looked: Vec<PathBuf> = Vec::new();
        let overridden = b
            .env
            .as_ref()
            .and_then(|v| std::env::var_os(v).map(|p| (v, PathBuf::from(p))));
        if let Some((_, p)) = &overridden {
            looked.push(p.clone());
        } else if b.written.contains('/') {
            let p = Path::new(&b.written);
            looked.push(if p.is_absolute() {
                p.to_path_buf()
            } else {
                b.base.join(p)
            });
        } else if let Some(path) = std::env::var_os("PATH") {
            looked.extend(std::env::split_paths(&path).map(|d| d.join(&b.written)));
        }
        if let Some(found) = looked.iter().find(|p| p.is_file()) {
            return Ok(found.clone());
        }
        let how = match (&overridden, &b.env) {
            (Some((v, _)), _) => format!(" (from ${v})"),
            (None, Some(v)) => format!(" (${v} overrides it)"),
            (None, None) => String::new(),
        };
        Err(format!(
            "{}: binary {:?} not found{how}; looked at: {}",
            self.name,
            b.written,
            if looked.is_empty() {
                "nothing (PATH is unset)".to_owned()
            } else {
                looked
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))
    }

    /// The same spec running `path` itself (no `PATH` lookup, no `binary_env`): how a
    /// built-in target's own flag (`--etcd-bin`) picks the binary of an embedded spec. A
    /// bare relative name is taken in the current directory, as the flag would.
    pub fn with_binary(mut self, path: &Path) -> DbSpec {
        let path = if path.is_relative() && path.components().count() == 1 {
            Path::new(".").join(path)
        } else {
            path.to_path_buf()
        };
        self.binary = BinarySource {
            written: path.display().to_string(),
            base: PathBuf::from("."),
            env: None,
        };
        self
    }

    fn vars<'a>(&self, node: &NodeFacts, index0: usize, run: &str) -> BTreeMap<&'a str, String> {
        let host = &node.host;
        BTreeMap::from([
            ("name", node.name.clone()),
            ("index", (index0 + 1).to_string()),
            ("index0", index0.to_string()),
            ("host", host.clone()),
            ("client_port", self.client_port.to_string()),
            ("peer_port", self.peer_port.to_string()),
            ("client_url", format!("http://{host}:{}", self.client_port)),
            ("peer_url", format!("http://{host}:{}", self.peer_port)),
            ("data_dir", node.data_dir.display().to_string()),
            ("run", run.to_owned()),
            ("seed", node.seed.to_string()),
        ])
    }

    /// Node `i`'s variables, `{peers}` included. Pure.
    pub fn node_vars(&self, nodes: &[NodeFacts], i: usize, run: &str) -> BTreeMap<&str, String> {
        let peers: Vec<String> = nodes
            .iter()
            .enumerate()
            .map(|(k, n)| self.peer.render(&self.vars(n, k, run)))
            .collect();
        let mut vars = self.vars(&nodes[i], i, run);
        vars.insert("peers", peers.join(&self.peer_separator));
        vars
    }

    /// Node `i`'s command line after the binary: `args`, then `peer_args` once per other
    /// node. Pure.
    pub fn command_args(&self, nodes: &[NodeFacts], i: usize, run: &str) -> Vec<String> {
        let vars = self.node_vars(nodes, i, run);
        let mut out: Vec<String> = self.args.iter().map(|a| a.render(&vars)).collect();
        for (k, peer) in nodes.iter().enumerate().filter(|(k, _)| *k != i) {
            let pv = self.vars(peer, k, run);
            out.extend(self.peer_args.iter().map(|a| a.render(&pv)));
        }
        out
    }

    /// Node `i`'s extra environment. Pure.
    pub fn command_env(&self, nodes: &[NodeFacts], i: usize, run: &str) -> Vec<(String, String)> {
        let vars = self.node_vars(nodes, i, run);
        self.env
            .iter()
            .map(|(k, v)| (k.clone(), v.render(&vars)))
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDb {
    name: String,
    binary: String,
    binary_env: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    peer_args: Vec<String>,
    peer: Option<String>,
    peer_separator: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    client_port: u16,
    peer_port: Option<u16>,
    health: Option<RawHealth>,
    stop_signal: Option<String>,
    stop_grace_ms: Option<u64>,
    startup_timeout_s: Option<u64>,
    #[serde(default)]
    logs: Vec<String>,
    #[serde(default)]
    data_files: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    http: Option<String>,
    tcp: Option<bool>,
    command: Option<String>,
    timeout_ms: Option<u64>,
}

type FieldError = (String, String);

impl RawDb {
    fn validate(self, base: PathBuf) -> Result<DbSpec, FieldError> {
        let bad = |f: &str, m: String| (f.to_owned(), m);
        let name = self.name.trim().to_owned();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(bad(
                "name",
                format!(
                    "letters, digits, '-', '_' and '.' only, got {:?}",
                    self.name
                ),
            ));
        }
        if self.binary.trim().is_empty() {
            return Err(bad("binary", "must not be empty".into()));
        }
        if let Some(v) = &self.binary_env {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad(
                    "binary_env",
                    format!("not an environment variable name: {v:?}"),
                ));
            }
        }
        let node_template =
            |field: String, text: &str| Template::parse(text, NODE_VARS).map_err(|m| (field, m));
        let peer_vars: Vec<&str> = NODE_VARS
            .iter()
            .copied()
            .filter(|v| *v != "peers")
            .collect();
        let peer_template =
            |field: String, text: &str| Template::parse(text, &peer_vars).map_err(|m| (field, m));
        let args = self
            .args
            .iter()
            .enumerate()
            .map(|(k, a)| node_template(format!("args[{k}]"), a))
            .collect::<Result<Vec<_>, _>>()?;
        let peer_args = self
            .peer_args
            .iter()
            .enumerate()
            .map(|(k, a)| peer_template(format!("peer_args[{k}]"), a))
            .collect::<Result<Vec<_>, _>>()?;
        let peer = peer_template(
            "peer".into(),
            self.peer.as_deref().unwrap_or("{name}={peer_url}"),
        )?;
        let mut env = Vec::new();
        for (k, v) in &self.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(bad(&format!("env.{k}"), "not a variable name".into()));
            }
            env.push((k.clone(), node_template(format!("env.{k}"), v)?));
        }
        if self.client_port == 0 {
            return Err(bad("client_port", "must be 1..=65535".into()));
        }
        let peer_port = match self.peer_port {
            Some(0) => return Err(bad("peer_port", "must be 1..=65535".into())),
            Some(p) if p == self.client_port => {
                return Err(bad("peer_port", "must differ from client_port".into()))
            }
            Some(p) => p,
            None => self.client_port.saturating_add(1),
        };
        let (health, health_timeout) = match self.health {
            None => (Health::Tcp, DEFAULT_HEALTH_TIMEOUT),
            Some(h) => {
                let timeout = match h.timeout_ms {
                    None => DEFAULT_HEALTH_TIMEOUT,
                    Some(ms @ 1..=60_000) => Duration::from_millis(ms),
                    Some(ms) => {
                        return Err(bad(
                            "health.timeout_ms",
                            format!("must be 1..=60000, got {ms}"),
                        ))
                    }
                };
                let given = [h.http.is_some(), h.tcp == Some(true), h.command.is_some()];
                if given.iter().filter(|g| **g).count() != 1 {
                    return Err(bad(
                        "health",
                        "give exactly one of http = \"/path\", tcp = true, command = \"...\""
                            .into(),
                    ));
                }
                let health = if let Some(p) = h.http {
                    if !p.starts_with('/')
                        || reqwest::Url::parse(&format!("http://127.0.0.1:1{p}")).is_err()
                    {
                        return Err(bad(
                            "health.http",
                            format!("must be a URL path starting with '/', got {p:?}"),
                        ));
                    }
                    Health::Http(p)
                } else if let Some(c) = h.command {
                    Health::Command(node_template("health.command".into(), &c)?)
                } else {
                    Health::Tcp
                };
                (health, timeout)
            }
        };
        let stop_signal = match self.stop_signal.as_deref() {
            None => nix::sys::signal::Signal::SIGTERM,
            Some(s) => parse_signal(s).ok_or_else(|| {
                bad(
                    "stop_signal",
                    format!("not a signal name: {s:?} (e.g. \"TERM\", \"INT\", \"KILL\")"),
                )
            })?,
        };
        let stop_grace = match self.stop_grace_ms {
            None => DEFAULT_STOP_GRACE,
            Some(ms @ 0..=120_000) => Duration::from_millis(ms),
            Some(ms) => {
                return Err(bad(
                    "stop_grace_ms",
                    format!("must be 0..=120000, got {ms}"),
                ))
            }
        };
        let startup_timeout = match self.startup_timeout_s {
            None => DEFAULT_STARTUP,
            Some(s @ 1..=3600) => Duration::from_secs(s),
            Some(s) => {
                return Err(bad(
                    "startup_timeout_s",
                    format!("must be 1..=3600, got {s}"),
                ))
            }
        };
        let mut logs = Vec::new();
        for (k, l) in self.logs.iter().enumerate() {
            let p = PathBuf::from(l);
            if l.is_empty()
                || p.is_absolute()
                || p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(bad(
                    &format!("logs[{k}]"),
                    format!("a path inside the node's data dir, got {l:?}"),
                ));
            }
            logs.push(p);
        }
        for (k, g) in self.data_files.iter().enumerate() {
            crate::glob::check(g).map_err(|m| bad(&format!("data_files[{k}]"), m))?;
        }
        Ok(DbSpec {
            name,
            binary: BinarySource {
                written: self.binary,
                base,
                env: self.binary_env,
            },
            args,
            peer_args,
            peer,
            peer_separator: self.peer_separator.unwrap_or_else(|| ",".into()),
            env,
            client_port: self.client_port,
            peer_port,
            health,
            health_timeout,
            stop_signal,
            stop_grace,
            startup_timeout,
            logs,
            data_files: self.data_files,
        })
    }
}

/// `TERM`, `SIGTERM`, `term` → SIGTERM. Pure.
pub fn parse_signal(s: &str) -> Option<nix::sys::signal::Signal> {
    let upper = s.trim().to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETCDISH: &str = r#"
name = "etcd"
binary = "etcd"
client_port = 2379
peer_port = 2380
args = ["--name", "{name}", "--data-dir", "{data_dir}", "--listen-client-urls", "{client_url}",
        "--initial-cluster", "{peers}", "--initial-cluster-token", "{run}"]
peer = "{name}=http://{host}:{peer_port}"
env = { ETCD_X = "{index}-{{lit}}" }
[health]
http = "/health"
"#;

    fn spec(text: &str) -> Result<DbSpec, DbSpecError> {
        DbSpec::from_toml(text, Path::new("db/x.toml"))
    }

    fn nodes(n: usize) -> Vec<NodeFacts> {
        (1..=n)
            .map(|i| NodeFacts {
                name: format!("n{i}"),
                host: format!("10.9.0.{}", i + 1),
                data_dir: PathBuf::from(format!("/r/nodes/n{i}/data")),
                seed: i as u64 * 100,
            })
            .collect()
    }

    #[test]
    fn an_etcd_like_spec_renders_its_command_line() {
        let s = spec(ETCDISH).unwrap_or_else(|e| panic!("{e}"));
        let args = s.command_args(&nodes(3), 1, "flabc").join(" ");
        assert_eq!(
            args,
            "--name n2 --data-dir /r/nodes/n2/data --listen-client-urls http://10.9.0.3:2379 \
             --initial-cluster n1=http://10.9.0.2:2380,n2=http://10.9.0.3:2380,n3=http://10.9.0.4:2380 \
             --initial-cluster-token flabc"
        );
        assert_eq!(
            s.command_env(&nodes(3), 2, "r"),
            [("ETCD_X".to_owned(), "3-{lit}".to_owned())]
        );
        assert_eq!(s.health, Health::Http("/health".into()));
        assert_eq!(s.stop_signal, nix::sys::signal::Signal::SIGTERM);
        assert_eq!(s.binary.base, PathBuf::from("db"));
    }

    #[test]
    fn peer_args_repeat_for_every_other_node() {
        let s = spec(
            r#"
name = "kv"
binary = "../target/release/raftkv"
client_port = 7001
args = ["--id", "{index}", "--seed", "{seed}"]
peer_args = ["--peer", "{index}={host}:{peer_port}"]
"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.peer_port, 7002);
        assert_eq!(s.health, Health::Tcp);
        assert_eq!(
            s.command_args(&nodes(3), 0, "r").join(" "),
            "--id 1 --seed 100 --peer 2=10.9.0.3:7002 --peer 3=10.9.0.4:7002"
        );
    }

    #[test]
    fn bad_specs_name_the_field() {
        let field = |extra: &str| {
            spec(&format!(
                "name = \"x\"\nbinary = \"b\"\nclient_port = 1\n{extra}"
            ))
            .map(|_| ())
            .unwrap_err()
            .field
        };
        assert_eq!(field("args = [\"{nmae}\"]"), "args[0]");
        assert_eq!(field("peer_args = [\"{peers}\"]"), "peer_args[0]");
        assert_eq!(field("peer = \"{oops\""), "peer");
        assert_eq!(field("stop_signal = \"NOPE\""), "stop_signal");
        assert_eq!(field("peer_port = 1"), "peer_port");
        assert_eq!(field("logs = [\"../x\"]"), "logs[0]");
        assert_eq!(field("data_files = [\"/etc/x\"]"), "data_files[0]");
        assert_eq!(field("data_files = [\"a/../../x\"]"), "data_files[0]");
        assert_eq!(field("[health]\nhttp = \"/h\"\ntcp = true"), "health");
        assert_eq!(field("[health]\nhttp = \"h\""), "health.http");
        assert_eq!(field("bogus = 1"), "file");
        let e = spec("name = \"x\"\nclient_port = 1")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("db/x.toml: file:") && e.contains("binary"),
            "{e}"
        );
    }

    #[test]
    fn signals_parse_with_or_without_sig() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("TERM"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("sigint"), Some(Signal::SIGINT));
        assert_eq!(parse_signal("WHAT"), None);
    }

    #[test]
    fn binaries_are_found_or_every_place_is_named() {
        let mut s = spec(ETCDISH).unwrap_or_else(|e| panic!("{e}"));
        s.binary.written = "./no-such-binary".into();
        let e = s.locate_binary().unwrap_err();
        assert!(e.contains("db/./no-such-binary"), "{e}");
        s.binary.written = "/bin/sh".into();
        assert_eq!(s.locate_binary(), Ok(PathBuf::from("/bin/sh")));
        s.binary.written = "sh".into();
        assert!(s.locate_binary().is_ok_and(|p| p.ends_with("sh")));
    }
}
