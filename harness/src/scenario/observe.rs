//! The vocabulary steps read a scenario's timeline with, so that a step reads like the
//! Gherkin line it implements: "the app sends X" (`app_command`), "the next switch_state
//! within d" (`next_message`), "what the plug published on X since the mark"
//! (`published`), "the plug is connected" (`wait_connected`), an observation window
//! (`watch`). Queries over what was seen go through [`oracle::observation::Seen`] (`look`);
//! waits have a deadline and fail with what they wanted and the last entries seen.

use std::time::Duration;

use oracle::ap::{Reply, WIFI};
use oracle::observation::{is_accepted_connack, is_connection_attempt, Dir, Event, Seen};
use oracle::subscriptions::Subscriptions;
use oracle::APP_FIELDS;

use crate::drivers::timeline::Mark;
use crate::scenario::world::PlugWorld;

impl PlugWorld {
    /// Runs `f` on what this scenario has seen so far.
    pub fn look<T>(&self, f: impl FnOnce(Seen<'_>) -> T) -> T {
        let snap = self.timeline.snapshot();
        f(Seen::all(&snap))
    }

    /// When the entry at timeline position `i` was seen (the present, if nothing is there yet).
    pub fn time_of(&self, i: Mark) -> Duration {
        let at = self.look(|s| s.since(i.index()).iter().next().map(|(_, e)| e.at));
        at.unwrap_or_else(|| self.timeline.now())
    }

    /// Marks the present as where a command starts: the step's mark and the command's.
    pub fn mark_command(&mut self) {
        self.mark = self.timeline.mark();
        self.command_mark = self.mark;
    }

    /// The app publishes `payload` on `{prefix}/app/{field}`, from a fresh mark.
    pub async fn app_command(&mut self, field: &str, payload: &str) -> anyhow::Result<()> {
        let topic = self.identity()?.app_topic(field);
        self.mark_command();
        self.app.publish(&topic, payload).await
    }

    /// An observation window of `window` on the plug's clock: nothing can be awaited when
    /// the rule is that nothing comes. Counted as a wait the protocol imposes.
    pub async fn watch(&self, window: Duration) {
        self.protocol_wait(window);
        tokio::time::sleep(window).await;
    }

    /// Waits for a message on `{prefix}/device/{field}` seen on `side` at timeline position
    /// `from` or later that `pick` accepts; returns what `pick` made of it and its position.
    pub async fn next_message<T>(
        &self,
        side: Side,
        from: Mark,
        field: &str,
        within: Duration,
        what: &str,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> anyhow::Result<(T, Mark)> {
        let topic = self.identity()?.device_topic(field);
        let what = format!("{what} on {topic}");
        self.timeline
            .wait_for(from, within, &what, |e| {
                side.payload(&topic, &e.event).and_then(|p| pick(&p))
            })
            .await
    }

    /// Waits for any PUBLISH from the plug on the tap: its packet id and index.
    pub async fn next_publish_up(&self, from: Mark, within: Duration) -> anyhow::Result<(u16, Mark)> {
        self.timeline
            .wait_for(from, within, "a PUBLISH from the plug", |e| match &e.event {
                Event::Mqtt(Dir::Up, rumqttc::Packet::Publish(p)) => Some(p.pkid),
                _ => None,
            })
            .await
    }

    /// Waits for the app to receive a message on `{prefix}/device/{field}`: its payload,
    /// index and time.
    pub async fn wait_device(
        &self,
        from: Mark,
        field: &str,
        within: Duration,
    ) -> anyhow::Result<(String, Mark, Duration)> {
        let topic = self.identity()?.device_topic(field);
        let ((p, at), i) = self
            .timeline
            .wait_for(from, within, &format!("a message on {topic}"), |e| {
                match &e.event {
                    Event::AppReceived { topic: t, payload } if *t == topic => Some((payload.clone(), e.at)),
                    _ => None,
                }
            })
            .await?;
        Ok((p, i, at))
    }

    /// The times of `count` consecutive publishes on `{prefix}/device/{field}` after `from`,
    /// each due within `each` of the last: waited for on the app side (so they were
    /// delivered), timed on the tap (where they arrive without the broker's delay).
    pub async fn series(
        &self,
        from: Mark,
        field: &str,
        count: usize,
        each: Duration,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut next = from;
        for _ in 0..count {
            next = self.wait_device(next, field, each).await?.1.after();
        }
        let tap = self.published(from, field, |_| Ok(()))?;
        let tap: Vec<Duration> = tap.into_iter().take(count).map(|(t, _)| t).collect();
        anyhow::ensure!(
            tap.len() == count,
            "the tap saw {} of the {count} {field} publishes the app received",
            tap.len()
        );
        Ok(tap)
    }

    /// What the plug published on `{prefix}/device/{field}` since `from`, on the tap,
    /// parsed by `parse` (each payload must parse: a bad one breaks the topic's schema).
    pub fn published<T>(
        &self,
        from: Mark,
        field: &str,
        parse: impl Fn(&str) -> anyhow::Result<T>,
    ) -> anyhow::Result<Vec<(Duration, T)>> {
        let topic = self.identity()?.device_topic(field);
        self.look(|s| {
            s.since(from.index())
                .payloads_up(&topic)
                .into_iter()
                .map(|(at, p)| Ok((at, parse(&p)?)))
                .collect()
        })
    }

    /// The first payload the plug published on `{prefix}/device/{field}` since `from` (on the
    /// tap) that `pick` accepts: what `pick` made of it, and its index.
    pub fn first_published<T>(
        &self,
        from: Mark,
        field: &str,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> anyhow::Result<Option<(T, Mark)>> {
        let topic = self.identity()?.device_topic(field);
        Ok(self.look(|s| {
            let mut found = s.since(from.index()).publishes(Dir::Up, &topic).into_iter();
            found.find_map(|(i, _, p)| pick(&String::from_utf8_lossy(&p.payload)).map(|t| (t, Mark::at(i))))
        }))
    }

    /// Where the broker delivered the app's last `{prefix}/app/{field}` to the plug since
    /// `from`, on the tap.
    pub fn delivered(&self, from: Mark, field: &str) -> anyhow::Result<Option<Duration>> {
        let topic = self.identity()?.app_topic(field);
        Ok(self.look(|s| {
            s.since(from.index())
                .publishes(Dir::Down, &topic)
                .first()
                .map(|(_, at, _)| *at)
        }))
    }

    /// Waits for the plug's broker session: an accepted CONNACK on the tap, then the
    /// broker's SUBACKs covering the five app topics (before them, an app command could be
    /// lost), however the plug grouped its SUBSCRIBEs. Returns the index of the CONNACK.
    pub async fn wait_connected(&self, from: Mark, within: Duration) -> anyhow::Result<Mark> {
        self.plug.leave_ap().await?;
        let deadline = tokio::time::Instant::now() + within;
        let what = "an accepted CONNACK to the plug on the tap";
        let (_, i) = self
            .timeline
            .wait_for(from, within, what, |e| {
                is_accepted_connack(&e.event).then_some(())
            })
            .await?;
        // MQTT 3.1.1 lets a client subscribe before its CONNACK: count from the CONNECT.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.wait_subscribed(self.session_start(i), left).await?;
        Ok(i)
    }

    /// The plug's last CONNECT at or before timeline position `i`: where the session that `i`
    /// belongs to starts (its SUBSCRIBEs and first publishes may precede the CONNACK).
    pub fn session_start(&self, i: Mark) -> Mark {
        Mark::at(self.look(|s| s.session_start(i.index())))
    }

    /// Waits until the SUBSCRIBEs since `from` (a session's start) are acknowledged for
    /// all five app topics. Without a 4001 reply the topics are unknown: one SUBACK does.
    pub async fn wait_subscribed(&self, from: Mark, within: Duration) -> anyhow::Result<Subscriptions> {
        let want = self.app_topics();
        let mut subs = Subscriptions::default();
        let what = "the broker's SUBACKs for the five app topics";
        let (subs, _) = self
            .timeline
            .wait_for(from, within, what, |e| {
                subs.see(&e.event);
                let done = match &want {
                    Some(w) => subs.missing(w).is_empty(),
                    None => !subs.granted.is_empty(),
                };
                done.then(|| subs.clone())
            })
            .await?;
        Ok(subs)
    }

    /// The five topics the plug must subscribe to, once its identity is known.
    pub fn app_topics(&self) -> Option<Vec<String>> {
        let id = self.identity.as_ref()?;
        Some(APP_FIELDS.iter().map(|f| id.app_topic(f)).collect())
    }

    /// The timeline position of the last 4003 answered code 0.
    pub(crate) fn last_4003(&self) -> Option<Mark> {
        self.look(|s| {
            s.rfind(|e| match &e.event {
                Event::ApReceived(raw) => Reply::parse(raw)
                    .ok()
                    .filter(|r| r.code == 0 && r.header == Some(WIFI)),
                _ => None,
            })
            .map(|(i, _)| Mark::at(i))
        })
    }

    /// An accepted 4003 with no connection to the tap after it: the plug is joining.
    pub(crate) fn joining(&self) -> bool {
        let Some(at) = self.last_4003() else {
            return false;
        };
        !self.look(|s| {
            s.since(at.index())
                .find(|e| {
                    (is_connection_attempt(&e.event) || matches!(e.event, Event::TapConnection { .. }))
                        .then_some(())
                })
                .is_some()
        })
    }
}

/// Where a device message is seen.
#[derive(Debug, Clone, Copy)]
pub enum Side {
    /// Delivered to the app by the broker: the plug's message reached its reader.
    App,
    /// Sent by the plug, on the tap: where its packets arrive without the broker's delay.
    Tap,
}

impl Side {
    /// The payload of `event` when it is a message on `topic` seen on this side.
    fn payload<'e>(self, topic: &str, event: &'e Event) -> Option<std::borrow::Cow<'e, str>> {
        match (self, event) {
            (Side::App, Event::AppReceived { topic: t, payload }) if t == topic => Some(payload.into()),
            (Side::Tap, Event::Mqtt(Dir::Up, rumqttc::Packet::Publish(p))) if p.topic == topic => {
                Some(String::from_utf8_lossy(&p.payload))
            }
            _ => None,
        }
    }
}
