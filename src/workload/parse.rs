//! The I/O-free validation stage: TOML text to a [`WorkloadSpec`], every field checked with an
//! error naming the file and the field.

use serde_json::Value;
use toml::{Table, Value as Toml};

use crate::checker::{ModelKind, ModelOptions};

use super::{CheckerKind, CheckerSpec, OpMix, ValueSpec, WorkloadError, WorkloadSpec};

/// Ops per key when a keyed workload does not say (Jepsen's etcd test uses 200 too).
pub const DEFAULT_OPS_PER_KEY: u64 = 200;

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
