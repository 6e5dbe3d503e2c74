//! Every reference history in tests/corpus gets the verdict its EXPECTED.md states.
//!
//! Porcupine: the etcd logs with the etcd model, the kv logs with the kv model (each key a
//! string register starting at ""), by key and as one map. Knossos: the good/bad folder label,
//! with Knossos's rules (cas-register from 0 with nil reads matching anything, multi-register
//! from {x:0, y:0}, the mutex unlocked).

use faultline::checker::{check, LinearizabilityOptions, ModelKind, ModelOptions, Validity};
use faultline::history::{jepsen::read_edn, porcupine, CompactHistory, History};
use serde_json::json;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// (file relative to the porcupine folder, expected validity) from EXPECTED.md's tables.
fn porcupine_expectations() -> Vec<(String, Validity)> {
    let text =
        std::fs::read_to_string(corpus().join("porcupine/EXPECTED.md")).expect("EXPECTED.md");
    let mut out = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 6 || !(cells[1].starts_with("jepsen/") || cells[1].starts_with("kv/")) {
            continue;
        }
        let expected = cells.iter().find_map(|c| match *c {
            "not linearizable" => Some(Validity::Invalid),
            "**linearizable**" => Some(Validity::Valid),
            _ => None,
        });
        match expected {
            Some(v) => out.push((cells[1].to_string(), v)),
            None => assert!(
                cells[1].ends_with("etcd_095.log"),
                "no verdict for {}",
                cells[1]
            ),
        }
    }
    out
}

fn read(
    path: &Path,
    reader: fn(BufReader<File>, &str) -> Result<History, faultline::history::HistoryError>,
) -> History {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader(BufReader::new(f), &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

fn verdict(h: &History, model: ModelKind, mo: ModelOptions, partition: bool) -> Validity {
    let o = LinearizabilityOptions {
        model,
        model_options: mo,
        partition,
        deadline: Some(Instant::now() + Duration::from_secs(120)),
        ..Default::default()
    };
    let full = check(h, &o).expect("corpus history suits its model");
    // The compact history (what `faultline check` keeps for JSONL) gives the same verdict
    // and the same anomalies.
    let compact = faultline::checker::linear::check_compact(&CompactHistory::from_history(h), &o)
        .expect("corpus history suits its model");
    if full.valid != Validity::Unknown {
        assert_eq!(compact.valid, full.valid);
        // Kinds and keys: the core shrinking is time-boxed, so its ops may differ.
        let what =
            |r: &faultline::checker::CheckResult| -> Vec<(String, Option<serde_json::Value>)> {
                r.anomalies
                    .iter()
                    .map(|a| (a.kind.clone(), a.key.clone()))
                    .collect()
            };
        assert_eq!(what(&compact), what(&full));
    }
    full.valid
}

#[test]
fn porcupine_etcd_logs_get_their_expected_verdicts() {
    let expected = porcupine_expectations();
    let etcd: Vec<_> = expected
        .iter()
        .filter(|(f, _)| f.starts_with("jepsen/"))
        .collect();
    assert_eq!(etcd.len(), 102);
    assert_eq!(
        etcd.iter().filter(|(_, v)| *v == Validity::Valid).count(),
        23
    );
    for (file, want) in etcd {
        let h = read(&corpus().join("porcupine").join(file), porcupine::read_etcd);
        assert_eq!(
            verdict(&h, ModelKind::Etcd, ModelOptions::default(), true),
            *want,
            "{file}"
        );
    }
    // The empty log has nothing to linearize.
    let h = read(
        &corpus().join("porcupine/jepsen/etcd_095.log"),
        porcupine::read_etcd,
    );
    assert_eq!(
        verdict(&h, ModelKind::Etcd, ModelOptions::default(), true),
        Validity::Valid
    );
}

#[test]
fn porcupine_etcd_verdicts_hold_under_knossos_semantics_too() {
    // EXPECTED.md: a failed cas dropped and nil reads as wildcards change no verdict.
    let mo = ModelOptions {
        initial: serde_json::Value::Null,
        nil_reads_match_any: true,
    };
    for (file, want) in porcupine_expectations()
        .iter()
        .filter(|(f, _)| f.starts_with("jepsen/"))
    {
        let h = read(&corpus().join("porcupine").join(file), porcupine::read_etcd);
        assert_eq!(
            verdict(&h, ModelKind::CasRegister, mo.clone(), true),
            *want,
            "{file}"
        );
    }
}

fn kv_options() -> ModelOptions {
    ModelOptions {
        initial: json!(""),
        nil_reads_match_any: false,
    }
}

#[test]
fn porcupine_kv_logs_get_their_expected_verdicts_by_key() {
    let kv: Vec<_> = porcupine_expectations()
        .into_iter()
        .filter(|(f, _)| f.starts_with("kv/"))
        .collect();
    assert_eq!(kv.len(), 6);
    for (file, want) in kv {
        let h = read(&corpus().join("porcupine").join(&file), porcupine::read_kv);
        assert_eq!(
            verdict(&h, ModelKind::Kv, kv_options(), true),
            want,
            "{file}"
        );
    }
}

#[test]
fn porcupine_kv_logs_get_their_expected_verdicts_as_one_map() {
    // Porcupine's NoPartition tests cover c01 and c10; c50 as one map is a benchmark.
    for (file, want) in porcupine_expectations()
        .into_iter()
        .filter(|(f, _)| f.starts_with("kv/c01") || f.starts_with("kv/c10"))
    {
        let h = read(&corpus().join("porcupine").join(&file), porcupine::read_kv);
        assert_eq!(
            verdict(&h, ModelKind::Kv, kv_options(), false),
            want,
            "{file} unpartitioned"
        );
    }
}

fn edn_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "edn"))
        .collect();
    files.sort();
    files
}

#[test]
fn knossos_histories_get_their_folder_verdicts() {
    let root = corpus().join("knossos");
    let cases = [
        (
            "cas-register",
            ModelKind::CasRegister,
            ModelOptions {
                initial: json!(0),
                nil_reads_match_any: true,
            },
        ),
        (
            "multi-register",
            ModelKind::MultiRegister,
            ModelOptions {
                initial: json!({"x": 0, "y": 0}),
                nil_reads_match_any: true,
            },
        ),
        ("mutex", ModelKind::Mutex, ModelOptions::default()),
    ];
    let mut checked = 0;
    for (dir, model, mo) in cases {
        for (label, want) in [("good", Validity::Valid), ("bad", Validity::Invalid)] {
            let folder = root.join(dir).join(label);
            if !folder.exists() {
                continue;
            }
            for file in edn_files(&folder) {
                let h = read(&file, read_edn);
                assert_eq!(
                    verdict(&h, model, mo.clone(), true),
                    want,
                    "{}",
                    file.display()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 122, "EXPECTED.md lists 122 Knossos files");
}

#[test]
fn knossos_failing_ops_match_the_knossos_reports() {
    // EXPECTED.md names the op Knossos's wgl test reports as the first that cannot be
    // linearized; ours is the same op (by history index).
    let mo = ModelOptions {
        initial: json!(0),
        nil_reads_match_any: true,
    };
    let cases = [
        ("bad-analysis.edn", 14, 21),
        ("immediate-failure.edn", 3, 1),
        ("rethink-fail-minimal.edn", 4, 1),
        ("rethink-fail-smaller.edn", 217, 12),
    ];
    for (file, _complete_index, process) in cases {
        let h = read(
            &corpus().join("knossos/cas-register/bad").join(file),
            read_edn,
        );
        let o = LinearizabilityOptions {
            model: ModelKind::CasRegister,
            model_options: mo.clone(),
            ..Default::default()
        };
        let r = check(&h, &o).unwrap();
        assert_eq!(r.valid, Validity::Invalid, "{file}");
        let Some(faultline::checker::Witness::Linearization(w)) = &r.anomalies[0].witness else {
            panic!("{file}: no witness")
        };
        assert_eq!(
            w.op.process, process,
            "{file}: {}",
            r.anomalies[0].explanation
        );
    }
}

#[test]
fn knossos_time_limit_files_give_unknown_with_a_tiny_deadline() {
    for n in [12, 14, 55] {
        let h = read(
            &corpus().join(format!("knossos/cas-register/good/memstress3-{n}.edn")),
            read_edn,
        );
        let o = LinearizabilityOptions {
            model: ModelKind::CasRegister,
            model_options: ModelOptions {
                initial: json!(0),
                nil_reads_match_any: true,
            },
            deadline: Some(Instant::now()),
            ..Default::default()
        };
        assert_eq!(
            check(&h, &o).unwrap().valid,
            Validity::Unknown,
            "memstress3-{n}"
        );
    }
}
