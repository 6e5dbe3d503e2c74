//! The records of a run directory: `test.json` ([`TestRecord`]) and `results.json`
//! ([`ResultsRecord`]), with the serde helpers their fields share ([`seed`], [`validity`]).

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use super::FORMAT_VERSION;
use crate::checker::Validity;

/// Counts of recorded events by kind, for the progress line, the summary and `results.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpCounts {
    /// Client invocations recorded.
    pub invoked: u64,
    /// Completed ok.
    pub ok: u64,
    /// Completed fail.
    pub fail: u64,
    /// Completed info (indeterminate).
    pub info: u64,
    /// Nemesis events recorded.
    pub nemesis: u64,
}

/// The flags of `faultline test` after defaults, flat, as `test.json`'s `config` stores them
/// (the report shows them as a table). Plain values only: the runner fills it from its own
/// configuration. Every field may be missing from a file (it then reads as its default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigRecord {
    /// `--target`: the system under test (`raftkv`, `etcd`, `http`).
    pub target: String,
    /// `--cluster`: who runs the nodes (`local`, `external`).
    pub cluster: String,
    /// `--nodes`: nodes in the cluster.
    pub nodes: u64,
    /// `--node [NAME=]URL` of an external cluster, in order.
    pub node_urls: Vec<String>,
    /// `--host NAME=HOST` of an SSH cluster, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// The `--ssh-user`, `--ssh-key`, `--ssh-port` and `--ssh-option` flags of an SSH
    /// cluster, as given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ssh_flags: Vec<String>,
    /// `--etcd-serializable-reads`.
    pub etcd_serializable_reads: bool,
    /// `--etcd-bin`, when given.
    pub etcd_bin: Option<PathBuf>,
    /// `--client SPEC.toml`, when given.
    pub client: Option<PathBuf>,
    /// `--workload NAME|FILE`.
    pub workload: String,
    /// `--nemesis NAME|FILE`.
    pub nemesis: String,
    /// `--nemesis-interval`, in seconds; `None` = the schedule's own pace.
    pub nemesis_interval: Option<f64>,
    /// `--concurrency`: client workers.
    pub concurrency: u64,
    /// `--rate`: upper bound on client ops/s; `None` = unlimited.
    pub rate: Option<f64>,
    /// `--time-limit`, in seconds.
    pub time_limit: f64,
    /// `--seed`: the seed of the op and fault sequence (a string in the file; see [`seed`]).
    #[serde(with = "seed::option", skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `--raftkv-bug`s switched on.
    pub raftkv_bugs: Vec<String>,
    /// `--results`: the results root.
    pub results: PathBuf,
    /// `--raftkv-bin`, when given.
    pub raftkv_bin: Option<PathBuf>,
    /// `--base-port`, when given.
    pub base_port: Option<u16>,
    /// `--check-timeout`, in seconds.
    pub check_timeout: f64,
    /// `--consistency-model` (transactional workloads), when given: the model the
    /// transaction checkers judged against instead of the workload's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistency_model: Option<String>,
    /// The target's own flags as given (`--bin`, `--latency`, ... for `--target
    /// maelstrom`), so the run can be repeated from this file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub target_flags: Vec<String>,
}

/// `test.json`: what ran, written before the cluster starts. Everything but `format` may be
/// missing from a file written before versioning (or by hand); it then reads as its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRecord {
    /// The format version: [`FORMAT_VERSION`] when written by this build, 0 when the file has
    /// none.
    #[serde(default)]
    pub format: u32,
    /// The test's name (`<target>-<workload>-<nemesis>...`); empty when unknown.
    #[serde(default)]
    pub name: String,
    /// The flags after defaults.
    #[serde(default)]
    pub config: ConfigRecord,
    /// The resolved workload's name.
    #[serde(default)]
    pub workload: String,
    /// Where the workload came from: a path, or `builtin:NAME`.
    #[serde(default)]
    pub workload_source: String,
    /// Where the fault schedule came from: a builtin name or a path.
    #[serde(default)]
    pub nemesis_source: String,
    /// The pace of faults actually used, in seconds.
    #[serde(default)]
    pub nemesis_interval_secs: Option<f64>,
    /// faultline's command line, as given.
    #[serde(default)]
    pub command: Vec<String>,
    /// The command line that reruns the test with the same ops and faults.
    #[serde(default)]
    pub reproduce: Option<String>,
    /// When the run started (RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// Optional fault families the schedule dropped because this cluster cannot inject
    /// them (`mixed`'s clocks on etcd, its power loss without `/dev/fuse`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nemesis_skipped: Vec<SkippedFamily>,
}

/// An optional fault family the schedule dropped, and why this cluster cannot inject it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFamily {
    /// The family (`clock`, `power-loss`, `file-corruption`).
    pub family: String,
    /// Why it was dropped.
    pub why: String,
}

impl SkippedFamily {
    /// The one line every place that reports it shows: `skipped: clock (why)`.
    pub fn line(&self) -> String {
        format!("skipped: {} ({})", self.family, self.why)
    }
}

impl TestRecord {
    /// A record of the current format for the test `name` with `config`, stamped as started
    /// now; the other facts start empty (fill them with struct update syntax).
    pub fn new(name: String, config: ConfigRecord) -> TestRecord {
        TestRecord {
            format: FORMAT_VERSION,
            name,
            config,
            workload: String::new(),
            workload_source: String::new(),
            nemesis_source: String::new(),
            nemesis_interval_secs: None,
            command: Vec::new(),
            reproduce: None,
            started_at: Some(chrono::Utc::now().to_rfc3339()),
            nemesis_skipped: Vec::new(),
        }
    }
}

/// A nemesis op that could not be applied (e.g. a failing fault command), with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NemesisErrorRecord {
    /// History index of the nemesis event.
    pub index: u64,
    /// The nemesis function, e.g. `start-partition`.
    pub f: String,
    /// Why it failed (a non-string error in an older file reads as its JSON text).
    #[serde(deserialize_with = "text_of_any")]
    pub error: String,
}

/// A node that did not come back after a fault: an availability event, not a safety
/// violation (a correct system may refuse to start on files it finds corrupt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityEvent {
    /// History index of the nemesis op that found it.
    pub index: u64,
    /// The node.
    pub node: String,
    /// What happened to it (`refused to start after file corruption`).
    pub event: String,
    /// Why, as the restart reported it (exit status, log tail).
    pub cause: String,
}

/// `results.json`: the overall verdict, the run's facts and one entry per checker, written
/// after checking. Generic over the checker entry: the runner writes
/// [`CheckResult`](crate::checker::CheckResult)s, the report reads its own view of them.
/// Everything but the checker entries' own shape may be missing from a file written before
/// versioning; it then reads as its default (the verdict as unknown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsRecord<C> {
    /// The format version: [`FORMAT_VERSION`] when written by this build, 0 when the file has
    /// none.
    #[serde(default)]
    pub format: u32,
    /// The verdict over every checker: `true`, `false` or `"unknown"`, as Jepsen writes it
    /// (anything else reads as unknown; see [`validity`]).
    #[serde(
        default = "validity::unknown",
        deserialize_with = "validity::deserialize"
    )]
    pub valid: Validity,
    /// Whether the run was interrupted (Ctrl-C, SIGTERM).
    #[serde(default)]
    pub interrupted: bool,
    /// The seed of the op and fault sequence (a string in the file; see [`seed`]).
    #[serde(
        default,
        with = "seed::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub seed: Option<u64>,
    /// Events recorded, by kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<OpCounts>,
    /// Ops left without a completion when an interrupted run stopped.
    #[serde(default)]
    pub abandoned_ops: u64,
    /// Why the run itself failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_error: Option<String>,
    /// Nemesis ops that could not be applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nemesis_errors: Vec<NemesisErrorRecord>,
    /// Nodes that did not come back after a fault (e.g. refused to start on corrupt files):
    /// availability events, not safety violations; they do not change the verdict.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub availability: Vec<AvailabilityEvent>,
    /// The message network's counts (`--target maelstrom` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkRecord>,
    /// Optional fault families the schedule dropped for this cluster (as in `test.json`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nemesis_skipped: Vec<SkippedFamily>,
    /// One entry per checker, in the workload's order.
    #[serde(default = "Vec::new")]
    pub checkers: Vec<C>,
}

impl<C> ResultsRecord<C> {
    /// A record of the current format with the overall verdict, the seed and the checkers;
    /// the other facts start empty (fill them with struct update syntax).
    pub fn new(valid: Validity, seed: u64, checkers: Vec<C>) -> ResultsRecord<C> {
        ResultsRecord {
            format: FORMAT_VERSION,
            valid,
            interrupted: false,
            seed: Some(seed),
            counts: None,
            abandoned_ops: 0,
            run_error: None,
            nemesis_errors: Vec::new(),
            availability: Vec::new(),
            network: None,
            nemesis_skipped: Vec::new(),
            checkers,
        }
    }

    /// The same record with each checker entry converted by `f` (the first error stops it).
    pub fn try_map_checkers<D, E>(
        &self,
        f: impl FnMut(&C) -> Result<D, E>,
    ) -> Result<ResultsRecord<D>, E> {
        Ok(ResultsRecord {
            format: self.format,
            valid: self.valid,
            interrupted: self.interrupted,
            seed: self.seed,
            counts: self.counts,
            abandoned_ops: self.abandoned_ops,
            run_error: self.run_error.clone(),
            nemesis_errors: self.nemesis_errors.clone(),
            availability: self.availability.clone(),
            network: self.network.clone(),
            nemesis_skipped: self.nemesis_skipped.clone(),
            checkers: self.checkers.iter().map(f).collect::<Result<_, _>>()?,
        })
    }
}

/// Messages sent and received on one class of links, as Maelstrom counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkCounts {
    /// Messages put on the network.
    pub sent: u64,
    /// Messages delivered (a duplicate counts twice, a dropped one not at all).
    pub received: u64,
}

/// A latency summary, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencyStats {
    /// How many latencies were counted.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// The median (within about 9 %).
    pub p50: f64,
    /// The 99th percentile (within about 9 %).
    pub p99: f64,
    /// The largest.
    pub max: f64,
}

impl LatencyStats {
    /// The summary in one line of text.
    pub fn text(&self) -> String {
        format!(
            "mean {:.2}, p50 {:.2}, p99 {:.2}, max {:.2} ms ({})",
            self.mean, self.p50, self.p99, self.max, self.count
        )
    }
}

/// A node that exited without the nemesis killing it (it stays down).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeExit {
    /// The node's name.
    pub node: String,
    /// Its exit status, in words.
    pub status: String,
    /// Seconds since the network started.
    pub at_secs: f64,
}

/// `results.json`'s `network`: what the in-process message network of `--target maelstrom`
/// carried, and what went wrong on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkRecord {
    /// Messages to or from a client (`c1`, `c2`, ...).
    pub clients: LinkCounts,
    /// Messages between two server nodes, or a node and a service (`lin-kv`, ...).
    pub servers: LinkCounts,
    /// Server messages sent per client request (Maelstrom's msgs-per-op).
    pub msgs_per_op: f64,
    /// Messages a partition cut.
    pub dropped_partition: u64,
    /// Messages lost at random.
    pub dropped_loss: u64,
    /// Messages delivered twice.
    pub duplicated: u64,
    /// Messages for a node that was down or a name nobody has.
    pub undeliverable: u64,
    /// Lines a node printed that are not Maelstrom messages.
    pub malformed_lines: u64,
    /// Replies to a client request nobody was waiting for (late, or unknown `in_reply_to`).
    pub unknown_replies: u64,
    /// Nodes that exited on their own.
    pub nodes_exited: Vec<NodeExit>,
    /// Client latency: from a client's request to its reply, as the client saw it (ops that
    /// got no reply are not counted). The network's delays, the nodes' work and their
    /// messages to each other all add up here.
    pub client_latency_ms: Option<LatencyStats>,
    /// Network latency: the delay the simulated network drew for each delivered message
    /// (`--latency`, `--latency-dist`, reordering, the nemesis's delay), clients' and
    /// servers' alike.
    pub network_delay_ms: Option<LatencyStats>,
}

impl NetworkRecord {
    /// The counts as (name, value) rows, for the run summary and the report.
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![
            (
                "messages: clients sent/received".to_owned(),
                format!("{}/{}", self.clients.sent, self.clients.received),
            ),
            (
                "messages: servers sent/received".to_owned(),
                format!("{}/{}", self.servers.sent, self.servers.received),
            ),
            (
                "messages per op".to_owned(),
                format!("{:.2}", self.msgs_per_op),
            ),
        ];
        for (name, n) in [
            ("messages: cut by partitions", self.dropped_partition),
            ("messages: lost", self.dropped_loss),
            ("messages: duplicated", self.duplicated),
            ("messages: undeliverable", self.undeliverable),
            ("node lines: malformed", self.malformed_lines),
            ("replies nobody waited for", self.unknown_replies),
        ] {
            if n > 0 {
                rows.push((name.to_owned(), n.to_string()));
            }
        }
        for (name, stats) in [
            ("client latency (request to reply)", &self.client_latency_ms),
            ("network delay per message", &self.network_delay_ms),
        ] {
            if let Some(stats) = stats {
                rows.push((name.to_owned(), stats.text()));
            }
        }
        for exit in &self.nodes_exited {
            rows.push((
                format!("node {} exited on its own", exit.node),
                format!("{} at {:.1} s", exit.status, exit.at_secs),
            ));
        }
        rows
    }
}

/// Any JSON value as text: a string as itself, anything else as JSON.
fn text_of_any<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

/// Serde helpers for seeds (`#[serde(with = "seed")]`, or `seed::option` for an
/// `Option<u64>`): written as a JSON string of decimal digits, which every JSON tool keeps
/// exact (`jq` and JavaScript read numbers as doubles and round seeds above 2^53); read from
/// such a string or from a JSON integer (files from before format version 1).
pub mod seed {
    use std::fmt;

    use serde::{de, Deserializer, Serialize, Serializer};

    /// Writes `seed` as a string of decimal digits.
    pub fn serialize<S: Serializer>(seed: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(seed)
    }

    /// Reads a seed from a string of decimal digits or a non-negative JSON integer.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(SeedVisitor)
    }

    struct SeedVisitor;

    impl de::Visitor<'_> for SeedVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a seed: a string of decimal digits or a non-negative integer below 2^64")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::invalid_value(de::Unexpected::Str(v), &self));
            }
            v.parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }

    /// A seed that serializes as its string of digits.
    struct AsDigits(u64);

    impl Serialize for AsDigits {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize(&self.0, s)
        }
    }

    /// The same for an optional seed (`null` or absent reads as `None`).
    pub mod option {
        use std::fmt;

        use serde::{de, Deserializer, Serializer};

        use super::AsDigits;

        /// Writes `Some(seed)` as a string of decimal digits, `None` as `null`.
        pub fn serialize<S: Serializer>(seed: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
            match seed {
                Some(v) => s.serialize_some(&AsDigits(*v)),
                None => s.serialize_none(),
            }
        }

        /// Reads `null` as `None`, and a seed as [`super::deserialize`] does.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
            d.deserialize_option(OptionVisitor)
        }

        struct OptionVisitor;

        impl<'de> de::Visitor<'de> for OptionVisitor {
            type Value = Option<u64>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a seed or null")
            }

            fn visit_none<E: de::Error>(self) -> Result<Option<u64>, E> {
                Ok(None)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
                Ok(None)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
                super::deserialize(d).map(Some)
            }
        }
    }
}

/// Serde helpers for a verdict read back from JSON (`#[serde(deserialize_with =
/// "validity::deserialize")]`): Jepsen's encoding, `true` valid, `false` invalid, anything
/// else (`"unknown"`, `null`, ...) unknown. Writing uses [`Validity`]'s own `Serialize`.
pub mod validity {
    use serde::{Deserialize, Deserializer};

    use crate::checker::Validity;

    /// Reads a verdict: `true` valid, `false` invalid, anything else unknown.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Validity, D::Error> {
        Ok(match serde_json::Value::deserialize(d)? {
            serde_json::Value::Bool(true) => Validity::Valid,
            serde_json::Value::Bool(false) => Validity::Invalid,
            _ => Validity::Unknown,
        })
    }

    /// The verdict of a file that has none: unknown.
    pub fn unknown() -> Validity {
        Validity::Unknown
    }
}
