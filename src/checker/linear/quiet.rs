//! Which keys of a history being read are done for now: the bookkeeping that lets
//! `stream` search a key before the whole file is read.
//!
//! While the reader pairs events, [`KeyTracker`] groups the ops by key exactly as
//! `group_compact_by_key` does (groups in order of first appearance, ops in history order),
//! and remembers for each key how many of its ops are still open (invoked, completion not
//! read yet) and when (in events read) it last got an invoke or a completion. A key is
//! *quiet* when none of its ops is open and its last event is at least `window` events
//! behind the reader. Quiet says nothing about soundness (a quiet key may still get ops
//! later, and then its speculative outcome is simply not used); it is the bet that the key
//! is finished, as Jepsen's `independent` keys are.

use std::collections::VecDeque;

use serde_json::Value;

use super::KeyText;
use crate::checker::hash::FxHashMap;
use crate::history::CompactHistory;

/// Integer keys below this are looked up by index, not hashed.
const SMALL_KEYS: i64 = 1 << 20;

/// No speculation yet at this key (see [`Tracked::taken`]).
const NOT_TAKEN: usize = usize::MAX;

/// One key as the tracker sees it.
#[derive(Debug)]
pub(super) struct Tracked {
    /// The key (`None`: ops without one).
    pub key: Option<Value>,
    /// Positions of its ops in the history, in order.
    pub ops: Vec<u32>,
    /// Ops invoked whose completion has not been read.
    open: u32,
    /// Events read when it last got an invoke or a completion.
    last: u64,
    /// Its op count when it was last handed out for a search ([`NOT_TAKEN`]: never).
    taken: usize,
}

/// Per-key op lists and quietness of a history being read (see the module doc).
#[derive(Debug)]
pub(super) struct KeyTracker {
    index: FxHashMap<KeyText, u32>,
    /// Integer keys in `0..SMALL_KEYS` -> key number + 1 (0: not seen): most keys are small
    /// integers, and this lookup is on the reading thread for every op.
    small: Vec<u32>,
    keys: Vec<Tracked>,
    /// Ops of the history already grouped.
    seen: usize,
    /// (op position, key) of every op still open.
    open: Vec<(u32, u32)>,
    /// (events read when touched, key), oldest first; an entry is stale when the key was
    /// touched again since.
    touched: VecDeque<(u64, u32)>,
    /// Keys quiet once but not handed out (the caller had no room), to offer again.
    deferred: Vec<u32>,
    window: u64,
}

impl KeyTracker {
    /// A tracker calling a key quiet `window` events after its last event.
    pub fn new(window: u64) -> Self {
        KeyTracker {
            index: FxHashMap::default(),
            small: Vec::new(),
            keys: Vec::new(),
            seen: 0,
            open: Vec::new(),
            touched: VecDeque::new(),
            deferred: Vec::new(),
            window,
        }
    }

    /// Takes in the ops added to `history` since the last call and the completions read
    /// since; `now` is the number of events read so far.
    pub fn observe(&mut self, history: &CompactHistory, now: u64) {
        // Completions of ops that were open.
        let mut i = 0;
        while i < self.open.len() {
            let (op, k) = self.open[i];
            if history.ops[op as usize].completed {
                self.open.swap_remove(i);
                self.keys[k as usize].open -= 1;
                self.touch(k, now);
            } else {
                i += 1;
            }
        }
        for (at, op) in history.ops.iter().enumerate().skip(self.seen) {
            let text = KeyText::of(history, op.key);
            let small = match text {
                KeyText::Int(n) if (0..SMALL_KEYS).contains(&n) => Some(n as usize),
                _ => None,
            };
            let known = match small {
                Some(n) => self.small.get(n).and_then(|&k| k.checked_sub(1)),
                None => self.index.get(&text).copied(),
            };
            let k = match known {
                Some(k) => k,
                None => {
                    let k = self.keys.len() as u32;
                    match small {
                        Some(n) => {
                            if n >= self.small.len() {
                                self.small.resize(n + 1, 0);
                            }
                            self.small[n] = k + 1;
                        }
                        None => {
                            self.index.insert(text, k);
                        }
                    }
                    self.keys.push(Tracked {
                        key: history.arena.optional(op.key),
                        ops: Vec::new(),
                        open: 0,
                        last: u64::MAX,
                        taken: NOT_TAKEN,
                    });
                    k
                }
            };
            let key = &mut self.keys[k as usize];
            key.ops.push(at as u32);
            if !op.completed {
                key.open += 1;
                self.open.push((at as u32, k));
            }
            self.touch(k, now);
        }
        self.seen = history.ops.len();
    }

    fn touch(&mut self, k: u32, now: u64) {
        let key = &mut self.keys[k as usize];
        if key.last != now {
            key.last = now;
            self.touched.push_back((now, k));
        }
    }

    /// Whether key `k` is quiet at `now` and has ops no search was handed yet.
    fn ready(&self, k: u32, now: u64) -> bool {
        let key = &self.keys[k as usize];
        key.open == 0 && key.last.saturating_add(self.window) <= now && key.taken != key.ops.len()
    }

    /// The keys quiet at `now` whose current ops were not handed out yet, in the order they
    /// went quiet (deferred ones first). Each must be [`KeyTracker::take`]n or
    /// [`KeyTracker::defer`]red.
    pub fn quiet(&mut self, now: u64) -> Vec<u32> {
        let mut out: Vec<u32> = std::mem::take(&mut self.deferred)
            .into_iter()
            .filter(|&k| self.ready(k, now))
            .collect();
        while let Some(&(when, k)) = self.touched.front() {
            if when.saturating_add(self.window) > now {
                break;
            }
            self.touched.pop_front();
            // Stale entries (touched again since) and keys with open ops are skipped: the
            // next touch queues them again.
            if self.keys[k as usize].last == when && self.ready(k, now) {
                out.push(k);
            }
        }
        out
    }

    /// Key `k`'s ops, as they are now, are handed to a search.
    pub fn take(&mut self, k: u32) {
        let key = &mut self.keys[k as usize];
        key.taken = key.ops.len();
    }

    /// Key `k` was quiet but not handed out: offer it again at the next [`KeyTracker::quiet`].
    pub fn defer(&mut self, k: u32) {
        self.deferred.push(k);
    }

    /// Forgets what was handed out (the searches' model changed): every key handed out is
    /// offered again.
    pub fn retake_all(&mut self) {
        for (k, key) in self.keys.iter_mut().enumerate() {
            if key.taken != NOT_TAKEN {
                key.taken = NOT_TAKEN;
                self.deferred.push(k as u32);
            }
        }
    }

    /// Key `k`.
    pub fn key(&self, k: u32) -> &Tracked {
        &self.keys[k as usize]
    }

    /// Number of ops still open.
    pub fn open_ops(&self) -> usize {
        self.open.len()
    }

    /// The groups, in order of first appearance: (key, op positions).
    pub fn into_groups(self) -> Vec<(Option<Value>, Vec<u32>)> {
        self.keys.into_iter().map(|k| (k.key, k.ops)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Op, Outcome};
    use serde_json::json;

    /// An op of process `p` on `key`, invoked at `at`; completed at `done` if given.
    fn op(p: u64, key: i64, at: u64, done: Option<u64>) -> Op {
        Op {
            process: p,
            f: "write".to_string(),
            key: Some(json!(key)),
            invoke_value: json!(1),
            value: json!(1),
            outcome: if done.is_some() {
                Outcome::Ok
            } else {
                Outcome::Info
            },
            invoke_index: at,
            complete_index: done,
            invoke_time: 0,
            complete_time: done,
            error: None,
            node: None,
        }
    }

    fn compact(ops: Vec<Op>) -> CompactHistory {
        CompactHistory::from_history(&History {
            ops,
            nemesis: Vec::new(),
            event_count: 0,
        })
    }

    #[test]
    fn a_key_is_quiet_a_window_after_its_last_event_with_nothing_open() {
        let mut t = KeyTracker::new(10);
        // Key 1 done at event 4; key 2 has an op still open.
        let mut h = compact(vec![
            op(0, 1, 0, Some(1)),
            op(1, 2, 2, None),
            op(0, 1, 3, Some(4)),
        ]);
        t.observe(&h, 5);
        assert!(t.quiet(14).is_empty(), "not a window behind yet");
        assert_eq!(t.quiet(15), vec![0]);
        t.take(0);
        assert!(t.quiet(100).is_empty(), "open key 2 is never quiet");
        // Key 2's op completes at event 120: quiet a window later, not before.
        h.ops[1].completed = true;
        t.observe(&h, 120);
        assert!(t.quiet(129).is_empty());
        assert_eq!(t.quiet(130), vec![1]);
        assert_eq!(t.key(1).ops, vec![1]);
        assert_eq!(t.open_ops(), 0);
    }

    #[test]
    fn a_key_that_gets_more_ops_is_quiet_again_later_and_deferral_offers_it_again() {
        let mut t = KeyTracker::new(10);
        let mut h = compact(vec![op(0, 7, 0, Some(1))]);
        t.observe(&h, 2);
        assert_eq!(t.quiet(12), vec![0]);
        t.take(0);
        h.ops.push(compact(vec![op(0, 7, 20, Some(21))]).ops[0]);
        t.observe(&h, 22);
        assert!(t.quiet(31).is_empty());
        assert_eq!(t.quiet(32), vec![0]);
        t.defer(0);
        assert_eq!(t.quiet(33), vec![0], "deferred keys come back");
        t.take(0);
        assert!(t.quiet(50).is_empty(), "taken at this op count");
        t.retake_all();
        assert_eq!(t.quiet(51), vec![0], "a new model takes every key again");
        assert_eq!(t.key(0).ops, vec![0, 1]);
    }

    #[test]
    fn groups_are_those_of_group_compact_by_key() {
        let text = (0..200)
            .map(|i| {
                let key = match i % 5 {
                    0 => "\"a\"".to_string(),
                    1 => "[1,2]".to_string(),
                    2 => "2.5".to_string(),
                    _ => (i % 7).to_string(),
                };
                let p = i % 3;
                format!(
                    "{{\"process\":{p},\"type\":\"invoke\",\"f\":\"read\",\"key\":{key}}}\n\
                     {{\"process\":{p},\"type\":\"ok\",\"f\":\"read\",\"key\":{key},\"value\":1}}\n"
                )
            })
            .collect::<String>()
            + "{\"process\":9,\"type\":\"invoke\",\"f\":\"read\"}\n";
        for chunk in [1, 100, 1 << 20] {
            let mut t = KeyTracker::new(3);
            let h = crate::history::compact::read_watched_with_chunks(
                text.as_bytes(),
                "h",
                chunk,
                1,
                &mut |h, now| {
                    t.observe(h, now);
                    for k in t.quiet(now) {
                        t.take(k);
                    }
                },
            )
            .unwrap();
            let want: Vec<(Option<Value>, Vec<u32>)> = super::super::group_compact_by_key(&h)
                .into_iter()
                .map(|g| match g.ops {
                    super::super::GroupOps::Compact(_, at) => (g.key, at),
                    super::super::GroupOps::Refs(_) => unreachable!(),
                })
                .collect();
            assert_eq!(t.open_ops(), 1);
            assert_eq!(t.into_groups(), want, "chunk {chunk}");
        }
    }
}
