//! End-to-end tests of the report commands through the built binary, without a cluster:
//! `check --report/--junit` on a known-invalid corpus history, `faultline report` on a stored
//! run full of hostile values, the JUnit shape parsed back, `faultline serve` refusing
//! paths outside the results directory over raw HTTP, and run directories written before the
//! typed run records (tests/fixtures/v0-runs) still rendering and listing.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use faultline::checker::Validity;
use faultline::cli::serve::list_runs;
use faultline::rundir::{ResultsRecord, REPORT_FILE, RESULTS_FILE};
use serde_json::{json, Value};

mod common;
use common::{code, faultline, text};

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(rel)
}

/// A parsed XML element: enough of a DOM to check JUnit's shape.
#[derive(Debug, Default)]
struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn kids<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses an XML document with quick-xml into a [`Node`] tree (panics on malformed XML).
fn parse_xml(xml: &str) -> Node {
    use quick_xml::events::{BytesStart, Event};
    let mut reader = quick_xml::Reader::from_str(xml);
    let node_of = |e: &BytesStart| Node {
        name: String::from_utf8(e.name().as_ref().to_vec()).expect("utf-8 name"),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                (
                    String::from_utf8(a.key.as_ref().to_vec()).expect("utf-8 key"),
                    a.unescape_value().expect("escaped value").into_owned(),
                )
            })
            .collect(),
        ..Node::default()
    };
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => stack.push(node_of(&e)),
            Event::Empty(e) => {
                let n = node_of(&e);
                stack.last_mut().expect("a parent").children.push(n);
            }
            Event::End(_) => {
                let n = stack.pop().expect("an open element");
                stack.last_mut().expect("a parent").children.push(n);
            }
            Event::Text(t) => {
                let s = t.unescape().expect("escaped text");
                stack.last_mut().expect("a parent").text.push_str(&s);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut doc = stack.pop().expect("the document");
    assert_eq!(doc.children.len(), 1, "one root element");
    doc.children.pop().expect("the root")
}

/// Asserts the Ant JUnit shape: `<testsuites>` of `<testsuite>`s whose counts match their
/// `<testcase>`s; returns the suites.
fn check_junit_shape(xml: &str) -> Node {
    assert!(xml.starts_with("<?xml"), "{xml}");
    let root = parse_xml(xml);
    assert_eq!(root.name, "testsuites");
    let mut total = 0;
    for (i, suite) in root.kids("testsuite").enumerate() {
        for a in ["name", "tests", "failures", "errors", "time", "timestamp"] {
            assert!(suite.attr(a).is_some(), "suite {i} lacks {a}");
        }
        let cases: Vec<&Node> = suite.kids("testcase").collect();
        let n = |a: &str| suite.attr(a).unwrap().parse::<usize>().unwrap();
        assert_eq!(n("tests"), cases.len(), "suite {i}");
        let failures = cases
            .iter()
            .filter(|c| c.kids("failure").count() > 0)
            .count();
        let errors = cases.iter().filter(|c| c.kids("error").count() > 0).count();
        assert_eq!(n("failures"), failures, "suite {i}");
        assert_eq!(n("errors"), errors, "suite {i}");
        for c in &cases {
            assert!(c.attr("name").is_some() && c.attr("classname").is_some());
            assert!(c.attr("time").unwrap().parse::<f64>().is_ok());
            for f in c.kids("failure").chain(c.kids("error")) {
                assert!(f.attr("message").is_some() && f.attr("type").is_some());
            }
        }
        assert_eq!(suite.kids("properties").count(), 1);
        total += cases.len();
    }
    assert_eq!(root.attr("tests").unwrap().parse::<usize>().unwrap(), total);
    root
}

/// The JSON data block of a report, decoded.
fn page_data(page: &str) -> Value {
    let marker = r#"id="faultline-data">"#;
    let start = page.find(marker).expect("data block") + marker.len();
    let len = page[start..].find("</script>").expect("data block end");
    serde_json::from_str(&page[start..start + len]).expect("data block is JSON")
}

#[test]
fn check_writes_a_report_and_junit_for_an_invalid_history() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.html");
    let junit = dir.path().join("j.xml");
    let out = faultline()
        .arg("check")
        .arg(corpus("knossos/cas-register/bad/rethink-fail.edn"))
        .arg("--report")
        .arg(&report)
        .arg("--junit")
        .arg(&junit)
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", text(&out));
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(page.contains("nonlinearizable"));
    assert!(
        page.contains(r#"class="linview""#),
        "the witness view is shown"
    );
    let data = page_data(&page);
    let kept = data["timeline"]["ops"]["idx"].as_array().unwrap();
    for op in data["anomaly_ops"].as_array().unwrap() {
        assert!(kept.contains(op), "anomaly op {op} is on the timeline");
    }
    let root = check_junit_shape(&std::fs::read_to_string(&junit).unwrap());
    let suite = root.kids("testsuite").next().unwrap();
    let case = suite.kids("testcase").next().unwrap();
    assert_eq!(case.attr("name"), Some("linearizability"));
    let failure = case.kids("failure").next().expect("a failure");
    assert_eq!(failure.attr("type"), Some("nonlinearizable"));
    assert!(
        failure
            .attr("message")
            .unwrap()
            .contains("Stale read: op 215 (process 12 read 3"),
        "{:?}",
        failure.attr("message")
    );
}

#[test]
fn check_report_takes_exactly_one_history() {
    let dir = tempfile::tempdir().unwrap();
    let f = corpus("knossos/cas-register/bad/rethink-fail-minimal.edn");
    let out = faultline()
        .arg("check")
        .arg(&f)
        .arg(&f)
        .arg("--report")
        .arg(dir.path().join("r.html"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--report"));
}

#[test]
fn report_on_something_that_is_not_a_run_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    for target in [dir.path().to_path_buf(), dir.path().join("missing")] {
        let out = faultline().arg("report").arg(&target).output().unwrap();
        assert_eq!(code(&out), 3, "{}", text(&out));
    }
}

const HOSTILE: &str = "<script>alert(\"x\")</script>";

/// A stored run whose history and config carry hostile values, checked by the real checker.
fn hostile_run(root: &Path) -> PathBuf {
    let run = root.join("hostile").join("20260101T000000.000Z");
    std::fs::create_dir_all(&run).unwrap();
    let events = [
        json!({"index": 0, "time": 0, "process": "nemesis", "type": "info", "f": "start-partition", "value": {"mode": HOSTILE}}),
        json!({"index": 1, "time": 1_000_000, "process": 0, "type": "invoke", "f": "write", "value": "a"}),
        json!({"index": 2, "time": 2_000_000, "process": 0, "type": "ok", "f": "write", "value": "a"}),
        json!({"index": 3, "time": 3_000_000, "process": 1, "type": "invoke", "f": "read", "value": null}),
        json!({"index": 4, "time": 4_000_000, "process": 1, "type": "ok", "f": "read", "value": HOSTILE, "node": "n1\"></x>"}),
        json!({"index": 5, "time": 5_000_000, "process": "nemesis", "type": "info", "f": "stop-partition", "value": null}),
    ];
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    std::fs::write(run.join("history.jsonl"), lines.join("\n") + "\n").unwrap();
    let out = faultline()
        .arg("check")
        .arg(run.join("history.jsonl"))
        .args(["--model", "register", "--json"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", text(&out));
    let check: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = json!({"valid": false, "interrupted": false, "seed": 1,
                         "checkers": [check["files"][0]["result"].clone()]});
    std::fs::write(run.join("results.json"), results.to_string()).unwrap();
    let test = json!({"name": format!("hostile {HOSTILE}"), "reproduce": format!("faultline test --workload '{HOSTILE}'"),
                      "config": {"workload": HOSTILE, "seed": 1}});
    std::fs::write(run.join("test.json"), test.to_string()).unwrap();
    run
}

#[test]
fn report_rebuilds_a_stored_run_with_hostile_values_shown_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let run = hostile_run(&dir.path().join("results"));
    let junit = dir.path().join("j.xml");
    let out = report_with_junit(&run, &junit);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert_eq!(
        page.matches("<script").count(),
        2,
        "only the report's own scripts"
    );
    assert_eq!(page.matches("</script>").count(), 2);
    assert!(page.contains("hostile &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
    assert!(!page.contains("n1\"></x>"));
    assert!(page.contains(r#"class="fault""#), "the partition is shaded");
    let data = page_data(&page);
    assert_eq!(
        data["timeline"]["ops"]["r"][1], HOSTILE,
        "{}",
        data["timeline"]["ops"]
    );
    assert_eq!(data["timeline"]["faults"][0]["kind"], "partition");
    let root = check_junit_shape(&std::fs::read_to_string(&junit).unwrap());
    let suite = root.kids("testsuite").next().unwrap();
    assert_eq!(
        suite.attr("name"),
        Some(format!("hostile {HOSTILE}").as_str())
    );
}

/// Kills the server on every path.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn raw_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn serve_lists_runs_and_refuses_paths_outside_the_results_directory() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let run = hostile_run(&results);
    let out = faultline().arg("report").arg(&run).output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
    let mut server = Server(
        faultline()
            .arg("serve")
            .arg(&results)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = server.0.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    let index = raw_get(&addr, "/");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.contains("v-invalid"), "{index}");
    assert!(!index.contains("<script>"), "{index}");
    let report = raw_get(&addr, "/hostile/20260101T000000.000Z/report.html");
    assert!(report.starts_with("HTTP/1.1 200"), "{report}");
    assert!(report.contains("faultline-data"));
    for bad in [
        "/../secret.txt",
        "/hostile/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/hostile/%2E%2E/%2e%2e/secret.txt",
        "/%2e%2e%2fsecret.txt",
    ] {
        let resp = raw_get(&addr, bad);
        assert!(
            resp.starts_with("HTTP/1.1 403") || resp.starts_with("HTTP/1.1 400"),
            "{bad}: {resp}"
        );
        assert!(!resp.contains("top secret"), "{bad} leaked the file");
    }
    drop(server);
}

/// The run directories written before the typed run records (format version 0), committed in
/// tests/fixtures/v0-runs: (name, verdict word, seed).
const V0_RUNS: &[(&str, &str, &str)] = &[
    ("raftkv-cas-register-mixed", "VALID", "18446744073709551557"),
    (
        "raftkv-register-partition-leader-bug-stale-read",
        "INVALID",
        "7",
    ),
];

/// Copies the version-0 run `name` to `<results>/<name>/<stamp>/` (the layout of a results
/// store) and returns the copy.
fn copy_v0_run(results: &Path, name: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v0-runs")
        .join(name);
    let to = results.join(name).join("20261205T042340.159Z");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    assert!(
        !to.join(REPORT_FILE).exists(),
        "the fixtures hold no report"
    );
    to
}

#[test]
fn runs_written_before_format_versions_still_render_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    for (name, word, seed) in V0_RUNS {
        let run = copy_v0_run(&results, name);
        // Read as the files are: version 0, the seed a JSON number.
        let record = ResultsRecord::<Value>::read(&run).unwrap().unwrap();
        assert_eq!(record.format, 0, "{name}");
        assert_eq!(record.seed.map(|s| s.to_string()).as_deref(), Some(*seed));
        let junit = dir.path().join(format!("{name}.xml"));
        let out = report_with_junit(&run, &junit);
        assert_eq!(code(&out), 0, "{name}: {}", text(&out));
        let said = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(
            said.starts_with(&format!("{name}: {}", word.to_lowercase())),
            "{name}: {said}"
        );
        let page = std::fs::read_to_string(run.join(REPORT_FILE)).unwrap();
        assert!(
            page.contains(&format!(r#"<div class="verdict">{word}</div>"#)),
            "{name}: the banner says {word}"
        );
        assert!(
            page.contains(&format!(
                "<tr><th>seed</th><td><code>{seed}</code></td></tr>"
            )),
            "{name}: the exact seed is in the configuration table"
        );
        assert!(page.contains(&format!("--seed {seed}")), "{name}");
        let root = check_junit_shape(&std::fs::read_to_string(&junit).unwrap());
        let suite = root.kids("testsuite").next().unwrap();
        assert_eq!(suite.attr("name"), Some(*name));
        let props = suite.kids("properties").next().unwrap();
        let seed_prop = props
            .kids("property")
            .find(|p| p.attr("name") == Some("seed"))
            .and_then(|p| p.attr("value"));
        assert_eq!(seed_prop, Some(*seed), "{name}");
    }
    let root = std::fs::canonicalize(&results).unwrap();
    let mut listed: Vec<(String, Option<Validity>, bool)> = list_runs(&root)
        .into_iter()
        .map(|r| (r.test, r.verdict, r.has_report))
        .collect();
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        listed,
        vec![
            (V0_RUNS[0].0.to_string(), Some(Validity::Valid), true),
            (V0_RUNS[1].0.to_string(), Some(Validity::Invalid), true),
        ]
    );
}

#[test]
fn a_run_in_a_newer_format_is_refused_naming_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let run = copy_v0_run(dir.path(), V0_RUNS[0].0);
    let mut results: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join(RESULTS_FILE)).unwrap()).unwrap();
    results["format"] = json!(99);
    std::fs::write(run.join(RESULTS_FILE), results.to_string()).unwrap();
    let out = faultline().arg("report").arg(&run).output().unwrap();
    assert_eq!(code(&out), 3, "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(RESULTS_FILE) && err.contains("format version 99"),
        "{err}"
    );
    assert!(!run.join(REPORT_FILE).exists());
}

/// `faultline report RUN --junit JUNIT`.
fn report_with_junit(run: &std::path::Path, junit: &std::path::Path) -> std::process::Output {
    faultline()
        .arg("report")
        .arg(run)
        .arg("--junit")
        .arg(junit)
        .output()
        .unwrap()
}
