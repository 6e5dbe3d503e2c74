//! The report's static plots, as inline SVG: latency over time per function (log scale,
//! coloured by outcome), throughput over time per outcome, both with the fault windows
//! shaded; and availability per fault window (share of ops ok). Pure: history in, markup out.
//!
//! Plots scale to any history size: latency points are binned to the plot's pixel grid (one
//! mark per occupied cell and outcome), throughput to a fixed number of time buckets.

use std::fmt::Write as _;

use super::escape::xml;
use super::faults::FaultWindow;
use super::view::HistoryView;
use crate::history::Outcome;

/// Plot area width in SVG units.
const W: f64 = 860.0;
/// Plot area height for one latency panel.
const LAT_H: f64 = 170.0;
/// Plot area height for the throughput plot.
const TP_H: f64 = 170.0;
/// Left margin (axis labels).
const ML: f64 = 62.0;
/// Top margin (title).
const MT: f64 = 22.0;
/// Bottom margin (time axis).
const MB: f64 = 30.0;
/// Latency panels drawn, most frequent functions first; the rest share an "other" panel.
const MAX_PANELS: usize = 6;
/// Side of one latency mark (and of the grid cells points are binned to), in SVG units.
const CELL: f64 = 3.0;
/// Throughput time buckets.
const TP_BUCKETS: usize = 200;

/// The colour of an outcome everywhere in the report (also used by the page's script).
pub fn outcome_colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "#2e9d4f",
        Outcome::Fail => "#d6453d",
        Outcome::Info => "#e0a030",
    }
}

/// The shading colour of a fault family.
pub fn fault_colour(kind: &str) -> &'static str {
    match kind {
        "partition" => "#7e57c2",
        "kill" => "#546e7a",
        "pause" => "#1e88e5",
        "delay" => "#00897b",
        "drop" => "#8d6e63",
        "clock" => "#f4511e",
        "power-loss" => "#263238",
        _ => "#9e9d24",
    }
}

const OUTCOMES: [(Outcome, &str); 3] = [
    (Outcome::Ok, "ok"),
    (Outcome::Fail, "fail"),
    (Outcome::Info, "info"),
];

struct Frame {
    t0: u64,
    t1: u64,
}

impl Frame {
    fn x(&self, t: u64) -> f64 {
        let span = (self.t1 - self.t0).max(1) as f64;
        ML + (t.saturating_sub(self.t0)) as f64 / span * W
    }
}

fn frame(h: &dyn HistoryView, end: u64) -> Frame {
    let t0 = (0..h.op_count())
        .map(|i| h.op_facts(i).invoke_time)
        .min()
        .unwrap_or(0);
    Frame {
        t0: t0.min(end),
        t1: end.max(t0 + 1),
    }
}

/// Shaded fault windows over a plot area `top..top+height`.
fn shade(out: &mut String, fr: &Frame, windows: &[FaultWindow], top: f64, height: f64) {
    for w in windows {
        let x0 = fr.x(w.start);
        let x1 = fr.x(w.end).max(x0 + 1.0);
        let _ = write!(
            out,
            r#"<rect class="fault" x="{x0:.1}" y="{top:.1}" width="{:.1}" height="{height:.1}" fill="{}" fill-opacity="0.13"><title>{} {}</title></rect>"#,
            x1 - x0,
            fault_colour(&w.kind),
            xml(&w.kind),
            xml(&w.detail)
        );
    }
}

/// A time axis (seconds) under a plot area.
fn time_axis(out: &mut String, fr: &Frame, y: f64) {
    let span_s = (fr.t1 - fr.t0) as f64 / 1e9;
    let step = nice_step(span_s / 8.0);
    let _ = write!(
        out,
        r##"<line x1="{ML}" y1="{y}" x2="{}" y2="{y}" stroke="#888"/>"##,
        ML + W
    );
    let mut s = (fr.t0 as f64 / 1e9 / step).ceil() * step;
    let mut guard = 0;
    while s <= fr.t1 as f64 / 1e9 + 1e-9 && guard < 100 {
        let x = fr.x((s * 1e9) as u64);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{}" stroke="#888"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            y + 4.0,
            y + 16.0,
            trim_num(s)
        );
        s += step;
        guard += 1;
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="end">time (s)</text>"#,
        ML + W,
        y + 28.0
    );
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw.is_nan() || raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}

fn trim_num(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn legend_outcomes(out: &mut String, x: f64, y: f64) {
    let mut x = x;
    for (o, name) in OUTCOMES {
        let _ = write!(
            out,
            r#"<rect x="{x}" y="{}" width="9" height="9" fill="{}"/><text x="{}" y="{y}">{name}</text>"#,
            y - 8.0,
            outcome_colour(o),
            x + 12.0
        );
        x += 48.0;
    }
}

/// Latency over time, one panel per function (most frequent first), log scale, one mark per
/// occupied pixel cell and outcome; ops that never completed have no latency and are counted
/// in the panel title.
pub fn latency_svg(h: &dyn HistoryView, windows: &[FaultWindow], end: u64) -> String {
    let fr = frame(h, end);
    // Functions by frequency.
    let mut counts: Vec<(String, usize)> = {
        let mut map: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for i in 0..h.op_count() {
            let f = h.op_f(i);
            *map.entry(f.strip_prefix(':').unwrap_or(f)).or_default() += 1;
        }
        map.into_iter().map(|(f, n)| (f.to_string(), n)).collect()
    };
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut panels: Vec<String> = counts
        .iter()
        .take(MAX_PANELS)
        .map(|c| c.0.clone())
        .collect();
    let other = counts.len() > MAX_PANELS;
    if other {
        panels.push(String::from("(other functions)"));
    }
    // Latency range over completed ops, for one shared log axis.
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for i in 0..h.op_count() {
        let op = h.op_facts(i);
        if let Some(c) = op.complete_time {
            let l = c.saturating_sub(op.invoke_time).max(1_000);
            lo = lo.min(l);
            hi = hi.max(l);
        }
    }
    if lo > hi {
        return r#"<p class="empty">No completed ops: no latencies to plot.</p>"#.to_string();
    }
    let lo_dec = (lo as f64 / 1e6).log10().floor();
    let hi_dec = ((hi as f64 / 1e6).log10().ceil()).max(lo_dec + 1.0);
    let cols = W as usize / CELL as usize;
    let rows = LAT_H as usize / CELL as usize;
    let panel_h = MT + LAT_H + MB;
    let total_h = panel_h * panels.len() as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {total_h}" width="{}" role="img" aria-label="latency">"#,
        ML + W + 10.0,
        ML + W + 10.0
    );
    for (pi, name) in panels.iter().enumerate() {
        let top = pi as f64 * panel_h + MT;
        let in_panel = |f: &str| -> bool {
            let f = f.strip_prefix(':').unwrap_or(f);
            if other && pi == panels.len() - 1 {
                !panels[..panels.len() - 1].iter().any(|p| p == f)
            } else {
                f == name
            }
        };
        let mut cells = vec![vec![false; cols * rows]; 3];
        let mut paths = [String::new(), String::new(), String::new()];
        let mut pending = 0usize;
        let mut n = 0usize;
        for op in (0..h.op_count())
            .filter(|&i| in_panel(h.op_f(i)))
            .map(|i| h.op_facts(i))
        {
            n += 1;
            let Some(c) = op.complete_time else {
                pending += 1;
                continue;
            };
            let lat_ms = c.saturating_sub(op.invoke_time).max(1_000) as f64 / 1e6;
            let yfrac = (lat_ms.log10() - lo_dec) / (hi_dec - lo_dec);
            let x = fr.x(op.invoke_time);
            let col = (((x - ML) / W) * cols as f64).clamp(0.0, cols as f64 - 1.0) as usize;
            let row = ((1.0 - yfrac) * rows as f64).clamp(0.0, rows as f64 - 1.0) as usize;
            let o = match op.outcome {
                Outcome::Ok => 0,
                Outcome::Fail => 1,
                Outcome::Info => 2,
            };
            let cell = &mut cells[o][row * cols + col];
            if !*cell {
                *cell = true;
                // Integers: float formatting would dominate the plot's cost.
                let _ = write!(
                    paths[o],
                    "M{} {}h3v3h-3z",
                    (ML + col as f64 * CELL) as i64,
                    (top + row as f64 * CELL) as i64
                );
            }
        }
        let _ = write!(
            out,
            r#"<text class="title" x="{ML}" y="{}">{} — {} ops{}</text>"#,
            top - 7.0,
            xml(name),
            n,
            if pending > 0 {
                format!(", {pending} never completed (not plotted)")
            } else {
                String::new()
            }
        );
        shade(&mut out, &fr, windows, top, LAT_H);
        // Decade grid and labels.
        let mut d = lo_dec;
        while d <= hi_dec + 1e-9 {
            let y = top + (1.0 - (d - lo_dec) / (hi_dec - lo_dec)) * LAT_H;
            let _ = write!(
                out,
                r##"<line x1="{ML}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                ML + W,
                ML - 4.0,
                y + 4.0,
                latency_label(10f64.powf(d))
            );
            d += 1.0;
        }
        for (o, (outcome, _)) in OUTCOMES.iter().enumerate() {
            if !paths[o].is_empty() {
                let _ = write!(
                    out,
                    r#"<path d="{}" fill="{}" fill-opacity="0.8"/>"#,
                    paths[o],
                    outcome_colour(*outcome)
                );
            }
        }
        time_axis(&mut out, &fr, top + LAT_H);
        if pi == 0 {
            legend_outcomes(&mut out, ML + W - 150.0, top - 7.0);
        }
    }
    out.push_str("</svg>");
    out
}

fn latency_label(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", trim_num(ms / 1000.0))
    } else if ms >= 1.0 {
        format!("{} ms", trim_num(ms))
    } else {
        format!("{} µs", trim_num(ms * 1000.0))
    }
}

/// Completions per second over time, one line per outcome, fault windows shaded.
pub fn throughput_svg(h: &dyn HistoryView, windows: &[FaultWindow], end: u64) -> String {
    let fr = frame(h, end);
    let span = (fr.t1 - fr.t0).max(1);
    let mut buckets = vec![[0u64; 3]; TP_BUCKETS];
    for i in 0..h.op_count() {
        let op = h.op_facts(i);
        let t = op.complete_time.unwrap_or(op.invoke_time);
        let b = ((t.saturating_sub(fr.t0)) as u128 * TP_BUCKETS as u128 / span as u128) as usize;
        let o = match op.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        };
        buckets[b.min(TP_BUCKETS - 1)][o] += 1;
    }
    let bucket_s = span as f64 / 1e9 / TP_BUCKETS as f64;
    let max_rate = buckets
        .iter()
        .flat_map(|b| b.iter())
        .copied()
        .max()
        .unwrap_or(0) as f64
        / bucket_s;
    // Scale to the main phase: a short burst (the final reads, all at once after the heal)
    // would flatten everything else to the floor. The scale covers the busiest 95th percentile
    // of non-empty buckets (with room); a bucket above it is drawn cut at the top and named.
    let mut rates: Vec<u64> = buckets
        .iter()
        .flat_map(|b| b.iter())
        .copied()
        .filter(|&n| n > 0)
        .collect();
    rates.sort_unstable();
    let p95 = rates
        .get((rates.len() * 95 / 100).min(rates.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0) as f64
        / bucket_s;
    let scale_to = if max_rate > 2.0 * p95 {
        p95 * 1.25
    } else {
        max_rate
    };
    let y_max = nice_step(scale_to.max(1.0) / 4.0) * 4.0;
    let clipped = max_rate > y_max;
    let top = MT;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" role="img" aria-label="throughput">"#,
        ML + W + 10.0,
        MT + TP_H + MB + 8.0,
        ML + W + 10.0
    );
    let _ = write!(
        out,
        r#"<text class="title" x="{ML}" y="{}">completions per second ({} s buckets){}</text>"#,
        top - 7.0,
        trim_num(bucket_s),
        if clipped {
            format!(
                "; scaled to the main phase, a burst of {}/s cut at the top",
                trim_num(max_rate.round())
            )
        } else {
            String::new()
        }
    );
    shade(&mut out, &fr, windows, top, TP_H);
    for i in 0..=4 {
        let v = y_max * i as f64 / 4.0;
        let y = top + TP_H - v / y_max * TP_H;
        let _ = write!(
            out,
            r##"<line x1="{ML}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            ML + W,
            ML - 4.0,
            y + 4.0,
            trim_num(v)
        );
    }
    for (o, (outcome, _)) in OUTCOMES.iter().enumerate() {
        if buckets.iter().all(|b| b[o] == 0) {
            continue;
        }
        let mut pts = String::new();
        for (i, b) in buckets.iter().enumerate() {
            let x = ML + (i as f64 + 0.5) / TP_BUCKETS as f64 * W;
            let y = top + TP_H - ((b[o] as f64 / bucket_s) / y_max).min(1.0) * TP_H;
            let _ = write!(pts, "{x:.1},{y:.1} ");
        }
        let _ = write!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            pts.trim_end(),
            outcome_colour(*outcome)
        );
    }
    time_axis(&mut out, &fr, top + TP_H);
    legend_outcomes(&mut out, ML + W - 150.0, top - 7.0);
    out.push_str("</svg>");
    out
}

/// Availability in one window of time.
#[derive(Debug, Clone, PartialEq)]
pub struct Availability {
    /// What the row covers: a fault (`partition`), `no fault active`, or `whole run`.
    pub label: String,
    /// The fault's recorded detail, when a fault.
    pub detail: String,
    /// Window start, ns.
    pub start: u64,
    /// Window end, ns.
    pub end: u64,
    /// Ops invoked in the window.
    pub ops: u64,
    /// Of which ok.
    pub ok: u64,
    /// Of which failed definitely (the system answered no).
    pub failed: u64,
}

/// Ops answered (ok, or a definite failure: the system did answer) among those invoked in
/// each fault window, outside every window, and over the whole run; failures are counted
/// apart from ops that got no answer (`info`: timeouts, lost connections).
pub fn availability(h: &dyn HistoryView, windows: &[FaultWindow], end: u64) -> Vec<Availability> {
    let mut times: Vec<(u64, Outcome)> = (0..h.op_count())
        .map(|i| {
            let o = h.op_facts(i);
            (o.invoke_time, o.outcome)
        })
        .collect();
    times.sort_unstable_by_key(|t| t.0);
    // ok_before[i] / fail_before[i]: ok / failed ops among the first i.
    let mut ok_before = Vec::with_capacity(times.len() + 1);
    let mut fail_before = Vec::with_capacity(times.len() + 1);
    ok_before.push(0u64);
    fail_before.push(0u64);
    for (_, outcome) in &times {
        let ok = *ok_before.last().unwrap_or(&0);
        let fail = *fail_before.last().unwrap_or(&0);
        ok_before.push(ok + u64::from(*outcome == Outcome::Ok));
        fail_before.push(fail + u64::from(*outcome == Outcome::Fail));
    }
    let range3 = |a: u64, b: u64| -> (u64, u64, u64) {
        let i = times.partition_point(|t| t.0 < a);
        let j = times.partition_point(|t| t.0 < b);
        (
            (j - i) as u64,
            ok_before[j] - ok_before[i],
            fail_before[j] - fail_before[i],
        )
    };
    let range = |a: u64, b: u64| -> (u64, u64) {
        let (n, ok, _) = range3(a, b);
        (n, ok)
    };
    let failed_in = |a: u64, b: u64| range3(a, b).2;
    let mut rows = Vec::new();
    for w in windows {
        // A heal's own instant belongs to the window; include ops invoked at `end`.
        let (ops, ok) = range(w.start, w.end.saturating_add(1));
        rows.push(Availability {
            label: w.kind.clone(),
            detail: w.detail.clone(),
            start: w.start,
            end: w.end,
            ops,
            ok,
            failed: failed_in(w.start, w.end.saturating_add(1)),
        });
    }
    // Outside every window: sweep the merged windows.
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for w in windows {
        match merged.last_mut() {
            Some(last) if w.start <= last.1 => last.1 = last.1.max(w.end.saturating_add(1)),
            _ => merged.push((w.start, w.end.saturating_add(1))),
        }
    }
    let (all_ops, all_ok) = (times.len() as u64, *ok_before.last().unwrap_or(&0));
    let all_failed = *fail_before.last().unwrap_or(&0);
    let (mut in_ops, mut in_ok, mut in_failed) = (0, 0, 0);
    for (a, b) in &merged {
        let (o, k) = range(*a, *b);
        in_ops += o;
        in_ok += k;
        in_failed += failed_in(*a, *b);
    }
    if !windows.is_empty() {
        rows.push(Availability {
            label: "no fault active".into(),
            detail: String::new(),
            start: 0,
            end,
            ops: all_ops - in_ops,
            ok: all_ok - in_ok,
            failed: all_failed - in_failed,
        });
    }
    rows.push(Availability {
        label: "whole run".into(),
        detail: String::new(),
        start: 0,
        end,
        ops: all_ops,
        ok: all_ok,
        failed: all_failed,
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Op};
    use serde_json::json;

    fn op(i: u64, t: u64, outcome: Outcome, f: &str) -> Op {
        Op {
            process: i % 3,
            f: f.into(),
            key: None,
            invoke_value: json!(null),
            value: json!(1),
            outcome,
            invoke_index: 2 * i,
            complete_index: Some(2 * i + 1),
            invoke_time: t,
            complete_time: Some(t + 3_000_000),
            error: None,
            node: None,
        }
    }

    fn window(kind: &str, start: u64, end: u64) -> FaultWindow {
        FaultWindow {
            kind: kind.into(),
            start,
            end,
            detail: "<n1>".into(),
            open: false,
        }
    }

    #[test]
    fn throughput_is_scaled_to_the_main_phase_not_the_final_burst() {
        // One op every 100 ms for 20 s, then 2000 final reads within 50 ms.
        let mut ops: Vec<Op> = (0..200)
            .map(|i| op(i, i * 100_000_000, Outcome::Ok, "write"))
            .collect();
        ops.extend(
            (0..2000).map(|i| op(200 + i, 20_000_000_000 + i * 25_000, Outcome::Ok, "read")),
        );
        let h = History {
            ops,
            nemesis: vec![],
            event_count: 4400,
        };
        let svg = throughput_svg(&h, &[], 20_100_000_000);
        assert!(svg.contains("scaled to the main phase"), "{svg}");
        // Without a burst nothing is cut.
        let h = History {
            ops: (0..200)
                .map(|i| op(i, i * 100_000_000, Outcome::Ok, "write"))
                .collect(),
            nemesis: vec![],
            event_count: 400,
        };
        assert!(!throughput_svg(&h, &[], 20_000_000_000).contains("cut at the top"));
    }

    #[test]
    fn availability_splits_ops_by_fault_window() {
        let ops = (0..10)
            .map(|i| {
                let outcome = if (3..5).contains(&i) {
                    Outcome::Info
                } else if i == 5 {
                    Outcome::Fail // answered: a definite failure is not unavailability
                } else {
                    Outcome::Ok
                };
                op(i, i * 1_000_000_000, outcome, "read")
            })
            .collect();
        let h = History {
            ops,
            nemesis: vec![],
            event_count: 20,
        };
        let rows = availability(
            &h,
            &[window("partition", 3_000_000_000, 5_500_000_000)],
            10e9 as u64,
        );
        let got: Vec<(&str, u64, u64, u64)> = rows
            .iter()
            .map(|r| (r.label.as_str(), r.ops, r.ok, r.failed))
            .collect();
        assert_eq!(
            got,
            vec![
                ("partition", 3, 0, 1),
                ("no fault active", 7, 7, 0),
                ("whole run", 10, 7, 1)
            ]
        );
    }

    #[test]
    fn plots_escape_names_and_shade_faults() {
        let ops = (0..50)
            .map(|i| op(i, i * 10_000_000, Outcome::Ok, "<script>\"x\""))
            .collect();
        let h = History {
            ops,
            nemesis: vec![],
            event_count: 100,
        };
        let w = [window("partition", 100_000_000, 200_000_000)];
        for svg in [
            latency_svg(&h, &w, 600_000_000),
            throughput_svg(&h, &w, 600_000_000),
        ] {
            assert!(!svg.contains("<script>"), "{svg}");
            assert!(!svg.contains("<n1>"));
            assert!(svg.contains(r#"class="fault""#));
        }
        assert!(latency_svg(&h, &w, 600_000_000).contains("&lt;script&gt;&quot;x&quot;"));
    }

    #[test]
    fn the_compact_form_gives_the_same_plots_and_availability() {
        let mut ops: Vec<Op> = (0..3_000)
            .map(|i| {
                let outcome = [Outcome::Ok, Outcome::Fail, Outcome::Info][(i % 7 % 3) as usize];
                let f = ["read", ":write", "cas", "a", "b", "c", "d", "e"][(i % 8) as usize];
                op(i, i * 7_000_000, outcome, f)
            })
            .collect();
        // Ops that never completed have no latency.
        for o in ops.iter_mut().skip(2_990) {
            o.complete_time = None;
            o.complete_index = None;
            o.outcome = Outcome::Info;
        }
        let h = History {
            ops,
            nemesis: vec![],
            event_count: 6_000,
        };
        let c = crate::history::compact::CompactHistory::from_history(&h);
        let w = [
            window("partition", 1_000_000_000, 5_000_000_000),
            window("kill", 4_000_000_000, 9_000_000_000),
        ];
        let end = 21_500_000_000;
        assert_eq!(latency_svg(&h, &w, end), latency_svg(&c, &w, end));
        assert_eq!(throughput_svg(&h, &w, end), throughput_svg(&c, &w, end));
        assert_eq!(availability(&h, &w, end), availability(&c, &w, end));
    }

    #[test]
    fn nice_steps_are_one_two_or_five() {
        let cases = [(0.7, 1.0), (1.3, 2.0), (3.0, 5.0), (7.0, 10.0), (0.0, 1.0)];
        for (i, (raw, want)) in cases.iter().enumerate() {
            assert!((nice_step(*raw) - want).abs() < 1e-9, "case {i}");
        }
    }
}
