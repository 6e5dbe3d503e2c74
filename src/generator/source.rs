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
