//! The seed tree: every random choice of a run draws from a sub-seed derived by *name* from
//! the run's `--seed`, here and nowhere else, so `--seed S` replays the same ops and the same
//! fault plan, and a new consumer (a new name) can never collide with an old one. Pure.
//!
//! A sub-seed is `mix(seed, fnv1a(name))`: FNV-1a over the name's bytes, folded into the
//! parent seed by SplitMix64's finaliser. A child tree ([`SeedTree::child`]) is a tree rooted
//! at its derived seed, for consumers with many members (one seed per node).
//!
//! The names a test run uses ([`names`]):
//!
//! | name | consumer |
//! |---|---|
//! | `ops` | the workload's client generator (values, keys, op mix) |
//! | `final-reads` | the final-read generator |
//! | `context` | the generator context (which free thread gets the next op) |
//! | `faults` | the nemesis schedule (which fault, which nodes) |
//! | `proxies` | the link-proxy mesh (per-link loss draws) |
//! | `network` | `--target maelstrom`'s message network (every message's fate) |
//! | `nodes` / `<node name>` | each raftkv node's `--seed` (election timeouts) |

/// The names of the sub-seeds a test run draws, in one place (see the module table).
pub mod names {
    /// The workload's client generator.
    pub const OPS: &str = "ops";
    /// The workload's final reads.
    pub const FINAL_READS: &str = "final-reads";
    /// The generator context.
    pub const CONTEXT: &str = "context";
    /// The nemesis schedule.
    pub const FAULTS: &str = "faults";
    /// The link-proxy mesh.
    pub const PROXIES: &str = "proxies";
    /// `--target maelstrom`'s message network.
    pub const NETWORK: &str = "network";
    /// `--target maelstrom`'s services (seq-kv's stale states, lww-kv's replicas).
    pub const SERVICES: &str = "services";
    /// The child tree of per-node seeds (one sub-seed per node name).
    pub const NODES: &str = "nodes";
}

/// A seed and the sub-seeds derived from it by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedTree {
    seed: u64,
}

/// SplitMix64's finaliser: a bijection on u64 that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a, 64 bits, over `name`'s bytes.
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SeedTree {
    /// The tree of the run seed `seed`.
    pub fn new(seed: u64) -> SeedTree {
        SeedTree { seed }
    }

    /// The root seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The sub-seed called `name`.
    pub fn derive(&self, name: &str) -> u64 {
        mix(self
            .seed
            .wrapping_add(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(mix(fnv1a(name))))
    }

    /// The tree rooted at the sub-seed called `name`.
    pub fn child(&self, name: &str) -> SeedTree {
        SeedTree::new(self.derive(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_seeds_replay_and_differ_by_name_and_seed() {
        let t = SeedTree::new(42);
        assert_eq!(t.derive(names::OPS), SeedTree::new(42).derive(names::OPS));
        let all = [
            names::OPS,
            names::FINAL_READS,
            names::CONTEXT,
            names::FAULTS,
            names::PROXIES,
            names::NETWORK,
            names::SERVICES,
            names::NODES,
        ];
        let seeds: std::collections::BTreeSet<u64> = all.iter().map(|n| t.derive(n)).collect();
        assert_eq!(seeds.len(), all.len(), "every consumer gets its own seed");
        assert_ne!(t.derive(names::OPS), SeedTree::new(43).derive(names::OPS));
        assert_ne!(t.derive(names::OPS), t.seed());
        let nodes = t.child(names::NODES);
        assert_ne!(nodes.derive("n1"), nodes.derive("n2"));
        assert_ne!(nodes.derive("n1"), t.derive("n1"));
    }
}
