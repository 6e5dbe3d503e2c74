//! The configuration of one test, typed: the target and its nodes ([`crate::target`]), the
//! workload and nemesis by name or file, and the run's numbers. [`TestConfig::resolve`] reads
//! and validates the workload and nemesis files and checks everything against the target
//! before any node starts.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::checker::txn::ConsistencyModel;
use crate::client::HttpSpec;
use crate::nemesis::NemesisSpec;
use crate::target::{Nodes, Target};
use crate::workload::WorkloadSpec;

/// Everything one test run needs; `faultline test`'s flags after defaults, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct TestConfig {
    /// The system under test, with its own settings.
    pub target: Target,
    /// Who runs the nodes, and how many.
    pub nodes: Nodes,
    /// `--workload NAME|FILE`.
    pub workload: String,
    /// `--nemesis NAME|FILE`.
    pub nemesis: String,
    /// `--nemesis-interval`; `None` = the schedule's own pace.
    pub nemesis_interval: Option<Duration>,
    /// Client workers.
    pub concurrency: usize,
    /// Upper bound on client ops/s; `None` = unlimited.
    pub rate: Option<f64>,
    /// Length of the main phase.
    pub time_limit: Duration,
    /// Seed of the op and fault sequence (every random choice derives from it, see
    /// [`crate::seed`]).
    pub seed: u64,
    /// The results root.
    pub results: PathBuf,
    /// Time the checker may take.
    pub check_timeout: Duration,
    /// `--consistency-model`: the model the transactional checkers (list-append,
    /// rw-register) judge against, instead of the workload's own.
    pub consistency_model: Option<ConsistencyModel>,
}

/// The config with its workload and nemesis files read and validated against the target.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The config as given.
    pub config: TestConfig,
    /// The workload.
    pub workload: WorkloadSpec,
    /// The fault schedule, as it will run.
    pub nemesis: NemesisSpec,
    /// The pace of faults.
    pub interval: Duration,
    /// `--target http`'s client spec, validated against the workload and nemesis.
    pub client: Option<HttpSpec>,
}

impl Resolved {
    /// The test's name in the results store, with the client spec's `name` when it has one.
    pub fn test_name(&self) -> String {
        let service = self.client.as_ref().and_then(|s| s.name.as_deref());
        self.config.test_name(&self.workload.name, service)
    }
}

impl TestConfig {
    /// Reads and validates the workload and nemesis, and checks the numbers and the target,
    /// before anything starts. Every error names the flag or file at fault.
    pub fn resolve(&self) -> Result<Resolved> {
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if let Some(rate) = self.rate {
            if !rate.is_finite() || rate <= 0.0 {
                bail!("--rate must be a positive number of ops per second, got {rate}");
            }
        }
        let mut workload = match self.target.own_workload(&self.workload) {
            Some(text) => WorkloadSpec::from_toml(
                text,
                &format!("builtin:{}/{}", self.target.name(), self.workload),
            ),
            None => WorkloadSpec::load(&self.workload),
        }
        .with_context(|| format!("--workload {}", self.workload))?;
        if let Some(model) = self.consistency_model {
            if !workload.set_consistency_model(model) {
                bail!(
                    "--consistency-model is for transactional workloads (list-append, rw-register, txn-list-append, txn-rw-register); --workload {} has no transaction checker",
                    self.workload
                );
            }
        }
        let nemesis = NemesisSpec::load(&self.nemesis)
            .with_context(|| format!("--nemesis {}", self.nemesis))?;
        let (nemesis, client) = self.target.validate(&self.nodes, &workload, nemesis)?;
        let interval = nemesis.pace(self.nemesis_interval);
        if interval.is_zero() {
            bail!("--nemesis-interval must be more than 0 seconds");
        }
        Ok(Resolved {
            config: self.clone(),
            workload,
            nemesis,
            interval,
            client,
        })
    }

    /// The test's name in the results store: target (or the service's name, see
    /// [`Target::test_name`]), `external`, target settings, workload, nemesis.
    pub fn test_name(&self, workload: &str, service: Option<&str>) -> String {
        self.target
            .test_name(&self.nodes, workload, &file_or_name(&self.nemesis), service)
    }

    /// The test's name when its workload, nemesis or client spec could not be read: the
    /// workload as given on the command line (a builtin name, or a file's stem).
    pub fn unresolved_test_name(&self) -> String {
        self.test_name(&file_or_name(&self.workload), None)
    }

    /// The command line that reruns this test with the same ops and faults.
    pub fn reproduce_command(&self) -> String {
        let mut cmd = vec![
            "faultline".to_owned(),
            "test".into(),
            "--target".into(),
            self.target.name().into(),
        ];
        match &self.nodes {
            Nodes::Local { count } => {
                cmd.extend(["--nodes".into(), count.to_string()]);
            }
            Nodes::External { nodes } => {
                cmd.extend(["--cluster".into(), self.nodes.cluster_flag().into()]);
                for node in nodes {
                    cmd.extend(["--node".into(), format!("{}={}", node.name, node.url)]);
                }
            }
            Nodes::Ssh { hosts, ssh } => {
                cmd.extend(["--cluster".into(), self.nodes.cluster_flag().into()]);
                for h in hosts {
                    cmd.extend(["--host".into(), format!("{}={}", h.name, h.host)]);
                }
                cmd.extend(ssh.flags());
            }
        }
        cmd.extend([
            "--workload".into(),
            self.workload.clone(),
            "--nemesis".into(),
            self.nemesis.clone(),
            "--concurrency".into(),
            self.concurrency.to_string(),
            "--time-limit".into(),
            self.time_limit.as_secs_f64().to_string(),
            "--seed".into(),
            self.seed.to_string(),
        ]);
        if let Some(i) = self.nemesis_interval {
            cmd.extend(["--nemesis-interval".into(), i.as_secs_f64().to_string()]);
        }
        if let Some(m) = self.consistency_model {
            cmd.extend(["--consistency-model".into(), m.name().into()]);
        }
        cmd.extend([
            "--rate".into(),
            self.rate.map_or_else(|| "0".to_owned(), |r| r.to_string()),
        ]);
        cmd.extend(self.target.flags());
        cmd.join(" ")
    }
}

/// A workload's or nemesis's short name for the test name: a builtin name, or a file's stem.
fn file_or_name(arg: &str) -> String {
    std::path::Path::new(arg)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| arg.to_string())
}
