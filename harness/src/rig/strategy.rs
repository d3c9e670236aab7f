//! Bringing one physical plug to a known state before each scenario (labgrid's strategies):
//! a scenario starts from a factory-fresh plug in AP mode, whatever the one before it left.
//!
//! "In AP mode" is decided by the protocol, not by a TCP connect: a 4001 answered with code
//! 0. A plug may keep its AP port open while provisioned (nothing forbids it), so an
//! accepted connection proves nothing. When the plug is not in AP mode the strategy power-
//! cycles it, then resets it with a 10 s button hold; if it still does not answer, the run
//! stops with one message instead of failing every later scenario.

use std::sync::Arc;
use std::time::Duration;

use crate::ap_link::ApLink;
use crate::protocol::ap;
use crate::protocol::timing::Periods;
use crate::rig::external::ExternalPlug;
use crate::timeline::{Dir, Event, Timeline};

/// How long a plug may take to answer 4001 after power-on or a reset (network time).
const AP_UP_WITHIN: Duration = Duration::from_secs(10);
/// After a 10 s hold the plug erases its configuration and restarts its access point.
const AP_AFTER_RESET_WITHIN: Duration = Duration::from_secs(15);

/// What a finished scenario left in the plug, read from its timeline.
#[derive(Debug, Clone, Default)]
pub struct LeftBehind {
    /// The scenario's name, for the message if the plug cannot be brought back.
    pub scenario: String,
    /// An accepted 4002 without an accepted 4003 after it: held in the plug's RAM, where
    /// only a power cycle or a reset clears it.
    pub pending_config: bool,
    /// The plug was provisioned and did not leave the broker on `app/reset` (it may not
    /// even have been connected to receive it): it still holds a configuration.
    pub still_provisioned: bool,
}

impl LeftBehind {
    /// Reads the AP replies of a scenario's timeline; `left_broker` says whether the plug
    /// left the broker after the closing `app/reset` (or never reached it).
    pub fn read(scenario: &str, timeline: &Timeline, left_broker: bool) -> LeftBehind {
        let mut last_4002 = None;
        let mut last_4003 = None;
        let mut reached_broker = false;
        for (i, e) in timeline.snapshot().iter().enumerate() {
            match &e.event {
                Event::ApReceived(raw) => match ap::Reply::parse(raw) {
                    Ok(r) if r.code == 0 && r.header == Some(ap::MQTT_SERVER) => last_4002 = Some(i),
                    Ok(r) if r.code == 0 && r.header == Some(ap::WIFI) => last_4003 = Some(i),
                    _ => {}
                },
                Event::TapConnection { open: true } | Event::Mqtt(Dir::Up, _) => reached_broker = true,
                _ => {}
            }
        }
        LeftBehind {
            scenario: scenario.to_string(),
            pending_config: last_4002.is_some_and(|p| last_4003.is_none_or(|w| w < p)),
            still_provisioned: (last_4003.is_some() || reached_broker) && !left_broker,
        }
    }
}

/// The plug could not be brought to AP mode: the run cannot go on.
#[derive(Debug)]
pub struct Unreachable(pub String);

pub struct Strategy<'a> {
    pub plug: &'a ExternalPlug,
    pub periods: Periods,
    pub timeline: Arc<Timeline>,
}

impl Strategy<'_> {
    fn note(&self, s: &str) {
        self.timeline.push(Event::Note(format!("strategy: {s}")));
    }

    /// Whether the plug answers 4001 with code 0 on a fresh connection within `within`.
    pub async fn in_ap_mode(&self, within: Duration) -> Result<(), String> {
        self.plug.join_ap().await.map_err(|e| format!("{e:#}"))?;
        match ApLink::request_fresh(self.plug.ap, &ap::device_info(), self.timeline.clone(), within).await {
            Ok((_, r)) if r.code == 0 && r.header == Some(ap::DEVICE_INFO) => Ok(()),
            Ok((_, r)) => Err(format!("its AP socket answered 4001 with {}", r.raw)),
            Err(e) => Err(format!("{e:#}")),
        }
    }

    async fn power_cycle(&self) -> Result<(), String> {
        self.note("power cycle");
        let off = async {
            self.plug.set_power(false).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            self.plug.set_power(true).await
        };
        off.await.map_err(|e| format!("power cycle: {e:#}"))
    }

    async fn button_reset(&self) -> Result<(), String> {
        self.note("factory reset with a 10 s button hold");
        self.plug
            .press(self.periods.app(10.5))
            .await
            .map_err(|e| format!("button hold: {e:#}"))
    }

    /// A factory-fresh plug in AP mode, from whatever `left` says the last scenario left.
    /// A power cycle first clears anything held in RAM; a plug still provisioned is reset
    /// with the button at once rather than after a probe that must fail.
    pub async fn to_factory(&self, left: &LeftBehind) -> Result<(), Unreachable> {
        let mut tried = Vec::new();
        let has_power = self.plug.has_power_switch();
        let has_button = self.plug.has_button();
        if has_power {
            self.power_cycle().await.map_err(Unreachable)?;
        }
        let needs_reset = left.still_provisioned || (left.pending_config && !has_power);
        if needs_reset && has_button {
            self.button_reset().await.map_err(Unreachable)?;
        }
        let first_wait = if needs_reset {
            AP_AFTER_RESET_WITHIN
        } else {
            AP_UP_WITHIN
        };
        match self.in_ap_mode(first_wait).await {
            Ok(()) => return Ok(()),
            Err(e) => tried.push(format!("first probe: {e}")),
        }
        if has_power {
            self.power_cycle().await.map_err(Unreachable)?;
            match self.in_ap_mode(AP_UP_WITHIN).await {
                Ok(()) => return Ok(()),
                Err(e) => tried.push(format!("after a power cycle: {e}")),
            }
        }
        if has_button {
            self.button_reset().await.map_err(Unreachable)?;
            match self.in_ap_mode(AP_AFTER_RESET_WITHIN).await {
                Ok(()) => return Ok(()),
                Err(e) => tried.push(format!("after a 10 s button hold: {e}")),
            }
        }
        if !has_power && !has_button {
            tried.push("the rig has neither a power switch nor a button to reset it".into());
        }
        Err(Unreachable(format!(
            "the plug does not answer 4001 with code 0 on {}: {}",
            self.plug.ap,
            tried.join("; ")
        )))
    }
}
