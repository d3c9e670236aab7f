//! One scenario's timeline: every observation (MQTT packets on the tap, AP exchanges,
//! console lines, app-side messages, the plug's exit) with one clock. Steps wait on it with
//! a deadline; a failed wait reports what it wanted and the last entries it saw.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rumqttc::Packet;
use tokio::sync::watch;

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
                write!(f, "{t:9.3}s {arrow} {}", crate::protocol::packet_summary(p))
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

pub struct Timeline {
    start: Instant,
    entries: Mutex<Vec<Entry>>,
    len: watch::Sender<usize>,
}

impl fmt::Debug for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timeline({} entries)", self.len())
    }
}

/// How many entries a failure message shows.
const TAIL: usize = 15;

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            start: Instant::now(),
            entries: Mutex::new(Vec::new()),
            len: watch::channel(0).0,
        }
    }
}

impl Timeline {
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, event: Event) {
        let n = {
            let mut e = self.lock();
            e.push(Entry {
                at: self.start.elapsed(),
                event,
            });
            e.len()
        };
        self.len.send_replace(n);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn snapshot(&self) -> Vec<Entry> {
        self.lock().clone()
    }

    /// The last entries, one per line, for failure messages.
    pub fn tail(&self) -> String {
        let e = self.lock();
        let from = e.len().saturating_sub(TAIL);
        let mut s = format!("last {} of {} timeline entries:\n", e.len() - from, e.len());
        for x in &e[from..] {
            s.push_str(&format!("  {x}\n"));
        }
        s
    }

    /// Waits until an entry at index >= `from` matches, for at most `timeout`.
    /// Returns the match and its index. Fails early if the plug process exits.
    pub async fn wait_for<T>(
        &self,
        from: usize,
        timeout: Duration,
        what: &str,
        mut matches: impl FnMut(&Entry) -> Option<T>,
    ) -> anyhow::Result<(T, usize)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.len.subscribe();
        let mut next = from;
        loop {
            {
                let e = self.lock();
                for (i, entry) in e.iter().enumerate().skip(next) {
                    if let Some(t) = matches(entry) {
                        return Ok((t, i));
                    }
                    if let Event::PlugExited(why) = &entry.event {
                        let why = why.clone();
                        drop(e);
                        anyhow::bail!("expected {what}, but the plug exited ({why})\n{}", self.tail());
                    }
                }
                next = e.len().max(next);
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                anyhow::bail!(
                    "expected {what} within {timeout:?}; it did not come\n{}",
                    self.tail()
                );
            }
        }
    }

    /// Fails if any entry in [from, now] matches; used for "no further X" checks after the
    /// caller has waited the period in which X would have come.
    pub fn none_since(
        &self,
        from: usize,
        what: &str,
        mut matches: impl FnMut(&Entry) -> bool,
    ) -> anyhow::Result<()> {
        let e = self.lock();
        if let Some(bad) = e.iter().skip(from).find(|x| matches(x)) {
            let bad = bad.to_string();
            drop(e);
            anyhow::bail!("expected no {what}, but saw: {bad}\n{}", self.tail());
        }
        Ok(())
    }
}
