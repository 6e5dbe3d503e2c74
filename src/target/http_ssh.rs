//! `--target http` on SSH hosts (`--cluster ssh --host ...`): the `--db` spec's nodes run on
//! remote hosts ([`crate::cluster::remote`]), one per host, tested through the client spec.
//! Network faults are iptables rules in the run's own chains on the hosts, kills and pauses
//! are signals by pid file over SSH, "the leader" comes from the client spec's `[leader]`.
//! Clock faults run each node under libfaketime on its host and rewrite its control file over
//! SSH ([`RemoteCluster::clock_faults`]).

use std::sync::Arc;

use anyhow::{Context, Result};

use super::http::{factory, store_spec, HttpTarget, NEEDS_EXTERNAL};
use super::http_local::{load_db, ready_nodes, store_db};
use super::{OwnProcesses, StartContext, Started};
use crate::client::HttpSpec;
use crate::cluster::remote::{self, RemoteCluster, RemoteOptions};
use crate::nemesis::{FaultKind, Nemesis};
use crate::ssh::{SshHost, SshOptions};

/// The hosts' nodes, stopped (logs downloaded, chains and directories removed) at teardown.
impl OwnProcesses for RemoteCluster {
    fn stop(&self) -> Vec<String> {
        RemoteCluster::stop(self)
    }
}

impl HttpTarget {
    /// Starts one node of the `--db` spec on each host, waits until every node is healthy
    /// (and, with a `[leader]` section, until a leader is known), and builds the clients
    /// and the nemesis. The client spec and the db spec are copied into the run.
    pub async fn start_ssh(
        &self,
        hosts: &[SshHost],
        ssh: &SshOptions,
        spec: &HttpSpec,
        ctx: &StartContext<'_>,
    ) -> Result<Started> {
        let db_path = self.db.as_deref().context(NEEDS_EXTERNAL)?;
        let db = load_db(db_path)?;
        store_spec(&self.client, ctx.dir)?;
        store_db(db_path, ctx.dir)?;
        // Logged before anything is made, so a run that fails to start still names what it
        // may have left (`faultline cluster down` removes it).
        (ctx.log)(&format!(
            "ssh cluster: {} {} nodes on {}; remote directory {}, iptables chains {}",
            hosts.len(),
            db.name,
            hosts
                .iter()
                .map(|h| format!("{}={}", h.name, h.host))
                .collect::<Vec<_>>()
                .join(", "),
            crate::cluster::remote_script::run_root(&ctx.run_id),
            crate::net::iptables::Chains::for_run(&ctx.run_id).partition,
        ));
        let cluster = remote::start(RemoteOptions {
            spec: db.clone(),
            hosts: hosts.to_vec(),
            ssh: ssh.clone(),
            dir: ctx.dir.to_path_buf(),
            run_id: ctx.run_id.clone(),
            seed: ctx.seed,
            fake_clocks: ctx.nemesis.kinds().contains(&FaultKind::Clock),
        })
        .await
        .with_context(|| {
            format!(
                "starting {} on the SSH hosts (--db {})",
                db.name,
                db_path.display()
            )
        })?;
        let (nodes, leader) =
            ready_nodes(spec, cluster.client_urls(), db.startup_timeout, ctx).await?;
        let nemesis = Nemesis::new(
            cluster.names(),
            Box::new(cluster.network_faults()),
            Arc::new(cluster.clone()),
            leader,
            &ctx.journal,
        )
        .context("opening the fault journal")?
        .with_hosts(cluster.hosts());
        let nemesis = match cluster.clock_faults() {
            Some(clocks) => nemesis.with_clocks(clocks),
            None => nemesis,
        };
        Ok(Started {
            factory: Box::new(factory(
                spec,
                &nodes,
                ctx.workload.client_profile(),
                &ctx.run_id,
            )?),
            nodes,
            nemesis,
            cluster: None,
            running: Some(Arc::new(cluster)),
        })
    }
}
