//! The I/O-free validation stage: TOML text to a [`WorkloadSpec`], every field checked with an
//! error naming the file and the field.

use serde_json::Value;
use toml::{Table, Value as Toml};

use crate::checker::{CheckModel, ModelKind, ModelOptions};

use super::kind::{BankParams, CounterParams, KeyDistribution, SetParams, TxnParams, WorkloadKind};
use super::{CheckerSpec, OpMix, ValueSpec, WorkloadError, WorkloadSpec};

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
    "kind",
];
const SET_FIELDS: &[&str] = &[
    "name",
    "description",
    "kind",
    "final_reads",
    "mix",
    "checkers",
];
const COUNTER_FIELDS: &[&str] = &[
    "name",
    "description",
    "kind",
    "final_reads",
    "max_increment",
    "mix",
    "checkers",
];
const BANK_FIELDS: &[&str] = &[
    "name",
    "description",
    "kind",
    "final_reads",
    "accounts",
    "total",
    "max_transfer",
    "mix",
    "checkers",
];
const IDS_FIELDS: &[&str] = &["name", "description", "kind", "checkers"];
const TXN_FIELDS: &[&str] = &[
    "name",
    "description",
    "kind",
    "key_count",
    "key_distribution",
    "min_txn_length",
    "max_txn_length",
    "max_writes_per_key",
    "read_fraction",
    "checkers",
];
const MIX_FIELDS: &[&str] = &["read", "write", "cas"];
const VALUES_FIELDS: &[&str] = &["kind", "range"];
const CHECKER_FIELDS: &[&str] = &[
    "name",
    "model",
    "initial",
    "nil_reads_match_any",
    "consistency_model",
    "linearizable",
    "accounts",
    "total",
];

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

    fn positive(&self, name: &str, default: u64) -> Result<u64, WorkloadError> {
        match self.count(name)? {
            None => Ok(default),
            Some(0) => Err(self.error(name, "must be at least 1, got 0")),
            Some(n) => Ok(n),
        }
    }

    fn fraction(&self, name: &str, default: f64) -> Result<f64, WorkloadError> {
        let v = match self.table.get(name) {
            None => return Ok(default),
            Some(Toml::Integer(i)) => *i as f64,
            Some(Toml::Float(f)) => *f,
            Some(v) => return Err(self.error(name, format!("must be a number in 0..=1, got {v}"))),
        };
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(self.error(name, format!("must be a number in 0..=1, got {v}")))
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
    let kind_name = top
        .string("kind")?
        .unwrap_or_else(|| "register".to_string());
    let known = match kind_name.as_str() {
        "register" => TOP_FIELDS,
        "set" => SET_FIELDS,
        "counter" => COUNTER_FIELDS,
        "bank" => BANK_FIELDS,
        "unique-ids" => IDS_FIELDS,
        "list-append" | "rw-register" => TXN_FIELDS,
        other => {
            return Err(top.error(
                "kind",
                format!(
                    "unknown workload kind {other:?}; expected one of: {}",
                    WorkloadKind::NAMES.join(", ")
                ),
            ))
        }
    };
    top.reject_unknown(known)?;

    let name = top
        .string("name")?
        .ok_or_else(|| top.error("name", "missing; every workload needs a name"))?;
    if name.trim().is_empty() {
        return Err(top.error("name", "must not be empty"));
    }
    let description = top.string("description")?.unwrap_or_default();
    if kind_name != "register" {
        return parse_other(&top, &kind_name, name, description);
    }
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
    let checkers = parse_checkers(&top, &WorkloadKind::Register)?;

    if mix.cas > 0.0 {
        if let Some(i) = checkers
            .iter()
            .position(|c| c.model == CheckModel::Linear(ModelKind::Register))
        {
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
        kind: WorkloadKind::Register,
        keys,
        ops_per_key,
        final_reads,
        mix,
        values,
        checkers,
    })
}

/// Weights of a `[mix]` table with exactly the op names `names`, at least one positive.
fn parse_weights<const N: usize>(
    top: &Fields<'_>,
    names: [&str; N],
) -> Result<[f64; N], WorkloadError> {
    let example = names
        .iter()
        .map(|n| format!("{n} = 1"))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(mix) = top.table("mix")? else {
        return Err(top.error(
            "mix",
            format!("missing; give weights, e.g. [mix] {example}"),
        ));
    };
    mix.reject_unknown(&names)?;
    let mut weights = [0.0; N];
    for (w, n) in weights.iter_mut().zip(names) {
        *w = mix.weight(n)?;
    }
    if weights.iter().sum::<f64>() <= 0.0 {
        return Err(top.error(
            "mix",
            format!(
                "at least one of {} must have a positive weight",
                names.join(", ")
            ),
        ));
    }
    Ok(weights)
}

/// A workload of a kind other than the register family: its own fields, no keys/values.
fn parse_other(
    top: &Fields<'_>,
    kind_name: &str,
    name: String,
    description: String,
) -> Result<WorkloadSpec, WorkloadError> {
    let kind = match kind_name {
        "set" => {
            let [add, read] = parse_weights(top, ["add", "read"])?;
            WorkloadKind::Set(SetParams { add, read })
        }
        "counter" => {
            let [add, read] = parse_weights(top, ["add", "read"])?;
            let max_increment = top.positive("max_increment", 5)?;
            WorkloadKind::Counter(CounterParams {
                add,
                read,
                max_increment: i64::try_from(max_increment)
                    .map_err(|_| top.error("max_increment", "too large"))?,
            })
        }
        "bank" => {
            let [transfer, read] = parse_weights(top, ["transfer", "read"])?;
            let accounts = top.positive("accounts", 5)?;
            if accounts < 2 {
                return Err(top.error(
                    "accounts",
                    "must be at least 2 (a transfer moves money between two accounts), got 1",
                ));
            }
            let total = top.count("total")?.unwrap_or(100);
            let total = i64::try_from(total).map_err(|_| top.error("total", "too large"))?;
            let max_transfer = top.positive("max_transfer", 5)?;
            let max_transfer =
                i64::try_from(max_transfer).map_err(|_| top.error("max_transfer", "too large"))?;
            WorkloadKind::Bank(BankParams {
                accounts,
                total,
                max_transfer,
                transfer,
                read,
            })
        }
        "unique-ids" => WorkloadKind::UniqueIds,
        _ => {
            let key_count = top.positive("key_count", 5)?;
            let distribution = match top.string("key_distribution")?.as_deref() {
                None | Some("exponential") => KeyDistribution::Exponential,
                Some("uniform") => KeyDistribution::Uniform,
                Some(other) => {
                    return Err(top.error(
                        "key_distribution",
                        format!("must be \"uniform\" or \"exponential\", got {other:?}"),
                    ))
                }
            };
            let min_txn_length = top.positive("min_txn_length", 1)?;
            let max_txn_length = top.positive("max_txn_length", 4)?;
            if min_txn_length > max_txn_length {
                return Err(top.error(
                    "min_txn_length",
                    format!(
                        "must not exceed max_txn_length ({max_txn_length}), got {min_txn_length}"
                    ),
                ));
            }
            let params = TxnParams {
                key_count,
                distribution,
                min_txn_length,
                max_txn_length,
                max_writes_per_key: top.positive("max_writes_per_key", 32)?,
                read_fraction: top.fraction("read_fraction", 0.5)?,
            };
            if kind_name == "list-append" {
                WorkloadKind::ListAppend(params)
            } else {
                WorkloadKind::RwRegister(params)
            }
        }
    };
    let final_reads = top.bool("final_reads")?.unwrap_or(true);
    let checkers = parse_checkers(top, &kind)?;
    Ok(WorkloadSpec {
        name,
        description,
        source: top.file.to_string(),
        final_reads: final_reads
            && matches!(
                kind,
                WorkloadKind::Set(_) | WorkloadKind::Counter(_) | WorkloadKind::Bank(_)
            ),
        kind,
        keys: 0,
        ops_per_key: DEFAULT_OPS_PER_KEY,
        mix: OpMix {
            read: 0.0,
            write: 0.0,
            cas: 0.0,
        },
        values: ValueSpec::Unique,
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

fn parse_checkers(
    top: &Fields<'_>,
    kind: &WorkloadKind,
) -> Result<Vec<CheckerSpec>, WorkloadError> {
    let example = match kind.models() {
        None => "name = \"linearizability\", model = \"cas-register\"".to_string(),
        Some(models) => format!("model = \"{}\"", models[0]),
    };
    let list = match top.table.get("checkers") {
        None => return Err(top.error("checkers", format!("missing; add [[checkers]] {example}"))),
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
        checkers.push(parse_checker(&c, kind)?);
    }
    Ok(checkers)
}

/// One `[[checkers]]` table: the model names the checker; `name` is optional and, when
/// given, must agree with it (`linearizability` for a sequential model, else the model's name).
fn parse_checker(c: &Fields<'_>, kind: &WorkloadKind) -> Result<CheckerSpec, WorkloadError> {
    let models_for_kind = kind.models();
    let expected = match models_for_kind {
        None => "\"register\" or \"cas-register\"".to_string(),
        Some(m) => m
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(" or "),
    };
    let name = c.string("name")?;
    let model_name = match (c.string("model")?, &name) {
        (Some(m), _) => m,
        // A workload checker may be named by `name` alone.
        (None, Some(n)) if n != "linearizability" => n.clone(),
        (None, _) => return Err(c.error("model", format!("missing; expected {expected}"))),
    };
    let model: CheckModel = model_name.parse().map_err(|_| {
        c.error(
            "model",
            format!(
                "unknown model {model_name:?}; expected {expected} (every model: {})",
                CheckModel::names().join(", ")
            ),
        )
    })?;
    let fits = match (models_for_kind, model.linear()) {
        (None, Some(ModelKind::Register | ModelKind::CasRegister)) => true,
        (None, _) => false,
        (Some(names), _) => names.contains(&model.name()),
    };
    if !fits {
        let message = match models_for_kind {
            None => format!(
                "must be \"register\" or \"cas-register\" for read/write/cas ops, got {model_name:?}"
            ),
            Some(_) => format!(
                "{model_name:?} does not judge {} histories; expected {expected}",
                kind.name()
            ),
        };
        return Err(c.error("model", message));
    }
    let checker_name = if model.linear().is_some() {
        "linearizability"
    } else {
        model.name()
    };
    if let Some(n) = &name {
        if n != checker_name {
            let message = if model.linear().is_some() && n != "linearizability" {
                format!("unknown checker {n:?}; expected \"linearizability\"")
            } else {
                format!("must be {checker_name:?} for model {model_name:?}, got {n:?}")
            };
            return Err(c.error("name", message));
        }
    }
    let only = |field: &str, applies: bool, to: &str| -> Result<(), WorkloadError> {
        if c.table.contains_key(field) && !applies {
            return Err(c.error(field, format!("only applies to the {to} checker")));
        }
        Ok(())
    };
    let linear = model.linear().is_some();
    only("initial", linear, "linearizability")?;
    only("nil_reads_match_any", linear, "linearizability")?;
    only("linearizable", model.name() == "set-full", "set-full")?;
    only("accounts", model.name() == "bank", "bank")?;
    only("total", model.name() == "bank", "bank")?;
    let txn = matches!(model.name(), "list-append" | "rw-register");
    only("consistency_model", txn, "list-append and rw-register")?;
    let initial = match c.table.get("initial") {
        None => Value::Null,
        Some(v) => serde_json::to_value(v).map_err(|e| c.error("initial", e.to_string()))?,
    };
    let nil_reads_match_any = c.bool("nil_reads_match_any")?.unwrap_or(false);
    let bank = match kind {
        WorkloadKind::Bank(p) => Some((
            c.count("accounts")?.unwrap_or(p.accounts),
            match c.count("total")? {
                Some(t) => i64::try_from(t).map_err(|_| c.error("total", "too large"))?,
                None => p.total,
            },
        )),
        _ => None,
    };
    Ok(CheckerSpec {
        model,
        options: ModelOptions {
            initial,
            nil_reads_match_any,
        },
        set_linearizable: c.bool("linearizable")?.unwrap_or(true),
        bank,
        consistency_model: match c.string("consistency_model")? {
            None => None,
            Some(name) => Some(
                name.parse()
                    .map_err(|e| c.error("consistency_model", format!("{e}")))?,
            ),
        },
    })
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
        assert_eq!(
            spec.checkers[0].model,
            CheckModel::Linear(ModelKind::CasRegister)
        );
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
                r#"workloads/x.toml: field "colour": unknown field; expected one of: name, description, keys, ops_per_key, final_reads, mix, values, checkers, kind"#,
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
    fn other_kinds_read_their_fields_and_defaults() {
        let bank = parse(
            "name = \"b\"\nkind = \"bank\"\naccounts = 3\ntotal = 10\n[mix]\ntransfer = 1\n[[checkers]]\nmodel = \"bank\"\n",
            "b.toml",
        )
        .unwrap();
        let WorkloadKind::Bank(p) = bank.kind else {
            panic!("{bank:?}")
        };
        assert_eq!(
            (p.accounts, p.total, p.max_transfer, p.read),
            (3, 10, 5, 0.0)
        );
        assert_eq!(bank.checkers[0].bank, Some((3, 10)));
        assert_eq!(bank.checkers[0].checker_name(), "bank");
        let txn = "name = \"t\"\nkind = \"list-append\"\n[[checkers]]\nmodel = \"list-append\"\n";
        match parse(txn, "t.toml") {
            // Before the transaction checkers exist, the model is unknown (and named).
            Err(e) => assert!(
                e.to_string().contains("unknown model \"list-append\""),
                "{e}"
            ),
            Ok(spec) => {
                let WorkloadKind::ListAppend(p) = spec.kind else {
                    panic!("{spec:?}")
                };
                assert_eq!(
                    (
                        p.key_count,
                        p.min_txn_length,
                        p.max_txn_length,
                        p.max_writes_per_key
                    ),
                    (5, 1, 4, 32)
                );
                assert_eq!(p.distribution, KeyDistribution::Exponential);
                assert!(!spec.final_reads);
            }
        }
        let ids = parse(
            "name = \"u\"\nkind = \"unique-ids\"\n[[checkers]]\nname = \"unique-ids\"\n",
            "u.toml",
        )
        .unwrap();
        assert_eq!(ids.kind, WorkloadKind::UniqueIds);
        assert!(!ids.final_reads);
    }

    #[test]
    fn bad_fields_of_other_kinds_are_named() {
        let set = "name = \"s\"\nkind = \"set\"\n[mix]\nadd = 1\nread = 1\n[[checkers]]\nmodel = \"set-full\"\n";
        let bank =
            "name = \"b\"\nkind = \"bank\"\n[mix]\ntransfer = 1\n[[checkers]]\nmodel = \"bank\"\n";
        let cases: Vec<(String, &str)> = vec![
            (
                set.replace("kind = \"set\"", "kind = \"queue\""),
                r#"f: field "kind": unknown workload kind "queue"; expected one of: register, set, counter, bank, unique-ids, list-append, rw-register"#,
            ),
            (
                set.replace("add = 1", "write = 1"),
                r#"f: field "mix.write": unknown field; expected one of: add, read"#,
            ),
            (
                format!("keys = 2\n{set}"),
                r#"f: field "keys": unknown field; expected one of: name, description, kind, final_reads, mix, checkers"#,
            ),
            (
                set.replace("\"set-full\"", "\"counter\""),
                r#"f: field "checkers[0].model": "counter" does not judge set histories; expected "set-full""#,
            ),
            (
                set.replace("\"set-full\"", "\"sets\""),
                r#"f: field "checkers[0].model": unknown model "sets"; expected "set-full" (every model: "#,
            ),
            (
                set.replace("model = \"set-full\"", "model = \"set-full\"\ninitial = 0"),
                r#"f: field "checkers[0].initial": only applies to the linearizability checker"#,
            ),
            (
                set.replace(
                    "model = \"set-full\"",
                    "model = \"set-full\"\nname = \"linearizability\"",
                ),
                r#"f: field "checkers[0].name": must be "set-full" for model "set-full", got "linearizability""#,
            ),
            (
                bank.replace("[mix]", "accounts = 1\n[mix]"),
                r#"f: field "accounts": must be at least 2 (a transfer moves money between two accounts), got 1"#,
            ),
            (
                bank.replace("[mix]", "total = -5\n[mix]"),
                r#"f: field "total": must be a non-negative integer, got -5"#,
            ),
            (
                bank.replace("model = \"bank\"", "model = \"bank\"\nlinearizable = true"),
                r#"f: field "checkers[0].linearizable": only applies to the set-full checker"#,
            ),
            (
                "name = \"t\"\nkind = \"rw-register\"\nmin_txn_length = 5\nmax_txn_length = 2\n"
                    .to_string(),
                r#"f: field "min_txn_length": must not exceed max_txn_length (2), got 5"#,
            ),
            (
                "name = \"t\"\nkind = \"rw-register\"\nkey_distribution = \"zipf\"\n".to_string(),
                r#"f: field "key_distribution": must be "uniform" or "exponential", got "zipf""#,
            ),
            (
                "name = \"t\"\nkind = \"rw-register\"\nread_fraction = 2\n".to_string(),
                r#"f: field "read_fraction": must be a number in 0..=1, got 2"#,
            ),
            (
                "name = \"u\"\nkind = \"unique-ids\"\n".to_string(),
                r#"f: field "checkers": missing; add [[checkers]] model = "unique-ids""#,
            ),
        ];
        for (i, (text, want)) in cases.iter().enumerate() {
            match parse(text, "f") {
                Ok(spec) => panic!("case {i}: accepted {spec:?}"),
                Err(e) => assert!(e.to_string().starts_with(want), "case {i}: {e}"),
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
