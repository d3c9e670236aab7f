//! The plug application: everything the firmware does, as one sans-IO state machine.
//!
//! Read first: PROTOCOL-NOTES, all of it; then `contract` (what a board and the plug say to
//! each other). Four families of methods, as in quinn-proto: getters, [`Plug::handle`] /
//! [`Plug::handle_timeout`] (input, time passed in), [`Plug::poll_action`] (what the board
//! must do, in order) and [`Plug::poll_timeout`] (when to call back). The board applies
//! actions in the order given: a reply queued before `ApStopListening` must be written
//! before the listener and its connections close.
//!
//! This file owns the plug's state and turns what its parts return into actions. The
//! parts: `station` (session up/down, publishing), `exit` (factory reset, restart), and
//! three owners of their own logic that return outcomes: `ap::Ap` (provisioning socket),
//! `countdown::Countdown` and `ota::Job` (`crate::ota::job`; its side here is the
//! "upgrade" section below). `topics` is the app's MQTT commands.
//! Refuses: I/O, clocks and the heap.

mod ap;
mod contract;
mod countdown;
mod exit;
mod station;
mod topics;

use core::time::Duration;
use heapless::{Deque, Vec};

use crate::bl0942::{FrameReader, Reading};
use crate::config::Config;
use crate::console::{Cause, Event as Console};
use crate::faults::{Fault, Faults};
use crate::identity::Identity;
use crate::mqtt::NetTiming;
use crate::ota::{self, OtaResult};
use crate::time::Instant;
use crate::variations::{Variation, Variations};

pub use contract::{Action, ConnId, Input, LinkId, OtaInput, Timing};
pub use countdown::Countdown;

use exit::Exit;
use station::Station;

// The station's session holds its buffers inline (no heap); the plug is in one mode at a
// time, so the size is paid once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Mode {
    Ap(ap::Ap),
    Station(Station),
}

/// The actions waiting for the board. No heap in the core: an action carries its bytes
/// inline, and the queue's size is the cost, paid once (`cargo run -p plug-core --example
/// footprint` prints it).
struct Outbox(Deque<Action, 32>);

/// What the plug holds of broker reads it has not handled yet: a board's read (at most 2048
/// bytes) and the small ones (acknowledgements) that arrive while the board drains the
/// outbox. A part that does not fit is handled at once, however full the outbox.
const MQTT_READ_MAX: usize = 4096;
/// Room one incoming packet's actions need in the outbox (acknowledgements, a publish,
/// console lines of a countdown replaced).
const ACTIONS_PER_PACKET: usize = 10;

impl Outbox {
    fn push(&mut self, a: Action) {
        if self.0.push_back(a).is_err() {
            // The board drains after every call, so this only happens on a burst larger
            // than the queue; keep the newest action and say so.
            self.0.pop_front();
            let _ = self.0.push_back(Action::Console(Console::Error {
                what: "action queue overflow",
            }));
        }
    }
}

/// A fresh link id (ids are never reused within a boot, so a late input cannot match).
fn next_link(last: &mut LinkId) -> LinkId {
    *last = last.wrapping_add(1);
    *last
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
    /// This boot is an update on trial until it reaches the broker, or until then.
    trial_until: Option<Instant>,
    /// A reset or restart waiting for in-flight publishes, with its deadline.
    exit: Option<(Exit, Instant)>,
    out: Outbox,
    /// The rest of a broker read the outbox had no room for: handled at the next timeout,
    /// which is due at once (`poll_timeout`), after the board has drained the outbox.
    mqtt_pending: Option<(LinkId, Vec<u8, MQTT_READ_MAX>)>,
    /// The time of the last input, when the pending read is due.
    last_now: Instant,
    /// The last link id given out; ids are never reused within a boot.
    last_link: LinkId,
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
            trial_until: None,
            exit: None,
            out: Outbox(Deque::new()),
            mqtt_pending: None,
            last_now: now,
            last_link: 0,
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

    /// This boot is the first of an update not yet confirmed (the board's OTA data says
    /// so): unless the session comes up within [`Timing::trial`], the plug rolls it back
    /// ([`Action::OtaRollBack`]); when it does, the plug keeps it ([`Action::OtaConfirm`]).
    pub fn start_trial(&mut self, now: Instant) {
        self.trial_until = Some(now + self.timing.trial);
    }

    // ---- getters ----

    /// Whether this boot is an update still on trial.
    pub fn on_trial(&self) -> bool {
        self.trial_until.is_some()
    }

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
            Input::ApClosed(c) => {
                if let Mode::Ap(ap) = &mut self.mode {
                    ap.closed(c);
                }
            }
            Input::NetworkUp => self.with_session(now, |s, _| s.start()),
            Input::NetworkDown => self.with_session(now, |s, now| s.handle_closed(now)),
            Input::MqttOpened(l) => self.with_link(now, l, |s, now| s.handle_open(now)),
            Input::MqttData(l, d) => match self.mqtt_pending.take() {
                // What waits goes first: a new read joins its end, or, if there is no
                // room for it, the waiting part is handled whatever the outbox holds.
                Some((pl, mut waiting)) if pl == l => {
                    if waiting.extend_from_slice(d).is_ok() {
                        self.mqtt_data(now, l, &waiting);
                    } else {
                        self.mqtt_data_all(now, l, &waiting);
                        self.mqtt_data(now, l, d);
                    }
                }
                _ => self.mqtt_data(now, l, d),
            },
            Input::MqttClosed(l) => self.with_link(now, l, |s, now| s.handle_closed(now)),
            Input::Button { pressed } => self.button(now, pressed),
            Input::Meter(bytes) => {
                if let Some(raw) = self.meter.feed(bytes) {
                    self.reading = Some(raw.reading());
                }
            }
            Input::Ota(l, o) => self.ota_input(now, l, o),
        }
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
        if self.mqtt_pending.is_some() {
            return Some(self.last_now);
        }
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
        consider(self.trial_until);
        match &self.mode {
            Mode::Ap(ap) => consider(ap.next_deadline()),
            Mode::Station(st) => consider(st.next_deadline()),
        }
        t
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((link, rest)) = self.mqtt_pending.take() {
            self.mqtt_data(now, link, &rest);
        }
        if self.trial_until.is_some_and(|t| now >= t) {
            // Nothing else matters on this image: the board restarts into the old one.
            self.trial_until = None;
            self.console(Console::Error {
                what: "update never reached the broker: rolling back",
            });
            self.emit(Action::OtaRollBack);
            self.emit(Action::Restart);
            return;
        }
        if let Some(d) = self.button_down {
            if now >= d + self.timing.hold {
                self.button_down = None;
                self.factory_reset(now, Cause::Button);
            }
        }
        self.exit_timeout(now);
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

    // ---- output ----

    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.0.pop_front()
    }

    /// A broker read, one packet at a time while the outbox has room for its actions;
    /// what is left waits in `mqtt_pending` for the board to drain the outbox. Found by
    /// `plugrig fuzz`: a QoS 2 flood arrives as one read whose actions overflowed the
    /// outbox, dropping acknowledgements, and the broker closed the session.
    fn mqtt_data(&mut self, now: Instant, link: LinkId, data: &[u8]) {
        self.last_now = now;
        let mut rest = data;
        loop {
            let room = self.out.0.capacity() - self.out.0.len();
            if room < ACTIONS_PER_PACKET {
                if let Ok(v) = Vec::from_slice(rest) {
                    self.mqtt_pending = Some((link, v));
                    return;
                }
            }
            let mut done = None;
            self.with_link(now, link, |s, now| {
                let n = s.handle_data_limited(now, rest, 1);
                done = Some((n, s.has_buffered_packet()));
            });
            // The link is gone (what the data did closed it): the rest is stale.
            let Some((n, buffered)) = done else { return };
            rest = &rest[n..];
            if rest.is_empty() && !buffered {
                return;
            }
        }
    }

    /// A broker read handled whole, however full the outbox.
    fn mqtt_data_all(&mut self, now: Instant, link: LinkId, data: &[u8]) {
        let mut rest = data;
        loop {
            let mut done = None;
            self.with_link(now, link, |s, now| {
                let n = s.handle_data(now, rest);
                done = Some((n, s.has_buffered_packet()));
            });
            let Some((n, buffered)) = done else { return };
            rest = &rest[n..];
            if rest.is_empty() && !buffered {
                return;
            }
        }
    }

    fn emit(&mut self, a: Action) {
        self.out.push(a);
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

    // ---- AP mode (the logic is `ap::Ap`'s) ----

    fn ap_accepted(&mut self, now: Instant, id: ConnId) {
        let Mode::Ap(ap) = &mut self.mode else {
            self.emit(Action::ApClose(id));
            return;
        };
        if let Some(gone) = ap.accepted(now, id, self.timing.ap_idle) {
            self.emit(Action::ApClose(gone));
        }
    }

    fn ap_data(&mut self, now: Instant, id: ConnId, data: &[u8]) {
        let env = ap::Env {
            id: &self.id,
            faults: self.faults,
            variations: self.variations,
            idle: self.timing.ap_idle,
        };
        let Mode::Ap(ap) = &mut self.mode else {
            return;
        };
        if self.faults.has(Fault::DeepNestingCrash) && ap::nesting_depth(data) > 16 {
            self.emit(Action::Restart);
            return;
        }
        let mut step = ap.data(now, id, data, &env);
        let cfg = loop {
            let Some(s) = step.take().or_else(|| ap.next(id, &env)) else {
                return;
            };
            match s {
                ap::Step::Reply(r) => self.out.push(Action::ApSend(id, r)),
                ap::Step::Close(r) => {
                    if let Some(r) = r {
                        self.out.push(Action::ApSend(id, r));
                    }
                    self.out.push(Action::ApClose(id));
                    return;
                }
                ap::Step::Provisioned(r, cfg) => {
                    self.out.push(Action::Store(cfg.clone()));
                    self.out.push(Action::Console(Console::ConfigSaved));
                    self.out.push(Action::ApSend(id, r));
                    self.out.push(Action::ApStopListening);
                    break cfg;
                }
            }
        };
        self.enter_station(cfg);
    }

    // ---- countdown (the logic is `Countdown`'s) ----

    fn pace(&self) -> countdown::Pace {
        countdown::Pace {
            cadence: self.timing.cadence,
            second: self.app_second,
            slow_tick: self.variations.has(Variation::SlowTick),
        }
    }

    /// An accepted `app/delay_time`: 0/0 cancels, anything else replaces what runs.
    fn start_countdown(&mut self, now: Instant, hours: u32, minutes: u32) {
        self.cancel_countdown("replaced");
        let Some(c) = Countdown::start(now, hours * 3600 + minutes * 60, self.relay, self.pace()) else {
            return;
        };
        self.countdown = Some(c);
        self.console(Console::CountdownStart {
            secs: c.total,
            target_on: c.target_on,
        });
        self.publish(now, "delay_time", c.payload().as_bytes());
    }

    fn cancel_countdown(&mut self, cause: &'static str) {
        if self.countdown.take().is_some() {
            self.console(Console::CountdownCancel { cause });
        }
    }

    fn countdown_timeout(&mut self, now: Instant) {
        let pace = self.pace();
        let Some(c) = &mut self.countdown else {
            return;
        };
        let tick = c.tick(now, pace);
        let c = *c;
        let last = match tick {
            countdown::Tick::NotYet => return,
            countdown::Tick::Counting => false,
            countdown::Tick::Done => true,
        };
        if !(last && self.faults.has(Fault::NoFinalZero)) {
            self.publish(now, "delay_time", c.payload().as_bytes());
        }
        if last {
            self.countdown = None;
            self.console(Console::CountdownDone);
            self.set_relay(now, c.target_on, Cause::Countdown);
        }
    }

    // ---- upgrade (the logic is `ota::Job`'s) ----

    fn ota_policy(&self) -> ota::Policy {
        ota::Policy {
            stall: self.timing.ota_stall,
            retry: self.timing.ota_retry,
            attempts: self.timing.ota_attempts,
            r3_for_http_error: self.faults.has(Fault::OtaR3ForHttpError),
        }
    }

    fn start_ota(&mut self, now: Instant, req: ota::Request) {
        if self.ota.is_some() {
            self.console(Console::Error {
                what: "upgrade already running",
            });
            return;
        }
        let vendor = self.variations.has(Variation::VendorImage);
        let file = if vendor {
            ota::vendor_image::FILE_NAME
        } else {
            self.id.ota_file.as_str()
        };
        // An empty target accepts any image: only the fault switch asks for that.
        let target = if self.faults.has(Fault::AcceptWrongTarget) {
            ""
        } else {
            self.id.ota_target.as_str()
        };
        match ota::Job::start(req, file, vendor, target) {
            Ok(job) => {
                self.ota = Some(job);
                self.ota_outcome(now, ota::Outcome::Attempt);
            }
            Err(detail) => self.ota_result(now, OtaResult::NoAddress, detail),
        }
    }

    fn ota_input(&mut self, now: Instant, link: LinkId, input: OtaInput<'_>) {
        let policy = self.ota_policy();
        if let Some(job) = &mut self.ota {
            let o = job.handle(now, link, input, policy);
            self.ota_outcome(now, o);
        }
    }

    fn ota_timeout(&mut self, now: Instant) {
        if let Some(job) = &mut self.ota {
            let o = job.timeout(now);
            self.ota_outcome(now, o);
        }
    }

    fn ota_outcome(&mut self, now: Instant, o: ota::Outcome) {
        match o {
            ota::Outcome::Pending => {}
            ota::Outcome::Attempt => {
                let (link, stall) = (next_link(&mut self.last_link), self.timing.ota_stall);
                if let Some(job) = &mut self.ota {
                    let fetch = job.attempt(now, link, stall);
                    self.emit(fetch);
                }
            }
            ota::Outcome::Failed(result, detail) => {
                self.ota = None;
                self.emit(Action::OtaCancel);
                self.ota_result(now, result, detail);
            }
            ota::Outcome::Installed => {
                self.ota = None;
                self.emit(Action::OtaActivate);
                self.ota_result(now, OtaResult::Success, "installed");
                self.begin_exit(now, Exit::Restart);
            }
        }
    }

    fn ota_result(&mut self, now: Instant, result: OtaResult, detail: &'static str) {
        self.console(Console::Ota { result, detail });
        let mut s: heapless::String<32> = heapless::String::new();
        let _ =
            core::fmt::Write::write_fmt(&mut s, format_args!("{{\"ota_result\":\"{}\"}}", result.as_str()));
        self.publish(now, "ota_upgrade_state", s.as_bytes());
    }
}

#[cfg(test)]
mod ap_tests;
#[cfg(test)]
mod broker_tests;
#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod countdown_tests;
#[cfg(test)]
mod ota_tests;
#[cfg(test)]
mod tests;
// These need the switches compiled in: `cargo test -p plug-core --all-features`, or
// together with plug-sim, which enables both.
#[cfg(all(test, feature = "fault-injection"))]
mod fault_tests;
#[cfg(all(test, feature = "conformant-variations"))]
mod variation_tests;
