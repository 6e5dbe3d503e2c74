//! The message (Lamport) diagram of a `--target maelstrom` run, as Maelstrom's
//! `messages.svg`: one vertical line per client, node and service, time flowing down, one
//! arrow per message from its send to its delivery (a dropped one ends in a cross halfway),
//! fault windows shaded. A run moves far more messages than a page can show, so the diagram
//! draws bounded windows of `messages.jsonl` and says which: the first [`FIRST`] messages,
//! and the [`AROUND`] before and after the first anomaly's op. Pure: [`select`] reads the
//! log's lines, [`svg`] draws one window.
//!
//! The message log's clock starts with the network, the history's with the first client op;
//! they are aligned on the first client request (sent the moment its op is invoked).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt::Write;

use serde_json::Value;

use super::escape::xml;
use super::faults::FaultWindow;

/// Messages drawn from the start of the run.
pub const FIRST: usize = 40;
/// Messages drawn on each side of the first anomaly.
pub const AROUND: usize = 20;

/// One message: sent at `sent` (seconds on the message log's clock), delivered at
/// `delivered` or dropped (`dropped`: why), or neither within the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    /// The sender.
    pub src: String,
    /// The addressee.
    pub dest: String,
    /// The body's `type`.
    pub kind: String,
    /// When it was sent.
    pub sent: f64,
    /// When it was delivered (the first copy).
    pub delivered: Option<f64>,
    /// Why it was not (partition, loss, undeliverable).
    pub dropped: Option<String>,
}

/// A window of messages, drawn as one diagram.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// What the window is, for its caption.
    pub title: String,
    /// Its messages, in the order they were sent.
    pub arrows: Vec<Arrow>,
}

/// The windows of a run's message log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Diagram {
    /// Messages the whole log has.
    pub total: u64,
    /// The windows drawn.
    pub windows: Vec<Window>,
    /// The message log's time (s) of the history's time zero, when a client request aligns
    /// them.
    pub offset_secs: Option<f64>,
}

/// The windows of the message log `lines`: the first [`FIRST`] messages, and the [`AROUND`]
/// on each side of the history time `anomaly_ns` (when there is an anomaly);
/// `first_invoke_ns`, the history time of the first client op, aligns the two clocks.
pub fn select<S: AsRef<str>>(
    lines: impl IntoIterator<Item = S>,
    first_invoke_ns: Option<u64>,
    anomaly_ns: Option<u64>,
) -> Diagram {
    let mut total = 0u64;
    let mut first: Vec<Arrow> = Vec::new();
    let mut before: VecDeque<Arrow> = VecDeque::new();
    let mut after: Vec<Arrow> = Vec::new();
    let mut offset: Option<f64> = None;
    let mut anomaly_t: Option<f64> = None;
    // Arrows still waiting for their delivery: (window, index) by the message's text.
    let mut open: HashMap<String, Vec<(u8, usize)>> = HashMap::new();
    for line in lines {
        let Ok(e) = serde_json::from_str::<Value>(line.as_ref()) else {
            continue;
        };
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let t = e.get("t").and_then(Value::as_f64).unwrap_or(0.0);
        let (src, dest) = (s("src"), s("dest"));
        let key = format!(
            "{src}\u{1}{dest}\u{1}{}",
            e.get("body").map(Value::to_string).unwrap_or_default()
        );
        match s("event").as_str() {
            "send" => {
                total += 1;
                if offset.is_none() && src.starts_with('c') && src != "c0" {
                    if let Some(ns) = first_invoke_ns {
                        let zero = t - ns as f64 / 1e9;
                        offset = Some(zero);
                        anomaly_t = anomaly_ns.map(|a| zero + a as f64 / 1e9);
                    }
                }
                let arrow = Arrow {
                    kind: e
                        .get("body")
                        .and_then(|b| b.get("type"))
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned(),
                    src,
                    dest,
                    sent: t,
                    delivered: None,
                    dropped: None,
                };
                let slot = if first.len() < FIRST {
                    first.push(arrow);
                    Some((0, first.len() - 1))
                } else {
                    match anomaly_t {
                        Some(at) if t < at => {
                            if before.len() == AROUND {
                                before.pop_front();
                                // Indices into `before` shift: rebuilt below.
                                for v in open.values_mut() {
                                    v.retain_mut(|(w, i)| {
                                        if *w != 1 {
                                            return true;
                                        }
                                        if *i == 0 {
                                            return false;
                                        }
                                        *i -= 1;
                                        true
                                    });
                                }
                            }
                            before.push_back(arrow);
                            Some((1, before.len() - 1))
                        }
                        Some(_) if after.len() < AROUND => {
                            after.push(arrow);
                            Some((2, after.len() - 1))
                        }
                        _ => None,
                    }
                };
                if let Some(slot) = slot {
                    open.entry(key).or_default().push(slot);
                }
            }
            event @ ("recv" | "drop") => {
                let Some(slots) = open.get_mut(&key) else {
                    continue;
                };
                if slots.is_empty() {
                    continue;
                }
                let (w, i) = slots.remove(0);
                let arrow = match w {
                    0 => first.get_mut(i),
                    1 => before.get_mut(i),
                    _ => after.get_mut(i),
                };
                if let Some(a) = arrow {
                    if event == "recv" {
                        a.delivered = Some(t);
                    } else {
                        a.dropped = Some(s("cause"));
                    }
                }
            }
            _ => {}
        }
    }
    let mut windows = vec![Window {
        title: format!(
            "the first {} of {total} messages",
            first.len().min(total as usize)
        ),
        arrows: first,
    }];
    if let Some(at) = anomaly_t {
        let arrows: Vec<Arrow> = before.into_iter().chain(after).collect();
        if !arrows.is_empty() {
            windows.push(Window {
                title: format!(
                    "{} messages around the first anomaly's op (sent at {at:.3} s on the message log's clock)",
                    arrows.len()
                ),
                arrows,
            });
        }
    }
    Diagram {
        total,
        windows,
        offset_secs: offset,
    }
}

/// The order of a participant's column: clients, nodes, services, each by number.
fn column_key(name: &str) -> (u8, u64, String) {
    let num = |p: &str| name.strip_prefix(p).and_then(|n| n.parse::<u64>().ok());
    match (num("c"), num("n")) {
        (Some(n), _) => (0, n, String::new()),
        (_, Some(n)) => (1, n, String::new()),
        _ => (2, 0, name.to_owned()),
    }
}

/// One window as an SVG: columns per participant, a row per distinct event time, arrows,
/// and the fault windows (`faults`, in history ns; `offset` aligns them) shaded.
pub fn svg(window: &Window, faults: &[FaultWindow], offset: Option<f64>) -> String {
    let names: BTreeSet<(u8, u64, String, String)> = window
        .arrows
        .iter()
        .flat_map(|a| [&a.src, &a.dest])
        .map(|n| {
            let (a, b, c) = column_key(n);
            (a, b, c, n.clone())
        })
        .collect();
    let cols: Vec<&str> = names.iter().map(|(_, _, _, n)| n.as_str()).collect();
    let x = |n: &str| 90.0 + 100.0 * cols.iter().position(|c| *c == n).unwrap_or(0) as f64;
    let mut times: Vec<f64> = window
        .arrows
        .iter()
        .flat_map(|a| [Some(a.sent), a.delivered])
        .flatten()
        .collect();
    times.sort_by(f64::total_cmp);
    times.dedup();
    const ROW: f64 = 16.0;
    const TOP: f64 = 40.0;
    let y = |t: f64| TOP + ROW * times.partition_point(|v| *v < t) as f64;
    let height = TOP + ROW * (times.len() as f64 + 1.0);
    let width = 90.0 + 100.0 * cols.len() as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="lamport" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" data-arrows="{}"><defs><marker id="lamport-head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>"##,
        window.arrows.len()
    );
    if let (Some(zero), Some(t0), Some(t1)) = (offset, times.first(), times.last()) {
        for f in faults {
            let (s, e) = (zero + f.start as f64 / 1e9, zero + f.end as f64 / 1e9);
            if e < *t0 || s > *t1 {
                continue;
            }
            let (ys, ye) = (y(s.max(*t0)), y(e.min(*t1)) + ROW / 2.0);
            let _ = write!(
                out,
                r##"<rect x="0" y="{ys}" width="{width}" height="{}" fill="#f5c6a5" opacity="0.35"><title>{}</title></rect><text x="4" y="{}" font-size="10" fill="#a0522d">{}</text>"##,
                (ye - ys).max(2.0),
                xml(&format!("{} {}", f.kind, f.detail)),
                ys + 10.0,
                xml(&f.kind)
            );
        }
    }
    for c in &cols {
        let cx = x(c);
        let _ = write!(
            out,
            r##"<text x="{cx}" y="20" text-anchor="middle" font-size="12" font-weight="bold">{}</text><line x1="{cx}" y1="28" x2="{cx}" y2="{}" stroke="#999"/>"##,
            xml(c),
            height - 4.0
        );
    }
    for (i, t) in times.iter().enumerate() {
        if i % 5 == 0 {
            let _ = write!(
                out,
                r##"<text x="4" y="{}" font-size="9" fill="#666">{t:.3} s</text>"##,
                TOP + ROW * i as f64 + 3.0
            );
        }
    }
    for a in &window.arrows {
        let (x1, y1) = (x(&a.src), y(a.sent));
        let (x2, y2, end) = match (a.delivered, &a.dropped) {
            (Some(t), _) => (x(&a.dest), y(t), ""),
            (None, Some(_)) => ((x1 + x(&a.dest)) / 2.0, y1 + ROW / 2.0, "drop"),
            (None, None) => ((x1 + x(&a.dest)) / 2.0, y1 + ROW / 2.0, "open"),
        };
        let y2 = if y2 <= y1 { y1 + ROW / 4.0 } else { y2 };
        let colour = if a.src.starts_with('c') || a.dest.starts_with('c') {
            "#1f5fa8"
        } else {
            "#333"
        };
        let tip = format!(
            "{} → {}: {} at {:.4} s{}",
            a.src,
            a.dest,
            a.kind,
            a.sent,
            match (a.delivered, &a.dropped) {
                (Some(t), _) => format!(", delivered at {t:.4} s"),
                (None, Some(why)) => format!(", dropped ({why})"),
                _ => ", not delivered within the log".to_owned(),
            }
        );
        let marker = if end.is_empty() {
            r#" marker-end="url(#lamport-head)""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<g><title>{}</title><line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}"{marker}/>"#,
            xml(&tip)
        );
        if end == "drop" {
            let _ = write!(
                out,
                r##"<path d="M{} {} l8 8 M{} {} l-8 8" stroke="#c0392b" stroke-width="2"/>"##,
                x2 - 4.0,
                y2 - 4.0,
                x2 + 4.0,
                y2 - 4.0
            );
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" font-size="9" text-anchor="middle" fill="{colour}">{}</text></g>"#,
            (x1 + x2) / 2.0,
            (y1 + y2) / 2.0 - 2.0,
            xml(&a.kind)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(t: f64, event: &str, src: &str, dest: &str, kind: &str, id: u64) -> String {
        format!(
            r#"{{"t":{t},"event":"{event}","src":"{src}","dest":"{dest}","body":{{"type":"{kind}","msg_id":{id}}}}}"#
        )
    }

    #[test]
    fn sends_are_paired_with_their_delivery_and_drops_and_windows_bounded() {
        let mut log = vec![
            line(0.5, "send", "c1", "n0", "write", 1),
            line(0.6, "recv", "c1", "n0", "write", 1),
            line(0.7, "send", "n0", "n1", "fwd", 1),
            line(0.7, "drop", "n0", "n1", "fwd", 1),
        ];
        for i in 0..200u64 {
            let t = 1.0 + i as f64 * 0.01;
            log.push(line(t, "send", "n0", "n2", "gossip", 10 + i));
            log.push(line(t + 0.005, "recv", "n0", "n2", "gossip", 10 + i));
        }
        // First client op at history 0.1 s: history zero is log time 0.4; the anomaly's op
        // at history 1.6 s is log time 2.0.
        let d = select(
            log.iter().map(String::as_str),
            Some(100_000_000),
            Some(1_600_000_000),
        );
        assert_eq!(d.total, 202);
        assert!((d.offset_secs.unwrap_or(0.0) - 0.4).abs() < 1e-9);
        assert_eq!(d.windows.len(), 2);
        let first = &d.windows[0];
        assert_eq!(first.arrows.len(), FIRST);
        assert_eq!(first.arrows[0].delivered, Some(0.6));
        assert_eq!(first.arrows[1].dropped.as_deref(), Some(""));
        let around = &d.windows[1];
        assert_eq!(around.arrows.len(), 2 * AROUND);
        assert!(
            around.arrows.iter().all(|a| a.delivered.is_some()),
            "{around:?}"
        );
        assert!(around.arrows[AROUND - 1].sent < 2.0 && around.arrows[AROUND].sent >= 2.0);
        let picture = svg(around, &[], d.offset_secs);
        assert!(picture.contains(r#"data-arrows="40""#));
        assert!(picture.contains(">n2</text>"));
    }

    #[test]
    fn a_dropped_message_ends_in_a_cross_and_faults_are_shaded() {
        let log = [
            line(0.0, "send", "c1", "n0", "read", 1),
            line(0.1, "send", "n0", "n1", "fwd", 2),
            r#"{"t":0.1,"event":"drop","src":"n0","dest":"n1","body":{"type":"fwd","msg_id":2},"cause":"partition"}"#.to_owned(),
            line(0.2, "recv", "c1", "n0", "read", 1),
        ];
        let d = select(log.iter().map(String::as_str), Some(0), None);
        assert_eq!(d.windows.len(), 1);
        let w = &d.windows[0];
        assert_eq!(w.arrows[1].dropped.as_deref(), Some("partition"));
        let fault = FaultWindow {
            kind: "partition".into(),
            start: 50_000_000,
            end: 150_000_000,
            detail: String::new(),
            open: false,
        };
        let picture = svg(w, &[fault], d.offset_secs);
        assert!(picture.contains("#c0392b"), "the drop's cross");
        assert!(picture.contains("<rect"), "the partition is shaded");
        // Columns: clients, then nodes.
        assert!(picture.find(">c1</text>") < picture.find(">n0</text>"));
    }
}
