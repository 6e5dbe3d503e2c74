//! Helpers shared by the end-to-end tests that run the faultline binary: starting
//! `faultline test` into a temp results directory, reading the run it left (`latest/`,
//! results.json, the history), waiting for it to reach a fault, interrupting it, and checking
//! that no node process is left behind.
//!
//! Every `tests/*.rs` with `mod common;` compiles this file and uses only some of it.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use faultline::report::data::CheckerView;
use faultline::rundir::{
    ResultsRecord, TestRecord, HISTORY_FILE, JOURNAL_FILE, RESULTS_FILE, TEST_FILE,
};
use serde_json::Value;

pub mod etcd;
pub mod ssh_hosts;

/// The built faultline binary, with the progress line off.
pub fn faultline() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
    cmd.env("FAULTLINE_NO_PROGRESS", "1");
    cmd
}

/// The flags of a short leader-partition run on 3 nodes that catches raftkv's stale-read and
/// early-ack bugs within 3 seeds (used with `--test-count 3`).
pub const SHORT_PARTITION_RUN: &[&str] = &[
    "--nodes",
    "3",
    "--time-limit",
    "15",
    "--nemesis-interval",
    "3",
    "--rate",
    "200",
];

/// The flags of a 3-node run partitioning halves every second for up to a minute: long
/// enough to interrupt it mid-partition.
pub const PARTITION_HALVES_RUN: &[&str] = &[
    "--nodes",
    "3",
    "--nemesis",
    "partition-halves",
    "--nemesis-interval",
    "1",
    "--time-limit",
    "60",
    "--seed",
    "5",
];

/// The flags of a 3-node run pausing a node every second for up to a minute (add a
/// `--seed`): long enough to kill faultline with a fault applied.
pub const PAUSE_RUN: &[&str] = &[
    "--nodes",
    "3",
    "--nemesis",
    "pause",
    "--nemesis-interval",
    "1",
    "--time-limit",
    "60",
];

/// A process's exit code, -1 when a signal ended it.
pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// A process's stdout and stderr, labelled, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `faultline test ARGS --results RESULTS`, run to completion.
pub fn run_test(args: &[&str], results: &Path) -> Output {
    faultline()
        .arg("test")
        .args(args)
        .arg("--results")
        .arg(results)
        .output()
        .expect("faultline runs")
}

/// `faultline test ARGS --results RESULTS` started in the background; its output piped
/// (read it after it ends) when `capture`, else discarded.
pub fn spawn_test(args: &[&str], results: &Path, capture: bool) -> Child {
    let out = || {
        if capture {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    faultline()
        .arg("test")
        .args(args)
        .arg("--results")
        .arg(results)
        .stdout(out())
        .stderr(out())
        .spawn()
        .expect("faultline starts")
}

/// The newest run directory under `results`.
pub fn latest(results: &Path) -> PathBuf {
    std::fs::canonicalize(results.join("latest")).expect("results/latest points at the run")
}

/// A JSON file, parsed (panics naming the file).
pub fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A run's `results.json`, read as `faultline report` reads it (panics naming the file).
/// Every nemesis op of a run applied, except that a leader-targeted fault may find no leader
/// mid-election (recorded as "no leader to target", not a failure of the fault backend).
#[allow(dead_code)]
pub fn assert_only_leaderless_nemesis_errors(r: &ResultsRecord<CheckerView>) {
    assert!(
        r.nemesis_errors
            .iter()
            .all(|e| e.error.contains("no leader to target")),
        "{:?}",
        r.nemesis_errors
    );
}

pub fn read_results(run: &Path) -> ResultsRecord<CheckerView> {
    ResultsRecord::read(run)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{}: no {RESULTS_FILE}", run.display()))
}

/// A run's `test.json` (panics naming the file).
pub fn read_test_record(run: &Path) -> TestRecord {
    TestRecord::read(run)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{}: no {TEST_FILE}", run.display()))
}

/// A run's history events so far (none before the file exists).
pub fn history(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join(HISTORY_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The nemesis functions recorded in a run's history so far.
pub fn nemesis_fs(run: &Path) -> Vec<String> {
    history(run)
        .iter()
        .filter(|e| e["process"] == "nemesis")
        .filter_map(|e| e["f"].as_str().map(str::to_string))
        .collect()
}

/// True once a run's history records a `start-partition`.
pub fn partition_started(run: &Path) -> bool {
    nemesis_fs(run).iter().any(|f| f == "start-partition")
}

/// True once a run's fault journal records an applied fault.
pub fn fault_journaled(run: &Path) -> bool {
    let journal = std::fs::read_to_string(run.join(JOURNAL_FILE)).unwrap_or_default();
    journal.contains("\"apply\"")
}

/// Waits (up to `limit`) until `child`'s latest run under `results` satisfies `reached`, and
/// returns that run. Fails (killing `child`) on timeout, naming `what`, and at once if
/// `child` exits first, with its output when it was captured.
pub fn wait_for_run(
    child: &mut Child,
    results: &Path,
    limit: Duration,
    what: &str,
    reached: impl Fn(&Path) -> bool,
) -> PathBuf {
    let deadline = Instant::now() + limit;
    loop {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no {what} within {limit:?}");
        }
        if let Some(status) = child.try_wait().expect("wait") {
            let mut output = String::new();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut output);
            }
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut output);
            }
            panic!("faultline exited ({status}) before a {what}: {output}");
        }
        if let Ok(run) = std::fs::canonicalize(results.join("latest")) {
            if reached(&run) {
                return run;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sends SIGINT to `child` and waits (up to `limit`, then kills it and fails) for it to end.
pub fn interrupt(child: &mut Child, limit: Duration) -> ExitStatus {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT sent");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("faultline did not stop within {limit:?} of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `faultline cluster down DIR`.
pub fn cluster_down(dir: &Path) -> Output {
    faultline()
        .args(["cluster", "down"])
        .arg(dir)
        .output()
        .expect("runs")
}

/// Runs `faultline cluster down` on its directory when dropped, so a failing test leaves no
/// cluster behind.
pub struct ClusterDown(pub PathBuf);

impl Drop for ClusterDown {
    fn drop(&mut self) {
        let _ = cluster_down(&self.0);
    }
}

/// `faultline test ARGS --results RESULTS` must exit 3 with `needle` in its stderr (`case`
/// names the case in messages).
pub fn assert_refused(case: usize, args: &[String], results: &Path, needle: &str) {
    let out = faultline()
        .arg("test")
        .args(args)
        .arg("--results")
        .arg(results)
        .output()
        .expect("faultline runs");
    assert_eq!(code(&out), 3, "case {case}: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(needle),
        "case {case}: the error should name {needle:?}: {}",
        text(&out)
    );
}

/// Live processes whose command line mentions both `program` and `dir` (zombies have an
/// empty cmdline).
pub fn processes_under(program: &str, dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(program) && cmdline.contains(&needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

/// Live raftkv processes whose command line mentions `dir`.
pub fn nodes_under(dir: &Path) -> Vec<String> {
    processes_under("raftkv", dir)
}

/// Waits (up to 15 s) until no raftkv process under `dir` runs, else fails naming them.
pub fn assert_no_nodes_left(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = nodes_under(dir);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `n` distinct free TCP ports on 127.0.0.1 for nodes a test starts itself, from below the
/// ephemeral range (see `faultline::net::ports`), so nothing binding port 0 or connecting out
/// takes one before its node binds it.
pub fn free_ports(n: usize) -> Vec<u16> {
    faultline::net::ports::free_loopback_ports(n).expect("free loopback ports")
}

/// The pids in `dir/n1.pid` .. `dir/nN.pid` (the start scripts of tests that run their own
/// "external" nodes write them); a missing or unreadable file is skipped.
pub fn node_pids(dir: &Path, n: usize) -> Vec<i32> {
    (1..=n)
        .filter_map(|i| {
            std::fs::read_to_string(dir.join(format!("n{i}.pid")))
                .ok()
                .and_then(|p| p.trim().parse().ok())
        })
        .collect()
}

/// Ends every process in `pids`, paused or not (SIGCONT, then SIGKILL).
pub fn kill_all(pids: &[i32]) {
    for &pid in pids {
        let pid = nix::unistd::Pid::from_raw(pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
}
