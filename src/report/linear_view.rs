//! The view of one linearizability failure, after Porcupine's visualizer: the ops around the
//! failure on their processes' lanes (the longest linearizable prefix numbered in
//! linearization order, the op that cannot be placed, the ops concurrent with it), then the
//! prefix as a table with the model state after each op. Pure: witness in, escaped markup out.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::data::{value_text, LinearizationView, OpView};
use super::escape::{html, xml};

const W: f64 = 860.0;
const ML: f64 = 70.0;
const LANE_H: f64 = 22.0;
/// Prefix steps drawn on the lanes (the last ones, nearest the failure).
const LANES_PREFIX: usize = 24;

/// A link that makes the page's timeline jump to op `index`.
pub fn op_link(index: u64) -> String {
    format!(r##"<a class="op-link" href="#timeline" data-op="{index}">#{index}</a>"##)
}

/// "p3 read 1 (ok)".
pub fn describe(op: &OpView) -> String {
    let v = value_text(&op.value);
    if v.is_empty() {
        format!("p{} {} ({})", op.process, op.f, op.outcome)
    } else {
        format!("p{} {} {} ({})", op.process, op.f, v, op.outcome)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Prefix(usize),
    Failing,
    Concurrent,
}

/// Approximate width of one character of the lanes' 11px labels, in SVG units.
const CHAR_W: f64 = 7.5;

/// The label of a bar, cut to fit inside it (the whole op is in its tooltip): labels never
/// run into the next bar. Empty when not even one character fits.
fn fit_label(text: &str, width: f64) -> String {
    let room = ((width - 6.0) / CHAR_W).floor();
    if room < 1.0 {
        return String::new();
    }
    let room = room as usize;
    let n = text.chars().count();
    if n <= room {
        text.to_string()
    } else if room <= 1 {
        String::new()
    } else {
        let mut cut: String = text.chars().take(room - 1).collect();
        cut.push('…');
        cut
    }
}

/// The whole view as an HTML fragment.
pub fn render(w: &LinearizationView) -> String {
    let mut out = String::new();
    out.push_str(r#"<div class="linview">"#);
    let _ = write!(
        out,
        "<p>{}Op {} <b>{}</b> cannot be linearized: the longest linearizable prefix has {} op{}{}, after which the state is <code>{}</code>.</p>",
        w.key
            .as_ref()
            .map(|k| format!("Key <code>{}</code>. ", html(&value_text(k))))
            .unwrap_or_default(),
        op_link(w.op.index),
        html(&describe(&w.op)),
        w.prefix_len,
        if w.prefix_len == 1 { "" } else { "s" },
        if w.prefix_omitted > 0 {
            format!(" (the first {} are not shown)", w.prefix_omitted)
        } else {
            String::new()
        },
        html(&w.state)
    );
    if !w.core.is_empty() {
        let _ = write!(
            out,
            r#"<div class="core"><p><b>Core</b>: {} op{} that cannot be linearized together, as recorded, with every write they rely on{} (highlighted on the lanes below).</p><table class="core-ops"><thead><tr><th>op</th><th>what</th><th>invoked</th><th>completed</th></tr></thead><tbody>"#,
            w.core.len(),
            if w.core.len() == 1 { "" } else { "s" },
            if w.core_minimal {
                "; none can be dropped"
            } else {
                "; shrinking stopped at its time bound"
            }
        );
        for o in &w.core {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                op_link(o.index),
                html(&describe(o)),
                seconds(o.invoke_time),
                o.complete_time
                    .map(seconds)
                    .unwrap_or_else(|| "never".into())
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str(&lanes_svg(w));
    out.push_str(
        r#"<details open><summary>Longest linearizable prefix, in order</summary><div class="scroll"><table class="prefix"><thead><tr><th>#</th><th>op</th><th>what</th><th>state after</th></tr></thead><tbody>"#,
    );
    for (i, step) in w.prefix.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            w.prefix_omitted + i + 1,
            op_link(step.op.index),
            html(&describe(&step.op)),
            html(&step.state)
        );
    }
    let _ = write!(
        out,
        r#"<tr class="failing"><td>✗</td><td>{}</td><td>{}</td><td>cannot be placed after <code>{}</code></td></tr></tbody></table>"#,
        op_link(w.op.index),
        html(&describe(&w.op)),
        html(&w.state)
    );
    out.push_str("</div></details>");
    if !w.concurrent.is_empty() {
        out.push_str("<p>Concurrent with it: ");
        let items: Vec<String> = w
            .concurrent
            .iter()
            .map(|o| format!("{} {}", op_link(o.index), html(&describe(o))))
            .collect();
        out.push_str(&items.join("; "));
        out.push_str("</p>");
    }
    out.push_str("</div>");
    out
}

fn seconds(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// The ops of the witness on per-process lanes, as SVG.
fn lanes_svg(w: &LinearizationView) -> String {
    let mut ops: BTreeMap<u64, (&OpView, Role)> = BTreeMap::new();
    // The lanes show the end of the prefix, where the failure is; the table lists it all.
    let from = w.prefix.len().saturating_sub(LANES_PREFIX);
    for (i, s) in w.prefix.iter().enumerate().skip(from) {
        ops.insert(s.op.index, (&s.op, Role::Prefix(w.prefix_omitted + i + 1)));
    }
    for o in &w.concurrent {
        ops.entry(o.index).or_insert((o, Role::Concurrent));
    }
    // The core's ops are always drawn (and highlighted), wherever they are.
    for o in &w.core {
        ops.entry(o.index).or_insert((o, Role::Concurrent));
    }
    ops.insert(w.op.index, (&w.op, Role::Failing));
    let in_core = |i: u64| w.core.iter().any(|c| c.index == i);
    let t0 = ops.values().map(|(o, _)| o.invoke_time).min().unwrap_or(0);
    let t1 = ops
        .values()
        .map(|(o, _)| o.complete_time.unwrap_or(o.invoke_time))
        .max()
        .unwrap_or(0)
        .max(t0 + 1);
    // Without times (histories imported without them) fall back to event indexes.
    let timed = t1 > t0 + 1 || ops.values().any(|(o, _)| o.complete_time.is_some());
    let (a, b) = if timed {
        (t0, t1)
    } else {
        let a = ops.keys().next().copied().unwrap_or(0);
        let b = ops
            .values()
            .map(|(o, _)| o.complete_index.unwrap_or(o.index))
            .max()
            .unwrap_or(a)
            .max(a + 1);
        (a, b)
    };
    let end_of = |o: &OpView| -> u64 {
        if timed {
            o.complete_time.unwrap_or(b)
        } else {
            o.complete_index.unwrap_or(b)
        }
    };
    let start_of = |o: &OpView| if timed { o.invoke_time } else { o.index };
    let x = |t: u64| ML + (t.saturating_sub(a)) as f64 / (b - a).max(1) as f64 * W;
    let mut procs: Vec<u64> = ops.values().map(|(o, _)| o.process).collect();
    procs.sort_unstable();
    procs.dedup();
    let h = procs.len() as f64 * LANE_H + 30.0;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="lanes" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {h}" width="{}">"#,
        ML + W + 10.0,
        ML + W + 10.0
    );
    for (li, p) in procs.iter().enumerate() {
        let y = li as f64 * LANE_H + 4.0;
        let _ = write!(
            out,
            r#"<text x="4" y="{:.1}">p{p}</text>"#,
            y + LANE_H * 0.62
        );
        for (o, role) in ops.values().filter(|(o, _)| o.process == *p) {
            let x0 = x(start_of(o));
            let x1 = x(end_of(o)).max(x0 + 3.0);
            let (class, label) = match role {
                Role::Prefix(n) => ("prefix", n.to_string()),
                Role::Failing => ("failing", "✗".to_string()),
                Role::Concurrent => ("concurrent", String::new()),
            };
            let core = if in_core(o.index) { " core" } else { "" };
            let text = fit_label(
                &format!("{label} {} {}", o.f, value_text(&o.value)),
                x1 - x0,
            );
            let _ = write!(
                out,
                r#"<g class="{class}{core}" data-op="{}"><rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" rx="3"/><text x="{:.1}" y="{:.1}">{}</text><title>#{} {}</title></g>"#,
                o.index,
                x1 - x0,
                LANE_H - 6.0,
                x0 + 3.0,
                y + LANE_H * 0.55,
                xml(text.trim_start()),
                o.index,
                xml(&describe(o))
            );
        }
    }
    let _ = write!(
        out,
        r#"<text x="{ML}" y="{:.1}" class="note">numbers: linearization order (the last {LANES_PREFIX} prefix ops) · ✗ cannot be placed · outlined: concurrent · thick blue: the core · {}</text></svg>"#,
        h - 6.0,
        if timed { "x: time" } else { "x: event index" }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::data::StepView;
    use serde_json::json;

    fn op(index: u64, process: u64, f: &str, value: serde_json::Value, t: u64) -> OpView {
        OpView {
            index,
            complete_index: Some(index + 1),
            process,
            f: f.into(),
            value,
            outcome: "ok".into(),
            invoke_time: t,
            complete_time: Some(t + 10),
        }
    }

    #[test]
    fn the_view_numbers_the_prefix_and_escapes_values() {
        let w = LinearizationView {
            key: Some(json!("k<1>")),
            op: op(9, 2, "read", json!("</script>"), 40),
            state: "\"2\"".into(),
            prefix_len: 2,
            prefix_omitted: 0,
            prefix: vec![
                StepView {
                    op: op(1, 0, "write", json!(1), 0),
                    state: "1".into(),
                },
                StepView {
                    op: op(5, 1, "write", json!(2), 20),
                    state: "2".into(),
                },
            ],
            concurrent: vec![op(7, 3, "write", json!(3), 35)],
            core: vec![
                op(5, 1, "write", json!(2), 20),
                op(9, 2, "read", json!("</script>"), 40),
            ],
            core_minimal: true,
            pattern: "general".into(),
        };
        let html = render(&w);
        // The core comes first, its ops highlighted on the lanes.
        let core_at = html.find(r#"<div class="core">"#).expect("core section");
        let prefix_at = html.find("Longest linearizable prefix").expect("prefix");
        assert!(core_at < prefix_at);
        assert!(html.contains(r#"class="prefix core""#), "{html}");
        assert!(html.contains(r#"class="failing core""#), "{html}");
        assert!(!html.contains("</script>"), "{html}");
        assert!(html.contains("&lt;/script&gt;"));
        assert!(html.contains("k&lt;1&gt;"));
        assert!(html.contains("&quot;2&quot;"));
        for idx in [1, 5, 7, 9] {
            assert!(html.contains(&format!(r#"data-op="{idx}""#)), "op {idx}");
        }
        assert!(html.contains(r#"class="failing""#));
        assert!(html.contains(r#"class="concurrent""#));
    }

    #[test]
    fn labels_are_cut_to_fit_their_bars() {
        assert_eq!(fit_label("12 read 3", 200.0), "12 read 3");
        let cut = fit_label("34 read [37,38,39]", 50.0);
        assert!(cut.ends_with('…'), "{cut}");
        assert!(cut.chars().count() as f64 * CHAR_W <= 50.0 - 6.0, "{cut}");
        assert_eq!(fit_label("3 read 3", 8.0), "");
    }
}
