//! `plugrig run`: load the rig, start its broker, run the selected features with cucumber,
//! write reports, and say plainly how many scenarios passed, failed and were skipped.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cucumber::gherkin::tagexpr::TagOperation;

use crate::drivers::dut::DutHandle;
use crate::drivers::ota::dns::DnsServer;
use crate::drivers::ota::server::UpdateServer;
use crate::rig;
use crate::scenario::record::{Outcome, RunRecord, ScenarioRecord};
use crate::scenario::world::{PlugWorld, RunContext, Services, CONTEXT};

mod passes;
pub mod quarantine;
pub mod retry;

use crate::report::summary::tally;
pub use crate::report::summary::{exit, Summary};
use passes::{run_input, stem_of, Passes};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub rig: PathBuf,
    /// The plug's declaration; else the one the rig file names (`rig::declaration`).
    pub plug: Option<PathBuf>,
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
            plug: None,
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

pub use crate::workspace::{default_rig, default_rig_text, workspace_dir};

/// A plug on a bench: its instruments must pass the rig check before any scenario runs;
/// then, if the rig says so, the workspace's firmware is flashed and must boot.
/// Returns what was flashed, if anything.
async fn prepare_bench(file: &rig::RigFile) -> anyhow::Result<Option<crate::provenance::Firmware>> {
    println!("plugrig: rig check");
    let report = crate::commands::rig_check::check(file).await;
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
        return Ok(Some(
            crate::drivers::firmware::flash_and_boot(spec, &file.dut).await?,
        ));
    }
    Ok(None)
}

pub async fn run(opts: RunOptions) -> anyhow::Result<Summary> {
    let rig = rig::load_with(&opts.rig, opts.plug.as_deref())?;
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
        Some(key) => Some(
            crate::report::statement::read_secret_key(key)
                .map_err(|e| Usage(format!("--statement: {e:#}")))?,
        ),
        None => None,
    };
    let rig_name = rig.file.rig.name.clone();
    let rig_declared_name = rig
        .file
        .declaration
        .as_ref()
        .map(|d| d.declaration.plug.name.clone());
    let wall_clock_start = std::time::SystemTime::now();
    let mut firmware = None;
    if rig.file.dut.checked_before_run() {
        firmware = prepare_bench(&rig.file).await?;
    }
    let broker = crate::drivers::broker::start(&rig.file.broker).await?;
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
    match &rig.file.declaration {
        Some(d) => println!(
            "plugrig: the plug's claims: {} ({})",
            d.path.display(),
            d.declaration.plug.name
        ),
        None => println!(
            "plugrig: the plug's claims: the rig file's [dut] (no declaration: `[dut] plug` or --plug)"
        ),
    }
    let advisory_profile = opts.advisory_profile || rig.file.run.advisory_profile;
    if advisory_profile {
        println!("plugrig: [profile] rules are advisory: their failures are reported, not counted");
    }
    let mut services = start_services(&rig.file).await?;
    services.report_dir = opts.report.clone();
    // The rig's own timing jitter, before the first scenario: the oracle's allowance per
    // interval, and the reason timing scenarios it would swamp are skipped (crate::scenario::jitter).
    let jitter =
        crate::scenario::jitter::measure(&broker, crate::scenario::jitter::ap_of(&rig.file.dut)).await?;
    println!("plugrig: {}", jitter.line());
    let provenance = crate::provenance::Provenance {
        rig_name: rig.file.rig.name.clone(),
        rig_path: rig.path.clone(),
        rig_sha256: crate::provenance::sha256_file(&rig.path)
            .with_context(|| format!("reading {} for its SHA-256", rig.path.display()))?,
        declaration: rig
            .file
            .declaration
            .as_ref()
            .map(|d| (d.path.clone(), d.sha256.clone())),
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
        crate::report::redact::Secrets::default()
    } else {
        crate::report::redact::Secrets::new([
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
        counts: Default::default(),
        parsing_errors: 0,
        hook_errors: 0,
        wall: Duration::ZERO,
        failed_rules: Vec::new(),
        failures: Vec::new(),
        records: Vec::new(),
        report_time: Duration::ZERO,
        startup: started.elapsed(),
        ledger_time: Duration::ZERO,
        ledger_run: None,
        quarantine_expired: Vec::new(),
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
        let today = crate::commands::run::quarantine::today(std::time::SystemTime::now());
        q.apply(&mut summary.records, &dut, today);
        summary.quarantine_expired = q.expired(today);
        if let Some((l, id)) = &ledger {
            mark_ready_to_release(l, id, &rig_name, q, &mut summary.records).await?;
        }
    }
    if filter.is_some() {
        // What the tag expression left out: every scenario of the features, outlines
        // counted per example, less those selected (run, skipped or quarantined).
        let all = crate::report::coverage::scenario_count(&features)?;
        summary.counts.not_selected = all.saturating_sub(summary.records.len());
    }
    tally(&mut summary, advisory_profile);
    let failures = summary.failure_report(advisory_profile);
    print!("{failures}");
    let quarantined = crate::commands::run::quarantine::section(&summary.records);
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
        record.not_selected = summary.counts.not_selected;
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
                    passed: summary.counts.passed,
                    failed: summary.counts.failed,
                    skipped: summary.counts.skipped,
                    not_selected: summary.counts.not_selected,
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
        let path = crate::report::statement::write(
            &crate::report::statement::Inputs {
                report_dir: dir,
                records: &summary.records,
                advisory_profile,
                dut: &dut,
                provenance: &provenance,
                declared_name: rig_declared_name.as_deref(),
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
fn quarantine_of(
    opts: &RunOptions,
    rig: &rig::Rig,
) -> anyhow::Result<Option<crate::commands::run::quarantine::Quarantine>> {
    let path = match (&opts.quarantine, &rig.file.run.quarantine) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => rig.path.parent().map_or_else(|| p.clone(), |d| d.join(p)),
        (None, None) => return Ok(None),
    };
    let q = crate::commands::run::quarantine::load(&path).map_err(|e| Usage(format!("{e:#}")))?;
    println!(
        "plugrig: quarantine {}: {} entries",
        path.display(),
        q.entries.len()
    );
    Ok(Some(q))
}

/// Flags the quarantined scenarios that passed at their first attempt in this run and in
/// the ledger's last `release_after - 1` complete runs of this rig: ready to release.
async fn mark_ready_to_release(
    ledger: &crate::ledger::Ledger,
    this_run: &str,
    rig_name: &str,
    q: &crate::commands::run::quarantine::Quarantine,
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
        not_selected: 0,
    }
}

/// The HTML report, `DIR/index.html`.
fn write_html(record: &RunRecord, dir: &Path) -> anyhow::Result<()> {
    crate::report::html::write(record, &dir.join("index.html"))
}

/// A rig's context outside a conformance run (the fuzzer's): a bench checked and flashed,
/// the broker and the services started, the simulated plug built. No scenario runs, so the
/// timing allowance stays 0 (the fuzzer judges no period).
pub async fn context_for(rig: rig::Rig) -> anyhow::Result<Arc<RunContext>> {
    if rig.file.dut.checked_before_run() {
        prepare_bench(&rig.file).await?;
    }
    let broker = crate::drivers::broker::start(&rig.file.broker).await?;
    if let Some(bin) = DutHandle::prebuild(&rig.file.dut).await? {
        println!("plugrig: simulated plug {}", bin.display());
    }
    println!(
        "plugrig: {}, broker {} at {}",
        rig.file.dut.describe(),
        broker.kind,
        broker.addr
    );
    let services = start_services(&rig.file).await?;
    Ok(RunContext::new(rig, broker, services))
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
    let records = HashMap::from([(crate::drivers::ota::UPDATE_HOST.to_string(), v4)]);
    let dns = DnsServer::start(records, SocketAddr::new(rig_host, dns_port)).await?;
    println!("plugrig: update server at {}, DNS at {}", update.addr, dns.addr);
    Ok(Services {
        update,
        dns: dns.addr,
        rig_host,
        report_dir: None,
    })
}
