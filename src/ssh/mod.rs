//! Remote hosts over SSH, through the system's OpenSSH client (`ssh`): the plumbing under
//! `--cluster ssh` (the cluster itself is [`crate::cluster::remote`]).
//!
//! - [`quote`]: POSIX shell quoting of the words sent to a remote shell. Pure.
//! - [`args`]: the hosts and SSH options from the command line, and the `ssh` argument lists
//!   (batch mode, connect timeout, user/key/port, the user's `-o`s, multiplexing). Pure.
//! - [`client`]: [`SshClient`]: one multiplexing master per host (`ControlPath` in a short
//!   directory under `/tmp`), commands with a deadline, upload and download over the same
//!   connection, typed errors naming the host and carrying ssh's own message.
//! - [`shell`]: [`SshShell`], the [`crate::net::shell::HostShell`] of SSH hosts: how the
//!   iptables fault backend runs its rules on a host.

pub mod args;
pub mod client;
pub mod quote;
pub mod shell;

pub use args::{control_dir, parse_hosts, Mux, SshHost, SshOptions};
pub use client::{SshClient, SshError};
pub use quote::{quote, quote_all};
pub use shell::SshShell;
