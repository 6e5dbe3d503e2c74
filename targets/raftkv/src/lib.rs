//! raftkv: a Raft key-value store.
#![warn(missing_docs)]

pub mod raft;
