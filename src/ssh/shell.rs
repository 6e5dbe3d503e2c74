//! [`SshShell`]: the [`HostShell`] of an SSH cluster: a node's command runs on its host over
//! the run's multiplexed connection, through `sudo -n` when the remote user is not root.

use std::collections::BTreeMap;

use super::client::{SshClient, COMMAND_TIMEOUT};
use super::quote::quote_all;
use crate::net::shell::HostShell;

/// Where each node lives and how to reach it.
pub struct SshShell {
    client: SshClient,
    /// node name → (host, whether commands need `sudo -n`).
    hosts: BTreeMap<String, (String, bool)>,
}

impl SshShell {
    /// A shell on `hosts` (node name → host, needs sudo) through `client`.
    pub fn new(client: SshClient, hosts: BTreeMap<String, (String, bool)>) -> SshShell {
        SshShell { client, hosts }
    }
}

/// The script that runs `argv` on a host: with `/usr/sbin` and `/sbin` on `PATH` (a
/// non-login SSH session may lack them) and through `sudo -n` when `sudo` is set. Pure.
pub fn command_script(argv: &[String], sudo: bool) -> String {
    commands_script(std::slice::from_ref(&argv.to_vec()), sudo)
}

/// The script that runs each of `argvs` in order, stopping at the first failure. Pure.
pub fn commands_script(argvs: &[Vec<String>], sudo: bool) -> String {
    let sudo = if sudo { "sudo -n " } else { "" };
    let cmds: Vec<String> = argvs
        .iter()
        .map(|a| format!("{sudo}{}", quote_all(a)))
        .collect();
    format!("PATH=\"$PATH:/usr/sbin:/sbin\"; {}", cmds.join(" && "))
}

impl HostShell for SshShell {
    fn run(&self, node: &str, argv: &[String]) -> Result<(), String> {
        self.run_all(node, std::slice::from_ref(&argv.to_vec()))
    }

    fn run_all(&self, node: &str, argvs: &[Vec<String>]) -> Result<(), String> {
        let (host, sudo) = self
            .hosts
            .get(node)
            .ok_or_else(|| format!("node {node:?} is not in this cluster"))?;
        let what = argvs
            .iter()
            .map(|a| a.join(" "))
            .collect::<Vec<_>>()
            .join("; ");
        let out = self
            .client
            .run(host, &commands_script(argvs, *sudo), &what, COMMAND_TIMEOUT)
            .map_err(|e| format!("{node}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{node} (host {host}): `{what}` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_find_sbin_and_use_sudo_only_when_told() {
        let argv: Vec<String> = ["iptables", "-w", "-F", "FL-P-abc"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            command_script(&argv, false),
            "PATH=\"$PATH:/usr/sbin:/sbin\"; iptables -w -F FL-P-abc"
        );
        assert!(command_script(&argv, true).contains("; sudo -n iptables"));
        let two = commands_script(&[argv.clone(), argv], false);
        assert!(
            two.ends_with("iptables -w -F FL-P-abc && iptables -w -F FL-P-abc"),
            "{two}"
        );
    }
}
