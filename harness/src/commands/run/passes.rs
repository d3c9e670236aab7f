//! Running one input through cucumber in passes: the first runs every selected scenario,
//! the rounds of `--repeat` and the retries of `--retries` (`crate::commands::run::retry`) run again only
//! those still to run, and each scenario's attempts are merged into one record.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::tag::Ext as _;
use cucumber::writer::Stats as _;
use cucumber::writer::{self, Coloring};
use cucumber::{World as _, WriterExt as _};

use crate::report::ScenarioCounter;
use crate::rig::capabilities::{self, Capability};
use crate::scenario::record::{self, Outcome, Recorder, ScenarioKey, ScenarioRecord};
use crate::scenario::world::{PlugWorld, RunContext};
use crate::strategy::StartState;
use crate::sync::Locked;

/// How many times scenarios run: `--repeat` rounds, each failure of a retryable class
/// retried up to `--retries` times within its round.
#[derive(Debug, Clone, Copy)]
pub(super) struct Passes {
    pub(super) repeat: u32,
    pub(super) retries: u32,
}

impl Passes {
    pub(super) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.repeat > 1 {
            parts.push(format!(
                "each scenario runs {} times and must pass every time",
                self.repeat
            ));
        }
        if self.retries > 0 {
            parts.push(format!(
                "a failure of timing or transport is retried up to {} times (never a crash or a failure on content)",
                self.retries
            ));
        }
        parts.join("; ")
    }
}

/// The file stem an input's reports are named after (`features` for the directory).
pub(super) fn stem_of(input: &Path) -> String {
    input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "features".into())
}

/// One input's scenarios, each merged from its attempts.
pub(super) struct InputResult {
    pub(super) records: Vec<ScenarioRecord>,
    pub(super) parsing_errors: usize,
}

/// Runs one input (a feature file or directory) in as many passes as `passes` asks: the
/// first runs every selected scenario; then the rounds of `--repeat` run those that ran;
/// within each round, failures of a retryable class run again. Each scenario's attempts
/// are merged into one record: the verdict's, carrying the others.
pub(super) async fn run_input(
    input: &Path,
    filter: &Option<TagOperation>,
    report: Option<&Path>,
    passes: Passes,
    ctx: &Arc<RunContext>,
    secrets: &crate::report::redact::Secrets,
) -> anyhow::Result<InputResult> {
    let file = &ctx.rig.file;
    let concurrency = file.dut.concurrency(file.run.concurrency);
    let caps = file.capabilities();
    let boot = ctx.console.boot.clone();
    let mut attempts: std::collections::BTreeMap<ScenarioKey, Vec<(u32, ScenarioRecord)>> =
        Default::default();
    let mut parsing_errors = 0;
    let mut pass = 0;
    let mut ran: Option<Arc<HashSet<ScenarioKey>>> = None;
    for round in 1..=passes.repeat {
        let mut only = ran.clone();
        for retry in 0..=passes.retries {
            pass += 1;
            ctx.pass.store(pass, std::sync::atomic::Ordering::Relaxed);
            {
                let mut of = ctx.attempt_of.locked();
                of.clear();
                for (k, list) in &attempts {
                    of.insert(k.clone(), list.len() as u32 + 1);
                }
            }
            if pass > 1 {
                let n = only.as_ref().map_or(0, |o| o.len());
                let what = if retry > 0 {
                    format!("retry {retry}")
                } else {
                    format!("round {round}")
                };
                println!("plugrig: pass {pass} ({what}): {n} scenario(s)");
            }
            let json = (pass == 1).then_some(report).flatten();
            let out = run_pass(
                input,
                filter.clone(),
                only.clone(),
                json,
                concurrency,
                caps.to_vec(),
                ctx.periods,
                ctx.recorder.clone(),
                secrets.clone(),
            )
            .await?;
            if pass == 1 {
                parsing_errors = out.parsing_errors;
            }
            let mut failed_retryable = HashSet::new();
            for mut r in out.records {
                let list = attempts.entry(r.key.clone()).or_default();
                r.attempts.number = list.len() as u32 + 1;
                r.attempts.class = crate::commands::run::retry::classify(&r, &boot);
                if r.attempts.class.is_some_and(|c| c.retryable()) {
                    failed_retryable.insert(r.key.clone());
                }
                list.push((round, r));
            }
            if round == 1 && retry == 0 {
                // Later rounds run what ran (not what the rig skipped).
                ran = Some(Arc::new(
                    attempts
                        .iter()
                        .filter(|(_, l)| l.iter().any(|(_, r)| r.outcome != Outcome::Skipped))
                        .map(|(k, _)| k.clone())
                        .collect(),
                ));
            }
            if failed_retryable.is_empty() {
                break;
            }
            only = Some(Arc::new(failed_retryable));
        }
    }
    let records = attempts.into_values().filter_map(merge_attempts).collect();
    Ok(InputResult {
        records,
        parsing_errors,
    })
}

/// A scenario's attempts as one record: a round's outcome is its last attempt's; the
/// scenario failed if any round failed (the verdict is that round's last attempt), passed
/// if every round passed (the verdict is the last attempt).
fn merge_attempts(list: Vec<(u32, ScenarioRecord)>) -> Option<ScenarioRecord> {
    let rounds: std::collections::BTreeSet<u32> = list.iter().map(|(r, _)| *r).collect();
    let last_of_round = |round: u32| list.iter().rposition(|(r, _)| *r == round);
    let verdict = rounds
        .iter()
        .filter_map(|&r| last_of_round(r))
        .find(|&i| list[i].1.outcome == Outcome::Failed)
        .or_else(|| list.len().checked_sub(1))?;
    let mut others = Vec::with_capacity(list.len() - 1);
    let mut chosen = None;
    for (i, (_, r)) in list.into_iter().enumerate() {
        if i == verdict {
            chosen = Some(r);
        } else {
            others.push(r);
        }
    }
    let mut chosen = chosen?;
    chosen.attempts.others = others;
    Some(chosen)
}

/// One pass of one input through cucumber: each selected scenario once. `only`, when
/// given, narrows the selection to those scenarios (a retry, a later round); `json`, when
/// given, is the report directory for cucumber's own JSON (the first pass's).
#[allow(clippy::too_many_arguments)]
async fn run_pass(
    input: &Path,
    filter: Option<TagOperation>,
    only: Option<Arc<HashSet<ScenarioKey>>>,
    json: Option<&Path>,
    concurrency: usize,
    caps: Vec<Capability>,
    periods: oracle::timing::Periods,
    recorder: Arc<Recorder>,
    secrets: crate::report::redact::Secrets,
) -> anyhow::Result<PassResult> {
    // cucumber prints a failed step's error, with its timeline, to the terminal.
    let stdout = || crate::report::redact::RedactingWriter::new(std::io::stdout(), secrets.clone());
    // Scenarios the rig cannot run are not run: they are listed and counted as skipped.
    let unmet: Arc<Mutex<Vec<String>>> = Arc::default();
    let unmet_w = unmet.clone();
    let recorder_w = recorder.clone();
    let select = move |f: &cucumber::gherkin::Feature,
                       r: Option<&cucumber::gherkin::Rule>,
                       s: &cucumber::gherkin::Scenario| {
        if let Some(only) = &only {
            return only.contains(&record::key(f, s));
        }
        let tags = || {
            f.tags
                .iter()
                .chain(r.iter().flat_map(|r| r.tags.iter()))
                .chain(s.tags.iter())
        };
        if !filter.as_ref().is_none_or(|op| op.eval(tags())) {
            return false;
        }
        let why = match capabilities::missing(tags(), &caps) {
            Ok(m) if m.is_empty() => match crate::scenario::jitter::skip_reason(&periods, tags()) {
                None => return true,
                Some(why) => why,
            },
            Ok(m) => format!(
                "needs {}",
                m.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
            ),
            Err(e) => e,
        };
        let mut u = unmet_w.locked();
        let kind = crate::report::statement::not_judged(&why).name();
        u.push(format!("[{kind}] {}: {} ({why})", f.name, s.name));
        recorder_w.scenario(ScenarioRecord {
            key: record::key(f, s),
            feature_name: f.name.clone(),
            name: s.name.clone(),
            tags: s.tags.clone(),
            outcome: Outcome::Skipped,
            steps: Vec::new(),
            duration: Duration::ZERO,
            world: Default::default(),
            skip_reason: Some(why),
            attempts: Default::default(),
            quarantine: None,
        });
        false
    };
    let counter = ScenarioCounter::recording(recorder.clone())
        .discard_stats_writes()
        .discard_arbitrary_writes();
    let cucumber = PlugWorld::cucumber::<&Path>()
        .with_parser(crate::scenario::order::SlowFirst)
        .max_concurrent_scenarios(concurrency)
        .before(|feature, _, scenario, world| {
            Box::pin(async move {
                // A panic fails the scenario as a failed hook, with this message.
                if let Err(e) = world.start(StartState::of(feature, scenario)).await {
                    panic!("the plug could not be brought to the scenario's start: {e:#}");
                }
            })
        })
        .after(|feature, _, scenario, finished, world| {
            Box::pin(async move {
                if let Some(w) = world {
                    let failed = matches!(
                        finished,
                        cucumber::event::ScenarioFinished::StepFailed(..)
                            | cucumber::event::ScenarioFinished::BeforeHookFailed(_)
                    );
                    // A scenario that passed its steps but wedged the plug fails here: an
                    // after hook's panic fails its scenario, with this message.
                    if let Some(why) = w
                        .finish(record::key(feature, scenario), &scenario.name, failed)
                        .await
                    {
                        panic!("{why}");
                    }
                }
            })
        });
    let parsing_errors = match json {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating report directory {}", dir.display()))?;
            // Cucumber's JSON holds the first pass as cucumber ran it; the measurements
            // and each scenario's attempts are added afterwards (`cucumber_json`).
            let json = std::fs::File::create(dir.join(format!("{}.cucumber.json", stem_of(input))))?;
            let w = cucumber
                .with_writer(
                    writer::Basic::raw(stdout(), Coloring::Auto, 0)
                        .summarized()
                        .tee::<PlugWorld, _>(counter)
                        .tee::<PlugWorld, _>(writer::Json::for_tee(json))
                        .normalized(),
                )
                .with_default_cli()
                .filter_run(input, select)
                .await;
            w.parsing_errors()
        }
        None => {
            let w = cucumber
                .with_writer(
                    writer::Basic::raw(stdout(), Coloring::Auto, 0)
                        .summarized()
                        .tee::<PlugWorld, _>(counter)
                        .normalized(),
                )
                .with_default_cli()
                .filter_run(input, select)
                .await;
            w.parsing_errors()
        }
    };
    let unmet = std::mem::take(&mut *unmet.locked());
    for u in &unmet {
        println!("SKIPPED {u}");
    }
    Ok(PassResult {
        records: recorder.take(),
        parsing_errors,
    })
}

/// What one pass recorded.
struct PassResult {
    records: Vec<ScenarioRecord>,
    parsing_errors: usize,
}
