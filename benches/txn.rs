//! `cargo bench --bench txn`: times the list-append and rw-register checkers on generated
//! histories of 100,000 and 1,000,000 txns (50 processes, 4 micro-ops each) and the
//! list-append checker on Elle's huge-scc history, and prints a table: median check time,
//! txns per second (wall and per CPU second), peak RSS, and the process's resident memory
//! before and after the check (the checker's own allocation). Pass `100k`, `1m` or `elle`
//! to run only some sizes, `la` or `rw` for one workload.
//!
//! The generated histories come from a simulated strictly serializable store (each txn
//! takes effect atomically at its completion), with ~1% failed and ~0.5% indeterminate
//! txns (half of which took effect); keys are retired after 16 writes, 20 live at a time,
//! as Jepsen's list-append generator does. rw-register histories have the same shape with
//! `w` instead of `append` (every value written once). So every history is valid, and the
//! checker does all of its work (inference, graph, trimming) with nothing to short-cut on.

use faultline::checker::txn::{check, ConsistencyModel, TxnOptions, TxnWorkload};
use faultline::checker::{CheckResult, Validity};
use faultline::history::{read_history, History, Op, Outcome};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// The allocator the faultline binary uses (src/main.rs), so the bench measures what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROCESSES: u64 = 50;
const MOPS: usize = 4;
const LIVE_KEYS: u64 = 20;
const WRITES_PER_KEY: u64 = 16;

/// A xorshift generator: fixed seed, no dependency on rand's API for a bench.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A txn in flight: its op (completion filled in when it ends) and its micro-ops.
struct Pending {
    op: Op,
    mops: Vec<(bool, u64, u64)>,
}

fn generate(txns: usize, seed: u64, workload: TxnWorkload) -> History {
    let is_la = workload == TxnWorkload::ListAppend;
    let wname = if is_la { "append" } else { "w" };
    let mut rng = Rng(seed | 1);
    let mut lists: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut regs: HashMap<u64, u64> = HashMap::new();
    let mut appends: HashMap<u64, u64> = HashMap::new();
    let mut live: Vec<u64> = (0..LIVE_KEYS).collect();
    let mut next_key = LIVE_KEYS;
    let mut next_elem: u64 = 1;
    let mut procs: Vec<u64> = (0..PROCESSES).collect();
    let mut busy: Vec<Option<Pending>> = (0..PROCESSES).map(|_| None).collect();
    let mut ops: Vec<Op> = Vec::with_capacity(txns);
    let mut index: u64 = 0;
    let mut invoked = 0usize;
    while invoked < txns || busy.iter().any(Option::is_some) {
        let w = rng.below(PROCESSES) as usize;
        match busy[w].take() {
            None if invoked < txns => {
                let mut mops = Vec::with_capacity(MOPS);
                let mut inv = Vec::with_capacity(MOPS);
                for _ in 0..MOPS {
                    let k = live[rng.below(LIVE_KEYS) as usize];
                    if rng.below(2) == 0 {
                        let e = next_elem;
                        next_elem += 1;
                        mops.push((true, k, e));
                        inv.push(json!([wname, k, e]));
                        let n = appends.entry(k).or_insert(0);
                        *n += 1;
                        if *n >= WRITES_PER_KEY {
                            // Retire the key: later txns use a fresh one.
                            if let Some(slot) = live.iter().position(|&x| x == k) {
                                live[slot] = next_key;
                                next_key += 1;
                            }
                        }
                    } else {
                        mops.push((false, k, 0));
                        inv.push(json!(["r", k, null]));
                    }
                }
                let invoke_value = Value::Array(inv);
                busy[w] = Some(Pending {
                    op: Op {
                        process: procs[w],
                        f: "txn".into(),
                        key: None,
                        value: invoke_value.clone(),
                        invoke_value,
                        outcome: Outcome::Ok,
                        invoke_index: index,
                        complete_index: None,
                        invoke_time: index,
                        complete_time: None,
                        error: None,
                        node: None,
                    },
                    mops,
                });
                index += 1;
                invoked += 1;
            }
            None => {}
            Some(mut p) => {
                let roll = rng.below(1000);
                let (outcome, applies) = match roll {
                    0..=9 => (Outcome::Fail, false),
                    10..=14 => (Outcome::Info, roll.is_multiple_of(2)),
                    _ => (Outcome::Ok, true),
                };
                let mut done = Vec::with_capacity(MOPS);
                for &(append, k, e) in &p.mops {
                    if append {
                        if applies {
                            lists.entry(k).or_default().push(e);
                            regs.insert(k, e);
                        }
                        done.push(json!([wname, k, e]));
                    } else if is_la {
                        let seen = lists.get(&k).cloned().unwrap_or_default();
                        done.push(json!(["r", k, seen]));
                    } else {
                        done.push(json!(["r", k, regs.get(&k)]));
                    }
                }
                p.op.outcome = outcome;
                if outcome == Outcome::Ok {
                    p.op.value = Value::Array(done);
                }
                p.op.complete_index = Some(index);
                p.op.complete_time = Some(index);
                index += 1;
                if outcome == Outcome::Info {
                    // An indeterminate client continues as a new process (DESIGN.md).
                    procs[w] += PROCESSES;
                }
                ops.push(p.op);
            }
        }
    }
    ops.sort_unstable_by_key(|o| o.invoke_index);
    History {
        event_count: index,
        ops,
        nemesis: Vec::new(),
    }
}

fn peak_rss_mib() -> f64 {
    mib(faultline::procmem::peak_rss_bytes())
}

/// Resident memory now.
fn rss_mib() -> f64 {
    mib(faultline::procmem::rss_bytes())
}

/// Bytes as MiB (0 where /proc is unreadable).
fn mib(bytes: Option<u64>) -> f64 {
    bytes.map_or(0.0, |b| b as f64 / (1024.0 * 1024.0))
}

/// CPU seconds this process has used (all threads).
fn cpu_secs() -> f64 {
    faultline::procmem::cpu_secs().unwrap_or(0.0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

struct Row {
    name: String,
    model: ConsistencyModel,
    txns: usize,
    result: CheckResult,
    secs: f64,
    cpu: f64,
    rss: f64,
    /// The most the resident memory grew during one check (the checker's own allocation;
    /// the first run counts most, before the allocator holds on to freed memory).
    own: f64,
}

fn time(
    name: &str,
    workload: TxnWorkload,
    h: &History,
    model: ConsistencyModel,
    runs: usize,
) -> Row {
    let mut o = TxnOptions::new(workload);
    o.consistency_model = model;
    let mut times = Vec::new();
    let mut cpus = Vec::new();
    let mut last = None;
    let mut own: f64 = 0.0;
    for _ in 0..runs {
        drop(last.take());
        // Reset the peak (VmHWM) so that it measures this check alone (Linux >= 4.0).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let before = rss_mib();
        let t = Instant::now();
        let c = cpu_secs();
        let r = check(h, &o).expect("generated histories are well formed");
        times.push(t.elapsed().as_secs_f64());
        cpus.push(cpu_secs() - c);
        own = own.max(peak_rss_mib() - before);
        last = Some(r);
    }
    let result = last.expect("at least one run");
    Row {
        name: name.to_string(),
        model,
        txns: h.ops.len(),
        result,
        secs: median(times),
        cpu: median(cpus),
        rss: peak_rss_mib(),
        own,
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |g: &str| args.is_empty() || args.iter().any(|a| a == g);
    let mut rows = Vec::new();
    if want("elle") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/elle/huge-scc.edn");
        let (h, _, _) = read_history(&path, None).expect("the corpus file reads");
        rows.push(time(
            "elle huge-scc.edn",
            TxnWorkload::ListAppend,
            &h,
            ConsistencyModel::StrictSerializable,
            3,
        ));
    }
    let sizes = [("100k", 100_000usize, 5usize), ("1m", 1_000_000, 3)];
    let workloads = [
        ("la", TxnWorkload::ListAppend),
        ("rw", TxnWorkload::RwRegister),
    ];
    let want_size = |g: &str| !args.iter().any(|a| sizes.iter().any(|s| s.0 == a)) || want(g);
    let want_wl = |g: &str| !args.iter().any(|a| workloads.iter().any(|w| w.0 == a)) || want(g);
    for (wtag, workload) in workloads {
        if !want_wl(wtag) {
            continue;
        }
        for (tag, n, runs) in sizes {
            if !want_size(tag) {
                continue;
            }
            let t = Instant::now();
            let h = generate(n, 0x5eed_0000 + n as u64, workload);
            eprintln!(
                "generated {n} {} txns in {:.1} s",
                workload.name(),
                t.elapsed().as_secs_f64()
            );
            for model in [
                ConsistencyModel::StrictSerializable,
                ConsistencyModel::Serializable,
            ] {
                let row = time(
                    &format!("{} {tag}", workload.name()),
                    workload,
                    &h,
                    model,
                    runs,
                );
                assert_eq!(
                    row.result.valid,
                    Validity::Valid,
                    "{:?}",
                    row.result.anomalies.first()
                );
                rows.push(row);
            }
        }
    }
    println!(
        "| history | consistency model | txns | verdict | check, wall (median) | txns/s (wall) | CPU s (all threads) | txns per CPU s | peak RSS of the check (process) | checker's own (max peak - before) | phases, wall s (last run) |"
    );
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let phases = r
            .result
            .details
            .as_ref()
            .and_then(|d| d.get("phase-secs"))
            .and_then(|p| p.as_object())
            .map(|p| {
                p.iter()
                    .map(|(k, v)| format!("{k} {:.3}", v.as_f64().unwrap_or(0.0)))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        println!(
            "| {} | {} | {} | {} | {:.3} s | {:.0} | {:.2} | {:.0} | {:.0} MiB | {:.0} MiB | {phases} |",
            r.name,
            r.model,
            r.txns,
            r.result.valid,
            r.secs,
            r.txns as f64 / r.secs,
            r.cpu,
            r.txns as f64 / r.cpu.max(0.01),
            r.rss,
            r.own,
        );
    }
}
