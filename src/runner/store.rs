//! The results store: one directory per run, `results/<test>/<timestamp>/`, holding
//! `test.json` (the resolved config and seed), `history.jsonl`, `results.json`, node logs and
//! `faultline.log`; `results/latest` is a symlink to the newest run. The directory and its
//! records live in [`crate::rundir`]; this module keeps the runner's paths to them and fills
//! the config record from the runner's config.

pub use crate::rundir::{RunDir, RunLog};

use super::config::TestConfig;
use crate::rundir::ConfigRecord;
use crate::target::raftkv::bug_flag;
use crate::target::{Nodes, Target};

/// The flags of `config` as `test.json` stores them.
pub fn config_record(c: &TestConfig) -> ConfigRecord {
    let (raftkv, etcd, client) = match &c.target {
        Target::Raftkv(t) => (Some(t), None, None),
        Target::Etcd(t) => (None, Some(t), None),
        Target::Http(t) => (None, None, Some(t.client.clone())),
        Target::Maelstrom(_) => (None, None, None),
    };
    let node_urls = match &c.nodes {
        Nodes::Local { .. } | Nodes::Ssh { .. } => Vec::new(),
        Nodes::External { nodes } => nodes
            .iter()
            .map(|n| format!("{}={}", n.name, n.url))
            .collect(),
    };
    let (hosts, ssh_flags) = match &c.nodes {
        Nodes::Ssh { hosts, ssh } => (
            hosts
                .iter()
                .map(|h| format!("{}={}", h.name, h.host))
                .collect(),
            ssh.flags(),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    ConfigRecord {
        hosts,
        ssh_flags,
        target: c.target.name().to_owned(),
        cluster: c.nodes.cluster_flag().to_owned(),
        nodes: c.nodes.len() as u64,
        node_urls,
        etcd_serializable_reads: etcd.is_some_and(|e| e.serializable_reads),
        etcd_bin: etcd.and_then(|e| e.bin.clone()),
        client,
        workload: c.workload.clone(),
        nemesis: c.nemesis.clone(),
        nemesis_interval: c.nemesis_interval.map(|d| d.as_secs_f64()),
        concurrency: c.concurrency as u64,
        rate: c.rate,
        time_limit: c.time_limit.as_secs_f64(),
        seed: Some(c.seed),
        raftkv_bugs: raftkv
            .map(|r| r.bugs.iter().map(|b| bug_flag(*b)).collect())
            .unwrap_or_default(),
        results: c.results.clone(),
        raftkv_bin: raftkv.and_then(|r| r.bin.clone()),
        base_port: raftkv.and_then(|r| r.base_port),
        check_timeout: c.check_timeout.as_secs_f64(),
        consistency_model: c.consistency_model.map(|m| m.name().to_owned()),
        target_flags: match &c.target {
            Target::Maelstrom(t) => t.flags(),
            _ => Vec::new(),
        },
    }
}
