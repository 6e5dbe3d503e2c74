//! Tests for rule 8 (per-key nogood learning in the one-map search): it is on exactly for
//! product-state models, and on random multi-key histories (valid ones simulated from a
//! linearizable store, invalid ones with planted violations, info and fail ops mixed in) the
//! one-map search with nogoods agrees with the key-by-key search and with the one-map search
//! that memoizes whole configurations instead; its witness names an op on a key that is
//! invalid on its own.

use super::search::{KeySearch, SearchOp};
use super::{check, run_groups, LinearizabilityOptions, Source};
use crate::checker::model::{
    InputId, MapModel, Model, ModelError, ModelKind, ModelOptions, Prepared, RegisterFlavor,
    RegisterModel, StateId,
};
use crate::checker::{Validity, Witness};
use crate::history::{History, Op, Outcome};
use serde_json::{json, Value};

use super::test_rng::Rng;

/// A map model that hides its product structure: the one-map search then memoizes whole
/// configurations (rules 1-7 only), the reference the nogood search must agree with.
struct NoProduct<M: Model>(M);

impl<M: Model> Model for NoProduct<M> {
    fn prepare(&mut self, op: &Op) -> Result<Prepared, ModelError> {
        self.0.prepare(op)
    }
    fn init(&mut self) -> StateId {
        self.0.init()
    }
    fn step(&mut self, state: StateId, input: InputId) -> Option<StateId> {
        self.0.step(state, input)
    }
    fn is_read_only(&self, input: InputId) -> bool {
        self.0.is_read_only(input)
    }
    fn can_reach(&mut self, state: StateId, target: InputId, others: &[InputId]) -> bool {
        self.0.can_reach(state, target, others)
    }
    fn component(&self, input: InputId) -> Option<u32> {
        self.0.component(input)
    }
    fn describe_state(&self, state: StateId) -> String {
        self.0.describe_state(state)
    }
    fn noun(&self) -> &'static str {
        self.0.noun()
    }
}

fn kv() -> RegisterModel {
    RegisterModel::new(RegisterFlavor::Kv, &ModelOptions::default())
}

fn kv_map() -> MapModel<RegisterModel> {
    MapModel::new(kv)
}

fn opts(partition: bool) -> LinearizabilityOptions {
    LinearizabilityOptions {
        model: ModelKind::Kv,
        partition,
        ..Default::default()
    }
}

/// The one-map verdict without nogoods (whole-configuration memo).
fn memo_verdict(h: &History) -> Validity {
    let groups = vec![Source::Full(h).whole()];
    let make = || Ok(NoProduct(kv_map()));
    run_groups(
        groups,
        Vec::new(),
        &opts(false),
        &make,
        Source::Full(h).clock(),
    )
    .expect("generated ops suit the kv model")
    .valid
}

/// What a simulated op does.
#[derive(Clone)]
enum Planned {
    Get,
    Put(String),
    Append(String),
}

/// A process's open op: (index in the ops, what it does, key, took effect yet, outcome
/// decided at invoke).
type Open = (usize, Planned, usize, bool, Outcome);

/// Simulates `procs` clients on `keys` linearizable string registers (absent at first). Each op
/// takes effect at one instant between its invoke and completion; some crash (`info`: took
/// effect or not), some puts fail (never took effect). `chunky` makes appends common, so that
/// key values grow and reads pin down long orders.
fn simulate(seed: u64, procs: u64, n_ops: usize, keys: u64, chunky: bool) -> History {
    let mut rng = Rng(seed);
    let mut store: Vec<Option<String>> = vec![None; keys as usize];
    let mut open: Vec<Option<Open>> = vec![None; procs as usize];
    let mut ops: Vec<Op> = Vec::new();
    let mut index = 0u64;
    let mut started = 0usize;
    for _ in 0..n_ops * 10 {
        if started >= n_ops && open.iter().all(|o| o.is_none()) {
            break;
        }
        let p = rng.below(procs) as usize;
        match open[p].take() {
            None if started < n_ops => {
                started += 1;
                let key = rng.below(keys) as usize;
                let roll = rng.below(10);
                let planned = if roll < 4 {
                    Planned::Get
                } else if roll < 6 || !chunky && roll < 8 {
                    Planned::Put(format!("p{started}."))
                } else {
                    Planned::Append(format!("a{started}."))
                };
                let outcome = match planned {
                    Planned::Get => Outcome::Ok,
                    _ if rng.chance(8) => Outcome::Info,
                    Planned::Put(_) if rng.chance(5) => Outcome::Fail,
                    _ => Outcome::Ok,
                };
                let (f, arg) = match &planned {
                    Planned::Get => ("get", Value::Null),
                    Planned::Put(v) => ("put", json!(v)),
                    Planned::Append(v) => ("append", json!(v)),
                };
                ops.push(Op {
                    process: p as u64,
                    f: f.to_string(),
                    key: Some(json!(format!("k{key}"))),
                    invoke_value: arg.clone(),
                    value: arg,
                    outcome,
                    invoke_index: index,
                    complete_index: None,
                    invoke_time: 0,
                    complete_time: None,
                    error: None,
                    node: None,
                });
                index += 1;
                open[p] = Some((ops.len() - 1, planned, key, false, outcome));
            }
            None => {}
            Some((at, planned, key, false, outcome)) => {
                // The linearization point (a failed put and half the crashed ops never get one).
                let takes_effect = match outcome {
                    Outcome::Fail => false,
                    Outcome::Info => rng.chance(50),
                    Outcome::Ok => true,
                };
                if takes_effect {
                    match &planned {
                        Planned::Get => {
                            ops[at].value = store[key].clone().map_or(Value::Null, Value::String)
                        }
                        Planned::Put(v) => store[key] = Some(v.clone()),
                        Planned::Append(v) => {
                            let cur = store[key].take().unwrap_or_default();
                            store[key] = Some(cur + v);
                        }
                    }
                }
                open[p] = Some((at, planned, key, true, outcome));
            }
            // Crashed ops sometimes never complete at all.
            Some((_, _, _, true, Outcome::Info)) if rng.chance(50) => {}
            Some((at, _, _, true, outcome)) => {
                ops[at].outcome = outcome;
                ops[at].complete_index = Some(index);
                ops[at].complete_time = Some(0);
                index += 1;
            }
        }
    }
    History {
        ops,
        nemesis: Vec::new(),
        event_count: index,
    }
}

/// Plants a violation in `h`: an ok get returns a value never written (certainly invalid) or,
/// with `stale`, an older value of its key (invalid or not; only agreement is checked then).
fn plant(h: &mut History, rng: &mut Rng, stale: bool) -> bool {
    let gets: Vec<usize> = (0..h.ops.len())
        .filter(|&i| h.ops[i].f == "get" && h.ops[i].outcome == Outcome::Ok)
        .collect();
    if gets.is_empty() {
        return false;
    }
    let at = gets[rng.below(gets.len() as u64) as usize];
    if stale {
        let key = h.ops[at].key.clone();
        let older: Vec<Value> = h.ops[..at]
            .iter()
            .filter(|o| o.key == key && o.f == "get" && o.outcome == Outcome::Ok)
            .map(|o| o.value.clone())
            .filter(|v| *v != h.ops[at].value)
            .collect();
        match older.last() {
            Some(v) => h.ops[at].value = v.clone(),
            None => return false,
        }
    } else {
        h.ops[at].value = json!("never written");
    }
    true
}

fn verdict(h: &History, partition: bool) -> Validity {
    check(h, &opts(partition))
        .expect("generated ops suit the kv model")
        .valid
}

/// The one-map witness names an op (and key) whose own sub-history is not linearizable.
fn assert_witness_on_a_dead_key(h: &History, what: &str) {
    let r = check(h, &opts(false)).expect("generated ops suit the kv model");
    assert_eq!(r.valid, Validity::Invalid, "{what}");
    let a = &r.anomalies[0];
    let Some(Witness::Linearization(w)) = &a.witness else {
        panic!("{what}: no witness")
    };
    let op = h
        .ops
        .iter()
        .find(|o| o.invoke_index == w.op.index)
        .expect("the witness op is in the history");
    assert_eq!(
        a.key, op.key,
        "{what}: the anomaly names the failing op's key"
    );
    assert_eq!(w.key, op.key, "{what}");
    assert!(w.prefix_len >= w.prefix.len(), "{what}");
    let alone = History {
        ops: h.ops.iter().filter(|o| o.key == op.key).cloned().collect(),
        nemesis: Vec::new(),
        event_count: h.event_count,
    };
    assert_eq!(
        verdict(&alone, true),
        Validity::Invalid,
        "{what}: the failing op's key {:?} is invalid on its own",
        op.key
    );
}

/// Prepares `ops` with `model` and starts a search over them.
fn search_of<M: Model>(mut model: M, ops: &[Op]) -> KeySearch<M> {
    let search_ops: Vec<SearchOp> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let Ok(Prepared::Input(input)) = model.prepare(op) else {
                panic!("a put is never dropped")
            };
            SearchOp {
                input,
                call: op.invoke_index,
                ret: op.complete_index,
                source: i as u32,
            }
        })
        .collect();
    KeySearch::new(model, &search_ops)
}

#[test]
fn nogoods_are_learned_only_for_product_states() {
    let ops: Vec<Op> = ["a", "b"]
        .iter()
        .enumerate()
        .map(|(i, k)| Op {
            process: i as u64,
            f: "put".to_string(),
            key: Some(json!(k)),
            invoke_value: json!("1"),
            value: json!("1"),
            outcome: Outcome::Ok,
            invoke_index: 2 * i as u64,
            complete_index: Some(2 * i as u64 + 1),
            invoke_time: 0,
            complete_time: None,
            error: None,
            node: None,
        })
        .collect();
    assert!(search_of(kv_map(), &ops).learns_nogoods());
    assert!(!search_of(kv(), &ops).learns_nogoods());
    assert!(!search_of(NoProduct(kv_map()), &ops).learns_nogoods());
}

#[test]
fn one_map_with_nogoods_accepts_simulated_histories() {
    for seed in 0..300u64 {
        let h = simulate(
            seed,
            2 + seed % 7,
            20 + (seed as usize % 5) * 20,
            1 + seed % 5,
            seed % 2 == 0,
        );
        assert_eq!(verdict(&h, false), Validity::Valid, "seed {seed}");
        assert_eq!(verdict(&h, true), Validity::Valid, "seed {seed}");
    }
}

#[test]
fn one_map_with_nogoods_rejects_a_planted_impossible_read_and_names_its_key() {
    let mut planted = 0;
    for seed in 0..300u64 {
        let mut h = simulate(
            1_000 + seed,
            2 + seed % 7,
            20 + (seed as usize % 5) * 20,
            2 + seed % 4,
            seed % 2 == 1,
        );
        let mut rng = Rng(seed);
        if !plant(&mut h, &mut rng, false) {
            continue;
        }
        planted += 1;
        assert_eq!(verdict(&h, true), Validity::Invalid, "seed {seed}");
        assert_witness_on_a_dead_key(&h, &format!("seed {seed}"));
    }
    assert!(
        planted > 250,
        "only {planted} histories had a read to plant"
    );
}

#[test]
fn one_map_with_nogoods_agrees_with_by_key_and_with_the_whole_config_memo() {
    let (mut valid, mut invalid) = (0, 0);
    for seed in 0..400u64 {
        let mut h = simulate(
            2_000 + seed,
            2 + seed % 5,
            12 + (seed as usize % 4) * 8,
            2 + seed % 3,
            seed % 3 != 0,
        );
        let mut rng = Rng(seed ^ 0x55);
        // Stale reads (sometimes still linearizable), sometimes two of them.
        for _ in 0..1 + seed % 2 {
            plant(&mut h, &mut rng, true);
        }
        let one_map = verdict(&h, false);
        assert_eq!(one_map, verdict(&h, true), "seed {seed}: one map vs by key");
        assert_eq!(
            one_map,
            memo_verdict(&h),
            "seed {seed}: nogoods vs whole-config memo"
        );
        match one_map {
            Validity::Valid => valid += 1,
            Validity::Invalid => {
                invalid += 1;
                assert_witness_on_a_dead_key(&h, &format!("seed {seed}"));
            }
            Validity::Unknown => panic!("seed {seed}: undecided without limits"),
        }
    }
    assert!(
        valid > 40 && invalid > 40,
        "unbalanced sample: {valid} valid, {invalid} invalid"
    );
}

#[test]
fn a_dead_key_is_pruned_under_every_interleaving_of_the_others() {
    // Keys "n0".."n4": puts and gets all concurrent, with many linearizable orders, returning
    // first. Key "bad": two concurrent puts returning after them, then sequential reads of
    // "1", "2", "1", which no order of the puts allows, but only a search of both orders shows
    // it. The whole-config memo proves "bad" dead again under each interleaving of the other
    // keys; one nogood on "bad"'s projection covers them all.
    let mut ops = Vec::new();
    let mut push = |f: &str, key: &str, arg: Value, value: Value, call: u64, ret: u64| {
        ops.push(Op {
            process: ops.len() as u64,
            f: f.to_string(),
            key: Some(json!(key)),
            invoke_value: arg,
            value,
            outcome: Outcome::Ok,
            invoke_index: call,
            complete_index: Some(ret),
            invoke_time: 0,
            complete_time: None,
            error: None,
            node: None,
        });
    };
    let (n_keys, per_key) = (5u64, 2u64);
    let calls = n_keys * per_key * 2 + 2;
    let mut call = 0u64;
    for k in 0..n_keys {
        for v in 0..per_key {
            let key = format!("n{k}");
            let val = json!(format!("{v}"));
            push("put", &key, val.clone(), val.clone(), call, calls + call);
            push("get", &key, Value::Null, val, call + 1, calls + call + 1);
            call += 2;
        }
    }
    push("put", "bad", json!("1"), json!("1"), call, 2 * calls);
    push(
        "put",
        "bad",
        json!("2"),
        json!("2"),
        call + 1,
        2 * calls + 1,
    );
    let mut at = 2 * calls + 2;
    for v in ["1", "2", "1"] {
        push("get", "bad", Value::Null, json!(v), at, at + 1);
        at += 2;
    }
    let h = History {
        ops,
        nemesis: Vec::new(),
        event_count: at,
    };
    let with_nogoods = check(&h, &opts(false)).unwrap();
    assert_eq!(with_nogoods.valid, Validity::Invalid);
    assert_eq!(with_nogoods.anomalies[0].key, Some(json!("bad")));
    let groups = vec![Source::Full(&h).whole()];
    let clock = Source::Full(&h).clock();
    let memo = run_groups(
        groups,
        Vec::new(),
        &opts(false),
        &|| Ok(NoProduct(kv_map())),
        clock,
    )
    .unwrap();
    assert_eq!(memo.valid, Validity::Invalid);
    assert!(
        with_nogoods.stats.states_explored * 10 < memo.stats.states_explored,
        "nogoods explored {} states, the whole-config memo {}",
        with_nogoods.stats.states_explored,
        memo.stats.states_explored
    );
}
