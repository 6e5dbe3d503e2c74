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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::MessageBody;
    use rand::SeedableRng;

    fn msg(from: NodeId, to: NodeId) -> Message {
        Message {
            from,
            to,
            term: 1,
            body: MessageBody::HeartbeatResponse { round: 0 },
        }
    }

    const RELIABLE: NetworkFaults = NetworkFaults {
        drop: 0.0,
        duplicate: 0.0,
        max_delay: 0,
    };

    #[test]
    fn messages_arrive_when_due_and_cut_links_lose_them() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut net = Network::default();
        let slow = NetworkFaults {
            max_delay: 5,
            ..RELIABLE
        };
        net.send(msg(1, 2), 0, &slow, &mut rng);
        let mut arrived = Vec::new();
        for now in 0..=5 {
            arrived.extend(net.due(now, &mut rng).into_iter().map(|_| now));
        }
        assert_eq!(arrived.len(), 1, "delivered exactly once within max_delay");
        net.send(msg(1, 2), 10, &RELIABLE, &mut rng);
        net.cut(1, 2);
        assert!(
            net.due(10, &mut rng).is_empty(),
            "cut while in flight: lost"
        );
        net.send(msg(2, 1), 10, &RELIABLE, &mut rng);
        assert_eq!(net.due(10, &mut rng).len(), 1, "the cut is one-way");
        net.heal();
        assert!(!net.is_partitioned());
    }

    #[test]
    fn loss_and_duplication_follow_their_rates() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut net = Network::default();
        let faults = NetworkFaults {
            drop: 0.5,
            duplicate: 0.5,
            max_delay: 0,
        };
        for _ in 0..1000 {
            net.send(msg(1, 2), 0, &faults, &mut rng);
        }
        let n = net.due(0, &mut rng).len();
        // Expected 1000 * 0.5 * 1.5 = 750.
        assert!((650..850).contains(&n), "{n} delivered");
    }
}
