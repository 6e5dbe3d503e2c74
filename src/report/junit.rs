//! JUnit XML for CI: one `<testsuite>` per run (or per checked file), one `<testcase>` per
//! checker, inside one `<testsuites>` root, in the shape of the Ant JUnit schema that Jenkins,
//! GitLab and GitHub test reporters read. Pure: facts in, XML out.
//!
//! Verdicts map as follows:
//! - valid: a passing `<testcase>`;
//! - invalid: `<failure type="ANOMALY-KIND" message="FIRST EXPLANATION">` whose text lists
//!   every anomaly with its kind, ops and explanation;
//! - unknown: `<error type="unknown" message="unknown: CAUSE">`. Not `<skipped>`: CI must not
//!   read "could not decide" as a pass (unknown is never a silent true), and `faultline` exits
//!   2 for it;
//! - a run that itself failed or was interrupted adds a `run` test case with an `<error>`.

use std::fmt::Write as _;

use super::data::RunFacts;
use super::escape::xml;
use crate::checker::Validity;

/// The JUnit document for `runs`, one suite each.
pub fn junit_xml(runs: &[RunFacts]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut totals = [0usize; 3]; // tests, failures, errors
    let mut suites = String::new();
    for (i, run) in runs.iter().enumerate() {
        let counts = suite(&mut suites, i, run);
        for k in 0..3 {
            totals[k] += counts[k];
        }
    }
    let _ = writeln!(
        out,
        r#"<testsuites name="faultline" tests="{}" failures="{}" errors="{}">"#,
        totals[0], totals[1], totals[2]
    );
    out.push_str(&suites);
    out.push_str("</testsuites>\n");
    out
}

/// Appends one `<testsuite>`; returns (tests, failures, errors).
fn suite(out: &mut String, id: usize, run: &RunFacts) -> [usize; 3] {
    let mut cases = String::new();
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    let mut total_secs = 0.0;
    let classname = format!("faultline.{}", run.name);
    for c in &run.checkers {
        tests += 1;
        let secs = c
            .stats
            .get("elapsed_secs")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0);
        total_secs += secs;
        let _ = write!(
            cases,
            r#"    <testcase name="{}" classname="{}" time="{secs:.3}""#,
            xml(&c.checker),
            xml(&classname)
        );
        match c.valid {
            Validity::Valid => cases.push_str("/>\n"),
            Validity::Invalid => {
                failures += 1;
                let first = c.anomalies.first();
                let message = first
                    .map(|a| format!("{}: {}", a.kind, a.explanation))
                    .unwrap_or_else(|| "invalid".to_string());
                let kind = first.map(|a| a.kind.as_str()).unwrap_or("invalid");
                let mut text = String::new();
                for a in &c.anomalies {
                    let ops: Vec<String> = a.ops.iter().map(|o| format!("#{o}")).collect();
                    let _ = writeln!(
                        text,
                        "{} (ops {}): {}",
                        a.kind,
                        if ops.is_empty() {
                            "-".into()
                        } else {
                            ops.join(", ")
                        },
                        a.explanation
                    );
                }
                if let Some(r) = &run.reproduce {
                    let _ = writeln!(text, "reproduce: {r}");
                }
                let _ = write!(
                    cases,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                    xml(&message),
                    xml(kind),
                    xml(&text)
                );
            }
            Validity::Unknown => {
                errors += 1;
                let cause = c.cause.as_deref().unwrap_or("the checker could not decide");
                let _ = write!(
                    cases,
                    ">\n      <error message=\"{}\" type=\"unknown\">{}</error>\n    </testcase>\n",
                    xml(&format!("unknown: {cause}")),
                    xml(&format!(
                        "The {} checker could not decide: {cause}.",
                        c.checker
                    ))
                );
            }
        }
    }
    let run_problem = match (&run.run_error, run.interrupted, run.checkers.is_empty()) {
        (Some(e), _, _) => Some(format!("the run failed: {e}")),
        (None, true, _) => Some("the run was interrupted".to_string()),
        (None, false, true) => Some("no checker ran".to_string()),
        _ => None,
    };
    if let Some(problem) = run_problem {
        tests += 1;
        errors += 1;
        let _ = write!(
            cases,
            "    <testcase name=\"run\" classname=\"{}\" time=\"0\">\n      <error message=\"{}\" type=\"run\">{}</error>\n    </testcase>\n",
            xml(&classname),
            xml(&problem),
            xml(&problem)
        );
    }
    let timestamp = run
        .started_at
        .as_deref()
        .map(|s| s.chars().take(19).collect::<String>())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        r#"  <testsuite id="{id}" name="{}" package="faultline" tests="{tests}" failures="{failures}" errors="{errors}" skipped="0" time="{total_secs:.3}" timestamp="{}" hostname="localhost">"#,
        xml(&run.name),
        xml(&timestamp)
    );
    out.push_str("    <properties>\n");
    for (k, v) in &run.config {
        let _ = writeln!(
            out,
            r#"      <property name="{}" value="{}"/>"#,
            xml(k),
            xml(v)
        );
    }
    if let Some(r) = &run.reproduce {
        let _ = writeln!(
            out,
            r#"      <property name="reproduce" value="{}"/>"#,
            xml(r)
        );
    }
    out.push_str("    </properties>\n");
    out.push_str(&cases);
    let _ = writeln!(
        out,
        "    <system-out>{}</system-out>\n    <system-err/>\n  </testsuite>",
        xml(run.reproduce.as_deref().unwrap_or(""))
    );
    [tests, failures, errors]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts() -> RunFacts {
        let results = json!({
            "checkers": [
                {"checker": "linearizability", "valid": false, "stats": {"elapsed_secs": 0.5},
                 "anomalies": [{"kind": "nonlinearizable", "ops": [4, 9],
                                "explanation": "read <2> saw \"stale\" & old"}]},
                {"checker": "set", "valid": true, "anomalies": []},
                {"checker": "bank", "valid": "unknown", "cause": "timeout", "anomalies": []}
            ]
        });
        let test = json!({"name": "raftkv <x>", "reproduce": "faultline test --seed 3",
                          "started_at": "2026-01-02T03:04:05.678+00:00",
                          "config": {"seed": 3}});
        crate::report::data::facts_from_json(Some(&test), &results)
    }

    #[test]
    fn one_suite_per_run_one_case_per_checker() {
        let x = junit_xml(&[facts(), facts()]);
        assert_eq!(x.matches("<testsuite ").count(), 2);
        assert_eq!(x.matches("<testcase ").count(), 6);
        assert_eq!(x.matches("<failure ").count(), 2);
        assert_eq!(x.matches("<error ").count(), 2);
        assert!(x.contains(r#"tests="6" failures="2" errors="2""#), "{x}");
        assert!(
            x.contains("read &lt;2&gt; saw &quot;stale&quot; &amp; old"),
            "{x}"
        );
        assert!(x.contains(r#"name="raftkv &lt;x&gt;""#));
        assert!(x.contains(r#"timestamp="2026-01-02T03:04:05""#));
        assert!(!x.contains("<2>"));
    }

    #[test]
    fn a_failed_run_adds_an_error_case() {
        let mut f = facts();
        f.run_error = Some("cluster died".into());
        let x = junit_xml(&[f]);
        assert!(x.contains(r#"<testcase name="run""#));
        assert!(x.contains("the run failed: cluster died"));
    }
}
