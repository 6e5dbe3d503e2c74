//! What one kind of node needs to be run as a local cluster: how to spawn node `i`, how to ask
//! it whether it is up and who leads, and where its files go. [`super::LocalCluster`] does
//! everything else (process slots, kill, restart, pause, resume, the state file, stopping on
//! every path) the same way for every kind. raftkv ([`super::raftkv`]) and etcd
//! ([`super::etcd`]) are two launchers; a new kind of node is one more.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use serde_json::Value;

use super::ClusterError;
use crate::net::NetnsPlan;

/// One node as its launcher lays it out: its name and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLayout {
    /// `n1`, `n2`, ... (the name in histories and grudges).
    pub name: String,
    /// The address clients talk to (`host:port`, no scheme).
    pub client: String,
    /// The address peers talk to (`host:port`), recorded for people and `cluster status`.
    pub peer: String,
    /// The node's data directory, kept across restarts; on the node's command line, which is
    /// how `faultline cluster down` recognises the process as ours.
    pub data_dir: PathBuf,
    /// stdout and stderr, appended across restarts.
    pub log: PathBuf,
}

/// A node's answer to a status question (`Ok` with the JSON it returned), or why none came.
pub type Status = Result<Value, String>;

/// How to run one kind of node. Probes are async and short (a paused node never answers);
/// they must be cancel-safe.
#[async_trait::async_trait]
pub trait Launcher: Send + Sync + std::fmt::Debug + 'static {
    /// The node program (for messages and the state file).
    fn program(&self) -> &Path;

    /// Every node, in order; node `i` is slot `i` of the cluster.
    fn nodes(&self) -> &[NodeLayout];

    /// The command that starts node `i` (the cluster sets its stdio, process group and log).
    fn command(&self, i: usize) -> Command;

    /// What the log's start line calls node `i` (default: its name).
    fn describe(&self, i: usize) -> String {
        self.nodes()[i].name.clone()
    }

    /// Node `i`'s own view of itself (raftkv `/status`, etcd's maintenance status).
    async fn status(&self, i: usize) -> Status;

    /// Whether node `i` answers at all, with any status (a restarted node is up once it
    /// does). Default: its status is `Ok`.
    async fn answers(&self, i: usize) -> bool {
        self.status(i).await.is_ok()
    }

    /// The leader these statuses (by node name, running nodes only) agree on, if any.
    fn leader(&self, statuses: &[(String, Status)]) -> Option<String>;

    /// Whether a fresh cluster with these statuses is ready for a test. Default: some node
    /// leads.
    fn ready(&self, statuses: &[(String, Status)]) -> bool {
        self.leader(statuses).is_some()
    }

    /// How long a restarted node may take to answer.
    fn restart_timeout(&self) -> Duration;

    /// The pause between two probes while waiting.
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(100)
    }

    /// The error for node `i` exiting with `status` while it should run, given its log's
    /// last lines. Default: [`ClusterError::Exited`].
    fn exit_error(&self, i: usize, status: ExitStatus, tail: String) -> ClusterError {
        let node = &self.nodes()[i];
        ClusterError::Exited {
            node: node.name.clone(),
            status: status.to_string(),
            log: node.log.clone(),
            tail,
        }
    }

    /// Globs, relative to a node's data dir, of the files a file-corruption fault may
    /// damage. Default: none (the cluster cannot have its files corrupted).
    fn data_files(&self) -> &[String] {
        &[]
    }

    /// How a node is stopped at the end: this signal, then SIGKILL after the grace period.
    /// Default `None`: SIGKILL at once.
    fn stop_signal(&self) -> Option<(nix::sys::signal::Signal, Duration)> {
        None
    }

    /// Whether peer links go through faultline's proxies (recorded in the state file).
    fn proxies(&self) -> bool {
        false
    }

    /// The private network the nodes live in, recorded in the state file before the first
    /// node starts so `faultline cluster down` can remove it.
    fn network(&self) -> Option<&NetnsPlan> {
        None
    }

    /// Sets up what the nodes need around them (their network) before the first starts; the
    /// cluster has already recorded [`Launcher::network`] in its state file. Default: nothing.
    fn prepare(&self) -> Result<(), ClusterError> {
        Ok(())
    }

    /// Removes what the launcher set up around the nodes (their network), once every process
    /// is gone. Returns what could not be removed. Idempotent.
    fn cleanup(&self) -> Vec<String> {
        Vec::new()
    }
}
