//! `faultline probe`: the client spec self-test on its own, so a user can fit a spec to their
//! service before running a test: through the spec, scratch keys are written, read back and
//! cas'd, and what comes back is compared exactly with what the workload would write.

use std::path::PathBuf;

use clap::Args;

use super::Outcome;
use crate::nemesis::NemesisSpec;
use crate::node_addr::parse_nodes;
use crate::target::external_infos;
use crate::target::http::{check_reachable, load_spec, self_test_logged};
use crate::workload::WorkloadSpec;

/// `faultline probe`'s flags.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit code: 0 the spec fits the service, 3 it does not (the message names the op, what came back, what was expected and the spec field to set) or bad input.\n\nEverything is written under a scratch key prefix of its own (probe-RUNID-), never under a run's keys."
)]
pub struct ProbeArgs {
    /// The client spec to check (see docs/http-target.md).
    #[arg(long, value_name = "SPEC.toml")]
    pub client: PathBuf,
    /// A node of your service: `URL` or `NAME=URL` (the self-test talks to the first).
    #[arg(long = "node", value_name = "[NAME=]URL", required = true)]
    pub nodes: Vec<String>,
    /// The workload whose ops to check: a built-in name or a TOML file.
    #[arg(long, default_value = "cas-register")]
    pub workload: String,
}

/// Runs `faultline probe` and returns its outcome (valid: the spec fits; error: it does not).
pub fn run(args: &ProbeArgs) -> Outcome {
    match probe(args) {
        Ok(()) => Outcome::Valid,
        Err(e) => {
            eprintln!("faultline probe: {e:#}");
            Outcome::Error
        }
    }
}

fn probe(args: &ProbeArgs) -> anyhow::Result<()> {
    let nodes = parse_nodes(&args.nodes).map_err(anyhow::Error::msg)?;
    let workload = WorkloadSpec::load(&args.workload)
        .map_err(|e| anyhow::anyhow!("--workload {}: {e}", args.workload))?;
    let none = NemesisSpec::load("none").map_err(|e| anyhow::anyhow!("{e}"))?;
    let spec = load_spec(&args.client, &workload, &none)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let run = crate::net::netns::new_run_id();
    runtime.block_on(async {
        check_reachable(&nodes, &spec).await?;
        let infos = external_infos(&nodes);
        let print = |line: &str| println!("{line}");
        self_test_logged(&spec, &infos, &workload, &run, rand::random(), &print).await
    })?;
    println!(
        "faultline probe: {} fits the service for workload {}",
        args.client.display(),
        workload.name
    );
    Ok(())
}
