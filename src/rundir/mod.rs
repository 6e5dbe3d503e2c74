//! A run directory, typed: `results/<test>/<timestamp>/` and the files in it.
//!
//! This module is the one place that knows the run directory's layout and the shapes of its
//! JSON files; the runner writes through it and `faultline report`, `faultline serve`, JUnit
//! and the tests read through it. It depends on nothing but the checker's [`Validity`]
//! (so the verdict keeps Jepsen's `true`/`false`/`"unknown"` encoding).
//!
//! - The file names: [`TEST_FILE`], [`RESULTS_FILE`], [`HISTORY_FILE`], [`LOG_FILE`],
//!   [`REPORT_FILE`], [`JOURNAL_FILE`], [`CLIENT_SPEC_FILE`], [`CLUSTER_STATE_FILE`],
//!   [`NODES_DIR`] and the results root's [`LATEST_LINK`].
//! - [`RunDir`] creates a run directory and writes into it; [`RunLog`] is its `faultline.log`.
//! - [`TestRecord`] is `test.json` (what ran, with [`ConfigRecord`], the flat flags), and
//!   [`ResultsRecord`] is `results.json` (the verdict, the run's facts, one entry per checker;
//!   generic over the checker entry, so the runner writes `CheckResult`s and the report reads
//!   its own view of them).
//!
//! Both files carry a `format` version, [`FORMAT_VERSION`] when written by this build. A file
//! without one was written before versioning (version 0) and reads with defaults for whatever
//! it lacks; a version newer than this build knows is refused with [`RecordError::TooNew`],
//! naming the file and the version. Seeds are written as JSON strings of decimal digits, so
//! tools that read JSON numbers as doubles (`jq`, JavaScript) keep seeds above 2^53 exact;
//! a number (version 0) still reads.
//!
//! [`Validity`]: crate::checker::Validity

mod dir;
mod record;

pub use dir::{RunDir, RunLog};
pub use record::{
    seed, validity, AvailabilityEvent, ConfigRecord, LatencyStats, LinkCounts, NemesisErrorRecord,
    NetworkRecord, NodeExit, OpCounts, ResultsRecord, SkippedFamily, TestRecord,
};

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// `test.json`: what ran ([`TestRecord`]), written before the cluster starts.
pub const TEST_FILE: &str = "test.json";
/// `results.json`: the verdicts and the run's facts ([`ResultsRecord`]), written after checking.
pub const RESULTS_FILE: &str = "results.json";
/// `history.jsonl`: every invocation and completion, streamed during the run.
pub const HISTORY_FILE: &str = "history.jsonl";
/// `faultline.log`: what the runner did and when ([`RunLog`]).
pub const LOG_FILE: &str = "faultline.log";
/// `report.html`: the report a person reads.
pub const REPORT_FILE: &str = "report.html";
/// `faults.journal`: each fault, journaled before it is applied and when it is healed.
pub const JOURNAL_FILE: &str = "faults.journal";
/// `client.toml`: the copy of `--target http`'s client spec the run used.
pub const CLIENT_SPEC_FILE: &str = "client.toml";
/// `db.toml`: the copy of the `--db` spec a local `--target http` cluster was run from.
pub const DB_SPEC_FILE: &str = "db.toml";
/// `cluster.json`: the processes a local cluster started (a test's run directory is its
/// cluster's directory, as is the directory of `faultline cluster up`).
pub const CLUSTER_STATE_FILE: &str = "cluster.json";
/// `nodes/`: one directory per local node (`nodes/nI/`), holding its data and log.
pub const NODES_DIR: &str = "nodes";
/// `messages.jsonl`: every message of `--target maelstrom`'s network, one JSON object a line
/// (`t` seconds since start, `event` send/recv/drop, `src`, `dest`, `body`, and a drop's
/// `cause`).
pub const MESSAGES_FILE: &str = "messages.jsonl";
/// `latest`: the results root's symlink to the newest run.
pub const LATEST_LINK: &str = "latest";

/// The version of `test.json` and `results.json` this build writes, and the newest it reads.
/// Version 0 is a file without a `format` field (written before versioning).
pub const FORMAT_VERSION: u32 = 1;

/// Why a run record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file exists but could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not JSON, or not the record's shape.
    #[error("{}: not a readable run record: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        source: serde_json::Error,
    },
    /// The file was written by a newer faultline, in a format this build does not know.
    #[error(
        "{}: format version {found} is newer than this faultline reads (version {FORMAT_VERSION} at most); read it with a newer faultline",
        path.display()
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// The version the file says it has.
        found: u64,
    },
}

/// Just the version of a record, read before the rest so a newer format is refused by name
/// rather than failing on some field it changed.
#[derive(Deserialize)]
struct Version {
    #[serde(default)]
    format: u64,
}

/// Parses a record's text: refuses a version newer than [`FORMAT_VERSION`], then reads the
/// whole record. `path` names the file in errors.
fn parse_record<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, RecordError> {
    let json_error = |source| RecordError::Json {
        path: path.to_path_buf(),
        source,
    };
    let version: Version = serde_json::from_str(text).map_err(json_error)?;
    if version.format > u64::from(FORMAT_VERSION) {
        return Err(RecordError::TooNew {
            path: path.to_path_buf(),
            found: version.format,
        });
    }
    serde_json::from_str(text).map_err(json_error)
}

/// Reads the record in `dir/name`; `None` when the file does not exist.
fn read_record<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<Option<T>, RecordError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_record(&text, &path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RecordError::Io { path, source }),
    }
}

impl TestRecord {
    /// Reads `dir/test.json`; `None` when the run has none (foreign runs, or hand-made ones).
    pub fn read(dir: &Path) -> Result<Option<TestRecord>, RecordError> {
        read_record(dir, TEST_FILE)
    }

    /// Parses the text of a `test.json`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<TestRecord, RecordError> {
        parse_record(text, path)
    }
}

impl<C: DeserializeOwned> ResultsRecord<C> {
    /// Reads `dir/results.json`; `None` when the run has none (killed before checking, or
    /// still running).
    pub fn read(dir: &Path) -> Result<Option<ResultsRecord<C>>, RecordError> {
        read_record(dir, RESULTS_FILE)
    }

    /// Parses the text of a `results.json`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<ResultsRecord<C>, RecordError> {
        parse_record(text, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Validity;
    use serde_json::{json, Value};

    #[test]
    fn network_rows_name_every_count_and_skip_the_zero_faults() {
        let mut net = NetworkRecord {
            msgs_per_op: 2.5,
            dropped_loss: 3,
            ..NetworkRecord::default()
        };
        net.clients.sent = 10;
        net.clients.received = 9;
        net.nodes_exited.push(NodeExit {
            node: "n2".into(),
            status: "exit status: 1".into(),
            at_secs: 3.5,
        });
        net.client_latency_ms = Some(LatencyStats {
            count: 4,
            mean: 12.5,
            p50: 11.0,
            p99: 20.0,
            max: 20.0,
        });
        let rows: Vec<String> = net.rows().iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            rows,
            [
                "messages: clients sent/received=10/9",
                "messages: servers sent/received=0/0",
                "messages per op=2.50",
                "messages: lost=3",
                "client latency (request to reply)=mean 12.50, p50 11.00, p99 20.00, max 20.00 ms (4)",
                "node n2 exited on its own=exit status: 1 at 3.5 s",
            ]
        );
    }

    /// Above 2^53: a double cannot hold it (the nearest is 18446744073709551616).
    const BIG_SEED: u64 = 18_446_744_073_709_551_557;

    fn test_record() -> TestRecord {
        TestRecord {
            workload: "cas-register".into(),
            workload_source: "builtin:cas-register".into(),
            nemesis_source: "mixed".into(),
            nemesis_interval_secs: Some(4.0),
            command: vec!["faultline".into(), "test".into()],
            reproduce: Some(format!("faultline test --seed {BIG_SEED}")),
            started_at: Some("2026-12-05T04:23:40.159744511+00:00".into()),
            ..TestRecord::new(
                "raftkv-cas-register-mixed".into(),
                ConfigRecord {
                    target: "raftkv".into(),
                    cluster: "local".into(),
                    nodes: 5,
                    workload: "cas-register".into(),
                    nemesis: "mixed".into(),
                    concurrency: 4,
                    rate: Some(100.0),
                    time_limit: 4.0,
                    seed: Some(BIG_SEED),
                    raftkv_bugs: vec!["stale-read".into()],
                    results: "results".into(),
                    check_timeout: 120.0,
                    ..ConfigRecord::default()
                },
            )
        }
    }

    fn results_record() -> ResultsRecord<Value> {
        ResultsRecord {
            interrupted: true,
            counts: Some(OpCounts {
                invoked: 10,
                ok: 7,
                fail: 2,
                info: 1,
                nemesis: 4,
            }),
            abandoned_ops: 1,
            run_error: Some("the cluster died".into()),
            nemesis_errors: vec![NemesisErrorRecord {
                index: 12,
                f: "start-partition".into(),
                error: "iptables: exit 1".into(),
            }],
            ..ResultsRecord::new(
                Validity::Unknown,
                BIG_SEED,
                vec![json!({"checker": "linearizability", "valid": "unknown"})],
            )
        }
    }

    fn path() -> &'static Path {
        Path::new("runs/x/results.json")
    }

    #[test]
    fn records_round_trip_through_json() {
        let test = test_record();
        let text = serde_json::to_string_pretty(&test).unwrap();
        assert_eq!(TestRecord::parse(&text, path()).unwrap(), test);
        let results = results_record();
        let text = serde_json::to_string_pretty(&results).unwrap();
        assert_eq!(
            ResultsRecord::<Value>::parse(&text, path()).unwrap(),
            results
        );
    }

    #[test]
    fn records_carry_the_format_version_and_jepsen_verdicts() {
        let v = serde_json::to_value(test_record()).unwrap();
        assert_eq!(v["format"], json!(FORMAT_VERSION));
        for (valid, want) in [
            (Validity::Valid, json!(true)),
            (Validity::Invalid, json!(false)),
            (Validity::Unknown, json!("unknown")),
        ] {
            let r = ResultsRecord::<Value>::new(valid, 1, Vec::new());
            let v = serde_json::to_value(&r).unwrap();
            assert_eq!(v["format"], json!(FORMAT_VERSION));
            assert_eq!(v["valid"], want);
            let back = ResultsRecord::<Value>::parse(&v.to_string(), path()).unwrap();
            assert_eq!(back.valid, valid);
        }
    }

    #[test]
    fn seeds_are_written_as_strings_and_read_back_exact() {
        let v = serde_json::to_value(results_record()).unwrap();
        assert_eq!(v["seed"], json!("18446744073709551557"));
        let t = serde_json::to_value(test_record()).unwrap();
        assert_eq!(t["config"]["seed"], json!("18446744073709551557"));
        let text = serde_json::to_string(&results_record()).unwrap();
        assert!(text.contains(r#""seed":"18446744073709551557""#), "{text}");
        let back = ResultsRecord::<Value>::parse(&text, path()).unwrap();
        assert_eq!(back.seed, Some(BIG_SEED));
        let text = serde_json::to_string(&test_record()).unwrap();
        assert_eq!(
            TestRecord::parse(&text, path()).unwrap().config.seed,
            Some(BIG_SEED)
        );
    }

    #[test]
    fn bad_seeds_are_refused() {
        for bad in [
            r#""-1""#,
            r#""12x""#,
            r#""""#,
            "-1",
            "1.5",
            r#""18446744073709551616""#,
        ] {
            let text = format!(r#"{{"seed": {bad}}}"#);
            let err = ResultsRecord::<Value>::parse(&text, path()).unwrap_err();
            assert!(err.to_string().contains("seed"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_version_0_file_reads_with_defaults() {
        let results = format!(
            r#"{{"valid": false, "interrupted": false, "seed": {BIG_SEED},
                "counts": {{"invoked": 3, "ok": 3, "fail": 0, "info": 0, "nemesis": 0}},
                "abandoned_ops": 0,
                "nemesis_errors": [{{"index": 4, "f": "kill", "error": {{"code": 1}}}}],
                "checkers": []}}"#
        );
        let r = ResultsRecord::<Value>::parse(&results, path()).unwrap();
        assert_eq!(r.format, 0);
        assert_eq!(r.seed, Some(BIG_SEED), "a numeric seed reads exact");
        assert_eq!(r.valid, Validity::Invalid);
        assert_eq!(r.counts.map(|c| c.invoked), Some(3));
        assert_eq!(r.nemesis_errors[0].error, r#"{"code":1}"#);
        let test = r#"{"name": "t", "config": {"seed": 7, "nodes": 3, "nemesis_interval": null}}"#;
        let t = TestRecord::parse(test, path()).unwrap();
        assert_eq!(t.format, 0);
        assert_eq!(t.config.seed, Some(7));
        assert_eq!(t.config.nodes, 3);
        assert_eq!(t.reproduce, None);
        let bare = ResultsRecord::<Value>::parse("{}", path()).unwrap();
        assert_eq!(bare.valid, Validity::Unknown);
        assert_eq!(bare.seed, None);
        assert!(bare.checkers.is_empty());
    }

    #[test]
    fn a_newer_version_is_refused_naming_the_file_and_the_version() {
        // A future format may change any field: the version is checked first.
        let text = r#"{"format": 99, "valid": {"new": "shape"}, "seed": [1]}"#;
        let err = ResultsRecord::<Value>::parse(text, path()).unwrap_err();
        assert!(
            matches!(err, RecordError::TooNew { found: 99, .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("runs/x/results.json") && msg.contains("version 99"),
            "{msg}"
        );
        let err = TestRecord::parse(r#"{"format": 99}"#, path()).unwrap_err();
        assert!(err.to_string().contains("version 99"), "{err}");
        let current = format!(r#"{{"format": {FORMAT_VERSION}}}"#);
        assert!(TestRecord::parse(&current, path()).is_ok());
    }

    #[test]
    fn the_committed_version_0_runs_read() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v0-runs");
        let valid = fixtures.join("raftkv-cas-register-mixed");
        let r = ResultsRecord::<Value>::read(&valid).unwrap().unwrap();
        assert_eq!(
            (r.format, r.valid, r.seed),
            (0, Validity::Valid, Some(BIG_SEED))
        );
        let t = TestRecord::read(&valid).unwrap().unwrap();
        assert_eq!(t.config.seed, Some(BIG_SEED));
        assert_eq!(t.name, "raftkv-cas-register-mixed");
        let invalid = fixtures.join("raftkv-register-partition-leader-bug-stale-read");
        let r = ResultsRecord::<Value>::read(&invalid).unwrap().unwrap();
        assert_eq!((r.valid, r.seed), (Validity::Invalid, Some(7)));
        let t = TestRecord::read(&invalid).unwrap().unwrap();
        assert_eq!(t.config.raftkv_bugs, vec!["stale-read".to_string()]);
    }

    #[test]
    fn records_written_to_a_run_directory_read_back() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "t").unwrap();
        assert_eq!(TestRecord::read(&run.path).unwrap(), None);
        assert_eq!(ResultsRecord::<Value>::read(&run.path).unwrap(), None);
        run.write_test(&test_record()).unwrap();
        run.write_results(&results_record()).unwrap();
        assert_eq!(TestRecord::read(&run.path).unwrap(), Some(test_record()));
        assert_eq!(
            ResultsRecord::<Value>::read(&run.path).unwrap(),
            Some(results_record())
        );
        std::fs::write(run.file(RESULTS_FILE), "{not json").unwrap();
        let err = ResultsRecord::<Value>::read(&run.path).unwrap_err();
        assert!(err.to_string().contains(RESULTS_FILE), "{err}");
    }
}
