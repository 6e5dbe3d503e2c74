//! Path and body templates with placeholders (pure): `{key}`, `{value}`, `{from}`, `{to}`,
//! and, for ops other than read/write/cas, `{value.NAME}` (field NAME of an object value, e.g.
//! a transfer's `{value.amount}`; `null` when the value has no such field).
//!
//! In a path, a placeholder becomes the value's text (strings as they are, numbers in decimal,
//! anything else as JSON), percent-encoded as one URL component. In a body, a string that is
//! exactly one placeholder becomes the JSON value itself (`{ value = "{value}" }` sends
//! `{"value": [1, 2]}` for the value `[1, 2]`); a placeholder inside a longer string is
//! replaced by its text, unencoded.

use serde_json::{Map, Value};

use crate::client::mapping::OpKind;
use crate::client::render;

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
}

impl Var {
    fn parse(name: &str) -> Option<Var> {
        match name {
            "key" => Some(Var::Key),
            "value" => Some(Var::Value),
            "from" => Some(Var::From),
            "to" => Some(Var::To),
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
            Var::Field(f) => format!("value.{f}"),
        }
    }

    /// Whether an op of `kind` can fill this placeholder.
    pub(crate) fn available(&self, kind: OpKind) -> bool {
        match (kind, self) {
            (_, Var::Key) => true,
            (OpKind::Read, _) => false,
            (OpKind::Write, v) => *v == Var::Value,
            (OpKind::Cas, v) => matches!(v, Var::From | Var::To),
            (OpKind::Custom(_), v) => matches!(v, Var::Value | Var::Field(_)),
        }
    }

    /// The placeholders an op of `kind` can fill, for messages.
    fn listed(kind: OpKind) -> &'static str {
        match kind {
            OpKind::Read => "{key}",
            OpKind::Write => "{key}, {value}",
            OpKind::Cas => "{key}, {from}, {to}",
            OpKind::Custom(_) => "{key}, {value}, {value.NAME}",
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
}

impl<'a> Vars<'a> {
    /// The placeholders' values for an op of `kind` on `key` with the invoke's `value`; a cas
    /// value must be `[from, to]`.
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
        })
    }

    fn get(&self, var: &Var) -> &'a Value {
        const NULL: &Value = &Value::Null;
        match var {
            Var::Key => self.key,
            Var::Value => self.value,
            Var::From => self.from,
            Var::To => self.to,
            Var::Field(f) => self.value.get(f).unwrap_or(NULL),
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
                format!("unknown placeholder {{{name}}} in {text:?} (known: {{key}}, {{value}}, {{from}}, {{to}}, {{value.NAME}})")
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
                Piece::Var(v) if encode => out.push_str(&render::component(vars.get(v))),
                Piece::Var(v) => out.push_str(&render::text(vars.get(v))),
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
            BodyTemplate::Var(v) => vars.get(v).clone(),
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
            Some("{value} is not available to read (it has {key})")
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
            Some("{value.a} is not available to write (it has {key}, {value})")
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
}
