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
) -> Result<Vec<(String, Vec<String>)>, UnknownNode> {
    let mut out = Vec::new();
    for (to, froms) in grudge {
        ip_of(ips, to)?;
        for from in froms {
            let ip = ip_of(ips, from)?.to_string();
            out.push((
                to.clone(),
                words(&["-A", PARTITION, "-s", &ip, "-j", "DROP"]),
            ));
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
                        LOSS,
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
        let rules = rendered(&partition_rules(&g, &ips(3)).unwrap());
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
        let rules = rendered(&partition_rules(&g, &ips(3)).unwrap());
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
        assert_eq!(partition_rules(&g, &ips(3)), Err(UnknownNode("n9".into())));
        assert!(loss_rules(0.1, Some(&["n7".to_string()]), &ips(3)).is_err());
    }

    #[test]
    fn loss_covers_the_chosen_links_in_both_directions() {
        let all = loss_rules(0.25, None, &ips(3)).unwrap();
        assert_eq!(all.len(), 6, "every directed link");
        assert_eq!(
            all[0].1.join(" "),
            "-A FL-LOSS -s 10.9.9.12 -m statistic --mode random --probability 0.2500 -j DROP"
        );
        let one = rendered(&loss_rules(0.5, Some(&["n2".to_string()]), &ips(3)).unwrap());
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
}
