//! The I/O-free validation stage: TOML text to a [`WorkloadSpec`], read like the nemesis and
//! HTTP client specs: serde reads the file into raw structs that refuse unknown fields, then a
//! validate step checks what the types cannot say and builds the spec.
//!
//! Each kind has its own fields, so `kind` is read first ([`RawHead`]) and the file is then
//! read again as that kind's raw struct. Serde's errors (an unknown field, a value of the
//! wrong type) carry the field's path (`mix.reed`, `checkers[0].model`) and the validation
//! errors name theirs, so every error names the file and the field.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::checker::{CheckModel, ModelKind, ModelOptions};

use super::kind::{BankParams, CounterParams, KeyDistribution, SetParams, TxnParams, WorkloadKind};
use super::{CheckerSpec, OpMix, ValueSpec, WorkloadError, WorkloadSpec};

/// Ops per key when a keyed workload does not say: small enough that a key whose ops often
/// time out (info ops stay open to the end of its history) still checks quickly.
pub const DEFAULT_OPS_PER_KEY: u64 = 100;

/// Parses and validates a workload; `file` names the source in errors.
pub(super) fn parse(text: &str, file: &str) -> Result<WorkloadSpec, WorkloadError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| WorkloadError::Syntax {
        file: file.to_string(),
        line: e.span().map_or(1, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        }),
        message: e.message().to_string(),
    })?;
    let doc = toml::Value::Table(table);
    let v = Validator { file };
    let head: RawHead = v.read(doc.clone())?;
    match head.kind.as_deref().unwrap_or("register") {
        "register" => v.read::<RawRegister>(doc)?.validate(&v),
        "set" => v.read::<RawSet>(doc)?.validate(&v),
        "counter" => v.read::<RawCounter>(doc)?.validate(&v),
        "bank" => v.read::<RawBank>(doc)?.validate(&v),
        "unique-ids" => v.read::<RawUniqueIds>(doc)?.validate(&v),
        "kafka" => v
            .read::<RawUniqueIds>(doc)?
            .validate_as(&v, WorkloadKind::Kafka),
        "list-append" => v
            .read::<RawTxn>(doc)?
            .validate(&v, WorkloadKind::ListAppend),
        "rw-register" => v
            .read::<RawTxn>(doc)?
            .validate(&v, WorkloadKind::RwRegister),
        other => Err(v.error(
            "kind",
            format!(
                "unknown workload kind {other:?}; expected one of: {}",
                WorkloadKind::NAMES.join(", ")
            ),
        )),
    }
}

/// The first read of a file: its `kind` only (every other field is left to the kind's raw
/// struct, which refuses the ones it does not know).
#[derive(Debug, Deserialize)]
struct RawHead {
    kind: Option<String>,
}

/// A `register` workload (the default kind) as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegister {
    name: Option<String>,
    description: Option<String>,
    keys: Option<i64>,
    ops_per_key: Option<i64>,
    final_reads: Option<bool>,
    mix: Option<RawRegisterMix>,
    values: Option<RawValues>,
    checkers: Option<Vec<RawChecker>>,
    /// Read by [`RawHead`].
    #[serde(rename = "kind")]
    _kind: Option<IgnoredAny>,
}

/// A `set` workload as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "kind")]
    _kind: Option<IgnoredAny>,
    final_reads: Option<bool>,
    mix: Option<RawAddMix>,
    checkers: Option<Vec<RawChecker>>,
}

/// A `counter` workload as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounter {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "kind")]
    _kind: Option<IgnoredAny>,
    final_reads: Option<bool>,
    max_increment: Option<i64>,
    negative_deltas: Option<bool>,
    mix: Option<RawAddMix>,
    checkers: Option<Vec<RawChecker>>,
}

/// A `bank` workload as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBank {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "kind")]
    _kind: Option<IgnoredAny>,
    final_reads: Option<bool>,
    accounts: Option<i64>,
    total: Option<i64>,
    max_transfer: Option<i64>,
    mix: Option<RawBankMix>,
    checkers: Option<Vec<RawChecker>>,
}

/// A `unique-ids` workload as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUniqueIds {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "kind")]
    _kind: Option<IgnoredAny>,
    checkers: Option<Vec<RawChecker>>,
}

/// A `list-append` or `rw-register` workload as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTxn {
    name: Option<String>,
    description: Option<String>,
    #[serde(rename = "kind")]
    _kind: Option<IgnoredAny>,
    key_count: Option<i64>,
    key_distribution: Option<String>,
    min_txn_length: Option<i64>,
    max_txn_length: Option<i64>,
    max_writes_per_key: Option<i64>,
    read_fraction: Option<Number>,
    checkers: Option<Vec<RawChecker>>,
}

/// The register family's `[mix]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [mix] table")]
struct RawRegisterMix {
    read: Option<Number>,
    write: Option<Number>,
    cas: Option<Number>,
}

/// The set's and the counter's `[mix]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [mix] table")]
struct RawAddMix {
    add: Option<Number>,
    read: Option<Number>,
}

/// The bank's `[mix]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [mix] table")]
struct RawBankMix {
    transfer: Option<Number>,
    read: Option<Number>,
}

/// The register family's `[values]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [values] table")]
struct RawValues {
    kind: Option<String>,
    range: Option<Vec<i64>>,
}

/// One `[[checkers]]` table as written: the options of every checker, each refused at
/// validation where it does not apply.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[checkers]] table")]
struct RawChecker {
    name: Option<String>,
    model: Option<String>,
    initial: Option<toml::Value>,
    nil_reads_match_any: Option<bool>,
    consistency_model: Option<String>,
    linearizable: Option<bool>,
    accounts: Option<i64>,
    total: Option<i64>,
}

/// A TOML number as written, an integer or a float; messages show it as written.
#[derive(Debug, Clone, Copy)]
enum Number {
    Integer(i64),
    Float(f64),
}

impl Number {
    /// The number as a float.
    fn value(self) -> f64 {
        match self {
            Number::Integer(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Integer(i) => write!(f, "{i}"),
            // TOML's spelling: `nan`, `inf`, `2.0`.
            Number::Float(x) => write!(f, "{}", toml::Value::Float(*x)),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Number, D::Error> {
        struct NumberVisitor;

        impl Visitor<'_> for NumberVisitor {
            type Value = Number;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number::Integer(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                i64::try_from(v)
                    .map(Number::Integer)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number::Float(v))
            }
        }

        deserializer.deserialize_any(NumberVisitor)
    }
}

/// Reads and checks fields of one file, each error naming the file and the field's path.
struct Validator<'a> {
    file: &'a str,
}

impl Validator<'_> {
    /// An error about `field` (its path) of this file.
    fn error(&self, field: impl Into<String>, message: impl Into<String>) -> WorkloadError {
        WorkloadError::Field {
            file: self.file.to_string(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// `doc` as `T`; serde's error names the field by its path.
    fn read<T: DeserializeOwned>(&self, doc: toml::Value) -> Result<T, WorkloadError> {
        serde_path_to_error::deserialize(doc)
            .map_err(|e| self.error(e.path().to_string(), e.inner().message()))
    }

    /// `name` (required, not blank) and `description` (default empty).
    fn names(
        &self,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<(String, String), WorkloadError> {
        let name =
            name.ok_or_else(|| self.error("name", "missing; every workload needs a name"))?;
        if name.trim().is_empty() {
            return Err(self.error("name", "must not be empty"));
        }
        Ok((name, description.unwrap_or_default()))
    }

    /// An optional non-negative integer.
    fn count(&self, field: &str, n: Option<i64>) -> Result<Option<u64>, WorkloadError> {
        match n {
            None => Ok(None),
            Some(n) => u64::try_from(n)
                .map(Some)
                .map_err(|_| self.error(field, format!("must be a non-negative integer, got {n}"))),
        }
    }

    /// A positive integer, `default` when absent.
    fn positive(&self, field: &str, n: Option<i64>, default: u64) -> Result<u64, WorkloadError> {
        match self.count(field, n)? {
            None => Ok(default),
            Some(0) => Err(self.error(field, "must be at least 1, got 0")),
            Some(n) => Ok(n),
        }
    }

    /// `n` as an `i64` (it always fits: `positive` and `count` read it from an `i64`).
    fn signed(&self, field: &str, n: u64) -> Result<i64, WorkloadError> {
        i64::try_from(n).map_err(|_| self.error(field, "too large"))
    }

    /// A `[mix]` weight: finite and non-negative, 0 when absent.
    fn weight(&self, field: &str, w: Option<Number>) -> Result<f64, WorkloadError> {
        let Some(w) = w else { return Ok(0.0) };
        let value = w.value();
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err(self.error(field, format!("must be a non-negative number, got {w}")))
        }
    }

    /// A probability in `0..=1`, `default` when absent.
    fn fraction(&self, field: &str, f: Option<Number>, default: f64) -> Result<f64, WorkloadError> {
        let Some(f) = f else { return Ok(default) };
        let value = f.value();
        if (0.0..=1.0).contains(&value) {
            Ok(value)
        } else {
            Err(self.error(field, format!("must be a number in 0..=1, got {f}")))
        }
    }

    /// The weights of a `[mix]` table (`example` shows a good one), at least one positive.
    fn weights<const N: usize>(
        &self,
        mix: Option<[(&str, Option<Number>); N]>,
        example: &str,
    ) -> Result<[f64; N], WorkloadError> {
        let Some(mix) = mix else {
            return Err(self.error(
                "mix",
                format!("missing; give weights, e.g. [mix] {example}"),
            ));
        };
        let mut weights = [0.0; N];
        for (w, (name, raw)) in weights.iter_mut().zip(mix) {
            *w = self.weight(&format!("mix.{name}"), raw)?;
        }
        if weights.iter().sum::<f64>() <= 0.0 {
            let names: Vec<&str> = mix.iter().map(|(n, _)| *n).collect();
            return Err(self.error(
                "mix",
                format!(
                    "at least one of {} must have a positive weight",
                    names.join(", ")
                ),
            ));
        }
        Ok(weights)
    }

    /// The `[[checkers]]` of a workload of `kind`: at least one, each fit to judge it.
    fn checkers(
        &self,
        raw: Option<Vec<RawChecker>>,
        kind: &WorkloadKind,
    ) -> Result<Vec<CheckerSpec>, WorkloadError> {
        let example = match kind.checker_model() {
            None => "name = \"linearizability\", model = \"cas-register\"".to_string(),
            Some(model) => format!("model = \"{model}\""),
        };
        let list = match raw {
            None => {
                return Err(self.error("checkers", format!("missing; add [[checkers]] {example}")))
            }
            Some(list) if list.is_empty() => {
                return Err(self.error(
                    "checkers",
                    "must be a non-empty list of [[checkers]] tables, got []",
                ))
            }
            Some(list) => list,
        };
        list.into_iter()
            .enumerate()
            .map(|(i, c)| self.checker(c, &format!("checkers[{i}]"), kind))
            .collect()
    }

    /// One `[[checkers]]` table (`at` is its path): the model names the checker; `name` is
    /// optional and, when given, must agree with it (`linearizability` for a sequential model,
    /// else the model's name).
    fn checker(
        &self,
        c: RawChecker,
        at: &str,
        kind: &WorkloadKind,
    ) -> Result<CheckerSpec, WorkloadError> {
        let field = |name: &str| format!("{at}.{name}");
        let expected = match kind.checker_model() {
            None => "\"register\" or \"cas-register\"".to_string(),
            Some(model) => format!("\"{model}\""),
        };
        let model_name = match (c.model, &c.name) {
            (Some(m), _) => m,
            // A workload checker may be named by `name` alone.
            (None, Some(n)) if n != "linearizability" => n.clone(),
            (None, _) => {
                return Err(self.error(field("model"), format!("missing; expected {expected}")))
            }
        };
        let model: CheckModel = model_name.parse().map_err(|_| {
            self.error(
                field("model"),
                format!(
                    "unknown model {model_name:?}; expected {expected} (every model: {})",
                    CheckModel::names().join(", ")
                ),
            )
        })?;
        let consistency_model = || match &c.consistency_model {
            None => Ok(None),
            Some(name) => name
                .parse()
                .map(Some)
                .map_err(|e| self.error(field("consistency_model"), format!("{e}"))),
        };
        let spec = match (model, kind) {
            (
                CheckModel::Linear(model @ (ModelKind::Register | ModelKind::CasRegister)),
                WorkloadKind::Register,
            ) => {
                let initial = match &c.initial {
                    None => Value::Null,
                    Some(v) => serde_json::to_value(v)
                        .map_err(|e| self.error(field("initial"), e.to_string()))?,
                };
                CheckerSpec::Linearizability {
                    model,
                    options: ModelOptions {
                        initial,
                        nil_reads_match_any: c.nil_reads_match_any.unwrap_or(false),
                    },
                }
            }
            (CheckModel::SetFull, WorkloadKind::Set(_)) => CheckerSpec::SetFull {
                linearizable: c.linearizable.unwrap_or(true),
            },
            (CheckModel::Counter, WorkloadKind::Counter(_)) => CheckerSpec::Counter {
                linearizable: c.linearizable.unwrap_or(true),
            },
            (CheckModel::Bank, WorkloadKind::Bank(p)) => {
                let accounts = self.count(&field("accounts"), c.accounts)?;
                let total = match self.count(&field("total"), c.total)? {
                    Some(t) => self.signed(&field("total"), t)?,
                    None => p.total,
                };
                CheckerSpec::Bank {
                    accounts: accounts.unwrap_or(p.accounts),
                    total,
                }
            }
            (CheckModel::UniqueIds, WorkloadKind::UniqueIds) => CheckerSpec::UniqueIds,
            (CheckModel::Kafka, WorkloadKind::Kafka) => CheckerSpec::Kafka,
            (CheckModel::ListAppend, WorkloadKind::ListAppend(_)) => CheckerSpec::ListAppend {
                consistency_model: consistency_model()?,
            },
            (CheckModel::RwRegister, WorkloadKind::RwRegister(_)) => CheckerSpec::RwRegister {
                consistency_model: consistency_model()?,
            },
            (_, WorkloadKind::Register) => {
                return Err(self.error(
                    field("model"),
                    format!(
                        "must be \"register\" or \"cas-register\" for read/write/cas ops, got {model_name:?}"
                    ),
                ))
            }
            (_, kind) => {
                return Err(self.error(
                    field("model"),
                    format!(
                        "{model_name:?} does not judge {} histories; expected {expected}",
                        kind.name()
                    ),
                ))
            }
        };
        let checker_name = spec.checker_name();
        if let Some(n) = &c.name {
            if n != checker_name {
                let message = if matches!(spec, CheckerSpec::Linearizability { .. }) {
                    format!("unknown checker {n:?}; expected \"linearizability\"")
                } else {
                    format!("must be {checker_name:?} for model {model_name:?}, got {n:?}")
                };
                return Err(self.error(field("name"), message));
            }
        }
        let linear = matches!(spec, CheckerSpec::Linearizability { .. });
        let set_full = matches!(
            spec,
            CheckerSpec::SetFull { .. } | CheckerSpec::Counter { .. }
        );
        let bank = matches!(spec, CheckerSpec::Bank { .. });
        let txn = matches!(
            spec,
            CheckerSpec::ListAppend { .. } | CheckerSpec::RwRegister { .. }
        );
        let only = [
            ("initial", c.initial.is_some(), linear, "linearizability"),
            (
                "nil_reads_match_any",
                c.nil_reads_match_any.is_some(),
                linear,
                "linearizability",
            ),
            (
                "linearizable",
                c.linearizable.is_some(),
                set_full,
                "set-full and counter",
            ),
            ("accounts", c.accounts.is_some(), bank, "bank"),
            ("total", c.total.is_some(), bank, "bank"),
            (
                "consistency_model",
                c.consistency_model.is_some(),
                txn,
                "list-append and rw-register",
            ),
        ];
        if let Some((name, _, _, to)) = only
            .iter()
            .find(|(_, given, applies, _)| *given && !applies)
        {
            return Err(self.error(field(name), format!("only applies to the {to} checker")));
        }
        Ok(spec)
    }
}

impl RawRegister {
    fn validate(self, v: &Validator<'_>) -> Result<WorkloadSpec, WorkloadError> {
        let (name, description) = v.names(self.name, self.description)?;
        let keys = v.count("keys", self.keys)?.unwrap_or(0);
        let ops_per_key = match (v.count("ops_per_key", self.ops_per_key)?, keys) {
            (Some(_), 0) => {
                return Err(v.error(
                    "ops_per_key",
                    "only applies to keyed workloads; set keys > 0 or remove it",
                ))
            }
            (Some(0), _) => return Err(v.error("ops_per_key", "must be at least 1, got 0")),
            (Some(n), _) => n,
            (None, _) => DEFAULT_OPS_PER_KEY,
        };
        let final_reads = self.final_reads.unwrap_or(true);
        let [read, write, cas] = v.weights(
            self.mix
                .map(|m| [("read", m.read), ("write", m.write), ("cas", m.cas)]),
            "read = 1, write = 1",
        )?;
        let values = validate_values(v, self.values)?;
        let checkers = v.checkers(self.checkers, &WorkloadKind::Register)?;
        if cas > 0.0 {
            let register = checkers.iter().position(|c| {
                matches!(
                    c,
                    CheckerSpec::Linearizability {
                        model: ModelKind::Register,
                        ..
                    }
                )
            });
            if let Some(i) = register {
                return Err(v.error(
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
            source: v.file.to_string(),
            kind: WorkloadKind::Register,
            keys,
            ops_per_key,
            final_reads,
            mix: OpMix { read, write, cas },
            values,
            checkers,
        })
    }
}

/// `[values]`: `unique` (the default) or `random` in `range = [min, max]`.
fn validate_values(v: &Validator<'_>, raw: Option<RawValues>) -> Result<ValueSpec, WorkloadError> {
    let Some(values) = raw else {
        return Ok(ValueSpec::Unique);
    };
    let kind = values.kind.as_deref().unwrap_or("unique");
    match (kind, values.range) {
        ("unique", None) => Ok(ValueSpec::Unique),
        ("unique", Some(_)) => Err(v.error(
            "values.range",
            "only applies to kind = \"random\" (unique values count up from 1)",
        )),
        ("random", None) => Err(v.error(
            "values.range",
            "missing; kind = \"random\" needs range = [min, max]",
        )),
        ("random", Some(range)) => match range[..] {
            [min, max] if min <= max => Ok(ValueSpec::Random { min, max }),
            [min, max] => Err(v.error(
                "values.range",
                format!("min must not exceed max, got [{min}, {max}]"),
            )),
            _ => Err(v.error(
                "values.range",
                format!("must be [min, max], two integers, got {range:?}"),
            )),
        },
        (other, _) => Err(v.error(
            "values.kind",
            format!("must be \"unique\" or \"random\", got {other:?}"),
        )),
    }
}

/// A workload of a kind other than the register family: no keys, mix or values of its own
/// in [`WorkloadSpec`]'s register fields (they keep their defaults).
fn other_kind(
    v: &Validator<'_>,
    (name, description): (String, String),
    kind: WorkloadKind,
    final_reads: bool,
    checkers: Option<Vec<RawChecker>>,
) -> Result<WorkloadSpec, WorkloadError> {
    let checkers = v.checkers(checkers, &kind)?;
    Ok(WorkloadSpec {
        name,
        description,
        source: v.file.to_string(),
        kind,
        keys: 0,
        ops_per_key: DEFAULT_OPS_PER_KEY,
        final_reads,
        mix: OpMix {
            read: 0.0,
            write: 0.0,
            cas: 0.0,
        },
        values: ValueSpec::Unique,
        checkers,
    })
}

impl RawSet {
    fn validate(self, v: &Validator<'_>) -> Result<WorkloadSpec, WorkloadError> {
        let names = v.names(self.name, self.description)?;
        let [add, read] = v.weights(
            self.mix.map(|m| [("add", m.add), ("read", m.read)]),
            "add = 1, read = 1",
        )?;
        let kind = WorkloadKind::Set(SetParams { add, read });
        let final_reads = self.final_reads.unwrap_or(true);
        other_kind(v, names, kind, final_reads, self.checkers)
    }
}

impl RawCounter {
    fn validate(self, v: &Validator<'_>) -> Result<WorkloadSpec, WorkloadError> {
        let names = v.names(self.name, self.description)?;
        let [add, read] = v.weights(
            self.mix.map(|m| [("add", m.add), ("read", m.read)]),
            "add = 1, read = 1",
        )?;
        let max_increment = v.positive("max_increment", self.max_increment, 5)?;
        let kind = WorkloadKind::Counter(CounterParams {
            add,
            read,
            max_increment: v.signed("max_increment", max_increment)?,
            negative_deltas: self.negative_deltas.unwrap_or(false),
        });
        let final_reads = self.final_reads.unwrap_or(true);
        other_kind(v, names, kind, final_reads, self.checkers)
    }
}

impl RawBank {
    fn validate(self, v: &Validator<'_>) -> Result<WorkloadSpec, WorkloadError> {
        let names = v.names(self.name, self.description)?;
        let [transfer, read] = v.weights(
            self.mix
                .map(|m| [("transfer", m.transfer), ("read", m.read)]),
            "transfer = 1, read = 1",
        )?;
        let accounts = v.positive("accounts", self.accounts, 5)?;
        if accounts < 2 {
            return Err(v.error(
                "accounts",
                "must be at least 2 (a transfer moves money between two accounts), got 1",
            ));
        }
        let total = v.count("total", self.total)?.unwrap_or(100);
        let max_transfer = v.positive("max_transfer", self.max_transfer, 5)?;
        let kind = WorkloadKind::Bank(BankParams {
            accounts,
            total: v.signed("total", total)?,
            max_transfer: v.signed("max_transfer", max_transfer)?,
            transfer,
            read,
        });
        let final_reads = self.final_reads.unwrap_or(true);
        other_kind(v, names, kind, final_reads, self.checkers)
    }
}

impl RawUniqueIds {
    fn validate(self, v: &Validator<'_>) -> Result<WorkloadSpec, WorkloadError> {
        self.validate_as(v, WorkloadKind::UniqueIds)
    }

    /// A workload of `kind`, whose file has only names and checkers (unique-ids, kafka).
    fn validate_as(
        self,
        v: &Validator<'_>,
        kind: WorkloadKind,
    ) -> Result<WorkloadSpec, WorkloadError> {
        let names = v.names(self.name, self.description)?;
        other_kind(v, names, kind, false, self.checkers)
    }
}

impl RawTxn {
    /// `kind` makes the list-append or rw-register kind from the parameters.
    fn validate(
        self,
        v: &Validator<'_>,
        kind: fn(TxnParams) -> WorkloadKind,
    ) -> Result<WorkloadSpec, WorkloadError> {
        let names = v.names(self.name, self.description)?;
        let key_count = v.positive("key_count", self.key_count, 5)?;
        let distribution = match self.key_distribution.as_deref() {
            None | Some("exponential") => KeyDistribution::Exponential,
            Some("uniform") => KeyDistribution::Uniform,
            Some(other) => {
                return Err(v.error(
                    "key_distribution",
                    format!("must be \"uniform\" or \"exponential\", got {other:?}"),
                ))
            }
        };
        let min_txn_length = v.positive("min_txn_length", self.min_txn_length, 1)?;
        let max_txn_length = v.positive("max_txn_length", self.max_txn_length, 4)?;
        if min_txn_length > max_txn_length {
            return Err(v.error(
                "min_txn_length",
                format!("must not exceed max_txn_length ({max_txn_length}), got {min_txn_length}"),
            ));
        }
        let params = TxnParams {
            key_count,
            distribution,
            min_txn_length,
            max_txn_length,
            max_writes_per_key: v.positive("max_writes_per_key", self.max_writes_per_key, 32)?,
            read_fraction: v.fraction("read_fraction", self.read_fraction, 0.5)?,
        };
        other_kind(v, names, kind(params), false, self.checkers)
    }
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
    /// Every `(file text, message start)` case is refused with that message (file "f").
    fn assert_refused(cases: &[(String, &str)]) {
        for (i, (text, want)) in cases.iter().enumerate() {
            match parse(text, "f") {
                Ok(spec) => panic!("case {i}: accepted {spec:?}"),
                Err(e) => assert!(e.to_string().starts_with(want), "case {i}: {e}"),
            }
        }
    }

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
            spec.checkers[0],
            CheckerSpec::Linearizability {
                model: ModelKind::CasRegister,
                options: ModelOptions::default()
            }
        );
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
        assert_eq!(
            spec.checkers[0],
            CheckerSpec::Linearizability {
                model: ModelKind::CasRegister,
                options: ModelOptions {
                    initial: Value::from(0),
                    nil_reads_match_any: true
                }
            }
        );
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
                r#"workloads/x.toml: field "mix.write": invalid type: string "lots", expected a number"#,
            ),
            (
                with("", Some(("read = 1", "read = nan"))),
                r#"workloads/x.toml: field "mix.read": must be a non-negative number, got nan"#,
            ),
            (
                with("", Some(("read = 1", "reed = 1"))),
                "workloads/x.toml: field \"mix.reed\": unknown field `reed`, expected one of `read`, `write`, `cas`",
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
                r#"workloads/x.toml: field "final_reads": invalid type: string "yes", expected a boolean"#,
            ),
            (
                with("colour = 1", None),
                "workloads/x.toml: field \"colour\": unknown field `colour`, expected one of `name`, `description`, `keys`, `ops_per_key`, `final_reads`, `mix`, `values`, `checkers`, `kind`",
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
                "workloads/x.toml: field \"checkers\": invalid type: integer `3`, expected a sequence",
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
        assert_eq!(
            bank.checkers[0],
            CheckerSpec::Bank {
                accounts: 3,
                total: 10
            }
        );
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
                "f: field \"mix.write\": unknown field `write`, expected `add` or `read`",
            ),
            (
                format!("keys = 2\n{set}"),
                "f: field \"keys\": unknown field `keys`, expected one of `name`, `description`, `kind`, `final_reads`, `mix`, `checkers`",
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
                r#"f: field "checkers[0].linearizable": only applies to the set-full and counter checker"#,
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
        assert_refused(&cases);
    }

    #[test]
    fn type_errors_and_unknown_fields_name_the_path() {
        let txn = "name = \"t\"\nkind = \"list-append\"\n[[checkers]]\nmodel = \"list-append\"\n";
        let cases: Vec<(String, &str)> = vec![
            (
                with("kind = 3", None),
                "f: field \"kind\": invalid type: integer `3`, expected a string",
            ),
            (
                with("", Some(("[mix]\nread = 1\nwrite = 1", "mix = 3"))),
                "f: field \"mix\": invalid type: integer `3`, expected a [mix] table",
            ),
            (
                format!("{GOOD}[values]\nkind = \"random\"\nrange = [1.5, 2]\n"),
                "f: field \"values.range[0]\": invalid type: floating point `1.5`, expected i64",
            ),
            (
                format!("{GOOD}[values]\nkind = \"random\"\nrange = [1, 2, 3]\n"),
                "f: field \"values.range\": must be [min, max], two integers, got [1, 2, 3]",
            ),
            (
                with("", Some(("model = \"cas-register\"", "model = 3"))),
                "f: field \"checkers[0].model\": invalid type: integer `3`, expected a string",
            ),
            (
                format!("{GOOD}[[checkers]]\nmodel = \"register\"\ncolour = 1\n"),
                "f: field \"checkers[1].colour\": unknown field `colour`, expected one of `name`, `model`, `initial`, `nil_reads_match_any`, `consistency_model`, `linearizable`, `accounts`, `total`",
            ),
            (
                "name = \"x\"\ncheckers = [3]\n[mix]\nwrite = 1\n".to_string(),
                "f: field \"checkers[0]\": invalid type: integer `3`, expected a [[checkers]] table",
            ),
            (
                "name = \"x\"\ncheckers = []\n[mix]\nwrite = 1\n".to_string(),
                "f: field \"checkers\": must be a non-empty list of [[checkers]] tables, got []",
            ),
            (
                txn.replace("[[checkers]]", "read_fraction = \"half\"\n[[checkers]]"),
                "f: field \"read_fraction\": invalid type: string \"half\", expected a number",
            ),
            (
                format!("{txn}consistency_model = \"linearizable-ish\"\n"),
                "f: field \"checkers[0].consistency_model\": ",
            ),
            (
                with("", Some(("model = \"cas-register\"", "model = \"cas-register\"\nconsistency_model = \"serializable\""))),
                "f: field \"checkers[0].consistency_model\": only applies to the list-append and rw-register checker",
            ),
        ];
        assert_refused(&cases);
    }

    #[test]
    fn checkers_become_their_variant_with_their_options() {
        let cases = [
            (
                "name = \"s\"\nkind = \"set\"\n[mix]\nadd = 1\n[[checkers]]\nmodel = \"set-full\"\nlinearizable = false\n",
                CheckerSpec::SetFull { linearizable: false },
            ),
            (
                "name = \"c\"\nkind = \"counter\"\n[mix]\nadd = 1\n[[checkers]]\nname = \"counter\"\n",
                CheckerSpec::Counter { linearizable: true },
            ),
            (
                "name = \"b\"\nkind = \"bank\"\naccounts = 4\n[mix]\ntransfer = 1\n[[checkers]]\nmodel = \"bank\"\ntotal = 7\n",
                CheckerSpec::Bank { accounts: 4, total: 7 },
            ),
            (
                "name = \"r\"\nkind = \"rw-register\"\n[[checkers]]\nmodel = \"rw-register\"\nconsistency_model = \"serializable\"\n",
                CheckerSpec::RwRegister {
                    consistency_model: Some(crate::checker::txn::ConsistencyModel::Serializable),
                },
            ),
            (
                "name = \"l\"\nkind = \"list-append\"\n[[checkers]]\nmodel = \"list-append\"\n",
                CheckerSpec::ListAppend { consistency_model: None },
            ),
        ];
        for (text, want) in cases {
            let spec = parse(text, "f").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(spec.checkers, vec![want], "{text}");
        }
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let text = "name = \"x\"\n\n[mix\nread = 1\n";
        let err = parse(text, "w.toml").unwrap_err().to_string();
        assert!(err.starts_with("w.toml:3: not valid TOML: "), "{err}");
    }
}
