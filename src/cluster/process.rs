//! The node processes of a local cluster, raftkv ([`super::local`]) or etcd ([`super::etcd`]):
//! spawning with output appended to the node's log, kill -9 and reap, SIGSTOP / SIGCONT,
//! noticing an exit, waiting for a restarted node to answer, and stopping them all. The two
//! clusters differ only in the command they spawn and how they ask a node whether it is up.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::ClusterError;

/// Log lines quoted in an error.
const TAIL_LINES: usize = 15;

/// The last lines of a log file, for error messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// Spawns `cmd` for node `node` in its own process group (a Ctrl-C in the terminal reaches
/// only faultline), stdin closed, stdout and stderr appended to `log` after a
/// `--- faultline: starting {what} at {time}` line. `binary` names the program in errors.
pub(crate) fn spawn_logged(
    mut cmd: Command,
    node: &str,
    what: &str,
    binary: &Path,
    log: &Path,
) -> Result<Child, ClusterError> {
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(ClusterError::io(log))?;
    let _ = writeln!(
        out,
        "--- faultline: starting {what} at {}",
        chrono::Utc::now().to_rfc3339()
    );
    let err: File = out.try_clone().map_err(ClusterError::io(log))?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|source| ClusterError::Spawn {
            node: node.to_owned(),
            binary: binary.to_path_buf(),
            source,
        })
}

/// Sends `signal` to the process group `child` leads (every node is spawned in a group of
/// its own), so a node that forks (a wrapper script, a worker process) is killed, paused and
/// resumed whole. Best effort: the group may be gone. The child is not yet reaped here, so
/// its pid (the group id) cannot have been reused.
fn signal_group(child: &Child, signal: Signal) {
    let _ = nix::sys::signal::killpg(Pid::from_raw(child.id() as i32), signal);
}

/// Polls until `answers` says a (re)started node is up, checking with `alive` first each
/// round so an exit fails at once; after `timeout`, [`ClusterError::NoAnswer`] naming `node`,
/// its address `http` and its `log`.
pub(crate) async fn wait_answering<A, F, Fut>(
    timeout: Duration,
    poll: Duration,
    mut alive: A,
    mut answers: F,
    (node, http, log): (&str, String, &Path),
) -> Result<(), ClusterError>
where
    A: FnMut() -> Result<(), ClusterError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        alive()?;
        if answers().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ClusterError::NoAnswer {
                node: node.to_owned(),
                http,
                waited: timeout,
                log: log.to_path_buf(),
            });
        }
        tokio::time::sleep(poll).await;
    }
}

/// How long [`Procs::signal`] waits for every thread of a SIGSTOPped node to stop.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Whether a `/proc/<pid>/task/<tid>/stat` line says the thread is stopped (`T`), dead or a
/// zombie (`X`, `Z`: it will never run again). The state follows the `)` closing the command
/// name, which may itself contain spaces and parentheses.
fn thread_is_stopped(stat: &str) -> bool {
    let state = stat
        .rfind(')')
        .and_then(|close| stat[close + 1..].split_whitespace().next());
    matches!(state, Some("T" | "t" | "X" | "Z"))
}

/// Waits (at most `limit`) until every thread of `pid` is stopped, polling `/proc`. Returns
/// whether they all were; a process that is gone counts as stopped.
fn wait_stopped(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let tasks = format!("/proc/{pid}/task");
    loop {
        let all_stopped = match std::fs::read_dir(&tasks) {
            Err(_) => return true,
            Ok(entries) => entries.flatten().all(|task| {
                std::fs::read_to_string(task.path().join("stat"))
                    .map(|stat| thread_is_stopped(&stat))
                    // A thread that vanished between listing and reading has exited.
                    .unwrap_or(true)
            }),
        };
        if all_stopped {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A node's process slot.
#[derive(Debug, Default)]
struct Slot {
    /// `None` while killed (or before the first start).
    child: Option<Child>,
    /// SIGSTOPped and not yet SIGCONTed.
    paused: bool,
}

/// Every node's process slot, by node index: the one place that knows which nodes run,
/// which are paused, and their pids.
#[derive(Debug)]
pub(crate) struct Procs {
    slots: Mutex<Vec<Slot>>,
}

impl Procs {
    /// `n` empty slots (no node started yet).
    pub(crate) fn new(n: usize) -> Procs {
        Procs {
            slots: Mutex::new((0..n).map(|_| Slot::default()).collect()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        // A poisoned lock means a panic mid-update; the slots are still the truth about the
        // children, and stopping must still be able to kill them.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts node `i` with `spawn` unless it runs; true when it was started. `spawn` runs
    /// under the slots' lock, so it must not call back into these slots.
    pub(crate) fn start_with(
        &self,
        i: usize,
        spawn: impl FnOnce() -> Result<Child, ClusterError>,
    ) -> Result<bool, ClusterError> {
        let mut slots = self.lock();
        if slots[i].child.is_some() {
            return Ok(false);
        }
        slots[i].child = Some(spawn()?);
        Ok(true)
    }

    /// Node `i`'s pid, `None` while it is killed.
    pub(crate) fn pid(&self, i: usize) -> Option<u32> {
        self.lock()[i].child.as_ref().map(Child::id)
    }

    /// Every node's pid, in index order.
    pub(crate) fn pids(&self) -> Vec<Option<u32>> {
        self.lock()
            .iter()
            .map(|s| s.child.as_ref().map(Child::id))
            .collect()
    }

    /// The `names` (one per slot, in index order) of the nodes currently killed.
    pub(crate) fn killed<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        self.names_where(names, |s| s.child.is_none())
    }

    /// The `names` (one per slot, in index order) of the nodes currently paused.
    pub(crate) fn paused<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        self.names_where(names, |s| s.paused)
    }

    fn names_where<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        keep: impl Fn(&Slot) -> bool,
    ) -> Vec<String> {
        let slots = self.lock();
        names
            .into_iter()
            .zip(slots.iter())
            .filter(|(_, s)| keep(s))
            .map(|(n, _)| n.to_owned())
            .collect()
    }

    /// `kill -9` node `i` and reap it; a killed node stays killed (nothing done).
    pub(crate) fn kill(&self, i: usize) {
        let mut slots = self.lock();
        let slot = &mut slots[i];
        if let Some(mut child) = slot.child.take() {
            // SIGKILL also ends a stopped process; the slot is no longer paused.
            slot.paused = false;
            signal_group(&child, Signal::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGSTOP or SIGCONT to node `i` (called `node` in errors) and records whether it
    /// is paused; false (nothing done) when it is killed.
    pub(crate) fn signal(
        &self,
        i: usize,
        node: &str,
        signal: Signal,
    ) -> Result<bool, ClusterError> {
        let mut slots = self.lock();
        let slot = &mut slots[i];
        let Some(child) = &slot.child else {
            return Ok(false);
        };
        let pid = child.id() as i32;
        signal_group(child, signal);
        kill(Pid::from_raw(pid), signal).map_err(|source| ClusterError::Signal {
            node: node.to_owned(),
            signal: signal.as_str(),
            pid,
            source,
        })?;
        slot.paused = signal == Signal::SIGSTOP;
        if signal == Signal::SIGSTOP {
            // kill(2) only queues the stop: each thread stops when it next runs, which on a
            // loaded machine can be after a request it was about to answer. A pause is
            // recorded as done only once every thread of the node is stopped.
            wait_stopped(pid, STOP_WAIT);
        }
        Ok(true)
    }

    /// How node `i` ended, if it should be running and has exited (reaped here, its slot
    /// emptied); `None` while it runs or is killed.
    pub(crate) fn exited(&self, i: usize) -> std::io::Result<Option<ExitStatus>> {
        let mut slots = self.lock();
        let slot = &mut slots[i];
        let Some(child) = slot.child.as_mut() else {
            return Ok(None);
        };
        let status = child.try_wait()?;
        if status.is_some() {
            slot.child = None;
            slot.paused = false;
        }
        Ok(status)
    }

    /// Resumes paused nodes and sends each running node `signal`, waits up to `grace` for
    /// them to exit, then kills and reaps whatever is left ([`Procs::stop_all`]).
    pub(crate) fn stop_all_gracefully(&self, signal: Signal, grace: Duration) {
        {
            let slots = self.lock();
            for slot in slots.iter() {
                if let Some(child) = &slot.child {
                    let pid = Pid::from_raw(child.id() as i32);
                    if slot.paused {
                        signal_group(child, Signal::SIGCONT);
                        let _ = kill(pid, Signal::SIGCONT);
                    }
                    signal_group(child, signal);
                    let _ = kill(pid, signal);
                }
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            let running = {
                let mut slots = self.lock();
                slots
                    .iter_mut()
                    .filter_map(|s| s.child.as_mut())
                    .map(|c| c.try_wait())
                    .filter(|r| matches!(r, Ok(None)))
                    .count()
            };
            if running == 0 || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop_all();
    }

    /// Resumes paused nodes, then kills and reaps every node. Safe to call more than once.
    pub(crate) fn stop_all(&self) {
        let mut slots = self.lock();
        for slot in slots.iter_mut() {
            if let Some(mut child) = slot.child.take() {
                if slot.paused {
                    signal_group(&child, Signal::SIGCONT);
                    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGCONT);
                }
                signal_group(&child, Signal::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
            }
            slot.paused = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper() -> Result<Child, ClusterError> {
        Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .map_err(ClusterError::io("sleep"))
    }

    #[test]
    fn stat_state_is_read_after_the_command_name() {
        assert!(thread_is_stopped("42 (raftkv) T 1 42 42 0 -1"));
        assert!(thread_is_stopped("42 (a) b (c)) t 1"));
        assert!(thread_is_stopped("42 (raftkv) Z 1"));
        assert!(!thread_is_stopped("42 (raftkv) S 1 42"));
        assert!(!thread_is_stopped("42 (T T) R 1"));
        assert!(!thread_is_stopped("garbage"));
    }

    #[test]
    fn a_pause_returns_only_once_every_thread_is_stopped() {
        let procs = Procs::new(1);
        assert!(procs.start_with(0, sleeper).expect("sleep starts"));
        let pid = procs.pid(0).expect("running") as i32;
        assert!(procs.signal(0, "n1", Signal::SIGSTOP).expect("stop"));
        // No waiting here: signal itself waited.
        for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("proc") {
            let stat =
                std::fs::read_to_string(task.expect("task").path().join("stat")).expect("stat");
            assert!(thread_is_stopped(&stat), "{stat}");
        }
        assert!(procs.signal(0, "n1", Signal::SIGCONT).expect("cont"));
        assert!(!wait_stopped(pid, Duration::from_millis(50)), "resumed");
        procs.kill(0);
        assert!(wait_stopped(pid, Duration::from_millis(50)), "gone counts");
    }

    #[test]
    fn slots_track_kill_pause_and_exit() {
        let procs = Procs::new(2);
        let names = ["n1", "n2"];
        assert_eq!(procs.killed(names), vec!["n1", "n2"]);
        assert!(procs.start_with(0, sleeper).expect("sleep starts"));
        assert!(!procs.start_with(0, sleeper).expect("running: left alone"));
        assert!(procs.pid(0).is_some());
        assert_eq!(procs.pids()[1], None);
        assert_eq!(procs.killed(names), vec!["n2"]);

        assert!(procs.signal(0, "n1", Signal::SIGSTOP).expect("stop"));
        assert_eq!(procs.paused(names), vec!["n1"]);
        assert!(!procs
            .signal(1, "n2", Signal::SIGSTOP)
            .expect("killed: nothing"));
        assert!(procs.signal(0, "n1", Signal::SIGCONT).expect("cont"));
        assert!(procs.paused(names).is_empty());
        assert_eq!(procs.exited(0).expect("try_wait"), None);

        procs.kill(0);
        assert_eq!(procs.pid(0), None);
        assert_eq!(procs.killed(names), vec!["n1", "n2"]);
        procs.stop_all();
    }

    #[test]
    fn an_exit_is_noticed_once_and_empties_the_slot() {
        let procs = Procs::new(1);
        let started = procs.start_with(0, || {
            Command::new("true")
                .spawn()
                .map_err(ClusterError::io("true"))
        });
        assert!(started.expect("true starts"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = procs.exited(0).expect("try_wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "`true` did not exit");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success());
        assert_eq!(procs.pid(0), None);
        assert_eq!(procs.exited(0).expect("killed now"), None);
    }

    #[test]
    fn a_spawned_node_logs_a_start_line_and_its_output() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("n1.log");
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2"]);
        let mut child = spawn_logged(cmd, "n1", "n1 here", Path::new("sh"), &log).expect("spawn");
        assert!(child.wait().expect("wait").success());
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(
            text.starts_with("--- faultline: starting n1 here at "),
            "{text}"
        );
        assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
        assert!(log_tail(&log).ends_with("err"), "{text}");

        let missing = spawn_logged(
            Command::new("/nonexistent/bin"),
            "n2",
            "n2",
            Path::new("/nonexistent/bin"),
            &dir.path().join("n2.log"),
        )
        .expect_err("no such binary");
        assert!(
            missing
                .to_string()
                .starts_with("n2: cannot start /nonexistent/bin"),
            "{missing}"
        );
    }
}
