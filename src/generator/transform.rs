//! Transforms of a single generator: how many ops, which ops, what they look like, and which
//! random stream they draw from.

use rand::SeedableRng;

use crate::history::Event;

use super::{BoxGen, Context, GenOp, Generator, Next, Rng};

/// At most `n` ops from the inner generator.
pub struct Limit<G> {
    remaining: u64,
    gen: G,
}

/// The first `n` ops of `gen`, then done.
pub fn limit<G: Generator>(n: u64, gen: G) -> Limit<G> {
    Limit { remaining: n, gen }
}

/// The first op of `gen` only.
pub fn once<G: Generator>(gen: G) -> Limit<G> {
    limit(1, gen)
}

impl<G: Generator> Generator for Limit<G> {
    fn next(&mut self, ctx: &mut Context) -> Next {
        if self.remaining == 0 {
            return Next::Done;
        }
        let next = self.gen.next(ctx);
        if let Next::Op(_) = next {
            self.remaining -= 1;
        }
        next
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        self.gen.update(ctx, event)
    }
}

/// How many ops in a row [`Filter`] may reject in one ask before it answers `Pending` (keeps
/// every loop bounded when the inner generator never produces an acceptable op).
const MAX_REJECTIONS: usize = 1024;

/// Drops the inner generator's ops that fail a predicate.
pub struct Filter<G, P> {
    pred: P,
    gen: G,
}

/// Only the ops of `gen` for which `pred` holds. After 1024 rejected ops in one
/// ask it answers `Pending` and asks to be woken a millisecond later.
pub fn filter<G, P>(pred: P, gen: G) -> Filter<G, P>
where
    G: Generator,
    P: FnMut(&GenOp) -> bool + Send,
{
    Filter { pred, gen }
}

impl<G, P> Generator for Filter<G, P>
where
    G: Generator,
    P: FnMut(&GenOp) -> bool + Send,
{
    fn next(&mut self, ctx: &mut Context) -> Next {
        for _ in 0..MAX_REJECTIONS {
            match self.gen.next(ctx) {
                Next::Op(op) if !(self.pred)(&op) => continue,
                other => return other,
            }
        }
        ctx.wake_at(ctx.time().saturating_add(1_000_000));
        Next::Pending
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        self.gen.update(ctx, event)
    }
}

/// Rewrites each op of the inner generator.
pub struct Map<G, F> {
    f: F,
    gen: G,
}

/// Each op of `gen` passed through `f`. `f` may change `f`, `key`, `value`, but must keep
/// `process` (the thread it was generated for is the one known to be free).
pub fn map<G, F>(f: F, gen: G) -> Map<G, F>
where
    G: Generator,
    F: FnMut(GenOp) -> GenOp + Send,
{
    Map { f, gen }
}

impl<G, F> Generator for Map<G, F>
where
    G: Generator,
    F: FnMut(GenOp) -> GenOp + Send,
{
    fn next(&mut self, ctx: &mut Context) -> Next {
        match self.gen.next(ctx) {
            Next::Op(op) => Next::Op((self.f)(op)),
            other => other,
        }
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        self.gen.update(ctx, event)
    }
}

/// Runs a fresh generator from a factory each time the previous one is done (Jepsen's
/// `cycle`): `times` rounds, or forever with `None`.
pub struct Cycle<F> {
    factory: F,
    remaining: Option<u64>,
    current: Option<BoxGen>,
}

/// `gen` restarted from `factory` each time it ends, `times` times in all (`None`: forever).
/// A round that is done as soon as it starts ends the cycle, so it can never spin.
pub fn cycle<F>(times: Option<u64>, factory: F) -> Cycle<F>
where
    F: FnMut() -> BoxGen + Send,
{
    Cycle {
        factory,
        remaining: times,
        current: None,
    }
}

impl<F> Cycle<F>
where
    F: FnMut() -> BoxGen + Send,
{
    /// Starts the next round if any remain; false when the cycle is over.
    fn start_round(&mut self) -> bool {
        match &mut self.remaining {
            Some(0) => return false,
            Some(n) => *n -= 1,
            None => {}
        }
        self.current = Some((self.factory)());
        true
    }
}

impl<F> Generator for Cycle<F>
where
    F: FnMut() -> BoxGen + Send,
{
    fn next(&mut self, ctx: &mut Context) -> Next {
        let mut fresh = false;
        if self.current.is_none() {
            if !self.start_round() {
                return Next::Done;
            }
            fresh = true;
        }
        // At most two asks: the current round, then (if it just ended) one fresh round.
        for _ in 0..2 {
            let Some(gen) = self.current.as_mut() else {
                return Next::Done;
            };
            match gen.next(ctx) {
                Next::Done => {
                    self.current = None;
                    if fresh || !self.start_round() {
                        return Next::Done;
                    }
                    fresh = true;
                }
                other => return other,
            }
        }
        Next::Pending
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        if let Some(gen) = self.current.as_mut() {
            gen.update(ctx, event)
        }
    }
}

/// Gives the inner generator its own seeded random stream, independent of how often other
/// generators draw (so the nemesis schedule does not depend on how many client ops ran).
pub struct WithRng<G> {
    rng: Rng,
    gen: G,
}

/// `gen` drawing from its own ChaCha stream seeded with `seed`.
pub fn with_rng<G: Generator>(seed: u64, gen: G) -> WithRng<G> {
    WithRng {
        rng: Rng::seed_from_u64(seed),
        gen,
    }
}

impl<G: Generator> Generator for WithRng<G> {
    fn next(&mut self, ctx: &mut Context) -> Next {
        ctx.swap_rng(&mut self.rng);
        let next = self.gen.next(ctx);
        ctx.swap_rng(&mut self.rng);
        next
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        self.gen.update(ctx, event)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::generator::sim::{invokes, simulate, SimConfig};
    use crate::generator::{from_fn, on_clients, repeat, OpTemplate};

    fn write(v: i64) -> OpTemplate {
        OpTemplate::new("write", Value::from(v))
    }

    fn counting() -> impl Generator {
        let mut n = 0;
        from_fn(move |_rng| {
            n += 1;
            Some(write(n))
        })
    }

    fn values(events: &[crate::history::Event]) -> Vec<i64> {
        invokes(events)
            .iter()
            .filter_map(|e| e.value.as_i64())
            .collect()
    }

    #[test]
    fn limit_emits_exactly_n_ops() {
        for n in [0u64, 1, 5, 17] {
            let events = simulate(on_clients(limit(n, counting())), &SimConfig::default()).unwrap();
            assert_eq!(invokes(&events).len() as u64, n, "limit {n}");
        }
        let events = simulate(on_clients(once(counting())), &SimConfig::default()).unwrap();
        assert_eq!(values(&events), vec![1]);
    }

    #[test]
    fn filter_drops_ops_and_map_rewrites_them() {
        let gen = limit(
            3,
            map(
                |mut op| {
                    op.f = "cas".into();
                    op
                },
                filter(
                    |op| op.value.as_i64().is_some_and(|v| v % 2 == 0),
                    counting(),
                ),
            ),
        );
        let events = simulate(on_clients(gen), &SimConfig::default()).unwrap();
        assert_eq!(values(&events), vec![2, 4, 6]);
        assert!(invokes(&events).iter().all(|e| e.f == "cas"));
    }

    #[test]
    fn filter_that_rejects_everything_stays_bounded() {
        let gen = crate::generator::time_limit(
            std::time::Duration::from_millis(5),
            filter(|_| false, repeat(write(1))),
        );
        let events = simulate(on_clients(gen), &SimConfig::default()).unwrap();
        assert!(events.is_empty());
    }

    #[test]
    fn cycle_restarts_a_finished_generator() {
        let gen = cycle(Some(3), || Box::new(limit(2, counting())) as BoxGen);
        let events = simulate(on_clients(gen), &SimConfig::default()).unwrap();
        // Each round is a fresh counter: 1, 2 three times.
        assert_eq!(values(&events), vec![1, 2, 1, 2, 1, 2]);
        // A round that is done at once ends an endless cycle instead of spinning.
        let empty = cycle(None, || Box::new(limit(0, counting())) as BoxGen);
        assert!(simulate(on_clients(empty), &SimConfig::default())
            .unwrap()
            .is_empty());
    }

    #[test]
    fn with_rng_gives_a_stream_independent_of_other_draws() {
        use rand::RngExt;
        let random = || from_fn(|rng: &mut Rng| Some(write(rng.random_range(0..1_000_000))));
        let run = |outer_draws: usize| {
            let mut ctx = Context::new(1, 99);
            for _ in 0..outer_draws {
                ctx.rng().random::<u64>();
            }
            let mut gen = on_clients(with_rng(5, random()));
            let mut seen = Vec::new();
            for _ in 0..10 {
                if let Next::Op(op) = gen.next(&mut ctx) {
                    seen.push(op.value);
                }
            }
            seen
        };
        assert_eq!(run(0), run(3));
        assert_eq!(run(0).len(), 10);
    }
}
