//! Value and key codecs (pure): how a workload's value travels in a request and comes back
//! out of an answer, for services that do not store JSON values as JSON.
//!
//! | codec | sent | read back |
//! |---|---|---|
//! | `json` (default) | the value itself | the value itself |
//! | `string` | the value's text (`734` → `"734"`, `[1,2]` → `"[1,2]"`) | a string that parses as JSON becomes that JSON (`"734"` → `734`), any other string stays a string |
//! | `base64` | base64 of the value's text (etcd v3) | base64-decoded, then as `string` |
//!
//! `null` is never encoded (it stays `null`: "nothing there"). Read back, lists and objects
//! are decoded element by element (a set read as `["1", "2"]` becomes `[1, 2]`).
//!
//! Keys have their own codec ([`KeyCodec`]): `text` (as today) or `base64`. A run-scoped key
//! is the run's prefix followed by the key's text ([`scope`]). A transaction's micro-ops
//! (`[f, key, value]`) are encoded element by element ([`encode_txn`]), and its answer
//! decoded back onto the invoke's keys ([`decode_txn`]).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::client::render;

/// How a value is written into a request and read back from an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// The JSON value as it is (today's behaviour).
    #[default]
    Json,
    /// The value's text; read back, text that parses as JSON becomes that JSON.
    String,
    /// Base64 of the value's text; read back, decoded, then as [`Codec::String`].
    Base64,
}

/// How a key is written into a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyCodec {
    /// The key as it is: its text in a path, the key itself in a JSON body.
    #[default]
    Text,
    /// Base64 of the key's text (etcd v3).
    Base64,
}

impl Codec {
    /// The field value a spec writes for this codec (for messages).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Json => "json",
            Codec::String => "string",
            Codec::Base64 => "base64",
        }
    }

    /// `value` as it goes out.
    pub fn encode(self, value: &Value) -> Value {
        match (self, value) {
            (_, Value::Null) | (Codec::Json, _) => value.clone(),
            (Codec::String, Value::String(_)) => value.clone(),
            (Codec::String, other) => Value::String(render::text(other)),
            (Codec::Base64, other) => Value::String(B64.encode(render::text(other))),
        }
    }

    /// A value read back, turned into what the workload wrote.
    pub fn decode(self, value: Value) -> Result<Value, String> {
        match self {
            Codec::Json => Ok(value),
            Codec::String => Ok(decode_deep(value, &|s| Ok(from_text(s)))?),
            Codec::Base64 => decode_deep(value, &|s| {
                let bytes = B64
                    .decode(s.trim())
                    .map_err(|e| format!("the value {s:?} is not base64 ({e})"))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| format!("the value {s:?} decodes to bytes that are not UTF-8"))?;
                Ok(from_text(text))
            }),
        }
    }
}

impl KeyCodec {
    /// `key` as it goes out.
    pub fn encode(self, key: &Value) -> Value {
        match self {
            KeyCodec::Text => key.clone(),
            KeyCodec::Base64 => Value::String(B64.encode(render::text(key))),
        }
    }
}

/// Text that parses as JSON becomes that JSON; anything else stays a string.
fn from_text(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// Applies `leaf` to every string in `value` (inside lists and objects too).
fn decode_deep(
    value: Value,
    leaf: &dyn Fn(String) -> Result<Value, String>,
) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => leaf(s)?,
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| decode_deep(v, leaf))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, decode_deep(v, leaf)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other,
    })
}

/// The key a run sends: `prefix` then the key's text; the key unchanged when there is no
/// prefix (so an unscoped integer key stays an integer in a JSON body).
pub fn scope(prefix: &str, key: &Value) -> Value {
    if prefix.is_empty() {
        key.clone()
    } else {
        Value::String(format!("{prefix}{}", render::text(key)))
    }
}

/// How keys and values of one op go out and come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codecs<'a> {
    /// The values' codec.
    pub value: Codec,
    /// The keys' codec.
    pub key: KeyCodec,
    /// The run's key prefix (`""`: keys as the workload names them).
    pub prefix: &'a str,
}

impl Codecs<'_> {
    /// A key as it goes out: scoped, then encoded.
    pub fn key(&self, key: &Value) -> Value {
        self.key.encode(&scope(self.prefix, key))
    }
}

/// A transaction's micro-ops (`[[f, key, value], ...]`) as they go out: each key scoped and
/// encoded, each value encoded (`null` reads stay `null`). Anything that is not a micro-op is
/// sent as it is.
pub fn encode_txn(ops: &Value, codecs: &Codecs<'_>) -> Value {
    let Value::Array(items) = ops else {
        return codecs.value.encode(ops);
    };
    Value::Array(
        items
            .iter()
            .map(|op| match op.as_array().map(Vec::as_slice) {
                Some([f, key, value]) => {
                    Value::Array(vec![f.clone(), codecs.key(key), codecs.value.encode(value)])
                }
                _ => op.clone(),
            })
            .collect(),
    )
}

/// A transaction's answer turned back into the workload's micro-ops: the answer must be a
/// list of `[f, key, value]` as long as the invoke's; each micro-op keeps the invoke's `f`
/// and key (the workload's own, not the scoped one on the wire) and takes the answer's value,
/// decoded.
pub fn decode_txn(answer: Value, invoke: &Value, codec: Codec) -> Result<Value, String> {
    let (Value::Array(got), Some(sent)) = (&answer, invoke.as_array()) else {
        return Err(format!(
            "the transaction's answer is not a list of micro-ops: {answer}"
        ));
    };
    if got.len() != sent.len() {
        return Err(format!(
            "the transaction's answer has {} micro-ops for the {} sent: {answer}",
            got.len(),
            sent.len()
        ));
    }
    let mut out = Vec::with_capacity(sent.len());
    for (i, (g, s)) in got.iter().zip(sent).enumerate() {
        match (
            g.as_array().map(Vec::as_slice),
            s.as_array().map(Vec::as_slice),
        ) {
            (Some([_, _, value]), Some([f, key, _])) => out.push(Value::Array(vec![
                f.clone(),
                key.clone(),
                codec.decode(value.clone())?,
            ])),
            _ => {
                return Err(format!(
                    "micro-op {i} of the transaction's answer is not [f, key, value]: {g}"
                ))
            }
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_the_identity() {
        for v in [json!(734), json!("734"), json!([1, 2]), json!(null)] {
            assert_eq!(Codec::Json.encode(&v), v);
            assert_eq!(Codec::Json.decode(v.clone()), Ok(v));
        }
    }

    #[test]
    fn string_sends_text_and_reads_back_the_written_type() {
        assert_eq!(Codec::String.encode(&json!(734)), json!("734"));
        assert_eq!(Codec::String.encode(&json!([1, 2])), json!("[1,2]"));
        assert_eq!(Codec::String.encode(&json!("abc")), json!("abc"));
        assert_eq!(
            Codec::String.encode(&json!(null)),
            json!(null),
            "never \"null\""
        );
        assert_eq!(Codec::String.decode(json!("734")), Ok(json!(734)));
        assert_eq!(Codec::String.decode(json!("[1,2]")), Ok(json!([1, 2])));
        assert_eq!(Codec::String.decode(json!("abc")), Ok(json!("abc")));
        assert_eq!(Codec::String.decode(json!(734)), Ok(json!(734)));
        assert_eq!(Codec::String.decode(json!(null)), Ok(json!(null)));
        assert_eq!(Codec::String.decode(json!(["1", "2"])), Ok(json!([1, 2])));
        assert_eq!(
            Codec::String.decode(json!({"0": "20", "1": 17})),
            Ok(json!({"0": 20, "1": 17}))
        );
    }

    #[test]
    fn base64_round_trips_through_text() {
        assert_eq!(Codec::Base64.encode(&json!(734)), json!("NzM0"));
        assert_eq!(Codec::Base64.encode(&json!(null)), json!(null));
        assert_eq!(Codec::Base64.decode(json!("NzM0")), Ok(json!(734)));
        assert_eq!(Codec::Base64.decode(json!("YWJj")), Ok(json!("abc")));
        let err = Codec::Base64.decode(json!("not base64!")).unwrap_err();
        assert!(err.contains("is not base64"), "{err}");
    }

    #[test]
    fn keys_are_scoped_then_encoded() {
        let plain = Codecs {
            value: Codec::Json,
            key: KeyCodec::Text,
            prefix: "",
        };
        assert_eq!(plain.key(&json!(3)), json!(3));
        let scoped = Codecs {
            prefix: "r1-",
            ..plain
        };
        assert_eq!(scoped.key(&json!(3)), json!("r1-3"));
        let etcd = Codecs {
            key: KeyCodec::Base64,
            ..scoped
        };
        assert_eq!(etcd.key(&json!("x")), json!(B64.encode("r1-x")));
    }

    #[test]
    fn transactions_are_encoded_and_decoded_per_micro_op() {
        let codecs = Codecs {
            value: Codec::String,
            key: KeyCodec::Text,
            prefix: "r1-",
        };
        let invoke = json!([["append", 3, 7], ["r", 3, null], ["w", "k", 2]]);
        assert_eq!(
            encode_txn(&invoke, &codecs),
            json!([
                ["append", "r1-3", "7"],
                ["r", "r1-3", null],
                ["w", "r1-k", "2"]
            ])
        );
        let answer = json!([
            ["append", "r1-3", "7"],
            ["r", "r1-3", ["5", "7"]],
            ["w", "r1-k", "2"]
        ]);
        assert_eq!(
            decode_txn(answer, &invoke, Codec::String),
            Ok(json!([["append", 3, 7], ["r", 3, [5, 7]], ["w", "k", 2]]))
        );
        let err = decode_txn(json!([["r", 1, 2]]), &invoke, Codec::Json).unwrap_err();
        assert!(err.contains("1 micro-ops for the 3 sent"), "{err}");
        assert!(decode_txn(json!({"ok": true}), &invoke, Codec::Json).is_err());
    }
}
