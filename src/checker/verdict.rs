//! Verdicts and what CI reads from them: a checker's three-way [`Validity`], a command's
//! [`Outcome`] (which adds "the run itself failed"), and the one mapping of both to the exit
//! codes of DESIGN.md (0 valid, 1 invalid, 2 unknown, 3 error).

use serde::{Serialize, Serializer};

/// A three-way verdict: a checker that cannot decide says so instead of guessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validity {
    /// The history satisfies the property.
    Valid,
    /// The history violates the property; the anomalies say where.
    Invalid,
    /// The checker could not decide (time or memory limit, cancellation).
    Unknown,
}

impl Validity {
    /// Combines verdicts the way Jepsen does: invalid beats unknown beats valid.
    pub fn merge(self, other: Validity) -> Validity {
        match (self, other) {
            (Validity::Invalid, _) | (_, Validity::Invalid) => Validity::Invalid,
            (Validity::Unknown, _) | (_, Validity::Unknown) => Validity::Unknown,
            _ => Validity::Valid,
        }
    }

    /// The process exit code DESIGN.md assigns to this verdict (0 valid, 1 invalid, 2 unknown).
    pub fn exit_code(self) -> i32 {
        i32::from(Outcome::from(self).as_u8())
    }
}

impl Serialize for Validity {
    /// `true`, `false` or `"unknown"`, as in Jepsen's `:valid?`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Validity::Valid => serializer.serialize_bool(true),
            Validity::Invalid => serializer.serialize_bool(false),
            Validity::Unknown => serializer.serialize_str("unknown"),
        }
    }
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
            Validity::Unknown => "unknown",
        })
    }
}

/// The outcome of a command, ordered from best to worst as CI should read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every checker says valid.
    Valid,
    /// No anomaly found, but some checker could not decide.
    Unknown,
    /// An anomaly was found.
    Invalid,
    /// The run itself failed: bad input, bad config.
    Error,
}

impl Outcome {
    /// The process exit code DESIGN.md assigns to this outcome.
    pub fn as_u8(self) -> u8 {
        match self {
            Outcome::Valid => 0,
            Outcome::Invalid => 1,
            Outcome::Unknown => 2,
            Outcome::Error => 3,
        }
    }

    /// How bad it is: errors beat anomalies, anomalies beat unknowns, unknowns beat valid.
    fn severity(self) -> u8 {
        match self {
            Outcome::Valid => 0,
            Outcome::Unknown => 1,
            Outcome::Invalid => 2,
            Outcome::Error => 3,
        }
    }

    /// The worse of two outcomes (used to merge per-file results).
    pub fn worst(self, other: Outcome) -> Outcome {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

impl From<Validity> for Outcome {
    /// A finished check's verdict as an outcome.
    fn from(v: Validity) -> Outcome {
        match v {
            Validity::Valid => Outcome::Valid,
            Validity::Invalid => Outcome::Invalid,
            Validity::Unknown => Outcome::Unknown,
        }
    }
}

impl Outcome {
    /// The verdict word the summary prints.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Valid => "VALID",
            Outcome::Invalid => "INVALID",
            Outcome::Unknown => "UNKNOWN",
            Outcome::Error => "ERROR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome::*;

    #[test]
    fn worst_ranks_error_then_invalid_then_unknown_then_valid() {
        let cases = [
            (Valid, Valid, Valid),
            (Valid, Unknown, Unknown),
            (Unknown, Invalid, Invalid),
            (Invalid, Unknown, Invalid),
            (Invalid, Error, Error),
            (Error, Valid, Error),
        ];
        for (i, (a, b, want)) in cases.into_iter().enumerate() {
            assert_eq!(a.worst(b), want, "case {i}");
        }
    }

    #[test]
    fn validity_exit_codes_go_through_the_outcome() {
        use super::Validity;
        assert_eq!(
            [Validity::Valid, Validity::Invalid, Validity::Unknown].map(|v| v.exit_code()),
            [0, 1, 2]
        );
    }

    #[test]
    fn exit_codes_follow_design() {
        assert_eq!(
            [Valid, Invalid, Unknown, Error].map(|o| o.as_u8()),
            [0, 1, 2, 3]
        );
    }
}
