//! The fault backend for an external cluster: every fault is a user command from the nemesis
//! TOML's `[commands]` (see [`super::command`] for what runs when, and the placeholders), run
//! with `sh -c` in its own process group under a timeout. Each command and its output go to
//! the run log; a command that fails or times out makes the op's error (recorded in the
//! history) name the command and its output, and the run goes on — later heals still run.
//!
//! The backend remembers which nodes it killed and paused, so heals run `start`/`resume` only
//! for those, and `heal` for every node (partition heals must be idempotent). Faults are
//! journaled like every backend's; `faultline cluster down` cannot undo them (it does not
//! know the commands), so an interrupted external run is healed by faultline's own teardown.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use super::command::{CommandTemplates, Subst, Template};
use super::dispatch::{partition_grudge, FaultBackend, FaultBook};
use super::fault::{FaultKind, FaultOp, NodeChoice};
use super::NemesisError;
use crate::cluster::external::{leader, ExternalNode, Protocol};

/// Longest command output kept in an error or log line, in bytes.
const MAX_OUTPUT: usize = 2000;

/// Where command lines and their output are logged (the runner passes its run log).
pub type CommandLog = Arc<dyn Fn(&str) + Send + Sync>;

/// Applies nemesis ops to an external cluster through command templates.
pub struct ExternalNemesis {
    nodes: Vec<ExternalNode>,
    protocol: Protocol,
    templates: CommandTemplates,
    book: FaultBook,
    log: CommandLog,
    killed: BTreeSet<String>,
    paused: BTreeSet<String>,
}

fn cut(text: &str) -> String {
    let text = text.trim();
    if text.len() <= MAX_OUTPUT {
        return text.to_owned();
    }
    let mut end = MAX_OUTPUT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes cut)", &text[..end], text.len() - end)
}

impl ExternalNemesis {
    /// A backend for `nodes`, spoken to over `protocol` (for leader lookups), running
    /// `templates`, journaling to `journal`, logging to `log`.
    pub fn new(
        nodes: Vec<ExternalNode>,
        protocol: Protocol,
        templates: CommandTemplates,
        journal: &Path,
        log: CommandLog,
    ) -> Result<ExternalNemesis, NemesisError> {
        Ok(ExternalNemesis {
            nodes,
            protocol,
            templates,
            book: FaultBook::open(journal)?,
            log,
            killed: BTreeSet::new(),
            paused: BTreeSet::new(),
        })
    }

    fn node(&self, name: &str) -> Result<&ExternalNode, NemesisError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| crate::cluster::ClusterError::UnknownNode(name.to_owned()).into())
    }

    fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn template(&self, t: &Option<Template>, what: &str) -> Result<Template, NemesisError> {
        t.clone().ok_or_else(|| {
            NemesisError::Unsupported(format!("{what}: the nemesis file has no commands.{what}"))
        })
    }

    /// Renders `t` for `node` with `peers` and runs it.
    async fn run_for(
        &self,
        t: &Template,
        node: &str,
        peers: &[String],
    ) -> Result<(), NemesisError> {
        let n = self.node(node)?;
        let peer_nodes: Vec<&ExternalNode> = peers
            .iter()
            .map(|p| self.node(p))
            .collect::<Result<_, _>>()?;
        let command = t.render(&Subst {
            node: &n.name,
            host: &n.host,
            url: &n.url,
            peers: peer_nodes.iter().map(|p| p.host.as_str()).collect(),
            peer_names: peer_nodes.iter().map(|p| p.name.as_str()).collect(),
        });
        self.run_command(&command).await
    }

    /// Runs one command with `sh -c` in its own process group; on timeout the whole group is
    /// killed. Logs the command and its output either way.
    async fn run_command(&self, command: &str) -> Result<(), NemesisError> {
        let timeout = self.templates.timeout;
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                (self.log)(&format!(
                    "nemesis command `{command}`: cannot start sh: {e}"
                ));
                return Err(NemesisError::Command {
                    command: command.to_owned(),
                    status: format!("could not start: {e}"),
                    output: String::new(),
                });
            }
        };
        let pgid = child.id().map(|p| Pid::from_raw(p as i32));
        let (status, output) = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                let err = String::from_utf8_lossy(&out.stderr);
                if !err.trim().is_empty() {
                    if !text.trim().is_empty() {
                        text.push('\n');
                    }
                    text.push_str(&err);
                }
                let status = if out.status.success() {
                    None
                } else if let Some(code) = out.status.code() {
                    Some(format!("exited with {code}"))
                } else {
                    Some(format!(
                        "was killed by signal {}",
                        out.status.signal().unwrap_or(0)
                    ))
                };
                (status, cut(&text))
            }
            Ok(Err(e)) => (Some(format!("could not be waited for: {e}")), String::new()),
            Err(_) => {
                if let Some(pgid) = pgid {
                    let _ = killpg(pgid, Signal::SIGKILL);
                }
                (
                    Some(format!(
                        "timed out after {} s and was killed",
                        timeout.as_secs_f64()
                    )),
                    String::new(),
                )
            }
        };
        match status {
            None => {
                (self.log)(&format!(
                    "nemesis command `{command}`: ok; output: {output}"
                ));
                Ok(())
            }
            Some(status) => {
                (self.log)(&format!(
                    "nemesis command `{command}` {status}; output: {output}"
                ));
                Err(NemesisError::Command {
                    command: command.to_owned(),
                    status,
                    output,
                })
            }
        }
    }

    async fn resolve(&self, choice: &NodeChoice) -> Result<Vec<String>, NemesisError> {
        let names = match choice {
            NodeChoice::Leader => vec![leader(&self.nodes, self.protocol)
                .await
                .ok_or(NemesisError::NoLeader)?],
            NodeChoice::Nodes(ns) => ns.clone(),
        };
        for n in &names {
            self.node(n)?;
        }
        Ok(names)
    }

    /// Runs `heal` for every node (every other node as `{peers}`); each node is tried.
    async fn heal_network(&self) -> Result<(), NemesisError> {
        let Some(heal) = self.templates.heal.clone() else {
            return Ok(());
        };
        let names = self.names();
        let mut first = None;
        for n in &names {
            let others: Vec<String> = names.iter().filter(|o| *o != n).cloned().collect();
            if let Err(e) = self.run_for(&heal, n, &others).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[async_trait::async_trait]
impl FaultBackend for ExternalNemesis {
    async fn apply(&mut self, op: FaultOp) -> Result<Value, NemesisError> {
        match op {
            FaultOp::StartPartition {
                mode,
                one_way,
                grudge,
            } => {
                let partition = self.template(&self.templates.partition, "partition")?;
                let names = self.names();
                let leader = async { Ok(self.resolve(&NodeChoice::Leader).await?.remove(0)) };
                let (grudge, mut value) =
                    partition_grudge(grudge, mode, one_way, &names, leader).await?;
                for (to, froms) in &grudge {
                    self.node(to)?;
                    for f in froms {
                        self.node(f)?;
                    }
                }
                // A new partition replaces the old one.
                self.heal_network().await?;
                self.book.healed(FaultKind::Partition)?;
                let touched: Vec<String> = grudge.keys().cloned().collect();
                self.book
                    .applying(FaultKind::Partition, &touched, json!({ "grudge": grudge }))?;
                for (to, froms) in &grudge {
                    let froms: Vec<String> = froms.iter().cloned().collect();
                    self.run_for(&partition, to, &froms).await?;
                }
                value.insert("grudge".into(), json!(grudge));
                Ok(Value::Object(value))
            }
            FaultOp::StopPartition => {
                self.heal_network().await?;
                self.book.healed(FaultKind::Partition)?;
                Ok(json!("network-healed"))
            }
            FaultOp::Kill(choice) => {
                let kill = self.template(&self.templates.kill, "kill")?;
                let names: Vec<String> = self
                    .resolve(&choice)
                    .await?
                    .into_iter()
                    .filter(|n| !self.killed.contains(n))
                    .collect();
                self.book.applying(FaultKind::Kill, &names, Value::Null)?;
                let mut first = None;
                for n in &names {
                    // Counted as killed whatever the command said: it may have half-worked,
                    // and `start` is idempotent.
                    self.killed.insert(n.clone());
                    if let Err(e) = self.run_for(&kill, n, &[]).await {
                        first.get_or_insert(e);
                    }
                }
                first.map_or(Ok(json!(names)), Err)
            }
            FaultOp::Start => {
                let Some(start) = self.templates.start.clone() else {
                    return Ok(json!([]));
                };
                let mut first = None;
                let mut started = Vec::new();
                for n in self.killed.clone() {
                    match self.run_for(&start, &n, &[]).await {
                        Ok(()) => {
                            self.killed.remove(&n);
                            started.push(n);
                        }
                        Err(e) => {
                            first.get_or_insert(e);
                        }
                    }
                }
                if let Some(e) = first {
                    return Err(e);
                }
                self.book.healed(FaultKind::Kill)?;
                Ok(json!(started))
            }
            FaultOp::Pause(choice) => {
                let pause = self.template(&self.templates.pause, "pause")?;
                let names: Vec<String> = self
                    .resolve(&choice)
                    .await?
                    .into_iter()
                    .filter(|n| !self.killed.contains(n) && !self.paused.contains(n))
                    .collect();
                self.book.applying(FaultKind::Pause, &names, Value::Null)?;
                let mut first = None;
                for n in &names {
                    self.paused.insert(n.clone());
                    if let Err(e) = self.run_for(&pause, n, &[]).await {
                        first.get_or_insert(e);
                    }
                }
                first.map_or(Ok(json!(names)), Err)
            }
            FaultOp::Resume => {
                let Some(resume) = self.templates.resume.clone() else {
                    return Ok(json!([]));
                };
                let mut first = None;
                let mut resumed = Vec::new();
                for n in self.paused.clone() {
                    match self.run_for(&resume, &n, &[]).await {
                        Ok(()) => {
                            self.paused.remove(&n);
                            resumed.push(n);
                        }
                        Err(e) => {
                            first.get_or_insert(e);
                        }
                    }
                }
                if let Some(e) = first {
                    return Err(e);
                }
                self.book.healed(FaultKind::Pause)?;
                Ok(json!(resumed))
            }
            FaultOp::StartDelay { .. } | FaultOp::StartDrop { .. } => {
                Err(NemesisError::Unsupported(format!(
                    "{} on an external cluster (no command template for it)",
                    op.f()
                )))
            }
            FaultOp::StopDelay => Ok(json!("delay-removed")),
            FaultOp::StopDrop => Ok(json!("loss-removed")),
        }
    }
}
