//! `--cluster ssh`: a db spec's nodes on remote hosts, Jepsen's control-node model. The same
//! [`DbSpec`] that starts a node in a local namespace ([`super::generic`]) starts it on a
//! host: its binary is uploaded once per run into `/tmp/faultline-<run id>/<name>/bin/`, it
//! runs as a daemon in a session of its own with a pid file and a log
//! ([`super::remote_script`]), its data dir stays on the host across kill and restart, and
//! every command goes over one multiplexed SSH connection per host ([`crate::ssh`]).
//!
//! With clock faults in the schedule every node runs under libfaketime on its host, with its
//! control file in its remote directory; [`RemoteCluster::clock_faults`] rewrites it over SSH.
//!
//! Network faults are iptables rules in this run's own chains on each host
//! ([`Chains::for_run`], created at start, removed at the end: never a flush of the user's
//! rules); [`RemoteCluster::network_faults`] gives the iptables backend over an
//! [`SshShell`]. Kills, restarts and pauses are signals by pid file ([`ProcessControl`]).
//! The state file (`cluster.json`) records the hosts, the SSH options and the chains before
//! anything is made on a host, so `faultline cluster down RUN_DIR` ([`down`]) reconnects,
//! stops every node, removes the chains and the run's directory, and downloads the logs, also
//! after faultline itself was killed with `-9`. At the end of a run every node's logs are
//! downloaded into `RUN_DIR/nodes/NAME/`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::db_spec::{DbSpec, NodeFacts};
use super::generic::{answers_at, probe_health};
use super::process::wait_answering;
use super::remote_script::{self as script, RemoteNode};
use super::state::{ClusterState, NodeRecord};
use super::ClusterError;
use crate::net::iptables::Chains;
use crate::node_control::{ControlError, ProcessControl};
use crate::seed::{names, SeedTree};
use crate::ssh::{control_dir, Mux, SshClient, SshHost, SshOptions, SshShell};

/// How to start a db spec's nodes on SSH hosts.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// The validated spec.
    pub spec: DbSpec,
    /// One host per node, in order.
    pub hosts: Vec<SshHost>,
    /// How to reach them.
    pub ssh: SshOptions,
    /// The run directory (`cluster.json`, `nodes/NAME/` for the downloaded logs).
    pub dir: PathBuf,
    /// The run id naming the remote directory, the chains and `{run}`.
    pub run_id: String,
    /// The run's seed (each node's `{seed}` derives from it by name).
    pub seed: u64,
    /// Run every node under libfaketime with a control file in its remote directory (a
    /// schedule with clock faults; see [`crate::fakeclock`]).
    pub fake_clocks: bool,
}

/// What `cluster.json` records of an SSH cluster, so `cluster down` reconnects and cleans up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRecord {
    /// The run id (the remote directory is `/tmp/faultline-<id>`).
    pub run_id: String,
    /// How faultline connected.
    pub options: SshOptions,
    /// The directory of the multiplexing masters' sockets on this machine.
    pub control_dir: PathBuf,
    /// This run's iptables chains on every host.
    pub chains: Chains,
    /// Each node's place on its host.
    pub nodes: Vec<RemoteNode>,
    /// The db spec's extra logs, relative to a node's data dir (downloaded at the end).
    #[serde(default)]
    pub logs: Vec<String>,
}

#[derive(Debug)]
struct Inner {
    spec: DbSpec,
    client: SshClient,
    record: RemoteRecord,
    facts: Vec<NodeFacts>,
    ips: Vec<Ipv4Addr>,
    /// Per node: whether iptables needs `sudo -n` on its host.
    sudo: Mutex<Vec<bool>>,
    pids: Mutex<Vec<Option<u32>>>,
    binary: PathBuf,
    /// The binary's file name (under each node's `bin/`).
    binary_name: String,
    dir: PathBuf,
    run: String,
    http: reqwest::Client,
    stopped: AtomicBool,
    fake_clocks: bool,
}

/// A running cluster on SSH hosts. Cloning gives another handle; when the last is dropped
/// everything is stopped and removed (as [`RemoteCluster::stop`]).
#[derive(Debug, Clone)]
pub struct RemoteCluster {
    inner: Arc<Inner>,
}

/// Resolves `host` to the IPv4 address its nodes and faultline's rules use.
fn resolve(host: &SshHost) -> Result<Ipv4Addr, ClusterError> {
    if let Ok(ip) = host.host.parse::<Ipv4Addr>() {
        return Ok(ip);
    }
    let addrs = (host.host.as_str(), 22).to_socket_addrs().map_err(|e| {
        ClusterError::Options(format!(
            "host {} ({}): cannot resolve: {e}",
            host.host, host.name
        ))
    })?;
    addrs
        .filter_map(|a| match a.ip() {
            std::net::IpAddr::V4(v4) => Some(v4),
            std::net::IpAddr::V6(_) => None,
        })
        .next()
        .ok_or_else(|| {
            ClusterError::Options(format!(
                "host {} ({}): no IPv4 address (iptables faults need one)",
                host.host, host.name
            ))
        })
}

fn ssh_err(e: crate::ssh::SshError) -> ClusterError {
    ClusterError::Options(e.to_string())
}

/// Runs `f` for every index in `0..n` on threads of its own (hosts are independent), and
/// returns the results in order.
fn each_parallel<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                s.spawn({
                    let f = &f;
                    move || f(i)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Connects to every host, checks it, creates this run's chains, uploads the binary once,
/// starts every node and waits until each passes the spec's health probe. On error
/// everything already made on the hosts is removed and the masters closed.
pub async fn start(opts: RemoteOptions) -> Result<RemoteCluster, ClusterError> {
    let spec = &opts.spec;
    let binary = spec.locate_binary().map_err(ClusterError::Options)?;
    let file_name = binary
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or_else(|| ClusterError::Options(format!("{}: not a file", binary.display())))?;
    let ips = opts
        .hosts
        .iter()
        .map(resolve)
        .collect::<Result<Vec<_>, _>>()?;
    let log_name = format!("{}.log", spec.name);
    let nodes: Vec<RemoteNode> = opts
        .hosts
        .iter()
        .map(|h| RemoteNode::new(&opts.run_id, &h.name, &h.host, &log_name))
        .collect();
    let seeds = SeedTree::new(opts.seed).child(names::NODES);
    let facts: Vec<NodeFacts> = nodes
        .iter()
        .zip(&ips)
        .map(|(n, ip)| NodeFacts {
            name: n.name.clone(),
            host: ip.to_string(),
            data_dir: PathBuf::from(n.data_dir()),
            seed: seeds.derive(&n.name),
        })
        .collect();
    let control = control_dir(&opts.run_id);
    let record = RemoteRecord {
        run_id: opts.run_id.clone(),
        options: opts.ssh.clone(),
        control_dir: control.clone(),
        chains: Chains::for_run(&opts.run_id),
        nodes: nodes.clone(),
        logs: spec.logs.iter().map(|l| l.display().to_string()).collect(),
    };
    let http = reqwest::Client::builder()
        .timeout(spec.health_timeout)
        .no_proxy()
        .build()
        .map_err(|e| ClusterError::Options(format!("HTTP client: {e}")))?;
    for n in &nodes {
        let local = opts.dir.join(crate::rundir::NODES_DIR).join(&n.name);
        std::fs::create_dir_all(&local).map_err(ClusterError::io(&local))?;
    }
    let cluster = RemoteCluster {
        inner: Arc::new(Inner {
            binary_name: file_name.clone(),
            spec: spec.clone(),
            client: SshClient::new(opts.ssh.clone(), Mux::Through(control)),
            record,
            facts,
            sudo: Mutex::new(vec![false; nodes.len()]),
            pids: Mutex::new(vec![None; nodes.len()]),
            ips,
            binary,
            dir: opts.dir.clone(),
            run: format!("fl{}", opts.run_id),
            http,
            stopped: AtomicBool::new(false),
            fake_clocks: opts.fake_clocks,
        }),
    };
    // Recorded before anything is made on a host; from here on an error drops `cluster`,
    // which stops and removes whatever was made.
    cluster.write_state()?;
    cluster.prepare_hosts()?;
    for i in 0..nodes.len() {
        cluster.spawn(i)?;
    }
    cluster.write_state()?;
    cluster.wait_healthy().await?;
    Ok(cluster)
}

impl RemoteCluster {
    fn nodes(&self) -> &[RemoteNode] {
        &self.inner.record.nodes
    }

    fn index(&self, name: &str) -> Result<usize, ClusterError> {
        self.nodes()
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| ClusterError::UnknownNode(name.to_owned()))
    }

    /// The node names, in order.
    pub fn names(&self) -> Vec<String> {
        self.nodes().iter().map(|n| n.name.clone()).collect()
    }

    /// Each node's `(name, client URL)`, `http://{ip}:{client_port}`, in order.
    pub fn client_urls(&self) -> Vec<(String, String)> {
        self.nodes()
            .iter()
            .zip(&self.inner.ips)
            .map(|(n, ip)| {
                (
                    n.name.clone(),
                    format!("http://{ip}:{}", self.inner.spec.client_port),
                )
            })
            .collect()
    }

    /// Each node's host, for the fault journal.
    pub fn hosts(&self) -> BTreeMap<String, String> {
        self.nodes()
            .iter()
            .map(|n| (n.name.clone(), n.host.clone()))
            .collect()
    }

    /// The iptables backend over SSH: rules in this run's chains on each node's host.
    pub fn network_faults(&self) -> crate::nemesis::backend::IptablesFaults {
        let sudo = self
            .inner
            .sudo
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let hosts = self
            .nodes()
            .iter()
            .zip(sudo)
            .map(|(n, s)| (n.name.clone(), (n.host.clone(), s)))
            .collect();
        let ips = self
            .nodes()
            .iter()
            .zip(&self.inner.ips)
            .map(|(n, ip)| (n.name.clone(), *ip))
            .collect();
        crate::nemesis::backend::IptablesFaults::over(
            ips,
            Box::new(SshShell::new(self.inner.client.clone(), hosts)),
            self.inner.record.chains.clone(),
        )
    }

    /// The clock backend over SSH, when the nodes run under libfaketime: rewrites each
    /// node's control file on its host over the host's multiplexed connection.
    pub fn clock_faults(&self) -> Option<crate::nemesis::backend::ClockFaults> {
        self.inner.fake_clocks.then(|| {
            crate::nemesis::backend::ClockFaults::over(Arc::new(RemoteClocks {
                client: self.inner.client.clone(),
                nodes: self.nodes().to_vec(),
            }))
        })
    }

    /// The run's directory on the hosts.
    pub fn remote_root(&self) -> String {
        script::run_root(&self.inner.record.run_id)
    }

    /// Connects to every host (in parallel), checks it (iptables, setsid, root or sudo),
    /// creates this run's chains and uploads the binary.
    fn prepare_hosts(&self) -> Result<(), ClusterError> {
        let inner = &self.inner;
        let results = each_parallel(self.nodes().len(), |i| -> Result<bool, ClusterError> {
            let node = &inner.record.nodes[i];
            let host = node.host.as_str();
            inner.client.connect(host).map_err(ssh_err)?;
            let uid = inner
                .client
                .check(host, &script::preflight(), "checking the host")
                .map_err(ssh_err)?;
            let sudo = uid.trim() != "0";
            let mut setup = String::from("PATH=\"$PATH:/usr/sbin:/sbin\"\nset -e\n");
            for rule in inner.record.chains.setup() {
                let mut argv = vec!["iptables".to_owned(), "-w".to_owned()];
                argv.extend(rule);
                setup.push_str(&format!(
                    "{}{}\n",
                    if sudo { "sudo -n " } else { "" },
                    crate::ssh::quote_all(&argv)
                ));
            }
            inner
                .client
                .check(
                    host,
                    &setup,
                    &format!(
                        "creating iptables chains {} and {}",
                        inner.record.chains.partition, inner.record.chains.loss
                    ),
                )
                .map_err(ssh_err)?;
            let binary = node.binary(&inner.binary_name);
            inner
                .client
                .upload(host, &inner.binary, &binary, 0o755)
                .map_err(ssh_err)?;
            if inner.fake_clocks {
                let line = crate::fakeclock::faketime_line(Default::default());
                let clock = format!(
                    "{}{}set -e\nmkdir -p {}\n{}",
                    script::clock_probe(),
                    script::clock_binary_check(&binary),
                    crate::ssh::quote(&node.dir),
                    script::clock_write(&node.clock_file(), &line)
                );
                inner
                    .client
                    .check(host, &clock, "preparing the node's faked clock")
                    .map_err(ssh_err)?;
            }
            Ok(sudo)
        });
        let mut sudo = Vec::new();
        for r in results {
            sudo.push(r?);
        }
        if let Ok(mut s) = inner.sudo.lock() {
            *s = sudo;
        }
        Ok(())
    }

    /// Starts node `i` on its host (its binary already there) and records its pid.
    fn spawn(&self, i: usize) -> Result<u32, ClusterError> {
        let inner = &self.inner;
        let node = &inner.record.nodes[i];
        let args = inner.spec.command_args(&inner.facts, i, &inner.run);
        let mut env = inner.spec.command_env(&inner.facts, i, &inner.run);
        if inner.fake_clocks {
            env = with_fake_clock(env, &node.clock_file());
        }
        let binary = node.binary(&inner.binary_name);
        let out = inner
            .client
            .check(
                &node.host,
                &script::start(node, &binary, &args, &env),
                &format!("starting {}", node.name),
            )
            .map_err(ssh_err)?;
        let pid: u32 = out.trim().parse().map_err(|_| {
            ClusterError::Options(format!(
                "host {}: starting {}: no pid in {out:?}",
                node.host, node.name
            ))
        })?;
        if let Ok(mut p) = inner.pids.lock() {
            p[i] = Some(pid);
        }
        Ok(pid)
    }

    /// Whether node `i`'s process runs on its host; an error when it should and does not.
    fn check_alive(&self, i: usize) -> Result<(), ClusterError> {
        let node = &self.nodes()[i];
        let out = self
            .inner
            .client
            .run(
                &node.host,
                &script::is_running(node),
                "checking the node",
                crate::ssh::client::COMMAND_TIMEOUT,
            )
            .map_err(ssh_err)?;
        if out.status.success() {
            return Ok(());
        }
        Err(ClusterError::Options(format!(
            "{} node {} on host {} exited; last lines of its log {}:\n{}",
            self.inner.spec.name,
            node.name,
            node.host,
            node.log,
            self.remote_tail(i)
        )))
    }

    /// The last lines of node `i`'s log on its host (empty when unreadable).
    fn remote_tail(&self, i: usize) -> String {
        let node = &self.nodes()[i];
        self.inner
            .client
            .check(&node.host, &script::tail(&node.log, 15), "reading the log")
            .unwrap_or_default()
    }

    async fn wait_healthy(&self) -> Result<(), ClusterError> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.spec.startup_timeout;
        loop {
            for i in 0..self.nodes().len() {
                self.check_alive(i)?;
            }
            let mut failing = Vec::new();
            for i in 0..self.nodes().len() {
                let ip = inner.ips[i].to_string();
                if let Err(why) =
                    probe_health(&inner.spec, &inner.http, &ip, &inner.facts, i, &inner.run).await
                {
                    failing.push((i, why));
                }
            }
            if failing.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let details = failing
                    .iter()
                    .map(|(i, why)| {
                        let n = &self.nodes()[*i];
                        format!(
                            "{} (host {}): {why}\nlast lines of {}:\n{}",
                            n.name,
                            n.host,
                            n.log,
                            self.remote_tail(*i)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(ClusterError::Options(format!(
                    "{} node(s) never became healthy within {:?}:\n{details}",
                    inner.spec.name, inner.spec.startup_timeout
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn write_state(&self) -> Result<(), ClusterError> {
        let inner = &self.inner;
        let pids = inner.pids.lock().map(|p| p.clone()).unwrap_or_default();
        let state = ClusterState {
            version: 1,
            faultline_pid: std::process::id(),
            binary: inner.binary.clone(),
            proxies: false,
            nodes: self
                .nodes()
                .iter()
                .enumerate()
                .map(|(i, n)| NodeRecord {
                    name: n.name.clone(),
                    id: i as u64 + 1,
                    pid: pids.get(i).copied().flatten(),
                    http: format!("{}:{}", inner.ips[i], inner.spec.client_port),
                    peer: format!("{}:{}", inner.ips[i], inner.spec.peer_port),
                    data_dir: PathBuf::from(n.data_dir()),
                    log: local_node_dir(&inner.dir, &n.name).join(file_name_of(&n.log)),
                })
                .collect(),
            netns: None,
            ssh: Some(inner.record.clone()),
            powerfs: Vec::new(),
        };
        state.write(&inner.dir)
    }

    /// Stops every node (gracefully: the spec's stop signal, then SIGKILL), downloads the
    /// logs into `RUN_DIR/nodes/NAME/`, removes this run's chains and directory on every
    /// host, closes the SSH masters and removes the state file. Safe to call more than once;
    /// returns what could not be cleaned up.
    pub fn stop(&self) -> Vec<String> {
        stop_inner(&self.inner)
    }
}

fn stop_inner(inner: &Inner) -> Vec<String> {
    if inner.stopped.swap(true, Ordering::SeqCst) {
        return Vec::new();
    }
    let sig = inner
        .spec
        .stop_signal
        .as_str()
        .trim_start_matches("SIG")
        .to_owned();
    let grace = inner.spec.stop_grace.as_millis() as u64;
    let left = clean_hosts(
        &inner.client,
        &inner.record,
        &inner.dir,
        Some((&sig, grace)),
    );
    if left.is_empty() {
        let _ = ClusterState::remove(&inner.dir);
    }
    left
}

impl Drop for Inner {
    fn drop(&mut self) {
        stop_inner(self);
    }
}

/// `env` (the db spec's, rendered) with libfaketime's variables pointing at `control` on the
/// host (pure): a spec's own `LD_PRELOAD` is kept after libfaketime.
pub fn with_fake_clock(env: Vec<(String, String)>, control: &str) -> Vec<(String, String)> {
    let old = env
        .iter()
        .find(|(k, _)| k == "LD_PRELOAD")
        .map(|(_, v)| v.clone());
    let mut env: Vec<(String, String)> =
        env.into_iter().filter(|(k, _)| k != "LD_PRELOAD").collect();
    env.extend(crate::fakeclock::env_with(
        Path::new(control),
        old.as_deref(),
    ));
    env
}

/// The nodes' clock control files on their hosts ([`crate::nemesis::backend::ClockFiles`]).
struct RemoteClocks {
    client: SshClient,
    nodes: Vec<RemoteNode>,
}

impl RemoteClocks {
    fn node(&self, name: &str) -> Option<&RemoteNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

impl crate::nemesis::backend::ClockFiles for RemoteClocks {
    fn has(&self, node: &str) -> bool {
        self.node(node).is_some()
    }

    fn nodes(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    fn write(&self, node: &str, state: crate::fakeclock::ClockState) -> Result<(), String> {
        let n = self
            .node(node)
            .ok_or_else(|| format!("{node}: no clock control file"))?;
        let path = n.clock_file();
        self.client
            .check(
                &n.host,
                &script::clock_write(&path, &crate::fakeclock::faketime_line(state)),
                &format!("rewriting {node}'s clock control file {path}"),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn uptime_ms(&self, node: &str, _pid: u32) -> Option<u64> {
        let n = self.node(node)?;
        let out = self
            .client
            .check(&n.host, &script::clock_uptime(n), "reading the node's age")
            .ok()?;
        let mut lines = out.lines().filter(|l| !l.trim().is_empty());
        let stat = lines.next()?;
        let uptime = lines.next()?;
        crate::nemesis::backend::clock::uptime_from_proc(stat, uptime)
    }
}

/// A file path's last component.
fn file_name_of(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_owned())
}

/// Where node `name`'s downloaded logs go.
fn local_node_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(crate::rundir::NODES_DIR).join(name)
}

/// On every host of `record` (in parallel): stops its nodes (`graceful` signal and grace in
/// ms, else SIGKILL at once), downloads their logs into `dir/nodes/NAME/`, removes the run's
/// chains and directory; then closes the masters. Returns what could not be done.
fn clean_hosts(
    client: &SshClient,
    record: &RemoteRecord,
    dir: &Path,
    graceful: Option<(&str, u64)>,
) -> Vec<String> {
    let results = each_parallel(record.nodes.len(), |i| -> Vec<String> {
        let node = &record.nodes[i];
        let host = node.host.as_str();
        let mut left = Vec::new();
        let (sig, grace) = graceful.unwrap_or(("KILL", 0));
        if let Err(e) = client.check(
            host,
            &script::stop(node, sig, grace),
            &format!("stopping {}", node.name),
        ) {
            left.push(e.to_string());
            // Unreachable: nothing else will work either.
            if matches!(e, crate::ssh::SshError::Connect { .. }) {
                return left;
            }
        }
        let local = local_node_dir(dir, &node.name);
        let _ = std::fs::create_dir_all(&local);
        let mut logs = vec![node.log.clone()];
        logs.extend(
            record
                .logs
                .iter()
                .map(|l| format!("{}/{l}", node.data_dir())),
        );
        for log in logs {
            if let Err(e) = client.download(host, &log, &local.join(file_name_of(&log))) {
                left.push(e.to_string());
            }
        }
        let mut teardown = script::iptables_best_effort(&record.chains.teardown());
        teardown.push_str(&script::remove_node_dir(node));
        teardown.push('\n');
        if let Err(e) = client.check(host, &teardown, "removing this run's chains and directory") {
            left.push(e.to_string());
        }
        left
    });
    let hosts: Vec<&str> = {
        let mut h: Vec<&str> = record.nodes.iter().map(|n| n.host.as_str()).collect();
        h.dedup();
        h
    };
    client.close_all(hosts);
    results.into_iter().flatten().collect()
}

/// `faultline cluster down` for an SSH cluster: reconnects with the recorded options (a
/// connection of its own per command: a master left by a killed faultline may be gone),
/// SIGKILLs every node (resumed first), downloads the logs, removes the run's chains and
/// directory on every host, and asks any master left behind to exit. Returns the nodes
/// handled and what could not be done.
pub fn down(dir: &Path, record: &RemoteRecord) -> (Vec<String>, Vec<String>) {
    let client = SshClient::new(record.options.clone(), Mux::Off);
    let left = clean_hosts(&client, record, dir, None);
    // Masters of the faultline that died: ask them to exit, then remove their sockets.
    let old = SshClient::new(
        record.options.clone(),
        Mux::Through(record.control_dir.clone()),
    );
    old.close_all(record.nodes.iter().map(|n| n.host.as_str()));
    (record.nodes.iter().map(|n| n.name.clone()).collect(), left)
}

/// Process faults on the hosts: signals by pid file over SSH.
#[async_trait::async_trait]
impl ProcessControl for RemoteCluster {
    fn pid(&self, node: &str) -> Option<u32> {
        let i = self.index(node).ok()?;
        self.inner.pids.lock().ok()?.get(i).copied().flatten()
    }

    async fn kill(&self, node: &str) -> Result<(), ControlError> {
        let i = self.index(node).map_err(ControlError::new)?;
        let n = &self.nodes()[i];
        self.inner
            .client
            .check(
                &n.host,
                &script::signal(n, "KILL", true),
                &format!("kill -9 {node}"),
            )
            .map_err(ControlError::new)?;
        if let Ok(mut p) = self.inner.pids.lock() {
            p[i] = None;
        }
        self.write_state().map_err(ControlError::new)
    }

    async fn restart(&self, node: &str) -> Result<(), ControlError> {
        let i = self.index(node).map_err(ControlError::new)?;
        if self.pid(node).is_some() {
            return Ok(());
        }
        self.spawn(i).map_err(ControlError::new)?;
        self.write_state().map_err(ControlError::new)?;
        let inner = &self.inner;
        let ip = inner.ips[i].to_string();
        let log = local_node_dir(&inner.dir, node).join(file_name_of(&self.nodes()[i].log));
        wait_answering(
            inner.spec.startup_timeout,
            Duration::from_millis(100),
            || self.check_alive(i),
            || answers_at(&inner.spec, &inner.http, &ip, &inner.facts, i, &inner.run),
            (node, format!("{ip}:{}", inner.spec.client_port), &log),
        )
        .await
        .map_err(ControlError::new)
    }

    async fn pause(&self, node: &str) -> Result<(), ControlError> {
        self.signal(node, "STOP")
    }

    async fn resume(&self, node: &str) -> Result<(), ControlError> {
        self.signal(node, "CONT")
    }

    fn resume_now(&self, node: &str) {
        let _ = self.signal(node, "CONT");
    }
}

impl RemoteCluster {
    fn signal(&self, node: &str, sig: &str) -> Result<(), ControlError> {
        let i = self.index(node).map_err(ControlError::new)?;
        let n = &self.nodes()[i];
        self.inner
            .client
            .check(
                &n.host,
                &script::signal(n, sig, false),
                &format!("SIG{sig} {node}"),
            )
            .map(|_| ())
            .map_err(ControlError::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faked_clock_preloads_libfaketime_before_the_specs_own_preload() {
        let lib = crate::fakeclock::LIBFAKETIME;
        let env = with_fake_clock(
            vec![
                ("RUST_LOG".into(), "info".into()),
                ("LD_PRELOAD".into(), "/opt/x.so".into()),
            ],
            "/tmp/faultline-r/n1/faketime.rc",
        );
        let get = |k: &str| {
            env.iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("LD_PRELOAD"), [format!("{lib}:/opt/x.so")]);
        assert_eq!(
            get("FAKETIME_TIMESTAMP_FILE"),
            ["/tmp/faultline-r/n1/faketime.rc"]
        );
        assert_eq!(get("RUST_LOG"), ["info"]);
        assert_eq!(get("FAKETIME_DONT_FAKE_MONOTONIC"), ["1"]);
        let plain = with_fake_clock(Vec::new(), "/f");
        assert_eq!(plain[0], ("LD_PRELOAD".to_string(), lib.to_string()));
    }
}
