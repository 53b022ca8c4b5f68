//! Hand-made gRPC calls: any bytes as the request body, over a tonic channel, so tests can send
//! what no generated client would (broken framing, undecodable messages, oversized messages).

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body as _, Frame};
use prost::Message;
use tonic::body::Body;
use tonic::codegen::{http, Bytes, Service};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// A request body of fixed bytes, sent in one data frame.
struct Fixed(Option<Bytes>);

impl http_body::Body for Fixed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }
}

/// `msg` as one gRPC message: compressed-flag 0, big-endian length, the bytes.
pub fn frame(msg: &[u8]) -> Vec<u8> {
    let mut v = vec![0];
    v.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    v.extend_from_slice(msg);
    v
}

/// What a raw call got back: the status (`Code::Ok` on success) and the response's messages'
/// bytes (framing included).
#[derive(Debug)]
pub struct Answer {
    /// The gRPC status, from the headers (trailers-only answer) or the trailers.
    pub status: Status,
    /// The response body's data.
    pub body: Vec<u8>,
}

impl Answer {
    /// The one response message, decoded as `M`; panics unless the call succeeded.
    pub fn message<M: Message + Default>(&self) -> M {
        assert_eq!(self.status.code(), Code::Ok, "{:?}", self.status);
        assert!(self.body.len() >= 5, "no response message");
        M::decode(&self.body[5..]).unwrap()
    }
}

/// Calls `path` (e.g. `/tally.v1.Ledger/CreateAccounts`) on `addr` with `body` as the request
/// body, exactly as given.
pub async fn call(addr: SocketAddr, path: &str, body: Vec<u8>) -> Answer {
    call_with(addr, path, &[], body).await
}

/// [`call`] with extra request `headers`.
pub async fn call_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Answer {
    let mut ch = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::new(Fixed(Some(body.into())))).unwrap();
    std::future::poll_fn(|cx| ch.poll_ready(cx)).await.unwrap();
    let resp = ch.call(req).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::OK, "HTTP status");
    if let Some(status) = Status::from_header_map(resp.headers()) {
        return Answer {
            status,
            body: Vec::new(),
        };
    }
    let mut body = resp.into_body();
    let mut data = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.unwrap();
        if let Some(d) = frame.data_ref() {
            data.extend_from_slice(d);
        } else if let Some(t) = frame.trailers_ref() {
            let status = Status::from_header_map(t).expect("grpc-status in the trailers");
            return Answer { status, body: data };
        }
    }
    panic!("the answer has no grpc-status");
}
