//! `plugrig run`: load the rig, start its broker, run the selected features with cucumber,
//! write reports, and say plainly how many scenarios passed, failed and were skipped.

use std::collections::HashMap;
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
use crate::report::record::{self, Outcome, Recorder, RunRecord, ScenarioRecord};
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
    /// Every selected scenario ran and passed, and at least one ran.
    pub fn ok(&self) -> bool {
        self.failed == self.advisory_failed
            && self.skipped == 0
            && self.parsing_errors == 0
            && self.hook_errors == 0
            && self.passed > 0
    }

    /// The closing line, in the form CI readers look for.
    pub fn line(&self) -> String {
        let advisory = if self.advisory_failed > 0 {
            format!(
                " ({} of them [profile] only, advisory: not counted)",
                self.advisory_failed
            )
        } else {
            String::new()
        };
        let rig = self.failures.iter().filter(|f| f.rig_failure.is_some()).count();
        let rig = if rig > 0 {
            format!(" ({rig} of them the rig's failure, not the plug's)")
        } else {
            String::new()
        };
        format!(
            "conformance: {} passed, {} failed{advisory}{rig}, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }

    /// The failures in two sections: those that fail the run, and the advisory ones.
    pub fn failure_report(&self, advisory_profile: bool) -> String {
        let (rig, judged): (Vec<&Failure>, Vec<&Failure>) =
            self.failures.iter().partition(|f| f.rig_failure.is_some());
        let (advisory, strict): (Vec<&Failure>, Vec<&Failure>) = judged
            .into_iter()
            .partition(|f| advisory_profile && f.profile_only());
        let mut out = String::new();
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
        .map(|t| TagOperation::from_str(t).map_err(|e| anyhow::anyhow!("--tags {t:?}: {e}")))
        .transpose()?;
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
    let concurrency = rig.file.dut.concurrency(rig.file.run.concurrency);
    let caps = rig.file.capabilities();
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
    }
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
    };
    for input in &features {
        let one = run_one(
            input,
            filter.clone(),
            opts.report.as_deref(),
            concurrency,
            caps.clone(),
            ctx.periods,
            ctx.recorder.clone(),
        );
        let s = tokio::select! {
            s = CONTEXT.scope(ctx.clone(), one) => s?,
            why = ctx.stopped() => {
                // What ran before the stop is still reported.
                summary.records.extend(ctx.recorder.take());
                if let Some(dir) = &opts.report {
                    let record = run_record(&ctx, advisory_profile, std::mem::take(&mut summary.records), started);
                    std::fs::write(dir.join("verdict.txt"), format!("the run stopped: {why}\n"))?;
                    write_html(&record, dir)?;
                }
                anyhow::bail!("the run stopped: {why}");
            }
        };
        summary.passed += s.passed;
        summary.failed += s.failed;
        summary.skipped += s.skipped;
        summary.parsing_errors += s.parsing_errors;
        summary.hook_errors += s.hook_errors;
        summary.failed_rules.extend(s.failed_rules);
        summary.failures.extend(s.failures);
        summary.records.extend(s.records);
        summary.report_time += s.report_time;
    }
    if ctx.holds_a_plug() {
        // The bench is left factory-fresh: the plug held for a next scenario is released.
        if let Ok(mut w) = CONTEXT.scope(ctx.clone(), PlugWorld::new()).await {
            w.release_held().await;
        }
    }
    for f in &mut summary.failures {
        f.rig_failure = summary
            .records
            .iter()
            .filter(|r| r.name == f.scenario)
            .find_map(|r| r.rig_failure())
            .map(str::to_string);
    }
    if advisory_profile {
        summary.advisory_failed = summary
            .failures
            .iter()
            .filter(|f| f.rig_failure.is_none() && f.profile_only())
            .count();
    }
    let failures = summary.failure_report(advisory_profile);
    print!("{failures}");
    let writing = Instant::now();
    if let Some(dir) = &opts.report {
        let dut = ctx.recorder.identity();
        let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "not seen".into());
        let text = format!(
            "{}\n{failures}{}\n{}dut {} (device_type {}), firmware_version {}, product_model {}\n",
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
        let record = run_record(
            &ctx,
            advisory_profile,
            std::mem::take(&mut summary.records),
            started,
        );
        write_html(&record, dir)?;
        summary.records = record.scenarios;
    }
    summary.report_time += writing.elapsed()
        + Duration::from_micros(ctx.capture_writing_us.load(std::sync::atomic::Ordering::Relaxed));
    summary.wall = started.elapsed();
    if let Some((ledger, id)) = &ledger {
        let appending = Instant::now();
        let dut = ctx.recorder.identity();
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
    Ok(summary)
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

async fn run_one(
    input: &Path,
    filter: Option<TagOperation>,
    report: Option<&Path>,
    concurrency: usize,
    caps: Vec<Capability>,
    periods: oracle::timing::Periods,
    recorder: Arc<Recorder>,
) -> anyhow::Result<Summary> {
    // Scenarios the rig cannot run are not run: they are listed and counted as skipped.
    let unmet: Arc<Mutex<Vec<String>>> = Arc::default();
    let unmet_w = unmet.clone();
    let recorder_w = recorder.clone();
    let select = move |f: &cucumber::gherkin::Feature,
                       r: Option<&cucumber::gherkin::Rule>,
                       s: &cucumber::gherkin::Scenario| {
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
        u.push(format!("{}: {} ({why})", f.name, s.name));
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
        });
        false
    };
    let counter = ScenarioCounter::recording(recorder.clone());
    let counts = counter.counts.clone();
    let failures = counter.failures.clone();
    let counter = counter.discard_stats_writes().discard_arbitrary_writes();
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
    let stats = match report {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating report directory {}", dir.display()))?;
            let stem = input
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "features".into());
            // JUnit is written from the run's record afterwards (with properties and
            // timelines); cucumber's JSON gets the measurements added afterwards.
            let json = std::fs::File::create(dir.join(format!("{stem}.cucumber.json")))?;
            let w = cucumber
                .with_writer(
                    writer::Basic::raw(std::io::stdout(), Coloring::Auto, 0)
                        .summarized()
                        .tee::<PlugWorld, _>(counter)
                        .tee::<PlugWorld, _>(writer::Json::for_tee(json))
                        .normalized(),
                )
                .with_default_cli()
                .filter_run(input, select)
                .await;
            (w.parsing_errors(), w.hook_errors())
        }
        None => {
            let w = cucumber
                .with_writer(
                    writer::Basic::raw(std::io::stdout(), Coloring::Auto, 0)
                        .summarized()
                        .tee::<PlugWorld, _>(counter)
                        .normalized(),
                )
                .with_default_cli()
                .filter_run(input, select)
                .await;
            (w.parsing_errors(), w.hook_errors())
        }
    };
    let (parsing_errors, hook_errors) = stats;
    let sc = *counts.lock().unwrap_or_else(|p| p.into_inner());
    let unmet = std::mem::take(&mut *unmet.lock().unwrap_or_else(|p| p.into_inner()));
    for u in &unmet {
        println!("SKIPPED {u}");
    }
    let failures = std::mem::take(&mut *failures.lock().unwrap_or_else(|p| p.into_inner()));
    let records = recorder.take();
    let writing = Instant::now();
    if let Some(dir) = report {
        let stem = input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "features".into());
        let ctx = CONTEXT.with(Arc::clone);
        let mut run_properties = recorder.run_properties();
        run_properties.push((
            "run.ended".into(),
            crate::provenance::rfc3339(std::time::SystemTime::now()),
        ));
        crate::report::junit::write(
            &records,
            &ctx.rig,
            &recorder.identity(),
            &run_properties,
            &dir.join(format!("{stem}.junit.xml")),
        )?;
        crate::report::cucumber_json::add_measurements(
            &records,
            &run_properties,
            &dir.join(format!("{stem}.cucumber.json")),
        )?;
    }
    Ok(Summary {
        passed: sc.passed,
        failed: sc.failed,
        skipped: sc.skipped + unmet.len(),
        parsing_errors,
        hook_errors,
        wall: Duration::ZERO,
        failed_rules: failures.iter().flat_map(|f| f.rules.clone()).collect(),
        failures,
        advisory_failed: 0,
        records,
        report_time: writing.elapsed(),
        startup: Duration::ZERO,
        ledger_time: Duration::ZERO,
        ledger_run: None,
    })
}
