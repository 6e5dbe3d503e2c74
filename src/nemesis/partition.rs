//! Partition maths: which node must stop hearing from which. Pure (no I/O, no clock), so every
//! shape is unit-tested without a network, as Jepsen's `nemesis_test` does.
//!
//! A [`Grudge`] maps a node to the set of nodes it must not hear from. The link proxy mesh turns
//! it into cut directed links: `b ∈ grudge[a]` cuts the link `b → a` (b's messages to a).

use std::collections::BTreeSet;

pub use crate::net::grudge::{cut_links, grudge_nodes, Grudge};

/// The smallest majority of `n` nodes.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Splits `nodes` in two: the first ⌊n/2⌋ nodes (the minority when n is odd), then the rest.
pub fn bisect(nodes: &[String]) -> [Vec<String>; 2] {
    let (a, b) = nodes.split_at(nodes.len() / 2);
    [a.to_vec(), b.to_vec()]
}

/// Splits off one node: `[[loner], everyone else]`.
pub fn split_one(nodes: &[String], loner: &str) -> [Vec<String>; 2] {
    let rest = nodes.iter().filter(|n| *n != loner).cloned().collect();
    [vec![loner.to_string()], rest]
}

/// A grudge in which every node hears only the members of its own component: a total
/// partition into those components. Nodes in no component are untouched.
pub fn complete_grudge(components: &[Vec<String>]) -> Grudge {
    let all: BTreeSet<String> = components.iter().flatten().cloned().collect();
    let mut grudge = Grudge::new();
    for component in components {
        let own: BTreeSet<String> = component.iter().cloned().collect();
        let others: BTreeSet<String> = all.difference(&own).cloned().collect();
        for node in component {
            if !others.is_empty() {
                grudge.insert(node.clone(), others.clone());
            }
        }
    }
    grudge
}

/// A one-way partition: the nodes outside `senders` stop hearing from `senders`, while
/// `senders` still hear everyone. (E.g. an isolated leader keeps receiving but its own
/// messages are lost.)
pub fn one_way_grudge(senders: &[String], nodes: &[String]) -> Grudge {
    let muted: BTreeSet<String> = senders.iter().cloned().collect();
    let mut grudge = Grudge::new();
    if muted.is_empty() {
        return grudge;
    }
    for node in nodes.iter().filter(|n| !muted.contains(*n)) {
        grudge.insert(node.clone(), muted.clone());
    }
    grudge
}

/// Jepsen's bridge: the network is cut in half, except one node in the middle (the first of the
/// second half) which keeps talking to both sides.
pub fn bridge(nodes: &[String]) -> Grudge {
    let halves = bisect(nodes);
    let Some(bridge) = halves[1].first().cloned() else {
        return Grudge::new();
    };
    let mut grudge = complete_grudge(&halves);
    grudge.remove(&bridge);
    for heard in grudge.values_mut() {
        heard.remove(&bridge);
    }
    grudge.retain(|_, heard| !heard.is_empty());
    grudge
}

/// Jepsen's majorities ring: with the nodes arranged in a ring (in the given order), each node
/// hears exactly the window of ⌊n/2⌋+1 consecutive nodes around it. Every node sees a majority,
/// but no two nodes see the same one, so no majority agrees on who is reachable.
pub fn majorities_ring(nodes: &[String]) -> Grudge {
    let n = nodes.len();
    let m = majority(n);
    let all: BTreeSet<String> = nodes.iter().cloned().collect();
    let mut grudge = Grudge::new();
    for start in 0..n {
        let window: BTreeSet<String> = (0..m).map(|k| nodes[(start + k) % n].clone()).collect();
        let centre = nodes[(start + m / 2) % n].clone();
        let unheard: BTreeSet<String> = all.difference(&window).cloned().collect();
        if !unheard.is_empty() {
            grudge.insert(centre, unheard);
        }
    }
    grudge
}

/// The nodes a node can hear from (itself included) under `grudge`.
pub fn hears(grudge: &Grudge, node: &str, nodes: &[String]) -> BTreeSet<String> {
    let unheard = grudge.get(node);
    nodes
        .iter()
        .filter(|n| unheard.is_none_or(|u| !u.contains(*n)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn set(xs: &[&str]) -> BTreeSet<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bisect_puts_the_minority_first() {
        let cases = [
            (0, 0, 0),
            (1, 0, 1),
            (2, 1, 1),
            (3, 1, 2),
            (5, 2, 3),
            (6, 3, 3),
        ];
        for (i, (n, a, b)) in cases.into_iter().enumerate() {
            let [x, y] = bisect(&names(n));
            assert_eq!((x.len(), y.len()), (a, b), "case {i}: n={n}");
        }
    }

    #[test]
    fn complete_grudge_of_halves_is_symmetric_and_total() {
        let g = complete_grudge(&bisect(&names(5)));
        assert_eq!(g["n1"], set(&["n3", "n4", "n5"]));
        assert_eq!(g["n2"], set(&["n3", "n4", "n5"]));
        for n in ["n3", "n4", "n5"] {
            assert_eq!(g[n], set(&["n1", "n2"]), "{n}");
        }
        assert_eq!(cut_links(&g).len(), 2 * 2 * 3);
    }

    #[test]
    fn split_one_isolates_the_loner_both_ways() {
        let g = complete_grudge(&split_one(&names(3), "n2"));
        assert_eq!(g["n2"], set(&["n1", "n3"]));
        assert_eq!(g["n1"], set(&["n2"]));
        assert_eq!(g["n3"], set(&["n2"]));
    }

    #[test]
    fn one_way_grudge_mutes_only_the_senders() {
        let g = one_way_grudge(&["n1".to_string()], &names(3));
        assert_eq!(g.len(), 2);
        assert!(!g.contains_key("n1"), "n1 still hears everyone");
        assert_eq!(g["n2"], set(&["n1"]));
        assert_eq!(g["n3"], set(&["n1"]));
        assert!(one_way_grudge(&[], &names(3)).is_empty());
    }

    #[test]
    fn bridge_keeps_one_node_talking_to_both_sides() {
        // Jepsen's nemesis_test: (bridge [1 2 3 4 5]) => {1 #{4 5}, 2 #{4 5}, 4 #{1 2}, 5 #{1 2}}
        let g = bridge(&names(5));
        let want: Grudge = [
            ("n1", set(&["n4", "n5"])),
            ("n2", set(&["n4", "n5"])),
            ("n4", set(&["n1", "n2"])),
            ("n5", set(&["n1", "n2"])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(g, want);
        assert!(bridge(&names(1)).is_empty());
    }

    #[test]
    fn majorities_ring_gives_every_node_a_distinct_majority() {
        for n in 3..=9 {
            let nodes = names(n);
            let g = majorities_ring(&nodes);
            let mut seen = BTreeSet::new();
            for node in &nodes {
                let h = hears(&g, node, &nodes);
                assert_eq!(h.len(), majority(n), "n={n} {node} hears {h:?}");
                assert!(h.contains(node), "n={n}: {node} must hear itself");
                assert!(
                    seen.insert(h.clone()),
                    "n={n}: {node} shares majority {h:?}"
                );
            }
        }
    }

    #[test]
    fn majorities_ring_of_five_matches_jepsen() {
        // Jepsen: (majorities-ring-perfect [1 2 3 4 5]) => each node hears its two neighbours.
        let g = majorities_ring(&names(5));
        assert_eq!(g["n1"], set(&["n3", "n4"]));
        assert_eq!(g["n3"], set(&["n1", "n5"]));
        assert_eq!(g["n5"], set(&["n2", "n3"]));
    }

    #[test]
    fn tiny_clusters_have_nothing_to_cut() {
        assert!(majorities_ring(&names(1)).is_empty());
        assert!(majorities_ring(&names(2)).is_empty());
        assert!(complete_grudge(&bisect(&names(1))).is_empty());
    }
}
