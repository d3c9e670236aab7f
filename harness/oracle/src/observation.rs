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
