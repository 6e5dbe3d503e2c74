//! The op source of the transactional workloads (Elle's list-append and rw-register): each op
//! is `f: "txn"` with a list of micro-ops over a small pool of active keys.
//!
//! Keys are decimal strings `"0"`, `"1"`, ...; `key_count` of them are active at once. A
//! micro-op picks an active key (uniformly, or exponentially favouring the first ones), then
//! reads it (`["r", k, null]`) with probability `read_fraction`, else appends to it
//! (`["append", k, v]`, list-append) or writes it (`["w", k, v]`, rw-register). Values are
//! unique per key (1, 2, 3, ... for each key), so every read names the writes it saw. After
//! `max_writes_per_key` writes a key retires and the next fresh key takes its slot, so lists
//! stay short and the checker's work per key bounded.

use rand::RngExt;
use serde_json::{json, Value};

use super::kind::{KeyDistribution, TxnParams};
use crate::generator::{Context, Generator, Next, OpTemplate};

/// Whether writes append to lists or overwrite registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnStyle {
    /// `["append", k, v]` (list-append).
    Append,
    /// `["w", k, v]` (rw-register).
    Write,
}

/// Transactions over a rotating pool of keys; see the module docs.
pub struct TxnOps {
    params: TxnParams,
    style: TxnStyle,
    /// Active keys: (key number, writes issued to it so far).
    active: Vec<(u64, u64)>,
    /// The next fresh key number.
    next_key: u64,
}

impl TxnOps {
    /// A source with `params`, appending or writing per `style`.
    pub fn new(params: TxnParams, style: TxnStyle) -> TxnOps {
        let count = params.key_count.max(1);
        TxnOps {
            params,
            style,
            active: (0..count).map(|k| (k, 0)).collect(),
            next_key: count,
        }
    }

    /// The slot of the key a micro-op works on.
    fn slot(&self, ctx: &mut Context) -> usize {
        let n = self.active.len();
        match self.params.distribution {
            KeyDistribution::Uniform => ctx.rng().random_range(0..n),
            KeyDistribution::Exponential => {
                // P(i) ∝ 2^-i: draw u in [0, 2 - 2^(1-n)) and take i = floor(-log2(1 - u/2)).
                let top = 2.0 - 2f64.powi(1 - n as i32);
                let u: f64 = ctx.rng().random_range(0.0..top);
                let i = (-(1.0 - u / 2.0).log2()).floor() as usize;
                i.min(n - 1)
            }
        }
    }

    fn template(&mut self, ctx: &mut Context) -> OpTemplate {
        let (lo, hi) = (self.params.min_txn_length, self.params.max_txn_length);
        let len = ctx.rng().random_range(lo..=hi);
        let mut ops = Vec::with_capacity(len as usize);
        for _ in 0..len {
            let slot = self.slot(ctx);
            let key = self.active[slot].0.to_string();
            if ctx.rng().random_bool(self.params.read_fraction) {
                ops.push(json!(["r", key, Value::Null]));
                continue;
            }
            self.active[slot].1 += 1;
            let value = self.active[slot].1;
            let f = match self.style {
                TxnStyle::Append => "append",
                TxnStyle::Write => "w",
            };
            ops.push(json!([f, key, value]));
            if self.active[slot].1 >= self.params.max_writes_per_key {
                self.active[slot] = (self.next_key, 0);
                self.next_key += 1;
            }
        }
        OpTemplate::new("txn", Value::Array(ops))
    }
}

impl Generator for TxnOps {
    fn next(&mut self, ctx: &mut Context) -> Next {
        if !ctx.any_free() {
            return Next::Pending;
        }
        let template = self.template(ctx);
        // A thread in scope is free (checked above), so `fill` finds one.
        ctx.fill(template).map_or(Next::Pending, Next::Op)
    }
}
