//! The spec self-test: before a run (and in `faultline probe`), ops go through the client
//! spec on scratch keys and what comes back is compared, exactly, with what was written, so
//! a spec that does not fit the service fails with the fix spelled out instead of a run full
//! of false anomalies.
//!
//! The checks ([`Family`]) write fresh integers, as the workloads do: a register is read
//! before it is written (must read `null`), written, read, cas'd, cas'd again from the stale
//! value (must fail), and read; a set adds and reads; a counter reads, adds 1 and reads; a
//! transaction appends (or writes) and reads; unique ids are generated twice. The comparison
//! and the fix messages are pure ([`compare`], [`fix_for`]); [`run`] does the I/O through the
//! same clients the run uses, under a scratch run prefix so the run never reads what the
//! self-test wrote.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{HttpFactory, HttpSpec};
use crate::client::{render, Client, ClientFactory, Completion, Invocation, NodeInfo, Profile};
use crate::history::Outcome;

/// Which ops a workload needs checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Registers: read, write, and cas when `cas` is set.
    Register {
        /// Whether the workload draws cas ops.
        cas: bool,
        /// Whether it reads (its mix or its final reads).
        read: bool,
    },
    /// The set profile: add, then read.
    Set,
    /// The counter profile: read, add 1, read.
    Counter,
    /// The unique-ids profile: two generates.
    UniqueIds,
    /// The txn profile with list-append micro-ops.
    ListAppend,
    /// The txn profile with rw-register micro-ops.
    RwRegister,
    /// The bank profile: two scratch accounts, one transfer, one read.
    Bank,
}

/// Where an op is defined in the spec, as its section (`[read]`, `[profiles.set.read]`).
pub fn section(spec: &HttpSpec, profile: Option<Profile>, f: &str) -> String {
    match profile {
        Some(p) if spec.profile_op(p, f).is_some() => format!("[profiles.{p}.{f}]"),
        _ => format!("[{f}]"),
    }
}

/// How a value is named in messages: `"734" (a string)`.
pub fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    format!("{value} ({kind})")
}

/// What to change in `section` when a read through it returned `got` for `expected` (pure).
/// `pointer` is the op's current value pointer.
pub fn fix_for(section: &str, pointer: &str, expected: &Value, got: &Value) -> String {
    let codec = |name: &str| {
        format!("add codec = \"{name}\" to {section} (or at the top of the spec, for every op)")
    };
    let text = render::text(expected);
    if let Value::String(s) = got {
        if *s == text {
            return codec("string");
        }
        if B64.decode(s.trim()).ok().as_deref() == Some(text.as_bytes()) {
            return codec("base64");
        }
    }
    if let Some(inner) = find(got, expected, "") {
        return format!("point the value at it: value = \"{pointer}{inner}\" in {section}");
    }
    if let Some(inner) = find(got, &Value::String(text), "") {
        return format!(
            "point the value at it and read it as text: value = \"{pointer}{inner}\" and codec = \"string\" in {section}"
        );
    }
    if got.is_null() {
        return format!(
            "the read found nothing where the write wrote: check that both ops address the same key (the same {{key}} in their paths or bodies), and that {section}'s not_found does not list the status it got"
        );
    }
    format!(
        "the value does not round-trip: check the write's body and {section}'s value pointer and codec"
    )
}

/// Whether `got` is `expected` in another form (its text, base64, or inside an object): a
/// spec problem that waiting will not fix, unlike a stale or missing value (pure).
pub fn is_other_form(expected: &Value, got: &Value) -> bool {
    let text = render::text(expected);
    match got {
        Value::String(s) => {
            *s == text || B64.decode(s.trim()).ok().as_deref() == Some(text.as_bytes())
        }
        Value::Array(_) | Value::Object(_) => {
            find(got, expected, "").is_some() || find(got, &Value::String(text), "").is_some()
        }
        _ => false,
    }
}

/// Where `needle` sits inside `hay`, as a JSON pointer below `at` (not at `at` itself).
fn find(hay: &Value, needle: &Value, at: &str) -> Option<String> {
    let inner = |path: String, v: &Value| {
        if v == needle {
            Some(path)
        } else {
            find(v, needle, &path)
        }
    };
    match hay {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let k = k.replace('~', "~0").replace('/', "~1");
            inner(format!("{at}/{k}"), v)
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| inner(format!("{at}/{i}"), v)),
        _ => None,
    }
}

/// The fix for a bank read that did not show the expected balances (pure): the balances in
/// another form (a codec), or not where the read looks (its path or value pointer).
fn bank_fix(section: &str, expected: &Value, got: &Value) -> String {
    let balance = &got["0"];
    if !balance.is_null() && is_other_form(&expected["0"], balance) {
        return fix_for(section, "", &expected["0"], balance);
    }
    if got.is_object() && !balance.is_null() {
        return "the transfer did not move the money: check [profiles.bank.transfer]'s body ({value.from}, {value.to}, {value.amount} name accounts as the setup writes them: keys bank-0, bank-1, ...)".to_owned();
    }
    format!(
        "check {section}'s path and value pointer: the read must map every account (\"0\", \"1\", ...) to its balance, for the keys bank-0, bank-1, ... written through [write]"
    )
}

/// Accounts "0" and "1" of a bank read, as `{"0": b0, "1": b1}`, when both are there (pure).
fn bank_balances(read: &Value) -> Option<Value> {
    let (a, b) = (read.get("0")?, read.get("1")?);
    Some(json!({"0": a, "1": b}))
}

/// Checks a completion of op `what` (through `section`) is ok and holds `expected` (pure);
/// the error says what came back, what was expected and the field to set.
pub fn compare(
    what: &str,
    section: &str,
    pointer: &str,
    expected: &Value,
    got: &Completion,
) -> Result<(), String> {
    ok(what, section, got)?;
    if got.value == *expected {
        return Ok(());
    }
    Err(format!(
        "{what} returned {} for {} written: {}",
        describe(&got.value),
        describe(expected),
        fix_for(section, pointer, expected, &got.value)
    ))
}

/// Checks a completion of op `what` is ok (pure); the error says why not and what to check.
pub fn ok(what: &str, section: &str, got: &Completion) -> Result<(), String> {
    if got.outcome == Outcome::Ok {
        return Ok(());
    }
    let error = got.error.as_deref().unwrap_or("no error given");
    let hint = if error.contains("is not JSON") {
        format!(
            "; if the service answers the value as plain text, add value_format = \"text\" to {section} (with codec = \"string\" for numbers)"
        )
    } else if ["400:", "415:", "422:"]
        .iter()
        .any(|s| error.starts_with(s))
    {
        format!(
            "; if the service takes another body, set body_format = \"form\" or \"text\" in {section}"
        )
    } else if error.starts_with("404:") && what.contains("read") {
        format!("; if 404 means \"never written\", add not_found = [404] to {section}")
    } else {
        String::new()
    };
    Err(format!(
        "{what} ended {:?}, not ok: {error}{hint}",
        got.outcome
    ))
}

/// Reads of a value just written, at most (a stale value is read again after a pause).
const READ_TRIES: u32 = 15;
/// The pause between two such reads.
const READ_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);

/// One self-test: the factory under a scratch run, the node it talks to, the fresh values.
struct Probe<'a> {
    spec: &'a HttpSpec,
    profile: Option<Profile>,
    client: Box<dyn Client>,
    next: i64,
    log: Vec<String>,
}

impl Probe<'_> {
    fn fresh(&mut self) -> i64 {
        self.next += 1;
        self.next
    }

    async fn invoke(&mut self, f: &str, key: Option<Value>, value: Value) -> Completion {
        let op = Invocation {
            f: f.to_owned(),
            key: key.clone(),
            value: value.clone(),
        };
        let done = self.client.invoke(&op).await;
        self.log.push(format!(
            "self-test: {f} key={} value={value} -> {:?} {}{}",
            key.unwrap_or(Value::Null),
            done.outcome,
            done.value,
            done.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ));
        done
    }

    /// Reads `key` through `f` until it returns `expected`, in another form (a spec problem),
    /// or [`READ_TRIES`] reads have passed: a service that is only eventually consistent
    /// (or stale on purpose) still passes, its anomalies are the checker's to find.
    async fn read_until(&mut self, f: &str, key: Option<Value>, expected: &Value) -> Completion {
        let mut got = self.invoke(f, key.clone(), Value::Null).await;
        for _ in 1..READ_TRIES {
            let settled = got.outcome == Outcome::Ok
                && (got.value == *expected || is_other_form(expected, &got.value));
            if settled || got.outcome != Outcome::Ok {
                break;
            }
            tokio::time::sleep(READ_PAUSE).await;
            got = self.invoke(f, key.clone(), Value::Null).await;
        }
        got
    }

    fn section(&self, f: &str) -> String {
        section(self.spec, self.profile, f)
    }

    fn pointer(&self, f: &str) -> String {
        let op = match self.profile.and_then(|p| self.spec.profile_op(p, f)) {
            Some(op) => Some(op),
            None => crate::client::mapping::OpKind::parse(f).and_then(|k| self.spec.op(k)),
        };
        op.map(|o| o.value.clone()).unwrap_or_default()
    }

    async fn register(&mut self, cas: bool, read: bool) -> Result<(), String> {
        let key = Some(json!("probe"));
        let [r, w, c] = ["read", "write", "cas"].map(|f| self.section(f));
        let pr = self.pointer("read");
        if read {
            let got = self
                .invoke("read", Some(json!("probe-unwritten")), Value::Null)
                .await;
            ok("a read of a key never written", &r, &got)?;
            if !got.value.is_null() {
                return Err(format!(
                    "a read of a key never written returned {}: expected null; check which status {r} gets for a missing key (list it in not_found) or, for a 2xx without the value, add missing_value = \"not-found\"",
                    describe(&got.value)
                ));
            }
        }
        if self
            .spec
            .op(crate::client::mapping::OpKind::Write)
            .is_none()
        {
            self.log
                .push("self-test: no [write]: only the read of a key never written checked".into());
            return Ok(());
        }
        let v1 = json!(self.fresh());
        let got = self.invoke("write", key.clone(), v1.clone()).await;
        ok(&format!("write of {v1}"), &w, &got)?;
        if read {
            let got = self.read_until("read", key.clone(), &v1).await;
            compare(&format!("read after write {v1}"), &r, &pr, &v1, &got)?;
        }
        if !cas {
            return Ok(());
        }
        let v2 = json!(self.fresh());
        let got = self.invoke("cas", key.clone(), json!([v1, v2])).await;
        ok(&format!("cas from {v1} to {v2} (the value held)"), &c, &got).map_err(|e| {
            format!("{e}; check {c}'s body: {{from}} must be compared with the value the write stored (the same codec)")
        })?;
        let v3 = json!(self.fresh());
        let got = self.invoke("cas", key.clone(), json!([v1, v3])).await;
        if got.outcome == Outcome::Ok {
            return Err(format!(
                "cas from {v1} to {v3} ended ok although the key held {v2}: {c} does not compare; check its body ({{from}}) and its status lists, and if the service answers a failed compare with 2xx and a flag, add succeeded = \"/FLAG\" to {c}"
            ));
        }
        if read {
            let got = self.read_until("read", key, &v2).await;
            compare(&format!("read after cas to {v2}"), &r, &pr, &v2, &got)?;
        }
        Ok(())
    }

    async fn set(&mut self) -> Result<(), String> {
        let v = json!(self.fresh());
        let got = self.invoke("add", None, v.clone()).await;
        ok(&format!("set add of {v}"), &self.section("add"), &got)?;
        let got = self.read_until("read", None, &json!([v])).await;
        let r = self.section("read");
        ok("set read", &r, &got)?;
        let has = got.value.as_array().is_some_and(|l| l.contains(&v));
        if has {
            return Ok(());
        }
        let fix = match got.value.as_array() {
            Some(l) if l.contains(&Value::String(render::text(&v))) => {
                format!("add codec = \"string\" to {r} (or at the top of the spec, for every op)")
            }
            Some(_) => format!("check {r}'s path: it must read the set the add wrote"),
            None => fix_for(&r, &self.pointer("read"), &json!([v]), &got.value),
        };
        Err(format!(
            "set read returned {} after adding {}: expected a list holding it: {fix}",
            describe(&got.value),
            describe(&v)
        ))
    }

    async fn counter(&mut self) -> Result<(), String> {
        let r = self.section("read");
        let pr = self.pointer("read");
        let before = self.invoke("read", None, Value::Null).await;
        ok("counter read", &r, &before)?;
        let Some(n) = before.value.as_i64() else {
            return Err(format!(
                "counter read returned {}: expected an integer: {}",
                describe(&before.value),
                fix_for(&r, &pr, &json!(0), &before.value)
            ));
        };
        let got = self.invoke("add", None, json!(1)).await;
        ok("counter add of 1", &self.section("add"), &got)?;
        let got = self.read_until("read", None, &json!(n + 1)).await;
        compare(
            &format!("counter read after adding 1 to {n}"),
            &r,
            &pr,
            &json!(n + 1),
            &got,
        )
    }

    async fn unique_ids(&mut self) -> Result<(), String> {
        let g = self.section("generate");
        let a = self.invoke("generate", None, Value::Null).await;
        ok("generate", &g, &a)?;
        let b = self.invoke("generate", None, Value::Null).await;
        ok("a second generate", &g, &b)?;
        if a.value.is_null() || a.value == b.value {
            return Err(format!(
                "two generates returned {} and {}: expected two different ids; check {g}'s value pointer",
                describe(&a.value),
                describe(&b.value)
            ));
        }
        Ok(())
    }

    /// Two scratch accounts opened through `[write]` (as the bank's setup opens them), one
    /// transfer between them, then a read that must show both balances moved. Accounts the
    /// read returns besides these two are not judged here.
    async fn bank(&mut self) -> Result<(), String> {
        let w = self.section("write");
        let opening = [self.fresh(), self.fresh()];
        for (i, balance) in opening.iter().enumerate() {
            let got = self
                .invoke("write", Some(json!(format!("bank-{i}"))), json!(balance))
                .await;
            ok(
                &format!("the opening balance {balance} of account {i}"),
                &w,
                &got,
            )?;
        }
        let t = self.section("transfer");
        let got = self
            .invoke("transfer", None, json!({"from": 0, "to": 1, "amount": 1}))
            .await;
        ok("a transfer of 1 from account 0 to account 1", &t, &got)?;
        let expected = json!({"0": opening[0] - 1, "1": opening[1] + 1});
        let r = self.section("read");
        let mut got = self.invoke("read", None, Value::Null).await;
        for _ in 1..READ_TRIES {
            let settled = got.outcome != Outcome::Ok
                || bank_balances(&got.value) == Some(expected.clone())
                || is_other_form(&expected["0"], &got.value["0"]);
            if settled {
                break;
            }
            tokio::time::sleep(READ_PAUSE).await;
            got = self.invoke("read", None, Value::Null).await;
        }
        ok("a bank read", &r, &got)?;
        if bank_balances(&got.value) == Some(expected.clone()) {
            return Ok(());
        }
        Err(format!(
            "a bank read after moving 1 from account 0 (opened with {}) to account 1 (opened with {}) returned {}: expected an object mapping \"0\" to {} and \"1\" to {}: {}",
            opening[0],
            opening[1],
            describe(&got.value),
            expected["0"],
            expected["1"],
            bank_fix(&r, &expected, &got.value)
        ))
    }

    async fn txn(&mut self, append: bool) -> Result<(), String> {
        let t = self.section("txn");
        let v = json!(self.fresh());
        let (f, expected) = if append {
            ("append", json!([v]))
        } else {
            ("w", v.clone())
        };
        let got = self.invoke("txn", None, json!([[f, 0, v]])).await;
        ok(&format!("txn [[\"{f}\", 0, {v}]]"), &t, &got)?;
        let mut got = self.invoke("txn", None, json!([["r", 0, null]])).await;
        for _ in 1..READ_TRIES {
            let read = got.value.pointer("/0/2").cloned().unwrap_or(Value::Null);
            if got.outcome != Outcome::Ok || read == expected || is_other_form(&expected, &read) {
                break;
            }
            tokio::time::sleep(READ_PAUSE).await;
            got = self.invoke("txn", None, json!([["r", 0, null]])).await;
        }
        ok("txn [[\"r\", 0, null]]", &t, &got)?;
        let read = got.value.pointer("/0/2").cloned().unwrap_or(Value::Null);
        if read == expected {
            return Ok(());
        }
        Err(format!(
            "txn read returned {} (in {}) after [\"{f}\", 0, {v}]: expected {}: {}",
            describe(&read),
            got.value,
            describe(&expected),
            fix_for(&t, "", &expected, &read)
        ))
    }
}

/// Runs the self-test of `family` through `spec` against `node`, under scratch run `run`
/// (its own key prefix, so nothing the run reads is touched); `seed` picks the fresh values.
/// Ok: the log of what was sent and received. Err: the first mismatch with its fix, and the
/// log. A spec that opts out of run-scoped keys has only its registers checked (on a scratch
/// key): the profiles' fixed keys would be the run's own.
pub async fn run(
    spec: &HttpSpec,
    node: &NodeInfo,
    family: Family,
    run: &str,
    seed: u64,
) -> Result<Vec<String>, (String, Vec<String>)> {
    let profile = match family {
        Family::Register { .. } => None,
        Family::Set => Some(Profile::Set),
        Family::Counter => Some(Profile::Counter),
        Family::UniqueIds => Some(Profile::UniqueIds),
        Family::ListAppend | Family::RwRegister => Some(Profile::Txn),
        Family::Bank => Some(Profile::Bank),
    };
    let mut factory = HttpFactory::new(spec.clone(), std::slice::from_ref(node))
        .map_err(|e| (e.to_string(), Vec::new()))?
        .with_run(run);
    if let Some(p) = profile {
        factory = factory
            .with_profile(p)
            .map_err(|e| (e.to_string(), Vec::new()))?;
    }
    let scoped = !factory.key_prefix().is_empty();
    let client = factory
        .open(node)
        .map_err(|e| (e.to_string(), Vec::new()))?;
    let mut probe = Probe {
        spec,
        profile,
        client,
        // Fresh integers of the size workloads write, different on every run.
        next: 100 + i64::try_from(seed % 800).unwrap_or(0),
        log: Vec::new(),
    };
    let result = match family {
        Family::Register { cas, read } => probe.register(cas, read).await,
        _ if !scoped => {
            probe.log.push(
                "self-test: profile not checked: key_prefix = \"\" (keys are not run-scoped, so the profile's keys are the run's)"
                    .to_owned(),
            );
            Ok(())
        }
        Family::Set => probe.set().await,
        Family::Counter => probe.counter().await,
        Family::UniqueIds => probe.unique_ids().await,
        Family::ListAppend => probe.txn(true).await,
        Family::RwRegister => probe.txn(false).await,
        Family::Bank => probe.bank().await,
    };
    probe.client.close().await;
    match result {
        Ok(()) => Ok(probe.log),
        Err(e) => Err((e, probe.log)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(value: Value) -> Completion {
        Completion {
            outcome: Outcome::Ok,
            value,
            error: None,
            node: Some("n1".into()),
        }
    }

    #[test]
    fn a_string_for_an_integer_asks_for_the_string_codec() {
        let err = compare(
            "read after write 734",
            "[read]",
            "/value",
            &json!(734),
            &done(json!("734")),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "read after write 734 returned \"734\" (a string) for 734 (an integer) written: add codec = \"string\" to [read] (or at the top of the spec, for every op)"
        );
        assert!(compare("r", "[read]", "", &json!(734), &done(json!(734))).is_ok());
    }

    #[test]
    fn base64_and_nested_values_are_recognised() {
        assert!(fix_for("[read]", "", &json!(734), &json!("NzM0"))
            .starts_with("add codec = \"base64\""));
        assert_eq!(
            fix_for("[read]", "", &json!(734), &json!({"data": {"v": 734}})),
            "point the value at it: value = \"/data/v\" in [read]"
        );
        assert_eq!(
            fix_for("[read]", "/x", &json!(734), &json!({"v": "734"})),
            "point the value at it and read it as text: value = \"/x/v\" and codec = \"string\" in [read]"
        );
        assert!(
            fix_for("[read]", "", &json!(734), &json!(null)).starts_with("the read found nothing")
        );
        assert!(fix_for("[read]", "", &json!(734), &json!(735))
            .starts_with("the value does not round-trip"));
    }

    #[test]
    fn other_forms_are_told_from_stale_values() {
        assert!(is_other_form(&json!(734), &json!("734")));
        assert!(is_other_form(&json!(734), &json!("NzM0")));
        assert!(is_other_form(&json!(734), &json!({"v": 734})));
        assert!(!is_other_form(&json!(734), &json!(null)));
        assert!(!is_other_form(&json!(734), &json!(733)));
        assert!(!is_other_form(&json!(734), &json!("733")));
    }

    #[test]
    fn failures_carry_a_hint_for_their_cause() {
        let failed = |error: &str| Completion {
            outcome: Outcome::Fail,
            value: Value::Null,
            error: Some(error.to_owned()),
            node: None,
        };
        let err = ok(
            "read",
            "[read]",
            &failed("200: the answer is not JSON (x): 734"),
        )
        .unwrap_err();
        assert!(
            err.contains("add value_format = \"text\" to [read]"),
            "{err}"
        );
        let err = ok("write of 1", "[write]", &failed("415: unsupported")).unwrap_err();
        assert!(err.contains("body_format = \"form\""), "{err}");
        let err = ok("read of a key", "[read]", &failed("404: none")).unwrap_err();
        assert!(err.contains("not_found = [404]"), "{err}");
        assert_eq!(describe(&json!(null)), "null");
        assert_eq!(describe(&json!([1])), "[1] (a list)");
    }

    #[test]
    fn bank_reads_are_judged_on_the_two_scratch_accounts() {
        let expected = json!({"0": 6, "1": 9});
        let read = json!({"0": 6, "1": 9, "2": 100});
        assert_eq!(bank_balances(&read), Some(expected.clone()));
        assert_eq!(bank_balances(&json!({"0": 6})), None);
        let fix = bank_fix(
            "[profiles.bank.read]",
            &expected,
            &json!({"0": "6", "1": "9"}),
        );
        assert!(fix.contains("codec = \"string\""), "{fix}");
        let fix = bank_fix("[profiles.bank.read]", &expected, &json!({"0": 7, "1": 8}));
        assert!(fix.contains("did not move the money"), "{fix}");
        let fix = bank_fix("[profiles.bank.read]", &expected, &json!({"a": 1}));
        assert!(
            fix.starts_with("check [profiles.bank.read]'s path"),
            "{fix}"
        );
    }

    #[test]
    fn sections_name_the_profile_op_when_there_is_one() {
        let spec = crate::client::raftkv::spec().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            section(&spec, Some(Profile::Set), "read"),
            "[profiles.set.read]"
        );
        assert_eq!(section(&spec, Some(Profile::Bank), "write"), "[write]");
        assert_eq!(section(&spec, None, "cas"), "[cas]");
    }
}
