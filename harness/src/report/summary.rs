//! A run's outcome: the counts behind the closing line, the failure report, and the exit
//! code, all from the scenarios' final records (`tally`).

use std::time::Duration;

use crate::report::Failure;
use crate::scenario::record::{Outcome, ScenarioRecord};

#[derive(Clone)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Scenarios of the features the run's tag expression left out.
    pub not_selected: usize,
    pub parsing_errors: usize,
    pub hook_errors: usize,
    pub wall: Duration,
    /// The `@rule-<id>` tags of the scenarios that failed.
    pub failed_rules: Vec<String>,
    /// The scenarios that failed.
    pub failures: Vec<Failure>,
    /// Of `failed`, those checking only [profile] rules, when they are advisory.
    pub advisory_failed: usize,
    /// Every scenario, run or skipped, with what it recorded.
    pub records: Vec<ScenarioRecord>,
    /// Time spent writing the reports (`--report`), included in `wall`.
    pub report_time: Duration,
    /// From the start to the first scenario: the broker, the services, the simulated
    /// plug's build check and the jitter probe. Included in `wall`.
    pub startup: Duration,
    /// Time spent appending the run to the ledger (`--history`), after `wall`.
    pub ledger_time: Duration,
    /// The run's id in the ledger, when it was appended to one.
    pub ledger_run: Option<String>,
    /// Scenarios a quarantine entry covered: run and reported, not counted above.
    pub quarantined: usize,
    /// Of `quarantined`, those that failed.
    pub quarantined_failed: usize,
    /// Expired quarantine entries, one message each: they fail the run.
    pub quarantine_expired: Vec<String>,
    /// Scenarios that passed only after a retry (counted in `passed`).
    pub flaky_passes: usize,
    /// Attempts beyond each scenario's first (retries and repeats).
    pub extra_attempts: usize,
}

/// Exit codes of `plugrig run`, chosen to suit `git bisect run` too.
pub mod exit {
    /// Every selected scenario ran and passed.
    pub const PASSED: u8 = 0;
    /// The plug failed: a scenario failed on it, or an expired quarantine entry.
    pub const FAILED: u8 = 1;
    /// The command line, the rig file, a quarantine file or a feature file is wrong.
    pub const USAGE: u8 = 2;
    /// No verdict either way: the rig could not judge the plug (a build or flash failure,
    /// a rig check or service that failed, the rig's own failure in a scenario, a
    /// scenario skipped, the run stopped). `git bisect run` skips such a commit.
    pub const NOT_JUDGED: u8 = 125;
}

impl std::fmt::Debug for Summary {
    // The records (timelines) are for the reports; a failed assertion shows the counts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Summary")
            .field("passed", &self.passed)
            .field("failed", &self.failed)
            .field("skipped", &self.skipped)
            .field("parsing_errors", &self.parsing_errors)
            .field("hook_errors", &self.hook_errors)
            .field("advisory_failed", &self.advisory_failed)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl Summary {
    /// Every selected scenario ran and passed (quarantined ones aside), and at least one ran.
    /// A scenario skipped as not applicable (the plug does not claim what it needs) leaves
    /// nothing unjudged; one the rig could not check does.
    pub fn ok(&self) -> bool {
        self.failed == self.advisory_failed
            && self.quarantine_expired.is_empty()
            && self.skipped == not_applicable(&self.records)
            && self.parsing_errors == 0
            && self.hook_errors == 0
            && self.passed + self.quarantined > 0
    }

    /// The exit code (`exit`): 1 when the plug failed, 125 when the run could not judge
    /// it whole, 2 for a malformed feature file.
    pub fn exit_code(&self) -> u8 {
        let plug_failed = self
            .failures
            .iter()
            .filter(|f| f.rig_failure.is_none())
            .count()
            .saturating_sub(self.advisory_failed);
        if self.parsing_errors > 0 {
            exit::USAGE
        } else if plug_failed > 0 || !self.quarantine_expired.is_empty() {
            exit::FAILED
        } else if self.ok() {
            exit::PASSED
        } else {
            exit::NOT_JUDGED
        }
    }

    /// The closing line, in the form CI readers look for.
    pub fn line(&self) -> String {
        crate::report::closing_line::ClosingCounts {
            passed: self.passed,
            flaky: self.flaky_passes,
            failed: self.failed,
            advisory: self.advisory_failed,
            rig: self.failures.iter().filter(|f| f.rig_failure.is_some()).count(),
            skipped: self.skipped,
            not_applicable: not_applicable(&self.records),
            not_selected: self.not_selected,
            quarantined: self.quarantined,
            quarantined_failed: self.quarantined_failed,
        }
        .line()
    }

    /// The failures in two sections: those that fail the run, and the advisory ones.
    pub fn failure_report(&self, advisory_profile: bool) -> String {
        let (rig, judged): (Vec<&Failure>, Vec<&Failure>) =
            self.failures.iter().partition(|f| f.rig_failure.is_some());
        let (profile, strict): (Vec<&Failure>, Vec<&Failure>) =
            judged.into_iter().partition(|f| f.profile_only());
        // [profile] failures: advisory with --advisory-profile, else counted, and said so.
        let (advisory, profile) = if advisory_profile {
            (profile, Vec::new())
        } else {
            (Vec::new(), profile)
        };
        let mut out = String::new();
        for e in &self.quarantine_expired {
            out.push_str(&format!("Expired quarantine entry (the run fails): {e}\n"));
        }
        let mut section = |title: &str, list: &[&Failure]| {
            if list.is_empty() {
                return;
            }
            out.push_str(title);
            out.push('\n');
            for f in list {
                out.push_str(&format!("  {} (rules: {})\n", f.scenario, f.rules.join(", ")));
                if let Some(why) = &f.why {
                    out.push_str(&format!("    {why}\n"));
                }
            }
        };
        section("Failed [spec]/[app] scenarios:", &strict);
        section(
            "Failed [profile] scenarios (they check only this project's choices where the protocol is silent; counted: --advisory-profile reports them apart):",
            &profile,
        );
        section(
            "Advisory: failed scenarios that check only [profile] rules (this project's choices):",
            &advisory,
        );
        if !rig.is_empty() {
            out.push_str("The rig's failures (no verdict on the plug; the run fails all the same):\n");
            for f in &rig {
                let rig = f.rig_failure.as_deref().unwrap_or_default();
                out.push_str(&format!(
                    "  {} (rules: {})\n    {rig}\n",
                    f.scenario,
                    f.rules.join(", ")
                ));
            }
        }
        out
    }
}

/// The counts, the failures and the closing line's figures, from the scenarios' final
/// records: a quarantined scenario is counted apart, a flaky pass is a pass.
pub fn tally(summary: &mut Summary, advisory_profile: bool) {
    let (mut passed, mut failed, mut skipped, mut hook) = (0, 0, 0, 0);
    let (mut quarantined, mut quarantined_failed, mut flaky, mut extra) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for r in &summary.records {
        extra += r.attempts.others.len();
        if r.quarantine.is_some() {
            quarantined += 1;
            quarantined_failed += usize::from(r.outcome == Outcome::Failed);
            continue;
        }
        match r.outcome {
            Outcome::Passed => {
                passed += 1;
                flaky += usize::from(r.flaky_pass());
            }
            Outcome::Skipped => skipped += 1,
            Outcome::Failed => {
                failed += 1;
                hook += usize::from(
                    r.steps
                        .iter()
                        .any(|st| st.outcome == Outcome::Failed && st.text.starts_with("(hook")),
                );
                failures.push(Failure {
                    scenario: r.name.clone(),
                    rules: r.rules().map(str::to_string).collect(),
                    rig_failure: r.rig_failure().map(str::to_string),
                    why: r.first_error().map(str::to_string),
                });
            }
        }
    }
    summary.passed = passed;
    summary.failed = failed;
    summary.skipped = skipped;
    summary.hook_errors = hook;
    summary.quarantined = quarantined;
    summary.quarantined_failed = quarantined_failed;
    summary.flaky_passes = flaky;
    summary.extra_attempts = extra;
    summary.failed_rules = failures.iter().flat_map(|f| f.rules.clone()).collect();
    summary.advisory_failed = if advisory_profile {
        failures
            .iter()
            .filter(|f| f.rig_failure.is_none() && f.profile_only())
            .count()
    } else {
        0
    };
    summary.failures = failures;
}

/// Skipped scenarios (not quarantined) whose plug does not claim what they need.
pub fn not_applicable(records: &[crate::scenario::record::ScenarioRecord]) -> usize {
    records
        .iter()
        .filter(|s| s.quarantine.is_none() && s.outcome == crate::scenario::record::Outcome::Skipped)
        .filter_map(|s| s.skip_reason.as_deref())
        .filter(|r| {
            crate::report::statement::not_judged(r) == crate::report::statement::RuleOutcome::NotApplicable
        })
        .count()
}
