//! Cycle classes: what the search looks for ([`Spec`]) and what a found cycle is
//! ([`classify`]).
//!
//! Base classes, by the data edges of a cycle (Adya; Elle's names):
//! - `G0`: only `ww` edges (dirty write);
//! - `G1c`: `ww` and `wr` edges, at least one `wr` (circular information flow);
//! - `G-single-item`: exactly one `rw` edge (read skew);
//! - `G-nonadjacent-item`: several `rw` edges, no two of them next to each other;
//! - `G2-item`: several `rw` edges, some adjacent (write skew and friends).
//!
//! A cycle that needs a `process` edge gets the suffix `-process`, one that needs a
//! `realtime` edge `-realtime`: they violate only the session and strict (real-time) models.

use super::graph::{PROCESS, REALTIME, RW, WR, WW};

/// The data-edge shape of a cycle class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Base {
    /// ww only.
    G0,
    /// ww + wr, at least one wr.
    G1c,
    /// exactly one rw.
    GSingle,
    /// two or more rw, none adjacent.
    GNonadjacent,
    /// two or more rw.
    G2Item,
}

/// Which order edges a class may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Variant {
    /// Data edges only.
    Plain,
    /// Plus process order, at least one process edge.
    Process,
    /// Plus process and real-time order, at least one real-time edge.
    Realtime,
}

/// One cycle class the search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Spec {
    /// The data-edge shape.
    pub base: Base,
    /// The order edges allowed.
    pub variant: Variant,
}

impl Spec {
    /// Every class, most severe first (the order searches run in).
    pub(crate) fn all() -> Vec<Spec> {
        let mut v = Vec::new();
        for variant in [Variant::Plain, Variant::Process, Variant::Realtime] {
            for base in [
                Base::G0,
                Base::G1c,
                Base::GSingle,
                Base::GNonadjacent,
                Base::G2Item,
            ] {
                v.push(Spec { base, variant });
            }
        }
        v
    }

    /// The anomaly name (Elle's).
    pub(crate) fn name(self) -> String {
        name(self.base, self.variant)
    }

    /// Edges a cycle of this class may use.
    pub(crate) fn allowed(self) -> u8 {
        let data = match self.base {
            Base::G0 => WW,
            Base::G1c => WW | WR,
            _ => WW | WR | RW,
        };
        data | match self.variant {
            Variant::Plain => 0,
            Variant::Process => PROCESS,
            Variant::Realtime => PROCESS | REALTIME,
        }
    }

    /// The edge class every cycle of this class contains: the search starts from those.
    pub(crate) fn anchor(self) -> u8 {
        match self.base {
            Base::G0 => WW,
            Base::G1c => WR,
            _ => RW,
        }
    }

    /// The order edge a cycle must contain, if any.
    pub(crate) fn required(self) -> u8 {
        match self.variant {
            Variant::Plain => 0,
            Variant::Process => PROCESS,
            Variant::Realtime => REALTIME,
        }
    }
}

fn name(base: Base, variant: Variant) -> String {
    let b = match base {
        Base::G0 => "G0",
        Base::G1c => "G1c",
        Base::GSingle => "G-single-item",
        Base::GNonadjacent => "G-nonadjacent-item",
        Base::G2Item => "G2-item",
    };
    match variant {
        Variant::Plain => b.to_string(),
        Variant::Process => format!("{b}-process"),
        Variant::Realtime => format!("{b}-realtime"),
    }
}

/// The class of a cycle given the relation of each step (step i goes from node i to node
/// i + 1, the last back to the first). Each step carries exactly one relation bit.
pub(crate) fn classify(rels: &[u8]) -> (Base, Variant) {
    let n = rels.len();
    let rw = rels.iter().filter(|&&r| r == RW).count();
    let adjacent = (0..n).any(|i| rels[i] == RW && rels[(i + 1) % n] == RW);
    let base = match rw {
        0 if rels.contains(&WR) => Base::G1c,
        0 => Base::G0,
        1 => Base::GSingle,
        _ if adjacent => Base::G2Item,
        _ => Base::GNonadjacent,
    };
    let variant = if rels.contains(&REALTIME) {
        Variant::Realtime
    } else if rels.contains(&PROCESS) {
        Variant::Process
    } else {
        Variant::Plain
    };
    (base, variant)
}

/// The anomaly name of a cycle with these step relations.
pub(crate) fn cycle_name(rels: &[u8]) -> String {
    let (b, v) = classify(rels);
    name(b, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_named_by_their_edges() {
        let cases: &[(&[u8], &str)] = &[
            (&[WW, WW], "G0"),
            (&[WW, WR], "G1c"),
            (&[WR, RW], "G-single-item"),
            (&[RW, WR, RW, WW], "G-nonadjacent-item"),
            (&[RW, RW], "G2-item"),
            (&[WR, RW, RW, WW], "G2-item"),
            (&[RW, WR, WW, RW], "G2-item"), // first and last are adjacent around the cycle
            (&[WW, PROCESS], "G0-process"),
            (&[RW, PROCESS, REALTIME], "G-single-item-realtime"),
            (&[WR, PROCESS], "G1c-process"),
        ];
        for (i, (rels, want)) in cases.iter().enumerate() {
            assert_eq!(cycle_name(rels), *want, "case {i}");
        }
    }

    #[test]
    fn every_spec_is_named_and_anchored_inside_its_edges() {
        let specs = Spec::all();
        assert_eq!(specs.len(), 15);
        for s in specs {
            assert_eq!(s.allowed() & s.anchor(), s.anchor(), "{}", s.name());
            assert_eq!(s.allowed() & s.required(), s.required(), "{}", s.name());
        }
    }
}
