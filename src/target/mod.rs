//! The systems under test, typed: which target, on which nodes, and how a test starts them.
//! One module per target ([`raftkv`], [`etcd`], [`http`]), each owning its flags, checking
//! them and the workload and nemesis against what it can do, and starting its nodes, clients
//! and fault backends. The runner only sees [`Target`], [`Nodes`] and [`Started`].
//!
//! | target | `Nodes::Local` | `Nodes::External` |
//! |---|---|---|
//! | raftkv | raftkv processes on 127.0.0.1, links through the proxy mesh | your nodes, faults by `[commands]` |
//! | etcd | etcd in network namespaces, iptables faults, root only | your nodes, faults by `[commands]` |
//! | http | the `--db` spec's binary in network namespaces, iptables faults, root only | your nodes through the `--client` spec, faults by `[commands]` |
//! | maelstrom | your Maelstrom node binary on faultline's in-process message network | — |

pub mod etcd;
pub mod http;
pub mod http_local;
pub mod http_ssh;
pub mod maelstrom;
pub mod raftkv;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::client::{ClientFactory, NodeInfo};
use crate::cluster::external::{ExternalLeader, Protocol};
use crate::cluster::LocalCluster;
use crate::nemesis::backend::{ClockFaults, CommandFaults, NetworkFaults, NoFaults, PowerFaults};
use crate::nemesis::spec::{FaultSpec, ProcessTarget};
use crate::nemesis::{FaultKind, Nemesis, NemesisSpec, PartitionMode};
use crate::node_addr::ExternalNode;
use crate::node_control::{LeaderProbe, ProcessControl};
use crate::workload::WorkloadSpec;

/// The system under test, with the settings only it has.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// raftkv, our own Raft store.
    Raftkv(raftkv::RaftkvTarget),
    /// etcd over its v3 JSON gateway.
    Etcd(etcd::EtcdTarget),
    /// Your own HTTP service, through a client spec.
    Http(http::HttpTarget),
    /// Your Maelstrom-protocol node binary, on faultline's message network.
    Maelstrom(maelstrom::MaelstromTarget),
}

/// Who runs the nodes.
#[derive(Debug, Clone, PartialEq)]
pub enum Nodes {
    /// faultline starts `count` nodes itself.
    Local {
        /// How many.
        count: usize,
    },
    /// Nodes the user runs; faultline only talks to them.
    External {
        /// The nodes, in `--node` order.
        nodes: Vec<ExternalNode>,
    },
    /// faultline runs a db spec's nodes on these hosts over SSH, one node per host.
    Ssh {
        /// The hosts, in `--host` order.
        hosts: Vec<crate::ssh::SshHost>,
        /// How to reach them.
        ssh: crate::ssh::SshOptions,
    },
}

impl Nodes {
    /// How many nodes.
    pub fn len(&self) -> usize {
        match self {
            Nodes::Local { count } => *count,
            Nodes::External { nodes } => nodes.len(),
            Nodes::Ssh { hosts, .. } => hosts.len(),
        }
    }

    /// Whether there are none (never, once validated).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `--cluster` value that selects this kind of nodes.
    pub fn cluster_flag(&self) -> &'static str {
        match self {
            Nodes::Local { .. } => "local",
            Nodes::External { .. } => "external",
            Nodes::Ssh { .. } => "ssh",
        }
    }

    /// Whether faultline runs them.
    pub fn is_local(&self) -> bool {
        matches!(self, Nodes::Local { .. })
    }

    /// Whether faultline starts the nodes, here or on SSH hosts.
    pub fn runs_nodes(&self) -> bool {
        matches!(self, Nodes::Local { .. } | Nodes::Ssh { .. })
    }
}

/// What a target needs from the run to start: where its files go, how to log, which seed.
pub struct StartContext<'a> {
    /// The run directory.
    pub dir: &'a Path,
    /// The fault journal's path.
    pub journal: PathBuf,
    /// The run log (one line per call).
    pub log: Arc<dyn Fn(&str) + Send + Sync>,
    /// The run's seed.
    pub seed: u64,
    /// A short random id for names this run creates outside its directory (namespaces, key
    /// prefixes).
    pub run_id: String,
    /// The validated workload.
    pub workload: &'a WorkloadSpec,
    /// The validated schedule.
    pub nemesis: &'a NemesisSpec,
}

/// A started (or, for external nodes, checked) system: its nodes, clients, nemesis, and the
/// cluster to stop at the end when faultline runs it.
pub struct Started {
    /// The nodes clients talk to.
    pub nodes: Vec<NodeInfo>,
    /// Opens one client per worker.
    pub factory: Box<dyn ClientFactory>,
    /// The nemesis over the target's fault backends.
    pub nemesis: Nemesis,
    /// The cluster faultline started, `None` for external nodes.
    pub cluster: Option<LocalCluster>,
    /// Processes faultline started outside a [`LocalCluster`] (Maelstrom's stdio nodes).
    pub running: Option<Arc<dyn OwnProcesses>>,
}

/// What a target runs outside a [`LocalCluster`] (the stdio nodes of `--target maelstrom`
/// and their network): stopped at teardown on every path, asked for its network counts for
/// `results.json`.
pub trait OwnProcesses: Send + Sync {
    /// Stops every process; returns what could not be cleaned up.
    fn stop(&self) -> Vec<String>;

    /// The message network's counts, when the target has one.
    fn network(&self) -> Option<crate::rundir::NetworkRecord> {
        None
    }
}

impl Target {
    /// The target's name on the command line (`--target NAME`).
    pub fn name(&self) -> &'static str {
        match self {
            Target::Raftkv(_) => "raftkv",
            Target::Etcd(_) => "etcd",
            Target::Http(_) => "http",
            Target::Maelstrom(_) => "maelstrom",
        }
    }

    /// The workload `--workload name` means for this target before faultline's own
    /// built-ins and files: the TOML text of a Maelstrom workload (`lin-kv`, `g-set`, ...)
    /// for `--target maelstrom`, nothing for the others.
    pub fn own_workload(&self, name: &str) -> Option<&'static str> {
        match self {
            Target::Maelstrom(_) => crate::maelstrom::workloads::builtin(name),
            _ => None,
        }
    }

    /// Checks the target against its nodes, the workload and the schedule, before anything
    /// starts; returns the schedule as it will run (an external cluster without `[commands]`
    /// gets none). Every error names the flag or file at fault.
    pub fn validate(
        &self,
        nodes: &Nodes,
        workload: &WorkloadSpec,
        mut nemesis: NemesisSpec,
    ) -> Result<(NemesisSpec, Option<crate::client::HttpSpec>)> {
        if nodes.is_empty() {
            bail!("--nodes must be at least 1");
        }
        if let Nodes::External { .. } = nodes {
            match &nemesis.commands {
                // Faults on an external cluster come only from its commands.
                None => nemesis.clear(),
                Some(commands) => {
                    let can = commands.kinds();
                    for k in nemesis.kinds().into_iter().filter(|k| !can.contains(k)) {
                        refuse_kind(
                            &mut nemesis,
                            k,
                            &format!(
                                "its schedule has {} faults but [commands] has no template for them (an external cluster's faults come from kill/start, pause/resume, partition/heal)",
                                k.name()
                            ),
                        )?;
                    }
                }
            }
        }
        if workload.kind == crate::workload::WorkloadKind::Kafka
            && !matches!(self, Target::Maelstrom(_))
        {
            bail!(
                "--workload {}: kafka workloads run only on --target maelstrom (its nodes speak Maelstrom's kafka messages)",
                workload.source
            );
        }
        if let (Nodes::Ssh { .. }, false) = (nodes, matches!(self, Target::Http(_))) {
            bail!(
                "--cluster ssh runs a db spec on the hosts: use --target http --db DB.toml --client SPEC.toml (db/raftkv.toml with examples/http/raftkv.toml, db/etcd.toml with examples/http/etcd-v3.toml; see docs/remote.md)"
            );
        }
        if nodes.is_local() {
            if let Err(why) = crate::powerfs::check_available() {
                refuse_kind(
                    &mut nemesis,
                    FaultKind::PowerLoss,
                    &format!("power-loss faults need faultline's FUSE filesystem over each node's data dir: {why}"),
                )?;
            }
        }
        let spec = match self {
            Target::Raftkv(t) => t.validate(nodes, &mut nemesis).map(|()| None),
            Target::Etcd(t) => t.validate(nodes, &mut nemesis).map(|()| None),
            Target::Http(t) => t.validate(nodes, workload, &mut nemesis).map(Some),
            Target::Maelstrom(t) => t.validate(nodes, workload, &mut nemesis).map(|()| None),
        }?;
        Ok((nemesis, spec))
    }

    /// The test's name in the results store: target (and `external`), target settings,
    /// workload, nemesis. `service` is the name the user gave their system (the client spec's
    /// `name`): it replaces `http` so each service's runs sit apart (`http-NAME` when the name
    /// is a built-in target's, so an HTTP-spec run of etcd never mixes with `--target etcd`).
    pub fn test_name(
        &self,
        nodes: &Nodes,
        workload: &str,
        nemesis: &str,
        service: Option<&str>,
    ) -> String {
        let mut name = match (self, service.and_then(service_slug)) {
            (Target::Http(_), Some(slug)) if TARGET_NAMES.contains(&slug.as_str()) => {
                format!("{}-{slug}", self.name())
            }
            (Target::Http(_), Some(slug)) => slug,
            _ => self.name().to_owned(),
        };
        match nodes {
            Nodes::Local { .. } => {}
            Nodes::External { .. } => name.push_str("-external"),
            Nodes::Ssh { .. } => name.push_str("-ssh"),
        }
        let (infix, suffix) = match self {
            Target::Raftkv(t) => (String::new(), t.name_suffix()),
            Target::Etcd(t) => (t.name_infix(), String::new()),
            Target::Http(_) | Target::Maelstrom(_) => (String::new(), String::new()),
        };
        format!("{name}{infix}-{workload}-{nemesis}{suffix}")
    }

    /// The target's own flags, as a reproducing command line gives them.
    pub fn flags(&self) -> Vec<String> {
        match self {
            Target::Raftkv(t) => t.flags(),
            Target::Etcd(t) => t.flags(),
            Target::Http(t) => t.flags(),
            Target::Maelstrom(t) => t.flags(),
        }
    }

    /// Starts (or checks) the target's nodes and builds its clients and nemesis.
    pub async fn start(
        &self,
        nodes: &Nodes,
        spec: Option<&crate::client::HttpSpec>,
        ctx: &StartContext<'_>,
    ) -> Result<Started> {
        match (self, nodes) {
            (Target::Raftkv(t), Nodes::Local { count }) => t.start_local(*count, ctx).await,
            (Target::Etcd(t), Nodes::Local { count }) => t.start_local(*count, ctx).await,
            (Target::Raftkv(t), Nodes::External { nodes }) => {
                start_external(nodes, Protocol::Raftkv, ctx, |n| t.factory(n, ctx)).await
            }
            (Target::Etcd(t), Nodes::External { nodes }) => {
                start_external(nodes, Protocol::Etcd, ctx, |n| t.factory(n, ctx)).await
            }
            (Target::Http(t), Nodes::External { nodes }) => {
                let spec = spec.context("--target http: the client spec was not loaded")?;
                t.start_external(nodes, spec, ctx).await
            }
            (Target::Http(t), Nodes::Local { count }) => {
                let spec = spec.context("--target http: the client spec was not loaded")?;
                t.start_local(*count, spec, ctx).await
            }
            (Target::Maelstrom(t), Nodes::Local { count }) => t.start_local(*count, ctx).await,
            (Target::Maelstrom(_), Nodes::External { .. }) => {
                bail!("--target maelstrom runs its nodes itself (--cluster local)")
            }
            (Target::Http(t), Nodes::Ssh { hosts, ssh }) => {
                let spec = spec.context("--target http: the client spec was not loaded")?;
                t.start_ssh(hosts, ssh, spec, ctx).await
            }
            (_, Nodes::Ssh { .. }) => bail!("--cluster ssh needs --target http and --db"),
        }
    }
}

/// Every target's [`Target::name`] (a service named like one is told apart in run names).
pub const TARGET_NAMES: &[&str] = &["raftkv", "etcd", "http", "maelstrom"];

/// Longest service name kept in a run directory's name.
const MAX_SLUG: usize = 48;

/// A service's name as one safe piece of a path component (pure): ASCII letters, digits, `_`
/// and `.` kept, every other run of characters one `-`, no leading or trailing `-` or `.`, at
/// most [`MAX_SLUG`] characters; `None` when nothing is left.
pub fn service_slug(name: &str) -> Option<String> {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug
        .trim_matches(['-', '.'])
        .chars()
        .take(MAX_SLUG)
        .collect();
    let slug = slug.trim_end_matches(['-', '.']);
    (!slug.is_empty()).then(|| slug.to_owned())
}

/// The first fault of `nemesis` that hits "the leader", as written in TOML (pure).
pub fn leader_fault(nemesis: &NemesisSpec) -> Option<&'static str> {
    nemesis.fault_specs().find_map(|fault| match fault {
        FaultSpec::Kill(ProcessTarget::Leader) => Some("kill target \"leader\""),
        FaultSpec::Pause(ProcessTarget::Leader) => Some("pause target \"leader\""),
        FaultSpec::PowerLoss(ProcessTarget::Leader) => Some("power-loss target \"leader\""),
        FaultSpec::Partition {
            mode: PartitionMode::Leader,
            ..
        } => Some("partition mode \"leader\""),
        _ => None,
    })
}

/// For a cluster whose backend cannot apply faults of `kind`: drops the family from the
/// schedule with `why` noted when the schedule marks it optional (`mixed`'s power loss, file
/// corruption and clocks), else refuses a schedule that has it (exit 3).
pub fn refuse_kind(nemesis: &mut NemesisSpec, kind: FaultKind, why: &str) -> Result<()> {
    if nemesis.skip(kind, why) {
        return Ok(());
    }
    if nemesis.kinds().contains(&kind) {
        bail!("--nemesis {}: {why}", nemesis.source);
    }
    Ok(())
}

/// Node infos for clients, from external nodes.
pub fn external_infos(nodes: &[ExternalNode]) -> Vec<NodeInfo> {
    nodes
        .iter()
        .map(|n| NodeInfo {
            name: n.name.clone(),
            http: n.url.clone(),
        })
        .collect()
}

/// The nemesis of an external cluster: the nemesis file's `[commands]` for both families (or
/// no faults at all without them), "the leader" from `leader`.
pub fn external_nemesis(
    nodes: &[ExternalNode],
    leader: Arc<dyn LeaderProbe>,
    ctx: &StartContext<'_>,
) -> Result<Nemesis> {
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let (network, processes): (Box<dyn NetworkFaults>, Arc<dyn ProcessControl>) =
        match &ctx.nemesis.commands {
            Some(templates) => {
                let log = Arc::clone(&ctx.log);
                let backend = CommandFaults::new(
                    nodes.to_vec(),
                    templates.clone(),
                    Arc::new(move |line: &str| log(line)),
                );
                (Box::new(backend.clone()), Arc::new(backend))
            }
            None => {
                let note = format!(
                "external cluster: {} has no [commands], so no faults are injected (nemesis none)",
                ctx.nemesis.source
            );
                eprintln!("faultline test: {note}");
                (ctx.log)(&note);
                (Box::new(NoFaults), Arc::new(NoFaults))
            }
        };
    Nemesis::new(names, network, processes, leader, &ctx.journal)
        .context("opening the fault journal")
}

/// The nemesis of a cluster faultline runs: network faults through `network`, process faults
/// by signals to its own processes, the leader from its launcher, journaling to `journal`.
pub fn local_nemesis(
    local: &LocalCluster,
    network: Box<dyn NetworkFaults>,
    journal: &Path,
) -> Result<Nemesis> {
    let nemesis = Nemesis::new(
        local.names(),
        network,
        Arc::new(local.clone()),
        Arc::new(local.clone()),
        journal,
    )
    .context("opening the fault journal")?
    .with_files(Arc::new(local.clone()));
    Ok(with_power(with_clocks(nemesis, local), local))
}

/// `nemesis`, able to cut the power of `local`'s nodes when their data dirs sit on
/// power-loss filesystems (the schedule has power-loss faults).
pub fn with_power(nemesis: Nemesis, local: &LocalCluster) -> Nemesis {
    if local.has_power_loss() {
        nemesis.with_power(PowerFaults::new(Arc::new(local.clone())))
    } else {
        nemesis
    }
}

/// `nemesis`, able to skew the clocks of `local`'s nodes when they run under libfaketime
/// (the schedule has clock faults).
pub fn with_clocks(nemesis: Nemesis, local: &LocalCluster) -> Nemesis {
    match local.clock_files() {
        Some(files) => nemesis.with_clocks(ClockFaults::new(files)),
        None => nemesis,
    }
}

/// A started local cluster with its clients' `nodes`, clients from `factory`, and `nemesis`.
pub fn started_local(
    local: LocalCluster,
    nemesis: Nemesis,
    nodes: Vec<NodeInfo>,
    factory: impl FnOnce(&[NodeInfo]) -> Result<Box<dyn ClientFactory>>,
) -> Result<Started> {
    Ok(Started {
        factory: factory(&nodes)?,
        nodes,
        nemesis,
        cluster: Some(local),
        running: None,
    })
}

/// What a target with a built-in protocol does for external nodes: checks each answers over
/// `protocol`, builds the `[commands]` nemesis with the protocol's leader probe, and clients
/// from `factory`.
pub async fn start_external(
    nodes: &[ExternalNode],
    protocol: Protocol,
    ctx: &StartContext<'_>,
    factory: impl FnOnce(&[NodeInfo]) -> Result<Box<dyn ClientFactory>>,
) -> Result<Started> {
    crate::cluster::external::check_reachable(nodes, protocol).await?;
    let nemesis = external_nemesis(nodes, external_leader(nodes, protocol), ctx)?;
    let infos = external_infos(nodes);
    Ok(Started {
        factory: factory(&infos)?,
        nodes: infos,
        nemesis,
        cluster: None,
        running: None,
    })
}

/// The leader probe of an external cluster speaking `protocol`.
pub fn external_leader(nodes: &[ExternalNode], protocol: Protocol) -> Arc<dyn LeaderProbe> {
    Arc::new(ExternalLeader {
        nodes: nodes.to_vec(),
        protocol,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skipped(nemesis: &NemesisSpec) -> Vec<FaultKind> {
        nemesis.skipped.iter().map(|s| s.kind).collect()
    }

    #[test]
    fn mixed_drops_what_a_cluster_cannot_inject_and_an_explicit_schedule_is_refused() {
        let workload = WorkloadSpec::load("cas-register").expect("workload");
        let mixed = || NemesisSpec::from_builtin("mixed").expect("mixed");
        let local = Nodes::Local { count: 3 };
        // etcd is a Go binary: no clocks (power loss depends on this machine's FUSE).
        let etcd = Target::Etcd(etcd::EtcdTarget::default());
        let (run, _) = etcd
            .validate(&local, &workload, mixed())
            .expect("mixed on etcd");
        assert!(
            skipped(&run).contains(&FaultKind::Clock),
            "{:?}",
            run.skipped
        );
        assert!(!run.kinds().contains(&FaultKind::Clock));
        assert!(run.kinds().contains(&FaultKind::FileCorruption));
        let line = run.skipped[0].to_string();
        assert!(
            line.starts_with("skipped: clock (etcd is a Go binary"),
            "{line}"
        );
        let clock = NemesisSpec::from_builtin("clock").expect("clock");
        let e = etcd
            .validate(&local, &workload, clock)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--nemesis clock: etcd is a Go binary"), "{e}");
        // External nodes: only what [commands] has templates for; without, no faults at all.
        let raftkv = Target::Raftkv(raftkv::RaftkvTarget::default());
        let (run, _) = raftkv
            .validate(&external(), &workload, mixed())
            .expect("external");
        assert!(run.is_empty());
        let mut with_commands = mixed();
        with_commands.commands = NemesisSpec::from_toml(
            "[commands]\npartition = \"p {node}\"\nheal = \"h {node}\"\n\
             kill = \"k {node}\"\nstart = \"s {node}\"\npause = \"z {node}\"\nresume = \"r {node}\"\n",
            "c",
        )
        .expect("commands")
        .commands;
        let (run, _) = raftkv
            .validate(&external(), &workload, with_commands)
            .expect("external with commands");
        assert_eq!(
            skipped(&run),
            [
                FaultKind::Clock,
                FaultKind::FileCorruption,
                FaultKind::PowerLoss
            ]
        );
        assert_eq!(
            run.kinds(),
            [FaultKind::Partition, FaultKind::Pause, FaultKind::Kill]
        );
    }

    fn external() -> Nodes {
        Nodes::External {
            nodes: crate::node_addr::parse_nodes(&["http://127.0.0.1:7001".to_string()])
                .unwrap_or_else(|e| panic!("{e}")),
        }
    }

    #[test]
    fn an_http_run_is_named_after_its_service() {
        let http = Target::Http(http::HttpTarget {
            client: "s.toml".into(),
            db: None,
        });
        let name = |service| http.test_name(&external(), "cas-register", "mixed", service);
        assert_eq!(name(None), "http-external-cas-register-mixed");
        assert_eq!(
            name(Some("my-service")),
            "my-service-external-cas-register-mixed"
        );
        assert_eq!(
            name(Some("../My Service/v2 ")),
            "My-Service-v2-external-cas-register-mixed"
        );
        assert_eq!(name(Some(" /// ")), "http-external-cas-register-mixed");
        assert_eq!(
            name(Some("etcd")),
            "http-etcd-external-cas-register-mixed",
            "never mixed with --target etcd's runs"
        );
        // Only the http target takes a service name.
        let raftkv = Target::Raftkv(raftkv::RaftkvTarget {
            bugs: Vec::new(),
            bin: None,
            base_port: None,
            lease_reads: false,
        });
        assert_eq!(
            raftkv.test_name(&Nodes::Local { count: 3 }, "register", "none", Some("x")),
            "raftkv-register-none"
        );
        let etcd = Target::Etcd(etcd::EtcdTarget {
            serializable_reads: false,
            bin: None,
        });
        for t in [&http, &raftkv, &etcd] {
            assert!(TARGET_NAMES.contains(&t.name()), "{}", t.name());
        }
    }

    #[test]
    fn service_slugs_are_safe_path_pieces() {
        for (given, want) in [
            ("etcd", Some("etcd")),
            ("kv_store.v1", Some("kv_store.v1")),
            ("..", None),
            ("", None),
            ("a/../../b", Some("a-..-..-b")),
            ("naïve kv", Some("na-ve-kv")),
            ("-.x.-", Some("x")),
        ] {
            assert_eq!(service_slug(given).as_deref(), want, "{given:?}");
        }
        let long = service_slug(&"x".repeat(200)).unwrap_or_default();
        assert_eq!(long.len(), MAX_SLUG);
        for given in ["a/../../b", "x/y", "..", "é"] {
            let slug = service_slug(given).unwrap_or_default();
            assert!(
                !slug.contains('/') && slug != ".." && slug.is_ascii(),
                "{slug}"
            );
        }
    }
}
