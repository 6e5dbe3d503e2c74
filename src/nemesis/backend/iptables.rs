//! Network faults as iptables rules where the nodes live (see [`crate::net::iptables`] for
//! the rules): inside the nodes' network namespaces (root only, [`crate::net::netns`]) or on
//! SSH hosts ([`crate::ssh::SshShell`]); both are a [`HostShell`]. Partitions and packet
//! loss are real packet drops. Link delay needs a userspace proxy and is refused (the config
//! check rejects a schedule with delays before anything starts).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::NetworkFaults;
use crate::nemesis::NemesisError;
use crate::net::iptables::{self, Chains};
use crate::net::shell::{HostShell, NetnsShell};
use crate::net::{Grudge, NetnsPlan};

pub use crate::net::shell::CommandRunner;

/// The iptables backend of one cluster: each node's address, where its rules run, and the
/// chains they go in.
pub struct IptablesFaults {
    ips: BTreeMap<String, Ipv4Addr>,
    shell: Box<dyn HostShell>,
    chains: Chains,
}

impl IptablesFaults {
    /// A backend for the namespaces of `plan`, running real commands.
    pub fn new(plan: NetnsPlan) -> IptablesFaults {
        let ips = plan_ips(&plan);
        IptablesFaults::over(ips, Box::new(NetnsShell::new(plan)), Chains::namespace())
    }

    /// A backend for the namespaces of `plan` that hands each command to `run` (tests
    /// record them).
    pub fn with_runner(plan: NetnsPlan, run: CommandRunner) -> IptablesFaults {
        let ips = plan_ips(&plan);
        IptablesFaults::over(
            ips,
            Box::new(NetnsShell::with_runner(plan, run)),
            Chains::namespace(),
        )
    }

    /// A backend for nodes at `ips` whose rules run through `shell`, in `chains` (created
    /// beforehand by whoever set the hosts up).
    pub fn over(
        ips: BTreeMap<String, Ipv4Addr>,
        shell: Box<dyn HostShell>,
        chains: Chains,
    ) -> IptablesFaults {
        IptablesFaults { ips, shell, chains }
    }

    /// Empties `chain` on every node (hosts in parallel); every node is tried, the first
    /// error returned.
    fn flush_everywhere(&self, chain: &str) -> Result<(), NemesisError> {
        let mut cmd: Vec<String> = vec!["iptables".into(), "-w".into()];
        cmd.extend(iptables::flush(chain));
        let per_node = self
            .ips
            .keys()
            .map(|n| (n.clone(), vec![cmd.clone()]))
            .collect();
        self.run_per_node(per_node)
    }

    /// Runs each node's commands through its shell, nodes in parallel (one round trip per
    /// remote host, all at once); every node is tried, the first error returned.
    fn run_per_node(
        &self,
        per_node: BTreeMap<String, Vec<Vec<String>>>,
    ) -> Result<(), NemesisError> {
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = per_node
                .iter()
                .map(|(node, cmds)| s.spawn(move || self.shell.run_all(node, cmds)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a fault thread panicked".into()))
                })
                .collect()
        });
        results
            .into_iter()
            .find_map(Result::err)
            .map_or(Ok(()), |e| Err(NemesisError::Network(e)))
    }

    /// Adds `rules`, all of one node's in one call to its shell (one round trip to a
    /// remote host).
    fn install(&self, rules: Vec<(String, Vec<String>)>) -> Result<(), NemesisError> {
        let mut by_node: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
        for (node, rule) in rules {
            if !self.ips.contains_key(&node) {
                return Err(NemesisError::UnknownNode(node));
            }
            let mut cmd: Vec<String> = vec!["iptables".into(), "-w".into()];
            cmd.extend(rule);
            by_node.entry(node).or_default().push(cmd);
        }
        self.run_per_node(by_node)
    }
}

fn plan_ips(plan: &NetnsPlan) -> BTreeMap<String, Ipv4Addr> {
    plan.nodes.iter().map(|n| (n.name.clone(), n.ip)).collect()
}

fn unknown(e: iptables::UnknownNode) -> NemesisError {
    NemesisError::UnknownNode(e.0)
}

#[async_trait::async_trait]
impl NetworkFaults for IptablesFaults {
    async fn partition(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        let rules = iptables::partition_rules(grudge, &self.ips, &self.chains.partition)
            .map_err(unknown)?;
        self.install(rules)
    }

    async fn heal_partition(&mut self) -> Result<(), NemesisError> {
        self.flush_everywhere(&self.chains.partition.clone())
    }

    async fn loss(
        &mut self,
        probability: f64,
        nodes: Option<&[String]>,
    ) -> Result<(), NemesisError> {
        let rules = iptables::loss_rules(probability, nodes, &self.ips, &self.chains.loss)
            .map_err(unknown)?;
        self.install(rules)
    }

    async fn heal_loss(&mut self) -> Result<(), NemesisError> {
        self.flush_everywhere(&self.chains.loss.clone())
    }
}
