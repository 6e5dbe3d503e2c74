//! Any binary as a local cluster: the [`GenericLauncher`] runs the nodes a db spec
//! ([`super::db_spec`]) describes, each in its own network namespace (root only, as etcd's
//! local cluster does), and [`start`] waits until every node passes the spec's health probe.
//! Network faults are iptables rules in the namespaces; kills, restarts (data dirs kept),
//! pauses and the state file are [`LocalCluster`]'s. Who leads is not the launcher's
//! business: the client spec's `[leader]` probe answers that.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use serde_json::json;

use super::db_spec::{DbSpec, Health, NodeFacts};
use super::launcher::{Launcher, NodeLayout, Status};
use super::local::{LocalCluster, Wired};
use super::process::log_tail;
use super::ClusterError;
use crate::net::netns::{self, NetnsPlan};
use crate::seed::{names, SeedTree};

/// How to start a local cluster of a db spec's nodes.
#[derive(Debug, Clone)]
pub struct GenericOptions {
    /// The validated spec.
    pub spec: DbSpec,
    /// Number of nodes (1..=99).
    pub nodes: usize,
    /// The run directory: `nodes/nI/{data,NAME.log}` and `cluster.json` go here.
    pub dir: PathBuf,
    /// The run id naming every namespace, link and rule (and `{run}` in templates).
    pub run_id: String,
    /// The run's seed (each node's `{seed}` derives from it by name).
    pub seed: u64,
    /// Run every node under libfaketime with its own clock control file (a schedule with
    /// clock faults; see [`crate::fakeclock`]).
    pub fake_clocks: bool,
    /// Mount a power-loss filesystem over every node's data dir (a schedule with power-loss
    /// faults; see [`crate::powerfs`]).
    pub power_loss: bool,
}

/// A running cluster of a db spec's nodes and the private network they live in.
pub type GenericCluster = Wired<NetnsPlan>;

/// Each node's `(name, client URL)`, `http://{host}:{client_port}`, in order.
pub fn client_urls(cluster: &GenericCluster, spec: &DbSpec) -> Vec<(String, String)> {
    cluster
        .network()
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                format!("http://{}:{}", n.ip, spec.client_port),
            )
        })
        .collect()
}

/// How a db spec's nodes are run: `ip netns exec NS BINARY ARGS...` with the spec's
/// environment; a node is up when its health probe passes.
#[derive(Debug)]
pub struct GenericLauncher {
    spec: DbSpec,
    binary: PathBuf,
    plan: NetnsPlan,
    facts: Vec<NodeFacts>,
    nodes: Vec<NodeLayout>,
    run: String,
    http: reqwest::Client,
}

impl GenericLauncher {
    /// Node `i`'s log tail and the tails of the spec's extra logs, for an error.
    fn tails(&self, i: usize) -> String {
        let node = &self.nodes[i];
        let mut out = format!(
            "last lines of {}:\n{}",
            node.log.display(),
            log_tail(&node.log)
        );
        for extra in &self.spec.logs {
            let path = node.data_dir.join(extra);
            if path.is_file() {
                out.push_str(&format!(
                    "\nlast lines of {}:\n{}",
                    path.display(),
                    log_tail(&path)
                ));
            }
        }
        out
    }

    async fn probe(&self, i: usize) -> Result<(), String> {
        let ip = self.plan.nodes[i].ip.to_string();
        probe_health(&self.spec, &self.http, &ip, &self.facts, i, &self.run).await
    }
}

/// Node `i`'s health probe as the spec says (HTTP GET, TCP connect, or a command on this
/// machine), the node at `ip`: `Ok` when it passes, else why not. Shared by the namespace
/// and the SSH clusters.
pub(crate) async fn probe_health(
    spec: &DbSpec,
    http: &reqwest::Client,
    ip: &str,
    facts: &[NodeFacts],
    i: usize,
    run: &str,
) -> Result<(), String> {
    let addr = format!("{ip}:{}", spec.client_port);
    let timeout = spec.health_timeout;
    match &spec.health {
        Health::Http(path) => {
            let url = format!("http://{addr}{path}");
            let resp = http
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {}", crate::net::cause::http(e)))?;
            if resp.status().is_success() {
                Ok(())
            } else {
                Err(format!("GET {url} answered {}", resp.status()))
            }
        }
        Health::Tcp => {
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("TCP connect to {addr}: {e}")),
                Err(_) => Err(format!("TCP connect to {addr}: no answer in {timeout:?}")),
            }
        }
        Health::Command(template) => {
            let vars = spec.node_vars(facts, i, run);
            let command = template.render(&vars);
            let child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(&command)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("health command {command:?}: {e}"))?;
            match tokio::time::timeout(timeout, child.wait_with_output()).await {
                Ok(Ok(out)) if out.status.success() => Ok(()),
                Ok(Ok(out)) => Err(format!(
                    "health command {command:?} {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Ok(Err(e)) => Err(format!("health command {command:?}: {e}")),
                Err(_) => Err(format!(
                    "health command {command:?}: no exit in {timeout:?}"
                )),
            }
        }
    }
}

/// Whether a restarted node at `ip` is up: with an HTTP health probe, any HTTP answer (a
/// node that cannot reach a majority yet, e.g. behind a partition, answers but is not
/// healthy); otherwise the probe passes.
pub(crate) async fn answers_at(
    spec: &DbSpec,
    http: &reqwest::Client,
    ip: &str,
    facts: &[NodeFacts],
    i: usize,
    run: &str,
) -> bool {
    match &spec.health {
        Health::Http(path) => {
            let url = format!("http://{ip}:{}{path}", spec.client_port);
            http.get(url).send().await.is_ok()
        }
        _ => probe_health(spec, http, ip, facts, i, run).await.is_ok(),
    }
}

#[async_trait::async_trait]
impl Launcher for GenericLauncher {
    fn program(&self) -> &Path {
        &self.binary
    }

    fn data_files(&self) -> &[String] {
        &self.spec.data_files
    }

    fn nodes(&self) -> &[NodeLayout] {
        &self.nodes
    }

    fn command(&self, i: usize) -> Command {
        // `ip netns exec` enters the namespace and execs the binary: the child's pid is its.
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.plan.nodes[i].namespace])
            .arg(&self.binary)
            .args(self.spec.command_args(&self.facts, i, &self.run))
            .envs(self.spec.command_env(&self.facts, i, &self.run));
        cmd
    }

    fn describe(&self, i: usize) -> String {
        format!(
            "{} {} in {}",
            self.spec.name, self.nodes[i].name, self.plan.nodes[i].namespace
        )
    }

    /// `{"healthy": true}` when the spec's health probe passes, else why not.
    async fn status(&self, i: usize) -> Status {
        self.probe(i).await.map(|()| json!({"healthy": true}))
    }

    /// Whether a restarted node is up: with an HTTP health probe, any HTTP answer (a node
    /// that cannot reach a majority yet, e.g. behind a partition, answers but is not
    /// healthy); otherwise the probe passes.
    async fn answers(&self, i: usize) -> bool {
        let ip = self.plan.nodes[i].ip.to_string();
        answers_at(&self.spec, &self.http, &ip, &self.facts, i, &self.run).await
    }

    /// The launcher knows no leader (the client spec's `[leader]` does).
    fn leader(&self, _statuses: &[(String, Status)]) -> Option<String> {
        None
    }

    /// [`start`] waits for health itself, naming the nodes that never pass.
    fn ready(&self, _statuses: &[(String, Status)]) -> bool {
        true
    }

    fn restart_timeout(&self) -> Duration {
        self.spec.startup_timeout
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(200)
    }

    fn exit_error(&self, i: usize, status: ExitStatus, _tail: String) -> ClusterError {
        ClusterError::Options(format!(
            "{} node {} exited ({status}); {}",
            self.spec.name,
            self.nodes[i].name,
            self.tails(i)
        ))
    }

    fn stop_signal(&self) -> Option<(nix::sys::signal::Signal, Duration)> {
        Some((self.spec.stop_signal, self.spec.stop_grace))
    }

    fn network(&self) -> Option<&NetnsPlan> {
        Some(&self.plan)
    }

    fn prepare(&self) -> Result<(), ClusterError> {
        // Never adopt (and later remove) objects of another run that drew the same id.
        let existing = netns::leftovers(&self.plan);
        if !existing.is_empty() {
            return Err(ClusterError::Options(format!(
                "network objects named {}-* already exist (another run?): {}",
                self.plan.prefix,
                existing.join("; ")
            )));
        }
        netns::create(&self.plan).map_err(ClusterError::Options)
    }

    fn cleanup(&self) -> Vec<String> {
        netns::destroy(&self.plan)
    }
}

/// Checks root, the tools and the binary, creates the network, starts every node and waits
/// until each passes the health probe (within the spec's startup timeout). On error
/// everything already made is removed; a node that never became healthy is named with the
/// probe's last answer and its logs' last lines.
pub async fn start(opts: GenericOptions) -> Result<GenericCluster, ClusterError> {
    let spec = &opts.spec;
    if !netns::is_root() {
        return Err(ClusterError::Options(format!(
            "--db: faultline runs {} nodes in network namespaces, which needs root (run as root, or run the nodes yourself and use --cluster external --node URL)",
            spec.name
        )));
    }
    for tool in ["ip", "iptables"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Err(ClusterError::Options(format!(
                "`{tool}` not found on PATH; a local --db cluster needs iproute2 and iptables"
            )));
        }
    }
    let binary = spec.locate_binary().map_err(ClusterError::Options)?;
    let names: Vec<String> = (1..=opts.nodes).map(|i| format!("n{i}")).collect();
    let taken = netns::taken_networks().map_err(ClusterError::Options)?;
    let plan = netns::plan(&opts.run_id, &names, &taken).map_err(ClusterError::Options)?;
    let seeds = SeedTree::new(opts.seed).child(names::NODES);
    let log_name = format!("{}.log", spec.name);
    let nodes: Vec<NodeLayout> = plan
        .nodes
        .iter()
        .map(|n| {
            let dir = opts.dir.join(crate::rundir::NODES_DIR).join(&n.name);
            NodeLayout {
                name: n.name.clone(),
                client: format!("{}:{}", n.ip, spec.client_port),
                peer: format!("{}:{}", n.ip, spec.peer_port),
                data_dir: dir.join("data"),
                log: dir.join(&log_name),
            }
        })
        .collect();
    let facts = plan
        .nodes
        .iter()
        .zip(&nodes)
        .map(|(n, layout)| NodeFacts {
            name: n.name.clone(),
            host: n.ip.to_string(),
            data_dir: layout.data_dir.clone(),
            seed: seeds.derive(&n.name),
        })
        .collect();
    let http = reqwest::Client::builder()
        .timeout(spec.health_timeout)
        .no_proxy()
        .build()
        .map_err(|e| ClusterError::Options(format!("HTTP client: {e}")))?;
    let launcher = GenericLauncher {
        spec: spec.clone(),
        binary,
        plan: plan.clone(),
        facts,
        nodes,
        run: plan.prefix.clone(),
        http,
    };
    let cluster = LocalCluster::start_with_faults(
        Box::new(launcher),
        &opts.dir,
        spec.startup_timeout,
        opts.fake_clocks,
        opts.power_loss,
    )
    .await?;
    wait_healthy(&cluster, spec, &log_name).await?;
    Ok(Wired::new(cluster, plan))
}

/// Polls every node's health until all pass; fails at once when a node exits, and after the
/// spec's startup timeout names each node that never passed, why, and its log's last lines.
async fn wait_healthy(
    cluster: &LocalCluster,
    spec: &DbSpec,
    log_name: &str,
) -> Result<(), ClusterError> {
    let deadline = Instant::now() + spec.startup_timeout;
    loop {
        cluster.check()?;
        let statuses = cluster.statuses().await;
        let failing: Vec<(String, String)> = statuses
            .into_iter()
            .filter_map(|(n, s)| s.err().map(|e| (n, e)))
            .collect();
        if failing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let details = failing
                .iter()
                .map(|(name, why)| {
                    let log = cluster
                        .node(name)
                        .map(|n| n.log.clone())
                        .unwrap_or_else(|_| PathBuf::from(log_name));
                    format!(
                        "{name}: {why}\nlast lines of {}:\n{}",
                        log.display(),
                        log_tail(&log)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            return Err(ClusterError::Options(format!(
                "{} node(s) {} never became healthy within {:?}:\n{details}",
                spec.name,
                failing
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                spec.startup_timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
