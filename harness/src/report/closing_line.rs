//! The run's closing line, `conformance: N passed, N failed, N skipped`, in the form CI
//! readers look for: counted and written once here for the terminal, verdict.txt and the
//! HTML title.

use crate::report::statement::{not_judged, RuleOutcome};
use crate::scenario::record::{Outcome, ScenarioRecord};

/// The counts the closing line says; a part whose count is 0 is left out.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClosingCounts {
    pub passed: usize,
    /// Of `passed`, those that passed only after a retry.
    pub flaky: usize,
    pub failed: usize,
    /// Of `failed`, those that check only [profile] rules and are advisory.
    pub advisory: usize,
    /// Of `failed`, those that were the rig's failure.
    pub rig: usize,
    pub skipped: usize,
    /// Of `skipped`, those the plug does not claim what they need (the rest the rig cannot
    /// check: `statement::not_judged`).
    pub not_applicable: usize,
    /// Scenarios of the features that the run's tag expression left out.
    pub not_selected: usize,
    /// Covered by a quarantine entry: counted apart from the others.
    pub quarantined: usize,
    pub quarantined_failed: usize,
}

impl ClosingCounts {
    /// From the scenarios' final records: a quarantined scenario is counted apart, a flaky
    /// pass is a pass; `advisory_profile` as `--advisory-profile`.
    pub fn of(records: &[ScenarioRecord], not_selected: usize, advisory_profile: bool) -> ClosingCounts {
        let mut c = ClosingCounts {
            not_selected,
            ..ClosingCounts::default()
        };
        for r in records {
            if r.quarantine.is_some() {
                c.quarantined += 1;
                c.quarantined_failed += usize::from(r.outcome == Outcome::Failed);
                continue;
            }
            match r.outcome {
                Outcome::Passed => {
                    c.passed += 1;
                    c.flaky += usize::from(r.flaky_pass());
                }
                Outcome::Skipped => {
                    c.skipped += 1;
                    let why = r.skip_reason.as_deref().map(not_judged);
                    c.not_applicable += usize::from(why == Some(RuleOutcome::NotApplicable));
                }
                Outcome::Failed if r.rig_failure().is_some() => {
                    c.failed += 1;
                    c.rig += 1;
                }
                Outcome::Failed => {
                    c.failed += 1;
                    c.advisory += usize::from(advisory_profile && profile_only(r.rules()));
                }
            }
        }
        c
    }

    /// Nothing that applies to the plug went unjudged or failed (advisory failures aside),
    /// and at least one scenario ran. Expired quarantine entries are the caller's.
    pub fn ok(&self) -> bool {
        self.failed == self.advisory
            && self.skipped == self.not_applicable
            && self.passed + self.quarantined > 0
    }

    pub fn line(&self) -> String {
        let of_them = |n: usize, what: &str| {
            if n > 0 {
                format!(" ({n} of them {what})")
            } else {
                String::new()
            }
        };
        let quarantined = if self.quarantined > 0 {
            format!(
                "; {} quarantined ({} of them failed)",
                self.quarantined, self.quarantined_failed
            )
        } else {
            String::new()
        };
        let why_skipped = if self.skipped > 0 {
            format!(
                " ({} not applicable, {} not checkable)",
                self.not_applicable,
                self.skipped.saturating_sub(self.not_applicable)
            )
        } else {
            String::new()
        };
        // Comma-separated as the counts before it: readers take the word after a number,
        // trailing comma trimmed (link_torture, the virtual bench test).
        let not_selected = if self.not_selected > 0 {
            format!(", {} not selected", self.not_selected)
        } else {
            String::new()
        };
        format!(
            "conformance: {} passed{}, {} failed{}{}, {} skipped{why_skipped}{not_selected}{quarantined}",
            self.passed,
            of_them(self.flaky, "after a retry: flaky"),
            self.failed,
            of_them(self.advisory, "[profile] only, advisory: not counted"),
            of_them(self.rig, "the rig's failure, not the plug's"),
            self.skipped
        )
    }
}

/// Every rule among `rules` (`@rule-<id>` tags' ids) is this project's own choice
/// ([profile]), and there is one: with `--advisory-profile` such a failure is reported but
/// does not fail the run.
pub fn profile_only<'a>(rules: impl IntoIterator<Item = &'a str>) -> bool {
    use oracle::rules::{Source, RULES};
    let mut any = false;
    let all = rules.into_iter().all(|id| {
        any = true;
        RULES.iter().any(|r| r.id == id && r.source == Source::Profile)
    });
    any && all
}
