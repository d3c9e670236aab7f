//! Station mode: the broker session's life (up, down, subscriptions), publishing at the
//! provisioned QoS and moving the session's events into actions.
//!
//! Read first: spec 3.2.1 (what the plug publishes on its own) and `mqtt::session`.
//! Owns the station's state: the session, the broker settings and the periodic
//! publications' schedule. Refuses: the app's commands (`topics`) and the exits (`exit`).

use core::time::Duration;
use heapless::{String, Vec};

use super::{next_link, topics, Action, LinkId, Mode, Plug};
use crate::config::{Config, MqttConfig};
use crate::console::Event as Console;
use crate::faults::Fault;
use crate::mqtt::{self, NetTiming, Qos, Session, SessionConfig};
use crate::time::Instant;
use crate::variations::Variation;

#[derive(Debug)]
pub(super) struct Station {
    pub(super) session: Session,
    /// The broker stream the session is on; inputs from any other are dropped.
    link: Option<LinkId>,
    mqtt: MqttConfig,
    next_heartbeat: Option<Instant>,
    next_electricity: Option<Instant>,
}

/// Which periodic publications a timeout found due.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Due {
    pub heartbeat: bool,
    pub electricity: bool,
}

impl Station {
    /// The session for `cfg`, not yet started: the board joins the network first.
    pub(super) fn new(cfg: &MqttConfig, client_id: String<32>, net: NetTiming) -> Station {
        let session = Session::new(
            SessionConfig {
                client_id,
                username: cfg.username.clone(),
                password: cfg.password.clone(),
                keepalive_s: cfg.keepalive,
                clean_session: cfg.clean_session,
            },
            net,
        );
        Station {
            session,
            link: None,
            mqtt: cfg.clone(),
            next_heartbeat: None,
            next_electricity: None,
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        [
            self.session.poll_timeout(),
            self.next_heartbeat,
            self.next_electricity,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The session's timers, then the periodic publications due at `now`, rescheduled.
    pub(super) fn timeout(&mut self, now: Instant, heartbeat: Duration, cadence: Duration) -> Due {
        self.session.handle_timeout(now);
        let due = Due {
            heartbeat: self.next_heartbeat.is_some_and(|t| now >= t),
            electricity: self.next_electricity.is_some_and(|t| now >= t),
        };
        if due.heartbeat {
            self.next_heartbeat = Some(now + heartbeat);
        }
        if due.electricity {
            self.next_electricity = Some(now + cadence);
        }
        due
    }

    /// Stops the session politely and returns its last packets (DISCONNECT) and the
    /// close, before the mode changes.
    pub(super) fn stop(&mut self, mut emit: impl FnMut(Action)) {
        self.session.stop();
        self.link = None;
        while let Some(ev) = self.session.poll_event() {
            match ev {
                mqtt::Event::Send(b) => emit(Action::MqttSend(b)),
                mqtt::Event::Close => emit(Action::MqttClose),
                _ => {}
            }
        }
    }
}

impl Plug {
    pub(super) fn enter_station(&mut self, cfg: Config) {
        let m = &cfg.mqtt;
        let client_id = if m.client_id.is_empty() || self.faults.has(Fault::IgnoreClientId) {
            String::try_from(self.id.mac.as_str()).unwrap_or_default()
        } else {
            m.client_id.clone()
        };
        self.mode = Mode::Station(Station::new(m, client_id, self.net));
        self.console(Console::Mode { ap: false });
        self.emit(Action::JoinNetwork(cfg.wifi));
    }

    /// Runs `f` on the session if `link` is its stream, then drains it.
    pub(super) fn with_link(&mut self, now: Instant, link: LinkId, f: impl FnOnce(&mut Session, Instant)) {
        if let Mode::Station(st) = &mut self.mode {
            if st.link == Some(link) {
                f(&mut st.session, now);
            }
        }
        self.drain_session(now);
    }

    /// Runs `f` on the session, if any, then drains it.
    pub(super) fn with_session(&mut self, now: Instant, f: impl FnOnce(&mut Session, Instant)) {
        if let Mode::Station(st) = &mut self.mode {
            f(&mut st.session, now);
        }
        self.drain_session(now);
    }

    pub(super) fn station_timeout(&mut self, now: Instant) {
        let (heartbeat, cadence) = (self.timing.heartbeat, self.timing.cadence);
        let Mode::Station(st) = &mut self.mode else {
            return;
        };
        let due = st.timeout(now, heartbeat, cadence);
        self.drain_session(now);
        if due.heartbeat {
            self.publish_switch_state(now);
        }
        if due.electricity {
            self.publish_electricity(now);
        }
    }

    /// Moves the session's events into actions and reacts to session changes.
    pub(super) fn drain_session(&mut self, now: Instant) {
        loop {
            let Mode::Station(st) = &mut self.mode else {
                return;
            };
            let Some(ev) = st.session.poll_event() else {
                break;
            };
            match ev {
                mqtt::Event::Open => {
                    let link = next_link(&mut self.last_link);
                    st.link = Some(link);
                    let a = Action::MqttOpen {
                        link,
                        host: st.mqtt.host.clone(),
                        port: st.mqtt.port,
                        tls: st.mqtt.tls,
                    };
                    self.emit(a);
                }
                mqtt::Event::Send(b) => self.emit(Action::MqttSend(b)),
                mqtt::Event::Close => {
                    st.link = None;
                    self.emit(Action::MqttClose);
                }
                mqtt::Event::Up { .. } => self.session_up(now),
                mqtt::Event::Down => {
                    st.next_heartbeat = None;
                    st.next_electricity = None;
                    self.console(Console::MqttDown);
                }
                mqtt::Event::Refused(code) => self.console(Console::MqttRefused { code }),
                mqtt::Event::Message { topic, payload } => self.app_message(now, &topic, &payload),
                mqtt::Event::ProtocolError(what) => self.console(Console::Error { what }),
            }
        }
        self.check_exit();
    }

    fn session_up(&mut self, now: Instant) {
        let topics: Vec<String<128>, 5> = topics::SUBSCRIBED
            .iter()
            .map(|f| self.id.topic("app", f))
            .collect();
        let refs: Vec<&str, 5> = topics.iter().map(|t| t.as_str()).collect();
        let power = self.id.power_monitoring;
        let Mode::Station(st) = &mut self.mode else {
            return;
        };
        let qos = st.mqtt.qos;
        if self.variations.has(Variation::SplitSubscribe) {
            // One packet (and packet id) per filter; the session ignores SUBACKs either way.
            for t in &refs {
                st.session.subscribe(now, &[t], qos);
            }
        } else {
            st.session.subscribe(now, &refs, qos);
        }
        st.next_heartbeat = Some(now + self.timing.heartbeat);
        st.next_electricity = power.then(|| now + self.timing.cadence);
        self.console(Console::MqttUp);
        if !self.faults.has(Fault::NoSwitchStateOnConnect) {
            self.publish_switch_state(now);
        }
        // An update on trial has proven itself: it reached the broker.
        if self.trial_until.take().is_some() {
            self.emit(Action::OtaConfirm);
        }
    }

    /// Publishes on `{prefix}/device/{field}` at the provisioned QoS.
    pub(super) fn publish(&mut self, now: Instant, field: &str, payload: &[u8]) {
        let topic = self.id.topic("device", field);
        let Mode::Station(st) = &mut self.mode else {
            return;
        };
        let qos = if self.faults.has(Fault::AlwaysQos0) {
            Qos::AtMostOnce
        } else {
            st.mqtt.qos
        };
        let retain = self.variations.has(Variation::Retain);
        let res = st.session.publish_with(now, &topic, payload, qos, retain);
        self.drain_session(now);
        match res {
            Ok(()) | Err(mqtt::PublishError::NotConnected) => {}
            Err(mqtt::PublishError::WindowFull) => self.console(Console::Error {
                what: "publish dropped: in-flight window full",
            }),
            Err(mqtt::PublishError::TooLarge) => self.console(Console::Error {
                what: "publish dropped: too large",
            }),
        }
    }
}
