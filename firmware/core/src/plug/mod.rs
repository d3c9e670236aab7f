//! The plug application: everything the firmware does, as one sans-IO state machine.
//!
//! Read first: PROTOCOL-NOTES, all of it. Four families of methods, as in quinn-proto:
//! getters, [`Plug::handle`] / [`Plug::handle_timeout`] (input, time passed in),
//! [`Plug::poll_action`] (what the board must do, in order) and [`Plug::poll_timeout`]
//! (when to call back). The board applies actions in the order given: a reply queued before
//! `ApStopListening` must be written before the listener and its connections close.
//!
//! Submodules: `ap` (provisioning socket), `topics` (the app's MQTT commands),
//! `countdown`, `ota`.

mod ap;
mod countdown;
mod ota;
mod topics;

use core::time::Duration;
use heapless::{Deque, String, Vec};

use crate::bl0942::{FrameReader, Reading};
use crate::config::{Config, MqttConfig, WifiConfig};
use crate::console::{Cause, Event as Console};
use crate::faults::{Fault, Faults};
use crate::identity::Identity;
use crate::mqtt::{self, NetTiming, Session, SessionConfig};
use crate::provisioning::Reply;
use crate::time::Instant;
use crate::variations::{Variation, Variations};

pub use countdown::Countdown;
pub use ota::OtaInput;

/// A connection on the AP socket, numbered by the board.
pub type ConnId = u32;

/// Application timers. The simulator divides them by its time scale; network timeouts
/// ([`NetTiming`], `ap_idle`, `ota_*`) stay real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `switch_state` period (spec 3.2.1: 30 s).
    pub heartbeat: Duration,
    /// `delay_time` and `electricity_information` period, and the meter poll (1 s).
    pub cadence: Duration,
    /// Button hold for a factory reset (spec 3.2.5: 10 s).
    pub hold: Duration,
    /// A release before this is a short press that toggles the relay (2 s).
    pub short_press: Duration,
    /// Idle AP connection dropped after this (real time).
    pub ap_idle: Duration,
    /// An upgrade transfer with no progress for this long fails with R2 (real time).
    pub ota_stall: Duration,
    /// Between connection attempts to the upgrade server (real time).
    pub ota_retry: Duration,
    /// Connection attempts before R3.
    pub ota_attempts: u8,
    /// How long a reset or restart waits for in-flight publishes to be acknowledged.
    pub drain: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat: Duration::from_secs(30),
            cadence: Duration::from_secs(1),
            hold: Duration::from_secs(10),
            short_press: Duration::from_secs(2),
            ap_idle: Duration::from_secs(60),
            ota_stall: Duration::from_secs(15),
            ota_retry: Duration::from_secs(1),
            ota_attempts: 3,
            drain: Duration::from_secs(2),
        }
    }
}

impl Timing {
    /// Application timers `scale` times faster; network timers unchanged.
    pub fn scaled(scale: u32) -> Timing {
        let d = Timing::default();
        let s = scale.max(1);
        Timing {
            heartbeat: d.heartbeat / s,
            cadence: d.cadence / s,
            hold: d.hold / s,
            short_press: d.short_press / s,
            ..d
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    ApAccepted(ConnId),
    ApData(ConnId, &'a [u8]),
    ApClosed(ConnId),
    /// The station joined the network (and got an address).
    NetworkUp,
    NetworkDown,
    MqttOpened,
    MqttData(&'a [u8]),
    /// The broker stream closed, or could not be opened.
    MqttClosed,
    Button {
        pressed: bool,
    },
    /// Bytes from the metering chip's UART.
    Meter(&'a [u8]),
    Ota(OtaInput<'a>),
}

// No heap in the core: an action carries its bytes inline. The queue's size is the cost
// (see the RAM figures in the README), paid once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    ApListen,
    /// Close the listener and every AP connection (after writing what is queued).
    ApStopListening,
    ApSend(ConnId, Reply),
    ApClose(ConnId),
    JoinNetwork(WifiConfig),
    MqttOpen {
        host: String<64>,
        port: u16,
        tls: bool,
    },
    MqttSend(mqtt::Bytes),
    MqttClose,
    SetRelay(bool),
    /// Write [`crate::bl0942::REQUEST`] to the metering chip.
    MeterRequest,
    Store(Config),
    Erase,
    /// Fetch `http://{host}:{port}{path}`; resolve `host` by DNS first when `resolve`.
    /// The board writes each received chunk to the inactive slot before passing it in.
    OtaFetch {
        host: String<64>,
        port: u16,
        path: String<160>,
        resolve: bool,
    },
    /// Drop the transfer and discard what was written.
    OtaCancel,
    /// The image in the inactive slot is good: boot from it next.
    OtaActivate,
    Restart,
    Console(Console),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Reset,
    Restart,
}

// The station's session holds its buffers inline (no heap); the plug is in one mode at a
// time, so the size is paid once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Mode {
    Ap(ap::Ap),
    Station(Station),
}

#[derive(Debug)]
struct Station {
    session: Session,
    mqtt: MqttConfig,
    net_up: bool,
    next_heartbeat: Option<Instant>,
    next_electricity: Option<Instant>,
}

pub struct Plug {
    id: Identity,
    timing: Timing,
    net: NetTiming,
    mode: Mode,
    relay: bool,
    countdown: Option<Countdown>,
    button_down: Option<Instant>,
    meter: FrameReader,
    reading: Option<Reading>,
    next_meter_poll: Option<Instant>,
    ota: Option<ota::Job>,
    /// A reset or restart waiting for in-flight publishes, with its deadline.
    exit: Option<(Exit, Instant)>,
    actions: Deque<Action, 32>,
    faults: Faults,
    variations: Variations,
    /// One second of application time (the unfaulted cadence), which the `slow-tick`
    /// countdown measures its remaining time in.
    app_second: Duration,
}

impl Plug {
    /// Boots with what flash held. The relay starts off.
    pub fn new(id: Identity, timing: Timing, net: NetTiming, stored: Option<Config>, now: Instant) -> Plug {
        let mut p = Plug {
            id,
            timing,
            net,
            mode: Mode::Ap(ap::Ap::default()),
            relay: false,
            countdown: None,
            button_down: None,
            meter: FrameReader::default(),
            reading: None,
            next_meter_poll: None,
            ota: None,
            exit: None,
            actions: Deque::new(),
            faults: Faults::NONE,
            variations: Variations::NONE,
            app_second: timing.cadence,
        };
        p.emit(Action::Console(Console::Boot {
            fw: p.id.firmware_version.clone(),
            mac: p.id.mac.clone(),
            configured: stored.is_some(),
        }));
        p.emit(Action::SetRelay(false));
        if p.id.power_monitoring {
            p.next_meter_poll = Some(now);
        }
        match stored {
            Some(cfg) => p.enter_station(cfg),
            None => p.enter_ap(),
        }
        p
    }

    /// Turns on deliberate protocol violations (the `fault-injection` feature only).
    #[cfg(feature = "fault-injection")]
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
        if faults.has(Fault::LateHeartbeat) {
            self.timing.heartbeat = self.timing.heartbeat * 11 / 10;
        }
        if faults.has(Fault::SlowCadence) {
            self.timing.cadence = self.timing.cadence * 5 / 4;
        }
        if faults.has(Fault::IgnoreClientId) {
            if let Mode::Station(st) = &mut self.mode {
                st.session.set_client_id(self.id.mac.as_str());
            }
        }
    }

    /// Turns on conformant variations (the `conformant-variations` feature only). Call it
    /// before the first `poll_action`, as the board does: the choices apply from then on.
    #[cfg(feature = "conformant-variations")]
    pub fn set_variations(&mut self, variations: Variations) {
        self.variations = variations;
    }

    // ---- getters ----

    pub fn relay(&self) -> bool {
        self.relay
    }

    pub fn in_ap_mode(&self) -> bool {
        matches!(self.mode, Mode::Ap(_))
    }

    pub fn mqtt_up(&self) -> bool {
        matches!(&self.mode, Mode::Station(s) if s.session.is_up())
    }

    pub fn countdown(&self) -> Option<&Countdown> {
        self.countdown.as_ref()
    }

    pub fn identity(&self) -> &Identity {
        &self.id
    }

    pub fn last_reading(&self) -> Option<Reading> {
        self.reading
    }

    // ---- input ----

    pub fn handle(&mut self, now: Instant, input: Input<'_>) {
        match input {
            Input::ApAccepted(c) => self.ap_accepted(now, c),
            Input::ApData(c, d) => self.ap_data(now, c, d),
            Input::ApClosed(c) => self.ap_closed(c),
            Input::NetworkUp => {
                if let Mode::Station(st) = &mut self.mode {
                    st.net_up = true;
                    st.session.start();
                }
                self.drain_session(now);
            }
            Input::NetworkDown => {
                if let Mode::Station(st) = &mut self.mode {
                    st.net_up = false;
                    st.session.handle_closed(now);
                }
                self.drain_session(now);
            }
            Input::MqttOpened => self.with_session(now, |s, now| s.handle_open(now)),
            Input::MqttData(d) => self.with_session(now, |s, now| s.handle_data(now, d)),
            Input::MqttClosed => self.with_session(now, |s, now| s.handle_closed(now)),
            Input::Button { pressed } => self.button(now, pressed),
            Input::Meter(bytes) => {
                if let Some(raw) = self.meter.feed(bytes) {
                    self.reading = Some(raw.reading());
                }
            }
            Input::Ota(o) => self.ota_input(now, o),
        }
    }

    fn with_session(&mut self, now: Instant, f: impl FnOnce(&mut Session, Instant)) {
        if let Mode::Station(st) = &mut self.mode {
            f(&mut st.session, now);
        }
        self.drain_session(now);
    }

    fn button(&mut self, now: Instant, pressed: bool) {
        if pressed {
            if self.button_down.is_none() {
                self.button_down = Some(now);
            }
            return;
        }
        if let Some(t) = self.button_down.take() {
            if now.since(t) < self.timing.short_press {
                let on = !self.relay;
                self.set_relay(now, on, Cause::Button);
            }
        }
    }

    // ---- time ----

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut consider = |c: Option<Instant>| {
            if let Some(c) = c {
                t = Some(t.map_or(c, |t| t.min(c)));
            }
        };
        consider(self.next_meter_poll);
        consider(self.button_down.map(|d| d + self.timing.hold));
        consider(self.countdown.as_ref().map(|c| c.next_tick));
        consider(self.ota.as_ref().map(|o| o.deadline()));
        consider(self.exit.map(|(_, d)| d));
        match &self.mode {
            Mode::Ap(ap) => consider(ap.next_deadline()),
            Mode::Station(st) => {
                consider(st.session.poll_timeout());
                consider(st.next_heartbeat);
                consider(st.next_electricity);
            }
        }
        t
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.button_down {
            if now >= d + self.timing.hold {
                self.button_down = None;
                self.factory_reset(now, Cause::Button);
            }
        }
        if let Some((exit, deadline)) = self.exit {
            if now >= deadline {
                self.finish_exit(now, exit);
            }
        }
        if self.next_meter_poll.is_some_and(|t| now >= t) {
            self.emit(Action::MeterRequest);
            self.next_meter_poll = Some(now + self.timing.cadence);
        }
        self.countdown_timeout(now);
        self.ota_timeout(now);
        if let Mode::Ap(ap) = &mut self.mode {
            for c in ap.expire(now) {
                self.emit(Action::ApClose(c));
            }
        }
        self.station_timeout(now);
    }

    fn station_timeout(&mut self, now: Instant) {
        let Mode::Station(st) = &mut self.mode else {
            return;
        };
        st.session.handle_timeout(now);
        let heartbeat_due = st.next_heartbeat.is_some_and(|t| now >= t);
        if heartbeat_due {
            st.next_heartbeat = Some(now + self.timing.heartbeat);
        }
        let electricity_due = st.next_electricity.is_some_and(|t| now >= t);
        if electricity_due {
            st.next_electricity = Some(now + self.timing.cadence);
        }
        self.drain_session(now);
        if heartbeat_due {
            self.publish_switch_state(now);
        }
        if electricity_due {
            self.publish_electricity(now);
        }
    }

    // ---- output ----

    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn emit(&mut self, a: Action) {
        if self.actions.push_back(a).is_err() {
            // The board drains after every call, so this only happens on a burst larger
            // than the queue; keep the newest action and say so.
            self.actions.pop_front();
            let _ = self.actions.push_back(Action::Console(Console::Error {
                what: "action queue overflow",
            }));
        }
    }

    fn console(&mut self, e: Console) {
        self.emit(Action::Console(e));
    }

    // ---- modes ----

    fn enter_ap(&mut self) {
        self.mode = Mode::Ap(ap::Ap::default());
        self.emit(Action::ApListen);
        self.console(Console::Mode { ap: true });
    }

    fn enter_station(&mut self, cfg: Config) {
        let m = &cfg.mqtt;
        let client_id = if m.client_id.is_empty() || self.faults.has(Fault::IgnoreClientId) {
            String::try_from(self.id.mac.as_str()).unwrap_or_default()
        } else {
            m.client_id.clone()
        };
        let session = Session::new(
            SessionConfig {
                client_id,
                username: m.username.clone(),
                password: m.password.clone(),
                keepalive_s: m.keepalive,
                clean_session: m.clean_session,
            },
            self.net,
        );
        self.mode = Mode::Station(Station {
            session,
            mqtt: cfg.mqtt.clone(),
            net_up: false,
            next_heartbeat: None,
            next_electricity: None,
        });
        self.console(Console::Mode { ap: false });
        self.emit(Action::JoinNetwork(cfg.wifi));
    }

    /// Moves the session's events into actions and reacts to session changes.
    fn drain_session(&mut self, now: Instant) {
        loop {
            let Mode::Station(st) = &mut self.mode else {
                return;
            };
            let Some(ev) = st.session.poll_event() else {
                break;
            };
            match ev {
                mqtt::Event::Open => {
                    let a = Action::MqttOpen {
                        host: st.mqtt.host.clone(),
                        port: st.mqtt.port,
                        tls: st.mqtt.tls,
                    };
                    self.emit(a);
                }
                mqtt::Event::Send(b) => self.emit(Action::MqttSend(b)),
                mqtt::Event::Close => self.emit(Action::MqttClose),
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
        self.check_exit(now);
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
    }

    /// Publishes on `{prefix}/device/{field}` at the provisioned QoS.
    fn publish(&mut self, now: Instant, field: &str, payload: &[u8]) {
        let topic = self.id.topic("device", field);
        let Mode::Station(st) = &mut self.mode else {
            return;
        };
        let qos = if self.faults.has(Fault::AlwaysQos0) {
            0
        } else {
            st.mqtt.qos
        };
        let res = st.session.publish(now, &topic, payload, qos);
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

    fn set_relay(&mut self, now: Instant, on: bool, cause: Cause) {
        let changed = on != self.relay;
        if changed {
            self.relay = on;
            self.emit(Action::SetRelay(on));
            self.console(Console::Relay { on, cause });
            if cause != Cause::Countdown && !self.faults.has(Fault::NoCancelOnSwitch) {
                self.cancel_countdown("switch");
            }
        }
        // An app command is echoed even when nothing changed, so the app sees the state.
        let echo = changed || cause == Cause::App;
        if echo && !(cause == Cause::App && self.faults.has(Fault::NoSwitchEcho)) {
            self.publish_switch_state(now);
        }
    }

    fn factory_reset(&mut self, now: Instant, cause: Cause) {
        self.console(Console::Reset { cause });
        self.cancel_countdown("reset");
        if cause == Cause::Button && self.mqtt_up() && !self.faults.has(Fault::NoDeleteDevice) {
            self.publish(now, "delete_device", b"{}");
            self.begin_exit(now, Exit::Reset);
        } else {
            self.finish_exit(now, Exit::Reset);
        }
    }

    /// Waits for in-flight publishes to be acknowledged before leaving the broker.
    fn begin_exit(&mut self, now: Instant, exit: Exit) {
        self.exit = Some((exit, now + self.timing.drain));
        self.check_exit(now);
    }

    fn check_exit(&mut self, now: Instant) {
        let Some((exit, _)) = self.exit else {
            return;
        };
        let drained = match &self.mode {
            Mode::Station(st) => !st.session.is_up() || st.session.inflight_len() == 0,
            Mode::Ap(_) => true,
        };
        if drained {
            self.finish_exit(now, exit);
        }
    }

    fn finish_exit(&mut self, _now: Instant, exit: Exit) {
        self.exit = None;
        if let Mode::Station(st) = &mut self.mode {
            st.session.stop();
        }
        // Move the session's last packets (DISCONNECT) out before the mode changes.
        while let Mode::Station(st) = &mut self.mode {
            match st.session.poll_event() {
                Some(mqtt::Event::Send(b)) => self.emit(Action::MqttSend(b)),
                Some(mqtt::Event::Close) => self.emit(Action::MqttClose),
                Some(_) => {}
                None => break,
            }
        }
        match exit {
            Exit::Reset => {
                if !self.faults.has(Fault::ResetKeepsConfig) {
                    self.emit(Action::Erase);
                }
                self.console(Console::ConfigErased);
                self.enter_ap();
            }
            Exit::Restart => self.emit(Action::Restart),
        }
    }
}

#[cfg(test)]
mod tests;
// These need the switches compiled in: `cargo test -p plug-core --all-features`, or
// together with plug-sim, which enables both.
#[cfg(all(test, feature = "fault-injection"))]
mod fault_tests;
#[cfg(all(test, feature = "conformant-variations"))]
mod variation_tests;
