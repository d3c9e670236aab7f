//! The protocol's periods and their tolerances, at a rig's time scale.

use std::time::Duration;

/// How much the rig's own timestamps may be off for one message: a loaded two-core host
/// delays a wake-up or a socket read by tens of milliseconds (seen: 25 ms). Not scaled: it
/// is the host's, not the plug's.
pub const MEASUREMENT_JITTER: Duration = Duration::from_millis(50);

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

    /// Judges a series of intervals of a periodic message against `(period, tol)`. The rig
    /// measures with the host's scheduling and network jitter, which the plug is not to be
    /// blamed for: each interval may be off by the tolerance plus [`MEASUREMENT_JITTER`],
    /// and their mean, where jitter averages out, by the tolerance alone. A plug whose
    /// period is wrong fails the mean; a single late message on a loaded host does not fail
    /// the plug.
    pub fn judge_intervals(
        &self,
        gaps: &[Duration],
        (period, tol): (Duration, Duration),
    ) -> Result<(), String> {
        for (i, gap) in gaps.iter().enumerate() {
            if gap.abs_diff(period) > tol + MEASUREMENT_JITTER {
                return Err(format!(
                    "interval {} is {gap:?}, expected {period:?} +- {tol:?} (+ {MEASUREMENT_JITTER:?} for the rig's own timing)",
                    i + 1
                ));
            }
        }
        if gaps.is_empty() {
            return Ok(());
        }
        let mean = gaps.iter().sum::<Duration>() / gaps.len() as u32;
        if mean.abs_diff(period) > tol {
            return Err(format!(
                "the mean of {} intervals is {mean:?}, expected {period:?} +- {tol:?}",
                gaps.len()
            ));
        }
        Ok(())
    }

    /// Scales an application-timer duration given in real-plug seconds.
    pub fn app(&self, secs: f64) -> Duration {
        self.s(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn one_late_message_is_the_host_a_slow_period_is_the_plug() {
        let p = Periods::new(10.0);
        let cadence = p.cadence();
        // One wake-up 25 ms late, the next one early again: jitter, not the plug.
        assert_eq!(p.judge_intervals(&ms(&[100, 125, 76, 100, 101]), cadence), Ok(()));
        // A tick 3 % slow is inside the tolerance.
        assert_eq!(p.judge_intervals(&ms(&[103; 20]), cadence), Ok(()));
        // Every tick 25 % slow: the mean shows it, whatever the jitter allowance.
        assert!(p
            .judge_intervals(&ms(&[125; 10]), cadence)
            .unwrap_err()
            .contains("mean"));
        // One interval far off is not jitter.
        assert!(p.judge_intervals(&ms(&[100, 180, 100]), cadence).is_err());
    }
}
