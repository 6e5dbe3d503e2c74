//! The op source of a register workload: reads, writes and cas on one key (or the single
//! register), in the spec's proportions, with the spec's value policy.
//!
//! Values: with [`ValueSpec::Unique`] every write, and the new value of every cas, is the next
//! integer for this key (1, 2, 3, ...), so a read identifies the write it saw; that keeps the
//! linearizability search small and anomalies explainable. A cas expects one of the last
//! [`RECENT`] values this key was seen to hold or was asked to hold (recent write invocations
//! and ok reads), so a fair share of cas ops succeed. Until a value is known, a cas is issued
//! as a write. With [`ValueSpec::Random`] values are uniform in the range, as in Jepsen.

use std::collections::VecDeque;

use rand::RngExt;
use serde_json::Value;

use crate::generator::{Context, Generator, Next, OpTemplate};
use crate::history::{Event, EventType};

use super::{OpMix, ValueSpec};

/// How many recent values a cas chooses its expected value from.
pub const RECENT: usize = 3;

/// Reads, writes and cas for one key; see the module docs.
pub struct RegisterOps {
    mix: OpMix,
    values: ValueSpec,
    next_unique: i64,
    recent: VecDeque<i64>,
}

impl RegisterOps {
    /// An op source with the given weights and value policy.
    pub fn new(mix: OpMix, values: ValueSpec) -> RegisterOps {
        RegisterOps {
            mix,
            values,
            next_unique: 1,
            recent: VecDeque::with_capacity(RECENT + 1),
        }
    }

    fn remember(&mut self, v: i64) {
        if self.recent.back() == Some(&v) {
            return;
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(v);
    }

    fn fresh(&mut self, ctx: &mut Context) -> i64 {
        match self.values {
            ValueSpec::Unique => {
                let v = self.next_unique;
                self.next_unique += 1;
                v
            }
            ValueSpec::Random { min, max } => ctx.rng().random_range(min..=max),
        }
    }

    fn template(&mut self, ctx: &mut Context) -> OpTemplate {
        let total = self.mix.read + self.mix.write + self.mix.cas;
        let x = ctx.rng().random_range(0.0..total);
        if x < self.mix.read {
            return OpTemplate::new("read", Value::Null);
        }
        let is_cas = x >= self.mix.read + self.mix.write;
        let expected = match (is_cas, self.values) {
            (false, _) => None,
            (true, ValueSpec::Random { min, max }) => Some(ctx.rng().random_range(min..=max)),
            (true, ValueSpec::Unique) if self.recent.is_empty() => None,
            (true, ValueSpec::Unique) => {
                let i = ctx.rng().random_range(0..self.recent.len());
                Some(self.recent[i])
            }
        };
        let new = self.fresh(ctx);
        self.remember(new);
        match expected {
            Some(from) => OpTemplate::new("cas", Value::from(vec![from, new])),
            None => OpTemplate::new("write", Value::from(new)),
        }
    }
}

impl Generator for RegisterOps {
    fn next(&mut self, ctx: &mut Context) -> Next {
        if !ctx.any_free() {
            return Next::Pending;
        }
        let template = self.template(ctx);
        // A thread in scope is free (checked above), so `fill` finds one.
        ctx.fill(template).map_or(Next::Pending, Next::Op)
    }

    fn update(&mut self, _ctx: &Context, event: &Event) {
        if event.kind == EventType::Ok && event.f == "read" {
            if let Some(v) = event.value.as_i64() {
                self.remember(v);
            }
        }
    }
}
