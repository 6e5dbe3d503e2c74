//! The pure half of the interpreter: a generator plus its context, with the bookkeeping the
//! runner must do in the right order (mark a thread busy when its op is handed out; free it,
//! and retire a crashed process, before the generator sees the completion).

use crate::history::Event;

use super::{Context, Generator, Next};

/// A generator and its context, driven by the runner (or by [`super::sim`] in tests).
///
/// The runner's contract:
/// - time is the monotonic clock in ns since the test started, passed to [`Driver::next`] and
///   carried by every event; the driver never reads a clock;
/// - every op [`Driver::next`] returns must be dispatched, to the worker of its process
///   (`driver.context().thread_of(op.process)`: `Thread::Client(i)` is worker `i`,
///   `Thread::Nemesis` the nemesis task); its thread is already marked busy;
/// - after `Pending`, ask again at [`Driver::wakeup`] (if any) or at the next completion,
///   whichever comes first; after `Done`, stop asking and wait for outstanding ops;
/// - report each invoke with [`Driver::invoked`] and each completion, nemesis ones included,
///   with [`Driver::completed`]: it frees the thread and, for `info`, moves the worker to
///   process `id + C`.
///
/// ```text
/// let mut driver = Driver::new(Box::new(gen), Context::new(concurrency, seed));
/// loop {
///     match driver.next(now_ns()) {
///         Next::Op(op) => dispatch(op),            // to the worker of op.process
///         Next::Pending => wait until driver.wakeup() or the next completion,
///         Next::Done => break,                     // then wait for outstanding ops
///     }
///     // for each event written to the history:
///     //   invoke:     driver.invoked(&event)
///     //   completion: driver.completed(&event)
/// }
/// ```
pub struct Driver {
    gen: Box<dyn Generator>,
    ctx: Context,
}

impl Driver {
    /// Drives `gen` from `ctx` (usually a fresh `Context::new(concurrency, seed)`).
    pub fn new(gen: Box<dyn Generator>, ctx: Context) -> Driver {
        Driver { gen, ctx }
    }

    /// Asks for the next op at time `now` (ns since the test started). An op's thread is
    /// marked busy before this returns, so the runner must dispatch every op it gets.
    pub fn next(&mut self, now: u64) -> Next {
        self.ctx.set_time(now);
        self.ctx.clear_wake();
        let next = self.gen.next(&mut self.ctx);
        if let Next::Op(op) = &next {
            // Generators only emit ops for free threads of current processes (the Generator
            // contract); dispatch returns None only if a generator broke it.
            let dispatched = self.ctx.dispatch(op.process);
            debug_assert!(dispatched.is_some(), "op for a non-current process: {op:?}");
        }
        next
    }

    /// After `Pending`: the time (ns) to ask again even if no op completes first; `None` means
    /// only a completion can unblock the generator.
    pub fn wakeup(&self) -> Option<u64> {
        self.ctx.wake()
    }

    /// Tells the generator an op was invoked (the event as written to the history).
    pub fn invoked(&mut self, event: &Event) {
        self.ctx.set_time(event.time);
        self.gen.update(&self.ctx, event);
    }

    /// Tells the generator an op completed: frees its thread (an `info` completion makes the
    /// thread continue as process + C), then passes the event to the generator.
    pub fn completed(&mut self, event: &Event) {
        self.ctx.set_time(event.time);
        // A nemesis completion is recorded as `info` too; only client processes are retired.
        self.ctx.complete(event.process, event.kind);
        self.gen.update(&self.ctx, event);
    }

    /// The context (time, free threads, processes).
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use crate::generator::sim::{invokes, simulate, SimConfig};
    use crate::generator::{limit, on_clients, repeat, OpTemplate};
    use crate::history::{EventType, Process};

    #[test]
    fn a_crashed_process_is_replaced_by_process_plus_concurrency() {
        let config = SimConfig {
            concurrency: 3,
            info_probability: 1.0,
            latency: Duration::from_nanos(10),
            ..SimConfig::default()
        };
        let gen = on_clients(limit(9, repeat(OpTemplate::new("write", Value::from(1)))));
        let events = simulate(gen, &config).unwrap();
        assert!(events
            .iter()
            .filter(|e| e.kind != EventType::Invoke)
            .all(|e| e.kind == EventType::Info));
        let mut procs: Vec<u64> = invokes(&events)
            .iter()
            .map(|e| match e.process {
                Process::Client(p) => p,
                Process::Nemesis => u64::MAX,
            })
            .collect();
        procs.sort();
        // Every process runs exactly one op: 0..3, then 3..6, then 6..9.
        assert_eq!(procs, (0..9).collect::<Vec<u64>>());
    }

    #[test]
    fn ok_completions_keep_the_process() {
        let config = SimConfig {
            concurrency: 2,
            ..SimConfig::default()
        };
        let gen = on_clients(limit(10, repeat(OpTemplate::new("read", Value::Null))));
        let events = simulate(gen, &config).unwrap();
        assert!(invokes(&events)
            .iter()
            .all(|e| matches!(e.process, Process::Client(0) | Process::Client(1))));
    }
}
