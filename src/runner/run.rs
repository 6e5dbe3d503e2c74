//! One test, end to end: validate the config, create the run directory, start the cluster,
//! heal first, run the main phase (clients + nemesis), the final heal, a recovery wait and
//! the final reads, tear down (healing and stopping on every path), check the history that
//! was written to disk, and store `results.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::config::{Resolved, TestConfig};
use super::interpreter::{Interpreter, RunSummary, DRAIN_TIMEOUT};
use super::progress::Progress;
use super::recorder::{OpCounts, Recorder};
use super::setup::SETUP_TIMEOUT;
use super::shutdown::Shutdown;
use super::store::{RunDir, RunLog};
use super::system::System;
use crate::checker::{self, CheckResult, Outcome, Validity};
use crate::generator::{
    any, on_nemesis, phases, sleep, stagger, time_limit, BoxGen, Context as GenContext, Driver,
};
use crate::history::compact::CompactHistory;
use crate::rundir::{NemesisErrorRecord, NetworkRecord, ResultsRecord, TestRecord, HISTORY_FILE};
use crate::seed::{names, SeedTree};

/// How long to let the cluster recover after the final heal, before the final reads.
pub const RECOVERY_WAIT: Duration = Duration::from_secs(5);

/// What one test produced.
#[derive(Debug, Clone)]
pub struct TestReport {
    /// The verdict as an exit-code class.
    pub outcome: Outcome,
    /// The run directory.
    pub run_dir: PathBuf,
    /// Why the run broke partway, when it did (its history so far was still checked).
    pub run_error: Option<String>,
}

/// Why a test produced no verdict: its workload, nemesis or client spec could not be read or
/// does not fit the target, its system could not be started or reached, or its results could
/// not be stored. Exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{error:#}")]
pub struct TestError {
    /// The run directory, when one was created: its `results.json` then says why (verdict
    /// unknown, `run_error` "could not start: ...", no history), so reports and CI artifacts
    /// show the failure. `None` only when the directory itself could not be made.
    pub run_dir: Option<PathBuf>,
    /// What went wrong, with its context.
    pub error: anyhow::Error,
}

impl TestError {
    fn new(run_dir: Option<&RunDir>, error: anyhow::Error) -> TestError {
        TestError {
            run_dir: run_dir.map(|r| r.path.clone()),
            error,
        }
    }
}

/// The prefix of `results.json`'s `run_error` for a run that never started.
pub const NOT_STARTED: &str = "could not start: ";

/// Runs one test and returns its outcome. It fails (exit 3) on a workload, nemesis or spec
/// that cannot be read or does not fit the target, or a system that could not start; the run
/// directory is still created first and its `results.json` says why. Once `shutdown` fires
/// the run stops its clients, heals every fault, stops every node and checks what it
/// recorded (the outcome is then an error unless an anomaly was found).
pub fn run_test(config: &TestConfig, shutdown: Shutdown) -> Result<TestReport, TestError> {
    let resolved = config.resolve();
    let name = match &resolved {
        Ok(resolved) => resolved.test_name(),
        Err(_) => config.unresolved_test_name(),
    };
    let run = RunDir::create(&config.results, &name).map_err(|e| TestError::new(None, e))?;
    let fail = |e: anyhow::Error| TestError::new(Some(&run), e);
    let log = Arc::new(RunLog::create(&run).map_err(fail)?);
    log.line(format_args!(
        "test {name}, seed {}: {}",
        config.seed,
        config.reproduce_command()
    ));
    eprintln!(
        "faultline test: {name}, seed {}; run directory {}",
        config.seed,
        run.path.display()
    );
    // What is known before resolving; the config holds `--workload` and `--nemesis` as given.
    let mut test_record = TestRecord {
        command: std::env::args().collect(),
        reproduce: Some(config.reproduce_command()),
        ..TestRecord::new(name, super::store::config_record(config))
    };
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err(e) => return Err(not_started(&run, &log, &test_record, config.seed, e)),
    };
    test_record.workload = resolved.workload.name.clone();
    test_record.workload_source = resolved.workload.source.clone();
    test_record.nemesis_source = resolved.nemesis.source.clone();
    test_record.nemesis_interval_secs = Some(resolved.interval.as_secs_f64());
    test_record.nemesis_skipped = skipped_records(&resolved.nemesis);
    for skipped in &test_record.nemesis_skipped {
        log.line(format_args!(
            "nemesis {}: {}",
            resolved.nemesis.source,
            skipped.line()
        ));
        eprintln!(
            "faultline test: nemesis {}: {}",
            resolved.nemesis.source,
            skipped.line()
        );
    }
    run.write_test(&test_record).map_err(fail)?;
    run_started(&resolved, &run, &log, &test_record, shutdown)
        .map_err(|e| e.downcast::<TestError>().unwrap_or_else(fail))
}

/// The optional fault families the resolved schedule dropped, as records.
fn skipped_records(nemesis: &crate::nemesis::NemesisSpec) -> Vec<crate::rundir::SkippedFamily> {
    nemesis
        .skipped
        .iter()
        .map(|s| crate::rundir::SkippedFamily {
            family: s.kind.name().to_string(),
            why: s.why.clone(),
        })
        .collect()
}

/// Stores a run that never started: `test.json` (as far as it is known), `results.json` with
/// the verdict unknown, no checker and `run_error` saying why, and `report.html`; returns the
/// error for the caller to report (exit 3).
fn not_started(
    run: &RunDir,
    log: &RunLog,
    test: &TestRecord,
    seed: u64,
    error: anyhow::Error,
) -> TestError {
    log.line(format_args!("could not start: {error:#}"));
    let results = ResultsRecord::<CheckResult> {
        run_error: Some(format!("{NOT_STARTED}{error:#}")),
        ..ResultsRecord::new(Validity::Unknown, seed, Vec::new())
    };
    let stored = run
        .write_test(test)
        .and_then(|()| run.write_results(&results));
    match stored {
        Ok(()) => write_report_html(
            run,
            log,
            test,
            &results,
            &crate::history::History::default(),
        ),
        Err(e) => {
            eprintln!("faultline test: could not store why the run did not start: {e:#}");
            log.line(format_args!("could not store results.json: {e:#}"));
        }
    }
    TestError::new(Some(run), error)
}

/// The rest of a test once its config is resolved and `test.json` written: start, drive,
/// tear down, check and store. A system that could not start is stored as
/// [`not_started`] and returned as that [`TestError`] (inside the `anyhow::Error`).
fn run_started(
    resolved: &Resolved,
    run: &RunDir,
    log: &Arc<RunLog>,
    test_record: &TestRecord,
    shutdown: Shutdown,
) -> Result<TestReport> {
    let config = &resolved.config;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let phase = runtime.block_on(run_phases(resolved, run, log, shutdown));
    // Give any task still finishing (clients past their timeout) a moment, then drop them.
    runtime.shutdown_timeout(Duration::from_secs(2));

    let (summary, counts, network, run_error) = match phase {
        Ok((summary, counts, network)) => (summary, counts, network, None),
        Err(PhaseError::Setup(e)) => {
            let e = not_started(run, log, test_record, config.seed, e);
            return Err(anyhow::Error::new(e));
        }
        Err(PhaseError::During(e, counts, network)) => {
            let network = *network;
            eprintln!("faultline test: the run failed: {e:#}");
            log.line(format_args!("the run failed: {e:#}"));
            (
                RunSummary {
                    interrupted: false,
                    abandoned: 0,
                },
                counts,
                network,
                Some(format!("{e:#}")),
            )
        }
    };

    // Check what is on disk: exactly the history a person can re-check later.
    let history_path = run.file(HISTORY_FILE);
    // Compact: a long run's history is checked in a fraction of the memory of `Value`s.
    let compact = read_run_history(&history_path)
        .with_context(|| format!("reading back {}", history_path.display()))?;
    let history = checker::Checkable::new(&compact);
    let mut checkers = Vec::new();
    for spec in &resolved.workload.checkers {
        let mut opts = spec.check_options();
        opts.deadline = Some(Instant::now() + config.check_timeout);
        let result = match checker::check_compact_with(&history, &opts) {
            Ok(result) => result,
            Err(e) => CheckResult {
                checker: spec.checker_name().into(),
                valid: Validity::Unknown,
                cause: Some(format!("the checker could not run: {e}")),
                anomalies: Vec::new(),
                stats: Default::default(),
                details: None,
            },
        };
        checkers.push(result);
    }
    let verdict = checkers
        .iter()
        .fold(Validity::Valid, |acc, r| acc.merge(r.valid));
    let outcome = if run_error.is_some() || summary.interrupted {
        // An incomplete run proves nothing valid; an anomaly in it is still an anomaly.
        if verdict == Validity::Invalid {
            Outcome::Invalid
        } else {
            Outcome::Error
        }
    } else {
        Outcome::from(verdict)
    };
    let nemesis_errors: Vec<NemesisErrorRecord> = compact
        .nemesis
        .iter()
        .filter_map(|e| {
            let error = e.error.as_ref()?;
            Some(NemesisErrorRecord {
                index: e.index,
                f: e.f.clone(),
                error: crate::report::data::value_text(error),
            })
        })
        .collect();
    let availability = crate::report::faults::availability_events(&compact.nemesis);
    let results = ResultsRecord {
        nemesis_errors,
        availability,
        interrupted: summary.interrupted,
        counts: Some(counts),
        abandoned_ops: summary.abandoned as u64,
        run_error,
        network,
        nemesis_skipped: test_record.nemesis_skipped.clone(),
        ..ResultsRecord::new(verdict, config.seed, checkers)
    };
    for r in &results.checkers {
        log.line(format_args!(
            "checker {}: {} ({} anomalies, {:.3} s){}",
            r.checker,
            r.valid,
            r.anomalies.len(),
            r.stats.elapsed_secs,
            r.cause
                .as_deref()
                .map(|c| format!(", {c}"))
                .unwrap_or_default()
        ));
    }
    log.line(format_args!("verdict: exit code {}", outcome.as_u8()));
    run.write_results(&results)?;
    write_report_html(run, log, test_record, &results, &compact);
    print_summary(&results, run, outcome);
    Ok(TestReport {
        outcome,
        run_dir: run.path.clone(),
        run_error: results.run_error.clone(),
    })
}

/// The run's `history.jsonl`, compact.
fn read_run_history(path: &Path) -> Result<CompactHistory> {
    let file = std::fs::File::open(path)?;
    let bytes = file.metadata().map_or(0, |m| m.len());
    let reader = std::io::BufReader::with_capacity(1 << 16, file);
    let source = path.display().to_string();
    Ok(crate::history::compact::read_jsonl_compact_sized(
        reader, &source, bytes,
    )?)
}

/// Writes `report.html` into the run directory. A report that cannot be written is logged
/// and warned about but never changes the verdict.
fn write_report_html(
    run: &RunDir,
    log: &RunLog,
    test: &TestRecord,
    results: &ResultsRecord<CheckResult>,
    history: &dyn crate::report::HistoryView,
) {
    let written = crate::report::RunFacts::from_written(test, results).and_then(|facts| {
        crate::report::write_report(
            &run.path,
            &facts,
            history,
            &crate::report::ReportOptions::default(),
        )
    });
    match written {
        Ok(path) => log.line(format_args!("report written to {}", path.display())),
        Err(e) => {
            eprintln!("faultline test: could not write report.html: {e:#}");
            log.line(format_args!("could not write report.html: {e:#}"));
        }
    }
}

enum PhaseError {
    /// Nothing ran: the cluster could not start (bad input or environment: exit 3).
    Setup(anyhow::Error),
    /// The run broke partway; the history so far is still checked.
    During(anyhow::Error, OpCounts, Box<Option<NetworkRecord>>),
}

/// Starts the cluster and runs every phase; tears everything down on every path.
async fn run_phases(
    resolved: &Resolved,
    run: &RunDir,
    log: &Arc<RunLog>,
    shutdown: Shutdown,
) -> Result<(RunSummary, OpCounts, Option<NetworkRecord>), PhaseError> {
    let mut recorder = Recorder::create(&run.file(HISTORY_FILE)).map_err(PhaseError::Setup)?;
    // A shutdown during start-up ends the run right after it: the nodes it started are
    // then healed and stopped like any others.
    let mut system = match System::start(resolved, run, log).await {
        Ok(system) => system,
        Err(e) => return Err(PhaseError::Setup(e)),
    };
    log.line(format_args!(
        "cluster started: {}",
        system
            .nodes()
            .iter()
            .map(|n| format!("{} at {}", n.name, n.http))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let watcher = {
        let mut shutdown = shutdown.clone();
        let log = Arc::clone(log);
        tokio::spawn(async move {
            shutdown.wait().await;
            log.line("shutdown requested: stopping clients, healing, cleaning up");
        })
    };
    let result = drive(resolved, &mut system, &mut recorder, shutdown, log).await;
    watcher.abort();
    // Teardown on every path: heal every fault, stop every process.
    let teardown = system.teardown().await;
    match &teardown {
        Ok(()) => log.line("teardown: every fault healed, every node stopped"),
        Err(e) => log.line(format_args!("teardown: {e:#}")),
    }
    let counts = recorder.counts();
    let network = system.network();
    let _ = recorder.flush();
    match (result, teardown) {
        (Ok(summary), Ok(())) => Ok((summary, counts, network)),
        (Err(e), _) => Err(PhaseError::During(e, counts, Box::new(network))),
        (Ok(_), Err(e)) => Err(PhaseError::During(
            e.context("tearing down"),
            counts,
            Box::new(network),
        )),
    }
}

/// The generator of a whole test: the main phase (clients and faults, time-limited), the final
/// heal (recorded), a recovery wait, then the final reads.
pub fn test_generator(resolved: &Resolved, node_names: &[String]) -> BoxGen {
    let config = &resolved.config;
    let seeds = SeedTree::new(config.seed);
    let gens = resolved.workload.generators(config.seed);
    let mut client = gens.client;
    if let Some(rate) = config.rate {
        client = Box::new(stagger(Duration::from_secs_f64(1.0 / rate), client));
    }
    let faults =
        resolved
            .nemesis
            .generator(node_names, resolved.interval, seeds.derive(names::FAULTS));
    let main: BoxGen = Box::new(time_limit(
        config.time_limit,
        any(vec![client, Box::new(on_nemesis(faults))]),
    ));
    let mut steps: Vec<BoxGen> = vec![
        main,
        Box::new(on_nemesis(resolved.nemesis.final_generator())),
        Box::new(sleep(RECOVERY_WAIT)),
    ];
    if let Some(reads) = gens.final_reads {
        steps.push(reads);
    }
    Box::new(phases(steps))
}

async fn drive(
    resolved: &Resolved,
    target: &mut System,
    recorder: &mut Recorder,
    shutdown: Shutdown,
    log: &RunLog,
) -> Result<RunSummary> {
    let config = &resolved.config;
    // Start clean: heal anything a previous run could have left (Jepsen heals at setup).
    target.heal_all().await.context("healing before the test")?;
    log.line("healed before the test; main phase starts");

    let nodes = target.nodes();
    let node_names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut clients = target.open_clients(config.concurrency)?;
    let setup = resolved.workload.setup_ops();
    if let Some(first) = clients.first_mut().filter(|_| !setup.is_empty()) {
        super::setup::run_setup(first.as_mut(), &setup, Instant::now() + SETUP_TIMEOUT).await?;
        log.line(format_args!(
            "workload setup: {} ops acknowledged",
            setup.len()
        ));
    }
    let started = Instant::now();
    let mut interpreter = Interpreter::start(started, clients, Some(target.fault_runner()));
    let mut driver = Driver::new(
        test_generator(resolved, &node_names),
        GenContext::new(
            config.concurrency,
            SeedTree::new(config.seed).derive(names::CONTEXT),
        ),
    );
    let mut progress = Progress::new();
    let result = interpreter
        .run(&mut driver, recorder, shutdown.receiver(), |rec, now| {
            progress.tick(rec.counts(), now, rec.last_nemesis())
        })
        .await;
    progress.finish();
    match &result {
        Ok(summary) => log.line(format_args!(
            "ops finished: {} client ops invoked, {} ok, {} fail, {} info; {} nemesis events{}",
            recorder.counts().invoked,
            recorder.counts().ok,
            recorder.counts().fail,
            recorder.counts().info,
            recorder.counts().nemesis,
            if summary.interrupted {
                format!(
                    " (interrupted; {} ops left without completion)",
                    summary.abandoned
                )
            } else {
                String::new()
            }
        )),
        Err(e) => log.line(format_args!("the interpreter stopped: {e:#}")),
    }
    interpreter.shutdown(DRAIN_TIMEOUT).await;
    result
}

fn print_summary(results: &ResultsRecord<CheckResult>, run: &RunDir, outcome: Outcome) {
    let c = results.counts.unwrap_or_default();
    println!(
        "\n{} client ops: {} ok, {} fail, {} info; {} nemesis events{}",
        c.invoked,
        c.ok,
        c.fail,
        c.info,
        c.nemesis,
        if results.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    if let Some(net) = &results.network {
        let rows: Vec<String> = net
            .rows()
            .into_iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("network: {}", rows.join("; "));
    }
    for r in &results.checkers {
        println!(
            "{}: {} ({} ops, {} keys, {:.2} s){}",
            r.checker,
            r.valid,
            r.stats.ops,
            r.stats.keys,
            r.stats.elapsed_secs,
            r.cause
                .as_deref()
                .map(|c| format!(" — {c}"))
                .unwrap_or_default()
        );
        for a in &r.anomalies {
            println!("  {}: {}", a.kind, a.explanation);
        }
    }
    for e in &results.nemesis_errors {
        println!("nemesis op {} failed: {}", e.f, e.error);
    }
    for skipped in &results.nemesis_skipped {
        println!("nemesis {}", skipped.line());
    }
    for a in &results.availability {
        println!(
            "availability event (not a safety violation): {} {}: {}",
            a.node, a.event, a.cause
        );
    }
    if let Some(e) = &results.run_error {
        println!("the run failed: {e}");
    }
    println!(
        "verdict: {}; results in {}",
        outcome.word(),
        run.path.display()
    );
}
