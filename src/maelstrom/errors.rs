//! Maelstrom's error codes and what each means for an op's outcome. Pure.
//!
//! The table is Maelstrom's own, from its protocol documentation (`doc/protocol.md` in
//! jepsen-io/maelstrom, section "Errors"): an error is *definite* when "the requested
//! operation definitely did not (and never will) happen", *indefinite* when it "might have
//! happened, or might never happen, or might happen at some later time"; "custom error codes
//! are always indefinite". A definite error is `fail`; an indefinite one, or a reply that
//! never comes, is `info` for an op with an effect and `fail` for a read (a read that may or
//! may not have happened changes nothing, so leaving it out loses nothing).

use crate::history::Outcome;

/// One row of Maelstrom's table: code, name, definite.
const TABLE: &[(i64, &str, bool)] = &[
    (0, "timeout", false),
    (1, "node-not-found", true),
    (10, "not-supported", true),
    (11, "temporarily-unavailable", true),
    (12, "malformed-request", true),
    (13, "crash", false),
    (14, "abort", true),
    (20, "key-does-not-exist", true),
    (21, "key-already-exists", true),
    (22, "precondition-failed", true),
    (30, "txn-conflict", true),
];

/// Maelstrom's code 20, key-does-not-exist: a read of such a key is an ok read of nothing.
pub const KEY_DOES_NOT_EXIST: i64 = 20;

/// Maelstrom's code 22, precondition-failed: a cas whose `from` is not the value.
pub const PRECONDITION_FAILED: i64 = 22;

/// The name of `code` in Maelstrom's table, if it has one.
pub fn name(code: i64) -> Option<&'static str> {
    TABLE
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, n, _)| *n)
}

/// Whether `code` is definite: the op certainly did not happen. Unknown codes are not.
pub fn definite(code: i64) -> bool {
    TABLE.iter().any(|(c, _, d)| *c == code && *d)
}

/// The outcome of an op answered with error `code`: `fail` when definite, else `info` for an
/// op with an effect and `fail` for one without.
pub fn outcome(code: i64, has_effect: bool) -> Outcome {
    if definite(code) {
        Outcome::Fail
    } else {
        no_reply(has_effect)
    }
}

/// The outcome of an op whose reply never came (timeout, node down, a malformed reply).
pub fn no_reply(has_effect: bool) -> Outcome {
    if has_effect {
        Outcome::Info
    } else {
        Outcome::Fail
    }
}

/// An error reply as a completion's error text: `error 22 (precondition-failed): TEXT`.
pub fn describe(code: i64, text: Option<&str>) -> String {
    let name = name(code).unwrap_or("custom, indefinite");
    match text.filter(|t| !t.is_empty()) {
        Some(t) => format!("error {code} ({name}): {t}"),
        None => format!("error {code} ({name})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_definite_code_fails_reads_and_writes() {
        for code in [1, 10, 11, 12, 14, 20, 21, 22, 30] {
            assert!(definite(code), "{code}");
            assert_eq!(outcome(code, true), Outcome::Fail, "{code}");
            assert_eq!(outcome(code, false), Outcome::Fail, "{code}");
        }
    }

    #[test]
    fn indefinite_and_unknown_codes_are_info_for_effects_and_fail_for_reads() {
        for code in [0, 13, 2, 15, 999, 1000, 31337, -1] {
            assert!(!definite(code), "{code}");
            assert_eq!(outcome(code, true), Outcome::Info, "{code}");
            assert_eq!(outcome(code, false), Outcome::Fail, "{code}");
        }
    }

    #[test]
    fn no_reply_is_info_for_effects_and_fail_for_reads() {
        assert_eq!(no_reply(true), Outcome::Info);
        assert_eq!(no_reply(false), Outcome::Fail);
    }

    #[test]
    fn every_code_has_its_maelstrom_name() {
        let names: Vec<_> = [0, 1, 10, 11, 12, 13, 14, 20, 21, 22, 30]
            .iter()
            .map(|c| name(*c).unwrap_or("?"))
            .collect();
        assert_eq!(
            names,
            [
                "timeout",
                "node-not-found",
                "not-supported",
                "temporarily-unavailable",
                "malformed-request",
                "crash",
                "abort",
                "key-does-not-exist",
                "key-already-exists",
                "precondition-failed",
                "txn-conflict"
            ]
        );
        assert_eq!(name(1000), None);
        assert_eq!(
            describe(22, Some("expected 3")),
            "error 22 (precondition-failed): expected 3"
        );
        assert_eq!(describe(1001, None), "error 1001 (custom, indefinite)");
    }
}
