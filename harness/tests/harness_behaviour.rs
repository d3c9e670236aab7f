//! The harness's own behaviour: a dying plug, a broken rig file, a selection by tags.

#[path = "support/suite.rs"]
mod suite;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use plugrig::commands::run::{self, RunOptions};
use suite::run_suite as run;

#[test]
fn a_killed_plug_fails_its_scenario_fast_and_the_other_passes() {
    let features = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/features/plug_killed.feature");
    let s = run(RunOptions {
        features: vec![features],
        ..RunOptions::new(run::default_rig())
    });
    assert_eq!(
        (s.counts.passed, s.counts.failed, s.counts.skipped),
        (1, 1, 0),
        "{s:?}"
    );
    assert!(!s.ok());
    // The heartbeat step alone would wait 3 x 3.1 s at the default rig's scale: the
    // failure must come from the exit, not from the step running out its deadline.
    assert!(s.wall < Duration::from_secs(8), "the run took {:?}", s.wall);
}

#[test]
fn a_tag_expression_selects_scenarios() {
    let s = run(RunOptions {
        tags: Some("@provisioning and not @errors".into()),
        ..RunOptions::new(run::default_rig())
    });
    assert_eq!(
        (s.counts.passed, s.counts.failed, s.counts.skipped),
        (3, 0, 0),
        "{s:?}"
    );
}

#[test]
fn a_rig_file_with_an_unknown_key_is_refused_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[rig]\nname = \"x\"\n\n[dut]\nkind = \"sim\"\nload_wats = 10\n\n[broker]\nkind = \"embedded\"\nusername = \"u\"\npassword = \"p\"\n")
        .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_plugrig"))
        .args(["run", "--rig"])
        .arg(&bad)
        .output()
        .expect("plugrig runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.toml:6:") && err.contains("load_wats"), "{err}");
}

#[test]
fn help_explains_every_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_plugrig"))
        .args(["run", "--help"])
        .output()
        .expect("plugrig runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in ["--rig", "--tags", "--report", "FEATURES"] {
        assert!(text.contains(opt), "help lacks {opt}:\n{text}");
    }
}

#[test]
fn scenarios_needing_what_the_rig_lacks_are_skipped_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = run::default_rig_text().expect("default rig");
    let no_meter = text.split("[meter]").next().expect("rig text").to_string();
    let rig = dir.path().join("no-meter.toml");
    std::fs::write(&rig, no_meter).expect("write");
    let s = run(RunOptions {
        tags: Some("@metering".into()),
        ..RunOptions::new(rig)
    });
    // The two reference-meter scenarios skip; the units check by physics, the cadence,
    // relay-off and device_type-0 scenarios run without a meter.
    assert_eq!(
        (s.counts.passed, s.counts.failed, s.counts.skipped),
        (4, 0, 2),
        "{s:?}"
    );
    assert!(!s.ok(), "a run with skipped scenarios is not a pass");
}

#[test]
fn metering_runs_against_a_scpi_analyzer_as_the_reference() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = run::default_rig_text().expect("default rig");
    let base = text.split("[meter]").next().expect("rig text").to_string();
    let rig = dir.path().join("scpi.toml");
    std::fs::write(
        &rig,
        format!("{base}[meter]\nkind = \"scpi\"\naddress = \"virtual\"\nclass_percent = 0.5\n"),
    )
    .expect("write");
    let s = run(RunOptions {
        tags: Some("@rule-electricity-accuracy".into()),
        ..RunOptions::new(rig)
    });
    assert_eq!(
        (s.counts.passed, s.counts.failed, s.counts.skipped),
        (2, 0, 0),
        "{s:?}"
    );
}

#[test]
fn a_plug_that_cannot_be_brought_to_ap_mode_stops_the_run_with_one_message() {
    // Nothing listens at the AP address; power and button "work" (commands that succeed)
    // but bring nothing back. The run must stop once, saying so, not fail every scenario.
    // Held (bound, never listening) for the whole test: no other socket can start
    // listening there meanwhile.
    let dead =
        plugrig::drivers::reserved_port::ReservedPort::refusing([127, 0, 0, 1].into()).expect("reserve");
    let ap = dead.addr;
    let dir = tempfile::tempdir().expect("tempdir");
    let rig = dir.path().join("dead.toml");
    std::fs::write(
        &rig,
        format!(
            r#"[rig]
name = "dead"
time_scale = 10

[dut]
kind = "external"
ap = "{ap}"
broker_host = "127.0.0.1"
power_on = ["true"]
power_off = ["true"]
button_press = ["true"]

[broker]
kind = "embedded"
username = "u"
password = "p"
"#
        ),
    )
    .expect("write rig");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = std::time::Instant::now();
    let opts = RunOptions {
        tags: Some("@provisioning".into()),
        ..RunOptions::new(rig)
    };
    let err = rt.block_on(run::run(opts)).expect_err("the run must stop");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("the DUT could not be returned to a factory state before the first scenario"),
        "{msg}"
    );
    assert!(
        msg.contains("after a 10 s button hold"),
        "the strategy tried everything: {msg}"
    );
    // Three probes of at most 10-15 s each, not one per scenario.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_simulated_plug_that_fails_on_its_own_is_reported_as_the_rigs_failure() {
    // A stand-in for plug-sim that says ready, then stops as plug-sim does on a failure of
    // the host (issue 19: its AP port taken by another socket): status 3 and one stderr line.
    let dir = tempfile::tempdir().expect("tempdir");
    let ap = plugrig::drivers::reserved_port::ReservedPort::refusing([127, 0, 0, 1].into()).expect("reserve");
    let control =
        plugrig::drivers::reserved_port::ReservedPort::refusing([127, 0, 0, 1].into()).expect("reserve");
    let script = dir.path().join("plug-sim");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho 'plug-sim ready ap={} control={}'\nsleep 0.2\n\
             echo \"plug-sim: board failure (the simulation, not the plug's firmware): firmware stopped: Address already in use (os error 98)\" >&2\nexit 3\n",
            ap.addr, control.addr
        ),
    )
    .expect("write script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let sim = run::default_rig_text().expect("sim.toml");
    let rig_text = sim
        .replace(
            "kind = \"sim\"",
            &format!("kind = \"sim\"\nbinary = {:?}", script.display().to_string()),
        )
        .replace("console = \"pty\"", "console = \"stdout\"");
    assert!(rig_text.contains("binary = "), "rigs/sim.toml changed shape");
    let rig = dir.path().join("dying.toml");
    std::fs::write(&rig, rig_text).expect("write rig");
    let started = std::time::Instant::now();
    let s = run(RunOptions {
        tags: Some("@provisioning and not @errors".into()),
        ..RunOptions::new(rig)
    });
    assert_eq!(
        (s.counts.passed, s.counts.failed, s.counts.skipped),
        (0, 3, 0),
        "{s:?}"
    );
    for f in &s.failures {
        let why = f.rig_failure.as_deref().unwrap_or_default();
        assert!(
            why.starts_with("the rig failed, not the plug") && why.contains("Address already in use"),
            "{f:?}"
        );
    }
    assert!(
        s.line().contains("(3 of them the rig's failure, not the plug's)"),
        "{}",
        s.line()
    );
    assert!(
        s.failure_report(false).contains("The rig's failures"),
        "{}",
        s.failure_report(false)
    );
    // The dead plug is noticed at once, not after the AP connection's 10 s.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// The plug-sim processes whose parent is `pid`.
fn plug_sims_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            let exe = std::fs::read_link(format!("/proc/{p}/exe")).unwrap_or_default();
            ppid == Some(&pid.to_string()) && exe.to_string_lossy().contains("plug-sim")
        })
        .collect()
}

#[test]
fn a_run_killed_with_sigkill_leaves_no_plug_running_and_the_next_run_sweeps_its_state() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut run = Command::new(env!("CARGO_BIN_EXE_plugrig"))
        .args(["run", "--tags", "@switch"])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("plugrig runs");
    let pid = run.id();
    // Mid-scenario: plugs are up.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let plugs = loop {
        let p = plug_sims_of(pid);
        if !p.is_empty() {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "no plug-sim started");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(300));
    run.kill().expect("SIGKILL");
    run.wait().expect("reaped");
    // The parent-death signal is immediate; give the kernel a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let alive = |p: &u32| Path::new(&format!("/proc/{p}")).exists();
    while plugs.iter().any(alive) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<&u32> = plugs.iter().filter(|p| alive(p)).collect();
    assert!(
        left.is_empty(),
        "plug-sim processes outlived the killed run: {left:?}"
    );
    let stale = || -> usize {
        std::fs::read_dir(tmp.path())
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("plugrig-sim-"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(
        stale() > 0,
        "the killed run left no state to sweep: the test proves nothing"
    );
    // The next run sweeps it (a selection that runs one scenario).
    let out = Command::new(env!("CARGO_BIN_EXE_plugrig"))
        .args(["run", "--tags", "@rule-firmware-infor"])
        .env("TMPDIR", tmp.path())
        .output()
        .expect("plugrig runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("state left by runs that died"), "{text}");
    assert_eq!(stale(), 0, "stale state directories remain");
}
