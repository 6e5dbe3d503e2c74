//! `--target etcd`: etcd over its v3 JSON gateway, with the built-in client. A local cluster
//! is the generic `--db` path running the embedded `db/etcd.toml` ([`crate::cluster::etcd`]):
//! etcd in network namespaces (root only; partitions and loss are iptables drops, delay is
//! not available), the leader from the members' maintenance status;
//! external etcd nodes are faulted by the nemesis file's `[commands]`. Keys live under a
//! per-run prefix, so runs against the same cluster never share them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{refuse_kind, Nodes, StartContext, Started};
use crate::client::{ClientFactory, EtcdFactory, EtcdOptions, NodeInfo};
use crate::cluster::etcd::{self as etcd_cluster, EtcdCluster, EtcdClusterOptions, EtcdLeader};
use crate::cluster::locate_etcd;
use crate::nemesis::backend::IptablesFaults;
use crate::nemesis::{FaultKind, Nemesis, NemesisSpec};

/// How long a local etcd cluster may take to be healthy with a leader.
const STARTUP: Duration = Duration::from_secs(60);

/// etcd's settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EtcdTarget {
    /// Read with `"serializable": true` (answered by the node alone, possibly stale), to
    /// reproduce etcd's stale-read anomaly on purpose.
    pub serializable_reads: bool,
    /// The etcd binary for a local cluster, when given explicitly.
    pub bin: Option<PathBuf>,
}

impl EtcdTarget {
    /// A local cluster cannot delay links (every workload's profile has an etcd mapping).
    pub fn validate(&self, nodes: &Nodes, nemesis: &mut NemesisSpec) -> Result<()> {
        if nodes.is_local() {
            refuse_kind(
                nemesis,
                FaultKind::Delay,
                "link delay is not available for --target etcd (packet loss, partitions, kills and pauses are)",
            )?;
            refuse_kind(
                nemesis,
                FaultKind::Clock,
                "etcd is a Go binary: Go reads the clock through the vDSO, not libc, so libfaketime cannot skew it",
            )?;
        }
        Ok(())
    }

    /// `-serializable` when reads are serializable, for the test name.
    pub fn name_infix(&self) -> String {
        if self.serializable_reads {
            "-serializable".into()
        } else {
            String::new()
        }
    }

    /// The flags that reproduce these settings.
    pub fn flags(&self) -> Vec<String> {
        if self.serializable_reads {
            vec!["--etcd-serializable-reads".into()]
        } else {
            Vec::new()
        }
    }

    /// Clients for `nodes`, through the workload's profile.
    pub fn factory(
        &self,
        nodes: &[NodeInfo],
        ctx: &StartContext<'_>,
    ) -> Result<Box<dyn ClientFactory>> {
        let options = EtcdOptions {
            serializable_reads: self.serializable_reads,
            // A per-run prefix: runs against the same (external) cluster never share keys.
            key_prefix: format!("faultline/{}/", ctx.run_id),
            profile: ctx.workload.client_profile(),
            ..EtcdOptions::default()
        };
        Ok(Box::new(
            EtcdFactory::new(nodes, options).context("setting up the etcd client")?,
        ))
    }

    /// Starts `count` etcd nodes, each in its own network namespace.
    pub async fn start_local(&self, count: usize, ctx: &StartContext<'_>) -> Result<Started> {
        let binary = locate_etcd(self.bin.as_deref())?;
        let cluster = etcd_cluster::start(EtcdClusterOptions {
            nodes: count,
            binary,
            dir: ctx.dir.to_path_buf(),
            run_id: ctx.run_id.clone(),
            startup_timeout: STARTUP,
            power_loss: ctx.nemesis.kinds().contains(&FaultKind::PowerLoss),
        })
        .await
        .context("starting the local etcd cluster")?;
        let plan = cluster.network();
        (ctx.log)(&format!(
            "private network {}: bridge {} at {}",
            plan.prefix, plan.bridge, plan.gateway
        ));
        let nemesis = local_nemesis(&cluster, &ctx.journal)?;
        let nodes: Vec<NodeInfo> = etcd_cluster::client_urls(&cluster)
            .into_iter()
            .map(|(name, http)| NodeInfo { name, http })
            .collect();
        super::started_local(cluster.cluster().clone(), nemesis, nodes, |infos| {
            self.factory(infos, ctx)
        })
    }
}

/// The nemesis of a local etcd cluster: network faults as iptables rules in its namespaces,
/// process faults by signals, the leader from maintenance status, journaling to `journal`.
pub fn local_nemesis(cluster: &EtcdCluster, journal: &std::path::Path) -> Result<Nemesis> {
    let leader = EtcdLeader::new(etcd_cluster::client_urls(cluster))?;
    let nemesis = Nemesis::new(
        cluster.names(),
        Box::new(IptablesFaults::new(cluster.network().clone())),
        Arc::new(cluster.cluster().clone()),
        Arc::new(leader),
        journal,
    )
    .context("opening the fault journal")?
    .with_files(Arc::new(cluster.cluster().clone()));
    Ok(super::with_power(nemesis, cluster.cluster()))
}
