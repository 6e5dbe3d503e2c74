//! The nemesis: faults as data, and the backends that apply and heal them.
//!
//! - [`partition`]: grudge maths (halves, one, majorities ring, bridge, one-way). Pure.
//! - [`fault`]: the op vocabulary (`start-partition`, `kill`, `pause`, ...) and its JSON form.
//!   Pure.
//! - [`spec`]: schedules from TOML (`nemesis/*.toml`, builtins embedded), validated without
//!   I/O. Pure.
//! - [`schedule`]: the seeded sequence of timed start/stop ops a spec produces. Pure.
//!
//! - [`generator`]: the schedule as [`crate::generator::Generator`]s (main phase and final
//!   heal). Pure.
//! - [`proxy`]: the link proxy mesh (tokio): one TCP proxy per directed link; cut, delay, loss.
//! - [`journal`]: `<run>/faults.journal`, written before each fault is applied.
//! - [`local`]: [`local::LocalNemesis`], the [`Nemesis`] backend for a local cluster.
//! - [`iptables`]: the iptables rules for partitions and packet loss inside node network
//!   namespaces. Pure.
//! - [`netns`]: [`netns::NetnsNemesis`], the backend for a local etcd cluster (iptables in
//!   namespaces, signals to processes).
//! - [`command`]: fault command templates (`[commands]` in a nemesis TOML) and their
//!   substitution. Pure.
//! - [`external`]: [`external::ExternalNemesis`], the backend for an external cluster: it
//!   runs the templates with `sh -c` and a timeout.
//! - [`dispatch`]: what the three backends share: [`dispatch::FaultBackend`] (every backend is
//!   a [`Nemesis`] through it: op decoding and the heal-everything pass), the fault book, the
//!   leader-partition grudge, and kill / start / pause / resume on local node processes.
//!
//! The pure modules import no tokio and do no I/O; the proxy mesh, the journal and the local
//! backend are the I/O edge.
//!
//! # How the runner uses it
//!
//! 1. `NemesisSpec::load(name_or_file)` (validated, no I/O beyond reading the file).
//! 2. Start the cluster ([`crate::cluster::LocalCluster::start`]), then
//!    `LocalNemesis::new(cluster.clone(), &run_dir.join(journal::JOURNAL_FILE))` and
//!    `heal_all()` (start clean).
//! 3. Generators: `spec.generator(&cluster.names(), spec.pace(flag), seed)` in the main phase
//!    (routed to the nemesis thread), `spec.final_generator()` in the final heal phase.
//! 4. For each nemesis op: `nemesis.invoke(&op)`; record the returned value (or
//!    the error) as the op's `info` completion.
//! 5. Teardown on every path: `heal_all()`, then `cluster.stop()` (Drop does both, best
//!    effort, as a last net).

pub mod command;
pub mod dispatch;
pub mod external;
pub mod fault;
pub mod generator;
pub mod iptables;
pub mod journal;
pub mod local;
pub mod netns;
pub mod partition;
pub mod proxy;
pub mod schedule;
pub mod spec;

pub use dispatch::FaultBackend;
pub use external::ExternalNemesis;
pub use fault::{FaultKind, FaultOp, FaultOpError, NodeChoice, PartitionMode};
pub use local::LocalNemesis;
pub use netns::NetnsNemesis;
pub use partition::Grudge;
pub use schedule::{Schedule, TimedFault};
pub use spec::{NemesisSpec, NemesisSpecError};

use std::path::PathBuf;

use serde_json::Value;

use crate::generator::GenOp;

/// Why a nemesis op could not be applied. The runner records it as the op's error; it never
/// stops the test.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// The op does not decode (a bug in a schedule or a hand-written one).
    #[error(transparent)]
    BadOp(#[from] FaultOpError),
    /// The op names the leader and no node claims to be one.
    #[error("no leader to target: no node reports role \"leader\"")]
    NoLeader,
    /// Network faults on a cluster started without the proxy mesh.
    #[error("this cluster's peer links do not go through faultline's proxies, so it cannot be partitioned, delayed or made lossy")]
    NoProxies,
    /// Starting, killing or signalling a node failed.
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    /// This backend cannot apply the fault.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// A fault command (external cluster) failed or timed out.
    #[error("command `{command}` {status}; output: {output}")]
    Command {
        /// The command as run.
        command: String,
        /// How it ended (`exited with 7`, `timed out after 60 s`).
        status: String,
        /// Its stdout and stderr, cut.
        output: String,
    },
    /// The fault journal could not be written (the fault was not applied).
    #[error("fault journal {path}: {source}")]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Applies nemesis ops to a cluster: the I/O half of a nemesis, whose pure half is the
/// [`Schedule`]. Implemented, through [`FaultBackend`], by [`local::LocalNemesis`] (raftkv
/// through the proxy mesh), [`netns::NetnsNemesis`] (etcd in network namespaces) and
/// [`external::ExternalNemesis`] (user commands).
#[async_trait::async_trait]
pub trait Nemesis: Send {
    /// Applies or heals the fault op `f` (with its `value`, see [`fault`]) and returns what was
    /// done, for the history: e.g. `{"grudge": {...}}` or `["n2"]`. Only `op.f` and
    /// `op.value` matter.
    async fn invoke(&mut self, op: &GenOp) -> Result<Value, NemesisError>;

    /// Heals every fault: reconnects all links, clears delay and loss, resumes paused nodes,
    /// restarts killed ones. Call it before the run (start clean), in the final heal phase and
    /// in teardown on every path. Every step runs even if one fails; the first error is
    /// returned.
    async fn heal_all(&mut self) -> Result<(), NemesisError>;
}
