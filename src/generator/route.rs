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

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::generator::sim::{invokes, simulate, SimConfig};
    use crate::generator::{limit, on_clients, op, repeat, OpTemplate};
    use crate::history::Process;

    fn read() -> OpTemplate {
        OpTemplate::new("read", Value::Null)
    }

    #[test]
    fn each_thread_gives_one_op_per_client_thread() {
        for c in [1usize, 3, 8] {
            let config = SimConfig {
                concurrency: c,
                ..SimConfig::default()
            };
            let gen = on_clients(each_thread(|_| Box::new(op(read())) as BoxGen));
            let events = simulate(gen, &config).unwrap();
            let mut procs: Vec<Process> = invokes(&events).iter().map(|e| e.process).collect();
            procs.sort();
            let want: Vec<Process> = (0..c as u64).map(Process::Client).collect();
            assert_eq!(procs, want, "concurrency {c}");
        }
    }

    #[test]
    fn each_thread_runs_each_copy_on_its_own_thread() {
        let config = SimConfig {
            concurrency: 3,
            ..SimConfig::default()
        };
        let gen = on_clients(each_thread(|t| {
            let v = match t {
                Thread::Client(i) => i as i64,
                Thread::Nemesis => -1,
            };
            Box::new(limit(2, repeat(OpTemplate::new("write", Value::from(v))))) as BoxGen
        }));
        let events = simulate(gen, &config).unwrap();
        let inv = invokes(&events);
        assert_eq!(inv.len(), 6);
        for e in inv {
            let Process::Client(p) = e.process else {
                panic!("routed to the nemesis: {e:?}");
            };
            assert_eq!(e.value, Value::from(p), "{e:?}");
        }
    }

    #[test]
    fn on_nemesis_and_on_clients_route_to_their_threads() {
        let config = SimConfig {
            concurrency: 4,
            ..SimConfig::default()
        };
        let events = simulate(on_nemesis(limit(5, repeat(read()))), &config).unwrap();
        assert!(invokes(&events)
            .iter()
            .all(|e| e.process == Process::Nemesis));
        assert_eq!(invokes(&events).len(), 5);
        let events = simulate(on_clients(limit(50, repeat(read()))), &config).unwrap();
        assert!(invokes(&events)
            .iter()
            .all(|e| e.process != Process::Nemesis));
        // Unrouted, the nemesis thread takes ops too (Jepsen's default).
        let events = simulate(limit(50, repeat(read())), &config).unwrap();
        assert!(invokes(&events)
            .iter()
            .any(|e| e.process == Process::Nemesis));
    }
}
