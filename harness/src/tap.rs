//! The wire tap: a TCP proxy between the plug and the broker that decodes every MQTT
//! packet both ways (rumqttc's mqttbytes) and puts it on the scenario's timeline. The
//! broker cannot tell us a client's keepalive or clean_session; the tap can. It can also
//! play a broker outage: cut the plug's connection, or refuse new ones for a while.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::BytesMut;
use rumqttc::Packet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use crate::capture::{Capture, Tracked};
use crate::timeline::{Dir, Event, Timeline};

const MAX_PACKET: usize = 256 * 1024;

#[derive(Default)]
struct State {
    conns: Vec<AbortHandle>,
    refuse_until: Option<Instant>,
}

pub struct Tap {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    state: Arc<Mutex<State>>,
    timeline: Arc<Timeline>,
    capture: Arc<Capture>,
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
        for c in self.lock().conns.drain(..) {
            c.abort();
        }
    }
}

impl Tap {
    pub async fn start(listen: &str, upstream: SocketAddr, timeline: Arc<Timeline>) -> anyhow::Result<Tap> {
        let l = bind(listen).await?;
        let addr = l.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let (st, tl) = (state.clone(), timeline.clone());
        let capture = Arc::new(Capture::new());
        let cap = capture.clone();
        let task = tokio::spawn(async move {
            while let Ok((plug, _)) = l.accept().await {
                let refusing = {
                    let s = st.lock().unwrap_or_else(|p| p.into_inner());
                    s.refuse_until.is_some_and(|t| Instant::now() < t)
                };
                if refusing {
                    tl.push(Event::TapRefused);
                    drop(plug);
                    continue;
                }
                let tl = tl.clone();
                let cap = cap.clone();
                let h = tokio::spawn(async move {
                    let Ok(broker) = TcpStream::connect(upstream).await else {
                        tl.push(Event::Note(format!(
                            "tap could not reach the broker at {upstream}"
                        )));
                        return;
                    };
                    // Nagle plus delayed ACKs would add ~40 ms to small packets.
                    let _ = plug.set_nodelay(true);
                    let _ = broker.set_nodelay(true);
                    tl.push(Event::TapConnection { open: true });
                    // Closes in the capture when dropped, also when a cut aborts this task.
                    let conn = cap.track();
                    let (pr, pw) = plug.into_split();
                    let (br, bw) = broker.into_split();
                    tokio::join!(
                        pump(pr, bw, Dir::Up, tl.clone(), &conn),
                        pump(br, pw, Dir::Down, tl.clone(), &conn)
                    );
                    drop(conn);
                    tl.push(Event::TapConnection { open: false });
                });
                let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
                s.conns.retain(|c| !c.is_finished());
                s.conns.push(h.abort_handle());
            }
        });
        Ok(Tap {
            addr,
            task,
            state,
            timeline,
            capture,
        })
    }

    /// The synthetic packet capture of every connection through this tap (see `capture`).
    pub fn capture(&self) -> &Arc<Capture> {
        &self.capture
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops every open connection at once, as a broker crash would.
    pub fn cut(&self) {
        let open: Vec<AbortHandle> = self.lock().conns.drain(..).collect();
        let live = open.iter().filter(|c| !c.is_finished()).count();
        for c in open {
            c.abort();
        }
        if live > 0 {
            self.timeline
                .push(Event::Note("tap cut the plug's broker connection".into()));
            self.timeline.push(Event::TapConnection { open: false });
        }
    }

    /// Cuts, then refuses new connections for `d`.
    pub fn outage(&self, d: Duration) {
        self.lock().refuse_until = Some(Instant::now() + d);
        self.cut();
    }
}

/// Listens on `listen`. A fixed port (a bench's) may still be held for a moment by the last
/// scenario's tap, whose task is being dropped: retried for a second.
async fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match TcpListener::bind(listen).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r => return r.with_context(|| format!("the wire tap cannot listen on {listen}")),
        }
    }
}

/// Acknowledges received data at once. rumqttd leaves Nagle on, so a small packet it
/// sends while an earlier one is unacknowledged waits for our ACK, which Linux would
/// otherwise delay by up to 40 ms; quick ACKs keep the tap from adding that to every
/// broker-to-plug packet. TCP_QUICKACK is not sticky: it is set again after each read.
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

/// Copies one direction, decoding as it goes; either side closing closes the other.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, dir: Dir, tl: Arc<Timeline>, cap: &Tracked) {
    let mut buf = BytesMut::with_capacity(4096);
    let mut chunk = vec![0u8; 8192];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        quick_ack(&from);
        // Forward first: the tap must not add latency for decoding.
        if to.write_all(&chunk[..n]).await.is_err() {
            break;
        }
        cap.data(dir, &chunk[..n]);
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match Packet::read(&mut buf, MAX_PACKET) {
                Ok(p) => tl.push(Event::Mqtt(dir, p)),
                Err(rumqttc::Error::InsufficientBytes(_)) => break,
                Err(e) => {
                    tl.push(Event::Note(format!("tap: undecodable bytes {dir:?}: {e:?}")));
                    buf.clear();
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
