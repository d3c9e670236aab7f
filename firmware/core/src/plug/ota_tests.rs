//! Upgrades (`app/upgrade`, spec 3.3.4) on virtual time: every way one ends, R1 to R4.

use rstest::rstest;
use std::format;

use super::tests::{image, ota_result, upgrade, S};
use super::*;
use crate::mqtt::Qos;
use crate::testutil::Rig;

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
