//! Nodes faultline does not start (`--cluster external --node [NAME=]URL ...`): their names
//! and addresses, parsed and checked once, so the parts that talk to them (the cluster's
//! reachability and leader probes) and the parts that act on them (the nemesis's fault
//! commands, which substitute names and hosts into shell commands) share one type. Pure; a
//! leaf of the module graph.

use reqwest::Url;

/// Whether `value` can stand in a shell command unquoted: letters, digits and `._-:/@[]%+=,`.
pub fn shell_safe(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:/@[]%+=,".contains(c))
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
