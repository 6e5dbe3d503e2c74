//! Nemesis schedules as TOML (`nemesis/*.toml`), parsed and validated without I/O: a bad file
//! fails with its name and the offending field before any node starts.
//!
//! ```toml
//! description = "partitions, kills and pauses"
//! interval = 10            # optional: seconds between faults (--nemesis-interval overrides)
//!
//! [[fault]]
//! kind = "partition"       # partition | kill | pause | delay | drop
//! mode = "halves"          # partition: halves | one | leader | majorities-ring | bridge
//! one-way = false          # partition: only the isolated side's messages are lost
//! weight = 2               # relative frequency (default 1)
//!
//! [[fault]]
//! kind = "kill"
//! target = "one"           # kill/pause: one | leader | minority | majority | all
//!                          # (in a pattern also majority-side | minority-side)
//!
//! [[fault]]
//! kind = "delay"
//! ms = 100                 # delay: added latency per link
//! target = "all"           # delay/drop: all | one (the links to and from one node)
//!
//! [[fault]]
//! kind = "drop"
//! probability = 0.2
//!
//! [[fault]]
//! kind = "file-corruption"  # kill, damage the data files, leave down; healed by restarting
//! mode = "bitflip"          # truncate | bitflip | copy | restore
//! target = "one"            # one | leader | minority | majority | all (capped: see docs/faults.md)
//!
//! [[fault]]
//! kind = "clock-bump"       # jump the faked clock (libfaketime); healed by clock-reset
//! ms = -2000                # signed milliseconds
//! target = "leader"         # as for kill/pause
//!
//! [[fault]]
//! kind = "clock-strobe"     # flip the clock ms off and back every half period, for a while
//! ms = -500
//! period-ms = 200
//! duration-ms = 3000
//!
//! [[fault]]
//! kind = "clock-rate"       # run the clock at a factor from now on
//! factor = 0.1
//!
//! [[fault]]
//! kind = "power-loss"       # kill -9, drop every write not yet fsynced, leave down;
//! target = "all"            # healed by power-on (restart); targets as for kill/pause
//! optional = true           # a cluster that cannot inject this family drops it (with a
//!                           # note) instead of refusing the schedule (exit 3)
//! slot = "last"             # share one slot, the last of each round, with every other
//!                           # `slot = "last"` fault, instead of a slot of its own family
//! ```
//!
//! `optional` and `slot` are per family: every `[[fault]]` of a family must say the same, and
//! an optional family may not appear in a `[[pattern]]` (a pattern is never cut short).
//!
//! No `[[fault]]` at all is the `none` schedule.
//!
//! A `[[pattern]]` is a named sequence of steps (faults and heals) that overlap in a set way,
//! run as one slot of each round, one step per pattern `interval`; it must heal every family
//! it starts. A step may set the gap before it with `after = SECONDS` (default: the
//! pattern's interval), so a fault can follow another within milliseconds and still last:
//!
//! ```toml
//! [[pattern]]
//! name = "split-majority-crash"
//! interval = 1.5
//! step = [
//!   { kind = "partition", mode = "halves" },
//!   { kind = "kill", target = "majority-side" },  # a side of the pattern's last partition
//!   { kind = "heal", family = "kill" },
//!   { kind = "heal", family = "partition" },
//! ]
//! ```
//!
//! A `[commands]` table holds shell command templates that inject and heal faults on an
//! external cluster (`--cluster external`); see [`super::command`].
//!
//! `order = "script"` turns the faults into a script: one step per interval, in file order,
//! over and over, and a step may heal one family (`kind = "heal"`, `family = "partition"`), so
//! faults can overlap in a set pattern (isolate a node, then crash and restart the others,
//! then heal). Weights do not apply to a script. The default `order = "rounds"` is the random
//! start/stop schedule described in [`super::schedule`].

use std::time::Duration;

use serde::Deserialize;

use super::clock::ClockFault;
use super::command::{CommandTemplates, RawCommands};
use super::corruption::CorruptMode;
use super::fault::{FaultKind, PartitionMode};

/// The builtin schedules, by name: `(name, TOML text)`.
pub const BUILTINS: &[(&str, &str)] = &[
    ("none", include_str!("../../nemesis/none.toml")),
    (
        "partition-halves",
        include_str!("../../nemesis/partition-halves.toml"),
    ),
    (
        "partition-one",
        include_str!("../../nemesis/partition-one.toml"),
    ),
    (
        "partition-leader",
        include_str!("../../nemesis/partition-leader.toml"),
    ),
    (
        "majorities-ring",
        include_str!("../../nemesis/majorities-ring.toml"),
    ),
    ("bridge", include_str!("../../nemesis/bridge.toml")),
    ("kill", include_str!("../../nemesis/kill.toml")),
    ("pause", include_str!("../../nemesis/pause.toml")),
    ("mixed", include_str!("../../nemesis/mixed.toml")),
    (
        "mixed-no-leader",
        include_str!("../../nemesis/mixed-no-leader.toml"),
    ),
    (
        "isolated-restarts",
        include_str!("../../nemesis/isolated-restarts.toml"),
    ),
    (
        "file-corruption",
        include_str!("../../nemesis/file-corruption.toml"),
    ),
    ("clock", include_str!("../../nemesis/clock.toml")),
    ("power-loss", include_str!("../../nemesis/power-loss.toml")),
];

/// The schedule `faultline test` uses without `--nemesis`.
pub const DEFAULT_NEMESIS: &str = "mixed";

/// The pace when neither the file nor `--nemesis-interval` sets one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Which nodes a kill or pause hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessTarget {
    /// One random node.
    One,
    /// The current leader (asked via `/status` when applied).
    Leader,
    /// A random minority (as many nodes as can fail without losing the quorum, at least one).
    Minority,
    /// A random majority (the cluster loses its quorum).
    Majority,
    /// Every node.
    All,
    /// The larger side of the pattern's last partition (mode `halves` or `one`): pattern steps
    /// only, so a partition can be followed by a crash of one side, as when the datacenter on
    /// one side of a severed link loses power.
    MajoritySide,
    /// The smaller side of the pattern's last partition (mode `halves` or `one`); pattern
    /// steps only.
    MinoritySide,
}

impl ProcessTarget {
    /// Whether the target is one side of a partition earlier in the same pattern.
    pub fn is_side(self) -> bool {
        matches!(
            self,
            ProcessTarget::MajoritySide | ProcessTarget::MinoritySide
        )
    }
}

/// Which links a delay or drop affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkTarget {
    /// Every link.
    All,
    /// The links to and from one random node.
    One,
}

/// One kind of fault the schedule may inject, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultSpec {
    /// A network partition of the given shape.
    Partition {
        /// The shape.
        mode: PartitionMode,
        /// Only one side's outbound messages are lost.
        one_way: bool,
    },
    /// `kill -9`, then restart on the same data dir.
    Kill(ProcessTarget),
    /// SIGSTOP, then SIGCONT.
    Pause(ProcessTarget),
    /// Added latency on links.
    Delay {
        /// Milliseconds per chunk, one way.
        ms: u64,
        /// Which links.
        target: LinkTarget,
    },
    /// Packet loss on links.
    Drop {
        /// Probability per chunk.
        probability: f64,
        /// Which links.
        target: LinkTarget,
    },
    /// Kill, damage data files (see [`super::corruption`]), restart at the stop op.
    FileCorruption {
        /// What to do to a file.
        mode: CorruptMode,
        /// Which nodes.
        target: ProcessTarget,
    },
    /// Skew node clocks (libfaketime), reset at the stop op.
    Clock {
        /// What to do to the clocks.
        fault: ClockFault,
        /// Which nodes.
        target: ProcessTarget,
    },
    /// Kill, drop every write not yet durable (the node's FUSE mount), restart at the stop
    /// op.
    PowerLoss(ProcessTarget),
    /// A script step that heals every fault of one family (its stop op).
    Heal(FaultKind),
}

impl FaultSpec {
    /// The family of this fault.
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultSpec::Partition { .. } => FaultKind::Partition,
            FaultSpec::Kill(_) => FaultKind::Kill,
            FaultSpec::Pause(_) => FaultKind::Pause,
            FaultSpec::Delay { .. } => FaultKind::Delay,
            FaultSpec::Drop { .. } => FaultKind::Drop,
            FaultSpec::FileCorruption { .. } => FaultKind::FileCorruption,
            FaultSpec::Clock { .. } => FaultKind::Clock,
            FaultSpec::PowerLoss(_) => FaultKind::PowerLoss,
            FaultSpec::Heal(kind) => *kind,
        }
    }
}

/// How the schedule walks through the faults of a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Seeded rounds of non-overlapping start/stop pairs, every family once per round.
    Rounds,
    /// The faults as steps in file order, cyclically; faults may overlap and heal steps end
    /// them, so a file can set up a precise pattern (victims are still drawn from the seed).
    Script,
}

/// A named sequence of faults that overlap in a set way (isolate a node, then crash and restart
/// the others, then heal), run as one slot of a round. Its steps come one per pattern
/// interval, and it heals every family it starts before it ends (checked when parsed), so the
/// rounds around it still never overlap.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// The pattern's name, for messages and docs.
    pub name: String,
    /// The gap between its steps (the schedule's pace when unset).
    pub interval: Option<Duration>,
    /// The steps, in order; heal steps end a family.
    pub steps: Vec<FaultSpec>,
    /// Per step, the gap before it when the step sets one (`after = SECONDS`), else the
    /// pattern's interval; the first step's is always `None` (it starts the slot).
    pub gaps: Vec<Option<Duration>>,
}

/// A validated nemesis schedule: which faults, how often each, at what pace.
#[derive(Debug, Clone, PartialEq)]
pub struct NemesisSpec {
    /// Where it came from (`mixed` or a file path), for messages and test.json.
    pub source: String,
    /// One line for humans.
    pub description: String,
    /// The pace from the file, if it sets one (`--nemesis-interval` wins).
    pub interval: Option<Duration>,
    /// The faults and their weights; empty = no faults.
    pub faults: Vec<(FaultSpec, u32)>,
    /// Random rounds or a fixed script.
    pub order: Order,
    /// Overlapping fault sequences the rounds visit as one slot each (`[[pattern]]`).
    pub patterns: Vec<Pattern>,
    /// Fault command templates for external clusters (`[commands]`), if the file has them.
    pub commands: Option<CommandTemplates>,
    /// Families the schedule may run without (`optional = true`): a cluster that cannot
    /// inject one drops it ([`NemesisSpec::skip`]) instead of refusing the whole schedule, so
    /// the default `mixed` can name faults only some clusters support.
    pub optional: Vec<FaultKind>,
    /// Families whose faults share one slot, the last of each round (`slot = "last"`),
    /// instead of a slot each: rare faults that must not slow the others' pace.
    pub last_slot: Vec<FaultKind>,
    /// Optional families dropped for the cluster at hand, with why, in the order dropped:
    /// the run says so in its summary, log, records and report.
    pub skipped: Vec<Skipped>,
}

/// An optional fault family a cluster cannot inject, dropped from the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The family.
    pub kind: FaultKind,
    /// Why this cluster cannot inject it.
    pub why: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped: {} ({})", self.kind.name(), self.why)
    }
}

/// A nemesis file that does not parse or does not make sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NemesisSpecError {
    /// Not TOML, or a field of the wrong type / unknown field.
    #[error("{file}: {message}")]
    Parse {
        /// File name or builtin name.
        file: String,
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// A field with a value that cannot work.
    #[error("{file}: {field}: {message}")]
    Field {
        /// File name or builtin name.
        file: String,
        /// e.g. `fault[2].probability`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// `--nemesis NAME` names no builtin and no file.
    #[error("unknown nemesis {name:?}: not a file and not one of {known}")]
    Unknown {
        /// What was asked for.
        name: String,
        /// The builtin names.
        known: String,
    },
}

/// The file as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    #[serde(default)]
    description: String,
    interval: Option<f64>,
    order: Option<String>,
    #[serde(default)]
    fault: Vec<RawFault>,
    #[serde(default)]
    pattern: Vec<RawPattern>,
    commands: Option<RawCommands>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    name: String,
    interval: Option<f64>,
    step: Vec<RawFault>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFault {
    kind: String,
    mode: Option<String>,
    one_way: Option<bool>,
    target: Option<String>,
    ms: Option<i64>,
    probability: Option<f64>,
    weight: Option<i64>,
    family: Option<String>,
    after: Option<f64>,
    factor: Option<f64>,
    period_ms: Option<i64>,
    duration_ms: Option<i64>,
    optional: Option<bool>,
    slot: Option<String>,
}

impl NemesisSpec {
    /// The TOML text of a builtin schedule.
    pub fn builtin(name: &str) -> Option<&'static str> {
        BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// The names of the builtin schedules, in registry order (for help and messages).
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTINS.iter().map(|(n, _)| *n).collect()
    }

    /// Parses and validates a builtin by name.
    pub fn from_builtin(name: &str) -> Result<NemesisSpec, NemesisSpecError> {
        match Self::builtin(name) {
            Some(text) => Self::from_toml(text, name),
            None => Err(NemesisSpecError::Unknown {
                name: name.to_string(),
                known: Self::builtin_names().join(", "),
            }),
        }
    }

    /// `--nemesis NAME|FILE`: a builtin name, else a file path (the only I/O here: reading
    /// it). Errors name the file.
    pub fn load(name_or_path: &str) -> Result<NemesisSpec, NemesisSpecError> {
        if let Some(text) = Self::builtin(name_or_path) {
            return Self::from_toml(text, name_or_path);
        }
        let path = std::path::Path::new(name_or_path);
        if path.is_file() || name_or_path.ends_with(".toml") || name_or_path.contains('/') {
            let text = std::fs::read_to_string(path).map_err(|e| NemesisSpecError::Parse {
                file: name_or_path.to_string(),
                message: format!("cannot read: {e}"),
            })?;
            return Self::from_toml(&text, name_or_path);
        }
        Self::from_builtin(name_or_path)
    }

    /// Parses and validates TOML text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<NemesisSpec, NemesisSpecError> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| NemesisSpecError::Parse {
            file: source.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let field = |field: String, message: String| NemesisSpecError::Field {
            file: source.to_string(),
            field,
            message,
        };
        let interval = parse_interval(raw.interval).map_err(|m| field("interval".into(), m))?;
        let order = match raw.order.as_deref() {
            None | Some("rounds") => Order::Rounds,
            Some("script") => Order::Script,
            Some(o) => {
                return Err(field(
                    "order".into(),
                    format!("unknown order {o:?}; expected rounds or script"),
                ))
            }
        };
        let script = order == Order::Script;
        let mut faults = Vec::with_capacity(raw.fault.len());
        for (i, f) in raw.fault.iter().enumerate() {
            if f.after.is_some() {
                return Err(field(
                    format!("fault[{i}].after"),
                    "only a [[pattern]] step (not its first) may set its own gap".into(),
                ));
            }
            let (spec, weight) = parse_fault(f, &format!("fault[{i}]"), script, &field)?;
            if let FaultSpec::Kill(t)
            | FaultSpec::Pause(t)
            | FaultSpec::PowerLoss(t)
            | FaultSpec::Clock { target: t, .. } = spec
            {
                if t.is_side() {
                    return Err(field(
                        format!("fault[{i}].target"),
                        "a side of a partition is only known inside a [[pattern]], after its partition step".into(),
                    ));
                }
            }
            faults.push((spec, weight));
        }
        let (optional, last_slot) = family_flags(&raw.fault, &faults, &field)?;
        let mut patterns = Vec::with_capacity(raw.pattern.len());
        for (i, p) in raw.pattern.iter().enumerate() {
            if script {
                return Err(field(
                    format!("pattern[{i}]"),
                    "a pattern is a slot of the rounds; a script already runs its steps in order"
                        .into(),
                ));
            }
            let pattern = parse_pattern(p, i, &field)?;
            if let Some(k) = pattern
                .steps
                .iter()
                .map(|s| s.kind())
                .find(|k| optional.contains(k))
            {
                return Err(field(
                    format!("pattern[{i}]"),
                    format!(
                        "has {} steps, a family its [[fault]]s mark optional: a pattern is never cut short, so a family in one cannot be optional",
                        k.name()
                    ),
                ));
            }
            patterns.push(pattern);
        }
        let commands = match &raw.commands {
            None => None,
            Some(c) => Some(CommandTemplates::from_raw(c).map_err(|(f, m)| field(f, m))?),
        };
        Ok(NemesisSpec {
            source: source.to_string(),
            description: raw.description,
            interval,
            faults,
            order,
            patterns,
            commands,
            optional,
            last_slot,
            skipped: Vec::new(),
        })
    }

    /// Drops the optional family `kind` (every `[[fault]]` of it) for a cluster that cannot
    /// inject it, noting `why`; `false` (and nothing dropped) when the family is not optional
    /// or not in the schedule. The caller refuses a schedule whose family is not optional.
    pub fn skip(&mut self, kind: FaultKind, why: &str) -> bool {
        if !self.optional.contains(&kind) || !self.kinds().contains(&kind) {
            return false;
        }
        self.faults.retain(|(f, _)| f.kind() != kind);
        self.skipped.push(Skipped {
            kind,
            why: why.to_string(),
        });
        true
    }

    /// The fault families this schedule can inject, each once, in heal order.
    pub fn kinds(&self) -> Vec<FaultKind> {
        FaultKind::ALL
            .into_iter()
            .filter(|k| self.fault_specs().any(|f| f.kind() == *k))
            .collect()
    }

    /// Every fault the schedule can inject: the `[[fault]]`s, then every pattern's steps.
    pub fn fault_specs(&self) -> impl Iterator<Item = &FaultSpec> {
        self.faults
            .iter()
            .map(|(f, _)| f)
            .chain(self.patterns.iter().flat_map(|p| p.steps.iter()))
    }

    /// No faults at all (the `none` schedule, or an external cluster without `[commands]`).
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty() && self.patterns.is_empty()
    }

    /// Drops every fault and pattern.
    pub fn clear(&mut self) {
        self.faults.clear();
        self.patterns.clear();
    }

    /// The pace: `--nemesis-interval` if given, else the file's, else [`DEFAULT_INTERVAL`].
    pub fn pace(&self, flag: Option<Duration>) -> Duration {
        flag.or(self.interval).unwrap_or(DEFAULT_INTERVAL)
    }
}

/// Parses one `[[fault]]` (or a pattern's `[[pattern.step]]`) named `prefix` in errors; `steps`
/// says it is a step of a script or pattern (heals allowed, weights not).
fn parse_fault(
    f: &RawFault,
    prefix: &str,
    steps: bool,
    field: &dyn Fn(String, String) -> NemesisSpecError,
) -> Result<(FaultSpec, u32), NemesisSpecError> {
    let at = |name: &str| format!("{prefix}.{name}");
    if steps {
        for (name, set) in [
            ("optional", f.optional.is_some()),
            ("slot", f.slot.is_some()),
        ] {
            if set {
                return Err(field(
                    at(name),
                    "applies to a [[fault]] of the rounds only, not to a script or a pattern step"
                        .into(),
                ));
            }
        }
    }
    let weight = match f.weight {
        None => 1,
        Some(_) if steps => {
            return Err(field(
                at("weight"),
                "does not apply to a script or a pattern step (steps run in order)".into(),
            ))
        }
        Some(w) if (1..=1_000_000).contains(&w) => w as u32,
        Some(w) => {
            return Err(field(
                at("weight"),
                format!("must be in 1..=1000000, got {w}"),
            ))
        }
    };
    // The nodes a process or clock fault acts on (default `one`).
    let node_target = || {
        parse_target(f.target.as_deref().unwrap_or("one")).ok_or_else(|| {
            field(
                at("target"),
                format!(
                    "unknown target {:?}; expected one, leader, minority, majority, all, majority-side or minority-side",
                    f.target.as_deref().unwrap_or_default()
                ),
            )
        })
    };
    let allow = |names: &[&str]| -> Result<(), NemesisSpecError> {
        let present = [
            ("mode", f.mode.is_some()),
            ("one-way", f.one_way.is_some()),
            ("target", f.target.is_some()),
            ("ms", f.ms.is_some()),
            ("probability", f.probability.is_some()),
            ("family", f.family.is_some()),
            ("factor", f.factor.is_some()),
            ("period-ms", f.period_ms.is_some()),
            ("duration-ms", f.duration_ms.is_some()),
        ];
        match present.iter().find(|(n, set)| *set && !names.contains(n)) {
            Some((n, _)) => Err(field(
                at(n),
                format!("does not apply to a {:?} fault", f.kind),
            )),
            None => Ok(()),
        }
    };
    let spec = match f.kind.as_str() {
        "partition" => {
            allow(&["mode", "one-way"])?;
            let mode = match f.mode.as_deref() {
                None => PartitionMode::Halves,
                Some(m) => PartitionMode::ALL
                    .into_iter()
                    .find(|p| p.name() == m)
                    .ok_or_else(|| {
                        field(
                            at("mode"),
                            format!(
                                "unknown mode {m:?}; expected one of {}",
                                PartitionMode::ALL.map(|p| p.name()).join(", ")
                            ),
                        )
                    })?,
            };
            let one_way = f.one_way.unwrap_or(false);
            if one_way && matches!(mode, PartitionMode::MajoritiesRing | PartitionMode::Bridge) {
                return Err(field(
                    at("one-way"),
                    format!("mode {:?} has no one-way variant", mode.name()),
                ));
            }
            FaultSpec::Partition { mode, one_way }
        }
        "kill" | "pause" | "power-loss" => {
            allow(&["target"])?;
            let target = node_target()?;
            match f.kind.as_str() {
                "kill" => FaultSpec::Kill(target),
                "pause" => FaultSpec::Pause(target),
                _ => FaultSpec::PowerLoss(target),
            }
        }
        "delay" | "drop" => {
            let link_target =
                parse_link_target(f.target.as_deref().unwrap_or("all")).ok_or_else(|| {
                    field(
                        at("target"),
                        format!(
                            "unknown target {:?}; expected all or one",
                            f.target.as_deref().unwrap_or_default()
                        ),
                    )
                })?;
            if f.kind == "delay" {
                allow(&["ms", "target"])?;
                let ms = match f.ms {
                    Some(ms) if (1..=60_000).contains(&ms) => ms as u64,
                    Some(ms) => {
                        return Err(field(
                            at("ms"),
                            format!("must be in 1..=60000 milliseconds, got {ms}"),
                        ))
                    }
                    None => return Err(field(at("ms"), "is required for a delay".into())),
                };
                FaultSpec::Delay {
                    ms,
                    target: link_target,
                }
            } else {
                allow(&["probability", "target"])?;
                let p = match f.probability {
                    Some(p) if p > 0.0 && p < 1.0 => p,
                    Some(p) => {
                        return Err(field(
                            at("probability"),
                            format!("must be in (0, 1), got {p}"),
                        ))
                    }
                    None => return Err(field(at("probability"), "is required for a drop".into())),
                };
                FaultSpec::Drop {
                    probability: p,
                    target: link_target,
                }
            }
        }
        "file-corruption" => {
            allow(&["mode", "target"])?;
            let mode = match f.mode.as_deref() {
                None => CorruptMode::Bitflip,
                Some(m) => CorruptMode::parse(m).ok_or_else(|| {
                    field(
                        at("mode"),
                        format!(
                            "unknown mode {m:?}; expected one of {}",
                            CorruptMode::ALL.map(|c| c.name()).join(", ")
                        ),
                    )
                })?,
            };
            let target = parse_target(f.target.as_deref().unwrap_or("one"))
                .filter(|t| !t.is_side())
                .ok_or_else(|| {
                    field(
                        at("target"),
                        format!(
                            "unknown target {:?}; expected one, leader, minority, majority or all",
                            f.target.as_deref().unwrap_or_default()
                        ),
                    )
                })?;
            FaultSpec::FileCorruption { mode, target }
        }
        "clock-bump" | "clock-strobe" | "clock-rate" => {
            let target = node_target()?;
            let signed_ms = |name: &str, v: Option<i64>| match v {
                Some(ms) if ms != 0 && ms.abs() <= 3_600_000 => Ok(ms),
                Some(ms) => Err(field(
                    at(name),
                    format!("must be a non-zero number of milliseconds within ±3600000, got {ms}"),
                )),
                None => Err(field(at(name), format!("is required for a {}", f.kind))),
            };
            let span_ms = |name: &str, v: Option<i64>, min: i64| match v {
                Some(ms) if (min..=3_600_000).contains(&ms) => Ok(ms as u64),
                Some(ms) => Err(field(
                    at(name),
                    format!("must be in {min}..=3600000 milliseconds, got {ms}"),
                )),
                None => Err(field(at(name), format!("is required for a {}", f.kind))),
            };
            let fault = match f.kind.as_str() {
                "clock-bump" => {
                    allow(&["ms", "target"])?;
                    ClockFault::Bump {
                        ms: signed_ms("ms", f.ms)?,
                    }
                }
                "clock-strobe" => {
                    allow(&["ms", "period-ms", "duration-ms", "target"])?;
                    ClockFault::Strobe {
                        ms: signed_ms("ms", f.ms)?,
                        period_ms: span_ms("period-ms", f.period_ms, 10)?,
                        duration_ms: span_ms("duration-ms", f.duration_ms, 1)?,
                    }
                }
                _ => {
                    allow(&["factor", "target"])?;
                    match f.factor {
                        Some(x) if (0.01..=100.0).contains(&x) && x != 1.0 => {
                            ClockFault::Rate { factor: x }
                        }
                        Some(x) => {
                            return Err(field(
                                at("factor"),
                                format!("must be in [0.01, 100] and not 1, got {x}"),
                            ))
                        }
                        None => {
                            return Err(field(at("factor"), "is required for a clock-rate".into()))
                        }
                    }
                }
            };
            FaultSpec::Clock { fault, target }
        }
        "heal" => {
            allow(&["family"])?;
            if !steps {
                return Err(field(
                    at("kind"),
                    "a heal step needs order = \"script\" or a [[pattern]]".into(),
                ));
            }
            let family = f.family.as_deref().unwrap_or_default();
            let kind = FaultKind::ALL
                .into_iter()
                .find(|k| k.name() == family)
                .ok_or_else(|| {
                    field(
                        at("family"),
                        format!(
                            "unknown family {family:?}; expected one of {}",
                            FaultKind::ALL.map(|k| k.name()).join(", ")
                        ),
                    )
                })?;
            FaultSpec::Heal(kind)
        }
        other => {
            return Err(field(
                at("kind"),
                format!(
                    "unknown kind {other:?}; expected partition, kill, pause, delay, drop, file-corruption, clock-bump, clock-strobe, clock-rate, power-loss or heal"
                ),
            ))
        }
    };
    Ok((spec, weight))
}

/// The families every `[[fault]]` of which says `optional = true`, and those that say
/// `slot = "last"`; a family whose faults disagree is an error naming the first that does.
fn family_flags(
    raw: &[RawFault],
    faults: &[(FaultSpec, u32)],
    field: &dyn Fn(String, String) -> NemesisSpecError,
) -> Result<(Vec<FaultKind>, Vec<FaultKind>), NemesisSpecError> {
    let mut optional = Vec::new();
    let mut last = Vec::new();
    let mut seen: Vec<(FaultKind, bool, bool, usize)> = Vec::new();
    for (i, (f, (spec, _))) in raw.iter().zip(faults).enumerate() {
        let is_last = match f.slot.as_deref() {
            None | Some("own") => false,
            Some("last") => true,
            Some(other) => {
                return Err(field(
                    format!("fault[{i}].slot"),
                    format!("unknown slot {other:?}; expected own or last"),
                ))
            }
        };
        let is_optional = f.optional.unwrap_or(false);
        let kind = spec.kind();
        match seen.iter().find(|(k, ..)| *k == kind) {
            None => seen.push((kind, is_optional, is_last, i)),
            Some(&(_, o, l, first)) => {
                let differs = if o != is_optional {
                    Some("optional")
                } else if l != is_last {
                    Some("slot")
                } else {
                    None
                };
                if let Some(name) = differs {
                    return Err(field(
                        format!("fault[{i}].{name}"),
                        format!(
                            "differs from fault[{first}], of the same family {}: every fault of a family must say the same",
                            kind.name()
                        ),
                    ));
                }
            }
        }
    }
    for (kind, o, l, _) in seen {
        if o {
            optional.push(kind);
        }
        if l {
            last.push(kind);
        }
    }
    Ok((optional, last))
}

/// Parses one `[[pattern]]`: its steps, its interval, and that it ends with every family it
/// started healed (so the rounds around it never overlap).
fn parse_pattern(
    p: &RawPattern,
    i: usize,
    field: &dyn Fn(String, String) -> NemesisSpecError,
) -> Result<Pattern, NemesisSpecError> {
    let at = |name: &str| format!("pattern[{i}].{name}");
    if p.name.trim().is_empty() {
        return Err(field(at("name"), "must not be empty".into()));
    }
    let interval = parse_interval(p.interval).map_err(|m| field(at("interval"), m))?;
    if p.step.is_empty() {
        return Err(field(
            at("step"),
            "a pattern needs at least one step".into(),
        ));
    }
    let mut steps = Vec::with_capacity(p.step.len());
    let mut gaps = Vec::with_capacity(p.step.len());
    let mut active: Vec<FaultKind> = Vec::new();
    let mut sided = false;
    for (j, raw) in p.step.iter().enumerate() {
        let (spec, _) = parse_fault(raw, &format!("pattern[{i}].step[{j}]"), true, field)?;
        let gap =
            match raw.after {
                Some(_) if j == 0 => return Err(field(
                    format!("pattern[{i}].step[0].after"),
                    "the first step starts the pattern's slot; only later steps may set their gap"
                        .into(),
                )),
                after => parse_interval(after)
                    .map_err(|m| field(format!("pattern[{i}].step[{j}].after"), m))?,
            };
        gaps.push(gap);
        match spec {
            FaultSpec::Partition { mode, .. } => {
                sided = matches!(mode, PartitionMode::Halves | PartitionMode::One)
            }
            FaultSpec::Kill(t)
            | FaultSpec::Pause(t)
            | FaultSpec::PowerLoss(t)
            | FaultSpec::Clock { target: t, .. }
                if t.is_side() && !sided =>
            {
                return Err(field(
                    format!("pattern[{i}].step[{j}].target"),
                    "a side of a partition needs an earlier step of this pattern that partitions with mode \"halves\" or \"one\"".into(),
                ))
            }
            _ => {}
        }
        match spec {
            FaultSpec::Heal(kind) => active.retain(|k| *k != kind),
            ref other if !active.contains(&other.kind()) => active.push(other.kind()),
            _ => {}
        }
        steps.push(spec);
    }
    if let Some(kind) = active.first() {
        return Err(field(
            at("step"),
            format!(
                "pattern {:?} leaves its {} fault active: end it with a step kind = \"heal\", family = \"{}\"",
                p.name,
                kind.name(),
                kind.name()
            ),
        ));
    }
    Ok(Pattern {
        name: p.name.clone(),
        interval,
        steps,
        gaps,
    })
}

/// An interval in seconds from TOML, validated.
fn parse_interval(seconds: Option<f64>) -> Result<Option<Duration>, String> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => {
            Ok(Some(Duration::from_secs_f64(s)))
        }
        Some(s) => Err(format!(
            "must be a number of seconds in (0, 86400], got {s}"
        )),
    }
}

fn parse_target(s: &str) -> Option<ProcessTarget> {
    Some(match s {
        "one" => ProcessTarget::One,
        "leader" => ProcessTarget::Leader,
        "minority" => ProcessTarget::Minority,
        "majority" => ProcessTarget::Majority,
        "all" => ProcessTarget::All,
        "majority-side" => ProcessTarget::MajoritySide,
        "minority-side" => ProcessTarget::MinoritySide,
        _ => return None,
    })
}

fn parse_link_target(s: &str) -> Option<LinkTarget> {
    Some(match s {
        "all" => LinkTarget::All,
        "one" => LinkTarget::One,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_loss_parses_with_kill_targets_and_schedules_loss_then_power_on() {
        let spec = NemesisSpec::from_builtin("power-loss").expect("power-loss");
        assert_eq!(spec.kinds(), [FaultKind::PowerLoss]);
        assert!(spec
            .faults
            .contains(&(FaultSpec::PowerLoss(ProcessTarget::All), 2)));
        let names: Vec<String> = ["n1", "n2", "n3"].map(String::from).to_vec();
        let ops: Vec<_> =
            super::super::schedule::Schedule::new(&spec, &names, Duration::from_secs(1), 7)
                .take(8)
                .map(|t| t.op.f())
                .collect();
        assert_eq!(
            ops,
            ["power-loss", "power-on"].repeat(4),
            "each loss is followed by its power-on"
        );
        let e =
            NemesisSpec::from_toml("[[fault]]\nkind = \"power-loss\"\nmode = \"x\"\n", "t.toml")
                .unwrap_err();
        assert!(e.to_string().contains("fault[0].mode"), "{e}");
    }

    #[test]
    fn clock_faults_parse_with_their_parameters_and_steps_their_own_gaps() {
        let spec = NemesisSpec::from_builtin("clock").expect("clock");
        assert_eq!(spec.kinds(), [FaultKind::Partition, FaultKind::Clock]);
        let p = &spec.patterns[0];
        assert_eq!(
            p.steps[1],
            FaultSpec::Clock {
                fault: ClockFault::Bump { ms: -5000 },
                target: ProcessTarget::Leader
            }
        );
        assert_eq!(p.gaps, [None, Some(Duration::from_millis(50)), None, None]);
        assert!(spec.faults.iter().any(|(f, _)| matches!(
            f,
            FaultSpec::Clock {
                fault: ClockFault::Strobe {
                    ms: -400,
                    period_ms: 200,
                    duration_ms: 2500
                },
                target: ProcessTarget::One
            }
        )));
        // mixed has clocks too, but optional: dropped where they cannot bite.
        assert!(NemesisSpec::from_builtin("mixed")
            .expect("mixed")
            .optional
            .contains(&FaultKind::Clock));
    }

    #[test]
    fn every_builtin_parses() {
        for (name, text) in BUILTINS {
            let spec = NemesisSpec::from_toml(text, name)
                .unwrap_or_else(|e| panic!("builtin {name}: {e}"));
            assert_eq!(spec.is_empty(), *name == "none", "{name}");
            assert!(!spec.description.is_empty(), "{name} has a description");
        }
        assert!(NemesisSpec::builtin(DEFAULT_NEMESIS).is_some());
    }

    #[test]
    fn mixed_has_partitions_kills_and_pauses() {
        let spec = NemesisSpec::from_builtin("mixed").unwrap();
        let kinds = spec.kinds();
        for k in [FaultKind::Partition, FaultKind::Kill, FaultKind::Pause] {
            assert!(kinds.contains(&k), "{k:?} in {kinds:?}");
        }
    }

    #[test]
    fn bad_files_name_the_file_and_field() {
        let cases = [
            ("[[fault]]\nkind = \"flood\"\n", "x.toml: fault[0].kind: unknown kind \"flood\""),
            (
                "[[fault]]\nkind = \"partition\"\n[[fault]]\nkind = \"partition\"\nmode = \"thirds\"\n",
                "x.toml: fault[1].mode: unknown mode \"thirds\"",
            ),
            ("[[fault]]\nkind = \"drop\"\nprobability = 1.5\n", "fault[0].probability: must be in (0, 1)"),
            ("[[fault]]\nkind = \"drop\"\n", "fault[0].probability: is required"),
            ("[[fault]]\nkind = \"delay\"\nms = 0\n", "fault[0].ms: must be in 1..=60000"),
            ("[[fault]]\nkind = \"kill\"\nms = 5\n", "fault[0].ms: does not apply to a \"kill\""),
            ("[[fault]]\nkind = \"kill\"\ntarget = \"some\"\n", "fault[0].target: unknown target"),
            ("[[fault]]\nkind = \"kill\"\nweight = 0\n", "fault[0].weight"),
            ("interval = -3\n", "x.toml: interval: must be"),
            ("[[fault]]\nkind = \"partition\"\nmode = \"bridge\"\none-way = true\n", "fault[0].one-way"),
            ("colour = 1\n", "x.toml: "),
            ("order = \"random\"\n", "x.toml: order: unknown order \"random\""),
            ("[[fault]]\nkind = \"heal\"\nfamily = \"kill\"\n", "fault[0].kind: a heal step needs order"),
            ("order = \"script\"\n[[fault]]\nkind = \"heal\"\nfamily = \"flood\"\n", "fault[0].family: unknown family \"flood\""),
            ("order = \"script\"\n[[fault]]\nkind = \"kill\"\nweight = 2\n", "fault[0].weight: does not apply to a script"),
            ("[[fault]]\nkind = \"kill\"\nfamily = \"kill\"\n", "fault[0].family: does not apply"),
            ("[[fault]\n", "x.toml: "),
            (
                "[[pattern]]\nname = \"p\"\nstep = [{ kind = \"kill\" }]\n",
                "x.toml: pattern[0].step: pattern \"p\" leaves its kill fault active",
            ),
            ("[[pattern]]\nname = \"p\"\nstep = []\n", "pattern[0].step: a pattern needs at least one step"),
            ("[[pattern]]\nname = \" \"\nstep = [{ kind = \"kill\" }]\n", "pattern[0].name: must not be empty"),
            (
                "[[pattern]]\nname = \"p\"\ninterval = 0\nstep = [{ kind = \"kill\" }, { kind = \"heal\", family = \"kill\" }]\n",
                "pattern[0].interval: must be",
            ),
            (
                "[[pattern]]\nname = \"p\"\nstep = [{ kind = \"kill\", weight = 2 }, { kind = \"heal\", family = \"kill\" }]\n",
                "pattern[0].step[0].weight: does not apply",
            ),
            (
                "[[pattern]]\nname = \"p\"\nstep = [{ kind = \"flood\" }]\n",
                "pattern[0].step[0].kind: unknown kind \"flood\"",
            ),
            (
                "[[fault]]\nkind = \"kill\"\ntarget = \"majority-side\"\n",
                "fault[0].target: a side of a partition is only known inside a [[pattern]]",
            ),
            (
                "[[pattern]]\nname = \"p\"\nstep = [{ kind = \"partition\", mode = \"leader\" }, { kind = \"kill\", target = \"minority-side\" }, { kind = \"heal\", family = \"kill\" }, { kind = \"heal\", family = \"partition\" }]\n",
                "pattern[0].step[1].target: a side of a partition needs an earlier step",
            ),
            (
                "order = \"script\"\n[[fault]]\nkind = \"kill\"\n[[pattern]]\nname = \"p\"\nstep = [{ kind = \"kill\" }, { kind = \"heal\", family = \"kill\" }]\n",
                "pattern[0]: a pattern is a slot of the rounds",
            ),
            ("[[fault]]\nkind = \"file-corruption\"\nmode = \"shred\"\n", "fault[0].mode: unknown mode \"shred\"; expected one of truncate"),
            ("[[fault]]\nkind = \"file-corruption\"\nms = 3\n", "fault[0].ms: does not apply"),
            ("[[fault]]\nkind = \"clock-bump\"\n", "fault[0].ms: is required for a clock-bump"),
            ("[[fault]]\nkind = \"clock-bump\"\nms = 0\n", "fault[0].ms: must be a non-zero"),
            ("[[fault]]\nkind = \"clock-bump\"\nms = 5\nfactor = 2.0\n", "fault[0].factor: does not apply"),
            ("[[fault]]\nkind = \"clock-rate\"\nfactor = 1.0\n", "fault[0].factor: must be in [0.01, 100] and not 1"),
            ("[[fault]]\nkind = \"clock-strobe\"\nms = 5\nperiod-ms = 2\nduration-ms = 10\n", "fault[0].period-ms: must be in 10..=3600000"),
            ("[[fault]]\nkind = \"clock-strobe\"\nms = 5\nperiod-ms = 20\n", "fault[0].duration-ms: is required"),
            ("[[fault]]\nkind = \"kill\"\nafter = 1\n", "fault[0].after: only a [[pattern]] step"),
            (
                "[[pattern]]\nname = \"p\"\nstep = [{ kind = \"kill\", after = 1 }, { kind = \"heal\", family = \"kill\" }]\n",
                "pattern[0].step[0].after: the first step",
            ),
        ];
        for (i, (text, want)) in cases.into_iter().enumerate() {
            let e = NemesisSpec::from_toml(text, "x.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "case {i}: {e:?} should contain {want:?}");
        }
    }

    #[test]
    fn load_takes_a_builtin_name_or_a_file() {
        assert_eq!(NemesisSpec::load("kill").unwrap().source, "kill");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, "[[fault]]\nkind = \"pause\"\n").unwrap();
        let spec = NemesisSpec::load(path.to_str().unwrap()).unwrap();
        assert_eq!(spec.faults, vec![(FaultSpec::Pause(ProcessTarget::One), 1)]);
        let missing = dir.path().join("nope.toml");
        let e = NemesisSpec::load(missing.to_str().unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.toml") && e.contains("cannot read"), "{e}");
        let e = NemesisSpec::load("chaos").unwrap_err().to_string();
        assert!(e.contains("unknown nemesis \"chaos\""), "{e}");
    }

    #[test]
    fn a_script_keeps_its_steps_in_file_order_and_heals_what_it_names() {
        let spec = NemesisSpec::from_toml(
            "order = \"script\"\n[[fault]]\nkind = \"partition\"\nmode = \"one\"\n\
             [[fault]]\nkind = \"kill\"\ntarget = \"all\"\n\
             [[fault]]\nkind = \"heal\"\nfamily = \"partition\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(spec.order, Order::Script);
        assert_eq!(
            spec.faults,
            vec![
                (
                    FaultSpec::Partition {
                        mode: PartitionMode::One,
                        one_way: false
                    },
                    1
                ),
                (FaultSpec::Kill(ProcessTarget::All), 1),
                (FaultSpec::Heal(FaultKind::Partition), 1),
            ]
        );
        assert_eq!(spec.kinds(), vec![FaultKind::Partition, FaultKind::Kill]);
        assert_eq!(
            NemesisSpec::from_builtin("mixed").unwrap().order,
            Order::Rounds
        );
    }

    #[test]
    fn the_ssh_example_has_templates_for_every_fault_it_schedules() {
        let spec = NemesisSpec::load("examples/nemesis/ssh-etcd.toml").unwrap();
        let commands = spec.commands.as_ref().expect("[commands]");
        assert_eq!(commands.timeout, Duration::from_secs(30));
        for kind in spec.kinds() {
            assert!(commands.kinds().contains(&kind), "{kind:?}");
        }
        assert!(NemesisSpec::from_builtin("mixed")
            .unwrap()
            .commands
            .is_none());
        let e = NemesisSpec::from_toml(
            "[commands]\npause = \"p {peers}\"\nresume = \"r\"\n",
            "x.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("x.toml: commands.pause: {peers} only applies"),
            "{e}"
        );
    }

    #[test]
    fn a_pattern_keeps_its_steps_and_counts_its_families() {
        let spec = NemesisSpec::from_toml(
            "[[fault]]\nkind = \"pause\"\n\
             [[pattern]]\nname = \"cut-and-crash\"\ninterval = 0.5\n\
             step = [{ kind = \"partition\", mode = \"one\" }, { kind = \"kill\", target = \"all\" },\
             { kind = \"heal\", family = \"kill\" }, { kind = \"heal\", family = \"partition\" }]\n",
            "x",
        )
        .unwrap();
        assert_eq!(spec.patterns.len(), 1);
        let p = &spec.patterns[0];
        assert_eq!(p.name, "cut-and-crash");
        assert_eq!(p.interval, Some(Duration::from_millis(500)));
        assert_eq!(
            p.steps,
            vec![
                FaultSpec::Partition {
                    mode: PartitionMode::One,
                    one_way: false
                },
                FaultSpec::Kill(ProcessTarget::All),
                FaultSpec::Heal(FaultKind::Kill),
                FaultSpec::Heal(FaultKind::Partition),
            ]
        );
        // The families a pattern starts are healed at the end of a run like any other.
        assert_eq!(
            spec.kinds(),
            vec![FaultKind::Partition, FaultKind::Pause, FaultKind::Kill]
        );
        assert!(!spec.is_empty());
        let mut cleared = spec.clone();
        cleared.clear();
        assert!(cleared.is_empty() && cleared.kinds().is_empty());
    }

    #[test]
    fn mixed_hunts_the_leader_and_overlaps_faults_in_patterns() {
        let spec = NemesisSpec::from_builtin("mixed").unwrap();
        let names: Vec<&str> = spec.patterns.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["split-majority-crash", "leader-cut-successor-killed"]
        );
        let leader_weight: u32 = spec
            .faults
            .iter()
            .filter(|(f, _)| {
                matches!(
                    f,
                    FaultSpec::Partition {
                        mode: PartitionMode::Leader,
                        ..
                    }
                )
            })
            .map(|(_, w)| w)
            .sum();
        let partition_weight: u32 = spec
            .faults
            .iter()
            .filter(|(f, _)| f.kind() == FaultKind::Partition)
            .map(|(_, w)| w)
            .sum();
        assert!(
            2 * leader_weight >= partition_weight,
            "at least half the partitions cut the leader off"
        );
    }

    #[test]
    fn optional_families_are_dropped_with_a_note_and_others_are_not() {
        let text = "[[fault]]\nkind = \"kill\"\n\
            [[fault]]\nkind = \"clock-bump\"\nms = 100\noptional = true\nslot = \"last\"\n\
            [[fault]]\nkind = \"clock-rate\"\nfactor = 2.0\noptional = true\nslot = \"last\"\n\
            [[fault]]\nkind = \"power-loss\"\nslot = \"last\"\n";
        let mut spec = NemesisSpec::from_toml(text, "t").unwrap();
        assert_eq!(spec.optional, vec![FaultKind::Clock]);
        assert_eq!(spec.last_slot, vec![FaultKind::Clock, FaultKind::PowerLoss]);
        assert!(!spec.skip(FaultKind::PowerLoss, "no fuse"), "not optional");
        assert!(!spec.skip(FaultKind::Kill, "no"), "not optional");
        assert!(spec.skip(FaultKind::Clock, "a Go binary"));
        assert!(!spec.kinds().contains(&FaultKind::Clock));
        assert_eq!(spec.faults.len(), 2);
        assert_eq!(spec.skipped.len(), 1);
        assert_eq!(spec.skipped[0].to_string(), "skipped: clock (a Go binary)");
        assert!(!spec.skip(FaultKind::Clock, "again"), "already gone");
        assert_eq!(spec.skipped.len(), 1);
    }

    #[test]
    fn optional_and_slot_must_agree_within_a_family_and_stay_out_of_patterns_and_scripts() {
        let err = |text: &str| {
            NemesisSpec::from_toml(text, "f.toml")
                .unwrap_err()
                .to_string()
        };
        let e = err(
            "[[fault]]\nkind = \"clock-bump\"\nms = 1\noptional = true\n\
            [[fault]]\nkind = \"clock-rate\"\nfactor = 2.0\n",
        );
        assert!(
            e.contains("fault[1].optional") && e.contains("fault[0]"),
            "{e}"
        );
        let e = err("[[fault]]\nkind = \"kill\"\nslot = \"last\"\n[[fault]]\nkind = \"kill\"\n");
        assert!(e.contains("fault[1].slot"), "{e}");
        let e = err("[[fault]]\nkind = \"kill\"\nslot = \"first\"\n");
        assert!(
            e.contains("fault[0].slot") && e.contains("own or last"),
            "{e}"
        );
        let e = err("[[fault]]\nkind = \"kill\"\noptional = true\n\
            [[pattern]]\nname = \"p\"\nstep = [{ kind = \"kill\" }, { kind = \"heal\", family = \"kill\" }]\n");
        assert!(e.contains("pattern[0]") && e.contains("optional"), "{e}");
        let e = err("order = \"script\"\n[[fault]]\nkind = \"kill\"\noptional = true\n");
        assert!(e.contains("fault[0].optional"), "{e}");
    }

    #[test]
    fn mixed_marks_the_new_families_optional_and_last() {
        let spec = NemesisSpec::from_builtin("mixed").unwrap();
        for kind in [
            FaultKind::Clock,
            FaultKind::PowerLoss,
            FaultKind::FileCorruption,
        ] {
            assert!(spec.kinds().contains(&kind), "{kind:?}");
            assert!(spec.optional.contains(&kind), "{kind:?}");
            assert!(spec.last_slot.contains(&kind), "{kind:?}");
        }
        for kind in [FaultKind::Partition, FaultKind::Kill, FaultKind::Pause] {
            assert!(!spec.optional.contains(&kind), "{kind:?}");
            assert!(!spec.last_slot.contains(&kind), "{kind:?}");
        }
    }

    #[test]
    fn unknown_builtin_lists_the_known_ones() {
        let e = NemesisSpec::from_builtin("chaos").unwrap_err().to_string();
        assert!(e.contains("mixed") && e.contains("chaos"), "{e}");
    }

    #[test]
    fn the_flag_overrides_the_file_interval() {
        let spec = NemesisSpec::from_toml("interval = 2.5\n", "x").unwrap();
        assert_eq!(spec.pace(None), Duration::from_millis(2500));
        assert_eq!(
            spec.pace(Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        let spec = NemesisSpec::from_toml("", "x").unwrap();
        assert_eq!(spec.pace(None), DEFAULT_INTERVAL);
    }
}
