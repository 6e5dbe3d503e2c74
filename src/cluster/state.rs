//! The cluster state file (`<dir>/cluster.json`): which processes faultline started, so
//! `faultline cluster down` and `status` can find them from another faultline process — also
//! after the one that started them was killed with `kill -9`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ClusterError;

/// The environment variable naming a node's data directory when it is not on the node's
/// command line (`--target maelstrom`'s nodes); `down` recognises the process by it.
pub const DATA_DIR_ENV: &str = "FAULTLINE_DATA_DIR";

/// The file name inside a cluster directory.
pub const STATE_FILE: &str = crate::rundir::CLUSTER_STATE_FILE;

/// Everything needed to find, inspect and stop a local cluster's processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Version of this format.
    pub version: u32,
    /// The faultline process that started the cluster.
    pub faultline_pid: u32,
    /// The raftkv binary.
    pub binary: PathBuf,
    /// Whether peer links go through faultline's proxies (they die with that faultline
    /// process; a cluster left behind by a crash then has no working peer links).
    pub proxies: bool,
    /// The nodes, in id order.
    pub nodes: Vec<NodeRecord>,
    /// The private network of a namespace cluster (etcd), recorded before it is created so
    /// `cluster down` removes exactly it; absent for raftkv clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<crate::net::NetnsPlan>,
    /// An SSH cluster's hosts, options, chains and remote layout (`--cluster ssh`), recorded
    /// before anything is made on a host so `cluster down` can reconnect and clean up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<super::remote::RemoteRecord>,
    /// The data dirs with a power-loss filesystem mounted over them ([`crate::powerfs`]),
    /// recorded so `cluster down` can unmount them after a faultline process killed with
    /// `kill -9` (whose `fusermount3` normally does it already).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub powerfs: Vec<PathBuf>,
}

/// One node's process and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// `n1`, `n2`, ...
    pub name: String,
    /// raftkv `--id`.
    pub id: u64,
    /// The current process, `None` while killed.
    pub pid: Option<u32>,
    /// Client HTTP address.
    pub http: String,
    /// Peer listener address.
    pub peer: String,
    /// raftkv `--data-dir`; also how `down` recognises the process (it is on its command line).
    pub data_dir: PathBuf,
    /// The node's log file.
    pub log: PathBuf,
}

impl ClusterState {
    /// The state file's path in `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Reads `dir`'s state file; `Ok(None)` when there is none (nothing running).
    pub fn read(dir: &Path) -> Result<Option<ClusterState>, ClusterError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ClusterError::io(&path)(e)),
        };
        Self::parse(&text)
            .map(Some)
            .map_err(|message| ClusterError::BadState { path, message })
    }

    /// Parses a state file's text.
    pub fn parse(text: &str) -> Result<ClusterState, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Writes the state file atomically (temp file + rename), so a crash never leaves half a
    /// file for `down` to choke on.
    pub fn write(&self, dir: &Path) -> Result<(), ClusterError> {
        let path = Self::path(dir);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        // Serialising plain strings and numbers cannot fail.
        let text = serde_json::to_string_pretty(self).expect("state serialises");
        std::fs::write(&tmp, text + "\n").map_err(ClusterError::io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(ClusterError::io(&path))
    }

    /// Removes the state file (the cluster is stopped); missing is fine.
    pub fn remove(dir: &Path) -> Result<(), ClusterError> {
        let path = Self::path(dir);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ClusterError::io(path)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ClusterState::read(dir.path()).unwrap(), None);
        let state = ClusterState {
            version: 1,
            faultline_pid: 42,
            binary: "/bin/raftkv".into(),
            proxies: true,
            nodes: vec![NodeRecord {
                name: "n1".into(),
                id: 1,
                pid: Some(77),
                http: "127.0.0.1:7001".into(),
                peer: "127.0.0.1:7101".into(),
                data_dir: "/tmp/x/nodes/n1/data".into(),
                log: "/tmp/x/nodes/n1/raftkv.log".into(),
            }],
            netns: None,
            ssh: None,
            powerfs: Vec::new(),
        };
        state.write(dir.path()).unwrap();
        assert_eq!(ClusterState::read(dir.path()).unwrap(), Some(state));
        ClusterState::remove(dir.path()).unwrap();
        ClusterState::remove(dir.path()).unwrap();
        assert_eq!(ClusterState::read(dir.path()).unwrap(), None);
    }

    #[test]
    fn a_garbled_state_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(ClusterState::path(dir.path()), "{nope").unwrap();
        let e = ClusterState::read(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("cluster.json") && e.contains("not a faultline cluster state"),
            "{e}"
        );
    }
}
