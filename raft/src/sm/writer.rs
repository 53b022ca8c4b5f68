//! Write-behind: the state machine answers an entry as soon as the ledger has run it, and a
//! thread of its own writes the entry's batch into RocksDB meanwhile.
//!
//! Why it is safe: the entry is already committed in the Raft log, which is the state store's
//! write-ahead log (the store runs without a WAL of its own), so a crash before the write is
//! repaired by replay exactly as a crash before a memtable flush is. What must hold instead:
//!
//! - Nothing reads the store until the write landed: the next entry's execution, the snapshot
//!   builder, every `with_ledger` caller (all of them take the state lock through
//!   [`super::lock`], which waits for the write in flight) and the lock-free readers
//!   ([`super::StateReader::read`], which wait for the write in flight when they start, since it
//!   may hold an entry whose client has already been answered).
//! - At most one write is in flight, so stored state is always the effect of a prefix of the
//!   applied entries, as before.
//! - A failed write stops the node: every later wait returns the error, so the next apply,
//!   read or snapshot fails and openraft stops the state machine. The entry's answer already
//!   given stays true: the entry is committed and is re-applied from the log on restart.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tally_ledger::WriteBatch;

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

#[derive(Debug, Default)]
struct State {
    /// The batch waiting for the thread (taken when it starts writing).
    job: Option<(RocksWriter, WriteBatch)>,
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
        match &s.failed {
            Some(e) => Err(io::Error::other(format!("state store write failed: {e}"))),
            None => Ok(()),
        }
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
        let (to, mut batch) = {
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
        let result = to.write(&batch);
        // Drop the database handle before announcing the write: a snapshot install waiting
        // for it may close the database next.
        drop(to);
        batch.clear();
        let mut s = slot.lock();
        s.finished += 1;
        if let Err(e) = result {
            s.failed.get_or_insert_with(|| e.to_string());
        }
        s.spare = Some(batch);
        slot.changed.notify_all();
    }
}
