//! The countdown (spec 3.2.3 and 3.3.2): start, tick every cadence, switch at zero, and the
//! cancellation paths. A power cycle cancels by construction: the countdown lives in RAM.

use core::fmt::Write;
use heapless::String;

use super::Plug;
use crate::console::{Cause, Event as Console};
use crate::faults::Fault;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Countdown {
    /// Seconds still to count.
    pub remaining: u32,
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
            target_on: !self.relay,
            next_tick: now + self.timing.cadence,
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
        c.remaining = c.remaining.saturating_sub(1);
        c.next_tick = c.next_tick + self.timing.cadence;
        // After a long stall the schedule restarts from now rather than bursting.
        if c.next_tick <= now {
            c.next_tick = now + self.timing.cadence;
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
