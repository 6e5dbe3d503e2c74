//! How fast `--target maelstrom`'s network routes messages (issue 16, item 8: at least
//! 200,000 messages/s among 5 echo-style nodes with a few clients; Maelstrom's README claims
//! about 60,000). `cargo bench --bench maelstrom_net` prints one table, three rows:
//!
//! 1. **routing core**: `net::sim::Routing::route` alone (the seeded fate of one message: the
//!    partition check, loss, duplication and latency draws), no I/O.
//! 2. **network, in-process nodes**: the whole `maelstrom::Network` (routing, counts, the
//!    `messages.jsonl` line of every send and receive, delivery through the nodes' channels)
//!    with 5 echo nodes as tokio tasks that parse each line and answer, and 4 clients keeping
//!    64 requests each in flight. This is the network's own ceiling.
//! 3. **network, node processes**: the same with 5 real node processes (this bench binary
//!    re-run as a tiny Rust echo node, `--faultline-echo-node`) on stdin/stdout, started
//!    and initialised by `maelstrom::StdioNodes` as in a test: adds the pipes and the
//!    processes' own work.
//!
//! A message is one hop (a request, or its reply); messages/s counts every message sent over
//! the network, and µs/msg is wall time per message (the overhead per message, on this
//! machine's cores, everything included).

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline::maelstrom::protocol::{self, Message};
use faultline::maelstrom::{Network, NodeProgram, StdioNodes};
use faultline::net::sim::{Routing, SimConfig};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

const NODES: usize = 5;
const CLIENTS: usize = 4;
const WINDOW: usize = 64;
const RUN: Duration = Duration::from_secs(3);
/// The argument that makes this binary an echo node.
const ECHO_ARG: &str = "--faultline-echo-node";

fn main() {
    if std::env::args().any(|a| a == ECHO_ARG) {
        echo_node();
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let rows = [
        ("routing core (Routing::route)", routing_core()),
        (
            "network, 5 in-process echo nodes",
            runtime.block_on(network(false)),
        ),
        (
            "network, 5 echo node processes",
            runtime.block_on(network(true)),
        ),
    ];
    println!(
        "{:<36} {:>12} {:>14} {:>10}",
        "measure", "messages", "messages/s", "µs/msg"
    );
    for (name, (count, elapsed)) in rows {
        let rate = count as f64 / elapsed.as_secs_f64();
        println!("{name:<36} {count:>12} {rate:>14.0} {:>10.2}", 1e6 / rate);
    }
    println!(
        "(target: ≥ 200,000 messages/s among 5 echo-style nodes; Maelstrom's README: ~60,000)"
    );
}

/// A Maelstrom echo node on stdin/stdout: answers `init` and every `echo`.
fn echo_node() {
    let mut input = std::io::BufReader::with_capacity(1 << 16, std::io::stdin().lock());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut next = 0u64;
    let mut me = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Ok(msg) = protocol::parse_line(line.trim_end()) else {
            continue;
        };
        next += 1;
        let mut body = Map::new();
        match msg.kind() {
            "init" => {
                me = msg.body["node_id"].as_str().unwrap_or("n?").to_owned();
                body.insert("type".into(), json!("init_ok"));
            }
            _ => {
                body.insert("type".into(), json!("echo_ok"));
                body.insert(
                    "echo".into(),
                    msg.body.get("echo").cloned().unwrap_or(Value::Null),
                );
            }
        }
        body.insert("msg_id".into(), json!(next));
        body.insert("in_reply_to".into(), json!(msg.msg_id()));
        let reply = Message {
            src: me.clone(),
            dest: msg.src,
            body,
        };
        let _ = writeln!(out, "{}", reply.to_line());
        // Flush when no more input is waiting (a batch of requests, one write).
        if input.buffer().is_empty() {
            let _ = out.flush();
        }
    }
}

fn names() -> Vec<String> {
    (0..NODES).map(|i| format!("n{i}")).collect()
}

/// Routes one million messages among the nodes; (count, time).
fn routing_core() -> (u64, Duration) {
    let names = names();
    let config = SimConfig {
        latency_ms: 1,
        loss: 0.01,
        duplicate: 0.01,
        ..SimConfig::default()
    };
    let mut routing = Routing::new(config, &names, 1);
    let n = 1_000_000u64;
    let start = Instant::now();
    let mut delivered = 0u64;
    for i in 0..n as usize {
        let fate = routing.route(&names[i % NODES], &names[(i + 1) % NODES]);
        delivered += u64::from(matches!(fate, faultline::net::sim::Fate::Deliver(_)));
    }
    let elapsed = start.elapsed();
    assert!(delivered > n / 2);
    (n, elapsed)
}

/// Clients echoing through 5 nodes (processes or in-process tasks) for [`RUN`]; (messages
/// sent over the network, time).
async fn network(processes: bool) -> (u64, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let names = names();
    let net = Network::new(
        SimConfig::default(),
        &names,
        1,
        2,
        &dir.path().join("messages.jsonl"),
        Arc::new(|_: &str| {}),
    )
    .expect("a network");
    let _nodes = if processes {
        let program = NodeProgram {
            bin: std::env::current_exe().expect("this bench's path"),
            args: vec![ECHO_ARG.to_owned()],
        };
        let nodes = StdioNodes::start(program, names.clone(), dir.path(), net.clone(), None, false)
            .await
            .expect("the echo node processes start");
        Some(nodes)
    } else {
        for name in &names {
            let (tx, mut rx) = mpsc::unbounded_channel::<String>();
            net.attach_node(name, tx);
            let (net, name) = (net.clone(), name.clone());
            tokio::spawn(async move {
                let mut next = 0u64;
                while let Some(line) = rx.recv().await {
                    let Ok(msg) = protocol::parse_line(&line) else {
                        continue;
                    };
                    next += 1;
                    let mut body = Map::new();
                    body.insert("type".into(), json!("echo_ok"));
                    body.insert(
                        "echo".into(),
                        msg.body.get("echo").cloned().unwrap_or(Value::Null),
                    );
                    body.insert("msg_id".into(), json!(next));
                    body.insert("in_reply_to".into(), json!(msg.msg_id()));
                    net.send(Message {
                        src: name.clone(),
                        dest: msg.src,
                        body,
                    });
                }
            });
        }
        None
    };
    let start = Instant::now();
    let before = total(&net);
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let name = format!("c{}", c + 1);
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        net.attach_client(&name, tx);
        let net = net.clone();
        clients.push(tokio::spawn(async move {
            let mut msg_id = 0u64;
            let send = |msg_id: u64| {
                let mut body = Map::new();
                body.insert("type".into(), json!("echo"));
                body.insert("echo".into(), json!(msg_id));
                body.insert("msg_id".into(), json!(msg_id));
                net.send(Message {
                    src: name.clone(),
                    dest: format!("n{}", msg_id as usize % NODES),
                    body,
                });
            };
            for _ in 0..WINDOW {
                msg_id += 1;
                send(msg_id);
            }
            let deadline = tokio::time::Instant::now() + RUN;
            while let Ok(Some(_reply)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                msg_id += 1;
                send(msg_id);
            }
        }));
    }
    for c in clients {
        c.await.expect("a client task");
    }
    let elapsed = start.elapsed();
    let count = total(&net) - before;
    if let Some(nodes) = _nodes {
        nodes.stop();
    }
    (count, elapsed)
}

/// Every message sent over the network so far.
fn total(net: &Network) -> u64 {
    let s = net.stats();
    s.clients.sent + s.servers.sent
}
