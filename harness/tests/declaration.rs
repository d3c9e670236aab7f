//! The plug's declaration (`rig::declaration`): its claims are checked for consistency
//! before anything starts (file, key and line), and against the plug as the run starts
//! (`features/declaration.feature`, rule `declared-claims`): a plug that claims what it does
//! not do fails those scenarios, by name; a claim it does not make leaves its scenarios
//! "not applicable".

#[path = "support/standin.rs"]
mod standin;
#[path = "support/suite.rs"]
mod suite;

use std::path::{Path, PathBuf};

use plugrig::commands::run::{self, RunOptions, Summary};
use plugrig::report::statement::{self, RuleOutcome};
use standin::{plug_sim_binary, StandIn};
use suite::run_alone as run;

/// plugs/plug-sim.toml, edited, written into `dir`.
fn declaration(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(run::workspace_dir().join("plugs/plug-sim.toml"))
        .expect("plugs/plug-sim.toml");
    let path = dir.join(name);
    std::fs::write(&path, edit(text)).expect("write the declaration");
    path
}

fn why(s: &Summary, scenario: &str) -> String {
    s.failures
        .iter()
        .find(|f| f.scenario.contains(scenario))
        .and_then(|f| f.why.clone())
        .unwrap_or_else(|| panic!("{scenario:?} did not fail: {:?}", s.failures))
}

#[test]
fn a_plug_that_claims_what_it_is_not_fails_each_claim_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    // plug-sim says device_name "plug_one", company "moko", and (with this fault) speaks
    // MQTT in clear under connect_mode 1. (Its firmware version is the declaration's own: the
    // rig starts the simulated plug with it.)
    let lying = declaration(dir.path(), "lying.toml", |t| {
        t.replace("device_name = \"plug_one\"", "device_name = \"acme_p1\"")
            .replace("company_name = \"moko\"", "company_name = \"acme\"")
    });
    let rig = dir.path().join("rig.toml");
    let text = run::default_rig_text()
        .expect("rigs/sim.toml")
        .replace("kind = \"sim\"", "kind = \"sim\"\nfaults = [\"plain-under-tls\"]");
    std::fs::write(&rig, text).expect("write rig");
    let s = run(RunOptions {
        tags: Some("@claims".into()),
        plug: Some(lying),
        ..RunOptions::new(rig)
    });
    assert_eq!(
        (s.counts.passed, s.counts.failed, s.counts.skipped),
        (0, 3, 0),
        "{:?}",
        s.failures
    );
    assert!(s
        .failed_rules
        .iter()
        .all(|r| r == "declared-claims" || r == "ap-identity" || r == "firmware-infor"));
    let name = why(&s, "4001 reply");
    assert!(
        name.contains("identity.device_name: declared \"acme_p1\", the plug says \"plug_one\""),
        "{name}"
    );
    assert!(name.contains("lying.toml"), "names the declaration: {name}");
    let version = why(&s, "firmware_infor");
    assert!(
        version.contains("firmware.company_name: declared \"acme\", the plug says \"moko\""),
        "{version}"
    );
    let tls = why(&s, "TLS");
    assert!(tls.contains("no TLS handshake"), "{tls}");
}

#[test]
fn an_external_plug_that_lies_about_its_device_type_fails_the_claim_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let args: Vec<String> = ["--time-scale", "10", "--device-type", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let plug = StandIn::start(std::process::Command::new(plug_sim_binary()), &args);
    // Its declaration says it measures power (and, for a bench plug, nothing of firmware).
    let decl = declaration(dir.path(), "claims-metering.toml", |t| {
        let at = t.find("\n# What firmware_infor").expect("the [firmware] comment");
        format!("{}\n[metering]\naccuracy_percent = 2.0\n", &t[..at])
    });
    let rig = dir.path().join("bench.toml");
    std::fs::write(
        &rig,
        format!(
            "[rig]\nname = \"lying-stand-in\"\ntime_scale = 10\n\n[dut]\n{}broker_host = \"127.0.0.1\"\nplug = \"{}\"\n{}",
            plug.dut_keys(),
            decl.display(),
            standin::BROKER_AND_RUN
        ),
    )
    .expect("write rig");
    let s = run(RunOptions {
        tags: Some("@claims".into()),
        ..RunOptions::new(rig)
    });
    let id = why(&s, "4001 reply");
    assert!(
        id.contains("declared-claims")
            && id.contains("claims-metering.toml")
            && id.contains("device_type \"0\""),
        "{id}"
    );
    assert!(s.failed_rules.iter().any(|r| r == "declared-claims"), "{s:?}");
}

#[test]
fn a_plug_that_does_not_declare_tls_is_not_judged_on_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let no_tls = declaration(dir.path(), "no-tls.toml", |t| {
        t.replace("tls = true", "tls = false")
    });
    let s = run(RunOptions {
        tags: Some("@claims or @tls".into()),
        plug: Some(no_tls),
        ..RunOptions::new(run::default_rig())
    });
    assert_eq!(s.counts.failed, 0, "{:?}", s.failures);
    let o = statement::rule_outcomes(&s.records, false);
    assert_eq!(o.get("tls-connect"), Some(&RuleOutcome::NotApplicable));
    // connect_mode 0 is every plug's: still judged.
    assert_eq!(o.get("tls-not-unasked"), Some(&RuleOutcome::Passed));
    assert_eq!(o.get("declared-claims"), Some(&RuleOutcome::Passed));
    // What the plug does not claim leaves nothing unjudged: a pass (exit 0), the skips
    // counted apart.
    assert!(s.ok(), "{}", s.line());
    assert_eq!(s.exit_code(), run::exit::PASSED);
    assert!(
        s.line().contains("skipped (4 not applicable, 0 not checkable)"),
        "{}",
        s.line()
    );
    assert!(s.line().contains("not selected"), "{}", s.line());
}

fn plugrig(args: &[&str]) -> (Option<i32>, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_plugrig"))
        .args(args)
        .output()
        .expect("plugrig runs");
    (
        o.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn inconsistent_claims_stop_the_run_before_it_starts_naming_file_key_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = declaration(dir.path(), "bad.toml", |t| {
        t.replace("device_type = \"1\"", "device_type = \"0\"")
    });
    let (code, out) = plugrig(&["run", "--plug", bad.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("bad.toml:25: metering.accuracy_percent"), "{out}");
    assert!(!out.contains("passed"), "nothing ran: {out}");

    // A claim written in the rig file as well as in the declaration: the rig's line.
    let rig = dir.path().join("rig.toml");
    std::fs::write(
        &rig,
        run::default_rig_text().expect("rigs/sim.toml").replace(
            "load_watts = 60.0",
            "load_watts = 60.0\nclaimed_accuracy_percent = 1.0",
        ),
    )
    .expect("write rig");
    let (code, out) = plugrig(&["run", "--rig", rig.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("rig.toml:15: dut.claimed_accuracy_percent is the plug's claim"),
        "{out}"
    );
    assert!(out.contains("metering.accuracy_percent"), "{out}");
}
