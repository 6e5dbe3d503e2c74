//! The simulated network: delays (so reordering), loss, duplication and partitions, all drawn
//! from the simulation's seeded RNG.

use std::collections::BTreeSet;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::raft::{Message, NodeId};

/// How unreliable the simulated network is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkFaults {
    /// Probability that a message is lost.
    pub drop: f64,
    /// Probability that a message is delivered twice.
    pub duplicate: f64,
    /// Each delivery is delayed by 0..=max_delay ticks, which reorders messages.
    pub max_delay: u64,
}

/// Messages in flight, and which directed links are cut.
#[derive(Debug, Default)]
pub struct Network {
    /// (deliver at tick, sequence number, message); the sequence keeps ordering stable.
    in_flight: Vec<(u64, u64, Message)>,
    seq: u64,
    /// Directed links (from, to) that lose everything.
    cut: BTreeSet<(NodeId, NodeId)>,
}

impl Network {
    /// Accepts `msg` at tick `now`, applying loss, duplication and delay.
    pub fn send(&mut self, msg: Message, now: u64, faults: &NetworkFaults, rng: &mut ChaCha8Rng) {
        if self.cut.contains(&(msg.from, msg.to)) || rng.random_bool(faults.drop) {
            return;
        }
        let copies = if rng.random_bool(faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = rng.random_range(0..=faults.max_delay);
            self.seq += 1;
            self.in_flight.push((now + delay, self.seq, msg.clone()));
        }
    }

    /// Removes and returns the messages due by `now`, in a random order; messages on a link
    /// cut while they were in flight are lost.
    pub fn due(&mut self, now: u64, rng: &mut ChaCha8Rng) -> Vec<Message> {
        let mut due = Vec::new();
        let mut kept = Vec::with_capacity(self.in_flight.len());
        for item in self.in_flight.drain(..) {
            if item.0 <= now {
                due.push(item);
            } else {
                kept.push(item);
            }
        }
        self.in_flight = kept;
        due.sort_by_key(|item| item.1);
        // Fisher-Yates with the seeded RNG: reorder within the tick.
        for i in (1..due.len()).rev() {
            let j = rng.random_range(0..=i);
            due.swap(i, j);
        }
        due.into_iter()
            .map(|(_, _, msg)| msg)
            .filter(|msg| !self.cut.contains(&(msg.from, msg.to)))
            .collect()
    }

    /// Drops everything addressed to or sent by `node` (it crashed).
    pub fn forget(&mut self, node: NodeId) {
        self.in_flight
            .retain(|(_, _, msg)| msg.to != node && msg.from != node);
    }

    /// Cuts the directed link `from -> to`.
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.cut.insert((from, to));
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Whether any link is cut.
    pub fn is_partitioned(&self) -> bool {
        !self.cut.is_empty()
    }
}
