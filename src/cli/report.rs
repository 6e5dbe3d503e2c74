//! `faultline report RUN_DIR`: (re)build `report.html` from a stored run — its `test.json`,
//! `results.json` and `history.jsonl` — and optionally JUnit XML for it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::Outcome;
use crate::report::{self, ReportOptions};

/// Arguments of `faultline report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The run directory (e.g. results/latest or results/<test>/<timestamp>).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,

    /// Where to write the report (default: RUN_DIR/report.html).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Also write JUnit XML for the run (one suite, one test case per checker).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Ops the timeline draws one by one before folding the rest into blocks (the ops of
    /// every anomaly are always drawn).
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub max_ops: usize,
}

/// Runs `faultline report`: exit 0 once written, 3 when the run cannot be read.
pub fn run(args: &ReportArgs) -> Outcome {
    match run_inner(args) {
        Ok(()) => Outcome::Valid,
        Err(e) => {
            eprintln!("faultline report: {e:#}");
            Outcome::Error
        }
    }
}

fn run_inner(args: &ReportArgs) -> Result<()> {
    let dir = &args.run_dir;
    if !dir.is_dir() {
        anyhow::bail!("{}: not a directory", dir.display());
    }
    let (facts, compact) =
        report::load_run(dir).with_context(|| format!("reading the run in {}", dir.display()))?;
    let history = &compact;
    let mut opts = ReportOptions::default();
    opts.timeline.max_ops = args.max_ops;
    let path = match &args.out {
        None => report::write_report(dir, &facts, history, &opts)?,
        Some(out) => {
            let page = report::render(&facts, history, &[], &opts);
            std::fs::write(out, page).with_context(|| format!("writing {}", out.display()))?;
            out.clone()
        }
    };
    if let Some(junit) = &args.junit {
        std::fs::write(junit, report::junit_xml(std::slice::from_ref(&facts)))
            .with_context(|| format!("writing {}", junit.display()))?;
    }
    println!(
        "{}: {} ({} ops); report in {}",
        facts.name,
        facts.verdict(),
        history.ops.len(),
        path.display()
    );
    Ok(())
}
