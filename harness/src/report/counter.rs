//! Recording each scenario's steps as cucumber reports them, and a progress line after each.
//! cucumber's own summary counts steps through its Stats trait; a conformance verdict is per
//! scenario, and the run's counts come from the records afterwards (`summary`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use cucumber::event::{self, Cucumber, Feature, Rule, Scenario, Step};
use cucumber::{cli, parser, Event, Writer};

use crate::scenario::record::{Outcome, Recorder, ScenarioRecord, StepRecord};

/// Scenarios finished so far, for the progress line.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// A scenario under way: its outcome so far and its steps.
struct Running {
    outcome: Outcome,
    steps: Vec<StepRecord>,
    started: Instant,
}

/// A writer that records each scenario's steps into the run's record and prints a progress
/// line after each.
#[derive(Default)]
pub struct ScenarioCounter {
    progress: Progress,
    recorder: Option<Arc<Recorder>>,
    running: HashMap<usize, Running>,
    /// Scenarios to run, from the parser.
    total: usize,
}

fn step_text(st: &cucumber::gherkin::Step) -> String {
    format!("{}{}", st.keyword, st.value)
}

fn step_record<W>(st: &cucumber::gherkin::Step, ev: &Step<W>, background: bool) -> Option<StepRecord> {
    let (outcome, error) = match ev {
        Step::Started => return None,
        Step::Passed(..) => (Outcome::Passed, None),
        Step::Skipped => (Outcome::Skipped, Some("no step definition matches".to_string())),
        Step::Failed(_, _, _, e) => {
            let e = e.to_string();
            let e = e
                .strip_prefix("Step panicked. Captured output: ")
                .map(str::to_string)
                .unwrap_or(e);
            (Outcome::Failed, Some(e))
        }
    };
    Some(StepRecord {
        text: step_text(st),
        outcome,
        error,
        background,
    })
}

impl ScenarioCounter {
    /// A counter that also records every scenario's steps into `recorder`.
    pub fn recording(recorder: Arc<Recorder>) -> ScenarioCounter {
        ScenarioCounter {
            recorder: Some(recorder),
            ..ScenarioCounter::default()
        }
    }

    fn scenario<W>(
        &mut self,
        feature: &event::Source<cucumber::gherkin::Feature>,
        sc: &event::Source<cucumber::gherkin::Scenario>,
        ev: &event::RetryableScenario<W>,
    ) {
        let key = &**sc as *const cucumber::gherkin::Scenario as usize;
        let worst = |o: &mut Outcome, new: Outcome| {
            if new == Outcome::Failed || (new == Outcome::Skipped && *o == Outcome::Passed) {
                *o = new;
            }
        };
        let fresh = || Running {
            outcome: Outcome::Passed,
            steps: Vec::new(),
            started: Instant::now(),
        };
        match &ev.event {
            Scenario::Started => {
                self.running.insert(key, fresh());
            }
            Scenario::Step(st, s) | Scenario::Background(st, s) => {
                let background = matches!(ev.event, Scenario::Background(..));
                let r = self.running.entry(key).or_insert_with(fresh);
                match s {
                    Step::Failed(..) => worst(&mut r.outcome, Outcome::Failed),
                    Step::Skipped => worst(&mut r.outcome, Outcome::Skipped),
                    _ => {}
                }
                r.steps.extend(step_record(st, s, background));
            }
            Scenario::Hook(kind, event::Hook::Failed(_, e)) => {
                let r = self.running.entry(key).or_insert_with(fresh);
                worst(&mut r.outcome, Outcome::Failed);
                let text = match kind {
                    event::HookType::Before => "(hook: the rig prepares the plug)",
                    event::HookType::After => "(hook: the plug checked after the scenario)",
                };
                r.steps.push(StepRecord {
                    text: text.into(),
                    outcome: Outcome::Failed,
                    error: Some(crate::report::panic_text(&**e)),
                    background: true,
                });
            }
            Scenario::Finished => {
                // A retried scenario reports again; only its last run counts.
                if ev.retries.is_some_and(|r| r.left > 0)
                    && self.running.get(&key).map(|r| r.outcome) == Some(Outcome::Failed)
                {
                    self.running.remove(&key);
                    return;
                }
                let r = self.running.remove(&key).unwrap_or_else(fresh);
                let c = &mut self.progress;
                match r.outcome {
                    Outcome::Passed => c.passed += 1,
                    Outcome::Skipped => c.skipped += 1,
                    Outcome::Failed => c.failed += 1,
                }
                println!(
                    "progress: {}/{} scenarios done, {} running, {} failed so far",
                    c.passed + c.failed + c.skipped,
                    self.total,
                    self.running.len(),
                    c.failed
                );
                if let Some(rec) = &self.recorder {
                    rec.scenario(ScenarioRecord {
                        key: crate::scenario::record::key(feature, sc),
                        feature_name: feature.name.clone(),
                        name: sc.name.clone(),
                        tags: sc.tags.clone(),
                        outcome: r.outcome,
                        steps: r.steps,
                        duration: r.started.elapsed(),
                        world: Default::default(),
                        skip_reason: None,
                        attempts: Default::default(),
                        quarantine: None,
                    });
                }
            }
            _ => {}
        }
    }
}

impl<W: 'static> Writer<W> for ScenarioCounter {
    type Cli = cli::Empty;

    async fn handle_event(&mut self, ev: parser::Result<Event<Cucumber<W>>>, _: &Self::Cli) {
        let Ok(ev) = ev else { return };
        match &ev.value {
            Cucumber::ParsingFinished { scenarios, .. } => self.total = *scenarios,
            Cucumber::Feature(f, Feature::Scenario(sc, r))
            | Cucumber::Feature(f, Feature::Rule(_, Rule::Scenario(sc, r))) => self.scenario(f, sc, r),
            _ => {}
        }
    }
}
