//! This process's memory and CPU use, from Linux's `/proc/self`: `faultline check --json`
//! reports its peak memory (memory is a result, as time is), and the benches print the same
//! figures. Every reader returns `None` where `/proc` is not there (not Linux).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Peak resident memory of this process so far (`VmHWM`), bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Resident memory of this process now (`VmRSS`), bytes.
pub fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// Resident memory of this process now, bytes, from `/proc/self/statm`: a few microseconds,
/// cheaper than [`rss_bytes`] (which formats the whole status file), for callers that sample
/// it while they work.
pub fn rss_bytes_now() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The size of a memory page, bytes.
fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the running system and has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// The memory this process may use at most: the machine's (`MemTotal`), or its cgroup's limit
/// when that is lower (a container's `memory.max`). `None` where neither can be read.
pub fn memory_available() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| status_field_bytes(&m, "MemTotal:"));
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .find_map(|text| cgroup_limit(&text));
    match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    }
}

/// A cgroup memory limit file's value in bytes; `None` for no limit (`max`, or cgroup v1's
/// huge "unlimited" number) or garbage.
fn cgroup_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 60).then_some(bytes)
}

/// A ceiling on this process's resident memory, cheap enough to ask about every few thousand
/// search steps: the memory is sampled (from `/proc/self/statm`) at most once per
/// [`MemoryCeiling::SAMPLE_EVERY`], whichever thread asks, and the last sample answers in
/// between. This is what turns a search that would exhaust the machine into `unknown`
/// (`--memory-limit`): it counts the whole process (the history, every key's search, the
/// explanation), not one structure.
#[derive(Debug)]
pub struct MemoryCeiling {
    limit: u64,
    born: Instant,
    next_sample_ns: AtomicU64,
    last_bytes: AtomicU64,
}

impl MemoryCeiling {
    /// How stale a sample may be.
    pub const SAMPLE_EVERY: Duration = Duration::from_millis(2);

    /// A ceiling of `limit` bytes of resident memory, sampled now.
    pub fn new(limit: u64) -> MemoryCeiling {
        MemoryCeiling {
            limit,
            born: Instant::now(),
            next_sample_ns: AtomicU64::new(Self::SAMPLE_EVERY.as_nanos() as u64),
            last_bytes: AtomicU64::new(rss_bytes_now().unwrap_or(0)),
        }
    }

    /// The ceiling, bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Resident bytes at the last sample, taking a new one if the last is stale.
    pub fn bytes(&self) -> u64 {
        let now = u64::try_from(self.born.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let next = self.next_sample_ns.load(Ordering::Relaxed);
        let due = now >= next;
        // One thread samples; the others keep the last figure.
        if due
            && self
                .next_sample_ns
                .compare_exchange(
                    next,
                    now.saturating_add(Self::SAMPLE_EVERY.as_nanos() as u64),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            if let Some(b) = rss_bytes_now() {
                self.last_bytes.store(b, Ordering::Relaxed);
            }
        }
        self.last_bytes.load(Ordering::Relaxed)
    }

    /// Whether the process is over the ceiling (as of the last sample).
    pub fn exceeded(&self) -> bool {
        self.bytes() > self.limit
    }
}

/// CPU seconds this process has used so far, all threads, user and system.
pub fn cpu_secs() -> Option<f64> {
    stat_secs("/proc/self/stat", 11, 12)
}

/// CPU seconds the calling thread has used so far, user and system.
pub fn thread_cpu_secs() -> Option<f64> {
    stat_secs("/proc/thread-self/stat", 11, 12)
}

/// CPU seconds used by this process's children that have been waited for.
pub fn children_cpu_secs() -> Option<f64> {
    stat_secs("/proc/self/stat", 13, 14)
}

/// The sum of two clock-tick fields of a `/proc/.../stat` file, in seconds.
fn stat_secs(path: &str, a: usize, b: usize) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    ticks_of_stat(&stat, a, b).map(|t| t / USER_HZ)
}

/// A `kB` line of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_field_bytes(&status, field)
}

/// `field`'s value in a `/proc/PID/status` text (`VmHWM:\t  1234 kB`), in bytes.
fn status_field_bytes(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The sum of fields `a` and `b` of a `/proc/PID/stat` line, counted from 0 after the command
/// name: the name (in parentheses) may hold spaces, so fields are counted after its closing
/// parenthesis. utime and stime are 11 and 12 there; cutime and cstime 13 and 14.
fn ticks_of_stat(stat: &str, a: usize, b: usize) -> Option<f64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let x: f64 = fields.get(a)?.parse().ok()?;
    let y: f64 = fields.get(b)?.parse().ok()?;
    Some(x + y)
}

/// The unit of `/proc` CPU times: USER_HZ, 100 on every Linux the kernel exports to user
/// space (the value of `sysconf(_SC_CLK_TCK)`).
const USER_HZ: f64 = 100.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_bytes() {
        let status = "Name:\tfaultline\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(status_field_bytes(status, "VmHWM:"), Some(2048 * 1024));
        assert_eq!(status_field_bytes(status, "VmRSS:"), Some(1024 * 1024));
        assert_eq!(status_field_bytes(status, "VmSwap:"), None);
    }

    #[test]
    fn cpu_time_is_counted_after_the_command_name() {
        let stat = "42 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0";
        assert_eq!(ticks_of_stat(stat, 11, 12), Some(300.0));
        assert_eq!(ticks_of_stat(stat, 13, 14), Some(0.0));
        assert_eq!(ticks_of_stat("42 (short) S 1", 11, 12), None);
    }

    #[test]
    fn this_process_has_memory() {
        let peak = peak_rss_bytes().expect("linux /proc");
        let now = rss_bytes().expect("linux /proc");
        assert!(peak >= now && now > 0, "peak {peak} now {now}");
        let fast = rss_bytes_now().expect("linux /proc");
        assert!(
            fast > 0 && fast <= peak + (64 << 20),
            "statm {fast} peak {peak}"
        );
        let available = memory_available().expect("linux /proc");
        assert!(available > fast, "available {available} rss {fast}");
    }

    #[test]
    fn a_ceiling_below_this_process_is_exceeded_and_one_above_is_not() {
        assert!(MemoryCeiling::new(1).exceeded());
        let roomy = MemoryCeiling::new(u64::MAX);
        assert!(!roomy.exceeded());
        assert!(roomy.bytes() > 0);
        assert_eq!(roomy.limit(), u64::MAX);
    }

    #[test]
    fn cgroup_limits_are_bytes_or_none() {
        assert_eq!(cgroup_limit("1073741824\n"), Some(1 << 30));
        assert_eq!(cgroup_limit("max\n"), None);
        assert_eq!(cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(cgroup_limit(""), None);
    }
}
