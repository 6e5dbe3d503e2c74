//! Fault windows from the history's nemesis events: when each fault started and when it was
//! healed, for the shaded bands on the timeline and the plots and for availability per window.
//! Pure.
//!
//! The runner records every nemesis op twice (as it is dispatched and once applied), both as
//! `info` events; a window opens at the first event of a starting op and closes at the last
//! event of the healing op. Pairs follow faultline's vocabulary (`start-partition` /
//! `stop-partition`, `kill` / `start`, `pause` / `resume`, `start-X` / `stop-X`); Jepsen's bare
//! `start` / `stop` (a partition) is understood when no kill is open. A window still open
//! when the history ends closes at its end.

use serde::Serialize;
use serde_json::Value;

use crate::history::Event;
pub use crate::rundir::AvailabilityEvent;

/// One fault, from injection to heal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultWindow {
    /// The fault family: `partition`, `kill`, `pause`, `delay`, ...
    pub kind: String,
    /// Start, ns since the test began.
    pub start: u64,
    /// End (heal), ns.
    pub end: u64,
    /// The starting op's value as recorded last (with the leader or nodes resolved).
    pub detail: String,
    /// Whether the history ended before the heal.
    pub open: bool,
}

/// What one nemesis `f` does to a fault family.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Role {
    Start(String),
    Stop(String),
}

fn role(f: &str, kill_open: bool) -> Option<Role> {
    let f = f.strip_prefix(':').unwrap_or(f);
    match f {
        "kill" => Some(Role::Start("kill".into())),
        "pause" => Some(Role::Start("pause".into())),
        "resume" => Some(Role::Stop("pause".into())),
        "corrupt-file" => Some(Role::Start("file-corruption".into())),
        "restart-corrupted" => Some(Role::Stop("file-corruption".into())),
        "clock-bump" | "clock-strobe" | "clock-rate" => Some(Role::Start("clock".into())),
        "clock-reset" => Some(Role::Stop("clock".into())),
        "power-loss" => Some(Role::Start("power-loss".into())),
        "power-on" => Some(Role::Stop("power-loss".into())),
        "start" if kill_open => Some(Role::Stop("kill".into())),
        "start" => Some(Role::Start("fault".into())),
        "stop" => Some(Role::Stop("fault".into())),
        _ => {
            if let Some(kind) = f.strip_prefix("start-") {
                Some(Role::Start(kind.to_string()))
            } else {
                f.strip_prefix("stop-").map(|k| Role::Stop(k.to_string()))
            }
        }
    }
}

/// The fault windows of `events` (nemesis events in history order); `end` closes windows the
/// history never healed. Sorted by start.
pub fn fault_windows(events: &[Event], end: u64) -> Vec<FaultWindow> {
    let mut windows: Vec<FaultWindow> = Vec::new();
    // kind -> index into `windows` of its open window.
    let mut open: Vec<(String, usize)> = Vec::new();
    // kind -> (index of its last closed window, the f that closed it), to extend a heal's
    // second event.
    let mut closed: Vec<(String, usize, String)> = Vec::new();
    let mut prev_f: Option<&str> = None;
    for e in events {
        let kill_open = open.iter().any(|(k, _)| k == "kill");
        let Some(r) = role(&e.f, kill_open) else {
            prev_f = Some(&e.f);
            continue;
        };
        let same_op_again = prev_f == Some(e.f.as_str());
        match r {
            Role::Start(kind) => {
                if let Some(&(_, i)) = open.iter().find(|(k, _)| *k == kind) {
                    // The applied event of the same op (or a repeat): keep the newest value,
                    // which has the leader/nodes resolved.
                    windows[i].detail = detail(&e.value);
                } else if let (true, Some(pos)) = (
                    same_op_again,
                    closed.iter().position(|(k, _, _)| *k == "kill"),
                ) {
                    // A `start` that just healed a kill, recorded a second time.
                    let (_, i, _) = &closed[pos];
                    windows[*i].end = windows[*i].end.max(e.time);
                } else {
                    open.push((kind.clone(), windows.len()));
                    windows.push(FaultWindow {
                        kind,
                        start: e.time,
                        end: e.time,
                        detail: detail(&e.value),
                        open: true,
                    });
                }
            }
            Role::Stop(kind) => {
                if let Some(pos) = open.iter().position(|(k, _)| *k == kind) {
                    let (_, i) = open.swap_remove(pos);
                    windows[i].end = e.time;
                    windows[i].open = false;
                    closed.retain(|(k, _, _)| *k != kind);
                    closed.push((kind, i, e.f.clone()));
                } else if let Some((_, i, _)) =
                    closed.iter().find(|(k, _, f)| *k == kind && *f == e.f)
                {
                    windows[*i].end = windows[*i].end.max(e.time);
                }
            }
        }
        prev_f = Some(&e.f);
    }
    for w in &mut windows {
        if w.open {
            w.end = end.max(w.start);
        }
    }
    windows.sort_by_key(|w| (w.start, w.end));
    windows
}

/// The availability events of `events` (nemesis events in history order): every node a
/// `restart-corrupted` or `power-on` op recorded under `"refused"`, once.
pub fn availability_events(events: &[Event]) -> Vec<AvailabilityEvent> {
    let mut out: Vec<AvailabilityEvent> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.f == "restart-corrupted" || e.f == "power-on")
    {
        let Some(refused) = e.value.get("refused").and_then(Value::as_object) else {
            continue;
        };
        for (node, cause) in refused {
            if out.iter().any(|a| &a.node == node) {
                continue;
            }
            out.push(AvailabilityEvent {
                index: e.index,
                node: node.clone(),
                event: if e.f == "power-on" {
                    "refused to start after power loss".into()
                } else {
                    "refused to start after file corruption".into()
                },
                cause: detail(cause),
            });
        }
    }
    out
}

fn detail(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{EventType, Process};
    use serde_json::json;

    fn ev(time: u64, f: &str, value: Value) -> Event {
        Event {
            index: time,
            time,
            process: Process::Nemesis,
            kind: EventType::Info,
            f: f.into(),
            key: None,
            value,
            node: None,
            error: None,
        }
    }

    #[test]
    fn paired_events_make_one_window_each() {
        let events = vec![
            ev(10, "start-partition", json!({"mode": "leader"})),
            ev(
                12,
                "start-partition",
                json!({"mode": "leader", "isolated": "n2"}),
            ),
            ev(30, "stop-partition", Value::Null),
            ev(31, "stop-partition", Value::Null),
            ev(40, "kill", json!(["n1"])),
            ev(41, "kill", json!(["n1"])),
            ev(50, "start", Value::Null),
            ev(52, "start", Value::Null),
            ev(60, "pause", json!("leader")),
            ev(61, "pause", json!(["n3"])),
        ];
        let w = fault_windows(&events, 100);
        let got: Vec<(&str, u64, u64, bool)> = w
            .iter()
            .map(|w| (w.kind.as_str(), w.start, w.end, w.open))
            .collect();
        assert_eq!(
            got,
            vec![
                ("partition", 10, 31, false),
                ("kill", 40, 52, false),
                ("pause", 60, 100, true),
            ]
        );
        assert!(w[0].detail.contains("n2"), "{:?}", w[0]);
        assert_eq!(w[2].detail, "[\"n3\"]");
    }

    #[test]
    fn a_refused_restart_is_an_availability_event_once() {
        let events = vec![
            ev(
                1,
                "corrupt-file",
                json!({"mode": "bitflip", "nodes": ["n2"], "seed": 1}),
            ),
            ev(2, "corrupt-file", json!({"nodes": ["n2"], "damage": []})),
            ev(3, "restart-corrupted", Value::Null),
            ev(
                4,
                "restart-corrupted",
                json!({"restarted": [], "refused": {"n2": "n2 exited with 4"}}),
            ),
            ev(
                5,
                "restart-corrupted",
                json!({"restarted": [], "refused": {"n2": "again"}}),
            ),
        ];
        let a = availability_events(&events);
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!((a[0].index, a[0].node.as_str()), (4, "n2"));
        assert!(a[0].cause.contains("exited with 4"));
        let w = fault_windows(&events, 9);
        assert_eq!(w[0].kind, "file-corruption");
        assert_eq!((w[0].start, w[0].end), (1, 5));
    }

    #[test]
    fn jepsen_start_stop_is_a_partition_like_fault() {
        let events = vec![
            ev(1, ":start", Value::Null),
            ev(5, ":stop", Value::Null),
            ev(7, "unknown-thing", Value::Null),
        ];
        let w = fault_windows(&events, 9);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].kind.as_str(), w[0].start, w[0].end), ("fault", 1, 5));
    }
}
