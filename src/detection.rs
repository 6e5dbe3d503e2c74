//! The pure half of the detection bench (`cargo bench --bench detection`, issue 18): how one
//! `faultline test` run's exit code and stored results become "caught" or "missed", when its
//! first anomalous op happened, and the table the bench prints. The bench itself
//! (benches/detection.rs) only spawns the runs and reads their files.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::checker::Validity;
use crate::history::History;
use crate::report::data::CheckerView;
use crate::rundir::ResultsRecord;

/// What one run ended as, from `faultline test`'s exit code (0 valid, 1 anomaly found,
/// 2 unknown, 3 the run failed) or from the bench giving up on it.
#[derive(Debug, Clone, PartialEq)]
pub enum RunVerdict {
    /// Exit 0: no anomaly (for a planted bug, a miss).
    Valid,
    /// Exit 1: an anomaly (for a planted bug, caught).
    Invalid,
    /// Exit 2: a checker could not decide; never counted as caught.
    Unknown,
    /// Exit 3, another exit code, a signal, a timeout or a spawn failure: why.
    Error(String),
}

impl RunVerdict {
    /// The verdict of a run that exited with `code` (`None`: killed by a signal).
    pub fn from_exit_code(code: Option<i32>) -> RunVerdict {
        match code {
            Some(0) => RunVerdict::Valid,
            Some(1) => RunVerdict::Invalid,
            Some(2) => RunVerdict::Unknown,
            Some(3) => RunVerdict::Error("the run failed (exit 3)".into()),
            Some(c) => RunVerdict::Error(format!("unexpected exit code {c}")),
            None => RunVerdict::Error("killed by a signal".into()),
        }
    }
}

/// One run of the bench: its seed, verdict, and (when it found an anomaly and the files say
/// it) seconds from the test's start to the first anomalous op.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// The seed passed as `--seed`.
    pub seed: u64,
    /// How the run ended.
    pub verdict: RunVerdict,
    /// Seconds from the history's time 0 (the test's start) to the first anomalous op.
    pub first_anomaly_secs: Option<f64>,
}

/// One row of the table: a planted bug (`Some("stale-read")`) or correct raftkv (`None`),
/// with its K runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The `--raftkv-bug` name, or `None` for correct raftkv.
    pub bug: Option<String>,
    /// The runs, in the order they ran.
    pub runs: Vec<RunResult>,
}

/// Nanoseconds from the test's start to its first anomalous op: over every anomaly of every
/// checker whose verdict is invalid, the invoke time of the op it cites first (checkers cite
/// the most relevant op first: for linearizability, the op that could not be linearized).
/// `None` when no anomaly cites an op found in the history (e.g. a checker that cites none).
pub fn first_anomaly_ns(results: &ResultsRecord<CheckerView>, history: &History) -> Option<u64> {
    let invoke_times: HashMap<u64, u64> = history
        .ops
        .iter()
        .map(|op| (op.invoke_index, op.invoke_time))
        .collect();
    results
        .checkers
        .iter()
        .filter(|c| c.valid == Validity::Invalid)
        .flat_map(|c| c.anomalies.iter())
        .filter_map(|a| a.ops.first())
        .filter_map(|index| invoke_times.get(index).copied())
        .min()
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
/// NaNs are ignored.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn seeds_where(runs: &[RunResult], pred: impl Fn(&RunVerdict) -> bool) -> Vec<String> {
    runs.iter()
        .filter(|r| pred(&r.verdict))
        .map(|r| r.seed.to_string())
        .collect()
}

fn list(label: &str, seeds: &[String]) -> Option<String> {
    (!seeds.is_empty()).then(|| format!("{label}: {}", seeds.join(" ")))
}

/// The table the bench prints: per bug, caught/K, unknown and error counts (never counted as
/// caught), the median time to the first anomalous op over the caught runs, and the seeds
/// missed (and the unknown and error ones); for correct raftkv, valid/K and every seed that
/// was not valid. `time_limit_secs` is only shown in the heading.
pub fn render_table(rows: &[Row], time_limit_secs: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "detection: default workload and nemesis, --time-limit {time_limit_secs}, fresh seeds"
    );
    let header = format!(
        "{:<16} | {:>9} | {:>7} | {:>5} | {:>16} | seeds not caught",
        "raftkv bug", "caught/K", "unknown", "error", "median 1st anom."
    );
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "{}", "-".repeat(header.len()));
    for row in rows {
        let k = row.runs.len();
        let unknown = row
            .runs
            .iter()
            .filter(|r| r.verdict == RunVerdict::Unknown)
            .count();
        let errors = row
            .runs
            .iter()
            .filter(|r| matches!(r.verdict, RunVerdict::Error(_)))
            .count();
        let error_seeds: Vec<String> = row
            .runs
            .iter()
            .filter_map(|r| match &r.verdict {
                RunVerdict::Error(why) => Some(format!("{} ({why})", r.seed)),
                _ => None,
            })
            .collect();
        let unknown_seeds = seeds_where(&row.runs, |v| *v == RunVerdict::Unknown);
        // Each row: its label, its count, its median, and the seeds worth naming.
        let (label, count, med, named) = match &row.bug {
            Some(bug) => {
                let caught: Vec<&RunResult> = row
                    .runs
                    .iter()
                    .filter(|r| r.verdict == RunVerdict::Invalid)
                    .collect();
                let times: Vec<f64> = caught.iter().filter_map(|r| r.first_anomaly_secs).collect();
                let med = match median(&times) {
                    Some(m) => format!("{m:.1} s"),
                    None => "n/a".to_string(),
                };
                let missed = seeds_where(&row.runs, |v| *v == RunVerdict::Valid);
                (
                    bug.clone(),
                    format!("{}/{k}", caught.len()),
                    med,
                    list("missed", &missed),
                )
            }
            None => {
                let valid = row
                    .runs
                    .iter()
                    .filter(|r| r.verdict == RunVerdict::Valid)
                    .count();
                let invalid = seeds_where(&row.runs, |v| *v == RunVerdict::Invalid);
                (
                    "none (correct)".to_string(),
                    format!("valid {valid}/{k}"),
                    "-".to_string(),
                    list("INVALID", &invalid),
                )
            }
        };
        let notes: Vec<String> = [
            named,
            list("unknown", &unknown_seeds),
            list("error", &error_seeds),
        ]
        .into_iter()
        .flatten()
        .collect();
        let _ = writeln!(
            out,
            "{:<16} | {:>9} | {:>7} | {:>5} | {:>16} | {}",
            label,
            count,
            unknown,
            errors,
            med,
            if notes.is_empty() {
                "-".to_string()
            } else {
                notes.join("; ")
            }
        );
    }
    out
}

/// The bench's settings from its environment: `FAULTLINE_DETECTION_K` (runs per row, default
/// 10), `FAULTLINE_DETECTION_TIME_LIMIT` (seconds per run, default 60) and
/// `FAULTLINE_DETECTION_BUGS` (comma-separated bug names, default every bug; `none` runs only
/// correct raftkv) and `FAULTLINE_DETECTION_GRACE` (seconds a run may take beyond its time
/// limit before it is stopped and counted as an error, default 180), and
/// `FAULTLINE_DETECTION_NEMESIS` (a `--nemesis` NAME or FILE instead of the default, to
/// compare a schedule with the default on the same machine). `get` looks a variable up;
/// errors name the variable and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchSettings {
    /// Runs per row.
    pub k: usize,
    /// `--time-limit` of each run, in seconds.
    pub time_limit_secs: u64,
    /// The bugs to measure, as `--raftkv-bug` spells them.
    pub bugs: Vec<String>,
    /// Seconds a run may take beyond `time_limit_secs` (cluster start, heal, recovery, final
    /// reads, checking) before the bench stops it.
    pub grace_secs: u64,
    /// `--nemesis` for every run; `None` runs the default.
    pub nemesis: Option<String>,
}

impl BenchSettings {
    /// Reads the settings; `all_bugs` is the default bug list (raftkv's, in its order), and
    /// each named bug must be one of them.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
        all_bugs: &[String],
    ) -> Result<BenchSettings, String> {
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => Err(format!("{name}={v:?}: expected a positive whole number")),
                },
            }
        };
        let k = number("FAULTLINE_DETECTION_K", 10)? as usize;
        let time_limit_secs = number("FAULTLINE_DETECTION_TIME_LIMIT", 60)?;
        let grace_secs = number("FAULTLINE_DETECTION_GRACE", 180)?;
        let bugs = match get("FAULTLINE_DETECTION_BUGS") {
            None => all_bugs.to_vec(),
            Some(v) if v.trim() == "none" => Vec::new(),
            Some(v) => {
                let mut bugs = Vec::new();
                for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let canonical = name.replace('_', "-");
                    if !all_bugs.contains(&canonical) {
                        return Err(format!(
                            "FAULTLINE_DETECTION_BUGS={v:?}: unknown raftkv bug {name:?}; \
                             expected some of {} (or none)",
                            all_bugs.join(", ")
                        ));
                    }
                    bugs.push(canonical);
                }
                bugs
            }
        };
        let nemesis = get("FAULTLINE_DETECTION_NEMESIS")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        Ok(BenchSettings {
            k,
            time_limit_secs,
            bugs,
            grace_secs,
            nemesis,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(seed: u64, verdict: RunVerdict, secs: Option<f64>) -> RunResult {
        RunResult {
            seed,
            verdict,
            first_anomaly_secs: secs,
        }
    }

    #[test]
    fn exit_codes_map_to_verdicts_and_only_1_is_caught() {
        assert_eq!(RunVerdict::from_exit_code(Some(0)), RunVerdict::Valid);
        assert_eq!(RunVerdict::from_exit_code(Some(1)), RunVerdict::Invalid);
        assert_eq!(RunVerdict::from_exit_code(Some(2)), RunVerdict::Unknown);
        assert!(matches!(
            RunVerdict::from_exit_code(Some(3)),
            RunVerdict::Error(_)
        ));
        assert!(matches!(
            RunVerdict::from_exit_code(Some(101)),
            RunVerdict::Error(_)
        ));
        assert!(matches!(
            RunVerdict::from_exit_code(None),
            RunVerdict::Error(_)
        ));
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
    }

    const HISTORY: &str = r#"{"index":0,"time":1000000000,"process":0,"type":"invoke","f":"write","key":"x","value":1}
{"index":1,"time":1500000000,"process":0,"type":"ok","f":"write","key":"x","value":1}
{"index":2,"time":2000000000,"process":1,"type":"invoke","f":"read","key":"x","value":null}
{"index":3,"time":2500000000,"process":1,"type":"ok","f":"read","key":"x","value":null}
{"index":4,"time":4000000000,"process":2,"type":"invoke","f":"read","key":"y","value":null}
{"index":5,"time":4500000000,"process":2,"type":"ok","f":"read","key":"y","value":7}
"#;

    fn history() -> History {
        crate::history::read_jsonl_lines(HISTORY.as_bytes(), "test").unwrap()
    }

    fn results(json: &str) -> ResultsRecord<CheckerView> {
        ResultsRecord::parse(json, Path::new("results.json")).unwrap()
    }

    #[test]
    fn first_anomaly_is_the_earliest_first_cited_op_of_an_invalid_checker() {
        let r = results(
            r#"{"format":1,"valid":false,"seed":"1","checkers":[
              {"checker":"linearizability","valid":false,"anomalies":[
                {"kind":"nonlinearizable","key":"y","ops":[4],"explanation":""},
                {"kind":"nonlinearizable","key":"x","ops":[2,0],"explanation":""}]},
              {"checker":"other","valid":true,"anomalies":[
                {"kind":"note","ops":[0],"explanation":""}]}]}"#,
        );
        assert_eq!(first_anomaly_ns(&r, &history()), Some(2_000_000_000));
    }

    #[test]
    fn no_time_when_no_anomaly_cites_a_known_op() {
        let valid = results(r#"{"format":1,"valid":true,"seed":"1","checkers":[]}"#);
        assert_eq!(first_anomaly_ns(&valid, &history()), None);
        let uncited = results(
            r#"{"format":1,"valid":false,"seed":"1","checkers":[
              {"checker":"set","valid":false,"anomalies":[
                {"kind":"lost","ops":[],"explanation":""},
                {"kind":"lost","ops":[99],"explanation":""}]}]}"#,
        );
        assert_eq!(first_anomaly_ns(&uncited, &history()), None);
    }

    #[test]
    fn table_counts_unknown_and_errors_apart_from_caught() {
        let rows = vec![
            Row {
                bug: Some("stale-read".into()),
                runs: vec![
                    run(11, RunVerdict::Invalid, Some(4.0)),
                    run(12, RunVerdict::Valid, None),
                    run(13, RunVerdict::Unknown, None),
                    run(14, RunVerdict::Error("timed out".into()), None),
                    run(15, RunVerdict::Invalid, Some(2.0)),
                ],
            },
            Row {
                bug: Some("early-ack".into()),
                runs: vec![run(21, RunVerdict::Invalid, None)],
            },
            Row {
                bug: None,
                runs: vec![
                    run(31, RunVerdict::Valid, None),
                    run(32, RunVerdict::Invalid, Some(1.0)),
                ],
            },
        ];
        let table = render_table(&rows, 60.0);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].contains("--time-limit 60"), "{table}");
        let stale = lines.iter().find(|l| l.starts_with("stale-read")).unwrap();
        assert!(stale.contains(" 2/5 "), "{stale}");
        assert!(stale.contains("3.0 s"), "{stale}");
        assert!(stale.contains("missed: 12"), "{stale}");
        assert!(stale.contains("unknown: 13"), "{stale}");
        assert!(stale.contains("error: 14 (timed out)"), "{stale}");
        let cols: Vec<&str> = stale.split('|').map(str::trim).collect();
        assert_eq!(&cols[1..4], &["2/5", "1", "1"], "{stale}");
        let early = lines.iter().find(|l| l.starts_with("early-ack")).unwrap();
        assert!(early.contains("n/a"), "{early}");
        assert!(early.trim_end().ends_with("| -"), "{early}");
        let correct = lines.iter().find(|l| l.starts_with("none")).unwrap();
        assert!(correct.contains("valid 1/2"), "{correct}");
        assert!(correct.contains("INVALID: 32"), "{correct}");
    }

    #[test]
    fn settings_default_and_override() {
        let all: Vec<String> = ["stale-read", "early-ack"].map(String::from).to_vec();
        let none = |_: &str| None;
        assert_eq!(
            BenchSettings::from_env(none, &all).unwrap(),
            BenchSettings {
                k: 10,
                time_limit_secs: 60,
                bugs: all.clone(),
                grace_secs: 180,
                nemesis: None,
            }
        );
        let env = |name: &str| match name {
            "FAULTLINE_DETECTION_K" => Some("1".to_string()),
            "FAULTLINE_DETECTION_TIME_LIMIT" => Some("10".to_string()),
            "FAULTLINE_DETECTION_BUGS" => Some(" early_ack ".to_string()),
            "FAULTLINE_DETECTION_GRACE" => Some("5".to_string()),
            "FAULTLINE_DETECTION_NEMESIS" => Some(" old-mixed.toml ".to_string()),
            _ => None,
        };
        let s = BenchSettings::from_env(env, &all).unwrap();
        assert_eq!((s.k, s.time_limit_secs, s.grace_secs), (1, 10, 5));
        assert_eq!(s.nemesis.as_deref(), Some("old-mixed.toml"));
        assert_eq!(s.bugs, vec!["early-ack".to_string()]);
        let only_correct = |name: &str| (name == "FAULTLINE_DETECTION_BUGS").then(|| "none".into());
        assert!(BenchSettings::from_env(only_correct, &all)
            .unwrap()
            .bugs
            .is_empty());
    }

    #[test]
    fn settings_errors_name_the_variable() {
        let all: Vec<String> = vec!["stale-read".to_string()];
        let bad_k = |name: &str| (name == "FAULTLINE_DETECTION_K").then(|| "0".into());
        let e = BenchSettings::from_env(bad_k, &all).unwrap_err();
        assert!(e.contains("FAULTLINE_DETECTION_K"), "{e}");
        let bad_bug = |name: &str| (name == "FAULTLINE_DETECTION_BUGS").then(|| "nope".into());
        let e = BenchSettings::from_env(bad_bug, &all).unwrap_err();
        assert!(e.contains("nope") && e.contains("stale-read"), "{e}");
    }
}
