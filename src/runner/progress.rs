//! The progress line shown while a test runs: elapsed time, ops/s, ok/fail/info counts and
//! the current fault. Rewritten in place on a terminal; a plain line every few seconds
//! otherwise (CI logs).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::recorder::OpCounts;

/// Prints progress at most every `every`.
pub struct Progress {
    tty: bool,
    every: Duration,
    last: Option<Instant>,
    last_invoked: u64,
    enabled: bool,
}

impl Progress {
    /// A progress printer on stderr.
    pub fn new() -> Progress {
        let tty = std::io::stderr().is_terminal();
        Progress {
            tty,
            every: if tty {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(5)
            },
            last: None,
            last_invoked: 0,
            enabled: std::env::var_os("FAULTLINE_NO_PROGRESS").is_none(),
        }
    }

    /// Shows the state at `elapsed_ns` if it is time to.
    pub fn tick(&mut self, counts: OpCounts, elapsed_ns: u64, fault: &str) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let since = match self.last {
            Some(last) if now.duration_since(last) < self.every => return,
            Some(last) => now.duration_since(last),
            None => Duration::from_nanos(elapsed_ns.max(1)),
        };
        self.last = Some(now);
        let rate = (counts.invoked - self.last_invoked) as f64 / since.as_secs_f64().max(1e-9);
        self.last_invoked = counts.invoked;
        let line = format_line(counts, elapsed_ns, rate, fault);
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    /// Ends the progress line (on a terminal) so later output starts on a fresh line.
    pub fn finish(&mut self) {
        if self.enabled && self.tty && self.last.is_some() {
            eprintln!();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// One progress line.
pub fn format_line(counts: OpCounts, elapsed_ns: u64, rate: f64, fault: &str) -> String {
    format!(
        "[{:>6.1} s] {:>7.0} ops/s  ok {}  fail {}  info {}  last nemesis op: {}",
        elapsed_ns as f64 / 1e9,
        rate,
        counts.ok,
        counts.fail,
        counts.info,
        if fault.is_empty() { "none" } else { fault }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_time_rate_counts_and_fault() {
        let counts = OpCounts {
            invoked: 10,
            ok: 7,
            fail: 1,
            info: 1,
            nemesis: 2,
        };
        let line = format_line(counts, 2_500_000_000, 42.0, "start-partition");
        assert_eq!(
            line,
            "[   2.5 s]      42 ops/s  ok 7  fail 1  info 1  last nemesis op: start-partition"
        );
        assert!(format_line(counts, 0, 0.0, "").ends_with("last nemesis op: none"));
    }
}
