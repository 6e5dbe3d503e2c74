//! `powerfs`: faultline's own FUSE filesystem for power-loss faults, mounted over a node's
//! data directory. Reads and writes pass through to object files in a backing directory
//! beside it, but the filesystem remembers what is not yet durable, so
//! [`PowerFs::power_loss`] can throw it away as a machine losing power does: file bytes
//! written since the file's last fsync, and directory entries created, renamed or removed
//! since the directory's last fsync (the model: [`state`]).
//!
//! Durable, exactly: `fsync` and `fdatasync` of a file (its bytes and length); every
//! `write` through a handle opened `O_SYNC` or `O_DSYNC`; `fsync`/`fdatasync` of a
//! directory (its entries: creates, renames, links, unlinks, mkdirs, rmdirs in it).
//! Nothing else is: not `close`, not `sync_file_range` (the kernel handles it in its page
//! cache and never tells a FUSE filesystem), not `sync`/`syncfs` (not passed to FUSE
//! filesystems this crate serves), not a file's fsync for its own directory entry. Modes,
//! owners and times are never rolled back. Writes through a shared writable `mmap` reach
//! the filesystem only when the kernel writes the pages back, and are not modelled.
//!
//! The filesystem runs on a thread of the faultline process that mounts it; it is mounted
//! with `auto_unmount`, so `fusermount3` (Debian `fuse3`) unmounts it even when that
//! process is killed with `kill -9`. [`PowerFs::unmount`] writes the current tree back into
//! the (then plain) data directory, so a node's files are where they always are after the
//! run. Needs root and `/dev/fuse`: [`check_available`].

pub mod fs;
pub mod state;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use state::Lost;

/// The backing directory of a mount at `mountpoint`: `<mountpoint>.powerfs` beside it.
pub fn backing_dir(mountpoint: &Path) -> PathBuf {
    let mut name = mountpoint
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "data".into());
    name.push(".powerfs");
    mountpoint.with_file_name(name)
}

/// Why a power-loss filesystem cannot be mounted or used.
#[derive(Debug, thiserror::Error)]
pub enum PowerFsError {
    /// This machine cannot mount it (no /dev/fuse, not root, no fusermount3).
    #[error("power-loss faults need a FUSE mount: {0}")]
    Unavailable(String),
    /// Mounting failed.
    #[error("mounting the power-loss filesystem over {path}: {source}")]
    Mount {
        /// The mountpoint.
        path: PathBuf,
        /// What the mount returned.
        source: std::io::Error,
    },
    /// Preparing or reading the backing directory failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The rollback failed (an errno from the backing files).
    #[error("rolling back {path} after a power loss: {source}")]
    Rollback {
        /// The mountpoint.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Whether this machine can mount the filesystem: root, `/dev/fuse` openable, `fusermount3`
/// on the PATH. The error says which is missing and how to get it.
pub fn check_available() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("faultline must run as root to mount its power-loss filesystem (FUSE over each node's data directory)".into());
    }
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
    {
        return Err(format!(
            "/dev/fuse cannot be opened ({e}); load the fuse module (modprobe fuse) or, in a container, pass --device /dev/fuse"
        ));
    }
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").is_file()))
        .unwrap_or(false);
    if !found {
        return Err("fusermount3 is not installed (Debian: apt-get install fuse3)".into());
    }
    Ok(())
}

/// One mounted power-loss filesystem. Dropping it unmounts (best effort, as
/// [`PowerFs::unmount`]).
pub struct PowerFs {
    mountpoint: PathBuf,
    inner: Arc<Mutex<fs::Inner>>,
    session: Option<fuser::BackgroundSession>,
}

impl std::fmt::Debug for PowerFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerFs")
            .field("mountpoint", &self.mountpoint)
            .finish()
    }
}

impl PowerFs {
    /// Mounts the filesystem over the directory `mountpoint`, its file bytes in
    /// [`backing_dir`] (emptied first). What `mountpoint` already holds is taken in as
    /// durable content (and moved out of the way, to come back at unmount).
    pub fn mount(mountpoint: &Path) -> Result<PowerFs, PowerFsError> {
        check_available().map_err(PowerFsError::Unavailable)?;
        let io = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| PowerFsError::Io { what, path, source }
        };
        let backing = backing_dir(mountpoint);
        match std::fs::remove_dir_all(&backing) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("emptying", &backing)(e)),
        }
        std::fs::create_dir_all(&backing).map_err(io("creating", &backing))?;
        let meta = std::fs::metadata(mountpoint).map_err(io("reading", mountpoint))?;
        use std::os::unix::fs::MetadataExt;
        let mut state = state::State::new(&backing, meta.uid(), meta.gid());
        state
            .import(mountpoint, state::ROOT)
            .map_err(io("taking in the files of", mountpoint))?;
        clear_dir(mountpoint).map_err(io("emptying", mountpoint))?;
        let inner = Arc::new(Mutex::new(fs::Inner::new(state)));
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::FSName("faultline-powerfs".into()),
            fuser::MountOption::AutoUnmount,
            fuser::MountOption::DefaultPermissions,
        ];
        config.acl = fuser::SessionACL::All;
        let ops = fs::PowerFsOps {
            inner: Arc::clone(&inner),
        };
        let session =
            fuser::spawn_mount(ops, mountpoint, &config).map_err(|source| PowerFsError::Mount {
                path: mountpoint.to_path_buf(),
                source,
            })?;
        Ok(PowerFs {
            mountpoint: mountpoint.to_path_buf(),
            inner,
            session: Some(session),
        })
    }

    /// Where it is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Throws away everything not durable (see the module doc) and says how much. Call it
    /// only while no process uses the mount (the node is killed and reaped).
    pub fn power_loss(&self) -> Result<Lost, PowerFsError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.forget_handles();
        inner
            .state
            .power_loss()
            .map_err(|e| PowerFsError::Rollback {
                path: self.mountpoint.clone(),
                source: std::io::Error::from_raw_os_error(e),
            })
    }

    /// Unmounts (lazily: a process still inside loses its files) and writes the current tree
    /// back into the plain data directory. Idempotent.
    pub fn unmount(&mut self) -> Result<(), PowerFsError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        lazy_unmount(&self.mountpoint);
        // The session thread ends once the kernel lets the connection go; never wait long.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = session.umount_and_join();
            let _ = tx.send(());
        });
        let _ = rx.recv_timeout(Duration::from_secs(10));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let io = |source| PowerFsError::Io {
            what: "writing the node's files back into",
            path: self.mountpoint.clone(),
            source,
        };
        clear_dir(&self.mountpoint).map_err(io)?;
        inner
            .state
            .export(state::ROOT, &self.mountpoint)
            .map_err(io)?;
        let backing = backing_dir(&self.mountpoint);
        let _ = std::fs::remove_dir_all(backing);
        Ok(())
    }
}

impl Drop for PowerFs {
    fn drop(&mut self) {
        let _ = self.unmount();
    }
}

/// Removes everything inside `dir` (not `dir` itself).
fn clear_dir(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(e.path())?;
        } else {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// Whether a FUSE filesystem of ours is mounted at `path` (from `/proc/self/mountinfo`).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounted_at(&info, &want)
}

/// Whether `mountinfo` (the text of `/proc/self/mountinfo`) lists a faultline powerfs mount at
/// `path` (pure).
pub fn mounted_at(mountinfo: &str, path: &Path) -> bool {
    let want = path.to_string_lossy();
    mountinfo.lines().any(|l| {
        let fields: Vec<&str> = l.split(' ').collect();
        fields.get(4).is_some_and(|m| unescape(m) == want) && l.contains("faultline-powerfs")
    })
}

/// mountinfo's octal escapes (`\040` for a space) undone.
fn unescape(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Detaches whatever is mounted at `path` (`umount2(MNT_DETACH)`, then `fusermount3 -u -z`
/// as a fallback): for teardown and `faultline cluster down`, which must also clean up after
/// a faultline process killed with `kill -9`. Returns whether something was mounted there.
pub fn lazy_unmount(path: &Path) -> bool {
    if !is_mounted(path) {
        return false;
    }
    let c = match std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) {
        Ok(c) => c,
        Err(_) => return false,
    };
    // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        let _ = std::process::Command::new("fusermount3")
            .args(["-u", "-z"])
            .arg(path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backing_dir_sits_beside_the_mountpoint() {
        assert_eq!(
            backing_dir(Path::new("/r/nodes/n1/data")),
            Path::new("/r/nodes/n1/data.powerfs")
        );
    }

    #[test]
    fn mountinfo_lines_name_our_mounts() {
        let info = "36 35 98:0 / /mnt/a\\040b rw - fuse.faultline-powerfs faultline-powerfs rw\n\
                    37 35 98:0 / /mnt/c rw - ext4 /dev/sda rw\n";
        assert!(mounted_at(info, Path::new("/mnt/a b")));
        assert!(!mounted_at(info, Path::new("/mnt/c")));
        assert!(!mounted_at(info, Path::new("/mnt/z")));
    }
}
