//! kill -9 at random points of provisioning and factory reset: the configuration in the
//! file flash always loads whole, or is cleanly absent.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use common::{ap_connect, request, start, Rng};

const CYCLES: u64 = 200;

/// The username in the next CONNECT sent to `l` within 3 s. Connections left in the
/// backlog by plugs killed before their CONNECT are skipped.
fn connect_username(l: &TcpListener) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    l.set_nonblocking(true).ok()?;
    while std::time::Instant::now() < deadline {
        let Ok((mut s, _)) = l.accept() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        s.set_nonblocking(false).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        let mut buf = vec![0u8; 512];
        let n = s.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let user = text
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
            .find(|w| w.starts_with("user-"));
        if let Some(u) = user {
            return Some(u.to_string());
        }
    }
    None
}

#[test]
fn kill_9_at_random_points_never_corrupts_the_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TcpListener::bind("127.0.0.1:0").expect("fake broker");
    let port = broker.local_addr().expect("addr").port();
    let mut rng = Rng(0xdead_beef_0000_0042);
    // Usernames ever accepted by a 4003; the stored one must be one of them.
    let mut written: Vec<String> = Vec::new();
    let (mut loaded, mut absent) = (0, 0);
    for cycle in 0..CYCLES {
        let mut sim = start(dir.path(), &["--time-scale", "100"]);
        let boot = sim.wait_console(" boot ");
        if boot.contains("configured=yes") {
            loaded += 1;
            let user = connect_username(&broker).expect("a configured plug connects to its broker");
            assert!(
                written.contains(&user),
                "cycle {cycle}: stored username {user} was never written"
            );
            // Factory reset by a 10 s button hold (0.1 s at this scale), killed at a random point.
            sim.control("button down");
            std::thread::sleep(Duration::from_millis(90 + rng.below(20)));
        } else {
            absent += 1;
            let mut s = ap_connect(sim.ap);
            let user = format!("user-{cycle}");
            let m = format!(
                r#"{{"header":4002,"host":"127.0.0.1","port":{port},"connect_mode":0,"username":"{user}","password":"p","keepalive":60,"qos":1,"clean_session":1}}"#
            );
            assert!(request(&mut s, m.as_bytes()).contains(r#""code":0"#));
            written.push(user);
            let w = br#"{"header":4003,"wifi_ssid":"n","wifi_pwd":"p","wifi_security":3}"#;
            std::io::Write::write_all(&mut s, w).expect("write 4003");
            std::thread::sleep(Duration::from_micros(rng.below(3000)));
        }
        // Power loss, as hard as it gets.
        let _ = sim.child.kill();
        let _ = sim.child.wait();
        let mut rest = String::new();
        let _ = sim.console.read_to_string(&mut rest);
        assert!(!rest.contains("config-unreadable"), "cycle {cycle}: {rest}");
    }
    println!("{CYCLES} cycles: configuration loaded {loaded} times, absent {absent} times");
    assert!(
        loaded > 20 && absent > 20,
        "both paths exercised: loaded {loaded}, absent {absent}"
    );
}
