//! Helpers for the end-to-end tests that need root, etcd, ip and iptables: whether they can
//! run here (or must, under `FAULTLINE_REQUIRE_ETCD=1`), and what a run left behind in the
//! network (namespaces, links, iptables rules) and the process table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::processes_under;

/// Where `tool` is on `PATH`, if it is.
pub fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Why these tests cannot run here, if they cannot.
pub fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|u| u.parse::<u32>().ok());
    if euid != Some(0) {
        return Some("not running as root".into());
    }
    for tool in ["etcd", "ip", "iptables"] {
        if on_path(tool).is_none() {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// True when the test should run; otherwise prints why (or fails when CI requires it).
pub fn can_run(test: &str) -> bool {
    match missing_prerequisite() {
        None => true,
        Some(why) => {
            assert!(
                std::env::var_os("FAULTLINE_REQUIRE_ETCD").is_none(),
                "{test}: FAULTLINE_REQUIRE_ETCD is set but {why}"
            );
            eprintln!("skipping {test}: {why}");
            false
        }
    }
}

/// The private network prefix (`fl` + six hex digits) a run logged.
pub fn network_prefix(run: &Path) -> Option<String> {
    let log = std::fs::read_to_string(run.join(faultline::rundir::LOG_FILE)).ok()?;
    let at = log.find("private network ")? + "private network ".len();
    let prefix: String = log[at..].chars().take_while(|c| *c != ':').collect();
    (prefix.len() == 8 && prefix.starts_with("fl")).then_some(prefix)
}

pub fn stdout_of(cmd: &[&str]) -> String {
    Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Namespaces, links and root iptables rules named with `prefix`, and etcd processes whose
/// command line mentions `dir`.
pub fn leftovers(prefix: &str, dir: &Path) -> Vec<String> {
    let needle = format!("{prefix}-");
    let mut left: Vec<String> = [
        stdout_of(&["ip", "netns", "list"]),
        stdout_of(&["ip", "-o", "link", "show"]),
        stdout_of(&["iptables", "-w", "-S"]),
    ]
    .iter()
    .flat_map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>())
    .filter(|l| l.contains(&needle))
    .collect();
    left.extend(processes_under("etcd", dir));
    left
}

/// Waits (up to 20 s) until nothing of the run is left, else fails naming what is.
pub fn assert_nothing_left(prefix: &str, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = leftovers(prefix, dir);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "left behind: {left:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
