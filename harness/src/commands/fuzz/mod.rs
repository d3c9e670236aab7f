//! `plugrig fuzz`: black-box fuzzing of any plug through its AP socket and its MQTT topics,
//! with the protocol as the oracle. Protocol fuzzers (boofuzz, AFLNet) watch a target for
//! crashes; this one also checks, after every input, that the plug still keeps the
//! protocol's promises (`probe`), on any rig the suite runs on: the simulated one, an
//! external plug, the virtual bench.
//!
//! Inputs come from the protocol's grammar (`generate`), each reproducible from the seed and
//! its index. A plug serves at most `batch` inputs before a fresh one (a simulated plug is
//! started anew; an external one is brought back to AP mode by the rig's strategy), so a
//! finding is replayed from a known state: its inputs are cut down by delta debugging
//! (`minimize`) and saved as a reproducer (`reproducer`) that `--replay` sends again.
//! Bounded: a time budget and an input budget; loopback or the rig's own plug only.
//!
//! The run ends with one line, `fuzz: N findings in I inputs (T s)`, and exits 1 when N > 0.

pub mod generate;
pub mod input;
pub mod minimize;
pub mod probe;
pub mod report;
pub mod reproducer;
pub mod verdict;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

pub use generate::Target;
use probe::{After, Mode, Session};
use reproducer::{Reproducer, Sent};

use crate::scenario::world::{RunContext, CONTEXT};

#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub rig: PathBuf,
    pub plug: Option<PathBuf>,
    pub target: Target,
    /// Time for generated inputs (minimizing a finding is bounded apart).
    pub budget: Duration,
    /// At most this many inputs.
    pub max_inputs: Option<u64>,
    pub seed: u64,
    /// Reports, reproducers and captures go here.
    pub report: Option<PathBuf>,
    /// Inputs one plug serves before a fresh one.
    pub batch: usize,
}

impl FuzzOptions {
    pub fn new(rig: PathBuf) -> FuzzOptions {
        FuzzOptions {
            rig,
            plug: None,
            target: Target::Both,
            budget: Duration::from_secs(60),
            max_inputs: None,
            seed: 0,
            report: None,
            batch: 40,
        }
    }
}

/// Inputs sent on one side and the time they took (oracle included).
#[derive(Debug, Default, Clone, Copy)]
pub struct Rate {
    pub inputs: u64,
    pub time: Duration,
}

impl Rate {
    pub fn rate(&self) -> f64 {
        if self.time.is_zero() {
            0.0
        } else {
            self.inputs as f64 / self.time.as_secs_f64()
        }
    }
}

/// A finding of the run: its reproducer, where it was saved, and how often the same
/// class and rule came up again.
#[derive(Debug, Clone)]
pub struct Found {
    pub reproducer: Reproducer,
    pub file: Option<PathBuf>,
    pub seen: usize,
}

#[derive(Debug, Clone)]
pub struct FuzzSummary {
    pub rig: String,
    pub target: String,
    pub seed: u64,
    pub inputs: u64,
    pub ap: Rate,
    pub mqtt: Rate,
    pub findings: Vec<Found>,
    pub wall: Duration,
}

impl FuzzSummary {
    /// The closing line.
    pub fn line(&self) -> String {
        format!(
            "fuzz: {} findings in {} inputs ({:.1} s)",
            self.findings.len(),
            self.inputs,
            self.wall.as_secs_f64()
        )
    }

    pub fn exit_code(&self) -> u8 {
        u8::from(!self.findings.is_empty())
    }
}

/// A rig's context for fuzzing: its broker and services, its plug built or checked.
async fn context(opts: &FuzzOptions) -> anyhow::Result<Arc<RunContext>> {
    let rig = crate::rig::load_with(&opts.rig, opts.plug.as_deref())?;
    crate::commands::run::context_for(rig).await
}

/// Fuzzes for the budget.
pub async fn run(opts: FuzzOptions) -> anyhow::Result<FuzzSummary> {
    let ctx = context(&opts).await?;
    CONTEXT.scope(ctx.clone(), campaign(opts, ctx)).await
}

/// Sends a reproducer's inputs to a fresh plug: the finding again, or None.
pub async fn replay(
    rig: PathBuf,
    plug: Option<PathBuf>,
    file: PathBuf,
) -> anyhow::Result<Option<probe::Finding>> {
    let r = Reproducer::load(&file)?;
    let opts = FuzzOptions {
        plug,
        ..FuzzOptions::new(rig)
    };
    let ctx = context(&opts).await?;
    CONTEXT
        .scope(ctx, async move {
            let first = &r.inputs[0].input;
            let mut s = Session::open(Mode::of(first)).await?;
            let mut found = None;
            for i in &r.inputs {
                println!("replay: {}", i.input.describe());
                match s.send(&i.input, i.expect).await {
                    Err(f) => {
                        found = Some(f);
                        break;
                    }
                    Ok(After::Fresh(why)) => println!("replay: {why}"),
                    Ok(After::Continue) => {}
                }
            }
            s.close("replay").await;
            Ok(found)
        })
        .await
}

/// The median time of one 4001 request on a new connection to a fresh plug of `rig`, over
/// `n` requests: the AP fuzzer's limit (each of its inputs is at least one connection
/// and a liveness 4001).
pub async fn ap_round_trip(rig: PathBuf, n: usize) -> anyhow::Result<Duration> {
    let ctx = context(&FuzzOptions::new(rig)).await?;
    CONTEXT
        .scope(ctx, async move {
            let s = Session::open(Mode::Ap).await?;
            let addr = s.world.ap_addr().await?;
            let mut times = Vec::with_capacity(n);
            for _ in 0..n {
                let t0 = Instant::now();
                crate::drivers::ap_link::ApLink::request_fresh(
                    addr,
                    &oracle::ap::device_info(),
                    s.world.timeline.clone(),
                    Duration::from_secs(5),
                )
                .await?;
                times.push(t0.elapsed());
            }
            s.close("round-trip").await;
            Ok(crate::scenario::figures::quantile(&mut times, 0.5))
        })
        .await
}

struct Open {
    session: Session,
    /// The inputs this plug has had, with their indices.
    sent: Vec<(u64, Sent)>,
}

async fn campaign(opts: FuzzOptions, ctx: Arc<RunContext>) -> anyhow::Result<FuzzSummary> {
    let started = Instant::now();
    let mut summary = FuzzSummary {
        rig: opts.rig.display().to_string(),
        target: format!("{:?}", opts.target).to_lowercase(),
        seed: opts.seed,
        inputs: 0,
        ap: Rate::default(),
        mqtt: Rate::default(),
        findings: Vec::new(),
        wall: Duration::ZERO,
    };
    // One reproducer per class and rule; the same again is counted.
    let mut known: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut open: Option<Open> = None;
    let mut sessions = 0usize;
    let mut index = 0u64;
    println!(
        "plugrig: fuzzing {} on {} (seed {}, budget {:.0} s{})",
        summary.target,
        summary.rig,
        opts.seed,
        opts.budget.as_secs_f64(),
        opts.max_inputs
            .map_or(String::new(), |n| format!(" or {n} inputs"))
    );
    while started.elapsed() < opts.budget && opts.max_inputs.is_none_or(|m| index < m) {
        let g = generate::input(opts.seed, index, opts.target);
        let mode = Mode::of(&g.input);
        let stale = open
            .as_ref()
            .is_some_and(|o| o.session.mode != mode || o.sent.len() >= opts.batch);
        if stale {
            if let Some(o) = open.take() {
                o.session.close(&format!("session-{sessions}")).await;
            }
        }
        let o = match open.as_mut() {
            Some(o) => o,
            None => {
                sessions += 1;
                let session = Session::open(mode).await.with_context(|| {
                    format!("the rig could not bring the plug to {mode:?} mode for fuzzing")
                })?;
                open.insert(Open {
                    session,
                    sent: Vec::new(),
                })
            }
        };
        let sent = Sent {
            input: g.input,
            expect: g.expect_code,
        };
        let t0 = Instant::now();
        let result = o.session.send(&sent.input, sent.expect).await;
        let rate = if mode == Mode::Ap {
            &mut summary.ap
        } else {
            &mut summary.mqtt
        };
        rate.inputs += 1;
        rate.time += t0.elapsed();
        summary.inputs += 1;
        o.sent.push((index, sent));
        index += 1;
        match result {
            Ok(After::Continue) => {}
            Ok(After::Fresh(_)) => {
                if let Some(o) = open.take() {
                    o.session.close(&format!("session-{sessions}")).await;
                }
            }
            Err(f) => {
                let Some(o) = open.take() else { continue };
                let key = (f.class.name().to_string(), f.rule.clone());
                if let Some(n) = known.get(&key).copied() {
                    summary.findings[n].seen += 1;
                    o.session.close(&format!("session-{sessions}")).await;
                    continue;
                }
                let found = keep(&opts, &ctx, f, o, summary.findings.len() + 1).await?;
                known.insert(key, summary.findings.len());
                summary.findings.push(found);
            }
        }
    }
    if let Some(o) = open.take() {
        o.session.close(&format!("session-{sessions}")).await;
    }
    summary.wall = started.elapsed();
    if let Some(dir) = &opts.report {
        report::write(&summary, dir)?;
        println!("plugrig: report {}", dir.join("fuzz.html").display());
    }
    Ok(summary)
}

/// A new finding: its session's timeline and capture kept, its inputs minimized, its
/// reproducer saved.
async fn keep(
    opts: &FuzzOptions,
    ctx: &Arc<RunContext>,
    f: probe::Finding,
    o: Open,
    n: usize,
) -> anyhow::Result<Found> {
    println!(
        "FINDING {n}: {} ({}): {}\n  after {}",
        f.class.name(),
        f.rule,
        f.why,
        o.sent.last().map(|(_, s)| s.input.describe()).unwrap_or_default()
    );
    let timeline: Vec<String> = o
        .session
        .world
        .timeline
        .snapshot()
        .iter()
        .map(ToString::to_string)
        .collect();
    let capture = opts.report.as_ref().and_then(|dir| {
        let rel = PathBuf::from("captures").join(format!("finding-{n}.pcapng"));
        o.session
            .world
            .tap
            .capture()
            .write_pcapng(&dir.join(&rel))
            .ok()
            .map(|_| rel)
    });
    o.session.close(&format!("finding-{n}")).await;
    let indices: Vec<u64> = o.sent.iter().map(|(i, _)| *i).collect();
    let seq: Vec<Sent> = o.sent.into_iter().map(|(_, s)| s).collect();
    let bytes_found: usize = seq.iter().map(|s| s.input.len()).sum();
    let mut budget = minimize::Budget::new(48, Duration::from_secs(90));
    let started = Instant::now();
    let inputs = minimize::minimize(seq.clone(), f.class, &mut budget).await?;
    let bytes_minimized: usize = inputs.iter().map(|s| s.input.len()).sum();
    println!(
        "  minimized in {:.1} s: {} input(s), {bytes_found} -> {bytes_minimized} bytes: {}",
        started.elapsed().as_secs_f64(),
        inputs.len(),
        inputs.last().map(|s| s.input.describe()).unwrap_or_default()
    );
    let reproducer = Reproducer {
        format: reproducer::FORMAT.into(),
        finding: f,
        seed: opts.seed,
        indices,
        inputs,
        bytes_found,
        bytes_minimized,
        timeline,
        capture,
        rig: ctx.rig.path.display().to_string(),
        note: None,
    };
    let dir = opts
        .report
        .clone()
        .unwrap_or_else(|| crate::workspace::workspace_dir().join("target/plugrig-fuzz"));
    let file = PathBuf::from("findings").join(format!("finding-{n}.json"));
    reproducer.save(&dir.join(&file))?;
    println!("  reproducer {}", dir.join(&file).display());
    Ok(Found {
        reproducer,
        file: Some(if opts.report.is_some() {
            file
        } else {
            dir.join(file)
        }),
        seen: 1,
    })
}

/// A time budget: seconds, or a number with s, m or h.
pub fn parse_budget(text: &str) -> Result<std::time::Duration, String> {
    let (n, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{text:?}: a number, then s, m or h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?}: a number, then s, m or h")),
    };
    if secs == 0 {
        return Err("a budget of at least 1 s".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}
