//! The board contract on virtual time: what a late input from a link the plug has left
//! behind does (nothing), so no board needs counters of its own.

use super::tests::{image, ota_result, upgrade, S};
use super::*;
use crate::testutil::Rig;

#[test]
fn a_late_close_of_an_earlier_broker_link_is_dropped() {
    let mut r = Rig::connected(1);
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
    let mut r = Rig::connected(1);
    r.input(Input::MqttClosed(r.mqtt_link + 100));
    assert!(r.plug.mqtt_up());
}

#[test]
fn a_late_answer_from_an_earlier_download_attempt_is_dropped() {
    let mut r = Rig::connected(1);
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
    let mut r = Rig::connected(1);
    upgrade(&mut r, 0, "127.0.0.1");
    r.ota(OtaInput::Status(500));
    assert_eq!(ota_result(&r).as_deref(), Some(r#"{"ota_result":"R2"}"#));
    let n = r.actions.len();
    r.ota(OtaInput::End);
    assert_eq!(r.actions.len(), n, "nothing more happens");
}
