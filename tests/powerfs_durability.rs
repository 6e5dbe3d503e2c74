//! The power-loss filesystem (`faultline::powerfs`) through a real FUSE mount, one test per
//! durability rule of docs/faults.md: what a program writes with plain `write`/`rename`/
//! `create` is gone after a power loss; `fsync`, `fdatasync`, `O_SYNC`/`O_DSYNC` writes and
//! a directory fsync keep exactly what they cover. Needs root and /dev/fuse (skipped, saying
//! so, without them); every mount is unmounted by its guard, also when a test panics.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use faultline::powerfs::{check_available, is_mounted, PowerFs};

/// A mounted filesystem over a fresh temp dir, unmounted on drop.
struct Mounted {
    fs: Option<PowerFs>,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Mounted {
    fn new() -> Option<Mounted> {
        if let Err(why) = check_available() {
            eprintln!("skipped: {why}");
            return None;
        }
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).expect("data dir");
        std::fs::write(dir.join("old"), b"before the mount").expect("old file");
        let fs = PowerFs::mount(&dir).expect("mount");
        assert!(is_mounted(&dir), "mounted at {}", dir.display());
        Some(Mounted {
            fs: Some(fs),
            dir,
            _tmp: tmp,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn power_loss(&self) {
        self.fs
            .as_ref()
            .expect("mounted")
            .power_loss()
            .expect("power loss");
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(mut fs) = self.fs.take() {
            let _ = fs.unmount();
        }
    }
}

fn sync_dir(dir: &Path) {
    File::open(dir)
        .expect("open dir")
        .sync_all()
        .expect("fsync dir");
}

fn read(p: &Path) -> Option<Vec<u8>> {
    std::fs::read(p).ok()
}

#[test]
fn a_file_written_but_not_fsynced_is_gone_after_a_power_loss() {
    let Some(m) = Mounted::new() else { return };
    // Its entry is durable, its bytes are not.
    File::create(m.path("wal")).expect("create");
    sync_dir(&m.dir);
    std::fs::write(m.path("wal"), b"acknowledged?").expect("write");
    // A new file whose directory was never synced.
    std::fs::write(m.path("new"), b"x").expect("write");
    assert_eq!(read(&m.path("wal")).unwrap(), b"acknowledged?");
    m.power_loss();
    assert_eq!(read(&m.path("wal")).unwrap(), b"");
    assert_eq!(read(&m.path("new")), None);
    // What was there at mount time is durable.
    assert_eq!(read(&m.path("old")).unwrap(), b"before the mount");
}

#[test]
fn fsynced_data_stays_and_later_appends_do_not() {
    let Some(m) = Mounted::new() else { return };
    let mut f = File::create(m.path("wal")).expect("create");
    f.write_all(b"one ").expect("write");
    f.sync_all().expect("fsync");
    sync_dir(&m.dir);
    f.write_all(b"two").expect("write");
    drop(f);
    m.power_loss();
    assert_eq!(read(&m.path("wal")).unwrap(), b"one ");
}

#[test]
fn fdatasync_makes_data_durable() {
    let Some(m) = Mounted::new() else { return };
    let mut f = File::create(m.path("wal")).expect("create");
    sync_dir(&m.dir);
    f.write_all(b"data").expect("write");
    f.sync_data().expect("fdatasync");
    f.write_all(b" lost").expect("write");
    drop(f);
    m.power_loss();
    assert_eq!(read(&m.path("wal")).unwrap(), b"data");
}

#[test]
fn o_sync_and_o_dsync_writes_are_durable_at_once() {
    let Some(m) = Mounted::new() else { return };
    for (name, flag) in [("sync", libc::O_SYNC), ("dsync", libc::O_DSYNC)] {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(flag)
            .open(m.path(name))
            .expect("open");
        f.write_all(name.as_bytes()).expect("write");
    }
    sync_dir(&m.dir);
    m.power_loss();
    assert_eq!(read(&m.path("sync")).unwrap(), b"sync");
    assert_eq!(read(&m.path("dsync")).unwrap(), b"dsync");
}

#[test]
fn a_rename_without_a_directory_fsync_is_undone_and_with_one_kept() {
    let Some(m) = Mounted::new() else { return };
    std::fs::write(m.path("tmp"), b"new").expect("write");
    File::open(m.path("tmp"))
        .expect("open")
        .sync_all()
        .expect("fsync");
    std::fs::rename(m.path("tmp"), m.path("old")).expect("rename");
    assert_eq!(read(&m.path("old")).unwrap(), b"new");
    m.power_loss();
    assert_eq!(read(&m.path("old")).unwrap(), b"before the mount");
    assert_eq!(read(&m.path("tmp")), None, "tmp was never durable");
    // write, fsync, rename, fsync the directory: the new contents stay.
    std::fs::write(m.path("tmp"), b"new").expect("write");
    File::open(m.path("tmp"))
        .expect("open")
        .sync_all()
        .expect("fsync");
    std::fs::rename(m.path("tmp"), m.path("old")).expect("rename");
    sync_dir(&m.dir);
    m.power_loss();
    assert_eq!(read(&m.path("old")).unwrap(), b"new");
    assert_eq!(read(&m.path("tmp")), None);
}

#[test]
fn creates_and_unlinks_need_a_directory_fsync() {
    let Some(m) = Mounted::new() else { return };
    std::fs::create_dir(m.path("sub")).expect("mkdir");
    std::fs::remove_file(m.path("old")).expect("unlink");
    m.power_loss();
    assert!(!m.path("sub").exists(), "mkdir undone");
    assert_eq!(read(&m.path("old")).unwrap(), b"before the mount");
    std::fs::create_dir(m.path("sub")).expect("mkdir");
    std::fs::remove_file(m.path("old")).expect("unlink");
    sync_dir(&m.dir);
    m.power_loss();
    assert!(m.path("sub").is_dir(), "mkdir kept");
    assert_eq!(read(&m.path("old")), None, "unlink kept");
}

#[test]
fn unmounting_writes_the_current_tree_back() {
    let Some(mut m) = Mounted::new() else { return };
    std::fs::create_dir(m.path("sub")).expect("mkdir");
    std::fs::write(m.path("sub/f"), b"kept").expect("write");
    let mut fs = m.fs.take().expect("mounted");
    fs.unmount().expect("unmount");
    assert!(!is_mounted(&m.dir));
    assert_eq!(read(&m.path("sub/f")).unwrap(), b"kept");
    assert_eq!(read(&m.path("old")).unwrap(), b"before the mount");
    assert!(!faultline::powerfs::backing_dir(&m.dir).exists());
}
