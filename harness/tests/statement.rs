//! The signed statement (`run --statement`, `keygen`, `verify`): its layout is an in-toto
//! Statement v1 in a DSSE envelope, OpenSSL (an independent Ed25519 implementation)
//! verifies its signature over DSSE's PAE, `plugrig verify` accepts it as written and
//! names the file when a verdict, a report file or a capture is edited, the rig file is
//! swapped or another key is used; and rules read "not applicable" on a plug without
//! metering, "not checkable" on a rig without a meter.

#[path = "support/suite.rs"]
mod suite;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use plugrig::commands::run::{self, RunOptions};
use plugrig::report::statement::{self, RuleOutcome};
use serde_json::Value;
use suite::run_alone as run;

fn plugrig(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_plugrig"))
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

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn rig_with(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let sim = run::default_rig_text().expect("rigs/sim.toml");
    let path = dir.join(name);
    std::fs::write(&path, edit(sim)).expect("write rig");
    path
}

#[test]
fn a_statement_is_verified_and_every_edit_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = dir.path().join("lab-key");
    let (code, out) = plugrig(&["keygen", "--out", s(&prefix)]);
    assert_eq!(code, Some(0), "{out}");
    let public = dir.path().join("lab-key.pub");
    let secret = std::fs::read_to_string(&prefix).expect("secret key");
    assert!(secret.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&prefix).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    let (code, out) = plugrig(&["keygen", "--out", s(&prefix)]);
    assert_eq!(code, Some(2), "an existing key is never overwritten: {out}");

    let report = dir.path().join("report");
    let rig = run::default_rig();
    let summary = run(RunOptions {
        tags: Some("@rule-switch-on-change or @rule-electricity-units".into()),
        report: Some(report.clone()),
        statement: Some(prefix.clone()),
        ..RunOptions::new(rig.clone())
    });
    assert!(summary.ok(), "{}", summary.line());

    // Layout: a DSSE envelope around an in-toto Statement v1 with a test-result predicate.
    let env: Value =
        serde_json::from_slice(&std::fs::read(report.join("statement.json")).expect("statement"))
            .expect("JSON");
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    let sigs = env["signatures"].as_array().expect("signatures");
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0]["keyid"].as_str().map(str::len), Some(64));
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(env["payload"].as_str().expect("payload"))
        .expect("base64");
    let st: Value = serde_json::from_slice(&payload).expect("statement JSON");
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        st["predicateType"],
        "https://in-toto.io/attestation/test-result/v0.1"
    );
    let subject = &st["subject"][0];
    assert_eq!(
        subject["digest"]["sha256"].as_str().map(str::len),
        Some(64),
        "{subject}"
    );
    let p = &st["predicate"];
    assert_eq!(p["result"], "PASSED");
    let passed: Vec<&str> = p["passedTests"]
        .as_array()
        .expect("passedTests")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        passed.contains(&"switch-on-change") && passed.contains(&"electricity-units"),
        "{passed:?}"
    );
    assert_eq!(p["failedTests"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        p["configuration"][0]["digest"]["sha256"].as_str(),
        Some(plugrig::provenance::sha256_file(&rig).expect("rig hash").as_str())
    );
    let rules = p["plugrig"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), oracle::rules::RULES.len(), "every rule is listed");
    assert!(rules.iter().any(|r| r["outcome"] == "not selected"));
    let reports: Vec<&str> = p["plugrig"]["reports"]
        .as_array()
        .expect("reports")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        reports.contains(&"index.html")
            && reports.contains(&"verdict.txt")
            && reports.contains(&"features.junit.xml"),
        "{reports:?}"
    );
    let capture = reports
        .iter()
        .find(|r| r.starts_with("captures/"))
        .expect("a capture is covered")
        .to_string();

    // OpenSSL verifies the signature over DSSE's PAE with the public key file as written.
    let pae = dir.path().join("pae.bin");
    std::fs::write(&pae, statement::pae("application/vnd.in-toto+json", &payload)).expect("pae");
    let sig = dir.path().join("sig.bin");
    std::fs::write(
        &sig,
        b64.decode(sigs[0]["sig"].as_str().expect("sig"))
            .expect("sig base64"),
    )
    .expect("sig");
    let o = Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            s(&public),
            "-rawin",
            "-in",
            s(&pae),
            "-sigfile",
            s(&sig),
        ])
        .output()
        .expect("openssl runs (Debian's openssl)");
    assert!(
        o.status.success(),
        "openssl: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    // plugrig verify: as written, then each edit named.
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", s(&report), "--key", s(&public)];
        args.extend_from_slice(extra);
        plugrig(&args)
    };
    let (code, out) = verify(&["--rig", s(&rig)]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("statement verified: PASSED"), "{out}");
    let tamper = |rel: &str, check: &dyn Fn(Option<i32>, &str)| {
        let path = report.join(rel);
        let before = std::fs::read(&path).expect("read");
        let mut after = before.clone();
        let last = after.len() - 2;
        after[last] ^= 0x01;
        std::fs::write(&path, &after).expect("write");
        let (code, out) = verify(&[]);
        check(code, &out);
        std::fs::write(&path, &before).expect("restore");
    };
    for rel in ["verdict.txt", "features.junit.xml", capture.as_str()] {
        tamper(rel, &|code, out| {
            assert_eq!(code, Some(1), "{rel}: {out}");
            assert!(
                out.contains(&format!("{rel}: changed since the statement was signed")),
                "{out}"
            );
        });
    }
    tamper("statement.json", &|code, out| {
        assert_eq!(code, Some(1), "{out}");
    });
    let other = rig_with(dir.path(), "other.toml", |t| {
        t.replace("load_watts = 60.0", "load_watts = 61.0")
    });
    let (code, out) = verify(&["--rig", s(&other)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("other.toml: not the rig file the statement names"),
        "{out}"
    );
    // The plug's declaration: the one the run named verifies; another is named.
    let declared = run::workspace_dir().join("plugs/plug-sim.toml");
    let (code, out) = verify(&["--plug", s(&declared)]);
    assert_eq!(code, Some(0), "{out}");
    let swapped = dir.path().join("swapped-plug.toml");
    std::fs::write(
        &swapped,
        std::fs::read_to_string(&declared)
            .expect("plugs/plug-sim.toml")
            .replace("accuracy_percent = 2.0", "accuracy_percent = 0.5"),
    )
    .expect("write the declaration");
    let (code, out) = verify(&["--plug", s(&swapped)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("swapped-plug.toml: not the plug declaration the statement names"),
        "{out}"
    );
    let (code, out) = plugrig(&["keygen", "--out", s(&dir.path().join("another"))]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = plugrig(&["verify", s(&report), "--key", s(&dir.path().join("another.pub"))]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("no signature by this key verifies"), "{out}");
    std::fs::write(report.join("captures/extra.pcapng"), b"x").expect("write");
    let (code, out) = verify(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("captures/extra.pcapng: in the report, but not covered"),
        "{out}"
    );
}

#[test]
fn a_rule_not_judged_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let accuracy = "@rule-electricity-accuracy";
    // A plug without metering: not applicable.
    let declared = std::fs::read_to_string(run::workspace_dir().join("plugs/plug-sim.toml"))
        .expect("plugs/plug-sim.toml");
    let at = declared
        .find("\n# The simulated metering")
        .expect("the [metering] comment");
    let type0 = dir.path().join("type0-plug.toml");
    std::fs::write(
        &type0,
        declared[..at].replace("device_type = \"1\"", "device_type = \"0\""),
    )
    .expect("write the declaration");
    let s0 = run(RunOptions {
        tags: Some(accuracy.into()),
        plug: Some(type0),
        ..RunOptions::new(run::default_rig())
    });
    let o = statement::rule_outcomes(&s0.records, false);
    assert_eq!(
        o.get("electricity-accuracy"),
        Some(&RuleOutcome::NotApplicable),
        "{:?}",
        s0.records.iter().map(|r| &r.skip_reason).collect::<Vec<_>>()
    );
    assert_eq!(o.get("switch-on-change"), Some(&RuleOutcome::NotSelected));
    // A rig without a reference meter: not checkable.
    let no_meter = rig_with(dir.path(), "nometer.toml", |t| {
        let at = t
            .find("# The reference meter")
            .expect("the [meter] section's comment");
        t[..at].to_string()
    });
    let s1 = run(RunOptions {
        tags: Some(accuracy.into()),
        ..RunOptions::new(no_meter)
    });
    let o = statement::rule_outcomes(&s1.records, false);
    assert_eq!(
        o.get("electricity-accuracy"),
        Some(&RuleOutcome::NotCheckable),
        "{:?}",
        s1.records.iter().map(|r| &r.skip_reason).collect::<Vec<_>>()
    );
}
