//! A simulated interpreter for tests (Jepsen's generator test helper): drives a generator in
//! logical time with no runtime, completing every op after a fixed latency, or crashing it as
//! `info` with a seeded probability. The same generator, config and seed give the same history,
//! so tests can assert exact op sequences and rates.
//!
//! Ops run against a perfect single-copy store of registers (one per key), applied atomically
//! at completion: `read` returns the value (`null` if never written), `write` sets it, `cas`
//! sets it only if it holds the expected value (else the op fails). A crashed op takes effect
//! or not, at random. Histories it produces are therefore linearizable; other ops complete
//! `ok` with their invoke value.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use serde_json::Value;

use crate::history::{Event, EventType, Process};

use super::{nanos, Context, Driver, GenOp, Generator, Next, Rng};

/// How the simulated workers behave.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Client threads, `C`.
    pub concurrency: usize,
    /// Seeds the generator context (and, derived from it, the crash draws).
    pub seed: u64,
    /// Every op completes this long after its invoke.
    pub latency: Duration,
    /// Probability that a client op completes `info` (crashes) instead of `ok`.
    pub info_probability: f64,
    /// Give up after this many events (keeps endless generators bounded).
    pub max_events: usize,
}

impl Default for SimConfig {
    /// Two threads, seed 0, 10 ns latency (Jepsen's simulator), no crashes, 100,000 events.
    fn default() -> Self {
        SimConfig {
            concurrency: 2,
            seed: 0,
            latency: Duration::from_nanos(10),
            info_probability: 0.0,
            max_events: 100_000,
        }
    }
}

/// Why a simulation stopped before its generator was done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The generator said `Pending` with no op outstanding and no wake-up time: it can never
    /// make progress (a bug in the generator under test).
    #[error("generator stuck at time {time} after {} events: pending with nothing outstanding", events.len())]
    Stuck {
        /// Logical time when it got stuck.
        time: u64,
        /// The history so far.
        events: Vec<Event>,
    },
    /// `max_events` was reached before the generator was done.
    #[error("generator still running after {} events", events.len())]
    TooLong {
        /// The history so far.
        events: Vec<Event>,
    },
}

/// Runs `gen` to completion in logical time and returns the history (invokes and completions,
/// indexed from 0), ops applied to the perfect store (see the module docs); nemesis ops
/// complete `info`.
pub fn simulate(gen: impl Generator + 'static, config: &SimConfig) -> Result<Vec<Event>, SimError> {
    let mut driver = Driver::new(Box::new(gen), Context::new(config.concurrency, config.seed));
    let mut crash_rng = Rng::seed_from_u64(config.seed ^ 0x5eed_c4a5);
    let latency = nanos(config.latency).max(1);
    let mut events: Vec<Event> = Vec::new();
    // Outstanding ops by (completion time, invoke index): completed in that order.
    let mut inflight: BTreeMap<(u64, u64), GenOp> = BTreeMap::new();
    let mut now = 0u64;
    let mut done = false;
    let mut store = Store::default();
    // Every pass emits, completes or advances time; max_events bounds them all.
    for _ in 0..config.max_events.saturating_mul(4).max(16) {
        while !done && events.len() < config.max_events {
            match driver.next(now) {
                Next::Op(op) => {
                    let event =
                        to_event(events.len(), now, &op, EventType::Invoke, op.value.clone());
                    driver.invoked(&event);
                    inflight.insert((now + latency, event.index), op);
                    events.push(event);
                }
                Next::Pending => break,
                Next::Done => done = true,
            }
        }
        if events.len() >= config.max_events {
            return Err(SimError::TooLong { events });
        }
        let completion = inflight.keys().next().map(|(t, _)| *t);
        let wake = if done {
            None
        } else {
            driver.wakeup().map(|w| w.max(now + 1))
        };
        now = match (completion, wake) {
            (Some(c), Some(w)) => c.min(w),
            (Some(c), None) => c,
            (None, Some(w)) => w,
            (None, None) if done => return Ok(events),
            (None, None) => return Err(SimError::Stuck { time: now, events }),
        };
        while let Some(entry) = inflight.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let op = entry.remove();
            let (kind, value) = match op.process {
                Process::Nemesis => (EventType::Info, op.value.clone()),
                Process::Client(_) if crashes(&mut crash_rng, config.info_probability) => {
                    if crash_rng.random_bool(0.5) {
                        store.apply(&op);
                    }
                    (EventType::Info, op.value.clone())
                }
                Process::Client(_) => store.apply(&op),
            };
            let event = to_event(events.len(), now, &op, kind, value);
            driver.completed(&event);
            events.push(event);
        }
    }
    Err(SimError::TooLong { events })
}

/// The perfect store: one register per key (`None` is the single register).
#[derive(Default)]
struct Store {
    registers: HashMap<String, Value>,
}

impl Store {
    /// Runs `op` atomically; its completion type and value.
    fn apply(&mut self, op: &GenOp) -> (EventType, Value) {
        let key = op.key.as_ref().map_or_else(String::new, Value::to_string);
        match op.f.as_str() {
            "read" => (
                EventType::Ok,
                self.registers.get(&key).cloned().unwrap_or(Value::Null),
            ),
            "write" => {
                self.registers.insert(key, op.value.clone());
                (EventType::Ok, op.value.clone())
            }
            "cas" => match op.value.as_array().map(Vec::as_slice) {
                Some([from, to]) if self.registers.get(&key) == Some(from) => {
                    self.registers.insert(key, to.clone());
                    (EventType::Ok, op.value.clone())
                }
                _ => (EventType::Fail, op.value.clone()),
            },
            _ => (EventType::Ok, op.value.clone()),
        }
    }
}

/// Draws whether an op crashes; probabilities outside `(0, 1]` (or NaN) never/always crash.
fn crashes(rng: &mut Rng, p: f64) -> bool {
    if p.is_nan() || p <= 0.0 {
        false
    } else {
        p >= 1.0 || rng.random_bool(p)
    }
}

fn to_event(index: usize, time: u64, op: &GenOp, kind: EventType, value: Value) -> Event {
    Event {
        index: index as u64,
        time,
        process: op.process,
        kind,
        f: op.f.clone(),
        key: op.key.clone(),
        value,
        node: None,
        error: None,
    }
}

/// The invoke events of a history, for asserting op sequences.
pub fn invokes(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| e.kind == EventType::Invoke)
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::generator::{
        any, independent, limit, mix, on_clients, on_nemesis, repeat, stagger, time_limit, BoxGen,
        OpTemplate,
    };

    /// A generator that is never ready and never asks to be woken.
    struct Never;

    impl Generator for Never {
        fn next(&mut self, _ctx: &mut Context) -> Next {
            Next::Pending
        }
    }

    /// Clients on random keys with a random mix and random gaps, plus a nemesis: every source
    /// of randomness the generators have.
    fn busy_test() -> impl Generator {
        let clients = independent(2, 10, |_key| -> BoxGen {
            Box::new(mix(vec![
                (
                    1.0,
                    Box::new(repeat(OpTemplate::new("read", Value::Null))) as BoxGen,
                ),
                (
                    2.0,
                    Box::new(repeat(OpTemplate::new("write", Value::from(1)))),
                ),
            ]))
        });
        time_limit(
            Duration::from_micros(20),
            any(vec![
                Box::new(on_clients(stagger(Duration::from_nanos(20), clients))),
                Box::new(on_nemesis(stagger(
                    Duration::from_micros(2),
                    repeat(OpTemplate::new("kill", Value::Null)),
                ))),
            ]),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn same_seed_gives_the_same_history(seed in proptest::arbitrary::any::<u64>(), c in 1usize..6, crash in 0.0f64..0.5) {
            let config = SimConfig { concurrency: c, seed, info_probability: crash, ..SimConfig::default() };
            let a = simulate(busy_test(), &config).unwrap();
            let b = simulate(busy_test(), &config).unwrap();
            prop_assert!(!a.is_empty());
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn different_seeds_give_different_histories() {
        let run = |seed| {
            let config = SimConfig {
                concurrency: 3,
                seed,
                ..SimConfig::default()
            };
            simulate(busy_test(), &config).unwrap()
        };
        assert_ne!(run(1), run(2));
    }

    #[test]
    fn history_indexes_count_up_and_every_invoke_completes() {
        let config = SimConfig {
            concurrency: 3,
            info_probability: 0.3,
            seed: 4,
            ..SimConfig::default()
        };
        let events = simulate(busy_test(), &config).unwrap();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.index, i as u64);
        }
        assert_eq!(invokes(&events).len() * 2, events.len());
        assert!(events.windows(2).all(|w| w[0].time <= w[1].time));
    }

    #[test]
    fn a_generator_that_can_never_go_is_reported_stuck() {
        match simulate(Never, &SimConfig::default()) {
            Err(SimError::Stuck { time: 0, events }) => assert!(events.is_empty()),
            other => panic!("expected Stuck, got {other:?}"),
        }
    }

    #[test]
    fn an_endless_generator_is_cut_at_max_events() {
        let config = SimConfig {
            max_events: 100,
            ..SimConfig::default()
        };
        let gen = on_clients(limit(
            u64::MAX,
            repeat(OpTemplate::new("read", Value::Null)),
        ));
        match simulate(gen, &config) {
            Err(SimError::TooLong { events }) => assert_eq!(events.len(), 100),
            other => panic!("expected TooLong, got {other:?}"),
        }
    }
}
