//! The plug's two exits: a factory reset (back to AP mode, configuration erased) and a
//! restart (after an upgrade). Both leave the broker the same way.
//!
//! Read first: spec 3.2.5 (reset) and PROTOCOL-NOTES on `delete_device`. Owns the drain:
//! an exit waits up to `Timing::drain` for in-flight publishes to be acknowledged, then
//! disconnects. Refuses: deciding when to exit (the button, the app, the upgrade do).

use super::{Action, Mode, Plug};
use crate::console::{Cause, Event as Console};
use crate::faults::Fault;
use crate::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exit {
    Reset,
    Restart,
}

impl Plug {
    pub(super) fn factory_reset(&mut self, now: Instant, cause: Cause) {
        self.console(Console::Reset { cause });
        self.cancel_countdown("reset");
        if cause == Cause::Button && self.mqtt_up() && !self.faults.has(Fault::NoDeleteDevice) {
            self.publish(now, "delete_device", b"{}");
            self.begin_exit(now, Exit::Reset);
        } else {
            self.finish_exit(Exit::Reset);
        }
    }

    /// Waits for in-flight publishes to be acknowledged before leaving the broker.
    pub(super) fn begin_exit(&mut self, now: Instant, exit: Exit) {
        self.exit = Some((exit, now + self.timing.drain));
        self.check_exit();
    }

    /// Leaves once nothing is in flight (or there is no session to wait for).
    pub(super) fn check_exit(&mut self) {
        let Some((exit, _)) = self.exit else {
            return;
        };
        let drained = match &self.mode {
            Mode::Station(st) => !st.session.is_up() || st.session.inflight_len() == 0,
            Mode::Ap(_) => true,
        };
        if drained {
            self.finish_exit(exit);
        }
    }

    /// The drain deadline passed.
    pub(super) fn exit_timeout(&mut self, now: Instant) {
        if let Some((exit, deadline)) = self.exit {
            if now >= deadline {
                self.finish_exit(exit);
            }
        }
    }

    fn finish_exit(&mut self, exit: Exit) {
        self.exit = None;
        if let Mode::Station(st) = &mut self.mode {
            st.stop(|a| self.out.push(a));
        }
        match exit {
            Exit::Reset => {
                if !self.faults.has(Fault::ResetKeepsConfig) {
                    self.emit(Action::Erase);
                }
                self.console(Console::ConfigErased);
                self.enter_ap();
            }
            Exit::Restart => self.emit(Action::Restart),
        }
    }
}
