//! Jepsen's `set-full` checker: what happened to every element added to a set.
//!
//! Ops (docs/workload-checkers.md): `add` with the element as value; `read` whose ok value is
//! the list of every element present. Keys, when present, are independent sets.
//!
//! For each element, with reads ordered by the history index of their invoke:
//!
//! - it becomes *known* at the completion of its first ok add, or of the first read that saw
//!   it, whichever comes first in the history;
//! - the *last present* read is the last read that saw it; the *last absent* read is the last
//!   read that did not;
//! - **stable**: some read saw it and no read invoked after the last such read missed it;
//! - **lost**: it was known, and the last absent read began after the element was known and
//!   after the last read that saw it (so every later read, the final reads included, misses
//!   it). This is an anomaly;
//! - **never-read**: neither (e.g. an `info` add no read ever saw: it may never have
//!   happened, so its absence is fine);
//! - **stale**: stable, but some read that began after the element was known missed it (it
//!   became visible late). An anomaly when the set promises linearizability
//!   ([`SetFullOptions::linearizable`], the default), else only reported;
//! - **recovered**: its add ended `info` (or never completed) and a read saw it: not an
//!   anomaly, reported;
//! - **unexpected**: a read saw an element no add ever attempted, or whose every add failed
//!   (`fail` means it certainly did not happen). An anomaly;
//! - **duplicated**: a single read listed it more than once. An anomaly.
//!
//! Latencies (Jepsen's): stable latency = time from known until just after the last absent
//! read was invoked (0 when no read missed it); lost latency = time from known until just
//! after the last present read was invoked. The verdict is invalid on any anomaly, unknown
//! when no element was ever stable (nothing was read after an add), else valid.
//!
//! Cost: one pass over the ops plus one step per element occurrence in a read (the input's
//! own size): the last absent read falls out of the run of consecutive reads that end with
//! the element's last present read, so no read is rescanned. Keys are checked on all cores.

use std::time::Instant;

use rayon::prelude::*;
use serde_json::{json, Map, Value};

use super::{
    f_name, group_by_key, malformed, ms, outcome_name, plural, quantiles, unexpected_f, Atom,
    KeyGroup, LIST_KEEP, WORST_KEEP,
};
use crate::checker::hash::FxHashMap;
use crate::checker::{Anomaly, CheckError, CheckResult, CheckStats, Validity};
use crate::history::{History, Op, Outcome};

/// The checker's name in results.
pub const CHECKER: &str = "set-full";

/// What the set promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetFullOptions {
    /// The set claims linearizability, so a stale element (missed by a read that began after
    /// it was known to be added) is an anomaly. `false` (Jepsen's default, `--allow-stale`)
    /// only reports stale elements.
    pub linearizable: bool,
}

impl Default for SetFullOptions {
    /// Linearizable: faultline's targets (raftkv, etcd) promise it.
    fn default() -> Self {
        SetFullOptions { linearizable: true }
    }
}

/// No read position / no index.
const NONE: u32 = u32::MAX;

/// What one key's history says about one element, built in a single pass.
struct Element {
    atom: Atom,
    /// Position in the key's ops of the add that stands for it (first of the best outcome).
    add: u32,
    /// Best outcome over its adds (ok > info > fail); `None` when never added.
    add_outcome: Option<Outcome>,
    /// History index of the completion that made it known (`u64::MAX`: not known).
    known_index: u64,
    /// Time of that completion, ns.
    known_time: u64,
    /// Read position of the last read that saw it.
    last_present: u32,
    /// Read position where the run of consecutive reads ending at `last_present` starts.
    run_start: u32,
    /// Read position of the first read that saw it.
    first_present: u32,
    /// Read position + 1 of the read being scanned when last seen (duplicate detection).
    stamp: u32,
    /// Occurrences in the read being scanned.
    count: u32,
    /// Most occurrences in any one read, and that read's position.
    max_count: u32,
    max_count_read: u32,
}

impl Element {
    fn new(atom: Atom) -> Element {
        Element {
            atom,
            add: NONE,
            add_outcome: None,
            known_index: u64::MAX,
            known_time: 0,
            last_present: NONE,
            run_start: NONE,
            first_present: NONE,
            stamp: 0,
            count: 0,
            max_count: 0,
            max_count_read: NONE,
        }
    }

    fn learn(&mut self, index: u64, time: u64) {
        if index < self.known_index {
            self.known_index = index;
            self.known_time = time;
        }
    }
}

fn rank(outcome: Option<Outcome>) -> u8 {
    match outcome {
        None => 0,
        Some(Outcome::Fail) => 1,
        Some(Outcome::Info) => 2,
        Some(Outcome::Ok) => 3,
    }
}

/// An element that was lost.
struct Lost<'h> {
    key: Option<&'h Value>,
    atom: Atom,
    add: Option<&'h Op>,
    last_present: Option<&'h Op>,
    last_absent: &'h Op,
    absent_reads: usize,
    latency_ns: u64,
}

/// An element that became visible late.
struct Stale<'h> {
    key: Option<&'h Value>,
    atom: Atom,
    add: Option<&'h Op>,
    known_index: u64,
    last_absent: &'h Op,
    back_from: &'h Op,
    latency_ns: u64,
}

/// An element a read returned although no add could have put it there.
struct Unexpected<'h> {
    key: Option<&'h Value>,
    atom: Atom,
    first_read: &'h Op,
    failed_add: Option<&'h Op>,
}

/// An element one read listed more than once.
struct Duplicated<'h> {
    key: Option<&'h Value>,
    atom: Atom,
    read: &'h Op,
    times: u32,
}

/// Everything found, over all keys.
#[derive(Default)]
struct Findings<'h> {
    attempts: usize,
    acknowledged: usize,
    stable: usize,
    never_read: Vec<(Option<&'h Value>, Atom)>,
    recovered: Vec<(Option<&'h Value>, Atom)>,
    lost: Vec<Lost<'h>>,
    stale: Vec<Stale<'h>>,
    unexpected: Vec<Unexpected<'h>>,
    duplicated: Vec<Duplicated<'h>>,
    stable_latencies: Vec<f64>,
    lost_latencies: Vec<f64>,
    reads: usize,
}

impl<'h> Findings<'h> {
    /// Adds another key's findings to these.
    fn absorb(&mut self, other: Findings<'h>) {
        self.attempts += other.attempts;
        self.acknowledged += other.acknowledged;
        self.stable += other.stable;
        self.reads += other.reads;
        self.never_read.extend(other.never_read);
        self.recovered.extend(other.recovered);
        self.lost.extend(other.lost);
        self.stale.extend(other.stale);
        self.unexpected.extend(other.unexpected);
        self.duplicated.extend(other.duplicated);
        self.stable_latencies.extend(other.stable_latencies);
        self.lost_latencies.extend(other.lost_latencies);
    }
}

/// Checks a set history the way Jepsen's `set-full` does (see the module doc).
pub fn check(history: &History, opts: &SetFullOptions) -> Result<CheckResult, CheckError> {
    let started = Instant::now();
    let groups = group_by_key(&history.ops);
    let keyed = groups.iter().any(|g| g.key.is_some());
    // Keys are independent: check them on all cores, then merge in key order.
    let per_key = groups
        .par_iter()
        .map(|group| {
            let mut found = Findings::default();
            check_key(group, &mut found).map(|()| found)
        })
        .collect::<Result<Vec<_>, CheckError>>()?;
    let mut found = Findings::default();
    for f in per_key {
        found.absorb(f);
    }
    let mut result = verdict(&found, opts, keyed);
    result.stats = CheckStats {
        ops: history.ops.len() as u64,
        keys: groups.len() as u64,
        elapsed_secs: started.elapsed().as_secs_f64(),
        ..CheckStats::default()
    };
    Ok(result)
}

/// One key: a pass over its ops, then each element's fate.
fn check_key<'h>(group: &'h KeyGroup<'h>, found: &mut Findings<'h>) -> Result<(), CheckError> {
    let key = group.key.as_ref();
    let ops = &group.ops;
    let mut ids: FxHashMap<Atom, u32> = FxHashMap::default();
    let mut elements: Vec<Element> = Vec::new();
    let mut intern = |atom: Atom, elements: &mut Vec<Element>| -> usize {
        if let Some(&id) = ids.get(&atom) {
            return id as usize;
        }
        ids.insert(atom.clone(), elements.len() as u32);
        elements.push(Element::new(atom));
        elements.len() - 1
    };
    // Read position -> op position, for ok reads in invoke order.
    let mut reads: Vec<u32> = Vec::new();
    for (pos, op) in ops.iter().enumerate() {
        match f_name(op) {
            "add" => {
                if op.invoke_value.is_null() {
                    return Err(malformed(op, "an add needs the element as its value"));
                }
                let id = intern(Atom::of(&op.invoke_value), &mut elements);
                let e = &mut elements[id];
                if rank(Some(op.outcome)) > rank(e.add_outcome) {
                    e.add = pos as u32;
                    e.add_outcome = Some(op.outcome);
                }
                if let (Outcome::Ok, Some(c), Some(t)) =
                    (op.outcome, op.complete_index, op.complete_time)
                {
                    e.learn(c, t);
                }
            }
            "read" => {
                if op.outcome != Outcome::Ok {
                    continue;
                }
                let Value::Array(items) = &op.value else {
                    return Err(malformed(
                        op,
                        format!(
                            "an ok read's value must be the list of elements, got {}",
                            op.value
                        ),
                    ));
                };
                let r = reads.len() as u32;
                reads.push(pos as u32);
                // An ok op always has its completion.
                let (c, t) = (
                    op.complete_index.unwrap_or(op.invoke_index),
                    op.complete_time.unwrap_or(op.invoke_time),
                );
                for item in items {
                    let id = intern(Atom::of(item), &mut elements);
                    let e = &mut elements[id];
                    if e.stamp == r + 1 {
                        e.count += 1;
                        if e.count > e.max_count {
                            e.max_count = e.count;
                            e.max_count_read = r;
                        }
                        continue;
                    }
                    e.stamp = r + 1;
                    e.count = 1;
                    if e.max_count == 0 {
                        e.max_count = 1;
                    }
                    if e.first_present == NONE {
                        e.first_present = r;
                    }
                    if e.last_present == NONE || e.last_present + 1 != r {
                        e.run_start = r;
                    }
                    e.last_present = r;
                    e.learn(c, t);
                }
            }
            _ => return Err(unexpected_f(op, CHECKER, "add and read")),
        }
    }
    found.reads += reads.len();
    let read_op = |r: u32| ops[reads[r as usize] as usize];
    let k = reads.len() as u32;
    for e in elements {
        let add = (e.add != NONE).then(|| ops[e.add as usize]);
        let seen = e.last_present != NONE;
        if e.max_count > 1 {
            found.duplicated.push(Duplicated {
                key,
                atom: e.atom.clone(),
                read: read_op(e.max_count_read),
                times: e.max_count,
            });
        }
        match e.add_outcome {
            None | Some(Outcome::Fail) => {
                if seen {
                    found.unexpected.push(Unexpected {
                        key,
                        atom: e.atom,
                        first_read: read_op(e.first_present),
                        failed_add: add,
                    });
                }
                continue;
            }
            Some(outcome) => {
                found.attempts += 1;
                if outcome == Outcome::Ok {
                    found.acknowledged += 1;
                } else if seen {
                    found.recovered.push((key, e.atom.clone()));
                }
            }
        }
        // The last read that missed it: the read before the final run of reads that saw it,
        // or the very last read when that run does not reach it.
        let last_absent = if k == 0 || (seen && e.last_present == k - 1 && e.run_start == 0) {
            None
        } else if seen && e.last_present == k - 1 {
            Some(e.run_start - 1)
        } else {
            Some(k - 1)
        };
        let known = e.known_index != u64::MAX;
        let absent_op = last_absent.map(read_op);
        let present_op = seen.then(|| read_op(e.last_present));
        let stable = seen && last_absent.is_none_or(|a| a < e.last_present);
        if stable {
            found.stable += 1;
            let stable_time = absent_op.map_or(0, |o| o.invoke_time + 1);
            let latency_ns = stable_time.saturating_sub(e.known_time);
            found.stable_latencies.push(ms(latency_ns));
            if let Some(absent) = absent_op.filter(|o| known && o.invoke_index > e.known_index) {
                found.stale.push(Stale {
                    key,
                    atom: e.atom,
                    add,
                    known_index: e.known_index,
                    last_absent: absent,
                    back_from: read_op(e.run_start),
                    latency_ns,
                });
            }
            continue;
        }
        let lost = match absent_op {
            Some(absent) => {
                known
                    && present_op.is_none_or(|p| p.invoke_index < absent.invoke_index)
                    && e.known_index < absent.invoke_index
            }
            None => false,
        };
        match (lost, absent_op) {
            (true, Some(absent)) => {
                let lost_time = present_op.map_or(0, |o| o.invoke_time + 1);
                let latency_ns = lost_time.saturating_sub(e.known_time);
                found.lost_latencies.push(ms(latency_ns));
                let after = if seen { e.last_present + 1 } else { 0 };
                found.lost.push(Lost {
                    key,
                    atom: e.atom,
                    add,
                    last_present: present_op,
                    last_absent: absent,
                    absent_reads: (k - after) as usize,
                    latency_ns,
                });
            }
            _ => found.never_read.push((key, e.atom)),
        }
    }
    Ok(())
}

/// The verdict, anomalies and details from everything found.
fn verdict(found: &Findings<'_>, opts: &SetFullOptions, keyed: bool) -> CheckResult {
    let mut anomalies = Vec::new();
    if let Some(a) = lost_anomaly(&found.lost) {
        anomalies.push(a);
    }
    if opts.linearizable {
        if let Some(a) = stale_anomaly(&found.stale) {
            anomalies.push(a);
        }
    }
    if let Some(a) = unexpected_anomaly(&found.unexpected) {
        anomalies.push(a);
    }
    if let Some(a) = duplicated_anomaly(&found.duplicated) {
        anomalies.push(a);
    }
    let (valid, cause) = if !anomalies.is_empty() {
        (Validity::Invalid, None)
    } else if found.attempts == 0 {
        (Validity::Unknown, Some("no add was attempted".to_string()))
    } else if found.stable == 0 {
        (
            Validity::Unknown,
            Some("no read saw any added element, so nothing was confirmed".to_string()),
        )
    } else {
        (Validity::Valid, None)
    };
    CheckResult {
        checker: CHECKER.to_string(),
        valid,
        cause,
        anomalies,
        stats: CheckStats::default(),
        details: Some(details(found, opts, keyed)),
    }
}

/// `key K: ` before an element of a keyed history.
fn label(key: Option<&Value>, atom: &Atom) -> String {
    match key {
        Some(k) => format!("{atom} (key {k})"),
        None => atom.to_string(),
    }
}

/// The key all cases share, when they share one.
fn common_key<'a>(mut keys: impl Iterator<Item = Option<&'a Value>>) -> Option<Value> {
    let first = keys.next()??;
    keys.all(|k| k == Some(first)).then(|| first.clone())
}

fn add_phrase(add: Option<&Op>) -> String {
    match add {
        Some(op) => format!("add #{} {}", op.invoke_index, outcome_name(op.outcome)),
        None => "never added".to_string(),
    }
}

fn lost_anomaly(lost: &[Lost<'_>]) -> Option<Anomaly> {
    if lost.is_empty() {
        return None;
    }
    let mut worst: Vec<&Lost<'_>> = lost.iter().collect();
    worst.sort_by(|a, b| b.latency_ns.cmp(&a.latency_ns).then(a.atom.cmp(&b.atom)));
    worst.truncate(WORST_KEEP);
    let mut ops = Vec::new();
    let cases: Vec<String> = worst
        .iter()
        .map(|l| {
            ops.extend(l.add.map(|o| o.invoke_index));
            ops.push(l.last_absent.invoke_index);
            let seen = match l.last_present {
                Some(p) => {
                    ops.push(p.invoke_index);
                    format!(
                        "last seen by read #{}, then missing from the {} invoked after it, \
                         the last being #{}",
                        p.invoke_index,
                        plural(l.absent_reads, "read", "reads"),
                        l.last_absent.invoke_index
                    )
                }
                None => format!(
                    "missing from every read, the last (#{}) invoked after the add completed",
                    l.last_absent.invoke_index
                ),
            };
            format!("{} ({}; {seen})", label(l.key, &l.atom), add_phrase(l.add))
        })
        .collect();
    dedup(&mut ops);
    Some(Anomaly {
        kind: "lost".to_string(),
        key: common_key(lost.iter().map(|l| l.key)),
        ops,
        explanation: format!(
            "{} known to be in the set (acknowledged, or seen by a read) {} missing from every \
             read after some point, the final reads included{}: {}.",
            plural(lost.len(), "element", "elements"),
            if lost.len() == 1 { "was" } else { "were" },
            worst_note(lost.len()),
            cases.join("; ")
        ),
        witness: None,
    })
}

fn stale_anomaly(stale: &[Stale<'_>]) -> Option<Anomaly> {
    if stale.is_empty() {
        return None;
    }
    let mut worst: Vec<&Stale<'_>> = stale.iter().collect();
    worst.sort_by(|a, b| b.latency_ns.cmp(&a.latency_ns).then(a.atom.cmp(&b.atom)));
    worst.truncate(WORST_KEEP);
    let mut ops = Vec::new();
    let cases: Vec<String> = worst
        .iter()
        .map(|s| {
            ops.extend(s.add.map(|o| o.invoke_index));
            ops.push(s.last_absent.invoke_index);
            ops.push(s.back_from.invoke_index);
            format!(
                "{} ({}; known at event {}; missing from read #{}, invoked after that; \
                 seen by every read from #{} on; {:.3} ms late)",
                label(s.key, &s.atom),
                add_phrase(s.add),
                s.known_index,
                s.last_absent.invoke_index,
                s.back_from.invoke_index,
                ms(s.latency_ns)
            )
        })
        .collect();
    dedup(&mut ops);
    Some(Anomaly {
        kind: "stale".to_string(),
        key: common_key(stale.iter().map(|s| s.key)),
        ops,
        explanation: format!(
            "{} became visible late: a read that began after the element was known to be \
             added did not see it, a later one did (a linearizable set never does this){}: {}.",
            plural(stale.len(), "element", "elements"),
            worst_note(stale.len()),
            cases.join("; ")
        ),
        witness: None,
    })
}

fn unexpected_anomaly(unexpected: &[Unexpected<'_>]) -> Option<Anomaly> {
    if unexpected.is_empty() {
        return None;
    }
    let mut worst: Vec<&Unexpected<'_>> = unexpected.iter().collect();
    worst.sort_by_key(|u| u.first_read.invoke_index);
    worst.truncate(WORST_KEEP);
    let mut ops = Vec::new();
    let cases: Vec<String> = worst
        .iter()
        .map(|u| {
            ops.push(u.first_read.invoke_index);
            let why = match u.failed_add {
                Some(add) => {
                    ops.push(add.invoke_index);
                    format!(
                        "its add #{} failed, so it certainly did not happen",
                        add.invoke_index
                    )
                }
                None => "no add of it was ever attempted".to_string(),
            };
            format!(
                "{} (first seen by read #{}; {why})",
                label(u.key, &u.atom),
                u.first_read.invoke_index
            )
        })
        .collect();
    dedup(&mut ops);
    Some(Anomaly {
        kind: "unexpected".to_string(),
        key: common_key(unexpected.iter().map(|u| u.key)),
        ops,
        explanation: format!(
            "reads returned {} no successful or pending add could have put there{}: {}.",
            plural(unexpected.len(), "element", "elements"),
            worst_note(unexpected.len()),
            cases.join("; ")
        ),
        witness: None,
    })
}

fn duplicated_anomaly(duplicated: &[Duplicated<'_>]) -> Option<Anomaly> {
    if duplicated.is_empty() {
        return None;
    }
    let mut worst: Vec<&Duplicated<'_>> = duplicated.iter().collect();
    worst.sort_by(|a, b| b.times.cmp(&a.times).then(a.atom.cmp(&b.atom)));
    worst.truncate(WORST_KEEP);
    let mut ops: Vec<u64> = worst.iter().map(|d| d.read.invoke_index).collect();
    dedup(&mut ops);
    let cases: Vec<String> = worst
        .iter()
        .map(|d| {
            format!(
                "{} ({} times in read #{})",
                label(d.key, &d.atom),
                d.times,
                d.read.invoke_index
            )
        })
        .collect();
    Some(Anomaly {
        kind: "duplicated".to_string(),
        key: common_key(duplicated.iter().map(|d| d.key)),
        ops,
        explanation: format!(
            "{} appeared more than once in a single read (a set holds each element once){}: {}.",
            plural(duplicated.len(), "element", "elements"),
            worst_note(duplicated.len()),
            cases.join("; ")
        ),
        witness: None,
    })
}

/// " (the worst 8 named)" when not all cases are named.
fn worst_note(n: usize) -> String {
    if n > WORST_KEEP {
        format!(" (the worst {WORST_KEEP} named)")
    } else {
        String::new()
    }
}

/// Removes repeated op indices, keeping the first of each (most relevant first).
fn dedup(ops: &mut Vec<u64>) {
    let mut seen = std::collections::HashSet::new();
    ops.retain(|o| seen.insert(*o));
}

/// An element (or `{key, element}` in a keyed history) for the result's lists.
fn item(keyed: bool, key: Option<&Value>, atom: &Atom) -> Value {
    if keyed {
        json!({"key": key.cloned().unwrap_or(Value::Null), "element": atom.to_value()})
    } else {
        atom.to_value()
    }
}

/// The first [`LIST_KEEP`] of `items`, sorted.
fn list<'a, I>(keyed: bool, items: I) -> Value
where
    I: Iterator<Item = (Option<&'a Value>, &'a Atom)>,
{
    let mut v: Vec<(Option<Atom>, Option<&Value>, &Atom)> =
        items.map(|(k, a)| (k.map(Atom::of), k, a)).collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(b.2)));
    v.truncate(LIST_KEEP);
    Value::Array(v.into_iter().map(|(_, k, a)| item(keyed, k, a)).collect())
}

/// Counts, element lists (at most [`LIST_KEEP`] each), the worst cases and latency quantiles.
fn details(found: &Findings<'_>, opts: &SetFullOptions, keyed: bool) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    put("linearizable", Value::Bool(opts.linearizable));
    put("read_count", json!(found.reads));
    put("attempt_count", json!(found.attempts));
    put("acknowledged_count", json!(found.acknowledged));
    put("stable_count", json!(found.stable));
    put("lost_count", json!(found.lost.len()));
    put("never_read_count", json!(found.never_read.len()));
    put("stale_count", json!(found.stale.len()));
    put("recovered_count", json!(found.recovered.len()));
    put("unexpected_count", json!(found.unexpected.len()));
    put("duplicated_count", json!(found.duplicated.len()));
    put(
        "lost",
        list(keyed, found.lost.iter().map(|l| (l.key, &l.atom))),
    );
    put(
        "stale",
        list(keyed, found.stale.iter().map(|s| (s.key, &s.atom))),
    );
    put(
        "never_read",
        list(keyed, found.never_read.iter().map(|(k, a)| (*k, a))),
    );
    put(
        "recovered",
        list(keyed, found.recovered.iter().map(|(k, a)| (*k, a))),
    );
    put(
        "unexpected",
        list(keyed, found.unexpected.iter().map(|u| (u.key, &u.atom))),
    );
    put(
        "duplicated",
        list(keyed, found.duplicated.iter().map(|d| (d.key, &d.atom))),
    );
    let mut worst: Vec<&Stale<'_>> = found.stale.iter().collect();
    worst.sort_by(|a, b| b.latency_ns.cmp(&a.latency_ns).then(a.atom.cmp(&b.atom)));
    worst.truncate(WORST_KEEP);
    let worst: Vec<Value> = worst
        .iter()
        .map(|s| {
            let mut w = json!({
                "element": s.atom.to_value(),
                "stable_latency_ms": ms(s.latency_ns),
                "add": s.add.map(|o| o.invoke_index),
                "missed_by": s.last_absent.invoke_index,
                "seen_from": s.back_from.invoke_index,
            });
            if let Some(k) = s.key {
                w["key"] = k.clone();
            }
            w
        })
        .collect();
    put("worst_stale", Value::Array(worst));
    if let Some(q) = quantiles(found.stable_latencies.clone()) {
        put("stable_latencies_ms", q);
    }
    if let Some(q) = quantiles(found.lost_latencies.clone()) {
        put("lost_latencies_ms", q);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{history, keyed};
    use super::*;
    use serde_json::json;

    fn run(h: &History) -> CheckResult {
        check(h, &SetFullOptions::default()).unwrap()
    }

    fn kinds(r: &CheckResult) -> Vec<&str> {
        r.anomalies.iter().map(|a| a.kind.as_str()).collect()
    }

    /// One hand-made history and everything its check must say. `events` holds one event a
    /// line, `process type f value` (the value is JSON); anything left empty is not checked,
    /// except `kinds`, which is always the exact list of anomaly kinds.
    struct Case {
        events: &'static str,
        linearizable: bool,
        valid: Validity,
        kinds: &'static [&'static str],
        /// The first anomaly's ops.
        ops: Option<&'static [u64]>,
        /// Phrases the first anomaly's explanation contains.
        says: &'static [&'static str],
        /// (JSON pointer into the details, the JSON it must equal).
        details: &'static [(&'static str, &'static str)],
        /// (JSON pointer into the details, a number it must be within 1e-12 of).
        close: &'static [(&'static str, f64)],
    }

    const CASE: Case = Case {
        events: "",
        linearizable: true,
        valid: Validity::Valid,
        kinds: &[],
        ops: None,
        says: &[],
        details: &[],
        close: &[],
    };

    impl Case {
        fn history(&self) -> History {
            let events: Vec<(u64, &str, &str, Value)> = self
                .events
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let parts: Vec<&str> = l.splitn(4, ' ').collect();
                    let value = serde_json::from_str(parts[3]).expect("a JSON value");
                    (
                        parts[0].parse().expect("a process"),
                        parts[1],
                        parts[2],
                        value,
                    )
                })
                .collect();
            history(&events)
        }

        fn assert(&self) {
            let opts = SetFullOptions {
                linearizable: self.linearizable,
            };
            let r = check(&self.history(), &opts).unwrap();
            assert_eq!(r.valid, self.valid, "{:?}", r.anomalies);
            assert_eq!(kinds(&r), self.kinds, "{:?}", r.anomalies);
            if let Some(ops) = self.ops {
                assert_eq!(r.anomalies[0].ops, ops);
            }
            for phrase in self.says {
                let explanation = &r.anomalies[0].explanation;
                assert!(explanation.contains(phrase), "{phrase:?}: {explanation}");
            }
            let d = r.details.unwrap();
            for (pointer, want) in self.details {
                let want: Value = serde_json::from_str(want).expect("JSON");
                assert_eq!(d.pointer(pointer), Some(&want), "{pointer} in {d}");
            }
            for (pointer, want) in self.close {
                let got = d.pointer(pointer).and_then(Value::as_f64).unwrap();
                assert!((got - want).abs() < 1e-12, "{pointer}: {got}");
            }
        }
    }

    /// One `#[test]` per case, named for what it shows.
    macro_rules! cases {
        ($($name:ident: $case:expr;)*) => {$(
            #[test]
            fn $name() {
                $case.assert();
            }
        )*};
    }

    cases! {
        acknowledged_elements_read_back_are_stable_and_valid: Case {
            events: "0 invoke add 1
                     0 ok add 1
                     1 invoke add 2
                     1 ok add 2
                     2 invoke read null
                     2 ok read [1,2]",
            details: &[
                ("/stable_count", "2"),
                ("/acknowledged_count", "2"),
                ("/stale_count", "0"),
                ("/stable_latencies_ms/1", "0.0"),
            ],
            ..CASE
        };
        // Add, last absent read, last present read.
        acknowledged_element_missing_from_later_reads_is_lost: Case {
            events: "0 invoke add 1
                     0 ok add 1
                     1 invoke add 2
                     1 ok add 2
                     2 invoke read null
                     2 ok read [1,2]
                     2 invoke read null
                     2 ok read [1]",
            valid: Validity::Invalid,
            kinds: &["lost"],
            ops: Some(&[2, 6, 4]),
            says: &["last seen by read #4"],
            details: &[("/lost", "[2]"), ("/stable_count", "1")],
            // Known at t=30 (the add's ok); lost just after the last read that saw it began
            // (t=40).
            close: &[("/lost_latencies_ms/0", 0.000011)],
            ..CASE
        };
        acknowledged_element_never_read_back_is_lost: Case {
            events: "0 invoke add 7
                     0 ok add 7
                     1 invoke read null
                     1 ok read []",
            valid: Validity::Invalid,
            kinds: &["lost"],
            says: &["missing from every read"],
            ..CASE
        };
        // The read began before the add completed, so it may linearize before the add; nothing
        // was ever stable.
        a_read_concurrent_with_the_add_may_miss_it: Case {
            events: "0 invoke add 1
                     1 invoke read null
                     0 ok add 1
                     1 ok read []",
            valid: Validity::Unknown,
            details: &[("/never_read", "[1]")],
            ..CASE
        };
        info_add_never_seen_is_never_read_not_lost: Case {
            events: "0 invoke add 1
                     0 ok add 1
                     1 invoke add 2
                     1 info add 2
                     2 invoke read null
                     2 ok read [1]",
            details: &[("/never_read", "[2]"), ("/recovered_count", "0")],
            ..CASE
        };
        // The add never completed at all: still info, may have happened.
        info_add_seen_is_recovered_and_valid: Case {
            events: "0 invoke add 1
                     0 ok add 1
                     1 invoke add 2
                     2 invoke read null
                     2 ok read [1,2]",
            details: &[("/recovered", "[2]"), ("/stable_count", "2")],
            ..CASE
        };
        // Once a read saw it, it existed; a set never removes, so its absence later is loss.
        info_add_seen_then_gone_is_lost: Case {
            events: "1 invoke add 2
                     1 info add 2
                     2 invoke read null
                     2 ok read [2]
                     2 invoke read null
                     2 ok read []",
            valid: Validity::Invalid,
            kinds: &["lost"],
            says: &["add #0 info"],
            ..CASE
        };
        // Known at t=10 (the add's ok), missed by the read invoked at t=20: 11 ns late.
        element_missed_after_it_was_known_then_seen_is_stale: Case {
            events: STALE,
            valid: Validity::Invalid,
            kinds: &["stale"],
            ops: Some(&[0, 2, 4]),
            details: &[("/stale", "[1]")],
            close: &[("/worst_stale/0/stable_latency_ms", 0.000011)],
            ..CASE
        };
        a_stale_element_is_counted_but_valid_when_not_linearizable: Case {
            events: STALE,
            linearizable: false,
            details: &[("/stale_count", "1")],
            ..CASE
        };
        element_no_add_attempted_is_unexpected: Case {
            events: "0 invoke add 1
                     0 ok add 1
                     1 invoke read null
                     1 ok read [1,99]",
            valid: Validity::Invalid,
            kinds: &["unexpected"],
            says: &["99"],
            details: &[("/unexpected", "[99]")],
            ..CASE
        };
        element_whose_add_failed_is_unexpected: Case {
            events: "0 invoke add 1
                     0 fail add 1
                     1 invoke add 2
                     1 ok add 2
                     2 invoke read null
                     2 ok read [1,2]",
            valid: Validity::Invalid,
            kinds: &["unexpected"],
            ops: Some(&[4, 0]),
            says: &["add #0 failed"],
            ..CASE
        };
        failed_add_absent_is_fine: Case {
            events: "0 invoke add 1
                     0 fail add 1
                     1 invoke add 2
                     1 ok add 2
                     2 invoke read null
                     2 ok read [2]",
            details: &[("/attempt_count", "1")],
            ..CASE
        };
        element_twice_in_one_read_is_duplicated: Case {
            events: r#"0 invoke add "a"
                     0 ok add "a"
                     1 invoke read null
                     1 ok read ["a","a","a"]"#,
            valid: Validity::Invalid,
            kinds: &["duplicated"],
            says: &[r#""a" (3 times in read #2)"#],
            ..CASE
        };
        failed_and_info_reads_say_nothing: Case {
            events: "0 invoke add 1
                     0 ok add 1
                     1 invoke read null
                     1 fail read null
                     2 invoke read null
                     2 info read null
                     3 invoke read null
                     3 ok read [1]",
            ..CASE
        };
    }

    /// An acknowledged element a read misses after the add completed, then sees.
    const STALE: &str = "0 invoke add 1
                         0 ok add 1
                         1 invoke read null
                         1 ok read []
                         1 invoke read null
                         1 ok read [1]";

    #[test]
    fn keys_are_independent_sets() {
        let h = keyed(&[
            (0, "invoke", "add", json!("x"), json!(1)),
            (0, "ok", "add", json!("x"), json!(1)),
            (1, "invoke", "add", json!("y"), json!(1)),
            (1, "ok", "add", json!("y"), json!(1)),
            (2, "invoke", "read", json!("x"), json!(null)),
            (2, "ok", "read", json!("x"), json!([1])),
            (2, "invoke", "read", json!("y"), json!(null)),
            (2, "ok", "read", json!("y"), json!([])),
        ]);
        let r = run(&h);
        assert_eq!(kinds(&r), vec!["lost"]);
        assert_eq!(r.anomalies[0].key, Some(json!("y")));
        assert_eq!(r.stats.keys, 2);
        assert_eq!(
            r.details.unwrap()["lost"],
            json!([{"key": "y", "element": 1}])
        );
    }

    #[test]
    fn empty_or_unread_histories_are_unknown() {
        let r = run(&History::default());
        assert_eq!(r.valid, Validity::Unknown);
        assert_eq!(r.cause.as_deref(), Some("no add was attempted"));
        let h = history(&[(0, "invoke", "add", json!(1)), (0, "ok", "add", json!(1))]);
        assert_eq!(run(&h).valid, Validity::Unknown);
    }

    #[test]
    fn malformed_ops_name_their_index() {
        let cases = [
            (
                history(&[
                    (0, "invoke", "read", json!(null)),
                    (0, "ok", "read", json!(3)),
                ]),
                0,
                "list of elements",
            ),
            (
                history(&[
                    (0, "invoke", "add", json!(1)),
                    (0, "ok", "add", json!(1)),
                    (0, "invoke", "add", json!(null)),
                ]),
                2,
                "needs the element",
            ),
            (
                history(&[(0, "invoke", "write", json!(1))]),
                0,
                "reads only add and read",
            ),
        ];
        for (i, (h, index, text)) in cases.iter().enumerate() {
            match check(h, &SetFullOptions::default()) {
                Err(CheckError::Malformed { index: got, reason }) => {
                    assert_eq!(got, *index, "case {i}");
                    assert!(reason.contains(text), "case {i}: {reason}");
                }
                other => panic!("case {i}: {other:?}"),
            }
        }
    }

    /// A seeded run of a correct set: 3 processes, each add takes effect at its completion
    /// (an info add half the time), reads return the set at their completion, and a final
    /// read after everything. Returns the history's events.
    fn simulated(seed: u64) -> Vec<(u64, &'static str, &'static str, Value)> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut rng = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut set: Vec<u64> = Vec::new();
        let mut open: [Option<(&'static str, Value)>; 3] = [None, None, None];
        let mut events = Vec::new();
        let mut next = 0;
        for _ in 0..300 {
            let p = (rng() % 3) as usize;
            match open[p].take() {
                None => {
                    let op = if rng() % 3 == 0 {
                        ("read", Value::Null)
                    } else {
                        next += 1;
                        ("add", json!(next))
                    };
                    events.push((p as u64, "invoke", op.0, op.1.clone()));
                    open[p] = Some(op);
                }
                Some(("add", v)) => {
                    let info = rng() % 10 == 0;
                    if !info || rng() % 2 == 0 {
                        set.push(v.as_u64().unwrap());
                    }
                    events.push((p as u64, if info { "info" } else { "ok" }, "add", v));
                }
                Some((f, _)) => events.push((p as u64, "ok", f, json!(set))),
            }
        }
        for (p, op) in open.iter().enumerate() {
            if let Some((f, v)) = op {
                events.push((p as u64, "info", *f, v.clone()));
            }
        }
        events.push((9, "invoke", "read", Value::Null));
        events.push((9, "ok", "read", json!(set)));
        events
    }

    #[test]
    fn simulated_correct_sets_are_valid_and_one_dropped_element_is_lost() {
        for seed in 0..20 {
            let mut events = simulated(seed);
            let r = run(&history(&events));
            assert_eq!(r.valid, Validity::Valid, "seed {seed}: {:?}", r.anomalies);
            // Drop an acknowledged element from the final read: it is lost.
            let acked: Vec<Value> = events
                .iter()
                .filter(|e| e.1 == "ok" && e.2 == "add")
                .map(|e| e.3.clone())
                .collect();
            let last = events.len() - 1;
            let Value::Array(items) = &mut events[last].3 else {
                unreachable!("the final read is a list")
            };
            let Some(at) = items.iter().position(|v| acked.contains(v)) else {
                continue;
            };
            let dropped = items.remove(at);
            let r = run(&history(&events));
            assert_eq!(kinds(&r), vec!["lost"], "seed {seed}");
            assert_eq!(r.details.unwrap()["lost"], json!([dropped]), "seed {seed}");
        }
    }

    #[test]
    fn worst_cases_are_named_and_counts_complete() {
        let mut events = Vec::new();
        for e in 0..20 {
            events.push((0, "invoke", "add", json!(e)));
            events.push((0, "ok", "add", json!(e)));
        }
        events.push((1, "invoke", "read", json!(null)));
        events.push((1, "ok", "read", json!([0])));
        let r = run(&history(&events));
        assert_eq!(r.details.as_ref().unwrap()["lost_count"], json!(19));
        let a = &r.anomalies[0];
        assert!(
            a.explanation.starts_with("19 elements"),
            "{}",
            a.explanation
        );
        assert!(a.explanation.contains("the worst 8 named"));
        assert_eq!(a.explanation.matches("add #").count(), WORST_KEEP);
    }
}
