//! The plug's MQTT session as seen on the wire tap (spec 2.2, PROTOCOL-NOTES "MQTT session").

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use cucumber::{given, then, when};
use rumqttc::Packet;

use crate::protocol::subscriptions::Subscriptions;
use crate::protocol::{qos_number, APP_FIELDS};
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
    let want_id = m
        .client_id
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or(id.mac.clone());
    ensure!(
        connect.client_id == want_id,
        "CONNECT client id {:?}, expected {want_id:?} [app]",
        connect.client_id
    );
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
        _ => ensure!(pid == 0, "a QoS 0 PUBLISH carries no packet id"),
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

/// Times the plug opened a connection to the broker (through the tap) since `from`.
fn connection_attempts(w: &PlugWorld, from: usize) -> Vec<Duration> {
    w.timeline
        .snapshot()
        .into_iter()
        .skip(from)
        .filter(|e| matches!(e.event, Event::TapConnection { open: true }))
        .map(|e| e.at)
        .collect()
}

#[then(expr = "the broker refuses the plug, which retries no faster than once a second, {int} times")]
async fn refused_and_retries(w: &mut PlugWorld, times: usize) -> anyhow::Result<()> {
    // Back-off of 1 s doubling: `times` attempts fit in 2^times s.
    let within = Duration::from_secs(1 << times.min(6)) + Duration::from_secs(2);
    // Back-off of 1, 2, 4 ... s before attempt `times`.
    crate::bench::protocol_wait(Duration::from_secs((1 << times.min(6)) - 1));
    let mut from = w.mark;
    for n in 0..=times {
        let (_, i) = w
            .timeline
            .wait_for(from, within, &format!("connection attempt {}", n + 1), |e| {
                matches!(e.event, Event::TapConnection { open: true }).then_some(())
            })
            .await?;
        from = i + 1;
    }
    let attempts = connection_attempts(w, w.mark);
    for pair in attempts.windows(2) {
        let gap = pair[1].saturating_sub(pair[0]);
        ensure!(
            gap >= Duration::from_millis(900) && gap <= Duration::from_secs(61),
            "reconnection attempts {gap:?} apart: the plug must retry no faster than once a second and no slower than once a minute\n{}",
            w.timeline.tail()
        );
    }
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

#[then(expr = "the plug reconnects within {int} s and publishes switch_state again")]
async fn reconnects(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    let at = w
        .wait_connected(w.command_mark, Duration::from_secs(secs))
        .await?;
    let attempts = connection_attempts(w, w.command_mark);
    for pair in attempts.windows(2) {
        let gap = pair[1].saturating_sub(pair[0]);
        ensure!(
            gap >= Duration::from_millis(900),
            "reconnection attempts only {gap:?} apart\n{}",
            w.timeline.tail()
        );
    }
    let (p, _, _) = w.wait_device(at, "switch_state", Duration::from_secs(2)).await?;
    crate::protocol::payloads::switch_state(&p)?;
    Ok(())
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
    ensure!(
        worst <= keepalive,
        "the plug was silent for {worst:?}, longer than its keepalive {keepalive:?}"
    );
    Ok(())
}
