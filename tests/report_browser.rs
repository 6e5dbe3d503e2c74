//! The browser test: a real invalid run (raftkv with the stale-read bug under leader
//! partitions, as in test_e2e.rs), its report.html loaded in headless Chromium. The page must
//! render with no script error (its script records `data-report-status="rendered"` on
//! `<html>`, or "error" with the message, and the DOM is dumped to check), and a screenshot
//! of the timeline and the anomaly is kept in the run directory.
//!
//! Needs Debian's `chromium` (installed by `.ci/run`) and the raftkv binary next to faultline
//! (`cargo build --workspace`). Without chromium the test prints why and returns.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use faultline::checker::Validity;
use faultline::rundir::REPORT_FILE;

mod common;
use common::{
    assert_no_nodes_left, code, latest, read_results, run_test, text, SHORT_PARTITION_RUN,
};

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A chromium process, killed (with its whole process group) on every path.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        // The child leads its own process group (see `run_chromium`): end every helper too.
        let pid = self.0.id() as i32;
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs chromium headless with `args` and a fresh profile, at most `limit`; returns its output.
fn run_chromium(bin: &Path, profile: &Path, args: &[String], limit: Duration) -> Output {
    use std::os::unix::process::CommandExt;
    let out_dir = tempfile::tempdir().expect("temp dir");
    let stdout_path = out_dir.path().join("stdout");
    let stderr_path = out_dir.path().join("stderr");
    let child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .process_group(0)
        .spawn()
        .expect("chromium starts");
    let mut browser = Browser(child);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = browser.0.try_wait().expect("wait for chromium") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "chromium did not finish within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(browser);
    Output {
        status,
        stdout: std::fs::read(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read(&stderr_path).unwrap_or_default(),
    }
}

/// A real invalid run: stale reads under leader partitions, up to 3 seeds (test_e2e.rs).
fn invalid_run(results: &Path) -> PathBuf {
    let junit = results.join("junit.xml");
    let mut args = vec![
        "--raftkv-bug",
        "stale-read",
        "--nemesis",
        "partition-leader",
        "--workload",
        "cas-register",
        "--seed",
        "3",
        "--test-count",
        "3",
        "--junit",
        junit.to_str().expect("a UTF-8 temp path"),
    ];
    args.extend_from_slice(SHORT_PARTITION_RUN);
    let out = run_test(&args, results);
    assert_eq!(
        code(&out),
        1,
        "the stale-read bug was not caught:\n{}",
        text(&out)
    );
    latest(results)
}

#[test]
fn report_of_a_real_invalid_run_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        println!("SKIPPED: chromium is not installed (apt-get install chromium; .ci/run does)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let results = dir.path().join("results");
    let run = invalid_run(&results);
    assert_no_nodes_left(dir.path());

    let report = run.join(REPORT_FILE);
    let page = std::fs::read_to_string(&report).expect("the run wrote report.html");
    let results_record = read_results(&run);
    assert_eq!(results_record.valid, Validity::Invalid);
    let kind = &results_record.checkers[0].anomalies[0].kind;
    assert!(page.contains(kind.as_str()), "the anomaly is in the report");
    assert!(page.contains("tl-canvas"), "the timeline is in the report");
    let junit = std::fs::read_to_string(results.join("junit.xml")).expect("junit.xml");
    assert!(junit.contains("<failure "), "{junit}");

    let url = format!("file://{}", report.display());
    // 1. The DOM after the script ran: the render marker, and no error marker.
    let profile = tempfile::tempdir().expect("profile dir");
    let dom = run_chromium(
        &bin,
        profile.path(),
        &["--dump-dom".to_string(), url.clone()],
        Duration::from_secs(120),
    );
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let console = String::from_utf8_lossy(&dom.stderr);
    assert!(
        dom_text.contains(r#"data-report-status="rendered""#),
        "the report's script did not finish rendering:\n{}\n--- chromium stderr\n{console}",
        dom_text.lines().take(5).collect::<Vec<_>>().join("\n")
    );
    assert!(!dom_text.contains(r#"data-report-status="error""#));
    // The linearizability view shows the core, highlighted on its lanes, and no two labels of
    // its bars overlap (the page measures their boxes: `data-label-overlaps`).
    assert!(
        dom_text.contains(r#"class="core""#),
        "the core section is shown"
    );
    let attr = |name: &str| -> Option<u64> {
        let at = dom_text.find(&format!("{name}=\""))? + name.len() + 2;
        dom_text[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .ok()
    };
    assert!(
        attr("data-core-ops").is_some_and(|n| n > 0),
        "no core op drawn on the lanes"
    );
    assert_eq!(attr("data-label-overlaps"), Some(0), "bar labels overlap");
    // The error box stays empty (the script appends a <p> per error to it).
    let errors_at = dom_text
        .find(r#"id="report-errors""#)
        .expect("the error box");
    let errors_box = &dom_text[errors_at..];
    let errors_box = &errors_box[..errors_box.find("</div>").expect("the box closes")];
    assert!(!errors_box.contains("<p"), "script errors: {errors_box}");
    if let Some(at) = dom_text.find("data-draw-ms=\"") {
        let ms: String = dom_text[at + 14..]
            .chars()
            .take_while(|c| *c != '"')
            .collect();
        println!("timeline frame drawn in {ms} ms (headless, software rendering)");
    }
    for line in console.lines() {
        assert!(
            !(line.contains("Uncaught") || line.contains("CONSOLE") && line.contains("rror")),
            "console error from the page: {line}"
        );
    }

    // 2. A screenshot of the page (banner, anomaly, timeline) kept in the run directory.
    let shot = run.join("report.png");
    let profile = tempfile::tempdir().expect("profile dir");
    let out = run_chromium(
        &bin,
        profile.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000".to_string(),
            "--hide-scrollbars".to_string(),
            url,
        ],
        Duration::from_secs(120),
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}):\n{}",
            shot.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1400x1000 page compresses to a few kB; text, plots and bars take far more.
    assert!(
        png.len() > 30_000,
        "the screenshot is nearly empty ({} bytes)",
        png.len()
    );
    assert!(
        shot.starts_with(dir.path()),
        "kept under the test's temp dir"
    );
}

/// A real invalid Maelstrom run (the stale-read lin-kv test node of
/// tests/fixtures/maelstrom/): its report shows the message (Lamport) diagram, the first
/// messages and the window around the first anomaly, and it renders in Chromium.
#[test]
fn the_message_diagram_of_a_maelstrom_run_is_shown() {
    let Some(bin) = chromium() else {
        println!("SKIPPED: chromium is not installed (apt-get install chromium; .ci/run does)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/maelstrom");
    for name in ["node.py", "lin_kv.py"] {
        std::fs::copy(format!("{fixtures}/{name}"), dir.path().join(name)).expect("copy");
    }
    let node = dir.path().join("lin_kv.py");
    let results = dir.path().join("results");
    let out = run_test(
        &[
            "--target",
            "maelstrom",
            "--bin",
            node.to_str().expect("UTF-8 path"),
            "--bin-arg",
            "--stale",
            "--workload",
            "lin-kv",
            "--nodes",
            "3",
            "--nemesis",
            "partition-one",
            "--nemesis-interval",
            "1.5",
            "--rate",
            "100",
            "--time-limit",
            "10",
            "--seed",
            "1",
            "--test-count",
            "3",
        ],
        &results,
    );
    assert_eq!(
        code(&out),
        1,
        "the stale reads were not caught:\n{}",
        text(&out)
    );
    let run = latest(&results);
    let page = std::fs::read_to_string(run.join(REPORT_FILE)).expect("report.html");
    assert!(
        page.contains(r#"<section id="messages">"#),
        "the messages section"
    );
    assert!(
        page.contains("the first 40 of") && page.contains("around the first anomaly"),
        "the windows drawn are named"
    );
    let url = format!("file://{}", run.join(REPORT_FILE).display());
    let profile = tempfile::tempdir().expect("profile dir");
    let dom = run_chromium(
        &bin,
        profile.path(),
        &["--dump-dom".to_string(), url],
        Duration::from_secs(120),
    );
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom_text.contains(r#"data-report-status="rendered""#),
        "the report did not render"
    );
    // Two diagrams, each with its arrows.
    assert_eq!(
        dom_text.matches(r#"<svg class="lamport""#).count(),
        2,
        "two windows"
    );
    assert!(
        dom_text.contains(r#"data-arrows="40""#),
        "the first window's 40 arrows"
    );
}
