//! Routing: which threads a generator's ops go to.

use crate::history::Event;

use super::{BoxGen, Context, Generator, Next, Scope, Thread};

/// Restricts the inner generator to a scope of threads, and shows it only those threads'
/// events (Jepsen's `on-threads`).
pub struct OnThreads<G> {
    scope: Scope,
    gen: G,
}

/// `gen` on the threads of `scope` only.
pub fn on_threads<G: Generator>(scope: Scope, gen: G) -> OnThreads<G> {
    OnThreads { scope, gen }
}

/// `gen` on the client threads only (Jepsen's `clients`).
pub fn on_clients<G: Generator>(gen: G) -> OnThreads<G> {
    on_threads(Scope::CLIENTS, gen)
}

/// `gen` on the nemesis thread only (Jepsen's `nemesis`).
pub fn on_nemesis<G: Generator>(gen: G) -> OnThreads<G> {
    on_threads(Scope::NEMESIS, gen)
}

impl<G: Generator> Generator for OnThreads<G> {
    fn next(&mut self, ctx: &mut Context) -> Next {
        let gen = &mut self.gen;
        ctx.scoped(self.scope, |ctx| gen.next(ctx))
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        if ctx
            .thread_index(event.process)
            .is_some_and(|t| self.scope.contains(t))
        {
            self.gen.update(ctx, event)
        }
    }
}

/// One copy of a generator per thread in scope, each emitting only on its own thread (Jepsen's
/// `each-thread`), e.g. final reads: one read per client thread.
pub struct EachThread<F> {
    factory: F,
    gens: Vec<(Thread, BoxGen, bool)>,
    start: usize,
}

/// A copy of the generator built by `factory` for each thread in scope (built the first time
/// that thread is seen); done when every copy is done. Wrap it in [`on_clients`] to leave the
/// nemesis out.
pub fn each_thread<F>(factory: F) -> EachThread<F>
where
    F: FnMut(Thread) -> BoxGen + Send,
{
    EachThread {
        factory,
        gens: Vec::new(),
        start: 0,
    }
}

impl<F> Generator for EachThread<F>
where
    F: FnMut(Thread) -> BoxGen + Send,
{
    fn next(&mut self, ctx: &mut Context) -> Next {
        let in_scope: Vec<Thread> = ctx.threads_in_scope().collect();
        for t in &in_scope {
            if !self.gens.iter().any(|(u, _, _)| u == t) {
                self.gens.push((*t, (self.factory)(*t), false));
            }
        }
        let n = self.gens.len();
        let mut pending = false;
        for k in 0..n {
            let i = (self.start + k) % n;
            let (thread, gen, done) = &mut self.gens[i];
            if *done || !in_scope.contains(thread) {
                continue;
            }
            if !ctx.is_free(*thread) {
                pending = true;
                continue;
            }
            let scope = match *thread {
                Thread::Client(c) => Scope::clients(c, c + 1),
                Thread::Nemesis => Scope::NEMESIS,
            };
            match ctx.scoped(scope, |ctx| gen.next(ctx)) {
                Next::Op(op) => {
                    self.start = (i + 1) % n;
                    return Next::Op(op);
                }
                Next::Pending => pending = true,
                Next::Done => *done = true,
            }
        }
        if pending {
            Next::Pending
        } else {
            Next::Done
        }
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        let Some(thread) = ctx.thread_index(event.process) else {
            return;
        };
        if let Some((_, gen, _)) = self.gens.iter_mut().find(|(t, _, _)| *t == thread) {
            gen.update(ctx, event)
        }
    }
}
