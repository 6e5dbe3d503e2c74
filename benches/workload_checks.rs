//! `cargo bench --bench workload_checks`: times the set-full, bank, counter and unique-ids
//! checkers on generated 1,000,000-op histories and prints a table. Medians of 3 runs. Pass
//! checker names to run only some: `set-full`, `bank`, `counter`, `unique-ids`.
//!
//! Columns: `check` is checking alone (wall and CPU); `parse` reads the history's JSONL from
//! memory with the parallel reader (`read_jsonl`) and, for comparison, with the line-at-a-time
//! reader it replaced (`read_jsonl_lines`); `cli` is the whole path a user runs: the history
//! is written to a temporary file and the release binary is spawned as
//! `faultline check FILE --model M` (read, parse, pair, check, print the verdict), wall and
//! the child's CPU. Set `FAULTLINE_BASELINE=/path/to/an/older/faultline` to time that binary
//! on the same files in the same window (`base cli`).
//!
//! The histories come from a small seeded simulation of a correct system: 20 processes, each
//! op takes effect at its completion, 1% of ops crash (`info`, half of them having taken
//! effect). So every history is valid and the checkers do all their work.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The allocator the faultline binary uses (src/main.rs), so the bench measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use faultline::checker::{check_with, CheckModel, CheckOptions, CheckResult, Validity};
use faultline::history::{read_jsonl, read_jsonl_lines, History, HistoryWriter, Op, Outcome};
use serde_json::{json, Value};

const OPS: usize = 1_000_000;
const PROCESSES: usize = 20;
const SEED: u64 = 8;

/// splitmix64: a tiny deterministic generator, so the bench needs no RNG crate API.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a simulated system does: the next op a process invokes, and how it completes (its
/// outcome and result value, applying its effect when `apply`).
trait System {
    fn invoke(&mut self, rng: &mut Rng) -> (String, Option<Value>, Value);
    fn complete(&mut self, op: &Op, apply: bool, rng: &mut Rng) -> (Outcome, Value);
}

/// Runs `system` with [`PROCESSES`] concurrent processes until `ops` ops were invoked and
/// completed (every op completes; 1% as info).
fn simulate(system: &mut dyn System, ops: usize, seed: u64) -> History {
    let mut rng = Rng(seed);
    let mut history = History::default();
    let mut open: Vec<Option<usize>> = vec![None; PROCESSES];
    let mut pids: Vec<u64> = (0..PROCESSES as u64).collect();
    let mut next_pid = PROCESSES as u64;
    let mut index = 0u64;
    let mut invoked = 0;
    let mut done = 0;
    while done < ops {
        let p = rng.below(PROCESSES as u64) as usize;
        match open[p] {
            None if invoked < ops => {
                let (f, key, value) = system.invoke(&mut rng);
                history.ops.push(Op {
                    process: pids[p],
                    f,
                    key,
                    invoke_value: value.clone(),
                    value,
                    outcome: Outcome::Info,
                    invoke_index: index,
                    complete_index: None,
                    invoke_time: index * 1000,
                    complete_time: None,
                    error: None,
                    node: None,
                });
                open[p] = Some(history.ops.len() - 1);
                invoked += 1;
                index += 1;
            }
            None => {}
            Some(at) => {
                let crashed = rng.below(100) == 0;
                let apply = !crashed || rng.below(2) == 0;
                let (outcome, value) = system.complete(&history.ops[at], apply, &mut rng);
                let op = &mut history.ops[at];
                op.outcome = if crashed { Outcome::Info } else { outcome };
                op.value = if crashed {
                    op.invoke_value.clone()
                } else {
                    value
                };
                op.complete_index = Some(index);
                op.complete_time = Some(index * 1000);
                index += 1;
                open[p] = None;
                done += 1;
                if crashed {
                    pids[p] = next_pid;
                    next_pid += 1;
                }
            }
        }
    }
    history.event_count = index;
    history
}

/// A keyed set: 80% adds of fresh elements, 20% reads of the current key; a new key every
/// 40 adds (as Jepsen's independent set workloads do).
#[derive(Default)]
struct SetSystem {
    sets: HashMap<u64, Vec<u64>>,
    next_element: u64,
}

impl System for SetSystem {
    fn invoke(&mut self, rng: &mut Rng) -> (String, Option<Value>, Value) {
        let key = self.next_element / 40;
        if rng.below(5) == 0 {
            ("read".into(), Some(json!(key)), Value::Null)
        } else {
            self.next_element += 1;
            ("add".into(), Some(json!(key)), json!(self.next_element))
        }
    }

    fn complete(&mut self, op: &Op, apply: bool, _: &mut Rng) -> (Outcome, Value) {
        let key = op.key.as_ref().and_then(Value::as_u64).unwrap_or(0);
        let set = self.sets.entry(key).or_default();
        match op.f.as_str() {
            "add" => {
                if apply {
                    set.push(op.invoke_value.as_u64().unwrap_or(0));
                }
                (Outcome::Ok, op.invoke_value.clone())
            }
            _ => (Outcome::Ok, json!(set)),
        }
    }
}

/// Five accounts holding 100 in all: half transfers (failing when funds are short), half
/// reads of all balances.
struct BankSystem {
    balances: [i64; 5],
}

impl System for BankSystem {
    fn invoke(&mut self, rng: &mut Rng) -> (String, Option<Value>, Value) {
        if rng.below(2) == 0 {
            ("read".into(), None, Value::Null)
        } else {
            let from = rng.below(5);
            let to = (from + 1 + rng.below(4)) % 5;
            let amount = 1 + rng.below(5);
            let v = json!({"from": from, "to": to, "amount": amount});
            ("transfer".into(), None, v)
        }
    }

    fn complete(&mut self, op: &Op, apply: bool, _: &mut Rng) -> (Outcome, Value) {
        if op.f == "read" {
            let m: serde_json::Map<String, Value> = self
                .balances
                .iter()
                .enumerate()
                .map(|(i, b)| (i.to_string(), json!(b)))
                .collect();
            return (Outcome::Ok, Value::Object(m));
        }
        let v = &op.invoke_value;
        let field = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
        let (from, to, amount) = (field("from"), field("to"), field("amount") as i64);
        if self.balances[from] < amount {
            return (Outcome::Fail, v.clone());
        }
        if apply {
            self.balances[from] -= amount;
            self.balances[to] += amount;
        }
        (Outcome::Ok, v.clone())
    }
}

/// One counter: half increments by 1..=5, half reads.
#[derive(Default)]
struct CounterSystem {
    value: u64,
}

impl System for CounterSystem {
    fn invoke(&mut self, rng: &mut Rng) -> (String, Option<Value>, Value) {
        if rng.below(2) == 0 {
            ("read".into(), None, Value::Null)
        } else {
            ("add".into(), None, json!(1 + rng.below(5)))
        }
    }

    fn complete(&mut self, op: &Op, apply: bool, _: &mut Rng) -> (Outcome, Value) {
        if op.f == "read" {
            return (Outcome::Ok, json!(self.value));
        }
        if apply {
            self.value += op.invoke_value.as_u64().unwrap_or(0);
        }
        (Outcome::Ok, op.invoke_value.clone())
    }
}

/// An id allocator handing out 0, 1, 2, ...
#[derive(Default)]
struct IdSystem {
    next: u64,
}

impl System for IdSystem {
    fn invoke(&mut self, _: &mut Rng) -> (String, Option<Value>, Value) {
        ("generate".into(), None, Value::Null)
    }

    fn complete(&mut self, _: &Op, _: bool, _: &mut Rng) -> (Outcome, Value) {
        self.next += 1;
        (Outcome::Ok, json!(self.next))
    }
}

/// CPU seconds this process has used (user + system, all threads); 0 where /proc is
/// unreadable. Beside wall time it shows how much a busy machine slowed a run down.
fn cpu_secs() -> f64 {
    faultline::procmem::cpu_secs().unwrap_or(0.0)
}

/// CPU seconds used by this process's children that have been waited for.
fn child_cpu_secs() -> f64 {
    faultline::procmem::children_cpu_secs().unwrap_or(0.0)
}

/// Runs `bin check FILE --model M` 3 times; medians of wall and child CPU seconds.
fn time_cli(bin: &Path, file: &Path, model: CheckModel) -> (f64, f64) {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    for _ in 0..3 {
        let c = child_cpu_secs();
        let t = Instant::now();
        let status = Command::new(bin)
            .arg("check")
            .arg(file)
            .args(["--model", model.name()])
            .stdout(Stdio::null())
            .status()
            .expect("the faultline binary runs");
        walls.push(t.elapsed().as_secs_f64());
        cpus.push(child_cpu_secs() - c);
        assert_eq!(
            status.code(),
            Some(0),
            "{} finds the history valid",
            bin.display()
        );
    }
    (median(walls), median(cpus))
}

/// Builds a fresh simulated system.
type MakeSystem = fn() -> Box<dyn System>;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

struct Row {
    checker: &'static str,
    events: u64,
    info: usize,
    verdict: Validity,
    anomalies: usize,
    check_secs: f64,
    cpu_secs: f64,
    parse_secs: f64,
    lines_parse_secs: f64,
    mb: f64,
    cli: (f64, f64),
    base_cli: Option<(f64, f64)>,
}

fn measure(model: CheckModel, history: History) -> Row {
    let opts = CheckOptions::new(model);
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut last: Option<CheckResult> = None;
    for _ in 0..3 {
        let c = cpu_secs();
        let t = Instant::now();
        let r = check_with(&history, &opts).expect("generated history has the right shape");
        times.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_secs() - c);
        last = Some(r);
    }
    let r = last.expect("ran 3 times");
    for a in r.anomalies.iter().take(3) {
        println!("unexpected anomaly ({}): {}", model.name(), a.explanation);
    }
    let mut writer = HistoryWriter::new(Vec::new());
    writer.write_history(&history).expect("writing to memory");
    let bytes = writer.into_inner().expect("writing to memory");
    let events = history.event_count;
    let info = history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Info)
        .count();
    drop(history);
    let time_parse = |read: fn(&[u8], &str) -> History| {
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let back = read(&bytes, "generated");
            times.push(t.elapsed().as_secs_f64());
            assert_eq!(back.ops.len(), OPS);
        }
        median(times)
    };
    let parse_secs = time_parse(|b, s| read_jsonl(b, s).expect("our own JSONL parses"));
    let lines_parse_secs = time_parse(|b, s| read_jsonl_lines(b, s).expect("our own JSONL parses"));
    let mut file = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .expect("a temporary file");
    file.write_all(&bytes).expect("writing the history file");
    file.flush().expect("writing the history file");
    let mb = bytes.len() as f64 / 1e6;
    drop(bytes);
    let cli = time_cli(
        Path::new(env!("CARGO_BIN_EXE_faultline")),
        file.path(),
        model,
    );
    let base_cli = std::env::var_os("FAULTLINE_BASELINE")
        .map(|bin| time_cli(Path::new(&bin), file.path(), model));
    Row {
        checker: model.name(),
        events,
        info,
        verdict: r.valid,
        anomalies: r.anomalies.len(),
        check_secs: median(times),
        cpu_secs: median(cpu),
        parse_secs,
        lines_parse_secs,
        mb,
        cli,
        base_cli,
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let mut rows = Vec::new();
    let cases: [(CheckModel, MakeSystem); 4] = [
        (CheckModel::SetFull, || Box::<SetSystem>::default()),
        (CheckModel::Bank, || {
            Box::new(BankSystem { balances: [20; 5] })
        }),
        (CheckModel::Counter, || Box::<CounterSystem>::default()),
        (CheckModel::UniqueIds, || Box::<IdSystem>::default()),
    ];
    for (model, make) in cases {
        if !want(model.name()) {
            continue;
        }
        let t = Instant::now();
        let history = simulate(make().as_mut(), OPS, SEED);
        eprintln!(
            "{}: generated in {:.2} s",
            model.name(),
            t.elapsed().as_secs_f64()
        );
        rows.push(measure(model, history));
    }
    println!(
        "\nfaultline workload checkers — 1,000,000-op generated histories ({PROCESSES} processes, \
         seed {SEED}); wall and CPU (all threads) seconds, medians of 3\n"
    );
    println!(
        "{:<11} {:>9} {:>7} {:>8} {:>9} {:>15}   {:<8} {:>7} {:>10} {:>16} {:>16}",
        "checker",
        "events",
        "info",
        "verdict",
        "anomalies",
        "check (cpu)",
        "target",
        "MB",
        "parse",
        "parse by lines",
        "cli (cpu)",
    );
    for r in &rows {
        println!(
            "{:<11} {:>9} {:>7} {:>8} {:>9} {:>6.3} ({:>5.2}) s   {:<8} {:>7.0} {:>8.2} s {:>14.2} s {:>6.2} ({:>5.2}) s{}",
            r.checker,
            r.events,
            r.info,
            r.verdict.to_string(),
            r.anomalies,
            r.check_secs,
            r.cpu_secs,
            if r.check_secs < 2.0 { "< 2 s ok" } else { "MISSED" },
            r.mb,
            r.parse_secs,
            r.lines_parse_secs,
            r.cli.0,
            r.cli.1,
            r.base_cli
                .map(|(w, c)| format!("   base cli {w:.2} ({c:.2}) s"))
                .unwrap_or_default(),
        );
    }
    println!(
        "\ntarget (issue 8): each checker decides a 1M-op history in under 2 s (the check \
         column);\nthe cli column is the whole `faultline check` (read + parse + pair + check + \
         verdict), for reference;\n`cpu` shows how much a busy machine inflated the wall time"
    );
}
