//! "Run this command on node X's host": the one seam between the network fault backend and
//! where nodes live. A namespace cluster runs it with `ip netns exec` in the node's
//! namespace ([`NetnsShell`]); an SSH cluster on the node's host over its SSH connection
//! ([`crate::ssh::SshShell`]). The iptables backend
//! ([`crate::nemesis::backend::IptablesFaults`]) is written once against this trait.

use super::netns::{self, NetnsPlan};

/// Runs one command (program and arguments) where a node lives.
pub trait HostShell: Send + Sync {
    /// Runs `argv` on `node`'s host; an error says what failed, naming the node or host.
    fn run(&self, node: &str, argv: &[String]) -> Result<(), String>;

    /// Runs several commands on `node`'s host, in order, stopping at the first failure.
    /// Default: one [`HostShell::run`] each; a remote shell sends them in one round trip.
    fn run_all(&self, node: &str, argvs: &[Vec<String>]) -> Result<(), String> {
        argvs.iter().try_for_each(|a| self.run(node, a))
    }
}

/// Runs one command (program and arguments) on this machine; an error says what failed.
pub type CommandRunner = Box<dyn Fn(&[String]) -> Result<(), String> + Send + Sync>;

/// A namespace cluster's nodes: `ip netns exec NS ARGV...` through a command runner (the
/// real one, or a test's recorder).
pub struct NetnsShell {
    plan: NetnsPlan,
    run: CommandRunner,
}

impl NetnsShell {
    /// Runs real commands in `plan`'s namespaces.
    pub fn new(plan: NetnsPlan) -> NetnsShell {
        NetnsShell::with_runner(plan, Box::new(netns::run))
    }

    /// Hands each command to `run` (tests record them).
    pub fn with_runner(plan: NetnsPlan, run: CommandRunner) -> NetnsShell {
        NetnsShell { plan, run }
    }
}

impl HostShell for NetnsShell {
    fn run(&self, node: &str, argv: &[String]) -> Result<(), String> {
        let ns = &self
            .plan
            .node(node)
            .ok_or_else(|| format!("node {node:?} is not in this cluster"))?
            .namespace;
        let mut cmd: Vec<String> = vec!["ip".into(), "netns".into(), "exec".into(), ns.clone()];
        cmd.extend(argv.iter().cloned());
        (self.run)(&cmd).map_err(|e| format!("{node}: {e}"))
    }
}
