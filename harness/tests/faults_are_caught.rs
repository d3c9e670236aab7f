//! Proof that the suite catches bugs: the simulated plug with one deliberate protocol
//! violation at a time (`plug-sim --fault`) fails a scenario that names the broken rule.
//! The fault-free plug passing everything is the conformance test itself.

use std::path::Path;

use plugrig::runner::{self, RunOptions};

/// (fault, scenarios to run, the rule a failing scenario must name)
const CASES: &[(&str, &str, &str)] = &[
    (
        "no-cancel-on-switch",
        "@rule-delay-cancel-switch",
        "delay-cancel-switch",
    ),
    (
        "power-in-deciwatts",
        "@rule-electricity-accuracy",
        "electricity-accuracy",
    ),
    ("wrong-order-code", "@rule-ap-code-3", "ap-code-3"),
    ("late-heartbeat", "@rule-switch-heartbeat", "switch-heartbeat"),
    ("ota-r3-for-http-error", "@rule-ota-r2 and not @slow", "ota-r2"),
    ("no-switch-echo", "@rule-switch-on-change", "switch-on-change"),
    ("length-as-range-code", "@rule-ap-code-1", "ap-code-1"),
    ("always-qos0", "@rule-session-qos", "session-qos"),
    ("no-final-zero", "@rule-delay-end", "delay-end"),
    ("no-delete-device", "@rule-reset-button", "reset-button"),
    ("reset-keeps-config", "@rule-reset-app", "reset-app"),
    (
        "no-switch-state-on-connect",
        "@rule-switch-on-connect",
        "switch-on-connect",
    ),
    ("ignore-client-id", "@rule-ap-client-id", "ap-client-id"),
    (
        "slow-cadence",
        "@rule-delay-cadence or @rule-electricity-cadence",
        "delay-cadence",
    ),
    (
        "accept-out-of-range-countdown",
        "@rule-delay-out-of-range",
        "delay-out-of-range",
    ),
    ("accept-wrong-target", "@rule-ota-r2 and not @slow", "ota-r2"),
];

fn rig_with_fault(dir: &Path, fault: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(runner::default_rig()).expect("default rig");
    let text = text.replace(
        "[dut]\nkind = \"sim\"",
        &format!("[dut]\nkind = \"sim\"\nfaults = [\"{fault}\"]"),
    );
    assert!(
        text.contains("faults = ["),
        "the default rig's [dut] starts with kind = \"sim\""
    );
    let path = dir.join(format!("{fault}.toml"));
    std::fs::write(&path, text).expect("write rig");
    path
}

#[test]
fn every_fault_is_caught_by_a_scenario_naming_the_broken_rule() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut missed = Vec::new();
    for (fault, tags, rule) in CASES {
        let rig = rig_with_fault(dir.path(), fault);
        let opts = RunOptions {
            rig,
            tags: Some((*tags).into()),
            report: None,
            features: Vec::new(),
            advisory_profile: false,
        };
        let s = rt.block_on(runner::run(opts)).expect("the run starts");
        let named = s.failed_rules.iter().any(|r| r == rule);
        println!(
            "fault {fault:<30} failed {} of {} scenarios; rule {rule} named: {named}",
            s.failed,
            s.passed + s.failed
        );
        if s.failed == 0 || !named {
            missed.push(format!("{fault}: {s:?}"));
        }
    }
    assert!(
        missed.is_empty(),
        "faults the suite did not catch:\n{}",
        missed.join("\n")
    );
    assert!(CASES.len() >= 12);
}
