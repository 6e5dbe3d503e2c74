//! `faultline check`: read one or more recorded histories, decide whether each is
//! linearizable under a model, print a one-screen summary (or JSON), and return the worst
//! outcome. A file that cannot be read or checked is reported with its location and turns the
//! outcome into [`Outcome::Error`]; the other files are still checked.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use super::Outcome;
use crate::checker::linear::LinearizationWitness;
use crate::checker::{
    check, CheckResult, LinearizabilityOptions, ModelKind, ModelOptions, Validity, Witness,
};
use crate::history::{read_history, Format, History};

/// Arguments of `faultline check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// History files to check (faultline JSONL, Jepsen/Knossos EDN, Porcupine logs).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// The input format; guessed from each file when absent (the guess is printed).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<Format>,

    /// The sequential specification to check against: register, cas-register, kv, mutex,
    /// set, multi-register, fifo-queue or etcd. When absent: etcd for Porcupine etcd logs,
    /// kv for Porcupine kv logs, otherwise guessed from the ops' functions (printed).
    #[arg(long, value_name = "MODEL", value_parser = parse_model)]
    pub model: Option<ModelKind>,

    /// The initial value as JSON (default: null, "never written"; Porcupine kv logs: "").
    #[arg(long, value_name = "JSON")]
    pub initial: Option<String>,

    /// Knossos's rule: a read of null matches any state (default: a null read means the key
    /// was never written).
    #[arg(long)]
    pub nil_reads_match_any: bool,

    /// Check a keyed history as one map-valued state instead of key by key.
    #[arg(long)]
    pub no_partition: bool,

    /// Give up after this many seconds per file; the verdict is then unknown (exit 2).
    #[arg(long, value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub timeout: Option<Duration>,

    /// Give up when the checker's caches exceed this many MiB; the verdict is then unknown.
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub memory_limit: u64,

    /// Print the machine-readable verdict as JSON instead of the summary.
    #[arg(long)]
    pub json: bool,

    /// Also write the machine-readable verdict (JSON) to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Also write a self-contained HTML report (anomalies, timeline, plots) to this file;
    /// takes exactly one history file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Also write JUnit XML to this file: one test suite per history file, one test case per
    /// checker.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

fn parse_model(s: &str) -> Result<ModelKind, String> {
    s.parse::<ModelKind>().map_err(|e| e.to_string())
}

/// What `check --json` prints and `--out` writes: the overall verdict and one entry per file.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// The worst verdict over all files (`"error"` when a file could not be checked).
    pub valid: Value,
    /// The exit code the command returns.
    pub exit_code: u8,
    /// One entry per file, in the order given.
    pub files: Vec<FileReport>,
}

/// The verdict for one file, or why it could not be checked.
#[derive(Debug, Serialize)]
pub struct FileReport {
    /// The file as given on the command line.
    pub file: String,
    /// The format used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Whether the format was guessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format_guessed: Option<bool>,
    /// The model checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Whether the model was guessed from the ops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_guessed: Option<bool>,
    /// `true`, `false`, `"unknown"`, or `"error"` when the file could not be checked.
    pub valid: Value,
    /// Why it could not be read or checked (bad input), naming file and line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Seconds spent reading and importing the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_secs: Option<f64>,
    /// The checker's full result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<CheckResult>,
}

impl FileReport {
    fn outcome(&self) -> Outcome {
        match (&self.error, &self.result) {
            (Some(_), _) | (None, None) => Outcome::Error,
            (None, Some(r)) => match r.valid {
                Validity::Valid => Outcome::Valid,
                Validity::Invalid => Outcome::Invalid,
                Validity::Unknown => Outcome::Unknown,
            },
        }
    }
}

/// Runs `faultline check` and returns its outcome; all output goes to stdout/stderr.
pub fn run(args: &CheckArgs) -> Outcome {
    match run_inner(args) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("faultline check: {e:#}");
            Outcome::Error
        }
    }
}

fn run_inner(args: &CheckArgs) -> Result<Outcome> {
    let initial = match &args.initial {
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|e| anyhow!("--initial: {text:?} is not valid JSON: {e}"))?,
        ),
        None => None,
    };
    let several = args.files.len() > 1;
    if several && args.report.is_some() {
        bail!(
            "--report writes the report of one history; {} files were given",
            args.files.len()
        );
    }
    let mut files = Vec::with_capacity(args.files.len());
    let mut suites = Vec::new();
    let mut overall = Outcome::Valid;
    for path in &args.files {
        let (report, history) = check_file(path, args, initial.as_ref());
        overall = overall.worst(report.outcome());
        if !args.json {
            print_human(&report, several);
        }
        if args.junit.is_some() || args.report.is_some() {
            let facts = file_facts(&report)?;
            if let (Some(out), Some(history)) = (&args.report, &history) {
                let page = crate::report::render(
                    &facts,
                    history,
                    &[],
                    &crate::report::ReportOptions::default(),
                );
                std::fs::write(out, page)
                    .with_context(|| format!("writing the report {}", out.display()))?;
            }
            suites.push(facts);
        }
        files.push(report);
    }
    if let Some(out) = &args.junit {
        std::fs::write(out, crate::report::junit_xml(&suites))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    let report = CheckReport {
        valid: match overall {
            Outcome::Valid => Value::Bool(true),
            Outcome::Invalid => Value::Bool(false),
            Outcome::Unknown => Value::from("unknown"),
            Outcome::Error => Value::from("error"),
        },
        exit_code: overall.as_u8(),
        files,
    };
    let json = serde_json::to_string_pretty(&report).context("serializing the verdict")?;
    if args.json {
        println!("{json}");
    }
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{json}\n"))
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if several && !args.json {
        println!("{}", summary_line(&report.files));
    }
    Ok(overall)
}

/// The report/JUnit facts of one checked file: how it was read and its verdict, or why it
/// could not be checked.
fn file_facts(report: &FileReport) -> Result<crate::report::RunFacts> {
    let mut config = vec![("file".to_string(), report.file.clone())];
    let guessed = |g: Option<bool>| if g == Some(true) { " (guessed)" } else { "" };
    if let Some(f) = &report.format {
        config.push((
            "format".into(),
            format!("{f}{}", guessed(report.format_guessed)),
        ));
    }
    if let Some(m) = &report.model {
        config.push((
            "model".into(),
            format!("{m}{}", guessed(report.model_guessed)),
        ));
    }
    let results: Vec<CheckResult> = report.result.iter().cloned().collect();
    let mut facts = crate::report::RunFacts::from_check(&report.file, config, &results)?;
    facts.run_error = report.error.clone();
    Ok(facts)
}

fn check_file(
    path: &Path,
    args: &CheckArgs,
    initial: Option<&Value>,
) -> (FileReport, Option<History>) {
    let mut report = FileReport {
        file: path.display().to_string(),
        format: None,
        format_guessed: None,
        model: None,
        model_guessed: None,
        valid: Value::from("error"),
        error: None,
        parse_secs: None,
        result: None,
    };
    let parse_started = Instant::now();
    let (history, format, guessed) = match read_history(path, args.format) {
        Ok(read) => read,
        Err(e) => {
            report.error = Some(e.to_string());
            return (report, None);
        }
    };
    report.parse_secs = Some(parse_started.elapsed().as_secs_f64());
    report.format = Some(format.name().to_string());
    report.format_guessed = Some(guessed);
    match check_history(&history, format, args, initial) {
        Ok((model, model_guessed, result)) => {
            report.model = Some(model.name().to_string());
            report.model_guessed = Some(model_guessed);
            report.valid = serde_json::to_value(result.valid).unwrap_or(Value::Null);
            report.result = Some(result);
        }
        Err(e) => report.error = Some(format!("{}: {e:#}", path.display())),
    }
    (report, Some(history))
}

/// Picks the model and its options, then checks. Returns the model and whether it was guessed.
fn check_history(
    history: &History,
    format: Format,
    args: &CheckArgs,
    initial: Option<&Value>,
) -> Result<(ModelKind, bool, CheckResult)> {
    let (model, guessed) = match args.model {
        Some(m) => (m, false),
        None => match format {
            Format::PorcupineEtcd => (ModelKind::Etcd, false),
            Format::PorcupineKv => (ModelKind::Kv, false),
            _ => (guess_model(history)?, true),
        },
    };
    let initial = match (initial, format) {
        (Some(v), _) => v.clone(),
        // Porcupine's kv logs start every key as the empty string.
        (None, Format::PorcupineKv) => Value::String(String::new()),
        (None, _) => Value::Null,
    };
    let opts = LinearizabilityOptions {
        model,
        model_options: ModelOptions {
            initial,
            nil_reads_match_any: args.nil_reads_match_any,
        },
        partition: !args.no_partition,
        deadline: args.timeout.map(|t| Instant::now() + t),
        cancel: None,
        memory_limit: args.memory_limit.saturating_mul(1 << 20),
    };
    let result = check(history, &opts)?;
    Ok((model, guessed, result))
}

/// Guesses the model from the functions the ops use, so `faultline check FILE` works on the
/// common cases without flags. Registers default to cas-register (a superset of register).
fn guess_model(history: &History) -> Result<ModelKind> {
    let fs: BTreeSet<&str> = history
        .ops
        .iter()
        .map(|op| op.f.strip_prefix(':').unwrap_or(&op.f))
        .collect();
    let only = |allowed: &[&str]| fs.iter().all(|f| allowed.contains(f));
    let model = if fs.is_empty() || only(&["read", "write", "cas"]) {
        ModelKind::CasRegister
    } else if only(&["read", "write", "cas", "append", "get", "put"]) {
        ModelKind::Kv
    } else if only(&["acquire", "release"]) {
        ModelKind::Mutex
    } else if only(&["add", "read"]) {
        ModelKind::Set
    } else if only(&["enqueue", "dequeue"]) {
        ModelKind::FifoQueue
    } else if only(&["txn"]) {
        ModelKind::MultiRegister
    } else {
        let list: Vec<&str> = fs.into_iter().collect();
        bail!(
            "cannot guess a model from the functions {}; name one with --model",
            list.join(", ")
        );
    };
    Ok(model)
}

fn verdict_word(report: &FileReport) -> &'static str {
    match report.outcome() {
        Outcome::Valid => "VALID",
        Outcome::Invalid => "INVALID",
        Outcome::Unknown => "UNKNOWN",
        Outcome::Error => "ERROR",
    }
}

/// One line per file: name, verdict, time (and the format/model used).
fn file_line(report: &FileReport) -> String {
    let mut line = format!("{}: {}", report.file, verdict_word(report));
    if let Some(result) = &report.result {
        let mut how = Vec::new();
        if let Some(f) = &report.format {
            let guessed = if report.format_guessed == Some(true) {
                " (guessed)"
            } else {
                ""
            };
            how.push(format!("format {f}{guessed}"));
        }
        if let Some(m) = &report.model {
            let guessed = if report.model_guessed == Some(true) {
                " (guessed)"
            } else {
                ""
            };
            how.push(format!("model {m}{guessed}"));
        }
        how.push(format!(
            "{} ops, {} key{}",
            result.stats.ops,
            result.stats.keys,
            if result.stats.keys == 1 { "" } else { "s" }
        ));
        how.push(format!("checked in {}", seconds(result.stats.elapsed_secs)));
        let _ = write!(line, "  [{}]", how.join("; "));
        if let Some(cause) = &result.cause {
            let _ = write!(line, "  cause: {cause}");
        }
    }
    line
}

fn print_human(report: &FileReport, several: bool) {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(error) = &report.error {
        let _ = writeln!(out, "{}: ERROR", report.file);
        eprintln!("faultline check: {error}");
        return;
    }
    let _ = writeln!(out, "{}", file_line(report));
    if several {
        return;
    }
    if let Some(result) = &report.result {
        for anomaly in &result.anomalies {
            let _ = writeln!(out, "\n{}: {}", anomaly.kind, anomaly.explanation);
            if let Some(Witness::Linearization(w)) = &anomaly.witness {
                let _ = write!(out, "{}", describe_witness(w));
            }
        }
        if result.valid == Validity::Unknown {
            let _ = writeln!(
                out,
                "\nThe checker could not decide within its limits; raise --timeout or --memory-limit."
            );
        }
    }
}

/// The witness of a linearizability failure as a few indented lines.
pub fn describe_witness(w: &LinearizationWitness) -> String {
    let mut s = String::new();
    if let Some(key) = &w.key {
        let _ = writeln!(s, "  key: {key}");
    }
    let _ = writeln!(s, "  op that cannot be linearized: {}", describe_op(&w.op));
    let _ = writeln!(s, "  state before it: {}", w.state);
    let _ = writeln!(
        s,
        "  longest linearizable prefix: {} op{}{}",
        w.prefix_len,
        if w.prefix_len == 1 { "" } else { "s" },
        if w.prefix_omitted > 0 {
            format!(" (the first {} not shown)", w.prefix_omitted)
        } else {
            String::new()
        }
    );
    for step in &w.prefix {
        let _ = writeln!(s, "    {:<48} -> {}", describe_op(&step.op), step.state);
    }
    if !w.concurrent.is_empty() {
        let _ = writeln!(s, "  concurrent with it:");
        for op in &w.concurrent {
            let _ = writeln!(s, "    {}", describe_op(op));
        }
    }
    s
}

fn describe_op(op: &crate::checker::linear::OpSummary) -> String {
    let when = match op.complete_index {
        Some(c) => format!("events {}..{}", op.index, c),
        None => format!("event {}.., never completed", op.index),
    };
    let outcome = match op.outcome {
        crate::history::Outcome::Ok => "ok",
        crate::history::Outcome::Fail => "fail",
        crate::history::Outcome::Info => "info",
    };
    format!(
        "#{} process {} {} {} ({outcome}, {when})",
        op.index, op.process, op.f, op.value
    )
}

fn seconds(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.0} µs", secs * 1e6)
    } else if secs < 1.0 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

fn summary_line(files: &[FileReport]) -> String {
    let count = |o: Outcome| files.iter().filter(|f| f.outcome() == o).count();
    format!(
        "{} files: {} valid, {} invalid, {} unknown, {} errors",
        files.len(),
        count(Outcome::Valid),
        count(Outcome::Invalid),
        count(Outcome::Unknown),
        count(Outcome::Error)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_flag_rejects_negative_and_garbage() {
        use crate::cli::parse_seconds;
        assert!(parse_seconds("1.5").is_ok());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("NaN").is_err());
    }

    #[test]
    fn seconds_are_printed_in_a_readable_unit() {
        assert_eq!(seconds(0.000_05), "50 µs");
        assert_eq!(seconds(0.0123), "12.3 ms");
        assert_eq!(seconds(2.5), "2.50 s");
    }
}
