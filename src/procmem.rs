//! This process's memory and CPU use, from Linux's `/proc/self`: `faultline check --json`
//! reports its peak memory (memory is a result, as time is), and the benches print the same
//! figures. Every reader returns `None` where `/proc` is not there (not Linux).

/// Peak resident memory of this process so far (`VmHWM`), bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Resident memory of this process now (`VmRSS`), bytes.
pub fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
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
    }
}
