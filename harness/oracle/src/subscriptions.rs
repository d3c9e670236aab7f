//! The plug's subscriptions as the wire shows them. A plug may subscribe to the five app
//! topics in one SUBSCRIBE with five filters, in five SUBSCRIBEs, or through a filter with
//! wildcards: the protocol only needs each topic to be subscribed and acknowledged. This
//! follows SUBSCRIBE and SUBACK by packet id and judges the union.

use std::collections::HashMap;

use rumqttc::{Packet, SubscribeReasonCode};

use crate::observation::{Dir, Event, Seen};

#[derive(Debug, Default, Clone)]
pub struct Subscriptions {
    /// SUBSCRIBEs not yet acknowledged, by packet id.
    pending: HashMap<u16, Vec<String>>,
    /// Filters the broker granted.
    pub granted: Vec<String>,
    /// Filters the broker refused (SUBACK 0x80).
    pub refused: Vec<String>,
}

impl Subscriptions {
    /// The subscriptions of the session under way at the end of `seen`.
    pub fn of(seen: Seen<'_>) -> Subscriptions {
        let mut subs = Subscriptions::default();
        for (_, e) in seen.iter() {
            subs.see(&e.event);
        }
        subs
    }

    /// Takes one timeline event into account. A new CONNECT starts a new session: what an
    /// earlier one subscribed does not count for it.
    pub fn see(&mut self, e: &Event) {
        match e {
            Event::Mqtt(Dir::Up, Packet::Connect(_)) => *self = Subscriptions::default(),
            Event::Mqtt(Dir::Up, Packet::Subscribe(s)) => {
                self.pending
                    .insert(s.pkid, s.filters.iter().map(|f| f.path.clone()).collect());
            }
            Event::Mqtt(Dir::Down, Packet::SubAck(a)) => {
                let Some(filters) = self.pending.remove(&a.pkid) else {
                    return;
                };
                for (i, f) in filters.into_iter().enumerate() {
                    match a.return_codes.get(i) {
                        Some(SubscribeReasonCode::Success(_)) => self.granted.push(f),
                        _ => self.refused.push(f),
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether `topic` is covered by a granted filter.
    pub fn covers(&self, topic: &str) -> bool {
        self.granted.iter().any(|f| rumqttc::matches(topic, f))
    }

    /// The topics of `want` not covered yet.
    pub fn missing<'a>(&self, want: &'a [String]) -> Vec<&'a str> {
        want.iter()
            .filter(|t| !self.covers(t))
            .map(String::as_str)
            .collect()
    }

    /// Filters sent but not acknowledged yet.
    pub fn unacknowledged(&self) -> Vec<&str> {
        self.pending.values().flatten().map(String::as_str).collect()
    }
}

impl std::fmt::Display for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "granted {:?}, refused {:?}, unacknowledged {:?}",
            self.granted,
            self.refused,
            self.unacknowledged()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::{QoS, SubAck, Subscribe, SubscribeFilter};

    fn sub(pkid: u16, topics: &[&str]) -> Event {
        let mut s = Subscribe::new_many(
            topics
                .iter()
                .map(|t| SubscribeFilter::new(t.to_string(), QoS::AtLeastOnce)),
        );
        s.pkid = pkid;
        Event::Mqtt(Dir::Up, Packet::Subscribe(s))
    }

    fn ack(pkid: u16, n: usize, ok: bool) -> Event {
        let code = if ok {
            SubscribeReasonCode::Success(QoS::AtLeastOnce)
        } else {
            SubscribeReasonCode::Failure
        };
        Event::Mqtt(Dir::Down, Packet::SubAck(SubAck::new(pkid, vec![code; n])))
    }

    fn want() -> Vec<String> {
        ["a", "b", "c", "d", "e"]
            .iter()
            .map(|f| format!("p/app/{f}"))
            .collect()
    }

    #[test]
    fn one_subscribe_or_five_or_a_wildcard_cover_the_topics() {
        let w = want();
        let topics: Vec<&str> = w.iter().map(String::as_str).collect();
        let mut one = Subscriptions::default();
        one.see(&sub(1, &topics));
        assert_eq!(one.missing(&w).len(), 5, "nothing counts before the SUBACK");
        one.see(&ack(1, 5, true));
        assert!(one.missing(&w).is_empty());

        let mut five = Subscriptions::default();
        for (i, t) in topics.iter().enumerate() {
            five.see(&sub(i as u16 + 1, &[t]));
        }
        for i in 0..4 {
            five.see(&ack(i + 1, 1, true));
        }
        assert_eq!(five.missing(&w), vec!["p/app/e"]);
        five.see(&ack(5, 1, true));
        assert!(five.missing(&w).is_empty());

        let mut wild = Subscriptions::default();
        wild.see(&sub(9, &["p/app/#"]));
        wild.see(&ack(9, 1, true));
        assert!(wild.missing(&w).is_empty());
    }

    #[test]
    fn a_refused_filter_or_a_new_session_does_not_count() {
        let w = want();
        let topics: Vec<&str> = w.iter().map(String::as_str).collect();
        let mut s = Subscriptions::default();
        s.see(&sub(1, &topics));
        s.see(&ack(1, 5, false));
        assert_eq!(s.missing(&w).len(), 5);
        assert_eq!(s.refused.len(), 5);
        let mut s = Subscriptions::default();
        s.see(&sub(1, &topics));
        s.see(&ack(1, 5, true));
        s.see(&Event::Mqtt(Dir::Up, Packet::Connect(rumqttc::Connect::new("x"))));
        assert_eq!(s.missing(&w).len(), 5);
    }
}
