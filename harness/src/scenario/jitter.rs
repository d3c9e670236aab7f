//! The rig's own timing jitter, measured at run start: how late the rig's timestamps of a
//! plug's message may be for reasons that are not the plug's. The oracle adds it to each
//! interval it judges (`oracle::timing`), and scenarios whose periods it would swamp are
//! skipped with the reason before they start.
//!
//! The model, and why each figure is what it is, is docs/timing.md (said once there): one
//! timestamp is late by between 0 and L = scheduling ([`RigJitter::scheduling`], the
//! slowest of 300 1 ms timers) + the worst path's spread over its fastest round trip (the
//! broker, the loopback forwarder, the plug's AP socket); an interval is off by at most L.
//! Retransmissions the probe sees are reported, not added (`oracle::timing` recognises the
//! message a lost segment delayed).
//! Real time throughout: `time_scale` shrinks the protocol's periods, never this.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use oracle::timing::Periods;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::drivers::app::App;
use crate::drivers::broker::BrokerInfo;
use crate::drivers::tap::forward::Forwarder;
use crate::drivers::timeline::{Event, Timeline};
use crate::scenario::figures::quantile;

/// Timer samples: 1 ms sleeps, as the plug's and the rig's timers do.
const TIMER_SAMPLES: usize = 300;
/// Round trips on each path of this host.
const LOCAL_SAMPLES: usize = 100;
/// 4001 requests to the plug's AP socket: a real plug is small, but a radio link's rare
/// losses need samples to show (a second at a WiFi round trip of a few ms).
const AP_SAMPLES: usize = 100;
/// A probe slower than this counts as lost (and as its own figure).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The host timer's granularity (tokio's wheel ticks in milliseconds): no rig resolves a
/// timestamp better, whatever a quiet probe shows.
const FLOOR: Duration = Duration::from_millis(1);

/// One path's (or the timer's) samples.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: &'static str,
    pub samples: usize,
    pub min: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Segments this side retransmitted during the probe (TCP_INFO), probes lost, and
    /// (AP link) replies ten times the median: the link loses segments.
    pub retransmits: u32,
}

impl Figure {
    fn of(name: &'static str, mut v: Vec<Duration>, retransmits: u32) -> Figure {
        let (p50, p99) = (quantile(&mut v, 0.5), quantile(&mut v, 0.99));
        Figure {
            name,
            samples: v.len(),
            min: v.first().copied().unwrap_or_default(),
            p50,
            p99,
            max: v.last().copied().unwrap_or_default(),
            retransmits,
        }
    }

    /// How late one sample may be beyond the fastest: its p99.
    pub fn spread(&self) -> Duration {
        self.p99.saturating_sub(self.min)
    }
}

/// What the probe found, and the allowance per interval derived from it.
#[derive(Debug, Clone)]
pub struct RigJitter {
    pub scheduling: Figure,
    pub paths: Vec<Figure>,
    /// Paths that could not be probed, with why (a plug not in AP mode, say).
    pub unmeasured: Vec<String>,
}

impl RigJitter {
    /// How late a timer may fire: the slowest of the probe's sleeps over the fastest. Not
    /// a p99: a late timer on the simulated plug makes one long interval with no short one
    /// after it (nothing for the oracle to pair), and a run judges hundreds of ticks, so
    /// one in a hundred would fail a run in two (seen with stress-ng: a 38 ms wake-up
    /// against a p99 of 5 ms).
    pub fn scheduling(&self) -> Duration {
        self.scheduling.max.saturating_sub(self.scheduling.min)
    }

    /// L: how late one timestamp may be, scheduling plus the worst path.
    pub fn one_way(&self) -> Duration {
        let worst = self.paths.iter().map(Figure::spread).max().unwrap_or_default();
        (self.scheduling() + worst).max(FLOOR)
    }

    /// The allowance per interval: L (see the module's model).
    pub fn allowance(&self) -> Duration {
        self.one_way()
    }

    /// The figures on one line, for the run's output and the reports.
    pub fn line(&self) -> String {
        let mut parts = vec![format!("scheduling {:.2} ms (slowest)", ms(self.scheduling()))];
        for p in &self.paths {
            let lost = if p.retransmits > 0 {
                format!(", {} retransmitted or lost", p.retransmits)
            } else {
                String::new()
            };
            parts.push(format!(
                "{} {:.2} ms (rtt p50 {:.2} ms{lost})",
                p.name,
                ms(p.spread()),
                ms(p.p50)
            ));
        }
        for u in &self.unmeasured {
            parts.push(u.clone());
        }
        format!(
            "rig jitter (p99 over the fastest): {}; allowance {:.2} ms per interval",
            parts.join(", "),
            ms(self.allowance())
        )
    }

    /// The figures as (name, value) for the reports' properties.
    pub fn properties(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (
                "rig_jitter.allowance_ms".into(),
                format!("{:.3}", ms(self.allowance())),
            ),
            (
                "rig_jitter.scheduling_ms".into(),
                format!("{:.3}", ms(self.scheduling())),
            ),
        ];
        for p in &self.paths {
            out.push((
                format!("rig_jitter.{}_ms", p.name.replace(' ', "_")),
                format!("{:.3}", ms(p.spread())),
            ));
        }
        out
    }
}

/// Why a scenario with `tags` is not run on this rig: it checks a rule whose period the
/// rig's allowance would swamp (`oracle::timing::PERIODIC_RULES`). It is then listed as
/// skipped with this reason, as a scenario needing a capability the rig lacks is.
pub fn skip_reason<'a>(periods: &Periods, tags: impl Iterator<Item = &'a String>) -> Option<String> {
    periods.unjudgeable(tags.filter_map(|t| t.strip_prefix("rule-")))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Measures the rig's jitter: the timer, the broker, a loopback relay, and `ap` (the plug's
/// AP socket, on a rig with one plug for the run) if given. Takes well under a second on a
/// quiet host.
pub async fn measure(broker: &BrokerInfo, ap: Option<&str>) -> anyhow::Result<RigJitter> {
    let scheduling = timer().await;
    let mut paths = vec![
        broker_path(broker)
            .await
            .context("probing the broker's round trip")?,
        relay_path()
            .await
            .context("probing a loopback relay's round trip")?,
    ];
    let mut unmeasured = Vec::new();
    if let Some(ap) = ap {
        match ap_path(ap).await {
            Ok(f) => paths.push(f),
            Err(e) => unmeasured.push(format!("AP link not measured ({e:#})")),
        }
    }
    Ok(RigJitter {
        scheduling,
        paths,
        unmeasured,
    })
}

/// The AP socket of a rig's one plug (`kind = "external"`), the radio link's far end; the
/// simulated rig's plugs (one per scenario, on loopback) have none at run start.
pub fn ap_of(dut: &crate::rig::DutSpec) -> Option<&str> {
    match dut {
        crate::rig::DutSpec::External(e) => Some(e.ap.as_str()),
        crate::rig::DutSpec::Sim(_) => None,
    }
}

/// Timer overshoot: how much later than asked a 1 ms sleep ends.
async fn timer() -> Figure {
    let want = Duration::from_millis(1);
    let mut v = Vec::with_capacity(TIMER_SAMPLES);
    for _ in 0..TIMER_SAMPLES {
        let t = Instant::now();
        tokio::time::sleep(want).await;
        v.push(t.elapsed().saturating_sub(want));
    }
    Figure::of("timer", v, 0)
}

/// An app client publishing to its own subscription: the broker's round trip.
async fn broker_path(b: &BrokerInfo) -> anyhow::Result<Figure> {
    let tl = Arc::new(Timeline::default());
    let mut app = App::connect(b, tl.clone()).await?;
    let topic = format!("plugrig/jitter/{}", std::process::id());
    app.subscribe(&format!("{topic}/#")).await?;
    let mut v = Vec::with_capacity(LOCAL_SAMPLES);
    let mut lost = 0;
    for i in 0..LOCAL_SAMPLES {
        let (from, sent, want) = (tl.mark(), Instant::now(), i.to_string());
        app.publish(&format!("{topic}/echo"), &want).await?;
        let echo = tl
            .wait_for(from, PROBE_TIMEOUT, "the probe's echo", |e| match &e.event {
                Event::AppReceived { payload, .. } if *payload == want => Some(()),
                _ => None,
            })
            .await;
        lost += u32::from(echo.is_err());
        v.push(sent.elapsed());
    }
    Ok(Figure::of("broker", v, lost))
}

/// A TCP echo on loopback through a [`Forwarder`]: the path the tap's own reads take.
async fn relay_path() -> anyhow::Result<Figure> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let echo_at = l.local_addr()?;
    let echo = tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        let _ = s.set_nodelay(true);
        let mut buf = [0u8; 64];
        while let Ok(n @ 1..) = s.read(&mut buf).await {
            if s.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let relay = Forwarder::start(echo_at).await?;
    let mut s = TcpStream::connect(relay.addr).await?;
    s.set_nodelay(true)?;
    let (mut v, mut buf) = (Vec::with_capacity(LOCAL_SAMPLES), [0u8; 64]);
    let mut lost = 0;
    for _ in 0..LOCAL_SAMPLES {
        let t = Instant::now();
        s.write_all(&[0x5a; 64]).await?;
        let mut got = 0;
        while got < 64 {
            match tokio::time::timeout(PROBE_TIMEOUT, s.read(&mut buf[got..])).await {
                Ok(Ok(n @ 1..)) => got += n,
                Ok(_) => anyhow::bail!("the loopback echo closed"),
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
        v.push(t.elapsed());
    }
    let retransmits = lost + total_retrans(&s);
    echo.abort();
    Ok(Figure::of("tap path", v, retransmits))
}

/// 4001 requests on one connection to the plug's AP socket: the radio link's round trip
/// (and the plug's answer time, which only makes the figure larger). Read-only: 4001 asks
/// the plug who it is. A plug not in AP mode is not measured.
async fn ap_path(ap: &str) -> anyhow::Result<Figure> {
    let addr: SocketAddr = tokio::net::lookup_host(ap).await?.next().context("no address")?;
    let mut s = tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr))
        .await
        .context("no answer")??;
    s.set_nodelay(true)?;
    let (mut v, mut lost) = (Vec::with_capacity(AP_SAMPLES), 0);
    let mut buf = [0u8; 1024];
    for _ in 0..AP_SAMPLES {
        let t = Instant::now();
        s.write_all(br#"{"header":4001}"#).await?;
        // One JSON object per reply, in one write of at most 1024 bytes (PROTOCOL-NOTES);
        // read until its braces balance, whatever the segments.
        let mut depth = 0i32;
        let mut started = false;
        while !(started && depth == 0) {
            let n = match tokio::time::timeout(PROBE_TIMEOUT, s.read(&mut buf)).await {
                Ok(Ok(n @ 1..)) => n,
                Ok(_) => anyhow::bail!("the plug closed its AP connection"),
                Err(_) => {
                    lost += 1;
                    break;
                }
            };
            for &c in &buf[..n] {
                match c {
                    b'{' => (depth, started) = (depth + 1, true),
                    b'}' => depth -= 1,
                    _ => {}
                }
            }
        }
        v.push(t.elapsed());
    }
    // A reply the plug's stack had to retransmit shows only as its delay: one past ten
    // times the median is taken as a loss, as our own retransmissions are, and left out of
    // the spread (two in a hundred would otherwise be the p99, and a retransmission is the
    // oracle's to recognise, not the allowance's).
    let mut sorted = v.clone();
    let median = quantile(&mut sorted, 0.5);
    let (outliers, v): (Vec<Duration>, Vec<Duration>) = v.into_iter().partition(|d| *d > median * 10);
    let retransmits = lost + total_retrans(&s) + outliers.len() as u32;
    Ok(Figure::of("AP link", v, retransmits))
}

/// Segments this socket retransmitted (TCP_INFO's tcpi_total_retrans); 0 if unknown.
fn total_retrans(s: &TcpStream) -> u32 {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain data; all-zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt on a live socket into a buffer of `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if r == 0 {
        info.tcpi_total_retrans
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(ms: &[u64], retransmits: u32) -> Figure {
        Figure::of(
            "p",
            ms.iter().map(|&m| Duration::from_micros(m * 100)).collect(),
            retransmits,
        )
    }

    #[test]
    fn a_spread_is_the_tail_over_the_fastest() {
        // 100 samples: 1..=100 (x 0.1 ms); p99 is the 99th.
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(fig(&v, 0).spread(), Duration::from_micros(9_800));
        // One retransmission (a 200 ms outlier) is reported, not allowed for.
        let mut lossy = v.clone();
        lossy[50] = 2000;
        assert_eq!(fig(&lossy, 1).spread(), Duration::from_micros(9_900));
        assert_eq!(fig(&[], 0).spread(), Duration::ZERO);
    }

    #[test]
    fn the_allowance_is_scheduling_plus_the_worst_path() {
        // One timer 4 ms late among 200 on time: the tail counts, not the p99.
        let mut timer = vec![10; 200];
        timer.push(50);
        let j = RigJitter {
            scheduling: fig(&timer, 0),
            paths: vec![fig(&[5, 15], 0), fig(&[20, 60], 0)],
            unmeasured: vec!["AP link not measured (refused)".into()],
        };
        // 4 ms of timer tail + 4 ms on the worst path.
        assert_eq!(j.scheduling(), Duration::from_millis(4));
        assert_eq!(j.allowance(), Duration::from_millis(8));
        assert!(
            j.line().contains("allowance 8.00 ms per interval"),
            "{}",
            j.line()
        );
        assert!(j.line().contains("AP link not measured"));
        // A quiet probe still leaves the timer's granularity.
        let quiet = RigJitter {
            scheduling: fig(&[1, 1], 0),
            paths: vec![],
            unmeasured: vec![],
        };
        assert_eq!(quiet.allowance(), FLOOR);
    }

    #[tokio::test]
    async fn the_loopback_paths_are_measured() {
        let f = relay_path().await.expect("relay probe");
        assert_eq!(f.samples, LOCAL_SAMPLES);
        assert!(f.min <= f.p50 && f.p50 <= f.p99 && f.p99 <= f.max);
        assert!(f.min > Duration::ZERO);
        let t = timer().await;
        assert!(t.min < Duration::from_millis(50), "{t:?}");
    }
}
