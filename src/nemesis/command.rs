//! Fault command templates for external clusters (pure): the `[commands]` table of a nemesis
//! TOML, validated without I/O, and the substitution that turns a template into the shell
//! command run for one node (by [`super::backend::CommandFaults`], with `sh -c`).
//!
//! ```toml
//! [commands]
//! timeout = 30                        # seconds per command (default 60)
//! kill = "ssh {host} sudo systemctl kill -s KILL etcd"
//! start = "ssh {host} sudo systemctl start etcd"
//! pause = "ssh {host} sudo systemctl kill -s STOP etcd"
//! resume = "ssh {host} sudo systemctl kill -s CONT etcd"
//! partition = "ssh {host} 'for p in {peers}; do sudo iptables -A INPUT -s $p -j DROP; done'"
//! heal = "ssh {host} sudo iptables -F INPUT"
//! ```
//!
//! Each command runs once per node it concerns:
//!
//! | template | run for | `{peers}` |
//! |---|---|---|
//! | `kill`, `pause` | each node the fault hits | — |
//! | `start`, `resume` | each node killed (paused) by this run and not yet restarted (resumed) | — |
//! | `partition` | each node that must stop hearing from some others | the hosts it must not hear from |
//! | `heal` | every node (before a new partition, at every heal, before the run) | every other node's host |
//!
//! Placeholders: `{node}` the node's name (`n1`, or the name given as `--node NAME=URL`),
//! `{host}` the host of its URL, `{url}` its URL, `{peers}` space-separated hosts,
//! `{peer_names}` the same nodes' names. `{{` and `}}` are literal braces (for shell
//! `${VAR}` write `${{VAR}}`). Substituted values are restricted to characters that need no
//! shell quoting (checked when the cluster is set up), so a template never needs quotes
//! around a placeholder. Commands must be idempotent: a heal may run when nothing is broken.

use std::time::Duration;

use serde::Deserialize;

use super::fault::FaultKind;
use crate::placeholders::{self, Piece};

/// The default time one command may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The `[commands]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommands {
    timeout: Option<f64>,
    kill: Option<String>,
    start: Option<String>,
    pause: Option<String>,
    resume: Option<String>,
    partition: Option<String>,
    heal: Option<String>,
}

/// A placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    Node,
    Host,
    Url,
    Peers,
    PeerNames,
}

type Part = Piece<Var>;

/// One parsed command template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The template as written.
    pub text: String,
    parts: Vec<Part>,
}

/// What the placeholders of one command stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subst<'a> {
    /// `{node}`.
    pub node: &'a str,
    /// `{host}`.
    pub host: &'a str,
    /// `{url}`.
    pub url: &'a str,
    /// `{peers}`: hosts.
    pub peers: Vec<&'a str>,
    /// `{peer_names}`.
    pub peer_names: Vec<&'a str>,
}

impl Template {
    /// Parses `text`; `peers_allowed` says whether `{peers}`/`{peer_names}` may appear.
    pub fn parse(text: &str, peers_allowed: bool) -> Result<Template, String> {
        let parts = placeholders::split(text, |name| {
            match name {
            "node" => Ok(Var::Node),
            "host" => Ok(Var::Host),
            "url" => Ok(Var::Url),
            "peers" if peers_allowed => Ok(Var::Peers),
            "peer_names" if peers_allowed => Ok(Var::PeerNames),
            "peers" | "peer_names" => Err(format!("{{{name}}} only applies to partition and heal")),
            _ => Err(format!(
                "unknown placeholder {{{name}}}; expected {{node}}, {{host}}, {{url}}, {{peers}} or {{peer_names}} (write {{{{ and }}}} for literal braces)"
            )),
        }
        })?;
        if text.trim().is_empty() {
            return Err("is empty".into());
        }
        Ok(Template {
            text: text.to_owned(),
            parts,
        })
    }

    /// The command for one node.
    pub fn render(&self, s: &Subst<'_>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(Var::Node) => out.push_str(s.node),
                Piece::Var(Var::Host) => out.push_str(s.host),
                Piece::Var(Var::Url) => out.push_str(s.url),
                Piece::Var(Var::Peers) => out.push_str(&s.peers.join(" ")),
                Piece::Var(Var::PeerNames) => out.push_str(&s.peer_names.join(" ")),
            }
        }
        out
    }
}

pub use crate::node_addr::shell_safe;

/// The validated `[commands]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTemplates {
    /// The most time one command may take; then its process group is killed.
    pub timeout: Duration,
    /// `kill -9` one node.
    pub kill: Option<Template>,
    /// Start one killed node again.
    pub start: Option<Template>,
    /// SIGSTOP one node.
    pub pause: Option<Template>,
    /// SIGCONT one node.
    pub resume: Option<Template>,
    /// Make one node stop hearing from `{peers}`.
    pub partition: Option<Template>,
    /// Undo every partition rule on one node.
    pub heal: Option<Template>,
}

impl CommandTemplates {
    /// Validates the table; errors are `(field, message)` for the caller to place in a file.
    pub fn from_raw(raw: &RawCommands) -> Result<CommandTemplates, (String, String)> {
        let timeout = match raw.timeout {
            None => DEFAULT_TIMEOUT,
            Some(t) if t.is_finite() && t > 0.0 && t <= 3600.0 => Duration::from_secs_f64(t),
            Some(t) => {
                return Err((
                    "commands.timeout".into(),
                    format!("must be a number of seconds in (0, 3600], got {t}"),
                ))
            }
        };
        let parse = |name: &str, text: &Option<String>, peers: bool| {
            text.as_deref()
                .map(|t| Template::parse(t, peers))
                .transpose()
                .map_err(|m| (format!("commands.{name}"), m))
        };
        let t = CommandTemplates {
            timeout,
            kill: parse("kill", &raw.kill, false)?,
            start: parse("start", &raw.start, false)?,
            pause: parse("pause", &raw.pause, false)?,
            resume: parse("resume", &raw.resume, false)?,
            partition: parse("partition", &raw.partition, true)?,
            heal: parse("heal", &raw.heal, true)?,
        };
        for (a, b, x, y) in [
            ("kill", "start", t.kill.is_some(), t.start.is_some()),
            ("pause", "resume", t.pause.is_some(), t.resume.is_some()),
            ("partition", "heal", t.partition.is_some(), t.heal.is_some()),
        ] {
            if x != y {
                let (given, missing) = if x { (a, b) } else { (b, a) };
                return Err((
                    format!("commands.{missing}"),
                    format!("is required with commands.{given} (every fault must be undoable)"),
                ));
            }
        }
        Ok(t)
    }

    /// The fault families these templates can inject and heal.
    pub fn kinds(&self) -> Vec<FaultKind> {
        let mut kinds = Vec::new();
        if self.partition.is_some() {
            kinds.push(FaultKind::Partition);
        }
        if self.kill.is_some() {
            kinds.push(FaultKind::Kill);
        }
        if self.pause.is_some() {
            kinds.push(FaultKind::Pause);
        }
        kinds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subst() -> Subst<'static> {
        Subst {
            node: "n2",
            host: "10.0.0.2",
            url: "http://10.0.0.2:2379",
            peers: vec!["10.0.0.1", "10.0.0.3"],
            peer_names: vec!["n1", "n3"],
        }
    }

    #[test]
    fn placeholders_are_substituted_and_braces_escape() {
        let cases = [
            (
                "kill -9 $(cat /run/{node}.pid)",
                "kill -9 $(cat /run/n2.pid)",
            ),
            ("ssh {host} true", "ssh 10.0.0.2 true"),
            ("curl {url}/health", "curl http://10.0.0.2:2379/health"),
            (
                "for p in {peers}; do drop $p; done",
                "for p in 10.0.0.1 10.0.0.3; do drop $p; done",
            ),
            ("echo {peer_names}", "echo n1 n3"),
            ("echo ${{HOME}} {{x}}", "echo ${HOME} {x}"),
        ];
        for (i, (tpl, want)) in cases.into_iter().enumerate() {
            let t = Template::parse(tpl, true).unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_eq!(t.render(&subst()), want, "case {i}");
        }
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        let cases = [
            ("echo {nod}", true, "unknown placeholder {nod}"),
            ("echo {node", true, "unclosed"),
            ("echo }", true, "lone '}'"),
            ("echo {peers}", false, "only applies to partition and heal"),
            ("  ", true, "is empty"),
        ];
        for (i, (tpl, peers, want)) in cases.into_iter().enumerate() {
            let e = Template::parse(tpl, peers).unwrap_err();
            assert!(e.contains(want), "case {i}: {e}");
        }
    }

    #[test]
    fn every_fault_needs_its_undo() {
        let raw: RawCommands = toml::from_str("kill = \"k {node}\"\n").unwrap();
        let (field, msg) = CommandTemplates::from_raw(&raw).unwrap_err();
        assert_eq!(field, "commands.start");
        assert!(msg.contains("required with commands.kill"), "{msg}");
        let raw: RawCommands = toml::from_str(
            "timeout = 5\nkill = \"k\"\nstart = \"s\"\nheal = \"h\"\npartition = \"p {peers}\"\n",
        )
        .unwrap();
        let t = CommandTemplates::from_raw(&raw).unwrap();
        assert_eq!(t.timeout, Duration::from_secs(5));
        assert_eq!(t.kinds(), vec![FaultKind::Partition, FaultKind::Kill]);
        let raw: RawCommands = toml::from_str("timeout = 0\n").unwrap();
        assert_eq!(
            CommandTemplates::from_raw(&raw).unwrap_err().0,
            "commands.timeout"
        );
        let raw: RawCommands = toml::from_str("kill = \"x {bogus}\"\nstart = \"s\"\n").unwrap();
        assert_eq!(
            CommandTemplates::from_raw(&raw).unwrap_err().0,
            "commands.kill"
        );
        assert!(toml::from_str::<RawCommands>("explode = \"x\"\n").is_err());
    }

    #[test]
    fn only_plain_values_are_shell_safe() {
        for ok in [
            "n1",
            "10.0.0.2",
            "http://10.0.0.2:2379",
            "[::1]",
            "db-1.example.org",
        ] {
            assert!(shell_safe(ok), "{ok}");
        }
        for bad in [
            "", "a b", "x;rm", "$(id)", "a'b", "a\"b", "`x`", "a|b", "a&b",
        ] {
            assert!(!shell_safe(bad), "{bad}");
        }
    }
}
