//! The FUSE file system: a pass-through to a backing directory whose unsynced writes and
//! directory changes live in memory until fsync.
//!
//! Data: each file's writes and size changes since its last fsync are a [`Dirty`] page cache in
//! front of the backing file; `fsync`/`fdatasync` write them back and fsync the backing file.
//! When the dirty bytes of the mount pass a limit, the largest file is written back without an
//! fsync, as a kernel's writeback would (allowed: an unsynced write may reach the disk early,
//! it just may not be relied on). Directory changes go to the backing tree at once and into the
//! [`Journal`]; an fsync of a directory commits them.
//!
//! A power cut ([`State::power_loss`]) drops every dirty page and undoes every uncommitted
//! directory change, optionally writing a prefix of the last write first (a torn write).

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, FUSE_ROOT_ID,
};

use crate::cache::{Backing, Dirty};
use crate::journal::Journal;

/// Attributes and entries are never cached by the kernel: every change goes through this
/// process, and a stale size after a power cut would hide it.
const TTL: Duration = Duration::ZERO;

/// Counters, for tests and the harness's report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// `fsync`/`fdatasync` calls on files.
    pub fsyncs: u64,
    /// `fsync` calls on directories (each commits the journal).
    pub dir_syncs: u64,
    /// Write-backs forced by the dirty-memory limit (no fsync).
    pub early_writebacks: u64,
}

/// A file or directory this mount has handed an inode number for.
#[derive(Debug, Default)]
struct Node {
    /// (parent inode, name) of each hard link; empty once unlinked (it may still be open).
    links: BTreeSet<(u64, OsString)>,
    /// The backing file, open read-write, while the node is open or has dirty pages.
    file: Option<File>,
    /// Open handles.
    opens: u64,
    /// Inode number of the backing file.
    backing_ino: u64,
}

struct FileBacking<'a>(&'a File);

impl Backing for FileBacking<'_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

/// Everything the mount knows, shared between the FUSE session and the signal handler.
#[derive(Debug)]
pub struct State {
    root: PathBuf,
    nodes: HashMap<u64, Node>,
    by_backing: HashMap<u64, u64>,
    next_ino: u64,
    dirty: HashMap<u64, Dirty>,
    dirty_bytes: u64,
    writeback_limit: u64,
    last_written: Option<u64>,
    journal: Journal,
    dead: bool,
    stats: Stats,
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

impl State {
    /// A mount of `root` whose removed entries wait in `trash` (same file system, outside
    /// `root`), writing back early once `writeback_limit` bytes are dirty.
    pub fn new(root: PathBuf, trash: PathBuf, writeback_limit: u64) -> io::Result<Self> {
        let meta = fs::metadata(&root)?;
        let mut nodes = HashMap::new();
        nodes.insert(
            FUSE_ROOT_ID,
            Node {
                backing_ino: meta.ino(),
                ..Node::default()
            },
        );
        let mut by_backing = HashMap::new();
        by_backing.insert(meta.ino(), FUSE_ROOT_ID);
        Ok(Self {
            root,
            nodes,
            by_backing,
            next_ino: FUSE_ROOT_ID + 1,
            dirty: HashMap::new(),
            dirty_bytes: 0,
            writeback_limit,
            last_written: None,
            journal: Journal::new(trash)?,
            dead: false,
            stats: Stats::default(),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Bytes written and not yet written back.
    pub fn dirty_bytes(&self) -> u64 {
        self.dirty_bytes
    }

    /// Directory changes not yet committed.
    pub fn pending_dir_changes(&self) -> usize {
        self.journal.pending()
    }

    fn path(&self, ino: u64) -> io::Result<PathBuf> {
        if ino == FUSE_ROOT_ID {
            return Ok(self.root.clone());
        }
        let node = self
            .nodes
            .get(&ino)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        let (parent, name) = node
            .links
            .first()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        Ok(self.path(*parent)?.join(name))
    }

    fn child(&self, parent: u64, name: &OsStr) -> io::Result<PathBuf> {
        Ok(self.path(parent)?.join(name))
    }

    /// The inode for the backing entry `meta` found at (parent, name), adding the link.
    fn ino_for(&mut self, meta: &fs::Metadata, parent: u64, name: &OsStr) -> u64 {
        let ino = match self.by_backing.get(&meta.ino()) {
            Some(&ino) => ino,
            None => {
                let ino = self.next_ino;
                self.next_ino += 1;
                self.by_backing.insert(meta.ino(), ino);
                self.nodes.insert(
                    ino,
                    Node {
                        backing_ino: meta.ino(),
                        ..Node::default()
                    },
                );
                ino
            }
        };
        let node = self.nodes.get_mut(&ino).expect("node of a mapped inode");
        node.links.insert((parent, name.to_os_string()));
        ino
    }

    /// Moves the link (parent, name) of whatever node has it to (newparent, newname); false
    /// if no node has it.
    fn move_link(&mut self, parent: u64, name: &OsStr, newparent: u64, newname: &OsStr) -> bool {
        let key = (parent, name.to_os_string());
        let found = self.nodes.values_mut().find(|n| n.links.contains(&key));
        match found {
            Some(node) => {
                node.links.remove(&key);
                node.links.insert((newparent, newname.to_os_string()));
                true
            }
            None => false,
        }
    }

    /// Drops the link (parent, name) from whatever node has it.
    fn unlink_node(&mut self, parent: u64, name: &OsStr) {
        let key = (parent, name.to_os_string());
        let found = self.nodes.iter_mut().find(|(_, n)| n.links.contains(&key));
        if let Some((_, node)) = found {
            node.links.remove(&key);
            if node.links.is_empty() {
                // The backing inode lives on in the trash; a new entry never shares its number
                // while this mapping could still match.
                self.by_backing.remove(&node.backing_ino);
            }
        }
    }

    fn attr(&self, ino: u64, meta: &fs::Metadata) -> FileAttr {
        let kind = if meta.is_dir() {
            FileType::Directory
        } else if meta.file_type().is_symlink() {
            FileType::Symlink
        } else {
            FileType::RegularFile
        };
        let size = self.dirty.get(&ino).map_or(meta.len(), Dirty::size);
        let time = |secs: i64, nsecs: i64| {
            UNIX_EPOCH + Duration::new(secs.max(0) as u64, nsecs.clamp(0, 999_999_999) as u32)
        };
        FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: time(meta.ctime(), meta.ctime_nsec()),
            kind,
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: 4096,
            flags: 0,
        }
    }

    fn metadata(&self, ino: u64) -> io::Result<fs::Metadata> {
        if let Some(file) = self.nodes.get(&ino).and_then(|n| n.file.as_ref()) {
            return file.metadata();
        }
        fs::symlink_metadata(self.path(ino)?)
    }

    /// Opens the backing file of `ino` unless it is open.
    fn ensure_open(&mut self, ino: u64) -> io::Result<()> {
        if self.nodes.get(&ino).is_some_and(|n| n.file.is_none()) {
            let path = self.path(ino)?;
            let file = OpenOptions::new().read(true).write(true).open(path)?;
            self.nodes.get_mut(&ino).expect("checked above").file = Some(file);
        }
        Ok(())
    }

    /// The open backing file of `ino` (see [`Self::ensure_open`]).
    fn open_file(&self, ino: u64) -> io::Result<&File> {
        self.nodes
            .get(&ino)
            .and_then(|n| n.file.as_ref())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }

    fn file(&mut self, ino: u64) -> io::Result<&File> {
        self.ensure_open(ino)?;
        self.open_file(ino)
    }

    fn dirty_mut(&mut self, ino: u64) -> io::Result<(&File, &mut Dirty)> {
        self.ensure_open(ino)?;
        let file = self
            .nodes
            .get(&ino)
            .and_then(|n| n.file.as_ref())
            .expect("opened above");
        let len = file.metadata()?.len();
        let dirty = self.dirty.entry(ino).or_insert_with(|| Dirty::new(len));
        Ok((file, dirty))
    }

    fn read(&mut self, ino: u64, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        self.ensure_open(ino)?;
        let file = self.open_file(ino)?;
        match self.dirty.get(&ino) {
            Some(dirty) => dirty.read(&FileBacking(file), offset, len),
            None => {
                let size = file.metadata()?.len();
                Dirty::new(size).read(&FileBacking(file), offset, len)
            }
        }
    }

    fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> io::Result<()> {
        let (file, dirty) = self.dirty_mut(ino)?;
        let before = dirty.dirty_bytes();
        dirty.write(&FileBacking(file), offset, data)?;
        let after = dirty.dirty_bytes();
        self.dirty_bytes = self.dirty_bytes + after - before;
        self.last_written = Some(ino);
        if self.dirty_bytes > self.writeback_limit {
            let largest = self
                .dirty
                .iter()
                .max_by_key(|(_, d)| d.dirty_bytes())
                .map(|(&i, _)| i);
            if let Some(ino) = largest {
                self.write_back(ino)?;
                self.stats.early_writebacks += 1;
            }
        }
        Ok(())
    }

    fn set_size(&mut self, ino: u64, size: u64) -> io::Result<()> {
        let (_, dirty) = self.dirty_mut(ino)?;
        let before = dirty.dirty_bytes();
        dirty.set_size(size);
        let after = dirty.dirty_bytes();
        self.dirty_bytes = self.dirty_bytes + after - before;
        Ok(())
    }

    fn write_back(&mut self, ino: u64) -> io::Result<()> {
        if let Some(mut dirty) = self.dirty.remove(&ino) {
            let bytes = dirty.dirty_bytes();
            self.ensure_open(ino)?;
            let file = self.open_file(ino)?;
            dirty.write_back(&FileBacking(file))?;
            self.dirty_bytes -= bytes;
        }
        Ok(())
    }

    fn fsync(&mut self, ino: u64, datasync: bool) -> io::Result<()> {
        self.write_back(ino)?;
        let file = self.file(ino)?;
        if datasync {
            file.sync_data()?;
        } else {
            file.sync_all()?;
        }
        self.stats.fsyncs += 1;
        Ok(())
    }

    fn release(&mut self, ino: u64) {
        let has_dirty = self.dirty.contains_key(&ino);
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.opens = node.opens.saturating_sub(1);
            if node.opens == 0 && !has_dirty {
                node.file = None;
            }
        }
    }

    /// A clean stop: everything written reaches the disk, every directory change is committed.
    pub fn sync_all(&mut self) -> io::Result<()> {
        let inos: Vec<u64> = self.dirty.keys().copied().collect();
        for ino in inos {
            self.fsync(ino, false)?;
        }
        self.journal.commit()
    }

    /// A power cut: unsynced data and uncommitted directory changes are lost. With
    /// `torn_keep`, the first that many bytes of the last write reach the disk first. After
    /// this every operation fails with `EIO`. Returns the bytes of the torn write kept.
    pub fn power_loss(&mut self, torn_keep: Option<u64>) -> io::Result<u64> {
        self.dead = true;
        let mut kept = 0;
        if let (Some(keep), Some(ino)) = (torn_keep, self.last_written) {
            if let (Some(dirty), Some(file)) = (
                self.dirty.get(&ino),
                self.nodes.get(&ino).and_then(|n| n.file.as_ref()),
            ) {
                kept = dirty.tear_last_write(&FileBacking(file), keep)?;
                // The torn bytes reached the platter; nothing else did.
                file.sync_data()?;
            }
        }
        self.dirty.clear();
        self.dirty_bytes = 0;
        for node in self.nodes.values_mut() {
            node.file = None;
        }
        self.journal.undo_all()?;
        Ok(kept)
    }
}

/// The FUSE side: every call locks the shared [`State`].
#[derive(Debug, Clone)]
pub struct FaultFs(pub Arc<Mutex<State>>);

impl FaultFs {
    fn state(&self) -> Option<MutexGuard<'_, State>> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (!guard.dead).then_some(guard)
    }
}

macro_rules! live {
    ($self:ident, $reply:ident) => {
        match $self.state() {
            Some(s) => s,
            None => return $reply.error(libc::EIO),
        }
    };
}

macro_rules! check {
    ($e:expr, $reply:ident) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $reply.error(errno(&e)),
        }
    };
}

fn entry_reply(s: &mut State, parent: u64, name: &OsStr, path: &Path, reply: ReplyEntry) {
    let meta = check!(fs::symlink_metadata(path), reply);
    let ino = s.ino_for(&meta, parent, name);
    reply.entry(&TTL, &s.attr(ino, &meta), 0);
}

impl State {
    /// Records `path` (just made as `name` in `parent`) as an uncommitted creation, which a
    /// power cut undoes unless its directory is fsynced first, and answers with its entry.
    fn created(&mut self, parent: u64, name: &OsStr, path: PathBuf, reply: ReplyEntry) {
        self.journal.created(path.clone());
        entry_reply(self, parent, name, &path, reply);
    }
}

impl Filesystem for FaultFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let mut s = live!(self, reply);
        let path = check!(s.child(parent, name), reply);
        entry_reply(&mut s, parent, name, &path, reply);
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let s = live!(self, reply);
        let meta = check!(s.metadata(ino), reply);
        reply.attr(&TTL, &s.attr(ino, &meta));
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let mut s = live!(self, reply);
        if let Some(mode) = mode {
            let path = check!(s.path(ino), reply);
            check!(
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777)),
                reply
            );
        }
        if uid.is_some() || gid.is_some() {
            let path = check!(s.path(ino), reply);
            check!(std::os::unix::fs::lchown(&path, uid, gid), reply);
        }
        if let Some(size) = size {
            check!(s.set_size(ino, size), reply);
        }
        if atime.is_some() || mtime.is_some() {
            let at = |t: TimeOrNow| match t {
                TimeOrNow::SpecificTime(t) => t,
                TimeOrNow::Now => SystemTime::now(),
            };
            let mut times = fs::FileTimes::new();
            if let Some(t) = atime {
                times = times.set_accessed(at(t));
            }
            if let Some(t) = mtime {
                times = times.set_modified(at(t));
            }
            let meta = check!(s.metadata(ino), reply);
            if meta.is_file() {
                let file = check!(s.file(ino), reply);
                check!(file.set_times(times), reply);
            }
        }
        let meta = check!(s.metadata(ino), reply);
        reply.attr(&TTL, &s.attr(ino, &meta));
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        let s = live!(self, reply);
        let path = check!(s.path(ino), reply);
        let target = check!(fs::read_link(path), reply);
        reply.data(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()));
    }

    fn mknod(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let mut s = live!(self, reply);
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(libc::EPERM);
        }
        let path = check!(s.child(parent, name), reply);
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode & !umask & 0o7777)
            .open(&path);
        check!(created, reply);
        s.created(parent, name, path, reply);
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = live!(self, reply);
        let path = check!(s.child(parent, name), reply);
        check!(
            fs::DirBuilder::new()
                .mode(mode & !umask & 0o7777)
                .create(&path),
            reply
        );
        s.created(parent, name, path, reply);
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut s = live!(self, reply);
        let path = check!(s.child(parent, name), reply);
        let meta = check!(fs::symlink_metadata(&path), reply);
        if meta.is_dir() {
            return reply.error(libc::EISDIR);
        }
        check!(s.journal.remove(&path), reply);
        s.unlink_node(parent, name);
        reply.ok();
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut s = live!(self, reply);
        let path = check!(s.child(parent, name), reply);
        let meta = check!(fs::symlink_metadata(&path), reply);
        if !meta.is_dir() {
            return reply.error(libc::ENOTDIR);
        }
        if check!(fs::read_dir(&path), reply).next().is_some() {
            return reply.error(libc::ENOTEMPTY);
        }
        check!(s.journal.remove(&path), reply);
        s.unlink_node(parent, name);
        reply.ok();
    }

    fn symlink(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let mut s = live!(self, reply);
        let path = check!(s.child(parent, link_name), reply);
        check!(std::os::unix::fs::symlink(target, &path), reply);
        s.created(parent, link_name, path, reply);
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let mut s = live!(self, reply);
        if flags != 0 {
            return reply.error(libc::EINVAL);
        }
        let from = check!(s.child(parent, name), reply);
        let to = check!(s.child(newparent, newname), reply);
        let meta = check!(fs::symlink_metadata(&from), reply);
        check!(s.journal.rename(&from, &to), reply);
        s.unlink_node(newparent, newname);
        // The entry keeps its inode number, as the kernel keeps the inode of the dentry it
        // moves: the paths of a renamed directory's children go through it.
        if !s.move_link(parent, name, newparent, newname) {
            s.ino_for(&meta, newparent, newname);
        }
        reply.ok();
    }

    fn link(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let mut s = live!(self, reply);
        let from = check!(s.path(ino), reply);
        let to = check!(s.child(newparent, newname), reply);
        check!(fs::hard_link(&from, &to), reply);
        s.created(newparent, newname, to, reply);
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        let mut s = live!(self, reply);
        check!(s.file(ino), reply);
        if let Some(node) = s.nodes.get_mut(&ino) {
            node.opens += 1;
        }
        reply.opened(0, 0);
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let mut s = live!(self, reply);
        let data = check!(s.read(ino, offset.max(0) as u64, u64::from(size)), reply);
        reply.data(&data);
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let mut s = live!(self, reply);
        check!(s.write(ino, offset.max(0) as u64, data), reply);
        reply.written(data.len() as u32);
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _owner: u64, reply: ReplyEmpty) {
        // Closing a file is not a sync.
        let _s = live!(self, reply);
        reply.ok();
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = live!(self, reply);
        s.release(ino);
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, datasync: bool, reply: ReplyEmpty) {
        let mut s = live!(self, reply);
        check!(s.fsync(ino, datasync), reply);
        reply.ok();
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let s = live!(self, reply);
        let path = check!(s.path(ino), reply);
        let mut entries: Vec<(u64, FileType, OsString)> = vec![
            (ino, FileType::Directory, ".".into()),
            (ino, FileType::Directory, "..".into()),
        ];
        for entry in check!(fs::read_dir(&path), reply) {
            let entry = check!(entry, reply);
            let meta = check!(entry.metadata(), reply);
            let kind = if meta.is_dir() {
                FileType::Directory
            } else if meta.file_type().is_symlink() {
                FileType::Symlink
            } else {
                FileType::RegularFile
            };
            // The number is informational (lookups assign the real one); never 0, which some
            // readers take for a deleted entry.
            let shown = s
                .by_backing
                .get(&meta.ino())
                .copied()
                .unwrap_or(meta.ino() | 1 << 62);
            entries.push((shown, kind, entry.file_name()));
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset.max(0) as usize) {
            if reply.add(ino, (i + 1) as i64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = live!(self, reply);
        check!(s.journal.commit(), reply);
        s.stats.dir_syncs += 1;
        reply.ok();
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        // Plenty of room: the backing file system is what fills up.
        reply.statfs(1 << 30, 1 << 29, 1 << 29, 1 << 24, 1 << 23, 4096, 255, 4096);
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        let _s = live!(self, reply);
        reply.ok();
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = live!(self, reply);
        let path = check!(s.child(parent, name), reply);
        let perm = mode & !umask & 0o7777;
        let new = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(perm)
            .open(&path);
        let file = match new {
            Ok(file) => {
                s.journal.created(path.clone());
                file
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && flags & libc::O_EXCL == 0 => {
                check!(OpenOptions::new().read(true).write(true).open(&path), reply)
            }
            Err(e) => return reply.error(errno(&e)),
        };
        let meta = check!(file.metadata(), reply);
        let ino = s.ino_for(&meta, parent, name);
        if let Some(node) = s.nodes.get_mut(&ino) {
            node.file.get_or_insert(file);
            node.opens += 1;
        }
        if flags & libc::O_TRUNC != 0 {
            check!(s.set_size(ino, 0), reply);
        }
        let meta = check!(s.metadata(ino), reply);
        reply.created(&TTL, &s.attr(ino, &meta), 0, 0, 0);
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut s = live!(self, reply);
        match mode {
            // Reserve space: the file grows, with zeros.
            0 => {
                let end = (offset.max(0) + length.max(0)) as u64;
                let size = check!(s.metadata(ino), reply).len();
                let size = s.dirty.get(&ino).map_or(size, Dirty::size);
                if end > size {
                    check!(s.set_size(ino, end), reply);
                }
                reply.ok();
            }
            // FALLOC_FL_KEEP_SIZE: a reservation only; nothing to lose.
            libc::FALLOC_FL_KEEP_SIZE => reply.ok(),
            _ => reply.error(libc::EOPNOTSUPP),
        }
    }
}
