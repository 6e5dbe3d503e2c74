//! Every reference history in tests/corpus imports, with the op and outcome counts its
//! EXPECTED.md states, and the guesser picks each folder's format.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use faultline::history::{
    guess, read_history, read_history_compact, Format, History, Outcome, Process,
};
use serde_json::{json, Value};

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(rel)
}

/// Files under `dir` (recursively) with the given extension, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn read(path: &Path, format: Format) -> History {
    let (h, used, guessed) = read_history(path, Some(format)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((used, guessed), (format, false));
    h
}

/// Rows `| file | n | n | n | ...` of an EXPECTED.md table: file -> the numeric columns.
fn table(md: &str, prefix: &str) -> BTreeMap<String, Vec<u64>> {
    let text = fs::read_to_string(corpus(md)).unwrap();
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells.get(1)?;
            if !file.starts_with(prefix) {
                return None;
            }
            let nums: Vec<u64> = cells[2..].iter().map_while(|c| c.parse().ok()).collect();
            Some((file.to_string(), nums))
        })
        .collect()
}

fn count(h: &History, outcome: Outcome) -> usize {
    h.ops.iter().filter(|o| o.outcome == outcome).count()
}

fn processes(h: &History) -> usize {
    h.ops
        .iter()
        .map(|o| o.process)
        .collect::<BTreeSet<_>>()
        .len()
}

#[test]
fn porcupine_etcd_logs_match_expected_counts() {
    let expected = table("porcupine/EXPECTED.md", "jepsen/");
    assert_eq!(expected.len(), 103);
    let mut combos: HashMap<(Outcome, String, String), usize> = HashMap::new();
    for (name, cols) in &expected {
        let h = read(&corpus(&format!("porcupine/{name}")), Format::PorcupineEtcd);
        let (ops, procs, infos) = (cols[0] as usize, cols[1] as usize, cols[2] as usize);
        assert_eq!(h.ops.len(), ops, "{name}: ops");
        assert_eq!(processes(&h), procs, "{name}: processes");
        assert_eq!(count(&h, Outcome::Info), infos, "{name}: info ops");
        assert_eq!(
            h.event_count as usize,
            2 * ops,
            "{name}: every invoke completes"
        );
        assert!(h.nemesis.is_empty());
        for op in &h.ops {
            // Time is line order: the 0-based line of the invoke and of the completion.
            assert!(op.complete_time.unwrap() > op.invoke_time);
            let shape = match &op.value {
                Value::Null => "nil",
                Value::Number(_) => "int",
                Value::Array(_) => "pair",
                Value::String(s) if s == "timed-out" => "timed-out",
                other => panic!("{name}: unexpected value {other}"),
            };
            *combos
                .entry((op.outcome, op.f.clone(), shape.to_string()))
                .or_default() += 1;
        }
        if *name == "jepsen/etcd_000.log" {
            let first = &h.ops[0];
            assert_eq!((first.invoke_index, first.invoke_time), (0, 0));
        }
    }
    // The corpus-wide combination counts of EXPECTED.md's format table.
    let c = |o: Outcome, f: &str, v: &str| {
        combos
            .get(&(o, f.to_string(), v.to_string()))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(c(Outcome::Ok, "read", "int"), 2719);
    assert_eq!(c(Outcome::Ok, "read", "nil"), 203);
    assert_eq!(c(Outcome::Ok, "write", "int"), 2122);
    assert_eq!(c(Outcome::Ok, "cas", "pair"), 431);
    assert_eq!(c(Outcome::Fail, "cas", "pair"), 1748);
    assert_eq!(c(Outcome::Fail, "read", "timed-out"), 17);
    assert_eq!(c(Outcome::Info, "write", "timed-out"), 626);
    assert_eq!(c(Outcome::Info, "cas", "timed-out"), 657);
    let total_invokes = 2939 + 2748 + 2836;
    assert_eq!(combos.values().sum::<usize>(), total_invokes);
}

#[test]
fn porcupine_info_ops_keep_the_invoked_value() {
    let h = read(
        &corpus("porcupine/jepsen/etcd_000.log"),
        Format::PorcupineEtcd,
    );
    let info = h
        .ops
        .iter()
        .find(|o| o.outcome == Outcome::Info && o.f == "write")
        .unwrap();
    assert!(info.invoke_value.is_number(), "{:?}", info.invoke_value);
    assert_eq!(info.value, json!("timed-out"));
}

#[test]
fn porcupine_kv_logs_match_expected_counts() {
    let expected = table("porcupine/EXPECTED.md", "kv/");
    assert_eq!(expected.len(), 6);
    for (name, cols) in &expected {
        let h = read(&corpus(&format!("porcupine/{name}")), Format::PorcupineKv);
        let (ops, procs, keys) = (cols[0] as usize, cols[1] as usize, cols[2] as usize);
        assert_eq!(h.ops.len(), ops, "{name}: ops");
        assert_eq!(processes(&h), procs, "{name}: processes");
        let distinct: BTreeSet<String> = h
            .ops
            .iter()
            .map(|o| o.key.as_ref().unwrap().as_str().unwrap().to_string())
            .collect();
        assert_eq!(distinct.len(), keys, "{name}: keys");
        assert_eq!(count(&h, Outcome::Ok), ops, "{name}: every op is ok");
        for op in &h.ops {
            assert!(["read", "write", "append"].contains(&op.f.as_str()));
            assert!(op.value.is_string(), "{name}: {:?}", op.value);
        }
    }
}

#[test]
fn empty_etcd_log_is_an_empty_history() {
    let h = read(
        &corpus("porcupine/jepsen/etcd_095.log"),
        Format::PorcupineEtcd,
    );
    assert_eq!(h, History::default());
}

#[test]
fn every_knossos_file_imports() {
    let all = files(&corpus("knossos"), "edn");
    assert_eq!(all.len(), 122);
    for path in &all {
        let h = read(path, Format::Edn);
        assert!(h.event_count > 0, "{}", path.display());
        let fails = count(&h, Outcome::Fail);
        let name = path.file_name().unwrap().to_str().unwrap();
        if name.starts_with("memstress3-") {
            assert!((88..=640).contains(&h.event_count), "{name}");
            let info_completions = h
                .ops
                .iter()
                .filter(|o| o.outcome == Outcome::Info && o.complete_index.is_some())
                .count();
            assert!(info_completions <= 15, "{name}");
        }
        if [
            "mongodb-v0-ack-rollback-9.edn",
            "mongodb-v0-ack-rollback-10.edn",
            "mongodb-v0-ack-rollback-11.edn",
        ]
        .contains(&name)
        {
            assert_eq!(fails, h.ops.len(), "{name}: every client op failed");
        }
    }
}

#[test]
fn knossos_files_match_expected_details() {
    let k = |rel: &str| read(&corpus(&format!("knossos/{rel}")), Format::Edn);

    let h = k("cas-register/bad/bad-analysis.edn");
    assert_eq!((h.event_count, processes(&h)), (16, 9));
    let failing = h.ops.iter().find(|o| o.complete_index == Some(14)).unwrap();
    assert_eq!((failing.process, failing.value.clone()), (21, json!(2)));
    let prev = h.ops.iter().find(|o| o.complete_index == Some(11)).unwrap();
    assert_eq!((prev.process, prev.value.clone()), (19, json!(0)));

    let h = k("cas-register/bad/cas-failure.edn");
    assert_eq!((h.event_count, h.nemesis.len()), (590, 8));
    assert_eq!(
        h.ops.iter().filter(|o| o.outcome == Outcome::Info).count(),
        1
    );
    let read0 = h
        .ops
        .iter()
        .find(|o| o.complete_index == Some(491))
        .unwrap();
    assert_eq!(
        (read0.process, read0.f.as_str(), read0.value.clone()),
        (70, "read", json!(0))
    );
    let write2 = h
        .ops
        .iter()
        .find(|o| o.complete_index == Some(472))
        .unwrap();
    assert_eq!(
        (write2.process, write2.f.as_str(), write2.outcome),
        (76, "write", Outcome::Ok)
    );

    let h = k("cas-register/bad/immediate-failure.edn");
    assert_eq!(h.event_count, 4);
    assert_eq!(h.ops[1].outcome, Outcome::Fail);
    assert_eq!(
        h.ops[1].error,
        Some(json!(["temporarily-unavailable", null]))
    );

    let h = k("cas-register/bad/mongodb-v0-ack-rollback-6.edn");
    assert_eq!(h.event_count, 1492);
    assert_eq!(count(&h, Outcome::Info), 6);

    assert_eq!(
        k("cas-register/bad/rethink-fail-minimal.edn").event_count,
        8
    );
    assert_eq!(k("cas-register/good/cas-register-bug.edn").event_count, 11);

    let smaller = k("cas-register/bad/rethink-fail-smaller.edn");
    assert_eq!((smaller.event_count, processes(&smaller)), (500, 26));
    assert_eq!(count(&smaller, Outcome::Info), 4);
    let failing = smaller
        .ops
        .iter()
        .find(|o| o.complete_index == Some(217))
        .unwrap();
    assert_eq!((failing.process, failing.value.clone()), (12, json!(3)));
    assert_eq!(failing.complete_time, Some(106334571856));
    assert_eq!(
        k("cas-register/bad/rethink-fail.edn"),
        smaller,
        "same ops, no comments"
    );

    let h = k("cas-register/good/mongodb-v0-ack-rollback-.edn");
    assert_eq!((h.ops.len(), h.nemesis.len()), (0, 28));
    assert!(h.nemesis.iter().all(|e| e.process == Process::Nemesis));

    let h = k("multi-register/good/multi-register.edn");
    assert_eq!((h.event_count, h.nemesis.len()), (250, 4));
    assert_eq!(count(&h, Outcome::Info), 2);
    assert_eq!(h.ops[0].invoke_value, json!([["read", "x", null]]));

    let h = k("mutex/bad/etcd.edn");
    assert_eq!((h.event_count, processes(&h)), (1135, 5));
    assert_eq!(
        h.ops.iter().filter(|o| o.complete_index.is_none()).count(),
        3
    );
    assert!(h.ops.iter().all(|o| o.invoke_value.is_null()));
    assert_eq!(h.ops[0].error, Some(json!("not-held")));
}

#[test]
fn elle_histories_import_with_list_append_values() {
    let h = read(&corpus("elle/si-without-g-single.edn"), Format::Edn);
    assert_eq!(h.event_count, 8);
    assert_eq!(h.ops.len(), 4);
    let procs: Vec<u64> = h.ops.iter().map(|o| o.process).collect();
    assert_eq!(procs, [2, 4, 7, 9]);
    assert_eq!(h.ops[0].invoke_index, 10);
    assert_eq!(h.ops[3].value, json!([["append", 6, 2], ["r", 9, [2]]]));

    let h = read(&corpus("elle/huge-scc.edn"), Format::Edn);
    assert_eq!(h.event_count, 20_602);
    assert_eq!(h.ops.len(), 10_254);
    assert_eq!(count(&h, Outcome::Ok), 3_036);
    assert_eq!(count(&h, Outcome::Fail), 7_070);
    assert_eq!(count(&h, Outcome::Info), 148);
    assert_eq!(h.nemesis.len(), 94);
    assert_eq!(processes(&h), 173);
    let keys: BTreeSet<String> = h
        .ops
        .iter()
        .flat_map(|o| o.invoke_value.as_array().unwrap().iter())
        .map(|mop| mop[1].to_string())
        .collect();
    assert_eq!(keys.len(), 106);
    assert_eq!(
        h.ops[0].invoke_value,
        json!([["append", 11, 1], ["r", 11, null], ["r", 11, null]])
    );
    assert_eq!(
        h.ops[0].value,
        json!([["append", 11, 1], ["r", 11, [1]], ["r", 11, [1]]])
    );
}

#[test]
fn elle_paper_example_is_rejected_naming_the_line() {
    let e = read_history(&corpus("elle/paper-example.edn"), None).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.ends_with("paper-example.edn:1: missing required field :process"),
        "{msg}"
    );
}

/// The corpus folders: each one's file extension and format.
const FOLDERS: [(&str, &str, Format); 4] = [
    ("porcupine/jepsen", "log", Format::PorcupineEtcd),
    ("porcupine/kv", "txt", Format::PorcupineKv),
    ("knossos", "edn", Format::Edn),
    ("elle", "edn", Format::Edn),
];

#[test]
fn guesser_picks_each_folders_format() {
    for (dir, ext, want) in FOLDERS {
        for path in files(&corpus(dir), ext) {
            let bytes = fs::read(&path).unwrap();
            if bytes.is_empty() {
                // etcd_095.log: nothing to guess from.
                assert_eq!(guess(&bytes), None);
                continue;
            }
            let head = &bytes[..bytes.len().min(4096)];
            assert_eq!(guess(head), Some(want), "{}", path.display());
            if path.ends_with("paper-example.edn") {
                continue;
            }
            let (_, used, guessed) = read_history(&path, None).unwrap();
            assert_eq!((used, guessed), (want, true), "{}", path.display());
        }
    }
}

/// Every EDN and Porcupine file of the corpus reads into the compact history exactly as into
/// the `Value` history (`to_history` equal), in the given format and guessed; a file that is
/// rejected is rejected with the same message and line.
#[test]
fn compact_reading_equals_value_reading_on_every_file() {
    let mut read_ok = 0;
    for (dir, ext, format) in FOLDERS {
        for path in files(&corpus(dir), ext) {
            for given in [Some(format), None] {
                let full = read_history(&path, given);
                let compact = read_history_compact(&path, given);
                match (full, compact) {
                    (Ok((h, f, g)), Ok((c, cf, cg))) => {
                        assert_eq!((cf, cg), (f, g), "{}", path.display());
                        assert!(c.to_history() == h, "{}: histories differ", path.display());
                        read_ok += 1;
                    }
                    (Err(e), Err(c)) => {
                        assert_eq!(
                            (c.to_string(), c.line()),
                            (e.to_string(), e.line()),
                            "{}",
                            path.display()
                        );
                    }
                    (full, compact) => panic!(
                        "{}: the readers disagree: {:?} / {:?}",
                        path.display(),
                        full.err(),
                        compact.err()
                    ),
                }
            }
        }
    }
    // 103 etcd logs, 6 kv logs and 125 EDN files, twice each, but Elle's paper example,
    // which both readers reject.
    assert_eq!(read_ok, 2 * (103 + 6 + 125 - 1));
}
