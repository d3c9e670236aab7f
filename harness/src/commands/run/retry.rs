//! Why a scenario failed, as far as retrying it goes. `--retries N` runs a failed scenario
//! again only when the rig can put its failure down to timing or transport; a plug that
//! crashed or rebooted, or broke a protocol rule on content, is never retried: a retry
//! there would hide exactly what a conformance run is for.
//!
//! The classes, in the order they are decided (the first that applies wins):
//! - **rig**: the simulated plug stopped on a failure of the host's (`ScenarioRecord::
//!   rig_failure`). No verdict on the plug; not retried, so the rig's fault stays in view.
//! - **crash**: the plug's process exited, or its console showed a boot line after the
//!   scenario's first one (a reboot). Conservative: a scenario that reboots the plug on
//!   purpose and then fails is not retried either.
//! - **content**: a judged quantity other than a time (a power, a voltage, a count) was out
//!   of its limits, or the failing step's error is none of the forms below (an assertion
//!   on a payload, an error code, a topic): the default.
//! - **timing**: a judged time (an interval, a delay: unit s or ms) was out of its limits,
//!   or the failing step waited for something that did not come within its deadline
//!   (`expected X within D; it did not come`, `no complete reply within D`, `no console
//!   line matching ... within D`).
//! - **transport**: a connection the rig needed failed (refused, reset, closed by the
//!   plug mid-exchange, a socket that did not accept within its time, a broken pipe).

use crate::drivers::timeline::Event;
use crate::rig::console::Pattern;
use crate::scenario::record::{FailureClass, Outcome, ScenarioRecord};

/// Units of a judged time (`oracle::measure`).
const TIME_UNITS: &[&str] = &["s", "ms", "min"];

/// The forms of a missed deadline: the wait helpers' messages (`timeline`, `ap_link`).
const TIMING_FORMS: &[&str] = &[
    "; it did not come",
    "no complete reply within",
    "no console line matching",
];

/// The forms of a failed connection (the OS's and the rig's drivers' words).
const TRANSPORT_FORMS: &[&str] = &[
    "connection refused",
    "connection reset",
    "broken pipe",
    "did not accept within",
    "closed the ap connection",
    "unexpected end of file",
    "the broker closed",
];

/// The class of a failed scenario (None when it did not fail). `boot` is the rig's boot
/// line pattern.
pub fn classify(s: &ScenarioRecord, boot: &Pattern) -> Option<FailureClass> {
    if s.outcome != Outcome::Failed {
        return None;
    }
    if s.rig_failure().is_some() {
        return Some(FailureClass::Rig);
    }
    let timeline = &s.world.timeline;
    let exited = timeline.iter().any(|e| matches!(e.event, Event::PlugExited(_)));
    let boots = timeline
        .iter()
        .filter(|e| matches!(&e.event, Event::Console(l) if boot.is_match(l)))
        .count();
    if exited || boots > 1 {
        return Some(FailureClass::Crash);
    }
    let failed: Vec<_> = s.world.measurements.iter().filter(|m| !m.pass).collect();
    if failed.iter().any(|m| !TIME_UNITS.contains(&m.unit)) {
        return Some(FailureClass::Content);
    }
    if !failed.is_empty() {
        return Some(FailureClass::Timing);
    }
    let error = s
        .steps
        .iter()
        .find(|st| st.outcome == Outcome::Failed)
        .and_then(|st| st.error.as_deref())
        .and_then(|e| e.lines().next())
        .unwrap_or_default()
        .to_lowercase();
    Some(of_error(&error))
}

/// The class of a failing step's first error line, lowercased.
fn of_error(error: &str) -> FailureClass {
    if TRANSPORT_FORMS.iter().any(|f| error.contains(f)) {
        FailureClass::Transport
    } else if TIMING_FORMS.iter().any(|f| error.contains(f)) {
        FailureClass::Timing
    } else {
        FailureClass::Content
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use oracle::measure::Measurements;

    use super::*;
    use crate::drivers::timeline::Timeline;
    use crate::scenario::record::{ScenarioKey, StepRecord, WorldRecord};

    fn failed(error: &str, timeline: Vec<crate::drivers::timeline::Entry>) -> ScenarioRecord {
        ScenarioRecord {
            key: ScenarioKey {
                feature: "features/x.feature".into(),
                line: 3,
            },
            feature_name: "X".into(),
            name: "x".into(),
            tags: Vec::new(),
            outcome: Outcome::Failed,
            steps: vec![StepRecord {
                text: "Then something".into(),
                outcome: Outcome::Failed,
                error: Some(error.into()),
                background: false,
            }],
            duration: Duration::ZERO,
            world: WorldRecord {
                timeline,
                ..WorldRecord::default()
            },
            skip_reason: None,
            attempts: Default::default(),
            quarantine: None,
        }
    }

    fn boot() -> Pattern {
        crate::rig::console::ConsolePatterns::default().boot
    }

    /// The messages come from the helpers themselves, so a reworded helper shows here.
    #[tokio::test]
    async fn a_missed_deadline_of_the_wait_helpers_is_timing() {
        let t = Arc::new(Timeline::default());
        let e = t
            .wait_for(
                crate::drivers::timeline::Mark::START,
                Duration::from_millis(5),
                "a PUBLISH from the plug",
                |_| None::<()>,
            )
            .await
            .expect_err("nothing comes");
        let s = failed(&format!("{e:#}"), Vec::new());
        assert_eq!(classify(&s, &boot()), Some(FailureClass::Timing));
        let e = t
            .wait_for_boot(
                crate::drivers::timeline::Mark::START,
                &boot(),
                Duration::from_millis(5),
            )
            .await
            .expect_err("no boot line");
        assert_eq!(
            classify(&failed(&format!("{e:#}"), Vec::new()), &boot()),
            Some(FailureClass::Timing)
        );
    }

    #[test]
    fn transport_forms() {
        for e in [
            "the plug's AP socket 127.0.0.1:38177 did not accept within 8.7s",
            "the plug closed the AP connection; got \"\"",
            "connecting to 127.0.0.1:1883: Connection refused (os error 111)",
            "writing to the plug: Broken pipe (os error 32)",
        ] {
            assert_eq!(
                classify(&failed(e, Vec::new()), &boot()),
                Some(FailureClass::Transport),
                "{e}"
            );
        }
    }

    #[test]
    fn an_assertion_on_content_is_never_retried() {
        for e in [
            "switch_state payload: \"switch_state\" must be \"on\" or \"off\", got \"ON\"",
            "4002 with a 33-byte host: expected code 1, got code 0",
        ] {
            let c = classify(&failed(e, Vec::new()), &boot());
            assert_eq!(c, Some(FailureClass::Content), "{e}");
            assert!(!FailureClass::Content.retryable());
        }
    }

    #[test]
    fn a_measurement_out_of_limits_is_timing_only_for_a_time() {
        let mut m = Measurements::default();
        let limits = oracle::measure::Limits::range(9.0, 11.0);
        let _ = m.check("heartbeat_interval", "s", limits, 14.0, Duration::ZERO);
        let mut s = failed("switch_state heartbeat: heartbeat_interval 14 s", Vec::new());
        s.world.measurements = m.all().to_vec();
        assert_eq!(classify(&s, &boot()), Some(FailureClass::Timing));
        let mut m = Measurements::default();
        let _ = m.check("power", "W", limits, 14.0, Duration::ZERO);
        s.world.measurements.extend(m.all().iter().cloned());
        assert_eq!(classify(&s, &boot()), Some(FailureClass::Content));
    }

    #[test]
    fn a_plug_that_exited_or_rebooted_crashed_whatever_the_step_said() {
        let entry = |event| crate::drivers::timeline::Entry {
            at: Duration::ZERO,
            event,
        };
        let timing = "expected a PUBLISH from the plug within 5s; it did not come";
        let s = failed(timing, vec![entry(Event::PlugExited("status 101".into()))]);
        assert_eq!(classify(&s, &boot()), Some(FailureClass::Crash));
        let boot_line = || Event::Console("plug 12 boot fw=1.0.0".into());
        assert!(boot().is_match("plug 12 boot fw=1.0.0"));
        let once = failed(timing, vec![entry(boot_line())]);
        assert_eq!(classify(&once, &boot()), Some(FailureClass::Timing));
        let twice = failed(timing, vec![entry(boot_line()), entry(boot_line())]);
        assert_eq!(classify(&twice, &boot()), Some(FailureClass::Crash));
    }

    #[test]
    fn a_pass_has_no_class() {
        let mut s = failed("x", Vec::new());
        s.outcome = Outcome::Passed;
        assert_eq!(classify(&s, &boot()), None);
    }
}
