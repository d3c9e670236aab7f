//! AP mode: the provisioning socket's connections and the 4002-before-4003 rule.
//!
//! Read first: PROTOCOL-NOTES, "AP socket". Owns the connections (their streams and idle
//! deadlines) and the pending 4002; what a frame asks of the plug comes back as a
//! [`Step`], which the plug turns into actions. Refuses: anything outside AP mode (there
//! the plug closes a connection at once, unanswered; a board may keep its listener open:
//! the `ap-stays-open` variation).

use core::time::Duration;
use heapless::Vec;

use super::ConnId;
use crate::config::{Config, MqttConfig};
use crate::faults::{Fault, Faults};
use crate::identity::Identity;
use crate::provisioning::{self, Code, Command, Framed, Rejection, Reply, Stream};
use crate::time::Instant;
use crate::variations::{Variation, Variations};

/// Connections served at once. A further one evicts the least recently active, so
/// clients that connect and never send cannot lock the next one out.
const CONNS_MAX: usize = 2;

/// What the AP's answers depend on besides the connection.
pub(super) struct Env<'a> {
    pub id: &'a Identity,
    pub faults: Faults,
    pub variations: Variations,
    /// An idle connection is dropped after this.
    pub idle: Duration,
}

/// What one frame (or an overflow) asks of the plug.
// One step at a time, so the larger variant costs nothing extra.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Step {
    Reply(Reply),
    /// The connection is gone: send the reply, if any, then close it.
    Close(Option<Reply>),
    /// A whole configuration: send the reply, store it and leave AP mode.
    Provisioned(Reply, Config),
}

#[derive(Debug, Default)]
pub(super) struct Ap {
    conns: Vec<Conn, CONNS_MAX>,
    /// The accepted 4002, waiting for its 4003. Kept across connections: the app may
    /// reconnect between the two.
    pending_mqtt: Option<MqttConfig>,
    /// Set by the `wedged-by-garbage` fault: nothing is answered any more (RAM only).
    wedged: bool,
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

    /// A new connection. Returns the one evicted to make room, which the board must close.
    pub(super) fn accepted(&mut self, now: Instant, id: ConnId, idle: Duration) -> Option<ConnId> {
        let mut evicted = None;
        if self.conns.is_full() {
            let oldest = self.conns.iter().enumerate().min_by_key(|(_, c)| c.idle_deadline);
            if let Some((i, _)) = oldest {
                evicted = Some(self.conns.swap_remove(i).id);
            }
        }
        let conn = Conn {
            id,
            stream: Stream::default(),
            idle_deadline: now + idle,
        };
        // Cannot fail: a place was made above.
        let _ = self.conns.push(conn);
        evicted
    }

    pub(super) fn closed(&mut self, id: ConnId) {
        self.conns.retain(|c| c.id != id);
    }

    /// Bytes on a connection. Returns a step only when they overflow its buffer; the
    /// frames they complete come from [`Ap::next`].
    pub(super) fn data(&mut self, now: Instant, id: ConnId, data: &[u8], env: &Env) -> Option<Step> {
        let conn = self.conns.iter_mut().find(|c| c.id == id)?;
        conn.idle_deadline = now + env.idle;
        if env.faults.has(Fault::DuplicateKeysWedge) && most_repeated_key(data) >= 24 {
            self.wedged = true;
        }
        if conn.stream.push(data) {
            return None;
        }
        Some(self.fatal(id, Stream::overflow_rejection(), env))
    }

    /// The next complete frame on a connection, answered.
    pub(super) fn next(&mut self, id: ConnId, env: &Env) -> Option<Step> {
        if self.wedged {
            return None;
        }
        let conn = self.conns.iter_mut().find(|c| c.id == id)?;
        let frame = conn.stream.next_frame();
        if env.faults.has(Fault::WedgedByGarbage)
            && matches!(&frame, Framed::Rejected(r) | Framed::Fatal(r) if matches!(r.code, Code::NotJson | Code::Undefined))
        {
            self.wedged = true;
        }
        match frame {
            Framed::NeedMore => None,
            Framed::Rejected(r) => Some(Step::Reply(reply(env, r.code, r.header))),
            Framed::Fatal(r) => Some(self.fatal(id, r, env)),
            Framed::Command(cmd) => Some(self.command(cmd, env)),
        }
    }

    /// Answers what it can, then drops the connection. Oversized input (code 1) may go
    /// unanswered (PROTOCOL-NOTES: "a code-1 reply, or none"): the `oversize-close` choice.
    fn fatal(&mut self, id: ConnId, r: Rejection, env: &Env) -> Step {
        self.closed(id);
        let silent = r.code == Code::Length && env.variations.has(Variation::OversizeClose);
        Step::Close((!silent).then(|| reply(env, r.code, r.header)))
    }

    fn command(&mut self, cmd: Command, env: &Env) -> Step {
        match cmd {
            Command::DeviceInfo => Step::Reply(reply(env, Code::Ok, Some(provisioning::DEVICE_INFO))),
            Command::Mqtt(m) if m.tls && !env.id.tls => {
                Step::Reply(reply(env, Code::Range, Some(provisioning::MQTT_SERVER)))
            }
            Command::Mqtt(m) => {
                self.pending_mqtt = Some(m);
                Step::Reply(reply(env, Code::Ok, Some(provisioning::MQTT_SERVER)))
            }
            Command::Wifi(wifi) => match self.pending_mqtt.clone() {
                Some(mqtt) => Step::Provisioned(
                    reply(env, Code::Ok, Some(provisioning::WIFI)),
                    Config { mqtt, wifi },
                ),
                None => {
                    let order = if env.faults.has(Fault::WrongOrderCode) {
                        Code::Undefined
                    } else {
                        Code::Order
                    };
                    Step::Reply(reply(env, order, Some(provisioning::WIFI)))
                }
            },
        }
    }
}

fn reply(env: &Env, code: Code, header: Option<i64>) -> Reply {
    let code = if code == Code::Length && env.faults.has(Fault::LengthAsRangeCode) {
        Code::Range
    } else {
        code
    };
    let identity = (code == Code::Ok && header == Some(provisioning::DEVICE_INFO)).then_some(env.id);
    // Without a parsed header, `result` may be left out (PROTOCOL-NOTES, reply envelope).
    let bare = header.is_none() && code != Code::Ok && env.variations.has(Variation::BareErrorReply);
    let mut out = if bare {
        provisioning::bare_reply(code)
    } else {
        provisioning::reply(code, header, identity)
    };
    if env.faults.has(Fault::NulTerminatedReplies) {
        // Full only past REPLY_MAX, which no reply reaches.
        let _ = out.push(0);
    }
    out
}

/// How often the most repeated `"key":` of one write occurs (the `duplicate-keys-wedge`
/// fault's trigger; a plain scan, strings with escaped quotes aside).
fn most_repeated_key(data: &[u8]) -> usize {
    let mut keys: Vec<(&[u8], usize), 32> = Vec::new();
    let mut best = 0;
    let mut rest = data;
    while let Some(start) = rest.iter().position(|&b| b == b'"') {
        let after = &rest[start + 1..];
        let Some(end) = after.iter().position(|&b| b == b'"') else {
            break;
        };
        let key = &after[..end];
        rest = &after[end + 1..];
        if rest.first() != Some(&b':') {
            continue;
        }
        let n = match keys.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                let _ = keys.push((key, 1));
                1
            }
        };
        best = best.max(n);
    }
    best
}

/// The deepest bracket nesting of one write (the `deep-nesting-crash` fault's trigger).
pub(super) fn nesting_depth(data: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for &b in data {
        match b {
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}
