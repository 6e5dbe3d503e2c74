//! The `topology` message of Maelstrom's broadcast workload: after `init`, every node is told
//! which nodes are its neighbours (`{"type":"topology","topology":{"n0":["n1",...],...}}`,
//! answered `topology_ok`), shaped as Maelstrom's `--topology` says. Pure.
//!
//! - `grid` (Maelstrom's default): the nodes row by row in a square of side ⌈√N⌉, each linked
//!   to the nodes above, below, left and right of it;
//! - `line`: each node linked to the one before and after it;
//! - `total`: every node linked to every other;
//! - `tree2`, `tree3`, `tree4`: a tree of that many children per node, in node order (node i's
//!   parent is (i-1)/k), links both ways.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// A topology shape (`--topology`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Topology {
    /// A square grid (Maelstrom's default).
    #[default]
    Grid,
    /// A line.
    Line,
    /// Everyone to everyone.
    Total,
    /// A tree with this many children per node (2, 3 or 4).
    Tree(usize),
}

impl Topology {
    /// Every shape's flag name.
    pub const NAMES: [&'static str; 6] = ["grid", "line", "total", "tree2", "tree3", "tree4"];

    /// The shape named `name` (one of [`Topology::NAMES`]).
    pub fn from_name(name: &str) -> Option<Topology> {
        match name {
            "grid" => Some(Topology::Grid),
            "line" => Some(Topology::Line),
            "total" => Some(Topology::Total),
            "tree2" => Some(Topology::Tree(2)),
            "tree3" => Some(Topology::Tree(3)),
            "tree4" => Some(Topology::Tree(4)),
            _ => None,
        }
    }

    /// The flag's spelling.
    pub fn name(self) -> String {
        match self {
            Topology::Grid => "grid".into(),
            Topology::Line => "line".into(),
            Topology::Total => "total".into(),
            Topology::Tree(k) => format!("tree{k}"),
        }
    }

    /// Each node's neighbours, in node order.
    pub fn neighbours(self, nodes: &[String]) -> BTreeMap<String, Vec<String>> {
        let n = nodes.len();
        let mut links: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut link = |a: usize, b: usize| {
            if a != b && !links[a].contains(&b) {
                links[a].push(b);
                links[b].push(a);
            }
        };
        match self {
            Topology::Grid => {
                let side = (1..=n).find(|s| s * s >= n).unwrap_or(1);
                for i in 0..n {
                    if i % side + 1 < side && i + 1 < n {
                        link(i, i + 1);
                    }
                    if i + side < n {
                        link(i, i + side);
                    }
                }
            }
            Topology::Line => {
                for i in 1..n {
                    link(i - 1, i);
                }
            }
            Topology::Total => {
                for a in 0..n {
                    for b in a + 1..n {
                        link(a, b);
                    }
                }
            }
            Topology::Tree(k) => {
                for i in 1..n {
                    link((i - 1) / k.max(1), i);
                }
            }
        }
        nodes
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut ns: Vec<usize> = links[i].clone();
                ns.sort_unstable();
                (
                    name.clone(),
                    ns.into_iter().map(|j| nodes[j].clone()).collect(),
                )
            })
            .collect()
    }

    /// The `topology` message body (without `msg_id`) for `nodes`.
    pub fn message(self, nodes: &[String]) -> Value {
        json!({"type": "topology", "topology": self.neighbours(nodes)})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("n{i}")).collect()
    }

    fn of(t: Topology, n: usize) -> Vec<String> {
        t.neighbours(&nodes(n))
            .into_iter()
            .map(|(k, v)| format!("{k}:{}", v.join(",")))
            .collect()
    }

    #[test]
    fn the_shapes_link_the_nodes_as_maelstrom_draws_them() {
        // 5 nodes in a 3-wide grid: n0 n1 n2 / n3 n4.
        assert_eq!(
            of(Topology::Grid, 5),
            ["n0:n1,n3", "n1:n0,n2,n4", "n2:n1", "n3:n0,n4", "n4:n1,n3"]
        );
        assert_eq!(of(Topology::Line, 3), ["n0:n1", "n1:n0,n2", "n2:n1"]);
        assert_eq!(of(Topology::Total, 3), ["n0:n1,n2", "n1:n0,n2", "n2:n0,n1"]);
        assert_eq!(
            of(Topology::Tree(2), 5),
            ["n0:n1,n2", "n1:n0,n3,n4", "n2:n0", "n3:n1", "n4:n1"]
        );
        assert_eq!(of(Topology::Grid, 1), ["n0:"]);
    }

    #[test]
    fn every_shape_is_connected_and_symmetric() {
        for name in Topology::NAMES {
            let t = Topology::from_name(name).expect("a shape");
            assert_eq!(t.name(), name);
            for n in 1..=15 {
                let map = t.neighbours(&nodes(n));
                for (a, ns) in &map {
                    for b in ns {
                        assert!(map[b].contains(a), "{name} {n}: {a}-{b} one way");
                    }
                }
                let mut seen = vec!["n0".to_string()];
                let mut i = 0;
                while i < seen.len() {
                    for b in &map[&seen[i]] {
                        if !seen.contains(b) {
                            seen.push(b.clone());
                        }
                    }
                    i += 1;
                }
                assert_eq!(seen.len(), n, "{name} {n}: connected");
            }
        }
        assert_eq!(Topology::from_name("ring"), None);
    }
}
