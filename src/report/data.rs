//! What a report shows, read back from the JSON the runner stores: each checker's verdict
//! with its anomalies, the test's configuration and the reproducing command. The report reads
//! `results.json`/`test.json` shapes (not the checker's Rust types), so a stored run, a fresh
//! run and `faultline check` all go through the same path, and anomalies from any checker
//! (linearizability, set, bank, transactions, ...) render the same way. Pure: no I/O.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::ReportError;
use crate::checker::{CheckResult, Validity};

/// One checker's verdict, as stored in `results.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckerView {
    /// Which checker, e.g. `linearizability`.
    pub checker: String,
    /// The verdict (`true`, `false` or `"unknown"` in JSON).
    #[serde(deserialize_with = "validity")]
    pub valid: Validity,
    /// Why the verdict is unknown, when it is.
    #[serde(default)]
    pub cause: Option<String>,
    /// What the checker found wrong.
    #[serde(default)]
    pub anomalies: Vec<AnomalyView>,
    /// The checker's counters, shown as given.
    #[serde(default)]
    pub stats: Value,
}

/// One anomaly, whatever checker found it.
#[derive(Debug, Clone, Deserialize)]
pub struct AnomalyView {
    /// The kind, e.g. `nonlinearizable`, `lost-write`, `G1c`.
    pub kind: String,
    /// The key it concerns, when keyed.
    #[serde(default)]
    pub key: Option<Value>,
    /// The ops involved, by history index of their invoke.
    #[serde(default)]
    pub ops: Vec<u64>,
    /// The plain-language explanation.
    #[serde(default)]
    pub explanation: String,
    /// Checker-specific evidence; only the linearizability witness gets its own view.
    #[serde(default)]
    pub witness: Option<Value>,
}

impl AnomalyView {
    /// The linearizability witness, when this anomaly carries one.
    pub fn linearization(&self) -> Option<LinearizationView> {
        let w = self.witness.as_ref()?;
        if w.get("type").and_then(Value::as_str) != Some("linearization") {
            return None;
        }
        serde_json::from_value(w.clone()).ok()
    }
}

/// A linearizability witness: the longest linearizable prefix with the state after each op,
/// the op that cannot be placed, and the ops concurrent with it.
#[derive(Debug, Clone, Deserialize)]
pub struct LinearizationView {
    /// The key, when checked key by key.
    #[serde(default)]
    pub key: Option<Value>,
    /// The op that cannot be linearized.
    pub op: OpView,
    /// The model state after the prefix.
    #[serde(default)]
    pub state: String,
    /// Length of the whole prefix.
    #[serde(default)]
    pub prefix_len: usize,
    /// How many of the prefix's first steps are not listed.
    #[serde(default)]
    pub prefix_omitted: usize,
    /// The listed prefix steps, in linearization order.
    #[serde(default)]
    pub prefix: Vec<StepView>,
    /// Ops overlapping the failing op.
    #[serde(default)]
    pub concurrent: Vec<OpView>,
}

/// One prefix step: the op and the state right after it.
#[derive(Debug, Clone, Deserialize)]
pub struct StepView {
    /// The op.
    pub op: OpView,
    /// The model state after it.
    #[serde(default)]
    pub state: String,
}

/// An op as a witness cites it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OpView {
    /// History index of the invoke.
    pub index: u64,
    /// History index of the completion.
    #[serde(default)]
    pub complete_index: Option<u64>,
    /// The client process.
    #[serde(default)]
    pub process: u64,
    /// The function.
    #[serde(default)]
    pub f: String,
    /// The value that matters (result for ok ops, argument otherwise).
    #[serde(default)]
    pub value: Value,
    /// `ok`, `fail` or `info`.
    #[serde(default)]
    pub outcome: String,
    /// Invoke time, ns.
    #[serde(default)]
    pub invoke_time: u64,
    /// Completion time, ns.
    #[serde(default)]
    pub complete_time: Option<u64>,
}

fn validity<'de, D: Deserializer<'de>>(d: D) -> Result<Validity, D::Error> {
    Ok(validity_of(&Value::deserialize(d)?))
}

/// Jepsen's `:valid?` encoding read back: `true` valid, `false` invalid, anything else unknown.
pub fn validity_of(v: &Value) -> Validity {
    match v {
        Value::Bool(true) => Validity::Valid,
        Value::Bool(false) => Validity::Invalid,
        _ => Validity::Unknown,
    }
}

/// Everything about a run except its history: enough for a JUnit suite, the banner and the
/// configuration table.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The test's name (or the checked file's name).
    pub name: String,
    /// When the run started (RFC 3339), when known.
    pub started_at: Option<String>,
    /// The command that reproduces the run.
    pub reproduce: Option<String>,
    /// Configuration rows (name, value) in a stable order.
    pub config: Vec<(String, String)>,
    /// One entry per checker.
    pub checkers: Vec<CheckerView>,
    /// Why the run itself failed, when it did.
    pub run_error: Option<String>,
    /// Whether the run was interrupted (Ctrl-C).
    pub interrupted: bool,
}

impl RunFacts {
    /// Reads the facts from a run's `test.json` (optional: older or foreign runs may lack it)
    /// and `results.json` values; `source` names the run in errors.
    pub fn from_run_json(
        source: &str,
        test: Option<&Value>,
        results: &Value,
    ) -> Result<RunFacts, ReportError> {
        let checkers = match results.get("checkers") {
            Some(c) => serde_json::from_value::<Vec<CheckerView>>(c.clone()).map_err(|e| {
                ReportError::Shape {
                    what: format!("{source}: results.json \"checkers\""),
                    reason: e.to_string(),
                }
            })?,
            None => Vec::new(),
        };
        let mut config = Vec::new();
        let mut name = String::from("faultline run");
        let mut started_at = None;
        let mut reproduce = None;
        if let Some(test) = test {
            if let Some(n) = test.get("name").and_then(Value::as_str) {
                name = n.to_string();
            }
            started_at = test
                .get("started_at")
                .and_then(Value::as_str)
                .map(str::to_string);
            reproduce = test
                .get("reproduce")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(Value::Object(c)) = test.get("config") {
                for (k, v) in c {
                    config.push((k.clone(), value_text(v)));
                }
            }
            if let Some(w) = test.get("workload").and_then(Value::as_str) {
                config.push(("workload (resolved)".into(), w.to_string()));
            }
            if let Some(i) = test.get("nemesis_interval_secs") {
                config.push(("nemesis interval (s)".into(), value_text(i)));
            }
        }
        if let Some(seed) = results.get("seed") {
            if !config.iter().any(|(k, _)| k == "seed") {
                config.push(("seed".into(), value_text(seed)));
            }
        }
        if let Some(counts) = results.get("counts").and_then(Value::as_object) {
            for (k, v) in counts {
                config.push((format!("ops {k}"), value_text(v)));
            }
        }
        Ok(RunFacts {
            name,
            started_at,
            reproduce,
            config,
            checkers,
            run_error: results
                .get("run_error")
                .and_then(Value::as_str)
                .map(str::to_string),
            interrupted: results
                .get("interrupted")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// The facts of a `faultline check` of one file: the file name, how it was read, and the
    /// checker results (serialized and read back, so rendering has one input shape).
    pub fn from_check(
        file: &str,
        config: Vec<(String, String)>,
        results: &[CheckResult],
    ) -> Result<RunFacts, ReportError> {
        let checkers = results
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .and_then(serde_json::from_value::<CheckerView>)
                    .map_err(|e| ReportError::Shape {
                        what: format!("{file}: the {} result", r.checker),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RunFacts {
            name: file.to_string(),
            started_at: Some(chrono::Utc::now().to_rfc3339()),
            reproduce: None,
            config,
            checkers,
            run_error: None,
            interrupted: false,
        })
    }

    /// The merged verdict over every checker (unknown when there are none, or the run broke
    /// without an anomaly).
    pub fn verdict(&self) -> Validity {
        let merged = if self.checkers.is_empty() {
            Validity::Unknown
        } else {
            self.checkers
                .iter()
                .fold(Validity::Valid, |acc, c| acc.merge(c.valid))
        };
        if merged == Validity::Valid && (self.run_error.is_some() || self.interrupted) {
            Validity::Unknown
        } else {
            merged
        }
    }

    /// Every op index some anomaly cites (outlined on the timeline).
    pub fn anomaly_ops(&self) -> Vec<u64> {
        self.collect_ops(false)
    }

    /// The cited ops plus every op a witness shows (its prefix, its concurrent ops): the ops
    /// the timeline must never drop, so each link in the report lands on its op.
    pub fn evidence_ops(&self) -> Vec<u64> {
        self.collect_ops(true)
    }

    fn collect_ops(&self, evidence: bool) -> Vec<u64> {
        let mut ops: Vec<u64> = Vec::new();
        for c in &self.checkers {
            for a in &c.anomalies {
                ops.extend(&a.ops);
                if let Some(w) = a.linearization() {
                    ops.push(w.op.index);
                    if evidence {
                        ops.extend(w.prefix.iter().map(|s| s.op.index));
                        ops.extend(w.concurrent.iter().map(|o| o.index));
                    }
                }
            }
        }
        ops.sort_unstable();
        ops.dedup();
        ops
    }
}

/// A JSON value as a person reads it: strings without quotes, everything else as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn results() -> Value {
        json!({
            "valid": false, "interrupted": false, "seed": 3,
            "counts": {"invoked": 10, "ok": 8},
            "checkers": [{
                "checker": "linearizability", "valid": false,
                "anomalies": [{
                    "kind": "nonlinearizable", "ops": [7, 3], "explanation": "stale",
                    "witness": {"type": "linearization",
                        "op": {"index": 7, "complete_index": 9, "process": 1, "f": "read",
                               "value": 1, "outcome": "ok", "invoke_time": 5, "complete_time": 6},
                        "state": "2", "prefix_len": 1, "prefix_omitted": 0,
                        "prefix": [{"op": {"index": 3, "process": 0, "f": "write", "value": 2,
                                   "outcome": "ok", "invoke_time": 1, "complete_time": 2,
                                   "complete_index": 4}, "state": "2"}],
                        "concurrent": [{"index": 11, "process": 2, "f": "write", "value": 5,
                                        "outcome": "info", "invoke_time": 4}]}
                }],
                "stats": {"ops": 10}
            }, {"checker": "set", "valid": "unknown", "cause": "timeout", "anomalies": []}]
        })
    }

    #[test]
    fn facts_read_checkers_config_and_verdict() {
        let test = json!({"name": "raftkv-x", "reproduce": "faultline test --seed 3",
                          "config": {"seed": 3, "nemesis": "partition-leader"}});
        let f = RunFacts::from_run_json("run", Some(&test), &results()).unwrap();
        assert_eq!(f.name, "raftkv-x");
        assert_eq!(f.checkers.len(), 2);
        assert_eq!(f.checkers[1].valid, Validity::Unknown);
        assert_eq!(f.verdict(), Validity::Invalid);
        assert!(f
            .config
            .contains(&("nemesis".into(), "partition-leader".into())));
        assert_eq!(f.anomaly_ops(), vec![3, 7]);
        assert_eq!(f.evidence_ops(), vec![3, 7, 11]);
        let w = f.checkers[0].anomalies[0].linearization().unwrap();
        assert_eq!(w.prefix[0].state, "2");
    }

    #[test]
    fn a_broken_checkers_entry_is_a_shape_error_naming_the_run() {
        let err = RunFacts::from_run_json("runs/x", None, &json!({"checkers": [{"valid": 1}]}))
            .unwrap_err();
        assert!(err.to_string().contains("runs/x"), "{err}");
    }
}
