//! SSH test hosts without remote machines: each "host" is a network namespace on a private
//! bridge (planned and created by `faultline::net::netns`, addresses in 10.200-249.x.0/24,
//! used only inside the namespaces and the bridge) running its own OpenSSH server
//! (`/usr/sbin/sshd -D -f CONFIG`, listening only on the namespace's address), with a host
//! key and an authorized client key generated for this test only. faultline connects with
//! that key and a known_hosts file written here (strict host key checking stays on).
//!
//! [`SshHosts`] is a drop guard: it kills every process left in the namespaces (the nodes a
//! test's faultline started are daemons there, not children of anyone here), the sshds, and
//! removes the network and the keys.
//!
//! Standalone (benches/ssh_faults.rs includes it by path too).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faultline::net::netns::{self, NetnsPlan};

/// Where `tool` is on `PATH`, if it is.
pub fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Why SSH test hosts cannot be built here, if they cannot.
pub fn missing_prerequisite() -> Option<String> {
    if !netns::is_root() {
        return Some("not running as root".into());
    }
    for tool in ["/usr/sbin/sshd", "/usr/bin/ssh-keygen"] {
        if !Path::new(tool).is_file() {
            return Some(format!("{tool} is not installed (Debian: openssh-server)"));
        }
    }
    for tool in ["ip", "iptables", "ssh"] {
        if on_path(tool).is_none() {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// Whether the SSH end-to-end tests can run; prints why not and returns false, unless
/// `FAULTLINE_REQUIRE_SSH` or `FAULTLINE_REQUIRE_ETCD` (CI) is set, which makes it a failure.
pub fn can_run(test: &str) -> bool {
    match missing_prerequisite() {
        None => true,
        Some(why) => {
            assert!(
                std::env::var_os("FAULTLINE_REQUIRE_SSH").is_none()
                    && std::env::var_os("FAULTLINE_REQUIRE_ETCD").is_none(),
                "{test}: CI requires the SSH tests but {why}"
            );
            eprintln!("skipping {test}: {why}");
            false
        }
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// N SSH hosts in network namespaces, removed on drop.
pub struct SshHosts {
    /// The network they live on.
    pub plan: NetnsPlan,
    /// Keys, configs, known_hosts (removed on drop).
    pub keys: tempfile::TempDir,
    sshds: Vec<Child>,
}

impl SshHosts {
    /// Builds `n` hosts and waits until each sshd accepts connections.
    pub fn create(n: usize) -> SshHosts {
        SshHosts::create_without_iptables(n, &[])
    }

    /// Like [`SshHosts::create`], but on the hosts at `broken` (positions) iptables cannot
    /// run: its binary is masked by an empty, non-executable file in that host's mount table,
    /// as on a host where it is not installed.
    pub fn create_without_iptables(n: usize, broken: &[usize]) -> SshHosts {
        let id = format!("{:06x}", rand_id());
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let taken = netns::taken_networks().expect("networks in use");
        let plan = netns::plan(&id, &names, &taken).expect("plan");
        let keys = tempfile::tempdir().expect("key dir");
        let mut hosts = SshHosts {
            plan,
            keys,
            sshds: Vec::new(),
        };
        netns::create(&hosts.plan).expect("test network");
        let dir = hosts.keys.path().to_path_buf();
        for key in ["client", "host"] {
            run(Command::new("ssh-keygen")
                .args([
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "faultline-test",
                    "-f",
                ])
                .arg(dir.join(key)));
        }
        std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys"))
            .expect("authorized_keys");
        let host_pub = std::fs::read_to_string(dir.join("host.pub")).expect("host key");
        let host_pub: Vec<&str> = host_pub.split_whitespace().take(2).collect();
        let known: String = hosts
            .plan
            .nodes
            .iter()
            .map(|n| format!("{} {}\n", n.ip, host_pub.join(" ")))
            .collect();
        std::fs::write(dir.join("known_hosts"), known).expect("known_hosts");
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        for (i, node) in hosts.plan.nodes.clone().into_iter().enumerate() {
            let config = dir.join(format!("sshd-{}.conf", node.name));
            std::fs::write(
                &config,
                format!(
                    "Port 22\nListenAddress {ip}\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
                     PidFile {d}/sshd-{name}.pid\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nMaxStartups 200\nMaxSessions 200\n\
                     LogLevel ERROR\n",
                    ip = node.ip,
                    d = dir.display(),
                    name = node.name
                ),
            )
            .expect("sshd config");
            // A test host is a clean machine: root's ~/.bashrc on this one (bash sources it
            // for every command sshd runs; here it starts pyenv, about 200 ms) is masked in
            // the namespace's own mount table (`ip netns exec` unshares it), never changed.
            let mask_iptables = if broken.contains(&i) {
                format!(
                    "PATH=\"$PATH:/usr/sbin:/sbin\"; t=$(readlink -f \"$(command -v iptables)\") && \
                     mount --bind {empty} \"$t\" || exit 1; "
                ,
                    empty = dir.join("empty-rc").display()
                )
            } else {
                String::new()
            };
            let start_sshd = format!(
                "{mask_iptables}rc=\"$HOME/.bashrc\"; if [ -f \"$rc\" ]; then mount --bind {empty} \"$rc\" || exit 1; fi; \
                 exec /usr/sbin/sshd -D -e -f {config}",
                empty = dir.join("empty-rc").display(),
                config = config.display(),
            );
            std::fs::write(dir.join("empty-rc"), "").expect("empty rc file");
            let child = Command::new("ip")
                .args(["netns", "exec", &node.namespace, "sh", "-c", &start_sshd])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(
                    std::fs::File::create(dir.join(format!("sshd-{}.log", node.name)))
                        .expect("log"),
                )
                .spawn()
                .expect("sshd starts");
            hosts.sshds.push(child);
        }
        for node in &hosts.plan.nodes {
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::net::TcpStream::connect_timeout(
                &(node.ip, 22).into(),
                Duration::from_millis(500),
            )
            .is_err()
            {
                assert!(
                    Instant::now() < deadline,
                    "sshd on {} never listened: {}",
                    node.ip,
                    std::fs::read_to_string(dir.join(format!("sshd-{}.log", node.name)))
                        .unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        hosts
    }

    /// The hosts' addresses, in order.
    pub fn ips(&self) -> Vec<Ipv4Addr> {
        self.plan.nodes.iter().map(|n| n.ip).collect()
    }

    /// An address on the hosts' network where nothing listens.
    pub fn unreachable_ip(&self) -> Ipv4Addr {
        let s = self.plan.subnet;
        Ipv4Addr::new(s[0], s[1], s[2], 200)
    }

    /// The client key.
    pub fn key(&self) -> PathBuf {
        self.keys.path().join("client")
    }

    /// The known_hosts file naming every host.
    pub fn known_hosts(&self) -> PathBuf {
        self.keys.path().join("known_hosts")
    }

    /// The `faultline test` flags reaching these hosts: `--cluster ssh --host IP...`, the
    /// key, the known_hosts file, a short connect timeout.
    pub fn flags(&self) -> Vec<String> {
        let mut f: Vec<String> = vec!["--cluster".into(), "ssh".into()];
        for ip in self.ips() {
            f.extend(["--host".into(), ip.to_string()]);
        }
        f.extend(self.ssh_flags(&self.key(), &self.known_hosts()));
        f
    }

    /// `--ssh-user root --ssh-key KEY --ssh-option UserKnownHostsFile=KNOWN ...`.
    pub fn ssh_flags(&self, key: &Path, known: &Path) -> Vec<String> {
        vec![
            "--ssh-user".into(),
            "root".into(),
            "--ssh-key".into(),
            key.display().to_string(),
            "--ssh-option".into(),
            format!("UserKnownHostsFile={}", known.display()),
            "--ssh-option".into(),
            "GlobalKnownHostsFile=/dev/null".into(),
            "--ssh-option".into(),
            "ConnectTimeout=5".into(),
        ]
    }

    /// Pids of processes in host `i`'s namespace other than its sshd.
    pub fn processes(&self, i: usize) -> Vec<String> {
        let ns = &self.plan.nodes[i].namespace;
        let out = Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .expect("ip netns pids");
        let sshd = self.sshds.get(i).map(|c| c.id()).unwrap_or(0);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter(|p| *p != sshd && !is_zombie(*p) && !is_sshd(*p))
            .map(|p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                format!("{p}: {}", String::from_utf8_lossy(&cmd).replace('\0', " "))
            })
            .collect()
    }

    /// The iptables rules in host `i`'s namespace that mention faultline's per-run chains
    /// (`FL-P-`, `FL-L-`).
    pub fn our_rules(&self, i: usize) -> Vec<String> {
        let ns = &self.plan.nodes[i].namespace;
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "iptables", "-w", "-S"])
            .output()
            .expect("iptables -S");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("FL-P-") || l.contains("FL-L-"))
            .map(str::to_owned)
            .collect()
    }

    /// Waits (up to 20 s) until no host has a process (beyond sshd) or a rule of ours, and no
    /// `/tmp/faultline-*` directory of a run is left; fails naming what is left.
    pub fn assert_clean(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut left: Vec<String> = Vec::new();
            for i in 0..self.plan.nodes.len() {
                left.extend(
                    self.processes(i)
                        .into_iter()
                        .map(|p| format!("host {i}: process {p}")),
                );
                left.extend(
                    self.our_rules(i)
                        .into_iter()
                        .map(|r| format!("host {i}: rule {r}")),
                );
            }
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left behind on the hosts: {left:#?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(true)
}

fn is_sshd(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            String::from_utf8_lossy(&c).starts_with("sshd")
                || String::from_utf8_lossy(&c).starts_with("/usr/sbin/sshd")
        })
        .unwrap_or(false)
}

fn rand_id() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (t ^ std::process::id().rotate_left(13)) & 0xff_ffff
}

impl Drop for SshHosts {
    fn drop(&mut self) {
        // Everything in the namespaces first (nodes are daemons there), then the sshds.
        for node in &self.plan.nodes {
            if let Ok(out) = Command::new("ip")
                .args(["netns", "pids", &node.namespace])
                .output()
            {
                for p in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(pid) = p.parse::<i32>() {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                }
            }
        }
        for child in &mut self.sshds {
            let _ = child.kill();
            let _ = child.wait();
        }
        let left = netns::destroy(&self.plan);
        if !left.is_empty() {
            eprintln!("could not remove the test hosts' network: {left:?}");
        }
    }
}
