//! The `faultline` command line: parses arguments, runs the command, maps its outcome to the
//! exit codes of DESIGN.md (0 valid, 1 invalid, 2 unknown, 3 the run itself failed).

use std::process::ExitCode;

use clap::Parser;
use faultline::cli::{Cli, Command, Outcome};

/// mimalloc instead of glibc malloc: reading a large history allocates millions of small
/// values from two threads, and glibc's allocator was most of the time spent (see
/// docs/history-format.md, "Reading speed").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap exits 2 on a usage error, which DESIGN.md reserves for "unknown";
            // bad flags are bad input: exit 3. --help and --version still exit 0.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(Outcome::Error.as_u8())
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let code = match cli.command {
        Command::Check(args) => faultline::cli::check::run(&args),
        Command::Test(args) => faultline::cli::test::run(&args),
        Command::Cluster(args) => faultline::cli::cluster::run(&args),
        Command::Probe(args) => faultline::cli::probe::run(&args),
        Command::Report(args) => faultline::cli::report::run(&args),
        Command::Serve(args) => faultline::cli::serve::run(&args),
    };
    ExitCode::from(code.as_u8())
}
