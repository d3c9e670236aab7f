//! `cargo bench -p plugrig`: how long the suite takes against the waits the protocol
//! imposes, and how long an app switch command takes to come back from the plug against
//! the broker's own round trip, both measured in this run.

#[path = "support/external.rs"]
mod external;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plugrig::commands::run::{self, RunOptions};
use plugrig::drivers::app::App;
use plugrig::drivers::timeline::{Event, Timeline};
use plugrig::scenario::figures::{quantile, take_protocol_wait, take_round_trips};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The broker alone: an app client publishing to a topic it subscribes to, through the
/// same loopback forwarder (`tap::forward::Forwarder`) every app client uses, so the baseline is the app's
/// own path minus the plug.
async fn broker_round_trips(n: usize) -> anyhow::Result<Vec<Duration>> {
    let rig = plugrig::rig::load(&run::default_rig())?;
    let broker = plugrig::drivers::broker::start(&rig.file.broker).await?;
    let tl = Arc::new(Timeline::default());
    let mut app = App::connect(&broker, tl.clone()).await?;
    app.subscribe("plugrig/bench/#").await?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let from = tl.mark();
        let sent = Instant::now();
        app.publish("plugrig/bench/echo", &format!("{i}")).await?;
        tl.wait_for(from, Duration::from_secs(2), "the echo", |e| match &e.event {
            Event::AppReceived { payload, .. } if *payload == i.to_string() => Some(()),
            _ => None,
        })
        .await?;
        out.push(sent.elapsed());
    }
    Ok(out)
}

/// Bytes of every file under `dir`.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// 100 runs of `records` appended to a new SQLite ledger, then its history page: the time
/// to append them, the time to read and render the page, and its size.
async fn history_figures(
    records: &[plugrig::scenario::record::ScenarioRecord],
    dir: &Path,
) -> anyhow::Result<(Duration, Duration, u64)> {
    use plugrig::ledger::{Ledger, RunFilter, RunResults};
    use plugrig::provenance::{Firmware, Provenance};
    let db = dir.join("synthetic.db").display().to_string();
    let ledger = Ledger::open(&db).await?;
    let dut = plugrig::scenario::record::DutIdentity::default();
    let started = Instant::now();
    for night in 0..100u64 {
        let p = Provenance {
            rig_name: "sim".into(),
            rig_path: "rigs/sim.toml".into(),
            rig_sha256: "0".repeat(64),
            declaration: None,
            firmware: Some(Firmware {
                what: "plug-sim binary".into(),
                path: "plug-sim".into(),
                sha256: format!("{night:064x}"),
                flags: String::new(),
            }),
            host: "bench".into(),
            time_scale: 10,
            jitter: String::new(),
            started: std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * night),
            tags: None,
            features: Vec::new(),
        };
        let id = ledger.begin_run(&p).await?;
        let results = RunResults {
            scenarios: records,
            dut: &dut,
            passed: records.len(),
            failed: 0,
            skipped: 0,
            not_selected: 0,
            wall: Duration::from_secs(13),
            ended: p.started + Duration::from_secs(13),
        };
        ledger.finish_run(&id, &results).await?;
    }
    let append = started.elapsed();
    let started = Instant::now();
    let page = plugrig::ledger::page::write(&db, &RunFilter::default(), &dir.join("history")).await?;
    let render = started.elapsed();
    Ok((append, render, std::fs::metadata(page)?.len()))
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let rig = run::default_rig();
    let concurrency = plugrig::rig::load(&rig)?.file.run.concurrency;

    take_protocol_wait();
    let reports = tempfile::tempdir()?;
    let ledger_dir = tempfile::tempdir()?;
    let ledger_db = ledger_dir.path().join("ledger.db").display().to_string();
    let s = rt.block_on(run::run(RunOptions {
        report: Some(reports.path().to_path_buf()),
        history: Some(ledger_db.clone()),
        ..RunOptions::new(rig.clone())
    }))?;
    let waits = take_protocol_wait();
    anyhow::ensure!(s.ok(), "the suite did not pass: {}", s.line());
    // The critical path: no schedule finishes before its longest scenario's own waits, nor
    // before the summed waits spread over the concurrency.
    let longest = s
        .records
        .iter()
        .max_by_key(|r| r.world.protocol_wait)
        .map(|r| (r.name.clone(), r.world.protocol_wait))
        .unwrap_or_default();
    let spread = waits.div_f64(concurrency as f64);
    let critical = longest.1.max(spread);

    let features = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/features/round_trip.feature");
    take_round_trips();
    let r = rt.block_on(run::run(RunOptions {
        features: vec![features],
        ..RunOptions::new(rig)
    }))?;
    anyhow::ensure!(r.ok(), "the round-trip run did not pass: {}", r.line());
    let mut plug = take_round_trips();
    let mut response = plugrig::scenario::figures::take_plug_responses();
    let mut broker = rt.block_on(broker_round_trips(plug.len().max(1)))?;

    let (p50, p99) = (quantile(&mut plug, 0.5), quantile(&mut plug, 0.99));
    let (b50, b99) = (quantile(&mut broker, 0.5), quantile(&mut broker, 0.99));
    println!();
    println!(
        "suite ({} scenarios, {concurrency} at once, default rig)",
        s.counts.passed
    );
    println!(
        "  wall time                         {:>9.2} s",
        s.wall.as_secs_f64()
    );
    println!(
        "  protocol waits, summed            {:>9.2} s",
        waits.as_secs_f64()
    );
    println!(
        "  protocol waits / concurrency      {:>9.2} s",
        waits.as_secs_f64() / concurrency as f64
    );
    println!(
        "  longest scenario's waits          {:>9.2} s ({})",
        longest.1.as_secs_f64(),
        longest.0
    );
    println!(
        "  critical path (the larger)        {:>9.2} s",
        critical.as_secs_f64()
    );
    println!(
        "  wall / critical path              {:>9.2}",
        s.wall.as_secs_f64() / critical.as_secs_f64().max(1e-9)
    );
    println!(
        "  start-up before the first scenario{:>9.2} s (rig, broker, services, jitter probe)",
        s.startup.as_secs_f64()
    );
    let report_bytes = dir_size(reports.path());
    println!(
        "  writing the reports (--report)    {:>9.2} s = {:.1} % of the wall time, {:.2} MB",
        s.report_time.as_secs_f64(),
        100.0 * s.report_time.as_secs_f64() / s.wall.as_secs_f64().max(1e-9),
        report_bytes as f64 / 1e6
    );
    println!(
        "  appending the run to the ledger     {:>9.3} s = {:.2} % of the wall time (SQLite)",
        s.ledger_time.as_secs_f64(),
        100.0 * s.ledger_time.as_secs_f64() / s.wall.as_secs_f64().max(1e-9)
    );
    let (append, render, bytes) = rt.block_on(history_figures(&s.records, ledger_dir.path()))?;
    println!(
        "the run ledger's history page over 100 runs of {} scenarios (made from this run)",
        s.records.len()
    );
    println!(
        "  appending the 100 runs             {:>9.2} s ({:.1} ms a run)",
        append.as_secs_f64(),
        append.as_secs_f64() * 10.0
    );
    println!(
        "  plugrig history (read and render)  {:>9.2} s, {:.2} MB",
        render.as_secs_f64(),
        bytes as f64 / 1e6
    );
    println!("switch round trip, app -> plug -> app ({} commands)", plug.len());
    println!("  p50 {:>8.2} ms   p99 {:>8.2} ms", ms(p50), ms(p99));
    println!("  of which the plug itself, command in to echo out on the tap:");
    println!(
        "  p50 {:>8.2} ms   p99 {:>8.2} ms",
        ms(quantile(&mut response, 0.5)),
        ms(quantile(&mut response, 0.99))
    );
    println!("broker round trip, app -> broker -> app (baseline, same run)");
    println!("  p50 {:>8.2} ms   p99 {:>8.2} ms", ms(b50), ms(b99));
    println!(
        "  ratio p50 {:>6.2}   ratio p99 {:>6.2}",
        ms(p50) / ms(b50).max(1e-9),
        ms(p99) / ms(b99).max(1e-9)
    );
    // The three figures issue 13's acceptance names, from this one run.
    println!("acceptance figures (this run)");
    println!(
        "  sim suite wall / critical path                         {:>7.2} ({:.2} s / {:.2} s)",
        s.wall.as_secs_f64() / critical.as_secs_f64().max(1e-9),
        s.wall.as_secs_f64(),
        critical.as_secs_f64()
    );
    println!(
        "  external suite wall / protocol waits                   {}",
        external::external_suite_figure(&rt).unwrap_or_else(|e| format!("not measured: {e:#}"))
    );
    println!(
        "  app round trip p50/p99 vs broker round trip p50/p99    {:.2}/{:.2} ms vs {:.2}/{:.2} ms",
        ms(p50),
        ms(p99),
        ms(b50),
        ms(b99)
    );
    fuzz_figures(&rt, &run::default_rig())?;
    Ok(())
}

/// `plugrig fuzz` on the default rig: inputs per second on the AP socket and on MQTT, each
/// for 10 s, against one AP round trip (a 4001 on a new connection) measured in this run.
fn fuzz_figures(rt: &tokio::runtime::Runtime, rig: &Path) -> anyhow::Result<()> {
    use plugrig::commands::fuzz::{self, FuzzOptions, Target};
    let rtt = rt.block_on(fuzz::ap_round_trip(rig.to_path_buf(), 200))?;
    let run = |target| {
        rt.block_on(fuzz::run(FuzzOptions {
            target,
            budget: Duration::from_secs(10),
            ..FuzzOptions::new(rig.to_path_buf())
        }))
    };
    let ap = run(Target::Ap)?;
    let mqtt = run(Target::Mqtt)?;
    let limit = 1.0 / rtt.as_secs_f64().max(1e-9);
    println!();
    println!("fuzz (plugrig fuzz, 10 s per side, default rig)");
    println!(
        "  AP round trip (4001 on a new connection) p50      {:>8.2} ms: limit {limit:.0} inputs/s",
        ms(rtt)
    );
    println!(
        "  AP inputs/s (input + liveness 4001)               {:>8.1}   ({:.3} of the limit; {} findings)",
        ap.ap.rate(),
        ap.ap.rate() / limit,
        ap.findings.len()
    );
    println!(
        "  MQTT inputs/s (publish + firmware_infor probe)    {:>8.1}   ({:.3} of the limit; {} findings)",
        mqtt.mqtt.rate(),
        mqtt.mqtt.rate() / limit,
        mqtt.findings.len()
    );
    Ok(())
}
