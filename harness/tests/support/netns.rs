//! The virtual bench: two Linux network namespaces a test creates for itself (needs root
//! and iproute2's `ip netns`), so a simulated plug can sit at its real AP address
//! 192.168.4.1:8266 while plugrig runs next to it, as on a bench with a real plug.
//!
//! ```text
//!   plugrig-<tag>-<pid>-plug                      plugrig-<tag>-<pid>-rig
//!   plug-ap    192.168.4.1/24  <-- veth -->  rig-ap    192.168.4.2/24   (the plug's AP)
//!   plug-home  10.77.0.2/24    <-- veth -->  rig-home  10.77.0.1/24     (the home network)
//!   lo up                                    lo up
//! ```
//!
//! No route out: each namespace holds only `lo` and its ends of the two veth pairs, whose
//! other ends are in the other namespace, and no default route. [`VirtualBench::check_routes`]
//! verifies that (every IPv4/IPv6 route of the main table is a connected link route of
//! the two /24 subnets on the bench's own links, an IPv6 link-local route on them, or a
//! loopback route) before [`VirtualBench::create`] returns, so before the first packet;
//! anything else is refused with the namespace and the offending route in the error.
//!
//! Use: `#[path = "support/netns.rs"] mod netns;`, then `VirtualBench::create("tag")`, and
//! start programs in a namespace with [`VirtualBench::command`] (`ip netns exec NAME ...`).
//! Tags must be unique among the benches alive at once in one process.
//!
//! Teardown: dropping the bench (also during a panic's unwind) kills any process still
//! inside either namespace and deletes both namespaces, which removes the veth pairs.
//! Callers should kill and wait for their own children before the drop. A run killed
//! before its drop leaves `plugrig-<tag>-<pid>-*` behind; [`cleanup_stale`], called by
//! `create`, deletes those whose pid is no longer alive (and kills what runs in them).
#![allow(dead_code)]

use std::collections::HashSet;
use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context};

/// The plug's address on its own access point.
pub const PLUG_AP: Ipv4Addr = Ipv4Addr::new(192, 168, 4, 1);
/// The rig's address after joining the plug's access point.
pub const RIG_AP: Ipv4Addr = Ipv4Addr::new(192, 168, 4, 2);
/// The plug's address on the home network.
pub const PLUG_HOME: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The rig's address on the home network (where its broker listens).
pub const RIG_HOME: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The plug's provisioning port on its AP address.
pub const AP_PORT: u16 = 8266;

const AP_SUBNET: &str = "192.168.4.0/24";
const HOME_SUBNET: &str = "10.77.0.0/24";
const PREFIX: &str = "plugrig";

/// One side of the bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ns {
    /// Where the (simulated) plug runs.
    Plug,
    /// Where plugrig and its broker run.
    Rig,
}

impl Ns {
    /// The bench's links in this namespace: (AP network, home network).
    pub fn links(self) -> [&'static str; 2] {
        match self {
            Ns::Plug => ["plug-ap", "plug-home"],
            Ns::Rig => ["rig-ap", "rig-home"],
        }
    }
}

/// Namespaces created by this process and not yet deleted: `cleanup_stale` leaves them
/// alone, everything else with this process's pid is a leftover of an earlier process.
static LIVE: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn live<R>(f: impl FnOnce(&mut HashSet<String>) -> R) -> R {
    let mut g = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(HashSet::new))
}

/// Two namespaces joined by the AP and home networks; deleted on drop.
#[derive(Debug)]
pub struct VirtualBench {
    plug: String,
    rig: String,
    /// The namespaces this bench added (so far), which drop deletes.
    owned: Vec<String>,
}

fn needs_root(detail: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("the virtual bench needs root and iproute2's ip netns: {detail}")
}

/// `ip ARGS`; its stdout, or an error with its stderr.
fn ip<I, S>(args: I) -> anyhow::Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("ip");
    cmd.args(args).stdin(Stdio::null());
    let shown = format!("{cmd:?}");
    let out: Output = cmd.output().with_context(|| format!("running {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("{shown}: output is not UTF-8"))
}

/// The namespaces `ip netns list` shows.
pub fn list_namespaces() -> anyhow::Result<Vec<String>> {
    Ok(ip(["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// The pids of the processes inside a namespace.
fn pids_in(ns: &str) -> Vec<i32> {
    ip(["netns", "pids", ns])
        .map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

fn kill_all_in(ns: &str) -> Vec<i32> {
    let pids = pids_in(ns);
    for &p in &pids {
        // SAFETY: kill(2) with a pid read from `ip netns pids`; no memory is involved.
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
    }
    pids
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes the namespaces `plugrig-<tag>-<pid>-{plug,rig}` left by earlier runs: those
/// whose pid is no longer alive, and those with this process's pid that this process did
/// not create (an earlier process that had the same pid). Processes still inside them are
/// killed first. Returns the names deleted.
pub fn cleanup_stale(tag: &str) -> anyhow::Result<Vec<String>> {
    let me = std::process::id();
    let head = format!("{PREFIX}-{tag}-");
    let mut deleted = Vec::new();
    for name in list_namespaces().map_err(needs_root)? {
        let Some(rest) = name.strip_prefix(&head) else {
            continue;
        };
        let Some(pid) = rest
            .strip_suffix("-plug")
            .or_else(|| rest.strip_suffix("-rig"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let stale = if pid == me {
            !live(|l| l.contains(&name))
        } else {
            !pid_alive(pid)
        };
        if !stale {
            continue;
        }
        kill_all_in(&name);
        ip(["netns", "del", name.as_str()]).with_context(|| format!("deleting stale namespace {name}"))?;
        deleted.push(name);
    }
    Ok(deleted)
}

/// Is this route one the bench allows? `devs` are the bench's links in that namespace.
fn route_allowed(route: &str, v6: bool, devs: [&str; 2]) -> bool {
    let words: Vec<&str> = route.split_whitespace().collect();
    let Some(&dest) = words.first() else {
        return true;
    };
    if dest == "default" || words.contains(&"via") || words.contains(&"nexthop") {
        return false;
    }
    let dev = words
        .iter()
        .position(|w| *w == "dev")
        .and_then(|i| words.get(i + 1))
        .copied();
    match dev {
        Some("lo") => true,
        Some(d) if devs.contains(&d) => {
            if v6 {
                dest == "fe80::/64"
            } else {
                (dest == AP_SUBNET || dest == HOME_SUBNET) && words.contains(&"link")
            }
        }
        _ => false,
    }
}

impl VirtualBench {
    /// Creates the two namespaces, the AP and home veth pairs with their addresses, and
    /// checks the routes. Deletes stale namespaces of this tag first.
    pub fn create(tag: &str) -> anyhow::Result<VirtualBench> {
        if tag.is_empty()
            || tag.len() > 24
            || !tag
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            bail!("virtual bench tag {tag:?}: 1 to 24 of a-z, 0-9 and _");
        }
        // SAFETY: geteuid(2) has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(needs_root(format!("running as uid {euid}")));
        }
        cleanup_stale(tag)?;
        let pid = std::process::id();
        let mut bench = VirtualBench {
            plug: format!("{PREFIX}-{tag}-{pid}-plug"),
            rig: format!("{PREFIX}-{tag}-{pid}-rig"),
            owned: Vec::new(),
        };
        // On an error below, dropping `bench` deletes what was added so far.
        for name in [bench.plug.clone(), bench.rig.clone()] {
            ip(["netns", "add", name.as_str()]).map_err(needs_root)?;
            live(|l| l.insert(name.clone()));
            bench.owned.push(name);
        }
        let (plug, rig) = (bench.plug.clone(), bench.rig.clone());
        let [plug_ap, plug_home] = Ns::Plug.links();
        let [rig_ap, rig_home] = Ns::Rig.links();
        // Created directly inside the namespaces: no name is ever taken in the host's.
        for (p, r, p_addr, r_addr) in [
            (plug_ap, rig_ap, PLUG_AP, RIG_AP),
            (plug_home, rig_home, PLUG_HOME, RIG_HOME),
        ] {
            ip([
                "-n", &plug, "link", "add", p, "type", "veth", "peer", "name", r, "netns", &rig,
            ])
            .map_err(needs_root)?;
            ip(["-n", &plug, "addr", "add", &format!("{p_addr}/24"), "dev", p])?;
            ip(["-n", &rig, "addr", "add", &format!("{r_addr}/24"), "dev", r])?;
            ip(["-n", &plug, "link", "set", p, "up"])?;
            ip(["-n", &rig, "link", "set", r, "up"])?;
        }
        ip(["-n", &plug, "link", "set", "lo", "up"])?;
        ip(["-n", &rig, "link", "set", "lo", "up"])?;
        bench.check_routes()?;
        Ok(bench)
    }

    /// The namespace's name, for `ip -n NAME` or `ip netns exec NAME`.
    pub fn name(&self, ns: Ns) -> &str {
        match ns {
            Ns::Plug => &self.plug,
            Ns::Rig => &self.rig,
        }
    }

    /// Refuses unless, in both namespaces, there is no default route and every route
    /// (IPv4 and IPv6, main table) is a connected link route of the AP or home subnet on
    /// the bench's links, an IPv6 link-local route on them, or a loopback route.
    pub fn check_routes(&self) -> anyhow::Result<()> {
        for ns in [Ns::Plug, Ns::Rig] {
            let name = self.name(ns);
            for (family, v6) in [("-4", false), ("-6", true)] {
                let routes = ip(["-n", name, family, "route", "show"])?;
                if let Some(bad) = routes.lines().find(|r| !route_allowed(r, v6, ns.links())) {
                    bail!(
                        "virtual bench namespace {name}: route {:?} is not allowed \
                         (only the bench's own link routes, no default route, nothing out)",
                        bad.trim()
                    );
                }
            }
        }
        Ok(())
    }

    /// `ip netns exec NAME program`: add the program's arguments to it. The program
    /// replaces `ip` (same pid), so killing the child kills the program.
    pub fn command(&self, ns: Ns, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.name(ns)]).arg(program);
        cmd
    }

    /// `ip -n NAME ARGS`: its stdout, or an error with its stderr.
    pub fn ip<I, S>(&self, ns: Ns, args: I) -> anyhow::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["-n".into(), self.name(ns).into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        ip(all)
    }
}

/// Link conditions for `tc netem` on the bench's veth links, applied on every end so each
/// direction of both links gets them (the plug's AP network and its home network).
#[derive(Clone, Copy, Debug)]
pub struct Netem {
    /// One-way delay, milliseconds.
    pub delay_ms: f64,
    /// Its variation (netem's normal distribution's sigma), milliseconds.
    pub jitter_ms: f64,
    /// Packets dropped, percent.
    pub loss_percent: f64,
}

impl Netem {
    /// `tc qdisc` arguments after `netem`.
    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "delay".to_string(),
            format!("{}ms", self.delay_ms),
            format!("{}ms", self.jitter_ms),
            "distribution".into(),
            "normal".into(),
        ];
        if self.loss_percent > 0.0 {
            a.extend(["loss".to_string(), format!("{}%", self.loss_percent)]);
        }
        a
    }
}

impl VirtualBench {
    /// Puts `n` on the egress of all four veth ends (`tc -n NS qdisc replace ... netem`),
    /// then reads it back: the bench's links now delay, vary and drop as a radio link.
    pub fn netem(&self, n: Netem) -> anyhow::Result<()> {
        for ns in [Ns::Plug, Ns::Rig] {
            for dev in ns.links() {
                let mut cmd = Command::new("tc");
                cmd.args([
                    "-n",
                    self.name(ns),
                    "qdisc",
                    "replace",
                    "dev",
                    dev,
                    "root",
                    "netem",
                ])
                .args(n.args())
                .stdin(Stdio::null());
                let shown = format!("{cmd:?}");
                let out = cmd
                    .output()
                    .with_context(|| format!("running {shown} (iproute2's tc)"))?;
                if !out.status.success() {
                    bail!("{shown} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
                }
                let shown = Command::new("tc")
                    .args(["-n", self.name(ns), "qdisc", "show", "dev", dev])
                    .output()
                    .context("tc qdisc show")?;
                let text = String::from_utf8_lossy(&shown.stdout);
                if !text.contains("netem") {
                    bail!("no netem on {dev} in {}: {text}", self.name(ns));
                }
            }
        }
        Ok(())
    }
}

/// A radio link emulated in user space, for kernels without netem (this project's CI VM has
/// no `sch_netem`): a link's veth pair is replaced by two TUN devices with the same names
/// and addresses, one in each namespace, and this process carries every IP packet between
/// them, held for `Netem`'s delay (normal, never negative, order kept as a radio link
/// keeps it) or dropped at its loss rate, so TCP on both ends sees real loss and
/// retransmits. The draws come from a fixed seed: a run's link behaves the same each time.
pub struct LinkEmulator {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<(u64, u64)>>,
}

impl LinkEmulator {
    /// Stops carrying packets; (packets carried, packets dropped) over all directions.
    pub fn stop(mut self) -> (u64, u64) {
        self.halt()
    }

    fn halt(&mut self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut t = (0, 0);
        for h in self.threads.drain(..) {
            if let Ok((c, d)) = h.join() {
                t = (t.0 + c, t.1 + d);
            }
        }
        t
    }
}

impl Drop for LinkEmulator {
    fn drop(&mut self) {
        self.halt();
    }
}

/// A small deterministic generator (xorshift64*) with normal draws (Box-Muller).
struct Draw(u64);

impl Draw {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// `struct ifreq` as TUNSETIFF reads it: the name, the flags, the rest of the union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

/// Opens a TUN device `dev` inside namespace `ns` (a thread joins the namespace to create
/// it, so no name is taken in the host's); the descriptor works from any thread.
fn tun_in(ns: &str, dev: &str) -> anyhow::Result<std::fs::File> {
    let (ns, dev) = (ns.to_string(), dev.to_string());
    std::thread::spawn(move || -> anyhow::Result<std::fs::File> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let nsf =
            std::fs::File::open(format!("/var/run/netns/{ns}")).with_context(|| format!("namespace {ns}"))?;
        // SAFETY: setns(2) on this thread only, with a namespace descriptor we hold.
        if unsafe { libc::setns(nsf.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns {ns}: {}", std::io::Error::last_os_error());
        }
        // SAFETY: open(2) of a constant path; the descriptor is owned by the File below.
        let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            bail!("/dev/net/tun: {}", std::io::Error::last_os_error());
        }
        // SAFETY: fd was just opened and is owned by nothing else.
        let file = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut req = IfReq {
            name: [0; 16],
            flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        req.name[..dev.len()].copy_from_slice(dev.as_bytes());
        // SAFETY: TUNSETIFF reads and writes an ifreq-sized struct we own.
        if unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req) } != 0 {
            bail!("TUNSETIFF {dev} in {ns}: {}", std::io::Error::last_os_error());
        }
        Ok(file)
    })
    .join()
    .map_err(|_| anyhow!("the TUN thread panicked"))?
}

/// Carries packets from `from` to `to` as `n` says until `stop`; (carried, dropped).
fn carry(
    from: std::fs::File,
    to: std::fs::File,
    n: Netem,
    seed: u64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (u64, u64) {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    let stop_w = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut to = to;
        while !stop_w.load(Ordering::Relaxed) {
            let Ok((at, p)) = rx.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            let _ = to.write(&p);
        }
    });
    let (mut draw, mut from) = (Draw(seed | 1), from);
    let (mut carried, mut dropped) = (0, 0);
    let mut last = Instant::now();
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd: from.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one pollfd we own.
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        let Ok(len) = from.read(&mut buf) else {
            break;
        };
        if draw.unit() * 100.0 < n.loss_percent {
            dropped += 1;
            continue;
        }
        let delay = (n.delay_ms + n.jitter_ms * draw.normal()).max(0.0);
        let at = (Instant::now() + Duration::from_secs_f64(delay / 1e3)).max(last);
        last = at;
        carried += 1;
        if tx.send((at, buf[..len].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
    (carried, dropped)
}

impl VirtualBench {
    /// Replaces both links' veth pairs by [`LinkEmulator`] TUN pairs (same names and
    /// addresses), then checks the routes again.
    pub fn emulate_links(&self, n: Netem, seed: u64) -> anyhow::Result<LinkEmulator> {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut emu = LinkEmulator {
            stop: stop.clone(),
            threads: Vec::new(),
        };
        let [plug_ap, plug_home] = Ns::Plug.links();
        let [rig_ap, rig_home] = Ns::Rig.links();
        for (i, (p, r, p_addr, r_addr)) in [
            (plug_ap, rig_ap, PLUG_AP, RIG_AP),
            (plug_home, rig_home, PLUG_HOME, RIG_HOME),
        ]
        .into_iter()
        .enumerate()
        {
            // Deleting one end of a veth pair deletes both.
            self.ip(Ns::Plug, ["link", "del", p])?;
            let pt = tun_in(&self.plug, p)?;
            let rt = tun_in(&self.rig, r)?;
            self.ip(Ns::Plug, ["addr", "add", &format!("{p_addr}/24"), "dev", p])?;
            self.ip(Ns::Rig, ["addr", "add", &format!("{r_addr}/24"), "dev", r])?;
            self.ip(Ns::Plug, ["link", "set", p, "up"])?;
            self.ip(Ns::Rig, ["link", "set", r, "up"])?;
            let seed = seed.wrapping_add(i as u64 * 2);
            let (pt2, rt2) = (pt.try_clone()?, rt.try_clone()?);
            let s = stop.clone();
            emu.threads
                .push(std::thread::spawn(move || carry(pt, rt2, n, seed, s)));
            let s = stop.clone();
            emu.threads
                .push(std::thread::spawn(move || carry(rt, pt2, n, seed + 1, s)));
        }
        self.check_routes()?;
        Ok(emu)
    }
}

impl Drop for VirtualBench {
    fn drop(&mut self) {
        for name in self.owned.drain(..) {
            let killed = kill_all_in(&name);
            if !killed.is_empty() {
                eprintln!("virtual bench: killed processes {killed:?} still inside {name}");
            }
            if let Err(e) = ip(["netns", "del", name.as_str()]) {
                eprintln!("virtual bench: could not delete namespace {name}: {e:#}");
            }
            live(|l| l.remove(&name));
        }
    }
}
