//! Each conformant variation on virtual time: what it changes, and that what the notes
//! pin stays as it was.

use core::time::Duration;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::tests::{code_of, delay, ota_result, upgrade, MS, P4002, P4003, S};
use super::*;
use crate::mqtt::Qos;
use crate::testutil::{identity, Rig, Sent};
use crate::variations::{Variation, Variations};

fn with(v: Variation) -> impl FnOnce(&mut Plug) {
    move |p: &mut Plug| p.set_variations(Variations::NONE.with(v))
}

fn ap_rig(v: Variation) -> Rig {
    let mut r = Rig::with(identity(), None, with(v));
    r.input(Input::ApAccepted(1));
    r
}

#[test]
fn split_subscribe_sends_five_packets_with_their_own_ids() {
    let mut cfg = crate::config::tests::sample();
    cfg.mqtt.qos = Qos::AtLeastOnce;
    let mut r = Rig::with(identity(), Some(cfg), with(Variation::SplitSubscribe));
    r.advance(MS(10));
    assert!(r.plug.mqtt_up());
    let subs: Vec<(&Vec<(String, Qos)>, u16)> = r
        .sent
        .iter()
        .filter_map(|s| match s {
            Sent::Subscribe(t, pid) => Some((t, *pid)),
            _ => None,
        })
        .collect();
    assert_eq!(subs.len(), 5);
    let names: Vec<&str> = subs
        .iter()
        .map(|(t, _)| {
            assert_eq!(t.len(), 1, "one filter per packet");
            assert_eq!(t[0].1, Qos::AtLeastOnce, "at the provisioned QoS");
            t[0].0.rsplit('/').next().unwrap_or("")
        })
        .collect();
    assert_eq!(names, topics::SUBSCRIBED);
    let mut pids: Vec<u16> = subs.iter().map(|(_, p)| *p).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 5, "distinct packet ids");
    assert!(matches!(r.sent[0], Sent::Connect { .. }));
    assert!(
        r.sent[1..6].iter().all(|s| matches!(s, Sent::Subscribe(..))),
        "subscriptions right after CONNECT, before any publish: {:?}",
        r.sent
    );
    assert_eq!(
        r.last("switch_state").as_deref(),
        Some(r#"{"switch_state":"off"}"#)
    );
}

fn vendor_image(version: &str, body: &[u8]) -> Vec<u8> {
    crate::ota::vendor_image::tests::image(version, body)
}

fn run_ota(r: &mut Rig, img: &[u8], chunk: usize) {
    upgrade(r, 0, "127.0.0.1");
    r.ota(OtaInput::Status(200));
    for c in img.chunks(chunk) {
        r.ota(OtaInput::Data(c));
    }
    r.ota(OtaInput::End);
}

#[test]
fn vendor_image_fetches_its_own_file_and_installs() {
    let mut r = Rig::connected_with(Qos::AtLeastOnce, with(Variation::VendorImage));
    run_ota(&mut r, &vendor_image("v2.4.0", &[0xAB; 3000]), 700);
    assert!(r
        .actions
        .iter()
        .any(|a| matches!(a, Action::OtaFetch { path, .. } if path.as_str() == "/fw/vendor-fw.img")));
    assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R1"}"#));
    let act = r.actions.iter().position(|a| *a == Action::OtaActivate);
    let restart = r.actions.iter().position(|a| *a == Action::Restart);
    assert!(act.is_some() && act < restart, "{:?}", r.actions);
}

#[test]
fn vendor_image_refuses_everything_else_with_r2() {
    let good = vendor_image("v2.4.0", b"body bytes");
    let mut bad_magic = good.clone();
    bad_magic[0] = b'W';
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 1;
    let truncated = good[..good.len() - 2].to_vec();
    let body = b"the new firmware";
    let mut plugrig = crate::ota::image::Header::for_body("sim", "000002", body)
        .expect("header")
        .encode()
        .to_vec();
    plugrig.extend_from_slice(body);
    for img in [bad_magic, bad_crc, truncated, plugrig] {
        let mut r = Rig::connected_with(Qos::AtLeastOnce, with(Variation::VendorImage));
        run_ota(&mut r, &img, 5);
        assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R2"}"#));
        assert!(!r.actions.contains(&Action::OtaActivate));
    }
}

#[test]
fn bare_error_reply_leaves_out_result_only_without_a_header() {
    let mut r = ap_rig(Variation::BareErrorReply);
    r.ap_send(1, "[4001]");
    r.ap_send(1, r#"{"host":"x"}"#);
    r.ap_send(1, r#"{"header":"4001"}"#);
    r.ap_send(1, r#"{"header":4004}"#);
    r.ap_send(1, P4003);
    r.ap_send(1, r#"{"header":4001}"#);
    r.ap_send(1, "hello plug");
    let got: Vec<&str> = r.replies.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        got[..5],
        [
            r#"{"code":5,"message":"undefined data"}"#,
            r#"{"code":5,"message":"undefined data"}"#,
            r#"{"code":5,"message":"undefined data"}"#,
            r#"{"code":5,"message":"undefined data","result":{"header":4004}}"#,
            r#"{"code":3,"message":"order error","result":{"header":4003}}"#,
        ]
    );
    assert!(got[5].starts_with(r#"{"code":0,"message":"success","result":{"header":4001,"#));
    assert_eq!(got[6], r#"{"code":4,"message":"not json"}"#);
    assert!(r.actions.contains(&Action::ApClose(1)));
}

#[test]
fn bare_error_reply_with_oversized_input() {
    let mut r = ap_rig(Variation::BareErrorReply);
    r.ap_send(1, &format!(r#"{{"k":"{}"#, "a".repeat(1100)));
    assert_eq!(r.replies[0].1, r#"{"code":1,"message":"length error"}"#);
}

fn oversized_closes_silently(send: impl Fn(&mut Rig)) {
    let mut r = ap_rig(Variation::OversizeClose);
    r.ap_send(1, r#"{"header":4001}"#);
    send(&mut r);
    assert_eq!(r.replies.len(), 1, "only the 4001 reply: {:?}", r.replies);
    assert!(r.actions.contains(&Action::ApClose(1)));
    r.input(Input::ApAccepted(2));
    r.ap_send(2, P4002);
    r.ap_send(2, "garbage");
    let codes: Vec<(ConnId, i64)> = r.replies.iter().map(|(c, t)| (*c, code_of(t))).collect();
    assert_eq!(
        codes,
        [(1, 0), (2, 0), (2, 4)],
        "the next connection is served, garbage still 4"
    );
}

#[test]
fn oversize_close_in_one_read() {
    oversized_closes_silently(|r| r.ap_send(1, &format!(r#"{{"k":"{}"#, "a".repeat(1100))));
}

#[test]
fn oversize_close_when_the_input_fills_up() {
    oversized_closes_silently(|r| {
        r.ap_send(1, r#"{"k":""#);
        for _ in 0..10 {
            r.ap_send(1, &"a".repeat(100));
        }
        r.ap_send(1, &"a".repeat(18));
    });
}

/// ceil(60 - 1.03 k) for the k-th tick, as the plug must report it.
fn slow_tick_expected(total: u64) -> Vec<u64> {
    let mut v = Vec::new();
    for k in 0.. {
        let elapsed_ms = 1030 * k;
        let left_ms = (total * 1000).saturating_sub(elapsed_ms);
        v.push(left_ms.div_ceil(1000));
        if left_ms == 0 {
            return v;
        }
    }
    v
}

fn slow_tick_rig() -> Rig {
    let mut r = Rig::connected_with(Qos::AtMostOnce, with(Variation::SlowTick));
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#);
    r
}

#[test]
fn slow_tick_reports_the_true_remaining_time_every_1_03_s() {
    let mut r = slow_tick_rig();
    let start = r.now;
    r.advance(S(65));
    let p = r.publishes("delay_time");
    let secs: Vec<u64> = p
        .iter()
        .map(|(m, _)| {
            let (h, mi, s, target) = delay(m);
            assert_eq!(target, "on");
            (h * 3600 + mi * 60 + s) as u64
        })
        .collect();
    let want = slow_tick_expected(60);
    assert_eq!(secs, want);
    assert_eq!(
        secs.first(),
        Some(&60),
        "the first one at once, with the full time"
    );
    assert_eq!(p[0].1, start);
    assert!(secs.windows(2).any(|w| w[0] - w[1] == 2), "values skip: {secs:?}");
    assert!(secs.windows(2).all(|w| w[0] > w[1]), "strictly down: {secs:?}");
    assert_eq!(delay(&p[p.len() - 1].0), (0, 0, 0, "on".into()));
    for w in p.windows(2) {
        assert_eq!(w[1].1.since(w[0].1), MS(1030));
    }
    // 59 ticks of 1.03 s: the first at which nothing is left.
    assert_eq!(p.last().map(|x| x.1.since(start)), Some(MS(59 * 1030)));
    assert!(r.relay);
    let (sw, at) = r.publishes("switch_state").pop().expect("switch_state");
    assert_eq!((sw.as_str(), at), (r#"{"switch_state":"on"}"#, p[p.len() - 1].1));
    assert!(r.plug.countdown().is_none());
}

#[test]
fn slow_tick_at_a_time_scale_keeps_its_proportions() {
    let mut cfg = crate::config::tests::sample();
    cfg.mqtt.qos = Qos::AtMostOnce;
    let mut r = Rig::with(identity(), Some(cfg), with(Variation::SlowTick));
    r.plug.timing = Timing::scaled(10);
    r.plug.app_second = r.plug.timing.cadence;
    r.advance(MS(10));
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#);
    r.advance(S(7));
    let p = r.publishes("delay_time");
    let secs: Vec<u64> = p
        .iter()
        .map(|(m, _)| {
            let (h, mi, s, _) = delay(m);
            (h * 3600 + mi * 60 + s) as u64
        })
        .collect();
    assert_eq!(secs, slow_tick_expected(60));
    for w in p.windows(2) {
        assert_eq!(w[1].1.since(w[0].1), Duration::from_micros(103_000));
    }
}

#[test]
fn slow_tick_cancellation_is_unchanged() {
    let mut r = slow_tick_rig();
    r.advance(MS(3500));
    r.app_publishes("switch_state", r#"{"switch_state":"on"}"#);
    let cut = r.now;
    r.advance(S(10));
    assert!(r.publishes("delay_time").iter().all(|(_, t)| *t < cut));
    assert!(r.plug.countdown().is_none());
    let mut r = slow_tick_rig();
    r.advance(MS(3500));
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":0}"#);
    let cut = r.now;
    r.advance(S(70));
    assert!(r.publishes("delay_time").iter().all(|(_, t)| *t < cut));
    assert!(!r.relay, "a cancelled countdown does not switch");
}

#[test]
fn ap_stays_open_is_served_again_after_a_factory_reset() {
    let mut r = ap_rig(Variation::ApStaysOpen);
    r.ap_send(1, P4002);
    r.ap_send(1, P4003);
    r.advance(MS(10));
    assert!(r.plug.mqtt_up());
    // The board kept its listener: a connection is accepted, closed, never answered.
    let replies = r.replies.len();
    r.input(Input::ApAccepted(2));
    r.ap_send(2, r#"{"header":4001}"#);
    assert_eq!(r.replies.len(), replies);
    assert_eq!(r.actions.iter().filter(|a| **a == Action::ApClose(2)).count(), 1);
    r.app_publishes("reset", "");
    assert!(r.plug.in_ap_mode());
    r.input(Input::ApAccepted(3));
    r.ap_send(3, r#"{"header":4001}"#);
    assert_eq!(r.replies.last().map(|(c, t)| (*c, code_of(t))), Some((3, 0)));
}

#[test]
fn variations_leave_the_default_paths_alone() {
    // Every variation at once still provisions, connects and counts down to a switch.
    let all = crate::variations::ALL
        .iter()
        .fold(Variations::NONE, |v, (x, _)| v.with(*x));
    let mut r = Rig::with(identity(), None, |p| p.set_variations(all));
    r.input(Input::ApAccepted(1));
    r.ap_send(1, P4002);
    r.ap_send(1, P4003);
    r.advance(MS(10));
    assert!(r.plug.mqtt_up());
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#);
    r.advance(S(70));
    assert!(r.relay);
    assert_eq!(
        r.publishes("delay_time").last().map(|(m, _)| delay(m)),
        Some((0, 0, 0, "on".into()))
    );
}
