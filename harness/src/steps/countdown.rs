//! The countdown: cadence, target, the end, and each way of cancelling it
//! (spec 3.2.3, 3.3.2; PROTOCOL-NOTES "delay_time"). The judging is `oracle::countdown`.

use std::time::Duration;

use anyhow::{bail, Context};
use cucumber::{then, when};
use oracle::countdown;
use oracle::observation::{Dir, Event};
use oracle::payloads::{self, DelayTime};
use rumqttc::Packet;

use super::params::OnOff;
use crate::drivers::timeline::Mark;
use crate::scenario::observe::Side;
use crate::scenario::world::PlugWorld;

/// Every delay_time the plug published since `from`, from the tap, with its time.
fn delays(w: &PlugWorld, from: Mark) -> anyhow::Result<Vec<(Duration, DelayTime)>> {
    w.published(from, "delay_time", payloads::delay_time)
}

#[when(expr = "the app starts a countdown of {int} h {int} min")]
async fn start(w: &mut PlugWorld, h: i64, m: i64) -> anyhow::Result<()> {
    w.app_command(
        "delay_time",
        &format!(r#"{{"delay_hour":{h},"delay_minute":{m}}}"#),
    )
    .await?;
    w.countdown_mark = w.mark;
    Ok(())
}

#[when(regex = r"^the app sends delay_time (.+)$")]
async fn raw(w: &mut PlugWorld, payload: String) -> anyhow::Result<()> {
    w.app_command("delay_time", &payload).await
}

#[then(expr = "the first delay_time reads {int} h {int} min {int} s with target {onoff}")]
async fn first(w: &mut PlugWorld, h: i64, m: i64, s: i64, target: OnOff) -> anyhow::Result<()> {
    // PROTOCOL-NOTES: the first message within 1 s of the accepted countdown.
    let within = w.periods().app(1.0) + Duration::from_millis(500);
    let (p, _, _) = w.wait_device(w.countdown_mark, "delay_time", within).await?;
    countdown::check_first(&payloads::delay_time(&p)?, h * 3600 + m * 60 + s, target.is_on())
}

/// Where the countdown's time starts: the broker's delivery of the app's delay_time to the
/// plug on the tap (the plug cannot start earlier), else the command itself.
fn countdown_start(w: &PlugWorld) -> anyhow::Result<Duration> {
    let command = w.look(|s| s.since(w.countdown_mark.index()).iter().next().map(|(_, e)| e.at));
    Ok(w.delivered(w.countdown_mark, "delay_time")?
        .or(command)
        .unwrap_or_default())
}

/// The whole countdown since its start, judged against the true remaining time, and its
/// cadence when `cadence` (the cadence rule's scenarios only: see `countdown::judge_progress`).
fn judge_since_start(w: &mut PlugWorld, cadence: bool) -> anyhow::Result<Vec<(Duration, DelayTime)>> {
    let all = delays(w, w.countdown_mark)?;
    let total = all.first().map(|(_, d)| d.total_seconds()).unwrap_or(0);
    let (start, periods) = (countdown_start(w)?, w.periods());
    let judge = if cadence {
        countdown::judge
    } else {
        countdown::judge_progress
    };
    judge(&all, total, start, periods, &mut w.measurements)?;
    Ok(all)
}

/// Waits for the countdown's final 0/0/0 (at most two periods late) and returns every
/// delay_time the plug published for it, from the tap.
async fn run_to_zero(w: &PlugWorld) -> anyhow::Result<Vec<(Duration, DelayTime)>> {
    let (period, _) = w.periods().cadence();
    let total = delays(w, w.countdown_mark)?
        .first()
        .map(|(_, d)| d.total_seconds())
        .unwrap_or(60);
    w.protocol_wait(period * total as u32);
    let within = period * (total as u32 + 3) + Duration::from_secs(2);
    let zero = |p: &str| payloads::delay_time(p).ok().filter(|d| d.total_seconds() == 0);
    w.next_message(
        Side::App,
        w.countdown_mark,
        "delay_time",
        within,
        "delay_time 0 h 0 min 0 s",
        zero,
    )
    .await?;
    delays(w, w.countdown_mark)
}

#[then("delay_time counts down to 0 h 0 min 0 s every second within tolerance")]
async fn counts_down(w: &mut PlugWorld) -> anyhow::Result<()> {
    run_to_zero(w).await?;
    judge_since_start(w, true).map(drop)
}

#[then("delay_time reports every whole second from the start down to 0 h 0 min 0 s")]
async fn every_value(w: &mut PlugWorld) -> anyhow::Result<()> {
    let all = run_to_zero(w).await?;
    countdown::check_every_value(&all.iter().map(|(_, d)| d.total_seconds()).collect::<Vec<_>>())
}

#[then(expr = "the relay switches {onoff} after the last delay_time")]
async fn switches_after(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    let zero = |p: &str| payloads::delay_time(p).ok().filter(|d| d.total_seconds() == 0);
    let Some((_, zero)) = w.first_published(w.countdown_mark, "delay_time", zero)? else {
        bail!("no delay_time 0 h 0 min 0 s was published\n{}", w.timeline.tail());
    };
    // The first switch_state in the target state: a heartbeat in between repeats the old.
    let target = |p: &str| payloads::switch_state(p).ok().filter(|on| *on == s.is_on());
    let what = format!("switch_state {} after the last delay_time", s.as_str());
    w.next_message(
        Side::Tap,
        zero,
        "switch_state",
        Duration::from_secs(2),
        &what,
        target,
    )
    .await
    .map(drop)
    .map_err(|e| anyhow::anyhow!("the relay did not switch {} after the countdown: {e}", s.as_str()))
}

/// Where the plug acted on the cancelling command. For an app command, the plug's
/// acknowledgement of its delivery (PUBACK/PUBREC on the tap: whatever the plug sent before
/// it was in flight), or the delivery itself at QoS 0; for a button press, its switch_state
/// reporting the countdown's target (a heartbeat repeats the old state); for a power cut,
/// its broker connection dropping.
fn cancel_point(w: &PlugWorld) -> anyhow::Result<Mark> {
    let id = w.identity()?;
    let commands = [id.app_topic("delay_time"), id.app_topic("switch_state")];
    let switch_topic = id.device_topic("switch_state");
    let target = delays(w, w.countdown_mark)?.first().map(|(_, d)| d.target_on);
    let found = w.look(|seen| {
        seen.since(w.command_mark.index())
            .find(|e| match &e.event {
                Event::Mqtt(Dir::Down, Packet::Publish(p)) if commands.contains(&p.topic) => {
                    Some(Some(p.pkid))
                }
                Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == switch_topic => {
                    let on = payloads::switch_state(&String::from_utf8_lossy(&p.payload)).ok();
                    (on.is_some() && on == target).then_some(None)
                }
                Event::TapConnection { open: false } => Some(None),
                _ => None,
            })
            .map(|(i, pkid)| match pkid.filter(|p| *p != 0) {
                Some(pkid) => seen.since(i).plug_acknowledged(pkid).unwrap_or(i),
                None => i,
            })
            .map(Mark::at)
    });
    found.with_context(|| {
        format!(
            "the plug showed no sign of the cancelling command\n{}",
            w.timeline.tail()
        )
    })
}

#[then(expr = "no further delay_time arrives for {int} s")]
async fn none_after_cancel(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    w.watch(w.periods().app(secs as f64)).await;
    let after = delays(w, cancel_point(w)?.after())?;
    match after.first() {
        Some((at, d)) => bail!(
            "expected no delay_time after the countdown was cancelled, but saw {d:?} at {at:?}\n{}",
            w.timeline.tail()
        ),
        None => Ok(()),
    }
}

#[then(expr = "only the new countdown's delay_time arrives for {int} s, from {int} h {int} min")]
async fn only_new(w: &mut PlugWorld, secs: u64, h: i64, m: i64) -> anyhow::Result<()> {
    w.watch(w.periods().app(secs as f64)).await;
    let after = delays(w, cancel_point(w)?.after())?;
    countdown::check_replaced(
        &after.into_iter().map(|(_, d)| d).collect::<Vec<_>>(),
        h * 3600 + m * 60,
    )
}

#[then("the countdown goes on unchanged")]
async fn unchanged(w: &mut PlugWorld) -> anyhow::Result<()> {
    // Three more messages of the same countdown, judged as the whole countdown is: against
    // the true remaining time since it started, going down, the target unchanged.
    let within = w.periods().app(1.0) * 2 + Duration::from_millis(500);
    let mut from = w.command_mark;
    for _ in 0..3 {
        from = w.wait_device(from, "delay_time", within).await?.1.after();
    }
    judge_since_start(w, false).map(drop)
}
