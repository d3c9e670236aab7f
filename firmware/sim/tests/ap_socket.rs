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

/// Issue 19: plug-sim picked its AP port by binding port 0 and releasing it, and bound it
/// again only while in AP mode. Meanwhile (from the ready line to the first listen, and
/// for the whole of station mode) any other socket's bind(0) could get the port: the rig
/// then talked to whatever listened there, and the plug died with "Address already in
/// use" when it came back to AP mode. Now the port is held for the life of the process.
#[test]
fn the_ap_port_stays_the_plugs_in_station_mode_and_serves_again_after_a_factory_reset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sim = start(dir.path(), &["--time-scale", "100"]);
    // A broker that takes the connection and never answers: the plug stays in station mode.
    let broker = std::net::TcpListener::bind("127.0.0.1:0").expect("broker port");
    let port = broker.local_addr().expect("addr").port();
    let mut s = ap_connect(sim.ap);
    let m = format!(
        r#"{{"header":4002,"host":"127.0.0.1","port":{port},"connect_mode":0,"username":"u","password":"p","keepalive":60,"qos":0,"clean_session":1}}"#
    );
    assert!(request(&mut s, m.as_bytes()).contains(r#""code":0"#));
    let w = br#"{"header":4003,"wifi_ssid":"n","wifi_pwd":"p","wifi_security":3}"#;
    assert!(request(&mut s, w).contains(r#""code":0"#));
    // Closed with a reset, so that neither side keeps the connection in TIME_WAIT (which
    // would hold the port on its own for a minute, and hide what this test is about).
    reset_on_close(&s);
    drop(s);
    sim.wait_console("mode=station");
    // Out of AP mode a connection is refused, as by a plug whose access point is down...
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        std::net::TcpStream::connect(sim.ap).is_err(),
        "station mode refuses"
    );
    // ...and the port is still the plug's: bind(0) never hands it out, though it would
    // hand out every free port of its range before failing (Linux picks odd ports of the
    // lower half first, the parity a bind(0) port has; 8000 covers them).
    raise_open_files(9000);
    let mut others = Vec::new();
    for _ in 0..8000 {
        match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => {
                let got = l.local_addr().expect("addr").port();
                assert_ne!(got, sim.ap.port(), "another socket took the plug's AP port");
                others.push(l);
            }
            Err(_) => break,
        }
    }
    drop(others);
    // A factory reset (a 10 s hold, 0.1 s at scale 100) brings the AP back on its port.
    sim.control("button down");
    sim.wait_console("mode=ap");
    sim.control("button up");
    let mut s = ap_connect(sim.ap);
    assert!(request(&mut s, br#"{"header":4001}"#).contains(r#""code":0"#));
    assert!(sim.child.try_wait().expect("wait").is_none(), "the plug runs on");
    drop(broker);
}

/// Lifts this process's open-file limit to `n` (or as far as the hard limit goes).
fn raise_open_files(n: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process with a valid, owned struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < n as libc::rlim_t {
            l.rlim_cur = (n as libc::rlim_t).min(l.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// SO_LINGER 0: closing the socket sends a reset instead of a FIN.
fn reset_on_close(s: &std::net::TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this test owns, with a valid struct and its size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_LINGER");
}
