//! JUnit XML from the run's record, in the form CI servers show inline (GitLab, Jenkins): a
//! testsuite per feature, a testcase per scenario with properties (the rig, the firmware
//! version, the rules it checks, every measurement with its limits and verdict), the
//! failing step's error, the reason of a skip, and for a failed scenario its timeline in
//! `<system-out>`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use crate::rig::Rig;
use crate::scenario::record::{DutIdentity, Outcome, ScenarioRecord};

/// XML text and attribute escaping; control characters a plug may send are dropped (XML
/// 1.0 cannot carry them).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

fn property(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        out,
        r#"        <property name="{}" value="{}"/>"#,
        esc(name),
        esc(value)
    );
}

fn testcase(out: &mut String, s: &ScenarioRecord, rig: &Rig, dut: &DutIdentity, run: &[(String, String)]) {
    let _ = writeln!(
        out,
        r#"    <testcase name="{}" classname="{}" file="{}" line="{}" time="{:.3}">"#,
        esc(&s.name),
        esc(&s.feature_name),
        esc(&s.key.feature),
        s.key.line,
        s.duration.as_secs_f64()
    );
    out.push_str("      <properties>\n");
    property(out, "rig", &rig.file.rig.name);
    for (name, value) in run {
        property(out, name, value);
    }
    if let Some(v) = &dut.firmware_version {
        property(out, "firmware_version", v);
    }
    let rules: Vec<&str> = s.rules().collect();
    property(out, "rules", &rules.join(" "));
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    for m in &s.world.measurements {
        let n = seen.entry(m.name.as_str()).or_default();
        *n += 1;
        property(
            out,
            &format!("measurement.{}[{n}]", m.name),
            &format!(
                "{:.6} {} limits {} {}",
                m.value,
                m.unit,
                m.limits,
                if m.pass { "pass" } else { "FAIL" }
            ),
        );
    }
    if s.attempts.total() > 1 {
        let list: Vec<String> = attempts_in_order(s)
            .iter()
            .map(|a| {
                let class = a
                    .attempts
                    .class
                    .map(|c| format!(" ({})", c.name()))
                    .unwrap_or_default();
                format!("{} {}{class}", a.attempts.number, a.outcome.as_str())
            })
            .collect();
        property(out, "attempts", &list.join(", "));
    }
    if let Some(q) = &s.quarantine {
        property(
            out,
            "quarantine",
            &format!("{} ({}; until {}; {})", q.reason, q.link, q.expires, q.entry),
        );
        if q.ready_to_release {
            property(out, "quarantine.ready_to_release", "true");
        }
    }
    out.push_str("      </properties>\n");
    match s.outcome {
        Outcome::Passed => {
            // Surefire's convention for a pass after reruns: each failed run as a
            // <flakyFailure>, so Jenkins and GitLab show the test as flaky.
            for a in s.attempts.others.iter().filter(|a| a.outcome == Outcome::Failed) {
                rerun_element(out, "flakyFailure", a);
            }
        }
        Outcome::Failed if s.quarantine.is_some() => {
            // A quarantined failure does not fail the build: a skip that says why.
            let q = s
                .quarantine
                .as_ref()
                .map(|q| q.reason.as_str())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                r#"      <skipped message="{}"/>"#,
                esc(&format!(
                    "quarantined ({q}): failed: {}",
                    s.first_error().unwrap_or_default()
                ))
            );
            system_out(out, s);
        }
        Outcome::Skipped => {
            let why = match &s.skip_reason {
                Some(r) => format!("{}: {r}", crate::report::statement::not_judged(r).name()),
                None => s.steps.iter().find_map(|st| st.error.clone()).unwrap_or_default(),
            };
            let _ = writeln!(out, r#"      <skipped message="{}"/>"#, esc(&why));
        }
        Outcome::Failed => {
            let failed = s.steps.iter().find(|st| st.outcome == Outcome::Failed);
            let (step, error) = failed
                .map(|st| (st.text.as_str(), st.error.clone().unwrap_or_default()))
                .unwrap_or(("", String::new()));
            let first_line = error.lines().next().unwrap_or_default();
            // JUnit's <error> is a test that could not run as meant, <failure> an assertion
            // that failed: the rig's failure is no verdict on the plug.
            match s.rig_failure() {
                Some(why) => {
                    let _ = writeln!(
                        out,
                        r#"      <error message="{}" type="rig">{}
{}</error>"#,
                        esc(why),
                        esc(step),
                        esc(&error)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        r#"      <failure message="{}" type="{}">{}
{}</failure>"#,
                        esc(first_line),
                        s.attempts.class.map_or("step", |c| c.name()),
                        esc(step),
                        esc(&error)
                    );
                }
            }
            // Surefire's convention for the other failed runs of a test that failed.
            for a in s.attempts.others.iter().filter(|a| a.outcome == Outcome::Failed) {
                rerun_element(out, "rerunFailure", a);
            }
            system_out(out, s);
        }
    }
    out.push_str("    </testcase>\n");
}

/// A scenario's timeline as `<system-out>`.
fn system_out(out: &mut String, s: &ScenarioRecord) {
    out.push_str("      <system-out>");
    for e in &s.world.timeline {
        out.push_str(&esc(&e.to_string()));
        out.push('\n');
    }
    out.push_str("</system-out>\n");
}

/// Every attempt of a scenario, in the order they ran.
pub fn attempts_in_order(s: &ScenarioRecord) -> Vec<&ScenarioRecord> {
    let mut all: Vec<&ScenarioRecord> = s.attempts.others.iter().chain(std::iter::once(s)).collect();
    all.sort_by_key(|a| a.attempts.number);
    all
}

/// A failed attempt other than the verdict's, as Surefire writes a rerun: `<flakyFailure>`
/// (the test passed in the end) or `<rerunFailure>` (it failed), with the error and the
/// attempt's timeline.
fn rerun_element(out: &mut String, tag: &str, a: &ScenarioRecord) {
    let error = a
        .steps
        .iter()
        .find(|st| st.outcome == Outcome::Failed)
        .and_then(|st| st.error.clone())
        .unwrap_or_default();
    let _ = writeln!(
        out,
        r#"      <{tag} message="{}" type="{}">"#,
        esc(&format!(
            "attempt {}: {}",
            a.attempts.number,
            error.lines().next().unwrap_or_default()
        )),
        a.attempts.class.map_or("step", |c| c.name())
    );
    let _ = writeln!(out, "        <stackTrace>{}</stackTrace>", esc(&error));
    out.push_str("        <system-out>");
    for e in &a.world.timeline {
        out.push_str(&esc(&e.to_string()));
        out.push('\n');
    }
    out.push_str("</system-out>\n");
    let _ = writeln!(out, "      </{tag}>");
}

/// The JUnit document for `scenarios`.
/// `run`: figures about the rig (its measured jitter), given with every testcase.
pub fn render(
    scenarios: &[ScenarioRecord],
    rig: &Rig,
    dut: &DutIdentity,
    run: &[(String, String)],
) -> String {
    // A quarantined failure is written as a skip (see `testcase`).
    let count = |list: &[&ScenarioRecord], o: Outcome| {
        list.iter()
            .filter(|s| {
                let shown = match s.outcome {
                    Outcome::Failed if s.quarantine.is_some() => Outcome::Skipped,
                    x => x,
                };
                shown == o && (s.rig_failure().is_none() || s.quarantine.is_some())
            })
            .count()
    };
    let errors = |list: &[&ScenarioRecord]| {
        list.iter()
            .filter(|s| s.rig_failure().is_some() && s.quarantine.is_none())
            .count()
    };
    let mut features: Vec<&str> = scenarios.iter().map(|s| s.key.feature.as_str()).collect();
    features.dedup();
    let all: Vec<&ScenarioRecord> = scenarios.iter().collect();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="plugrig" tests="{}" failures="{}" errors="{}" skipped="{}">"#,
        all.len(),
        count(&all, Outcome::Failed),
        errors(&all),
        count(&all, Outcome::Skipped)
    );
    for f in features {
        let list: Vec<&ScenarioRecord> = scenarios.iter().filter(|s| s.key.feature == f).collect();
        let name = list.first().map(|s| s.feature_name.as_str()).unwrap_or(f);
        let time: f64 = list.iter().map(|s| s.duration.as_secs_f64()).sum();
        let _ = writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{}" skipped="{}" time="{time:.3}">"#,
            esc(name),
            list.len(),
            count(&list, Outcome::Failed),
            errors(&list),
            count(&list, Outcome::Skipped)
        );
        for s in list {
            testcase(&mut out, s, rig, dut, run);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

pub fn write(
    scenarios: &[ScenarioRecord],
    rig: &Rig,
    dut: &DutIdentity,
    run: &[(String, String)],
    path: &Path,
) -> anyhow::Result<()> {
    std::fs::write(path, render(scenarios, rig, dut, run))
        .with_context(|| format!("writing {}", path.display()))
}
