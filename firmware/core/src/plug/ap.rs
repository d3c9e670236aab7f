//! AP mode: the provisioning socket's connections and the 4002-before-4003 rule.
//! Outside AP mode a connection is closed at once, unanswered (a board may keep its
//! listener open: the `ap-stays-open` variation).

use heapless::Vec;

use super::{Action, ConnId, Mode, Plug};
use crate::config::{Config, MqttConfig};
use crate::console::Event as Console;
use crate::faults::Fault;
use crate::provisioning::{self, Code, Command, Framed, Rejection, Stream};
use crate::time::Instant;
use crate::variations::Variation;

/// Connections served at once. A further one evicts the least recently active, so
/// clients that connect and never send cannot lock the next one out.
const CONNS_MAX: usize = 2;

#[derive(Debug, Default)]
pub(super) struct Ap {
    conns: Vec<Conn, CONNS_MAX>,
    /// The accepted 4002, waiting for its 4003. Kept across connections: the app may
    /// reconnect between the two.
    pending_mqtt: Option<MqttConfig>,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    stream: Stream,
    idle_deadline: Instant,
}

impl Ap {
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.conns.iter().map(|c| c.idle_deadline).min()
    }

    /// Removes the connections idle past their deadline and returns their ids.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<ConnId, CONNS_MAX> {
        let gone = self
            .conns
            .iter()
            .filter(|c| now >= c.idle_deadline)
            .map(|c| c.id)
            .collect();
        self.conns.retain(|c| now < c.idle_deadline);
        gone
    }
}

impl Plug {
    pub(super) fn ap_accepted(&mut self, now: Instant, id: ConnId) {
        let deadline = now + self.timing.ap_idle;
        let Mode::Ap(ap) = &mut self.mode else {
            self.emit(Action::ApClose(id));
            return;
        };
        let mut evicted = None;
        if ap.conns.is_full() {
            let oldest = ap.conns.iter().enumerate().min_by_key(|(_, c)| c.idle_deadline);
            if let Some((i, _)) = oldest {
                evicted = Some(ap.conns.swap_remove(i).id);
            }
        }
        let conn = Conn {
            id,
            stream: Stream::default(),
            idle_deadline: deadline,
        };
        // Cannot fail: a place was made above.
        let _ = ap.conns.push(conn);
        if let Some(gone) = evicted {
            self.emit(Action::ApClose(gone));
        }
    }

    pub(super) fn ap_closed(&mut self, id: ConnId) {
        if let Mode::Ap(ap) = &mut self.mode {
            ap.conns.retain(|c| c.id != id);
        }
    }

    pub(super) fn ap_data(&mut self, now: Instant, id: ConnId, data: &[u8]) {
        let deadline = now + self.timing.ap_idle;
        let Mode::Ap(ap) = &mut self.mode else {
            return;
        };
        let Some(conn) = ap.conns.iter_mut().find(|c| c.id == id) else {
            return;
        };
        conn.idle_deadline = deadline;
        if !conn.stream.push(data) {
            self.fatal(id, Stream::overflow_rejection());
            return;
        }
        loop {
            let Mode::Ap(ap) = &mut self.mode else {
                return;
            };
            let Some(conn) = ap.conns.iter_mut().find(|c| c.id == id) else {
                return;
            };
            match conn.stream.next_frame() {
                Framed::NeedMore => return,
                Framed::Rejected(r) => self.reply(id, r.code, r.header),
                Framed::Fatal(r) => {
                    self.fatal(id, r);
                    return;
                }
                Framed::Command(cmd) => {
                    if self.command(id, cmd) {
                        return;
                    }
                }
            }
        }
    }

    /// Answers what it can, then drops the connection. Oversized input (code 1) may go
    /// unanswered (PROTOCOL-NOTES: "a code-1 reply, or none"): the `oversize-close` choice.
    fn fatal(&mut self, id: ConnId, r: Rejection) {
        let silent = r.code == Code::Length && self.variations.has(Variation::OversizeClose);
        if !silent {
            self.reply(id, r.code, r.header);
        }
        self.drop_conn(id);
    }

    fn drop_conn(&mut self, id: ConnId) {
        self.ap_closed(id);
        self.emit(Action::ApClose(id));
    }

    fn reply(&mut self, id: ConnId, code: Code, header: Option<i64>) {
        let code = if code == Code::Length && self.faults.has(Fault::LengthAsRangeCode) {
            Code::Range
        } else {
            code
        };
        let identity = (code == Code::Ok && header == Some(provisioning::DEVICE_INFO)).then_some(&self.id);
        // Without a parsed header, `result` may be left out (PROTOCOL-NOTES, reply envelope).
        let bare = header.is_none() && code != Code::Ok && self.variations.has(Variation::BareErrorReply);
        let r = if bare {
            provisioning::bare_reply(code)
        } else {
            provisioning::reply(code, header, identity)
        };
        self.emit(Action::ApSend(id, r));
    }

    /// Handles one valid command. Returns true when the plug left AP mode.
    fn command(&mut self, id: ConnId, cmd: Command) -> bool {
        let Mode::Ap(ap) = &mut self.mode else {
            return true;
        };
        match cmd {
            Command::DeviceInfo => {
                self.reply(id, Code::Ok, Some(provisioning::DEVICE_INFO));
                false
            }
            Command::Mqtt(m) if m.tls && !self.id.tls => {
                self.reply(id, Code::Range, Some(provisioning::MQTT_SERVER));
                false
            }
            Command::Mqtt(m) => {
                ap.pending_mqtt = Some(m);
                self.reply(id, Code::Ok, Some(provisioning::MQTT_SERVER));
                false
            }
            Command::Wifi(wifi) => {
                let Some(mqtt) = ap.pending_mqtt.clone() else {
                    let order = if self.faults.has(Fault::WrongOrderCode) {
                        Code::Undefined
                    } else {
                        Code::Order
                    };
                    self.reply(id, order, Some(provisioning::WIFI));
                    return false;
                };
                let cfg = Config { mqtt, wifi };
                self.emit(Action::Store(cfg.clone()));
                self.console(Console::ConfigSaved);
                self.reply(id, Code::Ok, Some(provisioning::WIFI));
                self.emit(Action::ApStopListening);
                self.enter_station(cfg);
                true
            }
        }
    }
}
