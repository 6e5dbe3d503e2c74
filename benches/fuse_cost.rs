//! What faultline's power-loss filesystem (`faultline::powerfs`, FUSE) costs: fsync'd
//! appends through a mount against the same appends on the plain directory beside it, and a
//! raftkv cluster's write throughput with its data dirs on the mounts against without.
//! Medians of a few repetitions, printed as a table. powerfs models durability and never
//! fsyncs its backing files, so an fsync through it costs a FUSE round trip, not a disk
//! flush: fsync-bound programs run faster on it, everything else pays the round trip.
//!
//! `cargo bench --bench fuse_cost` (needs root and /dev/fuse; `cargo build --release
//! --workspace` first, for the raftkv and faultline binaries). `FUSE_COST_RUNS` sets the
//! number of raftkv runs per side (default 3), `FUSE_COST_SECONDS` their length (default 8).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use faultline::powerfs::{check_available, PowerFs};

const APPEND: usize = 4096;
const APPENDS: usize = 400;
const REPEATS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// 4 KiB appends per second into a new file in `dir`, each followed by an fdatasync when
/// `sync`.
fn appends_per_second(dir: &Path, round: usize, sync: bool) -> f64 {
    let path = dir.join(format!("log{round}"));
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open the log");
    let block = vec![0x5a; APPEND];
    let start = Instant::now();
    for _ in 0..APPENDS {
        f.write_all(&block).expect("append");
        if sync {
            f.sync_data().expect("fdatasync");
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    APPENDS as f64 / secs
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn faultline_bin() -> PathBuf {
    let here = std::env::current_exe().expect("bench path");
    // target/release/deps/fuse_cost-HASH → target/release/faultline
    here.parent()
        .and_then(Path::parent)
        .map(|d| d.join("faultline"))
        .expect("target dir")
}

/// Client ops acknowledged per second in one `faultline test` run of raftkv (register
/// workload, no rate limit), or `None` when the run failed.
fn raftkv_ok_per_second(nemesis: &str, results: &Path, seconds: u64) -> Option<f64> {
    let out = Command::new(faultline_bin())
        .args([
            "test",
            "--nodes",
            "3",
            "--workload",
            "register",
            "--rate",
            "0",
            "--concurrency",
            "10",
            "--seed",
            "1",
            "--time-limit",
            &seconds.to_string(),
            "--nemesis",
            nemesis,
            "--results",
        ])
        .arg(results)
        .env("FAULTLINE_NO_PROGRESS", "1")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "N client ops: K ok, ..."
    let line = text.lines().find(|l| l.contains(" client ops: "))?;
    let ok: f64 = line
        .split(" client ops: ")
        .nth(1)?
        .split(" ok")
        .next()?
        .trim()
        .parse()
        .ok()?;
    Some(ok / seconds as f64)
}

fn main() {
    if let Err(why) = check_available() {
        println!("fuse_cost: skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");
    let plain = tmp.path().join("plain");
    let mounted = tmp.path().join("mounted");
    std::fs::create_dir(&plain).expect("plain dir");
    std::fs::create_dir(&mounted).expect("mount dir");
    let mut fs = PowerFs::mount(&mounted).expect("mount");
    let rate = |dir: &Path, sync: bool| {
        median(
            (0..REPEATS)
                .map(|r| appends_per_second(dir, r, sync))
                .collect(),
        )
    };
    let (direct, fused) = (rate(&plain, true), rate(&mounted, true));
    let (direct_nosync, fused_nosync) = (rate(&plain, false), rate(&mounted, false));
    fs.unmount().expect("unmount");

    let runs = env_or("FUSE_COST_RUNS", 3);
    let seconds = env_or("FUSE_COST_SECONDS", 8);
    // A power-loss schedule whose first fault never comes within the run: the mounts are
    // there, no node loses power.
    let quiet = tmp.path().join("mounted-no-faults.toml");
    std::fs::write(
        &quiet,
        "description = \"power-loss mounts, no fault within the run\"\ninterval = 3600\n\n[[fault]]\nkind = \"power-loss\"\ntarget = \"one\"\n",
    )
    .expect("nemesis file");
    let results = tmp.path().join("results");
    let side = |nemesis: &str| -> Option<f64> {
        let got: Vec<f64> = (0..runs)
            .filter_map(|_| raftkv_ok_per_second(nemesis, &results, seconds))
            .collect();
        (!got.is_empty()).then(|| median(got))
    };
    let raft_plain = side("none");
    let raft_fused = side(&quiet.display().to_string());

    let ratio = |a: f64, b: f64| format!("{:.2}x", b / a);
    let show = |v: Option<f64>| v.map_or("failed".to_string(), |v| format!("{v:.0}"));
    println!("fuse_cost (medians)");
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "measure", "direct", "powerfs", "ratio"
    );
    println!(
        "{:<44} {:>12.0} {:>12.0} {:>8}",
        format!("4 KiB append + fdatasync /s ({APPENDS} x {REPEATS})"),
        direct,
        fused,
        ratio(direct, fused)
    );
    println!(
        "{:<44} {:>12.0} {:>12.0} {:>8}",
        format!("4 KiB append, no fsync /s ({APPENDS} x {REPEATS})"),
        direct_nosync,
        fused_nosync,
        ratio(direct_nosync, fused_nosync)
    );
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        format!("raftkv 3 nodes, register, ok ops/s ({runs} x {seconds} s)"),
        show(raft_plain),
        show(raft_fused),
        match (raft_plain, raft_fused) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => "-".into(),
        }
    );
}
