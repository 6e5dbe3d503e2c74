//! Pure, seeded operation generators and their combinators (Jepsen's design).
//!
//! A generator is asked for the next op with [`Generator::next`], given a [`Context`] (logical
//! time, which threads are free, each thread's process id, a seeded ChaCha RNG). It answers an
//! op for a free thread, [`Next::Pending`] (nothing now: ask again at [`Context::wake`] or after
//! an event), or [`Next::Done`]. [`Generator::update`] tells it about each invoke and
//! completion. Time is a context field, never a sleep, so every generator is testable with the
//! simulated interpreter in [`sim`].
//!
//! No I/O, no clock, no `thread_rng`, no tokio here: the runner (the only part that sleeps and
//! stamps ops) drives a generator through a [`Driver`].
//!
//! # Layout
//!
//! - [`Context`], [`Thread`], [`Scope`]: what a generator sees.
//! - [`Driver`]: the pure half of the interpreter; the runner calls it (see its docs).
//! - sources: [`op`], [`repeat`], [`from_fn`].
//! - transforms: [`limit`], [`once`], [`filter`], [`map`], [`cycle`], [`with_rng`].
//! - timing: [`time_limit`], [`stagger`], [`delay`], [`sleep`].
//! - composition: [`mix`], [`any`], [`concat()`], [`phases`], [`synchronize`].
//! - routing: [`on_clients`], [`on_nemesis`], [`on_threads`], [`each_thread`].
//! - [`independent`]: rotate threads through keys, a bounded number of ops per key.
//! - [`sim`]: a deterministic interpreter for tests (fixed latency, seeded `info` crashes).
//!
//! # Rate limiting
//!
//! `--rate R` (total ops/s across all workers) is [`stagger`] with a mean interval of `1/R`
//! around the client generator, as Jepsen does: ops are spaced by random intervals averaging
//! `1/R`, and the rate is an upper bound (a slow target lowers it, nothing bursts to catch up).

mod compose;
mod context;
mod driver;
mod independent;
mod route;
pub mod sim;
mod source;
mod timing;
mod transform;

pub use compose::{any, concat, mix, phases, synchronize, Any, Concat, Mix, Synchronize};
pub use context::{Context, Scope, Thread};
pub use driver::Driver;
pub use independent::{independent, Independent, KeyCounter};
pub use route::{each_thread, on_clients, on_nemesis, on_threads, EachThread, OnThreads};
pub use source::{from_fn, op, repeat, FromFn, Once, Repeat};
pub use timing::{delay, sleep, stagger, time_limit, Delay, Sleep, Stagger, TimeLimit};
pub use transform::{
    cycle, filter, limit, map, once, with_rng, Cycle, Filter, Limit, Map, WithRng,
};

use serde_json::Value;

use crate::history::{Event, Process};

/// The seeded RNG every generator draws from: ChaCha8, fast and reproducible from a `u64`.
pub type Rng = rand_chacha::ChaCha8Rng;

/// A generator boxed for composition: combinators that hold several children hold these.
pub type BoxGen = Box<dyn Generator>;

/// An operation ready to hand to a worker: who runs it, when, and what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOp {
    /// The process that runs it (a free thread's current process, or the nemesis).
    pub process: Process,
    /// The logical time (ns since the test started) it was generated at.
    pub time: u64,
    /// The function: `read`, `write`, `cas`, or a nemesis fault like `start-partition`.
    pub f: String,
    /// The key for keyed workloads; `None` is the single register.
    pub key: Option<Value>,
    /// The argument (`null` for reads, `v` for writes, `[from, to]` for cas).
    pub value: Value,
}

/// An op before it is given a process and a time: what source generators produce.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTemplate {
    /// The function name.
    pub f: String,
    /// The key, if any.
    pub key: Option<Value>,
    /// The argument.
    pub value: Value,
}

impl OpTemplate {
    /// An op `f` with argument `value` and no key.
    pub fn new(f: impl Into<String>, value: Value) -> OpTemplate {
        OpTemplate {
            f: f.into(),
            key: None,
            value,
        }
    }

    /// The same op on `key`.
    pub fn with_key(mut self, key: Value) -> OpTemplate {
        self.key = Some(key);
        self
    }
}

/// What a generator answers when asked for an op.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Run this op now, on the thread of its process (which was free).
    Op(GenOp),
    /// Nothing now: no thread in scope is free, or it is not yet time. Ask again after the next
    /// completion or at [`Context::wake`].
    Pending,
    /// This generator will never produce another op.
    Done,
}

/// A source of operations (Jepsen's generator protocol, with mutable state instead of
/// returning a new generator value).
///
/// Contract: `next` only returns an op for a thread that is free and in [`Context::scope`]
/// (use [`Context::fill`]); returning an op commits the generator to it (the driver
/// dispatches every op it gets). `update` sees every invoke and completion, after the context
/// was updated for it.
pub trait Generator: Send {
    /// The next op, `Pending`, or `Done`.
    fn next(&mut self, ctx: &mut Context) -> Next;

    /// Reacts to an invoke or completion event (default: ignore it).
    fn update(&mut self, _ctx: &Context, _event: &Event) {}
}

impl<G: Generator + ?Sized> Generator for Box<G> {
    fn next(&mut self, ctx: &mut Context) -> Next {
        (**self).next(ctx)
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        (**self).update(ctx, event)
    }
}

/// Nanoseconds in `d`, saturating at `u64::MAX` (about 584 years).
pub(crate) fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
