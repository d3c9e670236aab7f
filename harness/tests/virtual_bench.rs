//! The whole suite, black box, on the virtual bench (network namespaces via `ip netns`, so
//! root): a stand-in plug (plug-sim with all eight conformant variations) at its real AP
//! address 192.168.4.1:8266 and home address 10.77.0.2 in the plug namespace, and the
//! `plugrig` CLI in the rig namespace (10.77.0.1) driving it as `kind = "external"`: the
//! wire tap, the update server and the DNS server (port 53) on the rig's home address, the
//! plug told where they are, nothing on a shared loopback. The run must fail nothing but
//! the one advisory [profile] scenario slow-tick breaks, and skip only what a rig without
//! a meter, a load driver or this project's image format cannot run.

#[path = "support/netns.rs"]
mod netns;
#[path = "support/standin.rs"]
mod standin;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use netns::{Ns, VirtualBench, AP_PORT, PLUG_AP, PLUG_HOME, RIG_HOME};
use standin::{plug_sim_binary, StandIn};

/// plug-core's conformant variations, all at once (`firmware/core/src/variations.rs`).
const VARIATIONS: [&str; 8] = [
    "split-subscribe",
    "vendor-image",
    "console-format",
    "ap-stays-open",
    "oversize-close",
    "bare-error-reply",
    "slow-tick",
    "retain",
];

/// The scenarios this rig cannot run, by capability: (scenario, the capabilities named).
const EXPECTED_SKIPS: [(&str, &[&str]); 5] = [
    (
        "Samples agree with the reference meter with the relay on",
        &["reference_meter", "load_control"],
    ),
    ("A larger load", &["reference_meter", "load_control"]),
    ("Relay off gives zero power within 2 s", &["load_control"]),
    (
        "A plug without power monitoring never publishes electricity_information",
        &["sim"],
    ),
    // The vendor format names no target: no image for another one can be made.
    ("R2: an image for another target", &["ota_other_target"]),
];

/// The one [profile] scenario slow-tick fails (its countdown skips a value now and then).
const ADVISORY_FAILURE: &str = "delay_time reports every whole second, none skipped";

const R1_BY_IP: &str = "R1: a newer image by IP address is installed and runs";
const R1_BY_NAME: &str = "R1: a newer image by domain name";

const RUN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// A child killed and waited for when dropped, so before the bench declared before it.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last `n` lines of the run's output.
fn tail(out: &str, n: usize) -> String {
    let lines: Vec<&str> = out.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// `N word` in the closing line (`conformance: 90 passed, 1 failed (...), 5 skipped`).
fn count(line: &str, word: &str) -> Option<usize> {
    let w: Vec<&str> = line.split_whitespace().collect();
    w.windows(2)
        .find(|p| p[1].trim_end_matches(',') == word)
        .and_then(|p| p[0].trim_start_matches('(').parse().ok())
}

/// The scenarios under a section title of the failure report (each failure's line; the
/// first line of its error follows it, indented further).
fn section<'a>(out: &'a str, title: &str) -> Vec<&'a str> {
    out.lines()
        .skip_while(|l| !l.starts_with(title))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter(|l| !l.starts_with("    "))
        .map(str::trim)
        .collect()
}

/// The cucumber output of one scenario: from its `Scenario:` line to the next one.
fn scenario_block<'a>(out: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let mut lines = out.lines();
    lines.find(|l| l.contains("Scenario") && l.contains(name))?;
    Some(
        lines
            .take_while(|l| !l.contains("Scenario") && !l.starts_with("conformance:"))
            .collect(),
    )
}

fn write_rig(dir: &Path, plug: &StandIn) -> std::path::PathBuf {
    // One plug serves the whole run and each R1 scenario (by IP, by name) must change its
    // version: the second one is offered a second image.
    let next = dir.join("vendor-next.img");
    let body: Vec<u8> = (0..150_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&next, standin::vendor_image("v2.4.2", &body)).expect("write image");
    // What the plug claims, in its own declaration as a lab validating a third-party plug
    // writes one (rig::declaration): the bench's rig file below names it.
    let upgrade = standin::vendor_image_keys(dir, "v2.4.1")
        .replace("ota_broken_image", "broken_image")
        .replace("ota_image", "image")
        .replace("ota_version", "version");
    let console = standin::VARIANT_CONSOLE_KEYS
        .replace("console_boot", "boot")
        .replace("console_relay_on", "relay_on")
        .replace("console_relay_off", "relay_off");
    let declaration = format!(
        "[plug]\nname = \"stand-in plug (plug-sim, every conformant variation)\"\ndevice_type = \"1\"\n\
         tls = true\n\n[identity]\ndevice_function = \"iot_plug\"\ndevice_name = \"plug_one\"\n\
         device_specifications = \"us\"\n\n[firmware]\nversion = \"v2.3.0\"\ncompany_name = \"moko\"\n\n\
         [upgrade]\n{upgrade}next_image = \"{next}\"\nnext_version = \"v2.4.2\"\n\n[console]\n{console}",
        next = next.display(),
    );
    let declared = dir.join("stand-in.toml");
    std::fs::write(&declared, declaration).expect("write the declaration");
    let rig = format!(
        "[rig]\nname = \"virtual-bench\"\ntime_scale = 10\n\n[dut]\n{dut}plug = \"{declared}\"\n\
         broker_host = \"{RIG_HOME}\"\ntap_listen = \"{RIG_HOME}:0\"\nuses_rig_dns = true\n\n\
         [run]\nadvisory_profile = true\n{broker}",
        dut = plug.dut_keys(),
        declared = declared.display(),
        broker = standin::BROKER_AND_RUN,
    );
    let path = dir.join("virtual-bench.toml");
    std::fs::write(&path, rig).expect("write rig");
    path
}

/// `PLUGRIG_VB_RUNS=N` repeats the whole run N times, each on a new bench with a new
/// stand-in (the soak of the external path: issue 19); the first failure stops it.
#[test]
fn the_whole_suite_passes_on_the_virtual_bench() {
    let runs: usize = std::env::var("PLUGRIG_VB_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let started = Instant::now();
    for i in 1..=runs {
        println!("virtual bench: run {i} of {runs}");
        one_run();
    }
    println!(
        "virtual bench: {runs} runs passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn one_run() {
    // Built before the bench exists: nothing inside it needs cargo or the network.
    let bin = plug_sim_binary();
    let plugrig = env!("CARGO_BIN_EXE_plugrig");
    let bench = VirtualBench::create("suite").expect("virtual bench");

    let mut args: Vec<String> = [
        "--ap".to_string(),
        format!("{PLUG_AP}:{AP_PORT}"),
        "--control".into(),
        format!("{PLUG_HOME}:7000"),
        "--resolver".into(),
        format!("{RIG_HOME}:53"),
        "--time-scale".into(),
        "10".into(),
        "--console".into(),
        "pty".into(),
        "--firmware-version".into(),
        "v2.3.0".into(),
    ]
    .into();
    for v in VARIATIONS {
        args.extend(["--variant".to_string(), v.to_string()]);
    }
    let plug = StandIn::start(bench.command(Ns::Plug, &bin), &args);
    assert_eq!(plug.ap, format!("{PLUG_AP}:{AP_PORT}"), "plug-sim's AP address");

    let dir = tempfile::tempdir().expect("tempdir");
    let rig = write_rig(dir.path(), &plug);
    let log_path = dir.path().join("run.log");
    let log = std::fs::File::create(&log_path).expect("run log");
    let started = Instant::now();
    let mut run = Killed(
        bench
            .command(Ns::Rig, plugrig)
            .arg("run")
            .arg("--rig")
            .arg(&rig)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("plugrig starts in the rig namespace"),
    );
    let status = loop {
        if let Some(s) = run.0.try_wait().expect("wait for plugrig") {
            break Some(s);
        }
        if started.elapsed() > RUN_TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let wall = started.elapsed();
    // Both children go before the bench does (declared before it, dropped after them).
    drop(run);
    drop(plug);
    let out = std::fs::read_to_string(&log_path).expect("read the run's output");
    let Some(status) = status else {
        panic!(
            "plugrig run did not end within {RUN_TIMEOUT:?}; its output ends:\n{}",
            tail(&out, 80)
        );
    };
    // On a failure the whole output is kept (the tempdir goes) and its tail shown.
    let fail = |what: String| -> ! {
        let kept = std::env::temp_dir().join(format!("plugrig-virtual-bench-{}.log", std::process::id()));
        let _ = std::fs::write(&kept, &out);
        panic!(
            "{what}\n(plugrig exited {status} after {:.1} s; whole output in {}; it ends:)\n{}",
            wall.as_secs_f64(),
            kept.display(),
            tail(&out, 80)
        )
    };

    let Some(line) = out.lines().find(|l| l.starts_with("conformance: ")) else {
        fail("no closing `conformance:` line".into())
    };
    let (Some(passed), Some(failed), Some(skipped)) = (
        count(line, "passed"),
        count(line, "failed"),
        count(line, "skipped"),
    ) else {
        fail(format!("unreadable closing line {line:?}"))
    };
    println!(
        "virtual bench: {passed} passed, {failed} failed (advisory), {skipped} skipped; \
         plugrig run wall time {:.1} s (exit {status})",
        wall.as_secs_f64()
    );
    println!("virtual bench: {line}");

    // Failures: the advisory one only.
    let strict = section(&out, "Failed [spec]/[app] scenarios:");
    if out.contains("Failed [spec]/[app] scenarios:") {
        let blocks: Vec<String> = strict
            .iter()
            .map(|f| {
                let name = f.rsplit_once(" (rules: ").map_or(*f, |(n, _)| n);
                format!(
                    "Scenario: {name}\n{}",
                    scenario_block(&out, name).unwrap_or_default().join("\n")
                )
            })
            .collect();
        fail(format!(
            "[spec]/[app] scenarios failed: {strict:#?}\n{}",
            blocks.join("\n")
        ));
    }
    let advisory = section(&out, "Advisory: failed scenarios that check only [profile] rules");
    if failed != 1
        || advisory.len() != 1
        || !advisory[0].starts_with(ADVISORY_FAILURE)
        || !line.contains("1 of them [profile] only")
    {
        fail(format!(
            "expected exactly one failure, the advisory {ADVISORY_FAILURE:?}; closing line \
             {line:?}, advisory section {advisory:#?}"
        ));
    }

    // Skips: exactly the capabilities this rig lacks.
    let skips: Vec<&str> = out.lines().filter(|l| l.starts_with("SKIPPED ")).collect();
    let mut unexpected: Vec<&str> = skips
        .iter()
        .copied()
        .filter(|l| {
            !EXPECTED_SKIPS
                .iter()
                .any(|(name, needs)| l.ends_with(&format!(": {name} (needs {})", needs.join(", "))))
        })
        .collect();
    if skipped != EXPECTED_SKIPS.len() || skips.len() != skipped {
        unexpected.push("(counts differ)");
    }
    for (name, _) in EXPECTED_SKIPS {
        if !skips.iter().any(|l| l.contains(&format!(": {name} (needs "))) {
            fail(format!("{name:?} was not skipped; SKIPPED lines: {skips:#?}"));
        }
    }
    if !unexpected.is_empty() {
        fail(format!(
            "{skipped} skipped, expected only {} capability skips; SKIPPED lines {skips:#?}, \
             unexpected {unexpected:#?}",
            EXPECTED_SKIPS.len()
        ));
    }

    // The upgrade by IP address and by name (the rig's DNS at 10.77.0.1:53) both ran and
    // passed.
    for r1 in [R1_BY_IP, R1_BY_NAME] {
        let Some(steps) = scenario_block(&out, r1) else {
            fail(format!("scenario {r1:?} did not run"))
        };
        if steps.iter().any(|l| l.contains('✘')) || !steps.iter().any(|l| l.contains('✔')) {
            fail(format!("scenario {r1:?} did not pass:\n{}", steps.join("\n")));
        }
        if skips.iter().chain(&advisory).any(|l| l.contains(r1)) {
            fail(format!("scenario {r1:?} skipped or failed"));
        }
    }
    if passed < 85 {
        fail(format!("only {passed} scenarios passed, expected at least 85"));
    }
    drop(bench);
}
