//! External clusters (`--cluster external --node URL ...`): nodes faultline does not start.
//! It only talks to them: it checks each is reachable before the run, asks them who leads,
//! and (through [`crate::nemesis::ExternalNemesis`]) runs the user's fault commands.

use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::etcd::etcd_leader;
use super::local::leader_of;
use super::ClusterError;
use crate::nemesis::command::shell_safe;

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

/// One node of an external cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalNode {
    /// Its name in histories (`n1`.. unless given as `NAME=URL`).
    pub name: String,
    /// Its base URL, no trailing slash.
    pub url: String,
    /// The URL's host (`{host}` in command templates).
    pub host: String,
}

/// Parses `--node` values: `URL` or `NAME=URL`, nodes without a name called `n1`, `n2`, ..
/// by position. Names, hosts and URLs must be plain (see [`shell_safe`]) because they are
/// substituted into shell commands. Pure.
pub fn parse_nodes(args: &[String]) -> Result<Vec<ExternalNode>, String> {
    if args.is_empty() {
        return Err("--cluster external needs at least one --node URL".into());
    }
    let mut nodes: Vec<ExternalNode> = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let (name, raw) = match arg.split_once('=') {
            Some((n, u)) if !n.contains("://") => (n.to_owned(), u),
            _ => (format!("n{}", i + 1), arg.as_str()),
        };
        let with_scheme = if raw.contains("://") {
            raw.to_owned()
        } else {
            format!("http://{raw}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| format!("--node {arg}: bad URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("--node {arg}: the scheme must be http or https"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "--node {arg}: a node URL takes no query or fragment"
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| format!("--node {arg}: no host"))?
            .to_owned();
        let url = url.as_str().trim_end_matches('/').to_owned();
        for (what, value) in [("name", &name), ("host", &host), ("URL", &url)] {
            if !shell_safe(value) {
                return Err(format!(
                    "--node {arg}: the {what} {value:?} may only hold letters, digits and ._-:/@[]%+=,"
                ));
            }
        }
        if nodes.iter().any(|n| n.name == name) {
            return Err(format!("--node {arg}: the name {name} is used twice"));
        }
        nodes.push(ExternalNode { name, url, host });
    }
    Ok(nodes)
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
                Err(e) => last = e.to_string(),
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
                    Err(e) => Err(e.to_string()),
                };
                statuses.push((n.name.clone(), status));
            }
            leader_of(&statuses)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_named_by_position_unless_named() {
        let args: Vec<String> = [
            "http://127.0.0.1:2379/",
            "db2=127.0.0.1:22379",
            "https://h3:1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let nodes = parse_nodes(&args).unwrap();
        assert_eq!(
            nodes,
            vec![
                ExternalNode {
                    name: "n1".into(),
                    url: "http://127.0.0.1:2379".into(),
                    host: "127.0.0.1".into()
                },
                ExternalNode {
                    name: "db2".into(),
                    url: "http://127.0.0.1:22379".into(),
                    host: "127.0.0.1".into()
                },
                ExternalNode {
                    name: "n3".into(),
                    url: "https://h3:1".into(),
                    host: "h3".into()
                },
            ]
        );
    }

    #[test]
    fn bad_nodes_are_named() {
        let cases: [(&[&str], &str); 5] = [
            (&[], "at least one --node"),
            (&["ftp://x:1"], "http or https"),
            (&["a b=http://x:1"], "the name"),
            (&["http://x:1/?q=1"], "no query"),
            (&["a=http://x:1", "a=http://y:1"], "used twice"),
        ];
        for (i, (args, want)) in cases.into_iter().enumerate() {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let e = parse_nodes(&args).unwrap_err();
            assert!(e.contains(want), "case {i}: {e}");
        }
    }
}
