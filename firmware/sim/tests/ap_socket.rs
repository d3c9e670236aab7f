//! The AP socket over real TCP: garbage never wedges it, framing is tolerant.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{ap_connect, read_reply, request, start, Rng};

#[test]
fn after_1000_random_byte_strings_the_plug_still_answers_4001() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start(dir.path(), &[]);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut conn = ap_connect(sim.ap);
    for i in 0..1000 {
        let len = 1 + rng.below(200) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // A quarter of the inputs start like JSON, to get past the first byte.
        if i % 4 == 0 {
            bytes[0] = b'{';
        }
        // The plug may have dropped this connection after the previous garbage.
        if conn.write_all(&bytes).is_err() || i % 10 == 0 {
            conn = ap_connect(sim.ap);
        }
    }
    let mut s = ap_connect(sim.ap);
    let reply = request(&mut s, br#"{"header":4001}"#);
    assert!(
        reply.starts_with(r#"{"code":0,"#) && reply.contains(r#""header":4001"#),
        "{reply}"
    );
}

#[test]
fn a_request_split_over_two_writes_with_a_trailing_newline_is_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start(dir.path(), &[]);
    let mut s = ap_connect(sim.ap);
    s.write_all(br#"{"head"#).expect("write");
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(b"er\":4001}\n").expect("write");
    let reply = read_reply(&mut s);
    assert!(reply.contains(r#""code":0"#), "{reply}");
    assert!(!reply.contains('\0'));
}

#[test]
fn idle_half_open_clients_do_not_block_the_next_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start(dir.path(), &[]);
    let idle: Vec<_> = (0..4).map(|_| ap_connect(sim.ap)).collect();
    let mut partial = ap_connect(sim.ap);
    partial.write_all(br#"{"header":40"#).expect("write");
    let mut s = ap_connect(sim.ap);
    let reply = request(&mut s, br#"{"header":4001}"#);
    assert!(reply.contains(r#""code":0"#), "{reply}");
    drop(idle);
}

#[test]
fn garbage_gets_code_4() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = start(dir.path(), &[]);
    let mut s = ap_connect(sim.ap);
    let reply = request(&mut s, b"hello plug");
    assert!(reply.starts_with(r#"{"code":4,"#), "{reply}");
}
