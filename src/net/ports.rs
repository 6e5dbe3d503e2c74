//! Loopback ports for nodes that bind, die and bind the same port again.
//!
//! A port from `bind(127.0.0.1:0)` comes from the kernel's ephemeral range, the same range
//! outgoing connections take their source ports from. A node killed by the nemesis leaves its
//! port unbound until it restarts; meanwhile any connect() on this machine (a client, a proxy)
//! may be given that port as its source, and the restart fails with "address already in
//! use". Ports below the ephemeral range are never handed out implicitly, so a node's port
//! stays its own for the whole run once it was found free.

use std::io;
use std::net::TcpListener;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where the kernel says its ephemeral range is; `None` when it cannot be read.
const EPHEMERAL_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The lowest port handed out: below it sit well-known and commonly configured services.
const LOWEST: u16 = 10_000;

/// `n` distinct ports on 127.0.0.1 that were free a moment ago, below the ephemeral range when
/// there is room there (else from the ephemeral range, as `bind(0)` gives them). Within one
/// process the ports are handed out from a shared cursor, so two clusters started side by side
/// (parallel tests) are never given the same port while the range lasts; the cursor starts at
/// a place that differs per process, so parallel runs rarely probe the same ports.
pub fn free_loopback_ports(n: usize) -> io::Result<Vec<u16>> {
    let ephemeral_low = std::fs::read_to_string(EPHEMERAL_RANGE_FILE)
        .ok()
        .and_then(|s| parse_range_low(&s))
        .unwrap_or(32_768);
    match candidate_window(ephemeral_low, n) {
        Some(window) => pick_in(window, n, cursor()),
        None => ephemeral_ports(n),
    }
}

/// The low end of "LOW\tHIGH" as the kernel writes the range file.
fn parse_range_low(text: &str) -> Option<u16> {
    text.split_whitespace().next()?.parse().ok()
}

/// The ports between [`LOWEST`] and the ephemeral range, when they leave ample room for `n`.
fn candidate_window(ephemeral_low: u16, n: usize) -> Option<Range<u16>> {
    let room = usize::from(ephemeral_low.saturating_sub(LOWEST));
    (room >= n.saturating_mul(8).max(1_000)).then_some(LOWEST..ephemeral_low)
}

/// The process-wide probe cursor, started at an offset that differs per process.
fn cursor() -> &'static AtomicUsize {
    static CURSOR: OnceLock<AtomicUsize> = OnceLock::new();
    CURSOR.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as usize)
            .unwrap_or(0);
        AtomicUsize::new((std::process::id() as usize).wrapping_mul(7919) ^ nanos)
    })
}

/// `n` ports of `window` that bind now, probing where `cursor` points and moving it on
/// (wrapping). Every listener is held until all are found, so the ports differ.
fn pick_in(window: Range<u16>, n: usize, cursor: &AtomicUsize) -> io::Result<Vec<u16>> {
    let len = usize::from(window.end - window.start);
    let mut held = Vec::with_capacity(n);
    for _ in 0..len {
        if held.len() == n {
            break;
        }
        let k = cursor.fetch_add(1, Ordering::Relaxed);
        let port = window.start + (k % len) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    if held.len() < n {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "only {} of {n} ports free in 127.0.0.1:{}..{}",
                held.len(),
                window.start,
                window.end
            ),
        ));
    }
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// `n` distinct ports from `bind(0)`, for a machine whose ephemeral range starts too low.
fn ephemeral_ports(n: usize) -> io::Result<Vec<u16>> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind(("127.0.0.1", 0)))
        .collect::<io::Result<_>>()?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_file_is_read_by_its_low_end() {
        assert_eq!(parse_range_low("32768\t60999\n"), Some(32768));
        assert_eq!(parse_range_low(""), None);
    }

    #[test]
    fn the_window_lies_below_the_ephemeral_range_when_there_is_room() {
        assert_eq!(candidate_window(32768, 6), Some(10_000..32768));
        assert_eq!(candidate_window(10_500, 6), None);
        assert_eq!(candidate_window(1024, 6), None);
    }

    #[test]
    fn ports_are_distinct_free_and_outside_the_ephemeral_range() {
        let ports = free_loopback_ports(20).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
        for p in ports {
            assert!(p >= LOWEST);
            TcpListener::bind(("127.0.0.1", p)).expect("still free");
        }
    }

    #[test]
    fn a_taken_port_is_skipped() {
        let taken = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let got = pick_in(port..port.saturating_add(1), 1, &AtomicUsize::new(0));
        assert!(got.is_err(), "{got:?}");
    }

    #[test]
    fn calls_in_one_process_do_not_repeat_ports() {
        let a = free_loopback_ports(6).unwrap();
        let b = free_loopback_ports(6).unwrap();
        assert!(a.iter().all(|p| !b.contains(p)), "{a:?} {b:?}");
    }
}
