//! The bank checker: money moves between a fixed set of accounts but is never created or
//! destroyed, so every read of all balances sums to the same total, and no balance is ever
//! negative.
//!
//! Ops (docs/workload-checkers.md): `transfer` with value `{"from": a, "to": b, "amount": n}`
//! and `read` whose ok value maps every account (a string) to its integer balance. Only ok
//! reads are judged. Transfers are checked for shape only: whatever subset of the `ok` and
//! `info` transfers took effect, an atomic transfer keeps the total, so no transfer outcome
//! changes what a read must sum to. That is why an `info` transfer (it may or may not have
//! happened) is handled soundly without any case analysis.
//!
//! Every bad read is reported, one anomaly per problem: `wrong-total`, `negative-balance`,
//! `wrong-accounts` (a missing, `null` or unexpected account). The result's details carry a
//! plot-ready series of totals over time (at most [`SERIES_MAX`] points; every bad read is
//! kept when thinning).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{json, Map, Value};

use super::{as_int, f_name, malformed, plural, unexpected_f, LIST_KEEP};
use crate::checker::{Anomaly, CheckError, CheckResult, CheckStats, Validity};
use crate::history::{History, Op, Outcome};

/// The checker's name in results.
pub const CHECKER: &str = "bank";

/// The most points the series of totals keeps (bad reads always stay in).
pub const SERIES_MAX: usize = 10_000;

/// The accounts that exist and the total they hold. What is not given is inferred from the
/// first ok read, and the result says so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BankOptions {
    /// The account names every read must return (`--bank-accounts N`: "0" .. "N-1").
    pub accounts: Option<Vec<String>>,
    /// What the balances always sum to (`--bank-total`).
    pub total: Option<i64>,
}

impl BankOptions {
    /// Accounts named "0" .. "n-1", as `--bank-accounts n` gives them.
    pub fn numbered(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }
}

/// One ok read, parsed.
struct Read<'h> {
    op: &'h Op,
    balances: &'h Map<String, Value>,
}

/// What is wrong with one read.
#[derive(Default)]
struct Problems {
    total: i128,
    negative: Vec<(String, i128)>,
    missing: Vec<String>,
    extra: Vec<String>,
}

/// Checks a bank history (see the module doc).
pub fn check(history: &History, opts: &BankOptions) -> Result<CheckResult, CheckError> {
    let started = Instant::now();
    let mut reads = Vec::new();
    let mut transfers: BTreeMap<&'static str, u64> = BTreeMap::new();
    for op in &history.ops {
        match f_name(op) {
            "transfer" => {
                validate_transfer(op)?;
                *transfers
                    .entry(super::outcome_name(op.outcome))
                    .or_default() += 1;
            }
            "read" => {
                if op.outcome != Outcome::Ok {
                    continue;
                }
                let Value::Object(balances) = &op.value else {
                    return Err(malformed(
                        op,
                        format!(
                            "an ok read's value must map each account to its balance, got {}",
                            op.value
                        ),
                    ));
                };
                for (account, balance) in balances {
                    if !balance.is_null() && as_int(balance).is_none() {
                        return Err(malformed(
                            op,
                            format!("account {account:?} has balance {balance}, not an integer"),
                        ));
                    }
                }
                reads.push(Read { op, balances });
            }
            _ => return Err(unexpected_f(op, CHECKER, "transfer and read")),
        }
    }

    let mut notes = Vec::new();
    let mut inferred = Vec::new();
    let first = reads.first();
    let mut accounts: Vec<String> = match (&opts.accounts, first) {
        (Some(a), _) => a.clone(),
        (None, Some(r)) => {
            inferred.push("accounts");
            notes.push(format!(
                "the accounts ({}) were inferred from the first ok read (#{}); give them \
                 explicitly (--bank-accounts) to check that read too",
                r.balances.len(),
                r.op.invoke_index
            ));
            r.balances.keys().cloned().collect()
        }
        (None, None) => Vec::new(),
    };
    accounts.sort();
    accounts.dedup();
    let total: i128 = match (opts.total, first) {
        (Some(t), _) => i128::from(t),
        (None, Some(r)) => {
            inferred.push("total");
            let t = r.balances.values().filter_map(as_int).sum();
            notes.push(format!(
                "the total ({t}) was inferred from the first ok read (#{}); give it \
                 explicitly (--bank-total) to check that read too",
                r.op.invoke_index
            ));
            t
        }
        (None, None) => 0,
    };

    let mut anomalies = Vec::new();
    let mut bad = Vec::with_capacity(reads.len());
    let mut totals = Vec::with_capacity(reads.len());
    for read in &reads {
        let p = problems(read, &accounts);
        let before = anomalies.len();
        report(read.op, &p, total, accounts.len(), &mut anomalies);
        bad.push(anomalies.len() > before);
        totals.push(p.total);
    }
    let bad_reads = bad.iter().filter(|b| **b).count();

    let (valid, cause) = if !anomalies.is_empty() {
        (Validity::Invalid, None)
    } else if reads.is_empty() {
        (
            Validity::Unknown,
            Some("no read of the balances completed".to_string()),
        )
    } else {
        (Validity::Valid, None)
    };
    let mut details = Map::new();
    details.insert("total".into(), json!(total));
    details.insert("account_count".into(), json!(accounts.len()));
    let shown: Vec<&String> = accounts.iter().take(LIST_KEEP).collect();
    details.insert("accounts".into(), json!(shown));
    details.insert("inferred".into(), json!(inferred));
    details.insert("notes".into(), json!(notes));
    details.insert("read_count".into(), json!(reads.len()));
    details.insert("bad_read_count".into(), json!(bad_reads));
    details.insert("transfers".into(), json!(transfers));
    details.insert("series".into(), series(&reads, &totals, &bad));
    Ok(CheckResult {
        checker: CHECKER.to_string(),
        valid,
        cause,
        anomalies,
        stats: CheckStats {
            ops: history.ops.len() as u64,
            keys: 1,
            elapsed_secs: started.elapsed().as_secs_f64(),
            ..CheckStats::default()
        },
        details: Some(Value::Object(details)),
    })
}

/// A transfer's value must be `{"from": a, "to": b, "amount": n}` with accounts given as
/// strings or integers and a non-negative integer amount.
fn validate_transfer(op: &Op) -> Result<(), CheckError> {
    let v = &op.invoke_value;
    let shape = || {
        malformed(
            op,
            format!(
                "a transfer's value must be {{\"from\": a, \"to\": b, \"amount\": n}}, got {v}"
            ),
        )
    };
    let Value::Object(m) = v else {
        return Err(shape());
    };
    for field in ["from", "to"] {
        match m.get(field) {
            Some(Value::String(_)) => {}
            Some(n) if as_int(n).is_some() => {}
            _ => return Err(shape()),
        }
    }
    match m.get("amount").and_then(as_int) {
        Some(n) if n >= 0 => Ok(()),
        Some(n) => Err(malformed(
            op,
            format!("a transfer's amount must not be negative, got {n}"),
        )),
        None => Err(shape()),
    }
}

/// Sums a read and compares its accounts with the expected (sorted) ones.
fn problems(read: &Read<'_>, accounts: &[String]) -> Problems {
    let mut p = Problems::default();
    let mut found = 0;
    for account in accounts {
        match read.balances.get(account).and_then(as_int) {
            Some(b) => {
                found += 1;
                p.total += b;
                if b < 0 {
                    p.negative.push((account.clone(), b));
                }
            }
            None => p.missing.push(account.clone()),
        }
    }
    let present = read.balances.values().filter(|v| !v.is_null()).count();
    if present > found {
        for (account, balance) in read.balances {
            if accounts.binary_search(account).is_err() {
                if let Some(b) = as_int(balance) {
                    p.total += b;
                    if b < 0 {
                        p.negative.push((account.clone(), b));
                    }
                }
                p.extra.push(account.clone());
            }
        }
    }
    p
}

/// Turns one read's problems into anomalies.
fn report(op: &Op, p: &Problems, total: i128, n: usize, out: &mut Vec<Anomaly>) {
    let balances = shown_balances(&op.value);
    if p.total != total {
        out.push(anomaly(
            "wrong-total",
            op,
            format!(
                "read #{} saw balances summing to {}, not the total {total} (money was {} by \
                 {}): {balances}",
                op.invoke_index,
                p.total,
                if p.total > total {
                    "created"
                } else {
                    "destroyed"
                },
                (p.total - total).abs()
            ),
        ));
    }
    if !p.negative.is_empty() {
        let list: Vec<String> = p
            .negative
            .iter()
            .map(|(a, b)| format!("{} = {b}", Value::String(a.clone())))
            .collect();
        out.push(anomaly(
            "negative-balance",
            op,
            format!(
                "read #{} saw {} (balances never go negative): {}",
                op.invoke_index,
                plural(p.negative.len(), "negative balance", "negative balances"),
                list.join(", ")
            ),
        ));
    }
    if !p.missing.is_empty() || !p.extra.is_empty() {
        let quote = |v: &[String]| {
            v.iter()
                .take(10)
                .map(|a| Value::String(a.clone()).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !p.missing.is_empty() {
            parts.push(format!(
                "lacks (or read null for) {} {}",
                plural(p.missing.len(), "account", "accounts"),
                quote(&p.missing)
            ));
        }
        if !p.extra.is_empty() {
            parts.push(format!(
                "returned {} {}",
                plural(p.extra.len(), "unexpected account", "unexpected accounts"),
                quote(&p.extra)
            ));
        }
        out.push(anomaly(
            "wrong-accounts",
            op,
            format!(
                "read #{} {}; every read must return exactly the {n} accounts",
                op.invoke_index,
                parts.join(" and ")
            ),
        ));
    }
}

fn anomaly(kind: &str, op: &Op, explanation: String) -> Anomaly {
    Anomaly {
        kind: kind.to_string(),
        key: op.key.clone(),
        ops: vec![op.invoke_index],
        explanation,
        witness: None,
    }
}

/// The balances as JSON, or just their count when there are too many to read.
fn shown_balances(v: &Value) -> String {
    match v {
        Value::Object(m) if m.len() > 16 => format!("({} accounts)", m.len()),
        other => other.to_string(),
    }
}

/// Totals over time, columns ready to plot: completion time (ns), total, read's index.
/// Thinned evenly to at most [`SERIES_MAX`] points, keeping every bad read.
fn series(reads: &[Read<'_>], totals: &[i128], bad: &[bool]) -> Value {
    let stride = reads.len().div_ceil(SERIES_MAX).max(1);
    let mut time = Vec::new();
    let mut total = Vec::new();
    let mut op = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        if i % stride == 0 || bad[i] {
            time.push(read.op.complete_time.unwrap_or(read.op.invoke_time));
            total.push(json!(totals[i]));
            op.push(read.op.invoke_index);
        }
    }
    json!({
        "time_ns": time,
        "total": total,
        "op": op,
        "thinned": stride > 1,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::history;
    use super::*;
    use serde_json::json;

    fn known(total: i64, n: usize) -> BankOptions {
        BankOptions {
            accounts: Some(BankOptions::numbered(n)),
            total: Some(total),
        }
    }

    fn transfer(from: u64, to: u64, amount: i64) -> Value {
        json!({"from": from, "to": to, "amount": amount})
    }

    fn kinds(r: &CheckResult) -> Vec<&str> {
        r.anomalies.iter().map(|a| a.kind.as_str()).collect()
    }

    #[test]
    fn reads_that_keep_the_total_are_valid_with_a_series() {
        let h = history(&[
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"0": 10, "1": 10})),
            (1, "invoke", "transfer", transfer(0, 1, 5)),
            (1, "ok", "transfer", transfer(0, 1, 5)),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"0": 5, "1": 15})),
        ]);
        let r = check(&h, &known(20, 2)).unwrap();
        assert_eq!(r.valid, Validity::Valid, "{:?}", r.anomalies);
        let d = r.details.unwrap();
        assert_eq!(d["series"]["total"], json!([20, 20]));
        assert_eq!(d["series"]["time_ns"], json!([10, 50]));
        assert_eq!(d["series"]["op"], json!([0, 4]));
        assert_eq!(d["inferred"], json!([]));
        assert_eq!(d["transfers"], json!({"ok": 1}));
    }

    #[test]
    fn info_transfer_applied_or_not_is_valid_either_way() {
        for read in [json!({"0": 10, "1": 10}), json!({"0": 3, "1": 17})] {
            let h = history(&[
                (1, "invoke", "transfer", transfer(0, 1, 7)),
                (1, "info", "transfer", transfer(0, 1, 7)),
                (0, "invoke", "read", json!(null)),
                (0, "ok", "read", read.clone()),
            ]);
            let r = check(&h, &known(20, 2)).unwrap();
            assert_eq!(r.valid, Validity::Valid, "{read}: {:?}", r.anomalies);
        }
    }

    #[test]
    fn every_read_with_the_wrong_total_is_reported() {
        let h = history(&[
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"0": 10, "1": 5})),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"0": 10, "1": 10})),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"0": 30, "1": 10})),
        ]);
        let r = check(&h, &known(20, 2)).unwrap();
        assert_eq!(kinds(&r), vec!["wrong-total", "wrong-total"]);
        assert_eq!(r.anomalies[0].ops, vec![0]);
        assert!(r.anomalies[0].explanation.contains("destroyed by 5"));
        assert!(r.anomalies[1].explanation.contains("created by 20"));
        let d = r.details.unwrap();
        assert_eq!(d["bad_read_count"], json!(2));
        assert_eq!(d["series"]["total"], json!([15, 20, 40]));
    }

    #[test]
    fn negative_balance_is_reported_even_when_the_total_holds() {
        let h = history(&[
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"0": -5, "1": 25})),
        ]);
        let r = check(&h, &known(20, 2)).unwrap();
        assert_eq!(kinds(&r), vec!["negative-balance"]);
        assert!(r.anomalies[0].explanation.contains("\"0\" = -5"));
    }

    #[test]
    fn missing_null_and_unexpected_accounts_are_reported() {
        let h = history(&[
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"0": 20, "1": null})),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"0": 10, "1": 10, "9": 0})),
        ]);
        let r = check(&h, &known(20, 2)).unwrap();
        assert_eq!(kinds(&r), vec!["wrong-accounts", "wrong-accounts"]);
        assert!(r.anomalies[0]
            .explanation
            .contains("lacks (or read null for) 1 account \"1\""));
        assert!(r.anomalies[1]
            .explanation
            .contains("1 unexpected account \"9\""));
    }

    #[test]
    fn total_and_accounts_are_inferred_from_the_first_ok_read_and_said() {
        let h = history(&[
            (0, "invoke", "read", json!(null)),
            (0, "fail", "read", json!(null)),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"a": 7, "b": 3})),
            (0, "invoke", "read", json!(null)),
            (0, "ok", "read", json!({"a": 1, "b": 3})),
        ]);
        let r = check(&h, &BankOptions::default()).unwrap();
        assert_eq!(kinds(&r), vec!["wrong-total"]);
        let d = r.details.unwrap();
        assert_eq!(d["total"], json!(10));
        assert_eq!(d["accounts"], json!(["a", "b"]));
        assert_eq!(d["inferred"], json!(["accounts", "total"]));
        assert!(d["notes"][1]
            .as_str()
            .unwrap()
            .contains("first ok read (#2)"));
    }

    #[test]
    fn no_completed_read_is_unknown() {
        let h = history(&[
            (1, "invoke", "transfer", transfer(0, 1, 7)),
            (1, "ok", "transfer", transfer(0, 1, 7)),
        ]);
        let r = check(&h, &known(20, 2)).unwrap();
        assert_eq!(r.valid, Validity::Unknown);
    }

    #[test]
    fn series_is_thinned_but_keeps_bad_reads() {
        let mut events = Vec::new();
        for i in 0..(SERIES_MAX * 2 + 1) {
            let b = if i == 7 { 11 } else { 10 };
            events.push((0, "invoke", "read", json!(null)));
            events.push((0, "ok", "read", json!({"0": b})));
        }
        let r = check(&history(&events), &known(10, 1)).unwrap();
        let s = &r.details.unwrap()["series"];
        assert_eq!(s["thinned"], json!(true));
        let n = s["op"].as_array().unwrap().len();
        assert!(n <= SERIES_MAX + 1, "{n}");
        assert!(
            s["op"].as_array().unwrap().contains(&json!(14)),
            "the bad read stays"
        );
    }

    #[test]
    fn malformed_ops_name_their_index() {
        let cases = [
            (
                vec![
                    (0, "invoke", "transfer", json!({"from": 0, "to": 1})),
                    (0, "ok", "transfer", json!(null)),
                ],
                0,
                "must be {\"from\"",
            ),
            (
                vec![(0, "invoke", "transfer", transfer(0, 1, -3))],
                0,
                "must not be negative",
            ),
            (
                vec![
                    (0, "invoke", "read", json!(null)),
                    (0, "ok", "read", json!([10, 10])),
                ],
                0,
                "must map each account",
            ),
            (
                vec![
                    (0, "invoke", "read", json!(null)),
                    (0, "ok", "read", json!({"0": 1, "1": "ten"})),
                ],
                0,
                "not an integer",
            ),
            (vec![(0, "invoke", "add", json!(1))], 0, "transfer and read"),
        ];
        for (i, (events, index, text)) in cases.iter().enumerate() {
            match check(&history(events), &known(20, 2)) {
                Err(CheckError::Malformed { index: got, reason }) => {
                    assert_eq!(got, *index, "case {i}");
                    assert!(reason.contains(text), "case {i}: {reason}");
                }
                other => panic!("case {i}: {other:?}"),
            }
        }
    }
}
