//! iptables rules for network faults inside node namespaces (pure: rules are argument lists;
//! [`crate::nemesis::backend::IptablesFaults`] runs them with `ip netns exec NS iptables -w ...`).
//!
//! Each node namespace has two chains of its own, jumped to from `INPUT`: [`PARTITION`] and
//! [`LOSS`], so healing a partition (flushing one chain) leaves packet loss alone and the
//! other way round. A rule in node A's namespace that drops packets from B's address is the
//! grudge "A does not hear B" — one direction only, exactly the grudge's meaning (`b ∈
//! grudge[a]` cuts the link `b → a`), so one-way partitions need nothing special. The
//! controller's address (the bridge) is never matched, so clients always reach every node.
//! Packet loss uses the `statistic` match (`tc netem` is not available).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::grudge::Grudge;

/// The chain holding partition rules in every node namespace.
pub const PARTITION: &str = "FL-PARTITION";
/// The chain holding packet-loss rules in every node namespace.
pub const LOSS: &str = "FL-LOSS";

fn words(ws: &[&str]) -> Vec<String> {
    ws.iter().map(|w| (*w).to_owned()).collect()
}

/// The rules that create both chains and hook them into `INPUT` (run once per namespace).
pub fn setup_rules() -> Vec<Vec<String>> {
    vec![
        words(&["-N", PARTITION]),
        words(&["-N", LOSS]),
        words(&["-A", "INPUT", "-j", PARTITION]),
        words(&["-A", "INPUT", "-j", LOSS]),
    ]
}

/// Empties `chain` (a heal).
pub fn flush(chain: &str) -> Vec<String> {
    words(&["-F", chain])
}

/// The two chains a cluster's fault rules go in: one for partitions, one for packet loss, so
/// healing one family (flushing its chain) leaves the other alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Chains {
    /// Partition rules.
    pub partition: String,
    /// Packet-loss rules.
    pub loss: String,
}

impl Chains {
    /// The chains of a namespace cluster ([`PARTITION`], [`LOSS`]): the namespaces are the
    /// run's own, so the names need no run id.
    pub fn namespace() -> Chains {
        Chains {
            partition: PARTITION.into(),
            loss: LOSS.into(),
        }
    }

    /// The chains of one run on hosts shared with others (SSH hosts): `FL-P-<id>` and
    /// `FL-L-<id>`, so a heal or a cleanup touches exactly this run's rules.
    pub fn for_run(run_id: &str) -> Chains {
        Chains {
            partition: format!("FL-P-{run_id}"),
            loss: format!("FL-L-{run_id}"),
        }
    }

    /// The rules that create both chains and jump to them first thing in `INPUT` (inserted
    /// at the top, so the user's own ACCEPT rules cannot bypass a partition).
    pub fn setup(&self) -> Vec<Vec<String>> {
        vec![
            words(&["-N", &self.partition]),
            words(&["-N", &self.loss]),
            words(&["-I", "INPUT", "1", "-j", &self.loss]),
            words(&["-I", "INPUT", "1", "-j", &self.partition]),
        ]
    }

    /// The rules that remove both chains and their jumps (each may find its object gone).
    pub fn teardown(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for c in [&self.partition, &self.loss] {
            out.push(words(&["-D", "INPUT", "-j", c]));
            out.push(words(&["-F", c]));
            out.push(words(&["-X", c]));
        }
        out
    }
}

/// Why rules could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node {0:?} is not in this cluster")]
pub struct UnknownNode(pub String);

fn ip_of<'a>(ips: &'a BTreeMap<String, Ipv4Addr>, node: &str) -> Result<&'a Ipv4Addr, UnknownNode> {
    ips.get(node).ok_or_else(|| UnknownNode(node.to_owned()))
}

/// The rules a grudge needs: for every `from ∈ grudge[to]`, in `to`'s namespace, drop what
/// comes from `from`'s address. Returns `(namespace owner, rule)` pairs in a stable order.
pub fn partition_rules(
    grudge: &Grudge,
    ips: &BTreeMap<String, Ipv4Addr>,
    chain: &str,
) -> Result<Vec<(String, Vec<String>)>, UnknownNode> {
    let mut out = Vec::new();
    for (to, froms) in grudge {
        ip_of(ips, to)?;
        for from in froms {
            let ip = ip_of(ips, from)?.to_string();
            out.push((to.clone(), words(&["-A", chain, "-s", &ip, "-j", "DROP"])));
        }
    }
    Ok(out)
}

/// The rules for packet loss with `probability` on the links to and from `nodes` (every link
/// when `None`): in each namespace, drop that share of what comes from each peer on such a
/// link. Returns `(namespace owner, rule)` pairs in a stable order.
pub fn loss_rules(
    probability: f64,
    nodes: Option<&[String]>,
    ips: &BTreeMap<String, Ipv4Addr>,
    chain: &str,
) -> Result<Vec<(String, Vec<String>)>, UnknownNode> {
    if let Some(ns) = nodes {
        for n in ns {
            ip_of(ips, n)?;
        }
    }
    let chosen = |n: &str| nodes.is_none_or(|ns| ns.iter().any(|x| x == n));
    let p = format!("{probability:.4}");
    let mut out = Vec::new();
    for (to, _) in ips.iter() {
        for (from, from_ip) in ips.iter().filter(|(f, _)| *f != to) {
            if chosen(to) || chosen(from) {
                let ip = from_ip.to_string();
                out.push((
                    to.clone(),
                    words(&[
                        "-A",
                        chain,
                        "-s",
                        &ip,
                        "-m",
                        "statistic",
                        "--mode",
                        "random",
                        "--probability",
                        &p,
                        "-j",
                        "DROP",
                    ]),
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::net::grudge::grudge_of as grudge;

    fn ips(n: usize) -> BTreeMap<String, Ipv4Addr> {
        (1..=n)
            .map(|i| (format!("n{i}"), Ipv4Addr::new(10, 9, 9, 10 + i as u8)))
            .collect()
    }

    fn rendered(rules: &[(String, Vec<String>)]) -> Vec<String> {
        rules
            .iter()
            .map(|(ns, r)| format!("{ns}: {}", r.join(" ")))
            .collect()
    }

    #[test]
    fn halves_drop_both_ways_across_the_cut() {
        let g = grudge(&[("n1", &["n2", "n3"]), ("n2", &["n1"]), ("n3", &["n1"])]);
        let rules = rendered(&partition_rules(&g, &ips(3), PARTITION).unwrap());
        assert_eq!(
            rules,
            vec![
                "n1: -A FL-PARTITION -s 10.9.9.12 -j DROP",
                "n1: -A FL-PARTITION -s 10.9.9.13 -j DROP",
                "n2: -A FL-PARTITION -s 10.9.9.11 -j DROP",
                "n3: -A FL-PARTITION -s 10.9.9.11 -j DROP",
            ]
        );
    }

    #[test]
    fn one_way_partitions_drop_only_on_the_receiving_side() {
        let g = grudge(&[("n2", &["n1"]), ("n3", &["n1"])]);
        let rules = rendered(&partition_rules(&g, &ips(3), PARTITION).unwrap());
        assert_eq!(
            rules,
            vec![
                "n2: -A FL-PARTITION -s 10.9.9.11 -j DROP",
                "n3: -A FL-PARTITION -s 10.9.9.11 -j DROP",
            ]
        );
        assert!(
            rules.iter().all(|r| !r.starts_with("n1:")),
            "n1 still hears all"
        );
    }

    #[test]
    fn unknown_nodes_are_refused() {
        let g = grudge(&[("n1", &["n9"]), ("n9", &["n1"])]);
        assert_eq!(
            partition_rules(&g, &ips(3), PARTITION),
            Err(UnknownNode("n9".into()))
        );
        assert!(loss_rules(0.1, Some(&["n7".to_string()]), &ips(3), LOSS).is_err());
    }

    #[test]
    fn loss_covers_the_chosen_links_in_both_directions() {
        let all = loss_rules(0.25, None, &ips(3), LOSS).unwrap();
        assert_eq!(all.len(), 6, "every directed link");
        assert_eq!(
            all[0].1.join(" "),
            "-A FL-LOSS -s 10.9.9.12 -m statistic --mode random --probability 0.2500 -j DROP"
        );
        let one = rendered(&loss_rules(0.5, Some(&["n2".to_string()]), &ips(3), LOSS).unwrap());
        assert_eq!(one.len(), 4, "{one:?}");
        assert!(one
            .iter()
            .any(|r| r.starts_with("n2:") && r.contains("10.9.9.11")));
        assert!(one
            .iter()
            .any(|r| r.starts_with("n2:") && r.contains("10.9.9.13")));
        assert!(one
            .iter()
            .any(|r| r.starts_with("n1:") && r.contains("10.9.9.12")));
        assert!(one
            .iter()
            .any(|r| r.starts_with("n3:") && r.contains("10.9.9.12")));
    }

    #[test]
    fn chains_are_separate_so_heals_are_independent() {
        let setup: Vec<String> = setup_rules().iter().map(|r| r.join(" ")).collect();
        assert!(setup.contains(&"-A INPUT -j FL-PARTITION".to_string()));
        assert!(setup.contains(&"-A INPUT -j FL-LOSS".to_string()));
        assert_eq!(flush(PARTITION).join(" "), "-F FL-PARTITION");
    }

    #[test]
    fn a_runs_chains_are_named_by_it_and_removed_exactly() {
        let c = Chains::for_run("a1b2c3");
        assert_eq!(c.partition, "FL-P-a1b2c3");
        assert!(c.partition.len() <= 28, "iptables chain names are short");
        let setup: Vec<String> = c.setup().iter().map(|r| r.join(" ")).collect();
        assert_eq!(setup[3], "-I INPUT 1 -j FL-P-a1b2c3");
        let down: Vec<String> = c.teardown().iter().map(|r| r.join(" ")).collect();
        for chain in [&c.partition, &c.loss] {
            assert!(down.contains(&format!("-D INPUT -j {chain}")));
            assert!(down.contains(&format!("-X {chain}")));
        }
        assert!(
            down.iter().all(|r| r.contains("FL-")),
            "never a flush of INPUT: {down:?}"
        );
        assert_eq!(Chains::namespace().partition, PARTITION);
    }
}
