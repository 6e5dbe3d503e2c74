//! The routing core of the in-process message network that `--target maelstrom` runs its
//! nodes on: for each message, seeded draws decide whether it arrives, how many times and
//! after how long. Pure: no clock, no I/O; the same seed and the same sequence of
//! [`Routing::route`] calls give the same fates (the delivery order is the order of the
//! delays). `crate::maelstrom::network` does the I/O around it.
//!
//! What a message meets, in order:
//! 1. a partition ([`Grudge`]): `dest` does not hear `src` (`src ∈ grudge[dest]`) → dropped;
//! 2. loss (`--net-loss P`, and the nemesis's loss fault on the links of its nodes) → dropped;
//! 3. duplication (`--net-duplicate P`): delivered twice, each copy with its own delay;
//! 4. latency (`--latency MS` drawn from `--latency-dist`), the nemesis's extra delay on its
//!    links, and reordering (`--net-reorder P`: held back by up to 5× the latency, at least
//!    5 ms, so later messages overtake it).
//!
//! Only links between two server nodes meet partitions, loss and duplication; a client's
//! messages (to and from `c1`, `c2`, ...) meet latency only, as in Maelstrom, whose network
//! never partitions its clients.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Grudge;

/// The routing state shared by the network that moves messages and the nemesis backend
/// that faults it (held only for one decision at a time, never across an await).
pub type SharedRouting = Arc<Mutex<Routing>>;

/// How message latencies are drawn around `--latency MS` (Maelstrom's `--latency-dist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LatencyDist {
    /// Exactly the mean, every time.
    #[default]
    Constant,
    /// Uniform in `0..=2×mean`.
    Uniform,
    /// Exponential with the given mean.
    Exponential,
}

impl LatencyDist {
    /// The flag's spelling.
    pub fn name(self) -> &'static str {
        match self {
            LatencyDist::Constant => "constant",
            LatencyDist::Uniform => "uniform",
            LatencyDist::Exponential => "exponential",
        }
    }
}

/// The network's standing settings (the flags), before any fault.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SimConfig {
    /// Mean latency of every message, in milliseconds.
    pub latency_ms: u64,
    /// How latencies spread around the mean.
    pub dist: LatencyDist,
    /// Probability that a message between two servers is lost.
    pub loss: f64,
    /// Probability that a message between two servers is delivered twice.
    pub duplicate: f64,
    /// Probability that a message is held back so later ones overtake it.
    pub reorder: f64,
}

impl SimConfig {
    /// Checks the probabilities are in `0..=1`, naming the flag at fault.
    pub fn validate(&self) -> Result<(), String> {
        for (flag, p) in [
            ("--net-loss", self.loss),
            ("--net-duplicate", self.duplicate),
            ("--net-reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{flag} must be a probability in 0..1, got {p}"));
            }
        }
        Ok(())
    }
}

/// Why a message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    /// A partition cut the link.
    Partition,
    /// Lost at random.
    Loss,
}

impl DropCause {
    /// The word the message log uses.
    pub fn name(self) -> &'static str {
        match self {
            DropCause::Partition => "partition",
            DropCause::Loss => "loss",
        }
    }
}

/// What becomes of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Delivered once per delay (two delays: duplicated).
    Deliver(Vec<Duration>),
    /// Never delivered.
    Dropped(DropCause),
}

/// A fault's scope: every server link, or the links to and from some nodes.
type Scope = Option<BTreeSet<String>>;

fn in_scope(scope: &Scope, src: &str, dest: &str) -> bool {
    scope
        .as_ref()
        .is_none_or(|nodes| nodes.contains(src) || nodes.contains(dest))
}

/// The network's state: its settings, the faults in force and its random stream.
#[derive(Debug, Clone)]
pub struct Routing {
    config: SimConfig,
    servers: BTreeSet<String>,
    rng: ChaCha8Rng,
    grudge: Grudge,
    delay: Option<(u64, Scope)>,
    loss: Option<(f64, Scope)>,
}

impl Routing {
    /// A network among `servers` (every other name is a client) with `config`, its draws
    /// seeded by `seed`.
    pub fn new(config: SimConfig, servers: &[String], seed: u64) -> Routing {
        Routing {
            config,
            servers: servers.iter().cloned().collect(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            grudge: Grudge::new(),
            delay: None,
            loss: None,
        }
    }

    /// Whether `name` is a server node (not a client).
    pub fn is_server(&self, name: &str) -> bool {
        self.servers.contains(name)
    }

    /// Cuts the links `grudge` names (`b ∈ grudge[a]`: a stops hearing b), replacing any
    /// partition before.
    pub fn partition(&mut self, grudge: &Grudge) {
        self.grudge = grudge.clone();
    }

    /// Reconnects every link.
    pub fn heal_partition(&mut self) {
        self.grudge.clear();
    }

    /// Adds `ms` to every message on the links to and from `nodes` (every server link when
    /// `None`).
    pub fn set_delay(&mut self, ms: u64, nodes: Option<&[String]>) {
        self.delay = Some((ms, nodes.map(|n| n.iter().cloned().collect())));
    }

    /// Removes the extra delay.
    pub fn heal_delay(&mut self) {
        self.delay = None;
    }

    /// Loses `probability` of the messages on the links to and from `nodes` (every server
    /// link when `None`), on top of `--net-loss`.
    pub fn set_loss(&mut self, probability: f64, nodes: Option<&[String]>) {
        self.loss = Some((probability, nodes.map(|n| n.iter().cloned().collect())));
    }

    /// Removes the loss fault.
    pub fn heal_loss(&mut self) {
        self.loss = None;
    }

    /// Decides the fate of one message from `src` to `dest` (see the module doc).
    pub fn route(&mut self, src: &str, dest: &str) -> Fate {
        let between_servers = self.is_server(src) && self.is_server(dest);
        let mut copies = 1;
        if between_servers {
            if self.grudge.get(dest).is_some_and(|cut| cut.contains(src)) {
                return Fate::Dropped(DropCause::Partition);
            }
            if self.draw(self.config.loss) {
                return Fate::Dropped(DropCause::Loss);
            }
            if let Some((p, scope)) = &self.loss {
                let (p, hit) = (*p, in_scope(scope, src, dest));
                if hit && self.draw(p) {
                    return Fate::Dropped(DropCause::Loss);
                }
            }
            if self.draw(self.config.duplicate) {
                copies = 2;
            }
        }
        let extra = match &self.delay {
            Some((ms, scope)) if between_servers && in_scope(scope, src, dest) => *ms,
            _ => 0,
        };
        Fate::Deliver(
            (0..copies)
                .map(|_| self.latency() + Duration::from_millis(extra))
                .collect(),
        )
    }

    /// A Bernoulli draw; no draw at all for 0 (so a network without that setting keeps the
    /// same stream whatever else changes).
    fn draw(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random_bool(p.min(1.0))
    }

    /// One message's latency: the distribution around the mean, plus the reordering hold.
    fn latency(&mut self) -> Duration {
        let mean = self.config.latency_ms as f64;
        let mut ms = match self.config.dist {
            _ if mean == 0.0 => 0.0,
            LatencyDist::Constant => mean,
            LatencyDist::Uniform => self.rng.random_range(0.0..=2.0 * mean),
            LatencyDist::Exponential => {
                let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
                -mean * u.ln()
            }
        };
        if self.draw(self.config.reorder) {
            let hold = (5.0 * mean).max(5.0);
            ms += self.rng.random_range(0.0..=hold);
        }
        Duration::from_secs_f64(ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers() -> Vec<String> {
        ["n0", "n1", "n2"].map(String::from).to_vec()
    }

    fn fates(config: SimConfig, seed: u64) -> Vec<Fate> {
        let mut r = Routing::new(config, &servers(), seed);
        (0..200)
            .map(|i| r.route(&format!("n{}", i % 3), &format!("n{}", (i + 1) % 3)))
            .collect()
    }

    fn lossy() -> SimConfig {
        SimConfig {
            latency_ms: 10,
            dist: LatencyDist::Exponential,
            loss: 0.2,
            duplicate: 0.1,
            reorder: 0.1,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_fates_and_another_seed_others() {
        assert_eq!(fates(lossy(), 7), fates(lossy(), 7));
        assert_ne!(fates(lossy(), 7), fates(lossy(), 8));
    }

    #[test]
    fn loss_and_duplication_happen_at_about_their_rates() {
        let all = fates(lossy(), 1);
        let lost = all
            .iter()
            .filter(|f| **f == Fate::Dropped(DropCause::Loss))
            .count();
        let twice = all
            .iter()
            .filter(|f| matches!(f, Fate::Deliver(d) if d.len() == 2))
            .count();
        assert!((20..=70).contains(&lost), "{lost} of 200 lost at 0.2");
        assert!(
            (3..=35).contains(&twice),
            "{twice} of 200 duplicated at ~0.08"
        );
    }

    #[test]
    fn constant_latency_without_reordering_keeps_order() {
        let config = SimConfig {
            latency_ms: 25,
            ..SimConfig::default()
        };
        for f in fates(config, 3) {
            assert_eq!(f, Fate::Deliver(vec![Duration::from_millis(25)]));
        }
    }

    #[test]
    fn latency_distributions_stay_near_their_mean() {
        for dist in [LatencyDist::Uniform, LatencyDist::Exponential] {
            let config = SimConfig {
                latency_ms: 10,
                dist,
                ..SimConfig::default()
            };
            let delays: Vec<f64> = fates(config, 5)
                .into_iter()
                .flat_map(|f| match f {
                    Fate::Deliver(d) => d,
                    Fate::Dropped(_) => Vec::new(),
                })
                .map(|d| d.as_secs_f64() * 1000.0)
                .collect();
            let mean = delays.iter().sum::<f64>() / delays.len() as f64;
            assert!((6.0..=14.0).contains(&mean), "{dist:?}: mean {mean}");
            assert!(delays.iter().any(|d| (d - 10.0).abs() > 0.5), "{dist:?}");
        }
    }

    #[test]
    fn a_partition_cuts_exactly_its_links_and_never_a_client() {
        let mut r = Routing::new(SimConfig::default(), &servers(), 1);
        let grudge: Grudge = [("n0".to_string(), ["n1".to_string()].into())].into();
        r.partition(&grudge);
        assert_eq!(r.route("n1", "n0"), Fate::Dropped(DropCause::Partition));
        assert!(matches!(r.route("n0", "n1"), Fate::Deliver(_)));
        assert!(matches!(r.route("n2", "n0"), Fate::Deliver(_)));
        assert!(matches!(r.route("c1", "n0"), Fate::Deliver(_)));
        assert!(matches!(r.route("n0", "c1"), Fate::Deliver(_)));
        r.heal_partition();
        assert!(matches!(r.route("n1", "n0"), Fate::Deliver(_)));
    }

    #[test]
    fn loss_and_delay_faults_hit_only_their_nodes_links() {
        let mut r = Routing::new(SimConfig::default(), &servers(), 1);
        r.set_loss(1.0, Some(&["n2".to_string()]));
        r.set_delay(40, Some(&["n2".to_string()]));
        assert_eq!(r.route("n0", "n2"), Fate::Dropped(DropCause::Loss));
        assert_eq!(r.route("n2", "n1"), Fate::Dropped(DropCause::Loss));
        assert_eq!(r.route("n0", "n1"), Fate::Deliver(vec![Duration::ZERO]));
        r.heal_loss();
        assert_eq!(
            r.route("n0", "n2"),
            Fate::Deliver(vec![Duration::from_millis(40)])
        );
        r.heal_delay();
        assert_eq!(r.route("n0", "n2"), Fate::Deliver(vec![Duration::ZERO]));
    }

    #[test]
    fn probabilities_outside_0_1_are_refused_naming_the_flag() {
        let bad = SimConfig {
            duplicate: 1.5,
            ..SimConfig::default()
        };
        let e = bad.validate().unwrap_err();
        assert!(e.contains("--net-duplicate"), "{e}");
        assert!(lossy().validate().is_ok());
    }
}
