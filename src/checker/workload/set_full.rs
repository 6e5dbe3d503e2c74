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
//! the element's last present read, so no read is rescanned.

use std::time::Instant;

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

/// Checks a set history the way Jepsen's `set-full` does (see the module doc).
pub fn check(history: &History, opts: &SetFullOptions) -> Result<CheckResult, CheckError> {
    let started = Instant::now();
    let groups = group_by_key(&history.ops);
    let keyed = groups.iter().any(|g| g.key.is_some());
    let mut found = Findings::default();
    for group in &groups {
        check_key(group, &mut found)?;
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
    let mut v: Vec<(Option<&Value>, &Atom)> = items.collect();
    v.sort_by(|a, b| {
        let ka = a.0.map(Value::to_string);
        let kb = b.0.map(Value::to_string);
        ka.cmp(&kb).then(a.1.cmp(b.1))
    });
    v.truncate(LIST_KEEP);
    Value::Array(v.into_iter().map(|(k, a)| item(keyed, k, a)).collect())
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

    #[test]
    fn acknowledged_elements_read_back_are_stable_and_valid() {
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (1, "invoke", "add", json!(2)),
            (1, "ok", "add", json!(2)),
            (2, "invoke", "read", json!(null)),
            (2, "ok", "read", json!([1, 2])),
        ]);
        let r = run(&h);
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
        let d = r.details.unwrap();
        assert_eq!(d["stable_count"], json!(2));
        assert_eq!(d["acknowledged_count"], json!(2));
        assert_eq!(d["stale_count"], json!(0));
        assert_eq!(d["stable_latencies_ms"]["1"], json!(0.0));
    }

    #[test]
    fn acknowledged_element_missing_from_later_reads_is_lost() {
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (1, "invoke", "add", json!(2)),
            (1, "ok", "add", json!(2)),
            (2, "invoke", "read", json!(null)),
            (2, "ok", "read", json!([1, 2])),
            (2, "invoke", "read", json!(null)),
            (2, "ok", "read", json!([1])),
        ]);
        let r = run(&h);
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(kinds(&r), vec!["lost"]);
        let a = &r.anomalies[0];
        assert_eq!(
            a.ops,
            vec![2, 6, 4],
            "add, last absent read, last present read"
        );
        assert!(
            a.explanation.contains("last seen by read #4"),
            "{}",
            a.explanation
        );
        let d = r.details.unwrap();
        assert_eq!(d["lost"], json!([2]));
        assert_eq!(d["stable_count"], json!(1));
        // Known at t=30 (the add's ok); lost just after the last read that saw it began (t=40).
        let lost = d["lost_latencies_ms"]["0"].as_f64().unwrap();
        assert!((lost - 0.000011).abs() < 1e-12, "{lost}");
    }

    #[test]
    fn acknowledged_element_never_read_back_is_lost() {
        let h = history(&[
            (0, "invoke", "add", json!(7)),
            (0, "ok", "add", json!(7)),
            (1, "invoke", "read", json!(null)),
            (1, "ok", "read", json!([])),
        ]);
        let r = run(&h);
        assert_eq!(kinds(&r), vec!["lost"]);
        assert!(r.anomalies[0]
            .explanation
            .contains("missing from every read"));
    }

    #[test]
    fn a_read_concurrent_with_the_add_may_miss_it() {
        // The read began before the add completed, so it may linearize before the add.
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (1, "invoke", "read", json!(null)),
            (0, "ok", "add", json!(1)),
            (1, "ok", "read", json!([])),
        ]);
        let r = run(&h);
        assert!(r.anomalies.is_empty(), "{:?}", r.anomalies);
        assert_eq!(r.valid, Validity::Unknown, "nothing was ever stable");
        assert_eq!(r.details.unwrap()["never_read"], json!([1]));
    }

    #[test]
    fn info_add_never_seen_is_never_read_not_lost() {
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (1, "invoke", "add", json!(2)),
            (1, "info", "add", json!(2)),
            (2, "invoke", "read", json!(null)),
            (2, "ok", "read", json!([1])),
        ]);
        let r = run(&h);
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
        let d = r.details.unwrap();
        assert_eq!(d["never_read"], json!([2]));
        assert_eq!(d["recovered_count"], json!(0));
    }

    #[test]
    fn info_add_seen_is_recovered_and_valid() {
        // The add never completed at all: still info, may have happened.
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (1, "invoke", "add", json!(2)),
            (2, "invoke", "read", json!(null)),
            (2, "ok", "read", json!([1, 2])),
        ]);
        let r = run(&h);
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
        let d = r.details.unwrap();
        assert_eq!(d["recovered"], json!([2]));
        assert_eq!(d["stable_count"], json!(2));
    }

    #[test]
    fn info_add_seen_then_gone_is_lost() {
        // Once a read saw it, it existed; a set never removes, so its absence later is loss.
        let h = history(&[
            (1, "invoke", "add", json!(2)),
            (1, "info", "add", json!(2)),
            (2, "invoke", "read", json!(null)),
            (2, "ok", "read", json!([2])),
            (2, "invoke", "read", json!(null)),
            (2, "ok", "read", json!([])),
        ]);
        let r = run(&h);
        assert_eq!(kinds(&r), vec!["lost"]);
        assert!(r.anomalies[0].explanation.contains("add #0 info"));
    }

    #[test]
    fn element_missed_after_it_was_known_then_seen_is_stale() {
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (1, "invoke", "read", json!(null)),
            (1, "ok", "read", json!([])),
            (1, "invoke", "read", json!(null)),
            (1, "ok", "read", json!([1])),
        ]);
        let r = run(&h);
        assert_eq!(kinds(&r), vec!["stale"]);
        assert_eq!(r.anomalies[0].ops, vec![0, 2, 4]);
        let d = r.details.unwrap();
        assert_eq!(d["stale"], json!([1]));
        // Known at t=10 (the add's ok), missed by the read invoked at t=20: 11 ns late.
        let late = d["worst_stale"][0]["stable_latency_ms"].as_f64().unwrap();
        assert!((late - 0.000011).abs() < 1e-12, "{late}");

        let lenient = check(
            &h,
            &SetFullOptions {
                linearizable: false,
            },
        )
        .unwrap();
        assert_eq!(lenient.valid, Validity::Valid);
        assert_eq!(lenient.details.unwrap()["stale_count"], json!(1));
    }

    #[test]
    fn element_no_add_attempted_is_unexpected() {
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (1, "invoke", "read", json!(null)),
            (1, "ok", "read", json!([1, 99])),
        ]);
        let r = run(&h);
        assert_eq!(kinds(&r), vec!["unexpected"]);
        assert!(r.anomalies[0].explanation.contains("99"));
        assert_eq!(r.details.unwrap()["unexpected"], json!([99]));
    }

    #[test]
    fn element_whose_add_failed_is_unexpected() {
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (0, "fail", "add", json!(1)),
            (1, "invoke", "add", json!(2)),
            (1, "ok", "add", json!(2)),
            (2, "invoke", "read", json!(null)),
            (2, "ok", "read", json!([1, 2])),
        ]);
        let r = run(&h);
        assert_eq!(kinds(&r), vec!["unexpected"]);
        assert_eq!(r.anomalies[0].ops, vec![4, 0]);
        assert!(r.anomalies[0].explanation.contains("add #0 failed"));
    }

    #[test]
    fn failed_add_absent_is_fine() {
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (0, "fail", "add", json!(1)),
            (1, "invoke", "add", json!(2)),
            (1, "ok", "add", json!(2)),
            (2, "invoke", "read", json!(null)),
            (2, "ok", "read", json!([2])),
        ]);
        let r = run(&h);
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
        assert_eq!(r.details.unwrap()["attempt_count"], json!(1));
    }

    #[test]
    fn element_twice_in_one_read_is_duplicated() {
        let h = history(&[
            (0, "invoke", "add", json!("a")),
            (0, "ok", "add", json!("a")),
            (1, "invoke", "read", json!(null)),
            (1, "ok", "read", json!(["a", "a", "a"])),
        ]);
        let r = run(&h);
        assert_eq!(kinds(&r), vec!["duplicated"]);
        assert!(r.anomalies[0]
            .explanation
            .contains("\"a\" (3 times in read #2)"));
    }

    #[test]
    fn failed_and_info_reads_say_nothing() {
        let h = history(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (1, "invoke", "read", json!(null)),
            (1, "fail", "read", json!(null)),
            (2, "invoke", "read", json!(null)),
            (2, "info", "read", json!(null)),
            (3, "invoke", "read", json!(null)),
            (3, "ok", "read", json!([1])),
        ]);
        assert_eq!(run(&h).valid, Validity::Valid);
    }

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
