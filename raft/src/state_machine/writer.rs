//! Write-behind: the state machine answers an entry as soon as the ledger has run it, and a
//! thread of its own writes the entry's batch into RocksDB meanwhile.
//!
//! Why it is safe: the entry is already committed in the Raft log, which is the state store's
//! write-ahead log (the store runs without a WAL of its own), so a crash before the write is
//! repaired by replay exactly as a crash before a memtable flush is. What must hold instead:
//!
//! - Nothing reads the store without the write in flight: the next entry's execution, the
//!   snapshot builder and every `with_ledger` caller take the state lock through
//!   [`super::lock`], which waits for the write to land. The lock-free readers
//!   ([`super::StateReader::read`]) must see it too, since it may hold an entry whose client has
//!   already been answered: the thread first indexes the batch by key ([`IndexedBatch`], the
//!   sort the write needs anyway) and publishes it, and a reader takes its RocksDB snapshot
//!   under this slot's lock and reads it through the published batch ([`Slot::hold`]). The
//!   snapshot holds the store before or after the write (RocksDB writes are atomic to
//!   snapshots), and through the batch both are the state after it; no later write can start
//!   while the lock is held.
//! - At most one write is in flight, so stored state is always the effect of a prefix of the
//!   applied entries, as before.
//! - A failed write stops the node: every later wait returns the error, so the next apply,
//!   read or snapshot fails and openraft stops the state machine. The entry's answer already
//!   given stays true: the entry is committed and is re-applied from the log on restart.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tally_ledger::{IndexedBatch, WriteBatch};

use crate::rocks::RocksWriter;

/// The write-behind thread and its one-job slot.
#[derive(Debug)]
pub(crate) struct Writer {
    slot: Arc<Slot>,
    thread: Option<JoinHandle<()>>,
}

/// The slot shared by the state machine, its readers and the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// The batch waiting for the thread (taken when it starts writing).
    job: Option<(RocksWriter, WriteBatch)>,
    /// The batch being written, indexed so that readers can see through it meanwhile.
    in_flight: Option<Arc<IndexedBatch>>,
    /// Batches submitted so far.
    submitted: u64,
    /// Batches whose write has finished (written or failed).
    finished: u64,
    /// The first failure; once set, every wait returns it.
    failed: Option<String>,
    /// A written batch, kept to be reused (its buffers are a megabyte for a full command).
    spare: Option<WriteBatch>,
    /// Set when the [`Writer`] is dropped.
    stop: bool,
    /// Tests: runs on the writer thread before each write, once the batch is indexed and
    /// visible to readers (to hold a write in flight).
    #[cfg(test)]
    before_write: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("submitted", &self.submitted)
            .field("finished", &self.finished)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock; recover the guard if something did.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Batches submitted so far: a mark to wait for with [`Slot::wait_for`].
    pub(crate) fn mark(&self) -> u64 {
        self.lock().submitted
    }

    /// Waits until every batch submitted before this call has been written; returns the
    /// write failure, if any write has failed.
    pub(crate) fn wait_written(&self) -> io::Result<()> {
        let target = self.mark();
        self.wait_for(target)
    }

    /// Waits until the first `mark` batches submitted have been written; returns the write
    /// failure, if any write has failed.
    pub(crate) fn wait_for(&self, mark: u64) -> io::Result<()> {
        let mut s = self.lock();
        while s.finished < mark && s.failed.is_none() {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        failure(&s)
    }

    /// Calls `take` once the first `mark` batches submitted are either written (`take(None)`)
    /// or, for the last of them, being written (`take(Some(batch))`), and returns what it
    /// returns. `take` runs under this slot's lock, so no later batch can start meanwhile: a
    /// store snapshot taken inside it, read through the batch given (if any), is the state
    /// after batch `mark`, whether or not the write landed before the snapshot.
    pub(crate) fn hold<R>(
        &self,
        mark: u64,
        take: impl FnOnce(Option<Arc<IndexedBatch>>) -> R,
    ) -> io::Result<R> {
        let mut s = self.lock();
        loop {
            failure(&s)?;
            if s.finished >= mark {
                return Ok(take(None));
            }
            // At most one batch is outstanding, so batch `mark` is that one: wait until the
            // thread has indexed it.
            if let Some(batch) = &s.in_flight {
                return Ok(take(Some(batch.clone())));
            }
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

fn failure(s: &State) -> io::Result<()> {
    match &s.failed {
        Some(e) => Err(io::Error::other(format!("state store write failed: {e}"))),
        None => Ok(()),
    }
}

impl Writer {
    /// Starts the writer thread.
    pub(crate) fn spawn() -> io::Result<Self> {
        let slot = Arc::new(Slot::default());
        let thread = std::thread::Builder::new()
            .name("state-writer".into())
            .spawn({
                let slot = slot.clone();
                move || run(&slot)
            })?;
        Ok(Self {
            slot,
            thread: Some(thread),
        })
    }

    /// The slot, for readers that wait for writes without the state lock.
    pub(crate) fn slot(&self) -> Arc<Slot> {
        self.slot.clone()
    }

    /// Waits for the write in flight (see [`Slot::wait_written`]).
    pub(crate) fn wait_written(&self) -> io::Result<()> {
        self.slot.wait_written()
    }

    /// A batch to stage the next entry into: the last written one, emptied, or a new one.
    pub(crate) fn take_spare(&self) -> WriteBatch {
        self.slot.lock().spare.take().unwrap_or_default()
    }

    /// Hands `batch` to the thread. The caller has waited for the previous write
    /// ([`Writer::wait_written`]) since its last submit, so the slot is free.
    pub(crate) fn submit(&self, to: RocksWriter, batch: WriteBatch) {
        let mut s = self.slot.lock();
        assert!(s.job.is_none(), "a state write was submitted over another");
        s.job = Some((to, batch));
        s.submitted += 1;
        self.slot.changed.notify_all();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.slot.lock().stop = true;
        self.slot.changed.notify_all();
        if let Some(t) = self.thread.take() {
            // The thread finishes the write in flight first; a panic there was already
            // recorded as a failure.
            let _ = t.join();
        }
    }
}

/// The thread: takes each job, writes it, records the outcome.
fn run(slot: &Slot) {
    // If this thread ever unwinds, waiters must not wait forever.
    struct Guard<'a>(&'a Slot);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let mut s = self.0.lock();
                s.failed
                    .get_or_insert_with(|| "the state writer thread panicked".into());
                self.0.changed.notify_all();
            }
        }
    }
    let _guard = Guard(slot);
    loop {
        let (to, batch) = {
            let mut s = slot.lock();
            loop {
                if let Some(job) = s.job.take() {
                    break job;
                }
                if s.stop {
                    return;
                }
                s = slot.changed.wait(s).unwrap_or_else(|p| p.into_inner());
            }
        };
        // Sorting the batch by key is work the write needs anyway; publishing the result lets
        // readers see through the batch instead of waiting for the write.
        let indexed = Arc::new(IndexedBatch::new(batch));
        {
            let mut s = slot.lock();
            s.in_flight = Some(indexed.clone());
            slot.changed.notify_all();
            #[cfg(test)]
            if let Some(hook) = s.before_write.clone() {
                drop(s);
                hook();
            }
        }
        let result = to.write(&indexed);
        // Drop the database handle before announcing the write: a snapshot install waiting
        // for it may close the database next.
        drop(to);
        let mut s = slot.lock();
        s.in_flight = None;
        s.finished += 1;
        if let Err(e) = result {
            s.failed.get_or_insert_with(|| e.to_string());
        }
        // Reuse the batch's buffers unless a reader still holds it.
        if let Ok(indexed) = Arc::try_unwrap(indexed) {
            let mut batch = indexed.into_batch();
            batch.clear();
            s.spare = Some(batch);
        }
        slot.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use tally_ledger::Cf;

    use super::*;
    use crate::rocks::{RocksOptions, RocksStore};

    fn batch_putting(key: &[u8]) -> WriteBatch {
        let mut b = WriteBatch::new();
        b.put(Cf::Meta, key, b"v");
        b
    }

    fn has(store: &RocksStore, key: &[u8]) -> bool {
        store
            .reader()
            .read(|r| r.get(Cf::Meta, key, &mut |_| {}))
            .unwrap()
    }

    /// Holds every write until the returned sender sends (or is dropped).
    fn gate(w: &Writer) -> mpsc::Sender<()> {
        let (tx, rx) = mpsc::channel::<()>();
        let rx = Mutex::new(rx);
        w.slot.lock().before_write = Some(Arc::new(move || {
            let _ = rx.lock().unwrap().recv();
        }));
        tx
    }

    /// What a linearizable read relies on: waiting for a mark taken after a submit returns only
    /// once that batch is in the store, and a mark of 0 (a stale read) never waits.
    #[test]
    fn a_wait_returns_once_the_batch_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        let w = Writer::spawn().unwrap();
        let open = gate(&w);
        w.submit(store.writer(), batch_putting(b"k"));
        let slot = w.slot();
        let mark = slot.mark();
        assert_eq!(mark, 1);
        slot.wait_for(0).unwrap();
        assert!(!has(&store, b"k"), "the gate holds the write");
        let reader = std::thread::spawn({
            let (slot, store) = (slot.clone(), store.reader());
            move || {
                slot.wait_for(mark).unwrap();
                store.read(|r| r.get(Cf::Meta, b"k", &mut |_| {})).unwrap()
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        assert!(!reader.is_finished(), "the wait returned before the write");
        open.send(()).unwrap();
        assert!(
            reader.join().unwrap(),
            "the write is visible after the wait"
        );
        // The written batch comes back, emptied, for the next entry.
        assert!(w.take_spare().is_empty());
    }

    /// A read never waits for the write itself: once the batch is indexed, a reader gets it
    /// and reads its snapshot through it; once written, the store alone has it.
    #[test]
    fn a_reader_sees_the_batch_in_flight_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        let reader = store.reader();
        let w = Writer::spawn().unwrap();
        let open = gate(&w);
        w.submit(store.writer(), batch_putting(b"k"));
        let slot = w.slot();
        let mark = slot.mark();
        let (snap, in_flight) = slot.hold(mark, |b| (reader.snapshot(), b)).unwrap();
        assert!(in_flight.is_some(), "the write is held, so it is in flight");
        let get = |over: Option<&IndexedBatch>| {
            snap.read(over, |r| r.get(Cf::Meta, b"k", &mut |_| {}))
                .unwrap()
        };
        assert!(!get(None), "the store alone does not have it yet");
        assert!(
            get(in_flight.as_deref()),
            "read through the batch, it is there"
        );
        drop((snap, in_flight));
        open.send(()).unwrap();
        w.wait_written().unwrap();
        let (snap, in_flight) = slot.hold(mark, |b| (reader.snapshot(), b)).unwrap();
        assert!(in_flight.is_none());
        assert!(snap
            .read(None, |r| r.get(Cf::Meta, b"k", &mut |_| {}))
            .unwrap());
    }

    /// A failed write fails every later wait, so the node stops instead of reading a store
    /// that misses an answered entry.
    #[test]
    fn a_failed_write_fails_every_later_wait() {
        let dir = tempfile::tempdir().unwrap();
        RocksStore::open(dir.path(), &RocksOptions::default()).unwrap();
        let logs = tempfile::tempdir().unwrap();
        let read_only = RocksStore::open_read_only(dir.path(), logs.path()).unwrap();
        let w = Writer::spawn().unwrap();
        w.submit(read_only.writer(), batch_putting(b"k"));
        let err = w.wait_written().unwrap_err();
        assert!(
            err.to_string().contains("state store write failed"),
            "{err}"
        );
        assert!(w.slot().wait_for(0).is_err());
        assert!(w.wait_written().is_err());
    }
}
