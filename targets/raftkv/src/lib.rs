//! raftkv: a Raft key-value store.
