//! Path and body templates with placeholders (pure): `{key}`, `{value}`, `{from}`, `{to}`,
//! and, for ops other than read/write/cas, `{value.NAME}` (field NAME of an object value, e.g.
//! a transfer's `{value.amount}`; `null` when the value has no such field). Every op also has
//! `{run}` (the run's id) and `{prefix}` (the run's key prefix, `""` when keys are not
//! run-scoped), for paths without a `{key}` (a set at `/kv/{prefix}set`).
//!
//! `{key}` is the run-scoped key, encoded with the op's key codec; `{value}`, `{from}`, `{to}`
//! and `{value.NAME}` are encoded with its value codec ([`super::codec`]).
//!
//! In a path, a placeholder becomes the value's text (strings as they are, numbers in decimal,
//! anything else as JSON), percent-encoded as one URL component. In a body, a string that is
//! exactly one placeholder becomes the JSON value itself (`{ value = "{value}" }` sends
//! `{"value": [1, 2]}` for the value `[1, 2]`); a placeholder inside a longer string is
//! replaced by its text, unencoded.

use serde_json::{Map, Value};

use super::codec::{self, Codecs};
use crate::client::mapping::OpKind;
use crate::client::render;
use crate::client::transport::Body;

/// A placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Var {
    /// The op's key (the register key when the op has none).
    Key,
    /// A write's value.
    Value,
    /// A cas's expected value.
    From,
    /// A cas's new value.
    To,
    /// A field of an object value (`{value.amount}`).
    Field(String),
    /// The run's id.
    Run,
    /// The run's key prefix.
    Prefix,
}

impl Var {
    fn parse(name: &str) -> Option<Var> {
        match name {
            "key" => Some(Var::Key),
            "value" => Some(Var::Value),
            "from" => Some(Var::From),
            "to" => Some(Var::To),
            "run" => Some(Var::Run),
            "prefix" => Some(Var::Prefix),
            _ => name
                .strip_prefix("value.")
                .filter(|f| !f.is_empty())
                .map(|f| Var::Field(f.to_owned())),
        }
    }

    fn name(&self) -> String {
        match self {
            Var::Key => "key".into(),
            Var::Value => "value".into(),
            Var::From => "from".into(),
            Var::To => "to".into(),
            Var::Run => "run".into(),
            Var::Prefix => "prefix".into(),
            Var::Field(f) => format!("value.{f}"),
        }
    }

    /// Whether an op of `kind` can fill this placeholder.
    pub(crate) fn available(&self, kind: OpKind) -> bool {
        match (kind, self) {
            (_, Var::Key | Var::Run | Var::Prefix) => true,
            (OpKind::Read, _) => false,
            (OpKind::Write, v) => *v == Var::Value,
            (OpKind::Cas, v) => matches!(v, Var::From | Var::To),
            (OpKind::Custom(_), v) => matches!(v, Var::Value | Var::Field(_)),
        }
    }

    /// The placeholders an op of `kind` can fill, for messages.
    fn listed(kind: OpKind) -> &'static str {
        match kind {
            OpKind::Read => "{key}, {run}, {prefix}",
            OpKind::Write => "{key}, {value}, {run}, {prefix}",
            OpKind::Cas => "{key}, {from}, {to}, {run}, {prefix}",
            OpKind::Custom(_) => "{key}, {value}, {value.NAME}, {run}, {prefix}",
        }
    }
}

/// The values one invocation gives the placeholders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Vars<'a> {
    key: &'a Value,
    value: &'a Value,
    from: &'a Value,
    to: &'a Value,
    run: &'a str,
    codecs: Codecs<'a>,
    /// `{value}` is a transaction's micro-ops, encoded one by one.
    txn: bool,
}

impl<'a> Vars<'a> {
    /// The placeholders' values for an op of `kind` on `key` with the invoke's `value`; a cas
    /// value must be `[from, to]`. JSON codecs, no run, no key prefix until told otherwise.
    pub(crate) fn for_op(
        kind: OpKind,
        key: &'a Value,
        value: &'a Value,
    ) -> Result<Vars<'a>, String> {
        const NULL: &Value = &Value::Null;
        let (from, to) = match (kind, value) {
            (OpKind::Cas, Value::Array(pair)) if pair.len() == 2 => (&pair[0], &pair[1]),
            (OpKind::Cas, other) => {
                return Err(format!("a cas value must be [from, to], got {other}"));
            }
            _ => (NULL, NULL),
        };
        Ok(Vars {
            key,
            value,
            from,
            to,
            run: "",
            codecs: Codecs {
                value: codec::Codec::Json,
                key: codec::KeyCodec::Text,
                prefix: "",
            },
            txn: false,
        })
    }

    /// These vars for run `run`, with `codecs` (the run's key prefix among them).
    pub(crate) fn encoded(mut self, run: &'a str, codecs: Codecs<'a>) -> Vars<'a> {
        self.run = run;
        self.codecs = codecs;
        self
    }

    /// These vars with `{value}` a transaction's micro-ops (encoded one by one).
    pub(crate) fn txn(mut self, txn: bool) -> Vars<'a> {
        self.txn = txn;
        self
    }

    fn get(&self, var: &Var) -> Value {
        let encode = |v: &Value| self.codecs.value.encode(v);
        match var {
            Var::Key => self.codecs.key(self.key),
            Var::Value if self.txn => codec::encode_txn(self.value, &self.codecs),
            Var::Value => encode(self.value),
            Var::From => encode(self.from),
            Var::To => encode(self.to),
            Var::Field(f) => encode(self.value.get(f).unwrap_or(&Value::Null)),
            Var::Run => Value::String(self.run.to_owned()),
            Var::Prefix => Value::String(self.codecs.prefix.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Var(Var),
}

/// A string with placeholders, e.g. `/kv/{key}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextTemplate {
    pieces: Vec<Piece>,
}

impl TextTemplate {
    /// Parses `text`, accepting only the placeholders in `allowed` (for `kind`, in messages).
    pub(crate) fn parse(text: &str, kind: OpKind) -> Result<TextTemplate, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!("unclosed '{{' in {text:?}"));
            };
            let name = &after[..close];
            let var = Var::parse(name).ok_or_else(|| {
                format!("unknown placeholder {{{name}}} in {text:?} (known: {{key}}, {{value}}, {{from}}, {{to}}, {{value.NAME}}, {{run}}, {{prefix}})")
            })?;
            if !var.available(kind) {
                return Err(format!(
                    "{{{}}} is not available to {} (it has {})",
                    var.name(),
                    kind.as_str(),
                    Var::listed(kind)
                ));
            }
            pieces.push(Piece::Var(var));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(TextTemplate { pieces })
    }

    /// The template filled in; `encode` percent-encodes each placeholder (for URLs).
    pub(crate) fn render(&self, vars: &Vars<'_>, encode: bool) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) if encode => out.push_str(&render::component(&vars.get(v))),
                Piece::Var(v) => out.push_str(&render::text(&vars.get(v))),
            }
        }
        out
    }

    /// The template filled in as plain text (form fields, text bodies): placeholders as their
    /// text, unencoded, `null` as nothing.
    pub(crate) fn render_plain(&self, vars: &Vars<'_>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(v) => match vars.get(v) {
                    Value::Null => {}
                    other => out.push_str(&render::text(&other)),
                },
            }
        }
        out
    }

    /// The single placeholder this template consists of, if that is all it is.
    fn only_var(&self) -> Option<Var> {
        match self.pieces.as_slice() {
            [Piece::Var(v)] => Some(v.clone()),
            _ => None,
        }
    }

    fn has_vars(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Var(_)))
    }
}

/// A JSON body with placeholders in its strings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum BodyTemplate {
    /// A string that is exactly one placeholder: the value itself.
    Var(Var),
    /// A string with placeholders inside: their text.
    Text(TextTemplate),
    /// Anything without placeholders.
    Literal(Value),
    /// An array of templates.
    Array(Vec<BodyTemplate>),
    /// An object whose values are templates (keys are literal).
    Object(Vec<(String, BodyTemplate)>),
}

impl BodyTemplate {
    /// Parses the placeholders in `body`'s strings (`field` names it in messages).
    pub(crate) fn parse(
        body: &Value,
        kind: OpKind,
        field: &str,
    ) -> Result<BodyTemplate, (String, String)> {
        Ok(match body {
            Value::String(s) => {
                let t = TextTemplate::parse(s, kind).map_err(|m| (field.to_owned(), m))?;
                match t.only_var() {
                    Some(v) => BodyTemplate::Var(v),
                    None if t.has_vars() => BodyTemplate::Text(t),
                    None => BodyTemplate::Literal(body.clone()),
                }
            }
            Value::Array(items) => BodyTemplate::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| BodyTemplate::parse(item, kind, &format!("{field}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => BodyTemplate::Object(
                map.iter()
                    .map(|(k, v)| {
                        let t = BodyTemplate::parse(v, kind, &format!("{field}.{k}"))?;
                        Ok::<_, (String, String)>((k.clone(), t))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => BodyTemplate::Literal(other.clone()),
        })
    }

    /// The body filled in.
    pub(crate) fn render(&self, vars: &Vars<'_>) -> Value {
        match self {
            BodyTemplate::Var(v) => vars.get(v),
            BodyTemplate::Text(t) => Value::String(t.render(vars, false)),
            BodyTemplate::Literal(v) => v.clone(),
            BodyTemplate::Array(items) => {
                Value::Array(items.iter().map(|t| t.render(vars)).collect())
            }
            BodyTemplate::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, t)| (k.clone(), t.render(vars)))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}

/// How a request's body is written (`body_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyFormat {
    /// A JSON document (`application/json`), from any TOML value.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`, from a flat table of strings.
    Form,
    /// Plain text (`text/plain`), from one string.
    Text,
}

/// A request body template in one of the [`BodyFormat`]s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RequestBody {
    /// A JSON body.
    Json(BodyTemplate),
    /// Form fields, in name order; a field that is one placeholder whose value is `null` is left
    /// out (a cas from "never written" sends no `from`).
    Form(Vec<(String, TextTemplate)>),
    /// A text body.
    Text(TextTemplate),
}

impl RequestBody {
    /// Parses `body` (a TOML value as JSON) in `format`; `field` names it in messages.
    pub(crate) fn parse(
        body: &Value,
        format: BodyFormat,
        kind: OpKind,
        field: &str,
    ) -> Result<RequestBody, (String, String)> {
        let text = |v: &Value, field: &str| -> Result<TextTemplate, (String, String)> {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err((
                        field.to_owned(),
                        format!("a form or text body holds strings (or numbers), got {other}"),
                    ))
                }
            };
            TextTemplate::parse(&s, kind).map_err(|m| (field.to_owned(), m))
        };
        match format {
            BodyFormat::Json => Ok(RequestBody::Json(BodyTemplate::parse(body, kind, field)?)),
            BodyFormat::Text => match body {
                Value::String(_) => Ok(RequestBody::Text(text(body, field)?)),
                _ => Err((
                    field.to_owned(),
                    "body_format = \"text\" takes one string, e.g. body = \"{value}\"".to_owned(),
                )),
            },
            BodyFormat::Form => match body {
                Value::Object(map) => Ok(RequestBody::Form(
                    map.iter()
                        .map(|(k, v)| Ok((k.clone(), text(v, &format!("{field}.{k}"))?)))
                        .collect::<Result<_, (String, String)>>()?,
                )),
                _ => Err((
                    field.to_owned(),
                    "body_format = \"form\" takes a flat table, e.g. body = { value = \"{value}\" }"
                        .to_owned(),
                )),
            },
        }
    }

    /// The body filled in.
    pub(crate) fn render(&self, vars: &Vars<'_>) -> Body {
        match self {
            RequestBody::Json(t) => Body::Json(t.render(vars)),
            RequestBody::Text(t) => Body::Text(t.render_plain(vars)),
            RequestBody::Form(fields) => Body::Form(
                fields
                    .iter()
                    .filter(|(_, t)| !t.only_var().is_some_and(|v| vars.get(&v).is_null()))
                    .map(|(k, t)| (k.clone(), t.render_plain(vars)))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_encode_each_placeholder_as_one_component() {
        let t = TextTemplate::parse("/kv/{key}/x?v={value}", OpKind::Write);
        let t = t.unwrap_or_else(|e| panic!("{e}"));
        let key = json!("a/b c");
        let value = json!({"x": 1});
        let vars = Vars::for_op(OpKind::Write, &key, &value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.render(&vars, true), "/kv/a%2Fb%20c/x?v=%7B%22x%22%3A1%7D");
        assert_eq!(t.render(&vars, false), r#"/kv/a/b c/x?v={"x":1}"#);
    }

    #[test]
    fn numeric_keys_render_in_decimal() {
        let t = TextTemplate::parse("/kv/{key}", OpKind::Read).unwrap_or_else(|e| panic!("{e}"));
        let key = json!(42);
        let vars = Vars::for_op(OpKind::Read, &key, &Value::Null).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.render(&vars, true), "/kv/42");
    }

    #[test]
    fn placeholders_are_checked_against_the_op() {
        let err = TextTemplate::parse("/kv/{value}", OpKind::Read).err();
        assert_eq!(
            err.as_deref(),
            Some("{value} is not available to read (it has {key}, {run}, {prefix})")
        );
        let err = TextTemplate::parse("/kv/{nope}", OpKind::Write)
            .err()
            .unwrap_or_default();
        assert!(err.starts_with("unknown placeholder {nope}"), "{err}");
        let err = TextTemplate::parse("/kv/{key", OpKind::Write)
            .err()
            .unwrap_or_default();
        assert!(err.starts_with("unclosed '{'"), "{err}");
        assert!(TextTemplate::parse("/kv/{from}/{to}", OpKind::Cas).is_ok());
    }

    #[test]
    fn body_placeholders_become_json_values_or_text() {
        let body = json!({"from": "{from}", "to": "{to}", "note": "k={key}", "n": [1, "{to}"], "fixed": true});
        let t =
            BodyTemplate::parse(&body, OpKind::Cas, "cas.body").unwrap_or_else(|e| panic!("{e:?}"));
        let key = json!("x");
        let value = json!([null, {"a": [2]}]);
        let vars = Vars::for_op(OpKind::Cas, &key, &value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.render(&vars),
            json!({"from": null, "to": {"a": [2]}, "note": "k=x", "n": [1, {"a": [2]}], "fixed": true})
        );
    }

    #[test]
    fn body_errors_name_the_field() {
        let body = json!({"outer": [1, {"v": "{value}"}]});
        let err = BodyTemplate::parse(&body, OpKind::Read, "read.body").err();
        assert_eq!(err.map(|(f, _)| f).as_deref(), Some("read.body.outer[1].v"));
    }

    #[test]
    fn custom_ops_fill_value_fields() {
        let kind = OpKind::Custom(crate::client::mapping::OpShape {
            effect: true,
            returns_value: false,
        });
        let body =
            json!({"from": "bank-{value.from}", "amount": "{value.amount}", "x": "{value.nope}"});
        let t = BodyTemplate::parse(&body, kind, "b").unwrap_or_else(|e| panic!("{e:?}"));
        let key = json!("k");
        let value = json!({"from": 2, "to": 0, "amount": 5});
        let vars = Vars::for_op(kind, &key, &value).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t.render(&vars),
            json!({"from": "bank-2", "amount": 5, "x": null})
        );
        let err = TextTemplate::parse("/{value.a}", OpKind::Write).err();
        assert_eq!(
            err.as_deref(),
            Some("{value.a} is not available to write (it has {key}, {value}, {run}, {prefix})")
        );
        assert!(TextTemplate::parse("/{value.}", kind).is_err());
    }

    #[test]
    fn a_cas_value_must_be_a_pair() {
        let key = json!("x");
        for bad in [json!(3), json!([1]), json!([1, 2, 3])] {
            let err = Vars::for_op(OpKind::Cas, &key, &bad)
                .err()
                .unwrap_or_default();
            assert!(err.starts_with("a cas value must be [from, to]"), "{err}");
        }
    }

    #[test]
    fn codecs_and_the_run_fill_placeholders() {
        use super::super::codec::{Codec, KeyCodec};
        let key = json!(3);
        let value = json!([null, 734]);
        let codecs = Codecs {
            value: Codec::String,
            key: KeyCodec::Text,
            prefix: "ab12-",
        };
        let vars = Vars::for_op(OpKind::Cas, &key, &value)
            .unwrap_or_else(|e| panic!("{e}"))
            .encoded("ab12", codecs);
        let t = TextTemplate::parse("/kv/{key}/{run}/{prefix}x", OpKind::Cas)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.render(&vars, true), "/kv/ab12-3/ab12/ab12-x");
        let body = RequestBody::parse(
            &json!({"from": "{from}", "to": "{to}"}),
            BodyFormat::Json,
            OpKind::Cas,
            "cas.body",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            body.render(&vars),
            Body::Json(json!({"from": null, "to": "734"}))
        );
    }

    #[test]
    fn form_bodies_leave_out_null_fields_and_text_bodies_are_plain() {
        let key = json!("k");
        let value = json!([null, 5]);
        let vars = Vars::for_op(OpKind::Cas, &key, &value).unwrap_or_else(|e| panic!("{e}"));
        let form = RequestBody::parse(
            &json!({"from": "{from}", "to": "{to}", "k": "key={key}", "n": 1}),
            BodyFormat::Form,
            OpKind::Cas,
            "cas.body",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            form.render(&vars),
            Body::Form(vec![
                ("k".into(), "key=k".into()),
                ("n".into(), "1".into()),
                ("to".into(), "5".into()),
            ])
        );
        let text = RequestBody::parse(&json!("{from}->{to}"), BodyFormat::Text, OpKind::Cas, "b")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(text.render(&vars), Body::Text("->5".into()));
        let err = RequestBody::parse(
            &json!({"a": {"b": 1}}),
            BodyFormat::Form,
            OpKind::Cas,
            "cas.body",
        );
        assert_eq!(err.err().map(|(f, _)| f).as_deref(), Some("cas.body.a"));
        let err = RequestBody::parse(&json!({"a": 1}), BodyFormat::Text, OpKind::Cas, "cas.body");
        assert!(err
            .err()
            .is_some_and(|(_, m)| m.contains("takes one string")));
    }
}
