//! Proof that the suite catches bugs: the simulated plug with one deliberate protocol
//! violation at a time (`plug-sim --fault`) fails a scenario that names the broken rule.
//! The fault-free plug passing everything is the conformance test itself.

#[path = "support/faulty_rig.rs"]
mod faulty_rig;

use faulty_rig::rig_with_fault;
use plugrig::commands::run::{self, RunOptions};

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
    ("ota-r3-for-http-error", "@rule-ota-r2", "ota-r2"),
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
    ("accept-wrong-target", "@rule-ota-r2", "ota-r2"),
    ("ota-keeps-version", "@rule-ota-r1", "ota-r1"),
    ("voltage-in-volts", "@rule-electricity-units", "electricity-units"),
    ("plain-under-tls", "@rule-tls-no-clear", "tls-no-clear"),
    ("nul-terminated-replies", "@errors", "ap-reply-bytes"),
    // Wrong units show by physics too, without the reference meter.
    (
        "power-in-deciwatts",
        "@rule-electricity-units",
        "electricity-units",
    ),
];

/// Faults on a plug that makes another conformant choice, where the check must not lean on
/// plug-sim's habits: (fault, variant, scenarios, rule).
const ON_VARIANTS: &[(&str, &str, &str, &str)] = &[
    // A countdown ticking every 1.03 s that never reports 0/0/0.
    ("no-final-zero", "slow-tick", "@rule-delay-end", "delay-end"),
];

#[test]
fn every_fault_is_caught_by_a_scenario_naming_the_broken_rule() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut missed = Vec::new();
    let cases = CASES
        .iter()
        .map(|(f, t, r)| (*f, None, *t, *r))
        .chain(ON_VARIANTS.iter().map(|(f, v, t, r)| (*f, Some(*v), *t, *r)));
    for (fault, variant, tags, rule) in cases {
        let rig = rig_with_fault(dir.path(), fault, variant);
        let opts = RunOptions {
            tags: Some(tags.into()),
            ..RunOptions::new(rig)
        };
        let s = rt.block_on(run::run(opts)).expect("the run starts");
        let named = s.failed_rules.iter().any(|r| r == rule);
        let fault = match variant {
            Some(v) => format!("{fault} (variant {v})"),
            None => fault.to_string(),
        };
        println!(
            "fault {fault:<40} failed {} of {} scenarios; rule {rule} named: {named}",
            s.counts.failed,
            s.counts.passed + s.counts.failed
        );
        if s.counts.failed == 0 || !named {
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
