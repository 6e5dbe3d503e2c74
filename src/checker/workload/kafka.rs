//! The kafka checker (Maelstrom's `kafka` workload): a replicated log per key, with sends,
//! polls and committed offsets. Pure, one pass plus sorts. Not yet wired to a workload kind
//! (see docs/maelstrom.md): callable as [`check`] on a history of these ops.
//!
//! History shape (every key a JSON string or integer, compared as JSON text):
//!
//! | f | key | invoke value | ok completion value |
//! |---|---|---|---|
//! | `send` | the key | the message | `[message, offset]` |
//! | `poll` | — | `null` | `{key: [[offset, message], ...]}` |
//! | `commit_offsets` | — | `{key: offset}` | the same |
//! | `list_committed_offsets` | — | `null` | `{key: offset}` |
//!
//! Anomalies, each naming the ops:
//!
//! - `inconsistent-offset`: two ok sends, or a send and a poll, or two polls, put different
//!   messages at the same offset of a key;
//! - `nonmonotonic-send`: an ok send to a key completed before another ok send to that key
//!   was invoked, yet got an offset no higher;
//! - `poll-reorder`: one poll returned a key's messages with offsets not strictly increasing;
//! - `lost-write`: an acknowledged send that no poll returned, although some poll returned
//!   offsets of its key on both sides of it (the poll skipped it);
//! - `committed-offset-regression`: a list of committed offsets that began after another
//!   ended shows a lower offset for a key (or none).
//!
//! `info` and `fail` ops are ignored except as what they are not: an unacknowledged send's
//! message seen by a poll is fine (it may have happened).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Value};

use super::{f_name, malformed, unexpected_f};
use crate::checker::{Anomaly, CheckError, CheckResult, CheckStats, Validity};
use crate::history::{History, Op, Outcome};

/// The checker's name in results.
pub const CHECKER: &str = "kafka";

/// A key as text (its JSON form, strings unquoted).
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An offset of a poll or send, or a malformed-op error.
fn offset(op: &Op, v: &Value) -> Result<i64, CheckError> {
    v.as_i64()
        .ok_or_else(|| malformed(op, format!("an offset must be an integer, got {v}")))
}

/// One message seen at (key, offset), and by whom.
struct Seen<'a> {
    msg: &'a Value,
    op: &'a Op,
}

fn anomaly(kind: &str, key: Option<&str>, ops: &[&Op], explanation: String) -> Anomaly {
    Anomaly {
        kind: kind.to_owned(),
        key: key.map(|k| json!(k)),
        ops: ops.iter().map(|o| o.invoke_index).collect(),
        explanation,
        witness: None,
    }
}

/// Checks a kafka history (see the module doc).
pub fn check(history: &History) -> Result<CheckResult, CheckError> {
    let started = Instant::now();
    let mut anomalies = Vec::new();
    // (key, offset) -> the first message seen there (by a send or a poll).
    let mut at: BTreeMap<(String, i64), Seen<'_>> = BTreeMap::new();
    // key -> ok sends (offset, message, op).
    let mut sends: BTreeMap<String, Vec<(i64, &Value, &Op)>> = BTreeMap::new();
    // key -> each ok poll's offsets for it.
    let mut polled: BTreeMap<String, Vec<Vec<i64>>> = BTreeMap::new();
    let mut lists: Vec<(&Op, BTreeMap<String, i64>)> = Vec::new();
    for op in &history.ops {
        let f = f_name(op);
        if !matches!(
            f,
            "send" | "poll" | "commit_offsets" | "list_committed_offsets"
        ) {
            return Err(unexpected_f(
                op,
                CHECKER,
                "send, poll, commit_offsets and list_committed_offsets",
            ));
        }
        if op.outcome != Outcome::Ok {
            continue;
        }
        match f {
            "send" => {
                let key = key_text(op.key.as_ref().unwrap_or(&Value::Null));
                let Some([msg, off]) = op.value.as_array().map(Vec::as_slice) else {
                    return Err(malformed(op, "an ok send's value is [message, offset]"));
                };
                let off = offset(op, off)?;
                sends.entry(key.clone()).or_default().push((off, msg, op));
                record(&mut at, &mut anomalies, &key, off, Seen { msg, op });
            }
            "poll" => {
                let Some(by_key) = op.value.as_object() else {
                    return Err(malformed(
                        op,
                        "an ok poll's value is {key: [[offset, message], ...]}",
                    ));
                };
                for (key, entries) in by_key {
                    let Some(entries) = entries.as_array() else {
                        return Err(malformed(
                            op,
                            format!("key {key}: not a list of [offset, message]"),
                        ));
                    };
                    let mut offsets = Vec::with_capacity(entries.len());
                    for e in entries {
                        let Some([off, msg]) = e.as_array().map(Vec::as_slice) else {
                            return Err(malformed(
                                op,
                                format!("key {key}: {e} is not [offset, message]"),
                            ));
                        };
                        let off = offset(op, off)?;
                        offsets.push(off);
                        record(&mut at, &mut anomalies, key, off, Seen { msg, op });
                    }
                    if let Some(w) = offsets.windows(2).find(|w| w[1] <= w[0]) {
                        anomalies.push(anomaly(
                            "poll-reorder",
                            Some(key),
                            &[op],
                            format!(
                                "poll #{} returned key {key}'s offset {} after offset {}: a poll's messages come in offset order",
                                op.invoke_index, w[1], w[0]
                            ),
                        ));
                    }
                    polled.entry(key.clone()).or_default().push(offsets);
                }
            }
            "list_committed_offsets" => {
                let Some(by_key) = op.value.as_object() else {
                    return Err(malformed(
                        op,
                        "an ok list_committed_offsets's value is {key: offset}",
                    ));
                };
                let mut offsets = BTreeMap::new();
                for (k, v) in by_key {
                    offsets.insert(k.clone(), offset(op, v)?);
                }
                lists.push((op, offsets));
            }
            _ => {}
        }
    }
    let acknowledged: usize = sends.values().map(Vec::len).sum();
    // Sends on one key in real-time order must get rising offsets.
    for (key, list) in &mut sends {
        list.sort_by_key(|(_, _, op)| op.invoke_time);
        let mut done: Vec<(u64, i64, &Op)> = Vec::new(); // (completed, offset, op)
        for (off, _, op) in list.iter() {
            let before = done
                .iter()
                .filter(|(end, _, _)| *end < op.invoke_time)
                .max_by_key(|(_, o, _)| *o);
            if let Some((_, prev, earlier)) = before {
                if *off <= *prev {
                    anomalies.push(anomaly(
                        "nonmonotonic-send",
                        Some(key),
                        &[earlier, op],
                        format!(
                            "send #{} to key {key} got offset {off}, no higher than offset {prev} of send #{}, which completed before it began",
                            op.invoke_index, earlier.invoke_index
                        ),
                    ));
                }
            }
            if let Some(end) = op.complete_time {
                done.push((end, *off, op));
            }
        }
        // Lost: never polled, though a poll returned offsets on both sides of it.
        let polls = polled.get(key.as_str());
        for (off, msg, op) in list.iter() {
            let seen_by_poll = polls.is_some_and(|ps| ps.iter().any(|p| p.contains(off)));
            let skipped = polls.is_some_and(|ps| {
                ps.iter()
                    .any(|p| p.iter().any(|o| o < off) && p.iter().any(|o| o > off))
            });
            if !seen_by_poll && skipped {
                anomalies.push(anomaly(
                    "lost-write",
                    Some(key),
                    &[op],
                    format!(
                        "send #{} of {msg} to key {key} was acknowledged at offset {off}, but a poll returned offsets of {key} on both sides of it without it, and no poll ever returned it",
                        op.invoke_index
                    ),
                ));
            }
        }
    }
    // Committed offsets never go back: each list against the highest offset per key any
    // list that ended before it began showed (a sweep over the completions).
    lists.sort_by_key(|(op, _)| op.invoke_time);
    let mut ended: Vec<&(&Op, BTreeMap<String, i64>)> = lists
        .iter()
        .filter(|(op, _)| op.complete_time.is_some())
        .collect();
    ended.sort_by_key(|(op, _)| op.complete_time);
    let mut highest: BTreeMap<&str, (i64, &Op)> = BTreeMap::new();
    let mut next = 0;
    for (op, offsets) in &lists {
        while let Some((earlier, theirs)) = ended.get(next) {
            if earlier
                .complete_time
                .is_none_or(|end| end >= op.invoke_time)
            {
                break;
            }
            for (key, off) in theirs {
                if highest.get(key.as_str()).is_none_or(|(h, _)| off > h) {
                    highest.insert(key, (*off, earlier));
                }
            }
            next += 1;
        }
        for (key, (was, earlier)) in &highest {
            let now = offsets.get(*key);
            if now.is_none_or(|n| n < was) {
                anomalies.push(anomaly(
                    "committed-offset-regression",
                    Some(key),
                    &[earlier, op],
                    format!(
                        "list_committed_offsets #{} showed key {key} committed at {was}; #{}, which began after it ended, shows {}",
                        earlier.invoke_index,
                        op.invoke_index,
                        now.map_or("nothing".to_owned(), |n| n.to_string())
                    ),
                ));
            }
        }
    }
    let valid = if anomalies.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    let details = json!({
        "acknowledged_sends": acknowledged,
        "keys": sends.len().max(polled.len()),
        "polls": polled.values().map(Vec::len).sum::<usize>(),
        "committed_offset_lists": lists.len(),
    });
    Ok(CheckResult {
        checker: CHECKER.to_string(),
        valid,
        cause: None,
        anomalies,
        stats: CheckStats {
            ops: history.ops.len() as u64,
            keys: sends.len().max(polled.len()) as u64,
            elapsed_secs: started.elapsed().as_secs_f64(),
            ..CheckStats::default()
        },
        details: Some(details),
    })
}

/// Records `seen` at (key, offset): a different message already there is an
/// `inconsistent-offset`.
fn record<'a>(
    at: &mut BTreeMap<(String, i64), Seen<'a>>,
    anomalies: &mut Vec<Anomaly>,
    key: &str,
    off: i64,
    seen: Seen<'a>,
) {
    match at.get(&(key.to_owned(), off)) {
        None => {
            at.insert((key.to_owned(), off), seen);
        }
        Some(first) if first.msg != seen.msg => anomalies.push(anomaly(
            "inconsistent-offset",
            Some(key),
            &[first.op, seen.op],
            format!(
                "offset {off} of key {key} holds {} for {} #{} but {} for {} #{}",
                first.msg,
                f_name(first.op),
                first.op.invoke_index,
                seen.msg,
                f_name(seen.op),
                seen.op.invoke_index
            ),
        )),
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::keyed;
    use super::*;

    fn kinds(h: &History) -> Vec<String> {
        check(h)
            .expect("checks")
            .anomalies
            .into_iter()
            .map(|a| a.kind)
            .collect()
    }

    fn no_key() -> Value {
        Value::Null
    }

    #[test]
    fn a_log_polled_in_order_with_rising_commits_is_valid() {
        let h = keyed(&[
            (0, "invoke", "send", json!("a"), json!(1)),
            (0, "ok", "send", json!("a"), json!([1, 0])),
            (1, "invoke", "send", json!("a"), json!(2)),
            (1, "ok", "send", json!("a"), json!([2, 1])),
            (2, "invoke", "poll", no_key(), Value::Null),
            (2, "ok", "poll", no_key(), json!({"a": [[0, 1], [1, 2]]})),
            (2, "invoke", "commit_offsets", no_key(), json!({"a": 1})),
            (2, "ok", "commit_offsets", no_key(), json!({"a": 1})),
            (3, "invoke", "list_committed_offsets", no_key(), Value::Null),
            (3, "ok", "list_committed_offsets", no_key(), json!({"a": 1})),
            (3, "invoke", "list_committed_offsets", no_key(), Value::Null),
            (3, "ok", "list_committed_offsets", no_key(), json!({"a": 2})),
        ]);
        let r = check(&h).expect("checks");
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
    }

    #[test]
    fn each_anomaly_is_named() {
        let h = keyed(&[
            // Two sends given offset 0 with different messages; the later one too low.
            (0, "invoke", "send", json!("a"), json!(1)),
            (0, "ok", "send", json!("a"), json!([1, 0])),
            (1, "invoke", "send", json!("a"), json!(2)),
            (1, "ok", "send", json!("a"), json!([2, 0])),
        ]);
        assert_eq!(kinds(&h), ["inconsistent-offset", "nonmonotonic-send"]);
        let h = keyed(&[
            (0, "invoke", "send", json!("a"), json!(1)),
            (0, "ok", "send", json!("a"), json!([1, 0])),
            (0, "invoke", "send", json!("a"), json!(2)),
            (0, "ok", "send", json!("a"), json!([2, 1])),
            (0, "invoke", "send", json!("a"), json!(3)),
            (0, "ok", "send", json!("a"), json!([3, 2])),
            (1, "invoke", "poll", no_key(), Value::Null),
            (1, "ok", "poll", no_key(), json!({"a": [[0, 1], [2, 3]]})),
            (2, "invoke", "poll", no_key(), Value::Null),
            (2, "ok", "poll", no_key(), json!({"a": [[2, 3], [0, 1]]})),
        ]);
        assert_eq!(kinds(&h), ["poll-reorder", "lost-write"]);
        let h = keyed(&[
            (0, "invoke", "list_committed_offsets", no_key(), Value::Null),
            (
                0,
                "ok",
                "list_committed_offsets",
                no_key(),
                json!({"a": 5, "b": 1}),
            ),
            (1, "invoke", "list_committed_offsets", no_key(), Value::Null),
            (1, "ok", "list_committed_offsets", no_key(), json!({"a": 4})),
        ]);
        assert_eq!(
            kinds(&h),
            ["committed-offset-regression", "committed-offset-regression"]
        );
    }

    #[test]
    fn unacknowledged_sends_and_concurrent_sends_are_not_anomalies() {
        let h = keyed(&[
            (0, "invoke", "send", json!("a"), json!(1)),
            (1, "invoke", "send", json!("a"), json!(2)),
            (1, "ok", "send", json!("a"), json!([2, 0])),
            (0, "ok", "send", json!("a"), json!([1, 1])),
            (2, "invoke", "send", json!("a"), json!(3)),
            (2, "info", "send", json!("a"), json!(3)),
            (3, "invoke", "poll", no_key(), Value::Null),
            (
                3,
                "ok",
                "poll",
                no_key(),
                json!({"a": [[0, 2], [1, 1], [2, 3]]}),
            ),
        ]);
        assert!(kinds(&h).is_empty());
        let bad = keyed(&[
            (0, "invoke", "send", json!("a"), json!(1)),
            (0, "ok", "send", json!("a"), json!(1)),
        ]);
        assert!(check(&bad).is_err());
        let other = keyed(&[(0, "invoke", "read", no_key(), Value::Null)]);
        assert!(check(&other).is_err());
    }
}
