//! Directory changes not yet made durable, and how to take them back.
//!
//! Every change to a directory (a created file, directory, link or symlink, a removal, a
//! rename) is applied to the backing directory at once, so the live view is the backing tree,
//! and recorded here with what undoes it. A removed or replaced entry is not deleted: it is
//! moved into the trash directory, so undoing the removal moves it back.
//!
//! An fsync of any directory commits the whole journal (the entries become durable and the
//! trash is emptied), the way a journaling file system commits its metadata in order. A power
//! cut undoes the uncommitted entries, newest first, leaving the tree of the last commit.
//! This is stricter than ext4 or XFS, which may also commit metadata when a file is fsynced,
//! and so it catches a program that never fsyncs a directory after creating or renaming in it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One uncommitted directory change, as the change that undoes it.
#[derive(Debug)]
enum Undo {
    /// An entry was created at this path: remove it.
    Remove(PathBuf),
    /// An entry was moved from `.0` to `.1` (a rename, or a removal into the trash): move it
    /// back.
    MoveBack(PathBuf, PathBuf),
}

/// The uncommitted directory changes of one mount.
#[derive(Debug)]
pub struct Journal {
    trash: PathBuf,
    undo: Vec<Undo>,
    next_trash: u64,
}

impl Journal {
    /// A journal whose removed entries wait in `trash` (on the backing directory's file
    /// system, outside the tree). Creates `trash` empty.
    pub fn new(trash: PathBuf) -> io::Result<Self> {
        if trash.exists() {
            fs::remove_dir_all(&trash)?;
        }
        fs::create_dir_all(&trash)?;
        Ok(Self {
            trash,
            undo: Vec::new(),
            next_trash: 0,
        })
    }

    /// Changes not yet committed.
    pub fn pending(&self) -> usize {
        self.undo.len()
    }

    /// Records that `path` was just created.
    pub fn created(&mut self, path: PathBuf) {
        self.undo.push(Undo::Remove(path));
    }

    /// Removes the entry at `path` (a file, symlink or empty directory) by moving it into the
    /// trash.
    pub fn remove(&mut self, path: &Path) -> io::Result<()> {
        let parked = self.trash.join(self.next_trash.to_string());
        self.next_trash += 1;
        fs::rename(path, &parked)?;
        self.undo.push(Undo::MoveBack(parked, path.to_path_buf()));
        Ok(())
    }

    /// Renames `from` to `to`; an entry already at `to` goes to the trash first.
    pub fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        if fs::symlink_metadata(to).is_ok() {
            let from_dir = fs::symlink_metadata(from)?.is_dir();
            let to_meta = fs::symlink_metadata(to)?;
            if to_meta.is_dir() != from_dir {
                return Err(io::Error::from_raw_os_error(if from_dir {
                    libc::ENOTDIR
                } else {
                    libc::EISDIR
                }));
            }
            if to_meta.is_dir() && fs::read_dir(to)?.next().is_some() {
                return Err(io::Error::from_raw_os_error(libc::ENOTEMPTY));
            }
            self.remove(to)?;
        }
        if let Err(e) = fs::rename(from, to) {
            // Put back what the rename would have replaced.
            if let Some(Undo::MoveBack(parked, orig)) = self.undo.last() {
                if orig == to {
                    fs::rename(parked, orig)?;
                    self.undo.pop();
                }
            }
            return Err(e);
        }
        self.undo
            .push(Undo::MoveBack(to.to_path_buf(), from.to_path_buf()));
        Ok(())
    }

    /// Makes every recorded change durable: fsyncs the directories they touched, then empties
    /// the trash.
    pub fn commit(&mut self) -> io::Result<()> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for undo in &self.undo {
            let paths: &[&PathBuf] = match undo {
                Undo::Remove(p) => &[p],
                Undo::MoveBack(a, b) => &[a, b],
            };
            for p in paths {
                if let Some(parent) = p.parent() {
                    if !dirs.iter().any(|d| d == parent) {
                        dirs.push(parent.to_path_buf());
                    }
                }
            }
        }
        for dir in &dirs {
            if let Ok(d) = fs::File::open(dir) {
                d.sync_all()?;
            }
        }
        self.undo.clear();
        for entry in fs::read_dir(&self.trash)? {
            let path = entry?.path();
            if fs::symlink_metadata(&path)?.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Takes back every uncommitted change, newest first.
    pub fn undo_all(&mut self) -> io::Result<()> {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Remove(path) => {
                    let meta = fs::symlink_metadata(&path)?;
                    if meta.is_dir() {
                        // Entries created inside it were undone before it.
                        fs::remove_dir(&path)?;
                    } else {
                        fs::remove_file(&path)?;
                    }
                }
                Undo::MoveBack(from, to) => fs::rename(&from, &to)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_restores_the_tree_of_the_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("kept"), b"old").unwrap();
        fs::write(root.join("replaced"), b"before").unwrap();
        let mut j = Journal::new(dir.path().join("trash")).unwrap();

        fs::write(root.join("new"), b"x").unwrap();
        j.created(root.join("new"));
        j.rename(&root.join("new"), &root.join("replaced")).unwrap();
        j.remove(&root.join("kept")).unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        j.created(root.join("sub"));
        fs::write(root.join("sub/f"), b"y").unwrap();
        j.created(root.join("sub/f"));
        assert_eq!(j.pending(), 6);

        j.undo_all().unwrap();
        let mut names: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["kept", "replaced"]);
        assert_eq!(fs::read(root.join("kept")).unwrap(), b"old");
        assert_eq!(fs::read(root.join("replaced")).unwrap(), b"before");
    }

    #[test]
    fn committed_changes_survive_and_the_trash_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("gone"), b"1").unwrap();
        let mut j = Journal::new(dir.path().join("trash")).unwrap();
        j.remove(&root.join("gone")).unwrap();
        fs::write(root.join("a"), b"2").unwrap();
        j.created(root.join("a"));
        j.commit().unwrap();
        fs::write(root.join("b"), b"3").unwrap();
        j.created(root.join("b"));
        j.undo_all().unwrap();
        assert!(!root.join("gone").exists());
        assert!(root.join("a").exists());
        assert!(!root.join("b").exists());
        assert_eq!(fs::read_dir(dir.path().join("trash")).unwrap().count(), 0);
    }

    #[test]
    fn a_rename_onto_a_non_empty_directory_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("a")).unwrap();
        fs::create_dir_all(root.join("b")).unwrap();
        fs::write(root.join("b/f"), b"").unwrap();
        let mut j = Journal::new(dir.path().join("trash")).unwrap();
        let err = j.rename(&root.join("a"), &root.join("b")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTEMPTY));
        assert_eq!(j.pending(), 0);
        assert!(root.join("a").is_dir() && root.join("b/f").exists());
    }
}
