//! Maelstrom's workload names as faultline workloads, embedded in the binary
//! (`workloads/maelstrom/*.toml`). With `--target maelstrom`, `--workload NAME` first looks
//! here, then among faultline's own built-ins and files (whose kind picks the message shapes,
//! see [`super::shapes`]); Maelstrom's `unique-ids` is faultline's own. `broadcast` is a set
//! and `echo` a unique-ids workload with Maelstrom's own messages ([`shape_of`]). Pure.

use super::shapes::Shape;
use crate::workload::WorkloadSpec;

/// The prefix of a Maelstrom workload's source (`builtin:maelstrom/NAME`).
const SOURCE_PREFIX: &str = "builtin:maelstrom/";

/// The Maelstrom workloads, by their Maelstrom name.
const WORKLOADS: &[(&str, &str)] = &[
    (
        "lin-kv",
        include_str!("../../workloads/maelstrom/lin-kv.toml"),
    ),
    (
        "g-set",
        include_str!("../../workloads/maelstrom/g-set.toml"),
    ),
    (
        "g-counter",
        include_str!("../../workloads/maelstrom/g-counter.toml"),
    ),
    (
        "pn-counter",
        include_str!("../../workloads/maelstrom/pn-counter.toml"),
    ),
    (
        "broadcast",
        include_str!("../../workloads/maelstrom/broadcast.toml"),
    ),
    ("echo", include_str!("../../workloads/maelstrom/echo.toml")),
    (
        "kafka",
        include_str!("../../workloads/maelstrom/kafka.toml"),
    ),
    (
        "txn-list-append",
        include_str!("../../workloads/maelstrom/txn-list-append.toml"),
    ),
    (
        "txn-rw-register",
        include_str!("../../workloads/maelstrom/txn-rw-register.toml"),
    ),
];

/// The TOML text of the Maelstrom workload `name`, if there is one.
pub fn builtin(name: &str) -> Option<&'static str> {
    WORKLOADS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The messages of `workload`: its Maelstrom workload's own (`broadcast`, `echo`), else
/// its kind's ([`Shape::for_profile`]).
pub fn shape_of(workload: &WorkloadSpec) -> Result<Shape, String> {
    match workload.source.strip_prefix(SOURCE_PREFIX) {
        Some("broadcast") => Ok(Shape::Broadcast),
        Some("echo") => Ok(Shape::Echo),
        _ => Shape::for_profile(workload.client_profile()),
    }
}

/// Every Maelstrom workload name, for `--help` and errors.
pub fn names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_maelstrom_workload_loads_and_has_message_shapes() {
        for name in names() {
            let text = builtin(name).unwrap_or_default();
            let spec = WorkloadSpec::from_toml(text, &format!("builtin:maelstrom/{name}"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(spec.name, name);
            assert!(Shape::for_profile(spec.client_profile()).is_ok(), "{name}");
        }
        let load = |name: &str| {
            WorkloadSpec::from_toml(
                builtin(name).unwrap_or_default(),
                &format!("{SOURCE_PREFIX}{name}"),
            )
            .expect(name)
        };
        assert_eq!(shape_of(&load("broadcast")), Ok(Shape::Broadcast));
        assert_eq!(shape_of(&load("echo")), Ok(Shape::Echo));
        assert_eq!(shape_of(&load("g-set")), Ok(Shape::GSet));
        assert_eq!(shape_of(&load("txn-list-append")), Ok(Shape::Txn));
        assert_eq!(shape_of(&load("kafka")), Ok(Shape::Kafka));
        assert_eq!(builtin("lin-tso"), None);
    }
}
