//! `tally-snapshot.meta`: what a snapshot directory holds, written last, read first.
//!
//! Postcard of [`Manifest`]: format version, cluster id, openraft's snapshot meta, and the list of
//! the checkpoint's files (sorted by name) with their sizes and BLAKE3 sums. The same bytes go
//! over the wire at the head of a snapshot stream, so the receiver can check every file it is
//! sent against them.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SnapshotMeta;
use crate::codec;

/// File name of the manifest inside a snapshot directory.
pub const MANIFEST_FILE: &str = "tally-snapshot.meta";

/// Format version of [`Manifest`] (and of the directory it describes); bump on any change.
pub const FORMAT_VERSION: u32 = 1;

/// Most files a manifest may list: a sanity bound on what a peer can make us create.
const MAX_FILES: usize = 100_000;

/// The description of one snapshot directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the writer.
    pub version: u32,
    /// The cluster the snapshot belongs to; a node refuses a snapshot of another cluster.
    pub cluster_id: u128,
    /// openraft's meta: the last log id the snapshot contains and the membership in force.
    pub meta: SnapshotMeta,
    /// The checkpoint's files, sorted by name, without the manifest itself.
    pub files: Vec<FileEntry>,
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Plain file name (no separators), unique within the snapshot.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 of the contents.
    pub blake3: [u8; 32],
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Whether `name` is a plain file name that cannot escape its directory.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

impl Manifest {
    /// Lists and hashes the files of checkpoint `dir` (RocksDB checkpoints are flat).
    pub fn scan(dir: &Path, cluster_id: u128, meta: SnapshotMeta) -> io::Result<Self> {
        let mut names = Vec::new();
        for e in fs::read_dir(dir)? {
            let e = e?;
            let name = e
                .file_name()
                .into_string()
                .map_err(|n| invalid(format!("checkpoint file name {n:?}")))?;
            if !e.file_type()?.is_file() {
                return Err(invalid(format!("checkpoint holds a non-file {name:?}")));
            }
            if name != MANIFEST_FILE {
                names.push(name);
            }
        }
        names.sort();
        let mut files = Vec::with_capacity(names.len());
        for name in names {
            let (size, blake3) = hash_file(&dir.join(&name))?;
            files.push(FileEntry { name, size, blake3 });
        }
        Ok(Self {
            version: FORMAT_VERSION,
            cluster_id,
            meta,
            files,
        })
    }

    /// Sum of the files' sizes.
    pub fn total_bytes(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.size)
            .fold(0, u64::saturating_add)
    }

    /// The manifest's bytes.
    pub fn encode(&self) -> io::Result<Vec<u8>> {
        Ok(codec::to_bytes(self)?)
    }

    /// Decodes and checks [`Manifest::encode`]'s bytes: the version, and file names that are
    /// plain, unique, sorted and not the manifest's own.
    pub fn decode(b: &[u8]) -> io::Result<Self> {
        let m: Self = codec::from_bytes(b)?;
        if m.version != FORMAT_VERSION {
            return Err(invalid(format!(
                "snapshot format version {}, this build reads {FORMAT_VERSION}",
                m.version
            )));
        }
        if m.files.len() > MAX_FILES {
            return Err(invalid(format!("snapshot lists {} files", m.files.len())));
        }
        let mut seen = BTreeSet::new();
        for f in &m.files {
            if !plain_name(&f.name) || f.name == MANIFEST_FILE || !seen.insert(f.name.as_str()) {
                return Err(invalid(format!(
                    "snapshot lists a bad file name {:?}",
                    f.name
                )));
            }
        }
        if !m.files.windows(2).all(|w| w[0].name < w[1].name) {
            return Err(invalid("snapshot file list is not sorted".into()));
        }
        Ok(m)
    }

    /// Writes the manifest into `dir` and fsyncs it.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let mut f = File::create(dir.join(MANIFEST_FILE))?;
        f.write_all(&self.encode()?)?;
        f.sync_all()
    }

    /// Reads the manifest of snapshot directory `dir`.
    pub fn read(dir: &Path) -> io::Result<Self> {
        Self::decode(&fs::read(dir.join(MANIFEST_FILE))?)
    }

    /// Checks that `dir` holds exactly the listed files with the listed sizes (cheap: no
    /// hashing). A complete snapshot directory passes; a truncated or tampered one may not.
    pub fn check_sizes(&self, dir: &Path) -> io::Result<()> {
        let mut on_disk = 0;
        for e in fs::read_dir(dir)? {
            if e?.file_name() != MANIFEST_FILE {
                on_disk += 1;
            }
        }
        if on_disk != self.files.len() {
            return Err(invalid(format!(
                "{} holds {on_disk} files, its manifest lists {}",
                dir.display(),
                self.files.len()
            )));
        }
        for f in &self.files {
            let len = fs::metadata(dir.join(&f.name))?.len();
            if len != f.size {
                return Err(invalid(format!(
                    "{}/{}: {len} bytes, the manifest says {}",
                    dir.display(),
                    f.name,
                    f.size
                )));
            }
        }
        Ok(())
    }

    /// Checks every listed file's size and BLAKE3 sum (reads the whole snapshot once).
    pub fn verify(&self, dir: &Path) -> io::Result<()> {
        self.check_sizes(dir)?;
        for f in &self.files {
            let (size, sum) = hash_file(&dir.join(&f.name))?;
            if size != f.size || sum != f.blake3 {
                return Err(invalid(format!(
                    "{}/{}: contents do not match the manifest's BLAKE3 sum",
                    dir.display(),
                    f.name
                )));
            }
        }
        Ok(())
    }
}

/// Size and BLAKE3 of a file, read in bounded pieces.
pub fn hash_file(path: &Path) -> io::Result<(u64, [u8; 32])> {
    let mut f = File::open(path)?;
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0; 256 << 10];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((size, *h.finalize().as_bytes()));
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(names: &[&str]) -> Manifest {
        Manifest {
            version: FORMAT_VERSION,
            cluster_id: 7,
            meta: SnapshotMeta::default(),
            files: names
                .iter()
                .map(|n| FileEntry {
                    name: n.to_string(),
                    size: 1,
                    blake3: [0; 32],
                })
                .collect(),
        }
    }

    #[test]
    fn round_trips_and_refuses_bad_lists() {
        let m = manifest(&["000010.sst", "CURRENT", "MANIFEST-000005"]);
        assert_eq!(Manifest::decode(&m.encode().unwrap()).unwrap(), m);
        for bad in [
            vec!["../x"],
            vec!["a/b"],
            vec![".."],
            vec![""],
            vec![MANIFEST_FILE],
            vec!["b", "a"],
            vec!["a", "a"],
        ] {
            let b = manifest(&bad).encode().unwrap();
            assert!(Manifest::decode(&b).is_err(), "{bad:?}");
        }
        let mut v2 = m.clone();
        v2.version = FORMAT_VERSION + 1;
        assert!(Manifest::decode(&v2.encode().unwrap()).is_err());
    }

    #[test]
    fn scan_then_verify_catches_a_flipped_byte() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.sst"), vec![5u8; 300_000]).unwrap();
        fs::write(dir.path().join("CURRENT"), b"MANIFEST-1\n").unwrap();
        let m = Manifest::scan(dir.path(), 1, SnapshotMeta::default()).unwrap();
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.total_bytes(), 300_011);
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), m);
        m.verify(dir.path()).unwrap();
        let mut bytes = fs::read(dir.path().join("a.sst")).unwrap();
        bytes[123_456] ^= 1;
        fs::write(dir.path().join("a.sst"), bytes).unwrap();
        m.check_sizes(dir.path()).unwrap();
        assert!(m.verify(dir.path()).is_err());
        fs::write(dir.path().join("extra"), b"").unwrap();
        assert!(m.check_sizes(dir.path()).is_err());
    }
}
