//! `cargo bench --bench check`: times the linearizability checker on the Porcupine corpus
//! (checking only; parsing is timed apart) and on a generated 1,000,000-op history, and
//! prints a table. Medians of several runs. Pass group names to run only some:
//! `etcd`, `kv`, `kv-map`, `c50-map`, `big`. For `etcd` and `kv` it also times each file
//! with the explanation's core shrinking turned off (`explain_core: false`, the checker as it
//! was before cores) and prints both medians: shrinking must stay within 2x.

use faultline::checker::{
    check, CheckResult, LinearizabilityOptions, ModelKind, ModelOptions, Validity,
};
use faultline::history::{porcupine, read_jsonl, History, HistoryWriter, Op, Outcome};
use faultline::procmem::{peak_rss_bytes, rss_bytes};
use serde_json::{json, Value};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// (tag, label, partition, which files, target) for a kv group.
type KvGroup = (
    &'static str,
    &'static str,
    bool,
    fn(&str) -> bool,
    &'static str,
);

struct Timed {
    group: &'static str,
    file: String,
    verdict: Validity,
    secs: f64,
    states: u64,
    /// The same check without shrinking an invalid key to its core, when timed.
    secs_no_core: Option<f64>,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/porcupine")
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("times are finite"));
    xs[xs.len() / 2]
}

fn options(model: ModelKind, mo: ModelOptions, partition: bool) -> LinearizabilityOptions {
    LinearizabilityOptions {
        model,
        model_options: mo,
        partition,
        ..Default::default()
    }
}

/// Checks `h` `runs` times (at least; more when a run is very short) and returns the median.
fn time_check(
    h: &History,
    o: &LinearizabilityOptions,
    runs: usize,
    timeout: Duration,
) -> (CheckResult, f64) {
    let mut times = Vec::new();
    let mut last = None;
    let budget = Instant::now();
    while times.len() < runs || (budget.elapsed() < Duration::from_millis(50) && times.len() < 1000)
    {
        let mut o = o.clone();
        o.deadline = Some(Instant::now() + timeout);
        let t = Instant::now();
        let r = check(h, &o).expect("corpus history suits its model");
        times.push(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    (last.expect("ran at least once"), median(times))
}

fn read(
    path: &Path,
    reader: fn(BufReader<File>, &str) -> Result<History, faultline::history::HistoryError>,
) -> (History, f64) {
    let t = Instant::now();
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h =
        reader(BufReader::new(f), &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    (h, t.elapsed().as_secs_f64())
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus().join(dir))
        .expect("corpus folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    let parent = p
        .parent()
        .and_then(|d| d.file_name())
        .map(|d| d.to_string_lossy().to_string())
        .unwrap_or_default();
    format!(
        "{parent}/{}",
        p.file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default()
    )
}

/// A 1,000,000-op history: `keys` registers, `procs` clients, ~5% of ops indeterminate (half
/// of those took effect), simulated against a real linearizable store.
fn generate(ops: usize, keys: usize, procs: usize, seed: u64) -> History {
    let mut rng = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut store = vec![0i64; keys];
    let mut history = History::default();
    // Each process: (pid, open op index in history.ops, effect applied?)
    let mut open: Vec<Option<(usize, bool)>> = vec![None; procs];
    let mut pids: Vec<u64> = (0..procs as u64).collect();
    let mut next_pid = procs as u64;
    let mut index = 0u64;
    let mut value = 0i64;
    let mut started = 0usize;
    while started < ops || open.iter().any(|o| o.is_some()) {
        let p = (next() % procs as u64) as usize;
        match open[p] {
            None if started < ops => {
                started += 1;
                let key = (next() % keys as u64) as usize;
                let roll = next() % 10;
                let (f, v) = if roll < 5 {
                    ("read", Value::Null)
                } else if roll < 8 {
                    value += 1;
                    ("write", json!(value))
                } else {
                    value += 1;
                    let from = if next() % 2 == 0 {
                        store[key]
                    } else {
                        (next() % value as u64) as i64
                    };
                    // 0 stands for "never written", which the history writes as null.
                    let from = if from == 0 { Value::Null } else { json!(from) };
                    ("cas", json!([from, value]))
                };
                history.ops.push(Op {
                    process: pids[p],
                    f: f.to_string(),
                    key: Some(json!(key)),
                    invoke_value: v.clone(),
                    value: v,
                    outcome: Outcome::Info,
                    invoke_index: index,
                    complete_index: None,
                    invoke_time: index * 1000,
                    complete_time: None,
                    error: None,
                    node: None,
                });
                index += 1;
                open[p] = Some((history.ops.len() - 1, false));
            }
            None => {}
            Some((at, applied)) => {
                let op = &mut history.ops[at];
                let key = op
                    .key
                    .as_ref()
                    .and_then(Value::as_u64)
                    .expect("generated keys are integers") as usize;
                if !applied {
                    // Take effect now (or crash before doing so: 2.5% of ops).
                    if next() % 40 == 0 {
                        op.complete_index = Some(index);
                        op.complete_time = Some(index * 1000);
                        index += 1;
                        open[p] = None;
                        pids[p] = next_pid;
                        next_pid += 1;
                        continue;
                    }
                    match op.f.as_str() {
                        "read" => {
                            op.value = if store[key] == 0 {
                                Value::Null
                            } else {
                                json!(store[key])
                            }
                        }
                        "write" => {
                            store[key] =
                                op.invoke_value.as_i64().expect("write values are integers")
                        }
                        _ => {
                            let from = op.invoke_value[0].as_i64().unwrap_or(0);
                            if store[key] == from {
                                store[key] =
                                    op.invoke_value[1].as_i64().expect("cas to is an integer");
                            } else {
                                op.outcome = Outcome::Fail;
                            }
                        }
                    }
                    open[p] = Some((at, true));
                    continue;
                }
                let crashed_after = next() % 40 == 0;
                op.outcome = if crashed_after {
                    Outcome::Info
                } else if op.outcome == Outcome::Fail {
                    Outcome::Fail
                } else {
                    Outcome::Ok
                };
                op.complete_index = Some(index);
                op.complete_time = Some(index * 1000);
                index += 1;
                open[p] = None;
                if crashed_after {
                    pids[p] = next_pid;
                    next_pid += 1;
                }
            }
        }
    }
    history.event_count = index;
    history
}

/// Checking time with and without the core, per group: medians over the group's files and
/// over its invalid files (the only ones that shrink), and the ratio of the totals.
fn core_table(rows: &[Timed]) {
    println!("\ncore shrinking (explain_core) — median per file, seconds");
    println!(
        "{:<8} {:>6} {:>8} {:>12} {:>12} {:>14} {:>14} {:>8}",
        "group", "files", "invalid", "with core", "without", "invalid with", "invalid w/o", "ratio"
    );
    for group in ["etcd", "kv"] {
        let timed: Vec<(&Timed, f64)> = rows
            .iter()
            .filter(|r| r.group == group)
            .filter_map(|r| r.secs_no_core.map(|n| (r, n)))
            .collect();
        if timed.is_empty() {
            continue;
        }
        let invalid: Vec<&(&Timed, f64)> = timed
            .iter()
            .filter(|(r, _)| r.verdict == Validity::Invalid)
            .collect();
        let med = |xs: Vec<f64>| if xs.is_empty() { f64::NAN } else { median(xs) };
        let with: f64 = timed.iter().map(|(r, _)| r.secs).sum();
        let without: f64 = timed.iter().map(|(_, n)| n).sum();
        println!(
            "{:<8} {:>6} {:>8} {:>12.5} {:>12.5} {:>14.5} {:>14.5} {:>7.2}x",
            group,
            timed.len(),
            invalid.len(),
            med(timed.iter().map(|(r, _)| r.secs).collect()),
            med(timed.iter().map(|(_, n)| *n).collect()),
            med(invalid.iter().map(|(r, _)| r.secs).collect()),
            med(invalid.iter().map(|(_, n)| *n).collect()),
            with / without.max(1e-9),
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |g: &str| args.is_empty() || args.iter().any(|a| a == g);
    let mut rows: Vec<Timed> = Vec::new();
    let mut parse_secs = 0.0;
    let kv_mo = ModelOptions {
        initial: json!(""),
        nil_reads_match_any: false,
    };
    let mut totals: Vec<(&str, f64, usize, String)> = Vec::new();

    if want("etcd") {
        let mut total = 0.0;
        let mut n = 0;
        for p in files("jepsen", "log") {
            let (h, ps) = read(&p, porcupine::read_etcd);
            parse_secs += ps;
            let (r, secs) = time_check(
                &h,
                &options(ModelKind::Etcd, ModelOptions::default(), true),
                5,
                Duration::from_secs(60),
            );
            let no_core = LinearizabilityOptions {
                explain_core: false,
                ..options(ModelKind::Etcd, ModelOptions::default(), true)
            };
            let (_, secs_no_core) = time_check(&h, &no_core, 5, Duration::from_secs(60));
            total += secs;
            n += 1;
            rows.push(Timed {
                group: "etcd",
                file: name(&p),
                verdict: r.valid,
                secs,
                states: r.stats.states_explored,
                secs_no_core: Some(secs_no_core),
            });
        }
        totals.push(("etcd logs (etcd model)", total, n, "< 0.25 s".into()));
    }
    let kv_files = files("kv", "txt");
    let groups: [KvGroup; 3] = [
        ("kv", "kv by key", true, |_| true, "< 0.08 s"),
        (
            "kv-map",
            "c01+c10 as one map",
            false,
            |f| f.contains("c01") || f.contains("c10"),
            "< 2 s",
        ),
        (
            "c50-map",
            "c50 as one map",
            false,
            |f| f.contains("c50"),
            "decided, < 60 s",
        ),
    ];
    for (tag, label, partition, pick, target) in groups {
        if !want(tag) {
            continue;
        }
        let mut total = 0.0;
        let mut n = 0;
        for p in kv_files.iter().filter(|p| pick(&name(p))) {
            let (h, ps) = read(p, porcupine::read_kv);
            parse_secs += ps;
            let runs = if partition { 5 } else { 3 };
            let (r, secs) = time_check(
                &h,
                &options(ModelKind::Kv, kv_mo.clone(), partition),
                runs,
                Duration::from_secs(60),
            );
            let secs_no_core = partition.then(|| {
                let no_core = LinearizabilityOptions {
                    explain_core: false,
                    ..options(ModelKind::Kv, kv_mo.clone(), partition)
                };
                time_check(&h, &no_core, runs, Duration::from_secs(60)).1
            });
            total += secs;
            n += 1;
            rows.push(Timed {
                group: tag,
                file: name(p),
                verdict: r.valid,
                secs,
                states: r.stats.states_explored,
                secs_no_core,
            });
        }
        totals.push((label, total, n, target.into()));
    }

    println!("\nfaultline linearizability checker — checking time only, median of >= 3 runs\n");
    println!("{:<28} {:>6} {:>12}   target", "group", "files", "total");
    for (label, total, n, target) in &totals {
        println!("{label:<28} {n:>6} {:>10.4} s   {target}", total);
    }
    println!("(parsing, all files once: {:.4} s)\n", parse_secs);
    for r in rows.iter().filter(|r| r.group != "etcd") {
        println!(
            "{:<8} {:<24} {:>9} {:>10.4} s {:>12} states",
            r.group,
            r.file,
            r.verdict.to_string(),
            r.secs,
            r.states
        );
    }
    core_table(&rows);
    rows.sort_by(|a, b| b.secs.partial_cmp(&a.secs).expect("times are finite"));
    println!("\nten slowest files:");
    for r in rows.iter().take(10) {
        println!(
            "{:<8} {:<24} {:>9} {:>10.4} s {:>12} states",
            r.group,
            r.file,
            r.verdict.to_string(),
            r.secs,
            r.states
        );
    }

    if want("big") {
        let before = rss_bytes().unwrap_or(0);
        let t = Instant::now();
        let h = generate(1_000_000, 1000, 64, 1);
        let gen = t.elapsed().as_secs_f64();
        let info = h.ops.iter().filter(|o| o.outcome == Outcome::Info).count();
        let with_history = rss_bytes().unwrap_or(0);
        let mut times = Vec::new();
        let mut verdict = Validity::Unknown;
        let mut states = 0;
        let mut cache = 0;
        for _ in 0..3 {
            let o = LinearizabilityOptions {
                deadline: Some(Instant::now() + Duration::from_secs(120)),
                ..options(ModelKind::CasRegister, ModelOptions::default(), true)
            };
            let t = Instant::now();
            let r = check(&h, &o).expect("generated history suits the model");
            times.push(t.elapsed().as_secs_f64());
            verdict = r.valid;
            if let Some(a) = r.anomalies.first() {
                println!("unexpected anomaly: {}", a.explanation);
            }
            states = r.stats.states_explored;
            cache = r.stats.cache_bytes;
        }
        let peak = peak_rss_bytes().unwrap_or(0);
        println!(
            "\n1,000,000-op history (1000 keys, 64 processes, {:.1}% info; generated in {gen:.2} s): {} in {:.3} s (median of 3), {} states, memo peak {:.1} MiB, process peak RSS {:.1} MiB (history alone {:.1} MiB) — target < 10 s, < 2 GiB",
            100.0 * info as f64 / h.ops.len() as f64,
            verdict,
            median(times),
            states,
            cache as f64 / (1 << 20) as f64,
            peak as f64 / (1 << 20) as f64,
            with_history.saturating_sub(before) as f64 / (1 << 20) as f64,
        ); // Parsing, timed apart: the same history as JSONL, read back (after the peak above).
        let mut writer = HistoryWriter::new(Vec::new());
        writer.write_history(&h).expect("writing to memory");
        let bytes = writer.into_inner().expect("writing to memory");
        drop(h);
        let mut parse_times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let back = read_jsonl(bytes.as_slice(), "generated").expect("our own JSONL parses");
            parse_times.push(t.elapsed().as_secs_f64());
            assert_eq!(back.ops.len(), 1_000_000);
        }
        println!(
            "parsing it as JSONL ({:.0} MB): {:.2} s (median of 3)",
            bytes.len() as f64 / 1e6,
            median(parse_times)
        );
    }
}
