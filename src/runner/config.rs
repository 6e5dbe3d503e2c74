//! The resolved configuration of one test, as stored in `test.json`, and its validation
//! (workload and nemesis files are read and checked before any node starts).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::nemesis::{FaultKind, NemesisSpec};
use crate::workload::WorkloadSpec;

/// Everything one test run needs; `faultline test`'s flags after defaults.
#[derive(Debug, Clone, Serialize)]
pub struct TestConfig {
    /// The system under test (`raftkv`, `etcd` or `http`): which client protocol, and which
    /// nodes a local cluster runs.
    pub target: String,
    /// Who runs the nodes: `local` (faultline starts them) or `external` (`node_urls`).
    pub cluster: String,
    /// Nodes in the local cluster.
    pub nodes: usize,
    /// `--node [NAME=]URL` of an external cluster, in order.
    pub node_urls: Vec<String>,
    /// etcd reads with `"serializable": true` (local, possibly stale).
    pub etcd_serializable_reads: bool,
    /// The etcd binary, when given explicitly.
    pub etcd_bin: Option<PathBuf>,
    /// `--client SPEC.toml`: the templated client spec of `--target http`.
    pub client: Option<PathBuf>,
    /// `--workload NAME|FILE`.
    pub workload: String,
    /// `--nemesis NAME|FILE`.
    pub nemesis: String,
    /// `--nemesis-interval`; `None` = the schedule's own pace.
    #[serde(with = "opt_secs")]
    pub nemesis_interval: Option<Duration>,
    /// Client workers.
    pub concurrency: usize,
    /// Upper bound on client ops/s; `None` = unlimited.
    pub rate: Option<f64>,
    /// Length of the main phase.
    #[serde(with = "secs")]
    pub time_limit: Duration,
    /// Seed of the op and fault sequence.
    pub seed: u64,
    /// Deliberate raftkv bugs to switch on.
    pub raftkv_bugs: Vec<String>,
    /// The results root.
    pub results: PathBuf,
    /// The raftkv binary, when given explicitly.
    pub raftkv_bin: Option<PathBuf>,
    /// Fixed base port for the local cluster; `None` picks free ports.
    pub base_port: Option<u16>,
    /// Time the checker may take.
    #[serde(with = "secs")]
    pub check_timeout: Duration,
}

/// The config with its workload and nemesis files read and validated.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The config as given.
    pub config: TestConfig,
    /// The workload.
    pub workload: WorkloadSpec,
    /// The fault schedule.
    pub nemesis: NemesisSpec,
    /// The pace of faults.
    pub interval: Duration,
    /// `--target http`'s client spec, validated against the workload and nemesis.
    pub client: Option<crate::client::HttpSpec>,
}

impl TestConfig {
    /// Reads and validates the workload and nemesis, and checks the numbers, before anything
    /// starts. Every error names the flag or file at fault.
    pub fn resolve(&self) -> Result<Resolved> {
        if !TARGETS.contains(&self.target.as_str()) {
            bail!(
                "--target {}: expected one of {}",
                self.target,
                TARGETS.join(", ")
            );
        }
        let client_file = super::http_target::check_flags(self)?;
        let external = match self.cluster.as_str() {
            "local" => false,
            "external" => true,
            other => bail!("--cluster {other}: expected local or external"),
        };
        if external {
            crate::cluster::external::parse_nodes(&self.node_urls).map_err(anyhow::Error::msg)?;
        } else if !self.node_urls.is_empty() {
            bail!("--node is for --cluster external; a local cluster's size is --nodes");
        }
        if self.nodes == 0 {
            bail!("--nodes must be at least 1");
        }
        if self.target != "etcd" && self.etcd_serializable_reads {
            bail!("--etcd-serializable-reads needs --target etcd");
        }
        if (self.target != "raftkv" || external) && !self.raftkv_bugs.is_empty() {
            bail!("--raftkv-bug needs a local raftkv cluster (--target raftkv --cluster local)");
        }
        if (self.target != "raftkv" || external) && self.base_port.is_some() {
            bail!("--base-port is for a local raftkv cluster");
        }
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if let Some(rate) = self.rate {
            if !rate.is_finite() || rate <= 0.0 {
                bail!("--rate must be a positive number of ops per second, got {rate}");
            }
        }
        let workload = WorkloadSpec::load(&self.workload)
            .with_context(|| format!("--workload {}", self.workload))?;
        let mut nemesis = NemesisSpec::load(&self.nemesis)
            .with_context(|| format!("--nemesis {}", self.nemesis))?;
        let kinds = nemesis.kinds();
        if external {
            match &nemesis.commands {
                // Faults on an external cluster come only from its commands.
                None => nemesis.faults.clear(),
                Some(commands) => {
                    let can = commands.kinds();
                    if let Some(k) = kinds.iter().find(|k| !can.contains(k)) {
                        bail!(
                            "--nemesis {}: its schedule has {} faults but [commands] has no template for them (an external cluster's faults come from kill/start, pause/resume, partition/heal)",
                            self.nemesis,
                            k.name()
                        );
                    }
                }
            }
        } else if self.target == "etcd" && kinds.contains(&FaultKind::Delay) {
            bail!(
                "--nemesis {}: link delay is not available for --target etcd (packet loss, partitions, kills and pauses are)",
                self.nemesis
            );
        }
        let client = client_file
            .map(|path| super::http_target::load_spec(path, &workload, &nemesis))
            .transpose()?;
        let interval = nemesis.pace(self.nemesis_interval);
        if interval.is_zero() {
            bail!("--nemesis-interval must be more than 0 seconds");
        }
        for bug in &self.raftkv_bugs {
            if !RAFTKV_BUGS.contains(&bug.as_str()) {
                bail!(
                    "--raftkv-bug {bug:?}: unknown bug; expected one of {}",
                    RAFTKV_BUGS.join(", ")
                );
            }
        }
        Ok(Resolved {
            config: self.clone(),
            workload,
            nemesis,
            interval,
            client,
        })
    }

    /// The test's name in the results store: target (and `external`), workload, nemesis, and
    /// any bugs.
    pub fn test_name(&self, workload: &str, nemesis: &str) -> String {
        let mut name = self.target.clone();
        if self.cluster == "external" {
            name.push_str("-external");
        }
        if self.etcd_serializable_reads {
            name.push_str("-serializable");
        }
        let mut name = format!("{name}-{workload}-{nemesis}");
        for bug in &self.raftkv_bugs {
            name.push_str("-bug-");
            name.push_str(bug);
        }
        name
    }
}

/// The systems `faultline test` can drive.
pub const TARGETS: &[&str] = &["raftkv", "etcd", "http"];

/// The bugs the raftkv binary can switch on (`raftkv --bug NAME`).
pub const RAFTKV_BUGS: &[&str] = &[
    "stale-read",
    "early-ack",
    "volatile-vote",
    "commit-old-term",
];

mod secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

mod opt_secs {
    use serde::Serializer;
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}
