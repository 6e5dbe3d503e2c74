//! Client profiles: the op sets beyond read, write and cas that a workload's ops need, one per
//! family of workloads. A workload names the profile its ops go through
//! ([`crate::workload::WorkloadSpec::client_profile`]); every client that runs such workloads
//! maps each profile's ops to its target's API: the templated HTTP client through a spec's
//! `[profiles.NAME.OP]` sections (raftkv's built-in spec among them), etcd through its own
//! mappings ([`super::etcd::workloads`]).

use std::fmt;
use std::str::FromStr;

/// A family of ops beyond read, write and cas, named as in a client spec's
/// `[profiles.NAME.OP]` sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Profile {
    /// `add` of an element to one set, `read` of the whole set.
    Set,
    /// `add` of an amount to one counter, `read` of its sum.
    Counter,
    /// `transfer` between bank accounts, `read` of every balance at once.
    Bank,
    /// `generate` of an id.
    UniqueIds,
    /// `txn` of list-append or rw-register micro-ops.
    Txn,
    /// Maelstrom's kafka: `send`, `poll`, `commit_offsets`, `list_committed_offsets`
    /// (`--target maelstrom` only; not in [`Profile::ALL`], which a client spec may name).
    Kafka,
}

impl Profile {
    /// Every profile, in the order messages list them.
    pub const ALL: [Profile; 5] = [
        Profile::Set,
        Profile::Counter,
        Profile::Bank,
        Profile::UniqueIds,
        Profile::Txn,
    ];

    /// The name a client spec's `[profiles.NAME.OP]` sections use.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Set => "set",
            Profile::Counter => "counter",
            Profile::Bank => "bank",
            Profile::UniqueIds => "unique-ids",
            Profile::Txn => "txn",
            Profile::Kafka => "kafka",
        }
    }

    /// The profile named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Every profile name, comma-separated (for messages).
    pub fn names() -> String {
        Profile::ALL.map(Profile::name).join(", ")
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no [`Profile`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {name:?}; expected one of: {}", Profile::names())]
pub struct UnknownProfile {
    /// The name as given.
    pub name: String,
}

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Profile, UnknownProfile> {
        Profile::from_name(s).ok_or_else(|| UnknownProfile { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_profile() {
        for p in Profile::ALL {
            assert_eq!(p.name().parse::<Profile>(), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!(
            "queue".parse::<Profile>().map_err(|e| e.to_string()),
            Err(
                "unknown profile \"queue\"; expected one of: set, counter, bank, unique-ids, txn"
                    .to_owned()
            )
        );
        assert_eq!(Profile::from_name("Set"), None);
    }
}
