//! The pure core of every client: from what the wire said about a request to a completion.
//!
//! Transports report an [`Exchange`] (not sent / sent but no answer / answered with a status);
//! the target's API says what each status means ([`StatusMeaning`]); [`complete`] combines the
//! two with the op's kind. No I/O here, so every row of the error-mapping table in the
//! [module docs](super) is a unit test below.

use serde_json::Value;

use super::Completion;
use crate::history::Outcome;

/// Longest server message kept in a completion's error, in bytes; the rest is cut.
const MAX_MESSAGE: usize = 300;

/// The operations a client understands: the register ops, and any other op a client spec
/// defines (set adds, counter increments, transfers, transactions...), described by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// Read a key; no effect on the target.
    Read,
    /// Write a value to a key.
    Write,
    /// Compare-and-set a key from one value to another.
    Cas,
    /// Another op, known by its shape only.
    Custom(OpShape),
}

/// What the error mapping needs to know about an op that is not a register op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpShape {
    /// Whether it can change the target (then an unknown outcome is `info`, else `fail`).
    pub effect: bool,
    /// Whether an ok answer carries the op's result (a read's value, a fresh id, a
    /// transaction's reads): then the completion's value comes from the body, else it is the
    /// invoke's value.
    pub returns_value: bool,
}

impl OpKind {
    /// The kind for a history `f`; `None` for anything a register client does not do.
    pub fn parse(f: &str) -> Option<OpKind> {
        match f {
            "read" => Some(OpKind::Read),
            "write" => Some(OpKind::Write),
            "cas" => Some(OpKind::Cas),
            _ => None,
        }
    }

    /// The history name of the op (`"custom"` for an op known by its shape only).
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Cas => "cas",
            OpKind::Custom(_) => "custom",
        }
    }

    /// Whether the op can change the target: only then is an unknown outcome `info` (a read
    /// with an unknown outcome is simply `fail`: leaving it out loses nothing).
    pub fn has_effect(self) -> bool {
        match self {
            OpKind::Read => false,
            OpKind::Write | OpKind::Cas => true,
            OpKind::Custom(shape) => shape.effect,
        }
    }

    /// Whether an ok answer's body holds the op's result (see [`OpShape::returns_value`]).
    pub fn returns_value(self) -> bool {
        match self {
            OpKind::Read => true,
            OpKind::Write | OpKind::Cas => false,
            OpKind::Custom(shape) => shape.returns_value,
        }
    }
}

/// What the wire said about one request (after any redirects), before op semantics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// The request certainly did not reach the server: connection refused, DNS failure, a URL
    /// that cannot be built, a bad op. Nothing happened.
    NotSent {
        /// The cause, for the completion's error.
        reason: String,
    },
    /// The request may have reached the server but no usable answer came back: a timeout, a
    /// connection reset after sending, an answer that broke off. Anything may have happened.
    NoAnswer {
        /// The cause, for the completion's error.
        reason: String,
    },
    /// The server answered with a status and a body.
    Answered {
        /// The HTTP status code.
        status: u16,
        /// The body as text (lossy UTF-8).
        body: String,
    },
}

/// What an answered status means for one op, as the target's API defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusMeaning {
    /// It happened; for a read, the body holds the value.
    Ok,
    /// A read of a key that was never written: `ok` with value `null`.
    NotFound,
    /// It certainly did not happen.
    Fail,
    /// It may or may not have happened.
    Unknown,
}

/// Where to find things in an answer's JSON body (RFC 6901 pointers; `""` is the whole body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pointers<'a> {
    /// The value read, in an ok read's body.
    pub value: &'a str,
    /// The server's message in a non-ok body; `None` (or a miss) uses the body text.
    pub error: Option<&'a str>,
    /// What a "not found" read returns (`None`: `null`, the never-written register); an empty
    /// set reads as `[]`, a counter never incremented as `0`.
    pub not_found: Option<&'a Value>,
}

/// How an ok answer is read beyond its pointers (the templated client's answer settings; the
/// defaults, [`AnswerRules::JSON`], read a JSON body and nothing more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerRules<'a> {
    /// The value is the body's text itself (`value_format = "text"`), not JSON at a pointer.
    pub text_value: bool,
    /// An ok read whose body has nothing at the value pointer found nothing (etcd's range
    /// answers 200 without `kvs` for a key never written): it reads as "not found".
    pub missing_is_not_found: bool,
    /// An ok answer must hold `true` at this pointer, else nothing was done and the op is
    /// `fail` (etcd's txn answers 200 without `succeeded` when its compare failed).
    pub succeeded: Option<&'a str>,
}

impl AnswerRules<'static> {
    /// A JSON body, no further conditions.
    pub const JSON: AnswerRules<'static> = AnswerRules {
        text_value: false,
        missing_is_not_found: false,
        succeeded: None,
    };
}

/// Turns what happened to one request into the op's completion.
///
/// `invoke_value` is the invocation's value (returned for everything but an ok read), `meaning`
/// says what each status means for this op, `node` is who answered (or was contacted).
pub fn complete(
    kind: OpKind,
    invoke_value: &Value,
    exchange: &Exchange,
    meaning: impl Fn(u16) -> StatusMeaning,
    pointers: Pointers<'_>,
    node: &str,
) -> Completion {
    complete_with(
        kind,
        invoke_value,
        exchange,
        meaning,
        (pointers, AnswerRules::JSON),
        Ok,
        node,
    )
}

/// [`complete`] with `rules` for ok answers, and `decode` turning a value read from an ok
/// answer into the workload's value (a codec); a value that cannot be decoded is treated like
/// one that cannot be found.
pub fn complete_with(
    kind: OpKind,
    invoke_value: &Value,
    exchange: &Exchange,
    meaning: impl Fn(u16) -> StatusMeaning,
    (pointers, rules): (Pointers<'_>, AnswerRules<'_>),
    decode: impl Fn(Value) -> Result<Value, String>,
    node: &str,
) -> Completion {
    let done = |outcome, value, error| Completion {
        outcome,
        value,
        error,
        node: Some(node.to_owned()),
    };
    let unknown = |error: String| {
        let outcome = if kind.has_effect() {
            Outcome::Info
        } else {
            Outcome::Fail
        };
        done(outcome, invoke_value.clone(), Some(error))
    };
    let not_found = || {
        done(
            Outcome::Ok,
            pointers.not_found.cloned().unwrap_or(Value::Null),
            None,
        )
    };
    let reads = kind.returns_value() && !kind.has_effect();
    match exchange {
        Exchange::NotSent { reason } => done(
            Outcome::Fail,
            invoke_value.clone(),
            Some(format!("not sent: {reason}")),
        ),
        Exchange::NoAnswer { reason } => unknown(reason.clone()),
        Exchange::Answered { status, body } => match meaning(*status) {
            StatusMeaning::Ok => {
                if let Some(pointer) = rules.succeeded {
                    match succeeded(body, pointer) {
                        Ok(None) => {}
                        // The service said it did nothing.
                        Ok(Some(why)) => {
                            return done(
                                Outcome::Fail,
                                invoke_value.clone(),
                                Some(format!("{status}: {why}")),
                            )
                        }
                        // An answer that cannot be read says nothing either way.
                        Err(why) => return unknown(format!("{status}: {why}")),
                    }
                }
                if !kind.returns_value() {
                    return done(Outcome::Ok, invoke_value.clone(), None);
                }
                let read = if rules.text_value {
                    Ok(Some(Value::String(
                        body.trim_end_matches(['\r', '\n']).to_owned(),
                    )))
                } else {
                    read_value(body, pointers.value)
                };
                match read.and_then(|v| v.map(&decode).transpose()) {
                    Ok(Some(value)) => done(Outcome::Ok, value, None),
                    Ok(None) if reads && rules.missing_is_not_found => not_found(),
                    Ok(None) => {
                        let why = format!(
                            "the answer has no value at {:?}: {}",
                            pointers.value,
                            cut(body)
                        );
                        cannot_read(kind, &unknown, &done, format!("{status}: {why}"))
                    }
                    Err(why) => cannot_read(kind, &unknown, &done, format!("{status}: {why}")),
                }
            }
            StatusMeaning::NotFound if reads => not_found(),
            // "Not found" on a write or cas is not a defined answer; it did not apply.
            StatusMeaning::NotFound | StatusMeaning::Fail => done(
                Outcome::Fail,
                invoke_value.clone(),
                Some(format!("{status}: {}", message(body, pointers.error))),
            ),
            StatusMeaning::Unknown => {
                unknown(format!("{status}: {}", message(body, pointers.error)))
            }
        },
    }
}

/// An ok answer whose result cannot be read: an effect still happened (or may have), a read
/// simply failed.
fn cannot_read(
    kind: OpKind,
    unknown: &dyn Fn(String) -> Completion,
    done: &dyn Fn(Outcome, Value, Option<String>) -> Completion,
    why: String,
) -> Completion {
    if kind.has_effect() {
        unknown(why)
    } else {
        done(Outcome::Fail, Value::Null, Some(why))
    }
}

/// Whether the JSON body holds `true` at `pointer`: `None` when it does, the reason when it
/// does not; an error when the body is not JSON (then nothing is known).
fn succeeded(body: &str, pointer: &str) -> Result<Option<String>, String> {
    let parsed: Value = serde_json::from_str(body)
        .map_err(|e| format!("the answer is not JSON ({e}): {}", cut(body)))?;
    Ok(match parsed.pointer(pointer) {
        Some(Value::Bool(true)) => None,
        Some(other) => Some(format!("{pointer} is {other}, not true: {}", cut(body))),
        None => Some(format!("{pointer} is absent, not true: {}", cut(body))),
    })
}

/// The value an ok read returned: the body parsed as JSON, at `pointer` (`None`: nothing
/// there).
fn read_value(body: &str, pointer: &str) -> Result<Option<Value>, String> {
    let parsed: Value = serde_json::from_str(body)
        .map_err(|e| format!("the answer is not JSON ({e}): {}", cut(body)))?;
    Ok(parsed.pointer(pointer).cloned())
}

/// The server's message: the string (or JSON) at `pointer` in a JSON body, else the body text.
fn message(body: &str, pointer: Option<&str>) -> String {
    let at_pointer = pointer.and_then(|p| {
        let parsed: Value = serde_json::from_str(body).ok()?;
        match parsed.pointer(p)? {
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    });
    let text = at_pointer.unwrap_or_else(|| body.trim().to_owned());
    if text.is_empty() {
        "(empty answer)".to_owned()
    } else {
        cut(&text).to_owned()
    }
}

/// At most [`MAX_MESSAGE`] bytes of `text`, cut on a character boundary.
fn cut(text: &str) -> &str {
    if text.len() <= MAX_MESSAGE {
        return text;
    }
    let mut end = MAX_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PTR: Pointers<'static> = Pointers {
        value: "/value",
        error: Some("/error"),
        not_found: None,
    };

    /// raftkv's table, as the raftkv client configures it.
    fn raftkv(kind: OpKind) -> impl Fn(u16) -> StatusMeaning {
        move |s| match s {
            200..=299 => StatusMeaning::Ok,
            404 if !kind.has_effect() => StatusMeaning::NotFound,
            503 | 300..=499 => StatusMeaning::Fail,
            _ => StatusMeaning::Unknown,
        }
    }

    fn run(kind: OpKind, value: Value, ex: Exchange) -> Completion {
        complete(kind, &value, &ex, raftkv(kind), PTR, "n1")
    }

    fn answered(status: u16, body: &str) -> Exchange {
        Exchange::Answered {
            status,
            body: body.to_owned(),
        }
    }

    #[test]
    fn not_sent_is_fail_for_every_kind() {
        for (kind, v) in [
            (OpKind::Read, json!(null)),
            (OpKind::Write, json!(3)),
            (OpKind::Cas, json!([1, 2])),
        ] {
            let c = run(
                kind,
                v.clone(),
                Exchange::NotSent {
                    reason: "connection refused".into(),
                },
            );
            assert_eq!(c.outcome, Outcome::Fail, "{kind:?}");
            assert_eq!(c.value, v);
            assert_eq!(c.error.as_deref(), Some("not sent: connection refused"));
            assert_eq!(c.node.as_deref(), Some("n1"));
        }
    }

    #[test]
    fn no_answer_is_info_for_writes_and_cas_and_fail_for_reads() {
        let ex = Exchange::NoAnswer {
            reason: "timed out after 1500 ms".into(),
        };
        assert_eq!(
            run(OpKind::Write, json!(3), ex.clone()).outcome,
            Outcome::Info
        );
        assert_eq!(
            run(OpKind::Cas, json!([1, 2]), ex.clone()).outcome,
            Outcome::Info
        );
        let read = run(OpKind::Read, json!(null), ex);
        assert_eq!(read.outcome, Outcome::Fail);
        assert_eq!(read.error.as_deref(), Some("timed out after 1500 ms"));
    }

    #[test]
    fn ok_read_takes_the_value_at_the_pointer() {
        let c = run(
            OpKind::Read,
            json!(null),
            answered(200, r#"{"value": {"a": [1]}}"#),
        );
        assert_eq!(c.outcome, Outcome::Ok);
        assert_eq!(c.value, json!({"a": [1]}));
        assert_eq!(c.error, None);
    }

    #[test]
    fn not_found_read_is_ok_null() {
        let c = run(
            OpKind::Read,
            json!(null),
            answered(404, r#"{"error":"key never written"}"#),
        );
        assert_eq!(c.outcome, Outcome::Ok);
        assert_eq!(c.value, Value::Null);
    }

    #[test]
    fn ok_read_without_a_value_is_fail_not_a_made_up_null() {
        let c = run(OpKind::Read, json!(null), answered(200, r#"{"val": 3}"#));
        assert_eq!(c.outcome, Outcome::Fail);
        assert!(c.error.as_deref().unwrap_or("").contains("no value at"));
        let c = run(OpKind::Read, json!(null), answered(200, "three"));
        assert_eq!(c.outcome, Outcome::Fail);
        assert!(c.error.as_deref().unwrap_or("").contains("not JSON"));
    }

    #[test]
    fn ok_write_and_cas_return_the_invoke_value() {
        let c = run(OpKind::Write, json!(7), answered(200, r#"{"ok":true}"#));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(7)));
        let c = run(OpKind::Cas, json!([1, 2]), answered(204, ""));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!([1, 2])));
    }

    #[test]
    fn cas_conflict_is_fail_with_the_servers_message() {
        let c = run(
            OpKind::Cas,
            json!([1, 2]),
            answered(409, r#"{"error":"precondition failed","current":5}"#),
        );
        assert_eq!(c.outcome, Outcome::Fail);
        assert_eq!(c.value, json!([1, 2]));
        assert_eq!(c.error.as_deref(), Some("409: precondition failed"));
    }

    #[test]
    fn unavailable_is_fail_even_for_writes() {
        let c = run(
            OpKind::Write,
            json!(1),
            answered(503, r#"{"error":"no leader known","leader":null}"#),
        );
        assert_eq!(c.outcome, Outcome::Fail);
        assert_eq!(c.error.as_deref(), Some("503: no leader known"));
    }

    #[test]
    fn unfollowed_redirects_and_other_4xx_are_fail_with_the_body() {
        for status in [307, 421, 400, 422] {
            let c = run(
                OpKind::Write,
                json!(1),
                answered(status, "bad request body"),
            );
            assert_eq!(c.outcome, Outcome::Fail, "{status}");
            assert_eq!(
                c.error.as_deref(),
                Some(format!("{status}: bad request body").as_str())
            );
        }
    }

    #[test]
    fn five_hundreds_other_than_503_are_info_for_writes_fail_for_reads() {
        for status in [500, 502, 504, 599] {
            let body = r#"{"error":"outcome unknown"}"#;
            let w = run(OpKind::Write, json!(1), answered(status, body));
            assert_eq!(w.outcome, Outcome::Info, "write {status}");
            assert_eq!(
                w.error.as_deref(),
                Some(format!("{status}: outcome unknown").as_str())
            );
            let c = run(OpKind::Cas, json!([1, 2]), answered(status, body));
            assert_eq!(c.outcome, Outcome::Info, "cas {status}");
            let r = run(OpKind::Read, json!(null), answered(status, body));
            assert_eq!(r.outcome, Outcome::Fail, "read {status}");
        }
    }

    #[test]
    fn not_found_on_a_write_is_fail() {
        let c = complete(
            OpKind::Write,
            &json!(1),
            &answered(404, ""),
            |_| StatusMeaning::NotFound,
            PTR,
            "n1",
        );
        assert_eq!(c.outcome, Outcome::Fail);
        assert_eq!(c.error.as_deref(), Some("404: (empty answer)"));
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let body = "é".repeat(400);
        let c = run(OpKind::Write, json!(1), answered(400, &body));
        let error = c.error.unwrap_or_default();
        assert!(error.len() <= MAX_MESSAGE + 5, "{}", error.len());
        assert!(error.starts_with("400: é"));
    }

    #[test]
    fn non_string_error_fields_are_rendered_as_json() {
        let c = run(
            OpKind::Write,
            json!(1),
            answered(400, r#"{"error":{"code":7}}"#),
        );
        assert_eq!(c.error.as_deref(), Some(r#"400: {"code":7}"#));
    }

    const GENERATE: OpKind = OpKind::Custom(OpShape {
        effect: true,
        returns_value: true,
    });
    const SET_READ: OpKind = OpKind::Custom(OpShape {
        effect: false,
        returns_value: true,
    });
    const ADD: OpKind = OpKind::Custom(OpShape {
        effect: true,
        returns_value: false,
    });

    #[test]
    fn custom_ops_follow_their_shape() {
        let ptr = |value| Pointers {
            value,
            error: Some("/error"),
            not_found: None,
        };
        let go = |kind, value: Value, ex: &Exchange, p| {
            complete(kind, &value, ex, raftkv(kind), p, "n1")
        };
        // An effect that returns a value: the value on ok, info when unknown or unreadable.
        let c = go(
            GENERATE,
            json!(null),
            &answered(200, r#"{"id": 7}"#),
            ptr("/id"),
        );
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(7)));
        let c = go(GENERATE, json!(null), &answered(200, "garbage"), ptr("/id"));
        assert_eq!((c.outcome, c.value), (Outcome::Info, json!(null)));
        let c = go(GENERATE, json!(null), &answered(504, "{}"), ptr("/id"));
        assert_eq!(c.outcome, Outcome::Info);
        // An effect without a result: the invoke's value, fail on 409, info on 500.
        let c = go(ADD, json!(3), &answered(200, "{}"), ptr(""));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(3)));
        assert_eq!(
            go(ADD, json!(3), &answered(409, "{}"), ptr("")).outcome,
            Outcome::Fail
        );
        assert_eq!(
            go(ADD, json!(3), &answered(500, "{}"), ptr("")).outcome,
            Outcome::Info
        );
        // A read of a set: not found reads as the configured empty value; unknown is fail.
        let empty = json!([]);
        let p = Pointers {
            not_found: Some(&empty),
            ..ptr("/value")
        };
        let c = go(SET_READ, json!(null), &answered(404, "{}"), p);
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!([])));
        let c = go(
            SET_READ,
            json!(null),
            &answered(200, r#"{"value": [1]}"#),
            p,
        );
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!([1])));
        assert_eq!(
            go(SET_READ, json!(null), &answered(504, "{}"), p).outcome,
            Outcome::Fail
        );
    }

    #[test]
    fn op_kinds_parse_and_know_their_effect() {
        assert_eq!(OpKind::parse("read"), Some(OpKind::Read));
        assert_eq!(OpKind::parse("cas").map(OpKind::as_str), Some("cas"));
        assert_eq!(OpKind::parse("txn"), None);
        assert!(!OpKind::Read.has_effect());
        assert!(OpKind::Write.has_effect() && OpKind::Cas.has_effect());
    }

    fn with_rules(kind: OpKind, status: u16, body: &str, rules: AnswerRules<'_>) -> Completion {
        let value = if kind == OpKind::Cas {
            json!([1, 2])
        } else {
            json!(null)
        };
        complete_with(
            kind,
            &value,
            &answered(status, body),
            raftkv(kind),
            (PTR, rules),
            |v| match v {
                Value::String(s) => Ok(serde_json::from_str(&s).unwrap_or(Value::String(s))),
                other => Ok(other),
            },
            "n1",
        )
    }

    #[test]
    fn a_text_value_is_the_body_decoded() {
        let rules = AnswerRules {
            text_value: true,
            ..AnswerRules::JSON
        };
        let c = with_rules(OpKind::Read, 200, "734\n", rules);
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!(734)));
        let c = with_rules(OpKind::Read, 200, "abc", rules);
        assert_eq!(c.value, json!("abc"));
    }

    #[test]
    fn a_missing_value_can_mean_not_found_for_reads_only() {
        let rules = AnswerRules {
            missing_is_not_found: true,
            ..AnswerRules::JSON
        };
        let c = with_rules(OpKind::Read, 200, r#"{"header":{}}"#, rules);
        assert_eq!((c.outcome, c.value), (Outcome::Ok, Value::Null));
        let c = with_rules(OpKind::Read, 200, r#"{"header":{}}"#, AnswerRules::JSON);
        assert_eq!(c.outcome, Outcome::Fail);
    }

    #[test]
    fn an_ok_answer_without_the_success_flag_is_fail() {
        let rules = AnswerRules {
            succeeded: Some("/succeeded"),
            ..AnswerRules::JSON
        };
        let c = with_rules(OpKind::Cas, 200, r#"{"header":{}}"#, rules);
        assert_eq!(c.outcome, Outcome::Fail);
        assert_eq!(c.value, json!([1, 2]));
        assert!(c.error.unwrap_or_default().contains("/succeeded is absent"));
        let c = with_rules(OpKind::Cas, 200, r#"{"succeeded":false}"#, rules);
        assert_eq!(c.outcome, Outcome::Fail);
        let c = with_rules(OpKind::Cas, 200, r#"{"succeeded":true}"#, rules);
        assert_eq!(c.outcome, Outcome::Ok);
        let c = with_rules(OpKind::Cas, 200, "done?", rules);
        assert_eq!(
            c.outcome,
            Outcome::Info,
            "an unreadable answer is unknown, never fail"
        );
    }
}
