//! The plug's MQTT session as seen on the wire tap (spec 2.2, PROTOCOL-NOTES "MQTT session").

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use cucumber::{given, then, when};
use oracle::measure::Limits;
use oracle::subscriptions::Subscriptions;
use oracle::{qos_number, APP_FIELDS};
use rumqttc::Packet;

use crate::timeline::{Dir, Event};
use crate::world::PlugWorld;

#[then("the CONNECT packet carries the provisioned credentials, keepalive and clean session")]
async fn connect_matches(w: &mut PlugWorld) -> anyhow::Result<()> {
    let m = w
        .provisioned
        .clone()
        .context("the plug was not provisioned by this scenario")?;
    let id = w.identity()?.clone();
    let connect = w
        .timeline
        .snapshot()
        .into_iter()
        .find_map(|e| match e.event {
            Event::Mqtt(Dir::Up, Packet::Connect(c)) => Some(c),
            _ => None,
        })
        .with_context(|| format!("no CONNECT on the tap\n{}", w.timeline.tail()))?;
    ensure!(
        connect.protocol == rumqttc::Protocol::V4,
        "CONNECT is not MQTT 3.1.1 (protocol level 4) [app]: {:?}",
        connect.protocol
    );
    let login = connect
        .login
        .clone()
        .context("CONNECT carries no username/password")?;
    ensure!(
        login.username == m.username,
        "CONNECT username {:?}, provisioned {:?}",
        login.username,
        m.username
    );
    ensure!(
        login.password == m.password,
        "CONNECT password differs from the provisioned one"
    );
    ensure!(
        connect.keep_alive == m.keepalive,
        "CONNECT keepalive {}, provisioned {}",
        connect.keep_alive,
        m.keepalive
    );
    ensure!(
        connect.clean_session == (m.clean_session == 1),
        "CONNECT clean_session {}, provisioned {}",
        connect.clean_session,
        m.clean_session
    );
    match m.client_id.clone().filter(|c| !c.is_empty()) {
        Some(want) => ensure!(
            connect.client_id == want,
            "CONNECT client id {:?}, provisioned {want:?} [app]",
            connect.client_id
        ),
        // "Empty or absent means the plug uses its MAC" [app]: in whatever spelling.
        None => ensure!(
            oracle::same_mac(&connect.client_id, &id.mac),
            "CONNECT client id {:?}, expected the plug's MAC {:?} [app]",
            connect.client_id,
            id.mac
        ),
    }
    Ok(())
}

#[then("the plug subscribes to the five app topics")]
async fn subscribes(w: &mut PlugWorld) -> anyhow::Result<()> {
    // One SUBSCRIBE with five filters, five SUBSCRIBEs, or wildcards: the union of what the
    // broker acknowledged since the session came up must cover each app topic.
    let id = w.identity()?.clone();
    let want: Vec<String> = APP_FIELDS.iter().map(|f| id.app_topic(f)).collect();
    let subs = match w.wait_subscribed(w.mark, Duration::from_secs(5)).await {
        Ok(s) => s,
        Err(e) => {
            let mut seen = Subscriptions::default();
            for x in w.timeline.snapshot().iter().skip(w.mark) {
                seen.see(&x.event);
            }
            bail!(
                "the plug's acknowledged subscriptions do not cover {:?} (granted {:?}, refused {:?}, unacknowledged {:?}): {e}",
                seen.missing(&want),
                seen.granted,
                seen.refused,
                seen.unacknowledged()
            );
        }
    };
    ensure!(
        subs.missing(&want).is_empty(),
        "subscriptions {subs:?} miss {want:?}"
    );
    Ok(())
}

#[then(expr = "every publish from the plug uses QoS {int}")]
async fn publishes_at_qos(w: &mut PlugWorld, qos: u8) -> anyhow::Result<()> {
    // Wait for two publishes so the check has something to judge.
    let mut from = w.mark;
    for _ in 0..2 {
        let (_, i) = w
            .timeline
            .wait_for(
                from,
                Duration::from_secs(10),
                "a PUBLISH from the plug",
                |e| match &e.event {
                    Event::Mqtt(Dir::Up, Packet::Publish(_)) => Some(()),
                    _ => None,
                },
            )
            .await?;
        from = i + 1;
    }
    for e in w.timeline.snapshot() {
        if let Event::Mqtt(Dir::Up, Packet::Publish(p)) = &e.event {
            if qos_number(p.qos) != qos {
                bail!(
                    "a PUBLISH at QoS {} where {qos} was provisioned: {e}\n{}",
                    qos_number(p.qos),
                    w.timeline.tail()
                );
            }
        }
    }
    Ok(())
}

#[then(expr = "the QoS {int} flow completes for the plug's publishes")]
async fn qos_flow(w: &mut PlugWorld, qos: u8) -> anyhow::Result<()> {
    // For QoS 1 the broker's PUBACK, for QoS 2 PUBREC, the plug's PUBREL and PUBCOMP.
    let (pid, i) = w
        .timeline
        .wait_for(
            w.mark,
            Duration::from_secs(10),
            "a PUBLISH from the plug",
            |e| match &e.event {
                Event::Mqtt(Dir::Up, Packet::Publish(p)) => Some(p.pkid),
                _ => None,
            },
        )
        .await?;
    let within = Duration::from_secs(5);
    match qos {
        1 => {
            w.timeline
                .wait_for(i, within, &format!("PUBACK {pid}"), |e| match &e.event {
                    Event::Mqtt(Dir::Down, Packet::PubAck(a)) if a.pkid == pid => Some(()),
                    _ => None,
                })
                .await?;
        }
        2 => {
            for (dir, name) in [(Dir::Down, "PUBREC"), (Dir::Up, "PUBREL"), (Dir::Down, "PUBCOMP")] {
                w.timeline
                    .wait_for(i, within, &format!("{name} {pid}"), |e| match (&e.event, name) {
                        (Event::Mqtt(d, Packet::PubRec(a)), "PUBREC") if *d == dir && a.pkid == pid => {
                            Some(())
                        }
                        (Event::Mqtt(d, Packet::PubRel(a)), "PUBREL") if *d == dir && a.pkid == pid => {
                            Some(())
                        }
                        (Event::Mqtt(d, Packet::PubComp(a)), "PUBCOMP") if *d == dir && a.pkid == pid => {
                            Some(())
                        }
                        _ => None,
                    })
                    .await?;
            }
        }
        // QoS 0 has no flow to complete; its publishes' QoS is the step before.
        _ => {}
    }
    Ok(())
}

#[given("a plug provisioned with a wrong broker password")]
async fn wrong_password(w: &mut PlugWorld) -> anyhow::Result<()> {
    let mut m = super::provisioning::mqtt_server(w, 1, 60, 1);
    m.password = "not-the-password".into();
    w.mark = super::provisioning::provision_with(w, m, false).await?;
    Ok(())
}

/// A connection attempt of the plug: one the tap accepted, or one it refused.
fn is_attempt(e: &Event) -> bool {
    matches!(e, Event::TapConnection { open: true } | Event::TapRefused)
}

/// Times the plug tried to connect to the broker (through the tap) since `from`.
fn connection_attempts(w: &PlugWorld, from: usize) -> Vec<Duration> {
    w.timeline
        .snapshot()
        .into_iter()
        .skip(from)
        .filter(|e| is_attempt(&e.event))
        .map(|e| e.at)
        .collect()
}

/// The back-off bounds [profile]: no tighter than one attempt a second, no looser than one
/// a minute (with 100 ms for the rig's own scheduling at the tight end).
const RETRY_MIN: Duration = Duration::from_millis(900);
const RETRY_MAX: Duration = Duration::from_secs(61);

fn judge_attempts(w: &mut PlugWorld, from: usize) -> anyhow::Result<()> {
    let attempts = connection_attempts(w, from);
    let limits = Limits::range(RETRY_MIN.as_secs_f64(), RETRY_MAX.as_secs_f64());
    for pair in attempts.windows(2) {
        let gap = pair[1].saturating_sub(pair[0]);
        let pass = w
            .measurements
            .record("reconnect_attempt_gap", "s", limits, gap.as_secs_f64(), pair[1]);
        ensure!(
            pass,
            "connection attempts {gap:?} apart: the plug must retry no faster than once a second and no slower than once a minute\n{}",
            w.timeline.tail()
        );
    }
    Ok(())
}

#[then(expr = "the broker refuses the plug, which retries no faster than once a second, {int} times")]
async fn refused_and_retries(w: &mut PlugWorld, times: usize) -> anyhow::Result<()> {
    // Any back-off within the bounds is conformant: each next attempt may take up to a
    // minute. (This plug-sim's, 1 s doubling, is quicker.)
    crate::bench::protocol_wait(Duration::from_secs((1 << times.min(6)) - 1));
    let mut from = w.mark;
    for n in 0..=times {
        let (_, i) = w
            .timeline
            .wait_for(
                from,
                RETRY_MAX + Duration::from_secs(1),
                &format!("connection attempt {}", n + 1),
                |e| is_attempt(&e.event).then_some(()),
            )
            .await?;
        from = i + 1;
    }
    judge_attempts(w, w.mark)?;
    w.timeline.none_since(w.mark, "an accepted CONNACK with a wrong password", |e| {
        matches!(&e.event, Event::Mqtt(Dir::Down, Packet::ConnAck(a)) if a.code == rumqttc::ConnectReturnCode::Success)
    })
}

#[when(expr = "the broker is unreachable for {int} s")]
async fn outage(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    w.mark = w.timeline.len();
    w.command_mark = w.mark;
    w.tap.outage(Duration::from_secs(secs));
    crate::bench::protocol_wait(Duration::from_secs(secs));
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
    let ups: Vec<Duration> = w
        .timeline
        .snapshot()
        .into_iter()
        .skip(w.mark)
        .filter(|e| matches!(e.event, Event::Mqtt(Dir::Up, _)))
        .map(|e| e.at)
        .collect();
    ensure!(
        ups.len() >= 2,
        "too few packets from the plug to judge its keepalive"
    );
    let last = *ups.last().unwrap_or(&Duration::ZERO);
    let silent = w.timeline.now().saturating_sub(last);
    let worst = ups
        .windows(2)
        .map(|p| p[1].saturating_sub(p[0]))
        .max()
        .unwrap_or_default()
        .max(silent);
    w.measure(
        "keepalive_silence",
        "s",
        Limits::at_most(keepalive.as_secs_f64()),
        worst.as_secs_f64(),
        None,
    )
    .map_err(|_| {
        anyhow::anyhow!("the plug was silent for {worst:?}, longer than its keepalive {keepalive:?}")
    })?;
    Ok(())
}
