//! The relay: switch_state both ways and the heartbeat (spec 3.2.1, 3.3.1).

use std::time::Duration;

use anyhow::{ensure, Context};
use cucumber::{given, then, when};
use oracle::measure::Limits;
use oracle::payloads;
use rumqttc::Packet;

use super::params::OnOff;
use crate::timeline::{Dir, Event};
use crate::world::PlugWorld;

/// How long an app command may take to be echoed (network, not scaled).
const ECHO_WITHIN: Duration = Duration::from_secs(2);

#[when(expr = "the app switches the plug {onoff}")]
async fn switch(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    let topic = w.identity()?.app_topic("switch_state");
    w.mark = w.timeline.len();
    w.command_mark = w.mark;
    w.app
        .publish(&topic, &format!(r#"{{"switch_state":"{}"}}"#, s.as_str()))
        .await
}

/// The relay state the plug last reported on the tap before timeline index `before`.
fn last_reported(w: &PlugWorld, before: usize) -> anyhow::Result<Option<bool>> {
    let topic = w.identity()?.device_topic("switch_state");
    Ok(w.timeline
        .snapshot()
        .iter()
        .take(before)
        .rev()
        .find_map(|e| match &e.event {
            Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == topic => {
                payloads::switch_state(&String::from_utf8_lossy(&p.payload)).ok()
            }
            _ => None,
        }))
}

#[then(expr = "the plug reports switch_state {onoff}")]
async fn reports(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    let topic = w.identity()?.device_topic("switch_state");
    let want = s.is_on();
    let waited = w
        .timeline
        .wait_for(
            w.mark,
            ECHO_WITHIN,
            &format!("switch_state {} on {topic}", s.as_str()),
            |e| match &e.event {
                Event::AppReceived { topic: t, payload } if *t == topic => {
                    payloads::switch_state(payload).ok().filter(|on| *on == want)
                }
                _ => None,
            },
        )
        .await;
    match waited {
        Ok((_, i)) => {
            // From the command's delivery to the plug (none for a button press) to the echo.
            let cmd = w.identity()?.app_topic("switch_state");
            let snap = w.timeline.snapshot();
            let sent = snap.iter().skip(w.command_mark).find_map(|e| match &e.event {
                Event::Mqtt(Dir::Down, Packet::Publish(p)) if p.topic == cmd => Some(e.at),
                _ => None,
            });
            let echoed = snap.get(i).map(|e| e.at);
            if let (Some(s), Some(e)) = (sent, echoed) {
                let latency = e.saturating_sub(s).as_secs_f64();
                w.measure(
                    "switch_echo_latency",
                    "s",
                    Limits::at_most(ECHO_WITHIN.as_secs_f64()),
                    latency,
                    Some(e),
                )?;
            }
            w.mark = i + 1
        }
        // switch_state is owed on a change [spec]: a command to the state the plug already
        // reported changes nothing, and a plug may stay silent.
        Err(e) if last_reported(w, w.mark)? != Some(want) => return Err(e),
        Err(_) => {}
    }
    Ok(())
}

#[then("the plug publishes switch_state on connection")]
async fn on_connection(w: &mut PlugWorld) -> anyhow::Result<()> {
    // Either state: the protocol does not say how the relay starts.
    let (payload, i, _) = w.wait_device(w.mark, "switch_state", ECHO_WITHIN).await?;
    payloads::switch_state(&payload)?;
    w.mark = i + 1;
    Ok(())
}

#[given(expr = "the plug's relay is {onoff}")]
async fn relay_is(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    // A known relay state for what follows; the protocol leaves the state at power-up to
    // the plug. The on-connection publish says where it is.
    w.wait_device(w.mark, "switch_state", ECHO_WITHIN).await?;
    if last_reported(w, w.timeline.len())? != Some(s.is_on()) {
        switch(w, s).await?;
        reports(w, s).await?;
        // Let the console's line of this change arrive before the mark.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.relay_known = Some((w.timeline.len(), s.is_on()));
    Ok(())
}

#[then(expr = "the console shows the relay {onoff}")]
async fn console_relay(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    // The console's format is the plug's own: the rig file's patterns read it.
    let patterns = w.ctx.console.clone();
    let pattern = if s.is_on() {
        &patterns.relay_on
    } else {
        &patterns.relay_off
    };
    w.timeline
        .wait_for(
            w.command_mark,
            ECHO_WITHIN,
            &format!("a console line matching {:?}", pattern.as_str()),
            |e| match &e.event {
                Event::Console(l) if patterns.relay(l) == Some(s.is_on()) => Some(()),
                _ => None,
            },
        )
        .await?;
    Ok(())
}

#[then(expr = "switch_state arrives every 30 s within tolerance, {int} times in a row")]
async fn heartbeat(w: &mut PlugWorld, times: usize) -> anyhow::Result<()> {
    let (period, tol) = w.periods().heartbeat();
    crate::bench::protocol_wait(period * (times as u32 + 1));
    let mut at = Vec::new();
    // The publish on connection does not start the series: a plug may time its heartbeat
    // from boot, from the session, or from its last publish. The gaps between heartbeats
    // are what the rule fixes.
    let session = w.session_start(w.mark);
    let (_, first, _) = w.wait_device(session, "switch_state", ECHO_WITHIN).await?;
    let mut from = first + 1;
    for _ in 0..=times {
        let (_, i, t) = w
            .wait_device(from, "switch_state", period + tol + Duration::from_secs(2))
            .await?;
        at.push(t);
        from = i + 1;
    }
    // Measured on the tap, where the plug's packets arrive without the broker's delay.
    // The tap saw the on-connection publish first (it may precede the CONNACK).
    let tap: Vec<Duration> = w
        .tap_publishes(session, "switch_state")?
        .into_iter()
        .skip(1)
        .map(|(t, _)| t)
        .take(times + 1)
        .collect();
    ensure!(
        tap.len() == times + 1,
        "the tap saw {} switch_state publishes, the app {}",
        tap.len(),
        at.len()
    );
    let gaps: Vec<(Duration, Duration)> = tap
        .windows(2)
        .map(|p| (p[1], p[1].saturating_sub(p[0])))
        .collect();
    let periods = w.periods();
    periods
        .judge_intervals("heartbeat_interval", &gaps, (period, tol), &mut w.measurements)
        .map_err(|e| anyhow::anyhow!("switch_state heartbeat: {e}\n{}", w.timeline.tail()))
}

#[then("no other publish changed the relay meanwhile")]
async fn no_change(w: &mut PlugWorld) -> anyhow::Result<()> {
    let states: Vec<bool> = w
        .tap_publishes(0, "switch_state")?
        .iter()
        .map(|(_, p)| payloads::switch_state(&String::from_utf8_lossy(&p.payload)))
        .collect::<anyhow::Result<_>>()
        .context("a switch_state payload breaks spec 3.2.1")?;
    ensure!(
        states.windows(2).all(|s| s[0] == s[1]),
        "switch_state changed without a command: {states:?}"
    );
    Ok(())
}

/// Kills the simulated plug's process without warning (SIGKILL): for testing how the
/// harness reports a DUT that dies mid-scenario.
#[when("the plug process is killed")]
async fn kill(w: &mut PlugWorld) -> anyhow::Result<()> {
    let pid = w.plug.sim()?.pid().context("the plug has no process id")?;
    // SAFETY: kill(2) with a pid this World spawned and owns.
    let r = unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    ensure!(r == 0, "kill({pid}, SIGKILL) failed");
    Ok(())
}

/// For `cargo bench`: app-to-device switch round trips, alternating on and off.
#[then(expr = "{int} switch round trips are measured")]
async fn round_trips(w: &mut PlugWorld, n: usize) -> anyhow::Result<()> {
    let cmd = w.identity()?.app_topic("switch_state");
    let state = w.identity()?.device_topic("switch_state");
    for i in 0..n {
        let on = i % 2 == 0;
        let want = if on { "on" } else { "off" };
        let from = w.timeline.len();
        let sent = std::time::Instant::now();
        w.app
            .publish(&cmd, &format!(r#"{{"switch_state":"{want}"}}"#))
            .await?;
        w.timeline
            .wait_for(from, ECHO_WITHIN, "the switch_state echo", |e| match &e.event {
                Event::AppReceived { topic, payload } if *topic == state => {
                    payloads::switch_state(payload).ok().filter(|s| *s == on)
                }
                _ => None,
            })
            .await?;
        crate::bench::round_trip(sent.elapsed());
        w.measure(
            "switch_round_trip",
            "s",
            Limits::at_most(ECHO_WITHIN.as_secs_f64()),
            sent.elapsed().as_secs_f64(),
            None,
        )?;
        let tap: Vec<(Duration, bool)> = w
            .timeline
            .snapshot()
            .into_iter()
            .skip(from)
            .filter_map(|e| match &e.event {
                Event::Mqtt(Dir::Down, Packet::Publish(p)) if p.topic == cmd => Some((e.at, true)),
                Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == state => Some((e.at, false)),
                _ => None,
            })
            .collect();
        let cmd_at = tap.iter().find(|(_, down)| *down).map(|(t, _)| *t);
        let echo_at = tap.iter().find(|(_, down)| !*down).map(|(t, _)| *t);
        if let (Some(c), Some(e)) = (cmd_at, echo_at) {
            crate::bench::plug_response(e.saturating_sub(c));
        }
    }
    Ok(())
}

#[then("every relay change reported over MQTT appears in the same order on the console")]
async fn console_matches_mqtt(w: &mut PlugWorld) -> anyhow::Result<()> {
    // Give the last console line time to arrive over the serial port.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let state = w.identity()?.device_topic("switch_state");
    // From the moment the relay's state was made known (`Given the plug's relay is ...`):
    // the state at power-up is the plug's own, and its console need not print it.
    let (from, known) = w
        .relay_known
        .context("no known relay state to compare from: the scenario must set one first")?;
    let (mut mqtt, mut console): (Vec<bool>, Vec<bool>) = (Vec::new(), Vec::new());
    // Only changes: heartbeats and echoes repeat the state, a console may print it again.
    let push = |list: &mut Vec<bool>, on: bool| {
        if list.last().copied().unwrap_or(known) != on {
            list.push(on);
        }
    };
    for e in w.timeline.snapshot().iter().skip(from) {
        match &e.event {
            Event::Mqtt(Dir::Up, Packet::Publish(p)) if p.topic == state => {
                push(
                    &mut mqtt,
                    payloads::switch_state(&String::from_utf8_lossy(&p.payload))?,
                );
            }
            Event::Console(l) => {
                if let Some(on) = w.ctx.console.relay(l) {
                    push(&mut console, on);
                }
            }
            _ => {}
        }
    }
    ensure!(!mqtt.is_empty(), "no relay change was reported over MQTT");
    ensure!(
        mqtt == console,
        "relay changes over MQTT {mqtt:?} differ from those on the console {console:?}\n{}",
        w.timeline.tail()
    );
    Ok(())
}
