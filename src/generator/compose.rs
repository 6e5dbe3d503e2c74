//! Composition of several generators: random mix, merge, and sequence.

use rand::RngExt;

use crate::history::Event;

use super::{BoxGen, Context, Generator, Next};

/// A weighted random choice among generators, one choice per op (Jepsen's `mix`).
pub struct Mix {
    gens: Vec<(f64, BoxGen)>,
    current: Option<usize>,
}

/// Each op comes from one of `gens`, chosen at random with probability proportional to its
/// weight. A choice sticks until that generator emits (a pending choice is not re-drawn, so
/// weights hold even when generators are pending at different times); generators that are done
/// drop out; done when all are. Non-positive and non-finite weights are dropped.
pub fn mix(gens: Vec<(f64, BoxGen)>) -> Mix {
    Mix {
        gens: gens
            .into_iter()
            .filter(|(w, _)| w.is_finite() && *w > 0.0)
            .collect(),
        current: None,
    }
}

impl Mix {
    fn choose(&self, ctx: &mut Context) -> usize {
        let total: f64 = self.gens.iter().map(|(w, _)| w).sum();
        let mut x = ctx.rng().random_range(0.0..total);
        for (i, (w, _)) in self.gens.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        // Rounding can leave x a hair above the last weight: the last generator it is.
        self.gens.len() - 1
    }
}

impl Generator for Mix {
    fn next(&mut self, ctx: &mut Context) -> Next {
        // Each pass either returns or removes one generator, so gens.len() + 1 passes suffice.
        for _ in 0..=self.gens.len() {
            if self.gens.is_empty() {
                return Next::Done;
            }
            let i = match self.current {
                Some(i) => i,
                None => {
                    let i = self.choose(ctx);
                    self.current = Some(i);
                    i
                }
            };
            match self.gens[i].1.next(ctx) {
                Next::Op(op) => {
                    self.current = None;
                    return Next::Op(op);
                }
                Next::Pending => return Next::Pending,
                Next::Done => {
                    self.gens.remove(i);
                    self.current = None;
                }
            }
        }
        Next::Done
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        for (_, gen) in &mut self.gens {
            gen.update(ctx, event);
        }
    }
}

/// Merges generators: whichever is ready first (Jepsen's `any`), e.g. clients + nemesis.
pub struct Any {
    gens: Vec<BoxGen>,
    start: usize,
}

/// Ops from all of `gens`, whichever has one ready now; done when all are done. Asks rotate
/// their starting point, so two generators ready at once take turns.
pub fn any(gens: Vec<BoxGen>) -> Any {
    Any { gens, start: 0 }
}

impl Generator for Any {
    fn next(&mut self, ctx: &mut Context) -> Next {
        let n = self.gens.len();
        let mut pending = false;
        let mut done = vec![false; n];
        for k in 0..n {
            let i = (self.start + k) % n;
            match self.gens[i].next(ctx) {
                Next::Op(op) => {
                    self.start = (i + 1) % n;
                    return Next::Op(op);
                }
                Next::Pending => pending = true,
                Next::Done => done[i] = true,
            }
        }
        let mut i = 0;
        self.gens.retain(|_| {
            i += 1;
            !done[i - 1]
        });
        self.start = 0;
        if pending {
            Next::Pending
        } else {
            Next::Done
        }
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        for gen in &mut self.gens {
            gen.update(ctx, event);
        }
    }
}

/// Generators one after another, with no waiting in between (Jepsen's `concat`).
pub struct Concat {
    gens: std::collections::VecDeque<BoxGen>,
}

/// All ops of the first generator, then of the second, and so on; the next starts as soon as
/// the previous is done (outstanding ops may still run; use [`phases`] to wait for them).
pub fn concat(gens: Vec<BoxGen>) -> Concat {
    Concat { gens: gens.into() }
}

impl Generator for Concat {
    fn next(&mut self, ctx: &mut Context) -> Next {
        // Each pass either returns or drops one generator.
        for _ in 0..=self.gens.len() {
            let Some(gen) = self.gens.front_mut() else {
                return Next::Done;
            };
            match gen.next(ctx) {
                Next::Done => {
                    self.gens.pop_front();
                }
                other => return other,
            }
        }
        Next::Done
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        if let Some(gen) = self.gens.front_mut() {
            gen.update(ctx, event)
        }
    }
}

/// Waits until every thread in scope is free before the inner generator's first op.
pub struct Synchronize<G> {
    started: bool,
    gen: G,
}

/// `gen`, started only once nothing is outstanding on any thread in scope (Jepsen's
/// `synchronize`).
pub fn synchronize<G: Generator>(gen: G) -> Synchronize<G> {
    Synchronize {
        started: false,
        gen,
    }
}

impl<G: Generator> Generator for Synchronize<G> {
    fn next(&mut self, ctx: &mut Context) -> Next {
        if !self.started {
            if !ctx.all_free() {
                return Next::Pending;
            }
            self.started = true;
        }
        self.gen.next(ctx)
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        if self.started {
            self.gen.update(ctx, event)
        }
    }
}

/// Phases: each generator runs to completion, and its outstanding ops complete, before the
/// next begins (Jepsen's `phases`: a concat of synchronized generators).
pub fn phases(gens: Vec<BoxGen>) -> Concat {
    concat(
        gens.into_iter()
            .map(|g| Box::new(synchronize(g)) as BoxGen)
            .collect(),
    )
}
