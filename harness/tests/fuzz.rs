//! `plugrig fuzz` against plug-sim: each fault only fuzzing finds (plug-core's
//! `deep-nesting-crash`, `duplicate-keys-wedge`, `stray-field-switch`, and the AP wedge
//! `wedged-by-garbage`) is found within a stated input budget (seed 1), minimized to a short input,
//! saved, and replayed from its file (it shows again on the faulty plug, not on a sound
//! one); and the conformant plug-sim and each conformant variation give no finding (a
//! false finding is as bad as a false failure). `PLUGRIG_FUZZ_SECONDS` sets the
//! conformant runs' budget (default 20 s each; the closing note's 10 minutes are this
//! test with 600).

#[path = "support/faulty_rig.rs"]
mod faulty_rig;
#[path = "support/standin.rs"]
mod standin;

use std::path::{Path, PathBuf};
use std::time::Duration;

use plugrig::commands::fuzz::{self, probe::Class, FuzzOptions, FuzzSummary, Target};
use plugrig::commands::run;
use plugrig::sync::Locked;

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

fn fuzz(rig: PathBuf, target: Target, inputs: u64, report: &Path) -> FuzzSummary {
    let _one = ONE_AT_A_TIME.locked();
    let opts = FuzzOptions {
        target,
        budget: Duration::from_secs(240),
        max_inputs: Some(inputs),
        seed: 1,
        report: Some(report.to_path_buf()),
        ..FuzzOptions::new(rig)
    };
    let s = rt().block_on(fuzz::run(opts)).expect("the fuzz run starts");
    println!("{}", s.line());
    s
}

fn replay(rig: PathBuf, file: PathBuf) -> Option<fuzz::probe::Finding> {
    let _one = ONE_AT_A_TIME.locked();
    rt().block_on(fuzz::replay(rig, None, file))
        .expect("the replay starts")
}

/// Fuzzes a plug-sim with `fault` and checks the finding: its class, its minimized size,
/// its reports, and its replay on the faulty plug and on a sound one.
fn found(fault: &str, target: Target, inputs: u64, class: Class, max_bytes: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let rig = faulty_rig::rig_with_fault(dir.path(), fault, None);
    let report = dir.path().join("report");
    let s = fuzz(rig.clone(), target, inputs, &report);
    let f = s
        .findings
        .iter()
        .find(|f| f.reproducer.finding.class == class)
        .unwrap_or_else(|| {
            panic!(
                "{fault}: no {class:?} finding in {inputs} inputs: {:?}",
                s.findings
            )
        });
    let r = &f.reproducer;
    println!(
        "{fault}: {} ({}) after {} inputs, minimized {} -> {} bytes: {}",
        class.name(),
        r.finding.rule,
        r.indices.len(),
        r.bytes_found,
        r.bytes_minimized,
        r.inputs
            .iter()
            .map(|i| i.input.describe())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    assert!(
        r.bytes_minimized <= max_bytes,
        "{fault}: minimized to {} bytes",
        r.bytes_minimized
    );
    assert_eq!(s.exit_code(), 1);
    // The reports: a JUnit testcase per finding, an HTML section, the reproducer file.
    let junit = std::fs::read_to_string(report.join("fuzz.junit.xml")).expect("fuzz.junit.xml");
    assert!(
        junit.contains(&format!("<failure type=\"{}\"", class.name())),
        "{junit}"
    );
    let html = std::fs::read_to_string(report.join("fuzz.html")).expect("fuzz.html");
    assert!(html.contains("Finding 1") && html.contains("--replay"), "{html}");
    let file = report.join(f.file.as_ref().expect("a reproducer file"));
    // Replayed: it shows again on the faulty plug, and not on a sound one.
    let again = replay(rig, file.clone()).unwrap_or_else(|| panic!("{fault}: the replay did not show it"));
    assert_eq!(again.class, class, "{}", again.why);
    assert!(
        replay(run::default_rig(), file).is_none(),
        "{fault}: the sound plug-sim shows it too"
    );
}

#[test]
fn deep_nesting_crash_is_found_minimized_and_replayed() {
    found("deep-nesting-crash", Target::Ap, 120, Class::Crash, 64);
}

#[test]
fn duplicate_keys_wedge_is_found_minimized_and_replayed() {
    found("duplicate-keys-wedge", Target::Ap, 120, Class::Wedged, 400);
}

#[test]
fn stray_field_switch_is_found_minimized_and_replayed() {
    found("stray-field-switch", Target::Mqtt, 150, Class::RelayChanged, 64);
}

#[test]
fn a_wedge_by_garbage_is_found_minimized_and_replayed() {
    found("wedged-by-garbage", Target::Ap, 60, Class::Wedged, 200);
}

fn conformant_budget() -> Duration {
    let secs = std::env::var("PLUGRIG_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

fn no_finding(rig: PathBuf, label: &str) {
    let _one = ONE_AT_A_TIME.locked();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = FuzzOptions {
        target: Target::Both,
        budget: conformant_budget(),
        seed: 7,
        report: Some(dir.path().join("report")),
        ..FuzzOptions::new(rig)
    };
    let s = rt().block_on(fuzz::run(opts)).expect("the fuzz run starts");
    println!(
        "{label}: {} (AP {} at {:.1}/s, MQTT {} at {:.1}/s)",
        s.line(),
        s.ap.inputs,
        s.ap.rate(),
        s.mqtt.inputs,
        s.mqtt.rate()
    );
    let why: Vec<String> = s
        .findings
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f.reproducer.finding.class.name(),
                f.reproducer.finding.why
            )
        })
        .collect();
    assert!(s.findings.is_empty(), "{label}: false findings: {why:#?}");
    assert!(
        s.ap.inputs > 0 && s.mqtt.inputs > 0,
        "{label}: both sides fuzzed: {}",
        s.line()
    );
}

#[test]
fn the_conformant_plug_sim_gives_no_finding() {
    no_finding(run::default_rig(), "plug-sim");
}

#[test]
fn every_conformant_variation_gives_no_finding() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (_, variant) in plug_core::variations::ALL {
        // Its own console lines, which the default rig's patterns do not read, are for the
        // black-box stand-in (conformant_variations); here the process is watched.
        let text = run::default_rig_text().expect("rigs/sim.toml").replace(
            "kind = \"sim\"",
            &format!("kind = \"sim\"\nvariants = [\"{variant}\"]"),
        );
        let rig = dir.path().join(format!("{variant}.toml"));
        std::fs::write(&rig, text).expect("write rig");
        no_finding(rig, variant);
    }
}

/// The findings `plugrig fuzz` made on plug-sim itself, fixed since (`fuzz/known/`): each
/// replayed on the default rig shows no more.
#[test]
fn known_findings_stay_fixed() {
    let dir = run::workspace_dir().join("fuzz/known");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let file = e.expect("entry").path();
        if file.extension().is_none_or(|x| x != "json") {
            continue;
        }
        n += 1;
        if let Some(f) = replay(run::default_rig(), file.clone()) {
            panic!(
                "{}: shows again: {} ({}): {}",
                file.display(),
                f.class.name(),
                f.rule,
                f.why
            );
        }
    }
    assert!(n >= 2, "fuzz/known holds the fixed findings");
}

/// The black-box path: a stand-in plug-sim driven as an external plug (one plug for the
/// whole run, brought back to AP mode by the rig's strategy between sessions) gives no
/// finding either.
#[test]
fn an_external_plug_is_fuzzed_black_box() {
    let args: Vec<String> = ["--time-scale", "10", "--console", "pty"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let plug = standin::StandIn::start(std::process::Command::new(standin::plug_sim_binary()), &args);
    let dir = tempfile::tempdir().expect("tempdir");
    let rig = dir.path().join("external.toml");
    std::fs::write(
        &rig,
        format!(
            "[rig]\nname = \"fuzz-stand-in\"\ntime_scale = 10\n\n[dut]\n{}broker_host = \"127.0.0.1\"\npower_monitoring = true\n{}",
            plug.dut_keys(),
            standin::BROKER_AND_RUN
        ),
    )
    .expect("write rig");
    no_finding(rig, "external stand-in");
}
