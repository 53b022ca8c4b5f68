//! A TCP proxy for one directed node-to-node link, with a mode switchable at run time.
//!
//! Every node dials each peer through its own proxy (`tally start --peer-via`), so the link
//! i -> j is a [`Proxy`] that the partition nemesis can cut, slow down or make lossy without
//! root, iptables or a network namespace. Raft's RPCs run over gRPC, so a cut link looks to the
//! nodes like a peer that stopped answering.
//!
//! Invariants: in [`Mode::Cut`] no byte crosses the link (held connections are closed at once and
//! new ones are closed on accept); dropping the [`Proxy`] stops its listener and every
//! connection it holds.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the link does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Mode {
    /// Forward everything.
    Pass,
    /// Close held connections and refuse new ones.
    Cut,
    /// Forward each chunk after this many milliseconds.
    Delay(u64),
    /// Close a connection at a chunk with this probability (0..=1).
    Lossy(f64),
    /// Forward what the dialling side sends, silently swallow every reply: the dialler's
    /// requests arrive but it never hears back (a one-way partition).
    DropReplies,
}

/// A running proxy: listens on `addr` and forwards to `target`.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    mode: watch::Sender<Mode>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Binds 127.0.0.1 on a free port and starts forwarding to `target` in [`Mode::Pass`].
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, rx) = watch::channel(Mode::Pass);
        let accept = tokio::spawn(accept_loop(listener, target, rx));
        Ok(Proxy {
            addr,
            target,
            mode,
            accept,
        })
    }

    /// The address to dial instead of the target.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address traffic is forwarded to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Switches the mode; held connections see the change at once.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Connection tasks end when the watch sender goes away (see `pump`).
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: SocketAddr, rx: watch::Receiver<Mode>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let mode = *rx.borrow();
        if mode == Mode::Cut || matches!(mode, Mode::Lossy(p) if fastrand::f64() < p) {
            drop(inbound);
            continue;
        }
        tokio::spawn(connection(inbound, target, rx.clone()));
    }
}

async fn connection(inbound: TcpStream, target: SocketAddr, rx: watch::Receiver<Mode>) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_r, in_w) = inbound.into_split();
    let (out_r, out_w) = outbound.into_split();
    // Whichever direction ends first closes both: both halves are dropped here.
    tokio::select! {
        _ = pump(in_r, out_w, rx.clone(), false) => {}
        _ = pump(out_r, in_w, rx, true) => {}
    }
}

/// Copies one direction chunk by chunk, applying the mode to each chunk. Returns when either
/// side closes, the link is cut, a lossy link drops the connection, or the proxy is dropped.
/// `reply` is the direction from the target back to the dialler.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut rx: watch::Receiver<Mode>,
    reply: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    // Once replies were swallowed the byte stream has a hole: the connection must not carry
    // anything after the link heals, so it is closed then.
    let mut swallowed = false;
    loop {
        let now = *rx.borrow();
        if now == Mode::Cut || (swallowed && now != Mode::DropReplies) {
            return;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        let mode = *rx.borrow_and_update();
        match mode {
            Mode::Pass => {}
            Mode::DropReplies if reply => {
                swallowed = true;
                continue;
            }
            Mode::DropReplies => {}
            Mode::Cut => return,
            Mode::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Mode::Lossy(p) => {
                if fastrand::f64() < p {
                    return;
                }
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// An echo server on 127.0.0.1 that answers every chunk with the same bytes.
    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    /// Sends `msg` and reads the echo; `None` if the connection closed or timed out.
    async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> Option<Vec<u8>> {
        let io = async {
            s.write_all(msg).await.ok()?;
            let mut got = vec![0u8; msg.len()];
            s.read_exact(&mut got).await.ok()?;
            Some(got)
        };
        tokio::time::timeout(Duration::from_secs(2), io)
            .await
            .ok()
            .flatten()
    }

    #[tokio::test]
    async fn pass_forwards_both_ways() {
        let p = Proxy::start(echo_server().await).await.unwrap();
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut s, b"hello").await.as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(p.mode(), Mode::Pass);
    }

    #[tokio::test]
    async fn cut_closes_held_connections_and_refuses_new_ones_until_healed() {
        let p = Proxy::start(echo_server().await).await.unwrap();
        let mut held = TcpStream::connect(p.addr()).await.unwrap();
        assert!(round_trip(&mut held, b"before").await.is_some());
        p.set_mode(Mode::Cut);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            round_trip(&mut held, b"during").await,
            None,
            "held connection survived"
        );
        let mut fresh = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut fresh, b"new").await,
            None,
            "new connection got through"
        );
        p.set_mode(Mode::Pass);
        let mut healed = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut healed, b"after").await.as_deref(),
            Some(&b"after"[..])
        );
    }

    #[tokio::test]
    async fn delay_slows_each_chunk() {
        let p = Proxy::start(echo_server().await).await.unwrap();
        p.set_mode(Mode::Delay(150));
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        let t = Instant::now();
        assert!(round_trip(&mut s, b"slow").await.is_some());
        // One chunk each way, each delayed.
        assert!(
            t.elapsed() >= Duration::from_millis(300),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn lossy_drops_some_connections_but_not_all() {
        let p = Proxy::start(echo_server().await).await.unwrap();
        p.set_mode(Mode::Lossy(0.5));
        let (mut ok, mut lost) = (0, 0);
        for _ in 0..100 {
            let mut s = TcpStream::connect(p.addr()).await.unwrap();
            match round_trip(&mut s, b"x").await {
                Some(_) => ok += 1,
                None => lost += 1,
            }
        }
        assert!(ok > 0 && lost > 0, "ok {ok}, lost {lost}");
    }

    #[tokio::test]
    async fn drop_replies_delivers_requests_but_swallows_answers() {
        let (tx, mut got) = tokio::sync::mpsc::unbounded_channel();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 64];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    return;
                }
                tx.send(buf[..n].to_vec()).unwrap();
                let _ = s.write_all(&buf[..n]).await;
            }
        });
        let p = Proxy::start(target).await.unwrap();
        p.set_mode(Mode::DropReplies);
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(
            round_trip(&mut s, b"ping").await,
            None,
            "a reply got through"
        );
        assert_eq!(
            got.recv().await.as_deref(),
            Some(&b"ping"[..]),
            "the request was lost"
        );
        p.set_mode(Mode::Pass);
        // The connection that lost replies has a hole in its byte stream: closed on heal.
        assert_eq!(round_trip(&mut s, b"pong").await, None);
    }

    #[tokio::test]
    async fn dropping_the_proxy_stops_it() {
        let p = Proxy::start(echo_server().await).await.unwrap();
        let addr = p.addr();
        let mut held = TcpStream::connect(addr).await.unwrap();
        assert!(round_trip(&mut held, b"x").await.is_some());
        drop(p);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(round_trip(&mut held, b"y").await, None);
    }
}
