//! The protocol's periods and their tolerances, at a rig's time scale.

use std::time::Duration;

/// Periods of the protocol (spec + PROTOCOL-NOTES) for a DUT whose application timers run
/// `scale` times faster than real time.
#[derive(Debug, Clone, Copy)]
pub struct Periods {
    pub scale: f64,
}

impl Periods {
    pub fn new(scale: f64) -> Periods {
        Periods {
            scale: scale.max(1.0),
        }
    }

    fn s(&self, secs: f64) -> Duration {
        Duration::from_secs_f64(secs / self.scale)
    }

    /// switch_state heartbeat: 30 s +- 1 s [spec 3.2.1, profile tolerance].
    pub fn heartbeat(&self) -> (Duration, Duration) {
        (self.s(30.0), self.s(1.0))
    }

    /// delay_time and electricity_information cadence: 1 s +- 0.2 s.
    pub fn cadence(&self) -> (Duration, Duration) {
        (self.s(1.0), self.s(0.2))
    }

    /// firmware_infor after a request: within 2 s [profile].
    pub fn firmware_infor_within(&self) -> Duration {
        // A reply is not an application timer: it does not scale.
        Duration::from_secs(2)
    }

    /// Button hold for a factory reset: 10 s [spec 3.2.5].
    pub fn reset_hold(&self) -> Duration {
        self.s(10.0)
    }

    /// Scales an application-timer duration given in real-plug seconds.
    pub fn app(&self, secs: f64) -> Duration {
        self.s(secs)
    }
}
