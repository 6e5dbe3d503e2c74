//! External clusters (`--cluster external --node URL ...`): nodes faultline does not start
//! ([`ExternalNode`], parsed in [`crate::node_addr`]). It only talks to them: it checks each
//! is reachable before the run and asks them who leads, over the target's protocol; the
//! nemesis runs the user's fault commands on them.

use std::time::Duration;

use serde_json::Value;

use super::etcd::etcd_leader;
use super::raftkv::leader_of;
use super::ClusterError;
pub use crate::node_addr::{parse_nodes, ExternalNode};
use crate::node_control::LeaderProbe;

/// How each reachability probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Probes per node before it is declared unreachable.
const PROBES: u32 = 3;

/// The client protocol of an external cluster, which decides how it is probed and asked
/// for its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// raftkv: `GET /status`.
    Raftkv,
    /// etcd: `GET /health`, `POST /v3/maintenance/status`.
    Etcd,
}

fn client() -> Result<reqwest::Client, ClusterError> {
    reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| ClusterError::Options(format!("HTTP client: {e}")))
}

/// Checks every node answers HTTP at all (any status: a node without a leader is still
/// there), a few probes each; the error names the first node that never answered.
pub async fn check_reachable(
    nodes: &[ExternalNode],
    protocol: Protocol,
) -> Result<(), ClusterError> {
    let http = client()?;
    let path = match protocol {
        Protocol::Raftkv => "status",
        Protocol::Etcd => "health",
    };
    for node in nodes {
        let url = format!("{}/{path}", node.url);
        let mut last = String::new();
        let mut ok = false;
        for attempt in 0..PROBES {
            match http.get(&url).send().await {
                Ok(_) => {
                    ok = true;
                    break;
                }
                Err(e) => last = crate::net::cause::http(e),
            }
            if attempt + 1 < PROBES {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        if !ok {
            return Err(ClusterError::Options(format!(
                "external node {} at {} is unreachable ({PROBES} tries of GET {url}): {last}",
                node.name, node.url
            )));
        }
    }
    Ok(())
}

/// The node that leads, asked over the cluster's protocol; `None` when no answer names one.
pub async fn leader(nodes: &[ExternalNode], protocol: Protocol) -> Option<String> {
    let http = client().ok()?;
    match protocol {
        Protocol::Etcd => {
            let targets: Vec<(String, String)> = nodes
                .iter()
                .map(|n| (n.name.clone(), n.url.clone()))
                .collect();
            etcd_leader(&http, &targets).await
        }
        Protocol::Raftkv => {
            let mut statuses = Vec::new();
            for n in nodes {
                let status = match http.get(format!("{}/status", n.url)).send().await {
                    Ok(r) => r.json::<Value>().await.map_err(|e| e.to_string()),
                    Err(e) => Err(crate::net::cause::http(e)),
                };
                statuses.push((n.name.clone(), status));
            }
            leader_of(&statuses)
        }
    }
}

/// The leader of an external cluster, asked over its protocol when a fault needs it.
#[derive(Debug, Clone)]
pub struct ExternalLeader {
    /// The nodes.
    pub nodes: Vec<ExternalNode>,
    /// How to ask them.
    pub protocol: Protocol,
}

#[async_trait::async_trait]
impl LeaderProbe for ExternalLeader {
    async fn leader(&self) -> Option<String> {
        leader(&self.nodes, self.protocol).await
    }
}
