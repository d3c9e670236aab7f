//! Test driver: the plug against a fake broker, on virtual time (quinn-proto's
//! `tests/util.rs` habit). Countdowns of minutes run in microseconds, with no sleeps.

use core::time::Duration;
use mqttrs::{decode_slice, encode_slice, Connack, ConnectReturnCode, Packet, Pid, QosPid};
use std::string::String;
use std::vec::Vec;

use crate::config::Config;
use crate::identity::{sample as sample_identity, Identity};
use crate::mqtt::{NetTiming, Qos};
use crate::plug::{Action, ConnId, Input, LinkId, OtaInput, Plug, Timing};
use crate::time::Instant;

/// A packet the plug sent, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    Connect {
        client_id: String,
        username: Option<String>,
        password: Option<Vec<u8>>,
        keepalive: u16,
        clean: bool,
    },
    Publish {
        topic: String,
        payload: String,
        qos: Qos,
        pid: Option<u16>,
        dup: bool,
        at: Instant,
    },
    /// Filters with their QoS, and the packet id.
    Subscribe(Vec<(String, Qos)>, u16),
    Puback(u16),
    Pubrec(u16),
    Pubrel(u16),
    Pubcomp(u16),
    Pingreq,
    Disconnect,
}

fn owned(p: &Packet<'_>, at: Instant) -> Option<Sent> {
    Some(match p {
        Packet::Connect(c) => Sent::Connect {
            client_id: c.client_id.into(),
            username: c.username.map(Into::into),
            password: c.password.map(|p| p.to_vec()),
            keepalive: c.keep_alive,
            clean: c.clean_session,
        },
        Packet::Publish(p) => Sent::Publish {
            topic: p.topic_name.into(),
            payload: String::from_utf8_lossy(p.payload).into_owned(),
            qos: match p.qospid {
                QosPid::AtMostOnce => Qos::AtMostOnce,
                QosPid::AtLeastOnce(_) => Qos::AtLeastOnce,
                QosPid::ExactlyOnce(_) => Qos::ExactlyOnce,
            },
            pid: p.qospid.pid().map(|p| p.get()),
            dup: p.dup,
            at,
        },
        Packet::Subscribe(s) => Sent::Subscribe(
            s.topics
                .iter()
                .map(|t| (String::from(t.topic_path.as_str()), Qos::from(t.qos)))
                .collect(),
            s.pid.get(),
        ),
        Packet::Puback(p) => Sent::Puback(p.get()),
        Packet::Pubrec(p) => Sent::Pubrec(p.get()),
        Packet::Pubrel(p) => Sent::Pubrel(p.get()),
        Packet::Pubcomp(p) => Sent::Pubcomp(p.get()),
        Packet::Pingreq => Sent::Pingreq,
        Packet::Disconnect => Sent::Disconnect,
        _ => return None,
    })
}

pub fn encode(p: &Packet<'_>) -> Vec<u8> {
    let mut buf = [0u8; 1024];
    let n = encode_slice(p, &mut buf).expect("test packet encodes");
    buf[..n].to_vec()
}

pub struct Rig {
    pub plug: Plug,
    pub now: Instant,
    pub sent: Vec<Sent>,
    pub actions: Vec<Action>,
    pub replies: Vec<(ConnId, String)>,
    pub stored: Option<Config>,
    pub relay: bool,
    /// The fake broker acknowledges QoS flows and pings.
    pub broker_acks: bool,
    /// The fake broker accepts connections.
    pub broker_up: bool,
    pub connack_code: ConnectReturnCode,
    pub opens: Vec<Instant>,
    pub meter_frame: Option<[u8; crate::bl0942::FRAME_LEN]>,
    pub id: Identity,
    /// The link of the last `MqttOpen` and of the last `OtaFetch`.
    pub mqtt_link: LinkId,
    pub ota_link: LinkId,
}

pub fn identity() -> Identity {
    sample_identity()
}

impl Rig {
    pub fn new(id: Identity, stored: Option<Config>) -> Rig {
        Rig::with(id, stored, |_| {})
    }

    /// As `new`, with `setup` (faults, variations) applied before the first action is
    /// taken, as a board does.
    pub fn with(id: Identity, stored: Option<Config>, setup: impl FnOnce(&mut Plug)) -> Rig {
        let mut plug = Plug::new(
            id.clone(),
            Timing::default(),
            NetTiming::default(),
            stored.clone(),
            Instant::ZERO,
        );
        setup(&mut plug);
        let mut r = Rig {
            plug,
            now: Instant::ZERO,
            sent: Vec::new(),
            actions: Vec::new(),
            replies: Vec::new(),
            stored,
            relay: false,
            broker_acks: true,
            broker_up: true,
            connack_code: ConnectReturnCode::Accepted,
            opens: Vec::new(),
            meter_frame: None,
            id,
            mqtt_link: 0,
            ota_link: 0,
        };
        r.drain();
        r
    }

    /// A plug provisioned with `qos`, connected, with its first publishes cleared.
    pub fn connected(qos: Qos) -> Rig {
        Rig::connected_with(qos, |_| {})
    }

    /// As `connected`, with `setup` applied first.
    pub fn connected_with(qos: Qos, setup: impl FnOnce(&mut Plug)) -> Rig {
        let mut cfg = crate::config::tests::sample();
        cfg.mqtt.qos = qos;
        let mut r = Rig::with(identity(), Some(cfg), setup);
        r.advance(Duration::from_millis(10));
        assert!(r.plug.mqtt_up(), "fake broker session is up");
        r.sent.clear();
        r.actions.clear();
        r
    }

    pub fn input(&mut self, i: Input<'_>) {
        self.plug.handle(self.now, i);
        self.drain();
    }

    pub fn broker_sends(&mut self, p: &Packet<'_>) {
        let bytes = encode(p);
        self.input(Input::MqttData(self.mqtt_link, &bytes));
    }

    pub fn app_publishes(&mut self, field: &str, payload: &str) {
        let topic = self.id.topic("app", field);
        self.broker_sends(&Packet::Publish(mqttrs::Publish {
            dup: false,
            qospid: QosPid::AtMostOnce,
            retain: false,
            topic_name: &topic,
            payload: payload.as_bytes(),
        }));
    }

    pub fn ap_send(&mut self, conn: ConnId, data: &str) {
        self.input(Input::ApData(conn, data.as_bytes()));
    }

    pub fn ota(&mut self, o: OtaInput<'_>) {
        self.input(Input::Ota(self.ota_link, o));
    }

    /// Applies every pending action as a cooperative board and broker would.
    pub fn drain(&mut self) {
        while let Some(a) = self.plug.poll_action() {
            self.actions.push(a.clone());
            match a {
                Action::ApSend(c, r) => self.replies.push((c, String::from_utf8_lossy(&r).into_owned())),
                Action::Store(c) => self.stored = Some(c),
                Action::Erase => self.stored = None,
                Action::SetRelay(on) => self.relay = on,
                Action::JoinNetwork(_) => self.plug.handle(self.now, Input::NetworkUp),
                Action::OtaFetch { link, .. } => self.ota_link = link,
                Action::MqttOpen { link, .. } => {
                    self.mqtt_link = link;
                    self.opens.push(self.now);
                    let i = if self.broker_up {
                        Input::MqttOpened(link)
                    } else {
                        Input::MqttClosed(link)
                    };
                    self.plug.handle(self.now, i);
                }
                Action::MqttSend(bytes) => self.broker_receives(&bytes),
                Action::MeterRequest => {
                    if let Some(f) = self.meter_frame {
                        self.plug.handle(self.now, Input::Meter(&f));
                    }
                }
                _ => {}
            }
        }
    }

    fn broker_receives(&mut self, bytes: &[u8]) {
        let Ok(Some(p)) = decode_slice(bytes) else {
            panic!("plug sent an undecodable packet: {bytes:?}");
        };
        let Some(s) = owned(&p, self.now) else {
            return;
        };
        self.sent.push(s.clone());
        let reply = match s {
            Sent::Connect { .. } => Some(Packet::Connack(Connack {
                session_present: false,
                code: self.connack_code,
            })),
            Sent::Subscribe(..) if self.broker_acks => None,
            Sent::Publish {
                pid: Some(pid), qos, ..
            } if self.broker_acks => {
                let pid = Pid::try_from(pid).expect("nonzero");
                Some(if qos == Qos::AtLeastOnce {
                    Packet::Puback(pid)
                } else {
                    Packet::Pubrec(pid)
                })
            }
            Sent::Pubrel(pid) if self.broker_acks => {
                Some(Packet::Pubcomp(Pid::try_from(pid).expect("nonzero")))
            }
            Sent::Pingreq if self.broker_acks => Some(Packet::Pingresp),
            _ => None,
        };
        if let Some(r) = reply {
            let b = encode(&r);
            self.plug.handle(self.now, Input::MqttData(self.mqtt_link, &b));
        }
    }

    /// Moves virtual time forward by `d`, firing every timer on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            match self.plug.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.plug.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    pub fn publishes(&self, field: &str) -> Vec<(String, Instant)> {
        let topic = self.id.topic("device", field);
        self.sent
            .iter()
            .filter_map(|s| match s {
                Sent::Publish {
                    topic: t,
                    payload,
                    at,
                    ..
                } if *t == topic.as_str() => Some((payload.clone(), *at)),
                _ => None,
            })
            .collect()
    }

    pub fn last(&self, field: &str) -> Option<String> {
        self.publishes(field).last().map(|(p, _)| p.clone())
    }
}
