//! The OpenSSH client, run as a program: one multiplexing master per host per run (so a
//! fault is one round trip on an open connection, not a handshake), commands with a
//! deadline, uploads and downloads through `cat` on the same connection. Errors name the
//! host and carry SSH's own message.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::args::{Mux, SshOptions};
use super::quote::quote;

/// Why a command on a host did not do its job.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// ssh could not connect or authenticate (its exit status 255): its own message.
    #[error("cannot reach host {host} over ssh: {message}")]
    Connect {
        /// The host as given.
        host: String,
        /// ssh's stderr, trimmed.
        message: String,
    },
    /// The remote command ran and failed.
    #[error("host {host}: {what} failed ({status}): {stderr}")]
    Failed {
        /// The host.
        host: String,
        /// What faultline was doing.
        what: String,
        /// The remote exit status.
        status: String,
        /// The remote stderr, trimmed.
        stderr: String,
    },
    /// No answer within the deadline (the ssh process was killed).
    #[error("host {host}: {what}: no answer within {after:?}")]
    Timeout {
        /// The host.
        host: String,
        /// What faultline was doing.
        what: String,
        /// The deadline.
        after: Duration,
    },
    /// The `ssh` program itself could not be run.
    #[error("cannot run ssh (is the OpenSSH client installed?): {0}")]
    Spawn(std::io::Error),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How long one remote command may take by default.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// ssh's stderr as one line: its non-empty lines joined by `; ` (OpenSSH's own words:
/// "Connection refused", "Permission denied (publickey)", "Host key verification
/// failed."). Pure.
pub fn ssh_message(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        "ssh exited with status 255 and no message".into()
    } else {
        lines.join("; ")
    }
}

/// An OpenSSH client for one run's hosts.
#[derive(Debug, Clone)]
pub struct SshClient {
    opts: SshOptions,
    mux: Mux,
}

impl SshClient {
    /// A client with `opts`, multiplexing through `mux`.
    pub fn new(opts: SshOptions, mux: Mux) -> SshClient {
        SshClient { opts, mux }
    }

    /// The options it connects with.
    pub fn options(&self) -> &SshOptions {
        &self.opts
    }

    /// Opens `host`'s multiplexing master (when multiplexing), so later commands are one
    /// round trip each; an unreachable host, a refused key or an unknown host key is a
    /// [`SshError::Connect`] with ssh's own message.
    pub fn connect(&self, host: &str) -> Result<(), SshError> {
        let Mux::Through(dir) = &self.mux else {
            return self
                .run(host, "true", "connecting", COMMAND_TIMEOUT)
                .map(|_| ());
        };
        create_private_dir(dir)?;
        let err_path = dir.join(format!("master-{}.err", sanitize(host)));
        let err = File::create(&err_path).map_err(|source| SshError::Io {
            path: err_path.clone(),
            source,
        })?;
        let mut cmd = Command::new("ssh");
        cmd.args(self.opts.master_args(dir, host))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        // The master keeps the stderr it was given: a file, never a pipe we would wait on.
        let out = wait_with_deadline(
            cmd,
            None,
            COMMAND_TIMEOUT + Duration::from_secs(5),
            host,
            "connecting",
        )?;
        let message = std::fs::read(&err_path).unwrap_or_default();
        let _ = std::fs::remove_file(&err_path);
        if out.status.success() {
            Ok(())
        } else {
            Err(SshError::Connect {
                host: host.to_owned(),
                message: ssh_message(&message),
            })
        }
    }

    /// Runs `script` with `sh -c` on `host` and returns its output whatever its exit status;
    /// only a failure to connect (ssh's status 255) or the deadline is an error.
    pub fn run(
        &self,
        host: &str,
        script: &str,
        what: &str,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        self.run_with_input(host, script, what, None, timeout)
    }

    fn run_with_input(
        &self,
        host: &str,
        script: &str,
        what: &str,
        input: Option<File>,
        timeout: Duration,
    ) -> Result<Output, SshError> {
        let mut cmd = Command::new("ssh");
        cmd.args(self.opts.command_args(&self.mux, host, script));
        let out = run_with_deadline(cmd, input, timeout, host, what)?;
        if out.status.code() == Some(255) {
            return Err(SshError::Connect {
                host: host.to_owned(),
                message: ssh_message(&out.stderr),
            });
        }
        Ok(out)
    }

    /// Runs `script` on `host` and returns its stdout; a non-zero exit is
    /// [`SshError::Failed`] with the remote stderr.
    pub fn check(&self, host: &str, script: &str, what: &str) -> Result<String, SshError> {
        let out = self.run(host, script, what, COMMAND_TIMEOUT)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(SshError::Failed {
                host: host.to_owned(),
                what: what.to_owned(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    /// Copies the local file `local` to `remote` on `host` (through a temporary name, so a
    /// half-copied file is never run), with mode `mode`, creating the directory.
    pub fn upload(
        &self,
        host: &str,
        local: &Path,
        remote: &str,
        mode: u32,
    ) -> Result<(), SshError> {
        let file = File::open(local).map_err(|source| SshError::Io {
            path: local.to_path_buf(),
            source,
        })?;
        let dir = Path::new(remote)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "/".into());
        let tmp = format!("{remote}.part");
        let script = format!(
            "mkdir -p {d} && cat > {t} && chmod {mode:o} {t} && mv -f {t} {r}",
            d = quote(&dir),
            t = quote(&tmp),
            r = quote(remote)
        );
        let what = format!("uploading {} to {remote}", local.display());
        let out =
            self.run_with_input(host, &script, &what, Some(file), Duration::from_secs(300))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(SshError::Failed {
                host: host.to_owned(),
                what,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    /// Copies `remote` on `host` to the local file `local`; `Ok(false)` (and no file) when
    /// the remote file does not exist.
    pub fn download(&self, host: &str, remote: &str, local: &Path) -> Result<bool, SshError> {
        let script = format!("[ -f {r} ] || exit 3; cat {r}", r = quote(remote));
        let what = format!("downloading {remote}");
        let out = self.run(host, &script, &what, Duration::from_secs(300))?;
        match out.status.code() {
            Some(0) => {
                std::fs::write(local, &out.stdout).map_err(|source| SshError::Io {
                    path: local.to_path_buf(),
                    source,
                })?;
                Ok(true)
            }
            Some(3) => Ok(false),
            _ => Err(SshError::Failed {
                host: host.to_owned(),
                what,
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            }),
        }
    }

    /// Asks `host`'s master to exit (best effort; nothing to do without multiplexing).
    pub fn close(&self, host: &str) {
        if let Mux::Through(dir) = &self.mux {
            let mut cmd = Command::new("ssh");
            cmd.args(self.opts.exit_args(dir, host))
                .stdin(Stdio::null());
            let _ = run_with_deadline(cmd, None, Duration::from_secs(10), host, "closing");
        }
    }

    /// Closes every host's master and removes the socket directory (best effort).
    pub fn close_all<'a>(&self, hosts: impl IntoIterator<Item = &'a str>) {
        for h in hosts {
            self.close(h);
        }
        if let Mux::Through(dir) = &self.mux {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A host name as a file name piece.
fn sanitize(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Creates `dir` readable by its owner only (it holds the master sockets).
fn create_private_dir(dir: &Path) -> Result<(), SshError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(SshError::Io {
            path: dir.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Runs `cmd` (stdin from `input` or closed, stdout and stderr captured) and waits at most
/// `timeout`; past it the process is killed and the error names `host` and `what`.
fn run_with_deadline(
    mut cmd: Command,
    input: Option<File>,
    timeout: Duration,
    host: &str,
    what: &str,
) -> Result<Output, SshError> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    wait_with_deadline(cmd, input, timeout, host, what)
}

/// [`run_with_deadline`] with `cmd`'s stdout and stderr as the caller set them.
fn wait_with_deadline(
    mut cmd: Command,
    input: Option<File>,
    timeout: Duration,
    host: &str,
    what: &str,
) -> Result<Output, SshError> {
    match input {
        Some(f) => cmd.stdin(f),
        None => cmd.stdin(Stdio::null()),
    };
    let mut child = cmd.spawn().map_err(SshError::Spawn)?;
    let pid = child.id();
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let err_reader = std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut buf);
            }
            buf
        });
        let mut out = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut out);
        }
        let err = err_reader.join().unwrap_or_default();
        let status = child.wait();
        let _ = tx.send(status.map(|status| Output {
            status,
            stdout: out,
            stderr: err,
        }));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(SshError::Spawn(e)),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            Err(SshError::Timeout {
                host: host.to_owned(),
                what: what.to_owned(),
                after: timeout,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_messages_keep_its_own_words() {
        assert_eq!(
            ssh_message(b"\nroot@10.1.1.2: Permission denied (publickey).\n"),
            "root@10.1.1.2: Permission denied (publickey)."
        );
        assert_eq!(
            ssh_message(b"No ED25519 host key is known for 10.1.1.2 and you have requested strict checking.\r\nHost key verification failed.\r\n"),
            "No ED25519 host key is known for 10.1.1.2 and you have requested strict checking.; Host key verification failed."
        );
        assert!(ssh_message(b"").contains("no message"));
        assert_eq!(sanitize("a:b/c.d"), "a_b_c.d");
    }

    #[test]
    fn a_command_past_its_deadline_is_killed_and_named() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let start = std::time::Instant::now();
        let e = run_with_deadline(cmd, None, Duration::from_millis(200), "h1", "sleeping")
            .unwrap_err()
            .to_string();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(e.contains("h1") && e.contains("sleeping"), "{e}");
    }
}
