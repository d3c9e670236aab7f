//! The board's share of the test switches, through the real process: `--variant` parsing,
//! the console format, the AP listener that stays open, and the OTA path (slots, version
//! after the restart) with the vendor image and the `ota-keeps-version` fault.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::{ap_connect, request};

/// plug-sim with its console read by a thread, so a wait times out even when no line comes.
struct Plug {
    child: Child,
    ap: SocketAddr,
    control: SocketAddr,
    lines: Receiver<String>,
}

impl Drop for Plug {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(state: &Path, extra: &[&str]) -> Plug {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plug-sim"))
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("plug-sim starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ready = String::new();
    out.read_line(&mut ready).expect("ready line");
    let field = |k: &str| -> SocketAddr {
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {ready:?}"))
    };
    let (ap, control) = (field("ap="), field("control="));
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for l in out.lines() {
            let Ok(l) = l else { return };
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    Plug {
        child,
        ap,
        control,
        lines,
    }
}

impl Plug {
    /// Console lines up to and including the first one containing `needle` (10 s).
    fn wait_line(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(l) = self.lines.recv_timeout(left) else {
                break;
            };
            let hit = l.contains(needle);
            seen.push(l);
            if hit {
                return seen;
            }
        }
        panic!("no console line with {needle:?} in {seen:?}");
    }

    fn control(&self, cmd: &str) {
        let mut s = TcpStream::connect(self.control).expect("control channel");
        s.write_all(format!("{cmd}\n").as_bytes()).expect("write");
        let mut r = String::new();
        BufReader::new(s).read_line(&mut r).expect("reply");
        assert!(r.starts_with("ok"), "{cmd}: {r}");
    }

    /// 4002 towards `broker` at QoS 0, then 4003, on one connection.
    fn provision(&self, broker: u16) {
        let mut s = ap_connect(self.ap);
        let m = format!(
            r#"{{"header":4002,"host":"127.0.0.1","port":{broker},"connect_mode":0,"username":"u","password":"p","keepalive":60,"qos":0,"clean_session":1}}"#
        );
        assert!(request(&mut s, m.as_bytes()).contains(r#""code":0"#));
        let w = br#"{"header":4003,"wifi_ssid":"n","wifi_pwd":"p","wifi_security":3}"#;
        assert!(request(&mut s, w).contains(r#""code":0"#));
    }
}

#[test]
fn an_unknown_variant_is_refused_with_the_known_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_plug-sim"))
        .arg("--state-dir")
        .arg(dir.path())
        .args(["--variant", "slow-tick", "--variant", "fast-tick"])
        .output()
        .expect("plug-sim runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--variant fast-tick: no such variation") && err.contains("slow-tick"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no ready line: {:?}", out.stdout);
}

#[test]
fn console_format_prints_the_other_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plug = start(
        dir.path(),
        &["--variant", "console-format", "--firmware-version", "v2.3.0"],
    );
    let boot = plug.wait_line("BOOT");
    assert_eq!(
        boot.last().map(String::as_str),
        Some("*** BOOT plug-sim v2.3.0 ***")
    );
    // A short press (under 2 s) toggles the relay.
    plug.control("button press 100");
    let mut lines = plug.wait_line("RELAY");
    let relay = lines.last().cloned().unwrap_or_default();
    let (stamp, rest) = relay.split_once("] ").expect("[uptime] prefix");
    assert!(
        stamp.strip_prefix('[').is_some_and(|n| n.parse::<u64>().is_ok()),
        "{relay}"
    );
    assert_eq!(rest, "RELAY -> ON");
    lines.extend(boot);
    for l in &lines {
        assert!(!l.contains("relay state=") && !l.contains("boot fw="), "{l}");
    }
}

/// Connects to the AP port and reports what came back: None if the connection was
/// refused, else the bytes read before the plug closed it.
fn ap_answer(addr: SocketAddr) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let _ = s.write_all(br#"{"header":4001}"#);
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    Some(got)
}

#[test]
fn ap_stays_open_closes_station_mode_connections_unanswered() {
    let broker = TcpListener::bind("127.0.0.1:0").expect("broker port");
    let port = broker.local_addr().expect("addr").port();
    for stays_open in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let args: &[&str] = if stays_open {
            &["--time-scale", "100", "--variant", "ap-stays-open"]
        } else {
            &["--time-scale", "100"]
        };
        let plug = start(dir.path(), args);
        plug.provision(port);
        plug.wait_line("mode=station");
        // The core closes the listener's connections after the 4003 reply.
        std::thread::sleep(Duration::from_millis(100));
        let got = ap_answer(plug.ap);
        if stays_open {
            assert_eq!(got, Some(Vec::new()), "accepted, closed, no reply");
            // A factory reset (10 s hold at scale 100) and provisioning is served again.
            plug.control("button down");
            plug.wait_line("mode=ap");
            plug.control("button up");
            let mut s = ap_connect(plug.ap);
            assert!(request(&mut s, br#"{"header":4001}"#).contains(r#""code":0"#));
        } else {
            assert_eq!(got, None, "the default closes the listener");
        }
    }
}

/// The broker end of one plug session: CONNECT read, CONNACK sent.
struct Session(TcpStream, Vec<u8>);

fn accept_session(l: &TcpListener) -> Session {
    l.set_nonblocking(false).expect("blocking");
    let (s, _) = l.accept().expect("the plug connects");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut session = Session(s, Vec::new());
    session.wait_for(b"MQTT");
    session.0.write_all(&[0x20, 2, 0, 0]).expect("CONNACK");
    session
}

impl Session {
    /// Reads until what the plug sent contains `needle` (15 s), then forgets it all.
    fn wait_for(&mut self, needle: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if self.1.windows(needle.len()).any(|w| w == needle) {
                self.1.clear();
                return;
            }
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.1.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        panic!(
            "the plug never sent {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&self.1)
        );
    }

    /// A QoS 0 PUBLISH from the app on `{prefix}/app/{field}`.
    fn app_publishes(&mut self, field: &str, payload: &str) {
        let topic = format!("iot_plug/plug_one/us/11:22:33:44:55:66/app/{field}");
        let mut body = (topic.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(topic.as_bytes());
        body.extend_from_slice(payload.as_bytes());
        let mut p = vec![0x30];
        let mut n = body.len();
        loop {
            let b = (n % 128) as u8;
            n /= 128;
            p.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        p.extend_from_slice(&body);
        self.0.write_all(&p).expect("PUBLISH");
    }

    fn firmware_version(&mut self, v: &str) {
        self.app_publishes("read_firmware_infor", "");
        self.wait_for(format!(r#""firmware_version":"{v}""#).as_bytes());
    }
}

/// Serves `image` once; returns the path the plug asked for.
fn serve_once(image: Vec<u8>) -> (u16, std::thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("http port");
    let port = l.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("the plug fetches");
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let _ = write!(s, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", image.len());
        let _ = s.write_all(&image);
        head.split_whitespace().nth(1).unwrap_or("").to_string()
    });
    (port, h)
}

fn plugrig_image(version: &str) -> Vec<u8> {
    let body = vec![0x5A; 5000];
    let mut v = plug_core::ota::image::Header::for_body("sim", version, &body)
        .expect("header")
        .encode()
        .to_vec();
    v.extend_from_slice(&body);
    v
}

/// Built from the format's description in plug-core's `vendor_image`, by hand.
fn vendor_image(version: &str) -> Vec<u8> {
    let body = vec![0xC3; 5000];
    let mut v = b"VNDR".to_vec();
    v.push(version.len() as u8);
    v.extend_from_slice(version.as_bytes());
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend_from_slice(&body);
    let crc = plug_core::ota::image::crc32(&v);
    v.extend_from_slice(&crc.to_le_bytes());
    v
}

/// Provisions, upgrades to `image`, and checks the versions before and after the restart.
/// Returns the plug, running on its new image.
fn upgrade(
    args: &[&str],
    image: Vec<u8>,
    path: &str,
    before: &str,
    after: &str,
) -> (tempfile::TempDir, Plug) {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = TcpListener::bind("127.0.0.1:0").expect("broker port");
    let plug = start(dir.path(), args);
    plug.provision(broker.local_addr().expect("addr").port());
    let mut s = accept_session(&broker);
    s.wait_for(b"read_firmware_infor");
    s.firmware_version(before);
    let (http, server) = serve_once(image);
    s.app_publishes(
        "upgrade",
        &format!(r#"{{"type":0,"realm":"127.0.0.1","port":{http},"catalogue":"fw/"}}"#),
    );
    s.wait_for(br#"{"ota_result":"R1"}"#);
    assert_eq!(server.join().expect("http thread"), path);
    // The restart: a new session, on the new image.
    let mut s = accept_session(&broker);
    s.wait_for(b"switch_state");
    s.firmware_version(after);
    (dir, plug)
}

#[test]
fn ota_reports_the_new_version_after_the_restart() {
    upgrade(
        &["--time-scale", "10"],
        plugrig_image("000002"),
        "/fw/plug-sim.bin",
        "000001",
        "000002",
    );
}

#[test]
fn vendor_image_installs_and_reports_its_version() {
    upgrade(
        &[
            "--time-scale",
            "10",
            "--variant",
            "vendor-image",
            "--firmware-version",
            "v2.3.0",
        ],
        vendor_image("v2.4.0"),
        "/fw/vendor-fw.img",
        "v2.3.0",
        "v2.4.0",
    );
}

#[test]
fn ap_stays_open_across_the_restart_after_an_upgrade() {
    let (_dir, plug) = upgrade(
        &["--time-scale", "10", "--variant", "ap-stays-open"],
        plugrig_image("000002"),
        "/fw/plug-sim.bin",
        "000001",
        "000002",
    );
    assert_eq!(ap_answer(plug.ap), Some(Vec::new()));
}

#[test]
fn ota_keeps_version_reports_the_old_one_after_the_restart() {
    upgrade(
        &["--time-scale", "10", "--fault", "ota-keeps-version"],
        plugrig_image("000002"),
        "/fw/plug-sim.bin",
        "000001",
        "000001",
    );
}
