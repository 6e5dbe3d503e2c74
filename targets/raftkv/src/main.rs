//! The raftkv server binary: parses flags, starts the Raft thread, the peer transport and the
//! client HTTP API, and runs until SIGINT/SIGTERM. Exit code 3 when it cannot start, 4 when
//! it refuses to because its data directory is corrupt (see `raftkv::storage`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use raftkv::config::Args;
use raftkv::server::{router, ApiState};
use raftkv::{node, transport};
use tokio::net::TcpListener;

/// The exit code of a node that refuses to start on a corrupt data directory.
const CORRUPT_EXIT: i32 = 4;

fn main() {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // --help and --version print to stdout and succeed; bad flags exit 3 ("could not
            // start"), like every other start-up failure.
            let code = if e.use_stderr() { 3 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("raftkv: cannot start the async runtime: {e}");
            std::process::exit(3);
        }
    };
    if let Err(e) = runtime.block_on(run(args)) {
        let corrupt = e.chain().any(|c| {
            c.downcast_ref::<raftkv::storage::StorageError>()
                .is_some_and(|s| s.is_corruption())
                || c.downcast_ref::<raftkv::node::NodeError>().is_some_and(
                    |n| matches!(n, raftkv::node::NodeError::Storage(s) if s.is_corruption()),
                )
        });
        if corrupt {
            eprintln!("raftkv: refusing to start: detected corruption: {e:#}");
            std::process::exit(CORRUPT_EXIT);
        }
        eprintln!("raftkv: {e:#}");
        std::process::exit(3);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let cfg = args.node_config().context("invalid flags")?;
    let peer_listener = TcpListener::bind(args.peer_listen)
        .await
        .with_context(|| format!("bind peer address {}", args.peer_listen))?;
    let api_listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("bind client address {}", args.listen))?;
    let (handle, _thread) = node::start(cfg).context("start node")?;
    let deliver = handle.clone();
    tokio::spawn(transport::serve(peer_listener, move |m| deliver.deliver(m)));
    let state = ApiState {
        node: handle,
        peer_http: Arc::new(args.peer_http()),
        timeout: Duration::from_millis(args.request_timeout_ms),
    };
    tracing::info!(id = args.id, listen = %args.listen, peer_listen = %args.peer_listen, "raftkv node up");
    axum::serve(api_listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("HTTP server")?;
    tracing::info!("shutting down");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
