//! `cargo bench --bench scale`: checking at scale, end to end through the real binary. It
//! generates big JSONL histories (streamed to disk, never held in memory here), runs
//! `faultline check --json` on each as a child process, and prints wall time, the checker's
//! own read and check phases, peak resident memory and bytes per op.
//!
//! Cases (pass names to run only some; default all):
//! - `register-10m`: 10M register ops, 1,000 keys, 64 processes, ~5% indeterminate, valid;
//!   `register-10m-bad` the same with one read of a value never written.
//! - `register-seq-10m`: 10M register ops over 10,000 keys used in turn, as Jepsen's
//!   `independent` generator uses them (8 keys live at a time; a key gets its ops, about
//!   1,000, then is never used again), 64 processes, ~5% indeterminate; `-bad` plants a read
//!   of a value never written. Every register case is checked twice, with checking while
//!   reading on and off (`FAULTLINE_STREAM_CHECK=0`), side by side.
//! - `append-10m`, `append-22m`: list-append transactions (4 micro-ops, strict-serializable),
//!   valid; `append-10m-bad`, `append-22m-bad` with one stale read planted (a read that misses
//!   an append that completed before the read began: a realtime cycle).
//!
//! `FAULTLINE_SCALE_DIVIDE=N` divides every size by N (a quick look on a small machine);
//! `FAULTLINE_SCALE_CEILING_GIB` (default 20) kills a check whose memory passes it, reported
//! as over the ceiling rather than taking the machine down. Files go to
//! `target/scale-bench/` and are removed after each case unless `FAULTLINE_SCALE_KEEP=1`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A seeded splitmix64 stream.
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

/// Writes history events as JSONL lines, numbering them.
struct Events {
    out: BufWriter<File>,
    index: u64,
}

impl Events {
    fn create(path: &Path) -> Events {
        let file = File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Events {
            out: BufWriter::with_capacity(1 << 20, file),
            index: 0,
        }
    }

    /// One event; `key` and `value` are JSON text already.
    fn event(&mut self, process: u64, kind: &str, f: &str, key: Option<u64>, value: &str) {
        let i = self.index;
        self.index += 1;
        let r = match key {
            Some(k) => writeln!(
                self.out,
                r#"{{"index":{i},"time":{t},"process":{process},"type":"{kind}","f":"{f}","key":{k},"value":{value}}}"#,
                t = i * 1000
            ),
            None => writeln!(
                self.out,
                r#"{{"index":{i},"time":{t},"process":{process},"type":"{kind}","f":"{f}","value":{value}}}"#,
                t = i * 1000
            ),
        };
        r.expect("writing the history");
    }

    fn finish(mut self) {
        self.out.flush().expect("flushing the history");
    }
}

/// An open register op: its function, key and argument, and whether it took effect.
struct RegisterOp {
    f: &'static str,
    key: u64,
    arg: String,
    result: Option<String>,
    applied: bool,
    failed: bool,
}

/// `ops` register ops over `keys` keys by `procs` processes, simulated against a
/// linearizable store (each op takes effect at one moment inside its interval; ~2.5% crash
/// before and ~2.5% after taking effect, both recorded as `info`). With `plant`, the first
/// read completing after half the ops returns a value never written.
fn register_history(path: &Path, ops: usize, keys: u64, procs: usize, plant: bool, seq: bool) {
    let mut rng = Rng(0x5eed);
    let mut ev = Events::create(path);
    let mut store = vec![0u64; keys as usize];
    let mut open: Vec<Option<RegisterOp>> = (0..procs).map(|_| None).collect();
    let mut pids: Vec<u64> = (0..procs as u64).collect();
    let mut next_pid = procs as u64;
    let (mut started, mut value, mut planted) = (0usize, 0u64, !plant);
    let show = |v: u64| {
        if v == 0 {
            "null".to_string()
        } else {
            v.to_string()
        }
    };
    while started < ops || open.iter().any(Option::is_some) {
        let p = rng.below(procs as u64) as usize;
        match open[p].take() {
            None if started < ops => {
                started += 1;
                let key = if seq {
                    // Keys in turn: 8 live at a time, each used for about ops/keys ops.
                    let base = (started as u64 * keys / ops as u64).min(keys - 8);
                    base + rng.below(8)
                } else {
                    rng.below(keys)
                };
                let roll = rng.below(10);
                let (f, arg) = if roll < 5 {
                    ("read", "null".to_string())
                } else if roll < 8 {
                    value += 1;
                    ("write", value.to_string())
                } else {
                    value += 1;
                    let from = if rng.below(2) == 0 {
                        store[key as usize]
                    } else {
                        rng.below(value)
                    };
                    ("cas", format!("[{},{value}]", show(from)))
                };
                ev.event(pids[p], "invoke", f, Some(key), &arg);
                open[p] = Some(RegisterOp {
                    f,
                    key,
                    arg,
                    result: None,
                    applied: false,
                    failed: false,
                });
            }
            None => {}
            Some(mut op) if !op.applied => {
                if rng.below(40) == 0 {
                    // Crashed before taking effect.
                    ev.event(pids[p], "info", op.f, Some(op.key), &op.arg);
                    pids[p] = next_pid;
                    next_pid += 1;
                    continue;
                }
                let slot = &mut store[op.key as usize];
                match op.f {
                    "read" => {
                        op.result = Some(if !planted && started > ops / 2 {
                            planted = true;
                            // Never written: write values count up from 1.
                            (u64::MAX / 2).to_string()
                        } else {
                            show(*slot)
                        })
                    }
                    "write" => *slot = op.arg.parse().expect("generated write value"),
                    _ => {
                        let inner = &op.arg[1..op.arg.len() - 1];
                        let (from, to) = inner.split_once(',').expect("generated cas");
                        if show(*slot) == from {
                            *slot = to.parse().expect("generated cas value");
                        } else {
                            op.failed = true;
                        }
                    }
                }
                op.applied = true;
                open[p] = Some(op);
            }
            Some(op) => {
                if rng.below(40) == 0 {
                    ev.event(pids[p], "info", op.f, Some(op.key), &op.arg);
                    pids[p] = next_pid;
                    next_pid += 1;
                } else if op.failed {
                    ev.event(pids[p], "fail", op.f, Some(op.key), &op.arg);
                } else {
                    let v = op.result.as_deref().unwrap_or(&op.arg);
                    ev.event(pids[p], "ok", op.f, Some(op.key), v);
                }
            }
        }
    }
    ev.finish();
}

/// Processes, micro-ops per transaction, live keys and appends per key of the list-append
/// histories (as in the txn bench).
const TXN_PROCS: u64 = 50;
const MOPS: usize = 4;
const LIVE_KEYS: u64 = 20;
const APPENDS_PER_KEY: u64 = 16;

/// A generated micro-op: (append?, key, element appended).
type MicroOp = (bool, u64, u64);

/// `txns` list-append transactions simulated against a serializable store that applies each
/// at its completion (1% fail, 0.5% info). With `plant`, one read (in the first eligible
/// transaction after half of them) misses the key's last append although that append's
/// transaction completed before this one was invoked: a stale read, a realtime cycle.
fn append_history(path: &Path, txns: usize, plant: bool) {
    let mut rng = Rng(0xa99e4d);
    let mut ev = Events::create(path);
    let mut lists: HashMap<u64, Vec<u64>> = HashMap::new();
    // Per key: the event index at which the transaction of its last append completed.
    let mut last_append_done: HashMap<u64, u64> = HashMap::new();
    let mut appends: HashMap<u64, u64> = HashMap::new();
    let mut live: Vec<u64> = (0..LIVE_KEYS).collect();
    let (mut next_key, mut next_elem) = (LIVE_KEYS, 1u64);
    let mut procs: Vec<u64> = (0..TXN_PROCS).collect();
    // Per process: its open transaction's micro-ops and invoke event index.
    let mut busy: Vec<Option<(Vec<MicroOp>, u64)>> = (0..TXN_PROCS).map(|_| None).collect();
    let (mut invoked, mut planted) = (0usize, !plant);
    let mops_text = |m: &[MicroOp], reads: Option<&[String]>| {
        let parts: Vec<String> = m
            .iter()
            .enumerate()
            .map(|(i, &(append, k, e))| match (append, reads) {
                (true, _) => format!(r#"["append",{k},{e}]"#),
                (false, None) => format!(r#"["r",{k},null]"#),
                (false, Some(r)) => format!(r#"["r",{k},{}]"#, r[i]),
            })
            .collect();
        format!("[{}]", parts.join(","))
    };
    while invoked < txns || busy.iter().any(Option::is_some) {
        let w = rng.below(TXN_PROCS) as usize;
        match busy[w].take() {
            None if invoked < txns => {
                let mut mops = Vec::with_capacity(MOPS);
                for _ in 0..MOPS {
                    let k = live[rng.below(LIVE_KEYS) as usize];
                    if rng.below(2) == 0 {
                        mops.push((true, k, next_elem));
                        next_elem += 1;
                        let n = appends.entry(k).or_insert(0);
                        *n += 1;
                        if *n >= APPENDS_PER_KEY {
                            if let Some(slot) = live.iter().position(|&x| x == k) {
                                live[slot] = next_key;
                                next_key += 1;
                            }
                        }
                    } else {
                        mops.push((false, k, 0));
                    }
                }
                let at = ev.index;
                ev.event(procs[w], "invoke", "txn", None, &mops_text(&mops, None));
                busy[w] = Some((mops, at));
                invoked += 1;
            }
            None => {}
            Some((mops, invoked_at)) => {
                let roll = rng.below(1000);
                let (kind, applies) = match roll {
                    0..=9 => ("fail", false),
                    10..=14 => ("info", roll.is_multiple_of(2)),
                    _ => ("ok", true),
                };
                let done_at = ev.index;
                let mut reads = Vec::with_capacity(MOPS);
                // The key whose reads in this transaction miss its last append, once planted.
                let mut stale_key = None;
                for &(append, k, e) in &mops {
                    if append {
                        reads.push(String::new());
                        if applies {
                            lists.entry(k).or_default().push(e);
                            last_append_done.insert(k, done_at);
                        }
                        continue;
                    }
                    let mut seen: &[u64] = lists.get(&k).map_or(&[], Vec::as_slice);
                    let eligible = !planted
                        && kind == "ok"
                        && invoked > txns / 2
                        && !seen.is_empty()
                        && last_append_done.get(&k).is_some_and(|&d| d < invoked_at)
                        && !mops.iter().any(|&(a, k2, _)| a && k2 == k);
                    if eligible {
                        planted = true;
                        stale_key = Some(k);
                    }
                    if stale_key == Some(k) {
                        seen = &seen[..seen.len() - 1];
                    }
                    let items: Vec<String> = seen.iter().map(u64::to_string).collect();
                    reads.push(format!("[{}]", items.join(",")));
                }
                let text = if kind == "ok" {
                    mops_text(&mops, Some(&reads))
                } else {
                    mops_text(&mops, None)
                };
                ev.event(procs[w], kind, "txn", None, &text);
                if kind == "info" {
                    // An indeterminate client continues as a new process.
                    procs[w] += TXN_PROCS;
                }
            }
        }
    }
    assert!(
        planted,
        "no transaction was eligible for the planted stale read"
    );
    ev.finish();
}

/// One case of the bench.
struct Case {
    name: &'static str,
    ops: usize,
    kind: Kind,
    plant: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Register,
    RegisterSeq,
    Append,
}

/// What one check printed and cost.
struct Row {
    name: &'static str,
    /// Checking while reading: `on`, `off`, or `-` (not a linearizability case).
    stream: &'static str,
    /// Keys decided while reading (`keys_decided_while_reading`).
    decided: Option<u64>,
    ops: usize,
    expected: &'static str,
    verdict: String,
    /// The kinds of the anomalies found, e.g. `G-single-item-realtime`.
    anomalies: String,
    wall: f64,
    parse: Option<f64>,
    check: Option<f64>,
    peak: Option<u64>,
    file_bytes: u64,
    generate: f64,
}

fn cases() -> Vec<Case> {
    let c = |name, ops, kind, plant| Case {
        name,
        ops,
        kind,
        plant,
    };
    vec![
        c("register-10m", 10_000_000, Kind::Register, false),
        c("register-10m-bad", 10_000_000, Kind::Register, true),
        c("register-seq-10m", 10_000_000, Kind::RegisterSeq, false),
        c("register-seq-10m-bad", 10_000_000, Kind::RegisterSeq, true),
        c("append-10m", 10_000_000, Kind::Append, false),
        c("append-10m-bad", 10_000_000, Kind::Append, true),
        c("append-22m", 22_000_000, Kind::Append, false),
        c("append-22m-bad", 22_000_000, Kind::Append, true),
    ]
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The faultline binary beside this bench (`target/release/faultline`).
fn faultline_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/release/deps/..");
    let bin = dir.join("faultline");
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release first",
        bin.display()
    );
    bin
}

/// Resident memory of a live process, from /proc/PID/status.
fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

/// Runs `faultline check --json` on `file`, killing it if its memory passes `ceiling`.
/// Returns (wall seconds, the JSON printed or None when it was killed).
fn check(bin: &Path, file: &Path, kind: Kind, stream: bool, ceiling: u64) -> (f64, Option<Value>) {
    let mut cmd = Command::new(bin);
    cmd.arg("check").arg("--json");
    if !stream {
        cmd.env("FAULTLINE_STREAM_CHECK", "0");
    }
    match kind {
        Kind::Register | Kind::RegisterSeq => cmd.args(["--model", "cas-register"]),
        Kind::Append => cmd.args([
            "--model",
            "list-append",
            "--consistency-model",
            "strict-serializable",
        ]),
    };
    cmd.arg(file).stdout(Stdio::piped()).stderr(Stdio::null());
    let started = Instant::now();
    let child = cmd.spawn().expect("faultline check starts");
    let pid = child.id();
    let (killed, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let watchdog = {
        let (killed, done) = (killed.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = rss_of(pid) {
                    if rss > ceiling {
                        killed.store(true, Ordering::Relaxed);
                        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                        return;
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let out = child.wait_with_output().expect("faultline check ends");
    let wall = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    if killed.load(Ordering::Relaxed) {
        return (wall, None);
    }
    (wall, serde_json::from_slice(&out.stdout).ok())
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let divide = env_u64("FAULTLINE_SCALE_DIVIDE", 1).max(1) as usize;
    let ceiling = env_u64("FAULTLINE_SCALE_CEILING_GIB", 20) << 30;
    let keep = std::env::var("FAULTLINE_SCALE_KEEP").is_ok_and(|v| v == "1");
    let bin = faultline_bin();
    let dir = bin
        .parent()
        .and_then(Path::parent)
        .expect("target/")
        .join("scale-bench");
    std::fs::create_dir_all(&dir).expect("target/scale-bench");
    let mut rows = Vec::new();
    for case in cases() {
        if !wanted.is_empty() && !wanted.iter().any(|w| case.name.contains(w.as_str())) {
            continue;
        }
        let ops = case.ops / divide;
        let file = dir.join(format!("{}-{ops}.jsonl", case.name));
        let t = Instant::now();
        match case.kind {
            Kind::Register => register_history(&file, ops, 1_000, 64, case.plant, false),
            Kind::RegisterSeq => register_history(&file, ops, 10_000, 64, case.plant, true),
            Kind::Append => append_history(&file, ops, case.plant),
        }
        let generate = t.elapsed().as_secs_f64();
        let file_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let modes: &[(bool, &'static str)] = if case.kind == Kind::Append {
            &[(true, "-")]
        } else {
            &[(true, "on"), (false, "off")]
        };
        for &(stream, stream_name) in modes {
            let (wall, json) = check(&bin, &file, case.kind, stream, ceiling);
            let f = json.as_ref().map(|j| &j["files"][0]);
            let row = Row {
                name: case.name,
                stream: stream_name,
                decided: f.and_then(|f| f["keys_decided_while_reading"].as_u64()),
                ops,
                expected: if case.plant { "false" } else { "true" },
                verdict: match &json {
                    None => format!("killed over {} GiB", ceiling >> 30),
                    Some(j) => j["valid"].to_string(),
                },
                anomalies: f
                    .and_then(|f| f["result"]["anomalies"].as_array())
                    .map(|a| {
                        let kinds: Vec<String> = a
                            .iter()
                            .map(|x| {
                                let kind = x["kind"].as_str().unwrap_or("?");
                                match &x["key"] {
                                    Value::Null => kind.to_string(),
                                    k => format!("{kind}@{k}"),
                                }
                            })
                            .collect();
                        kinds.join(",")
                    })
                    .filter(|k| !k.is_empty())
                    .unwrap_or_else(|| "-".into()),
                wall,
                parse: f.and_then(|f| f["parse_secs"].as_f64()),
                check: f.and_then(|f| f["check_secs"].as_f64()),
                peak: json.as_ref().and_then(|j| j["peak_rss_bytes"].as_u64()),
                file_bytes,
                generate,
            };
            eprintln!(
                "{} (stream {}): {} in {:.1} s (generated {:.1} s)",
                row.name, row.stream, row.verdict, row.wall, row.generate
            );
            rows.push(row);
        }
        if !keep {
            let _ = std::fs::remove_file(&file);
        }
    }
    println!(
        "\n{:<22} {:>6} {:>11} {:>9} {:>22} {:>8} {:>8} {:>8} {:>10} {:>8} {:>9} {:>8}",
        "case",
        "stream",
        "ops",
        "expected",
        "verdict",
        "wall s",
        "read s",
        "check s",
        "peak MiB",
        "B/op",
        "file MiB",
        "decided"
    );
    let secs = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{s:.1}"));
    for r in &rows {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        println!(
            "{:<22} {:>6} {:>11} {:>9} {:>22} {:>8.1} {:>8} {:>8} {:>10} {:>8} {:>9.0} {:>8}  {}",
            r.name,
            r.stream,
            r.ops,
            r.expected,
            r.verdict,
            r.wall,
            secs(r.parse),
            secs(r.check),
            r.peak.map_or("-".into(), |p| format!("{:.0}", mib(p))),
            r.peak
                .map_or("-".into(), |p| format!("{:.0}", p as f64 / r.ops as f64)),
            mib(r.file_bytes),
            r.decided.map_or("-".into(), |d| d.to_string()),
            r.anomalies,
        );
    }
}
