//! What `--cluster ssh` is told on the command line (the hosts, the user, key, port and
//! OpenSSH options) and the `ssh` argument lists built from it. Pure: parsing and argument
//! building are unit-tested here; [`super::client`] runs them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::node_addr::shell_safe;

/// OpenSSH's connect timeout when the user sets none (`--ssh-option ConnectTimeout=N` wins).
pub const DEFAULT_CONNECT_TIMEOUT_S: u64 = 10;

/// How long an idle multiplexing master outlives its last use (it is closed explicitly at
/// the end of a run and by `cluster down`; this only bounds one left by a `kill -9`).
pub const CONTROL_PERSIST_S: u64 = 300;

/// One host of an SSH cluster: the node's name and the address faultline connects to (which
/// is also the node's `{host}` in the db spec's templates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshHost {
    /// `n1`, `n2`, ... unless given as `NAME=HOST`.
    pub name: String,
    /// A host name or an IP address.
    pub host: String,
}

/// How to reach the hosts: `--ssh-user`, `--ssh-key`, `--ssh-port`, `--ssh-option`.
/// Recorded in the cluster state file so `faultline cluster down` reconnects the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshOptions {
    /// The remote user (`-l`); default: OpenSSH's (your config, else your login name).
    pub user: Option<String>,
    /// The private key (`-i`, with `IdentitiesOnly=yes`).
    pub key: Option<PathBuf>,
    /// The port (`-p`).
    pub port: Option<u16>,
    /// Extra `-o OPTION` values, in order; they come before faultline's own, so they win
    /// (OpenSSH keeps the first value of each option).
    pub options: Vec<String>,
}

/// Parses `--host` values: `HOST` (named `n1`, `n2`, ... by position) or `NAME=HOST`. A
/// host is a name or an IP address (no user, no port: those are `--ssh-user`/`--ssh-port`);
/// names and hosts must be plain words, as they end up in shell commands. Pure.
pub fn parse_hosts(args: &[String]) -> Result<Vec<SshHost>, String> {
    if args.is_empty() {
        return Err("--cluster ssh needs at least one --host [NAME=]HOST".into());
    }
    let mut hosts: Vec<SshHost> = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let (name, host) = match arg.split_once('=') {
            Some((n, h)) => (n.to_owned(), h.to_owned()),
            None => (format!("n{}", i + 1), arg.clone()),
        };
        if host.is_empty() || host.starts_with('-') || name.starts_with('-') {
            return Err(format!(
                "--host {arg}: expected [NAME=]HOST (neither may start with '-')"
            ));
        }
        if host.contains('@') || (host.contains(':') && host.parse::<std::net::IpAddr>().is_err()) {
            return Err(format!(
                "--host {arg}: give the host alone (the user is --ssh-user, the port --ssh-port)"
            ));
        }
        for (what, value) in [("name", &name), ("host", &host)] {
            if !shell_safe(value) {
                return Err(format!(
                    "--host {arg}: the {what} {value:?} may only hold letters, digits and ._-:/@[]%+=,"
                ));
            }
        }
        if hosts.iter().any(|h| h.name == name) {
            return Err(format!("--host {arg}: the name {name} is used twice"));
        }
        hosts.push(SshHost { name, host });
    }
    Ok(hosts)
}

/// Whether `--ssh-option` values look like OpenSSH's `Key=Value` (or `Key Value`). Pure.
pub fn check_options(options: &[String]) -> Result<(), String> {
    for o in options {
        let key = o.split(['=', ' ']).next().unwrap_or("");
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) || key == o {
            return Err(format!(
                "--ssh-option {o:?}: expected an OpenSSH option as KEY=VALUE (e.g. StrictHostKeyChecking=accept-new)"
            ));
        }
    }
    Ok(())
}

/// How a command reaches a host: through the run's multiplexing master (`ControlPath` in
/// `control_dir`) or with a connection of its own (`ControlPath=none`, the bench's baseline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mux {
    /// One master per host in this directory.
    Through(PathBuf),
    /// Every command connects anew.
    Off,
}

impl SshOptions {
    /// The options every `ssh` call takes (before the host): the user's `-o`s first, then
    /// `BatchMode=yes` (never prompt), a connect timeout, keep-alives, the user, key and
    /// port, and the multiplexing options. Host keys are checked as OpenSSH does by default.
    pub fn base_args(&self, mux: &Mux) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        for o in &self.options {
            a.extend(["-o".into(), o.clone()]);
        }
        for o in [
            "BatchMode=yes".to_owned(),
            format!("ConnectTimeout={DEFAULT_CONNECT_TIMEOUT_S}"),
            "ServerAliveInterval=5".into(),
            "ServerAliveCountMax=3".into(),
            "LogLevel=ERROR".into(),
        ] {
            a.extend(["-o".into(), o]);
        }
        if let Some(user) = &self.user {
            a.extend(["-l".into(), user.clone()]);
        }
        if let Some(key) = &self.key {
            a.extend([
                "-i".into(),
                key.display().to_string(),
                "-o".into(),
                "IdentitiesOnly=yes".into(),
            ]);
        }
        if let Some(port) = self.port {
            a.extend(["-p".into(), port.to_string()]);
        }
        match mux {
            Mux::Through(dir) => a.extend([
                "-o".into(),
                format!("ControlPath={}", control_path(dir)),
                // Commands use the master when it is there and connect on their own when it
                // is not; they never become a master themselves (a master forked by a
                // command would hold that command's stderr pipe open).
                "-o".into(),
                "ControlMaster=no".into(),
            ]),
            Mux::Off => a.extend([
                "-o".into(),
                "ControlPath=none".into(),
                "-o".into(),
                "ControlMaster=no".into(),
            ]),
        }
        a
    }

    /// `ssh` arguments that start the multiplexing master for `host` and return once it is
    /// authenticated (`-f -N`), persisting [`CONTROL_PERSIST_S`] when idle.
    pub fn master_args(&self, dir: &Path, host: &str) -> Vec<String> {
        let mut a = self.base_args(&Mux::Through(dir.to_path_buf()));
        // Later -o values lose; drop ours for ControlMaster and put the master's first.
        let at = a
            .iter()
            .position(|w| w == "ControlMaster=no")
            .unwrap_or(a.len());
        if at < a.len() {
            a.drain(at - 1..=at);
        }
        let mut out = vec![
            "-o".into(),
            "ControlMaster=yes".into(),
            "-o".into(),
            format!("ControlPersist={CONTROL_PERSIST_S}"),
            "-f".into(),
            "-N".into(),
        ];
        out.append(&mut a);
        out.push(host.to_owned());
        out
    }

    /// `ssh` arguments that run `script` with `sh -c` on `host`.
    pub fn command_args(&self, mux: &Mux, host: &str, script: &str) -> Vec<String> {
        let mut a = self.base_args(mux);
        a.push(host.to_owned());
        a.push(format!("sh -c {}", super::quote::quote(script)));
        a
    }

    /// `ssh` arguments that ask `host`'s master to exit (`-O exit`).
    pub fn exit_args(&self, dir: &Path, host: &str) -> Vec<String> {
        let mut a = self.base_args(&Mux::Through(dir.to_path_buf()));
        a.extend(["-O".into(), "exit".into(), host.to_owned()]);
        a
    }

    /// The flags that give these options on `faultline test`'s command line.
    pub fn flags(&self) -> Vec<String> {
        let mut f = Vec::new();
        if let Some(user) = &self.user {
            f.extend(["--ssh-user".into(), user.clone()]);
        }
        if let Some(key) = &self.key {
            f.extend(["--ssh-key".into(), key.display().to_string()]);
        }
        if let Some(port) = self.port {
            f.extend(["--ssh-port".into(), port.to_string()]);
        }
        for o in &self.options {
            f.extend(["--ssh-option".into(), o.clone()]);
        }
        f
    }
}

/// The `ControlPath` pattern in `dir`: `%C`, a hash of host, port and user, keeps one socket
/// per host and the path short (unix socket paths are limited to about 100 bytes).
pub fn control_path(dir: &Path) -> String {
    format!("{}/%C", dir.display())
}

/// The run's directory for master sockets: short, under `/tmp`, named by the run id.
pub fn control_dir(run_id: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/fl-ssh-{run_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn hosts_are_named_by_position_unless_named() {
        let h = parse_hosts(&strs(&["10.0.0.1", "db2=host-b.example", "10.0.0.3"])).unwrap();
        assert_eq!(
            h[0],
            SshHost {
                name: "n1".into(),
                host: "10.0.0.1".into()
            }
        );
        assert_eq!(
            h[1],
            SshHost {
                name: "db2".into(),
                host: "host-b.example".into()
            }
        );
        assert_eq!(h[2].name, "n3");
        assert!(parse_hosts(&[]).is_err());
        for bad in ["root@h", "h:22", "a=", "x=$(id)", "a b", "-oProxyCommand=x"] {
            assert!(parse_hosts(&strs(&[bad])).is_err(), "{bad}");
        }
        assert!(parse_hosts(&strs(&["a=h1", "a=h2"]))
            .unwrap_err()
            .contains("twice"));
        assert!(parse_hosts(&strs(&["::1"])).is_ok());
    }

    #[test]
    fn options_must_be_key_value() {
        assert!(check_options(&strs(&["StrictHostKeyChecking=no", "Ciphers aes128-ctr"])).is_ok());
        assert!(check_options(&strs(&["-v"])).is_err());
        assert!(check_options(&strs(&["novalue"])).is_err());
    }

    #[test]
    fn user_options_come_first_and_multiplexing_is_explicit() {
        let o = SshOptions {
            user: Some("fl".into()),
            key: Some("/k/id".into()),
            port: Some(2222),
            options: strs(&["ConnectTimeout=3", "UserKnownHostsFile=/k/known"]),
        };
        let dir = PathBuf::from("/tmp/fl-ssh-abc");
        let a = o
            .command_args(&Mux::Through(dir.clone()), "h1", "echo 'hi'")
            .join(" ");
        assert!(
            a.starts_with("-o ConnectTimeout=3 -o UserKnownHostsFile=/k/known -o BatchMode=yes"),
            "{a}"
        );
        assert!(
            a.contains("-l fl -i /k/id -o IdentitiesOnly=yes -p 2222"),
            "{a}"
        );
        assert!(
            a.contains("-o ControlPath=/tmp/fl-ssh-abc/%C -o ControlMaster=no h1"),
            "{a}"
        );
        assert!(a.ends_with("h1 sh -c 'echo '\\''hi'\\'''"), "{a}");
        let off = o.command_args(&Mux::Off, "h1", "true").join(" ");
        assert!(off.contains("ControlPath=none"), "{off}");
        let m = o.master_args(&dir, "h1").join(" ");
        assert!(
            m.starts_with("-o ControlMaster=yes -o ControlPersist=300 -f -N"),
            "{m}"
        );
        assert!(!m.contains("ControlMaster=no"), "{m}");
        assert!(m.ends_with(" h1"), "{m}");
        assert!(o.exit_args(&dir, "h1").join(" ").ends_with("-O exit h1"));
        assert_eq!(
            o.flags().join(" "),
            "--ssh-user fl --ssh-key /k/id --ssh-port 2222 --ssh-option ConnectTimeout=3 --ssh-option UserKnownHostsFile=/k/known"
        );
        assert!(control_path(&control_dir("abc123")).len() < 40);
    }
}
