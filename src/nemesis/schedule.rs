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
//! Families marked `slot = "last"` get no slot of their own: they share one, the last of each
//! round (one of their faults drawn by weight), added after the shuffle, so the other slots
//! keep their seeded order and their pace (a schedule with such faults replays the same
//! first round as without them).
//!
//! A `[[pattern]]` of the spec is one more slot of each round: when its turn comes, its steps
//! run one per pattern interval (faults may overlap inside it), and since it heals every
//! family it starts, rounds still never overlap around it.
//!
//! A script (`order = "script"`) instead emits its steps in file order, one per interval,
//! cyclically: starts may overlap and heal steps end a family, so a file can stage a pattern
//! such as "isolate a node, crash and restart everyone, kill the leader, heal".

use std::collections::VecDeque;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::fault::{FaultKind, FaultOp, NodeChoice, PartitionMode};
use super::partition::{
    bisect, bridge, complete_grudge, majorities_ring, majority, one_way_grudge,
};
use super::spec::{FaultSpec, LinkTarget, NemesisSpec, Order, Pattern, ProcessTarget};

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
    /// The families that share the last slot of each round.
    last: Vec<FaultKind>,
    patterns: Vec<Pattern>,
    nodes: Vec<String>,
    interval_ns: u64,
    rng: ChaCha8Rng,
    round: Vec<Slot>,
    time: u64,
    /// Ops already chosen, each with the base gap (ns) before it: a fault's stop, a pattern's
    /// remaining steps.
    pending: VecDeque<(u64, FaultOp)>,
    order: Order,
    step: usize,
    /// The sides (smaller, larger) of the last `halves` or `one` partition resolved, for a
    /// pattern's later `minority-side` / `majority-side` steps.
    sides: Option<[Vec<String>; 2]>,
}

/// One slot of a round: a fault family (one fault of it, by weight), a pattern, or the
/// shared last slot (one fault of the `slot = "last"` families, by weight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Family(FaultKind),
    Pattern(usize),
    Last,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

impl Schedule {
    /// A schedule over `nodes` (names as the cluster uses them) at one fault change per
    /// `interval`, with every choice drawn from `seed`.
    pub fn new(spec: &NemesisSpec, nodes: &[String], interval: Duration, seed: u64) -> Schedule {
        Schedule {
            faults: spec.faults.clone(),
            last: spec.last_slot.clone(),
            patterns: spec.patterns.clone(),
            nodes: nodes.to_vec(),
            interval_ns: nanos(interval),
            rng: ChaCha8Rng::seed_from_u64(seed),
            round: Vec::new(),
            time: 0,
            pending: VecDeque::new(),
            order: spec.order,
            step: 0,
            sides: None,
        }
    }

    /// The ops that heal every family `spec` can inject (its final generator): stop ops in
    /// heal order, network first.
    pub fn heal_ops(spec: &NemesisSpec) -> Vec<FaultOp> {
        spec.kinds().into_iter().map(FaultKind::stop_op).collect()
    }

    /// The next op, or `None` when the spec has no faults.
    pub fn next_fault(&mut self) -> Option<TimedFault> {
        if (self.faults.is_empty() && self.patterns.is_empty()) || self.nodes.is_empty() {
            return None;
        }
        if self.order == Order::Script {
            self.advance(self.interval_ns);
            let spec = self.faults[self.step].0.clone();
            self.step = (self.step + 1) % self.faults.len();
            return Some(TimedFault {
                time: self.time,
                op: self.resolve(&spec),
            });
        }
        let (gap, op) = match self.pending.pop_front() {
            Some(next) => next,
            None => {
                // The gap is drawn before the pick, as it always was, so a spec without
                // patterns replays the same faults from the same seed.
                let jittered = self.jittered(self.interval_ns);
                self.time = self.time.saturating_add(jittered);
                let op = self.pick_and_queue();
                return Some(TimedFault {
                    time: self.time,
                    op,
                });
            }
        };
        self.advance(gap);
        Some(TimedFault {
            time: self.time,
            op,
        })
    }

    /// Moves the clock on by `base` jittered by ±25%.
    fn advance(&mut self, base: u64) {
        let wait = self.jittered(base);
        self.time = self.time.saturating_add(wait);
    }

    fn jittered(&mut self, base: u64) -> u64 {
        let jitter = base / 4;
        base - jitter + self.rng.random_range(0..=2 * jitter)
    }

    /// Takes the next slot of the round and returns its first op, queueing the rest: a
    /// fault's stop, or a pattern's later steps (at the pattern's own pace).
    fn pick_and_queue(&mut self) -> FaultOp {
        match self.next_slot() {
            slot @ (Slot::Family(_) | Slot::Last) => {
                let spec = match slot {
                    Slot::Family(kind) => self.pick(|k| k == kind),
                    _ => {
                        let last = self.last.clone();
                        self.pick(|k| last.contains(&k))
                    }
                };
                let op = self.resolve(&spec);
                self.pending
                    .push_back((self.interval_ns, op.kind().stop_op()));
                op
            }
            Slot::Pattern(i) => {
                let pattern = self.patterns[i].clone();
                let gap = pattern.interval.map_or(self.interval_ns, nanos);
                let mut ops = pattern
                    .steps
                    .iter()
                    .zip(&pattern.gaps)
                    .map(|(step, own)| (own.map_or(gap, nanos), self.resolve(step)));
                // A pattern has at least one step (checked when parsed).
                let (_, first) = ops.next().expect("a pattern has a step");
                let rest: Vec<(u64, FaultOp)> = ops.collect();
                self.pending.extend(rest);
                first
            }
        }
    }

    /// The next slot of this round, starting a new round (every family and pattern once, in
    /// a seeded order, then the shared last slot) when it is used up.
    fn next_slot(&mut self) -> Slot {
        if self.round.is_empty() {
            let mut kinds: Vec<FaultKind> = self
                .faults
                .iter()
                .map(|(f, _)| f.kind())
                .filter(|k| !self.last.contains(k))
                .collect();
            kinds.sort();
            kinds.dedup();
            let mut slots: Vec<Slot> = kinds.into_iter().map(Slot::Family).collect();
            slots.extend((0..self.patterns.len()).map(Slot::Pattern));
            slots.shuffle(&mut self.rng);
            // Slots are popped from the end: the shared slot goes first in the vector.
            if self
                .faults
                .iter()
                .any(|(f, _)| self.last.contains(&f.kind()))
            {
                slots.insert(0, Slot::Last);
            }
            self.round = slots;
        }
        // The spec has a fault or a pattern (checked by the caller), so a round has a slot.
        self.round.pop().expect("a round has a slot")
    }

    /// Draws a fault of the families `of` accepts by weight (the round only asks for slots
    /// that have one).
    fn pick(&mut self, of: impl Fn(FaultKind) -> bool) -> FaultSpec {
        let candidates: Vec<&(FaultSpec, u32)> =
            self.faults.iter().filter(|(f, _)| of(f.kind())).collect();
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
                        self.sides = Some(components.clone());
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
            FaultSpec::Kill(target) => FaultOp::Kill(self.choose(target, shuffled)),
            FaultSpec::Pause(target) => FaultOp::Pause(self.choose(target, shuffled)),
            FaultSpec::PowerLoss(target) => FaultOp::PowerLoss(self.choose(target, shuffled)),
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
            FaultSpec::Clock { fault, target } => FaultOp::Clock {
                fault,
                nodes: self.choose(target, shuffled),
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

impl Schedule {
    /// Picks victims from already shuffled nodes, or a side of the last partition.
    fn choose(&self, target: ProcessTarget, shuffled: Vec<String>) -> NodeChoice {
        let side = match target {
            ProcessTarget::MinoritySide => 0,
            ProcessTarget::MajoritySide => 1,
            _ => return choose(target, shuffled),
        };
        // A side target follows a halves/one partition in its pattern (checked when parsed).
        let mut nodes = self.sides.as_ref().map_or(shuffled, |s| s[side].clone());
        nodes.sort();
        NodeChoice::Nodes(nodes)
    }
}

/// Picks victims from already shuffled nodes.
fn choose(target: ProcessTarget, mut shuffled: Vec<String>) -> NodeChoice {
    let n = shuffled.len();
    let count = match target {
        ProcessTarget::Leader => return NodeChoice::Leader,
        // Resolved by `Schedule::choose` from the partition; all nodes if none was seen.
        ProcessTarget::MajoritySide | ProcessTarget::MinoritySide => n,
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

    /// Partitions, kills and pauses without patterns: every slot is a start and its stop.
    const FLAT: &str = "[[fault]]\nkind = \"partition\"\nmode = \"leader\"\n\
        [[fault]]\nkind = \"partition\"\n[[fault]]\nkind = \"kill\"\n\
        [[fault]]\nkind = \"pause\"\ntarget = \"leader\"\n";

    fn take_flat(seed: u64, count: usize) -> Vec<TimedFault> {
        let spec = NemesisSpec::from_toml(FLAT, "flat").unwrap();
        Schedule::new(&spec, &names(5), Duration::from_secs(1), seed)
            .take(count)
            .collect()
    }

    #[test]
    fn every_start_is_followed_by_its_stop() {
        for seed in 0..20 {
            let ops = take_flat(seed, 60);
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
        let ops = take_flat(7, 100);
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
    fn each_round_of_flat_faults_visits_every_family() {
        for seed in 0..20 {
            let starts: Vec<FaultKind> = take_flat(seed, 6)
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

    /// Splits a rounds schedule into its slots: a pattern's whole step sequence where one
    /// matches (longest first), else a start and its stop.
    fn slots<'a>(ops: &'a [TimedFault], patterns: &[(Vec<&str>, u64)]) -> Vec<Vec<&'a TimedFault>> {
        let mut by_length: Vec<&Vec<&str>> = patterns.iter().map(|(fs, _)| fs).collect();
        by_length.sort_by_key(|fs| std::cmp::Reverse(fs.len()));
        let fs: Vec<&str> = ops.iter().map(|t| t.op.f()).collect();
        let mut out = Vec::new();
        let mut at = 0;
        while at + 1 < ops.len() {
            if by_length
                .iter()
                .any(|p| p.len() > fs.len() - at && p.starts_with(&fs[at..]))
            {
                break; // a pattern cut off by the end of the sample
            }
            let len = by_length
                .iter()
                .find(|p| fs[at..].starts_with(p))
                .map_or(2, |p| p.len());
            if at + len > ops.len() {
                break;
            }
            out.push(ops[at..at + len].iter().collect());
            at += len;
        }
        out
    }

    #[test]
    fn mixed_runs_every_family_and_pattern_once_per_round_at_their_own_pace() {
        let spec = NemesisSpec::from_builtin("mixed").unwrap();
        let pace = 1_000_000_000u64;
        let patterns: Vec<(Vec<&str>, u64)> = spec
            .patterns
            .iter()
            .map(|p| {
                let fs = p
                    .steps
                    .iter()
                    .map(|s| match s {
                        FaultSpec::Heal(k) => k.stop_op().f(),
                        other => match other.kind() {
                            FaultKind::Partition => "start-partition",
                            FaultKind::Kill => "kill",
                            FaultKind::Pause => "pause",
                            FaultKind::Delay => "start-delay",
                            FaultKind::Drop => "start-drop",
                            FaultKind::FileCorruption => "corrupt-file",
                            FaultKind::Clock => "clock",
                            FaultKind::PowerLoss => "power-loss",
                        },
                    })
                    .collect();
                (fs, p.interval.map_or(pace, nanos))
            })
            .collect();
        // Partition, kill and pause, the patterns, and the shared last slot.
        let per_round = 3 + patterns.len() + 1;
        for seed in 0..20 {
            let ops = take("mixed", 5, seed, 120);
            let all = slots(&ops, &patterns);
            assert!(
                all.len() > 2 * per_round,
                "seed {seed}: {} slots",
                all.len()
            );
            let mut prev_time = 0;
            let mut kinds_in_round: Vec<String> = Vec::new();
            for (i, slot) in all.iter().enumerate() {
                let fs: Vec<&str> = slot.iter().map(|t| t.op.f()).collect();
                // The gap before a slot is the schedule's pace, jittered.
                let gap = slot[0].time - prev_time;
                assert!(
                    (pace * 3 / 4..=pace * 5 / 4).contains(&gap),
                    "seed {seed} slot {i}: gap {gap}"
                );
                let label = if let Some((p, (_, step))) = patterns
                    .iter()
                    .enumerate()
                    .find(|(_, (steps, _))| *steps == fs)
                {
                    for w in slot.windows(2) {
                        let gap = w[1].time - w[0].time;
                        assert!(
                            (step * 3 / 4..=step * 5 / 4).contains(&gap),
                            "seed {seed} slot {i}: step gap {gap}"
                        );
                    }
                    format!("pattern {p}")
                } else {
                    assert_eq!(fs.len(), 2, "seed {seed} slot {i}: {fs:?}");
                    assert_eq!(
                        slot[1].op,
                        slot[0].op.kind().stop_op(),
                        "seed {seed} slot {i}"
                    );
                    let kind = slot[0].op.kind();
                    if spec.last_slot.contains(&kind) {
                        assert_eq!(
                            kinds_in_round.len(),
                            per_round - 1,
                            "seed {seed} slot {i}: the shared slot ends its round"
                        );
                        "last".to_string()
                    } else {
                        format!("{kind:?}")
                    }
                };
                prev_time = slot[slot.len() - 1].time;
                kinds_in_round.push(label);
                if kinds_in_round.len() == per_round {
                    kinds_in_round.sort();
                    kinds_in_round.dedup();
                    assert_eq!(
                        kinds_in_round.len(),
                        per_round,
                        "seed {seed}: a round repeats a slot"
                    );
                    kinds_in_round.clear();
                }
            }
        }
    }

    #[test]
    fn a_pattern_step_waits_its_own_gap() {
        let spec = NemesisSpec::from_builtin("clock").expect("clock");
        let ops: Vec<TimedFault> = Schedule::new(&spec, &names(3), Duration::from_secs(3), 7)
            .take(60)
            .collect();
        let mut seen = 0;
        for w in ops.windows(2) {
            let pair = (w[0].op.f(), w[1].op.f());
            if pair == ("start-partition", "clock-bump")
                || pair == ("clock-rate", "start-partition")
            {
                let gap = w[1].time - w[0].time;
                // 50 ms ± 25%.
                assert!((37_500_000..=62_500_000).contains(&gap), "{pair:?}: {gap}");
                seen += 1;
            }
        }
        assert!(seen >= 2, "both patterns ran: {seen}");
    }

    #[test]
    fn a_side_target_crashes_the_side_of_the_patterns_partition() {
        let spec = NemesisSpec::from_toml(
            "[[pattern]]\nname = \"p\"\n\
             step = [{ kind = \"partition\", mode = \"halves\" }, { kind = \"kill\", target = \"majority-side\" },\
             { kind = \"heal\", family = \"kill\" }, { kind = \"pause\", target = \"minority-side\" },\
             { kind = \"heal\", family = \"pause\" }, { kind = \"heal\", family = \"partition\" }]\n",
            "x",
        )
        .unwrap();
        let nodes = names(5);
        for seed in 0..20 {
            let ops: Vec<TimedFault> = Schedule::new(&spec, &nodes, Duration::from_secs(1), seed)
                .take(12)
                .collect();
            for cycle in ops.chunks(6) {
                let FaultOp::StartPartition {
                    grudge: Some(g), ..
                } = &cycle[0].op
                else {
                    panic!("seed {seed}: {:?}", cycle[0].op)
                };
                let (
                    FaultOp::Kill(NodeChoice::Nodes(killed)),
                    FaultOp::Pause(NodeChoice::Nodes(paused)),
                ) = (&cycle[1].op, &cycle[3].op)
                else {
                    panic!("seed {seed}: {cycle:?}")
                };
                assert_eq!(killed.len(), 3, "seed {seed}");
                assert_eq!(paused.len(), 2, "seed {seed}");
                // Each side hears exactly itself.
                for side in [killed, paused] {
                    for n in side {
                        let heard: Vec<String> = hears(g, n, &nodes).into_iter().collect();
                        assert_eq!(&heard, side, "seed {seed} node {n}");
                    }
                }
            }
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
        let mut mixed = NemesisSpec::from_builtin("mixed").unwrap();
        let heals = Schedule::heal_ops(&mixed);
        for op in [
            FaultOp::ClockReset,
            FaultOp::RestartCorrupted,
            FaultOp::PowerOn,
        ] {
            assert!(heals.contains(&op), "{op:?} in {heals:?}");
        }
        for kind in [
            FaultKind::Clock,
            FaultKind::PowerLoss,
            FaultKind::FileCorruption,
        ] {
            assert!(mixed.skip(kind, "test"));
        }
        assert_eq!(
            Schedule::heal_ops(&mixed),
            vec![FaultOp::StopPartition, FaultOp::Resume, FaultOp::Start]
        );
    }

    /// The families of `mixed`'s shared last slot.
    const LAST: [FaultKind; 3] = [
        FaultKind::Clock,
        FaultKind::PowerLoss,
        FaultKind::FileCorruption,
    ];

    #[test]
    fn the_last_slot_ends_each_round_and_leaves_the_first_round_as_without_it() {
        let full = NemesisSpec::from_builtin("mixed").unwrap();
        let mut classic = full.clone();
        for kind in LAST {
            assert!(classic.skip(kind, "test"));
        }
        for seed in 0..30 {
            let with: Vec<TimedFault> =
                Schedule::new(&full, &names(5), Duration::from_secs(3), seed)
                    .take(200)
                    .collect();
            let without: Vec<TimedFault> =
                Schedule::new(&classic, &names(5), Duration::from_secs(3), seed)
                    .take(200)
                    .collect();
            let first = with
                .iter()
                .position(|t| LAST.contains(&t.op.kind()))
                .expect("a last-slot fault within 200 ops");
            assert_eq!(with[..first], without[..first], "seed {seed}");
            // The whole first round came before it: every family and both patterns.
            let starts: Vec<&str> = with[..first].iter().map(|t| t.op.f()).collect();
            for f in ["start-partition", "kill", "pause"] {
                assert!(starts.contains(&f), "seed {seed}: {f} before the last slot");
            }
            // One last-slot fault per round: a start and its stop, then other families.
            assert!(with[first].op.is_start(), "seed {seed}");
            assert_eq!(
                with[first + 1].op,
                with[first].op.kind().stop_op(),
                "seed {seed}"
            );
            assert!(!LAST.contains(&with[first + 2].op.kind()), "seed {seed}");
            let starts = with
                .iter()
                .filter(|t| LAST.contains(&t.op.kind()) && t.op.is_start())
                .count();
            let rounds = with.iter().filter(|t| t.op.f() == "pause").count();
            assert!(
                starts.abs_diff(rounds) <= 1,
                "seed {seed}: {starts} vs {rounds} rounds"
            );
        }
    }
}
