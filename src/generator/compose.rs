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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;
    use crate::generator::sim::{invokes, simulate, SimConfig};
    use crate::generator::{delay, limit, on_clients, on_nemesis, op, repeat, OpTemplate};
    use crate::history::{EventType, Process};

    fn tmpl(f: &str) -> OpTemplate {
        OpTemplate::new(f, Value::Null)
    }

    #[test]
    fn mix_follows_the_weights() {
        let gen = on_clients(limit(
            4000,
            mix(vec![
                (3.0, Box::new(repeat(tmpl("read"))) as BoxGen),
                (1.0, Box::new(repeat(tmpl("write")))),
                (0.0, Box::new(repeat(tmpl("never")))),
            ]),
        ));
        let config = SimConfig {
            concurrency: 4,
            seed: 11,
            ..SimConfig::default()
        };
        let events = simulate(gen, &config).unwrap();
        let inv = invokes(&events);
        let reads = inv.iter().filter(|e| e.f == "read").count();
        assert_eq!(inv.len(), 4000);
        assert!(inv.iter().all(|e| e.f != "never"));
        assert!(
            (2800..=3200).contains(&reads),
            "{reads} reads of 4000 at weight 3:1"
        );
    }

    #[test]
    fn mix_drops_finished_generators_and_ends_with_the_last() {
        let gen = on_clients(mix(vec![
            (1.0, Box::new(limit(3, repeat(tmpl("read")))) as BoxGen),
            (1.0, Box::new(limit(5, repeat(tmpl("write"))))),
        ]));
        let events = simulate(gen, &SimConfig::default()).unwrap();
        let inv = invokes(&events);
        assert_eq!(inv.iter().filter(|e| e.f == "read").count(), 3);
        assert_eq!(inv.iter().filter(|e| e.f == "write").count(), 5);
    }

    #[test]
    fn any_merges_clients_and_nemesis() {
        let gen = any(vec![
            Box::new(on_clients(limit(6, repeat(tmpl("read"))))),
            Box::new(on_nemesis(limit(
                2,
                delay(Duration::from_nanos(25), repeat(tmpl("start-partition"))),
            ))),
        ]);
        let events = simulate(gen, &SimConfig::default()).unwrap();
        let inv = invokes(&events);
        let nemesis: Vec<u64> = inv
            .iter()
            .filter(|e| e.process == Process::Nemesis)
            .map(|e| e.time)
            .collect();
        assert_eq!(nemesis, vec![0, 25]);
        assert_eq!(inv.iter().filter(|e| e.f == "read").count(), 6);
        assert!(inv
            .iter()
            .all(|e| (e.process == Process::Nemesis) == (e.f == "start-partition")));
        // Both sides start at once: neither waits for the other.
        assert_eq!(inv.iter().filter(|e| e.time == 0).count(), 3);
    }

    #[test]
    fn phases_wait_for_outstanding_ops_but_concat_does_not() {
        let config = SimConfig {
            concurrency: 2,
            latency: Duration::from_nanos(100),
            ..SimConfig::default()
        };
        let parts = || -> Vec<BoxGen> {
            vec![
                Box::new(on_clients(op(tmpl("write")))),
                Box::new(on_clients(op(tmpl("read")))),
            ]
        };
        let events = simulate(phases(parts()), &config).unwrap();
        let write_done = events
            .iter()
            .find(|e| e.f == "write" && e.kind == EventType::Ok)
            .map(|e| e.time);
        let read_start = events.iter().find(|e| e.f == "read").map(|e| e.time);
        assert_eq!((write_done, read_start), (Some(100), Some(100)));

        let events = simulate(concat(parts()), &config).unwrap();
        let times: Vec<u64> = invokes(&events).iter().map(|e| e.time).collect();
        assert_eq!(times, vec![0, 0]);
    }

    #[test]
    fn synchronize_waits_for_every_thread_in_scope() {
        let config = SimConfig {
            concurrency: 3,
            latency: Duration::from_nanos(50),
            ..SimConfig::default()
        };
        // Two ops start at 0; the synchronized op must wait for both (until 50), though a
        // third thread is free all along.
        let gen = concat(vec![
            Box::new(on_clients(limit(2, repeat(tmpl("write"))))),
            Box::new(synchronize(on_clients(op(tmpl("read"))))),
        ]);
        let events = simulate(gen, &config).unwrap();
        let read = events.iter().find(|e| e.f == "read").map(|e| e.time);
        assert_eq!(read, Some(50));
    }
}
