//! The board contract on virtual time: what a late input from a link the plug has left
//! behind does (nothing), so no board needs counters of its own; and the trial of an
//! update, which every board used to have to decide for itself.

use super::tests::{image, ota_result, upgrade, P4002, P4003, S};
use super::*;
use crate::mqtt::Qos;
use crate::testutil::{identity, Rig};
use crate::time::Instant;

#[test]
fn a_late_close_of_an_earlier_broker_link_is_dropped() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    let first = r.mqtt_link;
    r.input(Input::MqttClosed(first));
    assert!(!r.plug.mqtt_up());
    r.advance(S(2));
    assert!(r.plug.mqtt_up(), "reconnected");
    assert_ne!(r.mqtt_link, first, "a new link for the new stream");
    // The first stream's reader reports its end (again) and its last bytes late.
    r.input(Input::MqttClosed(first));
    r.input(Input::MqttData(first, &[0xE0, 0x00]));
    assert!(r.plug.mqtt_up(), "the current session is untouched");
}

#[test]
fn inputs_on_a_link_never_opened_are_dropped() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    r.input(Input::MqttClosed(r.mqtt_link + 100));
    assert!(r.plug.mqtt_up());
}

#[test]
fn a_late_answer_from_an_earlier_download_attempt_is_dropped() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    upgrade(&mut r, 0, "127.0.0.1");
    let first = r.ota_link;
    r.ota(OtaInput::ConnectFailed);
    r.advance(S(1));
    assert_ne!(r.ota_link, first, "the retry is a new link");
    // The first attempt's server answers after all: it must not count.
    r.input(Input::Ota(first, OtaInput::Status(404)));
    assert_eq!(ota_result(&r), None);
    r.ota(OtaInput::Status(200));
    r.ota(OtaInput::Data(&image("sim")));
    r.input(Input::Ota(first, OtaInput::Data(b"garbage from the old link")));
    r.ota(OtaInput::End);
    assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R1"}"#));
}

#[test]
fn a_download_is_over_for_its_link_once_cancelled() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    upgrade(&mut r, 0, "127.0.0.1");
    r.ota(OtaInput::Status(500));
    assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R2"}"#));
    let n = r.actions.len();
    r.ota(OtaInput::End);
    assert_eq!(r.actions.len(), n, "nothing more happens");
}

fn position(r: &Rig, a: &Action) -> Option<usize> {
    r.actions.iter().position(|x| x == a)
}

#[test]
fn an_update_on_trial_that_reaches_the_broker_is_kept() {
    let mut cfg = crate::config::tests::sample();
    cfg.mqtt.qos = Qos::AtLeastOnce;
    // The fake broker accepts at once: the session is up before `with` returns.
    let mut r = Rig::with(identity(), Some(cfg), |p| p.start_trial(Instant::ZERO));
    assert!(r.plug.mqtt_up());
    let up = position(&r, &Action::Console(crate::console::Event::MqttUp)).expect("up");
    let confirm = position(&r, &Action::OtaConfirm).expect("confirmed");
    assert!(up < confirm, "confirmed once the session is up");
    assert!(!r.plug.on_trial());
    // Later losses of the broker change nothing: the image has proven itself.
    r.broker_up = false;
    r.input(Input::MqttClosed(r.mqtt_link));
    r.advance(S(600));
    assert_eq!(r.actions.iter().filter(|a| **a == Action::OtaConfirm).count(), 1);
    assert_eq!(position(&r, &Action::OtaRollBack), None);
}

#[test]
fn an_update_on_trial_that_never_reaches_the_broker_is_rolled_back() {
    // Provisioned after the update, with the broker down from the start.
    let mut r = Rig::with(identity(), None, |p| p.start_trial(Instant::ZERO));
    r.broker_up = false;
    r.input(Input::ApAccepted(1));
    r.ap_send(1, P4002);
    r.ap_send(1, P4003);
    assert!(!r.plug.in_ap_mode());
    r.advance(S(299));
    assert_eq!(
        position(&r, &Action::OtaRollBack),
        None,
        "not before the trial ends"
    );
    r.advance(S(2));
    let said = Action::Console(crate::console::Event::Error {
        what: "update never reached the broker: rolling back",
    });
    let said = position(&r, &said).expect("says why");
    let back = position(&r, &Action::OtaRollBack).expect("rolled back");
    let restart = position(&r, &Action::Restart).expect("restarts");
    assert!(said < back && back < restart);
    assert_eq!(position(&r, &Action::OtaConfirm), None);
}

#[test]
fn an_update_on_trial_in_ap_mode_is_rolled_back_too() {
    // Unprovisioned: it cannot reach a broker, so it cannot prove itself.
    let mut r = Rig::with(identity(), None, |p| p.start_trial(Instant::ZERO));
    r.advance(S(301));
    assert!(position(&r, &Action::OtaRollBack).is_some());
}

#[test]
fn a_boot_not_on_trial_neither_confirms_nor_rolls_back() {
    let mut r = Rig::connected(Qos::AtLeastOnce);
    r.advance(S(600));
    assert!(!r.plug.on_trial());
    assert_eq!(position(&r, &Action::OtaConfirm), None);
    assert_eq!(position(&r, &Action::OtaRollBack), None);
}
