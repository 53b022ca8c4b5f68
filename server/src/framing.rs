//! Checks the gRPC framing of every request to the Ledger and Admin services before tonic reads
//! it, so that a request too large or badly framed gets a status from [`grpc_error`] (which the
//! API reference lists) rather than tonic's own (`OUT_OF_RANGE`, `INTERNAL`).
//!
//! A gRPC request body is a run of messages, each a 5-byte header (a compressed-flag byte, then
//! the message length as a big-endian `u32`) and that many bytes. [`Framed`] passes the body
//! through unchanged while it follows those headers, and fails the body with:
//!
//! - [`grpc_error::too_large`] as soon as a header announces more than the service's limit (the
//!   rest is never read);
//! - [`grpc_error::malformed`] for a compressed-flag other than 0 (the server accepts no
//!   compression; the gRPC spec asks for `INTERNAL` when the flag is set without a
//!   `grpc-encoding`, but nothing was applied and resending cannot help, so the API answers it
//!   as every other malformed request), for a body that ends inside a message, and for a body
//!   with no message at all.
//!
//! tonic turns a body error that is a [`Status`] into the answer as is. Decoding the message
//! itself is the codec's job (`tally_proto::codec`, also `INVALID_ARGUMENT`).
//!
//! A service given an [`Admission`] ([`Framed::with_admission`]) also decides on each write
//! (`CreateAccounts`, `CreateTransfers`) from its headers alone, before its body is read: a
//! write the node cannot start within its budget or its `grpc-timeout` is answered
//! `RESOURCE_EXHAUSTED` at once ([`Admission::check_early`]), without a handler task and
//! without decoding, which keeps a refusal far cheaper than serving a request.
//!
//! A service given [`Metrics`] ([`Framed::with_metrics`]) counts every request by RPC and
//! gRPC code, with its latency, when its response's headers are ready: refusals made here,
//! framing faults and the handlers' answers alike. A unary response carries an error code in
//! its headers (a trailers-only response); one whose headers carry none is counted `OK`.
//!
//! Every request gets its [`RequestId`] here (see [`crate::logging`]): it is written into the
//! request's `x-request-id` metadata for the handler, entered as the `request` span around
//! everything the handler does, and returned in the response's `x-request-id` metadata,
//! refusals included. A service given a slow-request threshold ([`Framed::with_slow`]) logs
//! one warning for each read or admin request answered later than that; writes are logged by
//! their handler, which knows their phases.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::Frame;
use tonic::body::Body;
use tonic::codegen::{http, Bytes, Service};
use tonic::server::NamedService;
use tonic::Status;

use crate::admission::Admission;
use crate::grpc_error;
use crate::logging::{RequestId, REQUEST_ID};
use crate::metrics::{code_index, Metrics, Rpc};
use crate::service::parse_grpc_timeout;

/// Length of a gRPC message header: the compressed-flag byte and a big-endian `u32` length.
const HEADER: usize = 5;

/// A service whose requests' framing is checked, with messages of at most `limit` bytes.
#[derive(Debug, Clone)]
pub struct Framed<S> {
    inner: S,
    limit: usize,
    admission: Option<Admission>,
    metrics: Option<Arc<Metrics>>,
    slow: Option<Duration>,
}

impl<S> Framed<S> {
    /// Wraps `inner`, refusing messages longer than `limit` bytes.
    pub fn new(inner: S, limit: usize) -> Self {
        Self {
            inner,
            limit,
            admission: None,
            metrics: None,
            slow: None,
        }
    }

    /// Logs a warning for each read or admin request answered after more than `slow`.
    pub fn with_slow(mut self, slow: Option<Duration>) -> Self {
        self.slow = slow;
        self
    }

    /// Counts every request in `metrics` (see the module doc).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Also refuses writes that `admission` would not start in time, before reading them.
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.admission = Some(admission);
        self
    }

    /// The refusal of a write the node cannot take now, judged from its headers.
    fn refusal(&self, rpc: Rpc, req: &http::Request<Body>) -> Option<Status> {
        let admission = self.admission.as_ref()?;
        if !rpc.is_write() {
            return None;
        }
        let left = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        admission.check_early(left).err()
    }
}

impl<S: NamedService> NamedService for Framed<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Framed<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Admitted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        let rpc = Rpc::from_path(req.uri().path());
        let timer = self.metrics.as_ref().map(|m| Timer {
            metrics: m.clone(),
            rpc,
            started,
        });
        // The caller's id if sane, else a made-up one; the handler finds it in the extensions.
        let (id, header) = match req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| RequestId::parse(v.as_bytes()).map(|id| (id, v.clone())))
        {
            Some(given) => given,
            None => {
                let id = RequestId::generate();
                (id, id.header_value())
            }
        };
        req.extensions_mut().insert(id);
        // At debug level: a span the filter enables costs an allocation and formatting per request,
        // so by default it is disabled and the per-request lines name the id themselves.
        let span = tracing::debug_span!("request", request_id = %id, rpc = rpc.label());
        let trace = Trace {
            id: Some(header),
            request_id: id,
            span,
            slow: self.slow.filter(|_| !rpc.is_write()),
            rpc,
            started,
        };
        if let Some(status) = self.refusal(rpc, &req) {
            // The body is dropped unread: HTTP/2 resets the rest of the stream.
            return Admitted {
                answer: Answer::Refused(Some(status.into_http())),
                timer,
                trace,
            };
        }
        let limit = self.limit;
        let taken = self
            .inner
            .call(req.map(|b| Body::new(CheckedBody::new(b, limit))));
        Admitted {
            answer: Answer::Taken(taken),
            timer,
            trace,
        }
    }
}

/// The answer of a [`Framed`] service: a refusal made from the headers, or the service's;
/// counted in the service's metrics when it is ready.
#[derive(Debug)]
pub struct Admitted<F> {
    answer: Answer<F>,
    /// What to count the answer under, if the service counts requests.
    timer: Option<Timer>,
    /// The request's id and span.
    trace: Trace,
}

/// A request's id (as the header value returned), its log span, and when a read or admin
/// request is slow.
#[derive(Debug)]
struct Trace {
    id: Option<http::HeaderValue>,
    request_id: RequestId,
    span: tracing::Span,
    slow: Option<Duration>,
    rpc: Rpc,
    started: Instant,
}

impl Trace {
    /// Returns the id with `resp`, and logs the request if it was slow.
    fn answered(&mut self, resp: &mut http::Response<Body>) {
        if let Some(id) = self.id.take() {
            resp.headers_mut().insert(REQUEST_ID, id);
        }
        let Some(slow) = self.slow else { return };
        let took = self.started.elapsed();
        if took > slow {
            let code = resp
                .headers()
                .get("grpc-status")
                .map_or(0, |v| code_index(v.as_bytes()));
            let _in = self.span.enter();
            tracing::warn!(
                request_id = %self.request_id,
                rpc = self.rpc.label(),
                code = crate::metrics::CODES[code],
                total_ms = took.as_secs_f64() * 1e3,
                "slow request"
            );
        }
    }
}

#[derive(Debug)]
enum Answer<F> {
    /// Refused before the body was read; taken on the first poll.
    Refused(Option<http::Response<Body>>),
    /// Handed to the service.
    Taken(F),
}

/// A request being counted: its RPC and when its headers arrived.
#[derive(Debug)]
struct Timer {
    metrics: Arc<Metrics>,
    rpc: Rpc,
    started: Instant,
}

impl<F, E> Future for Admitted<F>
where
    F: Future<Output = Result<http::Response<Body>, E>> + Unpin,
{
    type Output = Result<http::Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut out = match &mut this.answer {
            Answer::Refused(answer) => match answer.take() {
                Some(a) => Poll::Ready(Ok(a)),
                None => Poll::Pending,
            },
            Answer::Taken(f) => {
                let _in = this.trace.span.enter();
                Pin::new(f).poll(cx)
            }
        };
        if let Poll::Ready(Ok(resp)) = &mut out {
            this.trace.answered(resp);
        }
        if let Poll::Ready(r) = &out {
            if let Some(t) = this.timer.take() {
                let code = match r {
                    Ok(resp) => resp
                        .headers()
                        .get("grpc-status")
                        .map_or(0, |v| code_index(v.as_bytes())),
                    // The service failed without an answer: the transport resets the stream.
                    Err(_) => code_index(b"2"),
                };
                t.metrics.request(t.rpc, code, t.started.elapsed());
            }
        }
        out
    }
}

/// A request body that fails on the first framing fault.
struct CheckedBody {
    inner: Body,
    limit: usize,
    /// The current message's header bytes seen so far (`0..HEADER`).
    header: [u8; HEADER],
    have: usize,
    /// Bytes of the current message still to come after its header.
    remaining: usize,
    messages: usize,
    failed: bool,
}

impl CheckedBody {
    fn new(inner: Body, limit: usize) -> Self {
        Self {
            inner,
            limit,
            header: [0; HEADER],
            have: 0,
            remaining: 0,
            messages: 0,
            failed: false,
        }
    }

    /// Follows the framing through one chunk of the body.
    fn scan(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = &data[n..];
                continue;
            }
            let n = (HEADER - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have < HEADER {
                break;
            }
            self.have = 0;
            self.messages += 1;
            if self.header[0] != 0 {
                return Err(grpc_error::malformed(format!(
                    "compressed-flag {} on a message; this server accepts only uncompressed \
                     messages (flag 0)",
                    self.header[0]
                )));
            }
            let len = u32::from_be_bytes([
                self.header[1],
                self.header[2],
                self.header[3],
                self.header[4],
            ]) as usize;
            if len > self.limit {
                return Err(grpc_error::too_large(len, self.limit));
            }
            self.remaining = len;
        }
        Ok(())
    }

    /// The body ended: it must end between messages, after at least one.
    fn finish(&self) -> Result<(), Status> {
        if self.have > 0 {
            return Err(grpc_error::malformed(format!(
                "request ends inside a message header ({} of {HEADER} bytes)",
                self.have
            )));
        }
        if self.remaining > 0 {
            return Err(grpc_error::malformed(format!(
                "request ends {} bytes short of the message length its header announces",
                self.remaining
            )));
        }
        if self.messages == 0 {
            return Err(grpc_error::malformed("request has no message"));
        }
        Ok(())
    }
}

impl http_body::Body for CheckedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        let polled = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(p) => p,
        };
        let checked = match polled {
            None => this.finish().map(|()| None),
            Some(Err(e)) => Err(e),
            Some(Ok(frame)) => match frame.data_ref() {
                Some(data) => this.scan(data).map(|()| Some(frame)),
                None => Ok(Some(frame)),
            },
        };
        match checked {
            Ok(frame) => Poll::Ready(frame.map(Ok)),
            Err(status) => {
                this.failed = true;
                Poll::Ready(Some(Err(status)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // The end must be seen in `poll_frame`, where an unfinished message is caught.
        self.failed
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    /// A service that answers every request with `status` (a trailers-only error), or with an
    /// empty 200 and no `grpc-status` header (a success whose status comes in the trailers).
    #[derive(Clone)]
    struct Answers(Option<Code>);

    impl Service<http::Request<Body>> for Answers {
        type Response = http::Response<Body>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<http::Response<Body>, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            std::future::ready(Ok(match self.0 {
                Some(code) => Status::new(code, "no").into_http(),
                None => http::Response::new(Body::empty()),
            }))
        }
    }

    fn request(path: &str) -> http::Request<Body> {
        http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn every_answer_is_counted_under_its_rpc_and_code() {
        let metrics = Arc::new(Metrics::default());
        let ok = Framed::new(Answers(None), 100).with_metrics(metrics.clone());
        let refused =
            Framed::new(Answers(Some(Code::ResourceExhausted)), 100).with_metrics(metrics.clone());
        let transfers = "/tally.v1.Ledger/CreateTransfers";
        ok.clone().call(request(transfers)).await.unwrap();
        ok.clone().call(request(transfers)).await.unwrap();
        refused.clone().call(request(transfers)).await.unwrap();
        refused
            .clone()
            .call(request("/tally.v1.Ledger/Nope"))
            .await
            .unwrap();
        let t = Rpc::CREATE_TRANSFERS;
        assert_eq!(metrics.requests_of(t, 0), 2);
        assert_eq!(metrics.requests_of(t, Code::ResourceExhausted as usize), 1);
        let other = Rpc::from_path("/tally.v1.Ledger/Nope");
        assert_eq!(
            metrics.requests_of(other, Code::ResourceExhausted as usize),
            1
        );
        assert_eq!(metrics.requests_of(t, Code::Internal as usize), 0);
    }

    #[tokio::test]
    async fn every_answer_carries_the_request_id() {
        let with = |id: Option<&str>| {
            let mut r = request("/tally.v1.Ledger/LookupAccounts");
            if let Some(id) = id {
                r.headers_mut().insert(REQUEST_ID, id.parse().unwrap());
            }
            r
        };
        let id = |r: &http::Response<Body>| {
            r.headers()
                .get(REQUEST_ID)
                .map(|v| v.to_str().unwrap().to_string())
        };
        let ok = Framed::new(Answers(None), 100);
        let failed = Framed::new(Answers(Some(Code::InvalidArgument)), 100);
        let r = ok.clone().call(with(Some("abc-123"))).await.unwrap();
        assert_eq!(id(&r).as_deref(), Some("abc-123"));
        let r = failed.clone().call(with(Some("abc-123"))).await.unwrap();
        assert_eq!(id(&r).as_deref(), Some("abc-123"), "on errors too");
        for sent in [None, Some("a\tb")] {
            let made = id(&ok.clone().call(with(sent)).await.unwrap()).unwrap();
            assert_eq!(made.len(), 32, "{made}");
            assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
        }
    }

    fn frame(flag: u8, len: u32) -> Vec<u8> {
        let mut v = vec![flag];
        v.extend_from_slice(&len.to_be_bytes());
        v
    }

    fn body(limit: usize) -> CheckedBody {
        CheckedBody::new(Body::empty(), limit)
    }

    #[test]
    fn whole_messages_split_anywhere_pass() {
        let mut bytes = frame(0, 3);
        bytes.extend_from_slice(b"abc");
        bytes.extend(frame(0, 0));
        for cut in 0..=bytes.len() {
            let mut b = body(3);
            b.scan(&bytes[..cut]).unwrap();
            b.scan(&bytes[cut..]).unwrap();
            b.finish().unwrap();
            assert_eq!(b.messages, 2);
        }
    }

    #[test]
    fn faults_are_named() {
        let mut b = body(10);
        let s = b.scan(&frame(0, 11)).unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("10 bytes"), "{}", s.message());

        let s = body(10).scan(&frame(1, 1)).unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("compressed-flag 1"), "{}", s.message());

        let mut b = body(10);
        b.scan(&frame(0, 4)[..3]).unwrap();
        assert!(b.finish().unwrap_err().message().contains("3 of 5"));

        let mut b = body(10);
        b.scan(&frame(0, 4)).unwrap();
        b.scan(b"x").unwrap();
        assert!(b.finish().unwrap_err().message().contains("3 bytes short"));

        assert!(body(10)
            .finish()
            .unwrap_err()
            .message()
            .contains("no message"));
    }
}
