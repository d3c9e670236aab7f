//! Bringing one physical plug to the state a scenario starts from (labgrid's strategies).
//! A scenario declares its start by its first step: "a provisioned plug connected to the
//! broker" starts [`StartState::Connected`], anything else from a factory-fresh plug in AP
//! mode. A plug that the last scenario left provisioned and connected, with nothing lasting
//! changed (no reset, upgrade, power cycle, button, countdown under way, other broker
//! settings), is kept for a next scenario that starts connected: no reset, no AP join, no
//! provisioning. Any other start resets it first. A plug left in AP mode with nothing
//! pending by a passed scenario is probed before it is power-cycled.
//!
//! "In AP mode" is decided by the protocol, not by a TCP connect: a 4001 answered with code
//! 0. A plug may keep its AP port open while provisioned (nothing forbids it), so an
//! accepted connection proves nothing. When the plug is not in AP mode the strategy power-
//! cycles it, then resets it with a 10 s button hold; if it still does not answer, the run
//! stops with one message instead of failing every later scenario.

use std::sync::Arc;
use std::time::Duration;

use instruments::actuators::{ButtonActuator, PowerSwitch};
use oracle::ap::{self, MqttServer};
use oracle::timing::Periods;
use oracle::Identity;

use crate::drivers::ap_link::ApLink;
use crate::drivers::dut::DutHandle;
use crate::drivers::timeline::{Event, Timeline};

/// How long a plug may take to answer 4001 after power-on or a reset (network time).
const AP_UP_WITHIN: Duration = Duration::from_secs(10);
/// After a 10 s hold the plug erases its configuration and restarts its access point.
const AP_AFTER_RESET_WITHIN: Duration = Duration::from_secs(15);

/// The step that starts a scenario from a provisioned plug on the broker.
pub const CONNECTED_STEP: &str = "a provisioned plug connected to the broker";
/// The broker settings a 4002 gives the plug (its `qos`, `keepalive`, `clean_session`),
/// as the protocol writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionProfile {
    pub qos: u8,
    pub keepalive_s: u16,
    /// 1: a clean session; 0: the broker keeps it.
    pub clean_session: u8,
}

/// The broker settings of that start.
pub const CONNECTED_PROFILE: SessionProfile = SessionProfile {
    qos: 1,
    keepalive_s: 60,
    clean_session: 1,
};

/// The tag of a scenario that starts connected but judges how a session starts: a plug
/// kept connected from the last scenario reconnects first.
pub const FRESH_SESSION_TAG: &str = "fresh_session";

/// The state a scenario starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartState {
    /// A factory-fresh plug in AP mode.
    Factory,
    /// A plug provisioned with [`CONNECTED_PROFILE`] and connected to the broker.
    Connected,
    /// As `Connected`, in a session that began in this scenario.
    ConnectedFresh,
}

impl StartState {
    /// As the scenario's first step (its feature's background first) says, and its tags.
    pub fn of(feature: &cucumber::gherkin::Feature, scenario: &cucumber::gherkin::Scenario) -> StartState {
        let background = feature.background.iter().flat_map(|b| b.steps.iter());
        let fresh = feature
            .tags
            .iter()
            .chain(&scenario.tags)
            .any(|t| t == FRESH_SESSION_TAG);
        match background.chain(scenario.steps.iter()).next() {
            Some(s) if s.value == CONNECTED_STEP && fresh => StartState::ConnectedFresh,
            Some(s) if s.value == CONNECTED_STEP => StartState::Connected,
            _ => StartState::Factory,
        }
    }

    pub fn is_connected(self) -> bool {
        self != StartState::Factory
    }
}

/// A plug a scenario left provisioned with [`CONNECTED_PROFILE`] and connected, having
/// changed nothing lasting: what the next scenario that starts connected takes over.
#[derive(Debug, Clone)]
pub struct HeldSession {
    pub identity: Identity,
    pub provisioned: MqttServer,
    /// The relay state the plug last reported: a session that goes on publishes nothing
    /// new until something changes.
    pub relay: Option<bool>,
}

/// What a finished scenario left in the plug, read from its timeline.
#[derive(Debug, Clone, Default)]
pub struct LeftBehind {
    /// A provisioned, connected plug kept for the next scenario (see [`HeldSession`]).
    pub held: Option<HeldSession>,
    /// The scenario passed and left the plug in AP mode with nothing pending and no
    /// actuator touched: a probe may find it ready without a power cycle.
    pub clean: bool,
    /// The scenario's name, for the message if the plug cannot be brought back.
    pub scenario: String,
    /// An accepted 4002 without an accepted 4003 after it: held in the plug's RAM, where
    /// only a power cycle or a reset clears it.
    pub pending_config: bool,
    /// The plug was provisioned and did not leave the broker on `app/reset` (it may not
    /// even have been connected to receive it, as with refused credentials): it still
    /// holds a configuration.
    pub still_provisioned: bool,
}

impl LeftBehind {
    /// Reads the AP replies of a scenario's timeline. `reset_confirmed`: the closing
    /// `app/reset` reached the plug on the broker and it left.
    pub fn read(scenario: &str, timeline: &Timeline, reset_confirmed: bool) -> LeftBehind {
        let mut last_4001 = None;
        let mut last_4002 = None;
        let mut last_4003 = None;
        for (i, e) in timeline.snapshot().iter().enumerate() {
            let Event::ApReceived(raw) = &e.event else {
                continue;
            };
            match ap::Reply::parse(raw) {
                Ok(r) if r.code == 0 && r.header == Some(ap::DEVICE_INFO) => last_4001 = Some(i),
                Ok(r) if r.code == 0 && r.header == Some(ap::MQTT_SERVER) => last_4002 = Some(i),
                Ok(r) if r.code == 0 && r.header == Some(ap::WIFI) => last_4003 = Some(i),
                _ => {}
            }
        }
        // Provisioned by an accepted 4003, unless the plug answered 4001 in AP mode after it
        // (a reset scenario) or the closing app/reset took it off the broker.
        let provisioned = last_4003.is_some_and(|w| last_4001.is_none_or(|a| a < w));
        LeftBehind {
            held: None,
            clean: false,
            scenario: scenario.to_string(),
            pending_config: last_4002.is_some_and(|p| last_4003.is_none_or(|w| w < p)),
            still_provisioned: provisioned && !reset_confirmed,
        }
    }
}

/// The plug could not be brought to AP mode: the run cannot go on.
#[derive(Debug)]
pub struct Unreachable(pub String);

pub struct Strategy<'a> {
    pub plug: &'a DutHandle,
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
        match ApLink::request_fresh(self.plug.ap(), &ap::device_info(), self.timeline.clone(), within).await {
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
        // A power cycle clears whatever the plug holds in RAM; after a clean scenario the
        // probe alone may do (and the power cycle comes next if it does not).
        if has_power && !left.clean {
            self.power_cycle().await.map_err(Unreachable)?;
        }
        let needs_reset = left.still_provisioned || (left.pending_config && !has_power);
        if needs_reset && has_button {
            self.button_reset().await.map_err(Unreachable)?;
        } else if needs_reset {
            // The plug would answer 4001 and still hold what the last scenario gave it.
            return Err(Unreachable(format!(
                "after scenario {:?} the plug still holds {}, and the rig has no button (or power switch) to reset it",
                left.scenario,
                if left.still_provisioned {
                    "a broker and network configuration"
                } else {
                    "an accepted 4002 in its memory"
                }
            )));
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
            self.plug.ap(),
            tried.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(header: i64) -> Event {
        Event::ApReceived(format!(
            r#"{{"code":0,"message":"success","result":{{"header":{header}}}}}"#
        ))
    }

    fn read(events: &[Event], reset_confirmed: bool) -> LeftBehind {
        let t = Timeline::default();
        for e in events {
            t.push(e.clone());
        }
        LeftBehind::read("s", &t, reset_confirmed)
    }

    #[test]
    fn what_a_scenario_leaves_is_read_from_its_replies() {
        let provisioned = [reply(4001), reply(4002), reply(4003)];
        let left = read(&provisioned, false);
        assert!(left.still_provisioned && !left.pending_config);
        assert!(!read(&provisioned, true).still_provisioned, "app/reset took");
        // Back in AP mode after a reset within the scenario.
        let reset = [reply(4001), reply(4002), reply(4003), reply(4001)];
        assert!(!read(&reset, false).still_provisioned);
        // An accepted 4002 without its 4003 stays in the plug's RAM.
        let pending = [reply(4001), reply(4002)];
        let left = read(&pending, false);
        assert!(left.pending_config && !left.still_provisioned);
        assert!(!read(&[reply(4001)], false).pending_config);
    }
}
