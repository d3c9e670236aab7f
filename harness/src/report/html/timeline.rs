//! A scenario's timeline as a table: every entry in one row (time, kind, text), long
//! timelines cut to their ends and the rows around the failure, the failure's row marked.

use std::fmt::Write as _;
use std::ops::Range;
use std::time::Duration;

use super::*;

/// The entry nearest `at` (the earlier one on a tie).
pub(super) fn nearest(timeline: &[Entry], at: Duration) -> Option<usize> {
    timeline
        .iter()
        .enumerate()
        .min_by_key(|(_, e)| e.at.abs_diff(at))
        .map(|(i, _)| i)
}

/// The rows of a timeline of `n` entries kept: the first and last `ends`, and
/// `ROWS_AROUND_FAILURE` on each side of `focus`; in order, not overlapping.
pub(super) fn kept_rows(n: usize, ends: usize, focus: Option<usize>) -> Vec<Range<usize>> {
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
pub(super) fn describe(e: &Event) -> (&'static str, &'static str, String) {
    match e {
        Event::Mqtt(Dir::Up, p) => ("up", "plug &rarr; broker", oracle::packet_summary(p)),
        Event::Mqtt(Dir::Down, p) => ("down", "broker &rarr; plug", oracle::packet_summary(p)),
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
        Event::TapOpened { tls } => (
            "tap",
            "tap",
            format!("the plug opened {}", oracle::observation::opening(*tls)),
        ),
        Event::TlsHandshake {
            version,
            cipher_suite,
            sni,
        } => (
            "tap",
            "tap",
            oracle::observation::handshake(version, cipher_suite, sni.as_deref()),
        ),
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

pub(super) fn timeline(h: &mut String, s: &ScenarioRecord, id: &str, focus: Option<usize>) {
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
