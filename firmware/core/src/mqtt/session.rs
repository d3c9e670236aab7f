//! The MQTT 3.1.1 client session above the wire: connection state, packet ids, the
//! in-flight window both ways, keepalive pings and the reconnection back-off.
//!
//! Read first: MQTT 3.1.1 sections 3.1 (CONNECT), 4.3 (QoS flows), 4.4 (redelivery) and
//! 3.1.2.10 (keep alive); then `wire`, which frames and checks what arrives. Refuses: I/O
//! and clocks. The owner opens and closes the TCP stream when told ([`Event::Open`],
//! [`Event::Close`]), moves bytes ([`Event::Send`], [`Session::handle_data`]) and passes
//! time in.

use core::time::Duration;
use heapless::{Deque, String, Vec};
use mqttrs::{
    decode_slice, Connect, ConnectReturnCode, Packet, Pid, Protocol, Publish, QosPid, Subscribe,
    SubscribeTopic,
};

use super::wire::{check_frame, connack_code, encode, frame_len, Bytes, RX_MAX};
use super::Qos;
use crate::time::Instant;

/// Outbound QoS 1/2 messages waiting for their acknowledgement.
pub const INFLIGHT_MAX: usize = 8;
/// Inbound QoS 2 packet ids waiting for PUBREL.
const INBOUND_QOS2_MAX: usize = 8;
pub const TOPIC_MAX: usize = 128;
pub const PAYLOAD_MAX: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub client_id: String<32>,
    pub username: String<32>,
    pub password: String<32>,
    pub keepalive_s: u16,
    pub clean_session: bool,
}

/// Network timings; these are never scaled by the simulator's time scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetTiming {
    /// How long to wait for CONNACK after the TCP stream opens.
    pub connack_timeout: Duration,
    /// First reconnection delay; it doubles up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for NetTiming {
    fn default() -> Self {
        // PROTOCOL-NOTES: no tighter than one attempt a second, none looser than one a minute.
        NetTiming {
            connack_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(32),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Open a TCP stream to the broker.
    Open,
    Send(Bytes),
    /// Close the TCP stream.
    Close,
    /// CONNACK accepted: the session is up.
    Up {
        session_present: bool,
    },
    /// The session went down (stream closed, refused, or timed out).
    Down,
    /// The broker refused the connection with this CONNACK code.
    Refused(u8),
    Message {
        topic: String<TOPIC_MAX>,
        payload: Vec<u8, PAYLOAD_MAX>,
    },
    /// Something the broker sent broke the protocol; the stream is being closed.
    ProtocolError(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not wanted: no connection, no retries.
    Idle,
    /// Waiting to retry at this instant.
    Backoff(Instant),
    /// TCP open requested.
    Opening,
    AwaitConnack(Instant),
    Up {
        last_tx: Instant,
        ping_sent: Option<Instant>,
    },
}

/// What an outbound QoS 1/2 message waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Puback,
    Pubrec,
    Pubcomp,
}

#[derive(Debug, Clone)]
struct Inflight {
    pid: Pid,
    stage: Stage,
    /// The PUBLISH as first sent (DUP clear); re-sent with DUP set.
    packet: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishError {
    NotConnected,
    WindowFull,
    TooLarge,
}

#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    net: NetTiming,
    state: State,
    backoff: Duration,
    next_pid: Pid,
    inflight: Vec<Inflight, INFLIGHT_MAX>,
    inbound_qos2: Vec<Pid, INBOUND_QOS2_MAX>,
    rx: Vec<u8, RX_MAX>,
    out: Deque<Event, 16>,
}

/// The most events one incoming packet makes (a message, its acknowledgement, a state
/// change): `handle_data` stops before the queue could overflow.
const EVENTS_PER_PACKET: usize = 4;

impl Session {
    pub fn new(cfg: SessionConfig, net: NetTiming) -> Self {
        Session {
            cfg,
            net,
            state: State::Idle,
            backoff: net.backoff_min,
            next_pid: Pid::new(),
            inflight: Vec::new(),
            inbound_qos2: Vec::new(),
            rx: Vec::new(),
            out: Deque::new(),
        }
    }

    /// Replaces the client id of the next CONNECT (fault injection only).
    #[cfg(feature = "fault-injection")]
    pub fn set_client_id(&mut self, id: &str) {
        self.cfg.client_id = String::try_from(id).unwrap_or_default();
    }

    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Up { .. })
    }

    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// The delay before the next reconnection attempt.
    pub fn current_backoff(&self) -> Duration {
        self.backoff
    }

    /// Start connecting (and keep reconnecting until [`Session::stop`]).
    pub fn start(&mut self) {
        if self.state == State::Idle {
            self.open();
        }
    }

    /// Disconnect politely and stay down.
    pub fn stop(&mut self) {
        if self.is_up() {
            self.send_packet(&Packet::Disconnect);
        }
        if !matches!(self.state, State::Idle | State::Backoff(_)) {
            self.emit(Event::Close);
        }
        self.state = State::Idle;
        self.rx.clear();
    }

    fn open(&mut self) {
        self.rx.clear();
        self.state = State::Opening;
        self.emit(Event::Open);
    }

    /// The TCP stream opened: send CONNECT.
    pub fn handle_open(&mut self, now: Instant) {
        if self.state != State::Opening {
            return;
        }
        let cfg = &self.cfg;
        let connect = Packet::Connect(Connect {
            protocol: Protocol::MQTT311,
            keep_alive: cfg.keepalive_s,
            client_id: &cfg.client_id,
            clean_session: cfg.clean_session,
            last_will: None,
            username: Some(&cfg.username),
            password: Some(cfg.password.as_bytes()),
        });
        match encode(&connect) {
            Some(b) => {
                self.emit(Event::Send(b));
                self.state = State::AwaitConnack(now + self.net.connack_timeout);
            }
            None => self.fail(now, "CONNECT does not fit"),
        }
    }

    /// The TCP stream closed or could not be opened.
    pub fn handle_closed(&mut self, now: Instant) {
        match self.state {
            State::Idle | State::Backoff(_) => {}
            State::Up { .. } => {
                self.emit(Event::Down);
                self.schedule_retry(now);
            }
            _ => self.schedule_retry(now),
        }
    }

    fn schedule_retry(&mut self, now: Instant) {
        self.rx.clear();
        self.state = State::Backoff(now + self.backoff);
        self.backoff = (self.backoff * 2).min(self.net.backoff_max);
    }

    /// Close the stream because of a fault and retry later.
    fn fail(&mut self, now: Instant, why: &'static str) {
        self.emit(Event::ProtocolError(why));
        self.emit(Event::Close);
        let was_up = self.is_up();
        if was_up {
            self.emit(Event::Down);
        }
        self.schedule_retry(now);
    }

    /// Whether a whole packet waits in the buffer (`handle_data` returned early).
    pub fn has_buffered_packet(&self) -> bool {
        matches!(frame_len(&self.rx), Ok(Some(_)))
    }

    /// Bytes from the broker; returns how many of them were taken. A read may hold many
    /// packets, more than the buffer and more than the event queue: whole packets are
    /// handled as they complete, and the call returns early, between packets, when the
    /// queue could not take another packet's events; the owner drains it and calls again
    /// with the rest (found by `plugrig fuzz`: a QoS 2 flood arrives as one read past
    /// RX_MAX, and the session was closed as if one packet were too large). Only a single
    /// packet past RX_MAX closes the session. Bytes that arrive while no session is up are
    /// taken and dropped.
    pub fn handle_data(&mut self, now: Instant, data: &[u8]) -> usize {
        self.handle_data_limited(now, data, usize::MAX)
    }

    /// As `handle_data`, handling at most `packets` whole packets (the plug's owner bounds
    /// what one call may ask of its own queue).
    pub fn handle_data_limited(&mut self, now: Instant, data: &[u8], packets: usize) -> usize {
        if matches!(self.state, State::Idle | State::Backoff(_) | State::Opening) {
            return data.len();
        }
        let mut used = 0;
        let mut handled = 0;
        loop {
            loop {
                if self.out.capacity() - self.out.len() < EVENTS_PER_PACKET || handled == packets {
                    return used;
                }
                match frame_len(&self.rx) {
                    Ok(None) => break,
                    Ok(Some(n)) => {
                        let mut frame = [0u8; RX_MAX];
                        frame[..n].copy_from_slice(&self.rx[..n]);
                        let rest: Vec<u8, RX_MAX> = Vec::from_slice(&self.rx[n..]).unwrap_or_default();
                        self.rx = rest;
                        handled += 1;
                        if let Err(why) = self.handle_frame(now, &frame[..n]) {
                            self.fail(now, why);
                            return data.len();
                        }
                        if matches!(self.state, State::Backoff(_) | State::Idle) {
                            return data.len();
                        }
                    }
                    Err(why) => {
                        self.fail(now, why);
                        return data.len();
                    }
                }
            }
            if used == data.len() {
                return used;
            }
            if self.rx.len() == RX_MAX {
                // A full buffer and no whole packet in it: frame_len refuses larger ones,
                // so this is only reached by a packet that cannot fit.
                self.fail(now, "packet larger than the receive buffer");
                return data.len();
            }
            let take = (RX_MAX - self.rx.len()).min(data.len() - used);
            // Cannot fail: `take` fits what is left of the buffer.
            let _ = self.rx.extend_from_slice(&data[used..used + take]);
            used += take;
        }
    }

    fn handle_frame(&mut self, now: Instant, frame: &[u8]) -> Result<(), &'static str> {
        check_frame(frame)?;
        let packet = match decode_slice(frame) {
            Ok(Some(p)) => p,
            _ => return Err("undecodable packet"),
        };
        match (self.state, packet) {
            (State::AwaitConnack(_), Packet::Connack(ack)) => {
                if ack.code != ConnectReturnCode::Accepted {
                    self.emit(Event::Refused(connack_code(ack.code)));
                    self.emit(Event::Close);
                    self.schedule_retry(now);
                    return Ok(());
                }
                self.backoff = self.net.backoff_min;
                self.state = State::Up {
                    last_tx: now,
                    ping_sent: None,
                };
                if ack.session_present && !self.cfg.clean_session {
                    self.resend_inflight(now);
                } else {
                    self.inflight.clear();
                    self.inbound_qos2.clear();
                }
                self.emit(Event::Up {
                    session_present: ack.session_present,
                });
                Ok(())
            }
            (State::AwaitConnack(_), _) => Err("expected CONNACK"),
            (State::Up { .. }, p) => self.handle_up(now, p),
            _ => Ok(()),
        }
    }

    fn handle_up(&mut self, now: Instant, p: Packet<'_>) -> Result<(), &'static str> {
        match p {
            Packet::Publish(publish) => self.handle_publish(now, &publish),
            Packet::Puback(pid) => {
                self.retire(pid, Stage::Puback);
                Ok(())
            }
            Packet::Pubrec(pid) => {
                if let Some(m) = self
                    .inflight
                    .iter_mut()
                    .find(|m| m.pid == pid && m.stage != Stage::Puback)
                {
                    m.stage = Stage::Pubcomp;
                }
                // Answer PUBREL even for an unknown id, so the broker's flow completes.
                self.send_packet_at(now, &Packet::Pubrel(pid));
                Ok(())
            }
            Packet::Pubcomp(pid) => {
                self.retire(pid, Stage::Pubcomp);
                Ok(())
            }
            Packet::Pubrel(pid) => {
                self.inbound_qos2.retain(|p| *p != pid);
                self.send_packet_at(now, &Packet::Pubcomp(pid));
                Ok(())
            }
            Packet::Suback(_) | Packet::Unsuback(_) => Ok(()),
            Packet::Pingresp => {
                if let State::Up { ping_sent, .. } = &mut self.state {
                    *ping_sent = None;
                }
                Ok(())
            }
            Packet::Connack(_) => Err("second CONNACK"),
            _ => Err("packet a server never sends"),
        }
    }

    fn handle_publish(&mut self, now: Instant, p: &Publish<'_>) -> Result<(), &'static str> {
        let deliver = match p.qospid {
            QosPid::AtMostOnce => true,
            QosPid::AtLeastOnce(pid) => {
                self.send_packet_at(now, &Packet::Puback(pid));
                true
            }
            QosPid::ExactlyOnce(pid) => {
                // Method A of MQTT 4.3.3: deliver on first receipt, remember the id until
                // PUBREL so a duplicate is not delivered twice.
                // A broker may send more than the table holds before it releases any (a
                // flood arrives in one read, found by `plugrig fuzz`): those are delivered
                // unremembered, so a DUP resend of one could be delivered twice, which is
                // better than closing the session over a flood.
                let fresh = !self.inbound_qos2.contains(&pid);
                if fresh && self.inbound_qos2.push(pid).is_err() {
                    self.emit(Event::ProtocolError("QoS 2 table full: delivered unremembered"));
                }
                self.send_packet_at(now, &Packet::Pubrec(pid));
                fresh
            }
        };
        if deliver {
            let topic = String::try_from(p.topic_name).map_err(|_| "topic too long")?;
            // A payload too big for any command of this protocol is delivered cut; the
            // application then rejects it as malformed.
            let n = p.payload.len().min(PAYLOAD_MAX);
            let payload = Vec::from_slice(&p.payload[..n]).unwrap_or_default();
            self.emit(Event::Message { topic, payload });
        }
        Ok(())
    }

    fn retire(&mut self, pid: Pid, stage: Stage) {
        self.inflight.retain(|m| !(m.pid == pid && m.stage == stage));
    }

    fn resend_inflight(&mut self, now: Instant) {
        for i in 0..self.inflight.len() {
            let (stage, pid) = (self.inflight[i].stage, self.inflight[i].pid);
            if stage == Stage::Pubcomp {
                self.send_packet_at(now, &Packet::Pubrel(pid));
            } else {
                let mut b = self.inflight[i].packet.clone();
                // DUP is bit 3 of the fixed header.
                if let Some(h) = b.first_mut() {
                    *h |= 0x08;
                }
                self.send_raw(now, b);
            }
        }
    }

    /// Subscribe to `topics`, all at `qos`.
    pub fn subscribe(&mut self, now: Instant, topics: &[&str], qos: Qos) {
        let mut list: heapless07::Vec<SubscribeTopic, 5> = heapless07::Vec::new();
        for t in topics.iter().take(5) {
            let mut topic_path: heapless07::String<256> = heapless07::String::new();
            if topic_path.push_str(t).is_err() {
                continue;
            }
            let _ = list.push(SubscribeTopic {
                topic_path,
                qos: qos.into(),
            });
        }
        let pid = self.alloc_pid();
        self.send_packet_at(now, &Packet::Subscribe(Subscribe { pid, topics: list }));
    }

    pub fn publish(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &[u8],
        qos: Qos,
    ) -> Result<(), PublishError> {
        self.publish_with(now, topic, payload, qos, false)
    }

    /// As [`Session::publish`], with the retain flag as given.
    pub fn publish_with(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &[u8],
        qos: Qos,
        retain: bool,
    ) -> Result<(), PublishError> {
        if !self.is_up() {
            return Err(PublishError::NotConnected);
        }
        let qospid = match qos {
            Qos::AtMostOnce => QosPid::AtMostOnce,
            _ if self.inflight.is_full() => return Err(PublishError::WindowFull),
            Qos::AtLeastOnce => QosPid::AtLeastOnce(self.alloc_pid()),
            Qos::ExactlyOnce => QosPid::ExactlyOnce(self.alloc_pid()),
        };
        let packet = Packet::Publish(Publish {
            dup: false,
            qospid,
            retain,
            topic_name: topic,
            payload,
        });
        let bytes = encode(&packet).ok_or(PublishError::TooLarge)?;
        if let Some(pid) = qospid.pid() {
            let stage = if qos == Qos::AtLeastOnce {
                Stage::Puback
            } else {
                Stage::Pubrec
            };
            let _ = self.inflight.push(Inflight {
                pid,
                stage,
                packet: bytes.clone(),
            });
        }
        self.send_raw(now, bytes);
        Ok(())
    }

    fn alloc_pid(&mut self) -> Pid {
        loop {
            let pid = self.next_pid;
            self.next_pid = pid + 1;
            if !self.inflight.iter().any(|m| m.pid == pid) {
                return pid;
            }
        }
    }

    fn send_packet(&mut self, p: &Packet<'_>) {
        if let Some(b) = encode(p) {
            self.emit(Event::Send(b));
        }
    }

    fn send_packet_at(&mut self, now: Instant, p: &Packet<'_>) {
        self.send_packet(p);
        self.touch(now);
    }

    fn send_raw(&mut self, now: Instant, b: Bytes) {
        self.emit(Event::Send(b));
        self.touch(now);
    }

    fn touch(&mut self, now: Instant) {
        if let State::Up { last_tx, .. } = &mut self.state {
            *last_tx = now;
        }
    }

    fn emit(&mut self, e: Event) {
        // The owner drains after every call; a full queue means it did not, and the
        // oldest event is the least useful to keep.
        if self.out.is_full() {
            self.out.pop_front();
        }
        let _ = self.out.push_back(e);
    }

    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keepalive = Duration::from_secs(u64::from(self.cfg.keepalive_s));
        match self.state {
            State::Idle | State::Opening => None,
            State::Backoff(at) | State::AwaitConnack(at) => Some(at),
            State::Up {
                ping_sent: Some(t), ..
            } => Some(t + keepalive),
            State::Up { last_tx, .. } if self.cfg.keepalive_s > 0 => Some(last_tx + keepalive),
            State::Up { .. } => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        let keepalive = Duration::from_secs(u64::from(self.cfg.keepalive_s));
        match self.state {
            State::Backoff(at) if now >= at => self.open(),
            State::AwaitConnack(at) if now >= at => {
                self.emit(Event::Close);
                self.schedule_retry(now);
            }
            State::Up {
                ping_sent: Some(t), ..
            } if now >= t + keepalive => self.fail(now, "no PINGRESP within the keepalive"),
            State::Up {
                last_tx,
                ping_sent: None,
            } if self.cfg.keepalive_s > 0 && now >= last_tx + keepalive => {
                self.send_packet_at(now, &Packet::Pingreq);
                if let State::Up { ping_sent, .. } = &mut self.state {
                    *ping_sent = Some(now);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
