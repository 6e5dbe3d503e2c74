//! The link proxy mesh: one TCP proxy per directed link `i → j`, so faultline can cut, delay or
//! lose one direction of one link without root (no iptables).
//!
//! Node `i` is started with `--peer j=<address of proxy i→j>`; the proxy forwards to node
//! `j`'s peer listener. raftkv dials one connection per directed link and sends only on it
//! (its transport module), so the proxy `i → j` carries exactly `i`'s messages to `j`.
//!
//! How faults look to the nodes:
//!
//! - **Cut** behaves like iptables `DROP`: the proxy keeps accepting connections but stops
//!   reading from them and stops writing to them. The sender sees no reset and no error; its
//!   writes succeed until its socket buffer fills, then block — exactly what a TCP sender sees
//!   when its segments vanish. Nothing is discarded: like TCP retransmission after a real
//!   partition heals, the bytes that were held back are delivered once the link is healed, so
//!   the stream's framing stays intact (discarding bytes mid-stream would corrupt it). Bytes
//!   already read when the cut began wait in the proxy until the heal.
//! - **Delay** adds a fixed latency to every chunk, pipelined (throughput is not limited).
//! - **Drop** (packet loss) on a TCP link means retransmission, not lost bytes: each chunk is
//!   "lost" with the given probability, and each loss holds it (and, in order, everything
//!   behind it) back for one retransmission timeout of [`RETRANSMIT`] — up to
//!   [`MAX_RETRANSMITS`] times, as TCP's retries would. Draws come from a seeded RNG per link.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::grudge::{cut_links, Grudge};

/// How long one lost chunk is held back (TCP's minimum retransmission timeout on Linux).
pub const RETRANSMIT: Duration = Duration::from_millis(200);
/// Most consecutive losses of one chunk (TCP gives up on a connection after many more; a
/// bound keeps a 0.9 loss rate from stalling a link for minutes).
pub const MAX_RETRANSMITS: u32 = 5;
/// Read buffer per direction.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight inside the proxy per direction (bounds memory under delay).
const IN_FLIGHT: usize = 64;

/// What is done to one directed link right now.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LinkState {
    /// Nothing passes (iptables DROP).
    pub cut: bool,
    /// Added latency per chunk.
    pub delay: Duration,
    /// Probability that a chunk is lost (and retransmitted after [`RETRANSMIT`]).
    pub loss: f64,
}

impl LinkState {
    /// True when nothing is done to the link.
    pub fn is_clear(&self) -> bool {
        *self == LinkState::default()
    }
}

/// One TCP proxy: accepts on 127.0.0.1, forwards to a target, obeys its [`LinkState`].
/// Dropping it stops the proxy and closes every connection through it.
#[derive(Debug)]
pub struct LinkProxy {
    addr: SocketAddr,
    state: watch::Sender<LinkState>,
    task: JoinHandle<()>,
}

impl LinkProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) forwarding to `target`. `seed` seeds its
    /// loss draws. Needs a tokio runtime.
    pub async fn start(target: SocketAddr, seed: u64) -> io::Result<LinkProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (state, rx) = watch::channel(LinkState::default());
        let rng = Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(seed)));
        let task = tokio::spawn(accept_loop(listener, target, rx, rng));
        Ok(LinkProxy { addr, state, task })
    }

    /// Where senders connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The link's current state.
    pub fn state(&self) -> LinkState {
        *self.state.borrow()
    }

    /// Changes the link's state; connections through it follow at once.
    pub fn update(&self, f: impl FnOnce(&mut LinkState)) {
        self.state.send_modify(f);
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        // The accept task owns every connection task (a JoinSet), so aborting it closes them.
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    state: watch::Receiver<LinkState>,
    rng: Arc<Mutex<ChaCha8Rng>>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve(stream, target, state.clone(), rng.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "link proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow without bound.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// One proxied connection. Ends (closing both sides) when either side ends.
async fn serve(
    downstream: TcpStream,
    target: SocketAddr,
    mut state: watch::Receiver<LinkState>,
    rng: Arc<Mutex<ChaCha8Rng>>,
) {
    // A connection made during a cut is held, unanswered, until the heal.
    if state.wait_for(|s| !s.cut).await.is_err() {
        return;
    }
    let upstream = match TcpStream::connect(target).await {
        Ok(s) => s,
        // The node is down: closing is what a dead peer looks like to the sender.
        Err(_) => return,
    };
    let _ = upstream.set_nodelay(true);
    let (down_r, down_w) = downstream.into_split();
    let (up_r, up_w) = upstream.into_split();
    tokio::select! {
        _ = pump(down_r, up_w, state.clone(), rng.clone()) => {}
        _ = pump(up_r, down_w, state, rng) => {}
    }
}

/// Copies one direction, obeying the link state: a reader that stamps each chunk with its due
/// time, and a writer that delivers in order once due and not cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: watch::Receiver<LinkState>,
    rng: Arc<Mutex<ChaCha8Rng>>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let mut read_state = state.clone();
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        loop {
            if read_state.wait_for(|s| !s.cut).await.is_err() {
                return;
            }
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let now = *read_state.borrow();
            let due = Instant::now() + now.delay + loss_penalty(&rng, now.loss);
            if tx.send((due, buf[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    let mut write_state = state;
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if write_state.wait_for(|s| !s.cut).await.is_err() {
                return;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The reader saw end of stream and every chunk is delivered: pass the FIN on.
        let _ = to.shutdown().await;
    };
    // The writer finishes after the reader (it drains the channel), so joining both delivers
    // everything read; the connection ends when both are done.
    tokio::join!(reader, writer);
}

/// How long a chunk is held back by simulated losses.
fn loss_penalty(rng: &Mutex<ChaCha8Rng>, loss: f64) -> Duration {
    if loss <= 0.0 {
        return Duration::ZERO;
    }
    // A poisoned lock only means another connection panicked mid-draw; the RNG is still usable.
    let mut rng = rng.lock().unwrap_or_else(|p| p.into_inner());
    let mut lost = 0;
    while lost < MAX_RETRANSMITS && rng.random_bool(loss.min(1.0)) {
        lost += 1;
    }
    RETRANSMIT * lost
}

/// Every directed link of a cluster, each through its own [`LinkProxy`]. Dropping the mesh stops
/// every proxy.
#[derive(Debug)]
pub struct ProxyMesh {
    nodes: Vec<String>,
    links: BTreeMap<(String, String), LinkProxy>,
}

impl ProxyMesh {
    /// Starts a proxy for every ordered pair of distinct nodes; `peers` gives each node's name
    /// and its peer listener address (where the proxies forward to). Link seeds derive from
    /// `seed`.
    pub async fn start(peers: &[(String, SocketAddr)], seed: u64) -> io::Result<ProxyMesh> {
        let mut links = BTreeMap::new();
        let mut k = 0u64;
        for (from, _) in peers {
            for (to, target) in peers {
                if from == to {
                    continue;
                }
                k += 1;
                let link_seed = seed ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let proxy = LinkProxy::start(*target, link_seed).await?;
                links.insert((from.clone(), to.clone()), proxy);
            }
        }
        Ok(ProxyMesh {
            nodes: peers.iter().map(|(n, _)| n.clone()).collect(),
            links,
        })
    }

    /// The node names, in the order given.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The address `from` must dial to reach `to`.
    pub fn link_addr(&self, from: &str, to: &str) -> Option<SocketAddr> {
        self.links
            .get(&(from.to_string(), to.to_string()))
            .map(LinkProxy::addr)
    }

    /// The state of the link `from → to`.
    pub fn link_state(&self, from: &str, to: &str) -> Option<LinkState> {
        self.links
            .get(&(from.to_string(), to.to_string()))
            .map(LinkProxy::state)
    }

    /// Cuts exactly the links `grudge` names (`b ∈ grudge[a]` cuts `b → a`) and reconnects
    /// every other link. Returns the cut links. Names outside the mesh are ignored.
    pub fn partition(&self, grudge: &Grudge) -> Vec<(String, String)> {
        let cut: std::collections::BTreeSet<(String, String)> =
            cut_links(grudge).into_iter().collect();
        for (link, proxy) in &self.links {
            let want = cut.contains(link);
            proxy.update(|s| s.cut = want);
        }
        self.cut()
    }

    /// The links currently cut.
    pub fn cut(&self) -> Vec<(String, String)> {
        self.links
            .iter()
            .filter(|(_, p)| p.state().cut)
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// Reconnects every link (delays and losses stay).
    pub fn heal_partition(&self) {
        for proxy in self.links.values() {
            proxy.update(|s| s.cut = false);
        }
    }

    /// Sets the delay of the links to and from `nodes` (every link when `None`).
    pub fn set_delay(&self, delay: Duration, nodes: Option<&[String]>) {
        self.each_link(nodes, |s| s.delay = delay);
    }

    /// Sets the loss probability of the links to and from `nodes` (every link when `None`).
    pub fn set_loss(&self, probability: f64, nodes: Option<&[String]>) {
        self.each_link(nodes, |s| s.loss = probability);
    }

    /// Clears every cut, delay and loss.
    pub fn heal_all(&self) {
        for proxy in self.links.values() {
            proxy.update(|s| *s = LinkState::default());
        }
    }

    fn each_link(&self, nodes: Option<&[String]>, f: impl Fn(&mut LinkState)) {
        for ((from, to), proxy) in &self.links {
            let hit = nodes.is_none_or(|ns| ns.iter().any(|n| n == from || n == to));
            if hit {
                proxy.update(&f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A sink: accepts connections and appends everything it reads to a shared buffer.
    async fn sink() -> (SocketAddr, Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let task = tokio::spawn(async move {
            let mut set = JoinSet::new();
            while let Ok((mut s, _)) = listener.accept().await {
                let g = g.clone();
                set.spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        g.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        (addr, got, task)
    }

    async fn wait_for_bytes(got: &Mutex<Vec<u8>>, want: &[u8], within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if got.lock().unwrap().as_slice() == want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_cut_link_holds_bytes_silently_and_delivers_them_on_heal() {
        let (target, got, _sink) = sink().await;
        let proxy = LinkProxy::start(target, 1).await.unwrap();
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        conn.write_all(b"before ").await.unwrap();
        assert!(wait_for_bytes(&got, b"before ", Duration::from_secs(10)).await);

        proxy.update(|s| s.cut = true);
        conn.write_all(b"during ").await.unwrap();
        // A second connection made during the cut is accepted, not refused.
        let mut late = TcpStream::connect(proxy.addr()).await.unwrap();
        late.write_all(b"late").await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            got.lock().unwrap().as_slice(),
            b"before ",
            "nothing passes a cut"
        );

        proxy.update(|s| s.cut = false);
        // Held bytes arrive; the two connections may interleave, so compare as a multiset.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut bytes = got.lock().unwrap().clone();
            bytes.sort();
            let mut want = b"before during late".to_vec();
            want.sort();
            if bytes == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "held bytes never arrived: {bytes:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The sender saw no reset: the same connection still works.
        conn.write_all(b"!").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.lock().unwrap().len() < b"before during late!".len() {
            assert!(Instant::now() < deadline, "traffic did not resume");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_sender_writing_into_a_cut_link_blocks_instead_of_failing() {
        let (target, got, _sink) = sink().await;
        let proxy = LinkProxy::start(target, 1).await.unwrap();
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        conn.write_all(b"x").await.unwrap();
        assert!(wait_for_bytes(&got, b"x", Duration::from_secs(10)).await);
        proxy.update(|s| s.cut = true);
        // Far more than the socket buffers hold: the write must stall, never error.
        let big = vec![7u8; 64 << 20];
        let write = tokio::time::timeout(Duration::from_secs(1), conn.write_all(&big)).await;
        assert!(
            write.is_err(),
            "a write through a cut link should block, got {write:?}"
        );
        assert_eq!(got.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn delay_holds_each_chunk_back() {
        let (target, got, _sink) = sink().await;
        let proxy = LinkProxy::start(target, 1).await.unwrap();
        proxy.update(|s| s.delay = Duration::from_millis(300));
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        let sent = Instant::now();
        conn.write_all(b"slow").await.unwrap();
        assert!(wait_for_bytes(&got, b"slow", Duration::from_secs(10)).await);
        assert!(
            sent.elapsed() >= Duration::from_millis(300),
            "{:?}",
            sent.elapsed()
        );
    }

    #[tokio::test]
    async fn loss_delays_but_never_reorders_or_corrupts() {
        let (target, got, _sink) = sink().await;
        let proxy = LinkProxy::start(target, 7).await.unwrap();
        proxy.update(|s| s.loss = 0.3);
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut want = Vec::new();
        for i in 0..20u8 {
            conn.write_all(&[i; 10]).await.unwrap();
            want.extend_from_slice(&[i; 10]);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(wait_for_bytes(&got, &want, Duration::from_secs(30)).await);
    }

    #[test]
    fn loss_penalty_is_seeded_and_bounded() {
        let draw = |seed| {
            let rng = Mutex::new(ChaCha8Rng::seed_from_u64(seed));
            (0..100)
                .map(|_| loss_penalty(&rng, 0.5))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        let penalties = draw(3);
        assert!(penalties.iter().any(|d| d.is_zero()));
        assert!(penalties.iter().any(|d| !d.is_zero()));
        assert!(penalties.iter().all(|d| *d <= RETRANSMIT * MAX_RETRANSMITS));
        let rng = Mutex::new(ChaCha8Rng::seed_from_u64(3));
        assert_eq!(loss_penalty(&rng, 0.0), Duration::ZERO);
    }

    #[tokio::test]
    async fn the_mesh_cuts_exactly_the_grudged_links() {
        let (target, _got, _sink) = sink().await;
        let names: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
        let peers: Vec<(String, SocketAddr)> = names.iter().map(|n| (n.clone(), target)).collect();
        let mesh = ProxyMesh::start(&peers, 9).await.unwrap();
        assert_eq!(mesh.links.len(), 6);
        let grudge: Grudge = [
            (
                "n1".to_string(),
                BTreeSet::from(["n2".to_string(), "n3".to_string()]),
            ),
            ("n2".to_string(), BTreeSet::from(["n1".to_string()])),
        ]
        .into();
        let cut = mesh.partition(&grudge);
        let want = vec![
            ("n1".to_string(), "n2".to_string()),
            ("n2".to_string(), "n1".to_string()),
            ("n3".to_string(), "n1".to_string()),
        ];
        assert_eq!(cut, want);
        mesh.set_delay(Duration::from_millis(5), Some(&["n3".to_string()]));
        assert_eq!(
            mesh.link_state("n3", "n2").unwrap().delay,
            Duration::from_millis(5)
        );
        assert_eq!(mesh.link_state("n1", "n2").unwrap().delay, Duration::ZERO);
        mesh.heal_partition();
        assert!(mesh.cut().is_empty());
        assert_eq!(
            mesh.link_state("n2", "n3").unwrap().delay,
            Duration::from_millis(5)
        );
        mesh.heal_all();
        assert!(mesh.links.values().all(|p| p.state().is_clear()));
    }
}
