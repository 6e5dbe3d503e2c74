//! `--target http` on a local cluster: faultline starts the service itself from a db spec
//! (`--db DB.toml`, [`crate::cluster::db_spec`]), each node in its own network namespace
//! (root only), and tests it through the client spec. Network faults are iptables drops
//! (link delay is not available), kills and pauses are signals, "the leader" comes from the
//! client spec's `[leader]` section.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::http::{factory, leader_probe, store_spec, HttpTarget, NEEDS_EXTERNAL};
use super::{refuse_kind, Nodes, StartContext, Started};
use crate::client::{HttpSpec, NodeInfo};
use crate::cluster::db_spec::DbSpec;
use crate::cluster::generic::{self, GenericOptions};
use crate::nemesis::backend::IptablesFaults;
use crate::nemesis::{FaultKind, Nemesis, NemesisSpec};

/// Whether clock faults can skew `binary` on `hosts`: the bytes uploaded to every host load a
/// preload library ([`crate::fakeclock::unskewable`]), and every host has libfaketime (one
/// SSH command each, before anything is made). The error names the binary or the host.
fn hosts_can_skew(
    binary: &Path,
    hosts: &[crate::ssh::SshHost],
    ssh: &crate::ssh::SshOptions,
) -> std::result::Result<(), String> {
    let bytes = std::fs::read(binary)
        .map_err(|e| format!("cannot read {} to check it: {e}", binary.display()))?;
    if let Some(why) = crate::fakeclock::unskewable(&bytes) {
        return Err(format!(
            "clock faults cannot skew {}: {why}",
            binary.display()
        ));
    }
    let client = crate::ssh::SshClient::new(ssh.clone(), crate::ssh::Mux::Off);
    for h in hosts {
        client
            .check(
                &h.host,
                &crate::cluster::remote_script::clock_probe(),
                "checking for libfaketime",
            )
            .map_err(|e| format!("host {} ({}): {e}", h.name, h.host))?;
    }
    Ok(())
}

/// The name of the db spec's copy in a run directory.
pub const DB_COPY: &str = crate::rundir::DB_SPEC_FILE;

impl HttpTarget {
    /// A local cluster needs `--db` (and the spec must parse; no link delay in namespaces);
    /// external nodes take no `--db`.
    pub fn validate_db(&self, nodes: &Nodes, nemesis: &mut NemesisSpec) -> Result<()> {
        if let (None, Nodes::Ssh { .. }) = (&self.db, nodes) {
            bail!("--cluster ssh needs --db DB.toml: how to run one node of your service on each host (see docs/remote.md; db/raftkv.toml and db/etcd.toml are examples)");
        }
        if let Nodes::Ssh { .. } = nodes {
            refuse_kind(
                nemesis,
                FaultKind::FileCorruption,
                "file corruption is not available on SSH hosts yet (partitions, packet loss, kills and pauses are)",
            )?;
            refuse_kind(
                nemesis,
                FaultKind::PowerLoss,
                "power loss is not available on SSH hosts yet: it needs faultline's FUSE filesystem mounted over each node's data dir on this machine (local clusters only)",
            )?;
        }
        match (&self.db, nodes.runs_nodes()) {
            (None, true) => bail!(NEEDS_EXTERNAL),
            (Some(db), false) => bail!(
                "--db {} is for a local cluster (faultline starts the nodes); with --cluster external you run them yourself",
                db.display()
            ),
            (Some(db), true) => {
                // A missing binary is named before anything starts.
                let spec = load_db(db)?;
                let binary = spec
                    .locate_binary()
                    .map_err(|e| anyhow::anyhow!("--db {}: {e}", db.display()))?;
                if nodes.is_local() {
                    if let Err(why) = crate::fakeclock::check_skewable(&binary) {
                        refuse_kind(nemesis, FaultKind::Clock, &why)?;
                    }
                }
                if let Nodes::Ssh { hosts, ssh } = nodes {
                    if nemesis.kinds().contains(&FaultKind::Clock) {
                        if let Err(why) = hosts_can_skew(&binary, hosts, ssh) {
                            refuse_kind(nemesis, FaultKind::Clock, &why)?;
                        }
                    }
                }
                if spec.data_files.is_empty() {
                    refuse_kind(
                        nemesis,
                        FaultKind::FileCorruption,
                        &format!(
                            "file corruption needs the db spec to name its data files (data_files = [\"GLOB\", ...] in {}; see docs/db-spec.md)",
                            db.display()
                        ),
                    )?;
                }
                refuse_kind(
                    nemesis,
                    FaultKind::Delay,
                    "link delay is not available for a --db cluster (packet loss, partitions, kills and pauses are)",
                )
            }
            (None, false) => Ok(()),
        }
    }

    /// Starts `count` nodes of the `--db` spec in network namespaces, waits until every node
    /// is healthy (and, with a `[leader]` section, until a leader is known), and builds the
    /// clients and the nemesis. The client spec and the db spec are copied into the run.
    pub async fn start_local(
        &self,
        count: usize,
        spec: &HttpSpec,
        ctx: &StartContext<'_>,
    ) -> Result<Started> {
        let db_path = self.db.as_deref().context(NEEDS_EXTERNAL)?;
        let db = load_db(db_path)?;
        let copy = store_spec(&self.client, ctx.dir)?;
        let db_copy = store_db(db_path, ctx.dir)?;
        (ctx.log)(&format!(
            "client spec {} kept as {}; db spec {} kept as {}",
            self.client.display(),
            copy.display(),
            db_path.display(),
            db_copy.display()
        ));
        // Logged before anything is made, so a run that fails to start still names the
        // network it may have left (`faultline cluster down` removes it).
        (ctx.log)(&format!(
            "private network fl{}: {count} {} nodes, one network namespace each",
            ctx.run_id, db.name
        ));
        let cluster = generic::start(GenericOptions {
            spec: db.clone(),
            nodes: count,
            dir: ctx.dir.to_path_buf(),
            run_id: ctx.run_id.clone(),
            seed: ctx.seed,
            fake_clocks: ctx.nemesis.kinds().contains(&FaultKind::Clock),
            power_loss: ctx.nemesis.kinds().contains(&FaultKind::PowerLoss),
        })
        .await
        .with_context(|| {
            format!(
                "starting the local {} cluster (--db {})",
                db.name,
                db_path.display()
            )
        })?;
        let plan = cluster.network();
        (ctx.log)(&format!(
            "network {}: bridge {} at {}",
            plan.prefix, plan.bridge, plan.gateway
        ));
        let (nodes, leader) = ready_nodes(
            spec,
            generic::client_urls(&cluster, &db),
            db.startup_timeout,
            ctx,
        )
        .await?;
        let nemesis = Nemesis::new(
            cluster.names(),
            Box::new(IptablesFaults::new(plan.clone())),
            Arc::new(cluster.cluster().clone()),
            leader,
            &ctx.journal,
        )
        .context("opening the fault journal")?
        .with_files(Arc::new(cluster.cluster().clone()));
        let nemesis = super::with_power(
            super::with_clocks(nemesis, cluster.cluster()),
            cluster.cluster(),
        );
        super::started_local(cluster.cluster().clone(), nemesis, nodes, |infos| {
            Ok(Box::new(factory(
                spec,
                infos,
                ctx.workload.client_profile(),
                &ctx.run_id,
            )?) as _)
        })
    }
}

/// Reads and validates a db spec, naming the flag.
pub fn load_db(path: &Path) -> Result<DbSpec> {
    DbSpec::from_file(path).with_context(|| format!("--db {}", path.display()))
}

/// Copies the db spec into the run directory as [`DB_COPY`].
pub fn store_db(path: &Path, dir: &Path) -> Result<PathBuf> {
    let copy = dir.join(DB_COPY);
    std::fs::copy(path, &copy)
        .with_context(|| format!("copying {} to {}", path.display(), copy.display()))?;
    Ok(copy)
}

/// The nodes of a db-spec cluster (`(name, client URL)`s) made ready for the test, wherever
/// they run: the client spec's leader probe over them, waited on (bounded by
/// `startup_timeout`) when the spec has one, then the spec's self-test against them.
pub(super) async fn ready_nodes(
    spec: &HttpSpec,
    urls: Vec<(String, String)>,
    startup_timeout: Duration,
    ctx: &StartContext<'_>,
) -> Result<(Vec<NodeInfo>, Arc<dyn crate::node_control::LeaderProbe>)> {
    let nodes: Vec<NodeInfo> = urls
        .into_iter()
        .map(|(name, http)| NodeInfo { name, http })
        .collect();
    let leader = leader_probe(spec, &nodes)?;
    if spec.leader.is_some() {
        wait_for_leader(leader.as_ref(), startup_timeout, ctx).await;
    }
    super::http::check_spec_fits(spec, &nodes, ctx).await?;
    Ok((nodes, leader))
}

/// Waits (bounded by `timeout`) until the `[leader]` probe names a leader, so the first
/// leader fault finds one; logs and goes on when none is named in time.
pub(super) async fn wait_for_leader(
    probe: &dyn crate::node_control::LeaderProbe,
    timeout: Duration,
    ctx: &StartContext<'_>,
) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(leader) = probe.leader().await {
            (ctx.log)(&format!("leader probe: {leader} leads"));
            return;
        }
        if Instant::now() >= deadline {
            let note = format!(
                "the client spec's [leader] probe named no leader within {timeout:?}; leader faults will fail until one is named"
            );
            eprintln!("faultline test: {note}");
            (ctx.log)(&note);
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
