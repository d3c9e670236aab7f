//! Forwarding bytes between two loopback TCP connections without adding delay: the wire
//! tap's and the TLS hop's plumbing, and the app client's forwarder.
//!
//! Why every hop of the rig sets TCP_NODELAY and acknowledges at once (said here once; the
//! other places point here): MQTT packets are small, and two TCP habits hold small packets
//! back. Nagle's algorithm keeps a small packet while an earlier one is unacknowledged, and
//! Linux delays its ACKs by up to 40 ms. rumqttd leaves Nagle on, so a packet it sends
//! waits for our ACK; without quick ACKs ([`quick_ack`] after each read) and TCP_NODELAY on
//! our side, the rig would add ~40 ms to round trips the protocol judges (the app's switch
//! round trip was 43 ms p50 against the plug's own 0.14 ms).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use crate::sync::Locked;

/// A plain TCP forwarder on loopback in front of `upstream`, for a client of the rig's own
/// (the app client): no decoding, no timeline. Without it, an app switch command's PUBACK
/// held back the plug's echo (43 ms p50 round trips, the plug's own share 0.14 ms).
/// Dropping it closes its connections.
pub struct Forwarder {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
        for c in self.conns.locked().drain(..) {
            c.abort();
        }
    }
}

impl Forwarder {
    /// A forwarder on a free loopback port; each connection accepted gets one to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Forwarder> {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .context("the app's forwarder cannot listen on loopback")?;
        let addr = l.local_addr()?;
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let list = conns.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = l.accept().await {
                let h = tokio::spawn(async move {
                    // A failed connect closes the client's side: it sees the broker refuse.
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(both_ways(cr, sw), both_ways(sr, cw));
                });
                let mut c = list.locked();
                c.retain(|c| !c.is_finished());
                c.push(h.abort_handle());
            }
        });
        Ok(Forwarder { addr, task, conns })
    }
}

/// Copies one direction of a forwarded connection, acknowledging each read at once.
async fn both_ways(from: OwnedReadHalf, to: OwnedWriteHalf) {
    forward(from, to, |_| {}).await
}

/// Copies one direction, acknowledging each read at once and handing each chunk to `seen`
/// before it is forwarded; either side closing closes the other.
///
/// Before, not after: what the tap forwards reaches the broker and the app (or the plug)
/// within microseconds, and a step that waited for the app's copy of a publish then looks
/// for the tap's record of it. Recorded after forwarding, the record could still be missing
/// at that moment ("the tap saw 5 of the 6 publishes the app received": 4 runs in 200 of
/// the default suite, issue 19). Decoding a chunk costs microseconds, against the plug's
/// own 0.1 ms share of a round trip (`cargo bench`).
pub async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut seen: impl FnMut(&[u8])) {
    let mut chunk = vec![0u8; 8192];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        quick_ack(&from);
        seen(&chunk[..n]);
        if to.write_all(&chunk[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Acknowledges received data at once (the module says why). TCP_QUICKACK is not sticky:
/// it is set again after each read.
fn quick_ack(s: &OwnedReadHalf) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on a live socket with a correctly sized int option.
    unsafe {
        libc::setsockopt(
            s.as_ref().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
