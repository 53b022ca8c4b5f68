//! Snapshot transfer: one client-streaming `InstallSnapshot` call per snapshot.
//!
//! The stream is a [`v1::SnapshotHeader`] (vote, the manifest's bytes, the cluster id), then
//! the files in manifest order as [`v1::SnapshotFileChunk`]s of at most
//! [`NetOptions::snapshot_chunk_bytes`]. The sender reads each chunk from disk only when tonic
//! asks for the next message, so HTTP/2 flow control bounds what is in memory on both sides.
//! The receiver writes into `snapshots/incoming-*`, checks each file's size and BLAKE3 sum
//! against the manifest, fsyncs, and publishes the directory; anything short of that deletes
//! the staging directory (and a crash leaves one that the next open deletes).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures_util::{Stream, StreamExt};
use tally_proto::v1;
use tally_proto::v1::snapshot_chunk::Chunk;
use tonic::{Status, Streaming};

use super::{cluster_mismatch, decode, NetOptions};
use crate::state_machine::snapshot::manifest::FileEntry;
use crate::state_machine::snapshot::store::sync_dir;
use crate::state_machine::{Manifest, Snapshot, SnapshotData, SnapshotStore, Staging};
use crate::types::Vote;

/// Splits a cluster id into the header's halves.
pub(crate) fn split_id(id: u128) -> (u64, u64) {
    ((id >> 64) as u64, id as u64)
}

fn join_id(hi: u64, lo: u64) -> u128 {
    (u128::from(hi) << 64) | u128::from(lo)
}

// ---- sending -----------------------------------------------------------------------------------

/// Reads a snapshot's files in order, one chunk at a time. Holds the snapshot's lease.
struct FileReader {
    data: SnapshotData,
    chunk: usize,
    file: usize,
    offset: u64,
    open: Option<File>,
}

impl FileReader {
    fn next_chunk(&mut self) -> io::Result<Option<v1::SnapshotFileChunk>> {
        let files = &self.data.manifest().files;
        loop {
            let Some(f) = files.get(self.file) else {
                return Ok(None);
            };
            if self.offset >= f.size {
                (self.file, self.offset, self.open) = (self.file + 1, 0, None);
                continue;
            }
            let out = match &mut self.open {
                Some(out) => out,
                None => self
                    .open
                    .insert(File::open(self.data.path().join(&f.name))?),
            };
            let n = (f.size - self.offset).min(self.chunk as u64) as usize;
            let mut data = vec![0; n];
            // Snapshot files never change; a short read means the directory was tampered with.
            out.read_exact(&mut data)?;
            let msg = v1::SnapshotFileChunk {
                file: self.file as u32,
                offset: self.offset,
                data,
            };
            self.offset += n as u64;
            return Ok(Some(msg));
        }
    }
}

/// Where the stream reports a local read error (it can only end early, and the receiver then
/// refuses the incomplete snapshot).
pub(crate) type ReadError = Arc<Mutex<Option<io::Error>>>;

/// The messages of one snapshot stream, read from disk as tonic pulls them.
pub(crate) fn outgoing(
    vote: &Vote,
    data: SnapshotData,
    opts: &NetOptions,
    failed: ReadError,
) -> io::Result<impl Stream<Item = v1::SnapshotChunk> + Send + 'static> {
    let (cluster_id_hi, cluster_id_lo) = split_id(opts.cluster_id);
    let header = v1::SnapshotHeader {
        vote: super::encode("snapshot vote", vote).map_err(io::Error::other)?,
        manifest: data.manifest().encode()?,
        cluster_id_hi,
        cluster_id_lo,
    };
    let reader = FileReader {
        data,
        chunk: opts.snapshot_chunk_bytes.max(1),
        file: 0,
        offset: 0,
        open: None,
    };
    let head = futures_util::stream::iter([v1::SnapshotChunk {
        chunk: Some(Chunk::Header(header)),
    }]);
    let body = futures_util::stream::unfold(reader, move |mut reader| {
        let failed = failed.clone();
        async move {
            let (reader, r) = tokio::task::spawn_blocking(move || {
                let r = reader.next_chunk();
                (reader, r)
            })
            .await
            .ok()?;
            match r {
                Ok(Some(c)) => Some((
                    v1::SnapshotChunk {
                        chunk: Some(Chunk::File(c)),
                    },
                    reader,
                )),
                Ok(None) => None,
                Err(e) => {
                    if let Ok(mut slot) = failed.lock() {
                        *slot = Some(e);
                    }
                    None
                }
            }
        }
    });
    Ok(head.chain(body))
}

// ---- receiving ---------------------------------------------------------------------------------

fn internal(e: io::Error) -> Status {
    Status::internal(format!("snapshot receive: {e}"))
}

/// Writes the files of one incoming snapshot in order and checks each against the manifest.
struct FileWriter {
    dir: PathBuf,
    files: Vec<FileEntry>,
    /// The file being written; the ones before it are complete and checked.
    cur: usize,
    written: u64,
    out: Option<File>,
    hasher: blake3::Hasher,
}

impl FileWriter {
    fn write(&mut self, c: v1::SnapshotFileChunk) -> Result<(), Status> {
        let i = c.file as usize;
        if i < self.cur || i >= self.files.len() {
            return Err(Status::invalid_argument(format!(
                "snapshot chunk for file {i} out of order (at file {} of {})",
                self.cur,
                self.files.len()
            )));
        }
        while self.cur < i {
            self.finish_file()?;
        }
        let f = &self.files[i];
        let end = self.written.saturating_add(c.data.len() as u64);
        if c.offset != self.written || end > f.size {
            return Err(Status::invalid_argument(format!(
                "snapshot chunk {}@{}+{} does not continue at {} (size {})",
                f.name,
                c.offset,
                c.data.len(),
                self.written,
                f.size
            )));
        }
        let out = match &mut self.out {
            Some(out) => out,
            None => self
                .out
                .insert(File::create(self.dir.join(&f.name)).map_err(internal)?),
        };
        out.write_all(&c.data).map_err(internal)?;
        self.hasher.update(&c.data);
        self.written = end;
        Ok(())
    }

    /// Checks the current file's size and sum, fsyncs it, and moves to the next.
    fn finish_file(&mut self) -> Result<(), Status> {
        let f = &self.files[self.cur];
        if self.written != f.size {
            return Err(Status::data_loss(format!(
                "snapshot file {}: {} bytes received, the manifest says {}",
                f.name, self.written, f.size
            )));
        }
        if *self.hasher.finalize().as_bytes() != f.blake3 {
            return Err(Status::data_loss(format!(
                "snapshot file {}: BLAKE3 sum does not match the manifest",
                f.name
            )));
        }
        let out = match self.out.take() {
            Some(out) => out,
            None => File::create(self.dir.join(&f.name)).map_err(internal)?,
        };
        out.sync_all().map_err(internal)?;
        (self.cur, self.written, self.hasher) = (self.cur + 1, 0, blake3::Hasher::new());
        Ok(())
    }

    fn finish(mut self) -> Result<(), Status> {
        while self.cur < self.files.len() {
            self.finish_file()?;
        }
        sync_dir(&self.dir).map_err(internal)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("snapshot receive task: {e}")))?
}

/// Reads the header of a snapshot stream and checks it: the cluster id (header and manifest)
/// and the declared size.
async fn header(
    stream: &mut Streaming<v1::SnapshotChunk>,
    opts: &NetOptions,
) -> Result<(Vote, Manifest), Status> {
    let Some(v1::SnapshotChunk {
        chunk: Some(Chunk::Header(h)),
    }) = stream.message().await?
    else {
        return Err(Status::invalid_argument(
            "a snapshot stream starts with its header",
        ));
    };
    let theirs = join_id(h.cluster_id_hi, h.cluster_id_lo);
    if theirs != opts.cluster_id {
        return Err(cluster_mismatch(theirs));
    }
    let vote: Vote =
        decode("snapshot vote", &h.vote).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let manifest = Manifest::decode(&h.manifest)
        .map_err(|e| Status::invalid_argument(format!("snapshot manifest: {e}")))?;
    if manifest.cluster_id != opts.cluster_id {
        return Err(cluster_mismatch(manifest.cluster_id));
    }
    if manifest.total_bytes() > opts.max_snapshot_bytes {
        return Err(Status::resource_exhausted(format!(
            "snapshot of {} bytes is over the limit of {} (NetOptions::max_snapshot_bytes)",
            manifest.total_bytes(),
            opts.max_snapshot_bytes
        )));
    }
    Ok((vote, manifest))
}

/// Receives one snapshot stream into `store` and returns the published snapshot with the
/// sender's vote, ready for `install_full_snapshot`. Nothing is published unless every file
/// arrived whole with its sum.
pub(crate) async fn receive(
    mut stream: Streaming<v1::SnapshotChunk>,
    store: Arc<SnapshotStore>,
    opts: &NetOptions,
) -> Result<(Vote, Snapshot), Status> {
    let (vote, manifest) = header(&mut stream, opts).await?;
    let s = store.clone();
    let staging: Staging = blocking(move || s.staging("incoming").map_err(internal)).await?;
    let mut writer = FileWriter {
        dir: staging.path().to_path_buf(),
        files: manifest.files.clone(),
        cur: 0,
        written: 0,
        out: None,
        hasher: blake3::Hasher::new(),
    };
    while let Some(msg) = stream.message().await? {
        let Some(Chunk::File(c)) = msg.chunk else {
            return Err(Status::invalid_argument("a snapshot stream has one header"));
        };
        writer = blocking(move || writer.write(c).map(|()| writer)).await?;
    }
    let data = blocking(move || {
        writer.finish()?;
        store.publish(staging, manifest).map_err(internal)
    })
    .await?;
    let meta = data.manifest().meta.clone();
    Ok((
        vote,
        Snapshot {
            meta,
            snapshot: data,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_halves_round_trip() {
        for id in [0, 1, u128::MAX, 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210] {
            let (hi, lo) = split_id(id);
            assert_eq!(join_id(hi, lo), id);
        }
        assert_eq!(split_id(1 << 64), (1, 0));
    }
}
