//! Consistency models, the anomalies each one prohibits, and the `not` / `also-not` boundary
//! of a set of anomalies (as Elle's `elle.consistency-model` defines them, restricted to the
//! models faultline names).
//!
//! Two small graphs carry the knowledge:
//! - [`IMPLIES`]: model A -> model B when every history satisfying A satisfies B.
//! - [`ANOMALY_IMPLIES`]: anomaly X -> Y when a history with X also has Y (a G0 cycle is a
//!   G1c cycle; G1 is any of G1a, G1b, G1c; a -process anomaly is also a -realtime one,
//!   because processes are single-threaded).
//!
//! [`PROHIBITS`] lists what each model forbids directly; a model forbids everything its
//! weaker models forbid, and every anomaly that implies a forbidden one. The models between
//! the six user-facing ones (cursor stability, monotonic atomic view, ...) are folded into
//! the nearest named model, so `not` names the weakest model *faultline knows* that fails.

use std::collections::BTreeSet;
use std::str::FromStr;

/// A transactional consistency model a history can be checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ConsistencyModel {
    /// Serializable, and consistent with real-time order (the default).
    #[default]
    StrictSerializable,
    /// Some serial order explains every read (conflict serializability, Adya PL-3).
    Serializable,
    /// Adya's PL-SI (generalized snapshot isolation).
    SnapshotIsolation,
    /// Adya's PL-2.99.
    RepeatableRead,
    /// Adya's PL-2.
    ReadCommitted,
    /// Adya's PL-1.
    ReadUncommitted,
    /// Snapshot isolation that also respects real-time order.
    StrongSnapshotIsolation,
    /// Snapshot isolation that also respects each process's order.
    StrongSessionSnapshotIsolation,
    /// Serializable that also respects each process's order.
    StrongSessionSerializable,
    /// Read committed that also respects real-time order.
    StrongReadCommitted,
    /// Read committed that also respects each process's order.
    StrongSessionReadCommitted,
    /// Read uncommitted that also respects real-time order.
    StrongReadUncommitted,
    /// Read uncommitted that also respects each process's order.
    StrongSessionReadUncommitted,
}

use ConsistencyModel as M;

impl ConsistencyModel {
    /// Every model, strongest first.
    pub const ALL: [ConsistencyModel; 13] = [
        M::StrictSerializable,
        M::StrongSessionSerializable,
        M::Serializable,
        M::StrongSnapshotIsolation,
        M::StrongSessionSnapshotIsolation,
        M::SnapshotIsolation,
        M::RepeatableRead,
        M::StrongReadCommitted,
        M::StrongSessionReadCommitted,
        M::ReadCommitted,
        M::StrongReadUncommitted,
        M::StrongSessionReadUncommitted,
        M::ReadUncommitted,
    ];

    /// The name `--consistency-model` takes (Elle's keyword without the colon).
    pub fn name(self) -> &'static str {
        match self {
            M::StrictSerializable => "strict-serializable",
            M::Serializable => "serializable",
            M::SnapshotIsolation => "snapshot-isolation",
            M::RepeatableRead => "repeatable-read",
            M::ReadCommitted => "read-committed",
            M::ReadUncommitted => "read-uncommitted",
            M::StrongSnapshotIsolation => "strong-snapshot-isolation",
            M::StrongSessionSnapshotIsolation => "strong-session-snapshot-isolation",
            M::StrongSessionSerializable => "strong-session-serializable",
            M::StrongReadCommitted => "strong-read-committed",
            M::StrongSessionReadCommitted => "strong-session-read-committed",
            M::StrongReadUncommitted => "strong-read-uncommitted",
            M::StrongSessionReadUncommitted => "strong-session-read-uncommitted",
        }
    }

    /// Models this one directly implies (one step down the lattice).
    fn implies(self) -> &'static [ConsistencyModel] {
        match self {
            M::StrictSerializable => &[
                M::Serializable,
                M::StrongSnapshotIsolation,
                M::StrongSessionSerializable,
            ],
            M::StrongSessionSerializable => &[M::Serializable, M::StrongSessionSnapshotIsolation],
            M::Serializable => &[M::RepeatableRead, M::SnapshotIsolation],
            M::StrongSnapshotIsolation => {
                &[M::StrongSessionSnapshotIsolation, M::StrongReadCommitted]
            }
            M::StrongSessionSnapshotIsolation => {
                &[M::SnapshotIsolation, M::StrongSessionReadCommitted]
            }
            M::SnapshotIsolation | M::RepeatableRead => &[M::ReadCommitted],
            M::StrongReadCommitted => &[M::StrongSessionReadCommitted, M::StrongReadUncommitted],
            M::StrongSessionReadCommitted => &[M::ReadCommitted, M::StrongSessionReadUncommitted],
            M::ReadCommitted => &[M::ReadUncommitted],
            M::StrongReadUncommitted => &[M::StrongSessionReadUncommitted],
            M::StrongSessionReadUncommitted => &[M::ReadUncommitted],
            M::ReadUncommitted => &[],
        }
    }

    /// Anomalies this model forbids directly (its weaker models add theirs).
    fn prohibits_directly(self) -> &'static [&'static str] {
        match self {
            M::ReadUncommitted => &["G0", "duplicate-elements", "cyclic-versions"],
            M::ReadCommitted => &["G1"],
            M::RepeatableRead => &["G1", "G2-item", "lost-update"],
            // Cursor stability (lost update) and read atomic (internal, future read) sit
            // below snapshot isolation in Elle's lattice.
            M::SnapshotIsolation => &[
                "internal",
                "G1",
                "G-nonadjacent",
                "lost-update",
                "future-read",
            ],
            M::Serializable => &["internal", "G1", "G2"],
            M::StrongSessionReadUncommitted => &["G0-process"],
            M::StrongSessionReadCommitted => &["G1c-process"],
            M::StrongReadUncommitted => &["G0-realtime"],
            M::StrongReadCommitted => &["G1c-realtime"],
            M::StrongSessionSnapshotIsolation => {
                &["internal", "G1-process", "G-nonadjacent-process"]
            }
            M::StrongSnapshotIsolation => &["internal", "G1-realtime", "G-nonadjacent-realtime"],
            M::StrongSessionSerializable => &["G1-process", "G2-process"],
            M::StrictSerializable => &["G1", "G1c-realtime", "G2-realtime"],
        }
    }

    /// This model and every model it implies.
    pub fn and_weaker(self) -> BTreeSet<ConsistencyModel> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![self];
        while let Some(m) = stack.pop() {
            if seen.insert(m) {
                stack.extend(m.implies());
            }
        }
        seen
    }

    /// Every anomaly this model forbids: what it and its weaker models forbid directly, the
    /// anomaly `"<model>-cycle-exists"` for each of them, and every anomaly implying one.
    pub fn prohibited(self) -> BTreeSet<String> {
        let mut direct: Vec<String> = Vec::new();
        for m in self.and_weaker() {
            direct.extend(m.prohibits_directly().iter().map(|s| s.to_string()));
            direct.push(cycle_exists(m));
        }
        anomalies_implying(direct)
    }
}

/// The anomaly name for "a cycle this model forbids exists, though the search could not name
/// it" (Elle's `<model>-cycle-exists`).
pub fn cycle_exists(m: ConsistencyModel) -> String {
    format!("{}-cycle-exists", m.name())
}

impl std::fmt::Display for ConsistencyModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A consistency model name that faultline does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown consistency model {0:?}; known: {known}", known = ConsistencyModel::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownConsistencyModel(pub String);

impl FromStr for ConsistencyModel {
    type Err = UnknownConsistencyModel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix(':').unwrap_or(s);
        let alias = match s {
            "strong-serializable" => "strict-serializable",
            "PL-3" | "conflict-serializable" => "serializable",
            "PL-2" => "read-committed",
            "PL-1" => "read-uncommitted",
            "PL-2.99" => "repeatable-read",
            "PL-SI" => "snapshot-isolation",
            "PL-SS" => "strict-serializable",
            other => other,
        };
        ConsistencyModel::ALL
            .iter()
            .copied()
            .find(|m| m.name() == alias)
            .ok_or_else(|| UnknownConsistencyModel(s.to_string()))
    }
}

/// Anomaly implications (X -> Y: a history showing X shows Y).
pub const ANOMALY_IMPLIES: &[(&str, &[&str])] = &[
    ("G0", &["G1c", "G0-process"]),
    ("G0-process", &["G1c-process", "G0-realtime"]),
    ("G0-realtime", &["G1c-realtime"]),
    ("G1a", &["G1"]),
    ("G1b", &["G1"]),
    ("G1c", &["G1", "G1c-process"]),
    ("G1c-process", &["G1c-realtime", "G1-process"]),
    ("G1c-realtime", &["G1-realtime"]),
    ("G1", &["G1-process"]),
    ("G1-process", &["G1-realtime"]),
    (
        "G-single-item",
        &["G-single", "G-single-item-process", "G-nonadjacent-item"],
    ),
    (
        "G-single-item-process",
        &[
            "G-single-process",
            "G-single-item-realtime",
            "G-nonadjacent-item-process",
        ],
    ),
    (
        "G-single-item-realtime",
        &["G-single-realtime", "G-nonadjacent-item-realtime"],
    ),
    ("G-single", &["G-nonadjacent", "G-single-process"]),
    (
        "G-single-process",
        &["G-nonadjacent-process", "G-single-realtime"],
    ),
    ("G-single-realtime", &["G-nonadjacent-realtime"]),
    (
        "G-nonadjacent-item",
        &["G-nonadjacent", "G2-item", "G-nonadjacent-item-process"],
    ),
    (
        "G-nonadjacent-item-process",
        &[
            "G-nonadjacent-process",
            "G2-item-process",
            "G-nonadjacent-item-realtime",
        ],
    ),
    (
        "G-nonadjacent-item-realtime",
        &["G2-item-realtime", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent", &["G2", "G-nonadjacent-process"]),
    (
        "G-nonadjacent-process",
        &["G2-process", "G-nonadjacent-realtime"],
    ),
    ("G-nonadjacent-realtime", &["G2-realtime"]),
    ("G2", &["G2-process"]),
    ("G2-item", &["G2", "G2-item-process"]),
    ("G2-item-process", &["G2-process", "G2-item-realtime"]),
    ("G2-item-realtime", &["G2-realtime"]),
    ("G2-process", &["G2-realtime"]),
    // Two committed reads that cannot come from one order imply a dirty read.
    ("incompatible-order", &["G1a"]),
    // Reading your own later write is a trivial wr cycle.
    ("future-read", &["G1c"]),
    // A committed write built on an aborted one: treated like an aborted read.
    ("dirty-update", &["G1a"]),
    // A read of a value nobody wrote: faultline's own, treated like an aborted read.
    ("garbage-read", &["G1a"]),
    ("lost-update", &["write-skew", "G2-item"]),
    ("write-skew", &["G2"]),
];

/// Anomalies that mean "could not decide", never "invalid".
pub const UNKNOWN_ANOMALIES: &[&str] = &["cycle-search-timeout", "empty-transaction-graph"];

/// `anomalies` and every anomaly they imply.
pub fn implied_anomalies<S: AsRef<str>>(anomalies: &[S]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = anomalies.iter().map(|s| s.as_ref().to_string()).collect();
    while let Some(a) = stack.pop() {
        if let Some((_, to)) = ANOMALY_IMPLIES.iter().find(|(from, _)| *from == a) {
            stack.extend(to.iter().map(|s| s.to_string()));
        }
        seen.insert(a);
    }
    seen
}

/// `anomalies` and every anomaly implying one of them.
fn anomalies_implying(anomalies: Vec<String>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = anomalies;
    while let Some(a) = stack.pop() {
        if seen.insert(a.clone()) {
            for (from, to) in ANOMALY_IMPLIES {
                if to.contains(&a.as_str()) {
                    stack.push(from.to_string());
                }
            }
        }
    }
    seen
}

/// The models a set of anomalies rules out, split as Elle does: `not` holds the weakest
/// of them, `also_not` the stronger ones that fall with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Boundary {
    /// The weakest models the anomalies violate.
    pub not: Vec<ConsistencyModel>,
    /// Stronger models that are violated too.
    pub also_not: Vec<ConsistencyModel>,
}

/// The models that `anomalies` rule out (see [`Boundary`]).
pub fn boundary<S: AsRef<str>>(anomalies: &[S]) -> Boundary {
    let present = implied_anomalies(anomalies);
    let impossible: BTreeSet<ConsistencyModel> = ConsistencyModel::ALL
        .iter()
        .copied()
        .filter(|m| {
            m.and_weaker().iter().any(|w| {
                present.contains(&cycle_exists(*w))
                    || w.prohibits_directly().iter().any(|a| present.contains(*a))
            })
        })
        .collect();
    let mut b = Boundary::default();
    for &m in &impossible {
        let covers_weaker = impossible
            .iter()
            .any(|&o| o != m && m.and_weaker().contains(&o));
        if covers_weaker {
            b.also_not.push(m);
        } else {
            b.not.push(m);
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ms: &[ConsistencyModel]) -> Vec<&'static str> {
        ms.iter().map(|m| m.name()).collect()
    }

    #[test]
    fn names_parse_back_and_aliases_work() {
        for m in ConsistencyModel::ALL {
            assert_eq!(m.name().parse::<ConsistencyModel>().unwrap(), m);
        }
        assert_eq!(
            ":serializable".parse::<ConsistencyModel>().unwrap(),
            M::Serializable
        );
        assert_eq!(
            "PL-SS".parse::<ConsistencyModel>().unwrap(),
            M::StrictSerializable
        );
        assert!("linearizable".parse::<ConsistencyModel>().is_err());
    }

    #[test]
    fn g2_item_rules_out_repeatable_read_but_not_snapshot_isolation() {
        let b = boundary(&["G2-item"]);
        assert_eq!(names(&b.not), ["repeatable-read"]);
        assert_eq!(
            names(&b.also_not),
            [
                "strict-serializable",
                "serializable",
                "strong-session-serializable"
            ]
        );
        assert!(!M::SnapshotIsolation.prohibited().contains("G2-item"));
        assert!(M::RepeatableRead.prohibited().contains("G2-item"));
    }

    #[test]
    fn the_lattice_matches_elle_on_common_cases() {
        // (anomalies, expected `not`)
        let cases: &[(&[&str], &[&str])] = &[
            (&["G0"], &["read-uncommitted"]),
            (&["G1a"], &["read-committed"]),
            (&["G1c"], &["read-committed"]),
            (
                &["G-single-item"],
                &["repeatable-read", "snapshot-isolation"],
            ),
            (&["G-single-item-realtime"], &["strong-snapshot-isolation"]),
            (&["G2-item-realtime"], &["strict-serializable"]),
            (&["G0-process"], &["strong-session-read-uncommitted"]),
            (&["G1c-realtime"], &["strong-read-committed"]),
            (&["internal"], &["snapshot-isolation"]),
            (&["lost-update"], &["repeatable-read", "snapshot-isolation"]),
            (&["cycle-search-timeout"], &[]),
        ];
        for (i, (anomalies, want)) in cases.iter().enumerate() {
            let mut got = names(&boundary(anomalies).not);
            got.sort_unstable();
            let mut want = want.to_vec();
            want.sort_unstable();
            assert_eq!(got, want, "case {i}: {anomalies:?}");
        }
    }

    #[test]
    fn prohibited_sets_grow_with_strength() {
        for m in ConsistencyModel::ALL {
            for w in m.and_weaker() {
                assert!(w.prohibited().is_subset(&m.prohibited()), "{m} vs {w}");
            }
        }
        let ss = M::StrictSerializable.prohibited();
        for a in [
            "G0",
            "G1a",
            "G-single-item-realtime",
            "G2-item-process",
            "G0-realtime",
        ] {
            assert!(ss.contains(a), "{a}");
        }
        assert!(!M::Serializable.prohibited().contains("G0-realtime"));
        assert!(!M::ReadUncommitted.prohibited().contains("G1a"));
    }
}
