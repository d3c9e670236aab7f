//! The run's closing line, `conformance: N passed, N failed, N skipped`, in the form CI
//! readers look for: written once here for the terminal, verdict.txt and the HTML title.

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
