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
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::protocol::rules::{self, Source, RULES};
use crate::timeline::{Dir, Entry, Event};

use super::counter::Failure;
use super::plots;
use super::record::{Outcome, RunRecord, ScenarioRecord};

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
    let t = Totals::of(run);
    let mut h = String::with_capacity(256 * 1024);
    let verdict = if t.ok() { "PASS" } else { "FAIL" };
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
        if t.ok() { "passed" } else { "failed" },
        if t.ok() { "passed" } else { "failed" },
        escape(&t.line())
    );
    summary(&mut h, run, &t);
    rule_results(&mut h, run);
    skipped(&mut h, run);
    scenarios(&mut h, run);
    h.push_str("</main>\n<script>\n");
    h.push_str(SCRIPT);
    h.push_str("</script>\n</body>\n</html>\n");
    h
}

/// Escapes text for HTML content and attribute values. Control characters (a payload may
/// carry NULs) are shown as `\xNN`.
pub fn escape(s: &str) -> String {
    escape_as(s, true)
}

/// As [`escape`], for element content only: quotes stay (JSON payloads are full of them).
pub fn escape_text(s: &str) -> String {
    escape_as(s, false)
}

fn escape_as(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            '\'' if quotes => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
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

/// A failed scenario that checks only [profile] rules, on a run where they are advisory.
fn advisory(run: &RunRecord, s: &ScenarioRecord) -> bool {
    run.advisory_profile
        && s.outcome == Outcome::Failed
        && Failure {
            scenario: s.name.clone(),
            rules: s.rules().map(str::to_string).collect(),
        }
        .profile_only()
}

struct Totals {
    passed: usize,
    failed: usize,
    advisory: usize,
    skipped: usize,
}

impl Totals {
    fn of(run: &RunRecord) -> Totals {
        let n = |o: Outcome| run.scenarios.iter().filter(|s| s.outcome == o).count();
        Totals {
            passed: n(Outcome::Passed),
            failed: n(Outcome::Failed),
            advisory: run.scenarios.iter().filter(|s| advisory(run, s)).count(),
            skipped: n(Outcome::Skipped),
        }
    }

    /// As the run's closing line.
    fn line(&self) -> String {
        let advisory = if self.advisory > 0 {
            format!(
                " ({} of them [profile] only, advisory: not counted)",
                self.advisory
            )
        } else {
            String::new()
        };
        format!(
            "conformance: {} passed, {} failed{advisory}, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    fn ok(&self) -> bool {
        self.failed == self.advisory && self.skipped == 0 && self.passed > 0
    }
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

fn summary(h: &mut String, run: &RunRecord, t: &Totals) {
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
    h.push_str("</table>\n</div>\n<ul class=\"totals\">\n");
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
    if advisory(run, s) {
        "<span class=\"badge failed\">failed</span> <span class=\"badge advisory\">advisory</span>"
            .to_string()
    } else {
        format!("<span class=\"badge {0}\">{0}</span>", s.outcome.as_str())
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
    h.push_str("<section id=\"skipped\">\n<h2>Skipped scenarios</h2>\n<table class=\"skips\">\n<thead><tr><th>feature</th><th>scenario</th><th>why</th></tr></thead>\n<tbody>\n");
    for i in list {
        let s = &run.scenarios[i];
        let why = s.skip_reason.clone().unwrap_or_else(|| {
            s.steps
                .iter()
                .find(|st| st.outcome == Outcome::Skipped)
                .map(|st| format!("{}: {}", st.text, st.error.as_deref().unwrap_or("skipped")))
                .unwrap_or_else(|| "not run".to_string())
        });
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td></tr>",
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

/// The entry nearest `at` (the earlier one on a tie).
fn nearest(timeline: &[Entry], at: Duration) -> Option<usize> {
    timeline
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| e.at.abs_diff(at))
        .map(|(i, _)| i)
}

/// The rows of a timeline of `n` entries kept: the first and last `ends`, and
/// `ROWS_AROUND_FAILURE` on each side of `focus`; in order, not overlapping.
fn kept_rows(n: usize, ends: usize, focus: Option<usize>) -> Vec<Range<usize>> {
    if n <= 2 * ends {
        return std::iter::once(0..n).collect();
    }
    let mut r = vec![0..ends, n - ends..n];
    if let Some(f) = focus {
        r.push(f.saturating_sub(ROWS_AROUND_FAILURE)..(f + ROWS_AROUND_FAILURE + 1).min(n));
    }
    r.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::new();
    for x in r {
        match out.last_mut() {
            Some(last) if x.start <= last.end => last.end = last.end.max(x.end),
            _ => out.push(x),
        }
    }
    out
}

/// A timeline entry as (row class, what, text).
fn describe(e: &Event) -> (&'static str, &'static str, String) {
    match e {
        Event::Mqtt(Dir::Up, p) => ("up", "plug &rarr; broker", crate::protocol::packet_summary(p)),
        Event::Mqtt(Dir::Down, p) => ("down", "broker &rarr; plug", crate::protocol::packet_summary(p)),
        Event::TapConnection { open } => (
            "tap",
            "tap",
            if *open {
                "connection from the plug opened".into()
            } else {
                "connection from the plug closed".into()
            },
        ),
        Event::TapRefused => ("tap", "tap", "refused a connection (broker outage)".into()),
        Event::ApSent(s) => ("ap", "rig &rarr; AP", s.clone()),
        Event::ApReceived(s) => ("ap", "AP &rarr; rig", s.clone()),
        Event::ApClosed => ("ap", "AP", "connection closed by the plug".into()),
        Event::Console(s) => ("console", "console", s.clone()),
        Event::AppReceived { topic, payload } => ("app", "app &larr;", format!("{topic} {payload}")),
        Event::AppSent { topic, payload } => ("app", "app &rarr;", format!("{topic} {payload}")),
        Event::PlugExited(s) => ("exit", "PLUG EXITED", s.clone()),
        Event::Note(s) => ("note", "note", s.clone()),
    }
}

fn timeline(h: &mut String, s: &ScenarioRecord, id: &str, focus: Option<usize>) {
    let tl = &s.world.timeline;
    let ends = if s.outcome == Outcome::Failed {
        ROWS_FAILED
    } else {
        ROWS_OTHER
    };
    let kept = kept_rows(tl.len(), ends, focus);
    let shown: usize = kept.iter().map(|r| r.len()).sum();
    let _ = writeln!(
        h,
        "<h4>Timeline ({} entries{})</h4>\n<table class=\"timeline\">\n<thead><tr><th>time (s)</th><th>what</th><th>text</th></tr></thead>\n<tbody>",
        tl.len(),
        if shown < tl.len() {
            format!(", {shown} shown")
        } else {
            String::new()
        }
    );
    let gap = |h: &mut String, r: Range<usize>| {
        let _ = writeln!(
            h,
            "<tr class=\"gap\"><td colspan=\"3\">&hellip; {} entries left out, {} s to {} s &hellip;</td></tr>",
            r.len(),
            secs(tl[r.start].at),
            secs(tl[r.end - 1].at)
        );
    };
    let mut next = 0;
    for r in kept {
        if r.start > next {
            gap(h, next..r.start);
        }
        for i in r.clone() {
            let e = &tl[i];
            let (class, what, text) = describe(&e.event);
            let text = escape_text(&clip(&text, MAX_ROW_TEXT));
            if Some(i) == focus {
                let note = match s.world.failed_at {
                    Some(at) => format!("the step failed at {} s", secs(at)),
                    None => "the last entry of the failed scenario".to_string(),
                };
                let _ = writeln!(
                    h,
                    "<tr class=\"{class} failure-moment\" id=\"{id}-failure\"><td>{}</td><td>{what}</td><td>{text} <a class=\"fm\" href=\"#{id}-failure\">&#9664; failure moment: {note}</a></td></tr>",
                    secs(e.at)
                );
            } else {
                let _ = writeln!(
                    h,
                    "<tr class=\"{class}\"><td>{}</td><td>{what}</td><td>{text}</td></tr>",
                    secs(e.at)
                );
            }
        }
        next = r.end;
    }
    if next < tl.len() {
        gap(h, next..tl.len());
    }
    h.push_str("</tbody>\n</table>\n");
}

const CSS: &str = r#"
:root { --pass: #1a7f37; --fail: #cf222e; --skip: #9a6700; --adv: #8250df; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { padding: 12px 24px; color: #fff; background: #24292f; }
header.failed { border-bottom: 6px solid var(--fail); }
header.passed { border-bottom: 6px solid var(--pass); }
header h1 { margin: 0; font-size: 20px; }
header .verdict { margin: 6px 0 0; font-size: 16px; }
header .tools { margin: 6px 0 0; }
main { padding: 8px 24px 48px; }
section { margin-top: 16px; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
h4 { margin: 14px 0 4px; font-size: 14px; }
code, pre, table.timeline td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid var(--line); padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef1f4; }
.cols { display: flex; gap: 16px; flex-wrap: wrap; }
table.kv th { width: 10em; }
ul.totals { list-style: none; padding: 0; display: flex; gap: 12px; }
ul.totals li { background: #fff; border: 1px solid var(--line); border-left: 6px solid; padding: 6px 14px; }
ul.totals b { font-size: 22px; margin-right: 4px; }
ul.totals .passed { border-left-color: var(--pass); }
ul.totals .failed { border-left-color: var(--fail); }
ul.totals .skipped { border-left-color: var(--skip); }
ul.totals .advisory { border-left-color: var(--adv); }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; color: #fff; font-size: 12px; font-weight: 600; }
.badge.passed, .badge.PASS { background: var(--pass); }
.badge.failed { background: var(--fail); }
.badge.skipped { background: var(--skip); }
.badge.advisory { background: var(--adv); }
.badge.undefined { background: var(--muted); }
.rule { display: inline-block; padding: 0 5px; border-radius: 4px; font-family: ui-monospace, monospace; font-size: 12px; text-decoration: none; border: 1px solid; }
.rule.spec { color: #0550ae; border-color: #0550ae; }
.rule.app { color: #953800; border-color: #953800; }
.rule.profile { color: var(--adv); border-color: var(--adv); }
.rule.unknown { color: var(--muted); border-color: var(--muted); }
a.sc.failed { color: var(--fail); font-weight: 600; }
a.sc.skipped { color: var(--skip); }
tr.failed > td:first-child { border-left: 4px solid var(--fail); }
tr.advisory > td:first-child { border-left: 4px solid var(--adv); }
tr.skipped > td:first-child { border-left: 4px solid var(--skip); }
details.unexercised { margin: 4px 0 8px; color: var(--muted); }
details.scenario { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--muted); margin: 8px 0; }
details.scenario.failed { border-left-color: var(--fail); }
details.scenario.passed { border-left-color: var(--pass); }
details.scenario.skipped { border-left-color: var(--skip); }
details.scenario > summary { cursor: pointer; padding: 6px 10px; font-weight: 600; }
details.scenario .feature { color: var(--muted); font-weight: normal; }
details.scenario .body { padding: 0 12px 12px; overflow-x: auto; }
.meta, .none, .note { color: var(--muted); }
ol.steps { padding-left: 24px; }
ol.steps li { margin: 2px 0; }
.bg { color: var(--muted); font-style: italic; }
pre.error { background: #ffebe9; border: 1px solid #ff8182; padding: 8px; white-space: pre-wrap; word-break: break-word; max-height: 32em; overflow: auto; }
.jump { margin: 2px 0 8px; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; max-width: 660px; }
figcaption { color: var(--muted); font-size: 12px; }
svg.plot { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
table.measurements td.num { text-align: right; font-family: ui-monospace, monospace; }
table.measurements tr.fail td { background: #ffebe9; color: var(--fail); }
table.timeline { width: 100%; }
table.timeline td { padding: 1px 6px; white-space: pre-wrap; word-break: break-all; }
table.timeline td:first-child { text-align: right; width: 6em; }
table.timeline td:nth-child(2) { width: 9em; white-space: nowrap; color: var(--muted); }
table.timeline tr.down td:nth-child(3) { color: #0550ae; }
table.timeline tr.app td:nth-child(3) { color: #953800; }
table.timeline tr.ap td:nth-child(3) { color: #6639ba; }
table.timeline tr.console td:nth-child(3) { color: #57606a; }
table.timeline tr.exit td, table.timeline tr.note td:nth-child(3) { font-weight: 600; }
tr.gap td { text-align: center; color: var(--muted); background: #f6f8fa; font-style: italic; }
tr.failure-moment td { background: #ffebe9; border-top: 2px solid var(--fail); border-bottom: 2px solid var(--fail); }
a.fm { color: var(--fail); font-weight: 600; text-decoration: none; }
@media print { details.scenario > .body { display: block; } header .tools { display: none; } }
"#;

/// Expand / collapse all, and open the scenario a link points into.
const SCRIPT: &str = r#"
document.querySelectorAll('button[data-open]').forEach(function (b) {
  b.addEventListener('click', function () {
    var open = b.getAttribute('data-open') === '1';
    document.querySelectorAll('details.scenario').forEach(function (d) { d.open = open; });
  });
});
function reveal() {
  var id = decodeURIComponent(location.hash.slice(1));
  var el = id && document.getElementById(id);
  for (var p = el; p; p = p.parentElement) { if (p.tagName === 'DETAILS') p.open = true; }
  if (el) el.scrollIntoView();
}
window.addEventListener('hashchange', reveal);
if (location.hash) reveal();
"#;

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use rumqttc::{Packet, Publish, QoS};

    use super::*;
    use crate::measure::{Limits, Measurements};
    use crate::report::record::{DutIdentity, ScenarioKey, StepRecord, WorldRecord};

    fn publish(topic: &str, payload: &str, pkid: u16) -> Event {
        let mut p = Publish::new(topic, QoS::AtLeastOnce, payload.as_bytes().to_vec());
        p.pkid = pkid;
        Event::Mqtt(Dir::Up, Packet::Publish(p))
    }

    fn at(ms: u64, event: Event) -> Entry {
        Entry {
            at: Duration::from_millis(ms),
            event,
        }
    }

    fn step(text: &str, outcome: Outcome, error: Option<&str>) -> StepRecord {
        StepRecord {
            text: text.into(),
            outcome,
            error: error.map(str::to_string),
            background: false,
        }
    }

    fn heartbeat_failed() -> ScenarioRecord {
        let topic = "iot_plug/MK112/US/aabbccddeeff/device/switch_state";
        let mut timeline = vec![
            at(10, Event::ApSent("{\"header\":4001}".into())),
            at(20, Event::ApReceived("{\"code\":0}".into())),
        ];
        let mut m = Measurements::default();
        let lim = Limits::within(3.0, 0.15);
        for (i, t) in [3000u64, 6000, 9000, 12600].into_iter().enumerate() {
            timeline.push(at(t, publish(topic, "{\"switch_state\":\"off\"}", i as u16 + 1)));
            timeline.push(at(
                t + 2,
                Event::Mqtt(Dir::Down, Packet::PubAck(rumqttc::PubAck::new(i as u16 + 1))),
            ));
            if i > 0 {
                let prev = [3000u64, 6000, 9000, 12600][i - 1];
                m.record(
                    "heartbeat_interval",
                    "s",
                    lim,
                    (t - prev) as f64 / 1000.0,
                    Duration::from_millis(t),
                );
            }
        }
        timeline.push(at(
            13000,
            Event::Console("relay off <script>alert(1)</script>".into()),
        ));
        timeline.push(at(13500, Event::Note("done".into())));
        ScenarioRecord {
            key: ScenarioKey {
                feature: "features/switch.feature".into(),
                line: 25,
            },
            feature_name: "Switching".into(),
            name: "The heartbeat comes every 30 s".into(),
            tags: vec!["rule-switch-heartbeat".into(), "rule-session-keepalive".into()],
            outcome: Outcome::Failed,
            steps: vec![
                step("Given a provisioned plug", Outcome::Passed, None),
                step(
                    "Then switch_state arrives every 30 s within tolerance, 3 times in a row",
                    Outcome::Failed,
                    Some("heartbeat_interval 3.6000 s outside its limits [2.8500, 3.1500]"),
                ),
                step(
                    "And no other publish changed the relay meanwhile",
                    Outcome::Skipped,
                    None,
                ),
            ],
            duration: Duration::from_millis(13600),
            world: WorldRecord {
                timeline,
                measurements: m.all().to_vec(),
                failed_at: Some(Duration::from_millis(12590)),
                capture: Some(PathBuf::from("captures/switch 25.pcapng")),
                ..Default::default()
            },
            skip_reason: None,
        }
    }

    fn passed(line: usize, entries: usize) -> ScenarioRecord {
        let timeline = (0..entries)
            .map(|i| {
                at(
                    i as u64 * 100,
                    publish(
                        "iot_plug/MK112/US/aabbccddeeff/device/electricity_information",
                        "{\"voltage\":2301,\"current\":261,\"power\":60}",
                        (i % 60000) as u16 + 1,
                    ),
                )
            })
            .collect();
        ScenarioRecord {
            key: ScenarioKey {
                feature: "features/metering.feature".into(),
                line,
            },
            feature_name: "Metering".into(),
            name: format!("Scenario on line {line}"),
            tags: vec!["rule-electricity-cadence".into()],
            outcome: Outcome::Passed,
            steps: vec![step("Then it passes", Outcome::Passed, None)],
            duration: Duration::from_secs(2),
            world: WorldRecord {
                timeline,
                ..Default::default()
            },
            skip_reason: None,
        }
    }

    fn run(scenarios: Vec<ScenarioRecord>) -> RunRecord {
        RunRecord {
            rig_name: "sim".into(),
            rig_path: "rigs/sim.toml".into(),
            time_scale: 10,
            advisory_profile: false,
            dut: DutIdentity {
                prefix: Some("iot_plug/MK112/US/aabbccddeeff".into()),
                device_type: Some("1".into()),
                firmware_version: Some("000001".into()),
                product_model: Some("MK112".into()),
            },
            scenarios,
            wall: Duration::from_secs(20),
        }
    }

    /// The HTML of the element of id `id` up to the next scenario.
    fn scenario_html<'a>(page: &'a str, id: &str) -> &'a str {
        let start = page.find(&format!("id=\"{id}\"")).expect(id);
        let start = page[..start].rfind('<').unwrap();
        let end = page[start + 1..]
            .find("<details class=\"scenario")
            .map(|e| start + 1 + e)
            .unwrap_or(page.len());
        &page[start..end]
    }

    #[test]
    fn a_failed_scenario_shows_its_error_failure_moment_and_plot() {
        let skipped = ScenarioRecord {
            key: ScenarioKey {
                feature: "features/reset.feature".into(),
                line: 5,
            },
            feature_name: "Reset".into(),
            name: "A long press".into(),
            tags: vec!["rule-reset-button".into(), "needs_button".into()],
            outcome: Outcome::Skipped,
            steps: vec![],
            duration: Duration::ZERO,
            world: WorldRecord::default(),
            skip_reason: Some("needs button".into()),
        };
        let page = render(&run(vec![passed(3, 10), heartbeat_failed(), skipped]));
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("conformance: 1 passed, 1 failed, 1 skipped"));
        // Failed first, open, with its error, plot and failure moment.
        let first = page.find("<details class=\"scenario").unwrap();
        assert!(page[first..].starts_with("<details class=\"scenario failed\" id=\"scenario-2\" open>"));
        let sc = scenario_html(&page, "scenario-2");
        assert!(sc.contains("The heartbeat comes every 30 s"));
        assert!(sc.contains("heartbeat_interval 3.6000 s outside its limits [2.8500, 3.1500]"));
        assert!(sc.contains("<svg class=\"plot\""), "{sc}");
        assert!(sc.contains("<title id=\"scenario-2-plot-1-title\">heartbeat_interval: 3 intervals"));
        // failed_at 12.590 s: the nearest row is the PUBLISH at 12.600 s.
        let fm = sc.find("failure-moment").expect("a failure-moment row");
        let row = &sc[fm..sc[fm..].find("</tr>").unwrap() + fm];
        assert!(
            row.contains("id=\"scenario-2-failure\"") && row.contains("<td>12.600</td>"),
            "{row}"
        );
        assert!(row.contains("PUBLISH qos=1 pid=4"), "{row}");
        assert!(sc.contains("href=\"#scenario-2-failure\""));
        assert!(sc.contains("href=\"captures/switch%2025.pcapng\""));
        assert!(sc.contains("<b>FAIL</b>"));
        // The summary: identity, rules by source, the skip reason.
        assert!(page.contains("<code>iot_plug/MK112/US/aabbccddeeff</code>"));
        assert!(page.contains("<code>000001</code>"));
        assert!(page.contains("<tr id=\"rule-switch-heartbeat\" class=\"failed\">"));
        assert!(page.contains("<tr id=\"rule-electricity-cadence\" class=\"passed\">"));
        assert!(page.contains("<tr id=\"rule-reset-button\" class=\"skipped\">"));
        assert!(page.contains("<td>needs button</td>"));
        assert!(page.contains("<details class=\"scenario passed\" id=\"scenario-1\">"));
        assert!(page.contains("<details class=\"scenario skipped\" id=\"scenario-3\">"));
        // Nothing fetched.
        for bad in ["http://", "https://", "<link", "src=", "@import", "url("] {
            let hits: Vec<_> = page
                .match_indices(bad)
                .filter(|(i, _)| !page[..*i].ends_with("xmlns=\""))
                .collect();
            assert!(hits.is_empty(), "{bad} in the page");
        }
    }

    #[test]
    fn device_text_is_escaped() {
        let mut s = heartbeat_failed();
        s.world.timeline.push(at(
            13600,
            publish("t/<b>", "{\"x\":\"</td><script>alert('x')</script>\u{0}\"}", 9),
        ));
        s.name = "a <script> name & more".into();
        s.steps[1].error = Some("saw <script>alert(2)</script>".into());
        let page = render(&run(vec![s]));
        let body = &page[page.find("<body>").unwrap()..page.rfind("<script>").unwrap()];
        assert!(!body.contains("<script"), "an unescaped script tag");
        assert!(!body.contains("</td><script"));
        assert!(body.contains("&lt;/td&gt;&lt;script&gt;alert('x')&lt;/script&gt;\\x00"));
        assert_eq!(escape("\"'"), "&quot;&#39;");
        assert!(body.contains("a &lt;script&gt; name &amp; more"));
        assert!(body.contains("t/&lt;b&gt;"));
        assert_eq!(page.matches("<script>").count(), 1, "only the page's own script");
    }

    #[test]
    fn long_timelines_are_cut_but_keep_the_failure() {
        assert_eq!(kept_rows(10, 300, Some(5)), [Range { start: 0, end: 10 }]);
        assert_eq!(kept_rows(1000, 100, None), vec![0..100, 900..1000]);
        assert_eq!(kept_rows(1000, 100, Some(500)), vec![0..100, 475..526, 900..1000]);
        assert_eq!(kept_rows(1000, 100, Some(110)), vec![0..136, 900..1000]);
        let mut s = heartbeat_failed();
        let filler: Vec<Entry> = (0..3000)
            .map(|i| at(20 + i, Event::Console(format!("line {i}"))))
            .collect();
        s.world.timeline.splice(2..2, filler);
        let page = render(&run(vec![s]));
        assert!(page.contains("entries left out"));
        assert!(page.contains("failure-moment"));
        assert!(page.contains("Timeline (3012 entries, "));
    }

    #[test]
    fn advisory_profile_failures_are_counted_apart() {
        let mut s = passed(3, 5);
        s.outcome = Outcome::Failed;
        s.tags = vec!["rule-delay-every-value".into()];
        let mut r = run(vec![s, passed(9, 5)]);
        r.advisory_profile = true;
        let page = render(&r);
        assert!(page.contains(
            "conformance: 1 passed, 1 failed (1 of them [profile] only, advisory: not counted), 0 skipped"
        ));
        assert!(page.contains("<tr id=\"rule-delay-every-value\" class=\"advisory\">"));
        assert!(page.contains("<b>1</b> advisory [profile] failures"));
        assert!(page.contains("<span class=\"badge passed\">PASS</span>"));
    }

    /// A full default run: about 100 scenarios, timelines up to 2000 entries.
    #[test]
    fn a_full_run_stays_a_few_mb() {
        let mut scenarios: Vec<ScenarioRecord> = (0..97)
            .map(|i| passed(i * 10 + 1, 100 + (i * 97) % 1900))
            .collect();
        for i in 0..3 {
            let mut f = heartbeat_failed();
            f.key.line = 2000 + i;
            let filler: Vec<Entry> = (0..2000)
                .map(|j| at(20 + j, Event::Console(format!("tick {j}"))))
                .collect();
            f.world.timeline.splice(2..2, filler);
            scenarios.push(f);
        }
        let page = render(&run(scenarios));
        println!("100-scenario report: {} bytes", page.len());
        assert!(page.len() < 3_000_000, "{} bytes", page.len());
    }

    #[test]
    fn write_creates_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report/index.html");
        write(&run(vec![heartbeat_failed()]), &path).unwrap();
        assert!(std::fs::read_to_string(path).unwrap().contains("scenario failed"));
    }
}
