//! What a rig observes around a plug, in one vocabulary: MQTT packets through the wire tap
//! in either direction, the tap's connections, AP socket exchanges, console lines, the app
//! side's messages. A rig records them with the moment it saw them; every check of this crate
//! reads them, and nothing here says how they were captured.

use std::fmt;
use std::time::Duration;

use rumqttc::Packet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Plug to broker, through the tap.
    Up,
    /// Broker to plug, through the tap.
    Down,
}

#[derive(Debug, Clone)]
pub enum Event {
    Mqtt(Dir, Packet),
    /// The tap's connection from the plug opened or closed.
    TapConnection {
        open: bool,
    },
    /// The tap refused a connection from the plug (a broker outage it plays): still one of
    /// the plug's connection attempts.
    TapRefused,
    /// How the plug opened a connection through the tap: its first bytes were a TLS
    /// ClientHello (`tls`, and the tap terminated TLS) or were not (MQTT in clear).
    TapOpened {
        tls: bool,
    },
    /// The tap completed a TLS handshake with the plug: what was negotiated, and the server
    /// name the plug sent (none when it was provisioned with an address).
    TlsHandshake {
        version: String,
        cipher_suite: String,
        sni: Option<String>,
    },
    ApSent(String),
    ApReceived(String),
    ApClosed,
    Console(String),
    /// A message the app side received.
    AppReceived {
        topic: String,
        payload: String,
    },
    AppSent {
        topic: String,
        payload: String,
    },
    /// The plug process (simulated rig) exited.
    PlugExited(String),
    Note(String),
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Since the scenario started.
    pub at: Duration,
    pub event: Event,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.at.as_secs_f64();
        match &self.event {
            Event::Mqtt(d, p) => {
                let arrow = if *d == Dir::Up {
                    "plug->broker"
                } else {
                    "broker->plug"
                };
                write!(f, "{t:9.3}s {arrow} {}", crate::packet_summary(p))
            }
            Event::TapConnection { open } => write!(
                f,
                "{t:9.3}s tap connection {}",
                if *open { "opened" } else { "closed" }
            ),
            Event::TapRefused => write!(f, "{t:9.3}s tap refused a connection (broker outage)"),
            Event::TapOpened { tls } => write!(f, "{t:9.3}s tap: the plug opened {}", opening(*tls)),
            Event::TlsHandshake {
                version,
                cipher_suite,
                sni,
            } => write!(
                f,
                "{t:9.3}s tap: {}",
                handshake(version, cipher_suite, sni.as_deref())
            ),
            Event::ApSent(s) => write!(f, "{t:9.3}s ap<- {s}"),
            Event::ApReceived(s) => write!(f, "{t:9.3}s ap-> {s}"),
            Event::ApClosed => write!(f, "{t:9.3}s ap connection closed by the plug"),
            Event::Console(s) => write!(f, "{t:9.3}s console {s}"),
            Event::AppReceived { topic, payload } => write!(f, "{t:9.3}s app<- {topic} {payload}"),
            Event::AppSent { topic, payload } => write!(f, "{t:9.3}s app-> {topic} {payload}"),
            Event::PlugExited(s) => write!(f, "{t:9.3}s PLUG EXITED: {s}"),
            Event::Note(s) => write!(f, "{t:9.3}s note: {s}"),
        }
    }
}

/// How a connection opened, for reports.
pub fn opening(tls: bool) -> &'static str {
    if tls {
        "with a TLS ClientHello"
    } else {
        "in clear (no TLS)"
    }
}

/// A TLS handshake's summary, for reports.
pub fn handshake(version: &str, suite: &str, sni: Option<&str>) -> String {
    format!(
        "TLS handshake done: {version}, {suite}, SNI {}",
        sni.unwrap_or("none")
    )
}

/// A view of what a rig saw, from some point on: the queries checks are written in. Indices
/// are positions in the whole record, so a view's answers can be used as marks.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    entries: &'a [Entry],
    from: usize,
}

impl<'a> Seen<'a> {
    /// Everything in `entries`.
    pub fn all(entries: &'a [Entry]) -> Seen<'a> {
        Seen { entries, from: 0 }
    }

    /// Only what was seen at index `from` or later.
    pub fn since(self, from: usize) -> Seen<'a> {
        Seen {
            entries: self.entries,
            from: from.max(self.from),
        }
    }

    /// Only what was seen before index `to`.
    pub fn before(self, to: usize) -> Seen<'a> {
        Seen {
            entries: &self.entries[..to.min(self.entries.len())],
            from: self.from,
        }
    }

    /// Each entry with its index.
    pub fn iter(self) -> impl DoubleEndedIterator<Item = (usize, &'a Entry)> {
        self.entries.iter().enumerate().skip(self.from)
    }

    /// The first entry `f` picks something from, with its index.
    pub fn find<T>(self, mut f: impl FnMut(&'a Entry) -> Option<T>) -> Option<(usize, T)> {
        self.iter().find_map(|(i, e)| f(e).map(|t| (i, t)))
    }

    /// The last entry `f` picks something from, with its index.
    pub fn rfind<T>(self, mut f: impl FnMut(&'a Entry) -> Option<T>) -> Option<(usize, T)> {
        self.iter().rev().find_map(|(i, e)| f(e).map(|t| (i, t)))
    }

    /// The PUBLISHes on `topic` in direction `dir` through the tap: index, time, packet.
    pub fn publishes(self, dir: Dir, topic: &str) -> Vec<(usize, Duration, &'a rumqttc::Publish)> {
        self.iter()
            .filter_map(|(i, e)| match &e.event {
                Event::Mqtt(d, Packet::Publish(p)) if *d == dir && p.topic == topic => Some((i, e.at, p)),
                _ => None,
            })
            .collect()
    }

    /// The payloads the plug published on `topic`, as text, with their times.
    pub fn payloads_up(self, topic: &str) -> Vec<(Duration, String)> {
        self.publishes(Dir::Up, topic)
            .into_iter()
            .map(|(_, at, p)| (at, String::from_utf8_lossy(&p.payload).into_owned()))
            .collect()
    }

    /// The plug's first CONNECT.
    pub fn connect(self) -> Option<&'a rumqttc::Connect> {
        self.find(|e| match &e.event {
            Event::Mqtt(Dir::Up, Packet::Connect(c)) => Some(c),
            _ => None,
        })
        .map(|(_, c)| c)
    }

    /// Where the plug acknowledged the broker's PUBLISH `pkid` (PUBACK or PUBREC).
    pub fn plug_acknowledged(self, pkid: u16) -> Option<usize> {
        self.find(|e| match &e.event {
            Event::Mqtt(Dir::Up, Packet::PubAck(a)) if a.pkid == pkid => Some(()),
            Event::Mqtt(Dir::Up, Packet::PubRec(a)) if a.pkid == pkid => Some(()),
            _ => None,
        })
        .map(|(i, _)| i)
    }

    /// The times of the plug's connection attempts: the tap accepted or refused them.
    pub fn connection_attempts(self) -> Vec<Duration> {
        self.iter()
            .filter(|(_, e)| is_connection_attempt(&e.event))
            .map(|(_, e)| e.at)
            .collect()
    }

    /// The times of every packet the plug sent through the tap.
    pub fn packets_up(self) -> Vec<Duration> {
        self.iter()
            .filter(|(_, e)| matches!(e.event, Event::Mqtt(Dir::Up, _)))
            .map(|(_, e)| e.at)
            .collect()
    }

    /// How each of the plug's connections through the tap opened: index, with TLS or not.
    pub fn openings(self) -> Vec<(usize, bool)> {
        self.iter()
            .filter_map(|(i, e)| match e.event {
                Event::TapOpened { tls } => Some((i, tls)),
                _ => None,
            })
            .collect()
    }

    /// The plug's last CONNECT at or before index `i`: where the session `i` belongs to
    /// starts (its SUBSCRIBEs and first publishes may precede the CONNACK).
    pub fn session_start(self, i: usize) -> usize {
        self.before(i + 1)
            .rfind(|e| matches!(e.event, Event::Mqtt(Dir::Up, Packet::Connect(_))).then_some(()))
            .map_or(i, |(j, _)| j)
    }
}

/// One of the plug's connection attempts: the tap accepted it or refused it (an outage).
pub fn is_connection_attempt(e: &Event) -> bool {
    matches!(e, Event::TapConnection { open: true } | Event::TapRefused)
}

/// An accepted CONNACK to the plug.
pub fn is_accepted_connack(e: &Event) -> bool {
    matches!(e, Event::Mqtt(Dir::Down, Packet::ConnAck(a)) if a.code == rumqttc::ConnectReturnCode::Success)
}
