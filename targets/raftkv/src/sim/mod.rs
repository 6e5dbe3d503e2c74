//! A deterministic simulation of a raftkv cluster, for testing the Raft core under faults.
//!
//! Everything — network delays, loss, duplication, partitions (symmetric and one-way),
//! crash-restarts, client writes and reads — is drawn from one ChaCha RNG seeded by the run's
//! seed, and each node's own RNG is derived from it, so [`run`] with the same seed and config
//! replays exactly the same run. A crashed node loses everything its Ready did not tell the
//! host to persist (the sim also crashes nodes between sending a Ready's `messages` and
//! persisting it). After every step the [`Invariants`] are checked; the first violation ends
//! the run as a [`Failure`] naming the seed.
//!
//! Test-support code: it lives in the library so integration tests and unit tests share it,
//! but no server path uses it. Set `RAFTKV_SEED=<n>` to make [`seeds`] return only that seed,
//! which replays one failing run, and `RAFTKV_TRACE=1` to print every event of the run
//! (deliveries, Readies, crashes, partitions) to stderr.

mod check;
mod host;
mod network;

use std::fmt;
use std::ops::Range;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use check::{command_id, Invariants, Violation};
pub use network::{Network, NetworkFaults};

use crate::raft::{Bugs, NodeId};
use host::Cluster;

/// Shape and fault rates of one simulated run. Rates are per tick unless said otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Cluster size.
    pub nodes: usize,
    /// Length of the run in ticks.
    pub ticks: u64,
    /// Loss, duplication and delay.
    pub network: NetworkFaults,
    /// Chance per tick to change the partition (cut one if healed, heal if cut).
    pub partition_rate: f64,
    /// Chance per tick to crash a node (at most a minority is down at once).
    pub crash_rate: f64,
    /// Chance that a crash targets a leader rather than any live node.
    pub leader_crash_bias: f64,
    /// Chance, per Ready, to crash after sending its `messages` but before persisting it.
    pub crash_mid_ready: f64,
    /// A crashed node restarts after 1..=max_down_ticks ticks.
    pub max_down_ticks: u64,
    /// Chance per tick that a client proposes a write.
    pub propose_rate: f64,
    /// Chance per tick that a client starts a read.
    pub read_rate: f64,
    /// A node snapshots and compacts once it has applied this many entries past its snapshot.
    pub compact_every: u64,
    /// Election timeout base, in ticks.
    pub election_ticks: u64,
    /// Heartbeat interval, in ticks.
    pub heartbeat_ticks: u64,
    /// Bound on entries per append message.
    pub max_entries_per_append: usize,
    /// Bound on append messages sent to one follower at once.
    pub max_append_burst: usize,
    /// Bugs switched on in every node.
    pub bugs: Bugs,
}

impl SimConfig {
    /// A cluster of `nodes` under moderate faults of every kind, 300 ticks long.
    pub fn faulty(nodes: usize) -> Self {
        SimConfig {
            nodes,
            ticks: 300,
            network: NetworkFaults {
                drop: 0.05,
                duplicate: 0.03,
                max_delay: 3,
            },
            partition_rate: 0.03,
            crash_rate: 0.015,
            leader_crash_bias: 0.5,
            crash_mid_ready: 0.002,
            max_down_ticks: 40,
            propose_rate: 0.5,
            read_rate: 0.4,
            compact_every: 12,
            election_ticks: 10,
            heartbeat_ticks: 2,
            max_entries_per_append: 8,
            max_append_burst: 4,
            bugs: Bugs::default(),
        }
    }

    /// Heavier churn: frequent crashes (mostly of leaders) and partitions, short election
    /// timeouts, one entry per append and no pipelining, 600 ticks — so leaders change while
    /// followers hold old-term entries not yet followed by the new no-op: the setting of
    /// Figure 8.
    pub fn churn(nodes: usize) -> Self {
        SimConfig {
            ticks: 600,
            election_ticks: 5,
            heartbeat_ticks: 1,
            leader_crash_bias: 0.9,
            crash_rate: 0.15,
            partition_rate: 0.08,
            max_down_ticks: 8,
            propose_rate: 1.0,
            max_entries_per_append: 1,
            max_append_burst: 1,
            ..SimConfig::faulty(nodes)
        }
    }

    /// The same config with `bugs` switched on.
    pub fn with_bugs(mut self, bugs: Bugs) -> Self {
        self.bugs = bugs;
        self
    }
}

/// What a run did, so tests can check it exercised something.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Writes acknowledged to clients.
    pub writes_acked: u64,
    /// Reads served and checked.
    pub reads_served: u64,
    /// Terms that had a leader.
    pub leaders: u64,
    /// Crash-restarts.
    pub crashes: u64,
    /// Partitions started.
    pub partitions: u64,
    /// Snapshots made by hosts (compactions).
    pub compactions: u64,
    /// Snapshots installed from a leader.
    pub snapshots_installed: u64,
    /// Messages delivered.
    pub messages: u64,
}

/// A run that broke an invariant: enough to replay it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The run's seed.
    pub seed: u64,
    /// Tick at which the violation was seen.
    pub tick: u64,
    /// The violated property.
    pub violation: Violation,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} failed at tick {}: {} [replay: RAFTKV_SEED={}]",
            self.seed, self.tick, self.violation, self.seed
        )
    }
}

impl std::error::Error for Failure {}

/// The seeds a test should run: `default`, or only `$RAFTKV_SEED` when that is set.
pub fn seeds(default: Range<u64>) -> Vec<u64> {
    match std::env::var("RAFTKV_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        Some(seed) => vec![seed],
        None => default.collect(),
    }
}

/// Runs one simulation and checks the invariants after every step.
pub fn run(seed: u64, config: &SimConfig) -> Result<Outcome, Failure> {
    let mut cluster = Cluster::new(seed, config);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for tick in 0..config.ticks {
        cluster
            .run_tick(tick, &mut rng)
            .map_err(|violation| Failure {
                seed,
                tick,
                violation,
            })?;
    }
    Ok(cluster.outcome())
}

/// Picks a random element of a non-empty slice.
fn pick<T: Copy>(items: &[T], rng: &mut ChaCha8Rng) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        Some(items[rng.random_range(0..items.len())])
    }
}

/// Node ids of a cluster of `n`: 1..=n.
fn node_ids(n: usize) -> Vec<NodeId> {
    (1..=n as NodeId).collect()
}
