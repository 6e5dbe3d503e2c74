//! The nemesis op vocabulary: what one fault op says to do, decoded from and encoded to the
//! `f`/`value` pair recorded in the history. Pure.
//!
//! | f | value |
//! |---|---|
//! | `start-partition` | `{"mode": "halves", "grudge": {"n1": ["n3"], ...}}`, or `{"mode": "leader"}` (resolved when applied); `"one_way": true` for one-way variants |
//! | `stop-partition` | `null` |
//! | `kill` / `pause` | `["n2"]`, or `"leader"` (resolved when applied) |
//! | `start` / `resume` | `null` (restarts every killed / resumes every paused node) |
//! | `start-delay` | `{"ms": 100}` (every link), or `{"ms": 100, "nodes": ["n2"]}` (links to and from n2) |
//! | `start-drop` | `{"probability": 0.2}`, optionally with `"nodes"` |
//! | `stop-delay` / `stop-drop` | `null` |
//! | `corrupt-file` | `{"mode": "bitflip", "nodes": ["n2"], "seed": 7}` or `"nodes": "leader"`: kill the nodes, damage their data files (the plan drawn from `seed`, see [`super::corruption`]), leave them down |
//! | `restart-corrupted` | `null` (restarts every node `corrupt-file` took down; one that refuses to start is an availability event) |
//! | `clock-bump` | `{"ms": -2000, "nodes": ["n2"]}` or `"nodes": "leader"`: jump the nodes' faked clocks |
//! | `clock-strobe` | `{"ms": -500, "period_ms": 200, "duration_ms": 3000, "nodes": ...}`: flip the clocks back and forth |
//! | `clock-rate` | `{"factor": 0.1, "nodes": ...}`: run the clocks at a factor from now on |
//! | `clock-reset` | `null` (every faked clock back to real time, strobes stopped) |
//! | `power-loss` | `["n2"]` or `"leader"`: kill -9 the nodes, throw away every write to their data dirs not yet durable (see [`crate::powerfs`]), leave them down |
//! | `power-on` | `null` (restarts every node `power-loss` took down) |

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::clock::ClockFault;
use super::corruption::CorruptMode;
use super::partition::Grudge;

/// The shapes of network partition the schedule knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartitionMode {
    /// Two halves; the first (⌊n/2⌋ nodes) is the minority.
    Halves,
    /// One random node cut off from the rest.
    One,
    /// The current leader (asked via `/status` when applied) cut off from the rest.
    Leader,
    /// Every node sees a different majority (Jepsen's majorities ring).
    MajoritiesRing,
    /// Two halves with one node in the middle talking to both.
    Bridge,
}

impl PartitionMode {
    /// The name used in TOML and in the history.
    pub fn name(self) -> &'static str {
        match self {
            PartitionMode::Halves => "halves",
            PartitionMode::One => "one",
            PartitionMode::Leader => "leader",
            PartitionMode::MajoritiesRing => "majorities-ring",
            PartitionMode::Bridge => "bridge",
        }
    }

    /// Every mode, for error messages.
    pub const ALL: [PartitionMode; 5] = [
        PartitionMode::Halves,
        PartitionMode::One,
        PartitionMode::Leader,
        PartitionMode::MajoritiesRing,
        PartitionMode::Bridge,
    ];
}

/// The families of fault; each has one start and one stop op, and at most one of each family
/// is active at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Network partitions (cut proxy links).
    Partition,
    /// `kill -9`, healed by restarting on the same data dir.
    Kill,
    /// SIGSTOP, healed by SIGCONT.
    Pause,
    /// Added latency on proxy links.
    Delay,
    /// Packet loss on proxy links.
    Drop,
    /// Damaged data files while the node is down, healed by restarting it (it may refuse).
    FileCorruption,
    /// Skewed node clocks (libfaketime), healed by resetting them to real time.
    Clock,
    /// Power loss: kill -9 and drop every write not yet fsynced, healed by restarting.
    PowerLoss,
}

impl FaultKind {
    /// Every kind, in the order a heal-everything pass visits them (network first, so restarted
    /// and resumed nodes come back to a healed network).
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Partition,
        FaultKind::Delay,
        FaultKind::Drop,
        FaultKind::Clock,
        FaultKind::Pause,
        FaultKind::Kill,
        FaultKind::FileCorruption,
        FaultKind::PowerLoss,
    ];

    /// The name used in TOML.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Delay => "delay",
            FaultKind::Drop => "drop",
            FaultKind::FileCorruption => "file-corruption",
            FaultKind::Clock => "clock",
            FaultKind::PowerLoss => "power-loss",
        }
    }

    /// The op that heals this kind.
    pub fn stop_op(self) -> FaultOp {
        match self {
            FaultKind::Partition => FaultOp::StopPartition,
            FaultKind::Kill => FaultOp::Start,
            FaultKind::Pause => FaultOp::Resume,
            FaultKind::Delay => FaultOp::StopDelay,
            FaultKind::Drop => FaultOp::StopDrop,
            FaultKind::FileCorruption => FaultOp::RestartCorrupted,
            FaultKind::Clock => FaultOp::ClockReset,
            FaultKind::PowerLoss => FaultOp::PowerOn,
        }
    }
}

/// Which nodes a process fault hits: resolved by the pure schedule, or the leader, which only
/// the cluster knows when the fault is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeChoice {
    /// The node that `/status` names leader when the op is applied.
    Leader,
    /// These nodes.
    Nodes(Vec<String>),
}

/// One nemesis op, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultOp {
    /// Cut links. `grudge` is `None` only for [`PartitionMode::Leader`].
    StartPartition {
        /// The shape, recorded for the reader.
        mode: PartitionMode,
        /// Only the isolated side's outbound messages are lost.
        one_way: bool,
        /// Who must not hear whom; resolved by the schedule unless the mode is `leader`.
        grudge: Option<Grudge>,
    },
    /// Reconnect every link.
    StopPartition,
    /// `kill -9` these nodes.
    Kill(NodeChoice),
    /// Restart every killed node.
    Start,
    /// SIGSTOP these nodes.
    Pause(NodeChoice),
    /// SIGCONT every paused node.
    Resume,
    /// Delay every chunk on the chosen links.
    StartDelay {
        /// Added one-way latency in milliseconds.
        ms: u64,
        /// Only links to and from these nodes; `None` = every link.
        nodes: Option<Vec<String>>,
    },
    /// Remove link delays.
    StopDelay,
    /// Lose packets on the chosen links (see the proxy for how loss is modelled on TCP).
    StartDrop {
        /// Probability that a chunk is lost (and retransmitted later).
        probability: f64,
        /// Only links to and from these nodes; `None` = every link.
        nodes: Option<Vec<String>>,
    },
    /// Remove packet loss.
    StopDrop,
    /// Kill these nodes and damage their data files; they stay down.
    CorruptFile {
        /// What to do to a file.
        mode: CorruptMode,
        /// Which nodes.
        nodes: NodeChoice,
        /// The seed each node's plan is drawn from.
        seed: u64,
    },
    /// Restart every node `CorruptFile` took down.
    RestartCorrupted,
    /// Skew these nodes' clocks (`clock-bump`, `clock-strobe` or `clock-rate`).
    Clock {
        /// What to do to the clocks.
        fault: ClockFault,
        /// Which nodes.
        nodes: NodeChoice,
    },
    /// Every faked clock back to real time.
    ClockReset,
    /// Kill these nodes and drop every write to their data dirs not yet durable; they stay
    /// down.
    PowerLoss(NodeChoice),
    /// Restart every node `PowerLoss` took down.
    PowerOn,
}

/// A nemesis op that does not decode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("nemesis op {f:?} with value {value}: {reason}")]
pub struct FaultOpError {
    /// The op's `f`.
    pub f: String,
    /// The op's value, as JSON text.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FaultOp {
    /// The family this op starts or stops.
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultOp::StartPartition { .. } | FaultOp::StopPartition => FaultKind::Partition,
            FaultOp::Kill(_) | FaultOp::Start => FaultKind::Kill,
            FaultOp::Pause(_) | FaultOp::Resume => FaultKind::Pause,
            FaultOp::StartDelay { .. } | FaultOp::StopDelay => FaultKind::Delay,
            FaultOp::StartDrop { .. } | FaultOp::StopDrop => FaultKind::Drop,
            FaultOp::CorruptFile { .. } | FaultOp::RestartCorrupted => FaultKind::FileCorruption,
            FaultOp::Clock { .. } | FaultOp::ClockReset => FaultKind::Clock,
            FaultOp::PowerLoss(_) | FaultOp::PowerOn => FaultKind::PowerLoss,
        }
    }

    /// True for the ops that inject a fault, false for the ones that heal.
    pub fn is_start(&self) -> bool {
        matches!(
            self,
            FaultOp::StartPartition { .. }
                | FaultOp::Kill(_)
                | FaultOp::Pause(_)
                | FaultOp::StartDelay { .. }
                | FaultOp::StartDrop { .. }
                | FaultOp::CorruptFile { .. }
                | FaultOp::Clock { .. }
                | FaultOp::PowerLoss(_)
        )
    }

    /// The history's `f`.
    pub fn f(&self) -> &'static str {
        match self {
            FaultOp::StartPartition { .. } => "start-partition",
            FaultOp::StopPartition => "stop-partition",
            FaultOp::Kill(_) => "kill",
            FaultOp::Start => "start",
            FaultOp::Pause(_) => "pause",
            FaultOp::Resume => "resume",
            FaultOp::StartDelay { .. } => "start-delay",
            FaultOp::StopDelay => "stop-delay",
            FaultOp::StartDrop { .. } => "start-drop",
            FaultOp::StopDrop => "stop-drop",
            FaultOp::CorruptFile { .. } => "corrupt-file",
            FaultOp::RestartCorrupted => "restart-corrupted",
            FaultOp::Clock { fault, .. } => match fault {
                ClockFault::Bump { .. } => "clock-bump",
                ClockFault::Strobe { .. } => "clock-strobe",
                ClockFault::Rate { .. } => "clock-rate",
            },
            FaultOp::ClockReset => "clock-reset",
            FaultOp::PowerLoss(_) => "power-loss",
            FaultOp::PowerOn => "power-on",
        }
    }

    /// The history's `value` (see the module table).
    pub fn value(&self) -> Value {
        fn choice(c: &NodeChoice) -> Value {
            match c {
                NodeChoice::Leader => json!("leader"),
                NodeChoice::Nodes(ns) => json!(ns),
            }
        }
        fn with_nodes(mut v: Value, nodes: &Option<Vec<String>>) -> Value {
            if let (Some(ns), Some(obj)) = (nodes, v.as_object_mut()) {
                obj.insert("nodes".into(), json!(ns));
            }
            v
        }
        match self {
            FaultOp::StartPartition {
                mode,
                one_way,
                grudge,
            } => {
                let mut v = json!({ "mode": mode.name() });
                // `v` was built as an object just above.
                let obj = v.as_object_mut().expect("json! object");
                if let Some(g) = grudge {
                    obj.insert("grudge".into(), json!(g));
                }
                if *one_way {
                    obj.insert("one_way".into(), json!(true));
                }
                v
            }
            FaultOp::Kill(c) | FaultOp::Pause(c) | FaultOp::PowerLoss(c) => choice(c),
            FaultOp::StartDelay { ms, nodes } => with_nodes(json!({ "ms": ms }), nodes),
            FaultOp::StartDrop { probability, nodes } => {
                with_nodes(json!({ "probability": probability }), nodes)
            }
            FaultOp::CorruptFile { mode, nodes, seed } => {
                json!({ "mode": mode.name(), "nodes": choice(nodes), "seed": seed })
            }
            FaultOp::Clock { fault, nodes } => {
                let mut v = match fault {
                    ClockFault::Bump { ms } => json!({ "ms": ms }),
                    ClockFault::Strobe {
                        ms,
                        period_ms,
                        duration_ms,
                    } => json!({ "ms": ms, "period_ms": period_ms, "duration_ms": duration_ms }),
                    ClockFault::Rate { factor } => json!({ "factor": factor }),
                };
                v["nodes"] = choice(nodes);
                v
            }
            FaultOp::StopPartition
            | FaultOp::PowerOn
            | FaultOp::ClockReset
            | FaultOp::RestartCorrupted
            | FaultOp::Start
            | FaultOp::Resume
            | FaultOp::StopDelay
            | FaultOp::StopDrop => Value::Null,
        }
    }

    /// Decodes an op from its `f` and `value`, rejecting anything malformed with the reason
    /// (Jepsen's validating nemesis wrapper).
    pub fn parse(f: &str, value: &Value) -> Result<FaultOp, FaultOpError> {
        let err = |reason: String| FaultOpError {
            f: f.to_string(),
            value: value.to_string(),
            reason,
        };
        let choice = |v: &Value| -> Result<NodeChoice, FaultOpError> {
            match v {
                Value::String(s) if s == "leader" => Ok(NodeChoice::Leader),
                Value::Array(_) => serde_json::from_value::<Vec<String>>(v.clone())
                    .map(NodeChoice::Nodes)
                    .map_err(|e| err(format!("expected a list of node names: {e}"))),
                _ => Err(err("expected \"leader\" or a list of node names".into())),
            }
        };
        let nodes = |v: &Value| -> Result<Option<Vec<String>>, FaultOpError> {
            match v.get("nodes") {
                None | Some(Value::Null) => Ok(None),
                Some(ns) => serde_json::from_value(ns.clone())
                    .map(Some)
                    .map_err(|e| err(format!("\"nodes\": expected a list of names: {e}"))),
            }
        };
        Ok(match f {
            "start-partition" => {
                let mode: PartitionMode = match value.get("mode") {
                    Some(m) => serde_json::from_value(m.clone())
                        .map_err(|e| err(format!("\"mode\": {e}")))?,
                    None => return Err(err("missing \"mode\"".into())),
                };
                let one_way = value.get("one_way").and_then(Value::as_bool) == Some(true);
                let grudge: Option<Grudge> = match value.get("grudge") {
                    None | Some(Value::Null) => None,
                    Some(g) => Some(
                        serde_json::from_value(g.clone())
                            .map_err(|e| err(format!("\"grudge\": {e}")))?,
                    ),
                };
                if grudge.is_none() && mode != PartitionMode::Leader {
                    return Err(err(format!(
                        "mode {:?} needs a \"grudge\" (only \"leader\" is resolved when applied)",
                        mode.name()
                    )));
                }
                FaultOp::StartPartition {
                    mode,
                    one_way,
                    grudge,
                }
            }
            "kill" => FaultOp::Kill(choice(value)?),
            "pause" => FaultOp::Pause(choice(value)?),
            "start-delay" => FaultOp::StartDelay {
                ms: value
                    .get("ms")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| err("\"ms\" must be a whole number of milliseconds".into()))?,
                nodes: nodes(value)?,
            },
            "start-drop" => {
                let p = value
                    .get("probability")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| err("\"probability\" must be a number".into()))?;
                if !(0.0..=1.0).contains(&p) {
                    return Err(err(format!("\"probability\" must be in [0, 1], got {p}")));
                }
                FaultOp::StartDrop {
                    probability: p,
                    nodes: nodes(value)?,
                }
            }
            "corrupt-file" => {
                let mode = value
                    .get("mode")
                    .and_then(Value::as_str)
                    .and_then(CorruptMode::parse)
                    .ok_or_else(|| {
                        err(format!(
                            "\"mode\" must be one of {}",
                            CorruptMode::ALL.map(|m| m.name()).join(", ")
                        ))
                    })?;
                let nodes = choice(value.get("nodes").unwrap_or(&Value::Null))?;
                let seed = value
                    .get("seed")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| err("\"seed\" must be a whole number".into()))?;
                FaultOp::CorruptFile { mode, nodes, seed }
            }
            "clock-bump" | "clock-strobe" | "clock-rate" => {
                let nodes = choice(value.get("nodes").unwrap_or(&Value::Null))?;
                let ms = || {
                    value
                        .get("ms")
                        .and_then(Value::as_i64)
                        .filter(|ms| *ms != 0)
                        .ok_or_else(|| err("\"ms\" must be a non-zero whole number".into()))
                };
                let positive = |name: &str| {
                    value
                        .get(name)
                        .and_then(Value::as_u64)
                        .filter(|v| *v > 0)
                        .ok_or_else(|| err(format!("\"{name}\" must be a positive whole number")))
                };
                let fault = match f {
                    "clock-bump" => ClockFault::Bump { ms: ms()? },
                    "clock-strobe" => ClockFault::Strobe {
                        ms: ms()?,
                        period_ms: positive("period_ms")?,
                        duration_ms: positive("duration_ms")?,
                    },
                    _ => ClockFault::Rate {
                        factor: value
                            .get("factor")
                            .and_then(Value::as_f64)
                            .filter(|f| f.is_finite() && *f > 0.0)
                            .ok_or_else(|| err("\"factor\" must be a number above 0".into()))?,
                    },
                };
                FaultOp::Clock { fault, nodes }
            }
            "clock-reset" => FaultOp::ClockReset,
            "power-loss" => FaultOp::PowerLoss(choice(value)?),
            "power-on" => FaultOp::PowerOn,
            "restart-corrupted" => FaultOp::RestartCorrupted,
            "stop-partition" => FaultOp::StopPartition,
            "start" => FaultOp::Start,
            "resume" => FaultOp::Resume,
            "stop-delay" => FaultOp::StopDelay,
            "stop-drop" => FaultOp::StopDrop,
            other => return Err(err(format!("unknown nemesis op {other:?}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_op_round_trips_through_f_and_value() {
        let grudge: Grudge = [("n1".to_string(), BTreeSet::from(["n2".to_string()]))].into();
        let ops = [
            FaultOp::StartPartition {
                mode: PartitionMode::Halves,
                one_way: false,
                grudge: Some(grudge),
            },
            FaultOp::StartPartition {
                mode: PartitionMode::Leader,
                one_way: true,
                grudge: None,
            },
            FaultOp::StopPartition,
            FaultOp::Kill(NodeChoice::Leader),
            FaultOp::Kill(NodeChoice::Nodes(vec!["n2".into()])),
            FaultOp::Start,
            FaultOp::Pause(NodeChoice::Nodes(vec!["n1".into(), "n3".into()])),
            FaultOp::Resume,
            FaultOp::StartDelay {
                ms: 50,
                nodes: None,
            },
            FaultOp::StopDelay,
            FaultOp::StartDrop {
                probability: 0.25,
                nodes: Some(vec!["n4".into()]),
            },
            FaultOp::StopDrop,
            FaultOp::CorruptFile {
                mode: CorruptMode::Copy,
                nodes: NodeChoice::Nodes(vec!["n2".into()]),
                seed: 99,
            },
            FaultOp::CorruptFile {
                mode: CorruptMode::Restore,
                nodes: NodeChoice::Leader,
                seed: 0,
            },
            FaultOp::RestartCorrupted,
            FaultOp::Clock {
                fault: ClockFault::Bump { ms: -2500 },
                nodes: NodeChoice::Leader,
            },
            FaultOp::Clock {
                fault: ClockFault::Strobe {
                    ms: 300,
                    period_ms: 100,
                    duration_ms: 2000,
                },
                nodes: NodeChoice::Nodes(vec!["n1".into()]),
            },
            FaultOp::Clock {
                fault: ClockFault::Rate { factor: 0.25 },
                nodes: NodeChoice::Nodes(vec!["n2".into(), "n3".into()]),
            },
            FaultOp::ClockReset,
            FaultOp::PowerLoss(NodeChoice::Leader),
            FaultOp::PowerLoss(NodeChoice::Nodes(vec!["n1".into(), "n2".into()])),
            FaultOp::PowerOn,
        ];
        for (i, op) in ops.iter().enumerate() {
            let back = FaultOp::parse(op.f(), &op.value());
            assert_eq!(back.as_ref(), Ok(op), "case {i}: {}", op.value());
            assert_eq!(op.is_start(), !op.value().is_null(), "case {i}");
        }
    }

    #[test]
    fn malformed_ops_name_the_problem() {
        let cases = [
            ("explode", json!(null), "unknown nemesis op"),
            ("kill", json!(3), "\"leader\" or a list"),
            (
                "start-partition",
                json!({"mode": "halves"}),
                "needs a \"grudge\"",
            ),
            ("start-partition", json!({"mode": "sideways"}), "\"mode\""),
            ("start-drop", json!({"probability": 2.0}), "[0, 1]"),
            ("start-delay", json!({"ms": -1}), "\"ms\""),
            (
                "corrupt-file",
                json!({"mode": "shred", "nodes": ["n1"], "seed": 1}),
                "\"mode\" must be one of truncate",
            ),
            (
                "corrupt-file",
                json!({"mode": "bitflip", "nodes": ["n1"]}),
                "\"seed\"",
            ),
            ("clock-bump", json!({"ms": 0, "nodes": ["n1"]}), "non-zero"),
            (
                "clock-rate",
                json!({"factor": -1.0, "nodes": "leader"}),
                "above 0",
            ),
            (
                "clock-strobe",
                json!({"ms": 5, "period_ms": 10, "nodes": "leader"}),
                "\"duration_ms\"",
            ),
        ];
        for (i, (f, v, want)) in cases.into_iter().enumerate() {
            let e = FaultOp::parse(f, &v).unwrap_err().to_string();
            assert!(e.contains(want), "case {i}: {e}");
        }
    }
}
