//! The black-box DUT path (`kind = "external"`), run against a plug-sim started by hand as
//! a stand-in for a third-party plug (`support/standin.rs`): its AP address, shell commands
//! over its control channel as the power and button drivers, its console pty as a serial
//! port, and a command flasher: the run checks the rig, "flashes" and waits for the boot
//! line first.

#[path = "support/standin.rs"]
mod standin;

use plugrig::commands::run::{self, RunOptions};
use standin::{plug_sim_binary, StandIn};

#[test]
fn the_suite_runs_on_an_external_plug_through_command_drivers() {
    let bin = plug_sim_binary();
    let args: Vec<String> = ["--time-scale", "10", "--console", "pty"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let plug = StandIn::start(std::process::Command::new(&bin), &args);
    let (host, port) = plug.control.rsplit_once(':').expect("host:port");
    // "Flashing": a script that keeps the image it is given and power-cycles the plug, as
    // a real flash ends with a reset; plugrig must then see the boot line on the console.
    let elf = plugrig::drivers::firmware::build::build_firmware().expect("firmware/esp32c3 builds");
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
        "[rig]\nname = \"external-test\"\ntime_scale = 10\n\n[dut]\n{dut}\
         broker_host = \"127.0.0.1\"\npower_monitoring = true\n\
         ota_body = \"{bin}\"\nota_target = \"sim\"\n\n\
         [dut.flash]\nkind = \"command\"\nargv = [\"{script}\", \"{{image}}\"]\nelf = \"{elf}\"\n{broker}",
        dut = plug.dut_keys(),
        bin = bin.display(),
        script = script.display(),
        elf = elf.display(),
        broker = standin::BROKER_AND_RUN,
    );
    let path = dir.path().join("external.toml");
    std::fs::write(&path, rig).expect("write rig");
    let tags = "@provisioning and not @errors or @switch or @countdown or @reset or @rule-ota-r1";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = rt
        .block_on(run::run(RunOptions {
            tags: Some(tags.into()),
            ..RunOptions::new(path)
        }))
        .expect("the run starts");
    drop(plug);
    // R1 by name needs the plug to use plugrig's DNS, which this stand-in was not told.
    assert_eq!((s.counts.failed, s.counts.skipped), (0, 1), "{s:?}");
    assert!(s.counts.passed >= 20, "{s:?}");
    let image = std::fs::read(&flashed).expect("the flasher ran before the scenarios");
    assert_eq!(
        (image[0], image[0x10000]),
        (0xE9, 0xE9),
        "bootloader and app images in place"
    );
}
