//! The op sources of Jepsen's classic workloads: set, counter, bank and unique ids. Pure and
//! seeded: each draws from the generator context's RNG only.
//!
//! - set: `add` of the next integer (1, 2, ...; unique across the whole test) or a `read`.
//! - counter: `add` of a uniform integer in `1..=max_increment`, or a `read`.
//! - bank: `transfer` `{"from": a, "to": b, "amount": n}` between two different accounts, or a
//!   `read` of every balance.
//! - unique-ids: `generate` (value `null`; the id arrives on the completion).
//! - kafka: `send` of the next integer (unique across the test) to a key of
//!   [`KAFKA_KEYS`], `poll`, `commit_offsets` or `list_committed_offsets` (value `null`: the
//!   client knows its positions, see `crate::maelstrom::kafka`), weighted 5:3:1:1.
//!
//! None of these ops carries a key: the client profile knows where each lives.

use rand::RngExt;
use serde_json::{json, Value};

use super::kind::{BankParams, CounterParams, SetParams, KAFKA_KEYS};
use crate::generator::{from_fn, BoxGen, OpTemplate, Rng};

/// `a` with weight `wa`, else `b` (weights non-negative, not both zero).
fn pick(rng: &mut Rng, wa: f64, wb: f64) -> bool {
    let total = wa + wb;
    total > 0.0 && rng.random_range(0.0..total) < wa
}

/// A read of the whole state (value `null` on invoke).
fn read() -> OpTemplate {
    OpTemplate::new("read", Value::Null)
}

/// Set adds and reads, endless.
pub fn set_ops(p: SetParams) -> BoxGen {
    let mut next = 0i64;
    Box::new(from_fn(move |rng| {
        Some(if pick(rng, p.add, p.read) {
            next += 1;
            OpTemplate::new("add", Value::from(next))
        } else {
            read()
        })
    }))
}

/// Counter increments and reads, endless.
pub fn counter_ops(p: CounterParams) -> BoxGen {
    Box::new(from_fn(move |rng| {
        Some(if pick(rng, p.add, p.read) {
            let n = rng.random_range(1..=p.max_increment);
            // The sign is drawn only for negative deltas, so other streams stay the same.
            let n = if p.negative_deltas && rng.random_bool(0.5) {
                -n
            } else {
                n
            };
            OpTemplate::new("add", Value::from(n))
        } else {
            read()
        })
    }))
}

/// Bank transfers and reads, endless.
pub fn bank_ops(p: BankParams) -> BoxGen {
    Box::new(from_fn(move |rng| {
        Some(if p.accounts >= 2 && pick(rng, p.transfer, p.read) {
            let from = rng.random_range(0..p.accounts);
            // Any other account, uniformly.
            let to = (from + rng.random_range(1..p.accounts)) % p.accounts;
            let amount = rng.random_range(1..=p.max_transfer);
            OpTemplate::new(
                "transfer",
                json!({ "from": from, "to": to, "amount": amount }),
            )
        } else {
            read()
        })
    }))
}

/// Id requests, endless.
pub fn unique_id_ops() -> BoxGen {
    Box::new(from_fn(|_rng| {
        Some(OpTemplate::new("generate", Value::Null))
    }))
}

/// Kafka sends, polls and offset commits and lists, endless.
pub fn kafka_ops() -> BoxGen {
    let mut next = 0i64;
    Box::new(from_fn(move |rng| {
        let pick = rng.random_range(0..10);
        Some(match pick {
            0..=4 => {
                next += 1;
                let key = KAFKA_KEYS[rng.random_range(0..KAFKA_KEYS.len())];
                OpTemplate {
                    f: "send".into(),
                    key: Some(Value::from(key)),
                    value: Value::from(next),
                }
            }
            5..=7 => OpTemplate::new("poll", Value::Null),
            8 => OpTemplate::new("commit_offsets", Value::Null),
            _ => OpTemplate::new("list_committed_offsets", Value::Null),
        })
    }))
}

/// The final read of a set, counter or bank: one read of the whole state.
pub fn final_read() -> OpTemplate {
    read()
}
