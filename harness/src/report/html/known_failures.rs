//! What the run knew before judging and what it retried: the quarantine section (known
//! failures with their entries, expired entries) and a scenario's attempts (`--retries`,
//! `--repeat`), each with its class, error and capture.

use std::fmt::Write as _;

use super::*;

/// The quarantined scenarios with their entries, and the expired entries that failed the
/// run.
pub(super) fn quarantine(h: &mut String, run: &RunRecord) {
    let list: Vec<(usize, &ScenarioRecord)> = run
        .scenarios
        .iter()
        .enumerate()
        .filter(|(_, s)| s.quarantine.is_some())
        .collect();
    if list.is_empty() && run.quarantine_expired.is_empty() {
        return;
    }
    h.push_str("<section id=\"quarantine\">\n<h2>Quarantine</h2>\n<p>Known failures: run and reported, not counted in the verdict.</p>\n");
    for e in &run.quarantine_expired {
        let _ = writeln!(
            h,
            "<p class=\"expired\"><span class=\"badge failed\">expired</span> {}</p>",
            escape(e)
        );
    }
    if !list.is_empty() {
        h.push_str("<table class=\"index\">\n<thead><tr><th>outcome</th><th>scenario</th><th>reason</th><th>tracked at</th><th>until</th><th>entry</th></tr></thead>\n<tbody>\n");
        for (i, s) in list {
            let Some(q) = &s.quarantine else { continue };
            let ready = if q.ready_to_release {
                " <span class=\"badge passed\" title=\"it passed its last runs in the ledger\">ready to release</span>"
            } else {
                ""
            };
            let _ = writeln!(
                h,
                "<tr class=\"{}\"><td><span class=\"badge {0}\">{0}</span>{ready}</td><td><a href=\"#{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                s.outcome.as_str(),
                anchor(i),
                escape(&s.name),
                escape(&q.reason),
                link_or_text(&q.link),
                escape(&q.expires),
                escape(&q.entry)
            );
        }
        h.push_str("</tbody>\n</table>\n");
    }
    h.push_str("</section>\n");
}

/// A tracking link as a link when it is a web address, else as text.
fn link_or_text(link: &str) -> String {
    if link.starts_with("https://") || link.starts_with("http://") {
        format!("<a href=\"{0}\">{0}</a>", escape(link))
    } else {
        escape(link)
    }
}

/// A scenario's attempts (`--retries`, `--repeat`), in the order they ran.
pub(super) fn attempts(h: &mut String, s: &ScenarioRecord) {
    if s.attempts.total() < 2 {
        return;
    }
    h.push_str("<h4>Attempts</h4>\n<ol class=\"attempts\">\n");
    for a in crate::report::junit::attempts_in_order(s) {
        let class = a
            .attempts
            .class
            .map(|c| {
                format!(
                    " <span class=\"note\">({} failure{})</span>",
                    c.name(),
                    if c.retryable() {
                        ", retryable"
                    } else {
                        ", not retried"
                    }
                )
            })
            .unwrap_or_default();
        let error = a
            .first_error()
            .map(|e| format!(": <code>{}</code>", escape(e)))
            .unwrap_or_default();
        let capture = a
            .world
            .capture
            .as_ref()
            .map(|c| format!(" &middot; <a href=\"{}\">capture</a>", escape(&href(c))))
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<li value=\"{n}\"><span class=\"badge {o}\">{o}</span>{class}{error} &middot; {t}{capture}{v}</li>",
            n = a.attempts.number,
            o = a.outcome.as_str(),
            t = wall(a.duration),
            v = if std::ptr::eq(a, s) { " &middot; <b>the verdict</b>" } else { "" }
        );
    }
    h.push_str("</ol>\n");
}
