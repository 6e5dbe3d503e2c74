//! `cargo bench --bench report`: times report.html generation for generated histories of
//! 10,000, 200,000 and 1,000,000 ops (with fault windows, fail/info ops and an anomaly citing
//! ops deep inside), and prints a table: render time (history in memory), the whole of
//! `faultline report` (read the stored run, render, write), the file's size, and how many ops
//! the timeline draws one by one. Medians of several runs. Targets: 1,000,000 ops in under
//! 5 s, file under 40 MB. Pass sizes to run only some: `10k`, `200k`, `1m`.

use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use faultline::history::{Event, EventType, History, HistoryWriter, Op, Outcome, Process};
use faultline::report::{self, ReportOptions, RunFacts};
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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("times are finite"));
    xs[xs.len() / 2]
}

/// Writes a run directory the way the runner stores one (history with nemesis events in
/// time order).
fn store(dir: &Path, h: &History, n: usize) {
    let file = std::fs::File::create(dir.join("history.jsonl")).expect("history file");
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
    std::fs::write(dir.join("results.json"), results_json(n).to_string()).expect("results");
    std::fs::write(
        dir.join("test.json"),
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
        "{:>9} | {:>7} | {:>7} | {:>10} | {:>18} | {:>9}",
        "ops", "drawn", "blocks", "render (s)", "report cmd (s)", "file (MB)"
    );
    println!("{}", "-".repeat(76));
    for (_, n, runs) in sizes {
        let h = generate(n, 7);
        let facts = RunFacts::from_run_json("bench", None, &results_json(n)).expect("facts");
        let opts = ReportOptions::default();
        let mut times = Vec::new();
        let mut page = String::new();
        for _ in 0..runs {
            let t = Instant::now();
            page = report::render(&facts, &h, &[], &opts);
            times.push(t.elapsed().as_secs_f64());
        }
        let render_s = median(times);
        let dir = tempfile::tempdir().expect("temp dir");
        store(dir.path(), &h, n);
        drop(h);
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let (facts, history) = report::load_run(dir.path()).expect("load the run");
            report::write_report(dir.path(), &facts, &history, &opts).expect("write");
            times.push(t.elapsed().as_secs_f64());
        }
        let cmd_s = median(times);
        let size = std::fs::metadata(dir.path().join(report::REPORT_FILE))
            .expect("report written")
            .len();
        let data = data_of(&page);
        let drawn = data["timeline"]["kept_ops"].as_u64().unwrap_or(0);
        let blocks = data["timeline"]["agg"]["n"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        for idx in results_json(n)["checkers"][0]["anomalies"][0]["ops"]
            .as_array()
            .expect("ops")
        {
            let kept = data["timeline"]["ops"]["idx"]
                .as_array()
                .expect("idx")
                .contains(idx);
            assert!(kept, "anomaly op {idx} was dropped from the timeline");
        }
        println!(
            "{n:>9} | {drawn:>7} | {blocks:>7} | {render_s:>10.3} | {cmd_s:>18.3} | {:>9.2}",
            size as f64 / 1e6
        );
    }
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
