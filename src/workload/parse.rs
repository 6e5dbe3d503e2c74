//! The I/O-free validation stage: TOML text to a [`WorkloadSpec`], every field checked with an
//! error naming the file and the field.

use serde_json::Value;
use toml::{Table, Value as Toml};

use crate::checker::{ModelKind, ModelOptions};

use super::{CheckerKind, CheckerSpec, OpMix, ValueSpec, WorkloadError, WorkloadSpec};

/// Ops per key when a keyed workload does not say: small enough that a key whose ops often
/// time out (info ops stay open to the end of its history) still checks quickly.
pub const DEFAULT_OPS_PER_KEY: u64 = 100;

const TOP_FIELDS: &[&str] = &[
    "name",
    "description",
    "keys",
    "ops_per_key",
    "final_reads",
    "mix",
    "values",
    "checkers",
];
const MIX_FIELDS: &[&str] = &["read", "write", "cas"];
const VALUES_FIELDS: &[&str] = &["kind", "range"];
const CHECKER_FIELDS: &[&str] = &["name", "model", "initial", "nil_reads_match_any"];

/// Reads fields of one TOML table, each error naming `file` and the field's full path.
struct Fields<'a> {
    file: &'a str,
    prefix: String,
    table: &'a Table,
}

impl<'a> Fields<'a> {
    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    fn error(&self, name: &str, message: impl Into<String>) -> WorkloadError {
        WorkloadError::Field {
            file: self.file.to_string(),
            field: self.path(name),
            message: message.into(),
        }
    }

    fn reject_unknown(&self, known: &[&str]) -> Result<(), WorkloadError> {
        match self.table.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(self.error(
                k,
                format!("unknown field; expected one of: {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, WorkloadError> {
        match self.table.get(name) {
            None => Ok(None),
            Some(Toml::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.error(name, format!("must be a string, got {v}"))),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, WorkloadError> {
        match self.table.get(name) {
            None => Ok(None),
            Some(Toml::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.error(name, format!("must be true or false, got {v}"))),
        }
    }

    fn count(&self, name: &str) -> Result<Option<u64>, WorkloadError> {
        match self.table.get(name) {
            None => Ok(None),
            Some(Toml::Integer(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(v) => Err(self.error(name, format!("must be a non-negative integer, got {v}"))),
        }
    }

    fn weight(&self, name: &str) -> Result<f64, WorkloadError> {
        let w = match self.table.get(name) {
            None => return Ok(0.0),
            Some(Toml::Integer(i)) => *i as f64,
            Some(Toml::Float(f)) => *f,
            Some(v) => {
                return Err(self.error(name, format!("must be a non-negative number, got {v}")))
            }
        };
        if w.is_finite() && w >= 0.0 {
            Ok(w)
        } else {
            let shown = self
                .table
                .get(name)
                .map(ToString::to_string)
                .unwrap_or_default();
            Err(self.error(name, format!("must be a non-negative number, got {shown}")))
        }
    }

    fn table(&self, name: &str) -> Result<Option<Fields<'a>>, WorkloadError> {
        match self.table.get(name) {
            None => Ok(None),
            Some(Toml::Table(t)) => Ok(Some(Fields {
                file: self.file,
                prefix: self.path(name),
                table: t,
            })),
            Some(v) => Err(self.error(name, format!("must be a table, got {v}"))),
        }
    }
}

/// Parses and validates a workload; `file` names the source in errors.
pub(super) fn parse(text: &str, file: &str) -> Result<WorkloadSpec, WorkloadError> {
    let table: Table = toml::from_str(text).map_err(|e| WorkloadError::Syntax {
        file: file.to_string(),
        line: e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        }),
        message: e.message().to_string(),
    })?;
    let top = Fields {
        file,
        prefix: String::new(),
        table: &table,
    };
    top.reject_unknown(TOP_FIELDS)?;

    let name = top
        .string("name")?
        .ok_or_else(|| top.error("name", "missing; every workload needs a name"))?;
    if name.trim().is_empty() {
        return Err(top.error("name", "must not be empty"));
    }
    let description = top.string("description")?.unwrap_or_default();
    let keys = top.count("keys")?.unwrap_or(0);
    let ops_per_key = match (top.count("ops_per_key")?, keys) {
        (Some(_), 0) => {
            return Err(top.error(
                "ops_per_key",
                "only applies to keyed workloads; set keys > 0 or remove it",
            ))
        }
        (Some(0), _) => return Err(top.error("ops_per_key", "must be at least 1, got 0")),
        (Some(n), _) => n,
        (None, _) => DEFAULT_OPS_PER_KEY,
    };
    let final_reads = top.bool("final_reads")?.unwrap_or(true);
    let mix = parse_mix(&top)?;
    let values = parse_values(&top)?;
    let checkers = parse_checkers(&top)?;

    if mix.cas > 0.0 {
        if let Some(i) = checkers.iter().position(|c| c.model == ModelKind::Register) {
            return Err(top.error(
                "mix.cas",
                format!(
                    "checkers[{i}] uses the register model, which has no cas; use model \"cas-register\" or set mix.cas = 0"
                ),
            ));
        }
    }

    Ok(WorkloadSpec {
        name,
        description,
        source: file.to_string(),
        keys,
        ops_per_key,
        final_reads,
        mix,
        values,
        checkers,
    })
}

fn parse_mix(top: &Fields<'_>) -> Result<OpMix, WorkloadError> {
    let Some(mix) = top.table("mix")? else {
        return Err(top.error(
            "mix",
            "missing; give weights, e.g. [mix] read = 1, write = 1",
        ));
    };
    mix.reject_unknown(MIX_FIELDS)?;
    let parsed = OpMix {
        read: mix.weight("read")?,
        write: mix.weight("write")?,
        cas: mix.weight("cas")?,
    };
    if parsed.read + parsed.write + parsed.cas <= 0.0 {
        return Err(top.error(
            "mix",
            "at least one of read, write, cas must have a positive weight",
        ));
    }
    Ok(parsed)
}

fn parse_values(top: &Fields<'_>) -> Result<ValueSpec, WorkloadError> {
    let Some(values) = top.table("values")? else {
        return Ok(ValueSpec::Unique);
    };
    values.reject_unknown(VALUES_FIELDS)?;
    let kind = values
        .string("kind")?
        .unwrap_or_else(|| "unique".to_string());
    let range = values.table.get("range");
    match (kind.as_str(), range) {
        ("unique", None) => Ok(ValueSpec::Unique),
        ("unique", Some(_)) => Err(values.error(
            "range",
            "only applies to kind = \"random\" (unique values count up from 1)",
        )),
        ("random", None) => Err(values.error(
            "range",
            "missing; kind = \"random\" needs range = [min, max]",
        )),
        ("random", Some(r)) => {
            let bounds = match r {
                Toml::Array(a) if a.len() == 2 => match (&a[0], &a[1]) {
                    (Toml::Integer(lo), Toml::Integer(hi)) => Some((*lo, *hi)),
                    _ => None,
                },
                _ => None,
            };
            match bounds {
                Some((min, max)) if min <= max => Ok(ValueSpec::Random { min, max }),
                Some(_) => Err(values.error("range", format!("min must not exceed max, got {r}"))),
                None => Err(values.error(
                    "range",
                    format!("must be [min, max], two integers, got {r}"),
                )),
            }
        }
        (other, _) => Err(values.error(
            "kind",
            format!("must be \"unique\" or \"random\", got {other:?}"),
        )),
    }
}

fn parse_checkers(top: &Fields<'_>) -> Result<Vec<CheckerSpec>, WorkloadError> {
    let list =
        match top.table.get("checkers") {
            None => return Err(top.error(
                "checkers",
                "missing; add [[checkers]] name = \"linearizability\", model = \"cas-register\"",
            )),
            Some(Toml::Array(list)) if !list.is_empty() => list,
            Some(v) => {
                return Err(top.error(
                    "checkers",
                    format!("must be a non-empty list of [[checkers]] tables, got {v}"),
                ))
            }
        };
    let mut checkers = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let prefix = format!("checkers[{i}]");
        let Toml::Table(table) = item else {
            return Err(WorkloadError::Field {
                file: top.file.to_string(),
                field: prefix,
                message: format!("must be a table, got {item}"),
            });
        };
        let c = Fields {
            file: top.file,
            prefix,
            table,
        };
        c.reject_unknown(CHECKER_FIELDS)?;
        let kind = match c.string("name")?.as_deref() {
            Some("linearizability") => CheckerKind::Linearizability,
            Some(other) => {
                return Err(c.error(
                    "name",
                    format!("unknown checker {other:?}; expected \"linearizability\""),
                ))
            }
            None => return Err(c.error("name", "missing; expected \"linearizability\"")),
        };
        let model = match c.string("model")?.as_deref() {
            Some("register") => ModelKind::Register,
            Some("cas-register") => ModelKind::CasRegister,
            Some(other) => {
                return Err(c.error(
                    "model",
                    format!("must be \"register\" or \"cas-register\" for read/write/cas ops, got {other:?}"),
                ))
            }
            None => return Err(c.error("model", "missing; expected \"register\" or \"cas-register\"")),
        };
        let initial = match table.get("initial") {
            None => Value::Null,
            Some(v) => serde_json::to_value(v).map_err(|e| c.error("initial", e.to_string()))?,
        };
        let nil_reads_match_any = c.bool("nil_reads_match_any")?.unwrap_or(false);
        checkers.push(CheckerSpec {
            kind,
            model,
            options: ModelOptions {
                initial,
                nil_reads_match_any,
            },
        });
    }
    Ok(checkers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "x"
[mix]
read = 1
write = 1
[[checkers]]
name = "linearizability"
model = "cas-register"
"#;

    /// `GOOD` with `line` inserted at the top level (before any table) or replacing a line.
    fn with(top: &str, replace: Option<(&str, &str)>) -> String {
        let mut text = format!("{top}\n{GOOD}");
        if let Some((from, to)) = replace {
            text = text.replacen(from, to, 1);
        }
        text
    }

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let spec = parse(GOOD, "workloads/x.toml").unwrap();
        assert_eq!(spec.name, "x");
        assert_eq!(spec.description, "");
        assert_eq!(spec.keys, 0);
        assert_eq!(spec.ops_per_key, DEFAULT_OPS_PER_KEY);
        assert!(spec.final_reads);
        assert_eq!(spec.values, ValueSpec::Unique);
        assert_eq!(
            spec.mix,
            OpMix {
                read: 1.0,
                write: 1.0,
                cas: 0.0
            }
        );
        assert_eq!(spec.checkers.len(), 1);
        assert_eq!(spec.checkers[0].model, ModelKind::CasRegister);
        assert_eq!(spec.checkers[0].options, ModelOptions::default());
        assert_eq!(spec.source, "workloads/x.toml");
    }

    #[test]
    fn every_field_is_read() {
        let text = r#"
name = "full"
description = "all of it"
keys = 3
ops_per_key = 50
final_reads = false
[mix]
read = 0.5
write = 2
cas = 1.5
[values]
kind = "random"
range = [0, 4]
[[checkers]]
name = "linearizability"
model = "cas-register"
initial = 0
nil_reads_match_any = true
"#;
        let spec = parse(text, "f.toml").unwrap();
        assert_eq!(spec.description, "all of it");
        assert_eq!(
            (spec.keys, spec.ops_per_key, spec.final_reads),
            (3, 50, false)
        );
        assert_eq!(
            spec.mix,
            OpMix {
                read: 0.5,
                write: 2.0,
                cas: 1.5
            }
        );
        assert_eq!(spec.values, ValueSpec::Random { min: 0, max: 4 });
        assert_eq!(spec.checkers[0].options.initial, Value::from(0));
        assert!(spec.checkers[0].options.nil_reads_match_any);
    }

    #[test]
    fn bad_fields_are_named_with_the_file() {
        let f = "workloads/x.toml";
        let cases: Vec<(String, &str)> = vec![
            (
                with("", Some(("read = 1", "read = -1"))),
                r#"workloads/x.toml: field "mix.read": must be a non-negative number, got -1"#,
            ),
            (
                with("", Some(("write = 1", "write = \"lots\""))),
                r#"workloads/x.toml: field "mix.write": must be a non-negative number, got "lots""#,
            ),
            (
                with("", Some(("read = 1", "read = nan"))),
                r#"workloads/x.toml: field "mix.read": must be a non-negative number, got nan"#,
            ),
            (
                with("", Some(("read = 1", "reed = 1"))),
                r#"workloads/x.toml: field "mix.reed": unknown field; expected one of: read, write, cas"#,
            ),
            (
                with("", Some(("read = 1\nwrite = 1", "read = 0\nwrite = 0"))),
                r#"workloads/x.toml: field "mix": at least one of read, write, cas must have a positive weight"#,
            ),
            (
                with("keys = -2", None),
                r#"workloads/x.toml: field "keys": must be a non-negative integer, got -2"#,
            ),
            (
                with("keys = 2\nops_per_key = 0", None),
                r#"workloads/x.toml: field "ops_per_key": must be at least 1, got 0"#,
            ),
            (
                with("ops_per_key = 10", None),
                r#"workloads/x.toml: field "ops_per_key": only applies to keyed workloads; set keys > 0 or remove it"#,
            ),
            (
                with("final_reads = \"yes\"", None),
                r#"workloads/x.toml: field "final_reads": must be true or false, got "yes""#,
            ),
            (
                with("colour = 1", None),
                r#"workloads/x.toml: field "colour": unknown field; expected one of: name, description, keys, ops_per_key, final_reads, mix, values, checkers"#,
            ),
            (
                GOOD.replacen("name = \"x\"", "", 1),
                r#"workloads/x.toml: field "name": missing; every workload needs a name"#,
            ),
            (
                with("", Some(("model = \"cas-register\"", "model = \"set\""))),
                r#"workloads/x.toml: field "checkers[0].model": must be "register" or "cas-register" for read/write/cas ops, got "set""#,
            ),
            (
                with("", Some(("name = \"linearizability\"", "name = \"elle\""))),
                r#"workloads/x.toml: field "checkers[0].name": unknown checker "elle"; expected "linearizability""#,
            ),
            (
                with("", Some(("read = 1", "read = 1\ncas = 1"))).replacen(
                    "\"cas-register\"",
                    "\"register\"",
                    1,
                ),
                r#"workloads/x.toml: field "mix.cas": checkers[0] uses the register model, which has no cas; use model "cas-register" or set mix.cas = 0"#,
            ),
            (
                format!("{GOOD}[values]\nkind = \"random\"\n"),
                r#"workloads/x.toml: field "values.range": missing; kind = "random" needs range = [min, max]"#,
            ),
            (
                format!("{GOOD}[values]\nkind = \"random\"\nrange = [5, 1]\n"),
                r#"workloads/x.toml: field "values.range": min must not exceed max, got [5, 1]"#,
            ),
            (
                format!("{GOOD}[values]\nkind = \"sequential\"\n"),
                r#"workloads/x.toml: field "values.kind": must be "unique" or "random", got "sequential""#,
            ),
            (
                format!("{GOOD}[values]\nrange = [1, 2]\n"),
                r#"workloads/x.toml: field "values.range": only applies to kind = "random" (unique values count up from 1)"#,
            ),
            (
                "name = \"x\"\n[mix]\nread = 1\nwrite = 1\n".to_string(),
                r#"workloads/x.toml: field "checkers": missing; add [[checkers]] name = "linearizability", model = "cas-register""#,
            ),
            (
                "name = \"x\"\ncheckers = 3\n[mix]\nwrite = 1\n".to_string(),
                r#"workloads/x.toml: field "checkers": must be a non-empty list of [[checkers]] tables, got 3"#,
            ),
        ];
        for (i, (text, want)) in cases.iter().enumerate() {
            match parse(text, f) {
                Ok(spec) => panic!("case {i}: accepted {spec:?}"),
                Err(e) => assert_eq!(e.to_string(), *want, "case {i}"),
            }
        }
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let text = "name = \"x\"\n\n[mix\nread = 1\n";
        let err = parse(text, "w.toml").unwrap_err().to_string();
        assert!(err.starts_with("w.toml:3: not valid TOML: "), "{err}");
    }
}
