//! raftkv: a Raft key-value store.
#![warn(missing_docs)]

pub mod config;
pub mod node;
pub mod raft;
pub mod server;
pub mod sim;
pub mod state_machine;
pub mod storage;
pub mod transport;
pub mod wal;
