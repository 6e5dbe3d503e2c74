//! What a report shows, read back from the run's records: each checker's verdict with its
//! anomalies, the test's configuration and the reproducing command. The report reads the
//! `results.json` shape of a checker's result ([`CheckerView`], not the checker's Rust types),
//! so a stored run, a fresh run and `faultline check` all go through the same path, and
//! anomalies from any checker (linearizability, set, bank, transactions, ...) render the same
//! way. Pure: no I/O.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ReportError;
use crate::checker::{CheckResult, Validity};
use crate::rundir::{self, ConfigRecord, ResultsRecord, TestRecord};

/// One checker's verdict, as stored in `results.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckerView {
    /// Which checker, e.g. `linearizability`.
    pub checker: String,
    /// The verdict (`true`, `false` or `"unknown"` in JSON).
    #[serde(deserialize_with = "rundir::validity::deserialize")]
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
        match serde_json::from_value(w.clone()).ok()? {
            WitnessView::Linearization(l) => Some(*l),
            WitnessView::Other => None,
        }
    }
}

/// A witness as stored: tagged by its `type`; only the linearization is read here.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum WitnessView {
    Linearization(Box<LinearizationView>),
    #[serde(other)]
    Other,
}

impl CheckerView {
    /// The view of a checker's result as the runner stores it (serialized and read back, so
    /// rendering has one input shape).
    pub fn from_result(result: &CheckResult) -> Result<CheckerView, ReportError> {
        serde_json::to_value(result)
            .and_then(serde_json::from_value::<CheckerView>)
            .map_err(|e| ReportError::Shape {
                what: format!("the {} result", result.checker),
                reason: e.to_string(),
            })
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
    /// The core: ops that cannot be linearized together (absent in older results).
    #[serde(default)]
    pub core: Vec<OpView>,
    /// True when no op of the core can be dropped.
    #[serde(default)]
    pub core_minimal: bool,
    /// The shape the core was recognised as.
    #[serde(default)]
    pub pattern: String,
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
    /// Nodes that did not come back after a fault (availability, not safety).
    pub availability: Vec<crate::rundir::AvailabilityEvent>,
    /// Optional fault families the schedule dropped for the cluster, with why.
    pub skipped: Vec<crate::rundir::SkippedFamily>,
}

impl RunFacts {
    /// The facts of a stored run from its records: `test.json` (optional: older or foreign
    /// runs may lack it) and `results.json` (missing when the run was killed before checking:
    /// no checker, the verdict unknown).
    pub fn from_records(
        test: Option<&TestRecord>,
        results: Option<&ResultsRecord<CheckerView>>,
    ) -> RunFacts {
        let mut config = Vec::new();
        let mut name = String::from("faultline run");
        let mut started_at = None;
        let mut reproduce = None;
        let results_seed = results.and_then(|r| r.seed);
        if let Some(test) = test {
            if !test.name.is_empty() {
                name.clone_from(&test.name);
            }
            started_at.clone_from(&test.started_at);
            reproduce.clone_from(&test.reproduce);
            let mut flags = test.config.clone();
            if flags.seed.is_none() {
                flags.seed = results_seed;
            }
            config = config_rows(&flags);
            if !test.workload.is_empty() {
                config.push(("workload (resolved)".into(), test.workload.clone()));
            }
            if let Some(i) = test.nemesis_interval_secs {
                config.push(("nemesis interval (s)".into(), i.to_string()));
            }
        } else if let Some(seed) = results_seed {
            config.push(("seed".into(), seed.to_string()));
        }
        if let Some(c) = results.and_then(|r| r.counts) {
            for (k, v) in [
                ("invoked", c.invoked),
                ("ok", c.ok),
                ("fail", c.fail),
                ("info", c.info),
                ("nemesis", c.nemesis),
            ] {
                config.push((format!("ops {k}"), v.to_string()));
            }
        }
        if let Some(net) = results.and_then(|r| r.network.as_ref()) {
            config.extend(net.rows());
        }
        RunFacts {
            name,
            started_at,
            reproduce,
            config,
            checkers: results.map(|r| r.checkers.clone()).unwrap_or_default(),
            run_error: results.and_then(|r| r.run_error.clone()),
            interrupted: results.is_some_and(|r| r.interrupted),
            availability: results.map(|r| r.availability.clone()).unwrap_or_default(),
            skipped: match (test, results) {
                (Some(t), _) if !t.nemesis_skipped.is_empty() => t.nemesis_skipped.clone(),
                (_, Some(r)) => r.nemesis_skipped.clone(),
                _ => Vec::new(),
            },
        }
    }

    /// The facts of a run just checked, from the records the runner writes.
    pub fn from_written(
        test: &TestRecord,
        results: &ResultsRecord<CheckResult>,
    ) -> Result<RunFacts, ReportError> {
        let results = results.try_map_checkers(CheckerView::from_result)?;
        Ok(RunFacts::from_records(Some(test), Some(&results)))
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
                CheckerView::from_result(r).map_err(|e| match e {
                    ReportError::Shape { what, reason } => ReportError::Shape {
                        what: format!("{file}: {what}"),
                        reason,
                    },
                    other => other,
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
            availability: Vec::new(),
            skipped: Vec::new(),
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

/// The configuration table's rows: every flag, by its `test.json` name, in the record's order
/// (an unset option shows empty).
fn config_rows(c: &ConfigRecord) -> Vec<(String, String)> {
    fn opt<T: ToString>(v: Option<T>) -> String {
        v.map(|v| v.to_string()).unwrap_or_default()
    }
    fn path(p: &Option<std::path::PathBuf>) -> String {
        opt(p.as_ref().map(|p| p.display()))
    }
    [
        ("target", c.target.clone()),
        ("cluster", c.cluster.clone()),
        ("nodes", c.nodes.to_string()),
        ("node_urls", c.node_urls.join(" ")),
        (
            "etcd_serializable_reads",
            c.etcd_serializable_reads.to_string(),
        ),
        ("etcd_bin", path(&c.etcd_bin)),
        ("client", path(&c.client)),
        ("workload", c.workload.clone()),
        ("nemesis", c.nemesis.clone()),
        ("nemesis_interval", opt(c.nemesis_interval)),
        ("concurrency", c.concurrency.to_string()),
        ("rate", opt(c.rate)),
        ("time_limit", c.time_limit.to_string()),
        ("seed", opt(c.seed)),
        ("raftkv_bugs", c.raftkv_bugs.join(" ")),
        ("results", c.results.display().to_string()),
        ("raftkv_bin", path(&c.raftkv_bin)),
        ("base_port", opt(c.base_port)),
        ("check_timeout", c.check_timeout.to_string()),
        (
            "consistency_model",
            c.consistency_model.clone().unwrap_or_default(),
        ),
        ("target_flags", c.target_flags.join(" ")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The facts of hand-written `test.json`/`results.json` values, read as the files would be
/// (for tests of the rendering).
#[cfg(test)]
pub(crate) fn facts_from_json(test: Option<&Value>, results: &Value) -> RunFacts {
    let path = std::path::Path::new("run");
    let test = test.map(|t| TestRecord::parse(&t.to_string(), path).expect("a test record"));
    let results =
        ResultsRecord::<CheckerView>::parse(&results.to_string(), path).expect("a results record");
    RunFacts::from_records(test.as_ref(), Some(&results))
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
        let f = facts_from_json(Some(&test), &results());
        assert_eq!(f.name, "raftkv-x");
        assert_eq!(f.checkers.len(), 2);
        assert_eq!(f.checkers[1].valid, Validity::Unknown);
        assert_eq!(f.verdict(), Validity::Invalid);
        assert!(f
            .config
            .contains(&("nemesis".into(), "partition-leader".into())));
        assert!(f.config.contains(&("seed".into(), "3".into())));
        assert!(f.config.contains(&("ops invoked".into(), "10".into())));
        assert_eq!(f.anomaly_ops(), vec![3, 7]);
        assert_eq!(f.evidence_ops(), vec![3, 7, 11]);
        let w = f.checkers[0].anomalies[0].linearization().unwrap();
        assert_eq!(w.prefix[0].state, "2");
    }

    #[test]
    fn the_seed_comes_from_results_when_test_json_lacks_it() {
        let results = json!({"seed": "18446744073709551557", "checkers": []});
        let f = facts_from_json(Some(&json!({"name": "x"})), &results);
        assert!(
            f.config
                .contains(&("seed".into(), "18446744073709551557".into())),
            "{:?}",
            f.config
        );
        let f = facts_from_json(None, &results);
        assert_eq!(
            f.config,
            vec![("seed".to_string(), "18446744073709551557".to_string())]
        );
        assert_eq!(f.name, "faultline run");
    }

    #[test]
    fn a_run_without_results_has_no_checker_and_an_unknown_verdict() {
        let f = RunFacts::from_records(None, None);
        assert!(f.checkers.is_empty());
        assert_eq!(f.verdict(), Validity::Unknown);
    }

    #[test]
    fn a_written_result_reads_back_as_the_view() {
        let result = CheckResult {
            checker: "set".into(),
            valid: Validity::Invalid,
            cause: None,
            anomalies: vec![crate::checker::Anomaly {
                kind: "lost".into(),
                key: None,
                ops: vec![4],
                explanation: "lost 3".into(),
                witness: None,
            }],
            stats: Default::default(),
            details: None,
        };
        let test = TestRecord::new("t".into(), ConfigRecord::default());
        let results = ResultsRecord {
            interrupted: true,
            ..ResultsRecord::new(Validity::Invalid, 9, vec![result])
        };
        let f = RunFacts::from_written(&test, &results).unwrap();
        assert_eq!(f.checkers[0].anomalies[0].kind, "lost");
        assert_eq!(f.checkers[0].anomalies[0].ops, vec![4]);
        assert_eq!(f.verdict(), Validity::Invalid);
        assert!(f.interrupted);
        assert!(f.config.contains(&("seed".into(), "9".into())));
    }

    #[test]
    fn a_broken_checkers_entry_is_an_error_naming_the_file() {
        let err = ResultsRecord::<CheckerView>::parse(
            r#"{"checkers": [{"valid": 1}]}"#,
            std::path::Path::new("runs/x/results.json"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("runs/x/results.json"), "{err}");
    }
}
