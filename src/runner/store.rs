//! The results store: one directory per run, `results/<test>/<timestamp>/`, holding
//! `test.json` (the resolved config and seed), `history.jsonl`, `results.json`, node logs and
//! `faultline.log`; `results/latest` is a symlink to the newest run. The directory and its
//! records live in [`crate::rundir`]; this module keeps the runner's paths to them and fills
//! the config record from the runner's config.

pub use crate::rundir::{RunDir, RunLog};

use super::config::TestConfig;
use crate::rundir::ConfigRecord;

/// The flags of `config` as `test.json` stores them.
pub fn config_record(c: &TestConfig) -> ConfigRecord {
    ConfigRecord {
        target: c.target.clone(),
        cluster: c.cluster.clone(),
        nodes: c.nodes as u64,
        node_urls: c.node_urls.clone(),
        etcd_serializable_reads: c.etcd_serializable_reads,
        etcd_bin: c.etcd_bin.clone(),
        client: c.client.clone(),
        workload: c.workload.clone(),
        nemesis: c.nemesis.clone(),
        nemesis_interval: c.nemesis_interval.map(|d| d.as_secs_f64()),
        concurrency: c.concurrency as u64,
        rate: c.rate,
        time_limit: c.time_limit.as_secs_f64(),
        seed: Some(c.seed),
        raftkv_bugs: c.raftkv_bugs.clone(),
        results: c.results.clone(),
        raftkv_bin: c.raftkv_bin.clone(),
        base_port: c.base_port,
        check_timeout: c.check_timeout.as_secs_f64(),
    }
}
