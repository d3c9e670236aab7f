//! The plug on virtual time against the fake broker of `testutil`.

use core::time::Duration;
use rstest::rstest;
use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use super::*;
use crate::mqtt::Qos;
use crate::testutil::{identity, Rig, Sent};

pub(super) const S: fn(u64) -> Duration = Duration::from_secs;
pub(super) const MS: fn(u64) -> Duration = Duration::from_millis;

pub(super) const P4002: &str = r#"{"header":4002,"host":"127.0.0.1","port":1883,"connect_mode":0,"username":"u","password":"p","keepalive":60,"qos":1,"clean_session":0,"clientId":"cid"}"#;
pub(super) const P4003: &str = r#"{"header":4003,"wifi_ssid":"net","wifi_pwd":"pw","wifi_security":3}"#;

pub(super) fn code_of(reply: &str) -> i64 {
    let (o, _) = crate::json::parse_object(reply.as_bytes()).expect("reply is JSON");
    match o.get("code") {
        Some(crate::json::Value::Int(c)) => *c,
        other => panic!("no code in {reply}: {other:?}"),
    }
}

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

#[rstest]
#[case(Qos::AtMostOnce)]
#[case(Qos::AtLeastOnce)]
#[case(Qos::ExactlyOnce)]
fn publishes_at_the_provisioned_qos(#[case] qos: Qos) {
    let mut r = Rig::connected(qos);
    r.app_publishes("switch_state", r#"{"switch_state":"on"}"#);
    assert!(r.relay);
    let pubs: Vec<&Sent> = r
        .sent
        .iter()
        .filter(|s| matches!(s, Sent::Publish { .. }))
        .collect();
    assert!(
        matches!(pubs[0], Sent::Publish { qos: q, payload, .. } if *q == qos && payload == r#"{"switch_state":"on"}"#)
    );
    if qos == Qos::ExactlyOnce {
        assert!(r.sent.iter().any(|s| matches!(s, Sent::Pubrel(_))));
    }
    r.advance(S(1));
    assert!(r.plug.mqtt_up());
}

#[test]
fn heartbeat_every_30_s() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.advance(S(95));
    let at: Vec<u64> = r
        .publishes("switch_state")
        .iter()
        .map(|(_, t)| t.as_millis())
        .collect();
    assert_eq!(at, vec![30_000, 60_000, 90_000]);
}

#[test]
fn switch_echoes_even_without_change_and_rejects_bad_payloads() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("switch_state", r#"{"switch_state":"off"}"#);
    assert_eq!(r.publishes("switch_state").len(), 1);
    r.app_publishes("switch_state", r#"{"switch_state":"maybe"}"#);
    r.app_publishes("switch_state", "not json");
    assert_eq!(r.publishes("switch_state").len(), 1);
    assert!(!r.relay);
}

#[test]
fn firmware_infor_on_request() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    r.app_publishes("read_firmware_infor", "");
    r.app_publishes("read_firmware_infor", "{}");
    let p = r.publishes("firmware_infor");
    assert_eq!(p.len(), 2);
    assert_eq!(
        p[0].0,
        r#"{"company_name":"moko","production_date":"201801","product_model":"plug_one","firmware_version":"000001","device_mac":"11:22:33:44:55:66"}"#
    );
}

#[test]
fn electricity_every_second_from_the_chip() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    let raw = crate::bl0942::Raw {
        i_rms: 110_534,
        v_rms: 3_650_873,
        watt: 60_320,
    };
    r.meter_frame = Some(raw.encode());
    r.advance(MS(5_500));
    let p = r.publishes("electricity_information");
    assert!(p.len() >= 4, "{p:?}");
    assert_eq!(
        p.last().map(|x| x.0.as_str()),
        Some(r#"{"voltage":2300,"current":440,"power":101}"#)
    );
    for w in p.windows(2) {
        assert_eq!(w[1].1.since(w[0].1), S(1));
    }
}

#[test]
fn a_plug_without_power_monitoring_never_publishes_electricity() {
    let mut id = identity();
    id.power_monitoring = false;
    let mut r = Rig::new(id, Some(crate::config::tests::sample()));
    r.meter_frame = Some(
        crate::bl0942::Raw {
            i_rms: 1,
            v_rms: 1,
            watt: 1,
        }
        .encode(),
    );
    r.advance(S(10));
    assert!(r.publishes("electricity_information").is_empty());
    assert!(!r.actions.contains(&Action::MeterRequest));
}

pub(super) fn delay(p: &str) -> (i64, i64, i64, String) {
    let (o, _) = crate::json::parse_object(p.as_bytes()).expect("json");
    let i = |k| match o.get(k) {
        Some(crate::json::Value::Int(v)) => *v,
        _ => panic!("{k} in {p}"),
    };
    let s = match o.get("switch_state") {
        Some(crate::json::Value::Str { text, .. }) => String::from(text.as_str()),
        _ => panic!("switch_state in {p}"),
    };
    (i("delay_hour"), i("delay_minute"), i("delay_second"), s)
}

#[test]
fn countdown_runs_to_zero_then_switches() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#);
    r.advance(S(65));
    let p = r.publishes("delay_time");
    assert_eq!(p.len(), 61);
    assert_eq!(delay(&p[0].0), (0, 1, 0, "on".into()));
    assert_eq!(delay(&p[1].0), (0, 0, 59, "on".into()));
    assert_eq!(delay(&p[60].0), (0, 0, 0, "on".into()));
    for w in p.windows(2) {
        assert_eq!(w[1].1.since(w[0].1), S(1));
    }
    assert!(r.relay);
    let sw = r.publishes("switch_state");
    let (last, at) = sw.last().expect("switch_state after the countdown");
    assert_eq!(last, r#"{"switch_state":"on"}"#);
    assert_eq!(*at, p[60].1);
    // The publish order on the wire: the last delay_time, then switch_state.
    let order: Vec<&str> = r
        .sent
        .iter()
        .filter_map(|s| match s {
            Sent::Publish { topic, .. } => topic.rsplit('/').next(),
            _ => None,
        })
        .collect();
    let last_delay = order.iter().rposition(|t| *t == "delay_time").unwrap_or(0);
    assert_eq!(order.get(last_delay + 1), Some(&"switch_state"));
}

#[test]
fn countdown_hours_are_split_into_fields() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":23,"delay_minute":59}"#);
    r.advance(MS(1500));
    let p = r.publishes("delay_time");
    assert_eq!(delay(&p[0].0), (23, 59, 0, "on".into()));
    assert_eq!(delay(&p[1].0), (23, 58, 59, "on".into()));
}

enum Cancel {
    AppSwitch,
    ShortPress,
    NewCountdown,
    ZeroZero,
}

#[rstest]
#[case::app_switch(Cancel::AppSwitch, 0)]
#[case::short_press(Cancel::ShortPress, 0)]
#[case::new_countdown(Cancel::NewCountdown, 1)]
#[case::zero_zero(Cancel::ZeroZero, 0)]
fn countdown_cancellation(#[case] how: Cancel, #[case] running_after: usize) {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":2}"#);
    r.advance(MS(3500));
    match how {
        Cancel::AppSwitch => r.app_publishes("switch_state", r#"{"switch_state":"on"}"#),
        Cancel::ShortPress => {
            r.input(Input::Button { pressed: true });
            r.advance(MS(300));
            r.input(Input::Button { pressed: false });
        }
        Cancel::NewCountdown => r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#),
        Cancel::ZeroZero => r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":0}"#),
    }
    let cut = r.now;
    r.advance(S(10));
    let after: Vec<(i64, i64, i64, String)> = r
        .publishes("delay_time")
        .iter()
        .filter(|(_, t)| *t >= cut)
        .map(|(p, _)| delay(p))
        .collect();
    assert_eq!(r.plug.countdown().is_some(), running_after == 1);
    if running_after == 0 {
        assert!(after.is_empty(), "{after:?}");
    } else {
        // Only the new countdown's messages: it started at 1 minute.
        assert!(
            after.iter().all(|(h, m, s, _)| h * 3600 + m * 60 + s <= 60),
            "{after:?}"
        );
        assert_eq!(after[0], (0, 1, 0, "on".into()));
    }
}

#[test]
fn a_power_cycle_cancels_the_countdown() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#);
    let stored = r.stored.clone();
    // Power off: the RAM state is gone; power on boots from flash.
    let mut r2 = Rig::new(identity(), stored);
    r2.advance(S(70));
    assert!(r2.publishes("delay_time").is_empty());
    assert!(!r2.relay);
}

#[rstest]
#[case::hour_high(r#"{"delay_hour":24,"delay_minute":0}"#)]
#[case::minute_high(r#"{"delay_hour":0,"delay_minute":60}"#)]
#[case::negative(r#"{"delay_hour":-1,"delay_minute":5}"#)]
#[case::string(r#"{"delay_hour":"1","delay_minute":5}"#)]
#[case::missing(r#"{"delay_hour":1}"#)]
fn out_of_range_countdowns_change_nothing(#[case] payload: &str) {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":2}"#);
    r.advance(MS(1500));
    r.app_publishes("delay_time", payload);
    r.advance(MS(1000));
    let c = r.plug.countdown().expect("the running countdown goes on");
    assert_eq!(c.remaining, 118);
}

#[test]
fn button_hold_publishes_delete_device_and_resets() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    r.input(Input::Button { pressed: true });
    r.advance(S(9));
    assert!(r.plug.mqtt_up());
    r.advance(S(2));
    assert_eq!(r.last("delete_device").as_deref(), Some("{}"));
    assert!(r.sent.last() == Some(&Sent::Disconnect));
    assert!(r.stored.is_none());
    assert!(r.plug.in_ap_mode());
    assert!(r.actions.contains(&Action::ApListen));
    // Releasing after the reset does not toggle the relay.
    r.input(Input::Button { pressed: false });
    assert!(!r.relay);
}

#[test]
fn app_reset_resets_without_delete_device() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    r.app_publishes("reset", "");
    assert!(r.publishes("delete_device").is_empty());
    assert!(r.stored.is_none());
    assert!(r.plug.in_ap_mode());
}

#[test]
fn a_press_between_2_and_10_s_does_nothing() {
    let mut r = Rig::connected(Qos::AtMostOnce);
    r.input(Input::Button { pressed: true });
    r.advance(S(5));
    r.input(Input::Button { pressed: false });
    assert!(!r.relay);
    assert!(r.plug.mqtt_up());
}

pub(super) fn upgrade(r: &mut Rig, kind: u8, realm: &str) {
    r.app_publishes(
        "upgrade",
        &format!(r#"{{"type":{kind},"realm":"{realm}","port":8080,"catalogue":"fw/"}}"#),
    );
}

pub(super) fn ota_result(r: &Rig) -> Option<String> {
    r.last("ota_upgrade_state")
}

pub(super) fn image(target: &str) -> Vec<u8> {
    let body = b"the new firmware";
    let h = crate::ota::image::Header::for_body(target, "000002", body).expect("header");
    let mut v = h.encode().to_vec();
    v.extend_from_slice(body);
    v
}

#[test]
fn ota_r1_activates_and_restarts() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    upgrade(&mut r, 0, "127.0.0.1");
    assert!(r.actions.iter().any(
        |a| matches!(a, Action::OtaFetch { host, port: 8080, path, resolve: false, .. }
        if host.as_str() == "127.0.0.1" && path.as_str() == "/fw/plug.bin")
    ));
    r.ota(OtaInput::Status(200));
    for c in image("sim").chunks(7) {
        r.ota(OtaInput::Data(c));
    }
    r.ota(OtaInput::End);
    assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R1"}"#));
    let act = r
        .actions
        .iter()
        .position(|a| *a == Action::OtaActivate)
        .expect("activate");
    let restart = r
        .actions
        .iter()
        .position(|a| *a == Action::Restart)
        .expect("restart");
    assert!(act < restart);
}

#[rstest]
#[case::not_found(&[OtaInput::Status(404)], "R2")]
#[case::server_error(&[OtaInput::Status(500)], "R2")]
#[case::broken(&[OtaInput::Status(200), OtaInput::Broken], "R2")]
#[case::truncated(&[OtaInput::Status(200), OtaInput::Data(b"MKPLUGFW"), OtaInput::End], "R2")]
#[case::unresolved(&[OtaInput::ResolveFailed], "R4")]
fn ota_failures(#[case] script: &[OtaInput<'static>], #[case] want: &str) {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    upgrade(&mut r, 1, "updates.example");
    for s in script {
        r.ota(*s);
    }
    assert_eq!(ota_result(&r), Some(format!(r#"{{"ota_result":"{want}"}}"#)));
    assert!(r.actions.contains(&Action::OtaCancel));
    assert!(!r.actions.contains(&Action::OtaActivate));
}

#[test]
fn ota_wrong_target_and_corrupt_image_are_r2() {
    for img in [image("esp32c3"), {
        let mut i = image("sim");
        let n = i.len() - 1;
        i[n] ^= 1;
        i
    }] {
        let mut r = Rig::connected(Qos::AtLeastOnce);
        upgrade(&mut r, 0, "127.0.0.1");
        r.ota(OtaInput::Status(200));
        r.ota(OtaInput::Data(&img));
        r.ota(OtaInput::End);
        assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R2"}"#));
    }
}

#[test]
fn ota_r3_after_three_failed_connections() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    upgrade(&mut r, 0, "127.0.0.1");
    for _ in 0..2 {
        r.ota(OtaInput::ConnectFailed);
        assert_eq!(ota_result(&r), None);
        r.advance(S(1));
    }
    let fetches = r
        .actions
        .iter()
        .filter(|a| matches!(a, Action::OtaFetch { .. }))
        .count();
    assert_eq!(fetches, 3);
    r.ota(OtaInput::ConnectFailed);
    assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R3"}"#));
}

#[rstest]
#[case("example.com")]
#[case("127.0.0.1:80")]
#[case("1.2.3")]
#[case("256.1.1.1")]
#[case("127.0.0.1 127.0.0.2")]
fn ota_type_0_with_a_realm_that_is_not_an_address_is_r4(#[case] realm: &str) {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    upgrade(&mut r, 0, realm);
    assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R4"}"#));
    assert!(!r.actions.iter().any(|a| matches!(a, Action::OtaFetch { .. })));
}

#[test]
fn ota_stall_is_r2() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    upgrade(&mut r, 0, "127.0.0.1");
    r.ota(OtaInput::Status(200));
    r.ota(OtaInput::Data(&image("sim")[..10]));
    r.advance(S(16));
    assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R2"}"#));
}

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
