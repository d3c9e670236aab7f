//! The countdown: cadence, target, the end, and each way of cancelling it
//! (spec 3.2.3, 3.3.2; PROTOCOL-NOTES "delay_time").

use std::time::Duration;

use anyhow::{bail, ensure};
use cucumber::{then, when};

use super::params::OnOff;
use rumqttc::Packet;

use crate::protocol::payloads::{self, DelayTime};
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
    // PROTOCOL-NOTES: the first message within 1 s of the accepted countdown.
    let within = w.periods().app(1.0) + Duration::from_millis(500);
    let (p, _, _) = w.wait_device(w.countdown_mark, "delay_time", within).await?;
    let d = payloads::delay_time(&p)?;
    ensure!(
        (d.hour, d.minute, d.second, d.target_on) == (h, m, s, target.is_on()),
        "first delay_time {p}, expected {h} h {m} min {s} s with target {}",
        target.as_str()
    );
    Ok(())
}

#[then("delay_time counts down to 0 h 0 min 0 s every second within tolerance")]
async fn counts_down(w: &mut PlugWorld) -> anyhow::Result<()> {
    let (period, tol) = w.periods().cadence();
    let first = delays(w, w.countdown_mark)?;
    let total = first.first().map(|(_, d)| d.total_seconds()).unwrap_or(60);
    crate::bench::protocol_wait(period * total as u32);
    let within = period * (total as u32 + 2) + Duration::from_secs(2);
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
    let all = delays(w, w.countdown_mark)?;
    ensure!(
        all.len() as i64 == total + 1,
        "{} delay_time messages for a {total} s countdown",
        all.len()
    );
    for pair in all.windows(2) {
        let ((t0, a), (t1, b)) = (pair[0], pair[1]);
        ensure!(
            b.total_seconds() == a.total_seconds() - 1,
            "delay_time went from {a:?} to {b:?}"
        );
        ensure!(
            a.target_on == b.target_on,
            "the target changed during the countdown"
        );
        let gap = t1.saturating_sub(t0);
        ensure!(
            gap.abs_diff(period) <= tol,
            "delay_time interval {gap:?} at {}s left, expected {period:?} +- {tol:?}",
            a.total_seconds()
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
    let (payload, _) = w
        .timeline
        .wait_for(
            zero,
            Duration::from_secs(2),
            "switch_state after the last delay_time",
            |e| match &e.event {
                Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == switch_topic => {
                    Some(String::from_utf8_lossy(&p.payload).into_owned())
                }
                _ => None,
            },
        )
        .await?;
    let on = payloads::switch_state(&payload)?;
    ensure!(
        on == s.is_on(),
        "switch_state after the countdown is {payload}, expected {}",
        s.as_str()
    );
    Ok(())
}

/// Where the plug acted on the cancelling command: its switch_state for an on/off
/// change, the broker's delivery of a new delay_time, or its broker connection dropping
/// at a power cut. Messages sent before that point were legitimately in flight.
fn cancel_point(w: &PlugWorld) -> anyhow::Result<usize> {
    let delay_topic = w.identity()?.app_topic("delay_time");
    let switch_topic = w.identity()?.device_topic("switch_state");
    let found = w
        .timeline
        .snapshot()
        .iter()
        .enumerate()
        .skip(w.command_mark)
        .find_map(|(i, e)| {
            let hit = match &e.event {
                Event::Mqtt(Dir::Up, Packet::Publish(p)) => p.topic == switch_topic,
                Event::Mqtt(Dir::Down, Packet::Publish(p)) => p.topic == delay_topic,
                Event::TapConnection { open: false } => true,
                _ => false,
            };
            hit.then_some(i)
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
        first.1.total_seconds() == new_total,
        "the first delay_time after the new command is {:?}, expected {new_total} s",
        first.1
    );
    for pair in after.windows(2) {
        ensure!(
            pair[1].1.total_seconds() == pair[0].1.total_seconds() - 1,
            "a delay_time of the replaced countdown came after the new one: {:?} then {:?}",
            pair[0].1,
            pair[1].1
        );
    }
    Ok(())
}

#[then("the countdown goes on unchanged")]
async fn unchanged(w: &mut PlugWorld) -> anyhow::Result<()> {
    let before = delays(w, w.countdown_mark)?;
    let command_at = w
        .timeline
        .snapshot()
        .get(w.command_mark)
        .map(|e| e.at)
        .unwrap_or_default();
    let last_before = before
        .iter()
        .rfind(|(t, _)| *t <= command_at)
        .map(|(_, d)| d.total_seconds())
        .ok_or_else(|| anyhow::anyhow!("no delay_time before the command"))?;
    let mut from = w.command_mark;
    let mut expected = last_before - 1;
    for _ in 0..3 {
        let (p, i, _) = w
            .wait_device(
                from,
                "delay_time",
                w.periods().app(1.0) * 2 + Duration::from_millis(500),
            )
            .await?;
        let d = payloads::delay_time(&p)?;
        ensure!(
            d.total_seconds() == expected,
            "after the ignored command delay_time reads {p}, expected {expected} s left"
        );
        expected -= 1;
        from = i + 1;
    }
    Ok(())
}
