//! The external rig's figure: the same scenarios on a black-box plug (a hand-started
//! plug-sim driven as `kind = "external"`, `tests/support/standin.rs`), with the bench
//! strategy keeping a connected plug between scenarios and without it. Each run's wall time
//! is set against the waits the protocol itself imposes in it, and the AP joins are
//! counted. A bench's AP join (nmcli associating with the plug's access point and getting
//! a lease) is modelled by a command that takes 1 s: real ones take 3-10 s, so the saving
//! on a bench is larger than the one printed here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use plugrig::commands::run::{self, RunOptions};
use plugrig::scenario::figures::take_protocol_wait;

#[path = "../../tests/support/standin.rs"]
mod standin;

/// Connected starts (switch, countdown, firmware_infor) between factory starts
/// (provisioning, reset), as in `tests/bench_strategy.rs`.
const TAGS: &str = "@switch or @countdown or @firmware_infor or @reset or @provisioning and not @errors";

struct Figure {
    wall: Duration,
    protocol: Duration,
    joins: usize,
}

fn rig_file(dir: &Path, plug: &standin::StandIn, reuse: bool) -> anyhow::Result<(PathBuf, PathBuf)> {
    let joins = dir.join(format!("joins-{reuse}"));
    std::fs::write(&joins, "")?;
    let text = format!(
        "[rig]\nname = \"external-bench\"\ntime_scale = 10\n\n[dut]\n{dut}\
         broker_host = \"127.0.0.1\"\npower_monitoring = true\n\n\
         [dut.ap_network]\nkind = \"command\"\n\
         join = [\"bash\", \"-c\", \"sleep 1; echo >> '{joins}'\"]\nleave = [\"true\"]\n\
         {broker}\n[run]\nreuse_connected = {reuse}\n",
        dut = plug.dut_keys(),
        joins = joins.display(),
        broker = standin::BROKER_AND_RUN,
    );
    let path = dir.join(format!("external-{reuse}.toml"));
    std::fs::write(&path, text)?;
    Ok((path, joins))
}

fn run(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    plug: &standin::StandIn,
    reuse: bool,
) -> anyhow::Result<Figure> {
    let (rig, joins) = rig_file(dir, plug, reuse)?;
    take_protocol_wait();
    let s = rt.block_on(run::run(RunOptions {
        tags: Some(TAGS.into()),
        ..RunOptions::new(rig)
    }))?;
    anyhow::ensure!(
        s.counts.failed == 0,
        "the external run failed {} scenarios",
        s.counts.failed
    );
    Ok(Figure {
        wall: s.wall,
        protocol: take_protocol_wait(),
        joins: std::fs::read_to_string(joins)?.lines().count(),
    })
}

/// "wall / protocol waits" with and without reuse, from two runs on one stand-in plug.
pub fn external_suite_figure(rt: &tokio::runtime::Runtime) -> anyhow::Result<String> {
    let bin = standin::plug_sim_binary();
    let args: Vec<String> = ["--time-scale", "10"].iter().map(|s| s.to_string()).collect();
    let plug = standin::StandIn::start(std::process::Command::new(&bin), &args);
    let dir = tempfile::tempdir()?;
    let kept = run(rt, dir.path(), &plug, true)?;
    let reset = run(rt, dir.path(), &plug, false)?;
    let line = |f: &Figure| {
        format!(
            "{:.1} s / {:.1} s = {:.2}, {} AP joins",
            f.wall.as_secs_f64(),
            f.protocol.as_secs_f64(),
            f.wall.as_secs_f64() / f.protocol.as_secs_f64().max(1e-9),
            f.joins
        )
    };
    Ok(format!(
        "{} (plug kept between scenarios) vs {} (reset after each); wall ratio {:.2}",
        line(&kept),
        line(&reset),
        kept.wall.as_secs_f64() / reset.wall.as_secs_f64().max(1e-9)
    ))
}
