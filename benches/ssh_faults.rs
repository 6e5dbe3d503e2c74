//! How long applying and healing a partition takes over SSH (issue 15): on 3 SSH test hosts
//! built on this machine (tests/common/ssh_hosts.rs: sshd in network namespaces), the
//! iptables backend isolates n1 from n2 and n3 (4 DROP rules on 3 hosts) and heals (3 chain
//! flushes), K times, once through one multiplexed connection per host (ControlMaster, as
//! `--cluster ssh` runs) and once with a new SSH connection per command (ControlPath=none);
//! prints the medians side by side. `cargo bench --bench ssh_faults`; K from
//! `FAULTLINE_SSH_BENCH_K` (default 20). Skips with a message when not root or sshd is
//! missing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use faultline::nemesis::backend::{IptablesFaults, NetworkFaults};
use faultline::net::iptables::Chains;
use faultline::net::Grudge;
use faultline::ssh::{Mux, SshClient, SshOptions, SshShell};

#[allow(dead_code)]
#[path = "../tests/common/ssh_hosts.rs"]
mod ssh_hosts;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// n1 hears neither n2 nor n3, and neither hears n1.
fn isolate_n1() -> Grudge {
    let mut g = Grudge::new();
    g.insert("n1".into(), ["n2".to_owned(), "n3".to_owned()].into());
    g.insert("n2".into(), ["n1".to_owned()].into());
    g.insert("n3".into(), ["n1".to_owned()].into());
    g
}

/// Median apply and heal times over `k` rounds through `mux`.
fn measure(hosts: &ssh_hosts::SshHosts, mux: Mux, k: usize, id: &str) -> (Duration, Duration) {
    let opts = SshOptions {
        user: Some("root".into()),
        key: Some(hosts.key()),
        port: None,
        options: vec![
            format!("UserKnownHostsFile={}", hosts.known_hosts().display()),
            "GlobalKnownHostsFile=/dev/null".into(),
        ],
    };
    let client = SshClient::new(opts, mux);
    let chains = Chains::for_run(id);
    let names: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
    let mut ips = BTreeMap::new();
    let mut shell_hosts = BTreeMap::new();
    for (name, ip) in names.iter().zip(hosts.ips()) {
        let host = ip.to_string();
        client.connect(&host).expect("connect");
        let mut setup = String::from("set -e\n");
        for rule in chains.setup() {
            setup.push_str(&format!("iptables -w {}\n", rule.join(" ")));
        }
        client
            .check(&host, &setup, "creating chains")
            .expect("chains");
        ips.insert(name.clone(), ip);
        shell_hosts.insert(name.clone(), (host, false));
    }
    let mut faults = IptablesFaults::over(
        ips,
        Box::new(SshShell::new(client.clone(), shell_hosts.clone())),
        chains.clone(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let grudge = isolate_n1();
    let (mut apply, mut heal) = (Vec::new(), Vec::new());
    for _ in 0..k {
        let t = Instant::now();
        rt.block_on(faults.partition(&grudge)).expect("partition");
        apply.push(t.elapsed());
        let t = Instant::now();
        rt.block_on(faults.heal_partition()).expect("heal");
        heal.push(t.elapsed());
    }
    for (host, _) in shell_hosts.values() {
        let mut down = String::new();
        for rule in chains.teardown() {
            down.push_str(&format!("iptables -w {} 2>/dev/null; ", rule.join(" ")));
        }
        down.push_str("true");
        let _ = client.check(host, &down, "removing chains");
    }
    client.close_all(shell_hosts.values().map(|(h, _)| h.as_str()));
    (median(apply), median(heal))
}

fn main() {
    if let Some(why) = ssh_hosts::missing_prerequisite() {
        println!("ssh_faults: skipped: {why}");
        return;
    }
    let k: usize = std::env::var("FAULTLINE_SSH_BENCH_K")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|k| *k > 0)
        .unwrap_or(20);
    let hosts = ssh_hosts::SshHosts::create(3);
    let id = format!("{:06x}", std::process::id() & 0xff_ffff);
    let ctl = faultline::ssh::control_dir(&id);
    let muxed = measure(&hosts, Mux::Through(ctl), k, &id);
    let fresh = measure(&hosts, Mux::Off, k, &id);
    println!("partition over SSH on 3 local test hosts (isolate n1: 4 rules on 3 hosts; heal: 3 flushes), median of {k}");
    println!("{:<28} {:>12} {:>12}", "", "apply", "heal");
    for (name, (a, h)) in [
        ("multiplexed (ControlMaster)", muxed),
        ("new connection per command", fresh),
    ] {
        println!(
            "{name:<28} {:>9.1} ms {:>9.1} ms",
            a.as_secs_f64() * 1e3,
            h.as_secs_f64() * 1e3
        );
    }
}
