//! Independent keys: threads rotate through fresh keys, a bounded number of ops per key, so
//! each key's sub-history stays small enough to check quickly (Jepsen's
//! `independent/concurrent-generator`).
//!
//! Design (Jepsen's concurrent generator): the client threads in scope are split into `groups`
//! contiguous groups (group `g` holds threads `g*s .. (g+1)*s` with `s = C / groups`, the last
//! group also takes the remainder). Each group works on one key at a time with its own
//! generator from the factory, limited to `ops_per_key` ops; when that is done the group takes
//! the next fresh key. Keys are the integers 0, 1, 2, ... in the order groups take them, so
//! every key gets at most `ops_per_key` ops from at most `s` threads (plus the processes that
//! replaced crashed ones on those threads), and the keys used so far are exactly
//! `0..KeyCounter::get()`.
//!
//! **Staggered keys.** The first key of group `g` (of `G`) gets `ops_per_key * (g + 1) / G`
//! ops, every later key the full `ops_per_key`. Groups run at about the same rate, so without
//! this they would all retire their keys at the same moment; staggered, some key is always
//! mid-life. That matters for finding bugs: a write lost in an election, or a deposed
//! leader's answer, shows only to a later op on the same key, and keys that all retire just
//! after a fault hide it (measured in docs/detection.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::history::Event;

use super::{limit, BoxGen, Context, Generator, Limit, Next, Scope, Thread};

/// How many keys an [`Independent`] generator has started; shared with the final-read
/// generator, which reads every key used. (Plain shared state, no I/O: the counter only grows.)
#[derive(Debug, Clone, Default)]
pub struct KeyCounter(Arc<AtomicU64>);

impl KeyCounter {
    /// A counter at zero.
    pub fn new() -> KeyCounter {
        KeyCounter::default()
    }

    /// Keys started so far: the keys used are `0..get()`.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, n: u64) {
        self.0.store(n, Ordering::SeqCst)
    }
}

struct Group {
    scope: Scope,
    key: u64,
    gen: Option<Limit<BoxGen>>,
    /// Keys taken so far (the first one is shortened to stagger the groups).
    taken: u64,
}

/// Threads in groups, each group on one key at a time; see the module docs.
pub struct Independent<F> {
    groups_wanted: usize,
    ops_per_key: u64,
    max_keys: Option<u64>,
    factory: F,
    groups: Vec<Group>,
    next_key: u64,
    counter: KeyCounter,
    start: usize,
}

/// Ops on independent keys: `groups` groups of client threads (at most one per thread), each
/// running `factory(key)` limited to `ops_per_key` ops per key; ops carry `key` (an integer).
/// Endless unless [`Independent::max_keys`] bounds the key count.
pub fn independent<F>(groups: usize, ops_per_key: u64, factory: F) -> Independent<F>
where
    F: FnMut(u64) -> BoxGen + Send,
{
    Independent {
        groups_wanted: groups.max(1),
        ops_per_key,
        max_keys: None,
        factory,
        groups: Vec::new(),
        next_key: 0,
        counter: KeyCounter::new(),
        start: 0,
    }
}

impl<F> Independent<F>
where
    F: FnMut(u64) -> BoxGen + Send,
{
    /// Stop after `n` keys have been used (done when all of them are).
    pub fn max_keys(mut self, n: u64) -> Self {
        self.max_keys = Some(n);
        self
    }

    /// Shares `counter` as this generator's count of keys started.
    pub fn with_counter(mut self, counter: KeyCounter) -> Self {
        self.counter = counter;
        self
    }

    /// The count of keys started so far, to hand to the final generator.
    pub fn counter(&self) -> KeyCounter {
        self.counter.clone()
    }

    /// Splits the client threads in scope into groups (once, at the first ask).
    fn form_groups(&mut self, ctx: &Context) {
        let clients: Vec<usize> = ctx
            .threads_in_scope()
            .filter_map(|t| match t {
                Thread::Client(i) => Some(i),
                Thread::Nemesis => None,
            })
            .collect();
        let (Some(&first), Some(&last)) = (clients.first(), clients.last()) else {
            return;
        };
        let n = clients.len();
        let count = self.groups_wanted.min(n);
        let size = n / count;
        for g in 0..count {
            let start = first + g * size;
            let end = if g + 1 == count {
                last + 1
            } else {
                start + size
            };
            self.groups.push(Group {
                scope: Scope::clients(start, end),
                key: 0,
                gen: None,
                taken: 0,
            });
        }
    }

    /// Gives group `g` the next fresh key; false when the key budget is spent.
    fn take_key(&mut self, g: usize) -> bool {
        if self.max_keys.is_some_and(|m| self.next_key >= m) {
            return false;
        }
        let key = self.next_key;
        self.next_key += 1;
        self.counter.set(self.next_key);
        let groups = self.groups.len() as u64;
        let group = &mut self.groups[g];
        let ops = if group.taken == 0 {
            staggered_first_key(self.ops_per_key, g as u64, groups)
        } else {
            self.ops_per_key
        };
        group.taken += 1;
        group.key = key;
        group.gen = Some(limit(ops, (self.factory)(key)));
        true
    }
}

/// Ops for group `g`'s first key out of `groups`: `ops_per_key * (g + 1) / groups`, at least
/// one (see the module docs).
fn staggered_first_key(ops_per_key: u64, g: u64, groups: u64) -> u64 {
    (ops_per_key.saturating_mul(g + 1) / groups.max(1)).max(1)
}

impl<F> Generator for Independent<F>
where
    F: FnMut(u64) -> BoxGen + Send,
{
    fn next(&mut self, ctx: &mut Context) -> Next {
        if self.groups.is_empty() {
            self.form_groups(ctx);
            if self.groups.is_empty() {
                return Next::Done;
            }
        }
        let n = self.groups.len();
        let mut pending = false;
        for k in 0..n {
            let g = (self.start + k) % n;
            if self.groups[g].gen.is_none() && !self.take_key(g) {
                continue;
            }
            // Two tries: the group's current key, then (if it just ran out) one fresh key.
            for _ in 0..2 {
                let group = &mut self.groups[g];
                let Some(gen) = group.gen.as_mut() else {
                    break;
                };
                match ctx.scoped(group.scope, |ctx| gen.next(ctx)) {
                    Next::Op(mut op) => {
                        op.key = Some(Value::from(group.key));
                        self.start = (g + 1) % n;
                        return Next::Op(op);
                    }
                    Next::Pending => {
                        pending = true;
                        break;
                    }
                    Next::Done => {
                        group.gen = None;
                        if !self.take_key(g) {
                            break;
                        }
                    }
                }
            }
        }
        if pending || self.groups.iter().any(|g| g.gen.is_some()) {
            Next::Pending
        } else {
            Next::Done
        }
    }

    fn update(&mut self, ctx: &Context, event: &Event) {
        let Some(key) = event.key.as_ref().and_then(Value::as_u64) else {
            return;
        };
        if let Some(gen) = self
            .groups
            .iter_mut()
            .find(|g| g.key == key)
            .and_then(|g| g.gen.as_mut())
        {
            gen.update(ctx, event)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::generator::sim::{invokes, simulate, SimConfig};
    use crate::generator::{on_clients, repeat, time_limit, OpTemplate};
    use crate::history::Process;

    fn reads(_key: u64) -> BoxGen {
        Box::new(repeat(OpTemplate::new("read", Value::Null)))
    }

    /// Invokes per key, and the set of threads that touched each key.
    fn per_key(
        events: &[Event],
        c: u64,
    ) -> BTreeMap<u64, (usize, std::collections::BTreeSet<u64>)> {
        let mut keys: BTreeMap<u64, (usize, std::collections::BTreeSet<u64>)> = BTreeMap::new();
        for e in invokes(events) {
            let key = e
                .key
                .as_ref()
                .and_then(Value::as_u64)
                .expect("every op has a key");
            let Process::Client(p) = e.process else {
                panic!("nemesis op {e:?}");
            };
            let entry = keys.entry(key).or_default();
            entry.0 += 1;
            entry.1.insert(p % c);
        }
        keys
    }

    #[test]
    fn first_keys_are_staggered_then_each_key_gets_ops_per_key_from_one_group() {
        assert_eq!(staggered_first_key(300, 0, 2), 150);
        assert_eq!(staggered_first_key(300, 1, 2), 300);
        assert_eq!(staggered_first_key(1, 0, 3), 1);
        // 6 threads in 3 groups of 2; 10 keys: the groups' first keys take 3, 6 and 9 ops,
        // every later key 9.
        let config = SimConfig {
            concurrency: 6,
            seed: 3,
            ..SimConfig::default()
        };
        let gen = independent(3, 9, reads).max_keys(10);
        let counter = gen.counter();
        let events = simulate(on_clients(gen), &config).unwrap();
        let keys = per_key(&events, 6);
        assert_eq!(
            keys.keys().copied().collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        let mut firsts: Vec<usize> = keys.values().take(3).map(|(n, _)| *n).collect();
        firsts.sort();
        assert_eq!(firsts, [3, 6, 9], "the first three keys, one per group");
        for (key, (n, threads)) in keys.iter().skip(3) {
            assert_eq!(*n, 9, "key {key}");
            let group: Vec<u64> = threads.iter().map(|t| t / 2).collect();
            assert!(
                group.iter().all(|g| *g == group[0]),
                "key {key} touched by {threads:?}"
            );
        }
        assert_eq!(counter.get(), 10);
    }

    #[test]
    fn endless_keys_stay_bounded_under_a_time_limit_and_crashes() {
        for seed in 0..4 {
            let config = SimConfig {
                concurrency: 5,
                seed,
                info_probability: 0.2,
                ..SimConfig::default()
            };
            let gen = independent(2, 7, reads);
            let counter = gen.counter();
            let gen = on_clients(time_limit(Duration::from_micros(5), gen));
            let events = simulate(gen, &config).unwrap();
            let keys = per_key(&events, 5);
            // Groups {0, 1} and {2, 3, 4}: a key is worked by one group only.
            for (key, (n, threads)) in &keys {
                assert!(*n <= 7, "seed {seed} key {key}: {n} ops");
                let lows = threads.iter().filter(|t| **t < 2).count();
                assert!(
                    lows == 0 || lows == threads.len(),
                    "seed {seed} key {key}: {threads:?}"
                );
            }
            assert_eq!(counter.get() as usize, keys.len(), "seed {seed}");
            assert!(keys.len() > 10, "seed {seed}: only {} keys", keys.len());
        }
    }

    #[test]
    fn more_groups_than_threads_gives_one_thread_per_key() {
        let config = SimConfig {
            concurrency: 2,
            ..SimConfig::default()
        };
        let gen = independent(8, 3, reads).max_keys(4);
        let events = simulate(on_clients(gen), &config).unwrap();
        let keys = per_key(&events, 2);
        assert_eq!(keys.len(), 4);
        assert!(keys.values().all(|(_, threads)| threads.len() == 1));
        // The two groups' first keys are staggered (1 and 3 ops), later keys take 3.
        let mut counts: Vec<usize> = keys.values().map(|(n, _)| *n).collect();
        counts.sort();
        assert_eq!(counts, [1, 3, 3, 3]);
    }
}
