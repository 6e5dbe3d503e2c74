//! A node's faked clock through libfaketime (Debian `faketime`): the preload library, the
//! per-node control file faultline rewrites during a run (`FAKETIME_TIMESTAMP_FILE`, read on
//! every clock call with `FAKETIME_NO_CACHE=1`), its one line, the environment a node is
//! started with, and which programs libfaketime cannot skew. A leaf, used by the cluster (which
//! starts nodes under libfaketime) and the nemesis (which rewrites the files), so neither
//! imports the other. Pure except [`write_state`] and [`check_skewable`].
//!
//! What libfaketime does to a program, checked by hand on this machine (Debian's libfaketime
//! 0.9.10, Rust binaries):
//!
//! - With the control file `+10.000 x1.000000`, `SystemTime::now()` (`CLOCK_REALTIME`) jumps
//!   10 s ahead at the next call after the file changes.
//! - By default it also fakes `CLOCK_MONOTONIC` (`Instant`), but **not as an offset of the
//!   real monotonic clock**: with any control file, even `+0`, `Instant` reads the faked
//!   wall-clock time (seconds since 1970, not since boot). Every absolute deadline a program
//!   hands the kernel on the monotonic clock is then decades away: Rust's
//!   `mpsc::Receiver::recv_timeout` and `Condvar::wait_timeout` (futex waits) never time out,
//!   and raftkv's Raft loop never ticks. So faultline starts nodes with
//!   `FAKETIME_DONT_FAKE_MONOTONIC=1`: only the wall clock (`CLOCK_REALTIME`, `time()`,
//!   `gettimeofday()`) is skewed; `Instant`, tokio timers and election timeouts run on real
//!   monotonic time. A clock fault therefore bites what a node measures with the wall clock
//!   (raftkv's lease reads, `--read-mode lease`; timestamps; TTLs), as a real wall-clock step
//!   or slew would, and never stalls a program's timers.
//! - A rate `xR` scales the wall-clock time elapsed **since the process started**
//!   (libfaketime's own start time), so writing a new rate alone would also jump the clock by
//!   `(R - R_old) × uptime`; the nemesis compensates with the offset
//!   ([`crate::nemesis::clock::rate_offset`]) so a rate change bends the clock from now on.
//! - Statically linked programs never load the library, and Go reads the clock through the
//!   vDSO without libc: neither can be skewed ([`unskewable`]).

use std::path::{Path, PathBuf};

/// The control file's name, in the node's directory (`<run>/nodes/<name>/faketime.rc`).
pub const CONTROL_FILE: &str = "faketime.rc";

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

/// Node `node_dir`'s control file (`<run>/nodes/<name>/faketime.rc`).
pub fn control_file(node_dir: &Path) -> PathBuf {
    node_dir.join(CONTROL_FILE)
}

/// The environment a node runs with so `control` sets its wall clock: libfaketime preloaded
/// (before any `LD_PRELOAD` the environment already has), the control file, no caching
/// (every clock call reads the file, so a rewrite takes effect at once), and the monotonic
/// clock left alone (see the module docs for why).
pub fn env(control: &Path) -> Vec<(String, String)> {
    env_with(control, std::env::var("LD_PRELOAD").ok().as_deref())
}

/// [`env`] with `old_preload` as the `LD_PRELOAD` the node would otherwise have (pure): for a
/// node on an SSH host, whose environment is the db spec's, not this machine's.
pub fn env_with(control: &Path, old_preload: Option<&str>) -> Vec<(String, String)> {
    let preload = match old_preload {
        Some(old) if !old.trim().is_empty() => format!("{LIBFAKETIME}:{old}"),
        _ => LIBFAKETIME.to_string(),
    };
    vec![
        ("LD_PRELOAD".into(), preload),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            control.display().to_string(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// Writes `state`'s line to `control` atomically (a temporary file beside it, then a rename),
/// so a node reading the file on every clock call never sees half a line.
pub fn write_state(control: &Path, state: ClockState) -> std::io::Result<()> {
    let mut tmp = control.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, faketime_line(state))?;
    std::fs::rename(&tmp, control)
}

/// Whether faultline can skew `program`'s clock: libfaketime is installed and the program
/// loads it. The error names the program (or the library) and why not.
pub fn check_skewable(program: &Path) -> Result<(), String> {
    if !Path::new(LIBFAKETIME).is_file() {
        return Err(format!(
            "clock faults need libfaketime, and {LIBFAKETIME} does not exist (install it: apt-get install faketime)"
        ));
    }
    let bytes = std::fs::read(program)
        .map_err(|e| format!("cannot read {} to check it: {e}", program.display()))?;
    match unskewable(&bytes) {
        None => Ok(()),
        Some(why) => Err(format!(
            "clock faults cannot skew {}: {why}",
            program.display()
        )),
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
    fn state_files_are_replaced_whole_and_the_env_points_at_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let control = control_file(dir.path());
        write_state(&control, ClockState::default()).expect("write");
        let state = ClockState {
            offset_ms: -2000,
            rate: 0.5,
        };
        write_state(&control, state).expect("rewrite");
        assert_eq!(
            std::fs::read_to_string(&control).expect("read"),
            "-2.000 x0.500000\n"
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        let env = env(&control);
        assert!(env[0].1.starts_with(LIBFAKETIME), "{env:?}");
        assert_eq!(env[1].1, control.display().to_string());
        assert_eq!(env[2], ("FAKETIME_NO_CACHE".to_string(), "1".to_string()));
        assert_eq!(env[3].0, "FAKETIME_DONT_FAKE_MONOTONIC");
        let remote = env_with(Path::new("/tmp/r/faketime.rc"), Some("/x.so"));
        assert_eq!(remote[0].1, format!("{LIBFAKETIME}:/x.so"));
        assert_eq!(remote[1].1, "/tmp/r/faketime.rc");
        assert_eq!(env_with(&control, Some(" "))[0].1, LIBFAKETIME);
        let e = check_skewable(&dir.path().join("missing")).unwrap_err();
        assert!(e.contains("missing") || e.contains("libfaketime"), "{e}");
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
