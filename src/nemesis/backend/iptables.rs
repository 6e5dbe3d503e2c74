//! Network faults as iptables rules inside the nodes' network namespaces (root only; see
//! [`crate::net::iptables`] for the rules and [`crate::net::netns`] for the network):
//! partitions and packet loss are real packet drops. Link delay needs a userspace proxy and
//! is refused (the config check rejects a schedule with delays before anything starts).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::NetworkFaults;
use crate::nemesis::NemesisError;
use crate::net::iptables::{self, LOSS, PARTITION};
use crate::net::{netns, Grudge, NetnsPlan};

/// Runs one command (program and arguments); an error says what failed.
pub type CommandRunner = Box<dyn Fn(&[String]) -> Result<(), String> + Send + Sync>;

/// The iptables backend of one run's private network.
pub struct IptablesFaults {
    plan: NetnsPlan,
    run: CommandRunner,
}

impl IptablesFaults {
    /// A backend for the namespaces of `plan`, running real commands.
    pub fn new(plan: NetnsPlan) -> IptablesFaults {
        IptablesFaults::with_runner(plan, Box::new(netns::run))
    }

    /// A backend that hands each command to `run` (tests record them).
    pub fn with_runner(plan: NetnsPlan, run: CommandRunner) -> IptablesFaults {
        IptablesFaults { plan, run }
    }

    fn ips(&self) -> BTreeMap<String, Ipv4Addr> {
        self.plan
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.ip))
            .collect()
    }

    /// Runs `iptables -w RULE` inside `node`'s namespace.
    fn iptables(&self, node: &str, rule: &[String]) -> Result<(), NemesisError> {
        let ns = &self
            .plan
            .node(node)
            .ok_or_else(|| NemesisError::UnknownNode(node.to_owned()))?
            .namespace;
        let mut cmd: Vec<String> = ["ip", "netns", "exec", ns, "iptables", "-w"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        cmd.extend(rule.iter().cloned());
        (self.run)(&cmd).map_err(|e| NemesisError::Network(format!("{node}: {e}")))
    }

    /// Empties `chain` in every namespace; every node is tried, the first error returned.
    fn flush_everywhere(&self, chain: &str) -> Result<(), NemesisError> {
        let mut first = None;
        for n in &self.plan.nodes {
            if let Err(e) = self.iptables(&n.name, &iptables::flush(chain)) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn install(&self, rules: Vec<(String, Vec<String>)>) -> Result<(), NemesisError> {
        for (node, rule) in rules {
            self.iptables(&node, &rule)?;
        }
        Ok(())
    }
}

fn unknown(e: iptables::UnknownNode) -> NemesisError {
    NemesisError::UnknownNode(e.0)
}

#[async_trait::async_trait]
impl NetworkFaults for IptablesFaults {
    async fn partition(&mut self, grudge: &Grudge) -> Result<(), NemesisError> {
        let rules = iptables::partition_rules(grudge, &self.ips()).map_err(unknown)?;
        self.install(rules)
    }

    async fn heal_partition(&mut self) -> Result<(), NemesisError> {
        self.flush_everywhere(PARTITION)
    }

    async fn loss(
        &mut self,
        probability: f64,
        nodes: Option<&[String]>,
    ) -> Result<(), NemesisError> {
        let rules = iptables::loss_rules(probability, nodes, &self.ips()).map_err(unknown)?;
        self.install(rules)
    }

    async fn heal_loss(&mut self) -> Result<(), NemesisError> {
        self.flush_everywhere(LOSS)
    }
}
