//! The node processes of `--target maelstrom`: `n0` .. `n(N-1)`, each the user's binary with
//! its stdin and stdout wired to the [`Network`] and its stderr appended to
//! `nodes/NAME/stderr.log` in the run directory. Each starts in a process group of its own
//! with `FAULTLINE_DATA_DIR=nodes/NAME/data` (kept across restarts), receives `init` and must
//! answer `init_ok` within [`INIT_TIMEOUT`]; for the broadcast workload it then receives the
//! `topology` and must answer `topology_ok` within the same time (also after a restart). The nemesis drives them through
//! [`ProcessControl`]: kill (SIGKILL to the group; the node is restarted and initialised
//! again when the nemesis heals it), pause and resume (SIGSTOP, SIGCONT). A node that exits
//! on its own stays down, and the network's record says so.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

use super::network::Network;
use super::protocol::{self, Message, INIT_SENDER};
use crate::cluster::process::log_tail;
use crate::cluster::state::NodeRecord;
use crate::cluster::ClusterState;
use crate::node_control::{ControlError, ProcessControl};
use crate::rundir::NODES_DIR;

/// How long a node may take from its start to `init_ok` (generous: a busy 2-core machine
/// starting an interpreter per node).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(20);

/// The environment variable naming a node's data directory, kept across restarts (also how
/// `faultline cluster down` recognises the node's process).
pub use crate::cluster::state::DATA_DIR_ENV;

/// How to run one node: the program and its arguments (`--bin`, `--bin-arg`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeProgram {
    /// The node binary.
    pub bin: PathBuf,
    /// Its arguments, in order.
    pub args: Vec<String>,
}

/// One node's process, as far as the nemesis's books need.
#[derive(Debug, Default)]
struct Slot {
    /// The running process (its group id), `None` once reaped.
    pid: Option<u32>,
    /// Bumped at each start, so an old process's exit is not taken for the new one's.
    generation: u64,
    /// The nemesis killed it (its exit is expected).
    killed: bool,
}

struct Inner {
    program: NodeProgram,
    names: Vec<String>,
    dir: PathBuf,
    net: Network,
    slots: Mutex<Vec<Slot>>,
    /// The run directory, where the state file (`cluster.json`) lists the node processes
    /// for `faultline cluster down`.
    run_dir: PathBuf,
    next_msg_id: AtomicU64,
    stopping: std::sync::atomic::AtomicBool,
    /// The `topology` body every node receives after `init_ok`, if the workload sends one.
    topology: Option<Value>,
    /// Each node's libfaketime control file, when the nodes run with faked clocks (the
    /// schedule has clock faults; see [`crate::fakeclock`]).
    clocks: Option<Vec<PathBuf>>,
    /// Control requests from `c0` after init (the leader probe) awaiting their answer, by
    /// `msg_id`.
    asks: Mutex<HashMap<u64, oneshot::Sender<Map<String, Value>>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last net: no node outlives faultline's handle on it.
        for slot in self
            .slots
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            if let Some(pid) = slot.pid {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
    }
}

/// The running nodes; cheap to clone.
#[derive(Clone)]
pub struct StdioNodes {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl StdioNodes {
    /// Starts every node of `names` at once and waits for each one's `init_ok` (and
    /// `topology_ok`, when `topology` is a `topology` body to send after init); on any
    /// failure stops them all and says which node failed and why, quoting its stderr.
    pub async fn start(
        program: NodeProgram,
        names: Vec<String>,
        run_dir: &Path,
        net: Network,
        topology: Option<Value>,
        fake_clocks: bool,
    ) -> Result<StdioNodes> {
        check_program(&program.bin)?;
        let clocks = if fake_clocks {
            crate::fakeclock::check_skewable(&program.bin).map_err(anyhow::Error::msg)?;
            let mut files = Vec::with_capacity(names.len());
            for name in &names {
                let node_dir = run_dir.join(NODES_DIR).join(name);
                std::fs::create_dir_all(&node_dir)
                    .with_context(|| format!("node {name}: creating {}", node_dir.display()))?;
                let file = crate::fakeclock::control_file(&node_dir);
                crate::fakeclock::write_state(&file, Default::default())
                    .with_context(|| format!("node {name}: writing {}", file.display()))?;
                files.push(file);
            }
            Some(files)
        } else {
            None
        };
        let nodes = StdioNodes {
            inner: Arc::new(Inner {
                slots: Mutex::new(names.iter().map(|_| Slot::default()).collect()),
                program,
                names,
                dir: run_dir.join(NODES_DIR),
                run_dir: run_dir.to_path_buf(),
                net,
                next_msg_id: AtomicU64::new(1),
                stopping: false.into(),
                topology,
                clocks,
                asks: Mutex::new(HashMap::new()),
            }),
        };
        let mut waits = Vec::new();
        for i in 0..nodes.inner.names.len() {
            match nodes.spawn(i) {
                Ok(wait) => waits.push((i, wait)),
                Err(e) => {
                    nodes.stop();
                    return Err(e);
                }
            }
        }
        for (i, wait) in waits {
            if let Err(e) = nodes.finish_init(i, wait).await {
                nodes.stop();
                return Err(e);
            }
        }
        Ok(nodes)
    }

    /// The nodes' names, in order.
    pub fn names(&self) -> &[String] {
        &self.inner.names
    }

    /// Each node's name and libfaketime control file, when the nodes run under libfaketime.
    pub fn clock_files(&self) -> Option<Vec<(String, PathBuf)>> {
        let files = self.inner.clocks.as_ref()?;
        Some(
            self.inner
                .names
                .iter()
                .cloned()
                .zip(files.iter().cloned())
                .collect(),
        )
    }

    /// Node `i`'s stderr log.
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.inner.dir.join(&self.inner.names[i]).join("stderr.log")
    }

    /// Kills every node (SIGKILL to each group) and marks the end, so no exit after this is
    /// reported as a node's own; removes the state file. Idempotent.
    pub fn stop(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let _ = ClusterState::remove(&self.inner.run_dir);
        for (i, slot) in lock(&self.inner.slots).iter_mut().enumerate() {
            self.inner.net.detach_node(&self.inner.names[i]);
            if let Some(pid) = slot.pid {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGCONT);
            }
        }
    }

    /// Sends every running node a `c0` request of type `kind` and waits up to `timeout`
    /// for the answers: one per node, `None` for a node down or silent.
    pub async fn ask_all(
        &self,
        kind: &str,
        timeout: Duration,
    ) -> Vec<(String, Option<Map<String, Value>>)> {
        let mut waits = Vec::new();
        for name in &self.inner.names {
            let id = self.inner.next_msg_id.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            lock(&self.inner.asks).insert(id, tx);
            let mut body = Map::new();
            body.insert("type".into(), json!(kind));
            body.insert("msg_id".into(), json!(id));
            let msg = Message {
                src: INIT_SENDER.into(),
                dest: name.clone(),
                body,
            };
            let sent = self.inner.net.send_direct(name, msg.to_line());
            waits.push((name.clone(), id, sent.then_some(rx)));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut answers = Vec::new();
        for (name, id, rx) in waits {
            let answer = match rx {
                Some(rx) => tokio::time::timeout_at(deadline, rx)
                    .await
                    .ok()
                    .and_then(Result::ok),
                None => None,
            };
            lock(&self.inner.asks).remove(&id);
            answers.push((name, answer));
        }
        answers
    }

    /// Hands a node's message for `c0` after init to the request it answers; false when
    /// none waits for it.
    fn answer(&self, msg: &Message) -> bool {
        let waiting = msg
            .in_reply_to()
            .and_then(|id| lock(&self.inner.asks).remove(&id));
        match waiting {
            Some(tx) => {
                let _ = tx.send(msg.body.clone());
                true
            }
            None => false,
        }
    }

    fn index(&self, node: &str) -> Result<usize, ControlError> {
        self.inner
            .names
            .iter()
            .position(|n| n == node)
            .ok_or_else(|| ControlError(format!("{node}: no such node")))
    }

    fn signal(&self, node: &str, signal: Signal) -> Result<(), ControlError> {
        let i = self.index(node)?;
        match lock(&self.inner.slots)[i].pid {
            Some(pid) => killpg(Pid::from_raw(pid as i32), signal)
                .map_err(|e| ControlError(format!("{node}: {signal:?}: {e}"))),
            None => Err(ControlError(format!("{node}: not running"))),
        }
    }

    /// Spawns node `i` and sends it `init`; the returned receiver says how init ended.
    fn spawn(&self, i: usize) -> Result<oneshot::Receiver<Result<(), String>>> {
        let inner = &self.inner;
        let name = inner.names[i].clone();
        let node_dir = inner.dir.join(&name);
        let data = node_dir.join("data");
        std::fs::create_dir_all(&data)
            .with_context(|| format!("node {name}: creating {}", data.display()))?;
        let log = self.log_path(i);
        let mut err = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("node {name}: opening its log {}", log.display()))?;
        let _ = writeln!(
            err,
            "--- faultline: starting {name} at {}",
            chrono::Utc::now().to_rfc3339()
        );
        let mut command = tokio::process::Command::new(&inner.program.bin);
        if let Some(files) = &inner.clocks {
            command.envs(crate::fakeclock::env(&files[i]));
        }
        let mut child = command
            .args(&inner.program.args)
            .env(DATA_DIR_ENV, &data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                anyhow!(
                    "node {name}: cannot run --bin {}: {e}",
                    inner.program.bin.display()
                )
            })?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("node {name}: its stdin or stdout could not be piped");
        };
        let generation = {
            let mut slots = lock(&inner.slots);
            let slot = &mut slots[i];
            slot.generation += 1;
            slot.pid = child.id();
            slot.killed = false;
            let generation = slot.generation;
            write_state(inner, &slots).map_err(|e| {
                anyhow!("node {name}: recording its process for `faultline cluster down`: {e}")
            })?;
            generation
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                let written = async {
                    stdin.write_all(line.as_bytes()).await?;
                    stdin.write_all(b"\n").await?;
                    stdin.flush().await
                };
                if written.await.is_err() {
                    break;
                }
            }
        });
        let init_id = inner.next_msg_id.fetch_add(1, Ordering::Relaxed);
        let init = protocol::init(&name, &inner.names, init_id);
        let _ = tx.send(init.to_line());
        let (init_tx, init_rx) = oneshot::channel();
        let reader = Reader {
            nodes: self.clone(),
            i,
            generation,
            init_id,
            topology_id: None,
            init: Some(init_tx),
            stdin: Some(tx),
        };
        tokio::spawn(reader.run(child, stdout));
        Ok(init_rx)
    }

    /// Waits for node `i`'s `init_ok`; on failure kills it and explains, with its stderr.
    async fn finish_init(
        &self,
        i: usize,
        wait: oneshot::Receiver<Result<(), String>>,
    ) -> Result<()> {
        let name = &self.inner.names[i];
        let why = match tokio::time::timeout(INIT_TIMEOUT, wait).await {
            Ok(Ok(Ok(()))) => return Ok(()),
            Ok(Ok(Err(why))) => why,
            Ok(Err(_)) => "stopped before init_ok".to_owned(),
            Err(_) => format!("no init_ok within {} s of init", INIT_TIMEOUT.as_secs()),
        };
        if let Some(pid) = lock(&self.inner.slots)[i].pid {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        // Let the node's last stderr lines reach its log.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let log = self.log_path(i);
        let tail = log_tail(&log);
        bail!(
            "node {name} failed at init: {why}; the last lines of its stderr ({}):\n{}",
            log.display(),
            if tail.trim().is_empty() {
                "(empty)".to_owned()
            } else {
                tail
            }
        )
    }
}

/// Writes the run's state file (`cluster.json`) with every node's current process, so
/// `faultline cluster down RUN_DIR` finds them after a `kill -9` of faultline. A node's
/// `data_dir` is its `FAULTLINE_DATA_DIR`, which `down` finds in the process's environment
/// before it kills (so a reused pid is never killed).
fn write_state(inner: &Inner, slots: &[Slot]) -> Result<(), crate::cluster::ClusterError> {
    let state = ClusterState {
        version: 1,
        faultline_pid: std::process::id(),
        binary: inner.program.bin.clone(),
        proxies: false,
        nodes: inner
            .names
            .iter()
            .zip(slots)
            .enumerate()
            .map(|(i, (name, slot))| NodeRecord {
                name: name.clone(),
                id: i as u64,
                pid: slot.pid,
                http: "stdio".into(),
                peer: String::new(),
                data_dir: inner.dir.join(name).join("data"),
                log: inner.dir.join(name).join("stderr.log"),
            })
            .collect(),
        netns: None,
        ssh: None,
        powerfs: Vec::new(),
    };
    state.write(&inner.run_dir)
}

/// Checks `--bin` names a file that can run (a bare name is looked up on PATH at spawn).
fn check_program(bin: &Path) -> Result<()> {
    if bin.components().count() <= 1 && !bin.as_os_str().is_empty() && !bin.exists() {
        return Ok(());
    }
    let meta =
        std::fs::metadata(bin).map_err(|e| anyhow!("node n0: --bin {}: {e}", bin.display()))?;
    use std::os::unix::fs::PermissionsExt;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        bail!(
            "node n0: --bin {} is not an executable file (chmod +x it, or give an interpreter as --bin and the script as --bin-arg)",
            bin.display()
        );
    }
    Ok(())
}

/// Reads one node process's stdout: messages go to the network, `init_ok` ends init, bad
/// lines are counted; at the end, reaps the process and reports an exit of its own.
struct Reader {
    nodes: StdioNodes,
    i: usize,
    generation: u64,
    init_id: u64,
    /// The `msg_id` of the `topology` sent after `init_ok`, while its answer is awaited.
    topology_id: Option<u64>,
    init: Option<oneshot::Sender<Result<(), String>>>,
    stdin: Option<mpsc::UnboundedSender<String>>,
}

impl Reader {
    async fn run(mut self, mut child: tokio::process::Child, stdout: tokio::process::ChildStdout) {
        let inner = Arc::clone(&self.nodes.inner);
        let name = inner.names[self.i].clone();
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim().is_empty() {
                continue;
            }
            match protocol::parse_line(&line) {
                Ok(msg) if msg.dest == INIT_SENDER => self.init_reply(&name, &msg),
                Ok(msg) => inner.net.send(msg),
                Err(e) => match self.init.take() {
                    Some(init) => {
                        let _ = init.send(Err(format!(
                            "it printed something that is not a Maelstrom message: {e}"
                        )));
                    }
                    None => inner.net.malformed(&name, &e),
                },
            }
        }
        let status = match child.wait().await {
            Ok(s) => s.to_string(),
            Err(e) => format!("could not be waited for: {e}"),
        };
        let own_exit = {
            let mut slots = lock(&inner.slots);
            let slot = &mut slots[self.i];
            let current = slot.generation == self.generation;
            if current {
                slot.pid = None;
            }
            current && !slot.killed && !inner.stopping.load(Ordering::SeqCst)
        };
        match self.init.take() {
            Some(init) => {
                let _ = init.send(Err(format!("it exited before init_ok ({status})")));
            }
            None if own_exit => {
                inner.net.detach_node(&name);
                inner.net.node_exited(&name, &status);
            }
            None => {}
        }
    }

    fn init_reply(&mut self, name: &str, msg: &Message) {
        let inner = Arc::clone(&self.nodes.inner);
        let expected = match self.topology_id {
            Some(id) => ("topology_ok", id),
            None => ("init_ok", self.init_id),
        };
        let ok = msg.kind() == expected.0 && msg.in_reply_to() == Some(expected.1);
        let Some(init) = self.init.take() else {
            if self.nodes.answer(msg) {
                return;
            }
            inner.net.malformed(
                name,
                &format!("a message for {INIT_SENDER} after init: {}", msg.to_line()),
            );
            return;
        };
        if !ok {
            let _ = init.send(Err(format!(
                "it answered {} with {} instead of {} in reply to msg_id {}",
                if self.topology_id.is_some() {
                    "topology"
                } else {
                    "init"
                },
                protocol::quote(&msg.to_line()),
                expected.0,
                expected.1
            )));
            return;
        }
        if let (None, Some(body), Some(stdin)) = (self.topology_id, &inner.topology, &self.stdin) {
            // Init is done; the topology comes next, and only its answer ends start-up.
            let id = inner.next_msg_id.fetch_add(1, Ordering::Relaxed);
            let mut body = body.as_object().cloned().unwrap_or_default();
            body.insert("msg_id".into(), json!(id));
            let topology = Message {
                src: INIT_SENDER.into(),
                dest: name.to_owned(),
                body,
            };
            let _ = stdin.send(topology.to_line());
            self.topology_id = Some(id);
            self.init = Some(init);
            return;
        }
        if let Some(stdin) = self.stdin.take() {
            inner.net.attach_node(name, stdin);
        }
        let _ = init.send(Ok(()));
    }
}

#[async_trait::async_trait]
impl ProcessControl for StdioNodes {
    fn pid(&self, node: &str) -> Option<u32> {
        let i = self.index(node).ok()?;
        lock(&self.inner.slots)[i].pid
    }

    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        let i = self.index(node)?;
        let pid = {
            let mut slots = lock(&self.inner.slots);
            slots[i].killed = true;
            slots[i].pid
        };
        self.inner.net.detach_node(node);
        match pid {
            Some(pid) => killpg(Pid::from_raw(pid as i32), Signal::SIGKILL)
                .map_err(|e| ControlError(format!("{node}: SIGKILL: {e}"))),
            // Already gone on its own: killing it is done; the heal starts it again.
            None => Ok(()),
        }
    }

    async fn restart(&self, node: &str) -> Result<(), ControlError> {
        let i = self.index(node)?;
        // Wait (bounded) for the killed process to be reaped, so its exit is not the new one's.
        for _ in 0..100 {
            if lock(&self.inner.slots)[i].pid.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let wait = self.spawn(i).map_err(|e| ControlError(format!("{e:#}")))?;
        self.finish_init(i, wait)
            .await
            .map_err(|e| ControlError(format!("{e:#}")))
    }

    async fn pause(&self, node: &str) -> Result<(), ControlError> {
        self.signal(node, Signal::SIGSTOP)
    }

    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        self.signal(node, Signal::SIGCONT)
    }

    fn resume_now(&self, node: &str) {
        let _ = self.signal(node, Signal::SIGCONT);
    }
}
