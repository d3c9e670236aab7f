//! Between scenarios, for a plug that outlives them (a bench plug, or any `external` DUT).
//!
//! At a scenario's end (`leave_for_next`): a plug left provisioned with the connected
//! start's settings and still on the broker, with nothing lasting changed, is held for the
//! next scenario; any other plug still on the broker is sent `app/reset`. At the next
//! scenario's start (`start`): a scenario that starts connected takes a held plug over (it
//! reconnects to this scenario's tap on its own); any other start releases it with
//! `app/reset` and has the strategy bring the plug to AP mode. The run's end releases a plug
//! still held (`release_held`), so a bench is left factory-fresh.

use std::sync::Arc;
use std::time::Duration;

use oracle::ap::{Reply, WIFI};
use oracle::observation::{Dir, Entry, Event, Seen};
use oracle::payloads;
use oracle::session::RETRY_MAX;
use rumqttc::{ConnectReturnCode, Packet};

use super::{PlugWorld, RunContext};
use crate::drivers::dut::DutHandle;
use crate::drivers::tap::Tap;
use crate::drivers::timeline::{Mark, Timeline};
use crate::strategy::{
    HeldSession, LeftBehind, SessionProfile, StartState, Strategy, Unreachable, CONNECTED_PROFILE,
};
use crate::sync::Locked;

/// A plug whose tap was replaced reconnects on its own back-off: up to a minute per
/// attempt by the [profile] bound, and a little for the session to come up.
const RECONNECT_WITHIN: Duration = Duration::from_secs(RETRY_MAX.as_secs() + 5);

/// How long a plug left in AP mode may take to answer 4001 on a new connection after a
/// scenario (network time: its previous connections are closing).
const AP_STILL_SERVES_WITHIN: Duration = Duration::from_secs(10);

/// What the scenario sent on the AP socket, short enough for a failure's first line.
fn abbreviate(sent: &str) -> String {
    let escaped: String = sent.escape_debug().collect();
    match escaped.char_indices().nth(60) {
        Some((at, _)) => format!("\"{}...\" ({} bytes)", &escaped[..at], sent.len()),
        None => format!("\"{escaped}\""),
    }
}

impl PlugWorld {
    /// Before a scenario's first step: the plug in the state the scenario starts from.
    pub async fn start(&mut self, start: StartState) -> anyhow::Result<()> {
        if !self.plug.outlives_scenario() {
            return Ok(());
        }
        let held = self.ctx.left().held.take();
        match held {
            Some(h) if start == StartState::Connected && self.ctx.reuse_connected => {
                // Subscribed before the plug is back, so its on-connection publish is seen.
                self.app
                    .subscribe(&format!("{}/device/#", h.identity.prefix()))
                    .await?;
                self.held = Some(h);
                return Ok(());
            }
            Some(h) => self.release(h).await,
            None => {}
        }
        self.ctx.to_known_state(&self.plug, self.timeline.clone()).await
    }

    /// The connected start's first step on a held plug: takes it over as this scenario's,
    /// once it has reconnected. False when there is none to take.
    pub async fn take_held(&mut self) -> anyhow::Result<bool> {
        let Some(h) = self.held.take() else {
            return Ok(false);
        };
        self.note("strategy: the plug the last scenario left connected is taken over");
        self.identity = Some(h.identity);
        self.provisioned = Some(h.provisioned);
        self.mark = if self.tap.connected() {
            self.relay.carried = h.relay;
            self.timeline.mark()
        } else {
            self.wait_connected(Mark::START, RECONNECT_WITHIN).await?
        };
        Ok(true)
    }

    /// Sends a held plug back to AP mode with `app/reset` once it has reconnected to this
    /// scenario's tap; what is left for the strategy says whether that worked.
    async fn release(&mut self, h: HeldSession) {
        self.note("strategy: the plug the last scenario left connected is reset");
        let on_broker =
            self.tap.connected() || self.wait_connected(Mark::START, RECONNECT_WITHIN).await.is_ok();
        let reset = on_broker && self.app_reset(&h.identity.app_topic("reset")).await;
        let mut left = self.ctx.left();
        left.still_provisioned = !reset;
        left.clean = false;
    }

    /// `app/reset`, and whether the plug left the broker within 5 s.
    async fn app_reset(&self, topic: &str) -> bool {
        let from = self.timeline.mark();
        let left = |e: &Entry| matches!(e.event, Event::TapConnection { open: false }).then_some(());
        self.app.publish(topic, "").await.is_ok()
            && self
                .timeline
                .wait_for(from, Duration::from_secs(5), "the plug to leave the broker", left)
                .await
                .is_ok()
    }

    /// After a scenario: a plug that can serve the next connected start is held; any other
    /// plug still on the broker is sent `app/reset`. Either way, what it left is noted for
    /// the next scenario's strategy (a simulated plug is simply discarded).
    pub(super) async fn leave_for_next(&mut self, scenario: &str, failed: bool) {
        if !self.plug.outlives_scenario() {
            return;
        }
        if let Some(held) = self.holdable(failed) {
            *self.ctx.left() = LeftBehind {
                held: Some(held),
                scenario: scenario.to_string(),
                still_provisioned: true,
                ..LeftBehind::default()
            };
            return;
        }
        // A plug provisioned at the scenario's very end may still be joining: let it reach
        // the broker so that the reset can reach it.
        if self.identity.is_some() && !self.tap.connected() && self.joining() {
            let from = self.last_4003().unwrap_or(self.timeline.mark().before());
            let _ = self.wait_connected(from, Duration::from_secs(10)).await;
        }
        let reset_confirmed = match (self.identity.clone(), self.tap.connected()) {
            (Some(id), true) => self.app_reset(&id.app_topic("reset")).await,
            _ => false,
        };
        let mut left = LeftBehind::read(scenario, &self.timeline, reset_confirmed);
        left.clean = !failed && !self.actuated && !left.pending_config && !left.still_provisioned;
        *self.ctx.left() = left;
    }

    /// The plug as the next connected start needs it, if this scenario left it so: passed,
    /// provisioned with the connected start's settings, on the broker, and nothing lasting
    /// changed (see [`lasting_change`]).
    fn holdable(&self, failed: bool) -> Option<HeldSession> {
        let (identity, provisioned) = (self.identity.clone()?, self.provisioned.clone()?);
        let profile = SessionProfile {
            qos: provisioned.qos,
            keepalive_s: provisioned.keepalive,
            clean_session: provisioned.clean_session,
        };
        // Exactly the connected start's 4002: a plug given other credentials (refused by
        // the broker) or another broker address is not that plug.
        let broker = &self.ctx.broker;
        let address = (provisioned.host.as_str(), provisioned.port);
        let settings = profile == CONNECTED_PROFILE
            && provisioned.connect_mode == 0
            && provisioned.client_id.is_none()
            && (provisioned.username.as_str(), provisioned.password.as_str())
                == (broker.username.as_str(), broker.password.as_str())
            && address
                == (
                    self.ctx.rig.file.dut.broker_host(self.tap.addr.ip()).as_str(),
                    self.tap.addr.port(),
                );
        let ok = self.ctx.reuse_connected
            && !failed
            && !self.actuated
            && settings
            && self.tap.connected()
            && self.look(in_session);
        let unchanged = self.look(|s| lasting_change(s, &identity, self.periods().app(2.0)).is_none());
        let topic = identity.device_topic("switch_state");
        let last = self.look(|s| s.payloads_up(&topic).pop());
        let relay = last
            .and_then(|(_, p)| payloads::switch_state(&p).ok())
            .or(self.relay.carried);
        (ok && unchanged).then_some(HeldSession {
            identity,
            provisioned,
            relay,
        })
    }

    /// After a scenario that passed its steps and left the plug in AP mode (it talked to the
    /// AP socket, no 4003 was accepted, no actuator moved): the plug must still answer 4001
    /// on a new connection (`ap-robust`: garbage and odd clients do not wedge the AP socket).
    /// Checked here, on a plug that outlives its scenario, so that a plug this scenario's
    /// input wedged fails this scenario, naming what it sent, rather than the next
    /// scenario's set-up stopping the run as if the bench were broken. A simulated plug is
    /// discarded with its scenario: its provisioning scenarios check the next connection
    /// themselves.
    pub(super) async fn ap_still_serves(&mut self) -> Result<(), String> {
        let talked = self.ap.is_some() || !self.idle_links.is_empty();
        if !self.plug.outlives_scenario() || !talked || self.actuated {
            return Ok(());
        }
        let provisioned = self.look(|s| {
            s.find(|e| match &e.event {
                Event::ApReceived(raw) => Reply::parse(raw)
                    .is_ok_and(|r| r.code == 0 && r.header == Some(WIFI))
                    .then_some(()),
                _ => None,
            })
            .is_some()
        });
        if provisioned {
            return Ok(());
        }
        let sent: Vec<String> = self.look(|s| {
            s.iter()
                .filter_map(|(_, e)| match &e.event {
                    Event::ApSent(t) => Some(abbreviate(t)),
                    _ => None,
                })
                .collect()
        });
        // A plug may serve one client at a time: this scenario's connections close first.
        self.ap = None;
        self.idle_links.clear();
        self.note("after the scenario: does the plug's AP socket still answer 4001? (ap-robust)");
        let strategy = Strategy {
            plug: &self.plug,
            periods: self.periods(),
            timeline: self.timeline.clone(),
        };
        strategy.in_ap_mode(AP_STILL_SERVES_WITHIN).await.map_err(|why| {
            let last = sent.len().saturating_sub(3);
            format!(
                "after this scenario the plug no longer answers 4001 on a new AP connection within {} s (rule ap-robust: garbage, oversized input and odd clients do not wedge the AP socket); this scenario sent {} request(s), the last: {}; the probe: {why}",
                AP_STILL_SERVES_WITHIN.as_secs(),
                sent.len(),
                sent[last..].join(" | ")
            )
        })
    }

    /// At the run's end: a plug still held goes back to AP mode, leaving the bench
    /// factory-fresh.
    pub async fn release_held(&mut self) {
        let held = self.ctx.left().held.take();
        if let Some(h) = held {
            self.release(h).await;
        }
    }

    fn note(&self, s: &str) {
        self.timeline.push(Event::Note(s.to_string()));
    }
}

/// Whether the plug's last CONNECT, if this scenario saw one, was accepted: an attempt the
/// broker is refusing may be open through the tap for a moment.
fn in_session(seen: Seen<'_>) -> bool {
    let last = seen.rfind(|e| match &e.event {
        Event::Mqtt(Dir::Up, Packet::Connect(_)) => Some(false),
        Event::Mqtt(Dir::Down, Packet::ConnAck(a)) => Some(a.code == ConnectReturnCode::Success),
        _ => None,
    });
    last.is_none_or(|(_, accepted)| accepted)
}

/// What a scenario did to the plug that outlasts it, read from what it saw: a reset or an
/// upgrade asked for, an AP exchange after the plug was provisioned, or a countdown still
/// under way at the end (its last delay_time, not 0/0/0, within `recent` of the end).
pub fn lasting_change(seen: Seen<'_>, id: &oracle::Identity, recent: Duration) -> Option<&'static str> {
    let asked = |field: &str| {
        let topic = id.app_topic(field);
        seen.find(|e| matches!(&e.event, Event::AppSent { topic: t, .. } if *t == topic).then_some(()))
            .is_some()
    };
    if asked("reset") {
        return Some("a reset");
    }
    if asked("upgrade") {
        return Some("an upgrade");
    }
    let joined = seen.find(|e| match &e.event {
        Event::ApReceived(raw) => Reply::parse(raw)
            .ok()
            .filter(|r| r.code == 0 && r.header == Some(WIFI)),
        _ => None,
    });
    if let Some((i, _)) = joined {
        if seen
            .since(i + 1)
            .find(|e| matches!(&e.event, Event::ApSent(_)).then_some(()))
            .is_some()
        {
            return Some("an AP exchange after provisioning");
        }
    }
    let end = seen.iter().last().map(|(_, e)| e.at).unwrap_or_default();
    let last = seen.publishes(Dir::Up, &id.device_topic("delay_time")).pop();
    let running = last.is_some_and(|(_, at, p)| {
        let zero =
            payloads::delay_time(&String::from_utf8_lossy(&p.payload)).is_ok_and(|d| d.total_seconds() == 0);
        !zero && end.saturating_sub(at) < recent
    });
    running.then_some("a countdown under way")
}

impl RunContext {
    /// The bench's tap, started on the first call and attached to `timeline`.
    pub(super) async fn bench_tap(&self, listen: &str, timeline: Arc<Timeline>) -> anyhow::Result<Arc<Tap>> {
        let mut tap = self.bench_tap.lock().await;
        if let Some(t) = tap.as_ref() {
            t.attach(timeline);
            return Ok(t.clone());
        }
        let t = Arc::new(Tap::start(listen, self.broker.addr, timeline).await?);
        *tap = Some(t.clone());
        Ok(t)
    }

    /// What the last scenario left (locked: the run has one plug, one scenario at a time).
    fn left(&self) -> std::sync::MutexGuard<'_, LeftBehind> {
        self.left_behind.locked()
    }

    /// Brings a plug that outlives scenarios to AP mode before the next one, from what the
    /// last scenario left; when that fails, stops the run with one message.
    async fn to_known_state(&self, plug: &DutHandle, timeline: Arc<Timeline>) -> anyhow::Result<()> {
        if let Some(why) = self.is_stopped() {
            anyhow::bail!("the run was stopped: {why}");
        }
        let left = self.left().clone();
        let strategy = Strategy {
            plug,
            periods: self.periods,
            timeline,
        };
        if let Err(Unreachable(why)) = strategy.to_factory(&left).await {
            let after = if left.scenario.is_empty() {
                "before the first scenario".to_string()
            } else {
                format!("after scenario {:?}", left.scenario)
            };
            let msg = format!("the DUT could not be returned to a factory state {after}: {why}");
            self.stop(msg.clone());
            anyhow::bail!(msg);
        }
        Ok(())
    }

    /// Whether a plug is held for a next scenario that will not come: the run's end
    /// releases it with a World of its own.
    pub fn holds_a_plug(&self) -> bool {
        self.left().held.is_some()
    }
}
