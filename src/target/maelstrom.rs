//! `--target maelstrom`: the user's Maelstrom node binary (`--bin`, `--bin-arg`), `--nodes`
//! of it on faultline's in-process message network ([`crate::maelstrom`]). Local only; every
//! network fault through [`SimFaults`], kill and pause through the node processes; "the
//! leader" of leader faults through [`MaelstromLeader`] (`--leader-probe`).

use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::{Nodes, StartContext, Started};
use crate::client::NodeInfo;
use crate::maelstrom::leader::{MaelstromLeader, ProbeMode};
use crate::maelstrom::shapes::Shape;
use crate::maelstrom::topology::Topology;
use crate::maelstrom::workloads;
use crate::maelstrom::{MaelstromFactory, Network, NodeProgram, StdioNodes};
use crate::nemesis::backend::SimFaults;
use crate::nemesis::{Nemesis, NemesisSpec};
use crate::net::sim::{LatencyDist, SimConfig};
use crate::rundir::{NetworkRecord, MESSAGES_FILE};
use crate::seed::{names, SeedTree};
use crate::workload::WorkloadSpec;

/// The maelstrom target's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct MaelstromTarget {
    /// The node program and its arguments.
    pub program: NodeProgram,
    /// The network's standing settings (`--latency`, `--latency-dist`, `--net-*`).
    pub net: SimConfig,
    /// `--topology`, for the broadcast workload (default: grid).
    pub topology: Option<Topology>,
    /// `--leader-probe`: how leader faults find the leader.
    pub leader_probe: ProbeMode,
}

impl MaelstromTarget {
    /// Local nodes only; a workload with message shapes; no clock faults; probabilities in
    /// range.
    pub fn validate(
        &self,
        nodes: &Nodes,
        workload: &WorkloadSpec,
        nemesis: &mut NemesisSpec,
    ) -> Result<()> {
        if !nodes.is_local() {
            bail!("--target maelstrom runs its nodes itself: --cluster external is not supported (use --nodes N)");
        }
        self.net.validate().map_err(anyhow::Error::msg)?;
        let shape = workloads::shape_of(workload)
            .map_err(|e| anyhow::anyhow!("--workload {}: {e}", workload.source))?;
        if nemesis.kinds().contains(&crate::nemesis::FaultKind::Clock) {
            // Nodes run under libfaketime when the schedule has clock faults: only a program
            // it can skew (dynamically linked, not Go; a #! script is taken on trust).
            if let Err(why) = crate::fakeclock::check_skewable(&self.program.bin) {
                super::refuse_kind(nemesis, crate::nemesis::FaultKind::Clock, &why)?;
            }
        }
        super::refuse_kind(
            nemesis,
            crate::nemesis::FaultKind::FileCorruption,
            "file corruption is not available for --target maelstrom (its stdio nodes keep no data files faultline knows of)",
        )?;
        super::refuse_kind(
            nemesis,
            crate::nemesis::FaultKind::PowerLoss,
            "power loss is not available for --target maelstrom (its stdio nodes keep no data dir for faultline's FUSE filesystem to lose writes of)",
        )?;
        if let (Some(t), false) = (self.topology, shape == Shape::Broadcast) {
            bail!(
                "--topology {} is for the broadcast workload (the only one whose nodes are told a topology), not --workload {}",
                t.name(),
                workload.name
            );
        }
        Ok(())
    }

    /// The flags that reproduce these settings.
    pub fn flags(&self) -> Vec<String> {
        let mut flags = vec!["--bin".to_owned(), self.program.bin.display().to_string()];
        for arg in &self.program.args {
            flags.extend(["--bin-arg".to_owned(), arg.clone()]);
        }
        let n = &self.net;
        if n.latency_ms > 0 {
            flags.extend(["--latency".to_owned(), n.latency_ms.to_string()]);
        }
        if n.dist != LatencyDist::Constant {
            flags.extend(["--latency-dist".to_owned(), n.dist.name().to_owned()]);
        }
        if let Some(t) = self.topology {
            flags.extend(["--topology".to_owned(), t.name()]);
        }
        if self.leader_probe != ProbeMode::default() {
            flags.extend([
                "--leader-probe".to_owned(),
                self.leader_probe.name().to_owned(),
            ]);
        }
        for (flag, p) in [
            ("--net-loss", n.loss),
            ("--net-duplicate", n.duplicate),
            ("--net-reorder", n.reorder),
        ] {
            if p > 0.0 {
                flags.extend([flag.to_owned(), p.to_string()]);
            }
        }
        flags
    }

    /// Starts `count` nodes `n0` .. on a fresh network, initialises them, and builds the
    /// clients and the nemesis.
    pub async fn start_local(&self, count: usize, ctx: &StartContext<'_>) -> Result<Started> {
        let names: Vec<String> = (0..count).map(|i| format!("n{i}")).collect();
        let shape = workloads::shape_of(ctx.workload).map_err(anyhow::Error::msg)?;
        let topology =
            (shape == Shape::Broadcast).then(|| self.topology.unwrap_or_default().message(&names));
        let net = Network::new(
            self.net,
            &names,
            SeedTree::new(ctx.seed).derive(names::NETWORK),
            SeedTree::new(ctx.seed).derive(names::SERVICES),
            &ctx.dir.join(MESSAGES_FILE),
            Arc::clone(&ctx.log),
        )?;
        let nodes = StdioNodes::start(
            self.program.clone(),
            names.clone(),
            ctx.dir,
            net.clone(),
            topology,
            ctx.nemesis
                .kinds()
                .contains(&crate::nemesis::FaultKind::Clock),
        )
        .await
        .context("starting the Maelstrom nodes")?;
        (ctx.log)(&format!(
            "maelstrom: {count} nodes of {} answered init",
            self.program.bin.display()
        ));
        let nemesis = Nemesis::new(
            names.clone(),
            Box::new(SimFaults::new(net.routing())),
            Arc::new(nodes.clone()),
            Arc::new(MaelstromLeader::new(
                self.leader_probe,
                nodes.clone(),
                net.clone(),
            )),
            &ctx.journal,
        )
        .context("opening the fault journal")?;
        let nemesis = match nodes.clock_files() {
            Some(files) => nemesis.with_clocks(crate::nemesis::backend::ClockFaults::new(files)),
            None => nemesis,
        };
        let infos = names
            .iter()
            .map(|n| NodeInfo {
                name: n.clone(),
                http: "stdio".into(),
            })
            .collect();
        Ok(Started {
            nodes: infos,
            factory: Box::new(MaelstromFactory::new(net.clone(), shape)),
            nemesis,
            cluster: None,
            running: Some(Arc::new(Running { nodes, net })),
        })
    }
}

/// The running nodes and their network, as the runner stops them and reads their counts.
struct Running {
    nodes: StdioNodes,
    net: Network,
}

impl super::OwnProcesses for Running {
    fn stop(&self) -> Vec<String> {
        self.nodes.stop();
        Vec::new()
    }

    fn network(&self) -> Option<NetworkRecord> {
        Some(self.net.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> MaelstromTarget {
        MaelstromTarget {
            program: NodeProgram {
                bin: "node.py".into(),
                args: vec!["--fast".into()],
            },
            net: SimConfig::default(),
            topology: None,
            leader_probe: ProbeMode::Traffic,
        }
    }

    /// The builtin lin-kv workload.
    fn lin_kv() -> WorkloadSpec {
        WorkloadSpec::from_toml(
            crate::maelstrom::workloads::builtin("lin-kv").unwrap_or_default(),
            "lin-kv",
        )
        .expect("workload")
    }

    #[test]
    fn mixed_from_its_file_drops_power_loss_file_corruption_and_clocks() {
        let workload = lin_kv();
        let mut mixed = NemesisSpec::from_builtin("mixed").expect("mixed");
        target()
            .validate(&Nodes::Local { count: 3 }, &workload, &mut mixed)
            .expect("mixed on maelstrom");
        use crate::nemesis::FaultKind;
        // Sorted: without FUSE here, power loss is dropped first, by the local check.
        let mut dropped: Vec<FaultKind> = mixed.skipped.iter().map(|s| s.kind).collect();
        dropped.sort();
        let mut wanted = [
            FaultKind::Clock,
            FaultKind::FileCorruption,
            FaultKind::PowerLoss,
        ];
        wanted.sort();
        assert_eq!(dropped, wanted);
        assert!(mixed.kinds().iter().all(|k| !wanted.contains(k)));
        // node.py does not exist here: it cannot be checked, so an explicit clock schedule
        // is refused naming it.
        let mut clock = NemesisSpec::from_builtin("clock").expect("clock");
        let e = target()
            .validate(&Nodes::Local { count: 3 }, &workload, &mut clock)
            .unwrap_err()
            .to_string();
        assert!(e.contains("node.py"), "{e}");
    }

    #[test]
    fn leader_faults_are_allowed_and_external_nodes_refused() {
        let workload = lin_kv();
        let mut leader = NemesisSpec::load("partition-leader").expect("nemesis");
        assert!(target()
            .validate(&Nodes::Local { count: 3 }, &workload, &mut leader)
            .is_ok());
        let mut mixed = NemesisSpec::load("partition-one").expect("nemesis");
        assert!(target()
            .validate(&Nodes::Local { count: 3 }, &workload, &mut mixed)
            .is_ok());
        let external = Nodes::External {
            nodes: crate::node_addr::parse_nodes(&["127.0.0.1:1".to_string()]).expect("node"),
        };
        assert!(target().validate(&external, &workload, &mut mixed).is_err());
        let bank = WorkloadSpec::load("bank").expect("bank");
        let e = target()
            .validate(&Nodes::Local { count: 3 }, &bank, &mut mixed)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no message shapes for bank"), "{e}");
        let mut grid = target();
        grid.topology = Some(Topology::Tree(3));
        let e = grid
            .validate(&Nodes::Local { count: 3 }, &workload, &mut mixed)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--topology tree3 is for the broadcast workload"),
            "{e}"
        );
    }

    #[test]
    fn flags_reproduce_the_settings() {
        let mut t = target();
        t.net.latency_ms = 5;
        t.net.dist = LatencyDist::Uniform;
        t.net.loss = 0.1;
        t.leader_probe = ProbeMode::Message;
        assert_eq!(
            t.flags().join(" "),
            "--bin node.py --bin-arg --fast --latency 5 --latency-dist uniform --leader-probe message --net-loss 0.1"
        );
    }
}
