//! Assembles `report.html`: one self-contained file (CSS and script embedded with
//! `include_str!`, the timeline's data as JSON in a `<script type="application/json">` block,
//! the plots as inline SVG), so it opens from disk, from CI artifacts or from `faultline serve`
//! without network access. Pure: facts and history in, the page as a string out; the caller
//! writes it.
//!
//! Every value that came from the target or the history reaches the page through
//! [`escape`](super::escape): HTML-escaped in markup, XML-escaped in SVG, and script-escaped in
//! the JSON block (the page's script only ever sets `textContent`, never `innerHTML`, with it).

use std::fmt::Write as _;

use serde::Serialize;

use super::data::{value_text, RunFacts};
use super::escape::{html, json_for_script};
use super::faults::{fault_windows, FaultWindow};
use super::linear_view::{self, op_link};
use super::messages::{self, Diagram};
use super::plots;
use super::timeline::{self, history_end, Timeline, TimelineOptions};
use super::view::HistoryView;
use crate::checker::Validity;

const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// Limits for one report.
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    /// What the timeline keeps.
    pub timeline: TimelineOptions,
    /// Anomalies rendered per checker (the rest are counted; results.json has them all).
    pub max_anomalies: usize,
    /// Op links listed per anomaly.
    pub max_op_links: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            timeline: TimelineOptions::default(),
            max_anomalies: 100,
            max_op_links: 50,
        }
    }
}

/// The JSON the page's script reads.
#[derive(Serialize)]
struct PageData<'a> {
    timeline: &'a Timeline,
    anomaly_ops: &'a [u64],
}

fn verdict_class(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "v-valid",
        Validity::Invalid => "v-invalid",
        Validity::Unknown => "v-unknown",
    }
}

fn verdict_word(v: Validity) -> &'static str {
    match v {
        Validity::Valid => "VALID",
        Validity::Invalid => "INVALID",
        Validity::Unknown => "UNKNOWN",
    }
}

/// Renders the report of a run. `files` are names of other files beside `report.html` to link
/// to (history, results, logs); pass none for a standalone report.
pub fn render(
    facts: &RunFacts,
    history: &dyn HistoryView,
    files: &[String],
    opts: &ReportOptions,
) -> String {
    render_with_messages(facts, history, files, opts, None)
}

/// [`render`], with the message diagram of a `--target maelstrom` run (its windows of
/// `messages.jsonl`) drawn in a section of its own.
pub fn render_with_messages(
    facts: &RunFacts,
    history: &dyn HistoryView,
    files: &[String],
    opts: &ReportOptions,
    messages: Option<&Diagram>,
) -> String {
    let end = history_end(history);
    let windows = fault_windows(history.nemesis_events(), end);
    let anomaly_ops = facts.anomaly_ops();
    let tl = timeline::build(history, &windows, &facts.evidence_ops(), &opts.timeline);
    let verdict = facts.verdict();

    let mut out = String::with_capacity(1 << 20);
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en" data-report-status="loading">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{} — {} — faultline</title>
<style>{CSS}</style>
</head>
<body>
"#,
        html(&facts.name),
        verdict_word(verdict)
    );

    // Banner: overall verdict and one line per checker.
    let _ = write!(
        out,
        r#"<header class="banner {}"><div class="verdict">{}</div><h1>{}</h1><ul class="checkers">"#,
        verdict_class(verdict),
        verdict_word(verdict),
        html(&facts.name)
    );
    for c in &facts.checkers {
        let secs = c
            .stats
            .get("elapsed_secs")
            .and_then(serde_json::Value::as_f64)
            .map(|s| format!(", checked in {s:.2} s"))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<li class="{}"><b>{}</b>: {}{}{}{}</li>"#,
            verdict_class(c.valid),
            html(&c.checker),
            c.valid,
            if c.anomalies.is_empty() {
                String::new()
            } else {
                format!(
                    " — {} anomal{}",
                    c.anomalies.len(),
                    if c.anomalies.len() == 1 { "y" } else { "ies" }
                )
            },
            c.cause
                .as_deref()
                .map(|c| format!(" ({})", html(c)))
                .unwrap_or_default(),
            secs
        );
    }
    if facts.checkers.is_empty() {
        out.push_str("<li class=\"v-unknown\">no checker ran</li>");
    }
    out.push_str("</ul>");
    if let Some(e) = &facts.run_error {
        let _ = write!(
            out,
            r#"<p class="run-error">The run failed: {}</p>"#,
            html(e)
        );
    }
    for a in &facts.availability {
        let _ = write!(
            out,
            r#"<p class="availability">Availability event, not a safety violation: {} {} (nemesis op #{}): {}</p>"#,
            html(&a.node),
            html(&a.event),
            a.index,
            html(&a.cause)
        );
    }
    for skipped in &facts.skipped {
        let _ = write!(
            out,
            r#"<p class="skipped">Nemesis {}</p>"#,
            html(&skipped.line())
        );
    }
    if facts.interrupted {
        out.push_str(
            r#"<p class="run-error">The run was interrupted; the history is partial.</p>"#,
        );
    }
    out.push_str("</header>\n");
    out.push_str(r#"<div id="report-errors" class="report-errors" hidden></div>"#);
    out.push_str(r#"<noscript><p class="run-error">The timeline needs JavaScript; everything else is static.</p></noscript>"#);
    let has_witness = facts
        .checkers
        .iter()
        .any(|c| c.anomalies.iter().any(|a| a.linearization().is_some()));
    let _ = write!(
        out,
        "\n<nav><a href=\"#anomalies\">anomalies</a> · <a href=\"#timeline\">timeline</a> · {}<a href=\"#latency\">latency</a> · <a href=\"#throughput\">throughput</a> · <a href=\"#messages\">messages</a> · <a href=\"#availability\">availability</a> · <a href=\"#config\">configuration</a></nav>\n",
        if has_witness {
            "<a href=\"#linearization\">linearizability</a> · "
        } else {
            ""
        }
    );

    anomalies_section(&mut out, facts, opts);
    timeline_section(&mut out, &tl);
    witness_section(&mut out, facts, opts);

    let _ = write!(
        out,
        "<section id=\"latency\"><h2>Latency</h2>{}</section>\n<section id=\"throughput\"><h2>Throughput</h2>{}</section>\n",
        plots::latency_svg(history, &windows, end),
        plots::throughput_svg(history, &windows, end)
    );
    if let Some(diagram) = messages {
        messages_section(&mut out, diagram, &windows);
    }
    availability_section(&mut out, history, &windows, end);
    config_section(&mut out, facts, files);

    let data = PageData {
        timeline: &tl,
        anomaly_ops: &anomaly_ops,
    };
    // Serializing plain numbers, strings and vectors cannot fail.
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".to_string());
    let _ = write!(
        out,
        "<script type=\"application/json\" id=\"faultline-data\">{}</script>\n<script>{JS}</script>\n</body>\n</html>\n",
        json_for_script(&json)
    );
    out
}

/// The message (Lamport) diagram: each window of the message log, with what it shows.
fn messages_section(out: &mut String, diagram: &Diagram, faults: &[FaultWindow]) {
    let _ = write!(
        out,
        r#"<section id="messages"><h2>Messages</h2><p>{} messages in all; drawn: {}. Time flows down (one row per distinct event time); blue arrows are client messages, a red cross a message dropped, shaded bands fault windows. The full log is <code>messages.jsonl</code>.</p>"#,
        diagram.total,
        html(
            &diagram
                .windows
                .iter()
                .map(|w| w.title.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        )
    );
    for w in &diagram.windows {
        let _ = write!(
            out,
            r#"<figure class="lamport-window"><figcaption>{}</figcaption><div class="lamport-scroll">{}</div></figure>"#,
            html(&w.title),
            messages::svg(w, faults, diagram.offset_secs)
        );
    }
    out.push_str("</section>\n");
}

fn anomalies_section(out: &mut String, facts: &RunFacts, opts: &ReportOptions) {
    out.push_str("<section id=\"anomalies\"><h2>Anomalies</h2>");
    let total: usize = facts.checkers.iter().map(|c| c.anomalies.len()).sum();
    if total == 0 {
        out.push_str("<p>No checker found an anomaly.</p>");
    }
    for c in facts.checkers.iter().filter(|c| !c.anomalies.is_empty()) {
        let _ = write!(out, "<h3>{}</h3>", html(&c.checker));
        for (i, a) in c.anomalies.iter().take(opts.max_anomalies).enumerate() {
            let _ = write!(
                out,
                r#"<article class="anomaly" id="anomaly-{}-{i}"><h4><span class="kind">{}</span>{}</h4><p class="explanation">{}</p>"#,
                html(&c.checker),
                html(&a.kind),
                a.key
                    .as_ref()
                    .map(|k| format!(
                        " <span class=\"key\">key <code>{}</code></span>",
                        html(&value_text(k))
                    ))
                    .unwrap_or_default(),
                html(&a.explanation)
            );
            if !a.ops.is_empty() {
                out.push_str("<p class=\"ops\">ops: ");
                let links: Vec<String> = a
                    .ops
                    .iter()
                    .take(opts.max_op_links)
                    .map(|&o| op_link(o))
                    .collect();
                out.push_str(&links.join(" "));
                if a.ops.len() > opts.max_op_links {
                    let _ = write!(out, " … and {} more", a.ops.len() - opts.max_op_links);
                }
                out.push_str("</p>");
            }
            if a.linearization().is_some() {
                let _ = write!(
                    out,
                    r##"<p class="note"><a href="#linearization-{}-{i}">the failing key, op by op</a>, below the timeline</p>"##,
                    html(&c.checker)
                );
            } else if let Some(w) = &a.witness {
                let _ = write!(
                    out,
                    "<details><summary>evidence</summary><pre>{}</pre></details>",
                    html(&crate::report::escape::truncate(
                        &serde_json::to_string_pretty(w).unwrap_or_default(),
                        20_000
                    ))
                );
            }
            out.push_str("</article>");
        }
        if c.anomalies.len() > opts.max_anomalies {
            let _ = write!(
                out,
                "<p>… and {} more anomalies (see results.json).</p>",
                c.anomalies.len() - opts.max_anomalies
            );
        }
    }
    out.push_str("</section>\n");
}

/// The Porcupine-style view of each linearizability failure (only anomalies with a
/// linearization witness have one), after the timeline so the page opens on the anomaly list
/// and the timeline.
fn witness_section(out: &mut String, facts: &RunFacts, opts: &ReportOptions) {
    let mut any = false;
    for c in &facts.checkers {
        for (i, a) in c.anomalies.iter().take(opts.max_anomalies).enumerate() {
            let Some(w) = a.linearization() else { continue };
            if !any {
                out.push_str(r#"<section id="linearization"><h2>Linearizability failures</h2>"#);
                any = true;
            }
            let _ = write!(
                out,
                r#"<article class="anomaly" id="linearization-{}-{i}"><h4><span class="kind">{}</span> ({})</h4>{}</article>"#,
                html(&c.checker),
                html(&a.kind),
                html(&c.checker),
                linear_view::render(&w)
            );
        }
    }
    if any {
        out.push_str("</section>\n");
    }
}

fn timeline_section(out: &mut String, tl: &Timeline) {
    out.push_str(r#"<section id="timeline"><h2>Timeline</h2>"#);
    out.push_str(
        r#"<div class="tl-controls"><button type="button" data-zoom="in">zoom in</button><button type="button" data-zoom="out">zoom out</button><button type="button" data-zoom="reset">whole run</button><span class="legend"><i class="ok"></i>ok <i class="fail"></i>fail <i class="info"></i>info <i class="anom"></i>in an anomaly <i class="fault"></i>fault active</span><span id="tl-range" class="tl-range"></span></div>"#,
    );
    out.push_str(r#"<div class="tl-wrap" id="tl-wrap"><canvas id="tl-canvas" height="300"></canvas><div id="tl-tip" class="tl-tip" hidden></div></div>"#);
    let _ = write!(
        out,
        r#"<p class="note">{} client ops on {} lanes{}. Wheel or buttons to zoom, drag to pan, hover for an op, click to pin its details.</p>"#,
        tl.total_ops,
        tl.lanes.len(),
        if tl.downsampled {
            format!(
                "; {} drawn one by one (every op of an anomaly, and failures first), the rest folded into per-lane blocks",
                tl.kept_ops
            )
        } else {
            String::new()
        }
    );
    out.push_str(r#"<div id="tl-detail" class="tl-detail"><p>Click an op for its details.</p></div></section>"#);
    out.push('\n');
}

fn availability_section(
    out: &mut String,
    history: &dyn HistoryView,
    windows: &[super::faults::FaultWindow],
    end: u64,
) {
    out.push_str(r#"<section id="availability"><h2>Availability per fault window</h2><table class="avail"><thead><tr><th>window</th><th>detail</th><th>from (s)</th><th>to (s)</th><th>ops invoked</th><th>ok</th><th>failed</th><th>no answer</th><th>share answered</th></tr></thead><tbody>"#);
    for r in plots::availability(history, windows, end) {
        // A definite failure (a cas on a mismatched value) is an answer: the system was up.
        let share = if r.ops == 0 {
            "—".to_string()
        } else {
            format!("{:.1} %", 100.0 * (r.ok + r.failed) as f64 / r.ops as f64)
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{share}</td></tr>",
            html(&r.label),
            html(&crate::report::escape::truncate(&r.detail, 200)),
            r.start as f64 / 1e9,
            r.end as f64 / 1e9,
            r.ops,
            r.ok,
            r.failed,
            r.ops - r.ok - r.failed
        );
    }
    out.push_str("</tbody></table></section>\n");
}

fn config_section(out: &mut String, facts: &RunFacts, files: &[String]) {
    out.push_str(r#"<section id="config"><h2>Configuration</h2>"#);
    if let Some(r) = &facts.reproduce {
        let _ = write!(
            out,
            r#"<p>Reproduce with: <code class="cmd">{}</code></p>"#,
            html(r)
        );
    }
    if let Some(s) = &facts.started_at {
        let _ = write!(out, "<p>Started at {}.</p>", html(s));
    }
    out.push_str("<table class=\"config\"><tbody>");
    for (k, v) in &facts.config {
        let _ = write!(
            out,
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            html(k),
            html(&crate::report::escape::truncate(v, 2_000))
        );
    }
    out.push_str("</tbody></table>");
    if !files.is_empty() {
        out.push_str("<p>Files: ");
        let links: Vec<String> = files
            .iter()
            .map(|f| format!(r#"<a href="{}">{}</a>"#, html(&percent(f)), html(f)))
            .collect();
        out.push_str(&links.join(" · "));
        out.push_str("</p>");
    }
    out.push_str("</section>\n");
}

/// A file name as a relative URL path segment.
fn percent(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2E", ".")
        .replace("%2D", "-")
        .replace("%5F", "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Op, Outcome};
    use serde_json::json;

    fn hostile_history() -> History {
        let ops = (0..20u64)
            .map(|i| Op {
                process: i % 2,
                f: if i == 3 {
                    "<script>alert(1)</script>".into()
                } else {
                    "write".into()
                },
                key: Some(json!("k\"</script>")),
                invoke_value: json!("<script>alert(\"x\")</script>"),
                value: json!("\"quoted\" & <b>"),
                outcome: Outcome::Ok,
                invoke_index: 2 * i,
                complete_index: Some(2 * i + 1),
                invoke_time: i * 1_000_000,
                complete_time: Some(i * 1_000_000 + 500_000),
                error: None,
                node: Some("n1<".into()),
            })
            .collect();
        History {
            ops,
            nemesis: vec![],
            event_count: 40,
        }
    }

    fn hostile_facts() -> RunFacts {
        let results = json!({"checkers": [{"checker": "linearizability<script>", "valid": false,
            "anomalies": [{"kind": "<script>kind", "ops": [6], "key": "</script>",
                           "explanation": "a \"quoted\" <script>alert(2)</script> explanation"}]}]});
        let test = json!({"name": "</title><script>alert(3)</script>",
                          "reproduce": "faultline test --workload \"<x>\"",
                          "config": {"workload": "<script>w</script>"}});
        crate::report::data::facts_from_json(Some(&test), &results)
    }

    #[test]
    fn values_with_script_tags_and_quotes_appear_only_as_text() {
        let page = render(
            &hostile_facts(),
            &hostile_history(),
            &["history.jsonl".into()],
            &ReportOptions::default(),
        );
        // The only <script> tags are the report's own two.
        assert_eq!(page.matches("<script").count(), 2, "{page}");
        assert_eq!(page.matches("</script>").count(), 2);
        assert!(page.contains("&lt;/title&gt;&lt;script&gt;alert(3)&lt;/script&gt;"));
        assert!(
            page.contains("a &quot;quoted&quot; &lt;script&gt;alert(2)&lt;/script&gt; explanation")
        );
        assert!(page.contains("--workload &quot;&lt;x&gt;&quot;"));
        // Inside the JSON block the same values are \u003c-escaped and still decode.
        let start = page.find(r#"id="faultline-data">"#).unwrap() + r#"id="faultline-data">"#.len();
        let len = page[start..].find("</script>").unwrap();
        let data: serde_json::Value = serde_json::from_str(&page[start..start + len]).unwrap();
        let fs = data["timeline"]["fs"].as_array().unwrap();
        assert!(
            fs.iter().any(|f| f == "<script>alert(1)</script>"),
            "{fs:?}"
        );
        assert_eq!(
            data["timeline"]["ops"]["v"][0],
            "<script>alert(\"x\")</script>"
        );
        assert_eq!(data["anomaly_ops"], json!([6]));
    }

    #[test]
    fn a_skipped_fault_family_is_shown_in_the_header_with_why() {
        let results = json!({"checkers": [], "nemesis_skipped": [
            {"family": "clock", "why": "etcd is a Go binary <vDSO>"}]});
        let facts = crate::report::data::facts_from_json(None, &results);
        let page = render(&facts, &hostile_history(), &[], &ReportOptions::default());
        assert!(
            page.contains("Nemesis skipped: clock (etcd is a Go binary &lt;vDSO&gt;)"),
            "{page}"
        );
    }

    #[test]
    fn the_hostile_page_is_the_same_from_the_compact_form() {
        let h = hostile_history();
        let c = crate::history::compact::CompactHistory::from_history(&h);
        let files = ["history.jsonl".to_string()];
        let opts = ReportOptions::default();
        assert_eq!(
            render(&hostile_facts(), &h, &files, &opts),
            render(&hostile_facts(), &c, &files, &opts)
        );
    }

    #[test]
    fn the_page_is_self_contained() {
        let page = render(
            &hostile_facts(),
            &hostile_history(),
            &[],
            &ReportOptions::default(),
        );
        for needle in ["http://", "https://", "src=\"", "<link"] {
            let allowed = needle == "http://"
                && page.matches(needle).count()
                    == page.matches("http://www.w3.org/2000/svg").count();
            assert!(!page.contains(needle) || allowed, "{needle} in the page");
        }
        assert!(page.contains("data-report-status=\"loading\""));
    }
}
