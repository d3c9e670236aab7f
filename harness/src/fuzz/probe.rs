//! One plug under fuzzing (a session): an input sent, then the plug judged by the protocol.
//! In AP mode the plug answers 4001 with code 0 on a new connection, and answers an input
//! with the code the notes pin for it; on the broker it keeps its session (no new CONNECT),
//! answers read_firmware_infor within its time, and its relay and countdown change only on a
//! valid command. A console boot line or the plug process ending is a crash.

use std::time::Duration;

use oracle::ap::{self, Reply};
use oracle::observation::{Dir, Event};
use rumqttc::Packet;
use serde::{Deserialize, Serialize};

use super::generate::Expected;
use super::input::{ApInput, Input, MqttInput};
use crate::ap_link::ApLink;
use crate::strategy::{StartState, Strategy};
use crate::world::PlugWorld;

/// How long a plug left in AP mode may take to answer the liveness 4001 (network time).
const AP_ALIVE_WITHIN: Duration = Duration::from_secs(5);
/// How long a reply the notes pin may take.
const PINNED_REPLY_WITHIN: Duration = Duration::from_secs(2);
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

/// What the oracle found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// The plug restarted (a boot line, a new MQTT session) or its process ended.
    Crash,
    /// The AP socket no longer answers 4001.
    Wedged,
    /// The MQTT session is up but read_firmware_infor goes unanswered.
    Silent,
    /// A reply other than the code the notes pin.
    WrongCode,
    /// A reply that is not the protocol's envelope.
    BadReply,
    /// The relay switched on a payload that is not a command.
    RelayChanged,
    /// A countdown started on a payload that is not a valid one.
    CountdownStarted,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Crash => "crash",
            Class::Wedged => "wedged",
            Class::Silent => "silent",
            Class::WrongCode => "wrong-code",
            Class::BadReply => "bad-reply",
            Class::RelayChanged => "relay-changed",
            Class::CountdownStarted => "countdown-started",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub class: Class,
    /// The rule of the notes it breaks.
    pub rule: String,
    pub why: String,
}

fn finding(class: Class, rule: &str, why: String) -> Finding {
    Finding {
        class,
        rule: rule.into(),
        why,
    }
}

/// What a session must do after an input that was no finding.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Continue,
    /// A valid command changed the plug's mode (a 4003 provisioned it): start afresh.
    Fresh(String),
}

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

/// What a payload on a topic asks of the relay, by the notes.
#[derive(Debug, PartialEq, Eq)]
enum Asks {
    /// Nothing: it is not a valid command.
    Nothing,
    Switch(String),
    Countdown,
    Cancel,
    /// The notes do not say (another spelling of "on", a float, duplicate keys).
    Unpinned,
}

fn asks(topic: &str, payload: &[u8]) -> Asks {
    let text = String::from_utf8_lossy(payload);
    let parsed = serde_json::from_slice::<serde_json::Value>(payload).ok();
    let object = parsed.as_ref().and_then(|v| v.as_object());
    let twice = |key: &str| text.matches(&format!("\"{key}\"")).count() > 1;
    match topic {
        "app/switch_state" => {
            let Some(o) = object else { return Asks::Nothing };
            if twice("switch_state") {
                return Asks::Unpinned;
            }
            match o.get("switch_state") {
                Some(serde_json::Value::String(s)) if s == "on" || s == "off" => Asks::Switch(s.clone()),
                Some(serde_json::Value::String(_)) => Asks::Unpinned,
                _ => Asks::Nothing,
            }
        }
        "app/delay_time" => {
            let Some(o) = object else { return Asks::Nothing };
            if twice("delay_hour") || twice("delay_minute") {
                return Asks::Unpinned;
            }
            let (h, m) = (o.get("delay_hour"), o.get("delay_minute"));
            match (h.and_then(|v| v.as_i64()), m.and_then(|v| v.as_i64())) {
                (Some(0), Some(0)) => Asks::Cancel,
                (Some(0..=23), Some(0..=59)) => Asks::Countdown,
                (Some(_), Some(_)) => Asks::Nothing,
                _ if h.is_some_and(|v| v.is_f64()) || m.is_some_and(|v| v.is_f64()) => Asks::Unpinned,
                _ => Asks::Nothing,
            }
        }
        _ => Asks::Nothing,
    }
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
            .contains(&crate::capabilities::Capability::Console);
        if console && !world.plug.outlives_scenario() {
            let boot = world.ctx.console.boot.clone();
            // plug-sim prints it as it starts, before its ready line: a second is plenty.
            let within = Duration::from_secs(1);
            let seen = world
                .timeline
                .wait_for(0, within, "the plug's boot line", |e| {
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
        let mark = self.world.timeline.len();
        let after = match input {
            Input::Ap(a) => self.send_ap(a, expect).await?,
            Input::Mqtt(m) => self.send_mqtt(m, mark).await?,
        };
        self.crashed(mark)?;
        Ok(after)
    }

    fn crashed(&self, mark: usize) -> Result<(), Finding> {
        let boot = &self.world.ctx.console;
        let sign = self.world.look(|s| {
            s.since(mark).find(|e| match &e.event {
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

    async fn send_mqtt(&mut self, m: &MqttInput, mark: usize) -> Result<After, Finding> {
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
            s.since(mark)
                .publishes(Dir::Up, &id.device_topic("switch_state"))
                .iter()
                .map(|(_, _, p)| String::from_utf8_lossy(&p.payload).into_owned())
                .collect::<Vec<_>>()
        });
        let countdown = self.world.look(|s| {
            !s.since(mark)
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
                let since = self.world.timeline.len();
                self.alive(&id, since).await?;
                // The cancel may come after the countdown's first publishes: quiet first,
                // so none of them lands in the next input's window.
                let quiet = self.world.periods().app(2.0);
                for _ in 0..5 {
                    let from = self.world.timeline.len();
                    tokio::time::sleep(quiet).await;
                    let ticking = self.world.look(|s| {
                        !s.since(from)
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
    async fn alive(&mut self, id: &oracle::Identity, mark: usize) -> Result<usize, Finding> {
        let answered = self.firmware_infor(id).await;
        let dropped = self.world.look(|s| {
            s.since(mark)
                .find(|e| matches!(e.event, Event::TapConnection { open: false }).then_some(()))
                .map(|(i, _)| i)
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
            let from = self.world.timeline.len();
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
    fn renewal_since(&self, mark: usize) -> Option<usize> {
        self.world.look(|s| {
            s.since(mark)
                .rfind(|e| {
                    matches!(
                        e.event,
                        Event::Mqtt(Dir::Up, Packet::Connect(..)) | Event::TapConnection { open: false }
                    )
                    .then_some(())
                })
                .map(|(i, _)| i)
        })
    }

    /// No new CONNECT and no dropped connection since `mark`: the session survived.
    /// After an oversized publish the plug may renew its session at any later moment: from
    /// then on only a reboot (a boot line, the process ending: `crashed`) and silence
    /// (`alive`) are findings for this plug.
    fn session_kept(&self, mark: usize) -> Result<(), Finding> {
        if self.oversized_sent {
            return Ok(());
        }
        let sign = self.world.look(|s| {
            s.since(mark).find(|e| match &e.event {
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
        let from = self.world.timeline.len();
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
            let before = self.world.timeline.len();
            tokio::time::sleep(quiet).await;
            let last = self.world.look(|s| s.since(from).payloads_up(&reported).pop());
            let moved = self
                .world
                .look(|s| !s.since(before).payloads_up(&reported).is_empty());
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

/// An error's first line (a wait's error goes on with the timeline's tail, which the
/// reproducer keeps whole).
fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or_default().to_string()
}

/// The reply against the envelope and the pinned code.
fn judge_reply(reply: &anyhow::Result<Reply>, expect: Option<Expected>) -> Result<After, Finding> {
    match (reply, expect) {
        (Ok(r), _) if !(0..=6).contains(&r.code) => Err(finding(
            Class::BadReply,
            "ap-envelope",
            format!("code {} is none of the protocol's 0-6: {}", r.code, r.raw),
        )),
        (Ok(r), Some(Expected::Code(c))) if r.code != c => Err(finding(
            Class::WrongCode,
            &format!("ap-code-{c}"),
            format!("answered code {}, the notes pin {c}: {}", r.code, r.raw),
        )),
        (Ok(r), Some(Expected::Code1OrNone)) if r.code != 1 => Err(finding(
            Class::WrongCode,
            "ap-robust",
            format!(
                "oversized input answered code {} (the notes: code 1, or none): {}",
                r.code, r.raw
            ),
        )),
        (Ok(r), _) if r.code == 0 && r.header == Some(ap::WIFI) => {
            Ok(After::Fresh("a valid 4003 provisioned the plug".into()))
        }
        (Ok(_), _) => Ok(After::Continue),
        (Err(e), _) if format!("{e:#}").contains("not JSON") => Err(finding(
            Class::BadReply,
            "ap-envelope",
            format!("the reply is not the protocol's envelope: {e:#}"),
        )),
        (Err(e), Some(Expected::Code(c))) => Err(finding(
            Class::WrongCode,
            &format!("ap-code-{c}"),
            format!("no reply within {PINNED_REPLY_WITHIN:?}; the notes pin code {c}: {e:#}"),
        )),
        (Err(_), _) => Ok(After::Continue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_payload_asks_of_the_relay() {
        let a = |t: &str, p: &str| asks(t, p.as_bytes());
        assert_eq!(
            a("app/switch_state", r#"{"switch_state":"on"}"#),
            Asks::Switch("on".into())
        );
        assert_eq!(
            a("app/switch_state", r#"{"zz":1,"switch_state":"off"}"#),
            Asks::Switch("off".into())
        );
        assert_eq!(a("app/switch_state", r#"{"switch_stat":"on"}"#), Asks::Nothing);
        assert_eq!(a("app/switch_state", r#"{"switch_state":"ON"}"#), Asks::Unpinned);
        assert_eq!(
            a(
                "app/switch_state",
                r#"{"switch_state":"on","switch_state":"off"}"#
            ),
            Asks::Unpinned
        );
        assert_eq!(a("app/switch_state", "\u{1}on"), Asks::Nothing);
        assert_eq!(
            a("app/delay_time", r#"{"delay_hour":1,"delay_minute":2}"#),
            Asks::Countdown
        );
        assert_eq!(
            a("app/delay_time", r#"{"delay_hour":0,"delay_minute":0}"#),
            Asks::Cancel
        );
        assert_eq!(
            a("app/delay_time", r#"{"delay_hour":24,"delay_minute":0}"#),
            Asks::Nothing
        );
        assert_eq!(
            a("app/delay_time", r#"{"delay_hour":1.0,"delay_minute":0}"#),
            Asks::Unpinned
        );
        assert_eq!(
            a("app/switch_state/extra", r#"{"switch_state":"on"}"#),
            Asks::Nothing
        );
    }

    #[test]
    fn replies_are_judged_by_the_pinned_code() {
        let r = |raw: &str| Reply::parse(raw).map_err(|e| anyhow::anyhow!("{e}"));
        let ok = r(r#"{"code":2,"message":"x","result":{"header":4002}}"#);
        assert!(judge_reply(&ok, Some(Expected::Code(2))).is_ok());
        let wrong = judge_reply(&ok, Some(Expected::Code(6))).unwrap_err();
        assert_eq!(
            (wrong.class, wrong.rule.as_str()),
            (Class::WrongCode, "ap-code-6")
        );
        let none: anyhow::Result<Reply> = Err(anyhow::anyhow!("no complete reply within"));
        assert!(judge_reply(&none, None).is_ok());
        assert!(judge_reply(&none, Some(Expected::Code1OrNone)).is_ok());
        assert!(judge_reply(&none, Some(Expected::Code(4))).is_err());
        let odd = r(r#"{"code":9,"message":"x"}"#);
        assert_eq!(judge_reply(&odd, None).unwrap_err().class, Class::BadReply);
    }
}
