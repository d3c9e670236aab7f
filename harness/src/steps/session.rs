//! The plug's MQTT session as seen on the wire tap (spec 2.2, PROTOCOL-NOTES "MQTT session").

use std::time::Duration;

use anyhow::{bail, Context};
use cucumber::{given, then, when};
use oracle::measure::Limits;
use oracle::observation::{is_accepted_connack, is_connection_attempt, Dir, Entry, Event};
use oracle::qos_number;
use oracle::session::{self, RETRY_MAX};
use oracle::subscriptions::Subscriptions;
use rumqttc::Packet;

use crate::drivers::timeline::Mark;
use crate::scenario::world::PlugWorld;

/// How long the plug may take to publish once connected (network time).
const PUBLISH_WITHIN: Duration = Duration::from_secs(10);

#[then("the CONNECT packet carries the provisioned credentials, keepalive and clean session")]
async fn connect_matches(w: &mut PlugWorld) -> anyhow::Result<()> {
    let m = w
        .provisioned
        .clone()
        .context("the plug was not provisioned by this scenario")?;
    let mac = w.identity()?.mac.clone();
    let connect = w.look(|s| s.connect().cloned());
    let connect = connect.with_context(|| format!("no CONNECT on the tap\n{}", w.timeline.tail()))?;
    session::check_connect(&connect, &m, &mac)
}

#[then("the plug subscribes to the five app topics")]
async fn subscribes(w: &mut PlugWorld) -> anyhow::Result<()> {
    // One SUBSCRIBE with five filters, five SUBSCRIBEs, or wildcards: the union of what the
    // broker acknowledged since the session came up must cover each app topic.
    let want = w
        .app_topics()
        .context("no 4001 reply yet: the app topics are unknown")?;
    if let Err(e) = w.wait_subscribed(w.mark, Duration::from_secs(5)).await {
        let seen = w.look(|s| Subscriptions::of(s.since(w.mark.index())));
        bail!(
            "the plug's acknowledged subscriptions do not cover {want:?}: {seen}: {e}",
            want = seen.missing(&want)
        );
    }
    Ok(())
}

#[then(expr = "every publish from the plug uses QoS {int}")]
async fn publishes_at_qos(w: &mut PlugWorld, qos: u8) -> anyhow::Result<()> {
    // Wait for two publishes so the check has something to judge.
    let (_, i) = w.next_publish_up(w.mark, PUBLISH_WITHIN).await?;
    w.next_publish_up(i.after(), PUBLISH_WITHIN).await?;
    let bad = w.look(|s| s.find(|e| wrong_qos(e, qos).then(|| e.to_string())));
    match bad {
        Some((_, e)) => bail!(
            "a PUBLISH at another QoS than the provisioned {qos}: {e}\n{}",
            w.timeline.tail()
        ),
        None => Ok(()),
    }
}

/// A PUBLISH from the plug at another QoS than `qos`.
fn wrong_qos(e: &Entry, qos: u8) -> bool {
    matches!(&e.event, Event::Mqtt(Dir::Up, Packet::Publish(p)) if qos_number(p.qos) != qos)
}

#[then(expr = "the QoS {int} flow completes for the plug's publishes")]
async fn qos_flow(w: &mut PlugWorld, qos: u8) -> anyhow::Result<()> {
    // For QoS 1 the broker's PUBACK, for QoS 2 PUBREC, the plug's PUBREL and PUBCOMP;
    // QoS 0 has no flow to complete (its publishes' QoS is the step before).
    let (pid, i) = w.next_publish_up(w.mark, PUBLISH_WITHIN).await?;
    for &(dir, kind) in qos_flow_packets(qos) {
        let what = format!("{kind} {pid}");
        w.timeline
            .wait_for(i, Duration::from_secs(5), &what, |e| {
                is_flow_packet(e, dir, kind, pid).then_some(())
            })
            .await?;
    }
    Ok(())
}

/// The acknowledgements that complete a plug's PUBLISH at `qos`, in order.
fn qos_flow_packets(qos: u8) -> &'static [(Dir, &'static str)] {
    match qos {
        1 => &[(Dir::Down, "PUBACK")],
        2 => &[(Dir::Down, "PUBREC"), (Dir::Up, "PUBREL"), (Dir::Down, "PUBCOMP")],
        _ => &[],
    }
}

fn is_flow_packet(e: &Entry, dir: Dir, kind: &str, pid: u16) -> bool {
    let Event::Mqtt(d, p) = &e.event else {
        return false;
    };
    let id = match (p, kind) {
        (Packet::PubAck(a), "PUBACK") => a.pkid,
        (Packet::PubRec(a), "PUBREC") => a.pkid,
        (Packet::PubRel(a), "PUBREL") => a.pkid,
        (Packet::PubComp(a), "PUBCOMP") => a.pkid,
        _ => return false,
    };
    *d == dir && id == pid
}

#[given("a plug provisioned with a wrong broker password")]
async fn wrong_password(w: &mut PlugWorld) -> anyhow::Result<()> {
    let mut m = super::provisioning::mqtt_server(w, 1, 60, 1);
    m.password = "not-the-password".into();
    w.mark = super::provisioning::provision_with(w, m, false).await?;
    Ok(())
}

fn judge_attempts(w: &mut PlugWorld, from: Mark) -> anyhow::Result<()> {
    let attempts = w.look(|s| s.since(from.index()).connection_attempts());
    session::judge_retry_gaps(&attempts, &mut w.measurements)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", w.timeline.tail()))
}

#[then(expr = "the broker refuses the plug, which retries no faster than once a second, {int} times")]
async fn refused_and_retries(w: &mut PlugWorld, times: usize) -> anyhow::Result<()> {
    // Any back-off within the bounds is conformant: each next attempt may take up to a
    // minute. (This plug-sim's, 1 s doubling, is quicker.)
    w.protocol_wait(Duration::from_secs((1 << times.min(6)) - 1));
    let mut from = w.mark;
    for n in 1..=times + 1 {
        let what = format!("connection attempt {n}");
        let within = RETRY_MAX + Duration::from_secs(1);
        from = w
            .timeline
            .wait_for(from, within, &what, |e| {
                is_connection_attempt(&e.event).then_some(())
            })
            .await?
            .1
            .after();
    }
    judge_attempts(w, w.mark)?;
    w.timeline
        .none_since(w.mark, "an accepted CONNACK with a wrong password", |e| {
            is_accepted_connack(&e.event)
        })
}

#[when(expr = "the broker is unreachable for {int} s")]
async fn outage(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    w.mark_command();
    w.tap.outage(Duration::from_secs(secs));
    w.protocol_wait(Duration::from_secs(secs));
    Ok(())
}

#[then("the plug reconnects and publishes switch_state again")]
async fn reconnects(w: &mut PlugWorld) -> anyhow::Result<()> {
    // switch_state on every (re)connection [spec]. The reconnection itself may take up to
    // the back-off's bound after the outage: a minute.
    let at = w
        .wait_connected(w.command_mark, RETRY_MAX + Duration::from_secs(5))
        .await?;
    let (p, _, _) = w.wait_device(at, "switch_state", Duration::from_secs(2)).await?;
    oracle::payloads::switch_state(&p)?;
    Ok(())
}

#[then("the plug reconnects, retrying no faster than once a second and no slower than once a minute")]
async fn reconnects_paced(w: &mut PlugWorld) -> anyhow::Result<()> {
    w.wait_connected(w.command_mark, RETRY_MAX + Duration::from_secs(5))
        .await?;
    judge_attempts(w, w.command_mark)
}

#[then("the plug sent a control packet at least once per keepalive")]
async fn keepalive(w: &mut PlugWorld) -> anyhow::Result<()> {
    let m = w
        .provisioned
        .clone()
        .context("the plug was not provisioned by this scenario")?;
    let keepalive = Duration::from_secs(u64::from(m.keepalive));
    let worst = session::longest_silence(
        &w.look(|s| s.since(w.mark.index()).packets_up()),
        w.timeline.now(),
    )?;
    let limits = Limits::at_most(keepalive.as_secs_f64());
    w.measure("keepalive_silence", "s", limits, worst.as_secs_f64(), None)
        .map_err(|_| {
            anyhow::anyhow!("the plug was silent for {worst:?}, longer than its keepalive {keepalive:?}")
        })
}
