//! The countdown (spec 3.2.3 and 3.3.2): start, tick every cadence, switch at zero, and the
//! cancellation paths. A power cycle cancels by construction: the countdown lives in RAM.
//!
//! The `slow-tick` variation ticks every 1.03 cadences instead of 1 (inside the
//! 1 s +- 0.2 s tolerance) and reports the true remaining time rounded up, so a value
//! is skipped now and then; it ends at the first tick with nothing left, as the default.

use core::fmt::Write;
use core::time::Duration;
use heapless::String;

use super::Plug;
use crate::console::{Cause, Event as Console};
use crate::faults::Fault;
use crate::time::Instant;
use crate::variations::Variation;

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

impl Plug {
    /// An accepted `app/delay_time`: 0/0 cancels, anything else replaces what runs.
    pub(super) fn start_countdown(&mut self, now: Instant, hours: u32, minutes: u32) {
        self.cancel_countdown("replaced");
        let secs = hours * 3600 + minutes * 60;
        if secs == 0 {
            return;
        }
        let c = Countdown {
            remaining: secs,
            total: secs,
            started: now,
            target_on: !self.relay,
            next_tick: now + self.tick_period(),
        };
        self.countdown = Some(c);
        self.console(Console::CountdownStart {
            secs,
            target_on: c.target_on,
        });
        self.publish_delay_time(now, &c);
    }

    pub(super) fn cancel_countdown(&mut self, cause: &'static str) {
        if self.countdown.take().is_some() {
            self.console(Console::CountdownCancel { cause });
        }
    }

    pub(super) fn countdown_timeout(&mut self, now: Instant) {
        let Some(mut c) = self.countdown else {
            return;
        };
        if now < c.next_tick {
            return;
        }
        let period = self.tick_period();
        c.remaining = if self.variations.has(Variation::SlowTick) {
            self.seconds_left(now, &c)
        } else {
            c.remaining.saturating_sub(1)
        };
        c.next_tick = c.next_tick + period;
        // After a long stall the schedule restarts from now rather than bursting.
        if c.next_tick <= now {
            c.next_tick = now + period;
        }
        if !(c.remaining == 0 && self.faults.has(Fault::NoFinalZero)) {
            self.publish_delay_time(now, &c);
        }
        if c.remaining == 0 {
            self.countdown = None;
            self.console(Console::CountdownDone);
            self.set_relay(now, c.target_on, Cause::Countdown);
        } else {
            self.countdown = Some(c);
        }
    }

    fn tick_period(&self) -> Duration {
        if self.variations.has(Variation::SlowTick) {
            self.timing.cadence * 103 / 100
        } else {
            self.timing.cadence
        }
    }

    /// The true remaining time at `now`, in application seconds rounded up: 0 once the
    /// whole time has passed.
    fn seconds_left(&self, now: Instant, c: &Countdown) -> u32 {
        let second = self.app_second.as_micros().max(1);
        let total = u128::from(c.total) * second;
        let left = total.saturating_sub(now.since(c.started).as_micros());
        u32::try_from(left.div_ceil(second)).unwrap_or(u32::MAX)
    }

    fn publish_delay_time(&mut self, now: Instant, c: &Countdown) {
        let mut s: String<128> = String::new();
        let _ = write!(
            s,
            "{{\"delay_hour\":{},\"delay_minute\":{},\"delay_second\":{},\"switch_state\":\"{}\"}}",
            c.remaining / 3600,
            c.remaining / 60 % 60,
            c.remaining % 60,
            if c.target_on { "on" } else { "off" }
        );
        self.publish(now, "delay_time", s.as_bytes());
    }
}
