//! The rig farm for real, on loopback: a labgrid coordinator, ser2net serving the bench's
//! instruments over RFC 2217, an exporter publishing them as one place, and `plugrig
//! --place` reserving it, taking its instruments from it, and releasing it.
//!
//! The bench: a stand-in plug (plug-sim driven as `kind = "external"`) with its console on a
//! pty; a virtual LCUS relay board whose channel 1 is the stand-in's mains; a virtual SDM120
//! reading the simulated plug on the bench (the metering scenarios need a simulated DUT,
//! which the rig pins to the control port the meter reads). All three ptys go through
//! ser2net, so the console, the relay and the Modbus frames all cross RFC 2217.
//!
//! Needs labgrid-client/-coordinator/-exporter (pip install labgrid) and ser2net (Debian);
//! without them it says so and returns, unless PLUGRIG_REQUIRE_FARM is set (`.ci/run`
//! installs them and sets it, so CI runs it for real).

#[path = "support/labgrid_lab.rs"]
mod labgrid_lab;
#[path = "support/standin.rs"]
mod standin;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use instruments::virtual_lcus::VirtualLcus;
use instruments::virtual_sdm120::VirtualSdm120;
use labgrid_lab::{free_port, missing_tools, script, Lab, Port};
use standin::{plug_sim_binary, StandIn};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use plugrig::sync::Locked;

const PLACE: &str = "plugrig-farm-test";
/// No plugrig run here may take longer (the console and metering scenarios take seconds).
const RUN: Duration = Duration::from_secs(300);

/// A plugrig process with its output lines, timestamped as they arrive.
struct Plugrig {
    name: String,
    child: Child,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Plugrig {
    fn start(name: &str, args: &[&str]) -> Plugrig {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plugrig"))
            .args(args)
            // The rig file names the lab's coordinator; a developer's own must not win.
            .env_remove("LG_COORDINATOR")
            .env_remove("LG_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("plugrig starts");
        let lines: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let pipes: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for pipe in pipes {
            let (lines, name) = (lines.clone(), name.to_string());
            std::thread::spawn(move || {
                for l in BufReader::new(pipe).lines().map_while(Result::ok) {
                    println!("[{name}] {l}");
                    lines.locked().push((Instant::now(), l));
                }
            });
        }
        Plugrig {
            name: name.into(),
            child,
            lines,
        }
    }

    fn output(&self) -> String {
        let lines = self.lines.locked();
        lines
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// When a line containing `text` arrived, waiting for it up to `within`.
    fn wait_line(&mut self, text: &str, within: Duration) -> Instant {
        let started = Instant::now();
        loop {
            let found = {
                let lines = self.lines.locked();
                lines.iter().find(|(_, l)| l.contains(text)).map(|(t, _)| *t)
            };
            if let Some(t) = found {
                return t;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200)); // the last lines
                let found = self.output().contains(text);
                assert!(
                    found,
                    "{} exited ({st}) without printing {text:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            assert!(
                started.elapsed() < within,
                "{}: no {text:?} within {within:?}:\n{}",
                self.name,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200)); // the last lines
                return st;
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                panic!(
                    "{} did not finish within {within:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill({}, {sig})", self.child.id());
    }
}

impl Drop for Plugrig {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One control-channel command to a plug-sim.
async fn control(addr: &str, cmd: &str) -> anyhow::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("{cmd}\n").as_bytes()).await?;
    let mut line = String::new();
    tokio::io::BufReader::new(s).read_line(&mut line).await?;
    Ok(line)
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).expect("write rig");
    path.display().to_string()
}

#[test]
fn plugrig_reserves_a_labgrid_place_and_runs_through_rfc2217() {
    if let Some(why) = missing_tools() {
        // CI installs them and sets PLUGRIG_REQUIRE_FARM: there, missing tools are a failure.
        assert!(
            std::env::var_os("PLUGRIG_REQUIRE_FARM").is_none(),
            "PLUGRIG_REQUIRE_FARM is set but {why}"
        );
        println!("SKIPPED rig_farm: {why}; .ci/run installs labgrid and ser2net");
        return;
    }
    let started = Instant::now();
    let sim = plug_sim_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _rt = rt.enter();

    // The bench's instruments.
    let args: Vec<String> = ["--time-scale", "10", "--console", "pty"]
        .map(String::from)
        .to_vec();
    let plug = StandIn::start(Command::new(&sim), &args);
    let console = plug.console.clone().expect("the stand-in's console pty");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
    let relay = VirtualLcus::start_wired(move |channel, state| {
        if channel == 1 {
            let _ = tx.send(state);
        }
    })
    .expect("virtual relay");
    let mains = plug.control.clone();
    // Relay channel 1 is the stand-in's mains lead (state 1 closes the contact).
    rt.spawn(async move {
        while let Some(state) = rx.recv().await {
            let cmd = if state == 1 { "power on" } else { "power off" };
            if let Err(e) = control(&mains, cmd).await {
                eprintln!("the relay could not switch the stand-in's mains: {e:#}");
            }
        }
    });
    let bench_control = free_port();
    let meter =
        VirtualSdm120::start(SocketAddr::from(([127, 0, 0, 1], bench_control)), 1).expect("virtual SDM120");

    let lab = Lab::start(
        dir.path(),
        PLACE,
        &[
            Port {
                name: "console",
                pty: console,
                baud: 115_200,
            },
            Port {
                name: "meter",
                pty: meter.path.clone(),
                baud: 9600,
            },
            Port {
                name: "relay",
                pty: relay.path.clone(),
                baud: 9600,
            },
        ],
        &["board=mk112", "meter=sdm120"],
    );
    println!(
        "rig_farm: lab up after {:.1} s: {:?}",
        started.elapsed().as_secs_f64(),
        lab.served
    );

    // The console rig: the stand-in as a bench plug, console and mains from the place.
    let farm = format!("[farm]\ncoordinator = \"{}\"\n", lab.coordinator);
    let console_rig_text = format!(
        "[rig]\nname = \"farm-console\"\ntime_scale = 10\n\n[dut]\nkind = \"external\"\nap = \"{}\"\nbroker_host = \"127.0.0.1\"\nbutton_press = {}\nconsole = \"place:console\"\npower_monitoring = true\n\n[dut.power_relay]\nport = \"place:relay\"\nchannel = 1\n{}\n{farm}",
        plug.ap,
        plug.command("button press {ms}"),
        standin::BROKER_AND_RUN
    );
    let console_rig = write(&dir.path().join("console.toml"), &console_rig_text);
    // The meter rig: a simulated plug per scenario, each on the control port the bench's
    // virtual SDM120 reads (one scenario at a time, so one plug on the bench at a time).
    let wrapper = dir.path().join("plug-sim-on-bench");
    script(
        &wrapper,
        &format!(
            "#!/bin/bash\n# Wait until the previous scenario's plug has let go of the bench's port.\nfor _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{bench_control}) 2>/dev/null || break; sleep 0.05; done\nexec {} --control 127.0.0.1:{bench_control} \"$@\"\n",
            sim.display()
        ),
    );
    let meter_rig = write(
        &dir.path().join("meter.toml"),
        &format!(
            "[rig]\nname = \"farm-meter\"\ntime_scale = 10\n\n[dut]\nkind = \"sim\"\nbinary = \"{}\"\n{}\n[run]\nconcurrency = 1\n\n[meter]\nkind = \"sdm120\"\nport = \"place:meter\"\naddress = 1\nclass_percent = 1.0\n\n{farm}",
            wrapper.display(),
            standin::BROKER_AND_RUN
        ),
    );

    // 1. rig check --place: relay (power cycle) and console (the boot line) over RFC 2217.
    let mut check = Plugrig::start(
        "check",
        &["rig", "check", "--rig", &console_rig, "--place", PLACE],
    );
    let st = check.wait(RUN);
    let out = check.output();
    assert!(st.success(), "rig check --place failed ({st}):\n{out}");
    assert!(out.contains("dut.console <- rfc2217://127.0.0.1:"), "{out}");
    assert!(
        out.contains("dut.power_relay.port <- rfc2217://127.0.0.1:"),
        "{out}"
    );
    assert!(
        out.contains("ok      console") && out.contains("boot fw="),
        "{out}"
    );
    assert_eq!(
        lab.holder(),
        None,
        "rig check released the place:\n{}",
        lab.show()
    );

    // 2. Two runs on one place: the second waits for the first, then runs.
    let mut first = Plugrig::start(
        "meter",
        &[
            "run",
            "--rig",
            &meter_rig,
            "--place",
            PLACE,
            "--tags",
            "@needs_reference_meter",
        ],
    );
    first.wait_line(
        "plugrig: place plugrig-farm-test acquired",
        Duration::from_secs(60),
    );
    let mut second = Plugrig::start(
        "console",
        &[
            "run",
            "--rig",
            &console_rig,
            "--place",
            PLACE,
            "--tags",
            "@needs_console",
        ],
    );
    second.wait_line("waiting until the place is free", Duration::from_secs(60));
    let (st1, st2) = (first.wait(RUN), second.wait(RUN));
    let (out1, out2) = (first.output(), second.output());
    assert!(st1.success(), "the metering run failed ({st1}):\n{out1}");
    assert!(st2.success(), "the console run failed ({st2}):\n{out2}");
    assert!(out1.contains("meter.port <- rfc2217://127.0.0.1:"), "{out1}");
    assert!(
        out1.contains("conformance: 2 passed, 0 failed, 0 skipped"),
        "{out1}"
    );
    assert!(out2.contains("dut.console <- rfc2217://127.0.0.1:"), "{out2}");
    assert!(
        out2.contains("conformance: 1 passed, 0 failed, 0 skipped"),
        "{out2}"
    );
    let released = first.wait_line("plugrig: place plugrig-farm-test released", Duration::ZERO);
    let acquired = second.wait_line("plugrig: place plugrig-farm-test acquired", Duration::ZERO);
    assert!(
        acquired > released,
        "the second run held the place before the first let go"
    );
    println!(
        "rig_farm: the second run waited {:.1} s for the place",
        acquired
            .duration_since(second.wait_line("waiting until", Duration::ZERO))
            .as_secs_f64()
    );

    // 3. Ctrl-C (SIGINT) during a run releases the place, exit 130.
    let mut int = Plugrig::start(
        "sigint",
        &[
            "run",
            "--rig",
            &console_rig,
            "--place",
            PLACE,
            "--tags",
            "@needs_console",
        ],
    );
    int.wait_line(
        "plugrig: place plugrig-farm-test acquired",
        Duration::from_secs(60),
    );
    int.signal(libc::SIGINT);
    let st = int.wait(Duration::from_secs(60));
    assert_eq!(st.code(), Some(130), "{}", int.output());
    assert_eq!(lab.holder(), None, "SIGINT released the place:\n{}", lab.show());

    // 4. SIGKILL leaves the place locked; the documented unlock step frees it.
    let mut killed = Plugrig::start(
        "sigkill",
        &[
            "run",
            "--rig",
            &console_rig,
            "--place",
            PLACE,
            "--tags",
            "@needs_console",
        ],
    );
    killed.wait_line(
        "plugrig: place plugrig-farm-test acquired",
        Duration::from_secs(60),
    );
    killed.signal(libc::SIGKILL);
    killed.wait(Duration::from_secs(10));
    assert!(
        lab.holder().is_some(),
        "a killed run leaves the place locked:\n{}",
        lab.show()
    );
    let impatient = write(
        &dir.path().join("impatient.toml"),
        &console_rig_text.replace("[farm]\n", "[farm]\nwait_s = 3\n"),
    );
    let mut blocked = Plugrig::start(
        "blocked",
        &["rig", "check", "--rig", &impatient, "--place", PLACE],
    );
    let st = blocked.wait(Duration::from_secs(60));
    assert_eq!(st.code(), Some(2), "{}", blocked.output());
    assert!(
        blocked.output().contains("came free within 3 s"),
        "{}",
        blocked.output()
    );
    let mut unlock = Plugrig::start(
        "unlock",
        &["farm", "unlock", "--place", PLACE, "--rig", &console_rig],
    );
    let st = unlock.wait(Duration::from_secs(60));
    assert!(
        st.success() && unlock.output().contains("unlocked"),
        "{}",
        unlock.output()
    );
    let shown = lab.show();
    assert!(
        lab.holder().is_none() && !shown.contains("reservation:"),
        "unlock frees the place and its reservation:\n{shown}"
    );
    let mut again = Plugrig::start(
        "again",
        &["rig", "check", "--rig", &console_rig, "--place", PLACE],
    );
    let st = again.wait(RUN);
    assert!(
        st.success(),
        "the freed place is usable again ({st}):\n{}",
        again.output()
    );

    drop(lab);
    println!("rig_farm: wall time {:.1} s", started.elapsed().as_secs_f64());
}
