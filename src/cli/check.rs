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
use crate::checker::linear;
use crate::checker::linear::LinearizationWitness;
use crate::checker::txn::{self, ConsistencyModel};
use crate::checker::workload::{BankOptions, CounterOptions, SetFullOptions};
use crate::checker::{
    check_compact_with, CheckModel, CheckOptions, CheckResult, Checkable, ModelKind, ModelOptions,
    Validity, Witness,
};
use crate::history::compact::Kind;
use crate::history::{read_history_compact, CompactHistory, Format};

/// Arguments of `faultline check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// History files to check (faultline JSONL, Jepsen/Knossos EDN, Porcupine logs).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// The input format; guessed from each file when absent (the guess is printed).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<Format>,

    /// What to check against. Linearizability models: register, cas-register, kv, mutex,
    /// set, multi-register, fifo-queue, etcd. Workload checkers: set-full, bank, counter,
    /// unique-ids (see docs/workload-checkers.md). Transactional isolation (Elle-style):
    /// list-append, rw-register. When absent: etcd for Porcupine etcd logs, kv for Porcupine
    /// kv logs, otherwise guessed from the ops' functions (printed): transfer -> bank,
    /// generate -> unique-ids, add/read -> set (name set-full or counter explicitly); `txn`
    /// ops whose micro-ops include `append` are list-append, `r`/`w` only rw-register,
    /// `read`/`write` multi-register.
    #[arg(long, value_name = "MODEL", value_parser = parse_model)]
    pub model: Option<CheckModel>,

    /// For list-append and rw-register: the consistency model to check against:
    /// strict-serializable (default), serializable, snapshot-isolation, repeatable-read,
    /// read-committed, read-uncommitted (also the strong-/strong-session- variants).
    #[arg(long, value_name = "NAME", value_parser = parse_consistency_model)]
    pub consistency_model: Option<ConsistencyModel>,

    /// For list-append and rw-register: write a Graphviz DOT file per dependency cycle
    /// found into this directory (and an SVG beside it when `dot` is installed).
    #[arg(long, value_name = "DIR")]
    pub dot_dir: Option<PathBuf>,

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

    /// Give up when this process's resident memory passes this many MiB during a search (the
    /// history counts too); the verdict is then unknown (exit 2). Default: 80% of the
    /// machine's memory, or of its cgroup's limit when lower.
    #[arg(long, value_name = "MIB")]
    pub memory_limit: Option<u64>,

    /// bank: what all balances sum to (default: the sum of the first ok read, said in the
    /// output).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub bank_total: Option<i64>,

    /// bank: the number of accounts, named "0" .. "N-1" (default: those of the first ok
    /// read, said in the output).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub bank_accounts: Option<u32>,

    /// set-full: report stale elements (visible late) without making the history invalid
    /// (Jepsen's default; for sets that do not promise linearizability). counter: hold reads
    /// to the lower bound only once every add is over (an eventually consistent counter).
    #[arg(long)]
    pub allow_stale: bool,

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

fn parse_model(s: &str) -> Result<CheckModel, String> {
    // The list comes from CheckModel::names(), so every checker added there is offered here.
    s.parse::<CheckModel>().map_err(|_| {
        format!(
            "unknown model {s:?}; expected one of {}",
            CheckModel::names().join(", ")
        )
    })
}

fn parse_consistency_model(s: &str) -> Result<ConsistencyModel, String> {
    s.parse::<ConsistencyModel>().map_err(|e| e.to_string())
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
    /// This process's peak resident memory over the whole command (reading, checking,
    /// reporting), bytes; absent where the OS does not say (not Linux).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// The ceiling on resident memory that turns a search into `unknown` (`--memory-limit`,
    /// or its default from the machine's memory), bytes.
    pub memory_limit_bytes: u64,
    /// CPU seconds the whole command used, all threads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_secs: Option<f64>,
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
    /// Keys whose linearizability search ran while the file was read and was reused by the
    /// check (they got no op after it); absent when the file was not read that way
    /// (docs/checking.md, "Checking while reading").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_decided_while_reading: Option<u64>,
    /// Seconds spent checking the history once read, explanation excepted (the checker's
    /// own figure is in `result.stats`; this one is wall time around the whole check, model
    /// guess included, less `explain_secs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_secs: Option<f64>,
    /// Seconds spent explaining an invalid verdict (linearizability's core and witness),
    /// when the checker explains as a step of its own; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explain_secs: Option<f64>,
    /// The process's peak resident memory when this file was done, bytes (a running maximum
    /// over the files checked so far).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// The checker's full result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<CheckResult>,
    /// DOT (and SVG) files written for dependency cycles (`--dot-dir`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dot_files: Vec<String>,
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

/// Runs `faultline check` and returns its outcome; all output goes to stdout/stderr. Meant to
/// be the process's last work: the last file's history is left for the exit to free.
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
    for (i, path) in args.files.iter().enumerate() {
        let (report, history) = check_file(path, args, initial.as_ref());
        overall = overall.worst(report.outcome());
        if !args.json {
            print_human(&report, several);
        }
        if args.junit.is_some() || args.report.is_some() {
            let facts = file_facts(&report)?;
            if let (Some(out), Some(history)) = (&args.report, &history) {
                // Rendered from the history as read: no second copy with `Value`s.
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
        if i + 1 == args.files.len() {
            // The process ends soon after the last file: freeing a million-op history op by
            // op would take a tenth of the whole run for nothing.
            std::mem::forget(history);
        }
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
        peak_rss_bytes: crate::procmem::peak_rss_bytes(),
        memory_limit_bytes: memory_limit(args),
        cpu_secs: crate::procmem::cpu_secs(),
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

/// The memory ceiling of the searches, bytes: `--memory-limit` MiB, or the default.
pub(crate) fn memory_limit(args: &CheckArgs) -> u64 {
    args.memory_limit
        .map_or_else(linear::default_memory_limit, |m| m.saturating_mul(1 << 20))
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
) -> (FileReport, Option<CompactHistory>) {
    let mut report = FileReport {
        file: path.display().to_string(),
        format: None,
        format_guessed: None,
        model: None,
        model_guessed: None,
        valid: Value::from("error"),
        error: None,
        parse_secs: None,
        keys_decided_while_reading: None,
        check_secs: None,
        explain_secs: None,
        peak_rss_bytes: None,
        result: None,
        dot_files: Vec::new(),
    };
    let parse_started = Instant::now();
    let mut speculation = None;
    // JSONL's model options (check_history's for a JSONL file).
    let jsonl_options = ModelOptions {
        initial: initial.cloned().unwrap_or(Value::Null),
        nil_reads_match_any: args.nil_reads_match_any,
    };
    let read = match super::check_stream::read_speculating(path, args, &jsonl_options) {
        Some(read) => read.map(|(history, format, guessed, spec)| {
            speculation = Some(spec);
            (history, format, guessed)
        }),
        None => read_history_compact(path, args.format),
    };
    let (history, format, guessed) = match read {
        Ok(read) => read,
        Err(e) => {
            report.error = Some(e.to_string());
            return (report, None);
        }
    };
    let reusable = speculation.as_ref().map(|s| (s.model(), s.reusable()));
    report.parse_secs = Some(parse_started.elapsed().as_secs_f64());
    report.format = Some(format.name().to_string());
    report.format_guessed = Some(guessed);
    let check_started = Instant::now();
    let checked = check_history(&history, format, args, initial, speculation);
    let check_secs = check_started.elapsed().as_secs_f64();
    report.check_secs = Some(check_secs);
    report.peak_rss_bytes = crate::procmem::peak_rss_bytes();
    match checked {
        Ok((model, model_guessed, result)) => {
            if let Some(explain) = result.stats.explain_secs {
                report.explain_secs = Some(explain);
                report.check_secs = Some((check_secs - explain).max(0.0));
            }
            report.model = Some(model.name().to_string());
            report.model_guessed = Some(model_guessed);
            report.keys_decided_while_reading = reusable.map(|(searched_with, n)| {
                if CheckModel::Linear(searched_with.unwrap_or(ModelKind::MultiRegister)) == model {
                    n
                } else {
                    0
                }
            });
            report.valid = serde_json::to_value(result.valid).unwrap_or(Value::Null);
            if let Some(dir) = &args.dot_dir {
                let prefix = if args.files.len() > 1 {
                    path.file_stem()
                        .map(|s| format!("{}-", s.to_string_lossy()))
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                match write_dot_files(dir, &prefix, &result) {
                    Ok(files) => report.dot_files = files,
                    Err(e) => report.error = Some(format!("{}: {e:#}", path.display())),
                }
            }
            report.result = Some(result);
        }
        Err(e) => report.error = Some(format!("{}: {e:#}", path.display())),
    }
    (report, Some(history))
}

/// Writes one DOT file per dependency cycle of `result` into `dir` (created if needed), and
/// an SVG beside each when Graphviz's `dot` runs. Returns the paths written.
pub fn write_dot_files(dir: &Path, prefix: &str, result: &CheckResult) -> Result<Vec<String>> {
    let files = txn::dot::cycle_files(result);
    if files.is_empty() {
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let mut have_dot = true;
    for (name, text) in files {
        let path = dir.join(format!("{prefix}{name}"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path.display().to_string());
        if have_dot {
            let svg = path.with_extension("svg");
            match std::process::Command::new("dot")
                .arg("-Tsvg")
                .arg(&path)
                .arg("-o")
                .arg(&svg)
                .status()
            {
                Ok(s) if s.success() => written.push(svg.display().to_string()),
                Ok(s) => bail!("dot -Tsvg {} failed ({s})", path.display()),
                // Graphviz is optional: without it only the DOT files are written.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => have_dot = false,
                Err(e) => return Err(e).context("running dot"),
            }
        }
    }
    Ok(written)
}

/// Picks the model and its options, then checks. Returns the model and whether it was
/// guessed. Linearizability and the transactional checkers read the compact history; the
/// workload checkers take its `Value` form.
fn check_history(
    history: &CompactHistory,
    format: Format,
    args: &CheckArgs,
    initial: Option<&Value>,
    speculation: Option<linear::stream::Speculation>,
) -> Result<(CheckModel, bool, CheckResult)> {
    let (model, guessed) = match args.model {
        Some(m) => (m, false),
        None => match format {
            Format::PorcupineEtcd => (CheckModel::Linear(ModelKind::Etcd), false),
            Format::PorcupineKv => (CheckModel::Linear(ModelKind::Kv), false),
            _ => {
                match guess_check_model(&functions(history))? {
                    Some(model) => (model, true),
                    // Only txn ops: the micro-ops tell, from the values.
                    None => (guess_txn_model(history), true),
                }
            }
        },
    };
    let initial = match (initial, format) {
        (Some(v), _) => v.clone(),
        // Porcupine's kv logs start every key as the empty string.
        (None, Format::PorcupineKv) => Value::String(String::new()),
        (None, _) => Value::Null,
    };
    let opts = CheckOptions {
        model,
        model_options: ModelOptions {
            initial,
            nil_reads_match_any: args.nil_reads_match_any,
        },
        partition: !args.no_partition,
        deadline: args.timeout.map(|t| Instant::now() + t),
        cancel: None,
        memory_limit: memory_limit(args),
        bank: BankOptions {
            accounts: args
                .bank_accounts
                .map(|n| BankOptions::numbered(n as usize)),
            total: args.bank_total,
        },
        set_full: SetFullOptions {
            linearizable: !args.allow_stale,
        },
        counter: CounterOptions {
            linearizable: !args.allow_stale,
        },
        consistency_model: args.consistency_model.unwrap_or_default(),
    };
    // Linearizability and the transactional checkers read the compact history directly;
    // the workload checkers get its `Value` form.
    let result = match (model, speculation) {
        // Keys searched while the file was read are reused where unchanged.
        (CheckModel::Linear(kind), Some(s)) => {
            linear::check_compact_speculated(history, &opts.linearizability(kind), s)
        }
        _ => check_compact_with(&Checkable::new(history), &opts),
    };
    Ok((model, guessed, result?))
}

/// The functions the ops use, without a leading `:`.
fn functions(history: &CompactHistory) -> BTreeSet<&str> {
    // Functions are interned: mark the ids used, then name them.
    let mut used = vec![false; history.arena.strings().len()];
    for op in &history.ops {
        used[op.f as usize] = true;
    }
    (0..used.len() as u32)
        .filter(|&id| used[id as usize])
        .map(|id| {
            let f = history.arena.str(id);
            f.strip_prefix(':').unwrap_or(f)
        })
        .collect()
}

/// The per-key linearizability model [`guess_check_model`] guesses from `fs` (function
/// names without a leading `:`), if it guesses one: what the searches run while a file is
/// read use when no `--model` is given (`check_stream`).
pub(super) fn guess_linear_model(fs: &BTreeSet<&str>) -> Option<ModelKind> {
    match guess_check_model(fs) {
        Ok(Some(CheckModel::Linear(kind))) => Some(kind),
        _ => None,
    }
}

/// Guesses the checker from the ops' functions (without a leading `:`): the workload
/// checkers whose functions are unmistakable (`transfer`: bank, `generate`: unique-ids),
/// else a linearizability model. `add`/`read` stays the linearizable `set` model; set-full
/// and counter must be named with `--model`. `None` when every op is a `txn`: the micro-ops
/// tell which transactional checker ([`guess_txn_model`]).
fn guess_check_model(fs: &BTreeSet<&str>) -> Result<Option<CheckModel>> {
    if !fs.is_empty()
        && fs.iter().all(|f| ["transfer", "read"].contains(f))
        && fs.contains("transfer")
    {
        return Ok(Some(CheckModel::Bank));
    }
    if fs.len() == 1 && fs.contains("generate") {
        return Ok(Some(CheckModel::UniqueIds));
    }
    guess_model(fs)
}

/// Guesses the model from the functions the ops use, so `faultline check FILE` works on the
/// common cases without flags. Registers default to cas-register (a superset of register).
/// `txn` ops are told apart by their micro-ops (`None` here): any `append` means
/// list-append, only `r` and `w` rw-register (Elle's names), otherwise multi-register
/// (Knossos's `read`/`write`).
fn guess_model(fs: &BTreeSet<&str>) -> Result<Option<CheckModel>> {
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
        return Ok(None);
    } else {
        let list: Vec<&str> = fs.iter().copied().collect();
        bail!(
            "cannot guess a model from the functions {}; name one with --model",
            list.join(", ")
        );
    };
    Ok(Some(CheckModel::Linear(model)))
}

/// list-append, rw-register or multi-register, from the micro-op functions of `txn` ops.
fn guess_txn_model(history: &CompactHistory) -> CheckModel {
    let mut append = false;
    let mut elle_rw = false;
    let mut knossos_rw = false;
    let a = &history.arena;
    'ops: for op in &history.ops {
        for v in [op.invoke_value, op.value] {
            for &m in a.items(v) {
                let f = match a.items(m).first().map(|x| x.kind()) {
                    Some(Kind::Str(id)) => Some(a.str(id)),
                    _ => None,
                };
                match f.map(|f| f.strip_prefix(':').unwrap_or(f)) {
                    Some("append") => {
                        append = true;
                        break 'ops;
                    }
                    Some("r" | "w") => elle_rw = true,
                    Some("read" | "write") => knossos_rw = true,
                    _ => {}
                }
            }
        }
    }
    if append {
        CheckModel::ListAppend
    } else if elle_rw && !knossos_rw {
        CheckModel::RwRegister
    } else {
        CheckModel::Linear(ModelKind::MultiRegister)
    }
}

/// How many anomalies the summary prints; `--json` and `--out` carry all of them.
const ANOMALIES_SHOWN: usize = 20;

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
        let notes = result
            .details
            .as_ref()
            .and_then(|d| d.get("notes"))
            .and_then(Value::as_array);
        for note in notes.into_iter().flatten().filter_map(Value::as_str) {
            let _ = writeln!(out, "note: {note}");
        }
        for anomaly in result.anomalies.iter().take(ANOMALIES_SHOWN) {
            let _ = writeln!(out, "\n{}: {}", anomaly.kind, anomaly.explanation);
            if let Some(Witness::Linearization(w)) = &anomaly.witness {
                let _ = write!(out, "{}", describe_witness(w));
            }
        }
        if result.anomalies.len() > ANOMALIES_SHOWN {
            let _ = writeln!(
                out,
                "\n... and {} more anomalies (all of them in --json / --out)",
                result.anomalies.len() - ANOMALIES_SHOWN
            );
        }
        if let Some(details) = &result.details {
            let list = |name: &str| txn::detail_list(result, name).join(", ");
            if let Some(m) = details.get("consistency-model").and_then(Value::as_str) {
                let _ = writeln!(out, "\nchecked against: {m}");
            }
            if details.get("not").is_some() && !list("not").is_empty() {
                let _ = writeln!(out, "not: {}", list("not"));
                let _ = writeln!(out, "also not: {}", list("also-not"));
            }
        }
        for f in &report.dot_files {
            let _ = writeln!(out, "wrote {f}");
        }
        if result.valid == Validity::Unknown {
            let why = if result.cause.as_deref() == Some("memory limit") {
                "this process's memory passed its ceiling (--memory-limit, by default 80% of \
                 the machine's memory; the history itself counts)"
            } else {
                "the checker could not decide within its limits"
            };
            let _ = writeln!(out, "\nUnknown: {why}; raise --timeout or --memory-limit.");
        }
    }
}

/// Prefix steps the terminal shows from the start of the stored prefix.
pub const PREFIX_HEAD: usize = 5;
/// Prefix steps the terminal shows from its end (nearest the failure).
pub const PREFIX_TAIL: usize = 10;

/// The witness of a linearizability failure as a few indented lines: the core first (the
/// ops that prove it), then the search's view, with at most a screenful of the prefix (its
/// first and last steps and how many are left out; all of them are in --json and the report).
pub fn describe_witness(w: &LinearizationWitness) -> String {
    let mut s = String::new();
    if let Some(key) = &w.key {
        let _ = writeln!(s, "  key: {key}");
    }
    if !w.core.is_empty() {
        let _ = writeln!(
            s,
            "  core ({} op{}{}):",
            w.core.len(),
            if w.core.len() == 1 { "" } else { "s" },
            if w.core_minimal {
                ", none can be dropped"
            } else {
                ", shrinking stopped at its time bound"
            }
        );
        for op in &w.core {
            let _ = writeln!(s, "    {}", describe_op(op));
        }
    }
    let _ = writeln!(s, "  op that cannot be linearized: {}", describe_op(&w.op));
    let _ = writeln!(s, "  state before it: {}", w.state);
    let _ = writeln!(
        s,
        "  longest linearizable prefix: {} op{}",
        w.prefix_len,
        if w.prefix_len == 1 { "" } else { "s" },
    );
    let shown = w.prefix.len();
    let head = if w.prefix_omitted > 0 || shown <= PREFIX_HEAD + PREFIX_TAIL {
        // Everything fits, or the stored prefix already starts past its first steps.
        if w.prefix_omitted > 0 {
            0
        } else {
            shown
        }
    } else {
        PREFIX_HEAD
    };
    let tail_from = shown.saturating_sub(PREFIX_TAIL).max(head);
    let left_out = w.prefix_omitted + (tail_from - head);
    let step = |s: &mut String, i: usize| {
        let st = &w.prefix[i];
        let _ = writeln!(s, "    {:<48} -> {}", describe_op(&st.op), st.state);
    };
    (0..head).for_each(|i| step(&mut s, i));
    if left_out > 0 {
        let _ = writeln!(
            s,
            "    ... {left_out} ops left out (all of them in --json and the report) ..."
        );
    }
    (tail_from..shown).for_each(|i| step(&mut s, i));
    if !w.concurrent.is_empty() {
        let _ = writeln!(
            s,
            "  concurrent with it: {} op{}",
            w.concurrent.len(),
            if w.concurrent.len() == 1 { "" } else { "s" }
        );
        for op in w.concurrent.iter().take(PREFIX_TAIL) {
            let _ = writeln!(s, "    {}", describe_op(op));
        }
        if w.concurrent.len() > PREFIX_TAIL {
            let _ = writeln!(s, "    ... and {} more", w.concurrent.len() - PREFIX_TAIL);
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
