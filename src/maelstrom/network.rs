//! The in-process message network the nodes of `--target maelstrom` talk through: every line
//! a node prints and every client request is a [`Message`] handed to [`Network::send`], which
//! asks the seeded routing core ([`crate::net::sim`]) for its fate, delivers it after its
//! delay (to a node's stdin, a client's inbox, or one of Maelstrom's services, which answer
//! in-process through [`Services`]), counts it, and logs it to `messages.jsonl`.
//!
//! Counting follows Maelstrom's: a message to or from a client (`c1`, ...) is a client
//! message; every other one (node to node, node to service) a server message. Services, like
//! clients, are never partitioned and meet latency only.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::mpsc::UnboundedSender;

use super::latency::Histogram;
use super::leader::TRAFFIC_WINDOW;
use super::protocol::Message;
use super::services::{self, Services};
use crate::net::sim::{DropCause, Fate, Routing, SharedRouting, SimConfig};
use crate::rundir::{NetworkRecord, NodeExit};

/// Whether `name` is a client: neither a server node nor a service.
fn is_client(routing: &Routing, name: &str) -> bool {
    !routing.is_server(name) && !services::is_service(name)
}

/// Where a message for a name goes.
type Inboxes<T> = Mutex<HashMap<String, UnboundedSender<T>>>;

/// Locks `m`, taking the data of a poisoned lock (a panic elsewhere leaves it whole).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Inner {
    routing: SharedRouting,
    started: Instant,
    /// Each running node's stdin, by name (absent while it is down or not yet initialised).
    nodes: Inboxes<String>,
    /// Each client's inbox, by name.
    clients: Inboxes<Message>,
    log: Mutex<BufWriter<File>>,
    stats: Mutex<NetworkRecord>,
    /// Messages clients sent (the ops of msgs-per-op).
    requests: AtomicU64,
    /// Maelstrom's services, answering the messages sent to them.
    services: Mutex<Services>,
    /// The run log (one line per call), for malformed lines and unknown replies.
    run_log: Arc<dyn Fn(&str) + Send + Sync>,
    /// The latest node-to-node deliveries `(src, dest)`, for the leader inference.
    recent: Mutex<VecDeque<(String, String)>>,
    /// The delays drawn for delivered messages.
    delays: Mutex<Histogram>,
    /// Clients' request-to-reply times.
    client_latency: Mutex<Histogram>,
}

/// The network: cheap to clone, shared by the nodes' readers, the clients and the nemesis's
/// backend (through [`Network::routing`]).
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

impl Network {
    /// A network among `servers` with `config`, its draws seeded by `seed` (the services'
    /// by `services_seed`), logging every message to `messages` and notes to `run_log`.
    pub fn new(
        config: SimConfig,
        servers: &[String],
        seed: u64,
        services_seed: u64,
        messages: &Path,
        run_log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Network> {
        let file = File::create(messages)
            .with_context(|| format!("creating the message log {}", messages.display()))?;
        Ok(Network {
            inner: Arc::new(Inner {
                routing: Arc::new(Mutex::new(Routing::new(config, servers, seed))),
                started: Instant::now(),
                nodes: Mutex::new(HashMap::new()),
                clients: Mutex::new(HashMap::new()),
                log: Mutex::new(BufWriter::new(file)),
                stats: Mutex::new(NetworkRecord::default()),
                requests: AtomicU64::new(0),
                services: Mutex::new(Services::new(services_seed)),
                run_log,
                recent: Mutex::new(VecDeque::with_capacity(TRAFFIC_WINDOW)),
                delays: Mutex::new(Histogram::default()),
                client_latency: Mutex::new(Histogram::default()),
            }),
        })
    }

    /// The routing state, for the nemesis's [`crate::nemesis::backend::SimFaults`].
    pub fn routing(&self) -> SharedRouting {
        Arc::clone(&self.inner.routing)
    }

    /// Connects node `name`'s stdin: messages for it are delivered there from now on.
    pub fn attach_node(&self, name: &str, stdin: UnboundedSender<String>) {
        lock(&self.inner.nodes).insert(name.to_owned(), stdin);
    }

    /// Disconnects node `name` (killed, or exited): messages for it are undeliverable.
    pub fn detach_node(&self, name: &str) {
        lock(&self.inner.nodes).remove(name);
    }

    /// Writes `line` to node `name`'s stdin outside the network (faultline's own control
    /// messages from `c0`, such as the leader probe: not routed, counted nor logged); false
    /// when the node is not attached.
    pub fn send_direct(&self, name: &str, line: String) -> bool {
        lock(&self.inner.nodes)
            .get(name)
            .is_some_and(|stdin| stdin.send(line).is_ok())
    }

    /// The latest node-to-node deliveries `(src, dest)`, oldest first (at most
    /// [`TRAFFIC_WINDOW`]).
    pub fn recent_links(&self) -> Vec<(String, String)> {
        lock(&self.inner.recent).iter().cloned().collect()
    }

    /// Writes `line` to the run log.
    pub fn note(&self, line: &str) {
        (self.inner.run_log)(line);
    }

    /// Connects client `name`'s inbox.
    pub fn attach_client(&self, name: &str, inbox: UnboundedSender<Message>) {
        lock(&self.inner.clients).insert(name.to_owned(), inbox);
    }

    /// Puts `msg` on the network: counted as sent, logged, then delivered after the delays
    /// its fate gives (each copy on its own timer), or dropped.
    pub fn send(&self, msg: Message) {
        let fate = {
            let mut routing = lock(&self.inner.routing);
            let client_src = is_client(&routing, &msg.src);
            let client_msg = client_src || is_client(&routing, &msg.dest);
            let mut stats = lock(&self.inner.stats);
            let counts = if client_msg {
                &mut stats.clients
            } else {
                &mut stats.servers
            };
            counts.sent += 1;
            if client_src {
                self.inner.requests.fetch_add(1, Ordering::Relaxed);
            }
            routing.route(&msg.src, &msg.dest)
        };
        self.log_event("send", &msg, None);
        match fate {
            Fate::Dropped(cause) => {
                {
                    let mut stats = lock(&self.inner.stats);
                    match cause {
                        DropCause::Partition => stats.dropped_partition += 1,
                        DropCause::Loss => stats.dropped_loss += 1,
                    }
                }
                self.log_event("drop", &msg, Some(cause.name()));
            }
            Fate::Deliver(delays) => {
                if delays.len() > 1 {
                    lock(&self.inner.stats).duplicated += 1;
                }
                {
                    let mut histogram = lock(&self.inner.delays);
                    for delay in &delays {
                        histogram.record(*delay);
                    }
                }
                for delay in delays {
                    let msg = msg.clone();
                    if delay.is_zero() {
                        self.deliver(msg);
                    } else {
                        let net = self.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            net.deliver(msg);
                        });
                    }
                }
            }
        }
    }

    /// Hands `msg` to its destination now, if it is there; a service answers at once.
    fn deliver(&self, msg: Message) {
        let client_msg = {
            let routing = lock(&self.inner.routing);
            is_client(&routing, &msg.src) || is_client(&routing, &msg.dest)
        };
        if services::is_service(&msg.dest) {
            lock(&self.inner.stats).servers.received += 1;
            self.log_event("recv", &msg, None);
            let reply = lock(&self.inner.services).handle(&msg);
            if let Some(reply) = reply {
                self.send(reply);
            }
            return;
        }
        let delivered = match lock(&self.inner.nodes).get(&msg.dest) {
            Some(stdin) => stdin.send(msg.to_line()).is_ok(),
            None => false,
        } || match lock(&self.inner.clients).get(&msg.dest) {
            Some(inbox) => inbox.send(msg.clone()).is_ok(),
            None => false,
        };
        {
            let mut stats = lock(&self.inner.stats);
            match (delivered, client_msg) {
                (false, _) => stats.undeliverable += 1,
                (true, false) => stats.servers.received += 1,
                (true, true) => stats.clients.received += 1,
            }
        }
        if delivered && !client_msg {
            let mut recent = lock(&self.inner.recent);
            if recent.len() == TRAFFIC_WINDOW {
                recent.pop_front();
            }
            recent.push_back((msg.src.clone(), msg.dest.clone()));
        }
        if delivered {
            self.log_event("recv", &msg, None);
        } else {
            self.log_event("drop", &msg, Some("undeliverable"));
        }
    }

    /// Counts and logs a line node `node` printed that is not a message.
    pub fn malformed(&self, node: &str, error: &str) {
        lock(&self.inner.stats).malformed_lines += 1;
        (self.inner.run_log)(&format!("node {node}: malformed line, ignored: {error}"));
    }

    /// Counts and logs a reply client `client` was not waiting for.
    pub fn unknown_reply(&self, client: &str, msg: &Message) {
        lock(&self.inner.stats).unknown_replies += 1;
        (self.inner.run_log)(&format!(
            "client {client}: a reply nobody waits for (late, or an unknown in_reply_to), ignored: {}",
            msg.to_line()
        ));
    }

    /// Counts one client request's time from sending to its reply.
    pub fn client_latency(&self, took: Duration) {
        lock(&self.inner.client_latency).record(took);
    }

    /// Records that `node` exited on its own with `status`.
    pub fn node_exited(&self, node: &str, status: &str) {
        let at_secs = self.elapsed().as_secs_f64();
        lock(&self.inner.stats).nodes_exited.push(NodeExit {
            node: node.to_owned(),
            status: status.to_owned(),
            at_secs,
        });
        (self.inner.run_log)(&format!(
            "node {node} exited on its own ({status}); it stays down (only nodes the nemesis killed are restarted)"
        ));
    }

    /// Time since the network started.
    pub fn elapsed(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// The counts so far, with msgs-per-op worked out; flushes the message log.
    pub fn stats(&self) -> NetworkRecord {
        let _ = lock(&self.inner.log).flush();
        let mut stats = lock(&self.inner.stats).clone();
        let requests = self.inner.requests.load(Ordering::Relaxed);
        stats.msgs_per_op = stats.servers.sent as f64 / requests.max(1) as f64;
        stats.client_latency_ms = lock(&self.inner.client_latency).stats();
        stats.network_delay_ms = lock(&self.inner.delays).stats();
        stats
    }

    /// Appends one line to the message log, serialising straight into it (no intermediate
    /// JSON value: this runs twice per message).
    fn log_event(&self, event: &str, msg: &Message, cause: Option<&str>) {
        let t = (self.elapsed().as_secs_f64() * 1e6).round() / 1e6;
        let mut log = lock(&self.inner.log);
        let w = &mut *log;
        let _ = (|| -> std::io::Result<()> {
            write!(w, "{{\"t\":{t},\"event\":\"{event}\",\"src\":")?;
            serde_json::to_writer(&mut *w, &msg.src)?;
            w.write_all(b",\"dest\":")?;
            serde_json::to_writer(&mut *w, &msg.dest)?;
            w.write_all(b",\"body\":")?;
            serde_json::to_writer(&mut *w, &msg.body)?;
            if let Some(cause) = cause {
                write!(w, ",\"cause\":\"{cause}\"")?;
            }
            w.write_all(b"}\n")
        })();
    }
}
