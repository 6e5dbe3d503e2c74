//! Runs that fail before they start, through the real binary: an unreachable node keeps its
//! cause (connection refused, timed out), the run still leaves a run directory whose
//! `results.json` says why and that `faultline report` renders, `--test-count` says it stops
//! early and why, and JUnit shows the one run that was tried. Every node here is a closed or
//! silent port on 127.0.0.1; nothing is started.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{code, faultline, latest, read_results, read_test_record, run_test, text};
use faultline::checker::Validity;
use faultline::rundir::{HISTORY_FILE, REPORT_FILE};

/// A port on 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    common::free_ports(1)[0]
}

/// The example raftkv spec under another `name`, written into `dir`.
fn spec_named(dir: &Path, name: &str) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/http/raftkv.toml");
    let text = std::fs::read_to_string(&example).expect("example spec");
    assert!(
        text.contains("name = \"raftkv\"\n"),
        "the example names itself"
    );
    let path = dir.join("service.toml");
    std::fs::write(
        &path,
        text.replace("name = \"raftkv\"\n", &format!("name = {name:?}\n")),
    )
    .expect("write spec");
    path
}

/// Asserts `run` holds a stored not-started run whose error contains `cause`, and that
/// `faultline report` renders it.
fn assert_stored_not_started(run: &Path, cause: &str) {
    let results = read_results(run);
    assert_eq!(results.valid, Validity::Unknown);
    assert!(results.checkers.is_empty());
    assert_eq!(results.counts, None);
    let error = results.run_error.unwrap_or_default();
    assert!(error.starts_with("could not start: "), "{error}");
    assert!(error.contains(cause), "{cause:?} missing from {error}");
    assert!(
        run.join(REPORT_FILE).is_file(),
        "the runner writes report.html"
    );
    std::fs::remove_file(run.join(REPORT_FILE)).expect("remove report");
    let out = faultline()
        .arg("report")
        .arg(run)
        .output()
        .expect("faultline report runs");
    assert_eq!(code(&out), 0, "{}", text(&out));
    let page = std::fs::read_to_string(run.join(REPORT_FILE)).expect("report.html");
    assert!(page.contains("could not start"), "the report says why");
}

#[test]
fn an_unreachable_http_node_leaves_a_named_run_saying_connection_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let spec = spec_named(dir.path(), "My Service/v2");
    let node = format!("http://127.0.0.1:{}", closed_port());
    let junit = dir.path().join("junit.xml");
    let started = Instant::now();
    let out = run_test(
        &[
            "--target",
            "http",
            "--client",
            &spec.to_string_lossy(),
            "--cluster",
            "external",
            "--node",
            &node,
            "--nemesis",
            "none",
            "--seed",
            "1234",
            "--test-count",
            "3",
            "--junit",
            &junit.to_string_lossy(),
        ],
        &results,
    );
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "did not fail fast"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("external node n1 at")
            && stderr.contains("is unreachable")
            && stderr.contains("Connection refused"),
        "the cause is kept: {stderr}"
    );
    assert!(
        stderr.contains("stopping after test 1 of 3: the run failed to start: ")
            && !stderr.contains("test 2 of 3"),
        "{stderr}"
    );

    // The run directory is named after the spec's name, made safe.
    let run = latest(&results);
    let test_dir = run.parent().and_then(Path::file_name).unwrap_or_default();
    assert_eq!(
        test_dir.to_string_lossy(),
        "My-Service-v2-external-cas-register-none"
    );
    assert!(
        stderr.contains(&format!("(see {}", results.join(test_dir).display())),
        "{stderr}"
    );
    let test = read_test_record(&run);
    assert_eq!(test.config.seed, Some(1234));
    assert_eq!(test.workload, "cas-register");
    assert_stored_not_started(&run, "Connection refused");

    // JUnit: the one run tried, as an error naming the cause.
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert_eq!(xml.matches("<testsuite ").count(), 1, "{xml}");
    assert!(
        xml.contains("My-Service-v2-external-cas-register-none")
            && xml.contains("errors=\"1\"")
            && xml.contains("Connection refused"),
        "{xml}"
    );
}

#[test]
fn an_external_raftkv_node_says_refused_or_timed_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    // Accepted by the kernel's backlog, never answered: each probe times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_node = format!(
        "http://127.0.0.1:{}",
        silent.local_addr().expect("addr").port()
    );
    let closed_node = format!("http://127.0.0.1:{}", closed_port());
    for (node, cause) in [
        (closed_node.as_str(), "Connection refused"),
        (silent_node.as_str(), "timed out"),
    ] {
        let out = run_test(
            &["--cluster", "external", "--node", node, "--nemesis", "none"],
            &results,
        );
        assert_eq!(code(&out), 3, "{}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("is unreachable") && stderr.contains(cause),
            "{cause:?} missing: {stderr}"
        );
        assert!(
            !stderr.contains("stopping after"),
            "one test: no early stop: {stderr}"
        );
        let run = latest(&results);
        assert!(run
            .to_string_lossy()
            .contains("raftkv-external-cas-register-none"));
        assert_stored_not_started(&run, cause);
    }
    drop(silent);
}

#[test]
fn a_workload_that_cannot_be_read_still_leaves_a_run_saying_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let bad = dir.path().join("broken-workload.toml");
    std::fs::write(&bad, "name = \"x\"\n[mix]\nread = -1\n").expect("write");
    let out = run_test(&["--workload", &bad.to_string_lossy()], &results);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let run = latest(&results);
    assert!(
        run.to_string_lossy()
            .contains("raftkv-broken-workload-mixed"),
        "{}",
        run.display()
    );
    assert!(!run.join(HISTORY_FILE).exists(), "nothing ran");
    assert_stored_not_started(&run, "broken-workload.toml");

    // A contradiction in the flags themselves leaves nothing (docs/running-tests.md).
    let flags_only = dir.path().join("flags");
    let out = run_test(&["--node", "http://127.0.0.1:1"], &flags_only);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(!flags_only.exists(), "no run directory for a flag error");
}
