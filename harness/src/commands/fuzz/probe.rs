//! One plug under fuzzing (a session): an input sent, then the plug judged by the protocol.
//! In AP mode the plug answers 4001 with code 0 on a new connection, and answers an input
//! with the code the notes pin for it; on the broker it keeps its session (no new CONNECT),
//! answers read_firmware_infor within its time, and its relay and countdown change only on a
//! valid command. A console boot line or the plug process ending is a crash.

use std::time::Duration;

use oracle::observation::{Dir, Event};
use rumqttc::Packet;

use super::generate::Expected;
use super::input::{ApInput, Input, MqttInput};
use super::verdict::{asks, finding, first_line, judge_reply, Asks, PINNED_REPLY_WITHIN};
pub use super::verdict::{After, Class, Finding};
use crate::drivers::ap_link::ApLink;
use crate::drivers::timeline::Mark;
use crate::scenario::world::PlugWorld;
use crate::strategy::{StartState, Strategy};

/// How long a plug left in AP mode may take to answer the liveness 4001 (network time).
const AP_ALIVE_WITHIN: Duration = Duration::from_secs(5);
/// How many times firmware_infor is asked for before the plug is called silent.
const FIRMWARE_INFOR_ASKS: usize = 3;
/// How long a plug may take to report the relay a valid command set.
const SWITCH_CONFIRMED_WITHIN: Duration = Duration::from_secs(2);
/// A publish past this many bytes is larger than anything the protocol sends.
const OVERSIZED: usize = 1024;
/// The notes' slowest reconnection back-off, and a little for the session to come up.
const RECONNECT_WITHIN: Duration = Duration::from_secs(65);
/// How long any other reply is waited for before the connection is closed.
const REPLY_WITHIN: Duration = Duration::from_millis(150);

/// Which side of the plug a session talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ap,
    Mqtt,
}

impl Mode {
    pub fn of(input: &Input) -> Mode {
        match input {
            Input::Ap(_) => Mode::Ap,
            Input::Mqtt(_) => Mode::Mqtt,
        }
    }
}

pub struct Session {
    pub world: PlugWorld,
    pub mode: Mode,
    /// The relay state the plug last published (MQTT).
    relay: Option<String>,
    /// An MQTT input past the protocol's sizes was sent to this plug: the broker may hand it
    /// over after later, smaller ones (MQTT orders messages per topic only), so a session the
    /// plug closes over it may close during a later input.
    oversized_sent: bool,
}

impl Session {
    /// A plug in the state `mode` starts from: a fresh one in AP mode (an external plug is
    /// brought there by the rig's strategy), provisioned and on the broker for MQTT.
    pub async fn open(mode: Mode) -> anyhow::Result<Session> {
        let mut world = PlugWorld::new().await?;
        world.start(StartState::Factory).await?;
        // A fresh simulated plug prints its boot line as it starts, maybe after the first
        // input went out: waited for here, so that only a later one is a crash.
        let console = world
            .ctx
            .rig
            .file
            .capabilities()
            .contains(&crate::rig::capabilities::Capability::Console);
        if console && !world.plug.outlives_scenario() {
            let boot = world.ctx.console.boot.clone();
            // plug-sim prints it as it starts, before its ready line: a second is plenty.
            let within = Duration::from_secs(1);
            let seen = world
                .timeline
                .wait_for(Mark::START, within, "the plug's boot line", |e| {
                    matches!(&e.event, Event::Console(l) if boot.is_match(l)).then_some(())
                })
                .await;
            if seen.is_err() {
                // A console format the rig's patterns do not know: a crash still shows as
                // the process ending, or as a new session.
                world.timeline.push(Event::Note(
                    "fuzz: no boot line the rig's pattern matches; crashes are seen by the process ending"
                        .into(),
                ));
            }
        }
        let mut s = Session {
            world,
            mode,
            relay: None,
            oversized_sent: false,
        };
        if mode == Mode::Mqtt {
            crate::steps::provisioning::provision(&mut s.world, 1, 60, 1).await?;
            s.resync_relay().await?;
        }
        Ok(s)
    }

    /// The plug left as a scenario leaves it (an external plug reset for the next).
    pub async fn close(mut self, name: &str) {
        self.world.leave(name).await;
    }

    /// Sends `input` and judges the plug.
    pub async fn send(&mut self, input: &Input, expect: Option<Expected>) -> Result<After, Finding> {
        let mark = self.world.timeline.mark();
        let after = match input {
            Input::Ap(a) => self.send_ap(a, expect).await?,
            Input::Mqtt(m) => self.send_mqtt(m, mark).await?,
        };
        self.crashed(mark)?;
        Ok(after)
    }

    fn crashed(&self, mark: Mark) -> Result<(), Finding> {
        let boot = &self.world.ctx.console;
        let sign = self.world.look(|s| {
            s.since(mark.index()).find(|e| match &e.event {
                Event::PlugExited(why) => Some(format!("the plug process ended: {why}")),
                Event::Console(l) if boot.boot.is_match(l) => {
                    Some(format!("the console printed a boot line: {l:?}"))
                }
                _ => None,
            })
        });
        match sign {
            Some((_, why)) => Err(finding(Class::Crash, "ap-robust", why)),
            None => Ok(()),
        }
    }

    async fn send_ap(&mut self, a: &ApInput, expect: Option<Expected>) -> Result<After, Finding> {
        let addr = self.world.ap_addr().await.map_err(|e| {
            finding(
                Class::Wedged,
                "ap-robust",
                format!("the AP cannot be reached: {e:#}"),
            )
        })?;
        let tl = self.world.timeline.clone();
        let mut crowd = Vec::new();
        for _ in 0..a.crowd {
            if let Ok(l) = ApLink::connect(addr, tl.clone()).await {
                crowd.push(l);
            }
        }
        let refused = |e: anyhow::Error| {
            finding(
                Class::Wedged,
                "ap-robust",
                format!("the AP socket refused a new connection: {e:#}"),
            )
        };
        let mut link = ApLink::connect(addr, tl.clone()).await.map_err(refused)?;
        let mut written = true;
        for (n, w) in a.writes.iter().enumerate() {
            if n > 0 && a.gap_ms > 0 {
                tokio::time::sleep(Duration::from_millis(a.gap_ms)).await;
            }
            // A plug may drop a connection whose input it refuses (oversized): allowed.
            if link.send_raw(w).await.is_err() {
                written = false;
                break;
            }
        }
        let within = if expect.is_some() {
            PINNED_REPLY_WITHIN
        } else {
            REPLY_WITHIN
        };
        let reply = if written {
            link.read_reply(within).await
        } else {
            Err(anyhow::anyhow!("the plug closed the connection while we wrote"))
        };
        drop(link);
        drop(crowd);
        let after = judge_reply(&reply, expect)?;
        // Alive: 4001 on a new connection (unless a valid 4003 took it out of AP mode).
        if after == After::Continue {
            let strategy = Strategy {
                plug: &self.world.plug,
                periods: self.world.periods(),
                timeline: tl,
            };
            strategy.in_ap_mode(AP_ALIVE_WITHIN).await.map_err(|why| {
                finding(
                    Class::Wedged,
                    "ap-robust",
                    format!("after this input the plug no longer answers 4001 with code 0 on a new connection: {why}"),
                )
            })?;
        }
        Ok(after)
    }

    async fn send_mqtt(&mut self, m: &MqttInput, mark: Mark) -> Result<After, Finding> {
        let id = self
            .world
            .identity()
            .map_err(|e| finding(Class::Silent, "firmware-infor", format!("{e:#}")))?
            .clone();
        let topic = format!("{}/{}", id.prefix(), m.topic);
        for _ in 0..m.repeat.max(1) {
            self.world
                .app
                .publish_bytes(&topic, m.qos, &m.payload)
                .await
                .map_err(|e| {
                    finding(
                        Class::Silent,
                        "firmware-infor",
                        format!("the broker took no publish: {e:#}"),
                    )
                })?;
        }
        let asks = asks(&m.topic, &m.payload);
        self.oversized_sent |= m.payload.len() > OVERSIZED;
        // Alive and through the input: firmware_infor on request, after it.
        let kept_from = self.alive(&id, mark).await?;
        // A session closed over an oversized publish may close, or come back, on either side
        // of the probe's answer, and during a later input than the publish (MQTT orders per
        // topic only): renewed since the mark, it is waited for and asked again.
        let kept_from = match self.renewal_since(kept_from) {
            Some(at) if self.oversized_sent => {
                let up = self
                    .world
                    .wait_connected(at, RECONNECT_WITHIN)
                    .await
                    .map_err(|e| {
                        finding(
                            Class::Silent,
                            "session-reconnect",
                            format!(
                                "after closing its session the plug did not reconnect: {}",
                                first_line(&e)
                            ),
                        )
                    })?;
                self.crashed(mark)?;
                self.firmware_infor(&id).await?;
                up
            }
            _ => kept_from,
        };
        self.session_kept(kept_from)?;
        let switched = self.world.look(|s| {
            s.since(mark.index())
                .publishes(Dir::Up, &id.device_topic("switch_state"))
                .iter()
                .map(|(_, _, p)| String::from_utf8_lossy(&p.payload).into_owned())
                .collect::<Vec<_>>()
        });
        let countdown = self.world.look(|s| {
            !s.since(mark.index())
                .publishes(Dir::Up, &id.device_topic("delay_time"))
                .is_empty()
        });
        let now = |p: &str| {
            oracle::payloads::switch_state(p)
                .ok()
                .map(|on| if on { "on" } else { "off" }.to_string())
        };
        match asks {
            Asks::Nothing => {
                // Compared with the state last seen; a first publish only says what it is.
                let before = self.relay.clone();
                if let Some(changed) = switched
                    .iter()
                    .filter_map(|p| now(p))
                    .find(|s| before.as_ref().is_some_and(|b| b != s))
                {
                    return Err(finding(
                        Class::RelayChanged,
                        "not a command: changes nothing [profile]",
                        format!(
                            "the relay went {changed} (was {}) on a payload that is not a valid command",
                            self.relay.as_deref().unwrap_or("unknown")
                        ),
                    ));
                }
                if before.is_none() {
                    self.relay = switched.iter().rev().find_map(|p| now(p));
                }
                if countdown {
                    return Err(finding(
                        Class::CountdownStarted,
                        "delay-out-of-range",
                        "a countdown started (delay_time published) on a payload that is not a valid one"
                            .into(),
                    ));
                }
            }
            // The plug's own word, waited for: the broker orders messages per topic only, so
            // the probe may have overtaken the command. A command the plug never confirms
            // (its session renewed) leaves the relay unknown until it next reports it.
            Asks::Switch(want) => {
                if self.relay.as_deref() != Some(want.as_str()) {
                    let topic = id.device_topic("switch_state");
                    let confirmed = self
                        .world
                        .timeline
                        .wait_for(
                            mark,
                            SWITCH_CONFIRMED_WITHIN,
                            "the switch confirmed",
                            |e| match &e.event {
                                Event::AppReceived { topic: t, payload }
                                    if *t == topic && now(payload).as_deref() == Some(want.as_str()) =>
                                {
                                    Some(())
                                }
                                _ => None,
                            },
                        )
                        .await;
                    self.relay = confirmed.is_ok().then_some(want);
                    if self.relay.is_none() {
                        self.resync_relay()
                            .await
                            .map_err(|e| finding(Class::Silent, "switch-on-change", first_line(&e)))?;
                    }
                }
            }
            Asks::Countdown | Asks::Cancel | Asks::Unpinned => {
                // Whatever it started is cancelled, and the relay read again from the plug.
                let cancel = id.app_topic("delay_time");
                let _ = self
                    .world
                    .app
                    .publish(&cancel, r#"{"delay_hour":0,"delay_minute":0}"#)
                    .await;
                let since = self.world.timeline.mark();
                self.alive(&id, since).await?;
                // The cancel may come after the countdown's first publishes: quiet first,
                // so none of them lands in the next input's window.
                let quiet = self.world.periods().app(2.0);
                for _ in 0..5 {
                    let from = self.world.timeline.mark();
                    tokio::time::sleep(quiet).await;
                    let ticking = self.world.look(|s| {
                        !s.since(from.index())
                            .publishes(Dir::Up, &id.device_topic("delay_time"))
                            .is_empty()
                    });
                    if !ticking {
                        break;
                    }
                }
                // A countdown cancelled within a second changed no relay; another spelling of
                // a switch may have: unknown until the plug next reports it (heartbeats come
                // every 30 s of its clock), whatever it did is then the baseline.
                if asks == Asks::Unpinned {
                    self.resync_relay()
                        .await
                        .map_err(|e| finding(Class::Silent, "switch-on-change", first_line(&e)))?;
                }
            }
        }
        Ok(After::Continue)
    }

    /// firmware_infor on request since `mark`; returns where the session the plug is in
    /// began (a plug may renew it after an oversized publish: see `oversized_sent`).
    async fn alive(&mut self, id: &oracle::Identity, mark: Mark) -> Result<Mark, Finding> {
        let answered = self.firmware_infor(id).await;
        let dropped = self.world.look(|s| {
            s.since(mark.index())
                .find(|e| matches!(e.event, Event::TapConnection { open: false }).then_some(()))
                .map(|(i, _)| Mark::at(i))
        });
        match (answered, dropped) {
            // MQTT 3.1.1 has no maximum packet size to agree on: a plug may close its
            // session on a publish larger than it can take, and reconnect. After a payload
            // past the protocol's own sizes (1 KiB) that is its choice, noted; a reboot
            // still shows as one (a boot line, the process ending).
            (_, Some(at)) if self.oversized_sent => {
                self.world.timeline.push(Event::Note(
                    "fuzz: the plug closed its session after an oversized publish; waiting for it to reconnect".into(),
                ));
                let up = self.world.wait_connected(at, RECONNECT_WITHIN).await.map_err(|e| {
                    finding(
                        Class::Silent,
                        "session-reconnect",
                        format!(
                            "after closing its session on an oversized publish the plug did not reconnect: {}",
                            first_line(&e)
                        ),
                    )
                })?;
                self.crashed(mark)?;
                self.firmware_infor(id).await?;
                Ok(up)
            }
            (_, Some(_)) => Ok(mark),
            (Err(silent), None) => Err(silent),
            (Ok(()), None) => Ok(mark),
        }
    }

    /// firmware_infor on request, asked up to three times as an app would: a plug whose
    /// outgoing window a flood filled may drop one answer (its choice: the notes do not say
    /// what a plug does under a flood), but one that answers none is silent.
    async fn firmware_infor(&mut self, id: &oracle::Identity) -> Result<(), Finding> {
        let within = self.world.periods().firmware_infor_within();
        let mut last = None;
        for _ in 0..FIRMWARE_INFOR_ASKS {
            let from = self.world.timeline.mark();
            let _ = self
                .world
                .app
                .publish(&id.app_topic("read_firmware_infor"), "")
                .await;
            match self.world.wait_device(from, "firmware_infor", within).await {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(finding(
            Class::Silent,
            "firmware-infor",
            format!(
                "after this input read_firmware_infor went unanswered {FIRMWARE_INFOR_ASKS} times: {}",
                last.map(|e| first_line(&e)).unwrap_or_default()
            ),
        ))
    }

    /// The last sign since `mark` that the session was renewed: a CONNECT, or the
    /// connection closing.
    fn renewal_since(&self, mark: Mark) -> Option<Mark> {
        self.world.look(|s| {
            s.since(mark.index())
                .rfind(|e| {
                    matches!(
                        e.event,
                        Event::Mqtt(Dir::Up, Packet::Connect(..)) | Event::TapConnection { open: false }
                    )
                    .then_some(())
                })
                .map(|(i, _)| Mark::at(i))
        })
    }

    /// No new CONNECT and no dropped connection since `mark`: the session survived.
    /// After an oversized publish the plug may renew its session at any later moment: from
    /// then on only a reboot (a boot line, the process ending: `crashed`) and silence
    /// (`alive`) are findings for this plug.
    fn session_kept(&self, mark: Mark) -> Result<(), Finding> {
        if self.oversized_sent {
            return Ok(());
        }
        let sign = self.world.look(|s| {
            s.since(mark.index()).find(|e| match &e.event {
                Event::Mqtt(Dir::Up, Packet::Connect(..)) => Some("the plug connected to the broker again"),
                Event::TapConnection { open: false } => Some("the plug's broker connection closed"),
                _ => None,
            })
        });
        match sign {
            Some((_, why)) => Err(finding(
                Class::Crash,
                "session-connect",
                format!("{why} after this input"),
            )),
            None => Ok(()),
        }
    }

    /// Sets the relay to a known state the plug reports: off, then on, so that the second
    /// is a change whatever the relay was (the plug publishes switch_state on every change).
    async fn resync_relay(&mut self) -> anyhow::Result<()> {
        let id = self.world.identity()?.clone();
        let topic = id.app_topic("switch_state");
        let reported = id.device_topic("switch_state");
        let from = self.world.timeline.mark();
        self.world
            .app
            .publish(&topic, r#"{"switch_state":"off"}"#)
            .await?;
        self.world.app.publish(&topic, r#"{"switch_state":"on"}"#).await?;
        // Until the plug goes quiet: what it said last is the relay (an answer to an
        // earlier command may come first).
        let quiet = self.world.periods().app(2.0).max(Duration::from_millis(100));
        let deadline = tokio::time::Instant::now() + SWITCH_CONFIRMED_WITHIN + quiet * 3;
        loop {
            let before = self.world.timeline.mark();
            tokio::time::sleep(quiet).await;
            let last = self
                .world
                .look(|s| s.since(from.index()).payloads_up(&reported).pop());
            let moved = self
                .world
                .look(|s| !s.since(before.index()).payloads_up(&reported).is_empty());
            let on = last.and_then(|(_, p)| oracle::payloads::switch_state(&p).ok());
            if on == Some(true) && !moved {
                self.relay = Some("on".into());
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the plug did not settle on switch_state on after off, then on"
            );
        }
    }
}
