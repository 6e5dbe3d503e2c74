//! Helpers shared by the end-to-end tests that run the faultline binary against local raftkv
//! clusters.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The built faultline binary, with the progress line off.
pub fn faultline() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
    cmd.env("FAULTLINE_NO_PROGRESS", "1");
    cmd
}

/// Live raftkv processes whose command line mentions `dir` (zombies have an empty cmdline).
pub fn nodes_under(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains("raftkv") && cmdline.contains(&needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

/// Waits (up to 15 s) until no raftkv process under `dir` runs, else fails naming them.
pub fn assert_no_nodes_left(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = nodes_under(dir);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "processes left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
