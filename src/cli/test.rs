//! `faultline test`: run one test (or `--test-count K` tests) end to end and exit with the
//! verdict. With no flags it runs the embedded default: a local 5-node raftkv cluster, the
//! cas-register workload, the mixed nemesis, about 30 seconds.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::Outcome;
use crate::checker::txn::ConsistencyModel;
use crate::maelstrom::leader::ProbeMode;
use crate::maelstrom::topology::Topology;
use crate::maelstrom::NodeProgram;
use crate::nemesis::NemesisSpec;
use crate::net::sim::{LatencyDist, SimConfig};
use crate::node_addr::parse_nodes;
use crate::report::{self, RunFacts};
use crate::runner::{self, Shutdown, TestConfig};
use crate::target::etcd::EtcdTarget;
use crate::target::http::HttpTarget;
use crate::target::maelstrom::MaelstromTarget;
use crate::target::raftkv::{self as raftkv_target, Bug, RaftkvTarget};
use crate::target::{Nodes, Target};
use crate::workload::WorkloadSpec;

/// `--target`: the systems `faultline test` can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// raftkv, our own Raft store.
    Raftkv,
    /// etcd over its v3 JSON gateway.
    Etcd,
    /// Your own HTTP service, through a --client spec.
    Http,
    /// Your Maelstrom-protocol node binary (--bin), on faultline's message network.
    Maelstrom,
}

/// `--cluster`: who runs the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusterKind {
    /// faultline starts them.
    Local,
    /// Your nodes, given with --node.
    External,
    /// faultline runs the --db spec's nodes on your hosts over SSH (--host).
    Ssh,
}

/// `--latency-dist`: how message latencies spread around `--latency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LatencyDistArg {
    /// Exactly `--latency` every time.
    Constant,
    /// Uniform in 0..2×`--latency`.
    Uniform,
    /// Exponential with mean `--latency`.
    Exponential,
}

impl From<LatencyDistArg> for LatencyDist {
    fn from(d: LatencyDistArg) -> LatencyDist {
        match d {
            LatencyDistArg::Constant => LatencyDist::Constant,
            LatencyDistArg::Uniform => LatencyDist::Uniform,
            LatencyDistArg::Exponential => LatencyDist::Exponential,
        }
    }
}

/// `--leader-probe`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LeaderProbeArg {
    /// Inferred from the messages between nodes (the node that hears from the most others);
    /// nothing is sent to the nodes.
    Traffic,
    /// Ask every node with a `faultline_leader` message (see docs/maelstrom.md); the traffic
    /// decides when no node answers it.
    Message,
}

impl From<LeaderProbeArg> for ProbeMode {
    fn from(p: LeaderProbeArg) -> ProbeMode {
        match p {
            LeaderProbeArg::Traffic => ProbeMode::Traffic,
            LeaderProbeArg::Message => ProbeMode::Message,
        }
    }
}

/// Parses `--raftkv-bug` with raftkv's own list of bugs.
fn parse_raftkv_bug(s: &str) -> Result<Bug, String> {
    raftkv_target::parse_bug(s)
}

/// `--workload`'s help, listing the built-in workloads from their registry (so it never
/// drifts from what the binary embeds).
fn workload_help() -> String {
    format!(
        "The workload: a built-in name ({}) or a TOML file (see docs/workloads.md).",
        WorkloadSpec::builtin_names().join(", ")
    )
}

/// `--nemesis`'s help, listing the built-in schedules from their registry.
fn nemesis_help() -> String {
    format!(
        "The fault schedule: a built-in name ({}) or a TOML file (see docs/running-tests.md).",
        NemesisSpec::builtin_names().join(", ")
    )
}

fn parse_topology(s: &str) -> Result<Topology, String> {
    Topology::from_name(s).ok_or_else(|| {
        format!(
            "unknown topology {s:?}; expected one of: {}",
            Topology::NAMES.join(", ")
        )
    })
}

fn parse_consistency_model(s: &str) -> Result<ConsistencyModel, String> {
    s.parse::<ConsistencyModel>().map_err(|e| e.to_string())
}

/// Arguments of `faultline test`.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// The system under test: `raftkv` (our own Raft store), `etcd` (over its v3 JSON
    /// gateway; a local etcd cluster runs in network namespaces and needs root), `http`
    /// (your own HTTP service: needs --client SPEC.toml, and --db DB.toml for a local
    /// cluster or --cluster external --node URL...; see docs/http-target.md,
    /// docs/db-spec.md) or `maelstrom` (your Maelstrom node binary: needs --bin; see
    /// docs/maelstrom.md). Default: http when --client is given, maelstrom when --bin is,
    /// else raftkv.
    #[arg(long, value_enum)]
    pub target: Option<TargetKind>,

    /// --target http: the TOML file describing your service's HTTP API (how each op becomes a
    /// request, how each status reads as ok, fail or unknown; examples/http/raftkv.toml is a
    /// complete one). Copied into the run directory as client.toml.
    #[arg(long, value_name = "SPEC.toml")]
    pub client: Option<PathBuf>,

    /// --target http on a local cluster: the TOML file saying how to run one node of your
    /// service (binary, argument templates, ports, health probe; db/raftkv.toml and
    /// db/etcd.toml are examples, docs/db-spec.md explains). faultline starts --nodes of
    /// them in network namespaces (root only). Copied into the run directory as db.toml.
    #[arg(long, value_name = "DB.toml")]
    pub db: Option<PathBuf>,

    /// --target maelstrom: your Maelstrom node binary (speaks Maelstrom's JSON protocol on
    /// stdin/stdout); --nodes of it run as n0, n1, ...
    #[arg(long, value_name = "PATH")]
    pub bin: Option<PathBuf>,

    /// --target maelstrom: an argument for --bin; repeatable, in order.
    #[arg(long = "bin-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub bin_args: Vec<String>,

    /// --target maelstrom: mean latency of every message, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub latency: Option<u64>,

    /// --target maelstrom: how latencies spread around --latency.
    #[arg(long, value_enum, value_name = "DIST")]
    pub latency_dist: Option<LatencyDistArg>,

    /// --target maelstrom, broadcast workload: the topology each node is told after init
    /// (grid, line, total, tree2, tree3, tree4; default grid).
    #[arg(long, value_name = "SHAPE", value_parser = parse_topology)]
    pub topology: Option<Topology>,

    /// --target maelstrom: how leader faults (partition-leader, kill or pause target
    /// "leader") find the leader: traffic (default; the node that hears from the most other
    /// nodes) or message (ask each node `{"type":"faultline_leader"}`, expect
    /// `faultline_leader_ok` with `leader`; nodes that lack a handler may exit on it, e.g.
    /// Maelstrom's Go library). A leader fault without a leader fails, saying why.
    #[arg(long, value_enum, value_name = "HOW")]
    pub leader_probe: Option<LeaderProbeArg>,

    /// --target maelstrom: probability that a message between two nodes is lost.
    #[arg(long, value_name = "P")]
    pub net_loss: Option<f64>,

    /// --target maelstrom: probability that a message between two nodes is delivered twice.
    #[arg(long, value_name = "P")]
    pub net_duplicate: Option<f64>,

    /// --target maelstrom: probability that a message is held back so later ones overtake it.
    #[arg(long, value_name = "P")]
    pub net_reorder: Option<f64>,

    /// Who runs the nodes: `local` (faultline starts them), `external` (your nodes, given
    /// with --node; faults come from the nemesis file's [commands]) or `ssh` (faultline
    /// starts the --db spec's nodes on your hosts, given with --host, over SSH; see
    /// docs/remote.md).
    #[arg(long, value_enum, default_value_t = ClusterKind::Local)]
    pub cluster: ClusterKind,

    /// Number of nodes in the local cluster [default: 5].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=15))]
    pub nodes: Option<u16>,

    /// A node of an external cluster: `URL` (named n1, n2, ... in order) or `NAME=URL`;
    /// repeatable.
    #[arg(long = "node", value_name = "[NAME=]URL")]
    pub node_urls: Vec<String>,

    /// --cluster ssh: a host to run one node on, `HOST` (named n1, n2, ... in order) or
    /// `NAME=HOST`; a host name or an IP address; repeatable. The node's {host} is its IPv4
    /// address.
    #[arg(long = "host", value_name = "[NAME=]HOST")]
    pub hosts: Vec<String>,

    /// --cluster ssh: the remote user (default: OpenSSH's; root, or a user who may
    /// `sudo -n iptables`).
    #[arg(long, value_name = "USER")]
    pub ssh_user: Option<String>,

    /// --cluster ssh: the private key to log in with (ssh -i, IdentitiesOnly=yes).
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,

    /// --cluster ssh: the SSH port (default: OpenSSH's).
    #[arg(long, value_name = "PORT")]
    pub ssh_port: Option<u16>,

    /// --cluster ssh: an OpenSSH option, passed as `-o OPTION` (e.g.
    /// UserKnownHostsFile=FILE); repeatable. Host keys are checked as OpenSSH does unless
    /// an option says otherwise.
    #[arg(long = "ssh-option", value_name = "KEY=VALUE")]
    pub ssh_options: Vec<String>,

    /// etcd: read with `"serializable": true` (answered by the node alone, possibly stale),
    /// to reproduce etcd's stale-read anomaly on purpose.
    #[arg(long)]
    pub etcd_serializable_reads: bool,

    /// The etcd binary for a local etcd cluster (default: $FAULTLINE_ETCD, else etcd on PATH).
    #[arg(long, value_name = "PATH")]
    pub etcd_bin: Option<PathBuf>,

    /// The workload: a built-in name or a TOML file (the help lists the built-ins).
    #[arg(long, default_value = "cas-register", value_name = "NAME|FILE", help = workload_help())]
    pub workload: String,

    /// The fault schedule: a built-in name or a TOML file (the help lists the built-ins).
    #[arg(long, default_value = "mixed", value_name = "NAME|FILE", help = nemesis_help())]
    pub nemesis: String,

    /// Seconds between fault changes (default: the schedule's own pace).
    #[arg(long, value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub nemesis_interval: Option<Duration>,

    /// Concurrent client workers (each runs one op at a time against one node).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,

    /// Upper bound on client ops per second across all workers (0 = unlimited).
    #[arg(long, default_value_t = 100.0, value_name = "OPS")]
    pub rate: f64,

    /// Seconds of client load and faults (healing, recovery and final reads come after).
    #[arg(long, default_value = "30", value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub time_limit: Duration,

    /// Seed for the operation and fault sequence (default: random, printed and stored).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Run this many tests (seeds seed, seed+1, ...) and stop at the first that is not valid.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub test_count: u32,

    /// Switch on a deliberate raftkv bug (stale-read, early-ack, volatile-vote,
    /// commit-old-term, no-checksum, fsync-lie); repeatable. faultline should then report an
    /// anomaly (no-checksum only under the file-corruption nemesis, fsync-lie only under
    /// power-loss).
    #[arg(long = "raftkv-bug", value_name = "NAME", value_parser = parse_raftkv_bug)]
    pub raftkv_bugs: Vec<Bug>,

    /// How raftkv leaders serve reads: read-index (the default: a quorum round per read) or
    /// lease (locally while a lease measured on the leader's wall clock lasts, Raft thesis
    /// §6.4; stale reads once that clock runs slow or jumps back: try --nemesis clock).
    #[arg(long = "raftkv-read-mode", value_name = "MODE", value_parser = ["read-index", "lease"])]
    pub raftkv_read_mode: Option<String>,

    /// Where runs are stored: DIR/<test>/<timestamp>/, with DIR/latest pointing at the newest.
    #[arg(long, default_value = "results", value_name = "DIR")]
    pub results: PathBuf,

    /// The raftkv binary (default: next to the faultline binary, or $FAULTLINE_RAFTKV).
    #[arg(long, value_name = "PATH")]
    pub raftkv_bin: Option<PathBuf>,

    /// Fixed ports for the local cluster: node i's client API on BASE+i-1, its peer port on
    /// BASE+N+i-1 (default: free ports).
    #[arg(long, value_name = "BASE")]
    pub base_port: Option<u16>,

    /// Seconds the checker may take before the verdict is unknown.
    #[arg(long, default_value = "120", value_name = "SECONDS", value_parser = super::parse_seconds)]
    pub check_timeout: Duration,

    /// For transactional workloads (list-append, rw-register, txn-list-append,
    /// txn-rw-register): the consistency model to check against instead of the workload's
    /// own (e.g. serializable, snapshot-isolation, read-committed; see docs/transactions.md).
    #[arg(long, value_name = "NAME", value_parser = parse_consistency_model)]
    pub consistency_model: Option<ConsistencyModel>,

    /// Also write JUnit XML here: one test suite per run, one test case per checker.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// A local cluster's size when `--nodes` is not given.
pub const DEFAULT_LOCAL_NODES: u16 = 5;

impl TestArgs {
    /// The target: `--target`, else http when `--client` is given, maelstrom when `--bin`
    /// is, else raftkv.
    pub fn target_kind(&self) -> TargetKind {
        match (self.target, &self.client, &self.bin) {
            (Some(kind), _, _) => kind,
            (None, Some(_), _) => TargetKind::Http,
            (None, None, Some(_)) => TargetKind::Maelstrom,
            (None, None, None) => TargetKind::Raftkv,
        }
    }

    /// The typed config of a test with `seed`: the one place where flags become a
    /// [`Target`] and [`Nodes`], and where a flag that does not belong to the chosen target or
    /// cluster is refused, naming it.
    pub fn config(&self, seed: u64) -> Result<TestConfig, String> {
        if self.cluster != ClusterKind::Ssh {
            let ssh_flags = [
                ("--host", !self.hosts.is_empty()),
                ("--ssh-user", self.ssh_user.is_some()),
                ("--ssh-key", self.ssh_key.is_some()),
                ("--ssh-port", self.ssh_port.is_some()),
                ("--ssh-option", !self.ssh_options.is_empty()),
            ];
            if let Some((flag, _)) = ssh_flags.iter().find(|(_, given)| *given) {
                return Err(format!("{flag} is for --cluster ssh"));
            }
        }
        let nodes = match self.cluster {
            ClusterKind::Local => {
                if !self.node_urls.is_empty() {
                    return Err(
                        "--node is for --cluster external; a local cluster's size is --nodes"
                            .into(),
                    );
                }
                Nodes::Local {
                    count: usize::from(self.nodes.unwrap_or(DEFAULT_LOCAL_NODES)),
                }
            }
            ClusterKind::External => {
                if self.nodes.is_some() {
                    return Err(
                        "--nodes is for a local cluster; an external cluster's nodes are its --node values"
                            .into(),
                    );
                }
                Nodes::External {
                    nodes: parse_nodes(&self.node_urls)?,
                }
            }
            ClusterKind::Ssh => {
                if self.nodes.is_some() {
                    return Err(
                        "--nodes is for a local cluster; an SSH cluster's nodes are its --host values"
                            .into(),
                    );
                }
                if !self.node_urls.is_empty() {
                    return Err(
                        "--node is for --cluster external; an SSH cluster's nodes are its --host values"
                            .into(),
                    );
                }
                crate::ssh::args::check_options(&self.ssh_options)?;
                Nodes::Ssh {
                    hosts: crate::ssh::parse_hosts(&self.hosts)?,
                    ssh: crate::ssh::SshOptions {
                        user: self.ssh_user.clone(),
                        key: self.ssh_key.clone(),
                        port: self.ssh_port,
                        options: self.ssh_options.clone(),
                    },
                }
            }
        };
        // Each target's own flags; any other target's flag given is refused.
        let target_kind = self.target_kind();
        let foreign: [(&str, bool, TargetKind); 17] = [
            ("--topology", self.topology.is_some(), TargetKind::Maelstrom),
            (
                "--leader-probe",
                self.leader_probe.is_some(),
                TargetKind::Maelstrom,
            ),
            ("--bin", self.bin.is_some(), TargetKind::Maelstrom),
            (
                "--bin-arg",
                !self.bin_args.is_empty(),
                TargetKind::Maelstrom,
            ),
            ("--latency", self.latency.is_some(), TargetKind::Maelstrom),
            (
                "--latency-dist",
                self.latency_dist.is_some(),
                TargetKind::Maelstrom,
            ),
            ("--net-loss", self.net_loss.is_some(), TargetKind::Maelstrom),
            (
                "--net-duplicate",
                self.net_duplicate.is_some(),
                TargetKind::Maelstrom,
            ),
            (
                "--net-reorder",
                self.net_reorder.is_some(),
                TargetKind::Maelstrom,
            ),
            (
                "--raftkv-bug",
                !self.raftkv_bugs.is_empty(),
                TargetKind::Raftkv,
            ),
            (
                "--raftkv-bin",
                self.raftkv_bin.is_some(),
                TargetKind::Raftkv,
            ),
            (
                "--raftkv-read-mode",
                self.raftkv_read_mode.is_some(),
                TargetKind::Raftkv,
            ),
            ("--base-port", self.base_port.is_some(), TargetKind::Raftkv),
            (
                "--etcd-serializable-reads",
                self.etcd_serializable_reads,
                TargetKind::Etcd,
            ),
            ("--etcd-bin", self.etcd_bin.is_some(), TargetKind::Etcd),
            ("--client", self.client.is_some(), TargetKind::Http),
            ("--db", self.db.is_some(), TargetKind::Http),
        ];
        if let Some((flag, _, owner)) = foreign
            .iter()
            .find(|(_, given, owner)| *given && *owner != target_kind)
        {
            let owner = owner
                .to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default();
            return Err(match &self.client {
                Some(path) if *flag == "--client" => format!(
                    "--client {} is for --target {owner} (the raftkv and etcd clients are built in)",
                    path.display()
                ),
                _ => format!("{flag} needs --target {owner}"),
            });
        }
        let target = match target_kind {
            TargetKind::Raftkv => Target::Raftkv(RaftkvTarget {
                bugs: self.raftkv_bugs.clone(),
                bin: self.raftkv_bin.clone(),
                base_port: self.base_port,
                lease_reads: self.raftkv_read_mode.as_deref() == Some("lease"),
            }),
            TargetKind::Etcd => Target::Etcd(EtcdTarget {
                serializable_reads: self.etcd_serializable_reads,
                bin: self.etcd_bin.clone(),
            }),
            TargetKind::Http => Target::Http(HttpTarget {
                client: self.client.clone().ok_or(
                    "--target http needs --client SPEC.toml: the file that describes your service's HTTP API (see docs/http-target.md; examples/http/raftkv.toml is a complete one)",
                )?,
                db: self.db.clone(),
            }),
            TargetKind::Maelstrom => Target::Maelstrom(MaelstromTarget {
                program: NodeProgram {
                    bin: self.bin.clone().ok_or(
                        "--target maelstrom needs --bin PATH: your Maelstrom node binary (see docs/maelstrom.md)",
                    )?,
                    args: self.bin_args.clone(),
                },
                net: SimConfig {
                    latency_ms: self.latency.unwrap_or(0),
                    dist: self.latency_dist.map(LatencyDist::from).unwrap_or_default(),
                    loss: self.net_loss.unwrap_or(0.0),
                    duplicate: self.net_duplicate.unwrap_or(0.0),
                    reorder: self.net_reorder.unwrap_or(0.0),
                },
                topology: self.topology,
                leader_probe: self.leader_probe.map(ProbeMode::from).unwrap_or_default(),
            }),
        };
        // Who leads among Maelstrom nodes is a guess (or needs the nodes' help): the default
        // schedule runs without its leader faults; a schedule that names them gets them.
        let nemesis = match (&target, self.nemesis.as_str()) {
            (Target::Maelstrom(_), "mixed") => "mixed-no-leader".to_owned(),
            _ => self.nemesis.clone(),
        };
        Ok(TestConfig {
            target,
            nodes,
            workload: self.workload.clone(),
            nemesis,
            nemesis_interval: self.nemesis_interval,
            concurrency: self.concurrency as usize,
            rate: (self.rate > 0.0).then_some(self.rate),
            time_limit: self.time_limit,
            seed,
            results: self.results.clone(),
            check_timeout: self.check_timeout,
            consistency_model: self.consistency_model,
        })
    }
}

/// Turns Ctrl-C and SIGTERM into `shutdown`'s trigger, on a thread of its own; returns once
/// the handlers are installed (so no signal can kill faultline while it owns processes).
fn install_signal_handlers() -> Result<Shutdown, String> {
    let (trigger, shutdown) = runner::shutdown();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("starting the signal runtime: {e}")));
                    return;
                }
            };
            runtime.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let streams = signal(SignalKind::interrupt())
                    .and_then(|i| Ok((i, signal(SignalKind::terminate())?)));
                let (mut int, mut term) = match streams {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("installing signal handlers: {e}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                eprintln!("\nfaultline test: interrupted; stopping clients, healing, cleaning up");
                trigger.trigger();
            });
        })
        .map_err(|e| format!("starting the signal thread: {e}"))?;
    ready_rx
        .recv()
        .map_err(|_| "the signal thread stopped".to_string())??;
    Ok(shutdown)
}

/// Runs `faultline test` and returns its outcome.
pub fn run(args: &TestArgs) -> Outcome {
    if !args.rate.is_finite() || args.rate < 0.0 {
        eprintln!(
            "faultline test: --rate must be a non-negative number, got {}",
            args.rate
        );
        return Outcome::Error;
    }
    let shutdown = match install_signal_handlers() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("faultline test: {e}");
            return Outcome::Error;
        }
    };
    let first_seed = args.seed.unwrap_or_else(rand::random);
    let count = args.test_count;
    let mut worst = Outcome::Valid;
    let mut suites = Vec::new();
    for i in 0..count {
        let seed = first_seed.wrapping_add(u64::from(i));
        if count > 1 {
            eprintln!("== test {} of {count} (seed {seed})", i + 1);
        }
        let config = match args.config(seed) {
            Ok(config) => config,
            Err(e) => {
                // A contradiction in the flags themselves: no run directory (see
                // docs/running-tests.md), the same for every seed.
                eprintln!("faultline test: {e}");
                suites.push(failed_run_facts(seed, &e));
                worst = worst.worst(Outcome::Error);
                break;
            }
        };
        let (outcome, stop) = match runner::run_test(&config, shutdown.clone()) {
            Ok(report) => {
                suites.push(junit_facts(&report.run_dir, seed));
                let stop = Stop::Verdict {
                    seed,
                    outcome: report.outcome,
                    run_dir: report.run_dir,
                    run_error: report.run_error,
                };
                (report.outcome, stop)
            }
            Err(e) => {
                let error = format!("{e:#}");
                eprintln!("faultline test: {error}");
                match &e.run_dir {
                    Some(dir) => {
                        eprintln!("faultline test: why is stored in {}", dir.display());
                        suites.push(junit_facts(dir, seed));
                    }
                    None => suites.push(failed_run_facts(seed, &error)),
                }
                let stop = Stop::NotStarted {
                    error,
                    run_dir: e.run_dir,
                };
                (Outcome::Error, stop)
            }
        };
        worst = worst.worst(outcome);
        let stop = if shutdown.is_triggered() {
            Stop::Interrupted
        } else if outcome == Outcome::Valid {
            continue;
        } else {
            stop
        };
        if i + 1 < count {
            eprintln!("faultline test: {}", stop_message(i + 1, count, &stop));
        }
        break;
    }
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, report::junit_xml(&suites)) {
            eprintln!("faultline test: writing {}: {e}", path.display());
            worst = worst.worst(Outcome::Error);
        }
    }
    worst
}

/// Why a `--test-count` series stopped.
#[derive(Debug, Clone, PartialEq)]
enum Stop {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// The test could not start; its run directory (when made) holds why.
    NotStarted {
        /// The error, with its causes.
        error: String,
        /// The run directory.
        run_dir: Option<PathBuf>,
    },
    /// The test ran and was not valid.
    Verdict {
        /// Its seed.
        seed: u64,
        /// Its outcome.
        outcome: Outcome,
        /// Its run directory.
        run_dir: PathBuf,
        /// Why it broke partway, when it did.
        run_error: Option<String>,
    },
}

/// The line that says a `--test-count` series stops after test `done` of `count`, and why
/// (pure).
fn stop_message(done: u32, count: u32, stop: &Stop) -> String {
    let see = |dir: &std::path::Path| format!(" (see {})", dir.display());
    let why = match stop {
        Stop::Interrupted => "interrupted".to_owned(),
        Stop::NotStarted { error, run_dir } => format!(
            "the run failed to start: {error}{}",
            run_dir.as_deref().map(see).unwrap_or_default()
        ),
        Stop::Verdict {
            seed,
            outcome,
            run_dir,
            run_error,
        } => match (outcome, run_error) {
            (Outcome::Invalid, _) => format!("seed {seed} was invalid{}", see(run_dir)),
            (_, Some(e)) => format!("seed {seed}: the run failed: {e}{}", see(run_dir)),
            (Outcome::Unknown, None) => format!(
                "seed {seed} was unknown (a checker could not decide){}",
                see(run_dir)
            ),
            _ => format!("seed {seed} ended in an error{}", see(run_dir)),
        },
    };
    format!("stopping after test {done} of {count}: {why}")
}

/// The JUnit suite of a stored run, or an error suite when its results cannot be read.
fn junit_facts(run_dir: &std::path::Path, seed: u64) -> RunFacts {
    report::load_facts(run_dir)
        .unwrap_or_else(|e| failed_run_facts(seed, &format!("reading {}: {e}", run_dir.display())))
}

/// A suite for a run that produced no results (it could not start).
fn failed_run_facts(seed: u64, error: &str) -> RunFacts {
    RunFacts {
        name: format!("faultline test (seed {seed})"),
        started_at: None,
        reproduce: None,
        config: vec![("seed".into(), seed.to_string())],
        checkers: Vec::new(),
        run_error: Some(error.to_string()),
        interrupted: false,
        availability: Vec::new(),
        skipped: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_args(words: &[&str]) -> TestArgs {
        use clap::Parser;
        let mut argv = vec!["faultline", "test"];
        argv.extend(words);
        match crate::cli::Cli::try_parse_from(argv) {
            Ok(crate::cli::Cli {
                command: crate::cli::Command::Test(args),
                ..
            }) => args,
            other => panic!("not a test command: {other:?}"),
        }
    }

    #[test]
    fn ssh_flags_make_an_ssh_cluster_and_only_with_cluster_ssh() {
        let args = test_args(&[
            "--client",
            "c.toml",
            "--db",
            "d.toml",
            "--cluster",
            "ssh",
            "--host",
            "10.0.0.1",
            "--host",
            "db2=10.0.0.2",
            "--ssh-user",
            "fl",
            "--ssh-port",
            "2222",
            "--ssh-option",
            "StrictHostKeyChecking=accept-new",
        ]);
        let config = args.config(1).expect("config");
        let Nodes::Ssh { hosts, ssh } = &config.nodes else {
            panic!("{:?}", config.nodes)
        };
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[1].name, "db2");
        assert_eq!(ssh.port, Some(2222));
        assert_eq!(config.nodes.cluster_flag(), "ssh");
        let reproduce = config.reproduce_command();
        assert!(
            reproduce
                .contains("--cluster ssh --host n1=10.0.0.1 --host db2=10.0.0.2 --ssh-user fl"),
            "{reproduce}"
        );
        for (words, needle) in [
            (&["--host", "10.0.0.1"][..], "--host is for --cluster ssh"),
            (&["--ssh-key", "k"][..], "--ssh-key is for --cluster ssh"),
            (&["--cluster", "ssh"][..], "at least one --host"),
            (
                &["--cluster", "ssh", "--host", "a", "--ssh-option=-v"][..],
                "KEY=VALUE",
            ),
            (
                &["--cluster", "ssh", "--host", "a", "--nodes", "3"][..],
                "--nodes is for a local cluster; an SSH cluster's nodes are its --host values",
            ),
            (
                &[
                    "--cluster",
                    "external",
                    "--node",
                    "http://127.0.0.1:1",
                    "--nodes",
                    "3",
                ][..],
                "--nodes is for a local cluster",
            ),
        ] {
            let e = test_args(words).config(1).expect_err("refused");
            assert!(e.contains(needle), "{words:?}: {e}");
        }
    }

    #[test]
    fn an_early_stop_says_after_which_test_and_why() {
        let dir = PathBuf::from("results/t/1");
        let verdict = |outcome, run_error: Option<&str>| Stop::Verdict {
            seed: 1235,
            outcome,
            run_dir: dir.clone(),
            run_error: run_error.map(str::to_owned),
        };
        let cases = [
            (
                verdict(Outcome::Invalid, None),
                "stopping after test 2 of 5: seed 1235 was invalid (see results/t/1)",
            ),
            (
                // An anomaly in a broken run is still the reason.
                verdict(Outcome::Invalid, Some("the cluster died")),
                "stopping after test 2 of 5: seed 1235 was invalid (see results/t/1)",
            ),
            (
                verdict(Outcome::Error, Some("the cluster died")),
                "stopping after test 2 of 5: seed 1235: the run failed: the cluster died (see results/t/1)",
            ),
            (
                verdict(Outcome::Unknown, None),
                "stopping after test 2 of 5: seed 1235 was unknown (a checker could not decide) (see results/t/1)",
            ),
            (Stop::Interrupted, "stopping after test 2 of 5: interrupted"),
            (
                Stop::NotStarted {
                    error: "external node n1 is unreachable".into(),
                    run_dir: Some(dir.clone()),
                },
                "stopping after test 2 of 5: the run failed to start: external node n1 is unreachable (see results/t/1)",
            ),
            (
                Stop::NotStarted {
                    error: "creating the results directory r: denied".into(),
                    run_dir: None,
                },
                "stopping after test 2 of 5: the run failed to start: creating the results directory r: denied",
            ),
        ];
        for (stop, want) in cases {
            assert_eq!(stop_message(2, 5, &stop), want);
        }
    }
}
