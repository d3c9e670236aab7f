//! The fuzz run's reports: `fuzz.html` (a section per finding: what broke, the rule, the
//! minimized input, the replay command, the timeline) and `fuzz.junit.xml` (a testcase per
//! finding, failed; one passed testcase for the campaign when there is none), beside the
//! reproducers (`findings/*.json`) and captures.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::FuzzSummary;
use crate::report::junit::esc;
use crate::report::markup::escape;

pub fn write(s: &FuzzSummary, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("fuzz.html"), html(s)).context("writing fuzz.html")?;
    std::fs::write(dir.join("fuzz.junit.xml"), junit(s)).context("writing fuzz.junit.xml")?;
    Ok(())
}

fn html(s: &FuzzSummary) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:70em}}\
         pre{{background:#f4f4f4;padding:.5em;overflow-x:auto}} .f{{border-left:4px solid #c00;padding-left:1em}}</style>\
         </head><body><h1>{}</h1>",
        escape(&s.line()),
        escape(&s.line())
    );
    let _ = write!(
        out,
        "<p>rig {} &middot; target {} &middot; seed {} &middot; {} AP inputs ({:.1}/s), {} MQTT inputs ({:.1}/s) &middot; plugrig {}</p>",
        escape(&s.rig),
        escape(&s.target),
        s.seed,
        s.ap.inputs,
        s.ap.rate(),
        s.mqtt.inputs,
        s.mqtt.rate(),
        escape(&crate::provenance::Provenance::plugrig())
    );
    if s.findings.is_empty() {
        out.push_str("<p>No finding: after every input the plug kept every promise the oracle checks.</p>");
    }
    for (n, f) in s.findings.iter().enumerate() {
        let r = &f.reproducer;
        let _ = write!(
            out,
            "<section class=\"f\" id=\"finding-{}\"><h2>Finding {}: {} ({})</h2><p>{}</p>",
            n + 1,
            n + 1,
            escape(r.finding.class.name()),
            escape(&r.finding.rule),
            escape(&r.finding.why)
        );
        let _ = write!(
            out,
            "<p>Seen {} time(s). Minimized from {} to {} bytes in {} input(s) (seed {}, inputs {:?}):</p><pre>{}</pre>",
            f.seen,
            r.bytes_found,
            r.bytes_minimized,
            r.inputs.len(),
            r.seed,
            r.indices,
            escape(&r.inputs.iter().map(|i| i.input.describe()).collect::<Vec<_>>().join("\n"))
        );
        if let Some(p) = &f.file {
            let _ = write!(
                out,
                "<p>Reproducer <a href=\"{0}\">{0}</a>; replay: <code>plugrig fuzz --rig {1} --replay {0}</code></p>",
                escape(&p.display().to_string()),
                escape(&s.rig)
            );
        }
        if let Some(c) = &r.capture {
            let _ = write!(
                out,
                "<p>Capture <a href=\"{0}\">{0}</a></p>",
                escape(&c.display().to_string())
            );
        }
        let _ = write!(
            out,
            "<details><summary>timeline</summary><pre>{}</pre></details></section>",
            escape(&r.timeline.join("\n"))
        );
    }
    out.push_str("</body></html>\n");
    out
}

fn junit(s: &FuzzSummary) -> String {
    let mut cases = String::new();
    for (n, f) in s.findings.iter().enumerate() {
        let r = &f.reproducer;
        let _ = writeln!(
            cases,
            "    <testcase classname=\"fuzz\" name=\"finding {}: {} ({})\"><failure type=\"{}\" message=\"{}\">{}</failure></testcase>",
            n + 1,
            esc(r.finding.class.name()),
            esc(&r.finding.rule),
            esc(r.finding.class.name()),
            esc(&r.finding.why),
            esc(&r.inputs.iter().map(|i| i.input.describe()).collect::<Vec<_>>().join("\n"))
        );
    }
    if s.findings.is_empty() {
        let _ = writeln!(
            cases,
            "    <testcase classname=\"fuzz\" name=\"{} inputs, no finding\" time=\"{:.3}\"/>",
            s.inputs,
            s.wall.as_secs_f64()
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"fuzz\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">\n{cases}  </testsuite>\n</testsuites>\n",
        s.findings.len().max(1),
        s.findings.len(),
        s.wall.as_secs_f64()
    )
}
