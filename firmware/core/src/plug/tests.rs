//! The plug on virtual time against the fake broker of `testutil`: the helpers every
//! plug test module shares (`super::tests::...`), and station mode's own publications,
//! the button and the resets. The other themes are siblings: `ap_tests`, `broker_tests`,
//! `countdown_tests`, `ota_tests`, `contract_tests`, `fault_tests`, `variation_tests`.

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
