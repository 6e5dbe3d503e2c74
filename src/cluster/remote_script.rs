//! The shell scripts an SSH cluster runs on its hosts, as pure functions of a node's remote
//! layout (unit-tested here; [`super::remote`] sends them). Each node lives in
//! `/tmp/faultline-<run id>/<name>/` on its host: `bin/` (the uploaded binary), `data/` (kept
//! across kill and restart), `<spec name>.log` and `pid`. The node runs as a daemon in a
//! session of its own (`setsid`, so it survives the SSH session and signals reach its whole
//! process group) with `FAULTLINE_NODE=<run id>/<name>` in its environment: every signal
//! first checks that marker in `/proc/PID/environ`, so a recycled pid is never signalled.

use std::path::Path;

use crate::ssh::quote::{quote, quote_all};

/// One node's place on its host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemoteNode {
    /// The node name (`n1`).
    pub name: String,
    /// The host it runs on.
    pub host: String,
    /// Its directory on the host.
    pub dir: String,
    /// Its log file on the host (stdout and stderr, appended across restarts).
    pub log: String,
    /// `FAULTLINE_NODE`'s value for it (`<run id>/<name>`).
    pub marker: String,
}

impl RemoteNode {
    /// Node `name` of run `run_id` on `host`, logging to `<log_name>` in its directory.
    pub fn new(run_id: &str, name: &str, host: &str, log_name: &str) -> RemoteNode {
        let dir = format!("{}/{name}", run_root(run_id));
        RemoteNode {
            name: name.to_owned(),
            host: host.to_owned(),
            log: format!("{dir}/{log_name}"),
            dir,
            marker: format!("{run_id}/{name}"),
        }
    }

    /// The data directory (`{data_dir}` in the db spec's templates).
    pub fn data_dir(&self) -> String {
        format!("{}/data", self.dir)
    }

    /// Where the binary called `file_name` is uploaded.
    pub fn binary(&self, file_name: &str) -> String {
        format!("{}/bin/{file_name}", self.dir)
    }

    /// Its libfaketime control file, when the schedule has clock faults
    /// ([`crate::fakeclock::CONTROL_FILE`] in its directory).
    pub fn clock_file(&self) -> String {
        format!("{}/{}", self.dir, crate::fakeclock::CONTROL_FILE)
    }

    fn pid_file(&self) -> String {
        format!("{}/pid", self.dir)
    }
}

/// The run's directory on every host.
pub fn run_root(run_id: &str) -> String {
    format!("/tmp/faultline-{run_id}")
}

/// Shell functions every script starts with: `alive PID` (running, not a zombie) and
/// `ours PID` (alive and carrying this node's marker).
fn prelude(node: &RemoteNode) -> String {
    format!(
        "PATH=\"$PATH:/usr/sbin:/sbin\"\n\
         alive() {{ [ -r /proc/$1/stat ] || return 1; s=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -c1); [ -n \"$s\" ] && [ \"$s\" != Z ] && [ \"$s\" != X ]; }}\n\
         ours() {{ alive \"$1\" && tr '\\0' '\\n' < /proc/$1/environ 2>/dev/null | grep -qx {m}; }}\n\
         pidfile={p}\n",
        m = quote(&format!("FAULTLINE_NODE={}", node.marker)),
        p = quote(&node.pid_file()),
    )
}

/// Starts the node as a daemon: `env VARS setsid nohup BINARY ARGS` in the background, with
/// stdin closed and output appended to its log; prints its pid (also written to the pid
/// file). `env` holds the db spec's environment (already rendered).
pub fn start(node: &RemoteNode, binary: &str, args: &[String], env: &[(String, String)]) -> String {
    let mut words: Vec<String> = vec!["env".into(), format!("FAULTLINE_NODE={}", node.marker)];
    words.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
    words.extend(["setsid".into(), "nohup".into(), binary.to_owned()]);
    words.extend(args.iter().cloned());
    format!(
        "{pre}set -e\ncd {dir}\nmkdir -p data\n\
         echo \"--- faultline: starting {name} on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)\" >> {log}\n\
         {cmd} >> {log} 2>&1 < /dev/null &\n\
         echo $! > \"$pidfile\"\necho $!\n",
        pre = prelude(node),
        dir = quote(&node.dir),
        name = node.name,
        log = quote(&node.log),
        cmd = quote_all(&words),
    )
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`, `TERM`) to the node's process group (and the
/// process itself), if the pid file names a process of ours; with `wait_gone`, waits (up
/// to about 10 s) until it is gone and removes the pid file. Prints `gone` or the pid.
pub fn signal(node: &RemoteNode, signal: &str, wait_gone: bool) -> String {
    let mut s = format!(
        "{pre}p=$(cat \"$pidfile\" 2>/dev/null || true)\n\
         if [ -z \"$p\" ] || ! ours \"$p\"; then rm -f \"$pidfile\"; echo gone; exit 0; fi\n\
         kill -{signal} -- -\"$p\" 2>/dev/null || kill -{signal} \"$p\" 2>/dev/null || true\n",
        pre = prelude(node)
    );
    if wait_gone {
        s.push_str(
            "i=0; while alive \"$p\" && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n\
             if alive \"$p\"; then echo \"pid $p is still alive after SIGKILL\" >&2; exit 1; fi\n\
             rm -f \"$pidfile\"; echo gone\n",
        );
    } else {
        s.push_str("echo \"$p\"\n");
    }
    s
}

/// Stops the node gracefully: SIGCONT (it may be paused), `stop_signal`, up to `grace_ms`
/// for it to exit, then SIGKILL; waits until it is gone. Prints `gone`.
pub fn stop(node: &RemoteNode, stop_signal: &str, grace_ms: u64) -> String {
    let rounds = grace_ms.div_ceil(50).max(1);
    format!(
        "{pre}p=$(cat \"$pidfile\" 2>/dev/null || true)\n\
         if [ -z \"$p\" ] || ! ours \"$p\"; then rm -f \"$pidfile\"; echo gone; exit 0; fi\n\
         kill -CONT -- -\"$p\" 2>/dev/null || kill -CONT \"$p\" 2>/dev/null || true\n\
         kill -{stop_signal} -- -\"$p\" 2>/dev/null || kill -{stop_signal} \"$p\" 2>/dev/null || true\n\
         i=0; while alive \"$p\" && [ $i -lt {rounds} ]; do sleep 0.05; i=$((i+1)); done\n\
         kill -KILL -- -\"$p\" 2>/dev/null || kill -KILL \"$p\" 2>/dev/null || true\n\
         i=0; while alive \"$p\" && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n\
         if alive \"$p\"; then echo \"pid $p is still alive after SIGKILL\" >&2; exit 1; fi\n\
         rm -f \"$pidfile\"; echo gone\n",
        pre = prelude(node)
    )
}

/// Exit 0 when the node's process runs, 1 when not (then the pid file is stale).
pub fn is_running(node: &RemoteNode) -> String {
    format!(
        "{pre}p=$(cat \"$pidfile\" 2>/dev/null || true)\n[ -n \"$p\" ] && ours \"$p\"\n",
        pre = prelude(node)
    )
}

/// The last `lines` lines of a file on the host (nothing when it is missing).
pub fn tail(path: &str, lines: usize) -> String {
    format!("tail -n {lines} {} 2>/dev/null || true", quote(path))
}

/// Checks a host can run a cluster: prints the remote uid; fails naming what is missing
/// (`iptables`, `setsid`, or `sudo -n` for a user who is not root).
pub fn preflight() -> String {
    "PATH=\"$PATH:/usr/sbin:/sbin\"\n\
     for t in iptables setsid nohup; do command -v $t >/dev/null 2>&1 || { echo \"$t not found on this host (PATH=$PATH)\" >&2; exit 1; }; done\n\
     u=$(id -u)\n\
     if [ \"$u\" != 0 ]; then sudo -n true 2>/dev/null || { echo \"user $(id -un) is not root and cannot sudo -n (iptables needs root)\" >&2; exit 1; }; fi\n\
     echo \"$u\"\n"
        .to_owned()
}

/// Checks a host can fake a node's clock: libfaketime is at [`crate::fakeclock::LIBFAKETIME`]
/// (the path a node's `LD_PRELOAD` names). Fails naming the path and how to install it.
pub fn clock_probe() -> String {
    let lib = quote(crate::fakeclock::LIBFAKETIME);
    format!(
        "[ -r {lib} ] || {{ echo \"clock faults need libfaketime, and {l} does not exist on this host (install it: apt-get install faketime)\" >&2; exit 1; }}\n",
        l = crate::fakeclock::LIBFAKETIME
    )
}

/// Checks the uploaded `binary` loads a preload library: an ELF with an interpreter
/// (`PT_INTERP`, what `ldd` needs), or a `#!` script. The same bytes were checked on this
/// machine ([`crate::fakeclock::unskewable`], which also tells Go binaries apart); this
/// confirms the host runs it through its dynamic loader. Fails naming the binary.
pub fn clock_binary_check(binary: &str) -> String {
    let b = quote(binary);
    format!(
        "if [ \"$(head -c 2 {b})\" != '#!' ] && command -v ldd >/dev/null 2>&1 && ldd {b} 2>&1 | grep -q 'not a dynamic executable'; then echo \"clock faults cannot skew {binary}: statically linked (ldd: not a dynamic executable), it never loads libfaketime through LD_PRELOAD\" >&2; exit 1; fi\n"
    )
}

/// Replaces a control file on the host with `line` whole (a temporary file beside it, then
/// a rename), as [`crate::fakeclock::write_state`] does on this machine: a node reading it on
/// every clock call never sees half a line.
pub fn clock_write(path: &str, line: &str) -> String {
    let tmp = format!("{path}.tmp");
    format!(
        "printf '%s' {l} > {t} && mv -f {t} {p}\n",
        l = quote(line),
        t = quote(&tmp),
        p = quote(path)
    )
}

/// Prints the node's `/proc/PID/stat` line, then the host's `/proc/uptime` (for
/// [`crate::nemesis::backend::clock::uptime_from_proc`]); fails when the node is not running.
pub fn clock_uptime(node: &RemoteNode) -> String {
    format!(
        "{pre}p=$(cat \"$pidfile\" 2>/dev/null || true)\n\
         [ -n \"$p\" ] && ours \"$p\" || exit 1\n\
         cat /proc/$p/stat && echo && cat /proc/uptime\n",
        pre = prelude(node)
    )
}

/// Runs iptables `rules` on a host (through `sudo -n` unless the user is root), ignoring
/// failures: for a teardown whose objects may already be gone.
pub fn iptables_best_effort(rules: &[Vec<String>]) -> String {
    let mut s =
        String::from("PATH=\"$PATH:/usr/sbin:/sbin\"\nS=; [ \"$(id -u)\" = 0 ] || S='sudo -n'\n");
    for r in rules {
        let mut argv = vec!["iptables".to_owned(), "-w".to_owned()];
        argv.extend(r.iter().cloned());
        s.push_str(&format!("$S {} 2>/dev/null || true\n", quote_all(&argv)));
    }
    s
}

/// Removes the node's directory on its host, then the run's directory if no other node of
/// the run lives there (two nodes may share a host, or a file system).
pub fn remove_node_dir(node: &RemoteNode) -> String {
    let root = Path::new(&node.dir)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!(
        "rm -rf {} && {{ rmdir {} 2>/dev/null || true; }}",
        quote(&node.dir),
        quote(&root)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> RemoteNode {
        RemoteNode::new("abc123", "n2", "10.9.9.12", "raftkv.log")
    }

    #[test]
    fn a_node_lives_in_the_runs_directory() {
        let n = node();
        assert_eq!(n.dir, "/tmp/faultline-abc123/n2");
        assert_eq!(n.data_dir(), "/tmp/faultline-abc123/n2/data");
        assert_eq!(n.log, "/tmp/faultline-abc123/n2/raftkv.log");
        assert_eq!(n.binary("raftkv"), "/tmp/faultline-abc123/n2/bin/raftkv");
        assert_eq!(n.marker, "abc123/n2");
        assert_eq!(
            remove_node_dir(&n),
            "rm -rf /tmp/faultline-abc123/n2 && { rmdir /tmp/faultline-abc123 2>/dev/null || true; }"
        );
    }

    #[test]
    fn start_runs_a_marked_daemon_in_its_own_session() {
        let s = start(
            &node(),
            "/tmp/faultline-abc123/n2/bin/raftkv",
            &["--id".into(), "2".into(), "--peer".into(), "1=a b".into()],
            &[("RUST_LOG".into(), "info".into())],
        );
        assert!(
            s.contains("env FAULTLINE_NODE=abc123/n2 RUST_LOG=info setsid nohup /tmp/faultline-abc123/n2/bin/raftkv --id 2 --peer '1=a b' >> /tmp/faultline-abc123/n2/raftkv.log 2>&1 < /dev/null &"),
            "{s}"
        );
        assert!(s.contains("echo $! > \"$pidfile\""), "{s}");
    }

    #[test]
    fn signals_check_the_marker_and_reach_the_group() {
        let s = signal(&node(), "STOP", false);
        assert!(s.contains("grep -qx FAULTLINE_NODE=abc123/n2"), "{s}");
        assert!(s.contains("kill -STOP -- -\"$p\""), "{s}");
        assert!(!s.contains("sleep"), "a pause does not wait: {s}");
        let k = signal(&node(), "KILL", true);
        assert!(
            k.contains("while alive") && k.contains("rm -f \"$pidfile\""),
            "{k}"
        );
        let st = stop(&node(), "TERM", 1000);
        assert!(
            st.contains("kill -CONT") && st.contains("kill -TERM") && st.contains("-lt 20 ]"),
            "{st}"
        );
    }

    #[test]
    fn clock_scripts_write_the_line_whole_and_check_the_library_and_the_binary() {
        let n = node();
        assert_eq!(n.clock_file(), "/tmp/faultline-abc123/n2/faketime.rc");
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("faketime.rc").display().to_string();
        let line = crate::fakeclock::faketime_line(crate::fakeclock::ClockState {
            offset_ms: -2500,
            rate: 0.5,
        });
        let sh = |s: String| {
            std::process::Command::new("sh")
                .args(["-c", &s])
                .output()
                .expect("sh")
        };
        for _ in 0..2 {
            assert!(sh(clock_write(&file, &line)).status.success());
        }
        assert_eq!(std::fs::read_to_string(&file).expect("read"), line);
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 1);
        let p = clock_probe();
        assert!(p.contains(crate::fakeclock::LIBFAKETIME), "{p}");
        let probe = sh(p);
        assert_eq!(
            probe.status.success(),
            Path::new(crate::fakeclock::LIBFAKETIME).is_file(),
            "{}",
            String::from_utf8_lossy(&probe.stderr)
        );
        // Dynamically linked sh and a script pass; a file that is neither is left to the
        // check on this machine (ldd says "not a dynamic executable" only for static ELFs).
        assert!(sh(clock_binary_check("/bin/sh")).status.success());
        let script = dir.path().join("s.sh");
        std::fs::write(&script, "#!/bin/sh\n").expect("script");
        assert!(sh(clock_binary_check(&script.display().to_string()))
            .status
            .success());
        // The uptime script fails for a node that is not running.
        let mut n = node();
        n.dir = dir.path().display().to_string();
        assert!(!sh(clock_uptime(&n)).status.success());
    }

    /// The scripts are valid `sh` and the liveness helpers behave on this machine.
    #[test]
    fn scripts_parse_and_find_no_process_without_a_pid_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut n = node();
        n.dir = dir.path().display().to_string();
        for script in [
            start(&n, "/bin/true", &[], &[]),
            signal(&n, "KILL", true),
            stop(&n, "TERM", 100),
            is_running(&n),
            preflight(),
            clock_probe(),
            clock_binary_check("/bin/sh"),
            clock_write(&n.clock_file(), "+1.500 x1.000000\n"),
            clock_uptime(&n),
            iptables_best_effort(&crate::net::iptables::Chains::for_run("abc").teardown()),
        ] {
            let out = std::process::Command::new("sh")
                .args(["-n", "-c", &script])
                .output()
                .expect("sh");
            assert!(
                out.status.success(),
                "{script}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = std::process::Command::new("sh")
            .args(["-c", &signal(&n, "KILL", true)])
            .output()
            .expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "gone");
        let out = std::process::Command::new("sh")
            .args(["-c", &is_running(&n)])
            .output()
            .expect("sh");
        assert!(!out.status.success());
    }

    /// A daemon started by the script survives its shell, is found by its marker, and is
    /// stopped; a pid file naming a process without the marker is never signalled.
    #[test]
    fn a_daemon_is_started_found_and_stopped_by_its_marker() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut n = node();
        n.dir = dir.path().display().to_string();
        n.log = dir.path().join("x.log").display().to_string();
        n.marker = format!("test{}/n2", std::process::id());
        let sh = |s: String| {
            std::process::Command::new("sh")
                .args(["-c", &s])
                .output()
                .expect("sh")
        };
        let out = sh(start(&n, "sleep", &["30".into()], &[]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid: i32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pid");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !sh(is_running(&n)).status.success() {
            assert!(std::time::Instant::now() < deadline, "never running");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = sh(stop(&n, "TERM", 2000));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "gone",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Reap it (it is our grandchild only through sh, which is gone: init reaps it).
        assert!(!sh(is_running(&n)).status.success());
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None);
        // A pid file naming this very test process (no marker) is left alone.
        std::fs::write(dir.path().join("pid"), std::process::id().to_string()).expect("pid");
        assert_eq!(
            String::from_utf8_lossy(&sh(signal(&n, "KILL", true)).stdout).trim(),
            "gone"
        );
    }
}
