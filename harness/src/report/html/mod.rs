//! The HTML report, `DIR/index.html` under `--report DIR`: one self-contained page written
//! from the run's record, to open straight from a CI artifact. Inline CSS, inline SVG plots
//! (`report::plots`), nothing loaded from anywhere; a few lines of script only to expand and
//! collapse, everything is in the page without it.
//!
//! The page: the run (rig, time scale, the DUT's identity, totals), the results per rule
//! grouped by source ([spec], [app], [profile]), the scenarios not run and why, then every
//! scenario, failed ones first and open: its steps with the failing step's error, its plots,
//! its measurements and its timeline with the row nearest the failure marked
//! (`tr.failure-moment`, `#scenario-<n>-failure`). Scenario `n` is the n-th of the record
//! (file order), `id="scenario-<n>"`, `class="scenario failed|passed|skipped"`.
//!
//! Everything that comes from the device (payloads, console lines, error texts) is escaped.
//! Long timelines are cut (the first and last rows and the rows around the failure stay),
//! so a full run's page stays a few MB.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use oracle::rules::{self, Source, RULES};

use crate::drivers::timeline::{Dir, Entry, Event};

mod known_failures;
mod timeline;

use known_failures::{attempts, quarantine};
use timeline::{nearest, timeline};

use super::closing_line::{profile_only, ClosingCounts};
use super::markup::{escape, escape_text};
use super::plots;
use crate::scenario::record::{Outcome, RunRecord, ScenarioRecord};

/// Timeline rows kept of a failed scenario: the first and the last this many.
const ROWS_FAILED: usize = 300;
/// ... and of any other scenario.
const ROWS_OTHER: usize = 50;
/// Rows kept on each side of the failure moment, wherever it is.
const ROWS_AROUND_FAILURE: usize = 25;
/// Measurements rows kept at each end of a long table (failed ones always stay).
const ROWS_MEASUREMENTS: usize = 150;
/// Characters of one timeline row's text.
const MAX_ROW_TEXT: usize = 1500;
/// Characters of one step's error.
const MAX_ERROR_TEXT: usize = 20_000;

/// Writes the report of `run` to `path` (its directory is created).
pub fn write(run: &RunRecord, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, render(run)).with_context(|| format!("writing {}", path.display()))
}

/// The page, as [`write`] writes it.
pub fn render(run: &RunRecord) -> String {
    let t = totals(run);
    let ok = passed(run, &t);
    let mut h = String::with_capacity(256 * 1024);
    let verdict = if ok { "PASS" } else { "FAIL" };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{verdict}: plugrig on {}: {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n",
        escape(&run.rig_name),
        escape(&t.line())
    );
    let _ = write!(
        h,
        "<header class=\"run {}\"><h1>plugrig conformance report</h1>\
         <p class=\"verdict\"><span class=\"badge {}\">{verdict}</span> {}</p>\
         <p class=\"tools\"><button type=\"button\" data-open=\"1\">expand all</button> \
         <button type=\"button\" data-open=\"0\">collapse all</button></p></header>\n<main>\n",
        if ok { "passed" } else { "failed" },
        if ok { "passed" } else { "failed" },
        escape(&t.line())
    );
    summary(&mut h, run, &t);
    quarantine(&mut h, run);
    rule_results(&mut h, run);
    skipped(&mut h, run);
    scenarios(&mut h, run);
    h.push_str("</main>\n<script>\n");
    h.push_str(SCRIPT);
    h.push_str("</script>\n</body>\n</html>\n");
    h
}

/// At most `max` characters of `s`, saying how many were left out.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((cut, _)) => format!("{} [... {} more characters]", &s[..cut], s[cut..].chars().count()),
    }
}

/// A path as the `href` of a link relative to the page.
fn href(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

fn wall(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 {
        format!("{}m {:.1}s", (s / 60.0).floor(), s % 60.0)
    } else {
        format!("{s:.1}s")
    }
}

/// A failed scenario that checks only [profile] rules, on a run where they are advisory
/// (counted as `ClosingCounts::of` counts it).
fn advisory(run: &RunRecord, s: &ScenarioRecord) -> bool {
    run.advisory_profile
        && s.outcome == Outcome::Failed
        && s.rig_failure().is_none()
        && profile_only(s.rules())
}

/// The closing line's counts of the run.
fn totals(run: &RunRecord) -> ClosingCounts {
    ClosingCounts::of(&run.scenarios, run.not_selected, run.advisory_profile)
}

/// The run's verdict, as its exit code says it (expired quarantine entries fail it).
fn passed(run: &RunRecord, t: &ClosingCounts) -> bool {
    t.ok() && run.quarantine_expired.is_empty()
}

fn anchor(i: usize) -> String {
    format!("scenario-{}", i + 1)
}

fn kv(h: &mut String, key: &str, value_html: &str) {
    let _ = writeln!(h, "<tr><th scope=\"row\">{key}</th><td>{value_html}</td></tr>");
}

fn opt(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("<code>{}</code>", escape(v)),
        None => "<span class=\"none\">not seen</span>".to_string(),
    }
}

/// Where the verdicts come from: plugrig's build, the firmware, the rig file, the host, the
/// run's times and selection.
fn provenance(h: &mut String, p: &crate::provenance::Provenance, wall: Duration) {
    use crate::provenance::{rfc3339, Provenance};
    h.push_str("<details class=\"provenance\" id=\"provenance\"><summary>Provenance</summary>\n<table class=\"kv\">\n");
    kv(h, "plugrig", &escape(&Provenance::plugrig()));
    kv(
        h,
        "plugrig commit",
        &format!("<code>{}</code>", escape(crate::provenance::COMMIT)),
    );
    kv(h, "firmware", &escape(&p.firmware_line()));
    kv(
        h,
        "rig file",
        &format!(
            "<code>{}</code> sha256 <code>{}</code>",
            escape(&p.rig_path.display().to_string()),
            escape(&p.rig_sha256)
        ),
    );
    kv(h, "host", &escape(&p.host));
    kv(h, "rig jitter", &escape(&p.jitter));
    kv(
        h,
        "started, ended",
        &format!("{}, {}", rfc3339(p.started), rfc3339(p.started + wall)),
    );
    kv(h, "tags", &escape(p.tags.as_deref().unwrap_or("(all)")));
    let features = if p.features.is_empty() {
        "(default)".to_string()
    } else {
        p.features.join(" ")
    };
    kv(h, "features", &escape(&features));
    h.push_str("</table>\n</details>\n");
}

fn summary(h: &mut String, run: &RunRecord, t: &ClosingCounts) {
    h.push_str("<section id=\"summary\">\n<h2>Run</h2>\n<div class=\"cols\">\n<table class=\"kv\">\n");
    kv(
        h,
        "rig",
        &format!(
            "{} <code>{}</code>",
            escape(&run.rig_name),
            escape(&run.rig_path.display().to_string())
        ),
    );
    let scale = if run.time_scale > 1 {
        format!(
            "{0}: the plug's timers run {0}&times; faster; every expected period and tolerance is divided by {0}",
            run.time_scale
        )
    } else {
        format!("{}: the protocol's real periods", run.time_scale)
    };
    kv(h, "time scale", &scale);
    kv(
        h,
        "[profile] rules",
        if run.advisory_profile {
            "advisory: their failures are reported, not counted"
        } else {
            "strict: their failures fail the run"
        },
    );
    kv(h, "wall time", &wall(run.wall));
    h.push_str("</table>\n<table class=\"kv\">\n");
    kv(h, "DUT topic prefix", &opt(&run.dut.prefix));
    let device_type = match run.dut.device_type.as_deref() {
        Some("1") => "<code>1</code> (with power monitoring)".to_string(),
        Some("0") => "<code>0</code> (without power monitoring)".to_string(),
        _ => opt(&run.dut.device_type),
    };
    kv(h, "device type", &device_type);
    kv(h, "firmware version", &opt(&run.dut.firmware_version));
    kv(h, "product model", &opt(&run.dut.product_model));
    h.push_str("</table>\n</div>\n");
    if let Some(p) = &run.provenance {
        provenance(h, p, run.wall);
    }
    h.push_str("<ul class=\"totals\">\n");
    let _ = writeln!(h, "<li class=\"passed\"><b>{}</b> passed</li>", t.passed);
    let _ = writeln!(
        h,
        "<li class=\"failed\"><b>{}</b> failed</li>",
        t.failed - t.advisory
    );
    if run.advisory_profile {
        let _ = writeln!(
            h,
            "<li class=\"advisory\"><b>{}</b> advisory [profile] failures</li>",
            t.advisory
        );
    }
    let _ = writeln!(h, "<li class=\"skipped\"><b>{}</b> skipped</li>", t.skipped);
    h.push_str("</ul>\n");
    // A compact index of every scenario, failed ones first.
    h.push_str("<table class=\"index\">\n<thead><tr><th>outcome</th><th>feature</th><th>scenario</th><th>rules</th><th>time</th></tr></thead>\n<tbody>\n");
    for i in order(run) {
        let s = &run.scenarios[i];
        let _ = writeln!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
            s.outcome.as_str(),
            outcome_badge(run, s),
            escape(&s.feature_name),
            anchor(i),
            escape(&s.name),
            rule_chips(s),
            if s.outcome == Outcome::Skipped && s.steps.is_empty() {
                String::new()
            } else {
                wall(s.duration)
            }
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// Failed scenarios first, then the rest, each in file order.
fn order(run: &RunRecord) -> Vec<usize> {
    let mut v: Vec<usize> = (0..run.scenarios.len()).collect();
    v.sort_by_key(|i| (run.scenarios[*i].outcome != Outcome::Failed, *i));
    v
}

fn outcome_badge(run: &RunRecord, s: &ScenarioRecord) -> String {
    if let Some(why) = s.rig_failure() {
        // The rig's failure: no verdict on the plug (see `ScenarioRecord::rig_failure`).
        format!(
            "<span class=\"badge failed\">failed</span> <span class=\"badge advisory\" title=\"{}\">the rig's failure</span>",
            escape(why)
        )
    } else if advisory(run, s) {
        "<span class=\"badge failed\">failed</span> <span class=\"badge advisory\">advisory</span>"
            .to_string()
    } else {
        let mut b = format!("<span class=\"badge {0}\">{0}</span>", s.outcome.as_str());
        if s.flaky_pass() {
            let _ = write!(
                b,
                " <span class=\"badge advisory\" title=\"passed at attempt {} of {}\">flaky</span>",
                s.attempts.number,
                s.attempts.total()
            );
        }
        if s.quarantine.is_some() {
            b.push_str(" <span class=\"badge undefined\">quarantined</span>");
        }
        b
    }
}

fn source_class(s: Source) -> &'static str {
    match s {
        Source::Spec => "spec",
        Source::App => "app",
        Source::Profile => "profile",
    }
}

fn rule_chips(s: &ScenarioRecord) -> String {
    s.rules()
        .map(|id| {
            let class = rules::find(id)
                .map(|r| source_class(r.source))
                .unwrap_or("unknown");
            format!("<a class=\"rule {class}\" href=\"#rule-{0}\">{0}</a>", escape(id))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn rule_results(h: &mut String, run: &RunRecord) {
    h.push_str("<section id=\"rules\">\n<h2>Results per rule</h2>\n");
    let groups = [
        (Source::Spec, "stated in the vendor's protocol document"),
        (Source::App, "not in the document; the vendor's apps depend on it"),
        (Source::Profile, "this project's choices where both are silent"),
    ];
    for (source, what) in groups {
        let mut rows = String::new();
        let mut unexercised = Vec::new();
        let mut counts = [0usize; 4];
        for rule in RULES.iter().filter(|r| r.source == source) {
            let sc: Vec<usize> = (0..run.scenarios.len())
                .filter(|i| run.scenarios[*i].rules().any(|r| r == rule.id))
                .collect();
            if sc.is_empty() {
                unexercised.push(rule);
                continue;
            }
            let (verdict, k) = rule_verdict(run, &sc);
            counts[k] += 1;
            let _ = writeln!(
                rows,
                "<tr id=\"rule-{0}\" class=\"{verdict}\"><td><code>{0}</code></td><td>{1}</td><td><span class=\"badge {verdict}\">{verdict}</span></td><td>{2}</td></tr>",
                escape(rule.id),
                escape(rule.text),
                scenario_links(run, &sc)
            );
        }
        let _ = writeln!(
            h,
            "<h3><span class=\"rule {}\">{}</span> {what}: {} passed, {} failed, {} advisory, {} skipped</h3>",
            source_class(source),
            source.tag(),
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        );
        if !rows.is_empty() {
            h.push_str("<table class=\"rules\">\n<thead><tr><th>rule</th><th>what</th><th>result</th><th>scenarios</th></tr></thead>\n<tbody>\n");
            h.push_str(&rows);
            h.push_str("</tbody>\n</table>\n");
        }
        if !unexercised.is_empty() {
            let _ = writeln!(
                h,
                "<details class=\"unexercised\"><summary>{} {} rules no scenario of this run checks</summary>\n<ul>",
                unexercised.len(),
                source.tag()
            );
            for r in unexercised {
                let _ = writeln!(
                    h,
                    "<li id=\"rule-{0}\"><code>{0}</code> {1}</li>",
                    escape(r.id),
                    escape(r.text)
                );
            }
            h.push_str("</ul>\n</details>\n");
        }
    }
    // Tags naming a rule the suite does not know.
    let mut unknown: Vec<&str> = run
        .scenarios
        .iter()
        .flat_map(|s| s.rules())
        .filter(|id| rules::find(id).is_none())
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    if !unknown.is_empty() {
        h.push_str("<h3>Rule tags that name no known rule</h3>\n<table class=\"rules\">\n<tbody>\n");
        for id in unknown {
            let sc: Vec<usize> = (0..run.scenarios.len())
                .filter(|i| run.scenarios[*i].rules().any(|r| r == id))
                .collect();
            let (verdict, _) = rule_verdict(run, &sc);
            let _ = writeln!(
                h,
                "<tr id=\"rule-{0}\" class=\"{verdict}\"><td><code>{0}</code></td><td><span class=\"badge {verdict}\">{verdict}</span></td><td>{1}</td></tr>",
                escape(id),
                scenario_links(run, &sc)
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

/// A rule's result from its scenarios: failed if one failed (advisory if every failure is),
/// else skipped if one was not run, else passed. With its index into passed, failed,
/// advisory, skipped.
fn rule_verdict(run: &RunRecord, sc: &[usize]) -> (&'static str, usize) {
    let failed: Vec<&ScenarioRecord> = sc
        .iter()
        .map(|i| &run.scenarios[*i])
        .filter(|s| s.outcome == Outcome::Failed)
        .collect();
    if !failed.is_empty() {
        if failed.iter().all(|s| advisory(run, s)) {
            ("advisory", 2)
        } else {
            ("failed", 1)
        }
    } else if sc.iter().any(|i| run.scenarios[*i].outcome == Outcome::Skipped) {
        ("skipped", 3)
    } else {
        ("passed", 0)
    }
}

fn scenario_links(run: &RunRecord, sc: &[usize]) -> String {
    sc.iter()
        .map(|i| {
            let s = &run.scenarios[*i];
            format!(
                "<a class=\"sc {}\" href=\"#{}\" title=\"{}\">{}</a>",
                s.outcome.as_str(),
                anchor(*i),
                s.outcome.as_str(),
                escape(&s.name)
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn skipped(h: &mut String, run: &RunRecord) {
    let list: Vec<usize> = (0..run.scenarios.len())
        .filter(|i| run.scenarios[*i].outcome == Outcome::Skipped)
        .collect();
    if list.is_empty() {
        return;
    }
    h.push_str("<section id=\"skipped\">\n<h2>Skipped scenarios</h2>\n<table class=\"skips\">\n<thead><tr><th>feature</th><th>scenario</th><th>not judged because</th><th>why</th></tr></thead>\n<tbody>\n");
    for i in list {
        let s = &run.scenarios[i];
        // The rig's skip says whether the plug does not claim it or the rig cannot check it.
        let kind = match &s.skip_reason {
            Some(r) => match crate::report::statement::not_judged(r) {
                crate::report::statement::RuleOutcome::NotApplicable => {
                    "not applicable: the plug does not claim it"
                }
                _ => "not checkable on this rig",
            },
            None => "no step definition",
        };
        let why = s.skip_reason.clone().unwrap_or_else(|| {
            s.steps
                .iter()
                .find(|st| st.outcome == Outcome::Skipped)
                .map(|st| format!("{}: {}", st.text, st.error.as_deref().unwrap_or("skipped")))
                .unwrap_or_else(|| "not run".to_string())
        });
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{kind}</td><td>{}</td></tr>",
            escape(&s.feature_name),
            anchor(i),
            escape(&s.name),
            escape(&why)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn scenarios(h: &mut String, run: &RunRecord) {
    h.push_str("<section id=\"scenarios\">\n<h2>Scenarios</h2>\n");
    for i in order(run) {
        scenario(h, run, i);
    }
    h.push_str("</section>\n");
}

fn scenario(h: &mut String, run: &RunRecord, i: usize) {
    let s = &run.scenarios[i];
    let id = anchor(i);
    let failed = s.outcome == Outcome::Failed;
    let _ = writeln!(
        h,
        "<details class=\"scenario {}\" id=\"{id}\"{}>\n<summary>{} <span class=\"feature\">{}</span> &rsaquo; <span class=\"name\">{}</span> <span class=\"chips\">{}</span></summary>\n<div class=\"body\">",
        s.outcome.as_str(),
        if failed { " open" } else { "" },
        outcome_badge(run, s),
        escape(&s.feature_name),
        escape(&s.name),
        rule_chips(s)
    );
    // Where it is and what it carries.
    let tags = s
        .tags
        .iter()
        .map(|t| format!("<code>@{}</code>", escape(t)))
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(
        h,
        "<p class=\"meta\"><code>{}:{}</code> &middot; {} &middot; {}</p>",
        escape(&s.key.feature),
        s.key.line,
        if tags.is_empty() {
            "no tags".to_string()
        } else {
            tags
        },
        wall(s.duration)
    );
    if let Some(why) = &s.skip_reason {
        let _ = writeln!(h, "<p class=\"skip-reason\">Not run: {}</p>", escape(why));
    }
    let w = &s.world;
    // The failure moment: the timeline row nearest the moment the step failed (or, when
    // that moment was not recorded, the last row of a failed scenario).
    let focus = if failed {
        match w.failed_at {
            Some(at) => nearest(&w.timeline, at),
            None => w.timeline.len().checked_sub(1),
        }
    } else {
        None
    };

    if !s.steps.is_empty() {
        h.push_str("<h4>Steps</h4>\n<ol class=\"steps\">\n");
        for st in &s.steps {
            let _ = write!(
                h,
                "<li class=\"step {0}\"><span class=\"badge {0}\">{0}</span> {1}{2}",
                st.outcome.as_str(),
                if st.background {
                    "<span class=\"bg\">background</span> "
                } else {
                    ""
                },
                escape(&st.text)
            );
            if let Some(e) = &st.error {
                if st.outcome == Outcome::Failed {
                    let _ = write!(
                        h,
                        "\n<pre class=\"error\">{}</pre>",
                        escape_text(&clip(e, MAX_ERROR_TEXT))
                    );
                    if let Some(at) = w.failed_at {
                        let _ = write!(
                            h,
                            "<p class=\"jump\">Failed at {} s on the timeline: <a href=\"#{id}-failure\">the failure moment</a></p>",
                            secs(at)
                        );
                    } else if focus.is_some() {
                        let _ = write!(
                            h,
                            "<p class=\"jump\"><a href=\"#{id}-failure\">The end of the timeline</a></p>"
                        );
                    }
                } else {
                    let _ = write!(h, " <span class=\"note\">({})</span>", escape(e));
                }
            }
            h.push_str("</li>\n");
        }
        h.push_str("</ol>\n");
    }

    attempts(h, s);

    if let Some(cap) = &w.capture {
        let _ = writeln!(
            h,
            "<p class=\"capture\">Packet capture: <a href=\"{}\">{}</a></p>",
            escape(&href(cap)),
            escape(&cap.display().to_string())
        );
    }

    let plots = plots::scenario_plots(&w.measurements, &id);
    if !plots.is_empty() {
        h.push_str("<h4>Plots</h4>\n<div class=\"plots\">\n");
        for p in plots {
            h.push_str("<figure>");
            h.push_str(&p.svg);
            let _ = writeln!(h, "<figcaption>{}</figcaption></figure>", escape(&p.title));
        }
        h.push_str("</div>\n");
    }

    if !w.measurements.is_empty() {
        measurements(h, s);
    }

    if !w.timeline.is_empty() {
        timeline(h, s, &id, focus);
    } else if s.skip_reason.is_none() {
        h.push_str("<p class=\"none\">No timeline was recorded.</p>\n");
    }
    h.push_str("</div>\n</details>\n");
}

fn measurements(h: &mut String, s: &ScenarioRecord) {
    let ms = &s.world.measurements;
    let keep = |i: usize| i < ROWS_MEASUREMENTS || i + ROWS_MEASUREMENTS >= ms.len() || !ms[i].pass;
    let _ = writeln!(
        h,
        "<h4>Measurements ({}, {} failed)</h4>\n<table class=\"measurements\">\n<thead><tr><th>name</th><th>value</th><th>unit</th><th>limits</th><th>at (s)</th><th>result</th></tr></thead>\n<tbody>",
        ms.len(),
        ms.iter().filter(|m| !m.pass).count()
    );
    let mut left_out = 0;
    for (i, m) in ms.iter().enumerate() {
        if !keep(i) {
            left_out += 1;
            continue;
        }
        if left_out > 0 {
            let _ = writeln!(
                h,
                "<tr class=\"gap\"><td colspan=\"6\">{left_out} passing measurements left out</td></tr>"
            );
            left_out = 0;
        }
        let _ = writeln!(
            h,
            "<tr class=\"{}\"><td>{}</td><td class=\"num\">{:.4}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            if m.pass { "pass" } else { "fail" },
            escape(&m.name),
            m.value,
            escape(m.unit),
            escape(&m.limits.to_string()),
            secs(m.at),
            if m.pass { "pass" } else { "<b>FAIL</b>" }
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

const CSS: &str = include_str!("page.css");

/// Expand / collapse all, and open the scenario a link points into.
const SCRIPT: &str = include_str!("page.js");

#[cfg(test)]
mod tests;
