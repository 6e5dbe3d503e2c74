//! Command-line flags of the `raftkv` binary, and their validation into a [`NodeConfig`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::node::NodeConfig;
use crate::raft::{Bug, Bugs, NodeId, ReadMode};

const BUG_HELP: &str = "Switch on a deliberate, classic Raft bug (repeatable; all off by default):
  stale-read       a node that believes it is leader serves reads from local state without
                   confirming leadership with a quorum, and never steps down for want of a
                   quorum; a deposed leader cut off by a partition returns stale values (faultline: linearizability violation, stale read).
  early-ack        the leader applies and acknowledges a write once it is in its own log, before
                   a quorum has it; a leader crash or partition loses acknowledged writes
                   (faultline: lost write / read of a value never committed).
  volatile-vote    term and vote are not persisted (the host writes term 0 and no vote); a node
                   restarted after kill -9 can vote twice in one term, so two leaders share a
                   term and overwrite each other's committed entries (faultline: lost writes).
  commit-old-term  the leader commits entries of earlier terms by counting replicas (the Figure 8
                   mistake, Raft paper section 5.4.2); such an entry can later be overwritten
                   (faultline: lost acknowledged write under partitions + restarts).
  no-checksum      storage trusts what it reads back: recovery ignores the checksums of wal.log
                   and snapshot.bin and the log's synced-length header, so a corrupted or
                   truncated file is replayed as if it were good (faultline: only the
                   file-corruption nemesis exposes it; correct raftkv refuses to start, exit 4).
  fsync-lie        the write-ahead log acknowledges appends after write() and never fsyncs them;
                   kill -9 loses nothing (the page cache survives), a power loss loses every
                   entry and vote since the log was last rewritten (faultline: only the
                   power-loss nemesis exposes it: lost acknowledged writes).";

/// `raftkv`: one node of a Raft key-value store (faultline's default target).
#[derive(Debug, Clone, Parser)]
#[command(name = "raftkv", version, about, long_about = None)]
pub struct Args {
    /// This node's id (a positive integer, unique in the cluster).
    #[arg(long)]
    pub id: NodeId,
    /// Address of the client HTTP API.
    #[arg(long, default_value = "127.0.0.1:7001")]
    pub listen: SocketAddr,
    /// Address the Raft peer transport (TCP) listens on.
    #[arg(long, default_value = "127.0.0.1:7101")]
    pub peer_listen: SocketAddr,
    /// A peer and the address to dial it at, as ID=HOST:PORT (repeatable). Each directed link
    /// may point at its own proxy.
    #[arg(long = "peer", value_parser = parse_peer)]
    pub peers: Vec<(NodeId, String)>,
    /// A peer's client HTTP address, as ID=HOST:PORT (repeatable, optional). When the leader's
    /// is known, followers answer 307 with a Location on the leader; otherwise 421 naming it.
    #[arg(long = "peer-http", value_parser = parse_peer)]
    pub peer_http: Vec<(NodeId, String)>,
    /// Directory holding term, vote, log and snapshots; reused across restarts.
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long = "bug", value_name = "NAME", long_help = BUG_HELP, help = "Switch on a deliberate Raft bug: stale-read, early-ack, volatile-vote, commit-old-term, no-checksum, fsync-lie (repeatable)")]
    /// Deliberate bugs (see `--help`).
    pub bugs: Vec<String>,
    /// Seed of the Raft core's RNG (election timeouts), so runs replay.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Milliseconds per logical tick.
    #[arg(long, default_value_t = 20)]
    pub tick_ms: u64,
    /// Election timeout base in ticks (each timeout is drawn from [N, 2N)).
    #[arg(long, default_value_t = 10)]
    pub election_ticks: u64,
    /// Heartbeat interval in ticks.
    #[arg(long, default_value_t = 2)]
    pub heartbeat_ticks: u64,
    /// Most log entries per Append message.
    #[arg(long, default_value_t = 512)]
    pub max_append_entries: usize,
    /// Snapshot the state machine and compact the log every N applied entries.
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_entries: u64,
    /// How the leader confirms reads: read-index (a quorum heartbeat round per batch of
    /// reads) or lease (locally while a lease on the leader's wall clock lasts, thesis §6.4:
    /// election timeout, less one tick of rounding, less --lease-drift-ms).
    #[arg(long, value_name = "MODE", default_value = "read-index", value_parser = ["read-index", "lease"])]
    pub read_mode: String,

    /// Lease mode: the clock drift the lease leaves room for, in milliseconds (default: a
    /// tenth of the minimum election timeout).
    #[arg(long, value_name = "MS")]
    pub lease_drift_ms: Option<u64>,

    /// Milliseconds a client request may wait before it is answered 504.
    #[arg(long, default_value_t = 3000)]
    pub request_timeout_ms: u64,
}

/// Parses `ID=ADDR`.
fn parse_peer(s: &str) -> Result<(NodeId, String), String> {
    let (id, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ID=HOST:PORT, got {s:?}"))?;
    let id = id
        .trim()
        .parse()
        .map_err(|e| format!("peer id {id:?} in {s:?} is not a number: {e}"))?;
    if addr.trim().is_empty() {
        return Err(format!("peer {id} has an empty address in {s:?}"));
    }
    Ok((id, addr.trim().to_string()))
}

/// Flags that parse but do not make sense together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A peer id repeats or equals this node's id.
    #[error("peer id {0} is given twice or equals --id")]
    DuplicatePeer(NodeId),
    /// An unknown `--bug`.
    #[error(transparent)]
    Bug(#[from] crate::raft::RaftError),
    /// A zero duration.
    #[error("--{0} must be at least 1")]
    Zero(&'static str),
    /// A drift bound that leaves no lease.
    #[error(
        "--lease-drift-ms {drift} leaves no lease: the election timeout less one tick is {room} ms"
    )]
    NoLease {
        /// The drift bound asked for.
        drift: u64,
        /// Election timeout minus one tick, in ms.
        room: u64,
    },
}

impl Args {
    /// The enabled bugs.
    pub fn bugs(&self) -> Result<Bugs, ConfigError> {
        let mut bugs = Bugs::default();
        for name in &self.bugs {
            bugs.enable(name.parse::<Bug>()?);
        }
        Ok(bugs)
    }

    /// Checks the flags and builds the node's config.
    pub fn node_config(&self) -> Result<NodeConfig, ConfigError> {
        let mut peers = HashMap::new();
        for (id, addr) in &self.peers {
            if *id == self.id || peers.insert(*id, addr.clone()).is_some() {
                return Err(ConfigError::DuplicatePeer(*id));
            }
        }
        if self.tick_ms == 0 {
            return Err(ConfigError::Zero("tick-ms"));
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::Zero("request-timeout-ms"));
        }
        let read_mode = if self.read_mode == "lease" {
            // A follower that acknowledged a round waits at least election_ticks - 1 whole
            // ticks (its timer may be reset just before a tick) before it votes for another.
            let room = self
                .election_ticks
                .saturating_sub(1)
                .saturating_mul(self.tick_ms);
            let drift = self
                .lease_drift_ms
                .unwrap_or(self.election_ticks.saturating_mul(self.tick_ms) / 10);
            if drift >= room {
                return Err(ConfigError::NoLease { drift, room });
            }
            ReadMode::Lease {
                lease_us: (room - drift) * 1000,
            }
        } else {
            ReadMode::ReadIndex
        };
        Ok(NodeConfig {
            read_mode,
            id: self.id,
            peers,
            data_dir: self.data_dir.clone(),
            bugs: self.bugs()?,
            seed: self.seed,
            tick: Duration::from_millis(self.tick_ms),
            election_ticks: self.election_ticks,
            heartbeat_ticks: self.heartbeat_ticks,
            max_entries_per_append: self.max_append_entries,
            snapshot_entries: self.snapshot_entries,
            peer_queue: 1024,
            event_queue: 65_536,
        })
    }

    /// Peer id → client HTTP address.
    pub fn peer_http(&self) -> HashMap<NodeId, String> {
        self.peer_http.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("raftkv").chain(args.iter().copied()))
    }

    #[test]
    fn full_command_line_parses() {
        let a = parse(&[
            "--id",
            "1",
            "--listen",
            "127.0.0.1:9001",
            "--peer-listen",
            "127.0.0.1:9101",
            "--peer",
            "2=127.0.0.1:9102",
            "--peer",
            "3=127.0.0.1:9103",
            "--data-dir",
            "/tmp/x",
            "--bug",
            "stale-read",
            "--bug",
            "commit_old_term",
            "--seed",
            "7",
        ])
        .unwrap();
        let cfg = a.node_config().unwrap();
        assert_eq!(cfg.peers.len(), 3 - 1);
        assert_eq!(cfg.peers[&3], "127.0.0.1:9103");
        assert!(cfg.bugs.stale_read && cfg.bugs.commit_old_term && !cfg.bugs.early_ack);
        assert_eq!(cfg.seed, 7);
    }

    #[test]
    fn bad_flags_are_rejected_with_the_value() {
        let cases: [(&[&str], &str); 3] = [
            (&["--id", "1", "--data-dir", "d", "--peer", "x=1"], "\"x\""),
            (
                &["--id", "1", "--data-dir", "d", "--peer", "2"],
                "ID=HOST:PORT",
            ),
            (
                &["--id", "1", "--data-dir", "d", "--bug", "fast"],
                "\"fast\"",
            ),
        ];
        for (i, (args, want)) in cases.iter().enumerate() {
            let err = match parse(args) {
                Err(e) => e.to_string(),
                Ok(a) => a.node_config().map(|_| ()).unwrap_err().to_string(),
            };
            assert!(err.contains(want), "case {i}: {err}");
        }
        let a = parse(&["--id", "1", "--data-dir", "d", "--peer", "1=127.0.0.1:1"]).unwrap();
        assert!(a.node_config().is_err());
    }
}
