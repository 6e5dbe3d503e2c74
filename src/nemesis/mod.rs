//! The nemesis: faults as data, one generic nemesis that applies them, and the backends that
//! touch the world.
//!
//! - [`partition`]: grudge shapes (halves, one, majorities ring, bridge, one-way). Pure.
//! - [`fault`]: the op vocabulary (`start-partition`, `kill`, `pause`, ...) and its JSON form.
//!   Pure.
//! - [`spec`]: schedules from TOML (`nemesis/*.toml`, builtins embedded), validated without
//!   I/O. Pure.
//! - [`schedule`]: the seeded sequence of timed start/stop ops a spec produces. Pure.
//! - [`generator`]: the schedule as [`crate::generator::Generator`]s (main phase and final
//!   heal). Pure.
//! - [`corruption`]: file-corruption modes and the seeded plan of one fault on one node's
//!   files (which file, offset, length, what happens). Pure.
//! - [`clock`]: groundwork for libfaketime clock faults (control-file lines, strobe offsets,
//!   which binaries cannot be skewed). Pure; not yet a fault family.
//! - [`command`]: fault command templates (`[commands]` in a nemesis TOML) and their
//!   substitution. Pure.
//! - [`dispatch`]: [`Nemesis`], the one nemesis: decodes an op, resolves the leader and the
//!   grudge, journals the fault (both sides of every partition, the same record whatever the
//!   backend) and dispatches it to the backend of its family.
//! - [`backend`]: the backends, split by what they touch: network faults (the link-proxy
//!   mesh, iptables in namespaces, user commands) behind [`backend::NetworkFaults`], process
//!   faults (a local cluster's signals, user commands) behind
//!   [`crate::node_control::ProcessControl`].
//!
//! The nemesis uses the network plumbing ([`crate::net`]), the fault journal
//! ([`crate::journal`]) and the node-control traits ([`crate::node_control`]); it never
//! imports [`crate::cluster`].
//!
//! # How the runner uses it
//!
//! 1. `NemesisSpec::load(name_or_file)` (validated, no I/O beyond reading the file).
//! 2. Start the cluster, then `Nemesis::new(names, network backend, process backend, leader
//!    probe, &run_dir.join(JOURNAL_FILE))` and `heal_all()` (start clean).
//! 3. Generators: `spec.generator(&names, spec.pace(flag), seed)` in the main phase (routed
//!    to the nemesis thread), `spec.final_generator()` in the final heal phase.
//! 4. For each nemesis op: `nemesis.invoke(&op)`; record the returned value (or the error)
//!    as the op's `info` completion.
//! 5. Teardown on every path: `heal_all()`, then stop the cluster.

pub mod backend;
pub mod clock;
pub mod command;
pub mod corruption;
pub mod dispatch;
pub mod fault;
pub mod generator;
pub mod partition;
pub mod schedule;
pub mod spec;

pub use dispatch::Nemesis;
pub use fault::{FaultKind, FaultOp, FaultOpError, NodeChoice, PartitionMode};
pub use partition::Grudge;
pub use schedule::{Schedule, TimedFault};
pub use spec::{NemesisSpec, NemesisSpecError};

use std::path::PathBuf;

use crate::node_control::ControlError;

/// Why a nemesis op could not be applied. The runner records it as the op's error; it never
/// stops the test.
#[derive(Debug, thiserror::Error)]
pub enum NemesisError {
    /// The op does not decode (a bug in a schedule or a hand-written one).
    #[error(transparent)]
    BadOp(#[from] FaultOpError),
    /// The op names the leader and the probe found none (why, in words).
    #[error("no leader to target: {0}")]
    NoLeader(String),
    /// The op names a node that is not in the cluster.
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    /// Killing, starting or signalling a node failed.
    #[error(transparent)]
    Process(#[from] ControlError),
    /// A network backend could not apply or heal a fault.
    #[error("{0}")]
    Network(String),
    /// Data files could not be listed, read or damaged.
    #[error("file fault: {0}")]
    Files(String),
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
