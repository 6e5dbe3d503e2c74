//! Construction-time settings of a node, including the switchable bugs.

use std::fmt;
use std::str::FromStr;

use super::error::RaftError;
use super::types::NodeId;

/// Settings for one node. Ticks are the host's logical clock: the core never reads time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id; must be one of `voters`.
    pub id: NodeId,
    /// Every member of the cluster, this node included. Membership is fixed.
    pub voters: Vec<NodeId>,
    /// Base election timeout in ticks; each timeout is drawn uniformly from
    /// `[election_ticks, 2 * election_ticks)` with the node's seeded RNG (§5.2). A leader also
    /// steps down if it has not heard from a quorum within `election_ticks` (check-quorum).
    pub election_ticks: u64,
    /// Ticks between leader heartbeats; must be smaller than `election_ticks`.
    pub heartbeat_ticks: u64,
    /// Most entries carried by one Append message, so messages stay bounded.
    pub max_entries_per_append: usize,
    /// Most Append messages sent to one follower at once (new entries are pipelined in up to
    /// this many bounded messages; the rest follow acknowledgements or the next Ready).
    pub max_append_burst: usize,
    /// Deliberate bugs, all off by default.
    pub bugs: Bugs,
    /// How the leader confirms a read: ReadIndex (default) or a clock lease.
    pub read_mode: ReadMode,
}

/// How a leader makes sure it still leads before it answers a read (thesis §6.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadMode {
    /// A quorum heartbeat round per batch of reads: no clock involved.
    #[default]
    ReadIndex,
    /// Serve locally while a lease lasts: `lease_us` microseconds of the host clock
    /// ([`crate::raft::RaftNode::set_clock`]) from the send time of the latest heartbeat round
    /// a quorum acknowledged. Safe only while `lease_us` stays below the time a follower that
    /// acknowledged waits before voting for another node (its election timeout, minus one
    /// tick of rounding, less the clocks' drift): the host picks it so.
    Lease {
        /// The lease, in microseconds of the leader's clock.
        lease_us: u64,
    },
}

impl Config {
    /// A config with the usual timings (election 10 ticks, heartbeat 2, 64 entries per
    /// append, bursts of 8 appends) and no bugs.
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> Self {
        Config {
            id,
            voters,
            election_ticks: 10,
            heartbeat_ticks: 2,
            max_entries_per_append: 64,
            max_append_burst: 8,
            bugs: Bugs::default(),
            read_mode: ReadMode::ReadIndex,
        }
    }

    /// Checks the settings, quoting the offending values.
    pub fn validate(&self) -> Result<(), RaftError> {
        let bad = |reason: String| Err(RaftError::InvalidConfig { reason });
        if !self.voters.contains(&self.id) {
            return bad(format!(
                "id {} is not among voters {:?}",
                self.id, self.voters
            ));
        }
        let mut sorted = self.voters.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.voters.len() {
            return bad(format!("voters {:?} contain duplicates", self.voters));
        }
        if self.heartbeat_ticks == 0 || self.heartbeat_ticks >= self.election_ticks {
            return bad(format!(
                "need 0 < heartbeat_ticks < election_ticks, got heartbeat_ticks {} and election_ticks {}",
                self.heartbeat_ticks, self.election_ticks
            ));
        }
        if self.max_entries_per_append == 0 {
            return bad("max_entries_per_append must be at least 1, got 0".to_string());
        }
        if self.max_append_burst == 0 {
            return bad("max_append_burst must be at least 1, got 0".to_string());
        }
        if self.read_mode == (ReadMode::Lease { lease_us: 0 }) {
            return bad("a read lease must last longer than 0 µs".to_string());
        }
        Ok(())
    }
}

/// Which deliberate bugs are switched on. Each reproduces a classic Raft mistake, so the
/// checkers can be shown to catch it. All off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bugs {
    /// A node that believes it is leader answers `read_index` at once from its local commit
    /// index, without confirming leadership with a quorum, and never steps down for want of
    /// a quorum (no check-quorum): a deposed leader cut off by a partition serves stale reads
    /// until it hears of a higher term.
    pub stale_read: bool,
    /// A leader hands its entries to the host for applying (and so acknowledging) as soon as
    /// they are in its own log, before they are committed: acknowledged writes can be lost.
    pub early_ack: bool,
    /// Term and vote are never reported for persistence (the Ready's hard state carries term 0
    /// and no vote), so a restarted node forgets its vote and can vote twice in one term.
    pub volatile_vote: bool,
    /// The leader commits entries of earlier terms by counting replicas — the Figure 8
    /// mistake (§5.4.2): a "committed" entry can later be overwritten.
    pub commit_old_term: bool,
    /// Storage trusts what it reads back: recovery ignores the checksums of `wal.log` and
    /// `snapshot.bin` (and the log's synced-length header), so a corrupted file is replayed as
    /// if it were good. A storage bug, not a core one: the host hands it to
    /// [`crate::storage::Storage::open`]; the core ignores it.
    pub no_checksum: bool,
    /// The write-ahead log acknowledges appends after `write()` without ever calling
    /// `fdatasync`: the bytes sit in the page cache, so a kill -9 loses nothing, but a power
    /// loss loses every entry (and vote) appended since the log was last rewritten. A
    /// storage bug like `no_checksum`: the host hands it to
    /// [`crate::storage::Storage::lie_about_fsync`]; the core ignores it.
    pub fsync_lie: bool,
}

impl Bugs {
    /// Switches `bug` on.
    pub fn enable(&mut self, bug: Bug) {
        match bug {
            Bug::StaleRead => self.stale_read = true,
            Bug::EarlyAck => self.early_ack = true,
            Bug::VolatileVote => self.volatile_vote = true,
            Bug::CommitOldTerm => self.commit_old_term = true,
            Bug::NoChecksum => self.no_checksum = true,
            Bug::FsyncLie => self.fsync_lie = true,
        }
    }

    /// Bugs with exactly `bug` switched on.
    pub fn only(bug: Bug) -> Self {
        let mut bugs = Bugs::default();
        bugs.enable(bug);
        bugs
    }

    /// Parses a list of bug names (see [`Bug::NAMES`]), e.g. from repeated `--bug NAME` flags.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, RaftError> {
        let mut bugs = Bugs::default();
        for name in names {
            bugs.enable(name.as_ref().parse()?);
        }
        Ok(bugs)
    }

    /// The bugs switched on, in [`Bug::ALL`] order.
    pub fn enabled(&self) -> Vec<Bug> {
        Bug::ALL
            .iter()
            .copied()
            .filter(|bug| match bug {
                Bug::StaleRead => self.stale_read,
                Bug::EarlyAck => self.early_ack,
                Bug::VolatileVote => self.volatile_vote,
                Bug::CommitOldTerm => self.commit_old_term,
                Bug::NoChecksum => self.no_checksum,
                Bug::FsyncLie => self.fsync_lie,
            })
            .collect()
    }
}

/// One switchable bug, named as the binary's `--bug NAME` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// `stale_read`: see [`Bugs::stale_read`].
    StaleRead,
    /// `early_ack`: see [`Bugs::early_ack`].
    EarlyAck,
    /// `volatile_vote`: see [`Bugs::volatile_vote`].
    VolatileVote,
    /// `commit_old_term`: see [`Bugs::commit_old_term`].
    CommitOldTerm,
    /// `no_checksum`: see [`Bugs::no_checksum`].
    NoChecksum,
    /// `fsync_lie`: see [`Bugs::fsync_lie`].
    FsyncLie,
}

impl Bug {
    /// Every bug, in a fixed order.
    pub const ALL: [Bug; 6] = [
        Bug::StaleRead,
        Bug::EarlyAck,
        Bug::VolatileVote,
        Bug::CommitOldTerm,
        Bug::NoChecksum,
        Bug::FsyncLie,
    ];
    /// The accepted names, in [`Bug::ALL`] order. Parsing also accepts `-` for `_`.
    pub const NAMES: [&'static str; 6] = [
        "stale_read",
        "early_ack",
        "volatile_vote",
        "commit_old_term",
        "no_checksum",
        "fsync_lie",
    ];

    /// The bug's canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Bug::StaleRead => Self::NAMES[0],
            Bug::EarlyAck => Self::NAMES[1],
            Bug::VolatileVote => Self::NAMES[2],
            Bug::CommitOldTerm => Self::NAMES[3],
            Bug::NoChecksum => Self::NAMES[4],
            Bug::FsyncLie => Self::NAMES[5],
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Bug {
    type Err = RaftError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normal = s.trim().replace('-', "_");
        Bug::ALL
            .iter()
            .copied()
            .find(|bug| bug.name() == normal)
            .ok_or_else(|| RaftError::UnknownBug {
                name: s.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bug_name_round_trips() {
        for (i, bug) in Bug::ALL.iter().enumerate() {
            assert_eq!(bug.name().parse::<Bug>().ok(), Some(*bug), "case {i}");
            assert_eq!(Bugs::only(*bug).enabled(), vec![*bug], "case {i}");
        }
        assert_eq!("stale-read".parse::<Bug>().ok(), Some(Bug::StaleRead));
        assert!("fast_reads".parse::<Bug>().is_err());
    }

    #[test]
    fn config_validation_quotes_values() {
        let mut config = Config::new(4, vec![1, 2, 3]);
        let err = config.validate().map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("id 4"), "{err}");
        config.id = 1;
        config.heartbeat_ticks = 10;
        let err = config.validate().map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("heartbeat_ticks 10"), "{err}");
        config.heartbeat_ticks = 2;
        assert!(config.validate().is_ok());
    }
}
