//! The grudge: who must not hear from whom. The one network-fault vocabulary every network
//! backend (the link-proxy mesh, iptables rules, user commands) takes, and what the history
//! and the fault journal record. The shapes (halves, majorities ring, ...) are computed in
//! [`crate::nemesis::partition`]; this leaf only holds the type and its readings. Pure.

use std::collections::{BTreeMap, BTreeSet};

/// Node name → the nodes it must not hear from. Ordered maps so it serialises the same way
/// every time (the history records it). `b ∈ grudge[a]` cuts the link `b → a`.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// Every directed link `(from, to)` a grudge cuts, in a stable order.
pub fn cut_links(grudge: &Grudge) -> Vec<(String, String)> {
    grudge
        .iter()
        .flat_map(|(to, froms)| froms.iter().map(move |from| (from.clone(), to.clone())))
        .collect()
}

/// Every node a grudge names, on either side, sorted: the nodes a partition touches (what
/// the fault journal records for it, whatever the backend).
pub fn grudge_nodes(grudge: &Grudge) -> Vec<String> {
    grudge
        .iter()
        .flat_map(|(to, froms)| std::iter::once(to).chain(froms))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// A grudge from `(node, nodes it must not hear)` pairs (tests write grudges this way).
#[cfg(test)]
pub(crate) fn grudge_of(pairs: &[(&str, &[&str])]) -> Grudge {
    pairs
        .iter()
        .map(|(to, froms)| {
            (
                (*to).to_owned(),
                froms.iter().map(|f| (*f).to_owned()).collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grudge(pairs: &[(&str, &[&str])]) -> Grudge {
        grudge_of(pairs)
    }

    #[test]
    fn a_grudge_touches_both_sides_once_each_in_order() {
        // n2 cut off one way: n1 and n3 stop hearing n2.
        let g = grudge(&[("n1", &["n2"]), ("n3", &["n2"])]);
        assert_eq!(grudge_nodes(&g), ["n1", "n2", "n3"]);
        assert_eq!(
            cut_links(&g),
            [
                ("n2".to_string(), "n1".to_string()),
                ("n2".to_string(), "n3".to_string())
            ]
        );
        assert!(grudge_nodes(&Grudge::new()).is_empty());
    }
}
