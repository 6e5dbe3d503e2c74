//! etcd's v3 JSON gateway in pieces (pure): request bodies for ranges, compares and puts, and
//! the parts of answers the workload mappings read (every kv of a range with its
//! `mod_revision`, a txn's `succeeded` and its range responses, a header's revision).
//!
//! Measured on etcd 3.4.23: zero, false and empty fields are left out (a missing `kvs` is an
//! empty range, a missing `value` an empty value), and 64-bit numbers arrive as strings.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::encode;

/// The gateway path of a single range.
pub const RANGE: &str = "/v3/kv/range";
/// The gateway path of a single put.
pub const PUT: &str = "/v3/kv/put";
/// The gateway path of a transaction.
pub const TXN: &str = "/v3/kv/txn";

/// One key-value pair of a range answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Kv {
    /// The key as text (lossy UTF-8).
    pub key: String,
    /// The value parsed as JSON (bytes that are not JSON come back as a string).
    pub value: Value,
    /// The revision of the key's last modification (what an optimistic txn compares).
    pub mod_revision: i64,
}

/// The end of the range holding every key that starts with `prefix`: the prefix with its last
/// byte incremented (bytes `0xff` at the end are dropped first, as etcd's clients do); `"\0"`
/// (every key) when the prefix is empty or all `0xff`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A range request for one key (the body of [`RANGE`], or of a txn's `request_range`).
pub fn range_key(key: &str, serializable: bool) -> Value {
    let mut body = json!({ "key": encode(key.as_bytes()) });
    if serializable {
        body["serializable"] = json!(true);
    }
    body
}

/// A range request for every key under `prefix`: one read, so one consistent snapshot.
pub fn range_prefix(prefix: &str, serializable: bool) -> Value {
    let mut body = range_key(prefix, serializable);
    body["range_end"] = json!(encode(&prefix_end(prefix.as_bytes())));
    body
}

/// A put request of `value` (stored as its JSON text) to `key`.
pub fn put(key: &str, value: &Value) -> Value {
    json!({ "key": encode(key.as_bytes()), "value": encode(value.to_string().as_bytes()) })
}

/// A compare that holds when `key` was last modified at `mod_revision` (0: the key does not
/// exist, which etcd compares as revision 0).
pub fn compare_mod(key: &str, mod_revision: i64) -> Value {
    json!({
        "key": encode(key.as_bytes()),
        "target": "MOD",
        "result": "EQUAL",
        "mod_revision": mod_revision.to_string(),
    })
}

/// A transaction: if every compare holds, every put is applied (atomically, as one revision);
/// else nothing is.
pub fn txn_puts(compares: Vec<Value>, puts: Vec<Value>) -> Value {
    let success: Vec<Value> = puts
        .into_iter()
        .map(|p| json!({ "request_put": p }))
        .collect();
    json!({ "compare": compares, "success": success })
}

/// A transaction of ranges only, without compares: read together at one revision.
pub fn txn_ranges(ranges: Vec<Value>) -> Value {
    let success: Vec<Value> = ranges
        .into_iter()
        .map(|r| json!({ "request_range": r }))
        .collect();
    json!({ "success": success })
}

/// An answer body as a JSON object.
pub fn parse_answer(body: &str) -> Result<Value, String> {
    let answer: Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON ({e})"))?;
    if answer.is_object() {
        Ok(answer)
    } else {
        Err(format!("the answer is not a JSON object: {answer}"))
    }
}

/// A 64-bit number the gateway sent as a string (or, leniently, as a number).
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Base64 text from the gateway, decoded.
fn decode(field: &str, v: &Value) -> Result<Vec<u8>, String> {
    let text = v
        .as_str()
        .ok_or_else(|| format!("{field} is not a string: {v}"))?;
    B64.decode(text)
        .map_err(|e| format!("{field} is not base64 ({e}): {text:?}"))
}

/// Every kv of a range answer (an object with an optional `kvs`), in key order.
pub fn kvs(range: &Value) -> Result<Vec<Kv>, String> {
    let Some(list) = range.get("kvs") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| format!("kvs is not a list: {list}"))?;
    list.iter()
        .map(|kv| {
            let key = decode("a key", kv.get("key").unwrap_or(&Value::Null))?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let value = match kv.get("value") {
                // An empty value is left out like any empty field.
                None => Value::String(String::new()),
                Some(v) => {
                    let bytes = decode("a value", v)?;
                    let text = String::from_utf8_lossy(&bytes);
                    serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
                }
            };
            // A kv that exists was modified at some revision; 0 would mean "absent".
            let mod_revision = kv
                .get("mod_revision")
                .and_then(int)
                .filter(|r| *r > 0)
                .ok_or_else(|| format!("{key}: no mod_revision in {kv}"))?;
            Ok(Kv {
                key,
                value,
                mod_revision,
            })
        })
        .collect()
}

/// The range answers inside a txn answer whose operations were all ranges, in order.
pub fn txn_range_responses(answer: &Value) -> Result<Vec<&Value>, String> {
    let Some(responses) = answer.get("responses") else {
        return Ok(Vec::new());
    };
    let responses = responses
        .as_array()
        .ok_or_else(|| format!("responses is not a list: {responses}"))?;
    responses
        .iter()
        .map(|r| {
            r.get("response_range")
                .ok_or_else(|| format!("not a range response: {r}"))
        })
        .collect()
}

/// The cluster revision in an answer's header: after a write, the revision that write made
/// (etcd gives every committed write its own revision).
pub fn header_revision(answer: &Value) -> Option<i64> {
    answer
        .pointer("/header/revision")
        .and_then(int)
        .filter(|r| *r > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end(b"a/"), b"a0".to_vec());
        assert_eq!(prefix_end(b"bank-"), b"bank.".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff, 0xff]), b"b".to_vec());
        assert_eq!(prefix_end(&[0xff]), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }

    #[test]
    fn request_bodies_are_base64_and_revisions_are_strings() {
        assert_eq!(
            range_prefix("a/", false),
            json!({"key": "YS8=", "range_end": "YTA="})
        );
        assert_eq!(
            range_key("a/x", true),
            json!({"key": "YS94", "serializable": true})
        );
        assert_eq!(
            put("k", &json!([1])),
            json!({"key": "aw==", "value": "WzFd"})
        );
        assert_eq!(
            compare_mod("k", 0),
            json!({"key": "aw==", "target": "MOD", "result": "EQUAL", "mod_revision": "0"})
        );
        let t = txn_puts(vec![compare_mod("k", 4)], vec![put("k", &json!(1))]);
        assert_eq!(t["success"][0]["request_put"]["key"], json!("aw=="));
        assert_eq!(t["compare"][0]["mod_revision"], json!("4"));
        let r = txn_ranges(vec![range_key("k", false)]);
        assert_eq!(r, json!({"success": [{"request_range": {"key": "aw=="}}]}));
    }

    #[test]
    fn range_and_txn_answers_parse_as_measured() {
        // Measured on etcd 3.4.23.
        let range = parse_answer(
            r#"{"header":{"revision":"3"},"kvs":[{"key":"YS94","create_revision":"2","mod_revision":"2","version":"1","value":"WzFd"},{"key":"YS95","create_revision":"3","mod_revision":"3","version":"1","value":"NQ=="}],"count":"2"}"#,
        )
        .unwrap();
        let got = kvs(&range).unwrap();
        assert_eq!(
            got,
            vec![
                Kv {
                    key: "a/x".into(),
                    value: json!([1]),
                    mod_revision: 2
                },
                Kv {
                    key: "a/y".into(),
                    value: json!(5),
                    mod_revision: 3
                },
            ]
        );
        assert_eq!(header_revision(&range), Some(3));
        assert_eq!(kvs(&json!({"header": {}})).unwrap(), Vec::new());
        assert!(kvs(&json!({"kvs": [{"key": "YS94", "value": "NQ=="}]})).is_err());
        assert!(kvs(&json!({"kvs": [{"key": "***", "mod_revision": "2"}]})).is_err());
        let txn = parse_answer(
            r#"{"header":{"revision":"3"},"succeeded":true,"responses":[{"response_range":{"header":{"revision":"3"},"kvs":[{"key":"YS94","create_revision":"2","mod_revision":"2","version":"1","value":"WzFd"}],"count":"1"}},{"response_range":{"header":{"revision":"3"}}}]}"#,
        )
        .unwrap();
        let responses = txn_range_responses(&txn).unwrap();
        assert_eq!(responses.len(), 2);
        assert_eq!(kvs(responses[0]).unwrap()[0].value, json!([1]));
        assert!(kvs(responses[1]).unwrap().is_empty());
        assert!(txn_range_responses(&json!({"responses": [{"response_put": {}}]})).is_err());
        assert!(parse_answer("[1]").is_err());
        assert!(parse_answer("<html>").is_err());
        assert_eq!(header_revision(&json!({"header": {}})), None);
    }
}
