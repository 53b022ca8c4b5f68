//! Packs single events from concurrent callers into batches, and hands each caller its own
//! result.
//!
//! A background task takes events from a bounded queue. A batch starts with the first queued
//! event and takes whatever else is queued, then waits up to `linger` for more, up to
//! `max_batch` events. At most `max_in_flight_batches` batches are in flight; while all are,
//! events queue up and leave together when a slot frees ("send as soon as the previous batch
//! returns"). The queue is bounded, so a caller facing a full queue waits (back-pressure)
//! instead of growing memory.
//!
//! Invariant: result `i` of a batch goes to the caller of event `i`. The server answers one
//! result per event in request order, and a response with a different count is an error for
//! every caller of that batch.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::{timeout_at, Instant};

use crate::{ClientOptions, Error};

/// How long a caller waits past its deadline for the batch's own verdict, which is due at the
/// same deadline. A safety net only: the batch call ends by its deadline too.
const VERDICT_GRACE: Duration = Duration::from_millis(100);

/// Sends one batch, retrying until the given deadline; answers one result per event.
pub(crate) type SendBatch<E, R> = Arc<
    dyn Fn(Vec<E>, Instant) -> Pin<Box<dyn Future<Output = Result<Vec<R>, Error>> + Send>>
        + Send
        + Sync,
>;

/// One caller's event, waiting in the queue.
struct Queued<E, R> {
    event: E,
    deadline: Instant,
    reply: oneshot::Sender<Result<R, Error>>,
}

/// The batching front end of one operation (`create_transfers` or `create_accounts`).
pub(crate) struct Batcher<E, R> {
    queue: mpsc::Sender<Queued<E, R>>,
    request_timeout: Duration,
}

impl<E, R> fmt::Debug for Batcher<E, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher")
            .field(
                "queued",
                &(self.queue.max_capacity() - self.queue.capacity()),
            )
            .finish_non_exhaustive()
    }
}

/// The batching limits, copied out of the options.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_batch: usize,
    linger: Duration,
    max_in_flight: usize,
}

impl<E: Send + 'static, R: Send + 'static> Batcher<E, R> {
    /// Starts the background task. It stops when the `Batcher` is dropped and the queue
    /// drains. Must be called inside a Tokio runtime.
    pub fn spawn(send: SendBatch<E, R>, options: &ClientOptions) -> Self {
        let (queue, rx) = mpsc::channel(options.queue_capacity);
        let limits = Limits {
            max_batch: options.max_batch,
            linger: options.linger,
            max_in_flight: options.max_in_flight_batches,
        };
        tokio::spawn(run(rx, send, limits));
        Self {
            queue,
            request_timeout: options.request_timeout,
        }
    }

    /// Queues `event` and waits for its result, all within the request timeout.
    pub async fn submit(&self, event: E) -> Result<R, Error> {
        let start = Instant::now();
        let deadline = start + self.request_timeout;
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            event,
            deadline,
            reply,
        };
        match timeout_at(deadline, self.queue.send(queued)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(stopped(false)),
            Err(_) => return Err(Error::Backpressure(start.elapsed())),
        }
        match timeout_at(deadline + VERDICT_GRACE, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(stopped(true)),
            Err(_) => Err(Error::Indeterminate {
                attempts: 1,
                elapsed: start.elapsed(),
                last: "the deadline passed while the event's batch was in flight".into(),
            }),
        }
    }
}

/// The error for a caller whose batching task is gone (it can only panic).
fn stopped(indeterminate: bool) -> Error {
    Error::Internal {
        message: "the client's batching task stopped".into(),
        indeterminate,
    }
}

/// The background task: forms batches and sends each on its own task.
async fn run<E: Send + 'static, R: Send + 'static>(
    mut rx: mpsc::Receiver<Queued<E, R>>,
    send: SendBatch<E, R>,
    limits: Limits,
) {
    let slots = Arc::new(Semaphore::new(limits.max_in_flight));
    loop {
        // Wait for a free slot first: while none is, events accumulate in the queue.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        fill(&mut rx, &mut batch, limits).await;
        // Callers that gave up (dropped their call) need no send.
        batch.retain(|queued| !queued.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let send = send.clone();
        tokio::spawn(async move {
            let _slot = slot;
            dispatch(batch, &send).await;
        });
    }
}

/// Adds queued events to `batch`: all that are waiting, then whatever arrives within the
/// linger, up to `max_batch`.
async fn fill<E, R>(
    rx: &mut mpsc::Receiver<Queued<E, R>>,
    batch: &mut Vec<Queued<E, R>>,
    limits: Limits,
) {
    let linger_end = Instant::now() + limits.linger;
    while batch.len() < limits.max_batch {
        match rx.try_recv() {
            Ok(queued) => batch.push(queued),
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            Err(mpsc::error::TryRecvError::Empty) if limits.linger.is_zero() => return,
            Err(mpsc::error::TryRecvError::Empty) => {
                match timeout_at(linger_end, rx.recv()).await {
                    Ok(Some(queued)) => batch.push(queued),
                    Ok(None) | Err(_) => return,
                }
            }
        }
    }
}

/// Sends one batch and answers each caller. The batch's deadline is its earliest caller's, so
/// that caller hears the batch's own verdict (indeterminate or not) rather than a bare timeout.
async fn dispatch<E, R>(batch: Vec<Queued<E, R>>, send: &SendBatch<E, R>) {
    let deadline = batch
        .iter()
        .map(|q| q.deadline)
        .min()
        .expect("batch is never empty");
    let (events, replies): (Vec<E>, Vec<_>) = batch.into_iter().map(|q| (q.event, q.reply)).unzip();
    let count = events.len();
    match send(events, deadline).await {
        Ok(results) if results.len() == count => {
            for (reply, result) in replies.into_iter().zip(results) {
                // The caller may have given up; its result is then nobody's business.
                let _ = reply.send(Ok(result));
            }
        }
        Ok(results) => {
            let error = Error::Internal {
                message: format!("{} results for {count} events", results.len()),
                indeterminate: true,
            };
            replies
                .into_iter()
                .for_each(|reply| drop(reply.send(Err(error.clone()))));
        }
        Err(error) => {
            replies
                .into_iter()
                .for_each(|reply| drop(reply.send(Err(error.clone()))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A batcher whose "server" doubles each event, and records the size of every batch.
    fn doubling(options: &ClientOptions) -> (Batcher<u64, u64>, Arc<Mutex<Vec<usize>>>) {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let send: SendBatch<u64, u64> = Arc::new(move |events: Vec<u64>, _deadline| {
            seen.lock().unwrap().push(events.len());
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                Ok(events.iter().map(|e| e * 2).collect())
            })
        });
        (Batcher::spawn(send, options), sizes)
    }

    #[tokio::test]
    async fn each_caller_gets_its_own_result_and_batches_respect_max_batch() {
        let options = ClientOptions {
            max_batch: 64,
            ..ClientOptions::default()
        };
        let (batcher, sizes) = doubling(&options);
        let batcher = Arc::new(batcher);
        let calls: Vec<_> = (0..1_000u64)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { (i, batcher.submit(i).await) })
            })
            .collect();
        for call in calls {
            let (i, result) = call.await.unwrap();
            assert_eq!(result, Ok(i * 2));
        }
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes.iter().sum::<usize>(), 1_000);
        assert!(sizes.iter().all(|&n| n <= 64), "{sizes:?}");
        assert!(
            sizes.len() < 1_000 / 4,
            "barely batched: {} batches",
            sizes.len()
        );
    }

    #[tokio::test]
    async fn a_full_queue_pushes_back_and_a_stuck_batch_ends_by_the_deadline() {
        let options = ClientOptions {
            queue_capacity: 1,
            max_batch: 1,
            max_in_flight_batches: 1,
            request_timeout: Duration::from_millis(200),
            ..ClientOptions::default()
        };
        // A server that never answers.
        let send: SendBatch<u64, u64> = Arc::new(|_, _| Box::pin(std::future::pending()));
        let batcher = Arc::new(Batcher::spawn(send, &options));
        let start = Instant::now();
        let calls: Vec<_> = (0..4u64)
            .map(|i| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.submit(i).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for call in calls {
            outcomes.push(call.await.unwrap().unwrap_err());
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "took {:?}",
            start.elapsed()
        );
        // One event in flight (outcome unknown); one in the queue, whose caller cannot tell it
        // was never sent, so it is unknown too; the rest never entered the full queue.
        let stuck = outcomes.iter().filter(|e| e.is_indeterminate()).count();
        let pushed_back = outcomes
            .iter()
            .filter(|e| matches!(e, Error::Backpressure(_)))
            .count();
        assert!(stuck >= 1, "{outcomes:?}");
        assert!(pushed_back >= 1, "{outcomes:?}");
        assert_eq!(stuck + pushed_back, 4, "{outcomes:?}");
    }
}
