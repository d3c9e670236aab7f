//! A labgrid lab on loopback for one test: a coordinator, ser2net serving ptys over RFC
//! 2217, an exporter publishing them as `NetworkSerialPort` resources, and a place matching
//! them. Every process is started here, bound to 127.0.0.1 only, and killed on drop; every
//! wait has a deadline.
#![allow(dead_code)]

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The programs the lab needs, or the first one missing.
pub fn missing_tools() -> Option<String> {
    let on_path = |p: &str| {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
    };
    for t in ["labgrid-client", "labgrid-coordinator", "labgrid-exporter"] {
        if !on_path(t) {
            return Some(format!("{t} is not on PATH (pip install labgrid)"));
        }
    }
    if !on_path("ser2net") && !Path::new("/usr/sbin/ser2net").is_file() {
        return Some("ser2net is not installed (apt-get install ser2net)".into());
    }
    None
}

/// A child process with its output in a log file, killed when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn start(name: &str, mut cmd: Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("log"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            name: name.into(),
            child,
            log,
        }
    }

    pub fn tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Panics with the log if the process has already exited.
    pub fn check_alive(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!("{} exited ({st}):\n{}", self.name, self.tail());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback (bound and released: the lab's processes take it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits until `port` on loopback accepts a connection.
pub fn wait_listening(port: u16, proc: &mut Proc, within: Duration) {
    let started = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        proc.check_alive();
        assert!(
            started.elapsed() < within,
            "{} is not listening on {addr} after {within:?}:\n{}",
            proc.name,
            proc.tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One serial port of the bench: its resource name, the pty ser2net opens, its speed.
pub struct Port {
    pub name: &'static str,
    pub pty: String,
    pub baud: u32,
}

pub struct Lab {
    pub coordinator: String,
    pub place: String,
    /// Resource name -> the TCP port ser2net serves it on.
    pub served: Vec<(&'static str, u16)>,
    // Dropped in reverse: exporter, coordinator, ser2net.
    _ser2net: Proc,
    _coordinator: Proc,
    _exporter: Proc,
}

/// labgrid-client against the lab's coordinator, with a deadline.
pub fn client(coordinator: &str, args: &[&str]) -> (bool, String) {
    let mut child = Command::new("labgrid-client")
        .env("LG_COORDINATOR", coordinator)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("labgrid-client starts");
    let started = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("labgrid-client {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("labgrid-client output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

impl Lab {
    /// Starts the lab in `dir` and creates `place` with `ports` (and `tags`).
    pub fn start(dir: &Path, place: &str, ports: &[Port], tags: &[&str]) -> Lab {
        // ser2net: one RFC 2217 accepter per pty, on loopback only.
        let mut yaml = String::new();
        let mut served = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let tcp = free_port();
            served.push((p.name, tcp));
            yaml.push_str(&format!(
                "connection: &con{i}\n  accepter: telnet(rfc2217),tcp,127.0.0.1,{tcp}\n  connector: serialdev(nouucplock=true),{},{}n81,local\n  options:\n    kickolduser: true\n",
                p.pty, p.baud
            ));
        }
        let conf = dir.join("ser2net.yaml");
        std::fs::write(&conf, &yaml).expect("ser2net.yaml");
        let ser2net_bin = if Path::new("/usr/sbin/ser2net").is_file() {
            "/usr/sbin/ser2net"
        } else {
            "ser2net"
        };
        let mut cmd = Command::new(ser2net_bin);
        cmd.arg("-n")
            .arg("-c")
            .arg(&conf)
            .arg("-P")
            .arg(dir.join("ser2net.pid"));
        let mut ser2net = Proc::start("ser2net", cmd, dir);
        for (_, tcp) in &served {
            wait_listening(*tcp, &mut ser2net, Duration::from_secs(10));
        }

        let coord_port = free_port();
        let coordinator = format!("127.0.0.1:{coord_port}");
        let coord_dir = dir.join("coordinator");
        std::fs::create_dir_all(&coord_dir).expect("coordinator dir");
        let mut cmd = Command::new("labgrid-coordinator");
        cmd.args(["--listen", &coordinator]).current_dir(&coord_dir);
        let mut coord = Proc::start("labgrid-coordinator", cmd, dir);
        wait_listening(coord_port, &mut coord, Duration::from_secs(30));

        // The exporter publishes ser2net's ports as they are (NetworkSerialPort): on a bench
        // it would run ser2net itself for USBSerialPort resources, on all addresses.
        let mut exp = String::from("bench:\n");
        for ((name, tcp), p) in served.iter().zip(ports) {
            exp.push_str(&format!(
                "  {name}:\n    cls: NetworkSerialPort\n    host: 127.0.0.1\n    port: {tcp}\n    speed: {}\n",
                p.baud
            ));
        }
        let exp_conf = dir.join("exporter.yaml");
        std::fs::write(&exp_conf, exp).expect("exporter.yaml");
        let mut cmd = Command::new("labgrid-exporter");
        cmd.args([
            "--coordinator",
            &coordinator,
            "--name",
            "plugrig-test-exporter",
            "--hostname",
            "127.0.0.1",
        ])
        .arg(&exp_conf);
        let mut exporter = Proc::start("labgrid-exporter", cmd, dir);

        let run = |args: &[&str]| {
            let (ok, out) = client(&coordinator, args);
            assert!(ok, "labgrid-client {args:?}: {out}");
        };
        run(&["-p", place, "create"]);
        run(&[
            "-p",
            place,
            "add-match",
            "plugrig-test-exporter/bench/NetworkSerialPort/*",
        ]);
        let mut set_tags = vec!["-p", place, "set-tags"];
        set_tags.extend(tags);
        if !tags.is_empty() {
            run(&set_tags);
        }
        // Ready when the coordinator lists every resource of the exporter for the place.
        let started = Instant::now();
        loop {
            let (_, out) = client(&coordinator, &["-p", place, "show"]);
            if ports
                .iter()
                .all(|p| out.contains(&format!("Matching resource '{}'", p.name)))
            {
                break;
            }
            exporter.check_alive();
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the exporter's resources did not reach the place within 30 s:\n{out}\n{}",
                exporter.tail()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        Lab {
            coordinator,
            place: place.into(),
            served,
            _ser2net: ser2net,
            _coordinator: coord,
            _exporter: exporter,
        }
    }

    /// `labgrid-client -p PLACE show`.
    pub fn show(&self) -> String {
        client(&self.coordinator, &["-p", &self.place, "show"]).1
    }

    /// Who holds the place (`acquired: host/user`), if anyone.
    pub fn holder(&self) -> Option<String> {
        self.show()
            .lines()
            .find_map(|l| l.strip_prefix("  acquired: "))
            .filter(|h| *h != "None")
            .map(str::to_string)
    }
}

/// Writes an executable script.
pub fn script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::File::create(path).expect("script");
    f.write_all(text.as_bytes()).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
