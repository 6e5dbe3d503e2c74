//! Network plumbing, at the bottom of the layers: both [`crate::cluster`] (which wires nodes
//! through it when it starts them) and [`crate::nemesis`] (whose network fault backends drive
//! it) use this module, and it uses neither.
//!
//! - [`cause`]: network errors as text that keeps the cause (refused, timed out, DNS). Pure.
//! - [`grudge`]: the [`Grudge`] type, who must not hear from whom. Pure.
//! - [`proxy`]: the link proxy mesh (tokio): one TCP proxy per directed peer link; cut, delay,
//!   loss. Partitions without root.
//! - [`iptables`]: the iptables rules for partitions and packet loss inside node network
//!   namespaces. Pure.
//! - [`netns`]: a per-run private network of namespaces, veths and a bridge, planned purely,
//!   then created and removed; and [`netns::run`], the one helper that runs a system command.
//! - [`ports`]: free loopback ports for local nodes, chosen below the ephemeral range so a
//!   killed node's port is not taken by a connection's source port before it restarts.
//! - [`shell`]: [`shell::HostShell`], "run this command where node X lives" (its namespace,
//!   its SSH host): what the iptables fault backend is written against.
//! - [`sim`]: the routing core of the in-process message network (`--target maelstrom`):
//!   seeded latency, loss, duplication, reordering and partitions per message. Pure.

pub mod cause;
pub mod grudge;
pub mod iptables;
pub mod netns;
pub mod ports;
pub mod proxy;
pub mod shell;
pub mod sim;

pub use grudge::{cut_links, grudge_nodes, Grudge};
pub use netns::NetnsPlan;
pub use proxy::ProxyMesh;
