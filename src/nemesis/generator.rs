//! The schedule as generators (see [`crate::generator`]): the main-phase fault generator and the
//! final generator that heals everything. Pure, like the generators they plug into.

use std::time::Duration;

use crate::generator::{Context, GenOp, Generator, Next, Thread};
use crate::history::Process;

use super::fault::FaultOp;
use super::schedule::{Schedule, TimedFault};
use super::spec::NemesisSpec;

/// Emits the schedule's ops on the nemesis thread at their times: one op at a time (the next
/// waits for the previous one's completion), times counted from the first ask.
pub struct FaultGenerator {
    schedule: Schedule,
    start: Option<u64>,
    pending: Option<TimedFault>,
}

impl FaultGenerator {
    /// A generator over `schedule`.
    pub fn new(schedule: Schedule) -> FaultGenerator {
        FaultGenerator {
            schedule,
            start: None,
            pending: None,
        }
    }
}

fn nemesis_op(ctx: &Context, op: &FaultOp) -> GenOp {
    GenOp {
        process: Process::Nemesis,
        time: ctx.time(),
        f: op.f().to_string(),
        key: None,
        value: op.value(),
    }
}

impl Generator for FaultGenerator {
    fn next(&mut self, ctx: &mut Context) -> Next {
        let start = *self.start.get_or_insert(ctx.time());
        let fault = match self.pending.take() {
            Some(f) => f,
            None => match self.schedule.next_fault() {
                Some(f) => f,
                None => return Next::Done,
            },
        };
        let due = start.saturating_add(fault.time);
        if ctx.time() < due {
            ctx.wake_at(due);
            self.pending = Some(fault);
            return Next::Pending;
        }
        if !ctx.scope().contains(Thread::Nemesis) || !ctx.is_free(Thread::Nemesis) {
            // Asked again after the nemesis thread's completion.
            self.pending = Some(fault);
            return Next::Pending;
        }
        Next::Op(nemesis_op(ctx, &fault.op))
    }
}

/// Emits each heal op once, in order, each after the previous one completed: Jepsen's final
/// generator, recorded in the history like any fault op.
pub struct HealGenerator {
    ops: std::vec::IntoIter<FaultOp>,
    pending: Option<FaultOp>,
}

impl HealGenerator {
    /// A generator of `ops`.
    pub fn new(ops: Vec<FaultOp>) -> HealGenerator {
        HealGenerator {
            ops: ops.into_iter(),
            pending: None,
        }
    }
}

impl Generator for HealGenerator {
    fn next(&mut self, ctx: &mut Context) -> Next {
        let op = match self.pending.take().or_else(|| self.ops.next()) {
            Some(op) => op,
            None => return Next::Done,
        };
        if !ctx.scope().contains(Thread::Nemesis) || !ctx.is_free(Thread::Nemesis) {
            self.pending = Some(op);
            return Next::Pending;
        }
        Next::Op(nemesis_op(ctx, &op))
    }
}

impl NemesisSpec {
    /// The main-phase fault generator over `nodes` at one fault change per `interval`; every
    /// choice comes from `seed` (derive it from the test seed), so a seed replays the faults.
    pub fn generator(&self, nodes: &[String], interval: Duration, seed: u64) -> Box<dyn Generator> {
        Box::new(FaultGenerator::new(Schedule::new(
            self, nodes, interval, seed,
        )))
    }

    /// The final generator: one stop op per fault family this spec can inject, so every fault
    /// is healed and the healing is recorded.
    pub fn final_generator(&self) -> Box<dyn Generator> {
        Box::new(HealGenerator::new(Schedule::heal_ops(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::sim::{simulate, SimConfig};
    use crate::generator::{concat, time_limit};
    use crate::history::{Event, EventType};

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    /// The nemesis invokes of a 60 s main phase plus the final heal, in logical time.
    fn run(spec: &str, seed: u64) -> Vec<Event> {
        let spec = NemesisSpec::from_builtin(spec).unwrap();
        let gen = concat(vec![
            Box::new(time_limit(
                Duration::from_secs(60),
                spec.generator(&names(5), Duration::from_secs(5), seed),
            )),
            spec.final_generator(),
        ]);
        let config = SimConfig {
            concurrency: 0,
            seed,
            ..SimConfig::default()
        };
        simulate(gen, &config)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == EventType::Invoke && e.process == Process::Nemesis)
            .collect()
    }

    #[test]
    fn same_seed_gives_the_same_fault_ops_at_the_same_times() {
        for seed in [1, 2, 3] {
            let a = run("mixed", seed);
            assert_eq!(a, run("mixed", seed), "seed {seed}");
            assert!(a.len() >= 6, "seed {seed}: only {} ops", a.len());
        }
    }

    #[test]
    fn the_final_generator_heals_whatever_the_main_phase_left() {
        for seed in 0..10 {
            let ops = run("mixed", seed);
            let mut active = std::collections::BTreeSet::new();
            for e in &ops {
                let op = FaultOp::parse(&e.f, &e.value).unwrap();
                if op.is_start() {
                    assert!(
                        active.insert(op.kind()),
                        "seed {seed}: overlapping {:?}",
                        op
                    );
                } else {
                    active.remove(&op.kind());
                }
            }
            assert!(active.is_empty(), "seed {seed}: left {active:?}");
            let heals = Schedule::heal_ops(&NemesisSpec::from_builtin("mixed").unwrap());
            let tail: Vec<&str> = ops[ops.len() - heals.len()..]
                .iter()
                .map(|e| e.f.as_str())
                .collect();
            let wanted: Vec<&str> = heals.iter().map(|op| op.f()).collect();
            assert_eq!(tail, wanted, "seed {seed}");
        }
    }

    #[test]
    fn faults_arrive_at_the_pace() {
        let ops = run("partition-halves", 4);
        // 60 s at one change per ~5 s (±25%): between 9 and 16 ops, plus the final heal.
        assert!((10..=17).contains(&ops.len()), "{} ops", ops.len());
        let first = ops[0].time;
        assert!(
            (3_750_000_000..=6_250_000_000).contains(&first),
            "first at {first}"
        );
    }

    #[test]
    fn none_is_done_at_once() {
        assert!(run("none", 1).is_empty());
    }
}
