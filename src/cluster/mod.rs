//! Node lifecycle: the processes faultline runs itself, and the nodes it only talks to.
//!
//! - [`local`]: [`LocalCluster`], the one process cluster: start N nodes (data dirs and logs
//!   in the run directory), wait until ready, kill -9 / restart / pause / resume, leader
//!   lookup, stop on drop. It implements [`crate::node_control`]'s traits, which is how the
//!   nemesis acts on its processes.
//! - [`launcher`]: the [`Launcher`] trait: what one kind of node needs (its command line,
//!   health and leader probes, log file names). A new kind of node is one new launcher.
//! - [`raftkv`]: raftkv's launcher, with its peer links through the link-proxy mesh.
//! - [`etcd`]: etcd as a local cluster: the generic launcher running the embedded
//!   `db/etcd.toml` (each node in its own network namespace, root only), etcd's leader probe.
//! - [`db_spec`] and [`generic`]: any binary as a local cluster, described by a db spec
//!   (`--db DB.toml`, or one a built-in target embeds), each node in its own network
//!   namespace (root only).
//! - [`remote`] and [`remote_script`]: `--cluster ssh`, a db spec's nodes on remote hosts
//!   over SSH (binary uploaded once, daemons with pid files, faults as iptables rules in the
//!   run's own chains, logs downloaded at the end); the scripts it runs there are pure.
//! - [`external`]: nodes faultline does not start (`--cluster external`): reachability,
//!   leader lookup.
//! - [`state`]: the state file (`cluster.json`) naming every process faultline started, so a
//!   later `faultline cluster down` can find and stop them even after faultline was killed.
//! - [`control`]: `faultline cluster up | down | status` as library functions.
//! - `process`: the node process slots (spawn with a log, kill -9, SIGSTOP / SIGCONT, notice
//!   an exit, wait for a restarted node, stop all).
//!
//! This module uses the network plumbing ([`crate::net`]) and the fault journal
//! ([`crate::journal`]), never the nemesis.
//!
//! Layout of a cluster directory (a test's run directory, or the one given to `cluster up`):
//!
//! ```text
//! cluster.json          state file: pids, ports, data dirs (removed by a clean stop)
//! faults.journal        every fault applied and healed (JSON lines; see crate::journal)
//! nodes/n1/data/        the node's data dir (kept across restarts)
//! nodes/n1/raftkv.log   the node's stderr/stdout, appended across restarts
//! ```

pub mod control;
pub mod db_spec;
pub mod etcd;
pub mod external;
pub mod generic;
pub mod launcher;
pub mod local;
pub(crate) mod process;
pub mod raftkv;
pub mod remote;
pub mod remote_script;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

pub use control::{default_dir, down, status, up, DownReport};
pub use etcd::{locate_etcd, EtcdCluster, EtcdClusterOptions, EtcdLeader};
pub use launcher::{Launcher, NodeLayout};
pub use local::LocalCluster;
pub use raftkv::{locate_raftkv, ClusterOptions, RaftkvCluster};
pub use state::ClusterState;

/// Why a local cluster could not be started or controlled. Each variant names the node and,
/// where it helps, the log file to read.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No raftkv binary where we looked.
    #[error("raftkv binary not found (looked at: {looked}); build it with `cargo build -p raftkv` or pass --raftkv-bin / set FAULTLINE_RAFTKV")]
    BinaryNotFound {
        /// Every path tried, comma-separated.
        looked: String,
    },
    /// The process could not be spawned.
    #[error("{node}: cannot start {binary}: {source}")]
    Spawn {
        /// The node.
        node: String,
        /// The binary.
        binary: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A port the node needs is taken by another process.
    #[error("{node}: address {addr} is already in use (see {log})")]
    PortInUse {
        /// The node.
        node: String,
        /// The busy address.
        addr: String,
        /// Its log file.
        log: PathBuf,
    },
    /// The node exited while it should be running.
    #[error("{node} exited ({status}); see {log}:\n{tail}")]
    Exited {
        /// The node.
        node: String,
        /// The exit status.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of the log.
        tail: String,
    },
    /// A node never answered `/status`.
    #[error("{node} did not answer /status at {http} within {waited:?}; see {log}")]
    NoAnswer {
        /// The node.
        node: String,
        /// Its client address.
        http: String,
        /// How long we waited.
        waited: Duration,
        /// Its log file.
        log: PathBuf,
    },
    /// The nodes answered but elected no leader in time.
    #[error("no leader elected within {waited:?}; last status: {statuses}; logs in {dir}")]
    NoLeader {
        /// How long we waited.
        waited: Duration,
        /// Each node's last `/status` or error.
        statuses: String,
        /// The nodes directory.
        dir: PathBuf,
    },
    /// A name that is not a node of this cluster.
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    /// A signal could not be delivered.
    #[error("{node}: sending {signal} to pid {pid}: {source}")]
    Signal {
        /// The node.
        node: String,
        /// SIGSTOP, SIGCONT, SIGKILL.
        signal: &'static str,
        /// Its pid.
        pid: i32,
        /// The OS error.
        source: nix::Error,
    },
    /// File system trouble in the cluster directory.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A state file that does not parse.
    #[error("{path}: not a faultline cluster state file: {message}")]
    BadState {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// Bad options (zero nodes, ports out of range).
    #[error("{0}")]
    Options(String),
}

impl ClusterError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ClusterError {
        let path = path.into();
        move |source| ClusterError::Io { path, source }
    }
}
