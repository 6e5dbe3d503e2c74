//! The simulated hosts: each node's disk, state machine and Ready loop, the clients, and the
//! fault schedule, driven tick by tick.

use std::collections::{BTreeSet, HashMap};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::check::{command_id, Invariants, Violation};
use super::network::Network;
use super::{node_ids, pick, Outcome, SimConfig};
use crate::raft::{
    Config, Entry, HardState, Index, Message, NodeId, Payload, RaftNode, Ready, Recovered, Role,
    Snapshot,
};

/// What a node's host has made durable: exactly what its Readies said to persist.
#[derive(Clone, Debug, Default)]
struct Disk {
    hard_state: HardState,
    snapshot: Option<Snapshot>,
    entries: Vec<Entry>,
}

/// The simulated state machine: the set of write ids applied, and how far it has applied.
#[derive(Clone, Debug, Default)]
struct StateMachine {
    applied: Index,
    writes: BTreeSet<u64>,
}

impl StateMachine {
    fn encode(&self) -> Vec<u8> {
        self.writes.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn decode(snapshot: &Snapshot) -> Self {
        let writes = snapshot
            .data
            .chunks_exact(8)
            .filter_map(|c| <[u8; 8]>::try_from(c).ok())
            .map(u64::from_le_bytes)
            .collect();
        StateMachine {
            applied: snapshot.index,
            writes,
        }
    }
}

/// One machine: a running node (or none while crashed), its disk and state machine.
struct Host {
    id: NodeId,
    node: Option<RaftNode>,
    disk: Disk,
    sm: StateMachine,
    incarnation: u64,
    down_until: u64,
}

/// A write a client is waiting on: (write id, term) proposed at an index on a node.
struct PendingWrite {
    node: NodeId,
    term: u64,
    write: u64,
}

/// A read a client is waiting on, with how many acknowledged writes preceded it.
struct PendingRead {
    node: NodeId,
    acked_before: usize,
}

/// The whole simulated system.
pub(super) struct Cluster {
    seed: u64,
    config: SimConfig,
    hosts: Vec<Host>,
    network: Network,
    invariants: Invariants,
    writes: HashMap<(NodeId, Index), PendingWrite>,
    reads: HashMap<u64, PendingRead>,
    /// Write ids in acknowledgement order.
    acked: Vec<u64>,
    next_request: u64,
    now: u64,
    outcome: Outcome,
    /// Print every event to stderr (`RAFTKV_TRACE=1`), to study a replayed seed.
    trace: bool,
}

impl Cluster {
    pub(super) fn new(seed: u64, config: &SimConfig) -> Self {
        let mut cluster = Cluster {
            seed,
            config: config.clone(),
            hosts: Vec::new(),
            network: Network::default(),
            invariants: Invariants::default(),
            writes: HashMap::new(),
            reads: HashMap::new(),
            acked: Vec::new(),
            next_request: 1,
            now: 0,
            outcome: Outcome::default(),
            trace: std::env::var_os("RAFTKV_TRACE").is_some(),
        };
        for id in node_ids(config.nodes) {
            let mut host = Host {
                id,
                node: None,
                disk: Disk::default(),
                sm: StateMachine::default(),
                incarnation: 0,
                down_until: 0,
            };
            host.node = Some(cluster.boot(&host));
            cluster.hosts.push(host);
        }
        cluster
    }

    pub(super) fn outcome(&self) -> Outcome {
        let mut outcome = self.outcome.clone();
        outcome.writes_acked = self.acked.len() as u64;
        outcome
    }

    /// Starts a node from its disk, as a restarted process would.
    fn boot(&self, host: &Host) -> RaftNode {
        let mut config = Config::new(host.id, node_ids(self.config.nodes));
        config.election_ticks = self.config.election_ticks;
        config.heartbeat_ticks = self.config.heartbeat_ticks;
        config.max_entries_per_append = self.config.max_entries_per_append;
        config.max_append_burst = self.config.max_append_burst;
        config.bugs = self.config.bugs;
        let rng = ChaCha8Rng::seed_from_u64(
            self.seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(host.id << 32)
                .wrapping_add(host.incarnation),
        );
        let recovered = Recovered {
            hard_state: host.disk.hard_state,
            snapshot: host.disk.snapshot.clone(),
            entries: host.disk.entries.clone(),
        };
        // The sim builds configs and disks only through the Ready contract, so they are valid;
        // a failure here is a core bug worth a loud stop.
        RaftNode::new(config, recovered, rng).expect("sim config and disk are valid")
    }

    pub(super) fn run_tick(&mut self, tick: u64, rng: &mut ChaCha8Rng) -> Result<(), Violation> {
        self.now = tick;
        self.faults(rng);
        for i in 0..self.hosts.len() {
            if let Some(node) = self.hosts[i].node.as_mut() {
                node.tick();
                self.process(i, rng)?;
            }
        }
        for msg in self.network.due(tick, rng) {
            let i = (msg.to - 1) as usize;
            if let Some(node) = self.hosts.get_mut(i).and_then(|h| h.node.as_mut()) {
                self.outcome.messages += 1;
                if self.trace {
                    eprintln!("t{} deliver {msg:?}", self.now);
                }
                node.step(msg);
                self.process(i, rng)?;
            }
        }
        self.clients(rng)
    }

    /// Partitions, heals, crashes and restarts.
    fn faults(&mut self, rng: &mut ChaCha8Rng) {
        let ids = node_ids(self.config.nodes);
        if rng.random_bool(self.config.partition_rate) {
            if self.network.is_partitioned() {
                if self.trace {
                    eprintln!("t{} heal", self.now);
                }
                self.network.heal();
            } else {
                self.outcome.partitions += 1;
                self.partition(&ids, rng);
            }
        }
        for i in 0..self.hosts.len() {
            if self.hosts[i].node.is_none() && self.hosts[i].down_until <= self.now {
                self.hosts[i].incarnation += 1;
                let node = self.boot(&self.hosts[i]);
                let host = &mut self.hosts[i];
                host.sm = host
                    .disk
                    .snapshot
                    .as_ref()
                    .map(StateMachine::decode)
                    .unwrap_or_default();
                if self.trace {
                    eprintln!(
                        "t{} restart node {} from {:?}",
                        self.now, host.id, host.disk
                    );
                }
                host.node = Some(node);
            }
        }
        let down = self.hosts.iter().filter(|h| h.node.is_none()).count();
        if down < (self.config.nodes - 1) / 2 && rng.random_bool(self.config.crash_rate) {
            let up: Vec<usize> = (0..self.hosts.len())
                .filter(|&i| self.hosts[i].node.is_some())
                .collect();
            let leaders: Vec<usize> = up
                .iter()
                .copied()
                .filter(|&i| {
                    self.hosts[i]
                        .node
                        .as_ref()
                        .is_some_and(|n| n.role() == Role::Leader)
                })
                .collect();
            // Like Jepsen's "kill the primary" nemesis: leaders are the interesting victims.
            let victims = if !leaders.is_empty() && rng.random_bool(self.config.leader_crash_bias) {
                leaders
            } else {
                up
            };
            if let Some(i) = pick(&victims, rng) {
                let down_for = rng.random_range(1..=self.config.max_down_ticks);
                self.crash(i, down_for);
            }
        }
    }

    fn partition(&mut self, ids: &[NodeId], rng: &mut ChaCha8Rng) {
        let Some(victim) = pick(ids, rng) else {
            return;
        };
        let kind = rng.random_range(0..4);
        if self.trace {
            eprintln!("t{} partition kind {kind} victim {victim}", self.now);
        }
        match kind {
            // Isolate one node both ways.
            0 => {
                for &other in ids.iter().filter(|&&o| o != victim) {
                    self.network.cut(victim, other);
                    self.network.cut(other, victim);
                }
            }
            // Split into two random sides (one may be a majority).
            1 => {
                let side: Vec<bool> = ids.iter().map(|_| rng.random_bool(0.5)).collect();
                for (a, &x) in ids.iter().enumerate() {
                    for (b, &y) in ids.iter().enumerate() {
                        if side[a] != side[b] {
                            self.network.cut(x, y);
                        }
                    }
                }
            }
            // One-way: the victim can send but hears nothing.
            2 => {
                for &other in ids.iter().filter(|&&o| o != victim) {
                    self.network.cut(other, victim);
                }
            }
            // One-way: the victim hears everything but its messages are lost.
            _ => {
                for &other in ids.iter().filter(|&&o| o != victim) {
                    self.network.cut(victim, other);
                }
            }
        }
    }

    fn crash(&mut self, i: usize, down_for: u64) {
        let host = &mut self.hosts[i];
        host.node = None;
        host.down_until = self.now + down_for;
        let id = host.id;
        if self.trace {
            eprintln!("t{} crash node {id} until t{}", self.now, host.down_until);
        }
        self.outcome.crashes += 1;
        self.network.forget(id);
        // Clients of a crashed node never hear back: their ops stay indeterminate.
        self.writes.retain(|_, w| w.node != id);
        self.reads.retain(|_, r| r.node != id);
    }

    /// Client writes and reads, sent to a node that believes it leads (else any live node).
    fn clients(&mut self, rng: &mut ChaCha8Rng) -> Result<(), Violation> {
        let leaders: Vec<usize> = (0..self.hosts.len())
            .filter(|&i| {
                self.hosts[i]
                    .node
                    .as_ref()
                    .is_some_and(|n| n.role() == Role::Leader)
            })
            .collect();
        if rng.random_bool(self.config.propose_rate) {
            if let Some(i) = pick(&leaders, rng) {
                let write = self.next_request;
                self.next_request += 1;
                if let Some(node) = self.hosts[i].node.as_mut() {
                    if let Ok(id) = node.propose(write.to_le_bytes().to_vec()) {
                        let node_id = node.id();
                        self.writes.insert(
                            (node_id, id.index),
                            PendingWrite {
                                node: node_id,
                                term: id.term,
                                write,
                            },
                        );
                        self.process(i, rng)?;
                    }
                }
            }
        }
        if rng.random_bool(self.config.read_rate) {
            if let Some(i) = pick(&leaders, rng) {
                let read = self.next_request;
                self.next_request += 1;
                let acked_before = self.acked.len();
                if let Some(node) = self.hosts[i].node.as_mut() {
                    if node.read_index(read).is_ok() {
                        let node_id = node.id();
                        self.reads.insert(
                            read,
                            PendingRead {
                                node: node_id,
                                acked_before,
                            },
                        );
                        self.process(i, rng)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs host `i`'s Ready loop until the node is quiet, then checks the invariants.
    fn process(&mut self, i: usize, rng: &mut ChaCha8Rng) -> Result<(), Violation> {
        for _ in 0..16 {
            let Some(node) = self.hosts[i].node.as_mut() else {
                return Ok(());
            };
            if !node.has_ready() {
                break;
            }
            let ready = node.ready();
            if !self.handle_ready(i, ready, rng)? {
                return Ok(()); // crashed mid-Ready
            }
        }
        let Some(node) = self.hosts[i].node.as_ref() else {
            return Ok(());
        };
        self.invariants.observe_role(node)?;
        self.invariants.observe_commit(node)?;
        self.invariants.check_leader_completeness(node)?;
        self.maybe_compact(i);
        Ok(())
    }

    /// Does what a real host does with a Ready. Returns false if the node crashed midway.
    fn handle_ready(
        &mut self,
        i: usize,
        ready: Ready,
        rng: &mut ChaCha8Rng,
    ) -> Result<bool, Violation> {
        let id = self.hosts[i].id;
        if self.trace {
            eprintln!("t{} node {id} ready {ready:?}", self.now);
        }
        if let Some(soft) = ready.soft_state {
            if soft.role == Role::Leader {
                self.outcome.leaders += 1;
            }
        }
        self.send_all(ready.messages, rng);
        if rng.random_bool(self.config.crash_mid_ready) {
            let down_for = rng.random_range(1..=self.config.max_down_ticks);
            self.crash(i, down_for);
            return Ok(false);
        }
        // Persist: snapshot, entries (truncating first), hard state.
        if let Some(snapshot) = ready.snapshot {
            let host = &mut self.hosts[i];
            host.sm = StateMachine::decode(&snapshot);
            host.disk.entries.clear();
            host.disk.snapshot = Some(snapshot);
            self.outcome.snapshots_installed += 1;
        }
        if let Some(first) = ready.entries.first() {
            let host = &self.hosts[i];
            let prev = first.index - 1;
            let prev_term = host
                .disk
                .entries
                .iter()
                .find(|e| e.index == prev)
                .map(|e| e.term)
                .or_else(|| {
                    host.disk
                        .snapshot
                        .as_ref()
                        .filter(|s| s.index == prev)
                        .map(|s| s.term)
                })
                .unwrap_or(0);
            self.invariants
                .observe_entries(id, prev_term, &ready.entries)?;
            let host = &mut self.hosts[i];
            host.disk.entries.retain(|e| e.index < first.index);
            host.disk.entries.extend(ready.entries);
        }
        if let Some(hs) = ready.hard_state {
            self.hosts[i].disk.hard_state = hs;
        }
        self.send_all(ready.persisted_messages, rng);
        for entry in &ready.committed_entries {
            self.apply(i, entry)?;
        }
        for read in ready.read_states {
            self.serve_read(i, read.id, read.index)?;
        }
        for read in ready.failed_reads {
            self.reads.remove(&read);
        }
        if let Some(node) = self.hosts[i].node.as_mut() {
            node.advance();
        }
        Ok(true)
    }

    fn send_all(&mut self, messages: Vec<Message>, rng: &mut ChaCha8Rng) {
        for msg in messages {
            self.network.send(msg, self.now, &self.config.network, rng);
        }
    }

    fn apply(&mut self, i: usize, entry: &Entry) -> Result<(), Violation> {
        let id = self.hosts[i].id;
        self.invariants.observe_apply(id, entry)?;
        let host = &mut self.hosts[i];
        host.sm.applied = entry.index;
        if let Payload::Command(_) = entry.payload {
            host.sm.writes.insert(command_id(&entry.payload));
        }
        if let Some(pending) = self.writes.remove(&(id, entry.index)) {
            if pending.term == entry.term && pending.write == command_id(&entry.payload) {
                self.invariants
                    .acknowledge(entry.index, entry.term, pending.write);
                self.acked.push(pending.write);
            }
        }
        Ok(())
    }

    /// Linearizability of reads: the served state holds every write acknowledged before the
    /// read began.
    fn serve_read(&mut self, i: usize, read: u64, read_index: Index) -> Result<(), Violation> {
        let Some(pending) = self.reads.remove(&read) else {
            return Ok(());
        };
        let host = &self.hosts[i];
        self.outcome.reads_served += 1;
        if let Some(missing) = self.acked[..pending.acked_before]
            .iter()
            .find(|w| !host.sm.writes.contains(w))
        {
            let term = host.node.as_ref().map_or(0, |n| n.term());
            return Err(Violation::StaleRead {
                node: host.id,
                read,
                read_index,
                missing_write: *missing,
                deposed: self.invariants.newest_leader_term() > term,
            });
        }
        Ok(())
    }

    /// Snapshots the state machine once enough has been applied past the last snapshot.
    fn maybe_compact(&mut self, i: usize) {
        let host = &mut self.hosts[i];
        let Some(node) = host.node.as_mut() else {
            return;
        };
        let applied = host.sm.applied;
        let (snapshot_index, _) = node.snapshot_position();
        if applied < snapshot_index + self.config.compact_every || applied > node.commit_index() {
            return;
        }
        let Some(term) = node.term_at(applied) else {
            return;
        };
        let data = host.sm.encode();
        if node.compact(applied, data.clone()).is_ok() {
            host.disk.snapshot = Some(Snapshot {
                index: applied,
                term,
                data,
            });
            host.disk.entries.retain(|e| e.index > applied);
            self.outcome.compactions += 1;
        }
    }
}
