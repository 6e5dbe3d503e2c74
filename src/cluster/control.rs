//! `faultline cluster up | down | status` as library functions; the CLI only parses flags and
//! prints.
//!
//! `up` starts a cluster in a directory, writes its state file and leaves it running. Its
//! peer links are direct (no proxies): proxies live inside a faultline process, and `up`
//! exits. So a cluster from `up` serves clients but cannot be partitioned; `faultline test`
//! starts its own cluster with proxies.
//!
//! `down` reads the state file and the fault journal and stops every process faultline
//! started there (raftkv, db-spec and etcd nodes, `--target maelstrom`'s stdio nodes): it resumes paused nodes, kills them, waits until they are gone, marks open
//! faults healed and removes the state file. It works after a `kill -9` of the faultline that
//! started them (the proxies died with it, so partitions, delays and losses are already gone).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::raftkv::{self, ClusterOptions};
use super::state::{ClusterState, NodeRecord};
use super::ClusterError;
use crate::journal::Journal;

/// How long `down` waits for a killed process to disappear.
const GONE_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a cluster in `opts.dir` (proxies off, see the module doc), waits for a leader and
/// leaves it running. Returns the state written to `cluster.json`.
pub async fn up(mut opts: ClusterOptions) -> Result<ClusterState, ClusterError> {
    if let Some(state) = ClusterState::read(&opts.dir)? {
        if state.nodes.iter().any(|n| {
            n.pid
                .is_some_and(|p| is_ours(p, n, namespace_of(&state, n)))
        }) {
            return Err(ClusterError::Options(format!(
                "a cluster is already running in {} (run `faultline cluster down` first)",
                opts.dir.display()
            )));
        }
    }
    opts.proxies = false;
    let cluster = raftkv::start(opts.clone()).await?;
    cluster.detach();
    ClusterState::read(&opts.dir)?.ok_or_else(|| ClusterError::BadState {
        path: ClusterState::path(&opts.dir),
        message: "missing right after start".into(),
    })
}

/// What `down` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Nodes whose process was running and is now killed.
    pub stopped: Vec<String>,
    /// Nodes that were paused (per the journal) and were resumed before the kill.
    pub resumed: Vec<String>,
    /// Nodes whose recorded pid was gone or belongs to another program (left alone).
    pub gone: Vec<String>,
    /// Faults the journal still listed as active, now marked healed.
    pub healed_faults: usize,
    /// Whether there was a state file at all.
    pub found: bool,
    /// A namespace cluster's private network (its prefix) that was removed.
    pub network: Option<String>,
    /// Power-loss filesystems still mounted over data dirs, now detached.
    pub unmounted: Vec<PathBuf>,
}

/// Whether `pid` still runs `node`, so a recycled pid is never killed: its data dir is on
/// its command line (raftkv, etcd) or in its environment as `FAULTLINE_DATA_DIR` (a
/// Maelstrom node), or it lives in the node's own network namespace
/// (`namespace`, for a cluster with a private network: any binary a db spec runs, whatever
/// its command line says).
fn is_ours(pid: u32, node: &NodeRecord, namespace: Option<&str>) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let want = node.data_dir.as_os_str().as_encoded_bytes();
    if cmdline.split(|b| *b == 0).any(|arg| arg == want) {
        return true;
    }
    // A Maelstrom node (`--target maelstrom`) has its data dir in its environment.
    let mut env_want = format!("{}=", super::state::DATA_DIR_ENV).into_bytes();
    env_want.extend_from_slice(want);
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    if environ
        .split(|b| *b == 0)
        .any(|var| var == env_want.as_slice())
    {
        return true;
    }
    namespace.is_some_and(|ns| same_file(format!("/proc/{pid}/ns/net"), format!("/run/netns/{ns}")))
}

/// The network namespace `node` runs in, when its cluster has a private network.
fn namespace_of<'a>(state: &'a ClusterState, node: &NodeRecord) -> Option<&'a str> {
    let plan = state.netns.as_ref()?;
    plan.nodes
        .iter()
        .find(|n| n.name == node.name)
        .map(|n| n.namespace.as_str())
}

/// Whether two paths name the same file (device and inode): a process's network namespace
/// and a named one are the same namespace exactly when they are.
fn same_file(a: String, b: String) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Whether the process is gone (or a zombie waiting for a parent that is not us).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // Field 3 (after the parenthesised name) is the state; Z = zombie, X = dead.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s == "Z" || s == "X"),
    }
}

/// Stops every process the state file in `dir` names and clears open faults. A directory
/// without a state file is not an error (`found: false`).
pub fn down(dir: &Path) -> Result<DownReport, ClusterError> {
    let mut report = DownReport::default();
    let journal_path = dir.join(crate::journal::JOURNAL_FILE);
    let open = Journal::open_faults(&journal_path).map_err(ClusterError::io(&journal_path))?;
    let Some(state) = ClusterState::read(dir)? else {
        if !open.is_empty() {
            Journal::append_cleared(&journal_path, &open, "cluster down")
                .map_err(ClusterError::io(&journal_path))?;
            report.healed_faults = open.len();
        }
        return Ok(report);
    };
    report.found = true;
    if let Some(remote) = &state.ssh {
        // Remote pids mean nothing here: the hosts are asked, over SSH.
        let (nodes, left) = super::remote::down(dir, remote);
        if !left.is_empty() {
            return Err(ClusterError::Options(format!(
                "could not clean up every host: {}",
                left.join("; ")
            )));
        }
        report.stopped = nodes;
        if !open.is_empty() {
            Journal::append_cleared(&journal_path, &open, "cluster down")
                .map_err(ClusterError::io(&journal_path))?;
            report.healed_faults = open.len();
        }
        ClusterState::remove(dir)?;
        return Ok(report);
    }
    let paused: Vec<String> = open
        .iter()
        .filter(|e| e.kind == "pause")
        .flat_map(|e| e.nodes.iter().cloned())
        .collect();
    let mut victims = Vec::new();
    for node in &state.nodes {
        match node
            .pid
            .filter(|p| is_ours(*p, node, namespace_of(&state, node)))
        {
            Some(pid) => {
                let target = Pid::from_raw(pid as i32);
                if paused.contains(&node.name) {
                    report.resumed.push(node.name.clone());
                }
                // SIGCONT first so a stopped process can act on the kill at once. Every node
                // leads a process group of its own: the group goes too, so whatever a node
                // forked (a wrapper script's children) dies with it.
                let _ = killpg(target, Signal::SIGCONT);
                let _ = kill(target, Signal::SIGCONT);
                let _ = killpg(target, Signal::SIGKILL);
                // ESRCH: the group's kill already took it (and init reaped it).
                match kill(target, Signal::SIGKILL) {
                    Err(nix::errno::Errno::ESRCH) => Ok(()),
                    other => other,
                }
                .map_err(|source| ClusterError::Signal {
                    node: node.name.clone(),
                    signal: "SIGKILL",
                    pid: pid as i32,
                    source,
                })?;
                victims.push((node.name.clone(), pid));
            }
            None => report.gone.push(node.name.clone()),
        }
    }
    let deadline = Instant::now() + GONE_TIMEOUT;
    for (name, pid) in victims {
        while !is_gone(pid) {
            if Instant::now() >= deadline {
                return Err(ClusterError::Options(format!(
                    "{name} (pid {pid}) is still alive {GONE_TIMEOUT:?} after SIGKILL"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        report.stopped.push(name);
    }
    // Power-loss mounts go once nothing uses them (their own fusermount3 usually did it
    // already when the faultline process that mounted them died).
    for path in &state.powerfs {
        if crate::powerfs::lazy_unmount(path) {
            report.unmounted.push(path.clone());
        }
    }
    // The network goes after the processes (a namespace with a process in it lingers); its
    // iptables rules live inside the namespaces and go with them.
    if let Some(plan) = &state.netns {
        let left = crate::net::netns::destroy(plan);
        if !left.is_empty() {
            return Err(ClusterError::Options(format!(
                "could not remove the private network {}: {}",
                plan.prefix,
                left.join("; ")
            )));
        }
        report.network = Some(plan.prefix.clone());
    }
    if !open.is_empty() {
        Journal::append_cleared(&journal_path, &open, "cluster down")
            .map_err(ClusterError::io(&journal_path))?;
        report.healed_faults = open.len();
    }
    ClusterState::remove(dir)?;
    Ok(report)
}

/// Each node of the cluster in `dir`: its record, whether its process runs, and its
/// `/status` (etcd: `/health`), or why there is none. `Ok(None)` when no cluster runs there.
pub async fn status(
    dir: &Path,
) -> Result<Option<Vec<(NodeRecord, bool, Result<Value, String>)>>, ClusterError> {
    let Some(state) = ClusterState::read(dir)? else {
        return Ok(None);
    };
    let http = reqwest::Client::builder()
        .timeout(super::raftkv::STATUS_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| ClusterError::Options(format!("HTTP client: {e}")))?;
    let path = if state.netns.is_some() {
        "health"
    } else {
        "status"
    };
    let mut out = Vec::new();
    for node in &state.nodes {
        // A remote node's pid is on its host: trust the record and let the probe answer.
        let alive = node.pid.is_some_and(|p| {
            state.ssh.is_some() || (is_ours(p, node, namespace_of(&state, node)) && !is_gone(p))
        });
        let status = if alive {
            match http
                .get(format!("http://{}/{path}", node.http))
                .send()
                .await
            {
                Ok(r) => r.json::<Value>().await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("no answer: {}", crate::net::cause::http(e))),
            }
        } else {
            Err("not running".into())
        };
        out.push((node.clone(), alive, status));
    }
    Ok(Some(out))
}

/// The default directory for `cluster up` when none is given.
pub fn default_dir() -> PathBuf {
    PathBuf::from("results/cluster")
}
