//! `--target maelstrom`: nodes that speak Maelstrom's protocol on stdin and stdout, run
//! unchanged, with faultline as their network, their clients and their crashes.
//!
//! - [`protocol`] (pure): the wire format (one JSON message a line) and `init`.
//! - [`errors`] (pure): Maelstrom's error codes, definite or not, and the outcome of each.
//! - [`kafka`] (pure): the kafka workload's messages and each client's log positions.
//! - [`shapes`] (pure): each workload's request and reply bodies, and replies as completions.
//! - [`topology`] (pure): the broadcast workload's `topology` message (`--topology`).
//! - [`workloads`] (pure): the Maelstrom workload names (`lin-kv`, `g-set`, ...) as
//!   faultline workloads.
//! - [`latency`] (pure): client latency and the network's delays, as histograms.
//! - [`leader`]: who leads (`--leader-probe`): inferred from the traffic between nodes, or
//!   asked with a `faultline_leader` message.
//! - [`network`]: the in-process network over [`crate::net::sim`]'s seeded routing: delivery,
//!   counts (`results.json`'s `network`) and the message log (`messages.jsonl`).
//! - [`nodes`]: the node processes, their init, and kill/restart/pause/resume.
//! - [`services`] (pure): Maelstrom's services (`lin-kv`, `seq-kv`, `lww-kv`, `lin-tso`),
//!   which the network answers for in-process.
//! - [`client`]: the clients `c1`, `c2`, ... that turn ops into requests.
//!
//! Maelstrom's own documentation (jepsen-io/maelstrom: `doc/protocol.md`,
//! `doc/workloads.md`) is the reference for every shape here; docs/maelstrom.md says how to
//! run a node and what differs.

pub mod client;
pub mod errors;
pub mod kafka;
pub mod latency;
pub mod leader;
pub mod network;
pub mod nodes;
pub mod protocol;
pub mod services;
pub mod shapes;
pub mod topology;
pub mod workloads;

pub use client::MaelstromFactory;
pub use network::Network;
pub use nodes::{NodeProgram, StdioNodes};
