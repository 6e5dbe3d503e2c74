//! How often a default `faultline test` catches each planted raftkv bug (issue 18): for every
//! bug the default nemesis is meant to find (raftkv's list less those a fault family of their
//! own exposes, `target::raftkv::exposing_nemesis`), K runs of `faultline test --raftkv-bug NAME --time-limit T` with the
//! default workload and nemesis and fresh random seeds, plus K runs of correct raftkv; prints
//! caught/K, the median time to the first anomalous op and the seeds missed.
//! `cargo bench --bench detection`; docs/running-tests.md, "Measuring detection".
//!
//! Settings (environment): `FAULTLINE_DETECTION_K` (default 10), `FAULTLINE_DETECTION_TIME_LIMIT`
//! (seconds, default 60), `FAULTLINE_DETECTION_BUGS` (e.g. `stale-read,early-ack`; `none` for
//! correct raftkv only; default every bug), `FAULTLINE_DETECTION_GRACE` (default 180),
//! `FAULTLINE_DETECTION_NEMESIS` (a `--nemesis` instead of the default, e.g. an older
//! `mixed.toml` to compare with). Runs go
//! one at a time, each in its own results directory under a temp dir that is removed at the
//! end; a run that outlives T + grace seconds is stopped (SIGTERM, then SIGKILL and `faultline
//! cluster down`) and counted as an error.
//!
//! The pure half (verdicts, the first anomaly's time, the median, the table) is
//! `faultline::detection`, unit-tested there.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use faultline::detection::{
    first_anomaly_ns, render_table, BenchSettings, Row, RunResult, RunVerdict,
};
use faultline::history::{read_history, Format};
use faultline::report::data::CheckerView;
use faultline::rundir::{ResultsRecord, HISTORY_FILE, LATEST_LINK};
use faultline::target::raftkv::default_nemesis_bug_flags;

/// How long a SIGTERMed faultline gets to tear its cluster down before SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(30);

fn main() {
    if let Err(e) = run() {
        eprintln!("detection bench: {e}");
        std::process::exit(3);
    }
}

fn run() -> Result<(), String> {
    let settings = BenchSettings::from_env(
        |name| std::env::var(name).ok(),
        &default_nemesis_bug_flags(),
    )?;
    let faultline = PathBuf::from(env!("CARGO_BIN_EXE_faultline"));
    check_raftkv(&faultline)?;
    let tmp = tempfile::Builder::new()
        .prefix("faultline-detection-")
        .tempdir()
        .map_err(|e| format!("cannot create a temp dir: {e}"))?;
    println!(
        "detection: K={} runs per row, --time-limit {} s, nemesis {}, bugs: {}; runs under {}",
        settings.k,
        settings.time_limit_secs,
        settings.nemesis.as_deref().unwrap_or("default"),
        if settings.bugs.is_empty() {
            "none".to_string()
        } else {
            settings.bugs.join(", ")
        },
        tmp.path().display()
    );
    let mut rows = Vec::new();
    let mut labels: Vec<Option<String>> = settings.bugs.iter().cloned().map(Some).collect();
    labels.push(None);
    for bug in labels {
        let mut runs = Vec::new();
        for i in 0..settings.k {
            let seed: u64 = rand::random();
            let name = bug.as_deref().unwrap_or("correct");
            let results = tmp.path().join(name).join(format!("run-{i}"));
            print!("{name} run {}/{}: seed {seed} ... ", i + 1, settings.k);
            let _ = std::io::Write::flush(&mut std::io::stdout());
            let r = one_run(&faultline, bug.as_deref(), seed, &settings, &results);
            println!("{}", describe(&r));
            runs.push(r);
        }
        rows.push(Row { bug, runs });
    }
    println!();
    print!("{}", render_table(&rows, settings.time_limit_secs as f64));
    // `tmp` is removed here, with every run's files.
    Ok(())
}

/// faultline finds raftkv next to itself or in $FAULTLINE_RAFTKV; `cargo bench` builds only
/// faultline's own binaries, so say how to build raftkv when it is missing.
fn check_raftkv(faultline: &Path) -> Result<(), String> {
    if let Some(p) = std::env::var_os("FAULTLINE_RAFTKV") {
        return if Path::new(&p).is_file() {
            Ok(())
        } else {
            Err(format!("FAULTLINE_RAFTKV={p:?} is not a file"))
        };
    }
    let sibling = faultline.with_file_name("raftkv");
    if sibling.is_file() {
        Ok(())
    } else {
        Err(format!(
            "no raftkv binary at {}: build it first with `cargo build --release -p raftkv` \
             (or set FAULTLINE_RAFTKV)",
            sibling.display()
        ))
    }
}

fn describe(r: &RunResult) -> String {
    match (&r.verdict, r.first_anomaly_secs) {
        (RunVerdict::Invalid, Some(s)) => format!("invalid (first anomalous op at {s:.1} s)"),
        (RunVerdict::Invalid, None) => "invalid (first anomalous op: n/a)".to_string(),
        (RunVerdict::Valid, _) => "valid".to_string(),
        (RunVerdict::Unknown, _) => "unknown".to_string(),
        (RunVerdict::Error(why), _) => format!("error: {why}"),
    }
}

/// One `faultline test` run, waited for and bounded by T + the grace.
fn one_run(
    faultline: &Path,
    bug: Option<&str>,
    seed: u64,
    settings: &BenchSettings,
    results: &Path,
) -> RunResult {
    let verdict = match spawn_and_wait(faultline, bug, seed, settings, results) {
        Ok(v) => v,
        Err(why) => RunVerdict::Error(why),
    };
    let first_anomaly_secs = match verdict {
        RunVerdict::Invalid => first_anomaly_secs(&results.join(LATEST_LINK)),
        _ => None,
    };
    RunResult {
        seed,
        verdict,
        first_anomaly_secs,
    }
}

fn spawn_and_wait(
    faultline: &Path,
    bug: Option<&str>,
    seed: u64,
    settings: &BenchSettings,
    results: &Path,
) -> Result<RunVerdict, String> {
    fs::create_dir_all(results).map_err(|e| format!("cannot create {}: {e}", results.display()))?;
    let log_path = results.join("faultline.out");
    let log = File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log_path.display()))?;
    let mut cmd = Command::new(faultline);
    cmd.arg("test")
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--time-limit")
        .arg(settings.time_limit_secs.to_string())
        .arg("--results")
        .arg(results);
    if let Some(bug) = bug {
        cmd.arg("--raftkv-bug").arg(bug);
    }
    if let Some(nemesis) = &settings.nemesis {
        cmd.arg("--nemesis").arg(nemesis);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", faultline.display()))?;
    let limit = Duration::from_secs(settings.time_limit_secs + settings.grace_secs);
    match wait_timeout(&mut child, limit) {
        Some(status) => {
            let verdict = RunVerdict::from_exit_code(status.code());
            if let RunVerdict::Error(why) = verdict {
                return Err(format!("{why}; {}", last_line(&log_path)));
            }
            Ok(verdict)
        }
        None => {
            stop(&mut child);
            cluster_down(faultline, &results.join(LATEST_LINK));
            Err(format!(
                "still running after {} s; stopped",
                limit.as_secs()
            ))
        }
    }
}

/// Waits for `child` up to `limit`; `None` if it is still running then.
fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Ok(None) => return None,
            // Cannot poll it: treat as still running, so the caller stops it.
            Err(_) => return None,
        }
    }
}

/// SIGTERM (faultline tears its cluster down on it), then SIGKILL if it does not exit in
/// [`TERM_GRACE`]; always reaps the child.
fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if wait_timeout(child, TERM_GRACE).is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `faultline cluster down DIR`, bounded, so no raftkv node outlives a killed run.
fn cluster_down(faultline: &Path, run_dir: &Path) {
    if !run_dir.exists() {
        return;
    }
    let child = Command::new(faultline)
        .arg("cluster")
        .arg("down")
        .arg(run_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut child) = child {
        if wait_timeout(&mut child, Duration::from_secs(60)).is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last non-empty line faultline printed, to say why a run failed.
fn last_line(log: &Path) -> String {
    fs::read_to_string(log)
        .ok()
        .and_then(|s| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "no output".to_string())
}

/// Seconds from the test's start to its first anomalous op, from the run's results.json and
/// history.jsonl; `None` when either cannot be read or no anomaly cites an op.
fn first_anomaly_secs(run_dir: &Path) -> Option<f64> {
    let results = ResultsRecord::<CheckerView>::read(run_dir).ok()??;
    let (history, _, _) = read_history(&run_dir.join(HISTORY_FILE), Some(Format::Jsonl)).ok()?;
    first_anomaly_ns(&results, &history).map(|ns| ns as f64 / 1e9)
}
