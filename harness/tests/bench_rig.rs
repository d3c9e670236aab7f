//! Bench-rig drivers with no bench attached: the AP network driver against a stand-in
//! nmcli, the flashers' hardware-only paths failing fast, a command flasher writing the
//! factory image and the boot line awaited on a console pty, and `rig check` on the
//! simulated rig and on a broken bench rig.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use instruments::ap_network::{ApNetwork, ApNetworkSpec};
use instruments::flash::{self, FlashSpec};
use plugrig::commands::rig_check::{check, Outcome};
use plugrig::commands::run::{self, RunOptions};

/// A fake nmcli: logs its arguments, lists wlan1 and eth0, fails on an SSID "missing".
fn fake_nmcli(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("nmcli.log");
    let prog = dir.join("nmcli");
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> {log}
case "$*" in
  *"device wifi connect missing"*) echo "Error: No network with SSID 'missing' found." >&2; exit 10;;
  "-t -f DEVICE,TYPE device") printf 'wlan1:wifi\neth0:ethernet\nlo:loopback\n';;
esac
exit 0
"#,
        log = log.display()
    );
    std::fs::write(&prog, script).expect("write nmcli");
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (prog, log)
}

fn nmcli_spec(prog: &Path, ssid: &str, bench: Option<&str>, interface: &str) -> ApNetworkSpec {
    ApNetworkSpec::Nmcli {
        interface: interface.into(),
        ssid: ssid.into(),
        password: None,
        bench_connection: bench.map(String::from),
        program: prog.display().to_string(),
    }
}

fn log_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn nmcli_joins_the_plug_once_and_returns_to_the_bench_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (prog, log) = fake_nmcli(dir.path());
    let net = ApNetwork::new(nmcli_spec(&prog, "MK112-A1B2", Some("bench-lan"), "wlan1"));
    let ok = net.check().await.expect("wlan1 is listed as wifi");
    assert!(ok.contains("wlan1"), "{ok}");
    net.join().await.expect("join");
    net.join().await.expect("a second join is a no-op");
    net.leave().await.expect("leave");
    net.leave().await.expect("a second leave is a no-op");
    assert_eq!(
        log_lines(&log),
        vec![
            "-t -f DEVICE,TYPE device",
            "--wait 30 device wifi connect MK112-A1B2 ifname wlan1",
            "--wait 30 connection up bench-lan",
        ]
    );
}

#[tokio::test]
async fn without_a_bench_connection_nmcli_disconnects_the_plug_interface() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (prog, log) = fake_nmcli(dir.path());
    let mut spec = nmcli_spec(&prog, "MK102-0001", None, "wlan1");
    if let ApNetworkSpec::Nmcli { password, .. } = &mut spec {
        *password = Some("plug-pass".into());
    }
    let net = ApNetwork::new(spec);
    net.join().await.expect("join");
    net.leave().await.expect("leave");
    assert_eq!(
        log_lines(&log),
        vec![
            "--wait 30 device wifi connect MK102-0001 password plug-pass ifname wlan1",
            "--wait 30 device disconnect wlan1",
        ]
    );
}

#[tokio::test]
async fn nmcli_failures_are_reported_with_what_nmcli_said() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (prog, _) = fake_nmcli(dir.path());
    let e = ApNetwork::new(nmcli_spec(&prog, "missing", None, "wlan1"))
        .join()
        .await
        .expect_err("no such SSID");
    assert!(
        format!("{e:#}").contains("No network with SSID 'missing'"),
        "{e:#}"
    );
    let e = ApNetwork::new(nmcli_spec(&prog, "x", None, "wlan9"))
        .check()
        .await
        .expect_err("no wlan9");
    assert!(format!("{e:#}").contains("no WiFi interface \"wlan9\""), "{e:#}");
    let e = ApNetwork::new(nmcli_spec(Path::new("/nonexistent/nmcli"), "x", None, "wlan1"))
        .check()
        .await
        .expect_err("no nmcli");
    assert!(format!("{e:#}").contains("/nonexistent/nmcli"), "{e:#}");
}

#[tokio::test]
async fn espflash_on_a_missing_port_fails_fast_naming_it() {
    let spec = FlashSpec::Espflash {
        port: "/dev/plugrig-no-such-port".into(),
        baud: 460_800,
        elf: None,
    };
    let started = Instant::now();
    let e = spec.check().await.expect_err("no such port");
    assert!(format!("{e:#}").contains("/dev/plugrig-no-such-port"), "{e:#}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn espflash_on_a_port_where_no_bootloader_answers_gives_up_with_the_port_named() {
    let (_master, path, _slave) = instruments::pty::pair().expect("pty");
    let images = instruments::flash::Images {
        segments: vec![(0x10000, vec![0xE9; 16])],
        app: vec![0xE9; 16],
        table: instruments::flash::image::PartitionTable::try_from_str(plug_board::PARTITIONS_CSV)
            .expect("table"),
    };
    let spec = FlashSpec::Espflash {
        port: path.clone(),
        baud: 460_800,
        elf: None,
    };
    let started = Instant::now();
    let e = tokio::time::timeout(Duration::from_secs(120), flash::flash(&spec, &images))
        .await
        .expect("espflash gives up on its own")
        .expect_err("nothing answers on a pty");
    let msg = format!("{e:#}");
    assert!(
        msg.contains("no ESP32-C3 bootloader answered") && msg.contains(&path),
        "{msg}"
    );
    println!(
        "espflash gave up after {:.1} s: {msg}",
        started.elapsed().as_secs_f64()
    );
}

#[cfg(not(feature = "probe-rs"))]
#[tokio::test]
async fn probe_rs_without_the_feature_says_how_to_get_it() {
    let spec = FlashSpec::ProbeRs {
        probe: None,
        elf: None,
    };
    let e = spec.check().await.expect_err("no probe-rs in this build");
    assert!(format!("{e:#}").contains("--features probe-rs"), "{e:#}");
}

fn external_rig(extra: &str) -> plugrig::rig::external::ExternalDut {
    toml::from_str(&format!(
        "ap = \"127.0.0.1:1\"\nbroker_host = \"127.0.0.1\"\nboot_timeout_s = 2\n{extra}"
    ))
    .expect("external dut")
}

#[tokio::test]
async fn a_command_flasher_writes_the_factory_image_and_the_boot_line_is_awaited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("flashed.bin");
    let elf = tokio::task::spawn_blocking(plugrig::drivers::firmware::build::build_firmware)
        .await
        .expect("join")
        .expect("firmware builds");
    let (mut master, console, _slave) = instruments::pty::pair().expect("pty");
    let dut = external_rig(&format!(
        "console = \"{console}\"\n[flash]\nkind = \"command\"\nargv = [\"cp\", \"{{image}}\", \"{out}\"]\nelf = \"{elf}\"\n",
        out = out.display(),
        elf = elf.display()
    ));
    let spec = dut.flash.clone().expect("flash spec");
    let dut = plugrig::rig::DutSpec::External(Box::new(dut));
    // The "plug" boots once the image is written: its first line arrives on the console.
    let watch = out.clone();
    let booter = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while !watch.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        master
            .write_all(b"rom boot noise\r\nplug 4 boot fw=000001 mac=02:70:72:00:00:09 configured=no\r\n")
            .await
            .expect("console write");
        master
    });
    let flashed = plugrig::drivers::firmware::flash_and_boot(&spec, &dut)
        .await
        .expect("flashed and booted");
    let _master = booter.await.expect("booter");

    let written = std::fs::read(&out).expect("flashed image");
    let images = plugrig::drivers::firmware::firmware_images(&spec)
        .await
        .expect("images");
    let (boot_addr, bootloader) = &images.segments[0];
    assert_eq!(*boot_addr, 0);
    assert_eq!(&written[..bootloader.len()], &bootloader[..]);
    let table = images.table.to_bin().expect("table");
    assert_eq!(&written[0x8000..0x8000 + table.len()], &table[..]);
    assert!(
        written[0x9000..0xf000].iter().all(|b| *b == 0xFF),
        "configuration and OTA data erased: a factory-fresh plug"
    );
    assert_eq!(&written[0x10000..0x10000 + images.app.len()], &images.app[..]);
    // The run's provenance names the image flashed by its SHA-256.
    assert_eq!(flashed.sha256, plugrig::provenance::sha256_bytes(&images.app));

    // The same flash with no boot line fails, naming what it waited for.
    std::fs::remove_file(&out).expect("rm");
    let e = plugrig::drivers::firmware::flash_and_boot(&spec, &dut)
        .await
        .expect_err("no boot line");
    assert!(format!("{e:#}").contains("\"boot fw=\""), "{e:#}");
}

#[tokio::test]
async fn rig_check_passes_on_the_simulated_rig_through_the_bench_drivers() {
    let rig = plugrig::rig::load(&run::default_rig()).expect("sim rig");
    let report = check(&rig.file).await;
    report.print();
    assert!(report.ok());
    for name in [
        "power off",
        "meter, mains off",
        "power on",
        "console",
        "meter, mains on",
        "button",
    ] {
        let c = report
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no {name} check"));
        assert!(matches!(c.outcome, Outcome::Ok(_)), "{name} not ok");
    }
}

#[tokio::test]
async fn a_bench_rig_with_missing_instruments_fails_its_check_and_runs_no_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rig = dir.path().join("broken.toml");
    std::fs::write(
        &rig,
        r#"
[rig]
name = "broken-bench"

[dut]
kind = "external"
ap = "127.0.0.1:1"
broker_host = "127.0.0.1"
power_on = ["true"]
power_off = ["true"]
boot_timeout_s = 1

[dut.flash]
kind = "espflash"
port = "/dev/plugrig-no-flash-port"

[broker]
kind = "external"
host = "127.0.0.1"
port = 1

[meter]
kind = "sdm120"
port = "/dev/plugrig-no-meter-port"
"#,
    )
    .expect("write rig");
    let loaded = plugrig::rig::load(&rig).expect("rig file is valid");
    let report = check(&loaded.file).await;
    report.print();
    let failed: Vec<&str> = report.failed().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(failed, vec!["broker", "flasher", "meter"]);
    let text: Vec<String> = report
        .failed()
        .iter()
        .map(|c| match &c.outcome {
            Outcome::Failed(s) => s.clone(),
            _ => String::new(),
        })
        .collect();
    assert!(text[1].contains("/dev/plugrig-no-flash-port"), "{text:?}");
    assert!(text[2].contains("/dev/plugrig-no-meter-port"), "{text:?}");

    let run = run::run(RunOptions {
        ..RunOptions::new(rig)
    })
    .await;
    let Err(e) = run else {
        panic!("a rig that fails its check must not run");
    };
    let msg = format!("{e:#}");
    assert!(
        msg.contains("failed its check (broker, flasher, meter); no scenario ran"),
        "{msg}"
    );
}
