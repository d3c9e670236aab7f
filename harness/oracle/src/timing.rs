//! The protocol's periods and their tolerances, at a rig's time scale.

use std::time::Duration;

use crate::measure::{Limits, Measurements};

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

    /// Judges a series of intervals of a periodic message against `(period, tol)`,
    /// recording each as the measurement `name` and their mean as `{name}_mean`. The rig
    /// measures with the host's scheduling and network jitter, which the plug is not to be
    /// blamed for: each interval may be off by the tolerance plus [`MEASUREMENT_JITTER`],
    /// and their mean, where jitter averages out, by the tolerance alone. A plug whose
    /// period is wrong fails the mean; a single late message on a loaded host does not fail
    /// the plug. `gaps` are (end of the interval on the timeline, length).
    pub fn judge_intervals(
        &self,
        name: &str,
        gaps: &[(Duration, Duration)],
        (period, tol): (Duration, Duration),
        m: &mut Measurements,
    ) -> Result<(), String> {
        let one = Limits::within(period.as_secs_f64(), (tol + MEASUREMENT_JITTER).as_secs_f64());
        let mut first_bad = None;
        for (i, (at, gap)) in gaps.iter().enumerate() {
            if !m.record(name, "s", one, gap.as_secs_f64(), *at) && first_bad.is_none() {
                first_bad = Some(format!(
                    "interval {} is {gap:?}, expected {period:?} +- {tol:?} (+ {MEASUREMENT_JITTER:?} for the rig's own timing)",
                    i + 1
                ));
            }
        }
        if let Some(bad) = first_bad {
            return Err(bad);
        }
        let Some((last, _)) = gaps.last() else {
            return Ok(());
        };
        let mean = gaps.iter().map(|(_, g)| *g).sum::<Duration>() / gaps.len() as u32;
        let limits = Limits::within(period.as_secs_f64(), tol.as_secs_f64());
        if !m.record(&format!("{name}_mean"), "s", limits, mean.as_secs_f64(), *last) {
            return Err(format!(
                "the mean of {} intervals is {mean:?}, expected {period:?} +- {tol:?}",
                gaps.len()
            ));
        }
        Ok(())
    }

    /// As [`Periods::judge_intervals`], from the times of consecutive messages.
    pub fn judge_series(
        &self,
        name: &str,
        times: &[Duration],
        expected: (Duration, Duration),
        m: &mut Measurements,
    ) -> Result<(), String> {
        let gaps: Vec<(Duration, Duration)> = times
            .windows(2)
            .map(|p| (p[1], p[1].saturating_sub(p[0])))
            .collect();
        self.judge_intervals(name, &gaps, expected, m)
    }

    /// Scales an application-timer duration given in real-plug seconds.
    pub fn app(&self, secs: f64) -> Duration {
        self.s(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<(Duration, Duration)> {
        v.iter()
            .map(|&m| (Duration::ZERO, Duration::from_millis(m)))
            .collect()
    }

    #[test]
    fn one_late_message_is_the_host_a_slow_period_is_the_plug() {
        let p = Periods::new(10.0);
        let cadence = p.cadence();
        let judge = |gaps: &[u64]| p.judge_intervals("i", &ms(gaps), cadence, &mut Measurements::default());
        // One wake-up 25 ms late, the next one early again: jitter, not the plug.
        assert_eq!(judge(&[100, 125, 76, 100, 101]), Ok(()));
        // A tick 3 % slow is inside the tolerance.
        assert_eq!(judge(&[103; 20]), Ok(()));
        // Every tick 25 % slow: the mean shows it, whatever the jitter allowance.
        assert!(judge(&[125; 10]).unwrap_err().contains("mean"));
        // One interval far off is not jitter.
        assert!(judge(&[100, 180, 100]).is_err());
        // Each interval and the mean are recorded, pass or fail.
        let mut m = Measurements::default();
        let _ = p.judge_intervals("i", &ms(&[100, 180]), cadence, &mut m);
        assert_eq!(m.all().len(), 2, "the second interval failed: no mean");
        let _ = p.judge_intervals("j", &ms(&[100, 101]), cadence, &mut m);
        assert_eq!(m.all().iter().filter(|x| x.name.starts_with('j')).count(), 3);
    }
}
