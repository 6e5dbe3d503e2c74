//! The timeline's data: one lane per process (processes that never overlap in time share a
//! lane, so a worker that crashed and continued under a new id stays on one line), each op a
//! bar from invoke to completion, and, for histories too big to draw op by op, a smart
//! downsampling. Pure.
//!
//! # Downsampling
//!
//! Up to [`TimelineOptions::max_ops`] ops are kept one by one; beyond that:
//! 1. every op an anomaly cites is kept (an anomaly link must always land on its op);
//! 2. then every `fail`/`info` op, while they fit in three quarters of the budget (beyond
//!    that, an evenly spaced sample of them);
//! 3. every other op is folded into per-lane time buckets (about as many per lane as the
//!    remaining budget allows), each drawn as one block carrying its op count, outcome
//!    counts and index range, so density, gaps and failures stay visible when zoomed out.
//!
//! Times are written in microseconds since the test began, as integers, to keep the JSON small.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::escape::truncate;
use super::faults::FaultWindow;
use super::view::HistoryView;
use crate::history::Outcome;

/// Limits on what the timeline keeps.
#[derive(Debug, Clone, Copy)]
pub struct TimelineOptions {
    /// Ops kept one by one (anomaly ops are kept even beyond this).
    pub max_ops: usize,
    /// Longest value text kept per op detail, in characters.
    pub max_value_chars: usize,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        TimelineOptions {
            max_ops: 200_000,
            max_value_chars: 300,
        }
    }
}

/// Ops kept one by one, as columns (one array per field keeps the JSON compact), sorted by
/// lane, then invoke time: the page binary-searches each lane.
#[derive(Debug, Default, Serialize)]
pub struct OpColumns {
    /// History index of the invoke.
    pub idx: Vec<u64>,
    /// Lane.
    pub lane: Vec<u32>,
    /// Invoke time, µs.
    pub t0: Vec<u64>,
    /// Completion time, µs (the history's end when the op never completed).
    pub t1: Vec<u64>,
    /// 0 ok, 1 fail, 2 info.
    pub out: Vec<u8>,
    /// Index into [`Timeline::fs`].
    pub f: Vec<u32>,
    /// The process.
    pub p: Vec<u64>,
    /// History index of the completion, -1 when none.
    pub ci: Vec<i64>,
    /// The key as text ("" when none).
    pub key: Vec<String>,
    /// The invoke's value as text.
    pub v: Vec<String>,
    /// The completion's value as text ("" when the same as the invoke's or none).
    pub r: Vec<String>,
    /// The node that served it, or "".
    pub node: Vec<String>,
    /// The error, or "".
    pub err: Vec<String>,
}

/// Ops folded into one block per lane and time bucket.
#[derive(Debug, Default, Serialize)]
pub struct AggColumns {
    /// Lane.
    pub lane: Vec<u32>,
    /// Earliest invoke in the bucket, µs.
    pub t0: Vec<u64>,
    /// Latest completion in the bucket, µs.
    pub t1: Vec<u64>,
    /// Ops folded in.
    pub n: Vec<u32>,
    /// Of which ok.
    pub ok: Vec<u32>,
    /// Of which fail.
    pub fail: Vec<u32>,
    /// Of which info.
    pub info: Vec<u32>,
    /// Smallest invoke index folded in.
    pub i0: Vec<u64>,
    /// Largest invoke index folded in.
    pub i1: Vec<u64>,
}

/// A nemesis window in timeline units.
#[derive(Debug, Serialize)]
pub struct FaultBand {
    /// Fault family.
    pub kind: String,
    /// Start, µs.
    pub t0: u64,
    /// End, µs.
    pub t1: u64,
    /// What was done (nodes, grudge), as recorded.
    pub detail: String,
    /// Never healed within the history.
    pub open: bool,
}

/// Everything the page's timeline draws.
#[derive(Debug, Serialize)]
pub struct Timeline {
    /// Client ops in the history.
    pub total_ops: usize,
    /// Ops kept one by one.
    pub kept_ops: usize,
    /// Whether some ops were folded into blocks.
    pub downsampled: bool,
    /// The first op's invoke time, µs (imported histories need not start at 0).
    pub start: u64,
    /// The history's last event time, µs.
    pub end: u64,
    /// Lane labels (the processes each lane hosts).
    pub lanes: Vec<String>,
    /// Function names, indexed by [`OpColumns::f`].
    pub fs: Vec<String>,
    /// Offsets into the op columns where each lane starts (one more entry than lanes).
    pub lane_start: Vec<u32>,
    /// Ops kept one by one.
    pub ops: OpColumns,
    /// Folded ops.
    pub agg: AggColumns,
    /// Fault windows.
    pub faults: Vec<FaultBand>,
}

/// The history's end: its last invoke or completion time, or the last fault window's end.
pub fn history_end(h: &dyn HistoryView) -> u64 {
    let ops = (0..h.op_count())
        .map(|i| {
            let o = h.op_facts(i);
            o.complete_time.unwrap_or(o.invoke_time)
        })
        .max()
        .unwrap_or(0);
    let nem = h.nemesis_events().iter().map(|e| e.time).max().unwrap_or(0);
    ops.max(nem)
}

/// Assigns each process a lane: processes sorted by first invoke, each put on the lane that
/// freed up earliest if that lane's last process was done before it began, else a new lane.
/// Returns (process -> lane, lane labels).
pub fn lanes(h: &dyn HistoryView, end: u64) -> (HashMap<u64, u32>, Vec<String>) {
    let mut span: HashMap<u64, (u64, u64)> = HashMap::new();
    for i in 0..h.op_count() {
        let op = h.op_facts(i);
        let stop = op.complete_time.unwrap_or(end);
        let e = span.entry(op.process).or_insert((op.invoke_time, stop));
        e.0 = e.0.min(op.invoke_time);
        e.1 = e.1.max(stop);
    }
    let mut procs: Vec<(u64, u64, u64)> = span.into_iter().map(|(p, (a, b))| (a, p, b)).collect();
    procs.sort_unstable();
    let mut free: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
    let mut members: Vec<Vec<u64>> = Vec::new();
    let mut lane_of = HashMap::with_capacity(procs.len());
    for (first, p, last) in procs {
        let lane = match free.peek() {
            Some(Reverse((busy_until, lane))) if *busy_until <= first => {
                let lane = *lane;
                free.pop();
                lane
            }
            _ => {
                members.push(Vec::new());
                (members.len() - 1) as u32
            }
        };
        members[lane as usize].push(p);
        free.push(Reverse((last, lane)));
        lane_of.insert(p, lane);
    }
    let labels = members
        .iter()
        .map(|ps| {
            let mut ps = ps.clone();
            ps.sort_unstable();
            let shown: Vec<String> = ps.iter().take(3).map(|p| format!("p{p}")).collect();
            if ps.len() > 3 {
                format!("{} +{}", shown.join(" "), ps.len() - 3)
            } else {
                shown.join(" ")
            }
        })
        .collect();
    (lane_of, labels)
}

/// The first op's invoke time (ops are in invoke order), 0 for no ops.
fn first_invoke(h: &dyn HistoryView) -> u64 {
    if h.op_count() == 0 {
        0
    } else {
        h.op_facts(0).invoke_time
    }
}

fn us(ns: u64) -> u64 {
    ns / 1_000
}

fn outcome_code(o: Outcome) -> u8 {
    match o {
        Outcome::Ok => 0,
        Outcome::Fail => 1,
        Outcome::Info => 2,
    }
}

fn text(v: &Value, max: usize) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => truncate(s, max).into_owned(),
        other => truncate(&other.to_string(), max).into_owned(),
    }
}

/// Builds the timeline of `h`, keeping every op whose invoke index is in `must_keep`
/// (sorted or not) one by one.
pub fn build(
    h: &dyn HistoryView,
    windows: &[FaultWindow],
    must_keep: &[u64],
    opts: &TimelineOptions,
) -> Timeline {
    let end = history_end(h);
    let (lane_of, labels) = lanes(h, end);
    // One lookup per op, not one per comparison while sorting.
    let op_lane: Vec<u32> = (0..h.op_count())
        .map(|i| lane_of[&h.op_facts(i).process])
        .collect();
    let n = h.op_count();
    let mut keep = vec![n <= opts.max_ops; n];
    let mut downsampled = false;
    if n > opts.max_ops {
        downsampled = true;
        let mut kept = 0usize;
        for idx in must_keep {
            if let Some(i) = h.position_of_invoke(*idx) {
                if !keep[i] {
                    keep[i] = true;
                    kept += 1;
                }
            }
        }
        let non_ok: Vec<usize> = (0..n)
            .filter(|&i| !keep[i] && h.op_facts(i).outcome != Outcome::Ok)
            .collect();
        let room = (opts.max_ops * 3 / 4).saturating_sub(kept);
        if non_ok.len() <= room {
            for &i in &non_ok {
                keep[i] = true;
            }
            kept += non_ok.len();
        } else if room > 0 {
            // An evenly spaced sample: every part of the history keeps some of its failures.
            for j in 0..room {
                keep[non_ok[j * non_ok.len() / room]] = true;
            }
            kept += room;
        }
        let rest = n - kept;
        let room = opts.max_ops.saturating_sub(kept);
        if rest <= room {
            keep.iter_mut().for_each(|k| *k = true);
            downsampled = false;
        }
    }

    let mut fs: Vec<String> = Vec::new();
    let mut f_ids: HashMap<&str, u32> = HashMap::new();
    let mut order: Vec<usize> = (0..n).filter(|&i| keep[i]).collect();
    order.sort_unstable_by_key(|&i| (op_lane[i], h.op_facts(i).invoke_time, i));
    let mut ops = OpColumns::default();
    let mut lane_start = vec![0u32; labels.len() + 1];
    for &i in &order {
        // Only the ops drawn one by one are built whole (values and all).
        let op = h.op_full(i);
        let lane = op_lane[i];
        lane_start[lane as usize + 1] += 1;
        let f = h.op_f(i);
        let f = f.strip_prefix(':').unwrap_or(f);
        let fid = *f_ids.entry(f).or_insert_with(|| {
            fs.push(f.to_string());
            (fs.len() - 1) as u32
        });
        ops.idx.push(op.invoke_index);
        ops.lane.push(lane);
        ops.t0.push(us(op.invoke_time));
        ops.t1.push(us(op.complete_time.unwrap_or(end)));
        ops.out.push(outcome_code(op.outcome));
        ops.f.push(fid);
        ops.p.push(op.process);
        ops.ci
            .push(op.complete_index.map(|c| c as i64).unwrap_or(-1));
        ops.key.push(
            op.key
                .as_ref()
                .map(|k| text(k, opts.max_value_chars))
                .unwrap_or_default(),
        );
        ops.v.push(text(&op.invoke_value, opts.max_value_chars));
        ops.r.push(
            if op.value == op.invoke_value || op.complete_index.is_none() {
                String::new()
            } else {
                text(&op.value, opts.max_value_chars)
            },
        );
        ops.node.push(op.node.clone().unwrap_or_default());
        ops.err.push(
            op.error
                .as_ref()
                .map(|e| text(e, opts.max_value_chars))
                .unwrap_or_default(),
        );
    }
    for l in 1..lane_start.len() {
        lane_start[l] += lane_start[l - 1];
    }

    let agg = if downsampled {
        fold(
            h,
            &keep,
            &op_lane,
            labels.len(),
            end,
            opts.max_ops.saturating_sub(order.len()),
        )
    } else {
        AggColumns::default()
    };
    Timeline {
        total_ops: n,
        kept_ops: order.len(),
        downsampled,
        start: us(first_invoke(h).min(end)),
        end: us(end),
        lanes: labels,
        fs,
        lane_start,
        ops,
        agg,
        faults: windows
            .iter()
            .map(|w| FaultBand {
                kind: w.kind.clone(),
                t0: us(w.start),
                t1: us(w.end),
                detail: w.detail.clone(),
                open: w.open,
            })
            .collect(),
    }
}

/// Folds the ops not kept into per-lane buckets, about `budget` blocks in all.
fn fold(
    h: &dyn HistoryView,
    keep: &[bool],
    op_lane: &[u32],
    lanes: usize,
    end: u64,
    budget: usize,
) -> AggColumns {
    let start = first_invoke(h);
    let span = end.saturating_sub(start).max(1);
    let buckets = (budget / lanes.max(1)).clamp(50, 1_000) as u64;
    struct Open {
        bucket: u64,
        t0: u64,
        t1: u64,
        n: u32,
        ok: u32,
        fail: u32,
        info: u32,
        i0: u64,
        i1: u64,
    }
    let mut current: Vec<Option<Open>> = (0..lanes).map(|_| None).collect();
    let mut agg = AggColumns::default();
    let flush = |agg: &mut AggColumns, lane: usize, o: Open| {
        agg.lane.push(lane as u32);
        agg.t0.push(us(o.t0));
        agg.t1.push(us(o.t1));
        agg.n.push(o.n);
        agg.ok.push(o.ok);
        agg.fail.push(o.fail);
        agg.info.push(o.info);
        agg.i0.push(o.i0);
        agg.i1.push(o.i1);
    };
    // Ops are in invoke order, so each lane's buckets arrive in order.
    for (i, &kept) in keep.iter().enumerate() {
        if kept {
            continue;
        }
        let op = h.op_facts(i);
        let lane = op_lane[i] as usize;
        let bucket = (op.invoke_time - start) as u128 * buckets as u128 / span as u128;
        let bucket = bucket as u64;
        let stop = op.complete_time.unwrap_or(end);
        let slot = &mut current[lane];
        match slot {
            Some(o) if o.bucket == bucket => {
                o.t1 = o.t1.max(stop);
                o.n += 1;
                o.i1 = op.invoke_index;
            }
            _ => {
                if let Some(done) = slot.take() {
                    flush(&mut agg, lane, done);
                }
                *slot = Some(Open {
                    bucket,
                    t0: op.invoke_time,
                    t1: stop,
                    n: 1,
                    ok: 0,
                    fail: 0,
                    info: 0,
                    i0: op.invoke_index,
                    i1: op.invoke_index,
                });
            }
        }
        // The slot was just filled above.
        if let Some(o) = slot.as_mut() {
            match op.outcome {
                Outcome::Ok => o.ok += 1,
                Outcome::Fail => o.fail += 1,
                Outcome::Info => o.info += 1,
            }
        }
    }
    for (lane, slot) in current.into_iter().enumerate() {
        if let Some(o) = slot {
            flush(&mut agg, lane, o);
        }
    }
    agg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::compact::CompactHistory;
    use crate::history::{History, Op};
    use serde_json::json;

    /// `n` sequential ops spread over `procs` processes; every 10th fails, every 97th is info.
    pub(crate) fn history(n: usize, procs: u64) -> History {
        let ops = (0..n)
            .map(|i| {
                let t = i as u64 * 1_000_000;
                let outcome = if i % 97 == 0 {
                    Outcome::Info
                } else if i % 10 == 0 {
                    Outcome::Fail
                } else {
                    Outcome::Ok
                };
                Op {
                    process: i as u64 % procs,
                    f: "write".into(),
                    key: None,
                    invoke_value: json!(i),
                    value: json!(i),
                    outcome,
                    invoke_index: 2 * i as u64,
                    complete_index: Some(2 * i as u64 + 1),
                    invoke_time: t,
                    complete_time: Some(t + 500_000 * procs),
                    error: None,
                    node: None,
                }
            })
            .collect();
        History {
            ops,
            nemesis: Vec::new(),
            event_count: 2 * n as u64,
        }
    }

    #[test]
    fn small_histories_keep_every_op_sorted_by_lane() {
        let h = history(100, 4);
        let t = build(&h, &[], &[], &TimelineOptions::default());
        assert!(!t.downsampled);
        assert_eq!(t.kept_ops, 100);
        assert_eq!(t.lanes.len(), 4);
        assert_eq!(t.lane_start, vec![0, 25, 50, 75, 100]);
        for w in t.ops.lane.windows(2) {
            assert!(w[0] <= w[1]);
        }
        assert!(t.agg.n.is_empty());
    }

    #[test]
    fn downsampling_keeps_anomaly_ops_and_accounts_for_every_op() {
        let h = history(50_000, 5);
        // Ok ops (i % 10 != 0, i % 97 != 0) deep inside the history.
        let anomaly = [2 * 12_345, 2 * 40_001, 2 * 3];
        let opts = TimelineOptions {
            max_ops: 2_000,
            ..Default::default()
        };
        let t = build(&h, &[], &anomaly, &opts);
        assert!(t.downsampled);
        for idx in anomaly {
            assert!(t.ops.idx.contains(&idx), "anomaly op {idx} was dropped");
        }
        let folded: u64 = t.agg.n.iter().map(|&n| u64::from(n)).sum();
        assert_eq!(
            folded + t.kept_ops as u64,
            50_000,
            "every op is kept or folded"
        );
        assert!(t.kept_ops <= 2_000 + anomaly.len());
        assert!(
            t.ops.out.iter().filter(|&&o| o != 0).count() >= 1_000,
            "failures are preferred over ok ops"
        );
    }

    #[test]
    fn anomaly_ops_are_kept_even_past_the_budget() {
        let h = history(1_000, 2);
        let must: Vec<u64> = (0..500).map(|i| 2 * i).collect();
        let opts = TimelineOptions {
            max_ops: 100,
            ..Default::default()
        };
        let t = build(&h, &[], &must, &opts);
        for idx in &must {
            assert!(t.ops.idx.contains(idx), "{idx}");
        }
    }

    #[test]
    fn the_compact_form_gives_the_same_timeline() {
        let h = history(50_000, 5);
        let c = CompactHistory::from_history(&h);
        let must = [2 * 12_345, 2 * 40_001, 7];
        for max_ops in [200_000, 2_000] {
            let opts = TimelineOptions {
                max_ops,
                ..Default::default()
            };
            let json = |v: &dyn HistoryView| {
                serde_json::to_string(&build(v, &[], &must, &opts)).expect("serializable")
            };
            assert!(
                json(&h) == json(&c),
                "max_ops {max_ops}: the timelines differ"
            );
        }
    }

    #[test]
    fn processes_that_never_overlap_share_a_lane() {
        let mut h = history(6, 3);
        // Process 7 starts after process 0 is done: it reuses lane 0's slot or another free one.
        let mut late = h.ops[0].clone();
        late.process = 7;
        late.invoke_time = 100_000_000;
        late.complete_time = Some(101_000_000);
        late.invoke_index = 100;
        late.complete_index = Some(101);
        h.ops.push(late);
        let (lane_of, labels) = lanes(&h, history_end(&h));
        assert_eq!(labels.len(), 3, "{labels:?}");
        assert!(lane_of[&7] < 3);
    }
}
