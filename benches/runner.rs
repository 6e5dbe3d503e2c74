//! How many ops per second the runner itself can record, so the harness is never the
//! bottleneck of a test: 64 workers against an in-process target (a register map that answers
//! at once), the real generator (cas-register workload), interpreter and history recorder
//! streaming to a file. Prints a table; `cargo bench --bench runner`.
//!
//! Target (issue 4): at least 100,000 ops/s with bounded memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::watch;

use faultline::client::{Client, Completion, Invocation};
use faultline::generator::{time_limit, Context, Driver};
use faultline::history::Outcome;
use faultline::runner::interpreter::Interpreter;
use faultline::runner::recorder::Recorder;
use faultline::workload::WorkloadSpec;

/// A linearizable in-memory register map shared by every client: answers immediately.
#[derive(Clone, Default)]
struct InMemory(Arc<Mutex<HashMap<String, Value>>>);

struct MemClient(InMemory);

#[async_trait]
impl Client for MemClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        let (outcome, value) = self.apply(op);
        // Yield like a real network client would, so workers interleave.
        tokio::task::yield_now().await;
        Completion {
            outcome,
            value,
            error: None,
            node: Some("mem".into()),
        }
    }
}

impl MemClient {
    fn apply(&self, op: &Invocation) -> (Outcome, Value) {
        let key = op.key.as_ref().map(|k| k.to_string()).unwrap_or_default();
        let mut map = match (self.0).0.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        match op.f.as_str() {
            "read" => (Outcome::Ok, map.get(&key).cloned().unwrap_or(Value::Null)),
            "write" => {
                map.insert(key, op.value.clone());
                (Outcome::Ok, op.value.clone())
            }
            "cas" => {
                let current = map.get(&key).cloned().unwrap_or(Value::Null);
                if Some(&current) == op.value.get(0) {
                    map.insert(key, op.value.get(1).cloned().unwrap_or(Value::Null));
                    (Outcome::Ok, op.value.clone())
                } else {
                    (Outcome::Fail, op.value.clone())
                }
            }
            _ => (Outcome::Fail, op.value.clone()),
        }
    }
}

fn peak_rss_mib() -> Option<f64> {
    faultline::procmem::peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0))
}

fn run_once(workers: usize, secs: u64, dir: &std::path::Path) -> (u64, f64) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let spec = WorkloadSpec::load("cas-register").expect("builtin workload");
        let gens = spec.generators(1);
        let store = InMemory::default();
        let clients: Vec<Box<dyn Client>> = (0..workers)
            .map(|_| Box::new(MemClient(store.clone())) as Box<dyn Client>)
            .collect();
        let started = Instant::now();
        let mut interpreter = Interpreter::start(started, clients, None);
        let mut driver = Driver::new(
            Box::new(time_limit(Duration::from_secs(secs), gens.client)),
            Context::new(workers, 1),
        );
        let mut recorder = Recorder::create(&dir.join("history.jsonl")).expect("history file");
        let (_tx, rx) = watch::channel(false);
        interpreter
            .run(&mut driver, &mut recorder, rx, |_, _| {})
            .await
            .expect("run");
        let elapsed = started.elapsed().as_secs_f64();
        interpreter.shutdown(Duration::from_secs(1)).await;
        (recorder.counts().invoked, elapsed)
    })
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().expect("temp dir");
    println!("runner throughput: in-process target, cas-register workload, {secs} s per run\n");
    println!(
        "{:>8} {:>12} {:>10} {:>14}",
        "workers", "ops", "seconds", "ops/s"
    );
    let mut rates = Vec::new();
    for _ in 0..3 {
        let (ops, elapsed) = run_once(64, secs, dir.path());
        let rate = ops as f64 / elapsed;
        rates.push(rate);
        println!("{:>8} {:>12} {:>10.2} {:>14.0}", 64, ops, elapsed, rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "\nmedian: {:.0} ops/s recorded with 64 workers (target >= 100000); peak RSS {:.1} MiB",
        rates[1],
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
