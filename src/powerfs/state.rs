//! The durability model behind [`super::PowerFs`]: the directory tree in memory, each file's
//! bytes in an object file (`<objects>/<ino>`) written through at once, and, since each
//! object's last durable point, what a power loss must undo.
//!
//! - A **file** remembers its durable length and the old bytes of every range below it that
//!   was overwritten (or truncated away) since; [`State::sync_file`] (fsync, fdatasync, a
//!   write through an `O_SYNC`/`O_DSYNC` handle) makes its current bytes durable.
//! - A **directory** remembers its durable entry set (name → inode); [`State::sync_dir`]
//!   (fsync of the directory) makes its current entries durable. Creates, renames, unlinks,
//!   links and mkdirs change only the current set.
//! - [`State::power_loss`] sets every directory back to its durable entries, drops every
//!   inode no longer reachable from the root, and rolls every file back to its durable
//!   length and bytes.
//!
//! An inode stays (object file and all) while a current or durable entry names it or a
//! handle holds it open, so a rollback can always bring a durably-named file back. Modes,
//! owners and times are not rolled back. Errors are `libc` errno values.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// An inode number as the kernel sees it (1 is the root).
pub type Ino = u64;

/// The root directory's inode.
pub const ROOT: Ino = 1;

/// An errno value (`libc::ENOENT`, ...).
pub type Errno = i32;

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// An inode's attributes, as `getattr` reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    /// The inode number.
    pub ino: Ino,
    /// What it is.
    pub kind: Kind,
    /// Bytes (files), target length (symlinks), 0 (directories).
    pub size: u64,
    /// Permission bits.
    pub perm: u16,
    /// Current entries naming it (2 for directories).
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Last access.
    pub atime: SystemTime,
    /// Last change of the contents.
    pub mtime: SystemTime,
    /// Last change of the inode.
    pub ctime: SystemTime,
}

#[derive(Debug)]
struct Inode {
    kind: Kind,
    perm: u16,
    uid: u32,
    gid: u32,
    atime: SystemTime,
    mtime: SystemTime,
    ctime: SystemTime,
    /// Current entries naming it.
    nlink: u32,
    /// Open handles.
    open: u32,
    /// File: current length.
    size: u64,
    /// File: length at the last durable point.
    durable_len: u64,
    /// File: (offset, old bytes) of every range below `durable_len` changed since, oldest
    /// first.
    undo: Vec<(u64, Vec<u8>)>,
    /// File: the object file, opened on first use.
    object: Option<File>,
    /// Directory: current entries.
    entries: BTreeMap<OsString, Ino>,
    /// Directory: entries at its last fsync.
    durable: BTreeMap<OsString, Ino>,
    /// Symlink: its target.
    target: PathBuf,
}

impl Inode {
    fn new(kind: Kind, perm: u16, uid: u32, gid: u32) -> Inode {
        let now = SystemTime::now();
        Inode {
            kind,
            perm,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
            nlink: 0,
            open: 0,
            size: 0,
            durable_len: 0,
            undo: Vec::new(),
            object: None,
            entries: BTreeMap::new(),
            durable: BTreeMap::new(),
            target: PathBuf::new(),
        }
    }
}

/// What one [`State::power_loss`] threw away, for the fault's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lost {
    /// Files rolled back to a shorter or older durable version.
    pub files_rolled_back: usize,
    /// Bytes of file data not yet durable that were dropped or restored.
    pub bytes: u64,
    /// Directory entries created, renamed or removed since their directory's last fsync and
    /// undone.
    pub entries: usize,
    /// Inodes that no durable entry names any more (files created and never made durable).
    pub inodes_dropped: usize,
}

/// The whole filesystem: the tree, the undo records and where file bytes live.
#[derive(Debug)]
pub struct State {
    objects: PathBuf,
    nodes: HashMap<Ino, Inode>,
    next: Ino,
}

fn io_errno(e: std::io::Error) -> Errno {
    e.raw_os_error().unwrap_or(libc::EIO)
}

impl State {
    /// An empty filesystem (a durable root owned by `uid`/`gid`) keeping file bytes in
    /// `objects`, which must exist and be empty.
    pub fn new(objects: &Path, uid: u32, gid: u32) -> State {
        let mut nodes = HashMap::new();
        let mut root = Inode::new(Kind::Dir, 0o755, uid, gid);
        root.nlink = 1;
        nodes.insert(ROOT, root);
        State {
            objects: objects.to_path_buf(),
            nodes,
            next: ROOT + 1,
        }
    }

    fn node(&self, ino: Ino) -> Result<&Inode, Errno> {
        self.nodes.get(&ino).ok_or(libc::ENOENT)
    }

    fn node_mut(&mut self, ino: Ino) -> Result<&mut Inode, Errno> {
        self.nodes.get_mut(&ino).ok_or(libc::ENOENT)
    }

    fn dir(&self, ino: Ino) -> Result<&Inode, Errno> {
        let n = self.node(ino)?;
        if n.kind != Kind::Dir {
            return Err(libc::ENOTDIR);
        }
        Ok(n)
    }

    fn object_path(&self, ino: Ino) -> PathBuf {
        self.objects.join(ino.to_string())
    }

    /// The object file of file `ino`, opened on first use.
    fn object(&mut self, ino: Ino) -> Result<&File, Errno> {
        let path = self.object_path(ino);
        let n = self.node_mut(ino)?;
        if n.kind != Kind::File {
            return Err(libc::EISDIR);
        }
        if n.object.is_none() {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io_errno)?;
            n.object = Some(f);
        }
        Ok(n.object.as_ref().expect("opened above"))
    }

    /// The attributes of `ino`.
    pub fn getattr(&self, ino: Ino) -> Result<Attr, Errno> {
        let n = self.node(ino)?;
        Ok(Attr {
            ino,
            kind: n.kind,
            size: match n.kind {
                Kind::File => n.size,
                Kind::Symlink => n.target.as_os_str().len() as u64,
                Kind::Dir => 0,
            },
            perm: n.perm,
            nlink: if n.kind == Kind::Dir { 2 } else { n.nlink },
            uid: n.uid,
            gid: n.gid,
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
        })
    }

    /// The inode `name` names in directory `parent`.
    pub fn lookup(&self, parent: Ino, name: &OsStr) -> Result<Attr, Errno> {
        let ino = *self.dir(parent)?.entries.get(name).ok_or(libc::ENOENT)?;
        self.getattr(ino)
    }

    /// `parent`'s current entries, sorted by name.
    pub fn readdir(&self, parent: Ino) -> Result<Vec<(OsString, Ino, Kind)>, Errno> {
        let d = self.dir(parent)?;
        Ok(d.entries
            .iter()
            .map(|(name, ino)| {
                let kind = self.nodes.get(ino).map(|n| n.kind).unwrap_or(Kind::File);
                (name.clone(), *ino, kind)
            })
            .collect())
    }

    fn add_entry(&mut self, parent: Ino, name: &OsStr, ino: Ino) -> Result<(), Errno> {
        let d = self.node_mut(parent)?;
        if d.kind != Kind::Dir {
            return Err(libc::ENOTDIR);
        }
        if d.entries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        d.entries.insert(name.to_os_string(), ino);
        d.mtime = SystemTime::now();
        d.ctime = d.mtime;
        self.node_mut(ino)?.nlink += 1;
        Ok(())
    }

    /// Removes entry `name` of `parent` (which must exist) and returns the inode it named;
    /// the inode is collected if nothing holds it any more.
    fn remove_entry(&mut self, parent: Ino, name: &OsStr) -> Result<Ino, Errno> {
        let d = self.node_mut(parent)?;
        let ino = d.entries.remove(name).ok_or(libc::ENOENT)?;
        d.mtime = SystemTime::now();
        d.ctime = d.mtime;
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.nlink = n.nlink.saturating_sub(1);
        }
        Ok(ino)
    }

    /// Creates an inode of `kind` named `name` in `parent`.
    pub fn make(
        &mut self,
        parent: Ino,
        name: &OsStr,
        kind: Kind,
        perm: u16,
        uid: u32,
        gid: u32,
    ) -> Result<Attr, Errno> {
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(ino, Inode::new(kind, perm, uid, gid));
        if kind == Kind::File {
            // A fresh (empty) object, even if an old run left one behind.
            let path = self.object_path(ino);
            File::create(&path).map_err(io_errno)?;
        }
        self.add_entry(parent, name, ino)?;
        self.getattr(ino)
    }

    /// Creates a symlink `name` in `parent` pointing at `target`.
    pub fn symlink(
        &mut self,
        parent: Ino,
        name: &OsStr,
        target: &Path,
        uid: u32,
        gid: u32,
    ) -> Result<Attr, Errno> {
        let attr = self.make(parent, name, Kind::Symlink, 0o777, uid, gid)?;
        self.node_mut(attr.ino)?.target = target.to_path_buf();
        self.getattr(attr.ino)
    }

    /// A symlink's target.
    pub fn readlink(&self, ino: Ino) -> Result<PathBuf, Errno> {
        let n = self.node(ino)?;
        if n.kind != Kind::Symlink {
            return Err(libc::EINVAL);
        }
        Ok(n.target.clone())
    }

    /// A new name `name` in `parent` for the file `ino` (a hard link).
    pub fn link(&mut self, ino: Ino, parent: Ino, name: &OsStr) -> Result<Attr, Errno> {
        if self.node(ino)?.kind == Kind::Dir {
            return Err(libc::EPERM);
        }
        self.add_entry(parent, name, ino)?;
        self.getattr(ino)
    }

    /// Removes the non-directory entry `name` from `parent`.
    pub fn unlink(&mut self, parent: Ino, name: &OsStr) -> Result<(), Errno> {
        let ino = *self.dir(parent)?.entries.get(name).ok_or(libc::ENOENT)?;
        if self.node(ino)?.kind == Kind::Dir {
            return Err(libc::EISDIR);
        }
        self.remove_entry(parent, name)?;
        self.collect(ino);
        Ok(())
    }

    /// Removes the empty directory `name` from `parent`.
    pub fn rmdir(&mut self, parent: Ino, name: &OsStr) -> Result<(), Errno> {
        let ino = *self.dir(parent)?.entries.get(name).ok_or(libc::ENOENT)?;
        let d = self.node(ino)?;
        if d.kind != Kind::Dir {
            return Err(libc::ENOTDIR);
        }
        if !d.entries.is_empty() {
            return Err(libc::ENOTEMPTY);
        }
        self.remove_entry(parent, name)?;
        self.collect(ino);
        Ok(())
    }

    /// Renames `parent/name` to `newparent/newname` (replacing what was there, as rename(2)
    /// does); `noreplace` refuses an existing target, `exchange` swaps the two.
    #[allow(clippy::too_many_arguments)]
    pub fn rename(
        &mut self,
        parent: Ino,
        name: &OsStr,
        newparent: Ino,
        newname: &OsStr,
        noreplace: bool,
        exchange: bool,
    ) -> Result<(), Errno> {
        let src = *self.dir(parent)?.entries.get(name).ok_or(libc::ENOENT)?;
        let dst = self.dir(newparent)?.entries.get(newname).copied();
        if exchange {
            let dst = dst.ok_or(libc::ENOENT)?;
            self.node_mut(parent)?
                .entries
                .insert(name.to_os_string(), dst);
            self.node_mut(newparent)?
                .entries
                .insert(newname.to_os_string(), src);
            return Ok(());
        }
        if dst == Some(src) {
            return Ok(());
        }
        if let Some(old) = dst {
            if noreplace {
                return Err(libc::EEXIST);
            }
            let (src_dir, old_node) = (self.node(src)?.kind == Kind::Dir, self.node(old)?);
            match (src_dir, old_node.kind == Kind::Dir) {
                (true, false) => return Err(libc::ENOTDIR),
                (false, true) => return Err(libc::EISDIR),
                (true, true) if !old_node.entries.is_empty() => return Err(libc::ENOTEMPTY),
                _ => {}
            }
            self.remove_entry(newparent, newname)?;
            self.collect(old);
        }
        self.remove_entry(parent, name)?;
        self.add_entry(newparent, newname, src)?;
        Ok(())
    }

    /// Drops inode `ino` when nothing holds it: no current entry, no durable entry of any
    /// directory, no open handle.
    fn collect(&mut self, ino: Ino) {
        let Some(n) = self.nodes.get(&ino) else {
            return;
        };
        if ino == ROOT || n.nlink > 0 || n.open > 0 {
            return;
        }
        if self
            .nodes
            .values()
            .any(|d| d.durable.values().any(|i| *i == ino))
        {
            return;
        }
        self.drop_inode(ino);
    }

    fn drop_inode(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.remove(&ino) {
            if n.kind == Kind::File {
                let _ = std::fs::remove_file(self.object_path(ino));
            }
        }
    }

    /// Counts an open handle on `ino` (it stays while open, even unlinked).
    pub fn open(&mut self, ino: Ino) -> Result<(), Errno> {
        self.node_mut(ino)?.open += 1;
        Ok(())
    }

    /// Releases an open handle on `ino`.
    pub fn release(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.open = n.open.saturating_sub(1);
        }
        self.collect(ino);
    }

    /// Reads up to `size` bytes of file `ino` at `offset`.
    pub fn read(&mut self, ino: Ino, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let len = self.node(ino)?.size;
        if offset >= len {
            return Ok(Vec::new());
        }
        let n = (len - offset).min(u64::from(size)) as usize;
        let mut buf = vec![0; n];
        self.object(ino)?
            .read_exact_at(&mut buf, offset)
            .map_err(io_errno)?;
        Ok(buf)
    }

    /// Saves the bytes of `[from, to)` of file `ino` that are durable and still present,
    /// so a power loss can put them back.
    fn save(&mut self, ino: Ino, from: u64, to: u64) -> Result<(), Errno> {
        let n = self.node(ino)?;
        let keep = n.size.min(n.durable_len);
        let to = to.min(keep);
        if from >= to {
            return Ok(());
        }
        let mut old = vec![0; (to - from) as usize];
        self.object(ino)?
            .read_exact_at(&mut old, from)
            .map_err(io_errno)?;
        self.node_mut(ino)?.undo.push((from, old));
        Ok(())
    }

    /// Writes `data` at `offset` of file `ino` (through to its object at once; durable only
    /// at the next [`State::sync_file`]).
    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> Result<u32, Errno> {
        let end = offset + data.len() as u64;
        self.save(ino, offset, end)?;
        self.object(ino)?
            .write_all_at(data, offset)
            .map_err(io_errno)?;
        let n = self.node_mut(ino)?;
        n.size = n.size.max(end);
        n.mtime = SystemTime::now();
        n.ctime = n.mtime;
        Ok(data.len() as u32)
    }

    /// Sets file `ino`'s length (truncate or extend with zeros).
    pub fn set_size(&mut self, ino: Ino, size: u64) -> Result<(), Errno> {
        let old = self.node(ino)?.size;
        if size < old {
            self.save(ino, size, old)?;
        }
        self.object(ino)?.set_len(size).map_err(io_errno)?;
        let n = self.node_mut(ino)?;
        n.size = size;
        n.mtime = SystemTime::now();
        n.ctime = n.mtime;
        Ok(())
    }

    /// Changes mode, owner or times (never rolled back).
    pub fn set_meta(
        &mut self,
        ino: Ino,
        perm: Option<u16>,
        uid: Option<u32>,
        gid: Option<u32>,
        atime: Option<SystemTime>,
        mtime: Option<SystemTime>,
    ) -> Result<(), Errno> {
        let n = self.node_mut(ino)?;
        if let Some(p) = perm {
            n.perm = p;
        }
        if let Some(u) = uid {
            n.uid = u;
        }
        if let Some(g) = gid {
            n.gid = g;
        }
        if let Some(t) = atime {
            n.atime = t;
        }
        if let Some(t) = mtime {
            n.mtime = t;
        }
        n.ctime = SystemTime::now();
        Ok(())
    }

    /// fsync / fdatasync of a file, or a write through an `O_SYNC`/`O_DSYNC` handle: its
    /// current bytes become durable. On a directory it is [`State::sync_dir`].
    pub fn sync_file(&mut self, ino: Ino) -> Result<(), Errno> {
        let n = self.node_mut(ino)?;
        match n.kind {
            Kind::Dir => self.sync_dir(ino),
            Kind::Symlink => Ok(()),
            Kind::File => {
                n.durable_len = n.size;
                n.undo.clear();
                Ok(())
            }
        }
    }

    /// fsync of a directory: its current entries become durable. An inode only its old
    /// durable entries held is collected.
    pub fn sync_dir(&mut self, ino: Ino) -> Result<(), Errno> {
        let d = self.node_mut(ino)?;
        if d.kind != Kind::Dir {
            return self.sync_file(ino);
        }
        let old = std::mem::replace(&mut d.durable, d.entries.clone());
        for i in old.into_values() {
            self.collect(i);
        }
        Ok(())
    }

    /// Power loss: every directory back to its durable entries, every inode no durable
    /// entry reaches dropped, every file back to its durable bytes. Open handles are
    /// forgotten (the processes that held them are gone).
    pub fn power_loss(&mut self) -> Result<Lost, Errno> {
        let mut lost = Lost::default();
        for n in self.nodes.values_mut() {
            n.open = 0;
            n.nlink = 0;
            if n.kind == Kind::Dir {
                let changed = n
                    .entries
                    .iter()
                    .filter(|(k, v)| n.durable.get(*k) != Some(v))
                    .count()
                    + n.durable
                        .iter()
                        .filter(|(k, _)| !n.entries.contains_key(*k))
                        .count();
                lost.entries += changed;
                n.entries = n.durable.clone();
            }
        }
        // What the root reaches through durable entries survives.
        let mut reached = HashSet::from([ROOT]);
        let mut todo = vec![ROOT];
        while let Some(d) = todo.pop() {
            let children: Vec<Ino> = self
                .nodes
                .get(&d)
                .map(|n| n.entries.values().copied().collect())
                .unwrap_or_default();
            for c in children {
                if let Some(n) = self.nodes.get_mut(&c) {
                    n.nlink += 1;
                    if reached.insert(c) && n.kind == Kind::Dir {
                        todo.push(c);
                    }
                }
            }
        }
        self.nodes.get_mut(&ROOT).expect("the root stays").nlink = 1;
        let gone: Vec<Ino> = self
            .nodes
            .keys()
            .filter(|i| !reached.contains(i))
            .copied()
            .collect();
        lost.inodes_dropped = gone.len();
        for i in gone {
            self.drop_inode(i);
        }
        let files: Vec<Ino> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.kind == Kind::File)
            .map(|(i, _)| *i)
            .collect();
        for ino in files {
            let n = self.node(ino)?;
            if n.size == n.durable_len && n.undo.is_empty() {
                continue;
            }
            lost.files_rolled_back += 1;
            lost.bytes += n.size.abs_diff(n.durable_len)
                + n.undo.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
            let durable_len = n.durable_len;
            let undo = std::mem::take(&mut self.node_mut(ino)?.undo);
            let f = self.object(ino)?;
            f.set_len(durable_len).map_err(io_errno)?;
            for (offset, bytes) in undo.iter().rev() {
                f.write_all_at(bytes, *offset).map_err(io_errno)?;
            }
            self.node_mut(ino)?.size = durable_len;
        }
        Ok(lost)
    }

    /// Copies the tree at `from` (a real directory) in as durable content under `parent`.
    pub fn import(&mut self, from: &Path, parent: Ino) -> std::io::Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let errno = |e: Errno| std::io::Error::from_raw_os_error(e);
        let mut entries: Vec<_> = std::fs::read_dir(from)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let meta = std::fs::symlink_metadata(e.path())?;
            let perm = (meta.permissions().mode() & 0o7777) as u16;
            let name = e.file_name();
            let t = meta.file_type();
            if t.is_dir() {
                let a = self
                    .make(parent, &name, Kind::Dir, perm, meta.uid(), meta.gid())
                    .map_err(errno)?;
                self.import(&e.path(), a.ino)?;
            } else if t.is_symlink() {
                let target = std::fs::read_link(e.path())?;
                self.symlink(parent, &name, &target, meta.uid(), meta.gid())
                    .map_err(errno)?;
            } else if t.is_file() {
                let a = self
                    .make(parent, &name, Kind::File, perm, meta.uid(), meta.gid())
                    .map_err(errno)?;
                std::fs::copy(e.path(), self.object_path(a.ino))?;
                let n = self.node_mut(a.ino).map_err(errno)?;
                n.size = meta.len();
                n.durable_len = meta.len();
            }
        }
        self.sync_dir(parent).map_err(errno)
    }

    /// Writes the current tree under `parent` out as real files and directories at `to`
    /// (which must exist): what the node left, for people and later tools, once unmounted.
    pub fn export(&mut self, parent: Ino, to: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let errno = |e: Errno| std::io::Error::from_raw_os_error(e);
        for (name, ino, kind) in self.readdir(parent).map_err(errno)? {
            let path = to.join(&name);
            let perm = u32::from(self.node(ino).map_err(errno)?.perm);
            match kind {
                Kind::Dir => {
                    std::fs::create_dir_all(&path)?;
                    self.export(ino, &path)?;
                }
                Kind::Symlink => {
                    std::os::unix::fs::symlink(self.readlink(ino).map_err(errno)?, &path)?;
                    continue;
                }
                Kind::File => {
                    let size = self.node(ino).map_err(errno)?.size;
                    std::fs::copy(self.object_path(ino), &path)?;
                    OpenOptions::new().write(true).open(&path)?.set_len(size)?;
                }
            }
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(perm))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> (tempfile::TempDir, State) {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = State::new(dir.path(), 0, 0);
        (dir, s)
    }

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    fn file(s: &mut State, parent: Ino, n: &str) -> Ino {
        s.make(parent, name(n), Kind::File, 0o644, 0, 0)
            .expect("create")
            .ino
    }

    fn contents(s: &mut State, parent: Ino, n: &str) -> Option<Vec<u8>> {
        let a = s.lookup(parent, name(n)).ok()?;
        Some(s.read(a.ino, 0, u32::MAX).expect("read"))
    }

    #[test]
    fn unsynced_appends_and_overwrites_are_undone_and_synced_ones_kept() {
        let (_d, mut s) = fresh();
        let f = file(&mut s, ROOT, "wal");
        s.sync_dir(ROOT).expect("dir sync");
        s.write(f, 0, b"hello world").expect("write");
        s.sync_file(f).expect("fsync");
        s.write(f, 0, b"HELLO").expect("overwrite");
        s.write(f, 11, b" and more").expect("append");
        s.write(f, 2, b"__").expect("overwrite again");
        assert_eq!(
            contents(&mut s, ROOT, "wal").unwrap(),
            b"HE__O world and more"
        );
        let lost = s.power_loss().expect("power loss");
        assert_eq!(contents(&mut s, ROOT, "wal").unwrap(), b"hello world");
        assert_eq!(lost.files_rolled_back, 1);
        // Truncation below the durable length comes back too.
        s.set_size(f, 3).expect("truncate");
        s.write(f, 5, b"xy").expect("write past the hole");
        s.power_loss().expect("power loss");
        assert_eq!(contents(&mut s, ROOT, "wal").unwrap(), b"hello world");
    }

    #[test]
    fn entries_need_a_directory_sync_and_unlinked_durable_files_come_back() {
        let (_d, mut s) = fresh();
        let a = file(&mut s, ROOT, "a");
        s.write(a, 0, b"A").expect("write");
        s.sync_file(a).expect("fsync");
        // Never made durable in its directory: gone.
        let lost = s.power_loss().expect("power loss");
        assert_eq!(contents(&mut s, ROOT, "a"), None);
        assert_eq!((lost.entries, lost.inodes_dropped), (1, 1));
        let a = file(&mut s, ROOT, "a");
        s.write(a, 0, b"A").expect("write");
        s.sync_file(a).expect("fsync");
        s.sync_dir(ROOT).expect("dir sync");
        // A rename over it and an unlink, never synced: both undone.
        let tmp = file(&mut s, ROOT, "a.tmp");
        s.write(tmp, 0, b"B").expect("write");
        s.sync_file(tmp).expect("fsync");
        s.rename(ROOT, name("a.tmp"), ROOT, name("a"), false, false)
            .expect("rename");
        assert_eq!(contents(&mut s, ROOT, "a").unwrap(), b"B");
        s.power_loss().expect("power loss");
        assert_eq!(contents(&mut s, ROOT, "a").unwrap(), b"A");
        assert_eq!(contents(&mut s, ROOT, "a.tmp"), None);
        s.unlink(ROOT, name("a")).expect("unlink");
        s.power_loss().expect("power loss");
        assert_eq!(contents(&mut s, ROOT, "a").unwrap(), b"A");
        // Synced, the rename stays.
        let tmp = file(&mut s, ROOT, "a.tmp");
        s.write(tmp, 0, b"C").expect("write");
        s.sync_file(tmp).expect("fsync");
        s.rename(ROOT, name("a.tmp"), ROOT, name("a"), false, false)
            .expect("rename");
        s.sync_dir(ROOT).expect("dir sync");
        s.power_loss().expect("power loss");
        assert_eq!(contents(&mut s, ROOT, "a").unwrap(), b"C");
        assert_eq!(s.readdir(ROOT).expect("list").len(), 1);
    }

    #[test]
    fn a_new_directory_keeps_only_what_was_synced_in_it() {
        let (_d, mut s) = fresh();
        let d = s
            .make(ROOT, name("d"), Kind::Dir, 0o755, 0, 0)
            .expect("mkdir")
            .ino;
        s.sync_dir(ROOT).expect("root sync");
        let f = file(&mut s, d, "f");
        s.write(f, 0, b"x").expect("write");
        s.sync_file(f).expect("fsync");
        s.power_loss().expect("power loss");
        assert!(s.lookup(ROOT, name("d")).is_ok());
        assert_eq!(s.readdir(d).expect("list"), []);
    }

    #[test]
    fn import_is_durable_and_export_writes_the_current_tree() {
        let src = tempfile::tempdir().expect("src");
        std::fs::create_dir(src.path().join("sub")).expect("mkdir");
        std::fs::write(src.path().join("sub/x"), b"xyz").expect("write");
        let (_d, mut s) = fresh();
        s.import(src.path(), ROOT).expect("import");
        let sub = s.lookup(ROOT, name("sub")).expect("sub").ino;
        let x = s.lookup(sub, name("x")).expect("x").ino;
        s.write(x, 3, b"!").expect("append");
        s.power_loss().expect("power loss");
        assert_eq!(contents(&mut s, sub, "x").unwrap(), b"xyz");
        s.write(x, 0, b"X").expect("write");
        let out = tempfile::tempdir().expect("out");
        s.export(ROOT, out.path()).expect("export");
        assert_eq!(
            std::fs::read(out.path().join("sub/x")).expect("read"),
            b"Xyz"
        );
    }
}
