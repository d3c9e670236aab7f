//! The virtual bench's own tests (network namespaces, so root and iproute2's `ip netns`):
//! its routes, the plug-sim reachable at its real AP address 192.168.4.1:8266 from the
//! rig's namespace, nothing outside the bench reachable, and teardown on drop and panic.

#[path = "support/netns.rs"]
mod netns;
#[path = "support/standin.rs"]
mod standin;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use netns::{Ns, VirtualBench, AP_PORT, PLUG_AP, PLUG_HOME, RIG_AP, RIG_HOME};
use standin::plug_sim_binary;

/// A child killed and waited for when dropped, so before the bench declared before it.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_rig_namespace_reaches_the_plug_sim_at_its_ap_address() {
    let bin = plug_sim_binary();
    let bench = VirtualBench::create("reach").expect("virtual bench");
    bench.check_routes().expect("bench routes");
    for ns in [Ns::Plug, Ns::Rig] {
        let default = bench
            .ip(ns, ["route", "show", "default"])
            .expect("ip route show default");
        assert_eq!(default.trim(), "", "{ns:?} has a default route");
    }

    let state = tempfile::tempdir().expect("tempdir");
    let mut sim = Killed(
        bench
            .command(Ns::Plug, &bin)
            .arg("--ap")
            .arg(format!("{PLUG_AP}:{AP_PORT}"))
            .arg("--control")
            .arg(format!("{PLUG_HOME}:7000"))
            .arg("--state-dir")
            .arg(state.path())
            .args(["--time-scale", "10", "--console", "stdout"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("plug-sim starts in the plug namespace"),
    );
    let mut out = BufReader::new(sim.0.stdout.take().expect("stdout"));
    let mut ready = String::new();
    out.read_line(&mut ready).expect("ready line");
    assert!(
        ready.contains(&format!("ap={PLUG_AP}:{AP_PORT}"))
            && ready.contains(&format!("control={PLUG_HOME}:7000")),
        "plug-sim's ready line: {ready:?}"
    );
    // The console keeps printing: drain it so plug-sim never blocks on a full pipe.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });

    // The app's first words to a plug, from the rig's side of the AP network; read until
    // the reply's closing braces (the plug keeps the connection open).
    let script = format!(
        r#"exec 3<>/dev/tcp/{PLUG_AP}/{AP_PORT} || exit 1
printf %s '{{"header":4001}}' >&3
r=
while IFS= read -r -N1 -t 3 c <&3; do r+=$c; [[ $r == *'}}}}' ]] && break; done
printf %s "$r""#
    );
    let reply = bench
        .command(Ns::Rig, "bash")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("bash runs in the rig namespace");
    let text = String::from_utf8_lossy(&reply.stdout);
    assert!(
        reply.status.success() && text.contains(r#""code":0"#) && text.contains(r#""header":4001"#),
        "4001 from {RIG_AP} to {PLUG_AP}:{AP_PORT}: {} stdout {text:?} stderr {:?}",
        reply.status,
        String::from_utf8_lossy(&reply.stderr)
    );

    // The home network too: plug-sim's control channel at 10.77.0.2:7000 from 10.77.0.1.
    let ping = bench
        .command(Ns::Rig, "bash")
        .args([
            "-c",
            &format!("exec 3<>/dev/tcp/{PLUG_HOME}/7000 && echo 'power on' >&3 && timeout 3 head -1 <&3"),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("bash runs in the rig namespace");
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(
        text.starts_with("ok"),
        "control from {RIG_HOME}: {} {text:?} {:?}",
        ping.status,
        String::from_utf8_lossy(&ping.stderr)
    );

    drop(sim);
    drop(bench);
}

#[test]
fn nothing_outside_the_bench_is_routable() {
    let bench = VirtualBench::create("noroute").expect("virtual bench");
    for ns in [Ns::Plug, Ns::Rig] {
        // A route lookup only: the kernel answers from the tables, nothing is sent.
        for outside in ["1.1.1.1", "8.8.8.8", "172.17.0.1", "2606:4700:4700::1111"] {
            let got = bench.ip(ns, ["route", "get", outside]);
            assert!(got.is_err(), "{ns:?} has a route to {outside}: {got:?}");
        }
        let links = bench.ip(ns, ["-o", "link", "show"]).expect("ip link");
        let mut names: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n))
            .collect();
        names.sort_unstable();
        let mut want = vec!["lo"];
        want.extend(ns.links());
        want.sort_unstable();
        assert_eq!(names, want, "{ns:?}'s links");
    }
    // Inside the bench, both subnets are on link.
    let ap = bench
        .ip(Ns::Rig, ["route", "get", &PLUG_AP.to_string()])
        .expect("rig routes to the plug's AP address");
    assert!(ap.contains("dev rig-ap"), "{ap}");
    let home = bench
        .ip(Ns::Plug, ["route", "get", &RIG_HOME.to_string()])
        .expect("plug routes to the rig's home address");
    assert!(home.contains("dev plug-home"), "{home}");
}

#[test]
fn a_route_out_is_refused() {
    let bench = VirtualBench::create("refuse").expect("virtual bench");
    // Harmless here (the only way is to the plug's namespace), but not allowed.
    bench
        .ip(Ns::Rig, ["route", "add", "default", "via", &PLUG_AP.to_string()])
        .expect("add a default route");
    let err = bench.check_routes().expect_err("a default route is refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(bench.name(Ns::Rig)) && msg.contains("default via 192.168.4.1"),
        "{msg}"
    );
}

fn listed(name: &str) -> bool {
    netns::list_namespaces()
        .expect("ip netns list")
        .iter()
        .any(|n| n == name)
}

#[test]
fn dropping_the_bench_deletes_its_namespaces() {
    let bench = VirtualBench::create("drop").expect("virtual bench");
    let names = [bench.name(Ns::Plug).to_string(), bench.name(Ns::Rig).to_string()];
    assert!(names.iter().all(|n| listed(n)), "{names:?} after create");
    // A process left running inside is killed, not leaked with the namespace.
    let mut sleeper = bench
        .command(Ns::Plug, "sleep")
        .arg("60")
        .spawn()
        .expect("sleep in the plug namespace");
    // `ip netns exec` enters the namespace after the spawn returns: drop the bench only
    // once the sleeper is inside (a process not yet inside is not the bench's to kill).
    let pid = sleeper.id().to_string();
    let inside = || {
        std::process::Command::new("ip")
            .args(["netns", "pids", &names[0]])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == pid)
            })
            .unwrap_or(false)
    };
    let waiting = std::time::Instant::now();
    while !inside() {
        assert!(
            waiting.elapsed() < std::time::Duration::from_secs(10),
            "sleep (pid {pid}) never entered {}",
            names[0]
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(bench);
    assert!(names.iter().all(|n| !listed(n)), "{names:?} after drop");
    let status = sleeper.wait().expect("wait for sleep");
    assert!(!status.success(), "sleep was killed: {status}");
}

#[test]
fn a_panic_still_tears_the_bench_down() {
    let names = std::sync::Mutex::new(Vec::new());
    let r = std::panic::catch_unwind(|| {
        let bench = VirtualBench::create("panic").expect("virtual bench");
        names
            .lock()
            .expect("lock")
            .extend([bench.name(Ns::Plug).to_string(), bench.name(Ns::Rig).to_string()]);
        panic!("a test fails with the bench up");
    });
    assert!(r.is_err());
    let names = names.into_inner().expect("lock");
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| !listed(n)), "{names:?} after the panic");
}

#[test]
fn namespaces_left_by_a_killed_run_are_cleaned_up() {
    // A pid above any pid_max: that process cannot be alive.
    let stale = "plugrig-stale-999999999-plug";
    let out = std::process::Command::new("ip")
        .args(["netns", "add", stale])
        .output()
        .expect("ip netns add");
    assert!(out.status.success(), "{out:?}");
    let bench = VirtualBench::create("stale").expect("virtual bench");
    assert!(!listed(stale), "{stale} is still there");
    assert!(listed(bench.name(Ns::Plug)));
}
