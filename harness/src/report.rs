//! Counting scenario outcomes for the run's closing line. cucumber's own summary counts
//! steps through its Stats trait; a conformance verdict is per scenario.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cucumber::event::{self, Cucumber, Feature, Rule, Scenario, Step};
use cucumber::{cli, parser, Event, Writer};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// A scenario that failed, with the rules (`@rule-<id>` tags) it checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub scenario: String,
    pub rules: Vec<String>,
}

impl Failure {
    /// Every rule the scenario checks is this project's own choice ([profile]): with
    /// `--advisory-profile` its failure is reported but does not fail the run.
    pub fn profile_only(&self) -> bool {
        use crate::protocol::rules::{Source, RULES};
        !self.rules.is_empty()
            && self
                .rules
                .iter()
                .all(|id| RULES.iter().any(|r| r.id == id && r.source == Source::Profile))
    }
}

/// The scenarios that failed, in the order they finished.
pub type Failures = Arc<Mutex<Vec<Failure>>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Skipped,
    Failed,
}

/// A writer that only counts. Share its `counts` before handing it to cucumber.
#[derive(Default)]
pub struct ScenarioCounter {
    pub counts: Arc<Mutex<Counts>>,
    pub failures: Failures,
    running: HashMap<usize, Outcome>,
}

impl ScenarioCounter {
    fn scenario<W>(
        &mut self,
        sc: &event::Source<cucumber::gherkin::Scenario>,
        ev: &event::RetryableScenario<W>,
    ) {
        let key = &**sc as *const cucumber::gherkin::Scenario as usize;
        let worst = |o: &mut Outcome, new: Outcome| {
            if new == Outcome::Failed || (new == Outcome::Skipped && *o == Outcome::Passed) {
                *o = new;
            }
        };
        match &ev.event {
            Scenario::Started => {
                self.running.insert(key, Outcome::Passed);
            }
            Scenario::Step(_, s) | Scenario::Background(_, s) => {
                let o = self.running.entry(key).or_insert(Outcome::Passed);
                match s {
                    Step::Failed(..) => worst(o, Outcome::Failed),
                    Step::Skipped => worst(o, Outcome::Skipped),
                    _ => {}
                }
            }
            Scenario::Hook(_, event::Hook::Failed(..)) => {
                worst(
                    self.running.entry(key).or_insert(Outcome::Passed),
                    Outcome::Failed,
                );
            }
            Scenario::Finished => {
                // A retried scenario reports again; only its last run counts.
                if ev.retries.is_some_and(|r| r.left > 0) && self.running.get(&key) == Some(&Outcome::Failed)
                {
                    self.running.remove(&key);
                    return;
                }
                let o = self.running.remove(&key).unwrap_or(Outcome::Passed);
                if o == Outcome::Failed {
                    let rules = sc
                        .tags
                        .iter()
                        .filter_map(|t| t.strip_prefix("rule-"))
                        .map(str::to_string)
                        .collect();
                    self.failures
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Failure {
                            scenario: sc.name.clone(),
                            rules,
                        });
                }
                let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
                match o {
                    Outcome::Passed => c.passed += 1,
                    Outcome::Skipped => c.skipped += 1,
                    Outcome::Failed => c.failed += 1,
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
            Cucumber::Feature(_, Feature::Scenario(sc, r))
            | Cucumber::Feature(_, Feature::Rule(_, Rule::Scenario(sc, r))) => self.scenario(sc, r),
            _ => {}
        }
    }
}
