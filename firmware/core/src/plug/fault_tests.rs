//! The fault switches added after the first sixteen, each on virtual time (the older ones
//! are proven end to end by the harness's `faults_are_caught`).

use super::tests::{ota_result, upgrade, MS};
use super::*;
use crate::faults::{Fault, Faults};
use crate::mqtt::Qos;
use crate::testutil::{identity, Rig};

fn with(f: Fault) -> impl FnOnce(&mut Plug) {
    move |p: &mut Plug| p.set_faults(Faults::NONE.with(f))
}

#[test]
fn voltage_in_volts() {
    let mut r = Rig::connected_with(Qos::AtMostOnce, with(Fault::VoltageInVolts));
    r.meter_frame = Some(
        crate::bl0942::Raw {
            i_rms: 110_534,
            v_rms: 3_650_873,
            watt: 60_320,
        }
        .encode(),
    );
    r.advance(MS(2_500));
    assert_eq!(
        r.last("electricity_information").as_deref(),
        Some(r#"{"voltage":230,"current":440,"power":101}"#)
    );
}

#[test]
fn ota_keeps_version_after_the_restart() {
    let mut r = Rig::connected_with(Qos::AtLeastOnce, with(Fault::OtaKeepsVersion));
    upgrade(&mut r, 0, "127.0.0.1");
    r.ota(OtaInput::Status(200));
    let body = b"the new firmware";
    let mut img = crate::ota::image::Header::for_body("sim", "000002", body)
        .expect("header")
        .encode()
        .to_vec();
    img.extend_from_slice(body);
    r.ota(OtaInput::Data(&img));
    r.ota(OtaInput::End);
    assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R1"}"#));
    assert!(r.actions.contains(&Action::Restart));
    // The restart: the board reads the installed version and boots with it, or (the
    // fault) does not.
    let faults = Faults::NONE.with(Fault::OtaKeepsVersion);
    let mut id = identity();
    id.boot_version(Some("000002"), faults);
    let mut r2 = Rig::with(id, r.stored.clone(), with(Fault::OtaKeepsVersion));
    r2.advance(MS(10));
    r2.app_publishes("read_firmware_infor", "");
    let infor = r2.last("firmware_infor").expect("firmware_infor");
    assert!(infor.contains(r#""firmware_version":"000001""#), "{infor}");
}

#[cfg(feature = "conformant-variations")]
#[test]
fn no_final_zero_with_slow_tick() {
    use super::tests::{delay, S};
    use crate::variations::{Variation, Variations};
    use std::string::String;
    use std::vec::Vec;
    let mut r = Rig::connected_with(Qos::AtMostOnce, |p| {
        p.set_faults(Faults::NONE.with(Fault::NoFinalZero));
        p.set_variations(Variations::NONE.with(Variation::SlowTick));
    });
    r.app_publishes("delay_time", r#"{"delay_hour":0,"delay_minute":1}"#);
    r.advance(S(65));
    let p: Vec<(i64, i64, i64, String)> = r.publishes("delay_time").iter().map(|(m, _)| delay(m)).collect();
    assert_eq!(p.len(), 59, "the 0/0/0 of the 60th tick is missing");
    assert_eq!(p.last(), Some(&(0, 0, 1, "on".into())));
    assert!(r.relay, "the relay still switches");
    assert_eq!(
        r.last("switch_state").as_deref(),
        Some(r#"{"switch_state":"on"}"#)
    );
}

#[test]
fn wedged_by_garbage_answers_nothing_after_code_4() {
    let mut r = Rig::with(identity(), None, with(Fault::WedgedByGarbage));
    r.input(Input::ApAccepted(1));
    r.ap_send(1, r#"{"header":4001}"#);
    assert_eq!(r.replies.len(), 1, "served before the garbage");
    r.ap_send(1, "\u{1}\u{2}garbage");
    assert_eq!(r.replies.len(), 2, "the garbage is answered (code 4)");
    r.input(Input::ApAccepted(2));
    r.ap_send(2, r#"{"header":4001}"#);
    assert_eq!(
        r.replies.len(),
        2,
        "the next connection is accepted and never answered"
    );
    // Undefined JSON (code 5) wedges it as well.
    let mut r = Rig::with(identity(), None, with(Fault::WedgedByGarbage));
    r.input(Input::ApAccepted(1));
    r.ap_send(1, r#"{"header":4004}"#);
    r.ap_send(1, r#"{"header":4001}"#);
    assert_eq!(r.replies.len(), 1, "only the code 5 was answered");
}

#[test]
fn deep_nesting_crash_restarts_on_17_levels_only() {
    let mut r = Rig::with(identity(), None, with(Fault::DeepNestingCrash));
    r.input(Input::ApAccepted(1));
    r.ap_send(1, &std::format!("{}{}", "[".repeat(16), "]".repeat(16)));
    assert!(!r.actions.contains(&Action::Restart), "16 levels are answered");
    r.ap_send(1, &std::format!("{}{}", "[".repeat(17), "]".repeat(17)));
    assert!(r.actions.contains(&Action::Restart), "17 levels crash it");
}

#[test]
fn duplicate_keys_wedge_after_24_repeats() {
    let mut r = Rig::with(identity(), None, with(Fault::DuplicateKeysWedge));
    r.input(Input::ApAccepted(1));
    let dup = |n: usize| std::format!("{{{}\"header\":4002}}", "\"port\":1,".repeat(n));
    r.ap_send(1, &dup(23));
    let answered = r.replies.len();
    assert_eq!(answered, 1, "23 repeats are answered");
    r.ap_send(1, &dup(24));
    r.ap_send(1, r#"{"header":4001}"#);
    assert_eq!(r.replies.len(), answered, "24 repeats wedge the socket");
}

#[test]
fn stray_field_switch_obeys_a_payload_without_switch_state() {
    let mut r = Rig::connected_with(Qos::AtMostOnce, with(Fault::StrayFieldSwitch));
    let before = r.publishes("switch_state").len();
    r.app_publishes("switch_state", r#"{"switch_stat":"on"}"#);
    assert_eq!(
        r.publishes("switch_state").len(),
        before + 1,
        "switched by a stray field"
    );
    assert_eq!(
        r.last("switch_state").as_deref(),
        Some(r#"{"switch_state":"on"}"#)
    );
    // Without the fault the same payload changes nothing.
    let mut ok = Rig::connected_with(Qos::AtMostOnce, |_| {});
    let before = ok.publishes("switch_state").len();
    ok.app_publishes("switch_state", r#"{"switch_stat":"on"}"#);
    assert_eq!(ok.publishes("switch_state").len(), before);
}
