//! The countdown: cadence, target, the end, and each way of cancelling it
//! (spec 3.2.3, 3.3.2; PROTOCOL-NOTES "delay_time").

use std::time::Duration;

use anyhow::{bail, ensure};
use cucumber::{then, when};
use oracle::measure::{Limits, Measurements};
use oracle::payloads::{self, DelayTime};
use rumqttc::Packet;

use super::params::OnOff;
use crate::timeline::{Dir, Event};
use crate::world::PlugWorld;

/// Every delay_time the plug published since `from`, from the tap, with its time.
fn delays(w: &PlugWorld, from: usize) -> anyhow::Result<Vec<(Duration, DelayTime)>> {
    w.tap_publishes(from, "delay_time")?
        .into_iter()
        .map(|(t, p)| Ok((t, payloads::delay_time(&String::from_utf8_lossy(&p.payload))?)))
        .collect()
}

#[when(expr = "the app starts a countdown of {int} h {int} min")]
async fn start(w: &mut PlugWorld, h: i64, m: i64) -> anyhow::Result<()> {
    let topic = w.identity()?.app_topic("delay_time");
    w.mark = w.timeline.len();
    w.command_mark = w.mark;
    w.countdown_mark = w.mark;
    w.app
        .publish(&topic, &format!(r#"{{"delay_hour":{h},"delay_minute":{m}}}"#))
        .await
}

#[when(regex = r"^the app sends delay_time (.+)$")]
async fn raw(w: &mut PlugWorld, payload: String) -> anyhow::Result<()> {
    let topic = w.identity()?.app_topic("delay_time");
    w.mark = w.timeline.len();
    w.command_mark = w.mark;
    w.app.publish(&topic, &payload).await
}

#[then(expr = "the first delay_time reads {int} h {int} min {int} s with target {onoff}")]
async fn first(w: &mut PlugWorld, h: i64, m: i64, s: i64, target: OnOff) -> anyhow::Result<()> {
    // PROTOCOL-NOTES: the first message within 1 s of the accepted countdown. Sent up to a
    // second late, it may already read one second less.
    let within = w.periods().app(1.0) + Duration::from_millis(500);
    let (p, _, _) = w.wait_device(w.countdown_mark, "delay_time", within).await?;
    let d = payloads::delay_time(&p)?;
    let want = h * 3600 + m * 60 + s;
    ensure!(
        (want - 1..=want).contains(&d.total_seconds()) && d.target_on == target.is_on(),
        "first delay_time {p}, expected {h} h {m} min {s} s (or one second less) with target {}",
        target.as_str()
    );
    Ok(())
}

/// Where the countdown's time starts: the broker's delivery of the app's delay_time to the
/// plug on the tap (the plug cannot start earlier), else the command itself.
fn countdown_start(w: &PlugWorld) -> anyhow::Result<Duration> {
    let topic = w.identity()?.app_topic("delay_time");
    let snap = w.timeline.snapshot();
    let delivered = snap.iter().skip(w.countdown_mark).find_map(|e| match &e.event {
        Event::Mqtt(Dir::Down, Packet::Publish(p)) if p.topic == topic => Some(e.at),
        _ => None,
    });
    Ok(delivered
        .or_else(|| snap.get(w.countdown_mark).map(|e| e.at))
        .unwrap_or_default())
}

/// Judges a countdown's messages by what the protocol fixes, not by one plug's habits:
/// each interval is the cadence within tolerance [spec + profile], the remaining time
/// only goes down and the target never changes, and each reported remaining time is within
/// one second plus the tolerance of the true remaining time (a plug whose tick drifts
/// inside the tolerance may skip a value now and then; that is not a violation).
fn judge_countdown(
    msgs: &[(Duration, DelayTime)],
    total: i64,
    start: Duration,
    periods: oracle::timing::Periods,
    m: &mut Measurements,
) -> anyhow::Result<()> {
    let (period, tol) = periods.cadence();
    // In the plug's own seconds: the true remaining time at `t`.
    let true_left = |t: Duration| total as f64 - t.saturating_sub(start).as_secs_f64() * periods.scale;
    let slack = 1.0 + tol.as_secs_f64() * periods.scale;
    let mut bad = None;
    for (t, d) in msgs {
        let err = d.total_seconds() as f64 - true_left(*t);
        if !m.record(
            "delay_time_remaining_error",
            "s",
            Limits::within(0.0, slack),
            err,
            *t,
        ) && bad.is_none()
        {
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
    let gaps: Vec<(Duration, Duration)> = msgs
        .windows(2)
        .map(|p| (p[1].0, p[1].0.saturating_sub(p[0].0)))
        .collect();
    periods
        .judge_intervals("delay_time_interval", &gaps, (period, tol), m)
        .map_err(|e| anyhow::anyhow!("delay_time cadence: {e}"))
}

/// Waits for the countdown's final 0/0/0 (at most two periods late) and returns every
/// delay_time the plug published for it, from the tap.
async fn run_to_zero(w: &PlugWorld) -> anyhow::Result<Vec<(Duration, DelayTime)>> {
    let (period, _) = w.periods().cadence();
    let first = delays(w, w.countdown_mark)?;
    let total = first.first().map(|(_, d)| d.total_seconds()).unwrap_or(60);
    crate::bench::protocol_wait(period * total as u32);
    let within = period * (total as u32 + 3) + Duration::from_secs(2);
    w.timeline
        .wait_for(
            w.countdown_mark,
            within,
            "delay_time 0 h 0 min 0 s",
            |e| match &e.event {
                crate::timeline::Event::AppReceived { topic, payload }
                    if topic.ends_with("/device/delay_time") =>
                {
                    payloads::delay_time(payload)
                        .ok()
                        .filter(|d| d.total_seconds() == 0)
                }
                _ => None,
            },
        )
        .await?;
    delays(w, w.countdown_mark)
}

#[then("delay_time counts down to 0 h 0 min 0 s every second within tolerance")]
async fn counts_down(w: &mut PlugWorld) -> anyhow::Result<()> {
    let all = run_to_zero(w).await?;
    let total = all.first().map(|(_, d)| d.total_seconds()).unwrap_or(0);
    let start = countdown_start(w)?;
    let periods = w.periods();
    judge_countdown(&all, total, start, periods, &mut w.measurements)
}

#[then("delay_time reports every whole second from the start down to 0 h 0 min 0 s")]
async fn every_value(w: &mut PlugWorld) -> anyhow::Result<()> {
    // [profile]: one message per value. The protocol only fixes the cadence; a plug whose
    // tick drifts within it skips a value now and then.
    let all = run_to_zero(w).await?;
    let values: Vec<i64> = all.iter().map(|(_, d)| d.total_seconds()).collect();
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

#[then(expr = "the relay switches {onoff} after the last delay_time")]
async fn switches_after(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    let delay_topic = w.identity()?.device_topic("delay_time");
    let switch_topic = w.identity()?.device_topic("switch_state");
    let zero = w
        .timeline
        .snapshot()
        .iter()
        .enumerate()
        .skip(w.countdown_mark)
        .find_map(|(i, e)| match &e.event {
            Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == delay_topic => {
                let d = payloads::delay_time(&String::from_utf8_lossy(&p.payload)).ok()?;
                (d.total_seconds() == 0).then_some(i)
            }
            _ => None,
        });
    let Some(zero) = zero else {
        bail!("no delay_time 0 h 0 min 0 s was published\n{}", w.timeline.tail());
    };
    // The first switch_state in the target state: a heartbeat in between repeats the old.
    let want = s.is_on();
    let waited = w
        .timeline
        .wait_for(
            zero,
            Duration::from_secs(2),
            &format!("switch_state {} after the last delay_time", s.as_str()),
            |e| match &e.event {
                Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == switch_topic => {
                    payloads::switch_state(&String::from_utf8_lossy(&p.payload))
                        .ok()
                        .filter(|on| *on == want)
                }
                _ => None,
            },
        )
        .await;
    waited
        .map(drop)
        .map_err(|e| anyhow::anyhow!("the relay did not switch {} after the countdown: {e}", s.as_str()))
}

/// Where the plug acted on the cancelling command. For an app command, the plug's
/// acknowledgement of its delivery (PUBACK/PUBREC on the tap: whatever the plug sent before
/// it was in flight), or the delivery itself at QoS 0; for a button press, its switch_state
/// reporting the countdown's target (a heartbeat repeats the old state); for a power cut,
/// its broker connection dropping.
fn cancel_point(w: &PlugWorld) -> anyhow::Result<usize> {
    let delay_topic = w.identity()?.app_topic("delay_time");
    let switch_cmd = w.identity()?.app_topic("switch_state");
    let switch_topic = w.identity()?.device_topic("switch_state");
    let target = delays(w, w.countdown_mark)?.first().map(|(_, d)| d.target_on);
    let snap = w.timeline.snapshot();
    let acked = |from: usize, pkid: u16| {
        snap.iter()
            .enumerate()
            .skip(from)
            .find_map(|(j, e)| match &e.event {
                Event::Mqtt(Dir::Up, Packet::PubAck(a)) if a.pkid == pkid => Some(j),
                Event::Mqtt(Dir::Up, Packet::PubRec(a)) if a.pkid == pkid => Some(j),
                _ => None,
            })
    };
    let found = snap
        .iter()
        .enumerate()
        .skip(w.command_mark)
        .find_map(|(i, e)| match &e.event {
            Event::Mqtt(Dir::Down, Packet::Publish(p)) if p.topic == delay_topic || p.topic == switch_cmd => {
                Some(if p.pkid == 0 {
                    i
                } else {
                    acked(i, p.pkid).unwrap_or(i)
                })
            }
            Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == switch_topic => {
                let on = payloads::switch_state(&String::from_utf8_lossy(&p.payload)).ok();
                (on.is_some() && on == target).then_some(i)
            }
            Event::TapConnection { open: false } => Some(i),
            _ => None,
        });
    found.ok_or_else(|| {
        anyhow::anyhow!(
            "the plug showed no sign of the cancelling command\n{}",
            w.timeline.tail()
        )
    })
}

#[then(expr = "no further delay_time arrives for {int} s")]
async fn none_after_cancel(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    // An observation window: nothing can be awaited when the rule is that nothing comes.
    let window = w.periods().app(secs as f64);
    crate::bench::protocol_wait(window);
    tokio::time::sleep(window).await;
    let at = cancel_point(w)?;
    let topic = w.identity()?.device_topic("delay_time");
    w.timeline.none_since(
        at + 1,
        "delay_time after the countdown was cancelled",
        |e| matches!(&e.event, Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == topic),
    )
}

#[then(expr = "only the new countdown's delay_time arrives for {int} s, from {int} h {int} min")]
async fn only_new(w: &mut PlugWorld, secs: u64, h: i64, m: i64) -> anyhow::Result<()> {
    let window = w.periods().app(secs as f64);
    crate::bench::protocol_wait(window);
    tokio::time::sleep(window).await;
    let at = cancel_point(w)?;
    let after = delays(w, at + 1)?;
    let new_total = h * 3600 + m * 60;
    let first = after
        .first()
        .ok_or_else(|| anyhow::anyhow!("the new countdown published no delay_time"))?;
    ensure!(
        (new_total - 1..=new_total).contains(&first.1.total_seconds()),
        "the first delay_time after the new command is {:?}, expected {new_total} s (or one second less)",
        first.1
    );
    for pair in after.windows(2) {
        ensure!(
            pair[1].1.total_seconds() < pair[0].1.total_seconds(),
            "a delay_time of the replaced countdown came after the new one: {:?} then {:?}",
            pair[0].1,
            pair[1].1
        );
    }
    Ok(())
}

#[then("the countdown goes on unchanged")]
async fn unchanged(w: &mut PlugWorld) -> anyhow::Result<()> {
    // Three more messages of the same countdown, judged as the whole countdown is: against
    // the true remaining time since it started, going down, the target unchanged.
    let before = delays(w, w.countdown_mark)?;
    let (total, target) = before
        .first()
        .map(|(_, d)| (d.total_seconds(), d.target_on))
        .ok_or_else(|| anyhow::anyhow!("no delay_time before the command"))?;
    let mut from = w.command_mark;
    for _ in 0..3 {
        let (_, i, _) = w
            .wait_device(
                from,
                "delay_time",
                w.periods().app(1.0) * 2 + Duration::from_millis(500),
            )
            .await?;
        from = i + 1;
    }
    let all = delays(w, w.countdown_mark)?;
    let start = countdown_start(w)?;
    let periods = w.periods();
    judge_countdown(&all, total, start, periods, &mut w.measurements)?;
    ensure!(
        all.iter().all(|(_, d)| d.target_on == target),
        "the countdown's target changed after the ignored command"
    );
    Ok(())
}
