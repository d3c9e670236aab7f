//! The wire tap: a TCP proxy between the plug and the broker that decodes every MQTT
//! packet both ways (rumqttc's mqttbytes) and puts it on the scenario's timeline. The
//! broker cannot tell us a client's keepalive or clean_session; the tap can. It can also
//! play a broker outage: cut the plug's connection, or refuse new ones for a while.
//!
//! A bench's tap outlives scenarios, so that a plug kept connected from one scenario to the
//! next keeps its session: `attach` points it at each scenario's timeline and capture in
//! turn (a connection open across the switch starts a new conversation in the new capture).

pub mod capture;
pub mod mask;
pub mod tls;

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

use crate::drivers::timeline::{Dir, Event, Timeline};
use capture::{Capture, Tracked};

const MAX_PACKET: usize = 256 * 1024;

#[derive(Default)]
struct State {
    conns: Vec<AbortHandle>,
    refuse_until: Option<Instant>,
}

/// Where the tap's observations go: the scenario under way.
struct Route {
    timeline: Arc<Timeline>,
    capture: Arc<Capture>,
}

type SharedRoute = Arc<Mutex<Route>>;

fn timeline_of(r: &SharedRoute) -> Arc<Timeline> {
    r.lock().unwrap_or_else(|p| p.into_inner()).timeline.clone()
}

/// One connection's conversation in the capture of the scenario under way.
struct ConnCapture {
    route: SharedRoute,
    tracked: Mutex<Option<Tracked>>,
}

impl ConnCapture {
    fn data(&self, dir: Dir, bytes: &[u8]) {
        let capture = self
            .route
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .capture
            .clone();
        let mut t = self.tracked.lock().unwrap_or_else(|p| p.into_inner());
        if !t.as_ref().is_some_and(|t| t.is_in(&capture)) {
            *t = Some(capture.track());
        }
        if let Some(t) = t.as_ref() {
            t.data(dir, bytes);
        }
    }
}

pub struct Tap {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    state: Arc<Mutex<State>>,
    route: SharedRoute,
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
        let route = Arc::new(Mutex::new(Route {
            timeline,
            capture: Arc::new(Capture::new()),
        }));
        let (st, rt) = (state.clone(), route.clone());
        let task = tokio::spawn(async move {
            while let Ok((plug, _)) = l.accept().await {
                let refusing = {
                    let s = st.lock().unwrap_or_else(|p| p.into_inner());
                    s.refuse_until.is_some_and(|t| Instant::now() < t)
                };
                if refusing {
                    timeline_of(&rt).push(Event::TapRefused);
                    drop(plug);
                    continue;
                }
                let rt = rt.clone();
                let h = tokio::spawn(async move {
                    // TLS is terminated on both sides when used (tap_tls): the rest sees plaintext.
                    let tl = timeline_of(&rt);
                    let Some(plug) = tls::plug_side(plug, &tl).await else {
                        return;
                    };
                    let Ok(broker) = tls::broker_side(upstream, &tl).await else {
                        timeline_of(&rt).push(Event::Note(format!(
                            "tap could not reach the broker at {upstream}"
                        )));
                        return;
                    };
                    // Nagle plus delayed ACKs would add ~40 ms to small packets.
                    let _ = plug.set_nodelay(true);
                    let _ = broker.set_nodelay(true);
                    timeline_of(&rt).push(Event::TapConnection { open: true });
                    // Closes in the capture when dropped, also when a cut aborts this task.
                    let conn = ConnCapture {
                        route: rt.clone(),
                        tracked: Mutex::new(None),
                    };
                    let (pr, pw) = plug.into_split();
                    let (br, bw) = broker.into_split();
                    tokio::join!(
                        pump(pr, bw, Dir::Up, &rt, &conn),
                        pump(br, pw, Dir::Down, &rt, &conn)
                    );
                    drop(conn);
                    timeline_of(&rt).push(Event::TapConnection { open: false });
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
            route,
        })
    }

    /// From now on, what the tap sees goes to `timeline` and a new capture: the next
    /// scenario's, on a tap that outlives scenarios.
    pub fn attach(&self, timeline: Arc<Timeline>) {
        let mut r = self.route.lock().unwrap_or_else(|p| p.into_inner());
        *r = Route {
            timeline,
            capture: Arc::new(Capture::new()),
        };
    }

    /// Whether a connection from the plug is open through the tap.
    pub fn connected(&self) -> bool {
        self.lock().conns.iter().any(|c| !c.is_finished())
    }

    /// The synthetic packet capture of every connection through this tap since it was
    /// attached to the scenario under way (see `capture`).
    pub fn capture(&self) -> Arc<Capture> {
        self.route
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .capture
            .clone()
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
            let timeline = timeline_of(&self.route);
            timeline.push(Event::Note("tap cut the plug's broker connection".into()));
            timeline.push(Event::TapConnection { open: false });
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

/// A plain TCP relay on loopback in front of `upstream`, for a client of the rig's own
/// (the app client): no decoding, no timeline. rumqttd sets no TCP_NODELAY, so a small
/// packet it sends while an earlier one is unacknowledged waits for the client's ACK,
/// which Linux delays by up to 40 ms: an app switch command's PUBACK then holds back the
/// plug's echo (43 ms p50 round trips, the plug's own share 0.14 ms). The relay
/// acknowledges the broker's data at once ([`quick_ack`] after each read) and forwards
/// with TCP_NODELAY, as the wire tap does for the plug. Dropping it closes its
/// connections.
pub struct Relay {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        for c in self.conns.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            c.abort();
        }
    }
}

impl Relay {
    /// A relay on a free loopback port; each connection accepted gets one to `upstream`.
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<Relay> {
        let l = TcpListener::bind("127.0.0.1:0")
            .await
            .context("the app relay cannot listen on loopback")?;
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
                    tokio::join!(relay(cr, sw), relay(sr, cw));
                });
                let mut c = list.lock().unwrap_or_else(|p| p.into_inner());
                c.retain(|c| !c.is_finished());
                c.push(h.abort_handle());
            }
        });
        Ok(Relay { addr, task, conns })
    }
}

/// Copies one direction of a relayed connection, acknowledging each read at once.
async fn relay(from: OwnedReadHalf, to: OwnedWriteHalf) {
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
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut seen: impl FnMut(&[u8])) {
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

/// Copies one direction, decoding as it goes onto the scenario's timeline and capture.
async fn pump(from: OwnedReadHalf, to: OwnedWriteHalf, dir: Dir, route: &SharedRoute, cap: &ConnCapture) {
    let mut buf = BytesMut::with_capacity(4096);
    forward(from, to, |bytes| {
        cap.data(dir, bytes);
        buf.extend_from_slice(bytes);
        let tl = timeline_of(route);
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
    })
    .await
}
