//! `--target raftkv`: our own Raft store. Local clusters run raftkv processes wired through
//! the link-proxy mesh (every fault family, no root); external raftkv nodes are faulted by
//! the nemesis file's `[commands]`. The bugs it can switch on come from raftkv's own list
//! ([`raftkv::raft::Bug`]).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::{Nodes, StartContext, Started};
use crate::client::{ClientFactory, NodeInfo, RaftkvFactory, RaftkvOptions};
use crate::cluster::{locate_raftkv, raftkv as raftkv_cluster, ClusterOptions, RaftkvCluster};
use crate::nemesis::backend::{MeshFaults, NetworkFaults, NoFaults};
use crate::nemesis::{FaultKind, Nemesis, NemesisSpec};
pub use raftkv::raft::Bug;

/// A raftkv bug as faultline's flags and test names spell it (`stale-read`).
pub fn bug_flag(bug: Bug) -> String {
    bug.name().replace('_', "-")
}

/// Every bug's flag spelling, in raftkv's order (for `--help` and errors).
pub fn bug_flags() -> Vec<String> {
    Bug::ALL.iter().map(|b| bug_flag(*b)).collect()
}

/// The builtin nemesis made for a bug the default one cannot reach: `no-checksum` shows only
/// when a data file is damaged (`file-corruption`), `fsync-lie` only when unsynced writes are
/// lost (`power-loss`). `None` for the bugs the default `mixed`
/// hunts (partitions, kills, pauses).
pub fn exposing_nemesis(bug: Bug) -> Option<&'static str> {
    match bug {
        Bug::NoChecksum => Some("file-corruption"),
        Bug::FsyncLie => Some("power-loss"),
        _ => None,
    }
}

/// The bugs the default nemesis is meant to find, as flags (the detection bench's rows).
pub fn default_nemesis_bug_flags() -> Vec<String> {
    Bug::ALL
        .iter()
        .filter(|b| exposing_nemesis(**b).is_none())
        .map(|b| bug_flag(*b))
        .collect()
}

/// Parses `--raftkv-bug NAME` (raftkv's own parser: `-` and `_` both work).
pub fn parse_bug(name: &str) -> Result<Bug, String> {
    name.parse::<Bug>().map_err(|_| {
        format!(
            "unknown raftkv bug {name:?}; expected one of {}",
            bug_flags().join(", ")
        )
    })
}

/// raftkv's settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RaftkvTarget {
    /// Deliberate bugs every node switches on (local clusters only).
    pub bugs: Vec<Bug>,
    /// The raftkv binary, when given explicitly.
    pub bin: Option<PathBuf>,
    /// Fixed ports for a local cluster: node i's client API on BASE+i-1, its peer port on
    /// BASE+N+i-1; `None` picks free ports.
    pub base_port: Option<u16>,
    /// Leader lease reads (`raftkv --read-mode lease`, Raft thesis §6.4) instead of
    /// ReadIndex: correct while clocks drift within raftkv's bound, stale once a leader's
    /// clock runs slow or jumps back (the clock nemesis).
    pub lease_reads: bool,
}

impl RaftkvTarget {
    /// The settings that only a local cluster can honour are refused for external nodes; a
    /// local cluster's clock faults need libfaketime (an optional clock family is dropped
    /// without it, an explicit one refused).
    pub fn validate(&self, nodes: &Nodes, nemesis: &mut NemesisSpec) -> Result<()> {
        if nodes.is_local() && nemesis.kinds().contains(&FaultKind::Clock) {
            // A missing binary is the start's error to report; only a binary found is judged.
            if let Ok(binary) = locate_raftkv(self.bin.as_deref()) {
                if let Err(why) = crate::fakeclock::check_skewable(&binary) {
                    super::refuse_kind(nemesis, FaultKind::Clock, &why)?;
                }
            }
        }
        if !nodes.is_local() {
            if !self.bugs.is_empty() {
                bail!("--raftkv-bug needs a local raftkv cluster (--cluster local)");
            }
            if self.base_port.is_some() {
                bail!("--base-port is for a local raftkv cluster");
            }
            if self.lease_reads {
                bail!("--raftkv-read-mode needs a local raftkv cluster (--cluster local)");
            }
        }
        Ok(())
    }

    /// `-bug-NAME` per bug, for the test name.
    pub fn name_suffix(&self) -> String {
        let lease = if self.lease_reads { "-lease" } else { "" };
        let bugs: String = self
            .bugs
            .iter()
            .map(|b| format!("-bug-{}", bug_flag(*b)))
            .collect();
        format!("{lease}{bugs}")
    }

    /// The flags that reproduce these settings (the binary and ports are the machine's).
    pub fn flags(&self) -> Vec<String> {
        let mut flags: Vec<String> = self
            .bugs
            .iter()
            .flat_map(|b| ["--raftkv-bug".to_owned(), bug_flag(*b)])
            .collect();
        if self.lease_reads {
            flags.extend(["--raftkv-read-mode".to_owned(), "lease".to_owned()]);
        }
        flags
    }

    /// Clients for `nodes`, through the workload's profile.
    pub fn factory(
        &self,
        nodes: &[NodeInfo],
        ctx: &StartContext<'_>,
    ) -> Result<Box<dyn ClientFactory>> {
        let options = RaftkvOptions {
            profile: ctx.workload.client_profile(),
            ..RaftkvOptions::default()
        };
        Ok(Box::new(
            RaftkvFactory::new(nodes, options).context("setting up the raftkv client")?,
        ))
    }

    /// Starts `count` raftkv nodes in the run directory, peer links through the proxy mesh.
    pub async fn start_local(&self, count: usize, ctx: &StartContext<'_>) -> Result<Started> {
        let binary = locate_raftkv(self.bin.as_deref())?;
        let mut opts = ClusterOptions::new(count, binary, ctx.dir.to_path_buf());
        opts.bugs = self.bugs.iter().map(|b| bug_flag(*b)).collect();
        opts.seed = ctx.seed;
        opts.base_port = self.base_port;
        if self.lease_reads {
            opts.extra_args
                .extend(["--read-mode".to_owned(), "lease".to_owned()]);
        }
        opts.fake_clocks = ctx.nemesis.kinds().contains(&FaultKind::Clock);
        opts.power_loss = ctx.nemesis.kinds().contains(&FaultKind::PowerLoss);
        let cluster = raftkv_cluster::start(opts)
            .await
            .context("starting the local raftkv cluster")?;
        let nemesis = local_nemesis(&cluster, &ctx.journal)?;
        let nodes: Vec<NodeInfo> = cluster
            .nodes()
            .iter()
            .map(|n| NodeInfo {
                name: n.name.clone(),
                http: n.client.clone(),
            })
            .collect();
        super::started_local(cluster.cluster().clone(), nemesis, nodes, |infos| {
            self.factory(infos, ctx)
        })
    }
}

/// The nemesis of a local raftkv cluster: network faults through its proxy mesh (none
/// without one), process faults by signals to its processes, the leader from `/status`,
/// journaling to `journal`.
pub fn local_nemesis(cluster: &RaftkvCluster, journal: &std::path::Path) -> Result<Nemesis> {
    let network: Box<dyn NetworkFaults> = match cluster.mesh() {
        Some(mesh) => Box::new(MeshFaults::new(Arc::clone(mesh))),
        None => Box::new(NoFaults),
    };
    super::local_nemesis(cluster.cluster(), network, journal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bugs_are_raftkvs_own_spelled_with_hyphens() {
        assert_eq!(
            bug_flags(),
            [
                "stale-read",
                "early-ack",
                "volatile-vote",
                "commit-old-term",
                "no-checksum",
                "fsync-lie"
            ]
        );
        assert_eq!(parse_bug("stale-read"), Ok(Bug::StaleRead));
        assert_eq!(parse_bug("commit_old_term"), Ok(Bug::CommitOldTerm));
        assert_eq!(
            default_nemesis_bug_flags(),
            [
                "stale-read",
                "early-ack",
                "volatile-vote",
                "commit-old-term"
            ]
        );
        assert_eq!(exposing_nemesis(Bug::NoChecksum), Some("file-corruption"));
        assert_eq!(exposing_nemesis(Bug::FsyncLie), Some("power-loss"));
        let e = parse_bug("fast").unwrap_err();
        assert!(
            e.contains("unknown raftkv bug \"fast\"") && e.contains("early-ack"),
            "{e}"
        );
    }

    #[test]
    fn local_only_settings_are_refused_for_external_nodes() {
        let external = Nodes::External {
            nodes: crate::node_addr::parse_nodes(&["127.0.0.1:1".to_string()]).expect("node"),
        };
        let bugs = RaftkvTarget {
            bugs: vec![Bug::StaleRead],
            ..RaftkvTarget::default()
        };
        let mut none = NemesisSpec::from_builtin("none").expect("none");
        assert!(bugs.validate(&Nodes::Local { count: 3 }, &mut none).is_ok());
        let e = bugs.validate(&external, &mut none).unwrap_err().to_string();
        assert!(
            e.contains("--raftkv-bug needs a local raftkv cluster"),
            "{e}"
        );
        let port = RaftkvTarget {
            base_port: Some(7000),
            ..RaftkvTarget::default()
        };
        assert!(port.validate(&external, &mut none).is_err());
        assert_eq!(bugs.name_suffix(), "-bug-stale-read");
        assert_eq!(bugs.flags(), ["--raftkv-bug", "stale-read"]);
    }
}
