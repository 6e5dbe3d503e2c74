//! `faultline cluster up | down | status`: start or stop a local raftkv cluster by hand, and
//! clean up after a test whose faultline process was killed (`down` reads the run's state file
//! and fault journal).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::Outcome;
use crate::cluster::{self, locate_raftkv, ClusterOptions};

/// Arguments of `faultline cluster`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: ClusterAction,
}

/// The cluster actions.
#[derive(Debug, Clone, Subcommand)]
pub enum ClusterAction {
    /// Start a local raftkv cluster in DIR and leave it running (peer links are direct: such a
    /// cluster serves clients but cannot be partitioned).
    Up {
        /// Where node data, logs and the state file go.
        #[arg(default_value = "results/cluster")]
        dir: PathBuf,
        /// Number of nodes.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=15))]
        nodes: u16,
        /// Client API of node i on BASE+i-1 and its peer port on BASE+N+i-1 (default: free ports).
        #[arg(long, value_name = "BASE")]
        base_port: Option<u16>,
        /// Switch on a deliberate raftkv bug; repeatable.
        #[arg(long = "raftkv-bug", value_name = "NAME")]
        raftkv_bugs: Vec<String>,
        /// The raftkv binary (default: next to the faultline binary, or $FAULTLINE_RAFTKV).
        #[arg(long, value_name = "PATH")]
        raftkv_bin: Option<PathBuf>,
    },
    /// Stop every process faultline started in DIR (raftkv, db-spec and etcd nodes, the
    /// stdio nodes of --target maelstrom), remove a local etcd cluster's network namespaces,
    /// bridge and rules, and mark its open faults healed; works after a kill -9 of faultline
    /// itself. Without DIR: results/cluster and the latest test run.
    Down {
        /// A cluster directory or a test's run directory.
        dir: Option<PathBuf>,
    },
    /// Show each node of the cluster in DIR and its /status.
    Status {
        /// The cluster directory.
        #[arg(default_value = "results/cluster")]
        dir: PathBuf,
    },
}

/// Runs `faultline cluster ...`.
pub fn run(args: &ClusterArgs) -> Outcome {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faultline cluster: cannot start the runtime: {e}");
            return Outcome::Error;
        }
    };
    match &args.action {
        ClusterAction::Up {
            dir,
            nodes,
            base_port,
            raftkv_bugs,
            raftkv_bin,
        } => {
            let binary = match locate_raftkv(raftkv_bin.as_deref()) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("faultline cluster up: {e}");
                    return Outcome::Error;
                }
            };
            let mut opts = ClusterOptions::new(usize::from(*nodes), binary, dir.clone());
            opts.base_port = *base_port;
            opts.bugs = raftkv_bugs.clone();
            match runtime.block_on(cluster::up(opts)) {
                Ok(state) => {
                    println!("cluster up in {}:", dir.display());
                    for n in &state.nodes {
                        println!(
                            "  {}  http://{}  pid {}",
                            n.name,
                            n.http,
                            n.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
                        );
                    }
                    println!("stop it with: faultline cluster down {}", dir.display());
                    Outcome::Valid
                }
                Err(e) => {
                    eprintln!("faultline cluster up: {e}");
                    Outcome::Error
                }
            }
        }
        ClusterAction::Down { dir } => {
            let dirs = match dir {
                Some(d) => vec![d.clone()],
                None => vec![cluster::default_dir(), PathBuf::from("results/latest")],
            };
            let mut outcome = Outcome::Valid;
            for dir in dirs {
                match cluster::down(&dir) {
                    Ok(report) if !report.found => {
                        println!("{}: no cluster state here, nothing to stop", dir.display());
                    }
                    Ok(report) => println!(
                        "{}: stopped {:?}, resumed {:?}, already gone {:?}, faults healed {}{}{}",
                        dir.display(),
                        report.stopped,
                        report.resumed,
                        report.gone,
                        report.healed_faults,
                        report
                            .network
                            .map(|p| format!(", network {p} removed"))
                            .unwrap_or_default(),
                        if report.unmounted.is_empty() {
                            String::new()
                        } else {
                            format!(", {} power-loss mount(s) detached", report.unmounted.len())
                        }
                    ),
                    Err(e) => {
                        eprintln!("faultline cluster down: {}: {e}", dir.display());
                        outcome = Outcome::Error;
                    }
                }
            }
            outcome
        }
        ClusterAction::Status { dir } => match runtime.block_on(cluster::status(dir)) {
            Ok(None) => {
                println!("{}: no cluster", dir.display());
                Outcome::Valid
            }
            Ok(Some(nodes)) => {
                for (node, alive, status) in nodes {
                    let what = match status {
                        Ok(v) => v.to_string(),
                        Err(e) => e,
                    };
                    println!(
                        "{}  http://{}  {}  {}",
                        node.name,
                        node.http,
                        if alive { "running" } else { "stopped" },
                        what
                    );
                }
                Outcome::Valid
            }
            Err(e) => {
                eprintln!("faultline cluster status: {e}");
                Outcome::Error
            }
        },
    }
}
