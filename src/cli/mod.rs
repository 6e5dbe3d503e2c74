//! Command-line definitions (clap) and the commands behind them. `main.rs` only parses and
//! maps the outcome to an exit code, so every command can be driven from tests.

pub mod check;
mod check_stream;
pub mod cluster;
pub mod probe;
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
// Parsed once per process: the size of `test`'s flags costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
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
    /// Check a client spec fits your HTTP service: write, read back and cas scratch keys
    /// through it and compare exactly with what the workload writes (the self-test every
    /// `--target http` run does first).
    ///
    /// Exit code: 0 the spec fits, 3 it does not (with the fix spelled out) or bad input.
    Probe(probe::ProbeArgs),
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

pub use crate::checker::Outcome;
