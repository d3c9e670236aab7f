//! A run's outcome: the counts behind the closing line, the failure report, and the exit
//! code, all from the scenarios' final records (`tally`).

use std::time::Duration;

use crate::report::closing_line::{profile_only, ClosingCounts};
use crate::scenario::record::{Outcome, ScenarioRecord};

/// A scenario that failed, with the rules (`@rule-<id>` tags) it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub scenario: String,
    pub rules: Vec<String>,
    /// Set when the failure is the rig's (its simulated plug stopped on a failure of its
    /// own): what the rig said. See `ScenarioRecord::rig_failure`.
    pub rig_failure: Option<String>,
    /// The first line of the failing step's error.
    pub why: Option<String>,
}

impl Failure {
    /// Every rule the scenario checks is this project's own choice ([profile]): with
    /// `--advisory-profile` its failure is reported but does not fail the run.
    pub fn profile_only(&self) -> bool {
        profile_only(self.rules.iter().map(String::as_str))
    }
}

#[derive(Clone)]
pub struct Summary {
    /// The closing line's counts (`ClosingCounts::of` the records).
    pub counts: ClosingCounts,
    pub parsing_errors: usize,
    pub hook_errors: usize,
    pub wall: Duration,
    /// The `@rule-<id>` tags of the scenarios that failed.
    pub failed_rules: Vec<String>,
    /// The scenarios that failed.
    pub failures: Vec<Failure>,
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
    /// Expired quarantine entries, one message each: they fail the run.
    pub quarantine_expired: Vec<String>,
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
            .field("counts", &self.counts)
            .field("parsing_errors", &self.parsing_errors)
            .field("hook_errors", &self.hook_errors)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl Summary {
    /// Every selected scenario ran and passed (quarantined ones aside), and at least one ran.
    /// A scenario skipped as not applicable (the plug does not claim what it needs) leaves
    /// nothing unjudged; one the rig could not check does.
    pub fn ok(&self) -> bool {
        self.counts.ok()
            && self.quarantine_expired.is_empty()
            && self.parsing_errors == 0
            && self.hook_errors == 0
    }

    /// The exit code (`exit`): 1 when the plug failed, 125 when the run could not judge
    /// it whole, 2 for a malformed feature file.
    pub fn exit_code(&self) -> u8 {
        let plug_failed = self
            .failures
            .iter()
            .filter(|f| f.rig_failure.is_none())
            .count()
            .saturating_sub(self.counts.advisory);
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
        self.counts.line()
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
    summary.counts = ClosingCounts::of(&summary.records, summary.counts.not_selected, advisory_profile);
    summary.extra_attempts = summary.records.iter().map(|r| r.attempts.others.len()).sum();
    let failed = || {
        summary
            .records
            .iter()
            .filter(|r| r.quarantine.is_none() && r.outcome == Outcome::Failed)
    };
    summary.hook_errors = failed()
        .filter(|r| {
            r.steps
                .iter()
                .any(|st| st.outcome == Outcome::Failed && st.text.starts_with("(hook"))
        })
        .count();
    summary.failures = failed()
        .map(|r| Failure {
            scenario: r.name.clone(),
            rules: r.rules().map(str::to_string).collect(),
            rig_failure: r.rig_failure().map(str::to_string),
            why: r.first_error().map(str::to_string),
        })
        .collect();
    summary.failed_rules = summary.failures.iter().flat_map(|f| f.rules.clone()).collect();
}
