//! The templated HTTP client's configuration: TOML in, a validated [`HttpSpec`] out.
//!
//! Validation does no I/O (ripgrep's low/high split): a bad file fails before any node is
//! contacted, with an error naming the file and the field. The format, by example
//! (`examples/http/raftkv.toml` is a complete one):
//!
//! ```toml
//! register_key = "register"    # the key used for ops without one (the single register)
//! timeout_ms = 1500            # request timeout, every op (a paused node never answers)
//! follow_redirects = 2         # 307/308 hops followed at most (0: none)
//! headers = { "x-token" = "secret" }
//! health = "/health"           # optional: GET before a run must answer 2xx (else: TCP connect)
//!
//! [read]
//! method = "GET"
//! path = "/kv/{key}"           # placeholders are percent-encoded
//! not_found = [404]            # read as ok, value null (never written)
//! value = "/value"             # RFC 6901 pointer to the value in the JSON answer ("" = all)
//! error = "/error"             # pointer to the message in an error answer (else the body)
//!
//! [write]
//! method = "PUT"
//! path = "/kv/{key}"
//! body = { value = "{value}" } # a string that is one placeholder becomes the JSON value
//! fail = ["4xx", 503]          # certainly not done
//! unknown = ["5xx"]            # maybe done: info for write/cas, fail for read
//!
//! [cas]
//! method = "POST"
//! path = "/kv/{key}/cas"
//! body = { from = "{from}", to = "{to}" }
//! ok = [200]
//! ```
//!
//! **Profiles.** Workloads other than registers need other ops (a set's `add`, a counter's
//! `add`, a bank's `transfer`, a transaction's `txn`), and the same history `f` can mean
//! different requests in different workloads (a set's `read` reads a list, a counter's an
//! integer). A profile, `[profiles.NAME.OP]`, defines op `OP` for workloads that select
//! profile `NAME` (one of [`Profile::ALL`]: `set`, `counter`, `bank`, `unique-ids`, `txn`; any
//! other name is an error naming the section); an op a profile does not define falls back to
//! the top-level `[read]`,
//! `[write]`, `[cas]`. Besides the fields above, a profile op takes `effect` (default true:
//! whether the op can change the target, so an unknown outcome is `info`; false: `fail`) and
//! `not_found_value` (what a not-found answer reads as; default `null`); when it gives a
//! `value` pointer, an ok completion carries the value found there (a read's value, a fresh
//! id, a transaction with its reads filled in), else the invoke's value. Its templates may use
//! `{key}`, `{value}` and `{value.NAME}` (a field of an object value):
//!
//! ```toml
//! [profiles.counter.add]
//! method = "POST"
//! path = "/kv/counter/incr"
//! body = { by = "{value}" }
//!
//! [profiles.counter.read]
//! method = "GET"
//! path = "/kv/counter"
//! value = "/value"
//! not_found = [404]
//! not_found_value = 0
//! effect = false
//! ```
//!
//! A 307 or 308 answer with a `Location` is followed (same method and body, at most
//! `follow_redirects` hops, all within the timeout) before the status lists apply; a redirect
//! left over after the last hop is read through the lists like any other status.
//!
//! **Codecs, bodies, answers** (docs/http-target.md has the table): `codec` (`json`,
//! `string`, `base64`) and `key_codec` (`text`, `base64`) at the top level or per op;
//! per op `body_format` (`json`, `form`, `text`), `headers` (over the spec-wide ones),
//! `value_format` (`json`, `text`), `missing_value` (`error`, `not-found`) and `succeeded` (a
//! pointer that must hold `true` in an ok answer). `key_prefix` (default `"{run}-"`, `""` to
//! opt out) scopes every `{key}` to the run; `{run}` and `{prefix}` are available to every
//! template.
//!
//! Status lists take codes (`409`), ranges (`"500-599"`) and classes (`"5xx"`). A list left
//! out takes its default: `ok = ["2xx"]`, `fail = ["4xx"]`, `unknown = ["5xx"]`,
//! `not_found = []`. When a code is in several lists, the narrowest entry wins (`503` beats
//! `"5xx"`; an explicit list beats a default one of the same width); two explicit entries of
//! the same width are an error. A code in no list is **unknown** (never guess `fail`).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::codec::{Codec, KeyCodec};
use super::template::{BodyFormat, RequestBody, TextTemplate, Vars};
use crate::client::mapping::{OpKind, OpShape, StatusMeaning};
use crate::client::Profile;

/// Default request timeout: long enough for a Raft commit on a busy machine, short enough
/// that a worker stuck on a paused node soon moves on.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Default number of 307/308 redirects followed.
pub const DEFAULT_REDIRECTS: u32 = 2;
/// Default key for ops without one.
pub const DEFAULT_REGISTER_KEY: &str = "register";
/// Default run key prefix: every key a run sends starts with the run's id.
pub const DEFAULT_KEY_PREFIX: &str = "{run}-";

const MAX_TIMEOUT_MS: u64 = 600_000;
const MAX_REDIRECTS: u32 = 10;
const LOWEST: u16 = 100;
const HIGHEST: u16 = 599;

/// Why a client spec was rejected.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{file}: cannot read: {error}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown field or a field of the wrong type.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field has a value that cannot work.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The field, as a TOML path (`write.fail[1]`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A validated templated-client configuration: how each op becomes an HTTP request and how
/// each answer becomes a completion.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    /// The service's name: names its run directories (`results/NAME-external-...`).
    pub name: Option<String>,
    /// The key used for ops without one.
    pub register_key: String,
    /// Headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// A path each node must answer with a 2xx before a run starts (`--target http`'s
    /// reachability check); `None`: a plain TCP connect.
    pub health: Option<String>,
    /// `[leader]`: how to ask which node leads (see [`super::leader`]); `None`: leader
    /// faults are refused.
    pub leader: Option<super::leader::LeaderSpec>,
    /// The run key prefix as written, with `{run}` (`""`: keys are sent as the workload
    /// names them); see [`HttpSpec::prefix_for`].
    pub key_prefix: String,
    read: Option<OpSpec>,
    write: Option<OpSpec>,
    cas: Option<OpSpec>,
    /// `[profiles.NAME.OP]`: profile → op name → how it is sent.
    profiles: BTreeMap<Profile, BTreeMap<String, OpSpec>>,
}

/// How one op (read, write, cas, or a profile's op) is sent and read back.
#[derive(Debug, Clone, PartialEq)]
pub struct OpSpec {
    /// The HTTP method, upper case.
    pub method: String,
    pub(crate) path: TextTemplate,
    pub(crate) body: Option<RequestBody>,
    statuses: Vec<StatusMeaning>,
    /// How values go out and come back (`codec`).
    pub codec: Codec,
    /// How keys go out (`key_codec`).
    pub key_codec: KeyCodec,
    /// Headers of this op, sent instead of a spec-wide header of the same name.
    pub headers: Vec<(String, String)>,
    /// The value is the answer's text (`value_format = "text"`), not JSON at a pointer.
    pub text_value: bool,
    /// An ok read with nothing at the value pointer found nothing (`missing_value =
    /// "not-found"`).
    pub missing_is_not_found: bool,
    /// An ok answer must hold `true` at this pointer, else the op is `fail` (`succeeded`).
    pub succeeded: Option<String>,
    /// Pointer to the value read in an ok answer (reads).
    pub value: String,
    /// Pointer to the message in an error answer; `None`: the body text.
    pub error: Option<String>,
    /// The request timeout (all redirect hops included).
    pub timeout: Duration,
    /// 307/308 redirects followed at most.
    pub max_redirects: u32,
    /// What kind of op this is (a profile op is [`OpKind::Custom`]).
    pub kind: OpKind,
    /// What a not-found answer reads as (`None`: `null`).
    pub not_found_value: Option<Value>,
}

impl OpSpec {
    /// What `status` means for this op.
    pub fn meaning(&self, status: u16) -> StatusMeaning {
        status
            .checked_sub(LOWEST)
            .and_then(|i| self.statuses.get(usize::from(i)))
            .copied()
            .unwrap_or(StatusMeaning::Unknown)
    }
}

impl HttpSpec {
    /// Parses and validates a spec; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<HttpSpec, SpecError> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| SpecError::Syntax {
            file: file.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        raw.validate()
            .map_err(|(field, message)| SpecError::Invalid {
                file: file.to_owned(),
                field,
                message,
            })
    }

    /// Reads and validates a spec file.
    pub fn from_file(path: &Path) -> Result<HttpSpec, SpecError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| SpecError::Read {
            file: file.clone(),
            error,
        })?;
        HttpSpec::from_toml(&text, &file)
    }

    /// How register op `kind` is sent, if the spec defines it (`None` for a custom kind:
    /// those live in profiles, see [`HttpSpec::profile_op`]).
    pub fn op(&self, kind: OpKind) -> Option<&OpSpec> {
        match kind {
            OpKind::Read => self.read.as_ref(),
            OpKind::Write => self.write.as_ref(),
            OpKind::Cas => self.cas.as_ref(),
            OpKind::Custom(_) => None,
        }
    }

    /// The key prefix of run `run`: [`HttpSpec::key_prefix`] with `{run}` filled in; `""`
    /// when the spec opts out or there is no run (the built-in raftkv client).
    pub fn prefix_for(&self, run: &str) -> String {
        if run.is_empty() {
            String::new()
        } else {
            self.key_prefix.replace("{run}", run)
        }
    }

    /// Profile `profile`'s op `f`, if the spec defines it.
    pub fn profile_op(&self, profile: Profile, f: &str) -> Option<&OpSpec> {
        self.profiles.get(&profile)?.get(f)
    }

    /// Whether the spec defines `profile` (has `[profiles.NAME.OP]` sections for it).
    pub fn has_profile(&self, profile: Profile) -> bool {
        self.profiles.contains_key(&profile)
    }

    /// The names of the profiles the spec defines, sorted (for messages).
    pub fn profile_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.profiles.keys().map(|p| p.name()).collect();
        names.sort_unstable();
        names
    }

    /// Every op the spec defines, profiles included.
    pub fn all_ops(&self) -> impl Iterator<Item = &OpSpec> {
        [&self.read, &self.write, &self.cas]
            .into_iter()
            .flatten()
            .chain(self.profiles.values().flat_map(|ops| ops.values()))
    }

    /// Sets every op's request timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.ops_mut().for_each(|op| op.timeout = timeout);
    }

    /// Sets every op's redirect limit.
    pub fn set_max_redirects(&mut self, hops: u32) {
        self.ops_mut().for_each(|op| op.max_redirects = hops);
    }

    fn ops_mut(&mut self) -> impl Iterator<Item = &mut OpSpec> {
        [&mut self.read, &mut self.write, &mut self.cas]
            .into_iter()
            .flatten()
            .chain(self.profiles.values_mut().flat_map(|ops| ops.values_mut()))
    }
}

type FieldError = (String, String);

fn invalid(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    (field.into(), message.into())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<String>,
    register_key: Option<String>,
    timeout_ms: Option<u64>,
    follow_redirects: Option<u32>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    health: Option<String>,
    leader: Option<super::leader::RawLeader>,
    codec: Option<Codec>,
    key_codec: Option<KeyCodec>,
    key_prefix: Option<String>,
    read: Option<RawOp>,
    write: Option<RawOp>,
    cas: Option<RawOp>,
    #[serde(default)]
    profiles: BTreeMap<String, BTreeMap<String, RawOp>>,
}

/// What the top level of a spec gives every op unless the op says otherwise.
struct OpDefaults {
    timeout: Duration,
    redirects: u32,
    codec: Codec,
    key_codec: KeyCodec,
}

/// How the value of an ok answer is found (`value_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ValueFormat {
    /// JSON, at the `value` pointer.
    Json,
    /// The body's text.
    Text,
}

/// What an ok read without a value means (`missing_value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum MissingValue {
    /// The read failed (the default: never invent a value).
    Error,
    /// The key was never written: the read returns the not-found value.
    NotFound,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp {
    effect: Option<bool>,
    not_found_value: Option<toml::Value>,
    method: String,
    path: String,
    body: Option<toml::Value>,
    ok: Option<Vec<StatusItem>>,
    fail: Option<Vec<StatusItem>>,
    unknown: Option<Vec<StatusItem>>,
    not_found: Option<Vec<StatusItem>>,
    value: Option<String>,
    error: Option<String>,
    timeout_ms: Option<u64>,
    follow_redirects: Option<u32>,
    codec: Option<Codec>,
    key_codec: Option<KeyCodec>,
    body_format: Option<BodyFormat>,
    headers: Option<BTreeMap<String, String>>,
    value_format: Option<ValueFormat>,
    missing_value: Option<MissingValue>,
    succeeded: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StatusItem {
    Code(i64),
    Text(String),
}

impl RawSpec {
    fn validate(self) -> Result<HttpSpec, FieldError> {
        if self.read.is_none()
            && self.write.is_none()
            && self.cas.is_none()
            && self.profiles.is_empty()
        {
            return Err(invalid(
                "read",
                "define at least one of [read], [write], [cas], [profiles.NAME.OP]",
            ));
        }
        let register_key = self
            .register_key
            .unwrap_or_else(|| DEFAULT_REGISTER_KEY.to_owned());
        if register_key.is_empty() {
            return Err(invalid("register_key", "must not be empty"));
        }
        let timeout = timeout("timeout_ms", self.timeout_ms, DEFAULT_TIMEOUT)?;
        let redirects = redirects("follow_redirects", self.follow_redirects, DEFAULT_REDIRECTS)?;
        let headers = headers("headers", self.headers)?;
        let key_prefix = self
            .key_prefix
            .unwrap_or_else(|| DEFAULT_KEY_PREFIX.to_owned());
        let bare = key_prefix.replace("{run}", "");
        if bare.contains(['{', '}']) {
            return Err(invalid(
                "key_prefix",
                format!("the only placeholder a key prefix takes is {{run}}, got {key_prefix:?}"),
            ));
        }
        if !key_prefix.is_empty() && !key_prefix.contains("{run}") {
            return Err(invalid(
                "key_prefix",
                format!("a key prefix must contain {{run}} (or be \"\" to send keys as they are), got {key_prefix:?}"),
            ));
        }
        let defaults = OpDefaults {
            timeout,
            redirects,
            codec: self.codec.unwrap_or_default(),
            key_codec: self.key_codec.unwrap_or_default(),
        };
        if let Some(h) = &self.health {
            if !h.starts_with('/')
                || reqwest::Url::parse(&format!("http://127.0.0.1:1{h}")).is_err()
            {
                return Err(invalid(
                    "health",
                    format!("must be a URL path starting with '/', got {h:?}"),
                ));
            }
        }
        let op = |raw: Option<RawOp>, kind: OpKind| {
            raw.map(|r| r.validate(Some(kind), kind.as_str(), &defaults))
                .transpose()
        };
        let mut profiles = BTreeMap::new();
        for (name, ops) in self.profiles {
            let section = format!("profiles.{name}");
            let profile: Profile = name
                .parse()
                .map_err(|e| invalid(&section, format!("{e}")))?;
            if ops.is_empty() {
                return Err(invalid(section, "defines no op"));
            }
            let mut parsed = BTreeMap::new();
            for (f, raw) in ops {
                let field = format!("profiles.{name}.{f}");
                parsed.insert(f, raw.validate(None, &field, &defaults)?);
            }
            profiles.insert(profile, parsed);
        }
        Ok(HttpSpec {
            name: self.name,
            register_key,
            headers,
            health: self.health,
            leader: self.leader.map(super::leader::validate).transpose()?,
            key_prefix,
            read: op(self.read, OpKind::Read)?,
            write: op(self.write, OpKind::Write)?,
            cas: op(self.cas, OpKind::Cas)?,
            profiles,
        })
    }
}

/// Header names and values checked, `field` naming the table.
fn headers(
    field: &str,
    table: BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, FieldError> {
    let mut headers = Vec::new();
    for (name, value) in table {
        let field = format!("{field}.{name}");
        reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(&field, "not a valid header name"))?;
        reqwest::header::HeaderValue::from_str(&value)
            .map_err(|_| invalid(&field, "not a valid header value"))?;
        headers.push((name, value));
    }
    Ok(headers)
}

fn timeout(field: &str, ms: Option<u64>, default: Duration) -> Result<Duration, FieldError> {
    match ms {
        None => Ok(default),
        Some(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => Ok(Duration::from_millis(ms)),
        Some(ms) => Err(invalid(
            field,
            format!("must be 1..={MAX_TIMEOUT_MS} ms, got {ms}"),
        )),
    }
}

fn redirects(field: &str, hops: Option<u32>, default: u32) -> Result<u32, FieldError> {
    match hops {
        None => Ok(default),
        Some(h) if h <= MAX_REDIRECTS => Ok(h),
        Some(h) => Err(invalid(
            field,
            format!("must be 0..={MAX_REDIRECTS}, got {h}"),
        )),
    }
}

fn pointer(field: &str, p: Option<String>) -> Result<Option<String>, FieldError> {
    match p {
        Some(p) if !p.is_empty() && !p.starts_with('/') => Err(invalid(
            field,
            format!("a JSON pointer is \"\" or starts with '/', got {p:?}"),
        )),
        other => Ok(other),
    }
}

impl RawOp {
    /// Validates a register op (`register` is its kind) or, with `None`, a profile op, whose
    /// kind comes from its `effect` and `value` fields. `op` is its TOML path.
    fn validate(
        self,
        register: Option<OpKind>,
        op: &str,
        defaults: &OpDefaults,
    ) -> Result<OpSpec, FieldError> {
        let f = |name: &str| format!("{op}.{name}");
        let kind = match register {
            Some(kind) => {
                if self.effect.is_some() {
                    return Err(invalid(f("effect"), "only a profile op sets its effect"));
                }
                if self.not_found_value.is_some() {
                    return Err(invalid(
                        f("not_found_value"),
                        "only a profile op sets what not found reads as (a register reads null)",
                    ));
                }
                kind
            }
            None => OpKind::Custom(OpShape {
                effect: self.effect.unwrap_or(true),
                returns_value: self.value.is_some() || self.value_format == Some(ValueFormat::Text),
            }),
        };
        let not_found_value = match &self.not_found_value {
            None => None,
            Some(v) => Some(
                serde_json::to_value(v)
                    .map_err(|e| invalid(f("not_found_value"), format!("cannot be JSON: {e}")))?,
            ),
        };
        let method = self.method.to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(invalid(
                f("method"),
                format!("not an HTTP method: {:?}", self.method),
            ));
        }
        if !self.path.starts_with('/') {
            return Err(invalid(
                f("path"),
                format!("must start with '/', got {:?}", self.path),
            ));
        }
        let path = TextTemplate::parse(&self.path, kind).map_err(|m| invalid(f("path"), m))?;
        check_url(&path, kind).map_err(|m| invalid(f("path"), m))?;
        let body = match self.body {
            None if self.body_format.is_some() => {
                return Err(invalid(f("body_format"), "there is no body to format"));
            }
            None => None,
            Some(b) => {
                let json = serde_json::to_value(&b)
                    .map_err(|e| invalid(f("body"), format!("cannot be JSON: {e}")))?;
                let format = self.body_format.unwrap_or_default();
                Some(RequestBody::parse(&json, format, kind, &f("body"))?)
            }
        };
        let text_value = self.value_format == Some(ValueFormat::Text);
        if self.value_format.is_some() && !kind.returns_value() {
            return Err(invalid(
                f("value_format"),
                "only an op that reads a value (a read, or a profile op with a value) has a value format",
            ));
        }
        if text_value && self.value.is_some() {
            return Err(invalid(
                f("value"),
                "value_format = \"text\" reads the whole answer; leave the value pointer out",
            ));
        }
        let missing_is_not_found = self.missing_value == Some(MissingValue::NotFound);
        if missing_is_not_found && (kind.has_effect() || !kind.returns_value()) {
            return Err(invalid(
                f("missing_value"),
                "only a read (an op without effect that reads a value) can find nothing",
            ));
        }
        let succeeded = pointer(&f("succeeded"), self.succeeded)?;
        if succeeded.as_deref() == Some("") {
            return Err(invalid(
                f("succeeded"),
                "must point at a field, e.g. \"/succeeded\"",
            ));
        }
        let headers = headers(&f("headers"), self.headers.unwrap_or_default())?;
        if matches!(kind, OpKind::Write | OpKind::Cas) && self.value.is_some() {
            return Err(invalid(f("value"), "only a read has a value to find"));
        }
        if kind.has_effect() && self.not_found.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(invalid(f("not_found"), "only a read can find nothing"));
        }
        let value = pointer(&f("value"), self.value)?.unwrap_or_default();
        let error = pointer(&f("error"), self.error)?;
        let lists = [
            StatusList::new("ok", StatusMeaning::Ok, self.ok, Some(200..=299)),
            StatusList::new("not_found", StatusMeaning::NotFound, self.not_found, None),
            StatusList::new("fail", StatusMeaning::Fail, self.fail, Some(400..=499)),
            StatusList::new(
                "unknown",
                StatusMeaning::Unknown,
                self.unknown,
                Some(500..=599),
            ),
        ];
        let statuses = status_table(op, lists)?;
        Ok(OpSpec {
            method,
            path,
            body,
            statuses,
            value,
            error,
            timeout: timeout(&f("timeout_ms"), self.timeout_ms, defaults.timeout)?,
            max_redirects: redirects(
                &f("follow_redirects"),
                self.follow_redirects,
                defaults.redirects,
            )?,
            kind,
            not_found_value,
            codec: self.codec.unwrap_or(defaults.codec),
            key_codec: self.key_codec.unwrap_or(defaults.key_codec),
            headers,
            text_value,
            missing_is_not_found,
            succeeded,
        })
    }
}

/// Renders the path with sample values and checks it makes a URL.
fn check_url(path: &TextTemplate, kind: OpKind) -> Result<(), String> {
    let key = Value::String("k".into());
    let value = match kind {
        OpKind::Cas => serde_json::json!([1, 2]),
        _ => Value::from(1),
    };
    let vars = Vars::for_op(kind, &key, &value)?;
    let url = format!("http://127.0.0.1:1{}", path.render(&vars, true));
    reqwest::Url::parse(&url)
        .map(|_| ())
        .map_err(|e| format!("does not make a URL ({e})"))
}

/// One status entry: its codes and where it came from (for messages).
struct Entry {
    codes: RangeInclusive<u16>,
    field: String,
    explicit: bool,
    meaning: StatusMeaning,
}

impl Entry {
    fn width(&self) -> u16 {
        self.codes.end() - self.codes.start()
    }
}

/// One status list of an op as written (or left out) in the file.
struct StatusList {
    name: &'static str,
    meaning: StatusMeaning,
    items: Option<Vec<StatusItem>>,
    default: Option<RangeInclusive<u16>>,
}

impl StatusList {
    fn new(
        name: &'static str,
        meaning: StatusMeaning,
        items: Option<Vec<StatusItem>>,
        default: Option<RangeInclusive<u16>>,
    ) -> StatusList {
        StatusList {
            name,
            meaning,
            items,
            default,
        }
    }
}

/// The meaning of every code from [`LOWEST`] to [`HIGHEST`]: the narrowest entry wins.
fn status_table(op: &str, lists: [StatusList; 4]) -> Result<Vec<StatusMeaning>, FieldError> {
    let mut entries = Vec::new();
    for StatusList {
        name,
        meaning,
        items: list,
        default,
    } in lists
    {
        match list {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let field = format!("{op}.{name}[{i}]");
                    let codes = parse_item(item).map_err(|m| invalid(&field, m))?;
                    entries.push(Entry {
                        codes,
                        field,
                        explicit: true,
                        meaning,
                    });
                }
            }
            None => {
                if let Some(codes) = default {
                    entries.push(Entry {
                        codes,
                        field: format!("{op}.{name} (default)"),
                        explicit: false,
                        meaning,
                    });
                }
            }
        }
    }
    let mut table = Vec::with_capacity(usize::from(HIGHEST - LOWEST + 1));
    for code in LOWEST..=HIGHEST {
        let rank = |e: &Entry| (e.width(), !e.explicit);
        let best = entries
            .iter()
            .filter(|e| e.codes.contains(&code))
            .min_by_key(|e| rank(e));
        let Some(best) = best else {
            table.push(StatusMeaning::Unknown);
            continue;
        };
        let rival = entries.iter().find(|e| {
            e.codes.contains(&code) && rank(e) == rank(best) && e.meaning != best.meaning
        });
        if let Some(rival) = rival {
            return Err(invalid(
                &rival.field,
                format!(
                    "status {code} is also in {}; list it in one place",
                    best.field
                ),
            ));
        }
        table.push(best.meaning);
    }
    Ok(table)
}

/// `409`, `"409"`, `"500-599"` or `"5xx"` as a range of codes.
fn parse_item(item: &StatusItem) -> Result<RangeInclusive<u16>, String> {
    let code = |text: &str| -> Result<u16, String> {
        text.trim()
            .parse::<u16>()
            .map_err(|_| format!("not a status code: {text:?}"))
    };
    let range = match item {
        StatusItem::Code(c) => {
            let c = u16::try_from(*c).map_err(|_| format!("not a status code: {c}"))?;
            c..=c
        }
        StatusItem::Text(t) => {
            let t = t.trim();
            let lower = t.to_ascii_lowercase();
            if let Some(class) = lower.strip_suffix("xx") {
                let digit = code(class)?;
                digit * 100..=digit * 100 + 99
            } else if let Some((lo, hi)) = t.split_once('-') {
                code(lo)?..=code(hi)?
            } else {
                let c = code(t)?;
                c..=c
            }
        }
    };
    if range.is_empty() || *range.start() < LOWEST || *range.end() > HIGHEST {
        return Err(format!(
            "status codes are {LOWEST}..={HIGHEST}, got {}..={}",
            range.start(),
            range.end()
        ));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<HttpSpec, String> {
        HttpSpec::from_toml(text, "t.toml").map_err(|e| e.to_string())
    }

    fn op(s: &HttpSpec, kind: OpKind) -> &OpSpec {
        s.op(kind).unwrap_or_else(|| panic!("{kind:?} missing"))
    }

    const MINIMAL: &str = "[write]\nmethod = \"put\"\npath = \"/kv/{key}\"\n";

    #[test]
    fn defaults_fill_a_minimal_spec() {
        let s = spec(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.register_key, "register");
        assert_eq!(s.health, None);
        let w = op(&s, OpKind::Write);
        assert_eq!(w.method, "PUT");
        assert_eq!(w.timeout, DEFAULT_TIMEOUT);
        assert_eq!(w.max_redirects, DEFAULT_REDIRECTS);
        assert_eq!(w.meaning(200), StatusMeaning::Ok);
        assert_eq!(w.meaning(299), StatusMeaning::Ok);
        assert_eq!(w.meaning(404), StatusMeaning::Fail);
        assert_eq!(w.meaning(503), StatusMeaning::Unknown);
        assert_eq!(
            w.meaning(307),
            StatusMeaning::Unknown,
            "unlisted is unknown"
        );
        assert_eq!(w.meaning(700), StatusMeaning::Unknown);
        assert!(s.op(OpKind::Read).is_none());
    }

    #[test]
    fn the_narrowest_entry_wins_and_explicit_beats_default() {
        let s = spec(
            "[read]\nmethod=\"GET\"\npath=\"/{key}\"\nnot_found=[404]\nfail=[\"3xx\", \"4xx\", 503]\nunknown=[\"5xx\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = op(&s, OpKind::Read);
        assert_eq!(r.meaning(404), StatusMeaning::NotFound);
        assert_eq!(r.meaning(403), StatusMeaning::Fail);
        assert_eq!(r.meaning(307), StatusMeaning::Fail);
        assert_eq!(r.meaning(503), StatusMeaning::Fail);
        assert_eq!(r.meaning(504), StatusMeaning::Unknown);
        let s = spec("[write]\nmethod=\"PUT\"\npath=\"/\"\nunknown=[\"4xx\"]\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(op(&s, OpKind::Write).meaning(409), StatusMeaning::Unknown);
    }

    #[test]
    fn equal_explicit_entries_in_two_lists_are_an_error() {
        let err =
            spec("[write]\nmethod=\"PUT\"\npath=\"/\"\nfail=[503]\nunknown=[\"500-599\", 503]\n");
        assert_eq!(
            err.err().as_deref(),
            Some("t.toml: write.unknown[1]: status 503 is also in write.fail[0]; list it in one place")
        );
    }

    #[test]
    fn status_items_are_checked() {
        for (item, msg) in [
            ("99", "status codes are 100..=599, got 99..=99"),
            ("\"6xx\"", "status codes are 100..=599, got 600..=699"),
            ("\"500-400\"", "status codes are 100..=599, got 500..=400"),
            ("\"abc\"", "not a status code: \"abc\""),
            ("-1", "not a status code: -1"),
        ] {
            let text = format!("{MINIMAL}ok = [200, {item}]\n");
            assert_eq!(
                spec(&text).err(),
                Some(format!("t.toml: write.ok[1]: {msg}")),
                "{item}"
            );
        }
    }

    #[test]
    fn profile_ops_are_validated_with_their_names() {
        let good =
            "[profiles.counter.add]\nmethod = \"post\"\npath = \"/c\"\nbody = { by = \"{value.n}\" }\n";
        let s = spec(good).unwrap_or_else(|e| panic!("{e}"));
        let add = s
            .profile_op(Profile::Counter, "add")
            .unwrap_or_else(|| panic!("add"));
        assert!(add.kind.has_effect() && !add.kind.returns_value());
        assert_eq!(s.profile_op(Profile::Counter, "read"), None);
        assert_eq!(s.profile_op(Profile::Set, "add"), None);
        assert!(s.has_profile(Profile::Counter) && !s.has_profile(Profile::Set));
        let cases = [
            (
                format!("{MINIMAL}effect = false\n"),
                "t.toml: write.effect: only a profile op sets its effect",
            ),
            (
                format!("{good}not_found = [404]\n"),
                "t.toml: profiles.counter.add.not_found: only a read can find nothing",
            ),
            (
                good.replace("{value.n}", "{from}"),
                "t.toml: profiles.counter.add.body.by: {from} is not available to custom (it has {key}, {value}, {value.NAME}, {run}, {prefix})",
            ),
            (
                "[profiles.counter]\n".to_string(),
                "t.toml: profiles.counter: defines no op",
            ),
            (
                good.replace("profiles.counter", "profiles.queue"),
                "t.toml: profiles.queue: unknown profile \"queue\"; expected one of: set, counter, bank, unique-ids, txn",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(spec(&text).err().as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn fields_are_validated_with_their_names() {
        let cases = [
            (
                "[write]\nmethod=\"P T\"\npath=\"/\"\n",
                "t.toml: write.method: not an HTTP method: \"P T\"",
            ),
            (
                "[write]\nmethod=\"PUT\"\npath=\"kv\"\n",
                "t.toml: write.path: must start with '/', got \"kv\"",
            ),
            (
                "[read]\nmethod=\"GET\"\npath=\"/{value}\"\n",
                "t.toml: read.path: {value} is not available to read (it has {key}, {run}, {prefix})",
            ),
            (
                "[write]\nmethod=\"PUT\"\npath=\"/\"\nvalue=\"/v\"\n",
                "t.toml: write.value: only a read has a value to find",
            ),
            (
                "[cas]\nmethod=\"PUT\"\npath=\"/\"\nnot_found=[404]\n",
                "t.toml: cas.not_found: only a read can find nothing",
            ),
            (
                "[read]\nmethod=\"GET\"\npath=\"/\"\nvalue=\"value\"\n",
                "t.toml: read.value: a JSON pointer is \"\" or starts with '/', got \"value\"",
            ),
            (
                "timeout_ms = 0\n[read]\nmethod=\"GET\"\npath=\"/\"\n",
                "t.toml: timeout_ms: must be 1..=600000 ms, got 0",
            ),
            (
                "[read]\nmethod=\"GET\"\npath=\"/\"\nfollow_redirects=11\n",
                "t.toml: read.follow_redirects: must be 0..=10, got 11",
            ),
            (
                "register_key = \"\"\n[read]\nmethod=\"GET\"\npath=\"/\"\n",
                "t.toml: register_key: must not be empty",
            ),
            (
                "headers = { \"a b\" = \"1\" }\n[read]\nmethod=\"GET\"\npath=\"/\"\n",
                "t.toml: headers.a b: not a valid header name",
            ),
            (
                "health = \"status\"\n[read]\nmethod=\"GET\"\npath=\"/\"\n",
                "t.toml: health: must be a URL path starting with '/', got \"status\"",
            ),
            (
                "name = \"x\"\n",
                "t.toml: read: define at least one of [read], [write], [cas], [profiles.NAME.OP]",
            ),
            (
                "[cas]\nmethod=\"POST\"\npath=\"/\"\nbody={v=\"{value}\"}\n",
                "t.toml: cas.body.v: {value} is not available to cas (it has {key}, {from}, {to}, {run}, {prefix})",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(spec(text).err().as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn unknown_fields_and_bad_toml_are_syntax_errors_with_a_line() {
        let err = spec("[write]\nmethod=\"PUT\"\npath=\"/\"\nstatus_ok=[200]\n")
            .err()
            .unwrap_or_default();
        assert!(
            err.starts_with("t.toml: TOML parse error at line 4"),
            "{err}"
        );
        assert!(err.contains("unknown field `status_ok`"), "{err}");
        let err = spec("[write\n").err().unwrap_or_default();
        assert!(
            err.starts_with("t.toml: TOML parse error at line 1"),
            "{err}"
        );
    }

    #[test]
    fn per_op_settings_override_the_top_level_and_setters_apply_to_all() {
        let mut s = spec("timeout_ms = 900\nfollow_redirects = 0\n[read]\nmethod=\"GET\"\npath=\"/\"\ntimeout_ms=300\n[write]\nmethod=\"PUT\"\npath=\"/\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(op(&s, OpKind::Read).timeout, Duration::from_millis(300));
        assert_eq!(op(&s, OpKind::Write).timeout, Duration::from_millis(900));
        assert_eq!(op(&s, OpKind::Write).max_redirects, 0);
        s.set_timeout(Duration::from_millis(50));
        s.set_max_redirects(1);
        assert_eq!(op(&s, OpKind::Read).timeout, Duration::from_millis(50));
        assert_eq!(op(&s, OpKind::Write).max_redirects, 1);
    }

    #[test]
    fn a_missing_file_names_the_file() {
        let err = HttpSpec::from_file(Path::new("/nonexistent/x.toml"))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .unwrap_or("")
                .starts_with("/nonexistent/x.toml: cannot read:"),
            "{err:?}"
        );
    }

    #[test]
    fn codecs_default_at_the_top_and_ops_override() {
        let s = spec(
            "codec = \"string\"\nkey_codec = \"base64\"\n[read]\nmethod=\"GET\"\npath=\"/{key}\"\ncodec=\"json\"\n[write]\nmethod=\"PUT\"\npath=\"/{key}\"\nbody={value=\"{value}\"}\nbody_format=\"form\"\nheaders={\"x-a\"=\"1\"}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(op(&s, OpKind::Read).codec, Codec::Json);
        assert_eq!(op(&s, OpKind::Read).key_codec, KeyCodec::Base64);
        assert_eq!(op(&s, OpKind::Write).codec, Codec::String);
        assert_eq!(
            op(&s, OpKind::Write).headers,
            vec![("x-a".to_owned(), "1".to_owned())]
        );
        assert_eq!(s.key_prefix, DEFAULT_KEY_PREFIX);
        assert_eq!(s.prefix_for("ab12"), "ab12-");
        assert_eq!(s.prefix_for(""), "");
        let plain =
            spec(&format!("key_prefix = \"\"\n{MINIMAL}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.prefix_for("ab12"), "");
    }

    #[test]
    fn answer_settings_are_checked() {
        let s = spec("[read]\nmethod=\"GET\"\npath=\"/{key}\"\nvalue_format=\"text\"\n[cas]\nmethod=\"POST\"\npath=\"/c\"\nsucceeded=\"/succeeded\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(op(&s, OpKind::Read).text_value);
        assert_eq!(op(&s, OpKind::Cas).succeeded.as_deref(), Some("/succeeded"));
        let cases = [
            (
                "[read]\nmethod=\"GET\"\npath=\"/\"\nvalue_format=\"text\"\nvalue=\"/v\"\n",
                "t.toml: read.value: value_format = \"text\" reads the whole answer; leave the value pointer out",
            ),
            (
                "[write]\nmethod=\"PUT\"\npath=\"/\"\nvalue_format=\"text\"\n",
                "t.toml: write.value_format: only an op that reads a value (a read, or a profile op with a value) has a value format",
            ),
            (
                "[write]\nmethod=\"PUT\"\npath=\"/\"\nmissing_value=\"not-found\"\n",
                "t.toml: write.missing_value: only a read (an op without effect that reads a value) can find nothing",
            ),
            (
                "[cas]\nmethod=\"PUT\"\npath=\"/\"\nsucceeded=\"ok\"\n",
                "t.toml: cas.succeeded: a JSON pointer is \"\" or starts with '/', got \"ok\"",
            ),
            (
                "[write]\nmethod=\"PUT\"\npath=\"/\"\nbody_format=\"form\"\n",
                "t.toml: write.body_format: there is no body to format",
            ),
            (
                "[write]\nmethod=\"PUT\"\npath=\"/\"\nbody_format=\"form\"\nbody=[1]\n",
                "t.toml: write.body: body_format = \"form\" takes a flat table, e.g. body = { value = \"{value}\" }",
            ),
            (
                "[write]\nmethod=\"PUT\"\npath=\"/\"\nheaders={\"a b\"=\"1\"}\n",
                "t.toml: write.headers.a b: not a valid header name",
            ),
            (
                "key_prefix = \"x-\"\n[read]\nmethod=\"GET\"\npath=\"/\"\n",
                "t.toml: key_prefix: a key prefix must contain {run} (or be \"\" to send keys as they are), got \"x-\"",
            ),
            (
                "key_prefix = \"{key}\"\n[read]\nmethod=\"GET\"\npath=\"/\"\n",
                "t.toml: key_prefix: the only placeholder a key prefix takes is {run}, got \"{key}\"",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(spec(text).err().as_deref(), Some(want), "{text}");
        }
        let err = spec("codec = \"yaml\"\n[read]\nmethod=\"GET\"\npath=\"/\"\n")
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("unknown variant `yaml`") && err.contains("line 1"),
            "{err}"
        );
        let err = spec("[read]\nmethod=\"GET\"\npath=\"/\"\nbody_fmt=\"form\"\n")
            .err()
            .unwrap_or_default();
        assert!(err.contains("unknown field `body_fmt`"), "{err}");
    }
}
