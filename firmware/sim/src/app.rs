//! The application task: runs plug-core from power-on until power-off or restart, feeds
//! it the I/O tasks' events (`events`) and applies its actions here or through the task
//! that owns the resource (`ap_socket`, `mqtt_link`, `ota_fetch`; flash is `flash` and
//! `slots`, the chip and relay are `world`). Each I/O task lives in a JoinSet, so a power
//! cut (aborting `run`) drops every socket at once, as a real power cut would.
//!
//! Refuses: decisions. Everything the plug decides is the core's; this file only moves
//! bytes, writes flash and flips the simulated relay. Three test switches are the board's
//! to apply, since they are about its I/O: the `console-format` and `ap-stays-open`
//! variations and the `ota-keeps-version` fault.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plug_core::console::{self, Format};
use plug_core::faults::{Fault, Faults};
use plug_core::identity::Identity;
use plug_core::mqtt::NetTiming;
use plug_core::plug::{Action, ConnId, Input, LinkId, OtaInput};
use plug_core::storage::ConfigStore;
use plug_core::variations::{Variation, Variations};
use plug_core::{Plug, Timing};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use tokio::task::{AbortHandle, JoinSet};

use crate::ap_socket;
use crate::events::Ev;
use crate::events::MqttWriter;
use crate::flash::FileFlash;
use crate::http::{self, OtaEvent};
use crate::mqtt_link;
use crate::ota_fetch;
use crate::slots::Slots;
use crate::world::{lock, World};
use plug_core::ota::slot::{SlotError, SlotWriter};

/// Pages of the config flash range (sequential-storage needs at least two).
pub const CONFIG_PAGES: usize = 4;

#[derive(Clone)]
pub struct BoardConfig {
    pub identity: Identity,
    pub timing: Timing,
    pub ap_addr: SocketAddr,
    pub state_dir: std::path::PathBuf,
    pub resolver: Option<SocketAddr>,
    pub faults: Faults,
    pub variations: Variations,
}

impl BoardConfig {
    fn console_format(&self) -> Format {
        if self.variations.has(Variation::ConsoleFormat) {
            Format::Vendor
        } else {
            Format::Plugrig
        }
    }

    /// The AP listener is open whenever the plug runs; outside AP mode the core closes
    /// each connection unanswered.
    fn ap_stays_open(&self) -> bool {
        self.variations.has(Variation::ApStaysOpen)
    }
}

/// The name in the `console-format` boot line.
const BOARD_NAME: &str = "plug-sim";

/// Why the firmware stopped running.
#[derive(Debug)]
pub enum Stop {
    Restart,
}

struct Board {
    cfg: BoardConfig,
    world: Arc<Mutex<World>>,
    console: UnboundedSender<String>,
    tx: UnboundedSender<Ev>,
    tasks: JoinSet<()>,
    boot: tokio::time::Instant,
    store: ConfigStore<FileFlash>,
    slots: Slots,
    ap_listener: Option<AbortHandle>,
    ap_conns: HashMap<ConnId, (OwnedWriteHalf, AbortHandle)>,
    /// The broker stream's writer, once its link opened.
    mqtt: Option<MqttWriter>,
    /// The task behind the current broker link.
    mqtt_task: Option<(LinkId, AbortHandle)>,
    /// The current download: its link, task and the core's writer into the slot.
    ota: Option<(LinkId, AbortHandle, SlotWriter)>,
    /// The OTA slots' flash, opened at the first download.
    slot_flash: Option<FileFlash>,
}

impl Board {
    fn now(&self) -> plug_core::Instant {
        plug_core::Instant::from_micros(self.boot.elapsed().as_micros() as u64)
    }

    fn say(&self, e: &console::Event) {
        let line = console::line_as(self.cfg.console_format(), BOARD_NAME, self.now().as_millis(), e);
        let _ = self.console.send(line.to_string());
    }

    /// The board's own errors, whose text is known only at run time.
    fn say_error(&self, what: &str) {
        let line = console::error_line(self.cfg.console_format(), self.now().as_millis(), what);
        let _ = self.console.send(line.to_string());
    }
}

/// Runs the firmware until it restarts itself. Power-off is the caller aborting this.
pub async fn run(
    cfg: BoardConfig,
    world: Arc<Mutex<World>>,
    console: UnboundedSender<String>,
) -> anyhow::Result<Stop> {
    let flash = FileFlash::open(&cfg.state_dir.join("config.flash"), CONFIG_PAGES)?;
    let range = 0..(CONFIG_PAGES * crate::flash::ERASE_SIZE) as u32;
    let mut store = ConfigStore::new(flash, range).map_err(|e| anyhow::anyhow!("config range: {e:?}"))?;
    let stored = match store.load().await {
        Ok(c) => c,
        Err(e) => {
            // Unrepairable flash: start unprovisioned, as the device would after a wipe.
            let what = format!("config-unreadable({e:?})");
            let _ = console.send(console::error_line(cfg.console_format(), 0, &what).to_string());
            store
                .format()
                .await
                .map_err(|e| anyhow::anyhow!("format: {e:?}"))?;
            None
        }
    };
    let (tx, mut rx) = unbounded_channel();
    let (btn_tx, mut btn_rx) = unbounded_channel::<bool>();
    lock(&world).button = Some(btn_tx);
    let slots = Slots::new(&cfg.state_dir);
    let mut identity = cfg.identity.clone();
    identity.boot_version(slots.active_version().as_deref(), cfg.faults);
    let mut b = Board {
        cfg,
        world,
        console,
        tx,
        tasks: JoinSet::new(),
        boot: tokio::time::Instant::now(),
        store,
        slots,
        ap_listener: None,
        ap_conns: HashMap::new(),
        mqtt: None,
        mqtt_task: None,
        ota: None,
        slot_flash: None,
    };
    let fwd = b.tx.clone();
    b.tasks.spawn(async move {
        while let Some(p) = btn_rx.recv().await {
            let _ = fwd.send(Ev::Button(p));
        }
    });
    let mut plug = Plug::new(identity, b.cfg.timing, NetTiming::default(), stored, b.now());
    plug.set_faults(b.cfg.faults);
    plug.set_variations(b.cfg.variations);
    if b.slots.on_trial() {
        // The core confirms the update or rolls it back, as on the device.
        plug.start_trial(b.now());
    }
    if b.cfg.ap_stays_open() {
        b.ap_listen().await?;
    }
    loop {
        while let Some(a) = plug.poll_action() {
            if let Some(stop) = b.apply(&mut plug, a).await? {
                // Every socket of this run closes before the next run opens its own (the
                // AP listener on the same port).
                b.tasks.shutdown().await;
                return Ok(stop);
            }
        }
        let deadline = plug
            .poll_timeout()
            .map(|t| b.boot + Duration::from_micros(t.as_micros()));
        let ev = match deadline {
            Some(d) => tokio::select! {
                ev = rx.recv() => ev,
                _ = tokio::time::sleep_until(d) => {
                    plug.handle_timeout(b.now());
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Some(ev) = ev else {
            anyhow::bail!("event channel closed");
        };
        b.input(&mut plug, ev);
    }
}

impl Board {
    fn input(&mut self, plug: &mut Plug, ev: Ev) {
        let now = self.now();
        match ev {
            Ev::ApAccepted(id, w, h) => {
                self.ap_conns.insert(id, (w, h));
                plug.handle(now, Input::ApAccepted(id));
            }
            Ev::ApData(id, d) => plug.handle(now, Input::ApData(id, &d)),
            Ev::ApClosed(id) => {
                self.ap_conns.remove(&id);
                plug.handle(now, Input::ApClosed(id));
            }
            // Stale links are the core's to drop; the board only keeps the current one's
            // socket.
            Ev::MqttOpened(link, w) => {
                if self.mqtt_task.as_ref().is_some_and(|(l, _)| *l == link) {
                    self.mqtt = Some(w);
                }
                plug.handle(now, Input::MqttOpened(link));
            }
            Ev::MqttData(link, d) => plug.handle(now, Input::MqttData(link, &d)),
            Ev::MqttClosed(link) => {
                if self.mqtt_task.as_ref().is_some_and(|(l, _)| *l == link) {
                    self.mqtt = None;
                    self.mqtt_task = None;
                }
                plug.handle(now, Input::MqttClosed(link));
            }
            Ev::Button(pressed) => plug.handle(now, Input::Button { pressed }),
            Ev::Ota(link, e) => {
                let input = match &e {
                    OtaEvent::ResolveFailed => OtaInput::ResolveFailed,
                    OtaEvent::ConnectFailed => OtaInput::ConnectFailed,
                    OtaEvent::Status(s) => OtaInput::Status(*s),
                    // The board writes to the inactive slot first, as the device does.
                    OtaEvent::Data(d) => match self.write_slot(link, |w, f| w.write(f, d)) {
                        Ok(()) => OtaInput::Data(d),
                        Err(()) => OtaInput::Broken,
                    },
                    OtaEvent::End => match self.write_slot(link, |w, f| w.finish(f)) {
                        Ok(()) => OtaInput::End,
                        Err(()) => OtaInput::Broken,
                    },
                    OtaEvent::Broken => OtaInput::Broken,
                };
                plug.handle(now, Input::Ota(link, input));
            }
        }
    }

    async fn apply(&mut self, plug: &mut Plug, a: Action) -> anyhow::Result<Option<Stop>> {
        match a {
            Action::ApListen => self.ap_listen().await?,
            Action::ApStopListening => {
                // With ap-stays-open only the connections close (the provisioning one
                // has had its reply); the listener goes on accepting.
                if !self.cfg.ap_stays_open() {
                    if let Some(h) = self.ap_listener.take() {
                        h.abort();
                    }
                }
                for (_, (mut w, h)) in self.ap_conns.drain() {
                    let _ = w.shutdown().await;
                    h.abort();
                }
            }
            Action::ApSend(id, reply) => {
                if let Some((w, _)) = self.ap_conns.get_mut(&id) {
                    // One write: the app reads a reply as one segment.
                    let _ = w.write_all(&reply).await;
                }
            }
            Action::ApClose(id) => {
                if let Some((mut w, h)) = self.ap_conns.remove(&id) {
                    let _ = w.shutdown().await;
                    h.abort();
                }
            }
            // The simulated network is always there: joining succeeds at once.
            Action::JoinNetwork(_) => plug.handle(self.now(), Input::NetworkUp),
            Action::MqttOpen {
                link,
                host,
                port,
                tls,
            } => {
                let tls = tls && !self.cfg.faults.has(Fault::PlainUnderTls);
                let h = mqtt_link::open(
                    &mut self.tasks,
                    self.tx.clone(),
                    link,
                    host.to_string(),
                    port,
                    tls,
                );
                self.mqtt_task = Some((link, h));
            }
            Action::MqttSend(bytes) => {
                if let Some(w) = &mut self.mqtt {
                    w.send(&bytes).await;
                }
            }
            Action::MqttClose => {
                if let Some(w) = self.mqtt.take() {
                    w.close().await;
                }
                if let Some((_, h)) = self.mqtt_task.take() {
                    h.abort();
                }
            }
            Action::SetRelay(on) => lock(&self.world).relay = on,
            Action::MeterRequest => {
                let frame = lock(&self.world).chip_registers().encode();
                plug.handle(self.now(), Input::Meter(&frame));
            }
            Action::Store(c) => {
                if let Err(e) = self.store.save(&c).await {
                    self.say_error(&format!("config-store({e:?})"));
                }
            }
            Action::Erase => {
                if let Err(e) = self.store.erase().await {
                    self.say_error(&format!("config-erase({e:?})"));
                }
            }
            Action::OtaFetch {
                link,
                host,
                port,
                path,
                resolve,
            } => {
                if let Some((_, h, _)) = self.ota.take() {
                    h.abort();
                }
                if self.slot_flash.is_none() {
                    self.slot_flash = Some(self.slots.flash()?);
                }
                let writer = self.slots.writer();
                let fetch = http::Fetch {
                    host: host.to_string(),
                    port,
                    path: path.to_string(),
                    resolve,
                    resolver: self.cfg.resolver,
                };
                let h = ota_fetch::start(&mut self.tasks, self.tx.clone(), link, fetch);
                self.ota = Some((link, h, writer));
            }
            Action::OtaCancel => {
                if let Some((_, h, _)) = self.ota.take() {
                    h.abort();
                }
            }
            Action::OtaActivate => {
                self.ota = None;
                self.slots.activate_inactive()?;
            }
            Action::OtaConfirm => {
                if self.slots.confirm().is_err() {
                    self.say_error("ota confirm failed");
                }
            }
            // The restart that follows boots the previous slot; nothing to say if this fails.
            Action::OtaRollBack => {
                let _ = self.slots.roll_back();
            }
            Action::Restart => return Ok(Some(Stop::Restart)),
            Action::Console(e) => self.say(&e),
        }
        Ok(None)
    }

    /// Runs `f` on the current download's slot writer when `link` is that download's. A
    /// slot that cannot take the image ends the download; the core hears it as broken.
    fn write_slot(
        &mut self,
        link: LinkId,
        f: impl FnOnce(&mut SlotWriter, &mut FileFlash) -> Result<(), SlotError>,
    ) -> Result<(), ()> {
        let (Some((l, _, w)), Some(flash)) = (self.ota.as_mut(), self.slot_flash.as_mut()) else {
            return Ok(());
        };
        if *l != link || f(w, flash).is_ok() {
            return Ok(());
        }
        self.say_error("ota slot write failed");
        if let Some((_, h, _)) = self.ota.take() {
            h.abort();
        }
        Err(())
    }

    async fn ap_listen(&mut self) -> anyhow::Result<()> {
        if self.ap_listener.is_none() {
            let h = ap_socket::listen(&mut self.tasks, self.cfg.ap_addr, self.tx.clone()).await?;
            self.ap_listener = Some(h);
        }
        Ok(())
    }
}
