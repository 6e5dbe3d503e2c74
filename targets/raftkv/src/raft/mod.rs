//! The pure Raft core: elections with pre-vote, log replication with fast back-off, the
//! commit rule, ReadIndex or leader-lease reads, and snapshots with log compaction.
//!
//! **No I/O here**: no sockets, no clock, no threads, no ambient randomness. The host (the
//! server, or the deterministic simulation in [`crate::sim`]) feeds the core ticks, messages
//! and client requests, and takes back a [`Ready`] listing what to persist, send and apply —
//! the shape of tikv/raft-rs's `RawNode`. The election-timeout randomness comes from the
//! seeded `ChaCha8Rng` the host passes in, so a run replays exactly from its seed.
//!
//! # Log ownership
//!
//! The core keeps its **own in-memory copy** of the log after the latest snapshot; the host
//! keeps the durable copy, which it learns about only through `Ready` (appends, truncations,
//! installed snapshots) and its own [`RaftNode::compact`] calls. On restart the host hands back
//! what it stored as [`Recovered`]. Memory stays bounded because the host compacts regularly.
//!
//! # The Ready loop
//!
//! 1. **Build** a node: `RaftNode::new(Config::new(id, voters), recovered, rng)`.
//! 2. **Drive** it: call [`RaftNode::tick`] every tick of your logical clock,
//!    [`RaftNode::step`] for each message received from a peer, [`RaftNode::propose`] for a
//!    client write (it returns the [`EntryId`] the write will occupy) and
//!    [`RaftNode::read_index`] for a linearizable read. Proposals and reads on a non-leader
//!    fail with [`RaftError::NotLeader`] naming the leader, if known.
//! 3. **Take** the work: when [`RaftNode::has_ready`], call [`RaftNode::ready`]. Every entry and
//!    state change since the last `advance` is in it, so one fsync covers them (group commit).
//! 4. **Handle** it, in this order:
//!    1. `messages` may be sent at any time, even before persisting (a leader's appends and
//!       heartbeats, pre-vote traffic).
//!    2. Persist: install `snapshot` (store it, drop the stored log, reset the state machine
//!       to it), then store `entries` (first truncating the stored log from `entries[0].index`
//!       if it already reaches there), then store `hard_state`; fsync.
//!    3. Only then send `persisted_messages`: vote grants, append acknowledgements and
//!       vote requests promise the state just persisted (**persist before send**).
//!    4. Apply `committed_entries` in order (**commit before apply**: they are committed and
//!       persisted). A proposal `EntryId { index, term }` succeeded when the entry applied at
//!       `index` has `term`; a different term there means it was lost. Skip `Payload::Noop`.
//!    5. Answer each of `read_states` from the state machine as it stands now (the read index
//!       is applied by then), and answer `failed_reads` with an error. (A host may instead
//!       read through the log: propose the read as a command and answer it when applied.)
//! 5. **Confirm** with [`RaftNode::advance`], then loop. Do not call `ready` again before
//!    `advance`.
//! 6. **Compact** now and then: after applying up to `i`, serialise the state machine, store
//!    that snapshot durably, call [`RaftNode::compact`]`(i, bytes)`, and drop stored entries up
//!    to `i`. The core then sends this snapshot to followers that fell behind.
//!
//! ```
//! use raftkv::raft::{Config, Payload, RaftNode, Recovered};
//! use rand::SeedableRng;
//!
//! // A single-node cluster elects itself after one election timeout.
//! let rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
//! let mut node = RaftNode::new(Config::new(1, vec![1]), Recovered::default(), rng).unwrap();
//! let mut applied = Vec::new();
//! let mut proposed = None;
//! for _ in 0..100 {
//!     node.tick();
//!     if proposed.is_none() && node.role() == raftkv::raft::Role::Leader {
//!         proposed = Some(node.propose(b"set x 1".to_vec()).unwrap());
//!     }
//!     while node.has_ready() {
//!         let ready = node.ready();
//!         // persist ready.snapshot, ready.entries, ready.hard_state here, then send
//!         // ready.persisted_messages (a single node has no peers).
//!         for entry in ready.committed_entries {
//!             if let Payload::Command(cmd) = entry.payload {
//!                 applied.push((entry.index, entry.term, cmd));
//!             }
//!         }
//!         node.advance();
//!     }
//! }
//! let id = proposed.unwrap();
//! assert_eq!(applied, vec![(id.index, id.term, b"set x 1".to_vec())]);
//! ```
//!
//! # Switchable bugs
//!
//! [`Config::bugs`] turns on deliberate mistakes (all off by default), named for
//! `--bug NAME` by [`Bug::NAMES`]: `stale_read`, `early_ack`, `volatile_vote`,
//! `commit_old_term`, `no_checksum` and `fsync_lie` (storage bugs the core ignores). See [`Bugs`] for what each does and how it shows to the host (for
//! `early_ack`: a leader's uncommitted entries appear in `committed_entries`, so the host
//! acknowledges them early; for `volatile_vote`: `hard_state` carries term 0 and no vote).

mod config;
mod error;
mod log;
mod node;
mod ready;
#[cfg(test)]
mod testnet;
#[cfg(test)]
mod tests;
mod types;

pub use config::{Bug, Bugs, Config, ReadMode};
pub use error::RaftError;
pub use node::RaftNode;
pub use ready::{Ready, Recovered};
pub use types::{
    Entry, EntryId, HardState, Index, Message, MessageBody, NodeId, Payload, ReadState, Role,
    Snapshot, SoftState, Term,
};
