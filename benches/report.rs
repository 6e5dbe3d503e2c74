//! `cargo bench --bench report`: times report.html generation for generated histories of
//! 10,000, 200,000 and 1,000,000 ops (with fault windows, fail/info ops and an anomaly citing
//! ops deep inside), and prints a table: render time (history in memory), the whole of
//! `faultline report` (read the stored run, render, write), the file's size, and how many ops
//! the timeline draws one by one. Medians of several runs, wall-clock and CPU time of the
//! rendering thread (they differ on a busy machine). Targets: 1,000,000 ops in under
//! 5 s, file under 40 MB. Pass sizes to run only some: `10k`, `200k`, `1m`.

use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use faultline::history::{Event, EventType, History, HistoryWriter, Op, Outcome, Process};
use faultline::report::data::CheckerView;
use faultline::report::{self, ReportOptions, RunFacts};
use faultline::rundir::{ResultsRecord, HISTORY_FILE, RESULTS_FILE, TEST_FILE};
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};

const PROCS: u64 = 50;

/// A cas-register-like history: `n` ops over 50 workers, about 5 % fail and 2 % info (the
/// worker then continues under a new process id), a partition every 10 s of 4 s.
fn generate(n: usize, seed: u64) -> History {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut ops = Vec::with_capacity(n);
    let mut free_at = vec![0u64; PROCS as usize];
    let mut proc_id: Vec<u64> = (0..PROCS).collect();
    let mut index = 0u64;
    let mut t = 0u64;
    for i in 0..n {
        let w = i % PROCS as usize;
        t += rng.random_range(10_000..30_000);
        let start = t.max(free_at[w]);
        let lat = rng.random_range(200_000..3_000_000u64);
        let roll: u32 = rng.random_range(0..100);
        let outcome = if roll < 5 {
            Outcome::Fail
        } else if roll < 7 {
            Outcome::Info
        } else {
            Outcome::Ok
        };
        let (f, iv, v) = match i % 3 {
            0 => ("read", Value::Null, json!(rng.random_range(0..5))),
            1 => {
                let x = json!(rng.random_range(0..5));
                ("write", x.clone(), x)
            }
            _ => {
                let x = json!([rng.random_range(0..5), rng.random_range(0..5)]);
                ("cas", x.clone(), x)
            }
        };
        ops.push(Op {
            process: proc_id[w],
            f: f.into(),
            key: None,
            invoke_value: iv,
            value: v,
            outcome,
            invoke_index: index,
            complete_index: Some(index + 1),
            invoke_time: start,
            complete_time: Some(start + lat),
            error: (outcome == Outcome::Fail).then(|| json!("timeout")),
            node: Some(format!("n{}", w % 5 + 1)),
        });
        index += 2;
        free_at[w] = start + lat;
        if outcome == Outcome::Info {
            proc_id[w] += PROCS;
        }
    }
    let end = ops
        .iter()
        .filter_map(|o| o.complete_time)
        .max()
        .unwrap_or(0);
    let mut nemesis = Vec::new();
    let mut s = 5_000_000_000u64;
    while s + 4_000_000_000 < end {
        for (time, f) in [
            (s, "start-partition"),
            (s + 4_000_000_000, "stop-partition"),
        ] {
            nemesis.push(Event {
                index: 0,
                time,
                process: Process::Nemesis,
                kind: EventType::Info,
                f: f.into(),
                key: None,
                value: if f == "start-partition" {
                    json!({"mode": "halves", "grudge": {"n1": ["n3", "n4"]}})
                } else {
                    Value::Null
                },
                node: None,
                error: None,
            });
        }
        s += 10_000_000_000;
    }
    History {
        event_count: 2 * n as u64 + nemesis.len() as u64,
        ops,
        nemesis,
    }
}

fn results_json(n: usize) -> Value {
    let deep: Vec<u64> = [n / 3, n / 2, n - 7]
        .iter()
        .map(|i| 2 * *i as u64)
        .collect();
    json!({
        "valid": false, "interrupted": false, "seed": 1,
        "checkers": [{
            "checker": "linearizability", "valid": false,
            "anomalies": [{"kind": "nonlinearizable", "ops": deep,
                           "explanation": "process 3 read 1, but the register held 2"}],
            "stats": {"ops": n, "elapsed_secs": 1.0}
        }]
    })
}

/// CPU seconds this thread has used (user + system, from /proc; 10 ms resolution). The bench
/// box is shared, so the table shows CPU time beside wall-clock time.
fn cpu_secs() -> f64 {
    faultline::procmem::thread_cpu_secs().unwrap_or(0.0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("times are finite"));
    xs[xs.len() / 2]
}

/// Writes a run directory the way the runner stores one (history with nemesis events in
/// time order).
fn store(dir: &Path, h: &History, n: usize) {
    let file = std::fs::File::create(dir.join(HISTORY_FILE)).expect("history file");
    let mut w = HistoryWriter::new(BufWriter::new(file));
    let mut events: Vec<Event> = h.events().collect();
    let mut nem = h.nemesis.clone();
    events.append(&mut nem);
    events.sort_by_key(|e| (e.time, e.index));
    for (i, e) in events.iter_mut().enumerate() {
        e.index = i as u64;
        w.write_event(e).expect("write event");
    }
    w.flush().expect("flush");
    std::fs::write(dir.join(RESULTS_FILE), results_json(n).to_string()).expect("results");
    std::fs::write(
        dir.join(TEST_FILE),
        json!({"name": "bench", "reproduce": "faultline test --seed 1", "config": {"seed": 1}})
            .to_string(),
    )
    .expect("test.json");
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let sizes: Vec<(&str, usize, usize)> = [
        ("10k", 10_000, 5),
        ("200k", 200_000, 3),
        ("1m", 1_000_000, 3),
    ]
    .into_iter()
    .filter(|(name, _, _)| args.is_empty() || args.iter().any(|a| a == name))
    .collect();
    println!(
        "{:>9} | {:>7} | {:>7} | {:>10} | {:>10} | {:>14} | {:>14} | {:>9}",
        "ops", "drawn", "blocks", "render (s)", "cpu (s)", "report cmd (s)", "cpu (s)", "file (MB)"
    );
    println!("{}", "-".repeat(104));
    for (_, n, runs) in sizes {
        let h = generate(n, 7);
        let results = ResultsRecord::<CheckerView>::parse(
            &results_json(n).to_string(),
            Path::new(RESULTS_FILE),
        )
        .expect("results");
        let facts = RunFacts::from_records(None, Some(&results));
        let opts = ReportOptions::default();
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut page = String::new();
        for _ in 0..runs {
            let (t, c) = (Instant::now(), cpu_secs());
            page = report::render(&facts, &h, &[], &opts);
            times.push(t.elapsed().as_secs_f64());
            cpu.push(cpu_secs() - c);
        }
        let render_s = median(times);
        let render_cpu = median(cpu);
        if std::env::var_os("REPORT_BENCH_PHASES").is_some() {
            phases(&h, &facts);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        store(dir.path(), &h, n);
        drop(h);
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..runs {
            let (t, c) = (Instant::now(), cpu_secs());
            let (facts, history) = report::load_run(dir.path()).expect("load the run");
            report::write_report(dir.path(), &facts, &history, &opts).expect("write");
            times.push(t.elapsed().as_secs_f64());
            cpu.push(cpu_secs() - c);
        }
        let cmd_s = median(times);
        let cmd_cpu = median(cpu);
        let size = std::fs::metadata(dir.path().join(report::REPORT_FILE))
            .expect("report written")
            .len();
        let data = data_of(&page);
        let drawn = data["timeline"]["kept_ops"].as_u64().unwrap_or(0);
        let blocks = data["timeline"]["agg"]["n"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        for idx in &results.checkers[0].anomalies[0].ops {
            let kept = data["timeline"]["ops"]["idx"]
                .as_array()
                .expect("idx")
                .contains(&json!(idx));
            assert!(kept, "anomaly op {idx} was dropped from the timeline");
        }
        println!(
            "{n:>9} | {drawn:>7} | {blocks:>7} | {render_s:>10.3} | {render_cpu:>10.2} | {cmd_s:>14.3} | {cmd_cpu:>14.2} | {:>9.2}",
            size as f64 / 1e6
        );
    }
}

/// Where the render time of `h` goes, phase by phase (CPU seconds of this thread are not
/// available portably, so wall-clock; run on an idle machine to read it as CPU cost).
fn phases(h: &History, facts: &RunFacts) {
    use faultline::report::{escape, faults, plots, timeline};
    let t = Instant::now();
    let end = timeline::history_end(h);
    let windows = faults::fault_windows(&h.nemesis, end);
    let t_faults = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let tl = timeline::build(h, &windows, &facts.evidence_ops(), &Default::default());
    let t_tl = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let json = serde_json::to_string(&tl).expect("serializable");
    let t_json = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let escaped = escape::json_for_script(&json);
    let t_esc = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let lat = plots::latency_svg(h, &windows, end);
    let t_lat = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let tp = plots::throughput_svg(h, &windows, end);
    let t_tp = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let av = plots::availability(h, &windows, end);
    let t_av = t.elapsed().as_secs_f64();
    println!(
        "  phases for {} ops: faults {t_faults:.3} s, timeline {t_tl:.3} s, json {t_json:.3} s ({:.1} MB), escape {t_esc:.3} s, latency svg {t_lat:.3} s ({:.1} MB), throughput svg {t_tp:.3} s ({} kB), availability {t_av:.3} s ({} rows)",
        h.ops.len(),
        escaped.len() as f64 / 1e6,
        lat.len() as f64 / 1e6,
        tp.len() / 1000,
        av.len()
    );
}

fn data_of(page: &str) -> Value {
    let marker = r#"id="faultline-data">"#;
    let start = page
        .find(marker)
        .map(|i| i + marker.len())
        .expect("data block");
    let len = page[start..]
        .find("</script>")
        .expect("end of the data block");
    serde_json::from_str(&page[start..start + len]).expect("the data block is JSON")
}
