//! The black-box DUT path (`kind = "external"`), run against a plug-sim started by hand as
//! a stand-in for a third-party plug: its AP address, shell commands over its control
//! channel as the power and button drivers, its console pty as a serial port, and a
//! command flasher: the run checks the rig, "flashes" and waits for the boot line first.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use plugrig::runner::{self, RunOptions};

#[test]
fn the_suite_runs_on_an_external_plug_through_command_drivers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sim: plugrig::rig::sim::SimDut = toml::from_str("").expect("defaults");
    let bin = rt
        .block_on(plugrig::rig::sim::binary(&sim))
        .expect("plug-sim builds");
    let state = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(&bin)
        .arg("--state-dir")
        .arg(state.path())
        .args(["--time-scale", "10", "--console", "pty"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("plug-sim starts");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut ready)
        .expect("ready line");
    let field = |k: &str| {
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .expect(k)
            .to_string()
    };
    let (ap, control, console) = (field("ap="), field("control="), field("console="));
    let (host, port) = control.rsplit_once(':').expect("host:port");
    let cmd = |what: &str| {
        format!(
            r#"["bash", "-c", "exec 3<>/dev/tcp/{host}/{port}; echo '{what}' >&3; head -1 <&3 | grep -q ^ok"]"#
        )
    };
    // "Flashing": a script that keeps the image it is given and power-cycles the plug, as
    // a real flash ends with a reset; plugrig must then see the boot line on the console.
    let elf = plugrig::esp::build::build_firmware().expect("firmware/esp32c3 builds");
    let dir = tempfile::tempdir().expect("tempdir");
    let flashed = dir.path().join("flashed.bin");
    let script = dir.path().join("flash.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/bash\nset -e\ncp \"$1\" '{out}'\n\
             exec 3<>/dev/tcp/{host}/{port}; echo 'power off' >&3; head -1 <&3 | grep -q ^ok; exec 3<&-\n\
             sleep 0.2\n\
             exec 3<>/dev/tcp/{host}/{port}; echo 'power on' >&3; head -1 <&3 | grep -q ^ok\n",
            out = flashed.display()
        ),
    )
    .expect("write flash script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let rig = format!(
        r#"
[rig]
name = "external-test"
time_scale = 10

[dut]
kind = "external"
ap = "{ap}"
broker_host = "127.0.0.1"
power_on = {on}
power_off = {off}
button_press = {press}
console = "{console}"
power_monitoring = true
ota_body = "{bin}"
ota_target = "sim"

[dut.flash]
kind = "command"
argv = ["{script}", "{{image}}"]
elf = "{elf}"

[broker]
kind = "embedded"
username = "plugrig"
password = "plugrig-secret"
"#,
        on = cmd("power on"),
        off = cmd("power off"),
        press = cmd("button press {ms}"),
        bin = bin.display(),
        script = script.display(),
        elf = elf.display(),
    );
    let path = dir.path().join("external.toml");
    std::fs::write(&path, rig).expect("write rig");
    let tags = "@provisioning and not @errors or @switch or @countdown or @reset or @rule-ota-r1";
    let s = rt
        .block_on(runner::run(RunOptions {
            rig: path,
            tags: Some(tags.into()),
            report: None,
            features: Vec::new(),
            advisory_profile: false,
        }))
        .expect("the run starts");
    let _ = child.kill();
    let _ = child.wait();
    // R1 by name needs the plug to use plugrig's DNS, which this stand-in was not told.
    assert_eq!((s.failed, s.skipped), (0, 1), "{s:?}");
    assert!(s.passed >= 20, "{s:?}");
    let image = std::fs::read(&flashed).expect("the flasher ran before the scenarios");
    assert_eq!(
        (image[0], image[0x10000]),
        (0xE9, 0xE9),
        "bootloader and app images in place"
    );
}
