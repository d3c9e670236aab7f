//! One scenario's timeline: every observation (MQTT packets on the tap, AP exchanges,
//! console lines, app-side messages, the plug's exit) with one clock. Steps wait on it with
//! a deadline; a failed wait reports what it wanted and the last entries it saw.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use oracle::observation::{Dir, Entry, Event};

use instruments::serial_console::ConsoleEvent;

use crate::sync::Locked;

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
        self.entries.locked()
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

    /// Why the plug's process exited, if it did (a simulated plug; see `dut::sim`).
    pub fn plug_exit(&self) -> Option<String> {
        self.lock().iter().find_map(|e| match &e.event {
            Event::PlugExited(why) => Some(why.clone()),
            _ => None,
        })
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// The position after the last entry: what comes from now on.
    pub fn mark(&self) -> Mark {
        Mark(self.len())
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

    /// Waits until an entry at `from` or after matches, for at most `timeout`.
    /// Returns the match and its position. Fails early if the plug process exits.
    pub async fn wait_for<T>(
        &self,
        from: Mark,
        timeout: Duration,
        what: &str,
        mut matches: impl FnMut(&Entry) -> Option<T>,
    ) -> anyhow::Result<(T, Mark)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.len.subscribe();
        let mut next = from.0;
        loop {
            {
                let e = self.lock();
                for (i, entry) in e.iter().enumerate().skip(next) {
                    if let Some(t) = matches(entry) {
                        return Ok((t, Mark(i)));
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
        from: Mark,
        what: &str,
        mut matches: impl FnMut(&Entry) -> bool,
    ) -> anyhow::Result<()> {
        let e = self.lock();
        if let Some(bad) = e.iter().skip(from.0).find(|x| matches(x)) {
            let bad = bad.to_string();
            drop(e);
            anyhow::bail!("expected no {what}, but saw: {bad}\n{}", self.tail());
        }
        Ok(())
    }

    /// Where a console driver's lines go: onto this timeline.
    pub fn console_sink(self: &Arc<Self>) -> impl Fn(ConsoleEvent) + Send + Sync + 'static {
        let timeline = self.clone();
        move |e| {
            timeline.push(match e {
                ConsoleEvent::Line(l) => Event::Console(l),
                ConsoleEvent::Unavailable(why) => Event::Note(why),
            })
        }
    }

    /// The first console line at or after `from` matching `boot` (the rig's boot
    /// pattern; this firmware prints `plug <ms> boot fw=...`), within `limit`: the plug booted.
    pub async fn wait_for_boot(
        &self,
        from: Mark,
        boot: &crate::rig::console::Pattern,
        limit: Duration,
    ) -> anyhow::Result<String> {
        self.wait_for(from, limit, "a boot line on the console", |e| match &e.event {
            Event::Console(l) if boot.is_match(l) => Some(l.clone()),
            _ => None,
        })
        .await
        .map(|(l, _)| l)
        .map_err(|_| anyhow::anyhow!("no console line matching {:?} within {limit:?}", boot.as_str()))
    }
}

/// A position on a timeline: an entry's index, or the end as it was when taken
/// ([`Timeline::mark`]). Waits and checks look from a mark on; a bare `usize` would not say
/// which timeline, or whether it counts entries or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mark(usize);

impl Mark {
    /// The timeline's start.
    pub const START: Mark = Mark(0);

    /// The position of the entry at `index` of `Timeline::snapshot` (as the oracle's
    /// queries over a snapshot give it).
    pub fn at(index: usize) -> Mark {
        Mark(index)
    }

    /// The entry's index in `Timeline::snapshot`.
    pub fn index(self) -> usize {
        self.0
    }

    /// The position just after this entry.
    pub fn after(self) -> Mark {
        Mark(self.0 + 1)
    }

    /// The position of the entry before this one (the start stays the start).
    pub fn before(self) -> Mark {
        Mark(self.0.saturating_sub(1))
    }
}
