//! The host loop: drives the pure Raft core with real time, real disks and real sockets.
//!
//! One dedicated OS thread owns the [`RaftNode`], the [`Storage`] and the [`Kv`] state machine.
//! Everything else talks to it through one bounded channel of [`Event`]s: peer messages from
//! the transport, and client requests from the HTTP server (each with a oneshot reply). A plain
//! thread, not a tokio task, because the loop blocks in `fsync` and must never stall the
//! runtime that serves HTTP and peers.
//!
//! Each turn of the loop:
//! 1. waits for an event or the next tick, then drains every event already queued (bounded);
//! 2. ticks the core for each elapsed tick;
//! 3. handles the core's [`Ready`]: sends `messages` at once (a leader's appends go out before
//!    its own write, thesis §10.2.1), stores snapshot, entries and hard state and fsyncs **once**
//!    for all of them, then sends `persisted_messages` (vote grants, append acks), applies
//!    committed entries (answering the clients whose proposals they are), serves reads, and
//!    calls `advance`.
//!
//! Because the queue is drained before each Ready, all proposals that arrived during the
//! previous fsync share the next one: group commit across concurrent clients.
//!
//! A proposal is answered when the entry at its [`EntryId`] index is applied with its term. If
//! another term's entry lands there, or the node stops leading first, the client is told the
//! outcome is unknown ([`Refusal::Indeterminate`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::raft::{
    Bugs, Config, Entry, EntryId, Index, Message, NodeId, Payload, RaftError, RaftNode, ReadMode,
    Ready, Recovered, Role, Term,
};
use crate::state_machine::{Kv, Op, Outcome, ReadAnswer, ReadQuery};
use crate::storage::{Storage, StorageError};
use crate::transport::Transport;

/// Most events handled per loop turn before the core gets a chance to produce a Ready.
const MAX_DRAIN: usize = 8192;

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id.
    pub id: NodeId,
    /// Peer id → address its Raft transport listens on (possibly a harness proxy).
    pub peers: HashMap<NodeId, String>,
    /// Where term, vote, log and snapshots live.
    pub data_dir: PathBuf,
    /// Deliberate bugs handed to the core.
    pub bugs: Bugs,
    /// Seed of the core's RNG (election timeouts).
    pub seed: u64,
    /// Wall-clock length of one logical tick.
    pub tick: Duration,
    /// Election timeout base, in ticks.
    pub election_ticks: u64,
    /// Heartbeat interval, in ticks.
    pub heartbeat_ticks: u64,
    /// Most entries per Append message.
    pub max_entries_per_append: usize,
    /// Take a snapshot and compact the log after this many applied entries.
    pub snapshot_entries: u64,
    /// Bound of each peer's outbound queue, in messages.
    pub peer_queue: usize,
    /// Bound of the event queue into the Raft thread.
    pub event_queue: usize,
    /// ReadIndex or lease reads (handed to the core).
    pub read_mode: ReadMode,
}

/// Why a request was not (or not knowingly) carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This node does not lead; `leader` is who it believes does. Nothing was proposed.
    NotLeader {
        /// The leader this node follows, if known.
        leader: Option<NodeId>,
    },
    /// The event queue is full; nothing was proposed.
    Busy,
    /// The proposal was accepted but leadership was lost (or its log slot overwritten) before
    /// it applied here: it may or may not take effect.
    Indeterminate,
    /// The Raft thread has stopped.
    Stopped,
}

/// A client request into the Raft thread.
#[derive(Debug)]
pub enum Request {
    /// Propose a write (put, cas, txn) through the log.
    Propose {
        /// What to do.
        op: Op,
        /// Receives the outcome once applied.
        reply: oneshot::Sender<Result<Outcome, Refusal>>,
    },
    /// A linearizable read via ReadIndex (served locally with `--bug stale-read`).
    Read {
        /// What to read.
        query: ReadQuery,
        /// Receives the answer.
        reply: ReadReply,
    },
}

/// Input to the Raft thread.
#[derive(Debug)]
enum Event {
    Peer(Message),
    Client(Request),
}

/// What `/status` shows; published by the Raft thread after every turn.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    /// This node's id.
    pub id: NodeId,
    /// `follower`, `pre-candidate`, `candidate` or `leader`.
    pub role: &'static str,
    /// Current term.
    pub term: Term,
    /// The leader this node follows, if known.
    pub leader: Option<NodeId>,
    /// Highest index known committed.
    pub commit_index: Index,
    /// Highest index applied to the state machine.
    pub last_applied: Index,
    /// Last index in the log.
    pub last_index: Index,
    /// Index covered by the latest snapshot.
    pub snapshot_index: Index,
    /// Bugs switched on, by name.
    pub bugs: Vec<String>,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::PreCandidate => "pre-candidate",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

/// Failures starting a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The data directory could not be read.
    #[error("data directory: {0}")]
    Storage(#[from] StorageError),
    /// The core refused its config or recovered state.
    #[error("raft core: {0}")]
    Raft(#[from] RaftError),
    /// The snapshot on disk does not decode as a key-value map.
    #[error("snapshot: {0}")]
    Snapshot(#[from] crate::state_machine::DecodeError),
    /// The Raft thread could not be spawned.
    #[error("spawn raft thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// A cheap, cloneable handle to a running node.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    tx: SyncSender<Event>,
    status: Arc<Mutex<Status>>,
}

impl NodeHandle {
    /// Hands a peer message to the Raft thread; dropped when the queue is full (Raft retries).
    pub fn deliver(&self, msg: Message) {
        let _ = self.tx.try_send(Event::Peer(msg));
    }

    /// Proposes a write and waits until it is applied (or refused). The caller bounds the wait.
    pub async fn propose(&self, op: Op) -> Result<Outcome, Refusal> {
        let (reply, rx) = oneshot::channel();
        self.submit(Request::Propose { op, reply })?;
        rx.await.unwrap_or(Err(Refusal::Stopped))
    }

    /// Reads a key linearizably (ReadIndex) and waits for the answer.
    pub async fn read(&self, key: String) -> Result<Option<Value>, Refusal> {
        match self.query(ReadQuery::Get(key)).await? {
            ReadAnswer::Value(v) => Ok(v),
            // `Kv::read` answers a `Get` with a `Value`.
            _ => Ok(None),
        }
    }

    /// Answers any read (a key, a prefix scan, a read-only transaction) the way
    /// [`NodeHandle::read`] answers a key: after a ReadIndex round, from the applied state.
    pub async fn query(&self, query: ReadQuery) -> Result<ReadAnswer, Refusal> {
        let (reply, rx) = oneshot::channel();
        self.submit(Request::Read { query, reply })?;
        rx.await.unwrap_or(Err(Refusal::Stopped))
    }

    /// The node's latest published status (no round trip to the Raft thread).
    pub fn status(&self) -> Status {
        // A poisoned lock means the Raft thread panicked while publishing; the data is still
        // a complete Status value, so show it.
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A handle with no Raft thread behind it (every request is refused as stopped); lets
    /// the HTTP layer be tested without a node. Returns the handle and its status cell.
    #[cfg(test)]
    pub(crate) fn detached(id: NodeId) -> (NodeHandle, Arc<Mutex<Status>>) {
        let (tx, _) = mpsc::sync_channel(1);
        let status = Arc::new(Mutex::new(Status {
            id,
            role: role_name(Role::Follower),
            term: 0,
            leader: None,
            commit_index: 0,
            last_applied: 0,
            last_index: 0,
            snapshot_index: 0,
            bugs: Vec::new(),
        }));
        (
            NodeHandle {
                tx,
                status: status.clone(),
            },
            status,
        )
    }

    fn submit(&self, req: Request) -> Result<(), Refusal> {
        match self.tx.try_send(Event::Client(req)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(Refusal::Busy),
            Err(TrySendError::Disconnected(_)) => Err(Refusal::Stopped),
        }
    }
}

/// Where a read's answer goes.
type ReadReply = oneshot::Sender<Result<ReadAnswer, Refusal>>;

/// A client waiting for its proposal to apply.
struct Waiter {
    term: Term,
    reply: oneshot::Sender<Result<Outcome, Refusal>>,
}

/// The state owned by the Raft thread.
struct Host {
    core: RaftNode,
    storage: Storage,
    kv: Kv,
    transport: Transport,
    status: Arc<Mutex<Status>>,
    bug_names: Vec<String>,
    /// Proposals by log index.
    waiters: BTreeMap<Index, Waiter>,
    /// ReadIndex requests by id: the query and the reply.
    reads: HashMap<u64, (ReadQuery, ReadReply)>,
    next_read: u64,
    applied: Index,
    snapshot_entries: u64,
}

/// Opens the data directory, builds the core and starts the Raft thread and the peer
/// transport. Must be called inside a tokio runtime (the transport's tasks run there).
pub fn start(cfg: NodeConfig) -> Result<(NodeHandle, JoinHandle<()>), NodeError> {
    let (mut storage, mut recovered) = Storage::open_with(&cfg.data_dir, !cfg.bugs.no_checksum)?;
    if cfg.bugs.fsync_lie {
        storage.lie_about_fsync();
    }
    clamp_commit(&mut recovered);
    let kv = match &recovered.snapshot {
        Some(s) => Kv::restore(&s.data)?,
        None => Kv::new(),
    };
    let applied = recovered.snapshot.as_ref().map_or(0, |s| s.index);
    let mut voters: Vec<NodeId> = cfg.peers.keys().copied().collect();
    voters.push(cfg.id);
    voters.sort_unstable();
    let mut config = Config::new(cfg.id, voters);
    config.election_ticks = cfg.election_ticks;
    config.heartbeat_ticks = cfg.heartbeat_ticks;
    config.max_entries_per_append = cfg.max_entries_per_append;
    config.bugs = cfg.bugs;
    config.read_mode = cfg.read_mode;
    let bug_names = cfg.bugs.enabled().iter().map(|b| b.to_string()).collect();
    tracing::info!(
        id = cfg.id,
        term = recovered.hard_state.term,
        commit = recovered.hard_state.commit,
        entries = recovered.entries.len(),
        snapshot = applied,
        "recovered from {}",
        cfg.data_dir.display()
    );
    let core = RaftNode::new(
        config,
        recovered,
        rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed ^ cfg.id),
    )?;
    let transport = Transport::start(&cfg.peers, cfg.peer_queue);
    let status = Arc::new(Mutex::new(Status {
        id: cfg.id,
        role: role_name(core.role()),
        term: core.term(),
        leader: core.leader(),
        commit_index: core.commit_index(),
        last_applied: applied,
        last_index: core.last_index(),
        snapshot_index: applied,
        bugs: bug_names,
    }));
    let (tx, rx) = mpsc::sync_channel(cfg.event_queue.max(1));
    let mut host = Host {
        core,
        storage,
        kv,
        transport,
        status: status.clone(),
        bug_names: cfg.bugs.enabled().iter().map(|b| b.to_string()).collect(),
        waiters: BTreeMap::new(),
        reads: HashMap::new(),
        next_read: 0,
        applied,
        snapshot_entries: cfg.snapshot_entries.max(1),
    };
    let tick = cfg.tick;
    let thread = std::thread::Builder::new()
        .name(format!("raft-{}", cfg.id))
        .spawn(move || {
            if let Err(e) = host.run(rx, tick) {
                // Storage failures are fatal: continuing would break the durability promise.
                tracing::error!(error = %e, "raft loop stopped");
                std::process::exit(3);
            }
        })
        .map_err(NodeError::Spawn)?;
    Ok((NodeHandle { tx, status }, thread))
}

/// A commit index past the recovered log can only come from a buggy run (a "committed" entry
/// later overwritten, e.g. with `commit-old-term`); cap it so the node can still start.
fn clamp_commit(rec: &mut Recovered) {
    let last = rec
        .entries
        .last()
        .map(|e| e.index)
        .or(rec.snapshot.as_ref().map(|s| s.index))
        .unwrap_or(0);
    if rec.hard_state.commit > last {
        tracing::warn!(
            commit = rec.hard_state.commit,
            last,
            "recovered commit index is past the log; capping it"
        );
        rec.hard_state.commit = last;
    }
}

impl Host {
    /// The loop; returns only on a storage failure or when every handle is gone.
    fn run(&mut self, rx: Receiver<Event>, tick: Duration) -> Result<(), StorageError> {
        let mut next_tick = Instant::now() + tick;
        loop {
            let wait = if self.core.has_ready() {
                Duration::ZERO
            } else {
                next_tick.saturating_duration_since(Instant::now())
            };
            match rx.recv_timeout(wait) {
                Ok(ev) => self.handle(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            for _ in 0..MAX_DRAIN {
                match rx.try_recv() {
                    Ok(ev) => self.handle(ev),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                self.core.set_clock(self.clock_us());
                self.core.tick();
                next_tick += tick;
                if next_tick < now {
                    // Far behind (a long fsync or a SIGSTOP): don't replay a burst of ticks.
                    next_tick = now + tick;
                }
            }
            if self.core.has_ready() {
                let ready = self.core.ready();
                self.handle_ready(ready)?;
                self.maybe_compact()?;
            }
            self.publish_status();
        }
    }

    /// The core's clock for lease reads: the wall clock (`SystemTime`), in microseconds since
    /// 1970, as many lease implementations measure it. Lease reads trust it: a wall clock
    /// that runs slow or steps back on the leader (NTP gone wrong, or faultline's clock
    /// nemesis) makes the lease outlast the followers' election timeouts, which run on the
    /// monotonic clock. 0 if the clock reads before 1970.
    fn clock_us(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Peer(msg) => self.core.step(msg),
            Event::Client(Request::Propose { op, reply }) => match self.core.propose(op.encode()) {
                Ok(EntryId { index, term }) => {
                    self.waiters.insert(index, Waiter { term, reply });
                }
                Err(e) => {
                    let _ = reply.send(Err(refusal(e)));
                }
            },
            Event::Client(Request::Read { query, reply }) => {
                let id = self.next_read;
                self.next_read += 1;
                // The lease is checked against the clock read now, after the request arrived.
                self.core.set_clock(self.clock_us());
                match self.core.read_index(id) {
                    Ok(()) => {
                        self.reads.insert(id, (query, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(refusal(e)));
                    }
                }
            }
        }
    }

    fn handle_ready(&mut self, rd: Ready) -> Result<(), StorageError> {
        if let Some(soft) = rd.soft_state {
            if soft.role != Role::Leader && !self.waiters.is_empty() {
                tracing::info!(
                    pending = self.waiters.len(),
                    term = soft.term,
                    "lost leadership; pending proposals have unknown outcomes"
                );
                for (_, w) in std::mem::take(&mut self.waiters) {
                    let _ = w.reply.send(Err(Refusal::Indeterminate));
                }
            }
            tracing::debug!(role = ?soft.role, term = soft.term, leader = ?soft.leader, "soft state");
        }
        for m in rd.messages {
            self.transport.send(m);
        }
        if let Some(snap) = &rd.snapshot {
            self.storage.install_snapshot(snap)?;
            match Kv::restore(&snap.data) {
                Ok(kv) => self.kv = kv,
                Err(e) => tracing::error!(error = %e, "leader sent an undecodable snapshot"),
            }
            self.applied = snap.index;
            let later = self.waiters.split_off(&(snap.index + 1));
            for (_, w) in std::mem::replace(&mut self.waiters, later) {
                let _ = w.reply.send(Err(Refusal::Indeterminate));
            }
        }
        // Entries before the hard state: a torn tail then loses the commit index, never leaves
        // one pointing past the log.
        self.storage.append(&rd.entries);
        if let Some(hs) = rd.hard_state {
            self.storage.set_hard_state(hs);
        }
        self.storage.sync()?;
        for m in rd.persisted_messages {
            self.transport.send(m);
        }
        for entry in rd.committed_entries {
            self.apply(entry);
        }
        for rs in rd.read_states {
            if let Some((query, reply)) = self.reads.remove(&rs.id) {
                let _ = reply.send(Ok(self.kv.read(&query)));
            }
        }
        for id in rd.failed_reads {
            if let Some((_, reply)) = self.reads.remove(&id) {
                let leader = self.core.leader().filter(|&l| l != self.core.id());
                let _ = reply.send(Err(Refusal::NotLeader { leader }));
            }
        }
        self.core.advance();
        Ok(())
    }

    fn apply(&mut self, entry: Entry) {
        self.applied = entry.index;
        let outcome = match &entry.payload {
            Payload::Noop => None,
            Payload::Command(bytes) => match Op::decode(bytes) {
                Ok(op) => Some(self.kv.apply(&op)),
                Err(e) => {
                    tracing::error!(index = entry.index, error = %e, "skipping undecodable entry");
                    None
                }
            },
        };
        // Waiters at lower indexes can only remain if their slot was skipped (snapshot);
        // answer them as unknown. The waiter at this index is done if the term matches.
        while let Some(first) = self.waiters.first_entry() {
            if *first.key() > entry.index {
                break;
            }
            let at = *first.key();
            let w = first.remove();
            let result = match (&outcome, at == entry.index && w.term == entry.term) {
                (Some(o), true) => Ok(o.clone()),
                _ => Err(Refusal::Indeterminate),
            };
            let _ = w.reply.send(result);
        }
    }

    /// Snapshots the state machine and compacts core and disk once enough entries applied.
    fn maybe_compact(&mut self) -> Result<(), StorageError> {
        let index = self.applied;
        if index < self.storage.snapshot_index() + self.snapshot_entries
            || index > self.core.commit_index()
        {
            // Not due yet, or (early-ack) the state machine holds uncommitted writes.
            return Ok(());
        }
        if let Err(e) = self.core.compact(index, self.kv.snapshot()) {
            tracing::warn!(error = %e, "compaction refused");
            return Ok(());
        }
        if let Some(snap) = self.core.snapshot() {
            let snap = snap.clone();
            self.storage.compact(&snap)?;
        }
        Ok(())
    }

    fn publish_status(&self) {
        let soft = self.core.soft_state();
        let status = Status {
            id: self.core.id(),
            role: role_name(soft.role),
            term: soft.term,
            leader: soft.leader,
            commit_index: self.core.commit_index(),
            last_applied: self.applied,
            last_index: self.core.last_index(),
            snapshot_index: self.storage.snapshot_index(),
            bugs: self.bug_names.clone(),
        };
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }
}

fn refusal(e: RaftError) -> Refusal {
    match e {
        RaftError::NotLeader { leader, node } => Refusal::NotLeader {
            leader: leader.filter(|&l| l != node),
        },
        _ => Refusal::Stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(dir: &std::path::Path) -> NodeConfig {
        NodeConfig {
            id: 1,
            peers: HashMap::new(),
            data_dir: dir.to_owned(),
            bugs: Bugs::default(),
            seed: 1,
            tick: Duration::from_millis(5),
            election_ticks: 10,
            heartbeat_ticks: 2,
            max_entries_per_append: 64,
            snapshot_entries: 25,
            peer_queue: 16,
            event_queue: 1024,
            read_mode: ReadMode::ReadIndex,
        }
    }

    async fn wait_leader(h: &NodeHandle) {
        for _ in 0..1000 {
            if h.status().role == "leader" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("single node never became leader: {:?}", h.status());
    }

    fn put(key: &str, v: i64) -> Op {
        Op::Put {
            key: key.into(),
            value: json!(v),
        }
    }

    #[tokio::test]
    async fn a_single_node_applies_proposals_and_recovers_them_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let (h, thread) = start(config(dir.path())).unwrap();
            wait_leader(&h).await;
            // Concurrent proposals share fsyncs; each gets its own outcome.
            let mut tasks = Vec::new();
            for i in 0..100 {
                let h = h.clone();
                tasks.push(tokio::spawn(async move {
                    h.propose(put(&format!("k{}", i % 10), i)).await
                }));
            }
            for t in tasks {
                assert_eq!(t.await.unwrap(), Ok(Outcome::Written));
            }
            let cas = Op::Cas {
                key: "k0".into(),
                from: json!(-1),
                to: json!(0),
            };
            assert!(matches!(
                h.propose(cas).await,
                Ok(Outcome::CasMismatch { .. })
            ));
            assert!(h.read("k3".into()).await.unwrap().is_some());
            assert_eq!(h.read("nope".into()).await, Ok(None));
            // 100+ entries with a snapshot every 25: the log was compacted.
            assert!(h.status().snapshot_index >= 75, "{:?}", h.status());
            thread
        };
        // Dropping the last handle disconnects the channel and ends the Raft thread; wait for
        // it so two threads never share the data directory.
        tokio::task::spawn_blocking(move || first.join())
            .await
            .unwrap()
            .expect("raft thread exits cleanly");
        let (h, _thread) = start(config(dir.path())).unwrap();
        wait_leader(&h).await;
        for k in 0..10 {
            let last = (0..100).filter(|i| i % 10 == k).max().unwrap();
            let got = h.read(format!("k{k}")).await.unwrap();
            assert_eq!(got, Some(json!(last)), "key k{k}");
        }
    }

    #[test]
    fn a_commit_index_past_the_log_is_capped() {
        let mut rec = Recovered::default();
        rec.hard_state.commit = 9;
        clamp_commit(&mut rec);
        assert_eq!(rec.hard_state.commit, 0);
    }
}
