//! The broker password and the WiFi password stay out of everything a run leaves behind:
//! the terminal, index.html, JUnit, Cucumber JSON, verdict.txt, the captures and the ledger
//! (`redact`), even when scenarios fail and print their timelines; `--keep-secrets` keeps
//! them (and proves that they would be there). The capture's masking is read back by tshark
//! in `capture.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use plugrig::commands::run;

const BROKER_PASSWORD: &str = "plugrig-secret";
const WIFI_PASSWORD: &str = plugrig::steps::provisioning::WIFI_PASSWORD;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn holding(dir: &Path, secret: &str) -> Vec<String> {
    files(dir)
        .into_iter()
        .filter(|f| {
            let bytes = std::fs::read(f).expect("read");
            bytes.windows(secret.len()).any(|w| w == secret.as_bytes())
        })
        .map(|f| f.display().to_string())
        .collect()
}

/// A scenario that fails waiting, so that its error carries the timeline's tail with the
/// 4002 (and its password) in it.
const FAILING: &str = "Feature: A failing step's timeline
  Scenario: A plug given a broker but no network does not connect
    Given a factory-fresh plug
    When the app sends the broker configuration with qos set to 1
    Then the plug connects to the broker within 1 s
";

/// `plugrig run` of the provisioning features on a plug that fails some of them, and of
/// `FAILING`, into `out`; returns the exit code and the terminal's text.
fn run(rig: &Path, failing: &Path, out: &Path, keep: bool) -> (Option<i32>, String) {
    let features = run::workspace_dir().join("features");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plugrig"));
    cmd.args(["run", "--tags", "@provisioning or @secrets", "--rig"])
        .arg(rig)
        .arg(features.join("provisioning.feature"))
        .arg(features.join("provisioning_errors.feature"))
        .arg(failing)
        .arg("--report")
        .arg(out)
        .arg("--history")
        .arg(out.join("ledger.db"));
    if keep {
        cmd.arg("--keep-secrets");
    }
    let o = cmd.output().expect("plugrig runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), text)
}

#[test]
fn secrets_stay_out_of_everything_a_run_leaves_unless_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = run::default_rig_text().expect("rigs/sim.toml");
    assert!(
        sim.contains(&format!("password = \"{BROKER_PASSWORD}\"")),
        "rigs/sim.toml's broker password changed"
    );
    let rig = dir.path().join("faulty.toml");
    std::fs::write(
        &rig,
        sim.replacen(
            "kind = \"sim\"",
            "kind = \"sim\"\nfaults = [\"length-as-range-code\"]",
            1,
        ),
    )
    .expect("write rig");
    let failing = dir.path().join("failing.feature");
    std::fs::write(&failing, format!("@secrets\n{FAILING}")).expect("write feature");

    let redacted = dir.path().join("redacted");
    let (code, terminal) = run(&rig, &failing, &redacted, false);
    assert_eq!(code, Some(1), "the fault fails scenarios:\n{terminal}");
    for secret in [BROKER_PASSWORD, WIFI_PASSWORD] {
        assert_eq!(
            holding(&redacted, secret),
            Vec::<String>::new(),
            "files holding {secret:?}"
        );
        assert!(!terminal.contains(secret), "the terminal shows {secret:?}");
    }
    let html = std::fs::read_to_string(redacted.join("index.html")).expect("html");
    assert!(
        html.contains(plugrig::report::redact::REDACTED),
        "the HTML says where a secret was"
    );
    for f in [
        "failing.junit.xml",
        "failing.cucumber.json",
        "provisioning_errors.junit.xml",
        "verdict.txt",
    ] {
        assert!(redacted.join(f).exists(), "{f} written");
    }

    // Kept on request: the same run shows them, so the check above could fail.
    let kept = dir.path().join("kept");
    let (code, terminal) = run(&rig, &failing, &kept, true);
    assert_eq!(code, Some(1));
    let html = std::fs::read_to_string(kept.join("index.html")).expect("html");
    assert!(html.contains(BROKER_PASSWORD) && html.contains(WIFI_PASSWORD));
    assert!(
        terminal.contains(BROKER_PASSWORD),
        "a failed step's timeline in the terminal shows the 4002"
    );
    assert!(
        holding(&kept, BROKER_PASSWORD)
            .iter()
            .any(|f| f.ends_with(".pcapng")),
        "a capture keeps the CONNECT password"
    );
}
