//! The World: one scenario's view of the rig. A fresh tap and app client per scenario, and
//! on the simulated rig a fresh plug, so no scenario depends on what another left behind; a
//! bench plug outlives its scenario, and `between` says what the next one finds.

mod between;
mod state;

pub use state::{MeteringState, RelayState, UpgradeState};

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use oracle::ap::{MqttServer, Reply};
use oracle::measure::{Limits, Measurements};
use oracle::timing::Periods;
use oracle::Identity;

use crate::drivers::ap_link::ApLink;
use crate::drivers::app::App;
use crate::drivers::broker::BrokerInfo;
use crate::drivers::dut::{DutHandle, OpenOptions};
use crate::drivers::ota::server::UpdateServer;
use crate::drivers::ota::upgrade_images::UpgradeImages;
use crate::drivers::tap::Tap;
use crate::drivers::timeline::{Event, Mark, Timeline};
use crate::rig::console::ConsolePatterns;
use crate::rig::Rig;
use crate::scenario::record::{Recorder, ScenarioKey, WorldRecord};
use crate::strategy::{HeldSession, LeftBehind};
use crate::sync::Locked;

/// How long the first AP request may retry while the plug's access point comes up.
const AP_CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// What every scenario of a run shares: the rig, its broker, and the network services
/// (update server, DNS) an upgrade needs.
pub struct RunContext {
    pub rig: Rig,
    pub broker: BrokerInfo,
    pub periods: Periods,
    pub update: UpdateServer,
    pub dns: SocketAddr,
    /// This host's address as the plug reaches it: where the update server listens, what
    /// upgrade realms name.
    pub rig_host: IpAddr,
    /// The upgrade images this DUT takes.
    pub images: UpgradeImages,
    /// How the plug's console reports a boot and the relay.
    pub console: ConsolePatterns,
    /// What the last scenario left in an external plug.
    left_behind: Mutex<LeftBehind>,
    /// Whether a plug left provisioned and connected may serve the next scenario that
    /// starts connected (`run.reuse_connected`).
    reuse_connected: bool,
    /// The wire tap of a plug that outlives scenarios: one for the run, so that a plug kept
    /// connected keeps its session.
    bench_tap: tokio::sync::Mutex<Option<Arc<Tap>>>,
    /// Set when the run cannot go on (the DUT cannot be brought to a known state).
    stop: tokio::sync::watch::Sender<Option<String>>,
    /// Every scenario's record, for the reports.
    pub recorder: Arc<Recorder>,
    /// `--report DIR`: where each scenario's capture goes (`DIR/captures/`).
    pub report_dir: Option<std::path::PathBuf>,
    /// Time spent writing captures, microseconds: part of the reports' cost.
    pub capture_writing_us: std::sync::atomic::AtomicU64,
    next_plug: AtomicU32,
    /// Where the run's verdicts come from (set by the runner before the first scenario).
    pub provenance: Option<crate::provenance::Provenance>,
    /// `--keep-secrets`: captures keep the CONNECT password.
    pub keep_secrets: bool,
    /// The pass under way, from 1 (`--repeat`, `--retries`: the runner sets it).
    pub pass: AtomicU32,
    /// Each scenario's attempt in the pass under way, where it is not the first: its
    /// capture is named after it.
    pub attempt_of: Mutex<std::collections::HashMap<crate::scenario::record::ScenarioKey, u32>>,
}

impl fmt::Debug for RunContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RunContext(rig {}, broker {})",
            self.rig.file.rig.name, self.broker.addr
        )
    }
}

tokio::task_local! {
    /// The run's context, for the Worlds cucumber creates while the run's future runs
    /// (cucumber drives every scenario inside that one task). Task-local rather than global,
    /// so several runs can go on in one process, each with its own rig.
    pub static CONTEXT: Arc<RunContext>;
}

/// The rig's network services, started by the runner before the first scenario, and where
/// the run's reports go.
pub struct Services {
    pub update: UpdateServer,
    pub dns: SocketAddr,
    pub rig_host: IpAddr,
    pub report_dir: Option<std::path::PathBuf>,
}

impl RunContext {
    pub fn new(rig: Rig, broker: BrokerInfo, services: Services) -> Arc<RunContext> {
        let periods = Periods::new(f64::from(rig.file.rig.time_scale));
        let images = UpgradeImages::of_rig(&rig.file);
        let console = rig.file.dut.console_patterns();
        let reuse_connected = rig.file.run.reuse_connected;
        Arc::new(RunContext {
            rig,
            broker,
            periods,
            update: services.update,
            dns: services.dns,
            rig_host: services.rig_host,
            images,
            console,
            reuse_connected,
            bench_tap: Default::default(),
            left_behind: Mutex::default(),
            stop: tokio::sync::watch::channel(None).0,
            recorder: Arc::default(),
            report_dir: services.report_dir,
            capture_writing_us: Default::default(),
            next_plug: AtomicU32::new(1),
            provenance: None,
            keep_secrets: false,
            pass: AtomicU32::new(1),
            attempt_of: Mutex::default(),
        })
    }

    /// Stops the run: the runner ends it with `why` as its one message.
    pub fn stop(&self, why: String) {
        self.stop.send_replace(Some(why));
    }

    /// Resolves when the run has been stopped, with the reason.
    pub async fn stopped(&self) -> String {
        let mut rx = self.stop.subscribe();
        loop {
            if let Some(why) = rx.borrow_and_update().clone() {
                return why;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    pub(crate) fn is_stopped(&self) -> Option<String> {
        self.stop.borrow().clone()
    }

    /// What a new plug of this run needs: a simulated one resolves through the rig's DNS.
    fn open_options<'a>(&self, mac: &'a str) -> OpenOptions<'a> {
        OpenOptions {
            time_scale: self.rig.file.rig.time_scale,
            mac,
            resolver: Some(self.dns),
            pass: self.pass.load(Ordering::Relaxed),
        }
    }
}

#[derive(cucumber::World)]
#[world(init = Self::new)]
pub struct PlugWorld {
    pub ctx: Arc<RunContext>,
    pub timeline: Arc<Timeline>,
    pub plug: DutHandle,
    /// Whether the rig says this plug measures power (device_type "1").
    pub power_claim: bool,
    /// The wire tap: this scenario's own, or the bench's, which outlives scenarios.
    pub tap: Arc<Tap>,
    pub app: App,
    pub ap: Option<ApLink>,
    /// Extra AP connections a scenario holds open (idle or half-open clients).
    pub idle_links: Vec<ApLink>,
    pub identity: Option<Identity>,
    pub last_reply: Option<Reply>,
    /// The plug closed the AP connection instead of replying to the last request.
    pub ap_closed: bool,
    pub provisioned: Option<MqttServer>,
    /// Timeline index where the step under way started looking.
    pub mark: Mark,
    /// Unique in the run: names this scenario's resources (update catalogues).
    pub scenario_id: String,
    /// The plug's MAC, unique in the run.
    pub mac: String,
    /// Timeline index of the last app command, for checks of what it caused.
    pub command_mark: Mark,
    /// Timeline index where the current countdown was started.
    pub countdown_mark: Mark,
    /// The waits the protocol imposed on this scenario so far, µs (see `protocol_wait`).
    protocol_wait_us: std::sync::atomic::AtomicU64,
    /// Every quantity the steps judged, with its limits and verdict.
    pub measurements: Measurements,
    /// What the metering steps keep: the meter and the load.
    pub metering: MeteringState,
    /// What the upgrade steps keep: the catalogue, the versions, the refusing port.
    pub upgrade: UpgradeState,
    /// What the switch steps know of the relay.
    pub relay: RelayState,
    /// A rig actuator (power, button) acted on the plug in this scenario.
    pub actuated: bool,
    /// The plug the last scenario left provisioned and connected, for this scenario's
    /// first step to take over (see `strategy`).
    held: Option<HeldSession>,
}

impl fmt::Debug for PlugWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // cucumber prints the World of a failed step: the timeline is what helps there.
        write!(
            f,
            "{:?} identity={:?}\n{}",
            self.plug,
            self.identity.as_ref().map(Identity::prefix),
            self.timeline.tail()
        )
    }
}

impl PlugWorld {
    /// The scenario waited `d` because the protocol says so (a period, a hold, an
    /// observation window, the plug's own timeout): recorded for this scenario and for the
    /// benchmark's sum (`scenario::figures`).
    pub fn protocol_wait(&self, d: Duration) {
        self.protocol_wait_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        crate::scenario::figures::protocol_wait(d);
    }

    /// At the end of a scenario: an external plug checked and sent back to AP mode, and what
    /// the scenario saw (timeline, measurements) handed to the run's record.
    /// Returns why a scenario that passed its steps fails after all: it left the plug's AP
    /// socket wedged (`ap_still_serves`).
    pub async fn finish(&mut self, key: ScenarioKey, scenario: &str, failed: bool) -> Option<String> {
        let wedged = if failed {
            None
        } else {
            self.ap_still_serves().await.err()
        };
        let failed = failed || wedged.is_some();
        // The scenario's own record ends here: the reset that follows is the rig's.
        let failed_at = failed.then(|| self.timeline.now());
        let elapsed = self.timeline.now();
        let timeline = self.timeline.snapshot();
        self.leave_for_next(scenario, failed).await;
        self.ctx.recorder.dut(|d| {
            if let Some(id) = &self.identity {
                d.prefix.get_or_insert_with(|| id.prefix());
                d.device_type.get_or_insert_with(|| id.device_type.clone());
            }
            let infor = timeline.iter().find_map(|e| match &e.event {
                Event::AppReceived { topic, payload } if topic.ends_with("/device/firmware_infor") => {
                    oracle::payloads::firmware_infor(payload).ok()
                }
                _ => None,
            });
            if let Some(f) = infor {
                d.firmware_version.get_or_insert(f.firmware_version);
                d.product_model.get_or_insert(f.product_model);
            }
        });
        let capture = self.write_capture(&key);
        let record = WorldRecord {
            failed_at,
            timeline,
            measurements: self.measurements.all().to_vec(),
            capture,
            elapsed,
            protocol_wait: Duration::from_micros(self.protocol_wait_us.load(Ordering::Relaxed)),
        };
        self.ctx.recorder.world(key, record);
        wedged
    }

    /// Leaves a plug that outlives this World for what comes next, as `finish` does, but
    /// without a scenario record (the fuzzer's sessions: a long run would keep every
    /// timeline in memory).
    pub(crate) async fn leave(&mut self, name: &str) {
        self.leave_for_next(name, false).await;
    }

    /// The tap's capture of this scenario as `captures/<feature>-<line>.pcapng` under the
    /// report directory; returns its path relative to that directory. A capture that
    /// cannot be written is noted, not fatal: the verdict does not depend on it.
    fn write_capture(&self, key: &ScenarioKey) -> Option<std::path::PathBuf> {
        let dir = self.ctx.report_dir.as_ref()?;
        let stem = std::path::Path::new(&key.feature)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into());
        let attempt = self.ctx.attempt_of.locked().get(key).copied();
        let name = match attempt {
            Some(a) if a > 1 => format!("{stem}-{}-attempt{a}.pcapng", key.line),
            _ => format!("{stem}-{}.pcapng", key.line),
        };
        let rel = std::path::PathBuf::from("captures").join(name);
        let started = std::time::Instant::now();
        let written = self.tap.capture().write_pcapng(&dir.join(&rel));
        self.ctx
            .capture_writing_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match written {
            Ok(()) => Some(rel),
            Err(e) => {
                eprintln!("plugrig: capture {} not written: {e:#}", rel.display());
                None
            }
        }
    }

    /// Records a judged quantity (see [`oracle::measure`]) at the timeline's present moment
    /// unless `at` says when it happened; fails the step when it is outside its limits.
    pub fn measure(
        &mut self,
        name: &str,
        unit: &'static str,
        limits: Limits,
        value: f64,
        at: Option<Duration>,
    ) -> anyhow::Result<()> {
        let at = at.unwrap_or_else(|| self.timeline.now());
        self.measurements
            .check(name, unit, limits, value, at)
            .map_err(|e| anyhow::anyhow!(e))
    }

    pub(crate) async fn new() -> anyhow::Result<PlugWorld> {
        let ctx = CONTEXT
            .try_with(Arc::clone)
            .context("no run context: a World is made only inside commands::run::run")?;
        let timeline = Arc::new(Timeline::default());
        let n = ctx.next_plug.fetch_add(1, Ordering::Relaxed);
        // A locally administered MAC, unique per plug of this run: topics never collide.
        let mac = format!(
            "02:70:72:{:02x}:{:02x}:{:02x}",
            (std::process::id() & 0xff) as u8,
            (n >> 8) as u8,
            n as u8
        );
        let dut = &ctx.rig.file.dut;
        let plug = DutHandle::open(dut, ctx.open_options(&mac), timeline.clone()).await?;
        let (power_claim, tap_listen) = (dut.power_claim(), dut.tap_listen());
        let tap = if plug.outlives_scenario() {
            ctx.bench_tap(&tap_listen, timeline.clone()).await?
        } else {
            Arc::new(Tap::start(&tap_listen, ctx.broker.addr, timeline.clone()).await?)
        };
        if ctx.keep_secrets {
            tap.capture().keep_secrets();
        }
        let app = App::connect(&ctx.broker, timeline.clone()).await?;
        Ok(PlugWorld {
            ctx,
            timeline,
            plug,
            power_claim,
            tap,
            app,
            ap: None,
            idle_links: Vec::new(),
            identity: None,
            last_reply: None,
            ap_closed: false,
            provisioned: None,
            mark: Mark::START,
            scenario_id: format!("s{n}"),
            mac,
            command_mark: Mark::START,
            countdown_mark: Mark::START,
            protocol_wait_us: Default::default(),
            measurements: Measurements::default(),
            metering: MeteringState::default(),
            upgrade: UpgradeState::default(),
            relay: RelayState::default(),
            actuated: false,
            held: None,
        })
    }

    /// Replaces the plug with a fresh one of another device_type (simulated rig only).
    pub async fn respawn_with_device_type(&mut self, device_type: &str) -> anyhow::Result<()> {
        let o = self.ctx.open_options(&self.mac);
        self.plug
            .respawn_as(&self.ctx.rig.file.dut, device_type, o, self.timeline.clone())
            .await?;
        self.power_claim = device_type == "1";
        self.ap = None;
        Ok(())
    }

    pub fn periods(&self) -> Periods {
        self.ctx.periods
    }

    pub fn identity(&self) -> anyhow::Result<&Identity> {
        self.identity
            .as_ref()
            .context("no 4001 reply yet: the plug's identity is unknown")
    }

    /// One request on the scenario's AP connection. The first one connects, retrying while
    /// the plug resets the connection as its access point comes up.
    pub async fn request(&mut self, v: &serde_json::Value) -> anyhow::Result<Reply> {
        if let Some(link) = self.ap.as_mut() {
            return link.request(v).await;
        }
        let addr = self.ap_addr().await?;
        let (link, reply) = ApLink::request_fresh(addr, v, self.timeline.clone(), AP_CONNECT_WITHIN).await?;
        self.ap = Some(link);
        Ok(reply)
    }

    pub async fn ap(&mut self) -> anyhow::Result<&mut ApLink> {
        if self.ap.is_none() {
            let addr = self.ap_addr().await?;
            self.ap = Some(ApLink::connect(addr, self.timeline.clone()).await?);
        }
        self.ap.as_mut().context("AP link")
    }

    /// The plug's AP socket, with this host on the plug's access point (a bench rig's AP
    /// network driver joins it; the simulated plug's is on loopback).
    pub async fn ap_addr(&self) -> anyhow::Result<std::net::SocketAddr> {
        self.plug.join_ap().await?;
        Ok(self.plug.ap())
    }
}
