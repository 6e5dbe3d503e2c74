//! Maelstrom's clients `c1`, `c2`, ...: each worker's client sends its op as one request
//! message to its node through the [`Network`] and waits for the reply whose `in_reply_to`
//! is the request's `msg_id`, at most [`CLIENT_TIMEOUT`]. Replies to anything else are
//! counted and logged, never matched to the wrong op.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::mpsc;

use super::errors;
use super::kafka::KafkaClient;
use super::network::Network;
use super::protocol::Message;
use super::shapes::{self, Shape};
use crate::client::{Client, ClientError, ClientFactory, Completion, Invocation, NodeInfo};
use crate::history::Outcome;

/// How long a client waits for a reply before the op's outcome is unknown.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// The value of an echo that did not return its own request's payload (one is an anomaly).
pub const MISMATCHED_ECHO: &str = crate::checker::workload::unique_ids::NOT_ITS_OWN;

/// Opens clients `c1`, `c2`, ... on the network.
pub struct MaelstromFactory {
    net: Network,
    shape: Shape,
    opened: AtomicUsize,
}

impl MaelstromFactory {
    /// Clients speaking `shape`'s messages over `net`.
    pub fn new(net: Network, shape: Shape) -> MaelstromFactory {
        MaelstromFactory {
            net,
            shape,
            opened: AtomicUsize::new(0),
        }
    }
}

impl ClientFactory for MaelstromFactory {
    fn open(&self, node: &NodeInfo) -> Result<Box<dyn Client>, ClientError> {
        let name = format!("c{}", self.opened.fetch_add(1, Ordering::Relaxed) + 1);
        let (tx, rx) = mpsc::unbounded_channel();
        self.net.attach_client(&name, tx);
        Ok(Box::new(MaelstromClient {
            name,
            node: node.name.clone(),
            net: self.net.clone(),
            shape: self.shape,
            inbox: rx,
            next_id: 0,
            kafka: KafkaClient::default(),
        }))
    }
}

struct MaelstromClient {
    name: String,
    node: String,
    net: Network,
    shape: Shape,
    inbox: mpsc::UnboundedReceiver<Message>,
    next_id: u64,
    /// The kafka workload's positions (unused by other shapes).
    kafka: KafkaClient,
}

#[async_trait]
impl Client for MaelstromClient {
    async fn invoke(&mut self, op: &Invocation) -> Completion {
        let node = Some(self.node.clone());
        let request = match self.shape {
            Shape::Kafka => self.kafka.request(op),
            _ => self.shape.request(op),
        };
        let mut body = match request {
            Ok(body) => body,
            Err(e) => {
                return Completion {
                    outcome: Outcome::Fail,
                    value: op.value.clone(),
                    error: Some(format!("not sent: {e}")),
                    node,
                }
            }
        };
        // Replies that arrived after their op timed out are stale: count them now.
        while let Ok(stale) = self.inbox.try_recv() {
            self.net.unknown_reply(&self.name, &stale);
        }
        self.next_id += 1;
        let msg_id = self.next_id;
        body.insert("msg_id".into(), json!(msg_id));
        let payload = (self.shape == Shape::Echo).then(|| shapes::echo_payload(&self.name, msg_id));
        if let Some(p) = &payload {
            body.insert("echo".into(), p.clone());
        }
        let sent = std::time::Instant::now();
        self.net.send(Message {
            src: self.name.clone(),
            dest: self.node.clone(),
            body,
        });
        let deadline = tokio::time::Instant::now() + CLIENT_TIMEOUT;
        loop {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(reply)) if reply.in_reply_to() == Some(msg_id) => {
                    self.net.client_latency(sent.elapsed());
                    let mut done = match self.shape {
                        Shape::Kafka => self.kafka.complete(op, &reply.body),
                        _ => self.shape.complete(op, &reply.body),
                    };
                    done.node = node;
                    if payload.is_some_and(|p| done.outcome == Outcome::Ok && done.value != p) {
                        // Not this request's payload: the unique-ids checker reports each one.
                        done.value = json!(MISMATCHED_ECHO);
                    }
                    return done;
                }
                Ok(Some(other)) => self.net.unknown_reply(&self.name, &other),
                Ok(None) | Err(_) => {
                    return Completion {
                        outcome: errors::no_reply(self.shape.has_effect(&op.f)),
                        value: op.value.clone(),
                        error: Some(format!(
                            "no reply from {} within {} s",
                            self.node,
                            CLIENT_TIMEOUT.as_secs()
                        )),
                        node,
                    }
                }
            }
        }
    }
}
