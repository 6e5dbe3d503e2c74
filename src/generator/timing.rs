//! Timing combinators: when ops may happen, in logical time. None of them sleeps: a generator
//! that must wait answers `Pending` and records when it could go with [`Context::wake_at`].

use std::time::Duration;

use rand::RngExt;

use crate::history::Event;

use super::{nanos, Context, Generator, Next};

/// Ends the inner generator a fixed time after it was first asked.
pub struct TimeLimit<G> {
    limit: u64,
    deadline: Option<u64>,
    gen: G,
}

/// `gen` until `limit` has passed since its first ask, then done (outstanding ops are not
/// cut short; phases wait for them).
pub fn time_limit<G: Generator>(limit: Duration, gen: G) -> TimeLimit<G> {
    TimeLimit {
        limit: nanos(limit),
        deadline: None,
        gen,
    }
}

impl<G: Generator> Generator for TimeLimit<G> {
    fn next(&mut self, ctx: &mut Context) -> Next {
        let deadline = *self
            .deadline
            .get_or_insert(ctx.time().saturating_add(self.limit));
        if ctx.time() >= deadline {
            return Next::Done;
        }
        let next = self.gen.next(ctx);
        if next == Next::Pending {
            // Wake at the deadline even if nothing else happens, so the limit is noticed.
            ctx.wake_at(deadline);
        }
        next
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        self.gen.update(ctx, event)
    }
}

/// Spaces ops by a gap: random (stagger) or fixed (delay). The gap runs from the later of the
/// previous op's due time and the time it was actually emitted, so a slow target lowers the
/// rate and nothing bursts to catch up.
struct Spacer<G> {
    next_due: Option<u64>,
    gen: G,
}

impl<G: Generator> Spacer<G> {
    fn next(&mut self, ctx: &mut Context, gap: impl FnOnce(&mut Context) -> u64) -> Next {
        let due = *self.next_due.get_or_insert(ctx.time());
        if ctx.time() < due {
            ctx.wake_at(due);
            return Next::Pending;
        }
        let next = self.gen.next(ctx);
        if let Next::Op(_) = next {
            let gap = gap(ctx);
            self.next_due = Some(due.max(ctx.time()).saturating_add(gap));
        }
        next
    }
}

/// Random gaps between ops, uniform in `[0, 2 * mean)`.
pub struct Stagger<G> {
    mean: u64,
    spacer: Spacer<G>,
}

/// `gen` with random gaps averaging `mean` between consecutive ops (across all threads). With
/// `mean = 1/R` this is `--rate R`.
pub fn stagger<G: Generator>(mean: Duration, gen: G) -> Stagger<G> {
    Stagger {
        mean: nanos(mean),
        spacer: Spacer {
            next_due: None,
            gen,
        },
    }
}

impl<G: Generator> Generator for Stagger<G> {
    fn next(&mut self, ctx: &mut Context) -> Next {
        let mean = self.mean;
        self.spacer.next(ctx, |ctx| match mean {
            0 => 0,
            m => ctx.rng().random_range(0..m.saturating_mul(2)),
        })
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        self.spacer.gen.update(ctx, event)
    }
}

/// A fixed gap between ops.
pub struct Delay<G> {
    gap: u64,
    spacer: Spacer<G>,
}

/// `gen` with exactly `gap` between consecutive ops (when threads are free to take them).
pub fn delay<G: Generator>(gap: Duration, gen: G) -> Delay<G> {
    Delay {
        gap: nanos(gap),
        spacer: Spacer {
            next_due: None,
            gen,
        },
    }
}

impl<G: Generator> Generator for Delay<G> {
    fn next(&mut self, ctx: &mut Context) -> Next {
        let gap = self.gap;
        self.spacer.next(ctx, |_| gap)
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        self.spacer.gen.update(ctx, event)
    }
}

/// Emits nothing for a while, then is done: a waiting phase (e.g. recovery after healing).
pub struct Sleep {
    duration: u64,
    until: Option<u64>,
}

/// A phase that waits `duration` from its first ask.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        duration: nanos(duration),
        until: None,
    }
}

impl Generator for Sleep {
    fn next(&mut self, ctx: &mut Context) -> Next {
        let until = *self
            .until
            .get_or_insert(ctx.time().saturating_add(self.duration));
        if ctx.time() >= until {
            Next::Done
        } else {
            ctx.wake_at(until);
            Next::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::generator::sim::{invokes, simulate, SimConfig};
    use crate::generator::{limit, on_clients, op, phases, repeat, BoxGen, OpTemplate};

    fn read() -> OpTemplate {
        OpTemplate::new("read", Value::Null)
    }

    #[test]
    fn time_limit_stops_emitting_at_the_deadline() {
        let config = SimConfig {
            concurrency: 4,
            ..SimConfig::default()
        };
        let gen = on_clients(time_limit(Duration::from_nanos(1_000), repeat(read())));
        let events = simulate(gen, &config).unwrap();
        let inv = invokes(&events);
        // 4 threads, a fresh op every 10 ns on each, for 1000 ns: 100 rounds of 4.
        assert_eq!(inv.len(), 400);
        assert!(inv.iter().all(|e| e.time < 1_000));
        assert_eq!(inv.last().map(|e| e.time), Some(990));
        // Outstanding ops still complete.
        assert_eq!(events.len(), 800);
    }

    #[test]
    fn time_limit_wakes_the_runner_at_its_deadline() {
        // Nothing is ever ready, yet the simulation ends: the deadline is a wake-up.
        let gen = time_limit(Duration::from_micros(3), sleep(Duration::from_secs(60)));
        assert_eq!(simulate(gen, &SimConfig::default()).unwrap(), vec![]);
    }

    #[test]
    fn delay_spaces_ops_exactly() {
        let config = SimConfig {
            concurrency: 8,
            ..SimConfig::default()
        };
        let gen = on_clients(limit(5, delay(Duration::from_nanos(100), repeat(read()))));
        let events = simulate(gen, &config).unwrap();
        let times: Vec<u64> = invokes(&events).iter().map(|e| e.time).collect();
        assert_eq!(times, vec![0, 100, 200, 300, 400]);
    }

    #[test]
    fn delay_never_bursts_after_a_slow_op() {
        // One thread, latency 250 ns, gap 100 ns: every op waits for the thread, and the next
        // one goes as soon as it is free, never two at once.
        let config = SimConfig {
            concurrency: 1,
            latency: Duration::from_nanos(250),
            ..SimConfig::default()
        };
        let gen = on_clients(limit(4, delay(Duration::from_nanos(100), repeat(read()))));
        let events = simulate(gen, &config).unwrap();
        let times: Vec<u64> = invokes(&events).iter().map(|e| e.time).collect();
        assert_eq!(times, vec![0, 250, 500, 750]);
    }

    #[test]
    fn stagger_holds_the_mean_rate() {
        // --rate 1000 for one simulated second with plenty of idle threads: about 1000 ops.
        for seed in 0..5 {
            let config = SimConfig {
                concurrency: 16,
                seed,
                latency: Duration::from_micros(100),
                ..SimConfig::default()
            };
            let gen = on_clients(time_limit(
                Duration::from_secs(1),
                stagger(Duration::from_millis(1), repeat(read())),
            ));
            let n = invokes(&simulate(gen, &config).unwrap()).len();
            assert!(
                (900..=1100).contains(&n),
                "seed {seed}: {n} ops in 1 s at rate 1000"
            );
        }
    }

    #[test]
    fn sleep_is_a_phase_that_waits() {
        let gens: Vec<BoxGen> = vec![
            Box::new(on_clients(op(read()))),
            Box::new(sleep(Duration::from_nanos(500))),
            Box::new(on_clients(op(read()))),
        ];
        let events = simulate(phases(gens), &SimConfig::default()).unwrap();
        let times: Vec<u64> = invokes(&events).iter().map(|e| e.time).collect();
        // The first read completes at 10; the sleep starts then and lasts 500 ns.
        assert_eq!(times, vec![0, 510]);
    }
}
