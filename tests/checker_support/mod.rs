//! Shared helpers for the checker tests: a seeded RNG, a history builder, a simulator of
//! linearizable executions, and a brute-force reference checker for small histories.
#![allow(dead_code)]

use faultline::history::{History, Op, Outcome};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// SplitMix64: tiny, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Builds histories event by event, pairing completions with invokes like the JSONL reader.
#[derive(Default)]
pub struct Builder {
    next_index: u64,
    open: HashMap<u64, usize>,
    pub ops: Vec<Op>,
    pub times: bool,
}

impl Builder {
    pub fn new() -> Self {
        Builder {
            times: true,
            ..Default::default()
        }
    }
    fn tick(&mut self) -> (u64, u64) {
        let i = self.next_index;
        self.next_index += 1;
        (i, if self.times { (i + 1) * 10_000_000 } else { 0 })
    }
    pub fn invoke(&mut self, process: u64, f: &str, key: Option<&str>, value: Value) -> &mut Self {
        let (index, time) = self.tick();
        assert!(
            !self.open.contains_key(&process),
            "process {process} already has an open op"
        );
        self.open.insert(process, self.ops.len());
        self.ops.push(Op {
            process,
            f: f.to_string(),
            key: key.map(|k| json!(k)),
            invoke_value: value.clone(),
            value,
            outcome: Outcome::Info,
            invoke_index: index,
            complete_index: None,
            invoke_time: time,
            complete_time: None,
            error: None,
            node: None,
        });
        self
    }
    pub fn complete(&mut self, process: u64, outcome: Outcome, value: Option<Value>) -> &mut Self {
        let (index, time) = self.tick();
        let at = self
            .open
            .remove(&process)
            .expect("completion without invoke");
        let op = &mut self.ops[at];
        op.outcome = outcome;
        op.complete_index = Some(index);
        op.complete_time = Some(time);
        if let Some(v) = value {
            op.value = v;
        }
        self
    }
    pub fn ok(&mut self, process: u64, value: Value) -> &mut Self {
        self.complete(process, Outcome::Ok, Some(value))
    }
    pub fn ok_same(&mut self, process: u64) -> &mut Self {
        self.complete(process, Outcome::Ok, None)
    }
    pub fn fail(&mut self, process: u64) -> &mut Self {
        self.complete(process, Outcome::Fail, None)
    }
    pub fn info(&mut self, process: u64) -> &mut Self {
        self.complete(process, Outcome::Info, None)
    }
    pub fn build(&self) -> History {
        History {
            ops: self.ops.clone(),
            nemesis: Vec::new(),
            event_count: self.next_index,
        }
    }
}

/// What a simulated op does, chosen at invoke time.
#[derive(Clone, Debug)]
enum Planned {
    Read,
    Write(i64),
    Cas(i64, i64),
}

/// Simulates `processes` clients against a linearizable register per key (initially absent):
/// each op takes effect at one instant between invoke and completion. Some ops crash (info:
/// maybe took effect, maybe not), cas whose compare fails completes `fail`. Write values are
/// unique, so a planted stale read is certainly wrong.
pub fn simulate(seed: u64, processes: u64, ops: usize, keys: &[&str]) -> History {
    #[derive(Clone)]
    enum Phase {
        Idle,
        Invoked {
            key: Option<String>,
            planned: Planned,
        },
        Effected {
            result: Outcome,
            read: Option<Value>,
        },
    }
    let mut rng = Rng::new(seed);
    let mut b = Builder::new();
    let mut phase: Vec<(u64, Phase)> = (0..processes).map(|p| (p, Phase::Idle)).collect();
    let mut next_pid = processes;
    let mut state: HashMap<Option<String>, i64> = HashMap::new();
    let mut next_value = 1i64;
    let mut invoked = 0usize;
    for _ in 0..ops * 20 {
        if invoked >= ops && phase.iter().all(|(_, ph)| matches!(ph, Phase::Idle)) {
            break;
        }
        let slot = rng.below(processes) as usize;
        let (pid, ph) = phase[slot].clone();
        match ph {
            Phase::Idle => {
                if invoked >= ops {
                    continue;
                }
                invoked += 1;
                let key = if keys.is_empty() {
                    None
                } else {
                    Some(keys[rng.below(keys.len() as u64) as usize].to_string())
                };
                let planned = match rng.below(10) {
                    0..=3 => Planned::Read,
                    4..=6 => {
                        next_value += 1;
                        Planned::Write(next_value)
                    }
                    _ => {
                        next_value += 1;
                        let cur = *state.get(&key).unwrap_or(&0);
                        // Mostly a compare against the current value, sometimes a stale one.
                        let from = if rng.chance(60) && cur != 0 {
                            cur
                        } else {
                            1 + rng.below(next_value as u64) as i64
                        };
                        Planned::Cas(from, next_value)
                    }
                };
                let value = match &planned {
                    Planned::Read => Value::Null,
                    Planned::Write(v) => json!(v),
                    Planned::Cas(f, t) => json!([f, t]),
                };
                let f = match planned {
                    Planned::Read => "read",
                    Planned::Write(_) => "write",
                    Planned::Cas(..) => "cas",
                };
                b.invoke(pid, f, key.as_deref(), value);
                phase[slot].1 = Phase::Invoked { key, planned };
            }
            Phase::Invoked { key, planned } => {
                if rng.chance(4) {
                    // Crash before taking effect: info, and the worker continues as a new process.
                    b.info(pid);
                    phase[slot] = (next_pid, Phase::Idle);
                    next_pid += 1;
                    continue;
                }
                let cur = state.get(&key).copied();
                let (result, read) = match planned {
                    Planned::Read => (Outcome::Ok, Some(cur.map_or(Value::Null, |v| json!(v)))),
                    Planned::Write(v) => {
                        state.insert(key.clone(), v);
                        (Outcome::Ok, None)
                    }
                    Planned::Cas(from, to) => {
                        if cur == Some(from) {
                            state.insert(key.clone(), to);
                            (Outcome::Ok, None)
                        } else {
                            (Outcome::Fail, None)
                        }
                    }
                };
                phase[slot].1 = Phase::Effected { result, read };
            }
            Phase::Effected { result, read } => {
                if rng.chance(4) {
                    // Took effect, but the client never learned: info.
                    b.info(pid);
                    phase[slot] = (next_pid, Phase::Idle);
                    next_pid += 1;
                    continue;
                }
                b.complete(pid, result, read);
                phase[slot].1 = Phase::Idle;
            }
        }
    }
    b.build()
}

/// Random small histories (not necessarily linearizable) over values 1..=3 and reads of nil.
pub fn random_small(seed: u64, max_ops: usize, keys: &[&str]) -> History {
    random_small_with(seed, max_ops, keys, 2, 3)
}

/// [`random_small`] with `info_tenths` tenths of the completions indeterminate (one tenth
/// fails) and written, compared and read values drawn from 1..=`values`.
pub fn random_small_with(
    seed: u64,
    max_ops: usize,
    keys: &[&str],
    info_tenths: u64,
    values: u64,
) -> History {
    let mut rng = Rng::new(seed);
    let mut b = Builder::new();
    let n = 1 + rng.below(max_ops as u64) as usize;
    let mut open: Vec<u64> = Vec::new();
    let mut idle: Vec<u64> = (0..3).collect();
    let mut next_pid = 3;
    let mut invoked = 0;
    while invoked < n || !open.is_empty() {
        let can_invoke = invoked < n && !idle.is_empty();
        if can_invoke && (open.is_empty() || rng.chance(50)) {
            let p = idle.remove(rng.below(idle.len() as u64) as usize);
            let key = if keys.is_empty() {
                None
            } else {
                Some(keys[rng.below(keys.len() as u64) as usize])
            };
            let v = || json!(1 + (rand_small(seed, invoked as u64) % values));
            match rng.below(3) {
                0 => b.invoke(p, "read", key, Value::Null),
                1 => b.invoke(p, "write", key, v()),
                _ => b.invoke(
                    p,
                    "cas",
                    key,
                    json!([1 + rng.below(values), 1 + rng.below(values)]),
                ),
            };
            open.push(p);
            invoked += 1;
        } else {
            let p = open.remove(rng.below(open.len() as u64) as usize);
            let at = b.ops.iter().rposition(|o| o.process == p).expect("open op");
            let f = b.ops[at].f.clone();
            match rng.below(10) {
                0 => {
                    b.fail(p);
                    idle.push(p);
                }
                t if t <= info_tenths => {
                    b.info(p);
                    idle.push(next_pid);
                    next_pid += 1;
                }
                _ => {
                    if f == "read" {
                        let v = match rng.below(values + 1) {
                            0 => Value::Null,
                            x => json!(x),
                        };
                        b.ok(p, v);
                    } else {
                        b.ok_same(p);
                    }
                    idle.push(p);
                }
            }
        }
    }
    b.build()
}

fn rand_small(seed: u64, i: u64) -> u64 {
    Rng::new(seed.wrapping_mul(31).wrapping_add(i)).next()
}

/// Which semantics the reference checker applies.
#[derive(Clone, Copy, Debug)]
pub struct RefSemantics {
    pub etcd: bool,
    pub nil_reads_match_any: bool,
    pub initial: i64, // 0 means absent
}

/// Brute force: tries every order of the ops that respects real time (memoized on the set of
/// ops done and the state, which changes nothing about what is enumerated). Info ops may be
/// left out. Returns whether some order is legal.
pub fn reference_linearizable(h: &History, sem: RefSemantics) -> bool {
    struct RefOp {
        key: Option<String>,
        kind: Kind,
        call: u64,
        ret: Option<u64>,
    }
    enum Kind {
        Read(Value),
        Write(Value),
        Cas(Value, Value),
        CasFailed(Value),
    }
    let mut ops = Vec::new();
    for o in &h.ops {
        let key = o.key.as_ref().map(|k| k.to_string());
        let required = o.outcome != Outcome::Info;
        let kind = match (o.f.as_str(), o.outcome) {
            ("read", Outcome::Ok) => {
                if o.value.is_null() && sem.nil_reads_match_any {
                    continue;
                }
                Kind::Read(o.value.clone())
            }
            ("read", _) => continue,
            ("write", Outcome::Fail) => continue,
            ("write", _) => Kind::Write(o.invoke_value.clone()),
            ("cas", Outcome::Fail) if sem.etcd => Kind::CasFailed(o.invoke_value[0].clone()),
            ("cas", Outcome::Fail) => continue,
            ("cas", _) => Kind::Cas(o.invoke_value[0].clone(), o.invoke_value[1].clone()),
            (f, _) => panic!("reference checker: unknown f {f}"),
        };
        ops.push(RefOp {
            key,
            kind,
            call: o.invoke_index,
            ret: if required { o.complete_index } else { None },
        });
    }
    assert!(ops.len() <= 20, "reference checker is for small histories");
    let init = if sem.initial == 0 {
        Value::Null
    } else {
        json!(sem.initial)
    };
    fn go(
        ops: &[RefOp],
        done: u32,
        state: &mut HashMap<Option<String>, Value>,
        init: &Value,
        seen: &mut HashSet<(u32, String)>,
    ) -> bool {
        if ops
            .iter()
            .enumerate()
            .all(|(i, o)| o.ret.is_none() || done >> i & 1 == 1)
        {
            return true;
        }
        let mut snapshot: Vec<_> = state.iter().map(|(k, v)| format!("{k:?}={v}")).collect();
        snapshot.sort();
        if !seen.insert((done, snapshot.join(","))) {
            return false;
        }
        for (i, o) in ops.iter().enumerate() {
            if done >> i & 1 == 1 {
                continue;
            }
            // Real time: no remaining required op may have completed before this one began.
            let blocked = ops
                .iter()
                .enumerate()
                .any(|(j, r)| j != i && done >> j & 1 == 0 && r.ret.is_some_and(|rt| rt < o.call));
            if blocked {
                continue;
            }
            let cur = state.get(&o.key).cloned().unwrap_or_else(|| init.clone());
            let next = match &o.kind {
                Kind::Read(v) => (cur == *v).then(|| cur.clone()),
                Kind::Write(v) => Some(v.clone()),
                Kind::Cas(f, t) => (cur == *f).then(|| t.clone()),
                Kind::CasFailed(f) => (cur != *f).then(|| cur.clone()),
            };
            let Some(next) = next else { continue };
            state.insert(o.key.clone(), next);
            let ok = go(ops, done | 1 << i, state, init, seen);
            state.insert(o.key.clone(), cur);
            if ok {
                return true;
            }
        }
        false
    }
    go(&ops, 0, &mut HashMap::new(), &init, &mut HashSet::new())
}
