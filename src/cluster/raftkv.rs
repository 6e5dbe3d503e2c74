//! raftkv as a local cluster: the [`RaftkvLauncher`] (command line, `/status` probe, leader by
//! highest term) and [`start`], which picks ports, wires every directed peer link through its
//! own proxy of the link-proxy mesh ([`crate::net::proxy`]) so partitions need no root, and
//! starts a [`LocalCluster`].

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::launcher::{Launcher, NodeLayout, Status};
use super::local::{LocalCluster, Wired};
use super::ClusterError;
use crate::net::ProxyMesh;
use crate::seed::{names, SeedTree};

/// The files of a raftkv data dir file-corruption faults may damage: its write-ahead log
/// and its snapshot.
pub const RAFTKV_DATA_FILES: [&str; 2] = ["wal.log", "snapshot.bin"];

/// How long one `/status` request may take (a paused node never answers).
pub const STATUS_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a restarted node may take to answer `/status`.
pub const RESTART_TIMEOUT: Duration = Duration::from_secs(20);

/// How to start a local raftkv cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOptions {
    /// Number of nodes (1..=99).
    pub nodes: usize,
    /// The raftkv binary (see [`locate_raftkv`]).
    pub binary: PathBuf,
    /// The run directory: `nodes/nI/{data,raftkv.log}` and `cluster.json` go here.
    pub dir: PathBuf,
    /// `--bug` names passed to every node.
    pub bugs: Vec<String>,
    /// The seed the nodes' and proxies' seeds derive from (by name, see [`crate::seed`]).
    pub seed: u64,
    /// Route every peer link through a proxy (needed for partitions, delay and loss). Off for
    /// `cluster up`, whose proxies would die with the faultline process that started them.
    pub proxies: bool,
    /// Fixed ports: node i's client API on `base + i - 1`, its peer listener on
    /// `base + nodes + i - 1`. `None` picks free ports.
    pub base_port: Option<u16>,
    /// How long to wait for the first leader.
    pub startup_timeout: Duration,
    /// Extra raftkv flags for every node (e.g. `--tick-ms 10`).
    pub extra_args: Vec<String>,
    /// Run every node under libfaketime with its own clock control file (a schedule with
    /// clock faults; see [`crate::fakeclock`]).
    pub fake_clocks: bool,
    /// Mount a power-loss filesystem over every node's data dir (a schedule with power-loss
    /// faults; see [`crate::powerfs`]).
    pub power_loss: bool,
}

impl ClusterOptions {
    /// `nodes` nodes of `binary` in `dir`, free ports, proxies on, no bugs, seed 0, 30 s to
    /// elect a leader.
    pub fn new(nodes: usize, binary: PathBuf, dir: PathBuf) -> ClusterOptions {
        ClusterOptions {
            nodes,
            binary,
            dir,
            bugs: Vec::new(),
            seed: 0,
            proxies: true,
            base_port: None,
            startup_timeout: Duration::from_secs(30),
            extra_args: Vec::new(),
            fake_clocks: false,
            power_loss: false,
        }
    }
}

/// Finds the raftkv binary: `explicit` (`--raftkv-bin`), then `$FAULTLINE_RAFTKV`, then next
/// to the running executable, then in its parent directory (where cargo puts binaries when
/// the running executable is a test in `target/<profile>/deps`).
pub fn locate_raftkv(explicit: Option<&Path>) -> Result<PathBuf, ClusterError> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    } else {
        if let Some(p) = std::env::var_os("FAULTLINE_RAFTKV") {
            candidates.push(PathBuf::from(p));
        }
        if let Ok(exe) = std::env::current_exe() {
            for dir in exe.ancestors().skip(1).take(2) {
                candidates.push(dir.join("raftkv"));
            }
        }
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ClusterError::BinaryNotFound {
            looked: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// A running raftkv cluster: the generic [`LocalCluster`] (it derefs to it) and the proxy
/// mesh its peer links go through (`None` without proxies).
pub type RaftkvCluster = Wired<Option<Arc<ProxyMesh>>>;

impl RaftkvCluster {
    /// The proxy mesh, when the cluster was started with proxies.
    pub fn mesh(&self) -> Option<&Arc<ProxyMesh>> {
        self.network().as_ref()
    }
}

/// How raftkv nodes are run: each node's full command line, `/status` for health and
/// leadership.
#[derive(Debug)]
pub struct RaftkvLauncher {
    binary: PathBuf,
    nodes: Vec<NodeLayout>,
    args: Vec<Vec<String>>,
    http: reqwest::Client,
    /// raftkv's log and snapshot ([`RAFTKV_DATA_FILES`]).
    data_files: Vec<String>,
    /// Kept so the proxies live as long as the nodes dialling them.
    _mesh: Option<Arc<ProxyMesh>>,
}

#[async_trait::async_trait]
impl Launcher for RaftkvLauncher {
    fn program(&self) -> &Path {
        &self.binary
    }

    fn nodes(&self) -> &[NodeLayout] {
        &self.nodes
    }

    fn command(&self, i: usize) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args[i]);
        cmd
    }

    async fn status(&self, i: usize) -> Status {
        fetch_status(&self.http, &self.nodes[i].client).await
    }

    fn data_files(&self) -> &[String] {
        &self.data_files
    }

    fn leader(&self, statuses: &[(String, Status)]) -> Option<String> {
        leader_of(statuses)
    }

    fn restart_timeout(&self) -> Duration {
        RESTART_TIMEOUT
    }

    fn exit_error(&self, i: usize, status: ExitStatus, tail: String) -> ClusterError {
        let node = &self.nodes[i];
        match port_in_use(&tail) {
            Some(addr) => ClusterError::PortInUse {
                node: node.name.clone(),
                addr,
                log: node.log.clone(),
            },
            None => ClusterError::Exited {
                node: node.name.clone(),
                status: status.to_string(),
                log: node.log.clone(),
                tail,
            },
        }
    }

    fn proxies(&self) -> bool {
        self._mesh.is_some()
    }
}

/// Free loopback ports for the nodes, below the ephemeral range (see [`crate::net::ports`]), so
/// a node restarted by the nemesis finds its ports still free.
fn free_addrs(n: usize) -> Result<Vec<SocketAddr>, ClusterError> {
    let ports = crate::net::ports::free_loopback_ports(n)
        .map_err(ClusterError::io("127.0.0.1 (free ports)"))?;
    Ok(ports
        .into_iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .collect())
}

/// The address a "bind ... Address already in use" line in a log names, if any.
fn port_in_use(tail: &str) -> Option<String> {
    let line = tail.lines().find(|l| l.contains("already in use"))?;
    let after = line.split("address ").nth(1)?;
    Some(
        after
            .split_whitespace()
            .next()?
            .trim_end_matches(':')
            .to_string(),
    )
}

/// Starts the cluster and waits until a leader is elected. Needs a tokio runtime (the
/// proxies run on it). On error every process already started is stopped.
///
/// Free ports are probed and released just before the nodes bind, so another process can
/// still take one in between; with free ports a start that fails on a port in use is retried
/// on fresh ports and fresh data dirs.
pub async fn start(opts: ClusterOptions) -> Result<RaftkvCluster, ClusterError> {
    const ATTEMPTS: usize = 4;
    let mut attempt = 1;
    loop {
        match start_once(&opts).await {
            Err(ClusterError::PortInUse { .. })
                if opts.base_port.is_none() && attempt < ATTEMPTS =>
            {
                attempt += 1;
                let nodes_dir = opts.dir.join(crate::rundir::NODES_DIR);
                std::fs::remove_dir_all(&nodes_dir).map_err(ClusterError::io(&nodes_dir))?;
            }
            result => return result,
        }
    }
}

/// The client and peer addresses of `n` nodes: fixed from `base`, or free ports.
fn addresses(
    n: usize,
    base: Option<u16>,
) -> Result<(Vec<SocketAddr>, Vec<SocketAddr>), ClusterError> {
    let Some(base) = base else {
        let addrs = free_addrs(2 * n)?;
        return Ok((addrs[..n].to_vec(), addrs[n..].to_vec()));
    };
    let port = |k: usize| -> Result<SocketAddr, ClusterError> {
        u16::try_from(usize::from(base) + k)
            .ok()
            .filter(|p| *p > 0)
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .ok_or_else(|| {
                ClusterError::Options(format!("--base-port {base} leaves no room for {n} nodes"))
            })
    };
    let https = (0..n).map(port).collect::<Result<Vec<_>, _>>()?;
    let peers = (n..2 * n).map(port).collect::<Result<Vec<_>, _>>()?;
    Ok((https, peers))
}

async fn start_once(opts: &ClusterOptions) -> Result<RaftkvCluster, ClusterError> {
    let n = opts.nodes;
    if n == 0 || n > 99 {
        return Err(ClusterError::Options(format!(
            "a local cluster has 1 to 99 nodes, not {n}"
        )));
    }
    let (https, peers) = addresses(n, opts.base_port)?;
    let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
    let nodes: Vec<NodeLayout> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let dir = opts.dir.join(crate::rundir::NODES_DIR).join(name);
            NodeLayout {
                name: name.clone(),
                client: https[i].to_string(),
                peer: peers[i].to_string(),
                data_dir: dir.join("data"),
                log: dir.join("raftkv.log"),
            }
        })
        .collect();
    // Fixed ports: check them before starting anything, so the message names the port.
    if opts.base_port.is_some() {
        for (i, node) in nodes.iter().enumerate() {
            for addr in [https[i], peers[i]] {
                if TcpListener::bind(addr).is_err() {
                    return Err(ClusterError::PortInUse {
                        node: node.name.clone(),
                        addr: addr.to_string(),
                        log: node.log.clone(),
                    });
                }
            }
        }
    }
    let seeds = SeedTree::new(opts.seed);
    let mesh = if opts.proxies {
        let peer_addrs: Vec<(String, SocketAddr)> =
            names.iter().cloned().zip(peers.iter().copied()).collect();
        Some(Arc::new(
            ProxyMesh::start(&peer_addrs, seeds.derive(names::PROXIES))
                .await
                .map_err(ClusterError::io("127.0.0.1:0 (link proxy)"))?,
        ))
    } else {
        None
    };
    let node_seeds = seeds.child(names::NODES);
    let args = (0..n)
        .map(|i| {
            let mut a = vec![
                "--id".to_string(),
                (i + 1).to_string(),
                "--listen".into(),
                https[i].to_string(),
                "--peer-listen".into(),
                peers[i].to_string(),
                "--data-dir".into(),
                nodes[i].data_dir.display().to_string(),
                "--seed".into(),
                node_seeds.derive(&names[i]).to_string(),
            ];
            for j in (0..n).filter(|j| *j != i) {
                let dial = match &mesh {
                    // The mesh has a link for every ordered pair of distinct nodes.
                    Some(m) => m
                        .link_addr(&names[i], &names[j])
                        .expect("a proxy per directed link"),
                    None => peers[j],
                };
                a.push("--peer".into());
                a.push(format!("{}={dial}", j + 1));
                a.push("--peer-http".into());
                a.push(format!("{}={}", j + 1, https[j]));
            }
            for bug in &opts.bugs {
                a.push("--bug".into());
                a.push(bug.clone());
            }
            a.extend(opts.extra_args.iter().cloned());
            a
        })
        .collect();
    let http = reqwest::Client::builder()
        .timeout(STATUS_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| ClusterError::Options(format!("HTTP client: {e}")))?;
    let launcher = RaftkvLauncher {
        binary: opts.binary.clone(),
        nodes,
        args,
        http,
        data_files: RAFTKV_DATA_FILES.map(String::from).to_vec(),
        _mesh: mesh.clone(),
    };
    let cluster = LocalCluster::start_with_faults(
        Box::new(launcher),
        &opts.dir,
        opts.startup_timeout,
        opts.fake_clocks,
        opts.power_loss,
    )
    .await?;
    Ok(Wired::new(cluster, mesh))
}

/// `GET /status` of a raftkv node at `addr` (`host:port`).
pub async fn fetch_status(http: &reqwest::Client, addr: &str) -> Status {
    let resp = http
        .get(format!("http://{addr}/status"))
        .send()
        .await
        .map_err(|e| format!("no answer: {}", crate::net::cause::http(e)))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    resp.json::<Value>()
        .await
        .map_err(|e| format!("bad /status body: {e}"))
}

/// The raftkv node claiming leadership in the highest term.
pub fn leader_of(statuses: &[(String, Status)]) -> Option<String> {
    statuses
        .iter()
        .filter_map(|(name, s)| {
            let s = s.as_ref().ok()?;
            let term = s.get("term")?.as_u64()?;
            (s.get("role")?.as_str()? == "leader").then_some((term, name))
        })
        .max()
        .map(|(_, name)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_leader_is_the_one_with_the_highest_term() {
        let statuses = vec![
            ("n1".to_string(), Ok(json!({"role": "leader", "term": 3}))),
            ("n2".to_string(), Ok(json!({"role": "leader", "term": 5}))),
            ("n3".to_string(), Ok(json!({"role": "follower", "term": 7}))),
            ("n4".to_string(), Err("paused".to_string())),
        ];
        assert_eq!(leader_of(&statuses).as_deref(), Some("n2"));
        assert_eq!(leader_of(&statuses[2..]), None);
    }

    #[test]
    fn a_bind_failure_names_the_address() {
        let tail = "INFO something\nraftkv: bind peer address 127.0.0.1:7101: Address already in use (os error 98)";
        assert_eq!(port_in_use(tail).as_deref(), Some("127.0.0.1:7101"));
        assert_eq!(port_in_use("raftkv: invalid flags"), None);
    }

    #[test]
    fn fixed_ports_are_consecutive_and_bounded() {
        let (https, peers) = addresses(3, Some(7001)).expect("room");
        assert_eq!(https[2].port(), 7003);
        assert_eq!(peers[0].port(), 7004);
        assert!(addresses(3, Some(65534)).is_err());
    }

    #[test]
    fn a_missing_binary_lists_where_we_looked() {
        let e = locate_raftkv(Some(Path::new("/nonexistent/raftkv"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/raftkv"), "{e}");
    }
}
