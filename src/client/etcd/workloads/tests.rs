//! The workload plans driven by scripted answers: what each op sends, and how every answer
//! (success, conflict, refusal, timeout, 5xx, garbage) ends it.

use serde_json::{json, Value};

use super::*;
use crate::client::etcd::encode;

const P: &str = "fl/ab/";

fn options(serializable: bool) -> EtcdOptions {
    EtcdOptions {
        key_prefix: P.into(),
        serializable_reads: serializable,
        ..EtcdOptions::default()
    }
}

fn op(f: &str, value: Value) -> Invocation {
    Invocation {
        f: f.into(),
        key: None,
        value,
    }
}

fn plan_of(profile: Profile, f: &str, value: Value, serializable: bool) -> Box<dyn Plan> {
    match plan(profile, &op(f, value), &options(serializable)) {
        Some(Ok(p)) => p,
        Some(Err(e)) => panic!("{f}: {e}"),
        None => panic!("{f}: no plan"),
    }
}

fn answered(status: u16, body: &str) -> Exchange {
    Exchange::Answered {
        status,
        body: body.to_owned(),
    }
}

fn ok(body: Value) -> Exchange {
    answered(200, &body.to_string())
}

fn timeout() -> Exchange {
    Exchange::NoAnswer {
        reason: "no answer within 2500 ms".into(),
    }
}

fn unavailable() -> Exchange {
    answered(
        503,
        r#"{"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14}"#,
    )
}

fn refused() -> Exchange {
    Exchange::NotSent {
        reason: "connection refused".into(),
    }
}

/// A range answer (or a txn's range response) holding `kvs` as `(key, value, mod_revision)`.
fn range(kvs: &[(&str, Value, i64)]) -> Value {
    let mut answer = json!({"header": {"revision": "50"}});
    if !kvs.is_empty() {
        let list: Vec<Value> = kvs
            .iter()
            .map(|(k, v, rev)| {
                json!({
                    "key": encode(k.as_bytes()),
                    "value": encode(v.to_string().as_bytes()),
                    "mod_revision": rev.to_string(),
                    "create_revision": "1",
                    "version": "1",
                })
            })
            .collect();
        answer["kvs"] = Value::Array(list);
        answer["count"] = json!(kvs.len().to_string());
    }
    answer
}

/// A txn-of-ranges answer, one range response per entry.
fn ranges_answer(responses: Vec<Value>) -> Value {
    let responses: Vec<Value> = responses
        .into_iter()
        .map(|r| json!({ "response_range": r }))
        .collect();
    json!({"header": {"revision": "50"}, "succeeded": true, "responses": responses})
}

fn txn_ok() -> Exchange {
    ok(
        json!({"header": {"revision": "51"}, "succeeded": true, "responses": [{"response_put": {}}]}),
    )
}

fn txn_conflict() -> Exchange {
    ok(json!({"header": {"revision": "51"}}))
}

/// Runs `plan` against `answers`, one per request, and returns what it sent and how it ended.
/// Fails if the plan asks for more requests than there are answers.
fn drive(mut plan: Box<dyn Plan>, answers: Vec<Exchange>) -> (Vec<Request>, Completion) {
    let mut sent = Vec::new();
    let mut answers = answers.into_iter();
    let mut step = plan.start();
    loop {
        match step {
            Step::Done(c) => {
                assert_eq!(answers.next(), None, "answers left over after {c:?}");
                return (sent, c);
            }
            Step::Send(request) => {
                sent.push(request);
                let Some(answer) = answers.next() else {
                    panic!(
                        "request {} has no scripted answer: {:?}",
                        sent.len(),
                        sent.last()
                    );
                };
                step = plan.advance(&answer, "n2");
            }
        }
    }
}

fn b64(text: &str) -> Value {
    json!(encode(text.as_bytes()))
}

#[test]
fn every_profile_plans_its_ops() {
    let ops = [
        (Profile::Set, "add", json!(1)),
        (Profile::Set, "read", Value::Null),
        (Profile::Counter, "add", json!(1)),
        (Profile::Counter, "read", Value::Null),
        (
            Profile::Bank,
            "transfer",
            json!({"from": 0, "to": 1, "amount": 1}),
        ),
        (Profile::Bank, "read", Value::Null),
        (Profile::UniqueIds, "generate", Value::Null),
        (Profile::Txn, "txn", json!([["r", "0", null]])),
    ];
    for profile in Profile::ALL {
        assert!(ops.iter().any(|(p, _, _)| *p == profile), "{profile}");
    }
    for (profile, f, value) in ops {
        let _ = plan_of(profile, f, value, false);
    }
}

#[test]
fn ops_a_profile_does_not_define_fall_back_to_the_register_ops() {
    let o = options(false);
    assert!(plan(Profile::Bank, &op("write", json!(10)), &o).is_none());
    assert!(plan(Profile::Set, &op("cas", json!([1, 2])), &o).is_none());
    assert!(plan(Profile::Counter, &op("generate", Value::Null), &o).is_none());
}

#[test]
fn a_set_add_puts_one_key_per_element() {
    let (sent, c) = drive(
        plan_of(Profile::Set, "add", json!(7), false),
        vec![ok(json!({"header": {"revision": "9"}}))],
    );
    assert_eq!(sent[0].path, "/v3/kv/put");
    assert_eq!(
        sent[0].body,
        json!({"key": b64("fl/ab/set/7"), "value": b64("7")})
    );
    assert_eq!(
        (c.outcome, c.value, c.node.as_deref()),
        (Outcome::Ok, json!(7), Some("n2"))
    );
    for (answer, want) in [
        (timeout(), Outcome::Info),
        (unavailable(), Outcome::Info),
        (answered(500, "{}"), Outcome::Info),
        (answered(400, r#"{"message":"bad"}"#), Outcome::Fail),
        (refused(), Outcome::Fail),
    ] {
        let (_, c) = drive(
            plan_of(Profile::Set, "add", json!(7), false),
            vec![answer.clone()],
        );
        assert_eq!(c.outcome, want, "{answer:?}");
        assert_eq!(c.value, json!(7));
    }
}

#[test]
fn a_set_read_ranges_the_whole_prefix() {
    let (sent, c) = drive(
        plan_of(Profile::Set, "read", Value::Null, false),
        vec![ok(range(&[
            ("fl/ab/set/1", json!(1), 3),
            ("fl/ab/set/2", json!(2), 4),
        ]))],
    );
    assert_eq!(sent[0].path, "/v3/kv/range");
    assert_eq!(
        sent[0].body,
        json!({"key": b64("fl/ab/set/"), "range_end": b64("fl/ab/set0")})
    );
    assert_eq!((c.outcome, c.value), (Outcome::Ok, json!([1, 2])));
    let (_, c) = drive(
        plan_of(Profile::Set, "read", Value::Null, false),
        vec![ok(range(&[]))],
    );
    assert_eq!((c.outcome, c.value), (Outcome::Ok, json!([])));
    let (sent, _) = drive(
        plan_of(Profile::Set, "read", Value::Null, true),
        vec![ok(range(&[]))],
    );
    assert_eq!(sent[0].body["serializable"], json!(true));
    // A read with an unknown outcome, or an answer we cannot read, is fail.
    for answer in [timeout(), unavailable(), answered(200, "<html>")] {
        let (_, c) = drive(
            plan_of(Profile::Set, "read", Value::Null, false),
            vec![answer],
        );
        assert_eq!(c.outcome, Outcome::Fail);
    }
}

#[test]
fn a_counter_read_of_a_missing_key_is_zero() {
    let (sent, c) = drive(
        plan_of(Profile::Counter, "read", Value::Null, true),
        vec![ok(range(&[]))],
    );
    assert_eq!(
        sent[0].body,
        json!({"key": b64("fl/ab/counter"), "serializable": true})
    );
    assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(0)));
    let (_, c) = drive(
        plan_of(Profile::Counter, "read", Value::Null, false),
        vec![ok(range(&[("fl/ab/counter", json!(12), 8)]))],
    );
    assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(12)));
}

#[test]
fn a_counter_add_compares_the_revision_it_read() {
    let (sent, c) = drive(
        plan_of(Profile::Counter, "add", json!(3), true),
        vec![ok(range(&[("fl/ab/counter", json!(5), 7)])), txn_ok()],
    );
    // The range inside a read-modify-write is never serializable.
    assert_eq!(sent[0].body, json!({"key": b64("fl/ab/counter")}));
    assert_eq!(sent[1].path, "/v3/kv/txn");
    assert_eq!(
        sent[1].body,
        json!({
            "compare": [{"key": b64("fl/ab/counter"), "target": "MOD", "result": "EQUAL", "mod_revision": "7"}],
            "success": [{"request_put": {"key": b64("fl/ab/counter"), "value": b64("8")}}],
        })
    );
    assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(3)));
    // Never written: compared as revision 0, the sum starts at 0.
    let (sent, _) = drive(
        plan_of(Profile::Counter, "add", json!(3), false),
        vec![ok(range(&[])), txn_ok()],
    );
    assert_eq!(sent[1].body["compare"][0]["mod_revision"], json!("0"));
    assert_eq!(sent[1].body["success"][0]["request_put"]["value"], b64("3"));
}

#[test]
fn a_failed_compare_is_retried_from_a_fresh_range() {
    let (sent, c) = drive(
        plan_of(Profile::Counter, "add", json!(2), false),
        vec![
            ok(range(&[("fl/ab/counter", json!(5), 7)])),
            txn_conflict(),
            ok(range(&[("fl/ab/counter", json!(9), 8)])),
            txn_ok(),
        ],
    );
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[3].body["compare"][0]["mod_revision"], json!("8"));
    assert_eq!(
        sent[3].body["success"][0]["request_put"]["value"],
        b64("11")
    );
    assert_eq!(c.outcome, Outcome::Ok);
    // A range that fails after a conflict: nothing was applied, fail.
    let (_, c) = drive(
        plan_of(Profile::Counter, "add", json!(2), false),
        vec![ok(range(&[])), txn_conflict(), timeout()],
    );
    assert_eq!((c.outcome, c.value), (Outcome::Fail, json!(2)));
}

#[test]
fn endless_conflicts_fail_within_the_request_bound() {
    let mut answers = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        answers.push(ok(range(&[("fl/ab/counter", json!(1), 2)])));
        answers.push(txn_conflict());
    }
    let (sent, c) = drive(plan_of(Profile::Counter, "add", json!(1), false), answers);
    assert_eq!(sent.len() as u32, MAX_REQUESTS);
    assert_eq!(c.outcome, Outcome::Fail);
    assert!(
        c.error.as_deref().unwrap_or("").contains("contended"),
        "{c:?}"
    );
}

#[test]
fn an_unknown_txn_is_info_and_never_retried() {
    for answer in [
        timeout(),
        unavailable(),
        answered(502, ""),
        answered(200, "garbled"),
    ] {
        let (sent, c) = drive(
            plan_of(Profile::Counter, "add", json!(4), false),
            vec![ok(range(&[])), answer.clone()],
        );
        assert_eq!(sent.len(), 2, "{answer:?}");
        assert_eq!(
            (c.outcome, c.value.clone()),
            (Outcome::Info, json!(4)),
            "{answer:?}"
        );
    }
    // A txn refused outright (4xx) or never sent did nothing: fail.
    for answer in [answered(400, r#"{"message":"bad"}"#), refused()] {
        let (_, c) = drive(
            plan_of(Profile::Counter, "add", json!(4), false),
            vec![ok(range(&[])), answer],
        );
        assert_eq!(c.outcome, Outcome::Fail);
    }
    // The first range fails: fail, nothing sent after it.
    for answer in [timeout(), unavailable(), refused(), answered(200, "[")] {
        let (sent, c) = drive(
            plan_of(Profile::Counter, "add", json!(4), false),
            vec![answer],
        );
        assert_eq!((sent.len(), c.outcome), (1, Outcome::Fail));
    }
    // A counter holding something else: fail.
    let (_, c) = drive(
        plan_of(Profile::Counter, "add", json!(4), false),
        vec![ok(range(&[("fl/ab/counter", json!("x"), 3)]))],
    );
    assert_eq!(c.outcome, Outcome::Fail);
    assert!(
        plan(Profile::Counter, &op("add", json!("x")), &options(false)).is_some_and(|p| p.is_err())
    );
}

#[test]
fn a_generated_id_is_the_puts_revision() {
    let (sent, c) = drive(
        plan_of(Profile::UniqueIds, "generate", Value::Null, false),
        vec![ok(
            json!({"header": {"cluster_id": "1", "member_id": "2", "revision": "12", "raft_term": "2"}}),
        )],
    );
    assert_eq!(sent[0].path, "/v3/kv/put");
    assert_eq!(sent[0].body["key"], b64("fl/ab/unique-ids"));
    assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(12)));
    for answer in [
        ok(json!({"header": {}})),
        answered(200, "nope"),
        timeout(),
        unavailable(),
    ] {
        let (_, c) = drive(
            plan_of(Profile::UniqueIds, "generate", Value::Null, false),
            vec![answer.clone()],
        );
        assert_eq!(
            (c.outcome, c.value),
            (Outcome::Info, Value::Null),
            "{answer:?}"
        );
    }
}

fn accounts(balances: &[(i64, i64)]) -> Exchange {
    let kvs: Vec<(String, Value, i64)> = balances
        .iter()
        .enumerate()
        .map(|(i, (b, rev))| (format!("fl/ab/bank-{i}"), json!(b), *rev))
        .collect();
    let kvs: Vec<(&str, Value, i64)> = kvs
        .iter()
        .map(|(k, v, r)| (k.as_str(), v.clone(), *r))
        .collect();
    ok(range(&kvs))
}

#[test]
fn a_transfer_compares_and_puts_both_accounts() {
    let t = json!({"from": 0, "to": 2, "amount": 5});
    let (sent, c) = drive(
        plan_of(Profile::Bank, "transfer", t.clone(), true),
        vec![accounts(&[(10, 3), (10, 4), (7, 5)]), txn_ok()],
    );
    assert_eq!(
        sent[0].body,
        json!({"key": b64("fl/ab/bank-"), "range_end": b64("fl/ab/bank.")})
    );
    assert_eq!(
        sent[1].body,
        json!({
            "compare": [
                {"key": b64("fl/ab/bank-0"), "target": "MOD", "result": "EQUAL", "mod_revision": "3"},
                {"key": b64("fl/ab/bank-2"), "target": "MOD", "result": "EQUAL", "mod_revision": "5"},
            ],
            "success": [
                {"request_put": {"key": b64("fl/ab/bank-0"), "value": b64("5")}},
                {"request_put": {"key": b64("fl/ab/bank-2"), "value": b64("12")}},
            ],
        })
    );
    assert_eq!((c.outcome, c.value), (Outcome::Ok, t.clone()));
    // Insufficient funds: refused without a txn.
    let (sent, c) = drive(
        plan_of(
            Profile::Bank,
            "transfer",
            json!({"from": 1, "to": 0, "amount": 11}),
            false,
        ),
        vec![accounts(&[(10, 3), (10, 4)])],
    );
    assert_eq!((sent.len(), c.outcome), (1, Outcome::Fail));
    assert!(
        c.error
            .as_deref()
            .unwrap_or("")
            .contains("insufficient funds"),
        "{c:?}"
    );
    // An account never opened: fail.
    let (_, c) = drive(
        plan_of(
            Profile::Bank,
            "transfer",
            json!({"from": 0, "to": 3, "amount": 1}),
            false,
        ),
        vec![accounts(&[(10, 3)])],
    );
    assert_eq!(c.outcome, Outcome::Fail);
    // Unknown txn: info.
    let (_, c) = drive(
        plan_of(Profile::Bank, "transfer", t.clone(), false),
        vec![accounts(&[(10, 3), (10, 4), (7, 5)]), timeout()],
    );
    assert_eq!(c.outcome, Outcome::Info);
    for bad in [
        json!({"from": 1, "to": 1, "amount": 1}),
        json!({"from": 1, "amount": 1}),
        json!({"from": 0, "to": 1, "amount": -1}),
    ] {
        assert!(
            plan(Profile::Bank, &op("transfer", bad.clone()), &options(false))
                .is_some_and(|p| p.is_err()),
            "{bad}"
        );
    }
}

#[test]
fn a_bank_read_is_one_range_named_by_account() {
    let (sent, c) = drive(
        plan_of(Profile::Bank, "read", Value::Null, true),
        vec![accounts(&[(10, 3), (0, 4), (7, 5)])],
    );
    assert_eq!(sent[0].body["serializable"], json!(true));
    assert_eq!(
        (c.outcome, c.value),
        (Outcome::Ok, json!({"0": 10, "1": 0, "2": 7}))
    );
    let (_, c) = drive(
        plan_of(Profile::Bank, "read", Value::Null, false),
        vec![unavailable()],
    );
    assert_eq!(c.outcome, Outcome::Fail);
}

#[test]
fn a_read_only_txn_is_one_txn_of_ranges() {
    let t = json!([["r", 1, null], ["r", 2, null], ["r", 1, null]]);
    let (sent, c) = drive(
        plan_of(Profile::Txn, "txn", t, true),
        vec![ok(ranges_answer(vec![
            range(&[("fl/ab/1", json!([4, 5]), 9)]),
            range(&[]),
        ]))],
    );
    assert_eq!(
        sent[0].body,
        json!({"success": [
            {"request_range": {"key": b64("fl/ab/1"), "serializable": true}},
            {"request_range": {"key": b64("fl/ab/2"), "serializable": true}},
        ]})
    );
    assert_eq!(
        (c.outcome, c.value),
        (
            Outcome::Ok,
            json!([["r", 1, [4, 5]], ["r", 2, null], ["r", 1, [4, 5]]])
        )
    );
    let (_, c) = drive(
        plan_of(Profile::Txn, "txn", json!([["r", 1, null]]), false),
        vec![ok(ranges_answer(vec![]))],
    );
    assert_eq!(c.outcome, Outcome::Fail, "a range answer missing");
}

#[test]
fn a_txn_with_writes_compares_every_key_and_puts_each_written_key_once() {
    let t = json!([
        ["append", 1, 6],
        ["r", 1, null],
        ["r", 2, null],
        ["append", 1, 7],
        ["w", 3, 9]
    ]);
    let (sent, c) = drive(
        plan_of(Profile::Txn, "txn", t, true),
        vec![
            ok(ranges_answer(vec![
                range(&[("fl/ab/1", json!([4]), 9)]),
                range(&[("fl/ab/2", json!([1]), 10)]),
                range(&[]),
            ])),
            txn_ok(),
        ],
    );
    // The ranges of a txn with writes are linearizable whatever the flag says.
    assert_eq!(
        sent[0].body["success"][0]["request_range"],
        json!({"key": b64("fl/ab/1")})
    );
    let compares: Vec<&Value> = sent[1].body["compare"]
        .as_array()
        .map(|a| a.iter().map(|c| &c["mod_revision"]).collect())
        .unwrap_or_default();
    assert_eq!(compares, vec![&json!("9"), &json!("10"), &json!("0")]);
    assert_eq!(
        sent[1].body["success"],
        json!([
            {"request_put": {"key": b64("fl/ab/1"), "value": b64("[4,6,7]")}},
            {"request_put": {"key": b64("fl/ab/3"), "value": b64("9")}},
        ])
    );
    // Reads see the txn's own earlier writes.
    assert_eq!(
        (c.outcome, c.value),
        (
            Outcome::Ok,
            json!([
                ["append", 1, 6],
                ["r", 1, [4, 6]],
                ["r", 2, [1]],
                ["append", 1, 7],
                ["w", 3, 9]
            ])
        )
    );
}

#[test]
fn txn_conflicts_retry_and_bad_state_fails() {
    let t = json!([["append", 1, 6]]);
    let (sent, c) = drive(
        plan_of(Profile::Txn, "txn", t.clone(), false),
        vec![
            ok(ranges_answer(vec![range(&[])])),
            txn_conflict(),
            ok(ranges_answer(vec![range(&[("fl/ab/1", json!([5]), 12)])])),
            txn_ok(),
        ],
    );
    assert_eq!(sent.len(), 4);
    assert_eq!(
        sent[3].body["success"][0]["request_put"]["value"],
        b64("[5,6]")
    );
    assert_eq!(c.outcome, Outcome::Ok);
    let (_, c) = drive(
        plan_of(Profile::Txn, "txn", t.clone(), false),
        vec![ok(ranges_answer(vec![range(&[])])), unavailable()],
    );
    assert_eq!((c.outcome, c.value), (Outcome::Info, t.clone()));
    // Appending to a key that holds no list: fail, nothing written.
    let (sent, c) = drive(
        plan_of(Profile::Txn, "txn", t, false),
        vec![ok(ranges_answer(vec![range(&[("fl/ab/1", json!(3), 12)])]))],
    );
    assert_eq!((sent.len(), c.outcome), (1, Outcome::Fail));
    for bad in [json!(5), json!([["x", 1, 2]]), json!([["r", 1]])] {
        assert!(
            plan(Profile::Txn, &op("txn", bad.clone()), &options(false))
                .is_some_and(|p| p.is_err()),
            "{bad}"
        );
    }
}
