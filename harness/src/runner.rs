//! `plugrig run`: load the rig, start its broker, run the selected features with cucumber,
//! write reports, and say plainly how many scenarios passed, failed and were skipped.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::tag::Ext as _;
use cucumber::writer::Stats as _;
use cucumber::writer::{self, Coloring};
use cucumber::{World as _, WriterExt as _};

use crate::capabilities::{self, Capability};
use crate::dut::DutHandle;
use crate::ota::dns::DnsServer;
use crate::ota::server::UpdateServer;
use crate::report::record::{self, Outcome, Recorder, RunRecord, ScenarioKey, ScenarioRecord};
use crate::report::{Failure, ScenarioCounter};
use crate::rig;
use crate::strategy::StartState;
use crate::world::{PlugWorld, RunContext, Services, CONTEXT};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub rig: PathBuf,
    pub tags: Option<String>,
    pub report: Option<PathBuf>,
    /// Feature files or directories; empty: `features/`.
    pub features: Vec<PathBuf>,
    /// Report failures of scenarios that check only [profile] rules (this project's own
    /// choices) apart, and do not count them in the verdict. The rig's
    /// `run.advisory_profile` sets it too.
    pub advisory_profile: bool,
    /// Append the run to this ledger (a SQLite file or a PostgreSQL URL; `ledger`). The
    /// rig's `run.history` sets it too.
    pub history: Option<String>,
    /// Each selected scenario runs this many times and passes only if it passed every
    /// time (at least 1).
    pub repeat: u32,
    /// A failed scenario runs again up to this many times, only when its failure is of a
    /// retryable class (`retry`: timing or transport).
    pub retries: u32,
    /// Known failures with an expiry (`quarantine`); else the rig's `run.quarantine`.
    pub quarantine: Option<PathBuf>,
    /// Keep the broker and WiFi passwords in the reports, the terminal and the captures
    /// (by default they are redacted: `redact`).
    pub keep_secrets: bool,
    /// Sign a statement of the verdicts (`statement`) with the Ed25519 secret key at this
    /// path, into the report directory (needs `report`).
    pub statement: Option<PathBuf>,
}

impl RunOptions {
    /// Options for `rig` with everything else at its default.
    pub fn new(rig: PathBuf) -> RunOptions {
        RunOptions {
            rig,
            tags: None,
            report: None,
            features: Vec::new(),
            advisory_profile: false,
            history: None,
            repeat: 1,
            retries: 0,
            quarantine: None,
            keep_secrets: false,
            statement: None,
        }
    }
}

#[derive(Clone)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
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
    pub fn ok(&self) -> bool {
        self.failed == self.advisory_failed
            && self.quarantine_expired.is_empty()
            && self.skipped == 0
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

pub use crate::workspace::{default_rig, workspace_dir};

/// A plug on a bench: its instruments must pass the rig check before any scenario runs;
/// then, if the rig says so, the workspace's firmware is flashed and must boot.
/// Returns what was flashed, if anything.
async fn prepare_bench(file: &rig::RigFile) -> anyhow::Result<Option<crate::provenance::Firmware>> {
    println!("plugrig: rig check");
    let report = crate::rig_check::check(file).await;
    report.print();
    if !report.ok() {
        let names: Vec<&str> = report.failed().iter().map(|c| c.name.as_str()).collect();
        anyhow::bail!("the rig failed its check ({}); no scenario ran", names.join(", "));
    }
    if let Some(spec) = file.dut.flash() {
        println!(
            "plugrig: flashing the workspace's firmware with {}",
            spec.describe()
        );
        return Ok(Some(crate::firmware::flash_and_boot(spec, &file.dut).await?));
    }
    Ok(None)
}

pub async fn run(opts: RunOptions) -> anyhow::Result<Summary> {
    let rig = rig::load(&opts.rig)?;
    run_loaded(opts, rig).await
}

/// `run` on a rig already loaded (and, on a rig farm, with its `place:` ports resolved by
/// `farm`); `opts.rig` only names it.
pub async fn run_loaded(opts: RunOptions, rig: rig::Rig) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let filter = opts
        .tags
        .as_deref()
        .map(|t| TagOperation::from_str(t).map_err(|e| Usage(format!("--tags {t:?}: {e}"))))
        .transpose()?;
    // Read before the first packet: a malformed quarantine file stops the run now.
    let quarantine = quarantine_of(&opts, &rig)?;
    // The signing key is read now: one that cannot be read stops the run before it starts.
    let statement_key = match &opts.statement {
        Some(_) if opts.report.is_none() => {
            return Err(Usage(
                "--statement needs --report DIR: the statement covers the report's files".into(),
            )
            .into());
        }
        Some(key) => {
            Some(crate::statement::read_secret_key(key).map_err(|e| Usage(format!("--statement: {e:#}")))?)
        }
        None => None,
    };
    let rig_name = rig.file.rig.name.clone();
    let wall_clock_start = std::time::SystemTime::now();
    let mut firmware = None;
    if rig.file.dut.checked_before_run() {
        firmware = prepare_bench(&rig.file).await?;
    }
    let broker = crate::broker::start(&rig.file.broker).await?;
    println!(
        "plugrig: rig {} ({}), broker {} at {}, time scale {}",
        rig.file.rig.name,
        rig.path.display(),
        broker.kind,
        broker.addr,
        rig.file.rig.time_scale
    );
    // Build the simulated plug before the first scenario, so no step's deadline pays for it.
    if let Some(bin) = DutHandle::prebuild(&rig.file.dut).await? {
        println!("plugrig: simulated plug {}", bin.display());
        let sha256 = crate::provenance::sha256_file(&bin)
            .with_context(|| format!("reading {} for its SHA-256", bin.display()))?;
        firmware = Some(crate::provenance::Firmware {
            what: "plug-sim binary".into(),
            path: bin,
            sha256,
            flags: rig.file.dut.sim_flags(),
        });
    }
    println!("plugrig: {}", rig.file.dut.describe());
    let advisory_profile = opts.advisory_profile || rig.file.run.advisory_profile;
    if advisory_profile {
        println!("plugrig: [profile] rules are advisory: their failures are reported, not counted");
    }
    let mut services = start_services(&rig.file).await?;
    services.report_dir = opts.report.clone();
    // The rig's own timing jitter, before the first scenario: the oracle's allowance per
    // interval, and the reason timing scenarios it would swamp are skipped (crate::jitter).
    let jitter = crate::jitter::measure(&broker, crate::jitter::ap_of(&rig.file.dut)).await?;
    println!("plugrig: {}", jitter.line());
    let provenance = crate::provenance::Provenance {
        rig_name: rig.file.rig.name.clone(),
        rig_path: rig.path.clone(),
        rig_sha256: crate::provenance::sha256_file(&rig.path)
            .with_context(|| format!("reading {} for its SHA-256", rig.path.display()))?,
        firmware,
        host: crate::provenance::host(),
        time_scale: rig.file.rig.time_scale,
        jitter: jitter.line(),
        started: wall_clock_start,
        tags: opts.tags.clone(),
        features: opts.features.iter().map(|f| f.display().to_string()).collect(),
    };
    println!("plugrig: {}", crate::provenance::Provenance::plugrig());
    // The ledger is opened before the first scenario: a ledger that cannot be written
    // stops the run now, not after it.
    let history = opts.history.clone().or_else(|| rig.file.run.history.clone());
    let ledger = match &history {
        Some(dest) => {
            let l = crate::ledger::Ledger::open(dest).await?;
            let id = l.begin_run(&provenance).await?;
            println!("plugrig: appending this run ({id}) to the ledger {}", l.dest);
            Some((l, id))
        }
        None => None,
    };
    let mut ctx = RunContext::new(rig, broker, services);
    {
        let c =
            Arc::get_mut(&mut ctx).context("the run's context is shared before the rig's jitter is set")?;
        c.periods.allowance = jitter.allowance();
        c.provenance = Some(provenance.clone());
        c.keep_secrets = opts.keep_secrets;
    }
    // What the reports must not show: the broker's password and the WiFi password a 4003
    // gives the plug (the bench network's).
    let secrets = if opts.keep_secrets {
        crate::redact::Secrets::default()
    } else {
        crate::redact::Secrets::new([
            ctx.broker.password.clone(),
            crate::steps::provisioning::WIFI_PASSWORD.to_string(),
        ])
    };
    ctx.recorder.rig_properties(provenance.properties());
    ctx.recorder.rig_properties(jitter.properties());

    let features = if opts.features.is_empty() {
        vec![workspace_dir().join("features")]
    } else {
        opts.features.clone()
    };
    let mut summary = Summary {
        passed: 0,
        failed: 0,
        skipped: 0,
        parsing_errors: 0,
        hook_errors: 0,
        wall: Duration::ZERO,
        failed_rules: Vec::new(),
        failures: Vec::new(),
        advisory_failed: 0,
        records: Vec::new(),
        report_time: Duration::ZERO,
        startup: started.elapsed(),
        ledger_time: Duration::ZERO,
        ledger_run: None,
        quarantined: 0,
        quarantined_failed: 0,
        quarantine_expired: Vec::new(),
        flaky_passes: 0,
        extra_attempts: 0,
    };
    let passes = Passes {
        repeat: opts.repeat.max(1),
        retries: opts.retries,
    };
    if passes.repeat > 1 || passes.retries > 0 {
        println!("plugrig: {}", passes.describe());
    }
    // Each input's records, for its JUnit and Cucumber JSON files.
    let mut inputs: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    for input in &features {
        let one = run_input(input, &filter, opts.report.as_deref(), passes, &ctx, &secrets);
        let s = tokio::select! {
            s = CONTEXT.scope(ctx.clone(), one) => s?,
            why = ctx.stopped() => {
                // What ran before the stop is still reported.
                summary.records.extend(ctx.recorder.take());
                for r in &mut summary.records {
                    secrets.redact_record(r);
                }
                if let Some(dir) = &opts.report {
                    let record = run_record(&ctx, advisory_profile, std::mem::take(&mut summary.records), started);
                    std::fs::write(dir.join("verdict.txt"), format!("the run stopped: {why}\n"))?;
                    write_html(&record, dir)?;
                }
                anyhow::bail!("the run stopped: {why}");
            }
        };
        summary.parsing_errors += s.parsing_errors;
        let from = summary.records.len();
        summary.records.extend(s.records);
        inputs.push((stem_of(input), from..summary.records.len()));
    }
    if ctx.holds_a_plug() {
        // The bench is left factory-fresh: the plug held for a next scenario is released.
        if let Ok(mut w) = CONTEXT.scope(ctx.clone(), PlugWorld::new()).await {
            w.release_held().await;
        }
    }
    for r in &mut summary.records {
        secrets.redact_record(r);
    }
    let dut = ctx.recorder.identity();
    if let Some(q) = &quarantine {
        let today = crate::quarantine::today(std::time::SystemTime::now());
        q.apply(&mut summary.records, &dut, today);
        summary.quarantine_expired = q.expired(today);
        if let Some((l, id)) = &ledger {
            mark_ready_to_release(l, id, &rig_name, q, &mut summary.records).await?;
        }
    }
    tally(&mut summary, advisory_profile);
    let failures = summary.failure_report(advisory_profile);
    print!("{failures}");
    let quarantined = crate::quarantine::section(&summary.records);
    print!("{quarantined}");
    let writing = Instant::now();
    if let Some(dir) = &opts.report {
        let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "not seen".into());
        let text = format!(
            "{}\n{failures}{quarantined}{}\n{}dut {} (device_type {}), firmware_version {}, product_model {}\n",
            summary.line(),
            jitter.line(),
            provenance.lines(std::time::SystemTime::now()),
            or_unknown(&dut.prefix),
            or_unknown(&dut.device_type),
            or_unknown(&dut.firmware_version),
            or_unknown(&dut.product_model),
        );
        std::fs::write(dir.join("verdict.txt"), text)
            .with_context(|| format!("writing {}", dir.join("verdict.txt").display()))?;
        let mut run_properties = ctx.recorder.run_properties();
        run_properties.push((
            "run.ended".into(),
            crate::provenance::rfc3339(std::time::SystemTime::now()),
        ));
        for (stem, range) in &inputs {
            let records = &summary.records[range.clone()];
            crate::report::junit::write(
                records,
                &ctx.rig,
                &dut,
                &run_properties,
                &dir.join(format!("{stem}.junit.xml")),
            )?;
            crate::report::cucumber_json::add_measurements(
                records,
                &run_properties,
                &secrets,
                &dir.join(format!("{stem}.cucumber.json")),
            )?;
        }
        let mut record = run_record(
            &ctx,
            advisory_profile,
            std::mem::take(&mut summary.records),
            started,
        );
        record.quarantine_expired = summary.quarantine_expired.clone();
        write_html(&record, dir)?;
        summary.records = record.scenarios;
    }
    summary.report_time += writing.elapsed()
        + Duration::from_micros(ctx.capture_writing_us.load(std::sync::atomic::Ordering::Relaxed));
    summary.wall = started.elapsed();
    if let Some((ledger, id)) = &ledger {
        let appending = Instant::now();
        ledger
            .finish_run(
                id,
                &crate::ledger::RunResults {
                    scenarios: &summary.records,
                    dut: &dut,
                    passed: summary.passed,
                    failed: summary.failed,
                    skipped: summary.skipped,
                    wall: summary.wall,
                    ended: std::time::SystemTime::now(),
                },
            )
            .await
            .with_context(|| format!("appending run {id} to the ledger {}", ledger.dest))?;
        summary.ledger_time = appending.elapsed();
        summary.ledger_run = Some(id.clone());
    }
    if let (Some(key), Some(dir)) = (&statement_key, &opts.report) {
        let path = crate::statement::write(
            &crate::statement::Inputs {
                report_dir: dir,
                records: &summary.records,
                advisory_profile,
                dut: &dut,
                provenance: &provenance,
            },
            key,
        )?;
        println!("plugrig: signed statement {}", path.display());
    }
    Ok(summary)
}

/// A mistake in what the user gave (a tag expression, a quarantine file): `plugrig run`
/// exits 2 for it, not 125 (`exit`).
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The run's quarantine file (`--quarantine`, else the rig's `run.quarantine` relative to
/// the rig file), read and checked.
fn quarantine_of(opts: &RunOptions, rig: &rig::Rig) -> anyhow::Result<Option<crate::quarantine::Quarantine>> {
    let path = match (&opts.quarantine, &rig.file.run.quarantine) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => rig.path.parent().map_or_else(|| p.clone(), |d| d.join(p)),
        (None, None) => return Ok(None),
    };
    let q = crate::quarantine::load(&path).map_err(|e| Usage(format!("{e:#}")))?;
    println!(
        "plugrig: quarantine {}: {} entries",
        path.display(),
        q.entries.len()
    );
    Ok(Some(q))
}

/// The counts, the failures and the closing line's figures, from the scenarios' final
/// records: a quarantined scenario is counted apart, a flaky pass is a pass.
fn tally(summary: &mut Summary, advisory_profile: bool) {
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

/// Flags the quarantined scenarios that passed at their first attempt in this run and in
/// the ledger's last `release_after - 1` complete runs of this rig: ready to release.
async fn mark_ready_to_release(
    ledger: &crate::ledger::Ledger,
    this_run: &str,
    rig_name: &str,
    q: &crate::quarantine::Quarantine,
    records: &mut [ScenarioRecord],
) -> anyhow::Result<()> {
    let candidates: Vec<usize> = (0..records.len())
        .filter(|&i| {
            let r = &records[i];
            r.quarantine.is_some() && r.outcome == Outcome::Passed && !r.attempts.failed_before()
        })
        .collect();
    if candidates.is_empty() {
        return Ok(());
    }
    let names: Vec<(String, String)> = candidates
        .iter()
        .map(|&i| {
            (
                crate::ledger::feature_id(&records[i].key.feature),
                records[i].name.clone(),
            )
        })
        .collect();
    let before = q.release_after.saturating_sub(1);
    let passed = if before == 0 {
        vec![true; names.len()]
    } else {
        ledger
            .passed_last_runs(rig_name, this_run, before, &names)
            .await
            .with_context(|| format!("reading the ledger {} for the quarantine", ledger.dest))?
    };
    for (&i, ok) in candidates.iter().zip(passed) {
        if let Some(a) = records[i].quarantine.as_mut() {
            a.ready_to_release = ok;
        }
    }
    Ok(())
}

/// How many times scenarios run: `--repeat` rounds, each failure of a retryable class
/// retried up to `--retries` times within its round.
#[derive(Debug, Clone, Copy)]
struct Passes {
    repeat: u32,
    retries: u32,
}

impl Passes {
    fn describe(&self) -> String {
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
fn stem_of(input: &Path) -> String {
    input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "features".into())
}

/// One input's scenarios, each merged from its attempts.
struct InputResult {
    records: Vec<ScenarioRecord>,
    parsing_errors: usize,
}

/// Runs one input (a feature file or directory) in as many passes as `passes` asks: the
/// first runs every selected scenario; then the rounds of `--repeat` run those that ran;
/// within each round, failures of a retryable class run again. Each scenario's attempts
/// are merged into one record: the verdict's, carrying the others.
async fn run_input(
    input: &Path,
    filter: &Option<TagOperation>,
    report: Option<&Path>,
    passes: Passes,
    ctx: &Arc<RunContext>,
    secrets: &crate::redact::Secrets,
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
                let mut of = ctx.attempt_of.lock().unwrap_or_else(|p| p.into_inner());
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
                r.attempts.class = crate::retry::classify(&r, &boot);
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

/// What the reports are written from: the rig, the DUT's identity, `scenarios`.
fn run_record(
    ctx: &RunContext,
    advisory_profile: bool,
    scenarios: Vec<ScenarioRecord>,
    started: Instant,
) -> RunRecord {
    RunRecord {
        rig_name: ctx.rig.file.rig.name.clone(),
        rig_path: ctx.rig.path.clone(),
        time_scale: ctx.rig.file.rig.time_scale,
        advisory_profile,
        dut: ctx.recorder.identity(),
        scenarios,
        wall: started.elapsed(),
        provenance: ctx.provenance.clone(),
        quarantine_expired: Vec::new(),
    }
}

/// The HTML report, `DIR/index.html`.
fn write_html(record: &RunRecord, dir: &Path) -> anyhow::Result<()> {
    crate::report::html::write(record, &dir.join("index.html"))
}

/// The update server and the DNS server, on the address the plug reaches this host at:
/// loopback on the simulated rig; on a bench the rig's address on the plug's network, with
/// DNS on port 53 when the plug resolves through it.
async fn start_services(rig: &rig::RigFile) -> anyhow::Result<Services> {
    let (rig_host, dns_port) = rig.dut.services_at()?;
    let IpAddr::V4(v4) = rig_host else {
        anyhow::bail!("the rig's address {rig_host} must be IPv4: the protocol's realms are IPv4 addresses");
    };
    let update = UpdateServer::start(rig_host).await?;
    let records = HashMap::from([(crate::ota::UPDATE_HOST.to_string(), v4)]);
    let dns = DnsServer::start(records, SocketAddr::new(rig_host, dns_port)).await?;
    println!("plugrig: update server at {}, DNS at {}", update.addr, dns.addr);
    Ok(Services {
        update,
        dns: dns.addr,
        rig_host,
        report_dir: None,
    })
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
    secrets: crate::redact::Secrets,
) -> anyhow::Result<PassResult> {
    // cucumber prints a failed step's error, with its timeline, to the terminal.
    let stdout = || crate::redact::RedactingWriter::new(std::io::stdout(), secrets.clone());
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
            Ok(m) if m.is_empty() => match crate::jitter::skip_reason(&periods, tags()) {
                None => return true,
                Some(why) => why,
            },
            Ok(m) => format!(
                "needs {}",
                m.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")
            ),
            Err(e) => e,
        };
        let mut u = unmet_w.lock().unwrap_or_else(|p| p.into_inner());
        let kind = crate::statement::not_judged(&why).name();
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
        .with_parser(crate::scenario_order::SlowFirst)
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
                    w.finish(record::key(feature, scenario), &scenario.name, failed)
                        .await;
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
    let unmet = std::mem::take(&mut *unmet.lock().unwrap_or_else(|p| p.into_inner()));
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
