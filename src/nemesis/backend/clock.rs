//! The clock backend: rewrites each node's libfaketime control file
//! ([`crate::fakeclock`]) to bump, strobe or slow its clock, and resets every file on heal.
//! A strobe is a task that flips the file until its duration ends or the clocks are reset.
//! The nodes must have been started with the files preloaded (a local cluster, or an SSH
//! cluster on its hosts, does that when the schedule has clock faults). Where the files live
//! is the [`ClockFiles`] seam: this machine, or the hosts over SSH.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::fakeclock::{write_state, ClockState};
use crate::nemesis::clock::{bumped, rate_offset, strobe_offset, ClockFault};
use crate::nemesis::NemesisError;

/// Where the nodes' control files live and how one is rewritten: files on this machine
/// ([`LocalClockFiles`]), or on SSH hosts over their connections
/// ([`crate::cluster::remote::RemoteCluster::clock_faults`]). The backend is written once
/// against this seam.
pub trait ClockFiles: Send + Sync {
    /// Whether `node` has a control file.
    fn has(&self, node: &str) -> bool;
    /// Every node with a control file.
    fn nodes(&self) -> Vec<String>;
    /// Replaces `node`'s control file with `state`'s line, whole; the error names the file
    /// (and host).
    fn write(&self, node: &str, state: ClockState) -> Result<(), String>;
    /// How long `node`'s process (`pid`, as the cluster knows it) has run, for a rate change
    /// (`None` when unknown).
    fn uptime_ms(&self, node: &str, pid: u32) -> Option<u64>;
}

/// Control files on this machine, by node.
pub struct LocalClockFiles(BTreeMap<String, PathBuf>);

impl ClockFiles for LocalClockFiles {
    fn has(&self, node: &str) -> bool {
        self.0.contains_key(node)
    }

    fn nodes(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    fn write(&self, node: &str, state: ClockState) -> Result<(), String> {
        let path = self
            .0
            .get(node)
            .ok_or_else(|| format!("{node}: no clock control file"))?;
        write_state(path, state).map_err(|e| format!("clock control file {}: {e}", path.display()))
    }

    fn uptime_ms(&self, _node: &str, pid: u32) -> Option<u64> {
        process_uptime_ms(pid)
    }
}

/// Node clocks through their control files; remembers each node's state and running strobes.
pub struct ClockFaults {
    files: Arc<dyn ClockFiles>,
    states: BTreeMap<String, ClockState>,
    strobes: BTreeMap<String, tokio::task::JoinHandle<()>>,
}

impl ClockFaults {
    /// Clock faults through `files`: each node's control file on this machine.
    pub fn new(files: Vec<(String, PathBuf)>) -> ClockFaults {
        ClockFaults::over(Arc::new(LocalClockFiles(files.into_iter().collect())))
    }

    /// Clock faults through `files`, wherever they live.
    pub fn over(files: Arc<dyn ClockFiles>) -> ClockFaults {
        ClockFaults {
            files,
            states: BTreeMap::new(),
            strobes: BTreeMap::new(),
        }
    }

    /// How long `node`'s process `pid` has run (0 when unknown), for a rate change.
    pub fn uptime_ms(&self, node: &str, pid: Option<u32>) -> u64 {
        pid.and_then(|p| self.files.uptime_ms(node, p)).unwrap_or(0)
    }

    fn write(&self, node: &str, state: ClockState) -> Result<(), NemesisError> {
        self.files.write(node, state).map_err(NemesisError::Files)
    }

    fn check(&self, node: &str) -> Result<(), NemesisError> {
        if self.files.has(node) {
            return Ok(());
        }
        Err(NemesisError::Unsupported(format!(
            "clock faults on {node}: no clock control file"
        )))
    }

    async fn stop_strobe(&mut self, node: &str) {
        if let Some(task) = self.strobes.remove(node) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Applies `fault` to `node`'s clock (`uptime_ms`: how long its process has run, for a
    /// rate change); returns the node's new state for the journal and history.
    pub async fn apply(
        &mut self,
        node: &str,
        fault: ClockFault,
        uptime_ms: u64,
    ) -> Result<Value, NemesisError> {
        self.check(node)?;
        // A strobe still flipping this clock ends first; its base state stays.
        self.stop_strobe(node).await;
        let old = self.states.get(node).copied().unwrap_or_default();
        let new = match fault {
            ClockFault::Bump { ms } => bumped(old, ms),
            ClockFault::Rate { factor } => rate_offset(old, factor, uptime_ms),
            ClockFault::Strobe {
                ms,
                period_ms,
                duration_ms,
            } => {
                self.write(node, bumped(old, ms))?;
                let task = tokio::spawn(strobe(
                    Arc::clone(&self.files),
                    node.to_owned(),
                    old,
                    ms,
                    period_ms,
                    duration_ms,
                ));
                self.strobes.insert(node.to_owned(), task);
                return Ok(
                    json!({ "node": node, "offset_ms": old.offset_ms, "rate": old.rate, "strobe_ms": ms }),
                );
            }
        };
        self.write(node, new)?;
        self.states.insert(node.to_owned(), new);
        Ok(json!({ "node": node, "offset_ms": new.offset_ms, "rate": new.rate }))
    }

    /// Stops every strobe and writes real time to every control file; returns the nodes whose
    /// clocks were skewed. Every file is tried; the first error is returned.
    pub async fn reset(&mut self) -> Result<Vec<String>, NemesisError> {
        let mut skewed: Vec<String> = self.strobes.keys().cloned().collect();
        for node in skewed.clone() {
            self.stop_strobe(&node).await;
        }
        skewed.extend(
            self.states
                .iter()
                .filter(|(_, s)| **s != ClockState::default())
                .map(|(n, _)| n.clone()),
        );
        skewed.sort();
        skewed.dedup();
        self.states.clear();
        let mut first = None;
        for node in self.files.nodes() {
            if let Err(e) = self.write(&node, ClockState::default()) {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(skewed),
        }
    }

    /// Best effort, without waiting: stops the strobes and writes real time to every file
    /// (the nemesis's last net when it is dropped).
    pub fn reset_now(&mut self) {
        for (_, task) in std::mem::take(&mut self.strobes) {
            task.abort();
        }
        self.states.clear();
        for node in self.files.nodes() {
            let _ = self.files.write(&node, ClockState::default());
        }
    }
}

/// Flips `node`'s file between `base` moved by `ms` and `base` every half `period_ms`, for
/// `duration_ms`, then leaves `base`.
async fn strobe(
    files: Arc<dyn ClockFiles>,
    node: String,
    base: ClockState,
    ms: i64,
    period_ms: u64,
    duration_ms: u64,
) {
    let start = Instant::now();
    let half = (period_ms / 2).max(1);
    loop {
        let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        if elapsed >= duration_ms {
            break;
        }
        let _ = files.write(&node, bumped(base, strobe_offset(ms, period_ms, elapsed)));
        let next = (elapsed / half + 1) * half;
        tokio::time::sleep(Duration::from_millis(next - elapsed)).await;
    }
    let _ = files.write(&node, base);
}

/// How long process `pid` has run, from `/proc` (`None` when it is gone or unreadable).
pub fn process_uptime_ms(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    uptime_from_proc(&stat, &uptime)
}

/// A process's age from its `/proc/PID/stat` line and `/proc/uptime` (pure): the start time
/// (field 22, in clock ticks of 1/100 s, Linux's fixed `USER_HZ`) against the system uptime.
pub fn uptime_from_proc(stat: &str, uptime: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let start_ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let up_s: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let up_ms = (up_s * 1000.0) as u64;
    Some(up_ms.saturating_sub(start_ticks * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_age_comes_from_its_start_ticks() {
        let stat =
            "4242 (raft kv) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 9 0 1234 100000 50";
        assert_eq!(uptime_from_proc(stat, "20.00 30.00"), Some(20_000 - 12_340));
        assert_eq!(uptime_from_proc("garbage", "1.0 1.0"), None);
        let me = process_uptime_ms(std::process::id()).expect("our own age");
        assert!(me < 24 * 3_600_000, "{me}");
    }

    #[tokio::test]
    async fn faults_rewrite_the_file_and_reset_restores_real_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("faketime.rc");
        let read = || std::fs::read_to_string(&file).expect("control file");
        let mut clocks = ClockFaults::new(vec![("n1".into(), file.clone())]);
        clocks
            .apply("n1", ClockFault::Bump { ms: -1500 }, 0)
            .await
            .expect("bump");
        assert_eq!(read(), "-1.500 x1.000000\n");
        let v = clocks
            .apply("n1", ClockFault::Rate { factor: 0.5 }, 10_000)
            .await
            .expect("rate");
        // 10 s old at half speed from now: the offset takes up the 5 s the rate would jump.
        assert_eq!(v["offset_ms"], json!(3500));
        assert_eq!(read(), "+3.500 x0.500000\n");
        assert_eq!(clocks.reset().await.expect("reset"), ["n1"]);
        assert_eq!(read(), "+0.000 x1.000000\n");
        // A strobe flips the file until reset stops it.
        clocks
            .apply(
                "n1",
                ClockFault::Strobe {
                    ms: 700,
                    period_ms: 40,
                    duration_ms: 60_000,
                },
                0,
            )
            .await
            .expect("strobe");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(read());
            if seen.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(clocks.reset().await.expect("reset"), ["n1"]);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(read(), "+0.000 x1.000000\n");
        let e = clocks.apply("n9", ClockFault::Bump { ms: 1 }, 0).await;
        assert!(e.is_err());
    }
}
