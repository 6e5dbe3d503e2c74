//! A simulated interpreter for tests (Jepsen's generator test helper): drives a generator in
//! logical time with no runtime, completing every op after a fixed latency, or crashing it as
//! `info` with a seeded probability. The same generator, config and seed give the same history,
//! so tests can assert exact op sequences and rates.

use std::collections::BTreeMap;
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
/// indexed from 0). Reads complete with `null`, other ops with their invoke value; nemesis ops
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
            let kind = match op.process {
                Process::Nemesis => EventType::Info,
                Process::Client(_) if crashes(&mut crash_rng, config.info_probability) => {
                    EventType::Info
                }
                Process::Client(_) => EventType::Ok,
            };
            let value = if op.f == "read" {
                Value::Null
            } else {
                op.value.clone()
            };
            let event = to_event(events.len(), now, &op, kind, value);
            driver.completed(&event);
            events.push(event);
        }
    }
    Err(SimError::TooLong { events })
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
