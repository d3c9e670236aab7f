//! What the ledger holds, as rows read back: a run, one scenario's result in a run, one
//! measurement. `read` fills them; `analysis` and the page judge them.

/// One run as the ledger has it.
#[derive(Debug, Clone)]
pub struct LedgerRun {
    pub id: String,
    /// `complete`, `running`, or `incomplete` (it died before its end).
    pub status: String,
    pub started: String,
    pub ended: Option<String>,
    pub host: String,
    pub plugrig_version: String,
    pub plugrig_commit: String,
    pub plugrig_tree: String,
    pub rig_name: String,
    pub rig_sha256: String,
    pub firmware_sha256: Option<String>,
    pub firmware_flags: Option<String>,
    pub dut_prefix: Option<String>,
    pub dut_firmware_version: Option<String>,
    pub passed: Option<i64>,
    pub failed: Option<i64>,
    pub skipped: Option<i64>,
    pub wall_s: Option<f64>,
}

impl LedgerRun {
    /// What a scenario's flakiness is judged on: the same firmware (its image, and on the
    /// simulated rig its test flags) on the same rig (by name: a bench keeps its name when
    /// its file is edited).
    pub fn build_key(&self) -> (Option<&str>, Option<&str>, &str) {
        (
            self.firmware_sha256.as_deref(),
            self.firmware_flags.as_deref(),
            self.rig_name.as_str(),
        )
    }

    pub fn short_id(&self) -> &str {
        // The time part is 16 hex digits; the random tail tells runs apart.
        self.id.rsplit('-').next().unwrap_or(&self.id)
    }

    pub fn short_commit(&self) -> String {
        let c: String = self.plugrig_commit.chars().take(10).collect();
        if self.plugrig_tree == "dirty" {
            format!("{c}+dirty")
        } else {
            c
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// The newest N runs.
    pub last: Option<usize>,
    /// Only runs of the rig of this name.
    pub rig: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ScenarioRow {
    pub run_id: String,
    pub feature: String,
    pub line: i64,
    pub feature_name: String,
    pub name: String,
    pub attempt: i64,
    pub outcome: String,
    pub rules: String,
    pub duration_s: f64,
    pub failure: Option<String>,
    pub rig_failure: Option<String>,
    pub skip_reason: Option<String>,
    /// This row carries the scenario's outcome in its run (the others are its other
    /// attempts).
    pub verdict: bool,
    /// A failed attempt's class (`retry`).
    pub failure_class: Option<String>,
    /// The quarantine entry the scenario fell under in that run.
    pub quarantine: Option<String>,
}

impl ScenarioRow {
    /// A scenario's identity across runs: its feature file and its name (a line moves when
    /// the file is edited; an outline's rows have names of their own).
    pub fn key(&self) -> (String, String) {
        (self.feature.clone(), self.name.clone())
    }
}

#[derive(Debug, Clone)]
pub struct MeasurementRow {
    pub run_id: String,
    pub feature: String,
    pub line: i64,
    pub seq: i64,
    pub name: String,
    pub unit: String,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub value: f64,
    pub pass: bool,
}
