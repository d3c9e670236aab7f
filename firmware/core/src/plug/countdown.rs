//! The countdown (spec 3.2.3 and 3.3.2): its schedule and what each tick says.
//!
//! Read first: spec 3.3.2 (`delay_time`). Owns the remaining time and the tick schedule;
//! [`Countdown::tick`] says what a tick means and the plug publishes and switches.
//! Refuses: persistence (a power cycle cancels by construction: the countdown lives in
//! RAM) and the cancellation paths, which are the plug's (a switch, a reset, a new one).
//!
//! The `slow-tick` variation ticks every 1.03 cadences instead of 1 (inside the
//! 1 s +- 0.2 s tolerance) and reports the true remaining time rounded up, so a value
//! is skipped now and then; it ends at the first tick with nothing left, as the default.

use core::fmt::Write;
use core::time::Duration;
use heapless::String;

use crate::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Countdown {
    /// Seconds still to count, as the last message said.
    pub remaining: u32,
    /// Seconds asked for, counted from `started`.
    pub total: u32,
    pub started: Instant,
    /// The relay state when it ends: the opposite of the state when it started.
    pub target_on: bool,
    pub next_tick: Instant,
}

/// How a countdown measures time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    /// The tick period of the default build.
    pub cadence: Duration,
    /// One second of application time (the unfaulted cadence), which `slow-tick`
    /// measures the remaining time in.
    pub second: Duration,
    pub slow_tick: bool,
}

impl Pace {
    fn period(&self) -> Duration {
        if self.slow_tick {
            self.cadence * 103 / 100
        } else {
            self.cadence
        }
    }
}

/// What a call to [`Countdown::tick`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tick {
    NotYet,
    /// A tick with time left: publish it.
    Counting,
    /// The last tick: publish the zero and switch the relay to `target_on`.
    Done,
}

impl Countdown {
    /// A countdown of `secs` from `now`, switching the relay away from `relay_on`; None
    /// for zero seconds (0/0 cancels without starting).
    pub(super) fn start(now: Instant, secs: u32, relay_on: bool, pace: Pace) -> Option<Countdown> {
        (secs > 0).then(|| Countdown {
            remaining: secs,
            total: secs,
            started: now,
            target_on: !relay_on,
            next_tick: now + pace.period(),
        })
    }

    pub(super) fn tick(&mut self, now: Instant, pace: Pace) -> Tick {
        if now < self.next_tick {
            return Tick::NotYet;
        }
        let period = pace.period();
        self.remaining = if pace.slow_tick {
            self.seconds_left(now, pace.second)
        } else {
            self.remaining.saturating_sub(1)
        };
        self.next_tick = self.next_tick + period;
        // After a long stall the schedule restarts from now rather than bursting.
        if self.next_tick <= now {
            self.next_tick = now + period;
        }
        if self.remaining == 0 {
            Tick::Done
        } else {
            Tick::Counting
        }
    }

    /// The true remaining time at `now`, in application seconds rounded up: 0 once the
    /// whole time has passed.
    fn seconds_left(&self, now: Instant, second: Duration) -> u32 {
        let second = second.as_micros().max(1);
        let total = u128::from(self.total) * second;
        let left = total.saturating_sub(now.since(self.started).as_micros());
        u32::try_from(left.div_ceil(second)).unwrap_or(u32::MAX)
    }

    /// The `delay_time` payload for the remaining time.
    pub(super) fn payload(&self) -> String<128> {
        let mut s: String<128> = String::new();
        let _ = write!(
            s,
            "{{\"delay_hour\":{},\"delay_minute\":{},\"delay_second\":{},\"switch_state\":\"{}\"}}",
            self.remaining / 3600,
            self.remaining / 60 % 60,
            self.remaining % 60,
            if self.target_on { "on" } else { "off" }
        );
        s
    }
}
