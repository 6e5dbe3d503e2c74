//! The pure fault schedule: which fault, when, on which nodes, from a seed. No I/O, no clock:
//! times are nanoseconds since the schedule began, and every random choice comes from the
//! schedule's own ChaCha RNG, so the same seed gives the same faults however client ops
//! interleave with them.
//!
//! Faults never overlap: the schedule alternates start and stop ops, each after one pace
//! interval (jittered by ±25%). Each round visits every fault family of the spec once in a
//! seeded random order (a partition, a kill, a pause, ... for `mixed`), and within a family
//! picks a fault by weight — so even a short run sees every family.
//!
//! A script (`order = "script"`) instead emits its steps in file order, one per interval,
//! cyclically: starts may overlap and heal steps end a family, so a file can stage a pattern
//! such as "isolate a node, crash and restart everyone, kill the leader, heal".

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fault::{FaultKind, FaultOp, NodeChoice, PartitionMode};
use super::partition::{
    bisect, bridge, complete_grudge, majorities_ring, majority, one_way_grudge,
};
use super::spec::{FaultSpec, LinkTarget, NemesisSpec, Order, ProcessTarget};

/// One scheduled nemesis op.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedFault {
    /// When to apply it: nanoseconds since the schedule began.
    pub time: u64,
    /// What to do.
    pub op: FaultOp,
}

/// An endless, seeded sequence of start/stop fault ops (empty for the `none` spec).
#[derive(Debug, Clone)]
pub struct Schedule {
    faults: Vec<(FaultSpec, u32)>,
    nodes: Vec<String>,
    interval_ns: u64,
    rng: ChaCha8Rng,
    round: Vec<FaultKind>,
    time: u64,
    active: Option<FaultKind>,
    order: Order,
    step: usize,
}

impl Schedule {
    /// A schedule over `nodes` (names as the cluster uses them) at one fault change per
    /// `interval`, with every choice drawn from `seed`.
    pub fn new(spec: &NemesisSpec, nodes: &[String], interval: Duration, seed: u64) -> Schedule {
        Schedule {
            faults: spec.faults.clone(),
            nodes: nodes.to_vec(),
            interval_ns: u64::try_from(interval.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            rng: ChaCha8Rng::seed_from_u64(seed),
            round: Vec::new(),
            time: 0,
            active: None,
            order: spec.order,
            step: 0,
        }
    }

    /// The ops that heal every family `spec` can inject (its final generator): stop ops in
    /// heal order, network first.
    pub fn heal_ops(spec: &NemesisSpec) -> Vec<FaultOp> {
        spec.kinds().into_iter().map(FaultKind::stop_op).collect()
    }

    /// The next op, or `None` when the spec has no faults.
    pub fn next_fault(&mut self) -> Option<TimedFault> {
        if self.faults.is_empty() || self.nodes.is_empty() {
            return None;
        }
        let jitter = self.interval_ns / 4;
        let wait = self.interval_ns - jitter + self.rng.random_range(0..=2 * jitter);
        self.time = self.time.saturating_add(wait);
        if self.order == Order::Script {
            let spec = self.faults[self.step].0.clone();
            self.step = (self.step + 1) % self.faults.len();
            return Some(TimedFault {
                time: self.time,
                op: self.resolve(&spec),
            });
        }
        let op = match self.active.take() {
            Some(kind) => kind.stop_op(),
            None => {
                let spec = self.pick();
                let op = self.resolve(&spec);
                self.active = Some(op.kind());
                op
            }
        };
        Some(TimedFault {
            time: self.time,
            op,
        })
    }

    /// Draws the next fault: the next family of this round, then a fault of it by weight.
    fn pick(&mut self) -> FaultSpec {
        if self.round.is_empty() {
            let mut kinds: Vec<FaultKind> = self.faults.iter().map(|(f, _)| f.kind()).collect();
            kinds.sort();
            kinds.dedup();
            kinds.shuffle(&mut self.rng);
            self.round = kinds;
        }
        // `faults` is non-empty (checked by the caller), so a round holds at least one kind.
        let kind = self.round.pop().expect("a round has a kind");
        let candidates: Vec<&(FaultSpec, u32)> = self
            .faults
            .iter()
            .filter(|(f, _)| f.kind() == kind)
            .collect();
        let total: u64 = candidates.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut ticket = self.rng.random_range(0..total);
        for (spec, w) in &candidates {
            if ticket < u64::from(*w) {
                return spec.clone();
            }
            ticket -= u64::from(*w);
        }
        // The tickets cover exactly `total`, so the loop returned.
        unreachable!("weighted pick past the total")
    }

    /// Turns a fault spec into a concrete op: shuffles the nodes and picks the victims.
    fn resolve(&mut self, spec: &FaultSpec) -> FaultOp {
        let mut shuffled = self.nodes.clone();
        shuffled.shuffle(&mut self.rng);
        match *spec {
            FaultSpec::Partition { mode, one_way } => {
                let grudge = match mode {
                    PartitionMode::Leader => None,
                    PartitionMode::Halves | PartitionMode::One => {
                        let components = if mode == PartitionMode::One {
                            [shuffled[..1].to_vec(), shuffled[1..].to_vec()]
                        } else {
                            bisect(&shuffled)
                        };
                        Some(if one_way {
                            one_way_grudge(&components[0], &shuffled)
                        } else {
                            complete_grudge(&components)
                        })
                    }
                    PartitionMode::MajoritiesRing => Some(majorities_ring(&shuffled)),
                    PartitionMode::Bridge => Some(bridge(&shuffled)),
                };
                FaultOp::StartPartition {
                    mode,
                    one_way,
                    grudge,
                }
            }
            FaultSpec::Kill(target) => FaultOp::Kill(choose(target, shuffled)),
            FaultSpec::Pause(target) => FaultOp::Pause(choose(target, shuffled)),
            FaultSpec::Delay { ms, target } => FaultOp::StartDelay {
                ms,
                nodes: link_nodes(target, &shuffled),
            },
            FaultSpec::Drop {
                probability,
                target,
            } => FaultOp::StartDrop {
                probability,
                nodes: link_nodes(target, &shuffled),
            },
            FaultSpec::FileCorruption { mode, target } => FaultOp::CorruptFile {
                mode,
                nodes: choose(target, shuffled),
                seed: self.rng.random(),
            },
            FaultSpec::Heal(kind) => kind.stop_op(),
        }
        .with_sorted_nodes()
    }
}

impl Iterator for Schedule {
    type Item = TimedFault;

    fn next(&mut self) -> Option<TimedFault> {
        self.next_fault()
    }
}

/// Picks victims from already shuffled nodes.
fn choose(target: ProcessTarget, mut shuffled: Vec<String>) -> NodeChoice {
    let n = shuffled.len();
    let count = match target {
        ProcessTarget::Leader => return NodeChoice::Leader,
        ProcessTarget::One => 1,
        ProcessTarget::Minority => (n - majority(n)).max(1),
        ProcessTarget::Majority => majority(n),
        ProcessTarget::All => n,
    };
    shuffled.truncate(count.min(n));
    shuffled.sort();
    NodeChoice::Nodes(shuffled)
}

fn link_nodes(target: LinkTarget, shuffled: &[String]) -> Option<Vec<String>> {
    match target {
        LinkTarget::All => None,
        LinkTarget::One => Some(shuffled[..1].to_vec()),
    }
}

impl FaultOp {
    /// Sorts node lists so a recorded op reads the same whatever the shuffle order was.
    fn with_sorted_nodes(mut self) -> FaultOp {
        if let FaultOp::StartDelay {
            nodes: Some(ns), ..
        }
        | FaultOp::StartDrop {
            nodes: Some(ns), ..
        } = &mut self
        {
            ns.sort();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::partition::hears;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn take(spec: &str, n: usize, seed: u64, count: usize) -> Vec<TimedFault> {
        let spec = NemesisSpec::from_builtin(spec).unwrap();
        Schedule::new(&spec, &names(n), Duration::from_secs(1), seed)
            .take(count)
            .collect()
    }

    #[test]
    fn same_seed_gives_the_same_faults() {
        for seed in 0..20 {
            assert_eq!(
                take("mixed", 5, seed, 40),
                take("mixed", 5, seed, 40),
                "seed {seed}"
            );
        }
        let differ = (0..20).any(|s| take("mixed", 5, s, 40) != take("mixed", 5, s + 1, 40));
        assert!(differ, "different seeds give different schedules");
    }

    #[test]
    fn every_start_is_followed_by_its_stop() {
        for seed in 0..20 {
            let ops = take("mixed", 5, seed, 60);
            for (i, pair) in ops.chunks(2).enumerate() {
                assert!(pair[0].op.is_start(), "seed {seed} pair {i}: {:?}", pair[0]);
                assert_eq!(
                    pair[1].op,
                    pair[0].op.kind().stop_op(),
                    "seed {seed} pair {i}"
                );
            }
        }
    }

    #[test]
    fn times_advance_by_the_jittered_interval() {
        let ops = take("mixed", 5, 7, 100);
        let mut prev = 0;
        for (i, op) in ops.iter().enumerate() {
            let gap = op.time - prev;
            assert!(
                (750_000_000..=1_250_000_000).contains(&gap),
                "op {i}: gap {gap}"
            );
            prev = op.time;
        }
    }

    #[test]
    fn each_round_of_mixed_visits_every_family() {
        for seed in 0..20 {
            let starts: Vec<FaultKind> = take("mixed", 5, seed, 6)
                .into_iter()
                .filter(|t| t.op.is_start())
                .map(|t| t.op.kind())
                .collect();
            let mut sorted = starts.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                vec![FaultKind::Partition, FaultKind::Kill, FaultKind::Pause],
                "seed {seed}: {starts:?}"
            );
        }
    }

    #[test]
    fn halves_cut_a_minority_from_a_majority() {
        let nodes = names(5);
        for (i, t) in take("partition-halves", 5, 3, 20).iter().enumerate() {
            if let FaultOp::StartPartition {
                grudge: Some(g), ..
            } = &t.op
            {
                let mut sizes: Vec<usize> =
                    nodes.iter().map(|n| hears(g, n, &nodes).len()).collect();
                sizes.sort();
                assert_eq!(sizes, vec![2, 2, 3, 3, 3], "op {i}: {g:?}");
            } else {
                assert_eq!(t.op, FaultOp::StopPartition, "op {i}");
            }
        }
    }

    #[test]
    fn leader_faults_are_left_for_the_cluster_to_resolve() {
        let ops = take("partition-leader", 3, 1, 2);
        assert!(matches!(
            ops[0].op,
            FaultOp::StartPartition {
                mode: PartitionMode::Leader,
                grudge: None,
                ..
            }
        ));
    }

    #[test]
    fn kill_targets_have_the_right_size() {
        let cases = [
            (ProcessTarget::One, 5, 1),
            (ProcessTarget::Minority, 5, 2),
            (ProcessTarget::Minority, 1, 1),
            (ProcessTarget::Majority, 5, 3),
            (ProcessTarget::All, 3, 3),
        ];
        for (i, (target, n, want)) in cases.into_iter().enumerate() {
            match choose(target, names(n)) {
                NodeChoice::Nodes(ns) => assert_eq!(ns.len(), want, "case {i}"),
                NodeChoice::Leader => panic!("case {i}: leader"),
            }
        }
    }

    #[test]
    fn a_script_runs_its_steps_in_file_order_cyclically_with_overlaps() {
        let spec = NemesisSpec::from_builtin("isolated-restarts").unwrap();
        assert_eq!(spec.order, Order::Script);
        let steps = spec.faults.len();
        let nodes = names(3);
        for seed in 0..10 {
            let ops = take("isolated-restarts", 3, seed, 3 * steps);
            let fs: Vec<&str> = ops.iter().map(|t| t.op.f()).collect();
            assert_eq!(
                fs[..steps],
                [
                    "kill",
                    "start",
                    "start-partition",
                    "kill",
                    "start",
                    "kill",
                    "stop-partition",
                    "start"
                ],
                "seed {seed}"
            );
            for (i, t) in ops.iter().enumerate() {
                assert_eq!(t.op.f(), fs[i % steps], "seed {seed} op {i}");
                match &t.op {
                    // The isolated node hears only itself; the other two hear each other.
                    FaultOp::StartPartition {
                        grudge: Some(g), ..
                    } => {
                        let mut sizes: Vec<usize> =
                            nodes.iter().map(|n| hears(g, n, &nodes).len()).collect();
                        sizes.sort();
                        assert_eq!(sizes, vec![1, 2, 2], "seed {seed} op {i}");
                    }
                    FaultOp::Kill(NodeChoice::Nodes(ns)) => assert_eq!(ns, &nodes),
                    FaultOp::Kill(NodeChoice::Leader) | FaultOp::Start | FaultOp::StopPartition => {
                    }
                    other => panic!("seed {seed} op {i}: unexpected {other:?}"),
                }
            }
        }
        assert_eq!(
            Schedule::heal_ops(&spec),
            vec![FaultOp::StopPartition, FaultOp::Start]
        );
    }

    #[test]
    fn rounds_never_overlap_but_a_script_may() {
        let spec = NemesisSpec::from_toml(
            "order = \"script\"\n[[fault]]\nkind = \"pause\"\n[[fault]]\nkind = \"kill\"\n\
             [[fault]]\nkind = \"heal\"\nfamily = \"pause\"\n",
            "x",
        )
        .unwrap();
        let ops: Vec<String> = Schedule::new(&spec, &names(3), Duration::from_secs(1), 1)
            .take(6)
            .map(|t| t.op.f().to_string())
            .collect();
        assert_eq!(ops, ["pause", "kill", "resume", "pause", "kill", "resume"]);
    }

    #[test]
    fn none_schedules_nothing_and_heals_nothing() {
        assert!(take("none", 5, 1, 10).is_empty());
        let spec = NemesisSpec::from_builtin("none").unwrap();
        assert!(Schedule::heal_ops(&spec).is_empty());
        let mixed = NemesisSpec::from_builtin("mixed").unwrap();
        assert_eq!(
            Schedule::heal_ops(&mixed),
            vec![FaultOp::StopPartition, FaultOp::Resume, FaultOp::Start]
        );
    }
}
