//! `--target etcd`: etcd over its v3 JSON gateway. A local cluster runs etcd in network
//! namespaces (root only; partitions and loss are iptables drops, delay is not available);
//! external etcd nodes are faulted by the nemesis file's `[commands]`. Keys live under a
//! per-run prefix, so runs against the same cluster never share them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{
    external_infos, external_leader, external_nemesis, refuse_kind, Nodes, StartContext, Started,
};
use crate::client::{EtcdFactory, EtcdOptions, NodeInfo};
use crate::cluster::etcd::{self as etcd_cluster, EtcdCluster, EtcdClusterOptions};
use crate::cluster::external::{self, Protocol};
use crate::cluster::locate_etcd;
use crate::nemesis::backend::IptablesFaults;
use crate::nemesis::{FaultKind, Nemesis, NemesisSpec};
use crate::node_addr::ExternalNode;

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
    pub fn validate(&self, nodes: &Nodes, nemesis: &NemesisSpec) -> Result<()> {
        if nodes.is_local() {
            refuse_kind(
                nemesis,
                FaultKind::Delay,
                "link delay is not available for --target etcd (packet loss, partitions, kills and pauses are)",
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

    fn factory(&self, nodes: &[NodeInfo], ctx: &StartContext<'_>) -> Result<EtcdFactory> {
        let options = EtcdOptions {
            serializable_reads: self.serializable_reads,
            // A per-run prefix: runs against the same (external) cluster never share keys.
            key_prefix: format!("faultline/{}/", ctx.run_id),
            profile: ctx.workload.client_profile(),
            ..EtcdOptions::default()
        };
        EtcdFactory::new(nodes, options).context("setting up the etcd client")
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
        })
        .await
        .context("starting the local etcd cluster")?;
        let plan = cluster.plan();
        (ctx.log)(&format!(
            "private network {}: bridge {} at {}",
            plan.prefix, plan.bridge, plan.gateway
        ));
        let nemesis = local_nemesis(&cluster, &ctx.journal)?;
        let local = cluster.cluster().clone();
        let nodes: Vec<NodeInfo> = cluster
            .client_urls()
            .into_iter()
            .map(|(name, http)| NodeInfo { name, http })
            .collect();
        Ok(Started {
            factory: Box::new(self.factory(&nodes, ctx)?),
            nodes,
            nemesis,
            cluster: Some(local),
        })
    }

    /// Checks the user's etcd nodes answer `/health`; faults come from `[commands]`.
    pub async fn start_external(
        &self,
        nodes: &[ExternalNode],
        ctx: &StartContext<'_>,
    ) -> Result<Started> {
        external::check_reachable(nodes, Protocol::Etcd).await?;
        let nemesis = external_nemesis(nodes, external_leader(nodes, Protocol::Etcd), ctx)?;
        let infos = external_infos(nodes);
        Ok(Started {
            factory: Box::new(self.factory(&infos, ctx)?),
            nodes: infos,
            nemesis,
            cluster: None,
        })
    }
}

/// The nemesis of a local etcd cluster: network faults as iptables rules in its namespaces,
/// process faults by signals, the leader from maintenance status, journaling to `journal`.
pub fn local_nemesis(cluster: &EtcdCluster, journal: &std::path::Path) -> Result<Nemesis> {
    let local = cluster.cluster().clone();
    Nemesis::new(
        local.names(),
        Box::new(IptablesFaults::new(cluster.plan().clone())),
        Arc::new(local.clone()),
        Arc::new(local),
        journal,
    )
    .context("opening the fault journal")
}
