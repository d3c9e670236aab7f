//! The broker session under the plug on virtual time: reconnection, keepalive, inbound
//! QoS 2, malformed or arbitrary bytes, and a flood in one read.

use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use super::tests::{MS, S};
use super::*;
use crate::mqtt::Qos;
use crate::testutil::{Rig, Sent};

#[test]
fn broker_loss_reconnects_with_backoff_and_republishes_switch_state() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.broker_up = false;
    r.input(Input::MqttClosed(r.mqtt_link));
    r.advance(S(20));
    let gaps: Vec<u64> = r.opens.windows(2).map(|w| w[1].since(w[0]).as_secs()).collect();
    assert_eq!(&gaps[..3], &[1, 2, 4]);
    assert!(gaps.iter().all(|g| (1..=60).contains(g)));
    r.broker_up = true;
    r.sent.clear();
    r.advance(S(40));
    assert!(r.plug.mqtt_up());
    assert_eq!(r.publishes("switch_state")[0].0, r#"{"switch_state":"off"}"#);
}

#[test]
fn refused_credentials_are_retried_at_a_sane_pace() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.connack_code = mqttrs::ConnectReturnCode::BadUsernamePassword;
    r.input(Input::MqttClosed(r.mqtt_link));
    r.advance(S(300));
    assert!(!r.plug.mqtt_up());
    let gaps: Vec<u64> = r.opens.windows(2).map(|w| w[1].since(w[0]).as_secs()).collect();
    assert!(gaps.iter().all(|g| (1..=60).contains(g)), "{gaps:?}");
    assert!(r.opens.len() < 20);
}

#[test]
fn keepalive_pings_and_a_dead_broker_is_detected() {
    // Heartbeats and metering are publishes, so the link is never idle for a whole
    // keepalive; quieten both to see the pings.
    let mut quiet = Rig::connected(Qos::AtMostOnce);
    quiet.plug.timing.heartbeat = S(10_000);
    quiet.plug.id.power_monitoring = false;
    quiet.broker_acks = false;
    // The provisioned keepalive is 120 s; the last heartbeat went out at 30 s.
    quiet.advance(S(149));
    assert!(!quiet.sent.contains(&Sent::Pingreq));
    quiet.advance(S(2));
    assert!(quiet.sent.contains(&Sent::Pingreq));
    quiet.advance(S(121));
    // No PINGRESP within the keepalive: the session is declared dead and reopened.
    assert!(quiet.opens.len() > 1);
}

#[test]
fn inbound_qos2_is_delivered_once() {
    let mut r = Rig::connected(Qos::ExactlyOnce);
    let topic = r.id.topic("app", "switch_state");
    let pid = mqttrs::Pid::try_from(9).expect("pid");
    let p = mqttrs::Packet::Publish(mqttrs::Publish {
        dup: false,
        qospid: mqttrs::QosPid::ExactlyOnce(pid),
        retain: false,
        topic_name: &topic,
        payload: br#"{"switch_state":"on"}"#,
    });
    r.broker_sends(&p);
    r.broker_sends(&p);
    assert_eq!(r.sent.iter().filter(|s| **s == Sent::Pubrec(9)).count(), 2);
    assert_eq!(r.publishes("switch_state").len(), 1);
    r.broker_sends(&mqttrs::Packet::Pubrel(pid));
    assert!(r.sent.contains(&Sent::Pubcomp(9)));
}

#[test]
fn malformed_broker_packets_close_the_stream_without_panic() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    // PUBACK with a remaining length of 0 (mqttrs would index past the end).
    r.input(Input::MqttData(r.mqtt_link, &[0x40, 0x00]));
    assert!(!r.plug.mqtt_up());
    assert!(r.actions.contains(&Action::MqttClose));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]
    #[test]
    fn arbitrary_broker_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..8)) {
        let mut r = Rig::connected(Qos::ExactlyOnce);
        for c in &chunks {
            r.input(Input::MqttData(r.mqtt_link, c));
        }
    }

    #[test]
    fn arbitrary_app_payloads_never_panic(field in proptest::sample::select(vec!["switch_state","delay_time","reset","upgrade","read_firmware_infor"]), payload in "\\PC{0,80}") {
        let mut r = Rig::connected(Qos::AtMostOnce);
        r.app_publishes(field, &payload);
        r.advance(S(2));
    }
}

/// A QoS 2 flood of countdowns arrives as one read of ~2 KB: each packet's actions
/// (acknowledgements, the countdown's publish and console lines) wait for the board to
/// drain the outbox, none is dropped, and every packet is acknowledged (found by
/// `plugrig fuzz`: the broker closed the session over the dropped acknowledgements).
#[test]
fn a_flood_in_one_read_loses_no_action() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    let topic = r.id.topic("app", "delay_time");
    let mut read = std::vec::Vec::new();
    for pid in 1..=40u16 {
        let p = mqttrs::Pid::try_from(pid).expect("pid");
        read.extend(crate::testutil::encode(&mqttrs::Packet::Publish(
            mqttrs::Publish {
                dup: false,
                qospid: mqttrs::QosPid::ExactlyOnce(p),
                retain: false,
                topic_name: &topic,
                payload: br#"{"delay_hour":10,"delay_minute":51}"#,
            },
        )));
    }
    assert!(read.len() > 1500, "{} bytes", read.len());
    let link = r.mqtt_link;
    r.input(Input::MqttData(link, &read));
    r.advance(MS(1));
    let overflow = r
        .actions
        .iter()
        .any(|a| matches!(a, Action::Console(Console::Error { what }) if what.contains("overflow")));
    let at = r
        .actions
        .iter()
        .position(|a| matches!(a, Action::Console(Console::Error { what }) if what.contains("overflow")));
    let around: Vec<String> = at
        .map(|i| {
            r.actions[i.saturating_sub(40)..i + 1]
                .iter()
                .map(|a| format!("{a:?}").chars().take(60).collect())
                .collect()
        })
        .unwrap_or_default();
    assert!(!overflow, "the outbox overflowed:\n{}", around.join("\n"));
    assert!(r.plug.mqtt_up(), "the session is still up");
    let pubrecs = r.sent.iter().filter(|s| matches!(s, Sent::Pubrec(_))).count();
    assert_eq!(pubrecs, 40, "every publish got its PUBREC");
}
