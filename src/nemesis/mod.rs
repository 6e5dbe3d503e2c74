//! The nemesis: faults as data, and the backends that apply and heal them.
//!
//! - [`partition`]: grudge maths (halves, one, majorities ring, bridge, one-way). Pure.
//! - [`fault`]: the op vocabulary (`start-partition`, `kill`, `pause`, ...) and its JSON form.
//!   Pure.
//! - [`spec`]: schedules from TOML (`nemesis/*.toml`, builtins embedded), validated without
//!   I/O. Pure.
//! - [`schedule`]: the seeded sequence of timed start/stop ops a spec produces. Pure.
//!
//! The pure modules import no tokio and do no I/O; the proxy mesh, the journal and the local
//! backend are the I/O edge.

pub mod fault;
pub mod partition;
pub mod schedule;
pub mod spec;

pub use fault::{FaultKind, FaultOp, FaultOpError, NodeChoice, PartitionMode};
pub use partition::Grudge;
pub use schedule::{Schedule, TimedFault};
pub use spec::{NemesisSpec, NemesisSpecError};
