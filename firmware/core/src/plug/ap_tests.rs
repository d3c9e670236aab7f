//! AP mode on virtual time: provisioning over the AP socket (4001, 4002, 4003), its
//! replies and error codes, idle connections, and the way into station mode.

use rstest::rstest;
use std::vec;
use std::vec::Vec;

use super::tests::{code_of, MS, P4002, P4003, S};
use super::*;
use crate::mqtt::Qos;
use crate::testutil::{identity, Rig, Sent};

#[test]
fn unprovisioned_plug_listens_on_its_ap() {
    let r = Rig::new(identity(), None);
    assert!(r.plug.in_ap_mode());
    assert!(r.actions.contains(&Action::ApListen));
    assert!(r.opens.is_empty());
}

#[rstest]
#[case::without_tls(false, vec![6, 3])]
#[case::with_tls(true, vec![0, 0])]
fn connect_mode_1_needs_a_build_with_tls(#[case] tls: bool, #[case] codes: Vec<i64>) {
    let mut id = identity();
    id.tls = tls;
    let mut r = Rig::new(id, None);
    r.input(Input::ApAccepted(1));
    r.ap_send(1, &P4002.replace(r#""connect_mode":0"#, r#""connect_mode":1"#));
    r.ap_send(1, P4003);
    let got: Vec<i64> = r.replies.iter().map(|(_, t)| code_of(t)).collect();
    assert_eq!(got, codes, "a refused 4002 leaves nothing for 4003 to complete");
    assert_eq!(r.plug.in_ap_mode(), !tls);
}

#[test]
fn provisioning_then_broker_connection() {
    let mut r = Rig::new(identity(), None);
    r.input(Input::ApAccepted(1));
    r.ap_send(1, r#"{"header":4001}"#);
    r.ap_send(1, P4003);
    r.ap_send(1, P4002);
    let codes: Vec<i64> = r.replies.iter().map(|(_, t)| code_of(t)).collect();
    assert_eq!(codes, vec![0, 3, 0]);
    assert!(r.replies[0].1.contains(r#""device_type":"1""#));
    assert!(r.plug.in_ap_mode());
    r.ap_send(1, P4003);
    assert_eq!(code_of(&r.replies[3].1), 0);
    assert!(!r.plug.in_ap_mode());
    let stop = r
        .actions
        .iter()
        .position(|a| *a == Action::ApStopListening)
        .expect("AP stops");
    let last_reply = r
        .actions
        .iter()
        .rposition(|a| matches!(a, Action::ApSend(..)))
        .expect("reply");
    assert!(
        last_reply < stop,
        "the 4003 reply is written before the AP closes"
    );
    let stored = r.stored.clone().expect("configuration stored");
    assert_eq!(
        (stored.mqtt.client_id.as_str(), stored.wifi.ssid.as_str()),
        ("cid", "net")
    );
    r.advance(MS(1));
    assert!(r.plug.mqtt_up());
    assert_eq!(
        r.sent[0],
        Sent::Connect {
            client_id: "cid".into(),
            username: Some("u".into()),
            password: Some(b"p".to_vec()),
            keepalive: 60,
            clean: false,
        }
    );
    let Sent::Subscribe(topics, _) = &r.sent[1] else {
        panic!("{:?}", r.sent)
    };
    let names: Vec<&str> = topics
        .iter()
        .map(|(t, _)| t.rsplit('/').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "switch_state",
            "delay_time",
            "reset",
            "upgrade",
            "read_firmware_infor"
        ]
    );
    assert!(topics.iter().all(
        |(t, q)| t.starts_with("iot_plug/plug_one/us/11:22:33:44:55:66/app/") && *q == Qos::AtLeastOnce
    ));
    assert_eq!(
        r.last("switch_state").as_deref(),
        Some(r#"{"switch_state":"off"}"#)
    );
}

#[test]
fn empty_client_id_means_the_mac() {
    let r = Rig::connected(Qos::AtMostOnce);
    let mut r2 = Rig::new(identity(), r.stored.clone());
    r2.advance(MS(1));
    assert!(matches!(&r2.sent[0], Sent::Connect { client_id, .. } if client_id == "11:22:33:44:55:66"));
}

#[test]
fn garbage_gets_code_4_and_the_next_connection_is_served() {
    let mut r = Rig::new(identity(), None);
    r.input(Input::ApAccepted(1));
    r.ap_send(1, "\u{1}\u{2}garbage");
    assert_eq!(code_of(&r.replies[0].1), 4);
    assert!(r.actions.contains(&Action::ApClose(1)));
    r.input(Input::ApAccepted(2));
    r.ap_send(2, r#"{"header":4001}"#);
    assert_eq!(r.replies.last().map(|(c, t)| (*c, code_of(t))), Some((2, 0)));
}

#[test]
fn idle_clients_cannot_lock_out_the_next_one() {
    let mut r = Rig::new(identity(), None);
    for c in 1..=3 {
        r.input(Input::ApAccepted(c));
        r.advance(MS(10));
    }
    assert!(
        r.actions.contains(&Action::ApClose(1)),
        "the oldest idle connection goes"
    );
    r.ap_send(3, r#"{"header":4001}"#);
    assert_eq!(r.replies.last().map(|(c, t)| (*c, code_of(t))), Some((3, 0)));
}

#[test]
fn idle_connections_are_dropped() {
    let mut r = Rig::new(identity(), None);
    r.input(Input::ApAccepted(1));
    r.ap_send(1, r#"{"header":40"#);
    r.advance(S(61));
    assert!(r.actions.contains(&Action::ApClose(1)));
}

#[test]
fn json_that_is_not_an_object_gets_code_5_and_the_connection_stays() {
    let mut r = Rig::new(identity(), None);
    r.input(Input::ApAccepted(1));
    r.ap_send(1, "[4001]");
    r.ap_send(1, "4001\n");
    r.ap_send(1, "\"4001\"null");
    let want = r#"{"code":5,"message":"undefined data","result":{}}"#;
    let got: Vec<&str> = r.replies.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(got, [want; 4], "no header parsed, none echoed");
    assert!(!r.actions.contains(&Action::ApClose(1)));
    r.ap_send(1, r#"{"header":4001}"#);
    assert_eq!(r.replies.last().map(|(_, t)| code_of(t)), Some(0));
}

#[test]
fn outside_ap_mode_a_connection_is_closed_unanswered() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.input(Input::ApAccepted(7));
    r.ap_send(7, r#"{"header":4001}"#);
    assert!(r.replies.is_empty());
    assert_eq!(r.actions, vec![Action::ApClose(7)]);
}
