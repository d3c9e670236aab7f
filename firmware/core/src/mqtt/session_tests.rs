//! The session alone, driven packet by packet.

use super::*;
use crate::testutil::encode;
use core::time::Duration;
use mqttrs::{Connack, ConnectReturnCode};
use std::vec::Vec;

fn cfg(clean: bool) -> SessionConfig {
    SessionConfig {
        client_id: String::try_from("c").unwrap(),
        username: String::try_from("u").unwrap(),
        password: String::try_from("p").unwrap(),
        keepalive_s: 60,
        clean_session: clean,
    }
}

fn sent(s: &mut Session) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    while let Some(e) = s.poll_event() {
        if let Event::Send(b) = e {
            v.push(b.to_vec());
        }
    }
    v
}

fn up(s: &mut Session, now: Instant, session_present: bool) {
    s.start();
    s.handle_open(now);
    let ack = encode(&Packet::Connack(Connack {
        session_present,
        code: ConnectReturnCode::Accepted,
    }));
    s.handle_data(now, &ack);
    let _ = sent(s);
    assert!(s.is_up());
}

#[test]
fn persistent_session_resends_unacknowledged_publishes_with_dup() {
    let t0 = Instant::ZERO;
    let mut s = Session::new(cfg(false), NetTiming::default());
    up(&mut s, t0, false);
    s.publish(t0, "a/b", b"x", Qos::AtLeastOnce).unwrap();
    s.publish(t0, "a/c", b"y", Qos::ExactlyOnce).unwrap();
    let first = sent(&mut s);
    assert_eq!(first.len(), 2);
    assert_eq!(first[0][0] & 0x08, 0, "DUP clear on first send");
    // PUBREC for the QoS 2 one: it moves on to PUBREL.
    let pid2 = Pid::try_from(2).unwrap();
    s.handle_data(t0, &encode(&Packet::Pubrec(pid2)));
    let _ = sent(&mut s);
    s.handle_closed(t0);
    s.handle_timeout(t0 + Duration::from_secs(1));
    s.handle_open(t0 + Duration::from_secs(1));
    let ack = encode(&Packet::Connack(Connack {
        session_present: true,
        code: ConnectReturnCode::Accepted,
    }));
    s.handle_data(t0 + Duration::from_secs(1), &ack);
    let again = sent(&mut s);
    // CONNECT, then the QoS 1 PUBLISH with DUP, then PUBREL for the QoS 2 one.
    assert_eq!(again.len(), 3, "{again:?}");
    assert_eq!(again[1][0], 0x32 | 0x08);
    assert_eq!(again[2], encode(&Packet::Pubrel(pid2)));
    assert_eq!(s.inflight_len(), 2);
}

#[test]
fn clean_session_forgets_the_window() {
    let t0 = Instant::ZERO;
    let mut s = Session::new(cfg(true), NetTiming::default());
    up(&mut s, t0, false);
    s.publish(t0, "a/b", b"x", Qos::AtLeastOnce).unwrap();
    let _ = sent(&mut s);
    s.handle_closed(t0);
    s.handle_timeout(t0 + Duration::from_secs(1));
    s.handle_open(t0 + Duration::from_secs(1));
    let ack = encode(&Packet::Connack(Connack {
        session_present: false,
        code: ConnectReturnCode::Accepted,
    }));
    s.handle_data(t0, &ack);
    assert_eq!(sent(&mut s).len(), 1, "only CONNECT");
    assert_eq!(s.inflight_len(), 0);
}

#[test]
fn the_window_is_bounded() {
    let t0 = Instant::ZERO;
    let mut s = Session::new(cfg(true), NetTiming::default());
    up(&mut s, t0, false);
    for _ in 0..INFLIGHT_MAX {
        s.publish(t0, "t", b"x", Qos::AtLeastOnce).unwrap();
    }
    assert_eq!(
        s.publish(t0, "t", b"x", Qos::AtLeastOnce),
        Err(PublishError::WindowFull)
    );
    assert_eq!(s.publish(t0, "t", b"x", Qos::AtMostOnce), Ok(()));
}

#[test]
fn packet_ids_skip_those_in_flight() {
    let t0 = Instant::ZERO;
    let mut s = Session::new(cfg(true), NetTiming::default());
    up(&mut s, t0, false);
    s.next_pid = Pid::try_from(u16::MAX).unwrap();
    s.publish(t0, "t", b"x", Qos::AtLeastOnce).unwrap();
    s.publish(t0, "t", b"x", Qos::AtLeastOnce).unwrap();
    let pids: Vec<u16> = s.inflight.iter().map(|m| m.pid.get()).collect();
    assert_eq!(pids, [u16::MAX, 1]);
}

#[test]
fn connack_timeout_retries() {
    let t0 = Instant::ZERO;
    let mut s = Session::new(cfg(true), NetTiming::default());
    s.start();
    s.handle_open(t0);
    let _ = sent(&mut s);
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(s.poll_event(), Some(Event::Close));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(11)));
}

#[test]
fn a_split_packet_is_reassembled() {
    let t0 = Instant::ZERO;
    let mut s = Session::new(cfg(true), NetTiming::default());
    s.start();
    s.handle_open(t0);
    let ack = encode(&Packet::Connack(Connack {
        session_present: false,
        code: ConnectReturnCode::Accepted,
    }));
    s.handle_data(t0, &ack[..1]);
    assert!(!s.is_up());
    s.handle_data(t0, &ack[1..]);
    assert!(s.is_up());
}

#[test]
fn the_retain_flag_is_set_only_when_asked() {
    let t0 = Instant::ZERO;
    let mut s = Session::new(cfg(true), NetTiming::default());
    up(&mut s, t0, false);
    s.publish(t0, "a/b", b"x", Qos::AtMostOnce).unwrap();
    s.publish_with(t0, "a/b", b"y", Qos::AtLeastOnce, true).unwrap();
    let out = sent(&mut s);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0][0], 0x30, "PUBLISH QoS 0, no retain");
    assert_eq!(out[1][0], 0x33, "PUBLISH QoS 1 with retain");
}

#[test]
fn a_read_holding_more_packets_than_the_buffer_is_taken_whole() {
    let t0 = Instant::ZERO;
    let mut s = Session::new(cfg(true), NetTiming::default());
    up(&mut s, t0, false);
    // Sixty QoS 0 publishes in one read: over two buffers' worth.
    let one = encode(&Packet::Publish(mqttrs::Publish {
        dup: false,
        qospid: mqttrs::QosPid::AtMostOnce,
        retain: false,
        topic_name: "p/app/delay_time",
        payload: br#"{"delay_hour":1,"delay_minute":2}"#,
    }));
    let read: Vec<u8> = (0..60).flat_map(|_| one.iter().copied()).collect();
    assert!(read.len() > RX_MAX * 2, "{} bytes", read.len());
    // As the plug does: the rest again after each drain.
    let mut rest: &[u8] = &read;
    let mut messages = 0;
    let mut calls = 0;
    while !rest.is_empty() {
        let used = s.handle_data(t0, rest);
        calls += 1;
        assert!(calls < 100, "no progress with {} bytes left", rest.len());
        rest = &rest[used..];
        while let Some(e) = s.poll_event() {
            match e {
                Event::Message { .. } => messages += 1,
                Event::Close | Event::ProtocolError(_) => panic!("the session closed: {e:?}"),
                _ => {}
            }
        }
    }
    // The packets the last call left in the buffer.
    while s.has_buffered_packet() {
        s.handle_data(t0, &[]);
        while let Some(e) = s.poll_event() {
            if let Event::Message { .. } = e {
                messages += 1;
            }
        }
    }
    assert_eq!(messages, 60);
    assert!(s.is_up());
}
