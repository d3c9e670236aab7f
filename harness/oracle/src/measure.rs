//! Measurements, as OpenHTF records them: every quantity a step judges is recorded with its
//! name, unit, limits and verdict, pass or fail, so a failed run shows the value against
//! its limits and a passed one keeps them for trends. The verdict comes from the limits:
//! a step records, then fails if the record failed.
//!
//! No I/O: the run's reports (JUnit properties, Cucumber JSON, the HTML report) read what
//! each scenario recorded.

use std::time::Duration;

use serde::Serialize;

/// A measurement's limits, inclusive; an open side is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl Limits {
    /// `center` +- `tol`.
    pub fn within(center: f64, tol: f64) -> Limits {
        Limits {
            low: Some(center - tol),
            high: Some(center + tol),
        }
    }

    pub fn range(low: f64, high: f64) -> Limits {
        Limits {
            low: Some(low),
            high: Some(high),
        }
    }

    pub fn at_most(high: f64) -> Limits {
        Limits {
            low: None,
            high: Some(high),
        }
    }

    pub fn at_least(low: f64) -> Limits {
        Limits {
            low: Some(low),
            high: None,
        }
    }

    pub fn contains(&self, v: f64) -> bool {
        self.low.is_none_or(|l| v >= l) && self.high.is_none_or(|h| v <= h)
    }
}

impl std::fmt::Display for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.low, self.high) {
            (Some(l), Some(h)) => write!(f, "[{l:.4}, {h:.4}]"),
            (Some(l), None) => write!(f, ">= {l:.4}"),
            (None, Some(h)) => write!(f, "<= {h:.4}"),
            (None, None) => write!(f, "any"),
        }
    }
}

/// One judged quantity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measurement {
    /// What was measured, e.g. `heartbeat_interval`; several records may share a name (one
    /// per interval, one per sample).
    pub name: String,
    /// `s`, `W`, `V`, `A`, `s_left` ...
    pub unit: &'static str,
    pub value: f64,
    pub limits: Limits,
    pub pass: bool,
    /// When the measured thing happened, seconds on the scenario's timeline.
    #[serde(serialize_with = "secs")]
    pub at: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} = {:.4} {} (limits {}): {}",
            self.name,
            self.value,
            self.unit,
            self.limits,
            if self.pass { "pass" } else { "FAIL" }
        )
    }
}

/// A scenario's measurements, in the order they were taken.
#[derive(Debug, Clone, Default)]
pub struct Measurements(Vec<Measurement>);

impl Measurements {
    /// Records `value` against `limits`; returns whether it passed.
    pub fn record(
        &mut self,
        name: &str,
        unit: &'static str,
        limits: Limits,
        value: f64,
        at: Duration,
    ) -> bool {
        let pass = limits.contains(value);
        self.0.push(Measurement {
            name: name.to_string(),
            unit,
            value,
            limits,
            pass,
            at,
        });
        pass
    }

    /// As [`Measurements::record`], with the failure as an error naming value and limits.
    pub fn check(
        &mut self,
        name: &str,
        unit: &'static str,
        limits: Limits,
        value: f64,
        at: Duration,
    ) -> Result<(), String> {
        if self.record(name, unit, limits, value, at) {
            Ok(())
        } else {
            Err(format!("{name} {value:.4} {unit} outside its limits {limits}"))
        }
    }

    pub fn all(&self) -> &[Measurement] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_comes_from_the_limits_and_both_are_kept() {
        let mut m = Measurements::default();
        assert!(m.record("gap", "s", Limits::within(1.0, 0.2), 1.1, Duration::ZERO));
        let e = m
            .check("gap", "s", Limits::within(1.0, 0.2), 1.3, Duration::from_secs(2))
            .unwrap_err();
        assert!(e.contains("1.3000 s outside its limits [0.8000, 1.2000]"), "{e}");
        assert_eq!(m.all().len(), 2);
        assert!(!m.all()[1].pass);
        assert!(Limits::at_most(5.0).contains(-3.0) && !Limits::at_least(1.0).contains(0.5));
    }
}
