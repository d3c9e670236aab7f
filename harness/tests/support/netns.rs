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
