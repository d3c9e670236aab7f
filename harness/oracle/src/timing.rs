//! The protocol's periods and their tolerances, at a rig's time scale, and how far the
//! rig's own timestamps may be trusted when judging them.
//!
//! Timing model (docs/timing.md): a periodic message's interval is judged on two
//! timestamps the rig takes, each late by the rig's own jitter (host scheduling, the
//! link's delay spread), never by the plug's fault. The runner measures that jitter at
//! run start (`harness/src/scenario/jitter.rs`) and gives it here as `allowance`: how far one
//! interval may be off because of the rig. It is real time and does not scale with
//! `time_scale`, while the protocol's periods and tolerances do: the faster the DUT runs,
//! the larger the rig's share. Where the allowance exceeds the protocol's own tolerance for
//! a period, the rig's noise rather than the plug would decide a check of that period: it
//! is not made at all (the scenario is skipped with the reason), neither passed nor failed.

use std::time::Duration;

use crate::measure::{Limits, Measurements};

/// How late a link may deliver one message at the end of a series: TCP's first
/// retransmission waits 200 ms (Linux's minimum) to 1 s (RFC 6298's initial timeout).
pub const RETRANSMISSION_BOUND: Duration = Duration::from_secs(1);

/// The rules whose scenarios judge the intervals of a periodic message, with that period:
/// the runner skips such a scenario before it starts when the rig cannot judge the period
/// (a step cannot skip itself in cucumber: it passes or fails).
pub const PERIODIC_RULES: &[(&str, Periodic)] = &[
    ("switch-heartbeat", Periodic::Heartbeat),
    ("delay-cadence", Periodic::Cadence),
    ("electricity-cadence", Periodic::Cadence),
];

/// The protocol's periodic messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Periodic {
    /// switch_state every 30 s.
    Heartbeat,
    /// delay_time and electricity_information every second.
    Cadence,
}

/// Periods of the protocol (spec + PROTOCOL-NOTES) for a DUT whose application timers run
/// `scale` times faster than real time, and the rig's timing allowance.
#[derive(Debug, Clone, Copy)]
pub struct Periods {
    pub scale: f64,
    /// How far one interval between two of the rig's timestamps may be off because of the
    /// rig itself (real time, not scaled). Zero until the rig's jitter is measured.
    pub allowance: Duration,
}

impl Periods {
    pub fn new(scale: f64) -> Periods {
        Periods {
            scale: scale.max(1.0),
            allowance: Duration::ZERO,
        }
    }

    /// These periods with the rig's measured allowance per interval.
    pub fn with_allowance(self, allowance: Duration) -> Periods {
        Periods { allowance, ..self }
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

    /// A stalled upgrade transfer is abandoned with R2 within 25 s [profile] (rule
    /// ota-stall): the plug's stall timeout is an application timer, scaled as the others.
    pub fn ota_stall_within(&self) -> Duration {
        self.s(25.0)
    }

    /// Button hold for a factory reset: 10 s [spec 3.2.5].
    pub fn reset_hold(&self) -> Duration {
        self.s(10.0)
    }

    /// The period and tolerance of a periodic message at this scale.
    pub fn of(&self, p: Periodic) -> (Duration, Duration) {
        match p {
            Periodic::Heartbeat => self.heartbeat(),
            Periodic::Cadence => self.cadence(),
        }
    }

    /// Whether intervals of `period +- tol` can be judged on this rig: the rig's
    /// allowance is at most the protocol's tolerance, so the rig's share of a check is at
    /// most the plug's. Then an interval's band is at most +- 2 x tol and the mean of n
    /// intervals is held to tol x (1 + 1/n): a plug 25 % slow on a 20 % tolerance is still
    /// caught over 5 intervals. Otherwise the reason, with the figures.
    pub fn judgeable(&self, what: &str, (period, tol): (Duration, Duration)) -> Result<(), String> {
        if self.allowance <= tol {
            return Ok(());
        }
        Err(format!(
            "the rig's measured timing allowance {:.1} ms exceeds the {what} tolerance of \
             {:.1} ms ({:.0} ms period) at time scale {}: the rig's own jitter, not the plug, \
             would decide the check",
            self.allowance.as_secs_f64() * 1e3,
            tol.as_secs_f64() * 1e3,
            period.as_secs_f64() * 1e3,
            self.scale,
        ))
    }

    /// Why a scenario checking `rules` (rule ids, without `rule-`) cannot be judged on this
    /// rig, if one of them judges a period the rig's jitter makes meaningless.
    pub fn unjudgeable<'a>(&self, rules: impl IntoIterator<Item = &'a str>) -> Option<String> {
        rules.into_iter().find_map(|id| {
            let (_, p) = PERIODIC_RULES.iter().find(|(r, _)| *r == id)?;
            let what = match p {
                Periodic::Heartbeat => "heartbeat",
                Periodic::Cadence => "cadence",
            };
            self.judgeable(what, self.of(*p)).err()
        })
    }

    /// Judges a series of intervals of a periodic message against `(period, tol)`,
    /// recording each as the measurement `name` and their mean as `{name}_mean`. The rig
    /// timestamps with its own scheduling and network jitter, which the plug is not to be
    /// blamed for: each interval may be off by the tolerance plus the rig's `allowance`,
    /// and the mean of n intervals, which only the first and the last timestamp decide, by
    /// the tolerance plus `allowance / n`. A plug whose period is wrong fails the mean; a
    /// single late message on a loaded host or a jittery link does not fail the plug.
    ///
    /// A link that loses a segment delivers that message a retransmission timeout late
    /// (200 ms and more), far beyond any jitter allowance, and the next one on time: an
    /// interval too long followed by one as much too short, which together keep the period.
    /// Such a pair is recorded as `{name}_pair` and judged as two intervals (2 x period
    /// +- 2 x tol + allowance): from its timestamps the rig cannot tell a delivery late by
    /// the link from a send late by the plug that catches up at once, and only the first is
    /// likely. At the ends of the series there is no pair: a last interval too long or a
    /// first one too short, by no more than [`RETRANSMISSION_BOUND`], when every other
    /// interval is in its band, is one end message the link delayed; it is recorded as
    /// `{name}_end` and left out of the per-interval check and the mean (a plug cannot
    /// know which of its messages the rig's series ends on).
    /// `gaps` are (end of the interval on the timeline, length). Where the allowance makes
    /// the check meaningless it is not made (an error saying so: the runner skips such
    /// scenarios by their rule before they start, see [`PERIODIC_RULES`]).
    pub fn judge_intervals(
        &self,
        name: &str,
        gaps: &[(Duration, Duration)],
        (period, tol): (Duration, Duration),
        m: &mut Measurements,
    ) -> Result<(), String> {
        self.judgeable(name, (period, tol))?;
        let rig = self.allowance;
        let one = Limits::within(period.as_secs_f64(), (tol + rig).as_secs_f64());
        let gaps = self.set_aside_ends(name, gaps, one, (period, tol), m);
        let pair = Limits::within(2.0 * period.as_secs_f64(), (2 * tol + rig).as_secs_f64());
        let mut first_bad = None;
        let mut i = 0;
        while let Some((at, gap)) = gaps.get(i) {
            let next = gaps.get(i + 1).filter(|(_, g)| *g < period);
            if let Some((at2, g2)) = next.filter(|_| *gap > period && !one.contains(gap.as_secs_f64())) {
                let sum = (*gap + *g2).as_secs_f64();
                if pair.contains(sum) {
                    m.record(&format!("{name}_pair"), "s", pair, sum, *at2);
                    i += 2;
                    continue;
                }
            }
            if !m.record(name, "s", one, gap.as_secs_f64(), *at) && first_bad.is_none() {
                first_bad = Some(format!(
                    "interval {} is {gap:?}, expected {period:?} +- {tol:?} (+ {rig:?} for the rig's measured jitter)",
                    i + 1
                ));
            }
            i += 1;
        }
        if let Some(bad) = first_bad {
            return Err(bad);
        }
        let Some((last, _)) = gaps.last() else {
            return Ok(());
        };
        let n = gaps.len() as u32;
        let mean = gaps.iter().map(|(_, g)| *g).sum::<Duration>() / n;
        let slack = tol + rig / n;
        let limits = Limits::within(period.as_secs_f64(), slack.as_secs_f64());
        if !m.record(&format!("{name}_mean"), "s", limits, mean.as_secs_f64(), *last) {
            return Err(format!(
                "the mean of {n} intervals is {mean:?}, expected {period:?} +- {tol:?} (+ {:?} for the rig's measured jitter)",
                rig / n
            ));
        }
        Ok(())
    }

    /// The series without an end interval that one message delayed by the link explains
    /// (see [`Periods::judge_intervals`]); such an interval is recorded as `{name}_end`.
    fn set_aside_ends<'g>(
        &self,
        name: &str,
        gaps: &'g [(Duration, Duration)],
        one: Limits,
        (period, tol): (Duration, Duration),
        m: &mut Measurements,
    ) -> &'g [(Duration, Duration)] {
        let inside = |g: &[(Duration, Duration)]| g.iter().all(|(_, d)| one.contains(d.as_secs_f64()));
        let end = Limits::within(
            period.as_secs_f64(),
            (tol + self.allowance + RETRANSMISSION_BOUND).as_secs_f64(),
        );
        let mut record =
            |(at, d): (Duration, Duration)| m.record(&format!("{name}_end"), "s", end, d.as_secs_f64(), at);
        let end_message = match gaps {
            [rest @ .., last]
                if rest.len() >= 2
                    && last.1 > period
                    && !one.contains(last.1.as_secs_f64())
                    && inside(rest) =>
            {
                Some((*last, rest))
            }
            [first, rest @ ..]
                if rest.len() >= 2
                    && first.1 < period
                    && !one.contains(first.1.as_secs_f64())
                    && inside(rest) =>
            {
                Some((*first, rest))
            }
            _ => None,
        };
        if let Some((end_gap, rest)) = end_message {
            if record(end_gap) {
                return rest;
            }
        }
        gaps
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

    fn rig(scale: f64, allowance_ms: u64) -> Periods {
        Periods::new(scale).with_allowance(Duration::from_millis(allowance_ms))
    }

    fn judge(p: Periods, gaps: &[u64]) -> Result<(), String> {
        p.judge_intervals("i", &ms(gaps), p.cadence(), &mut Measurements::default())
    }

    #[test]
    fn one_late_message_is_the_rig_a_slow_period_is_the_plug() {
        let p = rig(10.0, 10);
        // One timestamp 25 ms late, the next one on time again: within 20 ms + 10 ms.
        assert_eq!(judge(p, &[100, 125, 76, 100, 101]), Ok(()));
        // A tick 3 % slow is inside the tolerance.
        assert_eq!(judge(p, &[103; 20]), Ok(()));
        // Every tick 25 % slow: the mean shows it, whatever the jitter allowance.
        assert!(judge(p, &[125; 10]).unwrap_err().contains("mean"));
        // One interval far off is not jitter.
        assert!(judge(p, &[100, 180, 100]).is_err());
        // Each interval and the mean are recorded, pass or fail.
        let mut m = Measurements::default();
        let _ = p.judge_intervals("i", &ms(&[100, 180]), p.cadence(), &mut m);
        assert_eq!(m.all().len(), 2, "the second interval failed: no mean");
        let _ = p.judge_intervals("j", &ms(&[100, 101]), p.cadence(), &mut m);
        assert_eq!(m.all().iter().filter(|x| x.name.starts_with('j')).count(), 3);
    }

    #[test]
    fn the_allowance_is_the_measured_one_not_a_constant() {
        // A quiet rig: an interval 25 ms long is 5 ms outside 100 +- 20 ms.
        let quiet = rig(10.0, 1);
        let err = judge(quiet, &[100, 125, 100]).unwrap_err();
        assert!(err.contains("interval 2") && err.contains("1ms"), "{err}");
        // A rig whose measured jitter covers it.
        assert_eq!(judge(rig(10.0, 6), &[100, 125, 100]), Ok(()));
        // Unmeasured (zero): the protocol's tolerance alone.
        assert!(judge(Periods::new(10.0), &[100, 121]).is_err());
        assert_eq!(judge(Periods::new(10.0), &[100, 120]), Ok(()));
    }

    #[test]
    fn the_mean_gets_the_allowance_over_the_number_of_intervals() {
        // Only the first and the last timestamp decide the mean: its error is the
        // allowance over n. 5 intervals, 20 ms allowance: 100 +- (20 + 4) ms.
        let p = rig(10.0, 20);
        assert_eq!(judge(p, &[124; 5]), Ok(()));
        let err = judge(p, &[125; 5]).unwrap_err();
        assert!(err.contains("mean of 5 intervals"), "{err}");
        // Recorded with those limits.
        let mut m = Measurements::default();
        let _ = p.judge_intervals("c", &ms(&[124; 5]), p.cadence(), &mut m);
        let mean = m
            .all()
            .iter()
            .find(|x| x.name == "c_mean")
            .expect("mean recorded");
        assert_eq!(mean.limits.high.map(|h| (h * 1e3).round()), Some(124.0));
    }

    #[test]
    fn the_faults_stay_caught_at_the_largest_allowance_a_check_is_made_with() {
        // plug-sim's slow-cadence (x 1.25) and late-heartbeat (x 1.1) faults, at both
        // scales, with the allowance at its limit (the tolerance itself).
        for scale in [1.0, 10.0] {
            let p = Periods::new(scale);
            let (period, tol) = p.cadence();
            let p = p.with_allowance(tol);
            assert_eq!(p.judgeable("cadence", p.cadence()), Ok(()));
            let slow = vec![(Duration::ZERO, period * 5 / 4); 5];
            let r = p.judge_intervals("c", &slow, p.cadence(), &mut Measurements::default());
            assert!(r.is_err(), "slow cadence passed at scale {scale}");
            let (beat, tol) = p.heartbeat();
            let p = Periods::new(scale).with_allowance(tol);
            let late = vec![(Duration::ZERO, beat * 11 / 10); 3];
            let r = p.judge_intervals("h", &late, p.heartbeat(), &mut Measurements::default());
            assert!(r.is_err(), "late heartbeat passed at scale {scale}");
        }
    }

    #[test]
    fn a_message_the_link_delayed_is_a_long_interval_and_a_short_one() {
        let p = rig(1.0, 12);
        // Message 2 of a 1 s cadence delivered 213 ms late (a retransmission), the next on
        // time: the pair keeps 2 s.
        let mut m = Measurements::default();
        let r = p.judge_intervals("c", &ms(&[1000, 1213, 788, 1001]), p.cadence(), &mut m);
        assert_eq!(r, Ok(()));
        let names: Vec<&str> = m.all().iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["c", "c_pair", "c", "c_mean"]);
        assert!(m.all().iter().all(|x| x.pass));
        // A skipped tick is not a delayed one: the pair is 3 s.
        assert!(judge(p, &[1000, 2000, 1000]).is_err());
        // Late and no catching up: the plug's timer, not the link.
        assert!(judge(p, &[1000, 1300, 1000]).is_err());
        // A short interval first is never excused by the next one.
        assert!(judge(p, &[700, 1300, 1000]).is_err());
    }

    #[test]
    fn a_delayed_message_at_an_end_of_the_series_is_set_aside() {
        let p = rig(10.0, 12);
        // The last of 5 cadence messages 109 ms late (seen on the WiFi-like bench): set
        // aside, recorded, and left out of the mean.
        let mut m = Measurements::default();
        let r = p.judge_intervals("c", &ms(&[100, 101, 99, 100, 209]), p.cadence(), &mut m);
        assert_eq!(r, Ok(()));
        let end: Vec<_> = m.all().iter().filter(|x| x.name == "c_end").collect();
        assert_eq!(end.len(), 1);
        assert!(end[0].pass && (end[0].value - 0.209).abs() < 1e-9);
        let mean = m.all().iter().find(|x| x.name == "c_mean").expect("mean");
        assert!((mean.value - 0.1).abs() < 1e-3, "{}", mean.value);
        // The first message late: the first interval short.
        assert_eq!(judge(p, &[20, 100, 101, 99]), Ok(()));
        // Only when the rest is in its band: a slow plug is not excused at the end.
        assert!(judge(p, &[125, 125, 125, 125, 240]).is_err());
        // Nor a whole series of two.
        assert!(judge(p, &[100, 250]).is_err());
        // Nor a last message later than a retransmission explains.
        assert!(judge(rig(1.0, 12), &[1000, 1000, 2300]).is_err());
    }

    #[test]
    fn a_check_the_rig_cannot_resolve_is_not_made() {
        // 30 ms of rig jitter at time scale 10: the 100 +- 20 ms cadence is the rig's noise,
        // the 3 s +- 100 ms heartbeat is not; at time scale 1 both are judged.
        let p = rig(10.0, 30);
        let why = p.judgeable("cadence", p.cadence()).unwrap_err();
        assert!(
            why.contains("30.0 ms") && why.contains("20.0 ms") && why.contains("time scale 10"),
            "{why}"
        );
        assert_eq!(p.judgeable("heartbeat", p.heartbeat()), Ok(()));
        assert!(judge(p, &[100; 5]).unwrap_err().contains("exceeds"));
        assert_eq!(rig(1.0, 30).judgeable("cadence", rig(1.0, 30).cadence()), Ok(()));
        // By rule: the scenarios that judge a cadence are skipped, the others run.
        assert!(p.unjudgeable(["delay-cadence", "delay-target"]).is_some());
        assert!(p.unjudgeable(["electricity-cadence"]).is_some());
        assert_eq!(p.unjudgeable(["switch-heartbeat", "switch-on-change"]), None);
        assert!(rig(10.0, 150).unjudgeable(["switch-heartbeat"]).is_some());
        assert_eq!(rig(1.0, 30).unjudgeable(["delay-cadence"]), None);
    }

    #[test]
    fn every_periodic_rule_exists() {
        for (id, _) in PERIODIC_RULES {
            assert!(crate::rules::RULES.iter().any(|r| r.id == *id), "no rule {id}");
        }
    }
}
