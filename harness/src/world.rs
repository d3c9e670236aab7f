//! The World: one scenario's view of the rig. A fresh plug, tap and app client per
//! scenario, so no scenario depends on what another left behind.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttc::Packet;

use crate::ap_link::ApLink;
use crate::app::App;
use crate::broker::BrokerInfo;
use crate::ota::server::UpdateServer;
use crate::protocol::ap::{MqttServer, Reply};
use crate::protocol::timing::Periods;
use crate::protocol::Identity;
use crate::rig::external::ExternalPlug;
use crate::rig::handle::DutHandle;
use crate::rig::{self, Rig};
use crate::tap::Tap;
use crate::timeline::{Dir, Entry, Event, Timeline};

/// What every scenario of a run shares: the rig, its broker, and the network services
/// (update server, DNS) an upgrade needs.
pub struct RunContext {
    pub rig: Rig,
    pub broker: BrokerInfo,
    pub periods: Periods,
    pub update: UpdateServer,
    pub dns: SocketAddr,
    firmware: tokio::sync::OnceCell<Arc<Vec<u8>>>,
    /// Upgrade images by target, built once per run: each CRCs the whole body.
    images: std::sync::Mutex<std::collections::HashMap<String, Arc<Vec<u8>>>>,
    next_plug: AtomicU32,
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

impl RunContext {
    /// The body of an upgrade image: the simulated plug's own executable (built from this
    /// workspace), or the external rig's `ota_body`; read once per run.
    /// The target an image must name to be accepted by this DUT.
    pub fn ota_target(&self) -> &str {
        match &self.rig.file.dut {
            rig::Dut::Sim(_) => "sim",
            rig::Dut::External(e) => e.ota_target.as_deref().unwrap_or("unknown"),
        }
    }

    /// The newer-version upgrade image for `target`, built once per run.
    pub async fn upgrade_image(&self, target: &str) -> anyhow::Result<Arc<Vec<u8>>> {
        let cached = self
            .images
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(target)
            .cloned();
        if let Some(img) = cached {
            return Ok(img);
        }
        let body = self.firmware_body().await?;
        let img = Arc::new(crate::ota::image::build(&crate::ota::image::ImageSpec {
            target,
            version: crate::steps::ota::NEW_VERSION,
            body: &body,
        }));
        self.images
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target.to_string(), img.clone());
        Ok(img)
    }

    pub async fn firmware_body(&self) -> anyhow::Result<Arc<Vec<u8>>> {
        self.firmware
            .get_or_try_init(|| async {
                let bin = match &self.rig.file.dut {
                    rig::Dut::Sim(cfg) => rig::sim::binary(cfg).await?,
                    rig::Dut::External(e) => e.ota_body.clone().context("the rig names no dut.ota_body")?,
                };
                let bytes = tokio::fs::read(&bin)
                    .await
                    .with_context(|| format!("reading {}", bin.display()))?;
                anyhow::Ok(Arc::new(bytes))
            })
            .await
            .cloned()
    }
}

tokio::task_local! {
    /// The run's context, for the Worlds cucumber creates while the run's future runs
    /// (cucumber drives every scenario inside that one task). Task-local rather than global,
    /// so several runs can go on in one process, each with its own rig.
    pub static CONTEXT: Arc<RunContext>;
}

impl RunContext {
    pub fn new(rig: Rig, broker: BrokerInfo, update: UpdateServer, dns: SocketAddr) -> Arc<RunContext> {
        let periods = Periods::new(f64::from(rig.file.rig.time_scale));
        Arc::new(RunContext {
            rig,
            broker,
            periods,
            update,
            dns,
            firmware: tokio::sync::OnceCell::new(),
            images: Default::default(),
            next_plug: AtomicU32::new(1),
        })
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
    pub tap: Tap,
    pub app: App,
    pub ap: Option<ApLink>,
    /// The reference meter's driver, opened by the first metering step.
    pub meter: Option<crate::instruments::MeterDriver>,
    /// The simulated rig's virtual meter behind it.
    pub virtual_meter: Option<crate::instruments::VirtualMeter>,
    /// Extra AP connections a scenario holds open (idle or half-open clients).
    pub idle_links: Vec<ApLink>,
    pub identity: Option<Identity>,
    pub last_reply: Option<Reply>,
    pub provisioned: Option<MqttServer>,
    /// Timeline index where the step under way started looking.
    pub mark: usize,
    /// Unique in the run: names this scenario's resources (update catalogues).
    pub scenario_id: String,
    /// The plug's MAC, unique in the run.
    pub mac: String,
    /// The update-server catalogue this scenario offers.
    pub ota_catalogue: Option<String>,
    /// Timeline index of the last app command, for checks of what it caused.
    pub command_mark: usize,
    /// Timeline index where the current countdown was started.
    pub countdown_mark: usize,
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

async fn spawn_sim(
    ctx: &RunContext,
    cfg: &rig::sim::SimDut,
    mac: &str,
    timeline: Arc<Timeline>,
) -> anyhow::Result<rig::sim::SimPlug> {
    let spawn = rig::sim::Spawn {
        cfg,
        time_scale: ctx.rig.file.rig.time_scale,
        mac: mac.to_string(),
        resolver: Some(ctx.dns),
    };
    rig::sim::SimPlug::spawn(spawn, timeline).await
}

/// A scenario starts from a factory-fresh plug. With a power switch the plug is power
/// cycled first, so nothing a previous scenario left in its RAM (a pending 4002) survives.
/// Then its AP socket must answer; if it does not, the rig's button driver resets the plug
/// (a 10 s hold); without one the scenario fails.
async fn ensure_ap_mode(e: &ExternalPlug, periods: Periods, timeline: Arc<Timeline>) -> anyhow::Result<()> {
    if e.has_power_switch() {
        e.set_power(false).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        e.set_power(true).await?;
    }
    e.join_ap().await?;
    if ApLink::connect_within(e.ap, timeline.clone(), Duration::from_secs(3))
        .await
        .is_ok()
    {
        return Ok(());
    }
    if !e.has_button() {
        anyhow::bail!(
            "the plug does not answer on its AP socket {} and the rig has no button to reset it",
            e.ap
        );
    }
    timeline.push(Event::Note(
        "the plug is not in AP mode: resetting it with a 10 s button hold".into(),
    ));
    e.press(periods.app(10.5)).await?;
    ApLink::connect_within(e.ap, timeline, Duration::from_secs(15))
        .await
        .map(drop)
        .context("the plug did not return to AP mode after a button reset")
}

impl PlugWorld {
    /// After a scenario on an external plug: send it back to AP mode with `app/reset`, so
    /// the next scenario starts fresh (a simulated plug is simply discarded).
    pub async fn reset_external(&mut self) {
        if !matches!(self.plug, DutHandle::External(_)) {
            return;
        }
        let Some(id) = self.identity.clone() else { return };
        let from = self.timeline.len();
        if self.app.publish(&id.app_topic("reset"), "").await.is_err() {
            return;
        }
        let _ = self
            .timeline
            .wait_for(
                from,
                Duration::from_secs(5),
                "the plug to leave the broker",
                |e| matches!(e.event, Event::TapConnection { open: false }).then_some(()),
            )
            .await;
    }

    async fn new() -> anyhow::Result<PlugWorld> {
        let ctx = CONTEXT
            .try_with(Arc::clone)
            .context("no run context: a World is made only inside runner::run")?;
        let timeline = Arc::new(Timeline::default());
        let n = ctx.next_plug.fetch_add(1, Ordering::Relaxed);
        // A locally administered MAC, unique per plug of this run: topics never collide.
        let mac = format!(
            "02:70:72:{:02x}:{:02x}:{:02x}",
            (std::process::id() & 0xff) as u8,
            (n >> 8) as u8,
            n as u8
        );
        let power_claim = match &ctx.rig.file.dut {
            rig::Dut::Sim(cfg) => cfg.device_type == "1",
            rig::Dut::External(e) => e.power_monitoring,
        };
        let (plug, tap_listen) = match &ctx.rig.file.dut {
            rig::Dut::Sim(cfg) => {
                let p = spawn_sim(&ctx, cfg, &mac, timeline.clone()).await?;
                (DutHandle::Sim(p), "127.0.0.1:0".to_string())
            }
            rig::Dut::External(e) => {
                let p = ExternalPlug::open(e, timeline.clone()).await?;
                (DutHandle::External(Box::new(p)), e.tap_listen.clone())
            }
        };
        if let DutHandle::External(e) = &plug {
            ensure_ap_mode(e, ctx.periods, timeline.clone()).await?;
        }
        let tap = Tap::start(&tap_listen, ctx.broker.addr, timeline.clone()).await?;
        let app = App::connect(&ctx.broker, timeline.clone()).await?;
        Ok(PlugWorld {
            ctx,
            timeline,
            plug,
            power_claim,
            tap,
            app,
            ap: None,
            meter: None,
            virtual_meter: None,
            idle_links: Vec::new(),
            identity: None,
            last_reply: None,
            provisioned: None,
            mark: 0,
            scenario_id: format!("s{n}"),
            mac,
            ota_catalogue: None,
            command_mark: 0,
            countdown_mark: 0,
        })
    }

    /// Replaces the plug with a fresh one of another device_type (simulated rig only).
    pub async fn respawn_with_device_type(&mut self, device_type: &str) -> anyhow::Result<()> {
        let rig::Dut::Sim(cfg) = &self.ctx.rig.file.dut else {
            anyhow::bail!("only a simulated plug can be restarted as another model");
        };
        let mut cfg = cfg.clone();
        cfg.device_type = device_type.to_string();
        self.power_claim = device_type == "1";
        self.plug.shutdown();
        self.ap = None;
        let mac = self.mac.clone();
        self.plug = DutHandle::Sim(spawn_sim(&self.ctx, &cfg, &mac, self.timeline.clone()).await?);
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
        if let DutHandle::External(e) = &self.plug {
            e.join_ap().await?;
        }
        Ok(self.plug.ap())
    }

    /// Waits for the plug's broker session: an accepted CONNACK on the tap, then the
    /// broker's SUBACK to the plug (before it, an app command could be lost). Returns the
    /// index of the CONNACK.
    pub async fn wait_connected(&self, from: usize, within: Duration) -> anyhow::Result<usize> {
        if let DutHandle::External(e) = &self.plug {
            e.leave_ap().await?;
        }
        let what = "an accepted CONNACK to the plug on the tap";
        let (_, i) = self
            .timeline
            .wait_for(from, within, what, |e| match &e.event {
                Event::Mqtt(Dir::Down, Packet::ConnAck(a))
                    if a.code == rumqttc::ConnectReturnCode::Success =>
                {
                    Some(())
                }
                _ => None,
            })
            .await?;
        self.timeline
            .wait_for(i, within, "the broker's SUBACK to the plug", |e| match &e.event {
                Event::Mqtt(Dir::Down, Packet::SubAck(_)) => Some(()),
                _ => None,
            })
            .await?;
        Ok(i)
    }

    /// Waits for the app to receive a message on `{prefix}/device/{field}`.
    pub async fn wait_device(
        &self,
        from: usize,
        field: &str,
        within: Duration,
    ) -> anyhow::Result<(String, usize, Duration)> {
        let topic = self.identity()?.device_topic(field);
        let ((p, at), i) = self
            .timeline
            .wait_for(from, within, &format!("a message on {topic}"), |e| {
                match &e.event {
                    Event::AppReceived { topic: t, payload } if *t == topic => Some((payload.clone(), e.at)),
                    _ => None,
                }
            })
            .await?;
        Ok((p, i, at))
    }

    /// Every PUBLISH the plug sent on `{prefix}/device/{field}` since `from`, as seen on the tap.
    pub fn tap_publishes(
        &self,
        from: usize,
        field: &str,
    ) -> anyhow::Result<Vec<(Duration, rumqttc::Publish)>> {
        let topic = self.identity()?.device_topic(field);
        Ok(self
            .timeline
            .snapshot()
            .into_iter()
            .skip(from)
            .filter_map(|Entry { at, event }| match event {
                Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == topic => Some((at, p)),
                _ => None,
            })
            .collect())
    }
}
