//! The run's record: what every report is written from. Each scenario's steps and outcome
//! come from cucumber's events; its timeline, measurements and capture from its World, taken
//! when the scenario ends. Both are keyed by where the scenario stands in its feature file.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use oracle::measure::Measurement;

use crate::drivers::timeline::Entry;
use crate::sync::Locked;

/// A scenario's place: its feature file and line (an outline's example row has its own).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScenarioKey {
    pub feature: String,
    pub line: usize,
}

/// The key of a scenario of a feature, as both cucumber's events and its hooks see them.
pub fn key(feature: &cucumber::gherkin::Feature, sc: &cucumber::gherkin::Scenario) -> ScenarioKey {
    ScenarioKey {
        feature: feature
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| feature.name.clone()),
        line: sc.position.line,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// A step was skipped (undefined), or the rig lacks what the scenario needs.
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StepRecord {
    /// `Given a provisioned plug connected to the broker`.
    pub text: String,
    pub outcome: Outcome,
    /// Why it failed.
    pub error: Option<String>,
    /// From a Background.
    pub background: bool,
}

/// What the World leaves when its scenario ends.
#[derive(Debug, Clone, Default)]
pub struct WorldRecord {
    pub timeline: Vec<Entry>,
    pub measurements: Vec<Measurement>,
    /// When a step failed, on the timeline (the end of the failing step).
    pub failed_at: Option<Duration>,
    /// The scenario's packet capture (pcapng), if one was written.
    pub capture: Option<PathBuf>,
    /// From the World's start (the scenario's start) to its end.
    pub elapsed: Duration,
    /// The waits the protocol imposed on this scenario (periods, holds, observation
    /// windows, the plug's own timeouts): its floor, whatever the rig.
    pub protocol_wait: Duration,
}

#[derive(Debug, Clone)]
pub struct ScenarioRecord {
    pub key: ScenarioKey,
    /// The feature's name (its `Feature:` line).
    pub feature_name: String,
    pub name: String,
    pub tags: Vec<String>,
    pub outcome: Outcome,
    pub steps: Vec<StepRecord>,
    /// Wall time from start to finish.
    pub duration: Duration,
    pub world: WorldRecord,
    /// For a scenario not run: why.
    pub skip_reason: Option<String>,
    /// Which attempt this is, and the scenario's other attempts in this run.
    pub attempts: Attempts,
    /// The quarantine entry this scenario's outcome fell under, if any.
    pub quarantine: Option<Applied>,
}

/// A scenario's attempts in one run (`--retries`, `--repeat`; see `crate::commands::run::retry`).
#[derive(Debug, Clone)]
pub struct Attempts {
    /// This record's attempt, from 1.
    pub number: u32,
    /// For a failed attempt: its failure's class (`crate::commands::run::retry`).
    pub class: Option<FailureClass>,
    /// The scenario's other attempts, in the order they ran; on the record that carries
    /// the scenario's verdict only (the others' own lists are empty).
    pub others: Vec<ScenarioRecord>,
}

impl Default for Attempts {
    fn default() -> Self {
        Attempts {
            number: 1,
            class: None,
            others: Vec::new(),
        }
    }
}

impl Attempts {
    /// Every attempt, this one included.
    pub fn total(&self) -> usize {
        self.others.len() + 1
    }

    /// An attempt other than this one failed: with this one passed, a flaky pass.
    pub fn failed_before(&self) -> bool {
        self.others.iter().any(|o| o.outcome == Outcome::Failed)
    }
}

impl ScenarioRecord {
    /// Passed, but only after another attempt failed (`--retries`).
    pub fn flaky_pass(&self) -> bool {
        self.outcome == Outcome::Passed && self.attempts.failed_before()
    }

    /// The first line of the failing step's error.
    pub fn first_error(&self) -> Option<&str> {
        self.steps
            .iter()
            .filter(|st| st.outcome == Outcome::Failed)
            .find_map(|st| st.error.as_deref())
            .and_then(|e| e.lines().next())
    }

    /// The `@rule-<id>` tags.
    pub fn rules(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().filter_map(|t| t.strip_prefix("rule-"))
    }

    /// For a failed scenario whose simulated plug stopped on a failure of its own (a socket
    /// or file of the host, not anything the firmware decided): what the rig said. Such a
    /// failure is the rig's, and no verdict on the plug.
    pub fn rig_failure(&self) -> Option<&str> {
        if self.outcome != Outcome::Failed {
            return None;
        }
        self.world.timeline.iter().find_map(|e| match &e.event {
            crate::drivers::timeline::Event::PlugExited(why)
                if why.starts_with(crate::drivers::dut::sim::RIG_FAILURE) =>
            {
                Some(why.as_str())
            }
            _ => None,
        })
    }
}

/// Who was judged: from the 4001 reply and firmware_infor, as the first scenario to see
/// them recorded it.
#[derive(Debug, Clone, Default)]
pub struct DutIdentity {
    /// `{function}/{name}/{specifications}/{mac}`.
    pub prefix: Option<String>,
    pub device_type: Option<String>,
    pub firmware_version: Option<String>,
    pub product_model: Option<String>,
}

/// A whole run.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub rig_name: String,
    pub rig_path: PathBuf,
    pub time_scale: u32,
    pub advisory_profile: bool,
    pub dut: DutIdentity,
    pub scenarios: Vec<ScenarioRecord>,
    pub wall: Duration,
    /// Where the verdicts come from (None only in the reports' own tests).
    pub provenance: Option<crate::provenance::Provenance>,
    /// Expired quarantine entries, one message each (they fail the run).
    pub quarantine_expired: Vec<String>,
    /// Scenarios of the features the run's tag expression left out.
    pub not_selected: usize,
}

/// Shared by the run's writer (steps, outcomes) and its Worlds (timelines, measurements).
#[derive(Debug, Default)]
pub struct Recorder {
    worlds: Mutex<Vec<(ScenarioKey, WorldRecord)>>,
    scenarios: Mutex<Vec<ScenarioRecord>>,
    dut: Mutex<DutIdentity>,
    /// Figures about the rig itself for every scenario's report (its measured jitter).
    run: Mutex<Vec<(String, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.locked()
}

impl Recorder {
    pub fn world(&self, key: ScenarioKey, w: WorldRecord) {
        lock(&self.worlds).push((key, w));
    }

    pub fn scenario(&self, s: ScenarioRecord) {
        lock(&self.scenarios).push(s);
    }

    /// Notes who the DUT is; the first values seen stay.
    pub fn dut(&self, f: impl FnOnce(&mut DutIdentity)) {
        f(&mut lock(&self.dut));
    }

    /// The scenarios recorded since the last call, each with its World's record, in file
    /// order.
    pub fn take(&self) -> Vec<ScenarioRecord> {
        let mut worlds = std::mem::take(&mut *lock(&self.worlds));
        let mut scenarios = std::mem::take(&mut *lock(&self.scenarios));
        for s in &mut scenarios {
            if let Some(i) = worlds.iter().position(|(k, _)| *k == s.key) {
                s.world = worlds.swap_remove(i).1;
                // The writer sees events reordered per scenario; the World's clock is true.
                s.duration = s.world.elapsed;
            }
        }
        scenarios.sort_by(|a, b| a.key.cmp(&b.key));
        scenarios
    }

    pub fn identity(&self) -> DutIdentity {
        lock(&self.dut).clone()
    }

    /// Adds figures about the rig (name, value), reported with every scenario.
    pub fn rig_properties(&self, p: Vec<(String, String)>) {
        lock(&self.run).extend(p);
    }

    pub fn run_properties(&self) -> Vec<(String, String)> {
        lock(&self.run).clone()
    }
}

/// What the quarantine (`commands::run::quarantine`) did to one scenario's outcome:
/// recorded on it for every report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `FILE:LINE` of the entry.
    pub entry: String,
    pub reason: String,
    pub link: String,
    pub expires: String,
    /// It passed its last `release_after` runs in the ledger (this one included).
    pub ready_to_release: bool,
}

/// Why an attempt failed, as far as retrying it goes (decided by `commands::run::retry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    Rig,
    Crash,
    Content,
    Timing,
    Transport,
}

impl FailureClass {
    pub fn name(self) -> &'static str {
        match self {
            FailureClass::Rig => "rig",
            FailureClass::Crash => "crash",
            FailureClass::Content => "content",
            FailureClass::Timing => "timing",
            FailureClass::Transport => "transport",
        }
    }

    /// Whether `--retries` may run a scenario that failed so again.
    pub fn retryable(self) -> bool {
        matches!(self, FailureClass::Timing | FailureClass::Transport)
    }
}
