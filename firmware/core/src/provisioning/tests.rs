//! One case per rule of PROTOCOL-NOTES "AP socket", several per error code.

use super::*;
use crate::json::parse_object;
use rstest::rstest;
use std::format;
use std::string::ToString;

const GOOD_4002: &str = r#"{"header":4002,"host":"127.0.0.1","port":1883,"connect_mode":0,"username":"DVES_USER","password":"DVES_PASS","keepalive":120,"qos":2,"clean_session":1}"#;
const GOOD_4003: &str =
    r#"{"header":4003,"wifi_ssid":"Fitpolo","wifi_pwd":"fitpolo1234.","wifi_security":3}"#;

fn command(s: &str) -> Result<Command, Rejection> {
    let (o, _) = parse_object(s.as_bytes()).expect("test input is JSON");
    parse_command(&o)
}

/// `GOOD_4002` with `field` replaced by the raw JSON `value` (or removed when None).
fn mqtt_with(field: &str, value: Option<&str>) -> std::string::String {
    let mut v: serde_like::Map = serde_like::parse(GOOD_4002);
    v.set(field, value);
    v.render()
}

fn wifi_with(field: &str, value: Option<&str>) -> std::string::String {
    let mut v: serde_like::Map = serde_like::parse(GOOD_4003);
    v.set(field, value);
    v.render()
}

/// A tiny ordered key -> raw JSON map, enough to vary one field of a fixture.
mod serde_like {
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    pub struct Map(Vec<(String, String)>);

    pub fn parse(s: &str) -> Map {
        let inner = &s[1..s.len() - 1];
        Map(inner
            .split(',')
            .map(|kv| {
                let (k, v) = kv.split_once(':').expect("fixture");
                (k.trim_matches('"').into(), v.into())
            })
            .collect())
    }

    impl Map {
        pub fn set(&mut self, k: &str, v: Option<&str>) {
            self.0.retain(|(key, _)| key != k);
            if let Some(v) = v {
                self.0.push((k.into(), v.into()));
            }
        }
        pub fn render(&self) -> String {
            let body: Vec<String> = self.0.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", body.join(","))
        }
    }
}

#[test]
fn good_commands_parse() {
    assert_eq!(command(r#"{"header":4001}"#), Ok(Command::DeviceInfo));
    match command(GOOD_4002) {
        Ok(Command::Mqtt(m)) => {
            assert_eq!(m.host.as_str(), "127.0.0.1");
            assert_eq!(
                (m.port, m.tls, m.keepalive, m.qos, m.clean_session),
                (1883, false, 120, Qos::ExactlyOnce, true)
            );
            assert_eq!(m.client_id.as_str(), "");
        }
        other => panic!("{other:?}"),
    }
    match command(GOOD_4003) {
        Ok(Command::Wifi(w)) => assert_eq!((w.ssid.as_str(), w.security), ("Fitpolo", 3)),
        other => panic!("{other:?}"),
    }
}

#[rstest]
#[case::no_header(r#"{"host":"x"}"#)]
#[case::string_header(r#"{"header":"4001"}"#)]
#[case::unknown_header(r#"{"header":4004}"#)]
#[case::float_header(r#"{"header":4001.5}"#)]
fn code_5_for_a_missing_or_unknown_header(#[case] input: &str) {
    assert_eq!(command(input).unwrap_err().code, Code::Undefined);
}

#[rstest]
#[case::host("host")]
#[case::port("port")]
#[case::password("password")]
#[case::clean_session("clean_session")]
fn code_5_for_a_missing_4002_field(#[case] field: &str) {
    let r = command(&mqtt_with(field, None)).unwrap_err();
    assert_eq!((r.code, r.header), (Code::Undefined, Some(4002)));
}

#[rstest]
#[case::ssid("wifi_ssid")]
#[case::security("wifi_security")]
fn code_5_for_a_missing_4003_field(#[case] field: &str) {
    assert_eq!(
        command(&wifi_with(field, None)).unwrap_err().code,
        Code::Undefined
    );
}

#[rstest]
#[case::string_port("port", r#""1883""#)]
#[case::numeric_password("password", "1234")]
#[case::bool_qos("qos", "true")]
#[case::float_keepalive("keepalive", "60.5")]
#[case::null_host("host", "null")]
#[case::numeric_client_id("clientId", "7")]
fn code_2_for_a_wrong_type(#[case] field: &str, #[case] value: &str) {
    let r = command(&mqtt_with(field, Some(value))).unwrap_err();
    assert_eq!((r.code, r.header), (Code::Type, Some(4002)));
}

#[rstest]
#[case::ssid_number("wifi_ssid", "5")]
#[case::security_string("wifi_security", r#""3""#)]
fn code_2_for_a_wrong_4003_type(#[case] field: &str, #[case] value: &str) {
    assert_eq!(
        command(&wifi_with(field, Some(value))).unwrap_err().code,
        Code::Type
    );
}

fn quoted(n: usize) -> std::string::String {
    format!("\"{}\"", "x".repeat(n))
}
#[rstest]
#[case::empty_host("host", quoted(0))]
#[case::long_host("host", quoted(65))]
#[case::empty_username("username", quoted(0))]
#[case::long_username("username", quoted(33))]
#[case::empty_password("password", quoted(0))]
#[case::long_password("password", quoted(33))]
#[case::long_client_id("clientId", quoted(33))]
fn code_1_for_a_wrong_length(#[case] field: &str, #[case] value: std::string::String) {
    assert_eq!(
        command(&mqtt_with(field, Some(&value))).unwrap_err().code,
        Code::Length
    );
}

#[rstest]
#[case::empty_ssid("wifi_ssid", quoted(0))]
#[case::long_ssid("wifi_ssid", quoted(33))]
#[case::long_pwd("wifi_pwd", quoted(65))]
fn code_1_for_a_wrong_4003_length(#[case] field: &str, #[case] value: std::string::String) {
    assert_eq!(
        command(&wifi_with(field, Some(&value))).unwrap_err().code,
        Code::Length
    );
}

#[test]
fn lengths_count_decoded_bytes() {
    // 32 two-byte characters are 64 bytes: too long for a username.
    let long = format!("\"{}\"", "\\u00e9".repeat(32));
    assert_eq!(
        command(&mqtt_with("username", Some(&long))).unwrap_err().code,
        Code::Length
    );
    let ok = format!("\"{}\"", "\\u00e9".repeat(16));
    assert!(command(&mqtt_with("username", Some(&ok))).is_ok());
}

#[rstest]
#[case::boundaries_ok("port", "0", true)]
#[case::port_max("port", "65535", true)]
#[case::port_over("port", "65536", false)]
#[case::port_negative("port", "-1", false)]
#[case::connect_mode("connect_mode", "2", false)]
#[case::keepalive_low("keepalive", "59", false)]
#[case::keepalive_low_ok("keepalive", "60", true)]
#[case::keepalive_high("keepalive", "121", false)]
#[case::qos("qos", "3", false)]
#[case::clean_session("clean_session", "2", false)]
// Integers at and past the 64-bit edges are integers out of range, not of the wrong type
// (found by `plugrig fuzz`: i64::MIN answered code 2).
#[case::i64_min("clean_session", "-9223372036854775808", false)]
#[case::i64_max("port", "9223372036854775807", false)]
#[case::past_u64("port", "18446744073709551616", false)]
#[case::past_i64_negative("keepalive", "-99999999999999999999", false)]
fn code_6_for_a_value_out_of_range(#[case] field: &str, #[case] value: &str, #[case] ok: bool) {
    let r = command(&mqtt_with(field, Some(value)));
    if ok {
        assert!(r.is_ok(), "{r:?}");
    } else {
        assert_eq!(r.unwrap_err().code, Code::Range);
    }
}

#[rstest]
#[case::security_high("5", false)]
#[case::security_negative("-1", false)]
#[case::wpa_wpa2("4", true)]
#[case::open("0", true)]
fn code_6_for_wifi_security(#[case] value: &str, #[case] ok: bool) {
    let r = command(&wifi_with("wifi_security", Some(value)));
    assert_eq!(r.is_ok(), ok, "{r:?}");
    if !ok {
        assert_eq!(r.unwrap_err().code, Code::Range);
    }
}

#[rstest]
// A missing field (5) wins over a wrong type (2).
#[case::missing_over_type(&[("host", None), ("port", Some(r#""x""#))], Code::Undefined)]
// A wrong type (2) wins over a wrong length (1).
#[case::type_over_length(&[("port", Some(r#""x""#)), ("host", Some(r#""""#))], Code::Type)]
// A wrong length (1) wins over a value out of range (6).
#[case::length_over_range(&[("qos", Some("9")), ("username", Some(r#""""#))], Code::Length)]
fn codes_are_checked_in_the_pinned_order(#[case] changes: &[(&str, Option<&str>)], #[case] want: Code) {
    let mut m = serde_like::parse(GOOD_4002);
    for (k, v) in changes {
        m.set(k, *v);
    }
    assert_eq!(command(&m.render()).unwrap_err().code, want);
}

#[test]
fn client_id_and_unknown_fields() {
    match command(&mqtt_with("clientId", Some(r#""plug-7""#))) {
        Ok(Command::Mqtt(m)) => assert_eq!(m.client_id.as_str(), "plug-7"),
        other => panic!("{other:?}"),
    }
    assert!(command(&mqtt_with("color", Some(r#""blue""#))).is_ok());
    assert!(command(&mqtt_with("clientId", Some(r#""""#))).is_ok());
}

#[test]
fn many_unknown_fields_before_the_known_ones_are_ignored() {
    // More unknown members than the reader keeps, all before the required fields: the
    // known ones are still read (unknown extra fields are ignored [profile]).
    let extra: std::string::String = (0..20).map(|i| format!("\"x{i}\":{i},")).collect();
    let text = GOOD_4002.replacen('{', &format!("{{{extra}"), 1);
    let mut s = Stream::default();
    assert!(s.push(text.as_bytes()));
    assert!(
        matches!(s.next_frame(), Framed::Command(Command::Mqtt(_))),
        "{text}"
    );
}

#[test]
fn stream_handles_split_objects_newlines_and_nul() {
    let mut s = Stream::default();
    let (a, b) = GOOD_4003.split_at(20);
    assert!(s.push(a.as_bytes()));
    assert_eq!(s.next_frame(), Framed::NeedMore);
    assert!(s.push(b.as_bytes()));
    assert!(s.push(b"\n\0{\"header\":4001}\r\n"));
    assert!(matches!(s.next_frame(), Framed::Command(Command::Wifi(_))));
    assert_eq!(s.next_frame(), Framed::Command(Command::DeviceInfo));
    assert_eq!(s.next_frame(), Framed::NeedMore);
}

#[rstest]
#[case::text(b"hello")]
#[case::text_with_space(b"hello plug")]
#[case::truncated_then_garbage(b"{\"header\":40x")]
#[case::bad_number_in_object(b"{\"header\":40x}")]
#[case::bad_literal(b"nulL")]
#[case::unclosed_array_then_garbage(b"[4001,x")]
fn stream_answers_4_for_garbage(#[case] input: &[u8]) {
    let mut s = Stream::default();
    assert!(s.push(input));
    assert_eq!(
        s.next_frame(),
        Framed::Fatal(Rejection {
            code: Code::NotJson,
            header: None
        })
    );
}

/// PROTOCOL-NOTES code 4: "A JSON value that is not an object is JSON: code 5", with no
/// header to echo, and the connection stays usable.
#[rstest]
#[case::array(b"[4001]")]
#[case::nested_array(b"[{\"header\":4001}]")]
#[case::number_then_newline(b"4001\n")]
#[case::number_then_nul(b"-0.5\0")]
#[case::string(b"\"4001\"")]
#[case::true_(b"true")]
#[case::false_(b"false")]
#[case::null(b"null")]
fn stream_answers_5_for_json_that_is_not_an_object(#[case] input: &[u8]) {
    let mut s = Stream::default();
    assert!(s.push(input));
    assert_eq!(
        s.next_frame(),
        Framed::Rejected(Rejection {
            code: Code::Undefined,
            header: None
        })
    );
    assert!(s.push(br#"{"header":4001}"#));
    assert_eq!(s.next_frame(), Framed::Command(Command::DeviceInfo));
}

#[test]
fn a_bare_number_waits_for_the_byte_after_it() {
    let mut s = Stream::default();
    assert!(s.push(b"40"));
    assert_eq!(s.next_frame(), Framed::NeedMore);
    assert!(s.push(b"01"));
    assert_eq!(s.next_frame(), Framed::NeedMore, "4001 may go on");
    assert!(s.push(b"\r\n"));
    assert!(matches!(
        s.next_frame(),
        Framed::Rejected(Rejection {
            code: Code::Undefined,
            header: None
        })
    ));
    assert_eq!(s.next_frame(), Framed::NeedMore);
}

#[test]
fn a_bare_number_filling_the_input_is_oversized() {
    let mut s = Stream::default();
    assert!(s.push(&[b'7'; INPUT_MAX]));
    assert_eq!(
        s.next_frame(),
        Framed::Fatal(Rejection {
            code: Code::Length,
            header: None
        })
    );
}

#[test]
fn stream_overflow_without_an_object_is_fatal() {
    let mut s = Stream::default();
    let mut open = std::vec![b'{', b'"', b'k', b'"', b':', b'"'];
    open.resize(INPUT_MAX, b'a');
    assert!(s.push(&open));
    assert!(matches!(
        s.next_frame(),
        Framed::Fatal(Rejection {
            code: Code::Length,
            ..
        })
    ));
    assert!(!s.push(&[b'x'; INPUT_MAX + 1]));
}

#[test]
fn replies_have_the_envelope_and_no_nul() {
    let id = crate::identity::sample();
    let r = reply(Code::Ok, Some(4001), Some(&id));
    let text = core::str::from_utf8(&r).unwrap();
    assert_eq!(
        text,
        r#"{"code":0,"message":"success","result":{"header":4001,"device_function":"iot_plug","device_name":"plug_one","device_specifications":"us","device_mac":"11:22:33:44:55:66","device_type":"1"}}"#
    );
    let e = reply(Code::Order, Some(4003), None);
    assert_eq!(
        core::str::from_utf8(&e).unwrap(),
        r#"{"code":3,"message":"order error","result":{"header":4003}}"#
    );
    assert!(!r.contains(&0) && r.len() <= REPLY_MAX);
}

#[test]
fn a_bare_reply_has_no_result() {
    let r = bare_reply(Code::NotJson);
    assert_eq!(
        core::str::from_utf8(&r).unwrap(),
        r#"{"code":4,"message":"not json"}"#
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
    /// Arbitrary bytes in arbitrary chunks never panic, and the stream always makes progress.
    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..80), 0..6)) {
        let mut s = Stream::default();
        for c in &chunks {
            if !s.push(c) {
                s = Stream::default();
                continue;
            }
            for _ in 0..32 {
                if s.next_frame() == Framed::NeedMore {
                    break;
                }
            }
        }
    }

    /// JSON-shaped input: objects with random keys and values from this protocol.
    #[test]
    fn json_shaped_input_gets_a_defined_code(
        header in proptest::sample::select(std::vec![4001i64, 4002, 4003, 4004, -1]),
        fields in proptest::collection::vec((proptest::sample::select(std::vec!["host","port","qos","keepalive","username","password","connect_mode","clean_session","wifi_ssid","wifi_pwd","wifi_security","clientId"]), proptest::sample::select(std::vec!["0","1","2","60","120","65536","\"\"","\"abc\"","true","null","1.5","[1]","{}"])), 0..12)
    ) {
        let mut m = serde_like::parse(GOOD_4002);
        m.set("header", Some(&header.to_string()));
        for (k, v) in &fields {
            m.set(k, Some(v));
        }
        let _ = command(&m.render());
    }
}
