//! Clock faults as data (issue 17): what a `clock-bump`, `clock-strobe` or `clock-rate` does
//! to a node's faked clock, the strobe's offset at a moment, and the offset that keeps a rate
//! change from jumping the clock. Pure; the files are [`crate::fakeclock`]'s, rewritten by
//! [`super::backend::clock::ClockFaults`].

pub use crate::fakeclock::ClockState;

/// One clock fault on a node, as the schedule and the op carry it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClockFault {
    /// Jump the clock by `ms` (negative: back), once; the jumps add up until a reset.
    Bump {
        /// Milliseconds, signed.
        ms: i64,
    },
    /// Flip the clock between `ms` off and back every half `period_ms`, for `duration_ms`.
    Strobe {
        /// The offset of the flipped half, signed milliseconds.
        ms: i64,
        /// Milliseconds of one back-and-forth.
        period_ms: u64,
        /// How long the strobe runs (it stops earlier on `clock-reset`).
        duration_ms: u64,
    },
    /// Run the clock at `factor` times real speed from now on.
    Rate {
        /// > 0; below 1 the clock runs slow.
        factor: f64,
    },
}

/// A strobe's offset `elapsed_ms` after it began: `delta_ms` during the first half of every
/// `period_ms`, 0 during the second (the clock flips back and forth).
pub fn strobe_offset(delta_ms: i64, period_ms: u64, elapsed_ms: u64) -> i64 {
    let period = period_ms.max(2);
    if elapsed_ms % period < period / 2 {
        delta_ms
    } else {
        0
    }
}

/// The state that runs `old`'s clock at `factor` from now on without a jump, for a process
/// `uptime_ms` old: libfaketime scales the time since the process started, so the offset
/// takes up the difference, `offset + uptime × (old rate − factor)`.
pub fn rate_offset(old: ClockState, factor: f64, uptime_ms: u64) -> ClockState {
    let shift = (uptime_ms as f64 * (old.rate - factor)).round();
    ClockState {
        offset_ms: old.offset_ms.saturating_add(shift as i64),
        rate: factor,
    }
}

/// The state after a bump of `ms`.
pub fn bumped(old: ClockState, ms: i64) -> ClockState {
    ClockState {
        offset_ms: old.offset_ms.saturating_add(ms),
        ..old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strobe_flips_every_half_period() {
        let at: Vec<i64> = [0, 99, 100, 199, 200, 250]
            .map(|t| strobe_offset(-300, 200, t))
            .to_vec();
        assert_eq!(at, [-300, -300, 0, 0, -300, -300]);
    }

    #[test]
    fn a_rate_change_keeps_the_faked_time_of_now() {
        // Faked time since start = offset + uptime × rate; it must not move at the change.
        let faked = |s: ClockState, up: u64| s.offset_ms as f64 + up as f64 * s.rate;
        let cases = [
            (ClockState::default(), 0.5, 10_000),
            (
                ClockState {
                    offset_ms: -300,
                    rate: 2.0,
                },
                0.25,
                4_000,
            ),
            (ClockState::default(), 3.0, 0),
        ];
        for (old, factor, up) in cases {
            let new = rate_offset(old, factor, up);
            assert_eq!(new.rate, factor);
            assert!(
                (faked(old, up) - faked(new, up)).abs() < 1.0,
                "{old:?} -> {new:?}"
            );
        }
        assert_eq!(bumped(ClockState::default(), -250).offset_ms, -250);
        assert_eq!(
            bumped(bumped(ClockState::default(), 100), 100).offset_ms,
            200
        );
    }
}
