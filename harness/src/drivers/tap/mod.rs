//! The wire tap: a TCP proxy between the plug and the broker that decodes every MQTT
//! packet both ways (rumqttc's mqttbytes) and puts it on the scenario's timeline. The
//! broker cannot tell us a client's keepalive or clean_session; the tap can. It can also
//! play a broker outage: cut the plug's connection, or refuse new ones for a while.
//!
//! A bench's tap outlives scenarios, so that a plug kept connected from one scenario to the
//! next keeps its session: `attach` points it at each scenario's timeline and capture in
//! turn (a connection open across the switch starts a new conversation in the new capture).

pub mod capture;
pub mod forward;
pub mod mask;
pub mod tls;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::BytesMut;
use rumqttc::Packet;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};

use crate::drivers::timeline::{Dir, Event, Timeline};
use crate::sync::Locked;
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
    r.locked().timeline.clone()
}

/// One connection's conversation in the capture of the scenario under way.
struct ConnCapture {
    route: SharedRoute,
    tracked: Mutex<Option<Tracked>>,
}

impl ConnCapture {
    fn data(&self, dir: Dir, bytes: &[u8]) {
        let capture = self.route.locked().capture.clone();
        let mut t = self.tracked.locked();
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
                    let s = st.locked();
                    s.refuse_until.is_some_and(|t| Instant::now() < t)
                };
                if refusing {
                    timeline_of(&rt).push(Event::TapRefused);
                    drop(plug);
                    continue;
                }
                let rt = rt.clone();
                let h = tokio::spawn(async move {
                    // TLS is terminated on both sides when used (`tls`): the rest sees plaintext.
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
                    // Small packets leave at once (`forward` says why).
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
                let mut s = st.locked();
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
        let mut r = self.route.locked();
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
        self.route.locked().capture.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.locked()
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

/// Copies one direction, decoding as it goes onto the scenario's timeline and capture.
async fn pump(from: OwnedReadHalf, to: OwnedWriteHalf, dir: Dir, route: &SharedRoute, cap: &ConnCapture) {
    let mut buf = BytesMut::with_capacity(4096);
    forward::forward(from, to, |bytes| {
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
