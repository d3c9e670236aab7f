//! `plugrig history`: the ledger's runs as one self-contained HTML page (no script, font or
//! style fetched; plots as inline SVG), for a nightly job's artifact.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::analysis::{self, Class, ScenarioHistory, Trend};
use super::rows::{LedgerRun, RunFilter};
use super::Ledger;
use crate::report::markup::escape;

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
h1{margin:0 0 .2em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse}td,th{padding:2px 6px;text-align:left;vertical-align:top}\
table.runs td,table.rules td{border-bottom:1px solid #eee}\
table.strips td.cell{width:14px;padding:0;text-align:center;font:11px monospace;color:#fff}\
td.P{background:#2e8b3a}td.R{background:#c9a400}td.F{background:#c62828}td.E{background:#6a1b9a}\
td.S{background:#9e9e9e}td.N{background:#fff;color:#bbb}td.quarantined{outline:2px dashed #555;outline-offset:-3px}\
th.run{font:10px monospace;writing-mode:vertical-rl;transform:rotate(180deg);padding:2px 0}\
.badge{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;color:#fff}\
.stable{background:#2e8b3a}.flaky{background:#c9a400}.broken{background:#c62828}\
figure.trend{display:inline-block;margin:.5em 1em .5em 0}figcaption{font-size:12px}\
svg.trend{border:1px solid #ddd;background:#fff}code{font-size:12px}";

/// Reads the runs `f` selects from `dest` and writes `out/index.html`; returns its path.
pub async fn write(dest: &str, f: &RunFilter, out: &Path) -> anyhow::Result<PathBuf> {
    let ledger = Ledger::open(dest).await?;
    let runs = ledger.runs(f).await?;
    let scenarios = ledger.scenarios_of(&runs).await?;
    let measurements = ledger.measurements_of(&runs).await?;
    let html = render(
        &ledger.dest,
        f,
        &runs,
        &analysis::histories(&runs, &scenarios),
        &analysis::trends(&runs, &measurements),
    );
    std::fs::create_dir_all(out)?;
    let path = out.join("index.html");
    std::fs::write(&path, html)?;
    Ok(path)
}

fn or_dash(v: &Option<String>) -> String {
    v.as_deref().map(escape).unwrap_or_else(|| "&ndash;".into())
}

/// The whole page.
pub fn render(
    ledger: &str,
    f: &RunFilter,
    runs: &[LedgerRun],
    hs: &[ScenarioHistory],
    trends: &[Trend],
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>plugrig history: {} runs</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        runs.len()
    );
    let selection = match (&f.rig, f.last) {
        (Some(r), Some(n)) => format!("the newest {n} runs of rig {}", escape(r)),
        (Some(r), None) => format!("the runs of rig {}", escape(r)),
        (None, Some(n)) => format!("the newest {n} runs"),
        (None, None) => "every run".into(),
    };
    let _ = writeln!(
        h,
        "<header><h1>plugrig history</h1><p>Ledger <code>{}</code>: {selection}, {} shown, oldest left, newest right.</p></header>",
        escape(ledger),
        runs.len()
    );
    runs_table(&mut h, runs);
    strips(&mut h, runs, hs);
    rules(&mut h, hs);
    trend_plots(&mut h, runs, trends);
    h.push_str("</body>\n</html>\n");
    h
}

fn runs_table(h: &mut String, runs: &[LedgerRun]) {
    h.push_str("<section id=\"runs\"><h2>Runs</h2>\n<table class=\"runs\"><tr><th>#</th><th>run</th><th>started</th><th>status</th><th>rig</th><th>firmware version</th><th>firmware sha256</th><th>plugrig</th><th>passed</th><th>failed</th><th>skipped</th></tr>\n");
    for (i, r) in runs.iter().enumerate() {
        let sha: String = r
            .firmware_sha256
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(12)
            .collect();
        let n = |v: Option<i64>| v.map_or("&ndash;".to_string(), |v| v.to_string());
        let _ = writeln!(
            h,
            "<tr class=\"run {}\"><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{} {}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.status),
            i + 1,
            escape(r.short_id()),
            escape(&r.started),
            escape(&r.status),
            escape(&r.rig_name),
            or_dash(&r.dut_firmware_version),
            escape(&sha),
            escape(&r.plugrig_version),
            escape(&r.short_commit()),
            n(r.passed),
            n(r.failed),
            n(r.skipped)
        );
    }
    h.push_str("</table></section>\n");
}

fn class_cell(runs: &[LedgerRun], c: &Class) -> String {
    match c {
        Class::Broken { since } => {
            let r = &runs[*since];
            format!(
                "<span class=\"badge broken\">broken</span> failing since run #{} <code>{}</code> (firmware {}, commit <code>{}</code>)",
                since + 1,
                escape(r.short_id()),
                or_dash(&r.dut_firmware_version),
                escape(&r.short_commit())
            )
        }
        c => format!("<span class=\"badge {0}\">{0}</span>", c.name()),
    }
}

fn strips(h: &mut String, runs: &[LedgerRun], hs: &[ScenarioHistory]) {
    let count = |name: &str| hs.iter().filter(|x| x.class.name() == name).count();
    let _ = writeln!(
        h,
        "<section id=\"scenarios\"><h2>Scenarios</h2>\n<p>{} stable, {} flaky (both outcomes on the same firmware image and rig), {} broken (failing on every run since one). Cells: P passed, R passed after a retry, F failed, E the rig's failure, S skipped, blank not run; a dashed cell was quarantined.</p>",
        count("stable"),
        count("flaky"),
        count("broken")
    );
    h.push_str("<table class=\"strips\">\n<tr><th>scenario</th><th>class</th>");
    for (i, r) in runs.iter().enumerate() {
        let _ = write!(
            h,
            "<th class=\"run\" title=\"run {} {}\">#{} {}</th>",
            escape(&r.id),
            escape(&r.started),
            i + 1,
            or_dash(&r.dut_firmware_version)
        );
    }
    h.push_str("</tr>\n");
    for s in hs {
        let _ = write!(
            h,
            "<tr class=\"scenario\" data-class=\"{}\"><td>{} &rsaquo; {}</td><td>{}</td>",
            s.class.name(),
            escape(&s.feature_name),
            escape(&s.name),
            class_cell(runs, &s.class)
        );
        for (r, c) in runs.iter().zip(&s.cells) {
            match c {
                Some(c) => {
                    let why = c
                        .rig_failure
                        .as_deref()
                        .or(c.failure.as_deref())
                        .and_then(|f| f.lines().next())
                        .unwrap_or("");
                    let quarantined = c
                        .quarantine
                        .as_deref()
                        .map(|q| format!(" [quarantined: {q}]"))
                        .unwrap_or_default();
                    let _ = write!(
                        h,
                        "<td class=\"cell {0}{5}\" title=\"{1}: {2} ({3} attempts) {4}{6}\">{0}</td>",
                        c.letter(),
                        escape(r.short_id()),
                        escape(&c.outcome),
                        c.attempts,
                        escape(why),
                        if c.quarantine.is_some() {
                            " quarantined"
                        } else {
                            ""
                        },
                        escape(&quarantined)
                    );
                }
                None => h.push_str("<td class=\"cell N\"></td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></section>\n");
}

fn rules(h: &mut String, hs: &[ScenarioHistory]) {
    use oracle::rules::{Source, RULES};
    h.push_str("<section id=\"rules\"><h2>Rules</h2>\n<table class=\"rules\"><tr><th>rule</th><th>source</th><th>pass rate</th><th>passes</th><th>failures</th></tr>\n");
    for (rule, (pass, fail)) in analysis::rule_pass_rates(hs) {
        let source = match RULES.iter().find(|r| r.id == rule).map(|r| r.source) {
            Some(Source::Spec) => "[spec]",
            Some(Source::App) => "[app]",
            Some(Source::Profile) => "[profile]",
            None => "",
        };
        let rate = 100.0 * pass as f64 / (pass + fail).max(1) as f64;
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{source}</td><td>{rate:.1} %</td><td>{pass}</td><td>{fail}</td></tr>",
            escape(&rule)
        );
    }
    h.push_str("</table></section>\n");
}

const W: f64 = 420.0;
const H: f64 = 150.0;
const PAD: f64 = 28.0;

/// One measurement across the runs: per run its mean (a dot, red when a value failed) and
/// its spread (a bar from min to max), over the limits band of each run.
fn trend_svg(t: &Trend, runs: usize) -> String {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for p in t.points.iter().flatten() {
        for v in [Some(p.min), Some(p.max), p.low, p.high].into_iter().flatten() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        return String::new();
    }
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    let span = hi - lo;
    let (lo, hi) = (lo - span * 0.08, hi + span * 0.08);
    let x = |i: usize| PAD + (W - 2.0 * PAD) * (i as f64 + 0.5) / runs.max(1) as f64;
    let y = |v: f64| H - PAD / 2.0 - (H - PAD) * (v - lo) / (hi - lo);
    let mut s = format!(
        "<svg class=\"trend\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\"><title>{} {} across {} runs</title>",
        escape(&t.feature),
        escape(&t.name),
        runs
    );
    // The limits band, run by run.
    let band: Vec<(usize, f64, f64)> = t
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.and_then(|p| Some((i, p.low?, p.high?))))
        .collect();
    if !band.is_empty() {
        let step = (W - 2.0 * PAD) / runs.max(1) as f64 / 2.0;
        let mut pts = Vec::new();
        for (i, _, h) in &band {
            pts.push(format!("{:.1},{:.1}", x(*i) - step, y(*h)));
            pts.push(format!("{:.1},{:.1}", x(*i) + step, y(*h)));
        }
        for (i, l, _) in band.iter().rev() {
            pts.push(format!("{:.1},{:.1}", x(*i) + step, y(*l)));
            pts.push(format!("{:.1},{:.1}", x(*i) - step, y(*l)));
        }
        let _ = write!(
            s,
            "<polygon class=\"band\" points=\"{}\" fill=\"#2ea04333\"/>",
            pts.join(" ")
        );
    }
    let mut line = Vec::new();
    for (i, p) in t.points.iter().enumerate() {
        let Some(p) = p else { continue };
        line.push(format!("{:.1},{:.1}", x(i), y(p.mean)));
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" y2=\"{2:.1}\" stroke=\"#999\"/><circle class=\"{3}\" cx=\"{0:.1}\" cy=\"{4:.1}\" r=\"2.5\" fill=\"{5}\"><title>run #{6}: mean {7:.4}, {8:.4} to {9:.4}</title></circle>",
            x(i),
            y(p.min),
            y(p.max),
            if p.pass { "pass" } else { "fail" },
            y(p.mean),
            if p.pass { "#1f5fbf" } else { "#dc0000" },
            i + 1,
            p.mean,
            p.min,
            p.max
        );
    }
    if line.len() > 1 {
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1\"/>",
            line.join(" ")
        );
    }
    let _ = write!(
        s,
        "<text x=\"2\" y=\"10\" font-size=\"10\">{:.4}</text><text x=\"2\" y=\"{:.0}\" font-size=\"10\">{:.4} {}</text></svg>",
        hi,
        H - 2.0,
        lo,
        escape(&t.unit)
    );
    s
}

fn trend_plots(h: &mut String, runs: &[LedgerRun], trends: &[Trend]) {
    h.push_str("<section id=\"trends\"><h2>Measurements</h2>\n<p>Each measurement of each scenario, run by run: its mean (a dot, red when a value was outside its limits), its spread (a bar from the smallest value to the largest) and its limits (the green band): a drift shows before it fails.</p>\n");
    for t in trends.iter().filter(|t| t.points.iter().flatten().count() >= 2) {
        let _ = writeln!(
            h,
            "<figure class=\"trend\"><figcaption><code>{}:{}</code> {} ({})</figcaption>{}</figure>",
            escape(&t.feature),
            t.scenario_line,
            escape(&t.name),
            escape(&t.unit),
            trend_svg(t, runs.len())
        );
    }
    h.push_str("</section>\n");
}
