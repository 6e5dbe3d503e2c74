//! Clients: how a worker turns an operation into a request to one node, and the answer (or its
//! absence) into a completion.
//!
//! The runner opens one [`Client`] per worker through a [`ClientFactory`], then calls
//! [`Client::invoke`] once per operation and [`Client::close`] at the end. A client never
//! returns an error: everything that can go wrong on the wire is data, a `fail` or `info`
//! [`Completion`] (Jepsen's interpreter does the same).
//!
//! # Error mapping
//!
//! This table is the core of correctness: a `fail` claims the operation certainly did not
//! happen, so a wrong `fail` makes the checker see anomalies that are not there, and a wrong
//! `ok` hides real ones. When in doubt, a write is `info`.
//!
//! | what happened | read | write / cas |
//! |---|---|---|
//! | connect refused, DNS failure, bad URL (certainly not sent) | fail | fail |
//! | a status the target defines as "nothing was done" (raftkv: 503, 307/421 not followed, 409 on cas, other 4xx) | fail | fail |
//! | timeout, connection reset after sending, an unreadable answer | fail | **info** |
//! | a status meaning "unknown" (raftkv: 500, 504, any other 5xx) | fail | **info** |
//! | 2xx | ok (value read) | ok |
//! | "not found" on a read (raftkv: 404) | ok, value `null` | — |
//!
//! A read is `fail` rather than `info` when its outcome is unknown because a read has no
//! effect: leaving it out of the history loses nothing.
//!
//! # Layout
//!
//! - [`mapping`] (pure): op kinds, what the wire said ([`mapping::Exchange`]), status meanings,
//!   and the function from those to a [`Completion`].
//! - [`http`]: the templated HTTP client, configured in TOML ([`http::HttpSpec`]), so a user
//!   can point faultline at their own service without writing Rust.
//! - [`etcd`]: etcd's client over its v3 JSON gateway (base64 keys and values, txn for cas),
//!   with the other workloads as optimistic read-modify-writes ([`etcd::workloads`]).
//! - [`raftkv`]: raftkv's client: the templated client with raftkv's API built in
//!   (`examples/http/raftkv.toml`) plus its 421 leader hint.
//! - [`profile`] (pure): the [`Profile`]s, the op families beyond read/write/cas that the
//!   workloads other than registers select and every client maps to its target's API.
//! - `render` (private, pure): keys and values rendered into URLs, percent-encoded.
//! - `transport` (private): the only I/O: one request, its timeout and its redirects.

pub mod etcd;
pub mod http;
pub mod mapping;
pub mod profile;
pub mod raftkv;
mod render;
mod transport;

use async_trait::async_trait;
use serde_json::Value;

use crate::history::Outcome;

pub use etcd::{EtcdFactory, EtcdOptions};
pub use http::{HttpFactory, HttpSpec, SpecError};
pub use profile::{Profile, UnknownProfile};
pub use raftkv::{RaftkvFactory, RaftkvOptions};

/// One operation handed to a client: the invoke as the generator made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The function: `read`, `write` or `cas` (anything else completes `fail`, unsent).
    pub f: String,
    /// The key; `None` means the single register (each client maps it to a fixed key).
    pub key: Option<Value>,
    /// The argument: `null` for reads, `v` for writes, `[from, to]` for cas.
    pub value: Value,
}

/// How an operation ended, as the client saw it; the runner stamps the time and records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// ok (it happened), fail (it certainly did not), info (unknown).
    pub outcome: Outcome,
    /// The value read for an ok read (`null` = never written); otherwise the invoke's value.
    pub value: Value,
    /// Why it failed or is unknown (a status and the server's message, or the I/O error).
    pub error: Option<String>,
    /// The node that served it (after redirects): its name when known, else its address.
    pub node: Option<String>,
}

/// A node a client can talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's name in histories and reports, e.g. `"n1"`.
    pub name: String,
    /// Its client HTTP address, `host:port` (e.g. `"127.0.0.1:7001"`) or a base URL
    /// (`"http://host:port"`).
    pub http: String,
}

/// A connection to one node, used by one worker for one operation at a time.
#[async_trait]
pub trait Client: Send {
    /// Performs one operation and says how it ended. Never panics or errors: every failure is
    /// a `fail` or `info` completion, and every call ends within the client's timeout.
    async fn invoke(&mut self, op: &Invocation) -> Completion;

    /// Releases the connection; the client is not used afterwards.
    async fn close(&mut self) {}
}

/// Opens clients: one per worker, each bound to one node.
pub trait ClientFactory: Send + Sync {
    /// Opens a client that talks to `node`. Does no I/O (a connection is made on first use),
    /// so it fails only on a node address that cannot be used.
    fn open(&self, node: &NodeInfo) -> Result<Box<dyn Client>, ClientError>;
}

/// Why a client or a factory could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node's address does not form a URL.
    #[error("node {node}: bad address {address:?}: {reason}")]
    BadAddress {
        /// The node's name.
        node: String,
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client library could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// The templated client's configuration is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
}
