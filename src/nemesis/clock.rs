//! Groundwork for clock faults through libfaketime (issue 17, item 3; not yet a fault family
//! of the schedule): what faultline writes to a node's libfaketime control file
//! (`FAKETIME_TIMESTAMP_FILE`, read on every call with `FAKETIME_NO_CACHE=1`), the strobe's
//! offset at a moment, and which node binaries libfaketime cannot skew. Pure; the backend
//! that rewrites the files and the launchers that set `LD_PRELOAD` are still to come
//! (docs/faults.md, "Clocks").

/// The libfaketime library Debian's `libfaketime` package installs (`apt-get install
/// faketime`).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// One node's faked clock: an offset from the real time and a rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockState {
    /// Milliseconds ahead of (positive) or behind (negative) the real clock.
    pub offset_ms: i64,
    /// How fast the faked clock runs (1.0 = real time).
    pub rate: f64,
}

impl Default for ClockState {
    fn default() -> ClockState {
        ClockState {
            offset_ms: 0,
            rate: 1.0,
        }
    }
}

/// The control file's one line for `state`: a signed offset in seconds with millisecond
/// precision and the rate (`+0.250 x1.000000`). libfaketime wants an explicit offset before
/// a rate, and reads the fraction with the C locale's `.` (a Rust or C program that never
/// calls `setlocale(LC_NUMERIC)` has it). The healed state is `+0.000 x1.000000`.
pub fn faketime_line(state: ClockState) -> String {
    let sign = if state.offset_ms < 0 { '-' } else { '+' };
    let ms = state.offset_ms.unsigned_abs();
    format!("{sign}{}.{:03} x{:.6}\n", ms / 1000, ms % 1000, state.rate)
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

/// Why libfaketime cannot skew a program's clock, or `None` when it can (a dynamically
/// linked ELF that is not Go, or a script whose interpreter is one). Go binaries read the
/// clock through the vDSO without libc; statically linked ones never load a preload library.
pub fn unskewable(bytes: &[u8]) -> Option<String> {
    if bytes.starts_with(b"#!") {
        return None;
    }
    if !bytes.starts_with(b"\x7fELF") {
        return Some("not an ELF binary or a #! script".into());
    }
    if contains(bytes, b"\xff Go buildinf:") {
        return Some(
            "a Go binary: Go reads the clock through the vDSO, not libc, so libfaketime cannot skew it"
                .into(),
        );
    }
    match has_interpreter(bytes) {
        Some(true) => None,
        Some(false) => Some(
            "statically linked (no ELF interpreter): it never loads libfaketime through LD_PRELOAD"
                .into(),
        ),
        None => Some("an ELF file whose program headers do not parse".into()),
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether a 64- or 32-bit little-endian ELF has a `PT_INTERP` program header (`None` when
/// the headers do not parse).
fn has_interpreter(b: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    let class64 = *b.get(4)? == 2;
    if *b.get(5)? != 1 {
        return None; // big-endian: not on this machine
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?));
    let (phoff, phentsize, phnum) = if class64 {
        (
            u64_at(0x20)? as usize,
            u16_at(0x36)? as usize,
            u16_at(0x38)? as usize,
        )
    } else {
        (
            u32_at(0x1c)? as usize,
            u16_at(0x2a)? as usize,
            u16_at(0x2c)? as usize,
        )
    };
    for i in 0..phnum {
        if u32_at(phoff.checked_add(i.checked_mul(phentsize)?)?)? == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines_carry_offset_and_rate() {
        let cases = [
            (ClockState::default(), "+0.000 x1.000000\n"),
            (
                ClockState {
                    offset_ms: 1500,
                    rate: 1.0,
                },
                "+1.500 x1.000000\n",
            ),
            (
                ClockState {
                    offset_ms: -250,
                    rate: 2.5,
                },
                "-0.250 x2.500000\n",
            ),
            (
                ClockState {
                    offset_ms: -61_007,
                    rate: 0.5,
                },
                "-61.007 x0.500000\n",
            ),
        ];
        for (state, want) in cases {
            assert_eq!(faketime_line(state), want, "{state:?}");
        }
    }

    #[test]
    fn a_strobe_flips_every_half_period() {
        let at: Vec<i64> = [0, 99, 100, 199, 200, 250]
            .map(|t| strobe_offset(-300, 200, t))
            .to_vec();
        assert_eq!(at, [-300, -300, 0, 0, -300, -300]);
    }

    #[test]
    fn dynamic_static_go_and_scripts_are_told_apart() {
        // This machine's own binaries: sh is dynamically linked.
        let sh = std::fs::read("/bin/sh").expect("/bin/sh");
        assert_eq!(unskewable(&sh), None);
        assert_eq!(unskewable(b"#!/bin/sh\necho hi\n"), None);
        assert!(unskewable(b"hello").unwrap().contains("not an ELF"));
        // A minimal 64-bit ELF with one PT_LOAD and no PT_INTERP: static.
        let mut elf = vec![0u8; 0x40 + 0x38];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2;
        elf[5] = 1;
        elf[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        elf[0x40..0x44].copy_from_slice(&1u32.to_le_bytes());
        assert!(unskewable(&elf).unwrap().contains("statically linked"));
        // The same with PT_INTERP: dynamic; with Go's build-info magic: Go.
        elf[0x40..0x44].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(unskewable(&elf), None);
        elf.extend_from_slice(b"\xff Go buildinf:");
        assert!(unskewable(&elf).unwrap().contains("Go binary"));
        // Truncated headers do not parse.
        assert!(unskewable(&elf[..0x30]).is_some());
        // etcd, when this machine has it, is Go.
        if let Ok(etcd) = std::fs::read("/usr/bin/etcd") {
            assert!(unskewable(&etcd).unwrap().contains("Go binary"));
        }
    }
}
