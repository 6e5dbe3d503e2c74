//! Faults as the user's own commands, from the nemesis TOML's `[commands]` (see
//! [`crate::nemesis::command`] for what runs when, and the placeholders): one backend for
//! both families, for clusters faultline does not run. Each command runs with `sh -c` in its
//! own process group under a timeout; the command and its output go to the run log; a
//! command that fails or times out makes the op's error (recorded in the history) name the
//! command and its output, and the run goes on — later heals still run.
//!
//! `heal` runs for every node (partition heals must be idempotent). `faultline cluster down`
//! cannot undo these faults (it does not know the commands), so an interrupted external run
//! is healed by faultline's own teardown.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::Arc;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::NetworkFaults;
use crate::nemesis::command::{CommandTemplates, Subst, Template};
use crate::nemesis::NemesisError;
use crate::net::Grudge;
use crate::node_addr::ExternalNode;
use crate::node_control::{ControlError, ProcessControl};

/// Longest command output kept in an error or log line, in bytes.
const MAX_OUTPUT: usize = 2000;

/// Where command lines and their output are logged (the runner passes its run log).
pub type CommandLog = Arc<dyn Fn(&str) + Send + Sync>;

/// Applies nemesis ops to an external cluster through command templates.
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

struct Inner {
    nodes: Vec<ExternalNode>,
    templates: CommandTemplates,
    log: CommandLog,
}

/// Faults through command templates on an external cluster's nodes. Cheap to clone: the
/// network and the process role of one cluster share it.
#[derive(Clone)]
pub struct CommandFaults {
    inner: Arc<Inner>,
}

impl CommandFaults {
    /// A backend for `nodes` running `templates`, logging each command to `log`.
    pub fn new(
        nodes: Vec<ExternalNode>,
        templates: CommandTemplates,
        log: CommandLog,
    ) -> CommandFaults {
        CommandFaults {
            inner: Arc::new(Inner {
                nodes,
                templates,
                log,
            }),
        }
    }

    fn node(&self, name: &str) -> Result<&ExternalNode, NemesisError> {
        self.inner
            .nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| NemesisError::UnknownNode(name.to_owned()))
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

    /// Runs the process template `t` (named `what` in errors) for `node`.
    async fn run_process(
        &self,
        t: &Option<Template>,
        what: &str,
        node: &str,
    ) -> Result<(), ControlError> {
        let t = self.template(t, what).map_err(ControlError::new)?;
        self.run_for(&t, node, &[]).await.map_err(ControlError::new)
    }

    /// Runs one command with `sh -c` in its own process group; on timeout the whole group is
    /// killed. Logs the command and its output either way.
    async fn run_command(&self, command: &str) -> Result<(), NemesisError> {
        let timeout = self.inner.templates.timeout;
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
                (self.inner.log)(&format!(
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
                (self.inner.log)(&format!(
                    "nemesis command `{command}`: ok; output: {output}"
                ));
                Ok(())
            }
            Some(status) => {
                (self.inner.log)(&format!(
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
}

#[async_trait::async_trait]
impl NetworkFaults for CommandFaults {
    /// Runs `partition` once per node that must stop hearing others, with them as `{peers}`.
    async fn partition(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        let partition = self.template(&self.inner.templates.partition, "partition")?;
        for (to, froms) in grudge {
            let froms: Vec<String> = froms.iter().cloned().collect();
            self.run_for(&partition, to, &froms).await?;
        }
        Ok(())
    }

    /// Runs `heal` for every node (every other node as `{peers}`); each node is tried.
    async fn heal_partition(&mut self) -> Result<(), NemesisError> {
        let Some(heal) = self.inner.templates.heal.clone() else {
            return Ok(());
        };
        let names: Vec<String> = self.inner.nodes.iter().map(|n| n.name.clone()).collect();
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
impl ProcessControl for CommandFaults {
    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        self.run_process(&self.inner.templates.kill, "kill", node)
            .await
    }

    async fn restart(&self, node: &str) -> Result<(), ControlError> {
        self.run_process(&self.inner.templates.start, "start", node)
            .await
    }

    async fn pause(&self, node: &str) -> Result<(), ControlError> {
        self.run_process(&self.inner.templates.pause, "pause", node)
            .await
    }

    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        self.run_process(&self.inner.templates.resume, "resume", node)
            .await
    }
}
