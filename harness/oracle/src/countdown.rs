//! The countdown (spec 3.2.3, 3.3.2; PROTOCOL-NOTES "delay_time"): judged by what the
//! protocol fixes, not by one plug's habits.

use std::time::Duration;

use anyhow::{bail, ensure};

use crate::measure::{Limits, Measurements};
use crate::payloads::DelayTime;
use crate::timing::Periods;

/// The first message of a countdown of `want` seconds: sent up to a second late, it may
/// already read one second less; the target as commanded.
pub fn check_first(d: &DelayTime, want: i64, target_on: bool) -> anyhow::Result<()> {
    ensure!(
        (want - 1..=want).contains(&d.total_seconds()) && d.target_on == target_on,
        "first delay_time {d:?}, expected {want} s (or one second less) with target {}",
        if target_on { "on" } else { "off" }
    );
    Ok(())
}

/// A whole countdown of `total` seconds that started at `start` (the broker's delivery of
/// the command): each interval is the cadence within tolerance [spec + profile], the
/// remaining time only goes down and the target never changes, and each reported remaining
/// time is within one second plus the tolerance of the true remaining time (a plug whose
/// tick drifts inside the tolerance may skip a value now and then; that is not a violation).
pub fn judge(
    msgs: &[(Duration, DelayTime)],
    total: i64,
    start: Duration,
    periods: Periods,
    m: &mut Measurements,
) -> anyhow::Result<()> {
    judge_progress(msgs, total, start, periods, m)?;
    let gaps: Vec<(Duration, Duration)> = msgs
        .windows(2)
        .map(|p| (p[1].0, p[1].0.saturating_sub(p[0].0)))
        .collect();
    periods
        .judge_intervals("delay_time_interval", &gaps, periods.cadence(), m)
        .map_err(|e| anyhow::anyhow!("delay_time cadence: {e}"))
}

/// A countdown's progress without its cadence: each reported remaining time within one
/// second plus the tolerance of the true one, going down, the target unchanged. For checks
/// whose rule is not the cadence (a countdown that goes on unchanged): the cadence is its own
/// rule's, and the runner skips that one where the rig's jitter cannot judge it.
pub fn judge_progress(
    msgs: &[(Duration, DelayTime)],
    total: i64,
    start: Duration,
    periods: Periods,
    m: &mut Measurements,
) -> anyhow::Result<()> {
    let (_, tol) = periods.cadence();
    // In the plug's own seconds: the true remaining time at `t`.
    let true_left = |t: Duration| total as f64 - t.saturating_sub(start).as_secs_f64() * periods.scale;
    let slack = 1.0 + tol.as_secs_f64() * periods.scale;
    let mut bad = None;
    for (t, d) in msgs {
        let err = d.total_seconds() as f64 - true_left(*t);
        let ok = m.record(
            "delay_time_remaining_error",
            "s",
            Limits::within(0.0, slack),
            err,
            *t,
        );
        if !ok && bad.is_none() {
            bad = Some((*t, *d));
        }
    }
    if let Some((t, d)) = bad {
        bail!(
            "delay_time reads {} s left at {:.3} s into the countdown, when {:.2} s are left (allowed: {slack:.1} s either way)",
            d.total_seconds(),
            t.saturating_sub(start).as_secs_f64() * periods.scale,
            true_left(t).max(0.0)
        );
    }
    for pair in msgs.windows(2) {
        let ((_, a), (_, b)) = (pair[0], pair[1]);
        ensure!(
            b.total_seconds() < a.total_seconds(),
            "delay_time went from {a:?} to {b:?}: a countdown only goes down"
        );
        ensure!(
            a.target_on == b.target_on,
            "the target changed during the countdown"
        );
    }
    Ok(())
}

/// [profile]: one message for every whole second from the start down to 0. The protocol
/// only fixes the cadence; a plug whose tick drifts within it skips a value now and then.
pub fn check_every_value(values: &[i64]) -> anyhow::Result<()> {
    let total = values.first().copied().unwrap_or(0);
    let want: Vec<i64> = (0..=total).rev().collect();
    if values != want {
        let skipped: Vec<i64> = want.iter().filter(|v| !values.contains(v)).copied().collect();
        bail!(
            "{} delay_time messages for a {total} s countdown; values never reported: {skipped:?}",
            values.len()
        );
    }
    Ok(())
}

/// After a new countdown replaced a running one: the messages after the replacing command
/// start from the new time (or one second less) and only go down, so none of the old one's
/// came after.
pub fn check_replaced(after: &[DelayTime], new_total: i64) -> anyhow::Result<()> {
    let Some(first) = after.first() else {
        bail!("the new countdown published no delay_time");
    };
    ensure!(
        (new_total - 1..=new_total).contains(&first.total_seconds()),
        "the first delay_time after the new command is {first:?}, expected {new_total} s (or one second less)"
    );
    for pair in after.windows(2) {
        ensure!(
            pair[1].total_seconds() < pair[0].total_seconds(),
            "a delay_time of the replaced countdown came after the new one: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
    Ok(())
}
