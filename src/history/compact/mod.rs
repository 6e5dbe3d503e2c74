//! The compact history: what checking at scale keeps in memory (issue 20).
//!
//! A [`History`] holds every op's key and values as `serde_json::Value` trees, a few hundred
//! bytes per op before any value is bigger than an integer. A [`CompactHistory`] holds each
//! op as one fixed-size [`CompactOp`] (88 bytes) whose key and values are [`Val`] words
//! pointing into one [`Arena`] (integers inline, strings interned, arrays as spans). Every
//! format's reader builds it directly, with no `Value` per line: JSONL
//! ([`read_jsonl_compact`]), Jepsen EDN ([`crate::history::jepsen::read_edn_compact`], values
//! from the parsed EDN forms by [`Arena::push_edn`]) and Porcupine's logs
//! ([`crate::history::porcupine::read_etcd_compact`], [`crate::history::porcupine::read_kv_compact`]).
//!
//! Checkers that work per key read the compact ops directly or turn the ops of one key at a
//! time into [`Op`]s ([`CompactHistory::op`]); the report reads it through
//! `report::HistoryView`. Only the workload checkers (set-full, bank, counter, unique ids,
//! kafka) take the [`History`] that [`CompactHistory::to_history`] builds, which equals what
//! the format's `Value` reader ([`super::read_jsonl`], [`super::jepsen::read_edn`], ...)
//! returns.

mod arena;
mod edn;
mod read;

pub use arena::{Arena, Kind, Strings, Val};
#[cfg(test)]
pub(crate) use read::read_watched_with_chunks;
pub use read::{read_jsonl_compact, read_jsonl_compact_sized, read_jsonl_compact_watched};

use super::{Event, History, Op, Outcome};

/// One client op in fixed size: an invoke paired with its completion, as [`Op`] says, with
/// its key and values in the history's [`Arena`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactOp {
    /// The client process.
    pub process: u64,
    /// History index of the invoke event.
    pub invoke_index: u64,
    /// History index of the completion event (meaningful when `completed`).
    pub complete_index: u64,
    /// Time of the invoke, ns.
    pub invoke_time: u64,
    /// Time of the completion, ns (meaningful when `completed`).
    pub complete_time: u64,
    /// The key ([`Val::ABSENT`]: the single register).
    pub key: Val,
    /// The invoke's value.
    pub invoke_value: Val,
    /// The completion's value (the invoke's when there is no completion).
    pub value: Val,
    /// The completion's (else the invoke's) error, [`Val::ABSENT`] when none.
    pub error: Val,
    /// The function, as an interned string id.
    pub f: u32,
    /// The node that served it, as an interned string id; [`CompactOp::NO_NODE`] if unknown.
    pub node: u32,
    /// ok / fail / info.
    pub outcome: Outcome,
    /// Whether a completion was read (else the history ended first).
    pub completed: bool,
}

impl CompactOp {
    /// `node` of an op whose node is unknown.
    pub const NO_NODE: u32 = u32::MAX;

    /// History index of the completion, when there is one.
    pub fn complete_index(&self) -> Option<u64> {
        self.completed.then_some(self.complete_index)
    }

    /// Time of the completion, when there is one.
    pub fn complete_time(&self) -> Option<u64> {
        self.completed.then_some(self.complete_time)
    }
}

/// A whole history, compact: client ops in invoke order, nemesis events as read (they are
/// few), and the arena the ops' values live in.
#[derive(Debug, Clone, Default)]
pub struct CompactHistory {
    /// Client ops, ordered by `invoke_index`.
    pub ops: Vec<CompactOp>,
    /// Nemesis events, in history order.
    pub nemesis: Vec<Event>,
    /// Number of events (lines) the history had, nemesis included.
    pub event_count: u64,
    /// Keys and values of the ops.
    pub arena: Arena,
}

impl CompactHistory {
    /// Op `i` as an [`Op`] (values built from the arena): for code that reads `Op`s, one
    /// key or one op at a time.
    pub fn op(&self, i: usize) -> Op {
        let c = &self.ops[i];
        let a = &self.arena;
        Op {
            process: c.process,
            f: a.str(c.f).to_string(),
            key: a.optional(c.key),
            invoke_value: a.value(c.invoke_value),
            value: a.value(c.value),
            outcome: c.outcome,
            invoke_index: c.invoke_index,
            complete_index: c.complete_index(),
            invoke_time: c.invoke_time,
            complete_time: c.complete_time(),
            error: a.optional(c.error),
            node: (c.node != CompactOp::NO_NODE).then(|| a.str(c.node).to_string()),
        }
    }

    /// The function of op `i`.
    pub fn f(&self, i: usize) -> &str {
        self.arena.str(self.ops[i].f)
    }

    /// The same history with `Value`s: what [`super::read_jsonl`] returns for the same file.
    pub fn to_history(&self) -> History {
        History {
            ops: (0..self.ops.len()).map(|i| self.op(i)).collect(),
            nemesis: self.nemesis.clone(),
            event_count: self.event_count,
        }
    }

    /// The compact form of a history built with `Value`s (tests, and the `Value` form of
    /// Jepsen's tuple splitting).
    pub fn from_history(history: &History) -> CompactHistory {
        let mut arena = Arena::new();
        let ops = history
            .ops
            .iter()
            .map(|op| CompactOp {
                process: op.process,
                invoke_index: op.invoke_index,
                complete_index: op.complete_index.unwrap_or(0),
                invoke_time: op.invoke_time,
                complete_time: op.complete_time.unwrap_or(0),
                key: op.key.as_ref().map_or(Val::ABSENT, |k| arena.push_value(k)),
                invoke_value: arena.push_value(&op.invoke_value),
                value: arena.push_value(&op.value),
                error: op
                    .error
                    .as_ref()
                    .map_or(Val::ABSENT, |e| arena.push_value(e)),
                f: arena.intern(&op.f),
                node: op
                    .node
                    .as_deref()
                    .map_or(CompactOp::NO_NODE, |n| arena.intern(n)),
                outcome: op.outcome,
                completed: op.complete_index.is_some(),
            })
            .collect();
        CompactHistory {
            ops,
            nemesis: history.nemesis.clone(),
            event_count: history.event_count,
            arena,
        }
    }

    /// Bytes held: the op records and the arena (nemesis events not counted).
    pub fn heap_bytes(&self) -> usize {
        self.ops.capacity() * std::mem::size_of::<CompactOp>() + self.arena.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_op_record_is_eighty_eight_bytes() {
        assert_eq!(std::mem::size_of::<CompactOp>(), 88);
        assert_eq!(std::mem::size_of::<Val>(), 8);
    }
}
