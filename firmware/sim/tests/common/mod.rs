//! Starting plug-sim for a test, with blocking std I/O.
// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

pub struct Sim {
    pub child: Child,
    pub ap: SocketAddr,
    pub control: SocketAddr,
    pub console: BufReader<ChildStdout>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(state: &Path, extra: &[&str]) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plug-sim"))
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("plug-sim starts");
    let mut console = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ready = String::new();
    console.read_line(&mut ready).expect("ready line");
    let field = |k: &str| -> SocketAddr {
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {ready:?}"))
    };
    let (ap, control) = (field("ap="), field("control="));
    Sim {
        child,
        ap,
        control,
        console,
    }
}

impl Sim {
    /// Reads console lines until one contains `needle`; panics after 10 s.
    pub fn wait_console(&mut self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut line = String::new();
        while std::time::Instant::now() < deadline {
            line.clear();
            if self.console.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if line.contains(needle) {
                return line;
            }
        }
        panic!("no console line with {needle:?}");
    }

    pub fn control(&self, cmd: &str) -> String {
        let mut s = TcpStream::connect(self.control).expect("control channel");
        s.write_all(format!("{cmd}\n").as_bytes()).expect("write");
        let mut r = String::new();
        BufReader::new(s).read_line(&mut r).expect("reply");
        r
    }
}

/// Connects to the AP socket, retrying while it comes up.
pub fn ap_connect(addr: SocketAddr) -> TcpStream {
    for _ in 0..200 {
        if let Ok(s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
            s.set_nodelay(true).expect("nodelay");
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("AP socket {addr} never accepted");
}

/// Sends one request in one write and reads one reply (the plug replies in one write).
pub fn request(s: &mut TcpStream, req: &[u8]) -> String {
    s.write_all(req).expect("write");
    read_reply(s)
}

pub fn read_reply(s: &mut TcpStream) -> String {
    let mut buf = [0u8; 2048];
    let n = s.read(&mut buf).expect("reply");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A deterministic generator (xorshift64*): the same inputs on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
