//! The generator context: logical time, which threads are free, each thread's process id, the
//! seeded RNG, and the scope (which threads the generator being asked may use).
//!
//! Threads are fixed slots: client threads `0..C` and one nemesis thread. A process is the
//! logical client a thread currently runs as; when an op ends `info` the thread continues as
//! process `id + C` (DESIGN.md), so a crashed process never invokes again.

use rand::RngExt;
use rand::SeedableRng;

use crate::history::{EventType, Process};

use super::{GenOp, OpTemplate, Rng};

/// A worker slot: one of the `C` client threads, or the single nemesis thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Thread {
    /// Client thread `i` in `0..concurrency`.
    Client(usize),
    /// The thread that runs fault ops.
    Nemesis,
}

/// Which threads a generator may emit ops for: a range of client threads plus, or not, the
/// nemesis thread. Routing combinators (on-clients, each-thread, independent key groups)
/// narrow it; narrowing always intersects, so nested routing composes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// First client thread in scope.
    pub start: usize,
    /// One past the last client thread in scope (`start == end`: no clients).
    pub end: usize,
    /// Whether the nemesis thread is in scope.
    pub nemesis: bool,
}

impl Scope {
    /// Every thread (clients and nemesis).
    pub const ALL: Scope = Scope {
        start: 0,
        end: usize::MAX,
        nemesis: true,
    };
    /// Client threads only.
    pub const CLIENTS: Scope = Scope {
        start: 0,
        end: usize::MAX,
        nemesis: false,
    };
    /// The nemesis thread only.
    pub const NEMESIS: Scope = Scope {
        start: 0,
        end: 0,
        nemesis: true,
    };

    /// Client threads `start..end` only.
    pub fn clients(start: usize, end: usize) -> Scope {
        Scope {
            start,
            end,
            nemesis: false,
        }
    }

    /// The threads in both scopes.
    pub fn intersect(self, other: Scope) -> Scope {
        let start = self.start.max(other.start);
        Scope {
            start,
            end: self.end.min(other.end).max(start),
            nemesis: self.nemesis && other.nemesis,
        }
    }

    /// Whether `thread` is in this scope.
    pub fn contains(self, thread: Thread) -> bool {
        match thread {
            Thread::Client(i) => self.start <= i && i < self.end,
            Thread::Nemesis => self.nemesis,
        }
    }
}

/// What a generator sees when asked for an op: time, free threads, processes, the RNG.
///
/// The runner owns one (through [`super::Driver`]) and advances its time from the monotonic
/// clock; tests advance it from a simulated clock ([`super::sim`]). Generators read it and draw
/// randomness from it; only the driver changes which threads are busy.
#[derive(Debug, Clone)]
pub struct Context {
    time: u64,
    processes: Vec<u64>,
    busy: Vec<bool>,
    nemesis_busy: bool,
    scope: Scope,
    wake: Option<u64>,
    rng: Rng,
}

impl Context {
    /// A context at time 0 with `concurrency` free client threads (processes `0..C`), a free
    /// nemesis thread, and an RNG seeded with `seed`.
    pub fn new(concurrency: usize, seed: u64) -> Context {
        Context {
            time: 0,
            processes: (0..concurrency as u64).collect(),
            busy: vec![false; concurrency],
            nemesis_busy: false,
            scope: Scope::ALL,
            wake: None,
            rng: Rng::seed_from_u64(seed),
        }
    }

    /// The number of client threads, `C`.
    pub fn concurrency(&self) -> usize {
        self.processes.len()
    }

    /// Logical time in nanoseconds since the test started.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// Moves logical time forward to `now` (never backwards: a stale stamp is ignored).
    pub fn set_time(&mut self, now: u64) {
        self.time = self.time.max(now);
    }

    /// The seeded RNG every random choice draws from (never `thread_rng`).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Swaps the context's RNG with `rng`; [`super::with_rng`] uses it to give a generator its
    /// own stream.
    pub(crate) fn swap_rng(&mut self, rng: &mut Rng) {
        std::mem::swap(&mut self.rng, rng);
    }

    /// The threads the generator being asked may use.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Runs `f` with the scope narrowed to `scope` (intersected with the current one), then
    /// restores it.
    pub(crate) fn scoped<T>(&mut self, scope: Scope, f: impl FnOnce(&mut Context) -> T) -> T {
        let saved = self.scope;
        self.scope = saved.intersect(scope);
        let out = f(self);
        self.scope = saved;
        out
    }

    /// Records that a generator returning `Pending` could go at time `at`; the runner sleeps
    /// until the earliest such time (or the next completion).
    pub fn wake_at(&mut self, at: u64) {
        self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
    }

    /// The earliest time a pending generator asked to be woken at, since the last
    /// [`Context::clear_wake`].
    pub fn wake(&self) -> Option<u64> {
        self.wake
    }

    /// Forgets the wake-up time; the driver calls it before each ask.
    pub fn clear_wake(&mut self) {
        self.wake = None;
    }

    /// Client thread indices in scope, clipped to `0..C`.
    fn client_range(&self) -> std::ops::Range<usize> {
        let end = self.scope.end.min(self.concurrency());
        self.scope.start.min(end)..end
    }

    /// Every thread in scope (clients in order, then the nemesis), busy or not.
    pub fn threads_in_scope(&self) -> impl Iterator<Item = Thread> + '_ {
        self.client_range()
            .map(Thread::Client)
            .chain(self.scope.nemesis.then_some(Thread::Nemesis))
    }

    /// Whether `thread` has no op outstanding.
    pub fn is_free(&self, thread: Thread) -> bool {
        match thread {
            Thread::Client(i) => !self.busy.get(i).copied().unwrap_or(true),
            Thread::Nemesis => !self.nemesis_busy,
        }
    }

    /// Free threads in scope, clients in order then the nemesis.
    pub fn free_threads(&self) -> impl Iterator<Item = Thread> + '_ {
        self.threads_in_scope().filter(|t| self.is_free(*t))
    }

    /// Whether some thread in scope is free.
    pub fn any_free(&self) -> bool {
        self.free_threads().next().is_some()
    }

    /// Whether every thread in scope is free: nothing outstanding (phases wait on this).
    pub fn all_free(&self) -> bool {
        self.threads_in_scope().all(|t| self.is_free(t))
    }

    /// The process thread `thread` currently runs as.
    pub fn process_of(&self, thread: Thread) -> Process {
        match thread {
            Thread::Client(i) => {
                Process::Client(self.processes.get(i).copied().unwrap_or(i as u64))
            }
            Thread::Nemesis => Process::Nemesis,
        }
    }

    /// The thread that runs `process`, if it is a current process (not one retired by `info`).
    pub fn thread_of(&self, process: Process) -> Option<Thread> {
        match process {
            Process::Nemesis => Some(Thread::Nemesis),
            Process::Client(p) => {
                let c = self.concurrency() as u64;
                if c == 0 {
                    return None;
                }
                let i = (p % c) as usize;
                (self.processes[i] == p).then_some(Thread::Client(i))
            }
        }
    }

    /// The thread slot `process` belongs to (`p mod C` for clients), whether or not it is still
    /// current: routing combinators use it to deliver a retired process's `info` completion.
    pub fn thread_index(&self, process: Process) -> Option<Thread> {
        match process {
            Process::Nemesis => Some(Thread::Nemesis),
            Process::Client(p) => {
                let c = self.concurrency() as u64;
                (c > 0).then(|| Thread::Client((p % c) as usize))
            }
        }
    }

    /// A random free thread in scope, drawn from the RNG; `None` when none is free.
    pub fn some_free_thread(&mut self) -> Option<Thread> {
        let n = self.free_threads().count();
        let k = match n {
            0 => return None,
            1 => 0,
            n => self.rng.random_range(0..n),
        };
        self.free_threads().nth(k)
    }

    /// Turns a template into an op for a random free thread in scope, stamped with the current
    /// time; `None` when no thread in scope is free.
    pub fn fill(&mut self, template: OpTemplate) -> Option<GenOp> {
        let thread = self.some_free_thread()?;
        Some(GenOp {
            process: self.process_of(thread),
            time: self.time,
            f: template.f,
            key: template.key,
            value: template.value,
        })
    }

    /// Marks the thread of `process` busy: its op was handed to a worker. Returns the thread,
    /// or `None` if `process` is not current (a bug in the caller).
    pub fn dispatch(&mut self, process: Process) -> Option<Thread> {
        let thread = self.thread_of(process)?;
        match thread {
            Thread::Client(i) => self.busy[i] = true,
            Thread::Nemesis => self.nemesis_busy = true,
        }
        Some(thread)
    }

    /// Frees the thread of `process` after its completion of type `kind`. A client op that
    /// ended `info` retires the process: the thread continues as `process + C`. Returns the
    /// thread, or `None` if `process` is not current.
    pub fn complete(&mut self, process: Process, kind: EventType) -> Option<Thread> {
        let thread = self.thread_of(process)?;
        match thread {
            Thread::Client(i) => {
                self.busy[i] = false;
                if kind == EventType::Info {
                    self.processes[i] += self.concurrency() as u64;
                }
            }
            Thread::Nemesis => self.nemesis_busy = false,
        }
        Some(thread)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_completion_moves_the_thread_to_process_plus_concurrency() {
        let mut ctx = Context::new(3, 0);
        assert_eq!(ctx.dispatch(Process::Client(1)), Some(Thread::Client(1)));
        assert!(!ctx.is_free(Thread::Client(1)));
        ctx.complete(Process::Client(1), EventType::Info);
        assert!(ctx.is_free(Thread::Client(1)));
        assert_eq!(ctx.process_of(Thread::Client(1)), Process::Client(4));
        // The retired process is no longer current, but still belongs to thread 1.
        assert_eq!(ctx.thread_of(Process::Client(1)), None);
        assert_eq!(ctx.thread_of(Process::Client(4)), Some(Thread::Client(1)));
        assert_eq!(
            ctx.thread_index(Process::Client(1)),
            Some(Thread::Client(1))
        );
        // ok and fail keep the process.
        ctx.dispatch(Process::Client(4));
        ctx.complete(Process::Client(4), EventType::Fail);
        assert_eq!(ctx.process_of(Thread::Client(1)), Process::Client(4));
    }

    #[test]
    fn nemesis_completion_frees_the_nemesis_thread_without_retiring_anything() {
        let mut ctx = Context::new(2, 0);
        ctx.dispatch(Process::Nemesis);
        assert!(!ctx.is_free(Thread::Nemesis));
        ctx.complete(Process::Nemesis, EventType::Info);
        assert!(ctx.is_free(Thread::Nemesis));
        assert_eq!(ctx.process_of(Thread::Client(0)), Process::Client(0));
    }

    #[test]
    fn scopes_intersect_and_limit_free_threads() {
        let cases = [
            (
                Scope::ALL,
                vec![
                    Thread::Client(0),
                    Thread::Client(1),
                    Thread::Client(2),
                    Thread::Nemesis,
                ],
            ),
            (
                Scope::CLIENTS,
                vec![Thread::Client(0), Thread::Client(1), Thread::Client(2)],
            ),
            (Scope::NEMESIS, vec![Thread::Nemesis]),
            (Scope::clients(1, 2), vec![Thread::Client(1)]),
            (Scope::clients(5, 9), vec![]),
        ];
        for (i, (scope, want)) in cases.into_iter().enumerate() {
            let mut ctx = Context::new(3, 0);
            let got: Vec<Thread> = ctx.scoped(scope, |ctx| ctx.free_threads().collect());
            assert_eq!(got, want, "case {i}");
            // The scope is restored afterwards.
            assert_eq!(ctx.scope(), Scope::ALL, "case {i}");
        }
        let nested = Scope::clients(0, 2).intersect(Scope::clients(1, 3));
        assert_eq!(nested, Scope::clients(1, 2));
        assert_eq!(Scope::CLIENTS.intersect(Scope::NEMESIS).end, 0);
    }

    #[test]
    fn fill_picks_only_free_threads_and_stamps_the_time() {
        let mut ctx = Context::new(2, 7);
        ctx.set_time(50);
        ctx.set_time(10); // never backwards
        ctx.dispatch(Process::Client(0));
        ctx.dispatch(Process::Nemesis);
        for _ in 0..20 {
            let op = ctx.fill(OpTemplate::new("read", serde_json::Value::Null));
            let op = op.expect("thread 1 is free");
            assert_eq!(op.process, Process::Client(1));
            assert_eq!(op.time, 50);
        }
        ctx.dispatch(Process::Client(1));
        assert!(ctx
            .fill(OpTemplate::new("read", serde_json::Value::Null))
            .is_none());
        assert!(!ctx.any_free());
    }

    #[test]
    fn wake_keeps_the_earliest_time() {
        let mut ctx = Context::new(1, 0);
        assert_eq!(ctx.wake(), None);
        ctx.wake_at(30);
        ctx.wake_at(20);
        ctx.wake_at(40);
        assert_eq!(ctx.wake(), Some(20));
        ctx.clear_wake();
        assert_eq!(ctx.wake(), None);
    }
}
