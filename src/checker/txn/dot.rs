//! Graphviz DOT text for dependency cycles, one graph per cycle anomaly. Pure: callers write
//! the files (and run `dot -Tsvg` when it is installed).

use super::explain::TxnCycle;
use crate::checker::{CheckResult, Witness};

/// Colours per relation, so a reader sees the anti-dependencies at a glance.
fn colour(relation: &str) -> &'static str {
    match relation {
        "ww" => "#1f77b4",
        "wr" => "#2ca02c",
        "rw" => "#d62728",
        "process" => "#7f7f7f",
        _ => "#9467bd",
    }
}

/// Escapes a string for a double-quoted DOT label.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The DOT graph of one cycle; `title` names it (the anomaly kind).
pub fn render(title: &str, cycle: &TxnCycle) -> String {
    let mut s = format!(
        "digraph \"{}\" {{\n  label=\"{}\";\n  labelloc=t;\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n  edge [fontname=\"monospace\", fontsize=10];\n",
        escape(title),
        escape(title)
    );
    for t in &cycle.txns {
        let mut value = t.value.to_string();
        if value.chars().count() > 120 {
            value = value.chars().take(117).collect::<String>() + "...";
        }
        s.push_str(&format!(
            "  T{} [label=\"T{} (process {}, {})\\n{}\"];\n",
            t.index,
            t.index,
            t.process,
            t.outcome,
            escape(&value)
        ));
    }
    for step in &cycle.steps {
        let (a, b) = (&cycle.txns[step.from], &cycle.txns[step.to]);
        let label = match &step.key {
            Some(k) => format!("{} {}", step.relation, k),
            None => step.relation.clone(),
        };
        s.push_str(&format!(
            "  T{} -> T{} [label=\"{}\", color=\"{}\", fontcolor=\"{}\", tooltip=\"{}\"];\n",
            a.index,
            b.index,
            escape(&label),
            colour(&step.relation),
            colour(&step.relation),
            escape(&step.why)
        ));
    }
    s.push_str("}\n");
    s
}

/// One (file name, DOT text) per cycle anomaly of `result`, named
/// `cycle-NNN-<kind>.dot` in anomaly order.
pub fn cycle_files(result: &CheckResult) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in &result.anomalies {
        if let Some(Witness::Cycle(c)) = &a.witness {
            let name = format!("cycle-{:03}-{}.dot", out.len(), a.kind);
            out.push((name, render(&a.kind, c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::txn::explain::{CycleStep, CycleTxn};
    use serde_json::json;

    #[test]
    fn a_cycle_renders_as_a_digraph_with_escaped_labels() {
        let t = |i| CycleTxn {
            index: i,
            complete_index: Some(i + 1),
            process: i,
            outcome: "ok".into(),
            value: json!([["append", "x\"y", i]]),
        };
        let c = TxnCycle {
            txns: vec![t(1), t(5)],
            steps: vec![
                CycleStep {
                    from: 0,
                    to: 1,
                    relation: "wr".into(),
                    key: Some(json!("x")),
                    why: "a \"b\"".into(),
                },
                CycleStep {
                    from: 1,
                    to: 0,
                    relation: "rw".into(),
                    key: None,
                    why: "c".into(),
                },
            ],
        };
        let dot = render("G-single-item", &c);
        assert!(dot.starts_with("digraph \"G-single-item\" {"));
        assert!(dot.contains("T1 -> T5 [label=\"wr \\\"x\\\"\""), "{dot}");
        assert!(dot.contains("T5 -> T1 [label=\"rw\""));
        assert!(dot.contains("x\\\\\\\"y"), "{dot}");
        assert!(dot.trim_end().ends_with('}'));
    }
}
