//! A local cluster: one node process per [`NodeLayout`] of a [`Launcher`], data dirs and logs
//! inside the run directory, every process in its own process group. The one cluster type
//! for every kind of node faultline starts itself (raftkv, etcd, ...): the launcher says how
//! to spawn and probe a node, this type does the rest.
//!
//! ```no_run
//! # async fn demo() -> Result<(), faultline::cluster::ClusterError> {
//! use faultline::cluster::{locate_raftkv, raftkv, ClusterOptions};
//! let binary = locate_raftkv(None)?;
//! let cluster = raftkv::start(ClusterOptions::new(3, binary, "results/run1".into())).await?;
//! let leader = cluster.leader().await;          // Some("n2"), asked via /status
//! cluster.kill("n1")?;                          // kill -9
//! cluster.restart("n1").await?;                 // same data dir, same ports
//! cluster.stop();                               // also what Drop does
//! # Ok(()) }
//! ```
//!
//! Node processes run in their own process group, so a Ctrl-C in the terminal reaches only
//! faultline, which then heals and stops them in order. [`LocalCluster`] is a cheap handle
//! (clone it for the nemesis); when the last handle is dropped every node is resumed, killed
//! and reaped, and the launcher's network removed.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::launcher::{Launcher, NodeLayout, Status};
use super::process::{log_tail, spawn_logged, wait_answering, Procs};
use super::state::{ClusterState, NodeRecord};
use super::ClusterError;
use crate::node_control::{ControlError, DataFiles, LeaderProbe, ProcessControl, VolatileDisks};

#[derive(Debug)]
struct Inner {
    dir: std::path::PathBuf,
    launcher: Box<dyn Launcher>,
    procs: Procs,
    detached: AtomicBool,
    stopped: AtomicBool,
    /// Each node's libfaketime control file, when the nodes run with faked clocks.
    clocks: Option<Vec<PathBuf>>,
    /// Each node's power-loss filesystem over its data dir, when the schedule has power-loss
    /// faults (unmounted, its files written back, when the cluster stops).
    power: Option<Vec<std::sync::Mutex<crate::powerfs::PowerFs>>>,
}

/// A running local cluster. Cloning gives another handle to the same processes.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    inner: Arc<Inner>,
}

impl LocalCluster {
    /// Records the cluster in `dir`'s state file, lets the launcher prepare (its network),
    /// starts every node and waits up to `startup_timeout` until the launcher says the
    /// cluster is ready (a leader is known). Needs a tokio runtime. On error everything
    /// already started is stopped and removed.
    pub async fn start(
        launcher: Box<dyn Launcher>,
        dir: &Path,
        startup_timeout: Duration,
    ) -> Result<LocalCluster, ClusterError> {
        Self::start_with_clocks(launcher, dir, startup_timeout, false).await
    }

    /// [`LocalCluster::start`], with every node's clock faked through libfaketime when
    /// `fake_clocks` (a schedule with clock faults): each node runs with
    /// [`crate::fakeclock::env`] and its control file `<run>/nodes/<name>/faketime.rc`,
    /// written at real time before the first start. Refused before anything starts when
    /// libfaketime is missing or cannot skew the node program (static, Go).
    pub async fn start_with_clocks(
        launcher: Box<dyn Launcher>,
        dir: &Path,
        startup_timeout: Duration,
        fake_clocks: bool,
    ) -> Result<LocalCluster, ClusterError> {
        Self::start_with_faults(launcher, dir, startup_timeout, fake_clocks, false).await
    }

    /// [`LocalCluster::start_with_clocks`], with every node's data dir on a power-loss
    /// filesystem ([`crate::powerfs`], mounted before the first node starts) when
    /// `power_loss` (a schedule with power-loss faults). Refused before anything starts when
    /// this machine cannot mount it (not root, no /dev/fuse, no fusermount3).
    pub async fn start_with_faults(
        launcher: Box<dyn Launcher>,
        dir: &Path,
        startup_timeout: Duration,
        fake_clocks: bool,
        power_loss: bool,
    ) -> Result<LocalCluster, ClusterError> {
        let n = launcher.nodes().len();
        if n == 0 || n > 99 {
            return Err(ClusterError::Options(format!(
                "a local cluster has 1 to 99 nodes, not {n}"
            )));
        }
        if !launcher.program().is_file() {
            return Err(ClusterError::BinaryNotFound {
                looked: launcher.program().display().to_string(),
            });
        }
        for node in launcher.nodes() {
            std::fs::create_dir_all(&node.data_dir).map_err(ClusterError::io(&node.data_dir))?;
        }
        let clocks = if fake_clocks {
            crate::fakeclock::check_skewable(launcher.program()).map_err(ClusterError::Options)?;
            let mut files = Vec::with_capacity(n);
            for node in launcher.nodes() {
                let node_dir = node.data_dir.parent().unwrap_or(&node.data_dir);
                let file = crate::fakeclock::control_file(node_dir);
                crate::fakeclock::write_state(&file, Default::default())
                    .map_err(ClusterError::io(&file))?;
                files.push(file);
            }
            Some(files)
        } else {
            None
        };
        let power = if power_loss {
            crate::powerfs::check_available().map_err(|why| {
                ClusterError::Options(format!("power-loss faults need a FUSE mount: {why}"))
            })?;
            let mut mounts = Vec::with_capacity(n);
            for node in launcher.nodes() {
                // On error the mounts made so far are dropped, which unmounts them.
                let fs = crate::powerfs::PowerFs::mount(&node.data_dir)
                    .map_err(|e| ClusterError::Options(e.to_string()))?;
                mounts.push(std::sync::Mutex::new(fs));
            }
            Some(mounts)
        } else {
            None
        };
        let cluster = LocalCluster {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                procs: Procs::new(n),
                launcher,
                detached: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                clocks,
                power,
            }),
        };
        // Recorded before anything is created; from here on an error drops `cluster`, which
        // stops and removes whatever was started.
        cluster.write_state()?;
        cluster.inner.launcher.prepare()?;
        for i in 0..n {
            cluster.inner.procs.start_with(i, || cluster.spawn(i))?;
        }
        cluster.write_state()?;
        cluster.wait_until_ready(startup_timeout).await?;
        Ok(cluster)
    }

    fn layout(&self) -> &[NodeLayout] {
        self.inner.launcher.nodes()
    }

    fn index(&self, name: &str) -> Result<usize, ClusterError> {
        self.layout()
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| ClusterError::UnknownNode(name.to_string()))
    }

    fn spawn(&self, i: usize) -> Result<Child, ClusterError> {
        let launcher = &self.inner.launcher;
        let node = &launcher.nodes()[i];
        let mut command = launcher.command(i);
        if let Some(files) = &self.inner.clocks {
            command.envs(crate::fakeclock::env(&files[i]));
        }
        spawn_logged(
            command,
            &node.name,
            &launcher.describe(i),
            launcher.program(),
            &node.log,
        )
    }

    /// The node names, in slot order, for [`Procs`] queries.
    fn name_strs(&self) -> impl Iterator<Item = &str> {
        self.layout().iter().map(|n| n.name.as_str())
    }

    /// Rewrites the state file with the current pids.
    fn write_state(&self) -> Result<(), ClusterError> {
        let launcher = &self.inner.launcher;
        let pids = self.inner.procs.pids();
        let state = ClusterState {
            version: 1,
            faultline_pid: std::process::id(),
            binary: launcher.program().to_path_buf(),
            proxies: launcher.proxies(),
            nodes: launcher
                .nodes()
                .iter()
                .zip(pids)
                .enumerate()
                .map(|(i, (n, pid))| NodeRecord {
                    name: n.name.clone(),
                    id: i as u64 + 1,
                    pid,
                    http: n.client.clone(),
                    peer: n.peer.clone(),
                    data_dir: n.data_dir.clone(),
                    log: n.log.clone(),
                })
                .collect(),
            netns: launcher.network().cloned(),
            ssh: None,
            powerfs: match &self.inner.power {
                Some(_) => launcher
                    .nodes()
                    .iter()
                    .map(|n| n.data_dir.clone())
                    .collect(),
                None => Vec::new(),
            },
        };
        state.write(&self.inner.dir)
    }

    /// The nodes, in order.
    pub fn nodes(&self) -> &[NodeLayout] {
        self.layout()
    }

    /// The node names (`n1`..`nN`), as grudges and fault ops use them.
    pub fn names(&self) -> Vec<String> {
        self.layout().iter().map(|n| n.name.clone()).collect()
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Result<&NodeLayout, ClusterError> {
        Ok(&self.layout()[self.index(name)?])
    }

    /// Each node's clock control file, by name, when the nodes run with faked clocks.
    pub fn clock_files(&self) -> Option<Vec<(String, PathBuf)>> {
        let files = self.inner.clocks.as_ref()?;
        Some(
            self.names()
                .into_iter()
                .zip(files.iter().cloned())
                .collect(),
        )
    }

    /// Whether the nodes' data dirs sit on power-loss filesystems.
    pub fn has_power_loss(&self) -> bool {
        self.inner.power.is_some()
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The current pid of `name`, `None` while it is killed.
    pub fn pid(&self, name: &str) -> Result<Option<u32>, ClusterError> {
        let i = self.index(name)?;
        Ok(self.inner.procs.pid(i))
    }

    /// Nodes currently killed.
    pub fn killed(&self) -> Vec<String> {
        self.inner.procs.killed(self.name_strs())
    }

    /// Nodes currently paused.
    pub fn paused(&self) -> Vec<String> {
        self.inner.procs.paused(self.name_strs())
    }

    /// `kill -9` a node and reap it. Killing a killed node does nothing.
    pub fn kill(&self, name: &str) -> Result<(), ClusterError> {
        let i = self.index(name)?;
        self.inner.procs.kill(i);
        self.write_state()
    }

    /// Restarts a killed node on its data dir and addresses, and waits until it answers.
    /// Restarting a running node does nothing.
    pub async fn restart(&self, name: &str) -> Result<(), ClusterError> {
        let i = self.index(name)?;
        if !self.inner.procs.start_with(i, || self.spawn(i))? {
            return Ok(());
        }
        self.write_state()?;
        let launcher = &self.inner.launcher;
        let node = &launcher.nodes()[i];
        wait_answering(
            launcher.restart_timeout(),
            launcher.poll_interval().min(Duration::from_millis(50)),
            || self.check_alive(i),
            || launcher.answers(i),
            (&node.name, node.client.clone(), &node.log),
        )
        .await
    }

    /// SIGSTOP a node. Returns false (and does nothing) when it is killed.
    pub fn pause(&self, name: &str) -> Result<bool, ClusterError> {
        let i = self.index(name)?;
        self.inner.procs.signal(i, name, Signal::SIGSTOP)
    }

    /// SIGCONT a node. Returns false when it is killed.
    pub fn resume(&self, name: &str) -> Result<bool, ClusterError> {
        let i = self.index(name)?;
        self.inner.procs.signal(i, name, Signal::SIGCONT)
    }

    /// An error if node `i` should be running but its process has exited (reaped here).
    fn check_alive(&self, i: usize) -> Result<(), ClusterError> {
        let node = &self.layout()[i];
        let Some(status) = self
            .inner
            .procs
            .exited(i)
            .map_err(ClusterError::io(&node.log))?
        else {
            return Ok(());
        };
        Err(self
            .inner
            .launcher
            .exit_error(i, status, log_tail(&node.log)))
    }

    /// Every node that should be running and is: an error naming the first that exited.
    pub fn check(&self) -> Result<(), ClusterError> {
        (0..self.layout().len()).try_for_each(|i| self.check_alive(i))
    }

    /// One node's status as its launcher asks for it (short timeout: a paused node never
    /// answers).
    pub async fn status(&self, name: &str) -> Status {
        let i = self.index(name).map_err(|e| e.to_string())?;
        self.inner.launcher.status(i).await
    }

    /// Every node's status (or why it has none: killed, paused, no answer), asked
    /// concurrently, in node order.
    pub async fn statuses(&self) -> Vec<(String, Status)> {
        let (killed, paused) = (self.killed(), self.paused());
        let mut set = tokio::task::JoinSet::new();
        let mut out: Vec<(usize, Status)> = Vec::new();
        for (k, node) in self.layout().iter().enumerate() {
            if killed.contains(&node.name) {
                out.push((k, Err("killed".into())));
            } else if paused.contains(&node.name) {
                out.push((k, Err("paused".into())));
            } else {
                let inner = Arc::clone(&self.inner);
                set.spawn(async move { (k, inner.launcher.status(k).await) });
            }
        }
        while let Some(joined) = set.join_next().await {
            if let Ok(r) = joined {
                out.push(r);
            }
        }
        out.sort_by_key(|(k, _)| *k);
        out.into_iter()
            .map(|(k, r)| (self.layout()[k].name.clone(), r))
            .collect()
    }

    /// The leader the running, unpaused nodes' statuses agree on; `None` when none is known.
    pub async fn leader(&self) -> Option<String> {
        self.inner.launcher.leader(&self.statuses().await)
    }

    /// Waits until some node is leader, up to `timeout`; fails at once if a node exits.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<String, ClusterError> {
        self.wait_until(timeout, |s| self.inner.launcher.leader(s))
            .await
    }

    /// Waits until the launcher calls the cluster ready, up to `timeout`.
    async fn wait_until_ready(&self, timeout: Duration) -> Result<(), ClusterError> {
        let launcher = &self.inner.launcher;
        self.wait_until(timeout, |s| launcher.ready(s).then_some(()))
            .await
    }

    async fn wait_until<T>(
        &self,
        timeout: Duration,
        done: impl Fn(&[(String, Status)]) -> Option<T>,
    ) -> Result<T, ClusterError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check()?;
            let statuses = self.statuses().await;
            if let Some(t) = done(&statuses) {
                return Ok(t);
            }
            if Instant::now() >= deadline {
                let summary = statuses
                    .iter()
                    .map(|(n, s)| match s {
                        Ok(v) => format!("{n}: {v}"),
                        Err(e) => format!("{n}: {e}"),
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(ClusterError::NoLeader {
                    waited: timeout,
                    statuses: summary,
                    dir: self.inner.dir.join(crate::rundir::NODES_DIR),
                });
            }
            tokio::time::sleep(self.inner.launcher.poll_interval()).await;
        }
    }

    /// Resumes paused nodes, kills and reaps every node, removes the launcher's network and
    /// the state file. Safe to call more than once; returns what could not be removed.
    pub fn stop(&self) -> Vec<String> {
        stop_all(&self.inner)
    }

    /// Leaves the nodes running when the last handle is dropped (`cluster up`); the state
    /// file stays for `cluster down`.
    pub fn detach(&self) {
        self.inner.detached.store(true, Ordering::SeqCst);
    }
}

/// A running local cluster with what its launcher wired it through (the proxy mesh of a
/// raftkv cluster, the private network of an etcd one), for the nemesis's network backend.
/// It derefs to the [`LocalCluster`].
#[derive(Debug, Clone)]
pub struct Wired<N> {
    cluster: LocalCluster,
    network: N,
}

impl<N> Wired<N> {
    /// `cluster`, wired through `network`.
    pub fn new(cluster: LocalCluster, network: N) -> Wired<N> {
        Wired { cluster, network }
    }

    /// The process cluster.
    pub fn cluster(&self) -> &LocalCluster {
        &self.cluster
    }

    /// What its nodes are wired through.
    pub fn network(&self) -> &N {
        &self.network
    }
}

impl<N> std::ops::Deref for Wired<N> {
    type Target = LocalCluster;

    fn deref(&self) -> &LocalCluster {
        &self.cluster
    }
}

fn stop_all(inner: &Inner) -> Vec<String> {
    if inner.stopped.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    match inner.launcher.stop_signal() {
        Some((signal, grace)) => inner.procs.stop_all_gracefully(signal, grace),
        None => inner.procs.stop_all(),
    }
    let mut left = inner.launcher.cleanup();
    for fs in inner.power.iter().flatten() {
        let mut fs = fs.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = fs.unmount() {
            left.push(e.to_string());
        }
    }
    if left.is_empty() {
        let _ = ClusterState::remove(&inner.dir);
    }
    left
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.detached.load(Ordering::SeqCst) {
            stop_all(self);
        }
    }
}

/// Process faults on the cluster's own children: the nemesis's local process backend.
#[async_trait::async_trait]
impl ProcessControl for LocalCluster {
    fn pid(&self, node: &str) -> Option<u32> {
        LocalCluster::pid(self, node).ok().flatten()
    }

    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        LocalCluster::kill(self, node).map_err(ControlError::new)
    }

    async fn restart(&self, node: &str) -> Result<(), ControlError> {
        LocalCluster::restart(self, node)
            .await
            .map_err(ControlError::new)
    }

    async fn pause(&self, node: &str) -> Result<(), ControlError> {
        LocalCluster::pause(self, node)
            .map(|_| ())
            .map_err(ControlError::new)
    }

    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        LocalCluster::resume(self, node)
            .map(|_| ())
            .map_err(ControlError::new)
    }

    fn resume_now(&self, node: &str) {
        let _ = LocalCluster::resume(self, node);
    }
}

/// A node's data files: its launcher's globs under its data dir.
impl DataFiles for LocalCluster {
    fn data_files(&self, node: &str) -> Result<Vec<PathBuf>, ControlError> {
        let layout = self.node(node).map_err(ControlError::new)?;
        let globs = self.inner.launcher.data_files();
        if globs.is_empty() {
            return Err(ControlError(format!(
                "{node}: this cluster declares no data files to corrupt"
            )));
        }
        crate::glob::find(&layout.data_dir, globs).map_err(|e| {
            ControlError(format!(
                "{node}: listing data files in {}: {e}",
                layout.data_dir.display()
            ))
        })
    }
}

/// A node's power-loss filesystem, for power-loss faults.
impl VolatileDisks for LocalCluster {
    fn lose_unsynced(&self, node: &str) -> Result<serde_json::Value, ControlError> {
        let i = self.index(node).map_err(ControlError::new)?;
        let Some(mounts) = &self.inner.power else {
            return Err(ControlError(format!(
                "{node}: its data dir is not on a power-loss filesystem"
            )));
        };
        if self.inner.procs.pid(i).is_some() {
            return Err(ControlError(format!(
                "{node}: still running; only a killed node can lose its power"
            )));
        }
        let fs = mounts[i].lock().unwrap_or_else(|p| p.into_inner());
        let lost = fs
            .power_loss()
            .map_err(|e| ControlError(format!("{node}: {e}")))?;
        Ok(serde_json::to_value(lost).unwrap_or(serde_json::Value::Null))
    }
}

#[async_trait::async_trait]
impl LeaderProbe for LocalCluster {
    async fn leader(&self) -> Option<String> {
        LocalCluster::leader(self).await
    }
}
