//! The relay: switch_state both ways and the heartbeat (spec 3.2.1, 3.3.1).

use std::time::Duration;

use anyhow::Context;
use cucumber::{given, then, when};
use oracle::measure::Limits;
use oracle::payloads;
use oracle::switch;

use super::params::OnOff;
use crate::drivers::timeline::Mark;
use crate::scenario::observe::Side;
use crate::scenario::world::PlugWorld;

/// How long an app command may take to be echoed (network, not scaled).
const ECHO_WITHIN: Duration = Duration::from_secs(2);

/// A switch_state payload's state, if it is `want`.
fn reads(want: bool) -> impl Fn(&str) -> Option<bool> {
    move |p| payloads::switch_state(p).ok().filter(|on| *on == want)
}

#[when(expr = "the app switches the plug {onoff}")]
async fn switch(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    w.app_command("switch_state", &format!(r#"{{"switch_state":"{}"}}"#, s.as_str()))
        .await
}

/// The relay state the plug last reported on the tap before timeline position `before`.
fn last_reported(w: &PlugWorld, before: Mark) -> anyhow::Result<Option<bool>> {
    let topic = w.identity()?.device_topic("switch_state");
    let last = w.look(|s| s.before(before.index()).payloads_up(&topic).pop());
    Ok(last.and_then(|(_, p)| payloads::switch_state(&p).ok()))
}

#[then(expr = "the plug reports switch_state {onoff}")]
async fn reports(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    let what = format!("switch_state {}", s.as_str());
    match w
        .next_message(
            Side::App,
            w.mark,
            "switch_state",
            ECHO_WITHIN,
            &what,
            reads(s.is_on()),
        )
        .await
    {
        Ok((_, i)) => {
            measure_echo(w, i)?;
            w.mark = i.after();
        }
        // switch_state is owed on a change [spec]: a command to the state the plug already
        // reported changes nothing, and a plug may stay silent.
        Err(e) if last_reported(w, w.mark)? != Some(s.is_on()) => return Err(e),
        Err(_) => {}
    }
    Ok(())
}

/// From the command's delivery to the plug (none for a button press) to its echo at `i`.
fn measure_echo(w: &mut PlugWorld, i: Mark) -> anyhow::Result<()> {
    let sent = w.delivered(w.command_mark, "switch_state")?;
    let echoed = w.look(|s| s.since(i.index()).iter().next().map(|(_, e)| e.at));
    if let (Some(s), Some(e)) = (sent, echoed) {
        let limits = Limits::at_most(ECHO_WITHIN.as_secs_f64());
        w.measure(
            "switch_echo_latency",
            "s",
            limits,
            e.saturating_sub(s).as_secs_f64(),
            Some(e),
        )?;
    }
    Ok(())
}

#[then("the plug publishes switch_state on connection")]
async fn on_connection(w: &mut PlugWorld) -> anyhow::Result<()> {
    // Either state: the protocol does not say how the relay starts.
    let (payload, i, _) = w.wait_device(w.mark, "switch_state", ECHO_WITHIN).await?;
    payloads::switch_state(&payload)?;
    w.mark = i.after();
    Ok(())
}

#[given(expr = "the plug's relay is {onoff}")]
async fn relay_is(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    // A known relay state for what follows; the protocol leaves the state at power-up to
    // the plug. The on-connection publish says where it is; a session taken over from the
    // last scenario published it there.
    if w.relay.carried.is_none() {
        w.wait_device(w.mark, "switch_state", ECHO_WITHIN).await?;
    }
    let reported = last_reported(w, w.timeline.mark())?.or(w.relay.carried);
    if reported != Some(s.is_on()) {
        switch(w, s).await?;
        reports(w, s).await?;
        // Let the console's line of this change arrive before the mark.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    w.relay.known = Some((w.timeline.mark(), s.is_on()));
    Ok(())
}

#[then(expr = "switch_state arrives every 30 s within tolerance, {int} times in a row")]
async fn heartbeat(w: &mut PlugWorld, times: usize) -> anyhow::Result<()> {
    let (period, tol) = w.periods().heartbeat();
    w.protocol_wait(period * (times as u32 + 1));
    // The publish on connection does not start the series: a plug may time its heartbeat
    // from boot, from the session, or from its last publish. The gaps between heartbeats
    // are what the rule fixes.
    let on_connection = w
        .wait_device(w.session_start(w.mark), "switch_state", ECHO_WITHIN)
        .await?
        .1;
    let each = period + tol + Duration::from_secs(2);
    let beats = w
        .series(on_connection.after(), "switch_state", times + 1, each)
        .await?;
    let periods = w.periods();
    periods
        .judge_series("heartbeat_interval", &beats, (period, tol), &mut w.measurements)
        .map_err(|e| anyhow::anyhow!("switch_state heartbeat: {e}\n{}", w.timeline.tail()))
}

#[then("no other publish changed the relay meanwhile")]
async fn no_change(w: &mut PlugWorld) -> anyhow::Result<()> {
    let states = w.published(Mark::START, "switch_state", payloads::switch_state);
    let states = states.context("a switch_state payload breaks spec 3.2.1")?;
    switch::check_unchanged(&states.into_iter().map(|(_, on)| on).collect::<Vec<_>>())
}

/// Kills the simulated plug's process without warning (SIGKILL): for testing how the
/// harness reports a DUT that dies mid-scenario.
#[when("the plug process is killed")]
async fn kill(w: &mut PlugWorld) -> anyhow::Result<()> {
    w.plug.sim()?.kill_unexpectedly()
}

/// For `cargo bench`: app-to-device switch round trips, alternating on and off.
#[then(expr = "{int} switch round trips are measured")]
async fn round_trips(w: &mut PlugWorld, n: usize) -> anyhow::Result<()> {
    for i in 0..n {
        round_trip(w, if i % 2 == 0 { OnOff::On } else { OnOff::Off }).await?;
    }
    Ok(())
}

/// One switch command and its echo: the app's round trip, and the plug's own share
/// between the tap's delivery of the command and the echo.
async fn round_trip(w: &mut PlugWorld, s: OnOff) -> anyhow::Result<()> {
    let sent = std::time::Instant::now();
    switch(w, s).await?;
    w.next_message(
        Side::App,
        w.mark,
        "switch_state",
        ECHO_WITHIN,
        "the switch_state echo",
        reads(s.is_on()),
    )
    .await?;
    crate::scenario::figures::round_trip(sent.elapsed());
    let limits = Limits::at_most(ECHO_WITHIN.as_secs_f64());
    w.measure(
        "switch_round_trip",
        "s",
        limits,
        sent.elapsed().as_secs_f64(),
        None,
    )?;
    let echo = w
        .published(w.mark, "switch_state", |_| Ok(()))?
        .first()
        .map(|(t, _)| *t);
    if let (Some(c), Some(e)) = (w.delivered(w.mark, "switch_state")?, echo) {
        crate::scenario::figures::plug_response(e.saturating_sub(c));
    }
    Ok(())
}

#[then("every relay change reported over MQTT appears in the same order on the console")]
async fn console_matches_mqtt(w: &mut PlugWorld) -> anyhow::Result<()> {
    // Give the last console line time to arrive over the serial port.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // From the moment the relay's state was made known (`Given the plug's relay is ...`):
    // the state at power-up is the plug's own, and its console need not print it.
    let (from, known) = w
        .relay
        .known
        .context("no known relay state to compare from: the scenario must set one first")?;
    let mqtt = w.published(from, "switch_state", payloads::switch_state)?;
    let mqtt = switch::changes(mqtt.into_iter().map(|(_, on)| on), known);
    let lines = w.look(|s| {
        s.since(from.index())
            .iter()
            .filter_map(|(_, e)| w.ctx.console.relay_of(&e.event))
            .collect::<Vec<_>>()
    });
    switch::check_console_matches(&mqtt, &switch::changes(lines, known))
        .map_err(|e| anyhow::anyhow!("{e}\n{}", w.timeline.tail()))
}
