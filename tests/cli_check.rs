//! End-to-end tests of `faultline check` through the built binary: the reference corpus gives
//! the verdicts its EXPECTED.md files state, bad input exits 3 naming file and line, and the
//! outputs (summary, `--json`, `--out`) carry the verdict.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
}

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(rel)
}

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .output()
        .expect("the faultline binary runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("faultline exited normally")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `check --json` on `files` with `extra` flags and returns (file name -> verdict).
fn verdicts(files: &[PathBuf], extra: &[&str]) -> Vec<(String, Value)> {
    let mut cmd = bin();
    cmd.arg("check").arg("--json").args(extra).args(files);
    let out = cmd.output().expect("the faultline binary runs");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "--json output is JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let files = report["files"].as_array().expect("files array");
    files
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap_or("").to_string(),
                f["valid"].clone(),
            )
        })
        .collect()
}

/// The rows of a markdown table in an EXPECTED.md whose first cell names a file: (file, cells).
fn expected_rows(expected_md: &Path) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(expected_md).expect("EXPECTED.md is readable");
    text.lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            let first = cells.first()?.clone();
            (first.ends_with(".log") || first.ends_with(".txt")).then_some((first, cells))
        })
        .collect()
}

#[test]
fn porcupine_etcd_logs_give_their_expected_verdicts() {
    let rows = expected_rows(&corpus("porcupine/EXPECTED.md"));
    let mut files = Vec::new();
    let mut want = Vec::new();
    for (file, cells) in rows.iter().filter(|(f, _)| f.starts_with("jepsen/")) {
        let expected = &cells[4];
        let verdict = if expected.contains("not linearizable") {
            Value::Bool(false)
        } else if expected.contains("linearizable") || expected.contains("empty") {
            Value::Bool(true)
        } else {
            panic!("unexpected verdict cell {expected:?} for {file}");
        };
        files.push(corpus(&format!("porcupine/{file}")));
        want.push(verdict);
    }
    assert_eq!(files.len(), 103, "every etcd log is listed in EXPECTED.md");
    let got = verdicts(&files, &[]);
    assert_eq!(got.len(), files.len());
    for (i, ((file, verdict), want)) in got.iter().zip(&want).enumerate() {
        assert_eq!(verdict, want, "case {i}: {file}");
    }
}

#[test]
fn porcupine_kv_logs_give_their_expected_verdicts_by_key_and_as_one_map() {
    let rows = expected_rows(&corpus("porcupine/EXPECTED.md"));
    let kv: Vec<_> = rows.iter().filter(|(f, _)| f.starts_with("kv/")).collect();
    assert_eq!(kv.len(), 6);
    let files: Vec<PathBuf> = kv
        .iter()
        .map(|(f, _)| corpus(&format!("porcupine/{f}")))
        .collect();
    let want: Vec<Value> = kv
        .iter()
        .map(|(_, cells)| Value::Bool(!cells[4].contains("not linearizable")))
        .collect();
    for (i, ((file, verdict), want)) in verdicts(&files, &[]).iter().zip(&want).enumerate() {
        assert_eq!(verdict, want, "by key, case {i}: {file}");
    }
    // c01 and c10 as one map-valued state (Porcupine's NoPartition tests).
    let small: Vec<usize> = (0..kv.len())
        .filter(|&i| kv[i].0.contains("c01") || kv[i].0.contains("c10"))
        .collect();
    let small_files: Vec<PathBuf> = small.iter().map(|&i| files[i].clone()).collect();
    let got = verdicts(&small_files, &["--no-partition"]);
    for (j, (file, verdict)) in got.iter().enumerate() {
        assert_eq!(verdict, &want[small[j]], "one map, case {j}: {file}");
    }
}

fn edn_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "edn"))
        .collect();
    files.sort();
    files
}

#[test]
fn knossos_cas_register_histories_match_their_folder_labels() {
    for (folder, want) in [("good", Value::Bool(true)), ("bad", Value::Bool(false))] {
        let files = edn_files(&corpus(&format!("knossos/cas-register/{folder}")));
        assert!(!files.is_empty());
        let got = verdicts(
            &files,
            &[
                "--model",
                "cas-register",
                "--initial",
                "0",
                "--nil-reads-match-any",
            ],
        );
        assert_eq!(got.len(), files.len());
        for (i, (file, verdict)) in got.iter().enumerate() {
            assert_eq!(verdict, &want, "case {i}: {file}");
        }
    }
}

#[test]
fn knossos_multi_register_and_mutex_histories_match_their_labels() {
    let got = verdicts(
        &[corpus("knossos/multi-register/good/multi-register.edn")],
        &[
            "--model",
            "multi-register",
            "--initial",
            r#"{"x":0,"y":0}"#,
            "--nil-reads-match-any",
        ],
    );
    assert_eq!(got[0].1, Value::Bool(true), "{}", got[0].0);
    let got = verdicts(
        &[corpus("knossos/mutex/bad/etcd.edn")],
        &["--model", "mutex"],
    );
    assert_eq!(got[0].1, Value::Bool(false), "{}", got[0].0);
}

#[test]
fn bundled_examples_are_valid_and_invalid_with_exit_codes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = run(&[
        "check",
        &root.join("examples/cas-register.jsonl").to_string_lossy(),
    ]);
    assert_eq!(code(&ok), 0, "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).contains("VALID"), "{}", stdout(&ok));

    let bad = run(&[
        "check",
        &root
            .join("examples/cas-register-stale-read.jsonl")
            .to_string_lossy(),
    ]);
    assert_eq!(code(&bad), 1, "{}{}", stdout(&bad), stderr(&bad));
    let text = stdout(&bad);
    assert!(text.contains("INVALID"), "{text}");
    assert!(text.contains("process 3 read 2"), "{text}");
    assert!(text.contains("longest linearizable prefix"), "{text}");
}

#[test]
fn several_files_exit_with_the_worst_code_and_print_one_line_each() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = root.join("examples/cas-register.jsonl");
    let bad = root.join("examples/cas-register-stale-read.jsonl");
    let dir = tempfile::tempdir().expect("temp dir");
    let broken = dir.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"index\":0,\n").expect("write");

    let out = bin()
        .arg("check")
        .arg(&ok)
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.contains(".jsonl: ")).count(),
        2,
        "{text}"
    );

    let out = bin()
        .arg("check")
        .arg(&ok)
        .arg(&broken)
        .arg(&bad)
        .output()
        .expect("runs");
    assert_eq!(code(&out), 3, "a bad file outranks an invalid one");
    // The other files were still checked.
    assert!(stdout(&out).contains("INVALID"), "{}", stdout(&out));
}

#[test]
fn json_and_out_carry_the_verdict_and_the_explanation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bad = root.join("examples/cas-register-stale-read.jsonl");
    let dir = tempfile::tempdir().expect("temp dir");
    let out_file = dir.path().join("verdict.json");
    let out = bin()
        .arg("check")
        .arg(&bad)
        .arg("--json")
        .arg("--out")
        .arg(&out_file)
        .output()
        .expect("runs");
    assert_eq!(code(&out), 1);
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).expect("--out written"))
            .expect("--out is JSON");
    assert_eq!(printed, written);
    assert_eq!(printed["valid"], Value::Bool(false));
    assert_eq!(printed["exit_code"], 1);
    // Memory and time are results too: the whole command's peak memory and CPU, and each
    // file's phases.
    assert!(
        printed["peak_rss_bytes"].as_u64().is_some_and(|b| b > 0),
        "{printed}"
    );
    assert!(printed["cpu_secs"].as_f64().is_some(), "{printed}");
    let file = &printed["files"][0];
    // An invalid linearizability verdict is explained as a step of its own, timed apart.
    for phase in ["parse_secs", "check_secs", "explain_secs"] {
        assert!(
            file[phase].as_f64().is_some_and(|s| s >= 0.0),
            "{phase}: {file}"
        );
    }
    assert!(
        file["peak_rss_bytes"].as_u64().is_some_and(|b| b > 0),
        "{file}"
    );
    assert_eq!(file["model"], "cas-register");
    let anomaly = &file["result"]["anomalies"][0];
    assert_eq!(anomaly["kind"], "nonlinearizable");
    assert!(anomaly["ops"]
        .as_array()
        .is_some_and(|ops| ops.contains(&Value::from(16))));
    assert_eq!(anomaly["witness"]["op"]["index"], 16);
}

#[test]
fn a_zero_timeout_on_a_hard_history_is_unknown_never_valid() {
    let out = run(&[
        "check",
        "--timeout",
        "0",
        &corpus("porcupine/jepsen/etcd_002.log").to_string_lossy(),
    ]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("UNKNOWN"), "{}", stdout(&out));
}

#[test]
fn a_memory_ceiling_below_the_process_is_unknown_never_valid_and_says_so() {
    // One MiB is less than the process needs to run at all: the search gives up (exit 2),
    // the text says why, and --json carries the cause and the ceiling.
    let history = corpus("porcupine/jepsen/etcd_002.log")
        .to_string_lossy()
        .to_string();
    let out = run(&["check", "--memory-limit", "1", &history]);
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("memory passed its ceiling"),
        "{}",
        stdout(&out)
    );
    let out = run(&["check", "--memory-limit", "1", "--json", &history]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(printed["memory_limit_bytes"], 1 << 20);
    assert_eq!(printed["files"][0]["result"]["cause"], "memory limit");
    // The default ceiling is most of the machine: the same history is decided.
    let out = run(&["check", "--json", &history]);
    let printed: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert!(
        printed["memory_limit_bytes"]
            .as_u64()
            .is_some_and(|b| b > 1 << 30),
        "{printed}"
    );
    assert_ne!(printed["valid"], "unknown", "{printed}");
}

/// Writes `text` to a temp file named `name` and runs `check` on it with `extra` flags.
fn check_text(name: &str, text: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write history");
    bin()
        .arg("check")
        .args(extra)
        .arg(&path)
        .output()
        .expect("runs")
}

#[test]
fn bad_inputs_exit_3_naming_file_and_line() {
    let invoke = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1}"#;
    let cases: &[(&str, String, &str)] = &[
        (
            "unparsable JSON",
            format!("{invoke}\n{{\"index\":1,"),
            "h.jsonl:2",
        ),
        (
            "unknown type",
            format!(
                "{invoke}\n{}",
                r#"{"index":1,"time":1,"process":0,"type":"okay","f":"write","value":1}"#
            ),
            "h.jsonl:2",
        ),
        (
            "completion with no invoke",
            r#"{"index":0,"time":1,"process":0,"type":"ok","f":"write","value":1}"#.to_string(),
            "h.jsonl:1",
        ),
        (
            "second invoke while one is outstanding",
            format!(
                "{invoke}\n{}",
                r#"{"index":1,"time":1,"process":0,"type":"invoke","f":"read","value":null}"#
            ),
            "h.jsonl:2",
        ),
        (
            "completion whose f differs",
            format!(
                "{invoke}\n{}",
                r#"{"index":1,"time":1,"process":0,"type":"ok","f":"read","value":1}"#
            ),
            "h.jsonl:2",
        ),
    ];
    for (i, (what, text, location)) in cases.iter().enumerate() {
        let out = check_text("h.jsonl", text, &[]);
        assert_eq!(code(&out), 3, "case {i} ({what}): {}", stderr(&out));
        assert!(
            stderr(&out).contains(location),
            "case {i} ({what}): stderr should name {location}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn bad_flags_and_missing_files_exit_3() {
    let missing = run(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(code(&missing), 3);
    assert!(stderr(&missing).contains("/nonexistent/history.jsonl"));

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ok = root.join("examples/cas-register.jsonl");
    let ok = ok.to_string_lossy();
    let bad_initial = run(&["check", "--initial", "{nope", &ok]);
    assert_eq!(code(&bad_initial), 3);
    assert!(stderr(&bad_initial).contains("--initial"));

    let unknown_model = run(&["check", "--model", "paxos", &ok]);
    assert_eq!(code(&unknown_model), 3);
    assert!(stderr(&unknown_model).contains("paxos"));

    // An op the model has no function for is bad input too.
    let out = check_text(
        "q.jsonl",
        r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"enqueue","value":1}
{"index":1,"time":1,"process":0,"type":"ok","f":"enqueue","value":1}"#,
        &["--model", "register"],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("enqueue"), "{}", stderr(&out));
}

#[test]
fn edn_parse_errors_exit_3_with_the_line() {
    let out = check_text(
        "h.edn",
        "{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value [1 2}\n",
        &[],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("h.edn:2"), "{}", stderr(&out));
}

#[test]
fn a_long_prefix_prints_a_screenful_the_core_and_the_sentence_first() {
    // 300 sequential writes and reads, then a read of a value overwritten long ago.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("long.jsonl");
    let mut lines = Vec::new();
    let mut index = 0u64;
    let mut event = |lines: &mut Vec<String>, ty: &str, f: &str, value: Value| {
        lines.push(format!(
            r#"{{"index":{index},"time":{},"process":0,"type":"{ty}","f":"{f}","value":{value}}}"#,
            (index + 1) * 1_000_000
        ));
        index += 1;
    };
    for v in 0..150 {
        event(&mut lines, "invoke", "write", Value::from(v));
        event(&mut lines, "ok", "write", Value::from(v));
        event(&mut lines, "invoke", "read", Value::Null);
        event(&mut lines, "ok", "read", Value::from(v));
    }
    event(&mut lines, "invoke", "read", Value::Null);
    event(&mut lines, "ok", "read", Value::from(7));
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    let out = run(&["check", &file.to_string_lossy()]);
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Stale read: op 600 (process 0 read 7"),
        "{text}"
    );
    assert!(text.contains("core (3 ops, none can be dropped)"), "{text}");
    assert!(
        text.contains("ops left out (all of them in --json"),
        "{text}"
    );
    assert!(text.lines().count() < 40, "a screenful: {text}");
    let core_at = text.find("core (").expect("core");
    let prefix_at = text.find("longest linearizable prefix").expect("prefix");
    assert!(core_at < prefix_at, "the core before the prefix: {text}");
    // --json keeps every stored step.
    let out = run(&["check", "--json", &file.to_string_lossy()]);
    let j: Value = serde_json::from_str(&stdout(&out)).expect("json");
    let w = &j["files"][0]["result"]["anomalies"][0]["witness"];
    assert_eq!(w["prefix"].as_array().map(|p| p.len()), Some(200), "{w}");
    assert_eq!(w["core"].as_array().map(|c| c.len()), Some(3), "{w}");
}

/// `check --json` of `file` with `env` set: the file's report without its timings.
fn file_report(file: &Path, extra: &[&str], env: &[(&str, &str)]) -> Value {
    let mut cmd = bin();
    cmd.arg("check").arg("--json").args(extra).arg(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the faultline binary runs");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json is JSON ({e}); stderr: {}", stderr(&out)));
    let mut f = report["files"][0].clone();
    for k in ["parse_secs", "check_secs", "explain_secs", "peak_rss_bytes"] {
        f.as_object_mut().expect("a file report").remove(k);
    }
    let stats = &mut f["result"]["stats"];
    for k in ["elapsed_secs", "explain_secs", "cache_bytes"] {
        if let Some(s) = stats.as_object_mut() {
            s.remove(k);
        }
    }
    f
}

/// Keys checked while the file is read (issue 20) give the report of checking after reading:
/// the corpus's keyed and single-register histories, written as JSONL, with a quiet window
/// of one event so that every key finished before the end is searched while reading.
#[test]
fn checking_while_reading_reports_what_checking_after_reading_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sources: Vec<PathBuf> = [
        "porcupine/kv",
        "knossos/cas-register/bad",
        "knossos/cas-register/good",
    ]
    .iter()
    .flat_map(|d| std::fs::read_dir(corpus(d)).expect("corpus dir"))
    .map(|e| e.expect("corpus entry").path())
    .filter(|p| p.extension().is_some_and(|e| e != "md"))
    .collect();
    sources.sort();
    assert!(sources.len() >= 6, "{sources:?}");
    for (i, source) in sources.iter().enumerate() {
        let (h, _, _) = faultline::history::read_history(source, None).expect("corpus reads");
        let lines: Vec<String> = h
            .events()
            .map(|e| serde_json::to_string(&e).expect("event as JSON"))
            .collect();
        let file = dir.path().join(format!("h{i}.jsonl"));
        std::fs::write(&file, lines.join("\n") + "\n").expect("write");
        for model in [&[][..], &["--model", "kv"][..]] {
            let after = file_report(&file, model, &[("FAULTLINE_STREAM_CHECK", "0")]);
            let mut during = file_report(
                &file,
                model,
                &[
                    ("FAULTLINE_STREAM_WINDOW", "1"),
                    ("FAULTLINE_STREAM_WAIT", "1"),
                ],
            );
            let decided = during
                .as_object_mut()
                .and_then(|f| f.remove("keys_decided_while_reading"));
            assert!(decided.is_some(), "{}: {during}", source.display());
            assert_eq!(during, after, "{} {model:?}", source.display());
        }
    }
    // The corpus files are one chunk each: nothing is quiet before they are read. A file of
    // a few chunks whose keys are used in turn, with an invalid key in the middle, is.
    let mut lines = Vec::new();
    let mut value = 0;
    for key in 0..3_000 {
        for i in 0..20 {
            let p = (key * 2 + i % 2) % 64;
            value += 1;
            let read = if key == 1_500 && i == 9 {
                999_999
            } else {
                value
            };
            for (kind, f, v) in [
                ("invoke", "write", value),
                ("ok", "write", value),
                ("invoke", "read", 0),
                ("ok", "read", read),
            ] {
                let v = if v == 0 {
                    "null".to_string()
                } else {
                    v.to_string()
                };
                lines.push(format!(
                    r#"{{"process":{p},"type":"{kind}","f":"{f}","key":{key},"value":{v}}}"#
                ));
            }
        }
    }
    let file = dir.path().join("keys-in-turn.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    let after = file_report(&file, &[], &[("FAULTLINE_STREAM_CHECK", "0")]);
    let mut during = file_report(
        &file,
        &[],
        &[
            ("FAULTLINE_STREAM_WINDOW", "1"),
            ("FAULTLINE_STREAM_WAIT", "1"),
        ],
    );
    assert_eq!(after["valid"], Value::Bool(false), "{after}");
    let n = during
        .as_object_mut()
        .and_then(|f| f.remove("keys_decided_while_reading"))
        .and_then(|n| n.as_u64());
    assert!(
        n.is_some_and(|n| n > 1_000),
        "keys decided while reading: {n:?}"
    );
    assert_eq!(during, after);
}
