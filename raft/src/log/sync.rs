//! Group commit: one thread makes appends durable, one fsync for every append queued behind it.
//!
//! `append` writes its entries to RocksDB's WAL without syncing (so they are readable at once)
//! and then hands its completion callback to [`Syncer::submit`]. The `raft-log-sync` thread
//! loops: wait for one callback, take every other one already queued, call the sync function
//! once, then complete each callback in submission order. Every callback in a group was queued
//! after its write, and the sync starts after the group was taken, so one WAL fsync covers them
//! all. Idle, an append waits for exactly one fsync; under load, many appends share one.
//!
//! An fsync failure is sticky: the failing group and every later callback get an error and no
//! further sync is attempted, because after a failed fsync the kernel may have dropped the dirty
//! pages, and a later "successful" fsync would not prove the earlier writes durable.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use openraft::storage::IOFlushed;

use crate::types::TypeConfig;

/// Makes everything written so far durable (`DB::flush_wal(true)` in the store).
pub(crate) type SyncFn = Box<dyn FnMut() -> io::Result<()> + Send>;

/// Something waiting for durability: openraft's [`IOFlushed`], or a probe in tests.
pub(crate) trait Waiter: Send + 'static {
    /// Reports the outcome; called exactly once.
    fn done(self, result: io::Result<()>);
}

impl Waiter for IOFlushed<TypeConfig> {
    fn done(self, result: io::Result<()>) {
        self.io_completed(result);
    }
}

/// Handle to the sync thread. Dropping it lets the thread finish the queued callbacks, then
/// joins it (so the database the sync function holds is closed when the drop returns).
pub(crate) struct Syncer<W: Waiter> {
    tx: Option<mpsc::Sender<W>>,
    thread: Option<JoinHandle<()>>,
    fsyncs: Arc<AtomicU64>,
}

impl<W: Waiter> std::fmt::Debug for Syncer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("fsyncs", &self.fsyncs())
            .finish_non_exhaustive()
    }
}

impl<W: Waiter> Syncer<W> {
    /// Starts the `raft-log-sync` thread around `sync`.
    pub(crate) fn spawn(sync: SyncFn) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<W>();
        let fsyncs = Arc::new(AtomicU64::new(0));
        let counter = fsyncs.clone();
        let thread = std::thread::Builder::new()
            .name("raft-log-sync".into())
            .spawn(move || group_commit_loop(rx, sync, &counter))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            fsyncs,
        })
    }

    /// Queues `waiter` for the next group fsync. Call only after the write it waits for has
    /// returned.
    pub(crate) fn submit(&self, waiter: W) -> io::Result<()> {
        let tx = self.tx.as_ref().ok_or_else(gone)?;
        tx.send(waiter).map_err(|_| gone())
    }

    /// Sync calls made so far (successful or not).
    pub(crate) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }
}

fn gone() -> io::Error {
    io::Error::other("raft log sync thread has stopped")
}

impl<W: Waiter> Drop for Syncer<W> {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            // A panic in the sync thread already failed its callers (their callbacks were
            // dropped); there is nothing more to report from a destructor.
            let _ = t.join();
        }
    }
}

fn group_commit_loop<W: Waiter>(rx: mpsc::Receiver<W>, mut sync: SyncFn, fsyncs: &AtomicU64) {
    // (kind, message) of the first failure; io::Error is not Clone.
    let mut failed: Option<(io::ErrorKind, String)> = None;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        group.extend(rx.try_iter());
        if failed.is_none() {
            fsyncs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = sync() {
                failed = Some((e.kind(), format!("raft log fsync failed: {e}")));
            }
        }
        for w in group {
            w.done(match &failed {
                None => Ok(()),
                Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{Receiver, Sender};
    use std::time::Duration;

    use super::*;

    /// Reports `(id, ok)` on a channel, so a test sees completion order.
    struct Probe(usize, Sender<(usize, io::Result<()>)>);

    impl Waiter for Probe {
        fn done(self, result: io::Result<()>) {
            let _ = self.1.send((self.0, result));
        }
    }

    /// A sync function whose first call blocks until `release` is dropped or sent to, and
    /// whose calls return `results` in order (then `Ok`).
    fn gated(mut results: Vec<io::Result<()>>) -> (SyncFn, Sender<()>, Receiver<()>) {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        results.reverse();
        let mut first = true;
        let f: SyncFn = Box::new(move || {
            let _ = entered_tx.send(());
            if std::mem::take(&mut first) {
                let _ = release_rx.recv_timeout(Duration::from_secs(10));
            }
            results.pop().unwrap_or(Ok(()))
        });
        (f, release_tx, entered_rx)
    }

    fn collect(rx: &Receiver<(usize, io::Result<()>)>, n: usize) -> Vec<(usize, bool)> {
        (0..n)
            .map(|_| {
                let (i, r) = rx.recv_timeout(Duration::from_secs(10)).expect("callback");
                (i, r.is_ok())
            })
            .collect()
    }

    #[test]
    fn queued_appends_share_one_fsync_and_complete_in_order() {
        let (sync, release, entered) = gated(vec![]);
        let syncer = Syncer::<Probe>::spawn(sync).unwrap();
        let (tx, rx) = mpsc::channel();
        syncer.submit(Probe(0, tx.clone())).unwrap();
        // The thread is now inside the first fsync, which covers only append 0.
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        const N: usize = 100;
        for i in 1..N {
            syncer.submit(Probe(i, tx.clone())).unwrap();
        }
        release.send(()).unwrap();
        let done = collect(&rx, N);
        assert_eq!(done, (0..N).map(|i| (i, true)).collect::<Vec<_>>());
        // One fsync for append 0, one for the 99 queued behind it.
        assert_eq!(syncer.fsyncs(), 2);
    }

    #[test]
    fn fsync_error_reaches_every_waiter_and_sticks() {
        let (sync, release, entered) = gated(vec![Err(io::Error::other("EIO"))]);
        let syncer = Syncer::<Probe>::spawn(sync).unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..5 {
            syncer.submit(Probe(i, tx.clone())).unwrap();
        }
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        release.send(()).unwrap();
        let first = collect(&rx, 5);
        // Whatever the grouping, the first fsync fails, so everything before it failed too:
        // the first group is at least append 0, and sticky failure covers the rest.
        assert_eq!(first, (0..5).map(|i| (i, false)).collect::<Vec<_>>());
        let before = syncer.fsyncs();
        syncer.submit(Probe(5, tx.clone())).unwrap();
        let (i, r) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(i, 5);
        let e = r.unwrap_err();
        assert!(e.to_string().contains("EIO"), "{e}");
        assert_eq!(syncer.fsyncs(), before, "no fsync after a failed one");
    }

    #[test]
    fn drop_completes_queued_waiters() {
        let (sync, release, entered) = gated(vec![]);
        let syncer = Syncer::<Probe>::spawn(sync).unwrap();
        let (tx, rx) = mpsc::channel();
        syncer.submit(Probe(0, tx.clone())).unwrap();
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        syncer.submit(Probe(1, tx.clone())).unwrap();
        release.send(()).unwrap();
        drop(syncer);
        assert_eq!(collect(&rx, 2), vec![(0, true), (1, true)]);
    }
}
