//! Source generators: where op templates come from before combinators shape them.

use super::{Context, Generator, Next, OpTemplate, Rng};

/// Emits one op (Jepsen's map-as-generator), on whichever thread in scope is free first.
#[derive(Debug, Clone)]
pub struct Once {
    template: Option<OpTemplate>,
}

/// One op, once: `op(OpTemplate::new("read", Value::Null))`.
pub fn op(template: OpTemplate) -> Once {
    Once {
        template: Some(template),
    }
}

impl Generator for Once {
    fn next(&mut self, ctx: &mut Context) -> Next {
        let Some(template) = &self.template else {
            return Next::Done;
        };
        match ctx.fill(template.clone()) {
            Some(op) => {
                self.template = None;
                Next::Op(op)
            }
            None => Next::Pending,
        }
    }
}

/// Emits the same op forever, one per free thread as they free up.
#[derive(Debug, Clone)]
pub struct Repeat {
    template: OpTemplate,
}

/// The same op, forever (bound it with [`super::limit`] or [`super::time_limit`]).
pub fn repeat(template: OpTemplate) -> Repeat {
    Repeat { template }
}

impl Generator for Repeat {
    fn next(&mut self, ctx: &mut Context) -> Next {
        match ctx.fill(self.template.clone()) {
            Some(op) => Next::Op(op),
            None => Next::Pending,
        }
    }
}

/// Calls a function for each op (Jepsen's function-as-generator); the function draws its
/// randomness from the context's seeded RNG and returns `None` when it has no more ops.
pub struct FromFn<F> {
    f: F,
    done: bool,
}

/// Ops from `f`, called only when a thread in scope is free (so no draw is wasted).
pub fn from_fn<F>(f: F) -> FromFn<F>
where
    F: FnMut(&mut Rng) -> Option<OpTemplate> + Send,
{
    FromFn { f, done: false }
}

impl<F> Generator for FromFn<F>
where
    F: FnMut(&mut Rng) -> Option<OpTemplate> + Send,
{
    fn next(&mut self, ctx: &mut Context) -> Next {
        if self.done {
            return Next::Done;
        }
        if !ctx.any_free() {
            return Next::Pending;
        }
        match (self.f)(ctx.rng()) {
            // A thread in scope is free (checked above), so `fill` finds one.
            Some(template) => ctx.fill(template).map_or(Next::Pending, Next::Op),
            None => {
                self.done = true;
                Next::Done
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::generator::sim::{invokes, simulate, SimConfig};
    use crate::generator::{limit, on_clients};
    use crate::history::Process;

    fn read() -> OpTemplate {
        OpTemplate::new("read", Value::Null)
    }

    #[test]
    fn op_emits_exactly_once() {
        let events = simulate(on_clients(op(read())), &SimConfig::default()).unwrap();
        assert_eq!(invokes(&events).len(), 1);
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn repeat_uses_every_free_thread_then_waits_for_completions() {
        let config = SimConfig {
            concurrency: 3,
            ..SimConfig::default()
        };
        let events = simulate(on_clients(limit(6, repeat(read()))), &config).unwrap();
        let inv = invokes(&events);
        assert_eq!(inv.len(), 6);
        // Three at time 0 (one per thread), three more once they complete at 10.
        let times: Vec<u64> = inv.iter().map(|e| e.time).collect();
        assert_eq!(times, vec![0, 0, 0, 10, 10, 10]);
        let mut first: Vec<Process> = inv[..3].iter().map(|e| e.process).collect();
        first.sort();
        assert_eq!(
            first,
            vec![Process::Client(0), Process::Client(1), Process::Client(2)]
        );
    }

    #[test]
    fn from_fn_ends_when_the_function_returns_none() {
        let mut n = 0;
        let gen = from_fn(move |_rng| {
            n += 1;
            (n <= 4).then(|| OpTemplate::new("write", Value::from(n)))
        });
        let events = simulate(on_clients(gen), &SimConfig::default()).unwrap();
        let values: Vec<Value> = invokes(&events).iter().map(|e| e.value.clone()).collect();
        assert_eq!(
            values,
            vec![
                Value::from(1),
                Value::from(2),
                Value::from(3),
                Value::from(4)
            ]
        );
    }
}
