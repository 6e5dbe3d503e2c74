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

/// Only the ops of `gen` for which `pred` holds. After [`MAX_REJECTIONS`] rejected ops in one
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
