//! A private network of Linux network namespaces for one run (root only): one namespace per
//! node, joined by veth pairs to a bridge in the root namespace, on a private /24 chosen per
//! run. Partitions and packet loss are iptables rules inside the node namespaces (see
//! [`super::iptables`]); the controller, in the root namespace, reaches every node
//! through the bridge, so cutting peers never cuts clients.
//!
//! Every name carries the run's prefix `fl<id>` (six hex digits), so two runs never collide
//! and cleanup removes only its own: namespaces `fl<id>-n1`.., bridge `fl<id>-br`, root-side
//! veths `fl<id>-v1`.., namespace-side veths `fl<id>-p1`... (Linux interface names are at
//! most 15 bytes; these are 11–13.)
//!
//! The [`NetnsPlan`] is computed first (pure) and recorded in the cluster state file before
//! anything is created, so `faultline cluster down` can remove exactly what this run made,
//! even after a `kill -9` of faultline. Removal is idempotent: what is already gone is fine.
//!
//! A bridge with `br_netfilter` loaded sends bridged frames through the root namespace's
//! `FORWARD` chain, whose policy may be `DROP` (Docker sets it); the plan therefore inserts one
//! `ACCEPT` rule for traffic within its own bridge, and removal deletes it.

use std::net::Ipv4Addr;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// One node's place in the private network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsNode {
    /// The node name (`n1`).
    pub name: String,
    /// Its network namespace (`fl<id>-n1`).
    pub namespace: String,
    /// The veth end in the root namespace, enslaved to the bridge (`fl<id>-v1`).
    pub veth: String,
    /// The veth end inside the namespace (`fl<id>-p1`).
    pub inner: String,
    /// Its address on the bridge's subnet.
    pub ip: Ipv4Addr,
}

/// Everything one run's private network consists of; recorded before it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsPlan {
    /// `fl<id>`: the prefix of every name.
    pub prefix: String,
    /// The bridge (`fl<id>-br`).
    pub bridge: String,
    /// The subnet's first three octets: the network is `a.b.c.0/24`.
    pub subnet: [u8; 3],
    /// The bridge's (the controller's) address, `a.b.c.1`.
    pub gateway: Ipv4Addr,
    /// The nodes, in order.
    pub nodes: Vec<NetnsNode>,
}

/// A new random run id: six hex digits.
pub fn new_run_id() -> String {
    format!("{:06x}", rand::random::<u32>() & 0xff_ffff)
}

/// An IPv4 network as (address, prefix length).
pub type Net = (Ipv4Addr, u8);

/// The networks in `ip -4 route show` / `ip -4 addr show` output (the default route is
/// skipped: every private subnet "overlaps" it). Pure.
pub fn parse_networks(text: &str) -> Vec<Net> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let (addr, len) = match word.split_once('/') {
            Some((a, l)) => (a, l.parse::<u8>().ok()),
            None => (word, Some(32)),
        };
        let (Ok(ip), Some(len)) = (addr.parse::<Ipv4Addr>(), len) else {
            continue;
        };
        if len <= 32 && !(ip.is_unspecified() && len == 0) {
            out.push((ip, len));
        }
    }
    out
}

fn overlaps(a: Net, b: Net) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    (u32::from(a.0) & mask) == (u32::from(b.0) & mask)
}

/// The plan for `names` under run id `id`: a /24 inside 10.200.0.0–10.249.255.0 derived
/// from the id, moved on until it overlaps none of `taken`. Pure.
pub fn plan(id: &str, names: &[String], taken: &[Net]) -> Result<NetnsPlan, String> {
    if names.is_empty() || names.len() > 99 {
        return Err(format!(
            "a namespace cluster has 1 to 99 nodes, not {}",
            names.len()
        ));
    }
    if id.is_empty() || id.len() > 6 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("run id {id:?}: expected 1 to 6 letters or digits"));
    }
    let seed = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    // 50 * 256 candidate /24s; try at most 512 of them.
    let subnet = (0..512u64)
        .map(|k| {
            let n = (seed.wrapping_add(k.wrapping_mul(7919))) % (50 * 256);
            [10u8, 200 + (n / 256) as u8, (n % 256) as u8]
        })
        .find(|s| {
            let net = (Ipv4Addr::new(s[0], s[1], s[2], 0), 24);
            !taken.iter().any(|t| overlaps(net, *t))
        })
        .ok_or_else(|| "no free /24 inside 10.200.0.0/16..10.249.0.0/16".to_string())?;
    let prefix = format!("fl{id}");
    let nodes = names
        .iter()
        .enumerate()
        .map(|(i, name)| NetnsNode {
            name: name.clone(),
            namespace: format!("{prefix}-n{}", i + 1),
            veth: format!("{prefix}-v{}", i + 1),
            inner: format!("{prefix}-p{}", i + 1),
            ip: Ipv4Addr::new(subnet[0], subnet[1], subnet[2], 11 + i as u8),
        })
        .collect();
    Ok(NetnsPlan {
        bridge: format!("{prefix}-br"),
        prefix,
        gateway: Ipv4Addr::new(subnet[0], subnet[1], subnet[2], 1),
        subnet,
        nodes,
    })
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

impl NetnsPlan {
    /// The `FORWARD` rule (without `-I`/`-D`) that lets the bridge's own traffic through.
    fn forward_rule(&self) -> Vec<String> {
        args(&[
            "FORWARD",
            "-i",
            &self.bridge,
            "-o",
            &self.bridge,
            "-j",
            "ACCEPT",
        ])
    }

    /// The commands that create the network, in order (each a program and its arguments). Pure.
    pub fn setup_commands(&self) -> Vec<Vec<String>> {
        let mut cmds = Vec::new();
        let gw = format!("{}/24", self.gateway);
        cmds.push(args(&["ip", "link", "add", &self.bridge, "type", "bridge"]));
        cmds.push(args(&["ip", "addr", "add", &gw, "dev", &self.bridge]));
        cmds.push(args(&["ip", "link", "set", &self.bridge, "up"]));
        let mut forward = args(&["iptables", "-w", "-I"]);
        forward.extend(self.forward_rule());
        cmds.push(forward);
        for n in &self.nodes {
            let ns = n.namespace.as_str();
            let ip = format!("{}/24", n.ip);
            cmds.push(args(&["ip", "netns", "add", ns]));
            cmds.push(args(&[
                "ip", "link", "add", &n.veth, "type", "veth", "peer", "name", &n.inner,
            ]));
            cmds.push(args(&["ip", "link", "set", &n.inner, "netns", ns]));
            cmds.push(args(&[
                "ip",
                "link",
                "set",
                &n.veth,
                "master",
                &self.bridge,
            ]));
            cmds.push(args(&["ip", "link", "set", &n.veth, "up"]));
            let inside = |words: &[&str]| {
                let mut c = args(&["ip", "netns", "exec", ns]);
                c.extend(args(words));
                c
            };
            cmds.push(inside(&["ip", "addr", "add", &ip, "dev", &n.inner]));
            cmds.push(inside(&["ip", "link", "set", &n.inner, "up"]));
            cmds.push(inside(&["ip", "link", "set", "lo", "up"]));
            for rule in super::iptables::setup_rules() {
                let mut c = args(&["ip", "netns", "exec", ns, "iptables", "-w"]);
                c.extend(rule);
                cmds.push(c);
            }
        }
        cmds
    }

    /// The commands that remove the network, in order; each may find its object already gone.
    /// Root-side veths go explicitly: a deleted namespace releases its devices lazily. Pure.
    pub fn teardown_commands(&self) -> Vec<Vec<String>> {
        let mut cmds = Vec::new();
        for n in &self.nodes {
            cmds.push(args(&["ip", "link", "del", &n.veth]));
            cmds.push(args(&["ip", "netns", "del", &n.namespace]));
        }
        cmds.push(args(&["ip", "link", "del", &self.bridge]));
        let mut forward = args(&["iptables", "-w", "-D"]);
        forward.extend(self.forward_rule());
        cmds.push(forward);
        cmds
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NetnsNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Runs one command; an error carries the command line and its stderr.
pub fn run(cmd: &[String]) -> Result<(), String> {
    let (program, rest) = cmd.split_first().ok_or("empty command")?;
    let out = Command::new(program)
        .args(rest)
        .output()
        .map_err(|e| format!("`{}`: cannot run {program}: {e}", cmd.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            cmd.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The networks in use on this machine (routes and addresses), so a plan avoids them.
pub fn taken_networks() -> Result<Vec<Net>, String> {
    let mut text = String::new();
    for cmd in [["ip", "-4", "route", "show"], ["ip", "-4", "addr", "show"]] {
        let out = Command::new(cmd[0])
            .args(&cmd[1..])
            .output()
            .map_err(|e| format!("cannot run `{}`: {e}", cmd.join(" ")))?;
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        text.push('\n');
    }
    Ok(parse_networks(&text))
}

/// Creates the planned network. On failure, removes whatever part of it was made.
pub fn create(plan: &NetnsPlan) -> Result<(), String> {
    for cmd in plan.setup_commands() {
        if let Err(e) = run(&cmd) {
            destroy(plan);
            return Err(format!(
                "setting up the private network {}: {e}",
                plan.prefix
            ));
        }
    }
    Ok(())
}

/// Removes the planned network, best effort and idempotent. Returns what could not be
/// removed (an object that is already gone is not an error).
pub fn destroy(plan: &NetnsPlan) -> Vec<String> {
    let mut left = Vec::new();
    for cmd in plan.teardown_commands() {
        if let Err(e) = run(&cmd) {
            let gone = [
                "Cannot find device",
                "No such file",
                "does a matching rule exist",
                "Bad rule",
            ]
            .iter()
            .any(|m| e.contains(m));
            if !gone {
                left.push(e);
            }
        }
    }
    left
}

/// Which objects named with the plan's prefix exist: namespaces, links and root iptables
/// rules (checked before a network is created, so a run never adopts another's).
pub fn leftovers(plan: &NetnsPlan) -> Vec<String> {
    let read = |cmd: &[&str]| {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let mut found = Vec::new();
    let netns = read(&["ip", "netns", "list"]);
    let links = read(&["ip", "-o", "link", "show"]);
    let rules = read(&["iptables", "-w", "-S"]);
    for line in netns.lines().chain(links.lines()).chain(rules.lines()) {
        if line.contains(&format!("{}-", plan.prefix)) {
            found.push(line.trim().to_owned());
        }
    }
    found
}

/// Whether this process runs as root (effective uid 0), read from `/proc/self/status`.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| effective_uid(&s) == Some(0))
        .unwrap_or(false)
}

/// The effective uid in a `/proc/<pid>/status` text (`Uid: real effective saved fs`). Pure.
pub fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    #[test]
    fn plans_name_everything_with_the_run_prefix_within_linux_limits() {
        let p = plan("a1b2c3", &names(5), &[]).unwrap();
        assert_eq!(p.prefix, "fla1b2c3");
        assert_eq!(p.bridge, "fla1b2c3-br");
        assert_eq!(p.nodes[4].namespace, "fla1b2c3-n5");
        assert_eq!(p.nodes[4].veth, "fla1b2c3-v5");
        assert_eq!(p.nodes[4].inner, "fla1b2c3-p5");
        let big = plan("a1b2c3", &names(99), &[]).unwrap();
        for n in &big.nodes {
            assert!(n.veth.len() <= 15 && n.inner.len() <= 15, "{n:?}");
        }
        assert_eq!(p.subnet[0], 10);
        assert!((200..250).contains(&p.subnet[1]), "{:?}", p.subnet);
        assert_eq!(p.gateway.octets()[3], 1);
        assert_eq!(p.nodes[0].ip.octets()[3], 11);
        // Same id, same plan; another id, another subnet (most likely).
        assert_eq!(plan("a1b2c3", &names(5), &[]).unwrap(), p);
        assert!(plan("", &names(3), &[]).is_err());
        assert!(plan("a/b", &names(3), &[]).is_err());
        assert!(plan("abc", &[], &[]).is_err());
    }

    #[test]
    fn a_plan_avoids_networks_in_use() {
        let first = plan("abc", &names(3), &[]).unwrap();
        let s = first.subnet;
        let taken = vec![(Ipv4Addr::new(s[0], s[1], s[2], 0), 24)];
        let second = plan("abc", &names(3), &taken).unwrap();
        assert_ne!(second.subnet, first.subnet);
        // All of 10/8 taken: nothing fits.
        assert!(plan("abc", &names(3), &[(Ipv4Addr::new(10, 0, 0, 0), 8)]).is_err());
    }

    #[test]
    fn routes_and_addresses_parse_into_networks() {
        let text = "default via 192.0.2.1 dev eth0\n\
                    192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2\n\
                    10.201.3.0/24 dev fl-br proto kernel\n\
                    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0";
        let nets = parse_networks(text);
        assert!(nets.contains(&(Ipv4Addr::new(192, 0, 2, 0), 24)));
        assert!(nets.contains(&(Ipv4Addr::new(192, 0, 2, 2), 32)));
        assert!(nets.contains(&(Ipv4Addr::new(10, 201, 3, 0), 24)));
        assert!(nets.contains(&(Ipv4Addr::new(172, 17, 0, 1), 16)));
        assert!(!nets.iter().any(|(_, l)| *l == 0));
        assert!(overlaps(
            (Ipv4Addr::new(10, 201, 3, 0), 24),
            (Ipv4Addr::new(10, 0, 0, 0), 8)
        ));
        assert!(!overlaps(
            (Ipv4Addr::new(10, 201, 3, 0), 24),
            (Ipv4Addr::new(10, 201, 4, 0), 24)
        ));
    }

    #[test]
    fn teardown_undoes_setup_for_every_object() {
        let p = plan("abc", &names(2), &[]).unwrap();
        let setup = p.setup_commands();
        let teardown = p.teardown_commands();
        let joined: Vec<String> = teardown.iter().map(|c| c.join(" ")).collect();
        for n in &p.nodes {
            assert!(joined.contains(&format!("ip netns del {}", n.namespace)));
            assert!(joined.contains(&format!("ip link del {}", n.veth)));
        }
        assert!(joined.contains(&"ip link del flabc-br".to_string()));
        assert!(joined
            .contains(&"iptables -w -D FORWARD -i flabc-br -o flabc-br -j ACCEPT".to_string()));
        assert!(setup
            .iter()
            .any(|c| c.join(" ") == "iptables -w -I FORWARD -i flabc-br -o flabc-br -j ACCEPT"));
    }

    #[test]
    fn the_effective_uid_is_the_second_field() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name: x\n"), None);
    }
}
