//! Peer-to-peer transport: Raft messages over TCP, one length-prefixed bincode frame each.
//!
//! Frame: `len: u32 LE | bincode(Message)`. Every directed link is its own TCP connection,
//! dialled by the sender to the address given for that peer (`--peer ID=ADDR`), so a harness
//! can route each link through its own proxy and cut, delay or drop it.
//!
//! The Raft loop must never wait on a slow or dead peer, so [`Transport::send`] only pushes into
//! a bounded per-peer queue and drops the message when that queue is full: Raft tolerates loss
//! (heartbeats and appends are retried). One task per peer drains its queue, batches whatever is
//! queued into one write, and reconnects with capped exponential backoff when the peer is down.

use std::collections::HashMap;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::raft::{Message, NodeId};

/// Largest frame accepted from a peer (a snapshot of a big map fits; garbage does not).
const MAX_FRAME: usize = 256 << 20;
/// First reconnect delay; doubled per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(20);
/// Longest reconnect delay, short enough that a healed link is used again quickly.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// Most queued messages coalesced into one write.
const MAX_BATCH: usize = 256;

/// Encodes one frame.
pub fn encode_frame(msg: &Message, out: &mut Vec<u8>) {
    // bincode of a plain struct into memory cannot fail.
    let body = bincode::serialize(msg).expect("a Message always serialises");
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
}

/// The sending side: one bounded queue per peer.
#[derive(Debug, Clone)]
pub struct Transport {
    queues: HashMap<NodeId, mpsc::Sender<Message>>,
}

impl Transport {
    /// Starts one sender task per peer on the current tokio runtime. `queue` bounds each
    /// peer's backlog in messages.
    pub fn start(peers: &HashMap<NodeId, String>, queue: usize) -> Transport {
        let mut queues = HashMap::new();
        for (&id, addr) in peers {
            let (tx, rx) = mpsc::channel(queue.max(1));
            tokio::spawn(run_link(id, addr.clone(), rx));
            queues.insert(id, tx);
        }
        Transport { queues }
    }

    /// Queues `msg` for its receiver without waiting; drops it when the queue is full or the
    /// receiver is unknown. Never blocks.
    pub fn send(&self, msg: Message) {
        match self.queues.get(&msg.to) {
            Some(q) => {
                if let Err(mpsc::error::TrySendError::Full(m)) = q.try_send(msg) {
                    tracing::trace!(to = m.to, kind = m.body.kind(), "peer queue full; dropped");
                }
            }
            None => tracing::warn!(to = msg.to, "message for unknown peer dropped"),
        }
    }
}

/// Drains one peer's queue onto a TCP connection, reconnecting with backoff. Ends when the
/// [`Transport`] is dropped.
async fn run_link(peer: NodeId, addr: String, mut rx: mpsc::Receiver<Message>) {
    let mut backoff = MIN_BACKOFF;
    let mut buf = Vec::new();
    loop {
        // Wait for something to send before dialling, so idle links cost nothing.
        let Some(first) = rx.recv().await else { return };
        let mut stream = match TcpStream::connect(&addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                backoff = MIN_BACKOFF;
                tracing::debug!(peer, %addr, "connected to peer");
                s
            }
            Err(e) => {
                tracing::debug!(peer, %addr, error = %e, ?backoff, "peer unreachable");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                // `first` and whatever queued meanwhile are stale by now: drop them (Raft
                // retries) so a dead peer costs no memory and a healed one gets fresh state.
                discard_queued(&mut rx);
                continue;
            }
        };
        let mut next = Some(first);
        loop {
            let msg = match next.take() {
                Some(m) => m,
                None => match rx.recv().await {
                    Some(m) => m,
                    None => return,
                },
            };
            buf.clear();
            encode_frame(&msg, &mut buf);
            for _ in 1..MAX_BATCH {
                match rx.try_recv() {
                    Ok(m) => encode_frame(&m, &mut buf),
                    Err(_) => break,
                }
            }
            if let Err(e) = stream.write_all(&buf).await {
                tracing::debug!(peer, %addr, error = %e, "peer connection lost");
                discard_queued(&mut rx);
                break;
            }
        }
    }
}

/// Empties a link's queue without sending.
fn discard_queued(rx: &mut mpsc::Receiver<Message>) {
    while rx.try_recv().is_ok() {}
}

/// Accepts peer connections on `listener` and hands every decoded message to `deliver`.
/// Runs until the listener fails; a bad frame closes only its connection.
pub async fn serve<F>(listener: TcpListener, deliver: F)
where
    F: Fn(Message) + Clone + Send + 'static,
{
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "peer accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let deliver = deliver.clone();
        tokio::spawn(async move {
            if let Err(e) = read_frames(stream, deliver).await {
                tracing::debug!(%from, error = %e, "peer connection closed");
            }
        });
    }
}

/// Reads frames until EOF or an error.
async fn read_frames<F>(stream: TcpStream, deliver: F) -> std::io::Result<()>
where
    F: Fn(Message),
{
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    let mut body = Vec::new();
    loop {
        let len = match reader.read_u32_le().await {
            Ok(n) => n as usize,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        if len > MAX_FRAME {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("frame of {len} bytes exceeds the {MAX_FRAME}-byte limit"),
            ));
        }
        body.resize(len, 0);
        reader.read_exact(&mut body).await?;
        match bincode::deserialize::<Message>(&body) {
            Ok(msg) => deliver(msg),
            Err(e) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("undecodable frame: {e}"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::MessageBody;
    use std::sync::{Arc, Mutex};

    fn heartbeat(from: NodeId, to: NodeId, round: u64) -> Message {
        Message {
            from,
            to,
            term: 1,
            body: MessageBody::Heartbeat { commit: 0, round },
        }
    }

    #[tokio::test]
    async fn messages_arrive_in_order_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        tokio::spawn(serve(listener, move |m| sink.lock().unwrap().push(m)));
        let t = Transport::start(&HashMap::from([(2, addr)]), 1024);
        for round in 0..100 {
            t.send(heartbeat(1, 2, round));
        }
        for _ in 0..500 {
            if got.lock().unwrap().len() == 100 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let got = got.lock().unwrap();
        let rounds: Vec<u64> = got
            .iter()
            .map(|m| match m.body {
                MessageBody::Heartbeat { round, .. } => round,
                _ => u64::MAX,
            })
            .collect();
        assert_eq!(rounds, (0..100).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_peer_that_comes_up_late_is_reached_after_reconnecting() {
        // Reserve a port, then free it so the first dials fail.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let t = Transport::start(&HashMap::from([(2, addr.to_string())]), 16);
        t.send(heartbeat(1, 2, 0));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let listener = TcpListener::bind(addr).await.unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        tokio::spawn(serve(listener, move |m| sink.lock().unwrap().push(m)));
        for round in 1..400 {
            t.send(heartbeat(1, 2, round));
            tokio::time::sleep(Duration::from_millis(10)).await;
            if !got.lock().unwrap().is_empty() {
                return;
            }
        }
        panic!("no message arrived after the peer came up");
    }

    #[tokio::test]
    async fn send_never_blocks_when_the_peer_is_down() {
        let t = Transport::start(&HashMap::from([(2, "127.0.0.1:1".to_string())]), 4);
        let start = std::time::Instant::now();
        for round in 0..10_000 {
            t.send(heartbeat(1, 2, round));
        }
        t.send(heartbeat(1, 9, 0)); // unknown peer: dropped
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
