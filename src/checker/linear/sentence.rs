//! One plain sentence from a core (see `core`): the common shapes of a register anomaly are
//! recognised and said as a person would (a stale read, a read of a value never written, a
//! lost write, a cas on a value that could not be current, reads that go back in time); any
//! other core gets a general sentence listing its ops.
//!
//! A pattern is only used when its facts hold on the *whole* key's history (every write of the
//! value involved is checked, not just the core's), so each sentence is a complete argument by
//! itself; otherwise the general sentence is used.

use super::explain::Clock;
use crate::history::{Op, Outcome};
use serde_json::Value;

/// The shape a core was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// A read returned a value an acknowledged later write had replaced for good.
    StaleRead,
    /// A read returned a value nothing had written.
    NeverWritten,
    /// An acknowledged write that no later read saw, superseded by an older value.
    LostWrite,
    /// A cas succeeded on a value the register could not hold then.
    ImpossibleCas,
    /// A read returned a newer value, a later read an older one.
    NonMonotonicReads,
    /// None of the above: the core's ops are listed.
    General,
}

impl Pattern {
    /// The name stored in results.json (`witness.pattern`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pattern::StaleRead => "stale-read",
            Pattern::NeverWritten => "never-written",
            Pattern::LostWrite => "lost-write",
            Pattern::ImpossibleCas => "impossible-cas",
            Pattern::NonMonotonicReads => "non-monotonic-reads",
            Pattern::General => "general",
        }
    }
}

/// A sentence and the ops it cites (by invoke index, most relevant first).
#[derive(Debug, Clone)]
pub(crate) struct Told {
    pub pattern: Pattern,
    pub sentence: String,
    pub cited: Vec<u64>,
}

/// How many core ops the general sentence lists before "and N more".
const GENERAL_LIST: usize = 8;

fn fname(op: &Op) -> &str {
    op.f.strip_prefix(':').unwrap_or(&op.f)
}

fn is_read(op: &Op) -> bool {
    matches!(fname(op), "read" | "get" | "r")
}

fn is_write(op: &Op) -> bool {
    matches!(fname(op), "write" | "put" | "w")
}

fn is_cas(op: &Op) -> bool {
    matches!(fname(op), "cas" | "compare-and-set")
}

fn cas_pair(op: &Op) -> Option<(&Value, &Value)> {
    match op.invoke_value.as_array().map(|a| a.as_slice()) {
        Some([from, to]) => Some((from, to)),
        _ => None,
    }
}

/// The value an ok read or cas relied on the register holding.
fn observed(op: &Op) -> Option<&Value> {
    if op.outcome != Outcome::Ok {
        return None;
    }
    if is_read(op) {
        Some(&op.value)
    } else if is_cas(op) {
        cas_pair(op).map(|(from, _)| from)
    } else {
        None
    }
}

/// The value an op may have written (ok or indeterminate writes and cas).
fn written(op: &Op) -> Option<&Value> {
    if op.outcome == Outcome::Fail {
        return None;
    }
    if is_write(op) {
        Some(&op.invoke_value)
    } else if is_cas(op) {
        cas_pair(op).map(|(_, to)| to)
    } else {
        None
    }
}

/// The value the register held right after an ok op took effect.
fn left(op: &Op) -> Option<&Value> {
    if op.outcome != Outcome::Ok {
        return None;
    }
    if is_read(op) {
        Some(&op.value)
    } else {
        written(op)
    }
}

/// True when every op of the key is a register read, write or cas (no append, no other
/// model): only then do the patterns' arguments hold.
fn register_like(ops: &[&Op]) -> bool {
    ops.iter().all(|o| is_read(o) || is_write(o) || is_cas(o))
}

fn show(v: &Value) -> String {
    v.to_string()
}

/// "process 3 read 2", "process 5 wrote 4", "process 1's cas [1,2]".
fn deed(op: &Op) -> String {
    if is_read(op) {
        format!("process {} read {}", op.process, show(&op.value))
    } else if is_write(op) {
        format!("process {}'s write {}", op.process, show(&op.invoke_value))
    } else if op.invoke_value.is_null() {
        format!("process {}'s {}", op.process, fname(op))
    } else {
        format!(
            "process {}'s {} {}",
            op.process,
            fname(op),
            show(&op.invoke_value)
        )
    }
}

fn completed(op: &Op, clock: Clock) -> String {
    match (op.complete_index, op.complete_time) {
        (Some(ci), Some(ct)) => clock.at(ci, ct),
        _ => "never".to_string(),
    }
}

fn invoked(op: &Op, clock: Clock) -> String {
    clock.at(op.invoke_index, op.invoke_time)
}

/// "op 12 (process 3 read 2, invoked 0.050 s, completed 0.060 s)".
fn cite(op: &Op, clock: Clock) -> String {
    format!("op {} ({}, {})", op.invoke_index, deed(op), clock.span(op))
}

/// Says why `core` (ops of one key, any order) is not linearizable; `key_ops` is the whole
/// key's history, `initial` the register's initial value.
pub(crate) fn tell(core: &[&Op], key_ops: &[&Op], initial: &Value, clock: Clock) -> Told {
    let mut core: Vec<&Op> = core.to_vec();
    core.sort_by_key(|o| o.invoke_index);
    if register_like(key_ops) {
        if let Some(t) = register_pattern(&core, key_ops, initial, clock) {
            return t;
        }
    }
    general(&core, clock)
}

fn general(core: &[&Op], clock: Clock) -> Told {
    let listed: Vec<String> = core
        .iter()
        .take(GENERAL_LIST)
        .map(|o| cite(o, clock))
        .collect();
    let more = core.len().saturating_sub(GENERAL_LIST);
    let tail = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    let sentence = if core.len() == 1 {
        format!(
            "No linearization exists: {} is illegal on its own.",
            listed[0]
        )
    } else {
        format!(
            "No linearization exists: no order of these {} ops is legal, as recorded: {}{tail}.",
            core.len(),
            listed.join("; ")
        )
    };
    Told {
        pattern: Pattern::General,
        sentence,
        cited: core.iter().map(|o| o.invoke_index).collect(),
    }
}

/// The writes of `v` that could precede `o` (invoked before `o` completed), except `o`.
fn writers_before<'h>(key_ops: &[&'h Op], v: &Value, o: &Op) -> Vec<&'h Op> {
    let end = o.complete_index.unwrap_or(u64::MAX);
    key_ops
        .iter()
        .copied()
        .filter(|w| w.invoke_index != o.invoke_index && w.invoke_index < end)
        .filter(|w| written(w) == Some(v))
        .collect()
}

fn register_pattern(core: &[&Op], key_ops: &[&Op], initial: &Value, clock: Clock) -> Option<Told> {
    // Observations, latest first: the later one is usually the one that went wrong.
    let mut observations: Vec<(&Op, &Value)> = core
        .iter()
        .filter_map(|o| observed(o).map(|v| (*o, v)))
        .collect();
    observations.sort_by_key(|(o, _)| std::cmp::Reverse(o.invoke_index));
    for &(o, v) in &observations {
        if v != initial && writers_before(key_ops, v, o).is_empty() {
            return Some(never_written(o, v, key_ops, initial, clock));
        }
    }
    for &(o, v) in &observations {
        if let Some(t) = overwritten(o, v, core, key_ops, initial, clock) {
            return Some(t);
        }
    }
    None
}

fn never_written(o: &Op, v: &Value, key_ops: &[&Op], initial: &Value, clock: Clock) -> Told {
    let first_later = key_ops
        .iter()
        .filter(|w| w.invoke_index != o.invoke_index && written(w) == Some(v))
        .min_by_key(|w| w.invoke_index);
    let later = match first_later {
        Some(w) => format!(
            "; the first write of {}, op {} by process {}, began only at {}",
            show(v),
            w.invoke_index,
            w.process,
            invoked(w, clock)
        ),
        None => String::new(),
    };
    let (pattern, head) = if is_cas(o) {
        (
            Pattern::ImpossibleCas,
            format!(
                "Impossible cas: {} succeeded, but nothing had written {} to the register by then (it started as {}){later}.",
                cite(o, clock),
                show(v),
                show(initial)
            ),
        )
    } else {
        (
            Pattern::NeverWritten,
            format!(
                "Read of a value never written: {}, but nothing had written {} to the register by then (it started as {}){later}.",
                cite(o, clock),
                show(v),
                show(initial)
            ),
        )
    };
    let mut cited = vec![o.invoke_index];
    cited.extend(first_later.map(|w| w.invoke_index));
    Told {
        pattern,
        sentence: head,
        cited,
    }
}

/// `o` relied on `v`, but an op `x` of the core that completed before `o` began left another
/// value after every write of `v` that could precede `o` had completed.
fn overwritten(
    o: &Op,
    v: &Value,
    core: &[&Op],
    key_ops: &[&Op],
    initial: &Value,
    clock: Clock,
) -> Option<Told> {
    let writers = writers_before(key_ops, v, o);
    let all_done_before = |x: &Op| {
        writers.iter().all(|w| {
            w.outcome == Outcome::Ok && w.complete_index.is_some_and(|c| c < x.invoke_index)
        })
    };
    let mut candidates: Vec<&Op> = core
        .iter()
        .copied()
        .filter(|x| x.invoke_index != o.invoke_index)
        .filter(|x| x.complete_index.is_some_and(|c| c < o.invoke_index))
        .filter(|x| left(x).is_some_and(|u| u != v))
        .filter(|x| all_done_before(x))
        .collect();
    // Writes first (the stronger story), then the latest.
    candidates.sort_by_key(|x| (is_read(x), std::cmp::Reverse(x.complete_index)));
    // Or a read `y` of the core shows that a write of `u` came after every write of `v`: it
    // began after they all completed, and every write of `u` that could precede it was
    // acknowledged before `o` began.
    let mut via: Option<&Op> = None;
    let x = match candidates.first() {
        Some(x) => *x,
        None => {
            let (y, x) = core.iter().copied().find_map(|y| {
                if y.invoke_index == o.invoke_index || !is_read(y) || y.outcome != Outcome::Ok {
                    return None;
                }
                let u = &y.value;
                if u == v || !all_done_before(y) {
                    return None;
                }
                let u_writers = writers_before(key_ops, u, y);
                let acked = u_writers.iter().all(|w| {
                    w.outcome == Outcome::Ok && w.complete_index.is_some_and(|c| c < o.invoke_index)
                });
                let x = u_writers.iter().max_by_key(|w| w.complete_index).copied()?;
                acked.then_some((y, x))
            })?;
            via = Some(y);
            x
        }
    };
    let u = left(x)?;
    let last = writers.iter().max_by_key(|w| w.complete_index).copied();
    let before_x = if is_read(x) || via.is_some() {
        "before the read of"
    } else {
        "before the write of"
    };
    let history_of_v = match last {
        Some(w) => format!(
            "the last write of {} that could precede it, {}, completed at {}, {} {} began",
            show(v),
            cite_short(w),
            completed(w, clock),
            before_x,
            show(u)
        ),
        None if v == initial => format!("{} was only the initial value", show(v)),
        None => format!("nothing wrote {}", show(v)),
    };
    let mut cited = vec![o.invoke_index, x.invoke_index];
    cited.extend(via.map(|y| y.invoke_index));
    cited.extend(last.map(|w| w.invoke_index));
    let history_of_v = match via {
        Some(y) => format!(
            "{} (invoked {}) shows it came after every write of {}: {history_of_v}",
            cite_short(y),
            invoked(y, clock),
            show(v)
        ),
        None => history_of_v,
    };
    let sentence = if is_cas(o) {
        format!(
            "Impossible cas: {} succeeded, but the register could not hold {} then: {} {} at {}, before the cas began, and {}.",
            cite(o, clock),
            show(v),
            cite_short(x),
            if is_read(x) { "completed" } else { "was acknowledged" },
            completed(x, clock),
            history_of_v
        )
    } else if is_read(x) {
        format!(
            "Non-monotonic reads: {}, completed at {}, then op {} ({}, invoked {}, after that read completed): the register went back to an older value, and {}.",
            cite_short(x),
            completed(x, clock),
            o.invoke_index,
            deed(o),
            invoked(o, clock),
            history_of_v
        )
    } else if is_write(x)
        && !key_ops
            .iter()
            .any(|r| r.outcome == Outcome::Ok && is_read(r) && &r.value == u)
    {
        format!(
            "Lost write: {} was acknowledged at {}, yet no read ever returned {}: op {} ({}, invoked {}, after the write was acknowledged), and {}.",
            cite_short(x),
            completed(x, clock),
            show(u),
            o.invoke_index,
            deed(o),
            invoked(o, clock),
            history_of_v
        )
    } else {
        format!(
            "Stale read: {}, but {} had been acknowledged at {}, before that read began, and {}.",
            cite(o, clock),
            cite_short(x),
            completed(x, clock),
            history_of_v
        )
    };
    let pattern = if is_cas(o) {
        Pattern::ImpossibleCas
    } else if is_read(x) {
        Pattern::NonMonotonicReads
    } else if sentence.starts_with("Lost write") {
        Pattern::LostWrite
    } else {
        Pattern::StaleRead
    };
    Some(Told {
        pattern,
        sentence,
        cited,
    })
}

/// "op 7 (process 5's write 4)".
fn cite_short(op: &Op) -> String {
    format!("op {} ({})", op.invoke_index, deed(op))
}
