//! Maelstrom's workload names as faultline workloads, embedded in the binary
//! (`workloads/maelstrom/*.toml`). With `--target maelstrom`, `--workload NAME` first looks
//! here, then among faultline's own built-ins and files (whose kind picks the message shapes,
//! see [`super::shapes`]); Maelstrom's `unique-ids` is faultline's own. Pure.

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

/// Every Maelstrom workload name, for `--help` and errors.
pub fn names() -> Vec<&'static str> {
    WORKLOADS.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maelstrom::shapes::Shape;
    use crate::workload::WorkloadSpec;

    #[test]
    fn every_maelstrom_workload_loads_and_has_message_shapes() {
        for name in names() {
            let text = builtin(name).unwrap_or_default();
            let spec = WorkloadSpec::from_toml(text, &format!("builtin:maelstrom/{name}"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(spec.name, name);
            assert!(Shape::for_profile(spec.client_profile()).is_ok(), "{name}");
        }
        assert_eq!(builtin("kafka"), None);
    }
}
