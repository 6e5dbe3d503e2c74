//! A hand-driven in-memory cluster for the core's unit tests: every message passes through a
//! queue the test can filter, each node persists to its own in-memory "disk" through the
//! Ready contract, and crashes rebuild a node from that disk.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{
    Bugs, Config, Entry, HardState, Index, Message, NodeId, Payload, RaftNode, ReadState, Ready,
    Recovered, Role, Snapshot, Term,
};

/// What a node's host made durable.
#[derive(Clone, Debug, Default)]
pub(crate) struct Disk {
    pub(crate) hard_state: HardState,
    pub(crate) snapshot: Option<Snapshot>,
    pub(crate) entries: Vec<Entry>,
}

impl Disk {
    fn persist(&mut self, ready: &Ready) {
        if let Some(snapshot) = &ready.snapshot {
            self.snapshot = Some(snapshot.clone());
            self.entries.clear();
        }
        if let Some(first) = ready.entries.first() {
            self.entries.retain(|e| e.index < first.index);
            self.entries.extend(ready.entries.iter().cloned());
        }
        if let Some(hs) = ready.hard_state {
            self.hard_state = hs;
        }
    }

    pub(crate) fn recovered(&self) -> Recovered {
        Recovered {
            hard_state: self.hard_state,
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
        }
    }
}

/// The cluster.
pub(crate) struct Net {
    pub(crate) nodes: BTreeMap<NodeId, RaftNode>,
    pub(crate) disks: BTreeMap<NodeId, Disk>,
    /// Entries each node was told to apply, in order.
    pub(crate) applied: BTreeMap<NodeId, Vec<Entry>>,
    /// Read states each node produced.
    pub(crate) reads: BTreeMap<NodeId, Vec<ReadState>>,
    /// Failed read ids per node.
    pub(crate) failed_reads: BTreeMap<NodeId, Vec<u64>>,
    queue: VecDeque<Message>,
    /// Directed links that lose messages.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Every message delivered, for assertions about traffic.
    pub(crate) delivered: Vec<Message>,
    config: Config,
}

impl Net {
    /// `n` fresh nodes with ids 1..=n.
    pub(crate) fn new(n: u64, bugs: Bugs) -> Self {
        let mut config = Config::new(1, (1..=n).collect());
        config.bugs = bugs;
        Self::with_logs(config, &vec![Recovered::default(); n as usize])
    }

    /// Nodes built from the given recovered states (node i + 1 from `recovered[i]`), all
    /// sharing `template` apart from the id.
    pub(crate) fn with_logs(template: Config, recovered: &[Recovered]) -> Self {
        let mut net = Net {
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            applied: BTreeMap::new(),
            reads: BTreeMap::new(),
            failed_reads: BTreeMap::new(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            delivered: Vec::new(),
            config: template,
        };
        for (i, rec) in recovered.iter().enumerate() {
            let id = i as NodeId + 1;
            let disk = Disk {
                hard_state: rec.hard_state,
                snapshot: rec.snapshot.clone(),
                entries: rec.entries.clone(),
            };
            net.disks.insert(id, disk);
            net.applied.insert(id, Vec::new());
            net.start(id);
        }
        net
    }

    fn start(&mut self, id: NodeId) {
        let mut config = self.config.clone();
        config.id = id;
        let rng = ChaCha8Rng::seed_from_u64(id * 7919);
        let node = RaftNode::new(config, self.disks[&id].recovered(), rng)
            .expect("test configs and disks are valid");
        self.nodes.insert(id, node);
    }

    pub(crate) fn node(&mut self, id: NodeId) -> &mut RaftNode {
        self.nodes.get_mut(&id).expect("node exists in this test")
    }

    /// Crashes `id` (losing everything not persisted and its queued messages) and restarts it.
    pub(crate) fn restart(&mut self, id: NodeId) {
        self.nodes.remove(&id);
        self.queue.retain(|m| m.to != id && m.from != id);
        self.start(id);
    }

    /// Crashes `id` for good.
    pub(crate) fn stop(&mut self, id: NodeId) {
        self.nodes.remove(&id);
        self.queue.retain(|m| m.to != id && m.from != id);
    }

    /// Cuts both directions between `id` and everyone else.
    pub(crate) fn isolate(&mut self, id: NodeId) {
        for &other in self.disks.keys() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    pub(crate) fn heal(&mut self) {
        self.cut.clear();
    }

    /// Runs the Ready loop of `id` once, queueing its messages.
    pub(crate) fn drain(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        while node.has_ready() {
            let ready = node.ready();
            self.disks.entry(id).or_default().persist(&ready);
            self.queue.extend(ready.messages.iter().cloned());
            self.queue.extend(ready.persisted_messages.iter().cloned());
            self.applied
                .entry(id)
                .or_default()
                .extend(ready.committed_entries.iter().cloned());
            self.reads.entry(id).or_default().extend(ready.read_states);
            self.failed_reads
                .entry(id)
                .or_default()
                .extend(ready.failed_reads);
            node.advance();
        }
    }

    fn drain_all(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.drain(id);
        }
    }

    /// Delivers messages until the network is quiet, dropping cut links and any message
    /// `drop` selects. Bounded, so a livelock fails the test instead of hanging it.
    pub(crate) fn deliver_filtered(&mut self, mut drop: impl FnMut(&Message) -> bool) {
        self.drain_all();
        for _ in 0..100_000 {
            let Some(msg) = self.queue.pop_front() else {
                return;
            };
            if self.cut.contains(&(msg.from, msg.to)) || drop(&msg) {
                continue;
            }
            let to = msg.to;
            if let Some(node) = self.nodes.get_mut(&to) {
                self.delivered.push(msg.clone());
                node.step(msg);
                self.drain(to);
            }
        }
        panic!("network did not go quiet");
    }

    pub(crate) fn deliver(&mut self) {
        self.deliver_filtered(|_| false);
    }

    /// Ticks only `id` until it starts an election, then delivers everything: with no other
    /// clocks running, `id` wins if it can.
    pub(crate) fn campaign(&mut self, id: NodeId) {
        for _ in 0..100 {
            let role = self.node(id).role();
            if role == Role::PreCandidate || role == Role::Candidate {
                break;
            }
            self.node(id).tick();
        }
        self.deliver();
    }

    /// Ticks every live node `n` times, delivering after each tick.
    pub(crate) fn tick_all(&mut self, n: u64) {
        for _ in 0..n {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.node(id).tick();
            }
            self.deliver();
        }
    }

    /// Ticks only the nodes in `ids`, `n` times, delivering after each tick: the others'
    /// clocks are paused (as in a long GC pause).
    pub(crate) fn tick_only(&mut self, ids: &[NodeId], n: u64) {
        for _ in 0..n {
            for &id in ids {
                self.node(id).tick();
            }
            self.deliver();
        }
    }

    /// Proposes `command` at `leader` and delivers everything.
    pub(crate) fn propose(&mut self, leader: NodeId, command: &[u8]) -> Index {
        let id = self
            .node(leader)
            .propose(command.to_vec())
            .expect("proposal goes to the leader");
        self.deliver();
        id.index
    }

    /// The commands `id` applied, in order.
    pub(crate) fn commands(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.applied[&id]
            .iter()
            .filter_map(|e| match &e.payload {
                Payload::Command(c) => Some(c.clone()),
                Payload::Noop => None,
            })
            .collect()
    }

    /// (index, term) of every entry in `id`'s in-memory log.
    pub(crate) fn log_terms(&mut self, id: NodeId) -> Vec<(Index, Term)> {
        self.node(id)
            .log_entries()
            .iter()
            .map(|e| (e.index, e.term))
            .collect()
    }
}

/// Entries with the given terms at indices 1.., each a one-byte command naming its index.
pub(crate) fn log_with_terms(terms: &[Term]) -> Vec<Entry> {
    terms
        .iter()
        .enumerate()
        .map(|(i, &term)| Entry {
            index: i as Index + 1,
            term,
            payload: Payload::Command(vec![i as u8 + 1]),
        })
        .collect()
}

/// A recovered state with `terms` as the log, at `term`.
pub(crate) fn recovered(term: Term, terms: &[Term]) -> Recovered {
    Recovered {
        hard_state: HardState {
            term,
            vote: None,
            commit: 0,
        },
        snapshot: None,
        entries: log_with_terms(terms),
    }
}
