//! Command-line definitions (clap) and the commands behind them. `main.rs` only parses and
//! maps the outcome to an exit code, so every command can be driven from tests.

pub mod check;
pub mod cluster;
pub mod report;
pub mod serve;
pub mod test;

use clap::{Parser, Subcommand};

/// faultline: a Jepsen-style consistency test harness.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, long_about = None)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands faultline understands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide whether recorded histories are linearizable, and explain why not.
    ///
    /// Exit code: 0 valid, 1 invalid, 2 unknown (timeout or memory ceiling), 3 bad input;
    /// with several files, the worst of them (3, then 1, then 2, then 0).
    Check(check::CheckArgs),
    /// Run a test: start a cluster, drive a workload while a nemesis injects faults, check
    /// the history, store the run under results/.
    ///
    /// With no flags: a local 5-node raftkv cluster, the cas-register workload, the mixed
    /// nemesis (partitions, kills, pauses), 30 seconds. Exit code as for check.
    Test(test::TestArgs),
    /// Start or stop a local raftkv cluster by hand; `down` also cleans up after a test whose
    /// faultline process was killed.
    Cluster(cluster::ClusterArgs),
    /// Rebuild report.html (and optionally JUnit XML) from a stored run directory.
    Report(report::ReportArgs),
    /// Browse stored runs in a web browser: runs newest first, coloured by verdict, with
    /// their reports and files (127.0.0.1:8080 by default).
    Serve(serve::ServeArgs),
}

/// Parses a `--timeout`-style flag: a non-negative, finite number of seconds.
pub(crate) fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {s:?}"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "expected a non-negative number of seconds, got {s:?}"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
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
    fn exit_codes_follow_design() {
        assert_eq!(
            [Valid, Invalid, Unknown, Error].map(|o| o.as_u8()),
            [0, 1, 2, 3]
        );
    }
}
