//! Power metering against the reference meter (spec 3.2.6; PROTOCOL-NOTES
//! "electricity_information"): integer fields in 0.1 V, mA and W, every second, only on
//! plugs of device_type "1".

use std::time::Duration;

use anyhow::{ensure, Context};
use cucumber::{given, then};
use instruments::MeterDriver;
use oracle::metering::{self, Reading};
use oracle::payloads::{self, Electricity};

use crate::drivers::timeline::Mark;
use crate::scenario::observe::Side;
use crate::scenario::world::PlugWorld;

/// Opens the rig's reference meter for this scenario (a virtual one on the simulated rig).
/// Returns it with its accuracy class, percent of reading.
async fn meter(w: &mut PlugWorld) -> anyhow::Result<(&mut MeterDriver, f64)> {
    let spec = w
        .ctx
        .rig
        .file
        .meter
        .clone()
        .context("the rig has no reference meter ([meter] in the rig file)")?;
    let class = spec.class_percent();
    if w.metering.meter.is_none() {
        let sim_control = w.plug.sim().ok().map(|s| s.control);
        let (driver, virtual_meter) = instruments::meter::open_meter(&spec, sim_control).await?;
        w.metering.virtual_meter = virtual_meter;
        w.metering.meter = Some(driver);
    }
    let m = w.metering.meter.as_mut().context("meter")?;
    Ok((m, class))
}

fn claimed_accuracy(w: &PlugWorld) -> f64 {
    w.ctx.rig.file.dut.claimed_accuracy_percent()
}

#[given(expr = "a load of {int} W on the plug")]
async fn load(w: &mut PlugWorld, watts: u32) -> anyhow::Result<()> {
    w.plug.sim()?.control(&format!("load {watts}")).await?;
    w.metering.known_load = Some(f64::from(watts));
    Ok(())
}

/// The load's true power when the rig knows it: set by a load driver in this scenario, the
/// simulated socket's load, or a bench's declared fixed load (`dut.load_watts`).
fn known_load(w: &PlugWorld) -> Option<f64> {
    w.metering.known_load.or(w.ctx.rig.file.dut.load_watts())
}

/// Where the samples to judge start: after the one in flight when the step began, so a
/// relay change has settled. `samples` is how many will be judged (for the benchmark's
/// count of protocol waits).
async fn first_settled(w: &PlugWorld, samples: usize) -> anyhow::Result<Mark> {
    let (period, _) = w.periods().cadence();
    w.protocol_wait(period * (samples as u32 + 1));
    Ok(next_sample(w, w.mark).await?.2.after())
}

/// The next electricity_information at or after timeline position `from`: parsed, as sent,
/// and its index.
async fn next_sample(w: &PlugWorld, from: Mark) -> anyhow::Result<(Electricity, String, Mark)> {
    let (period, tol) = w.periods().cadence();
    let (p, i, _) = w
        .wait_device(from, "electricity_information", period * 3 + tol)
        .await?;
    Ok((payloads::electricity(&p)?, p, i))
}

#[then(expr = "electricity_information is physically plausible in its units, {int} samples in a row")]
async fn plausible_units(w: &mut PlugWorld, samples: usize) -> anyhow::Result<()> {
    let (claim, load, [low, high]) = (
        claimed_accuracy(w),
        known_load(w),
        w.ctx.rig.file.rig.mains_range_v,
    );
    let mut from = first_settled(w, samples).await?;
    for _ in 0..samples {
        let (e, p, i) = next_sample(w, from).await?;
        metering::plausible(&e, (low, high), claim, load)
            .map_err(|why| anyhow::anyhow!("{why} (sample {p})"))?;
        from = i.after();
    }
    Ok(())
}

#[then(expr = "electricity_information agrees with the reference meter, {int} samples in a row")]
async fn agrees_with_reference(w: &mut PlugWorld, samples: usize) -> anyhow::Result<()> {
    let tolerance = claimed_accuracy(w) + meter(w).await?.1;
    let mut from = first_settled(w, samples).await?;
    for _ in 0..samples {
        let (e, p, i) = next_sample(w, from).await?;
        let r = meter(w).await?.0.measure().await?;
        let (reading, at) = (
            Reading {
                volts: r.volts,
                amps: r.amps,
                watts: r.watts,
            },
            w.timeline.now(),
        );
        metering::agrees(&e, &reading, tolerance, &mut w.measurements, at)
            .map_err(|why| anyhow::anyhow!("{why} (sample {p})"))?;
        from = i.after();
    }
    Ok(())
}

#[then(expr = "electricity_information arrives every second within tolerance, {int} times in a row")]
async fn cadence(w: &mut PlugWorld, times: usize) -> anyhow::Result<()> {
    let (period, tol) = w.periods().cadence();
    w.protocol_wait(period * times as u32);
    let at = w
        .series(w.mark, "electricity_information", times + 1, period * 3 + tol)
        .await?;
    w.published(w.mark, "electricity_information", payloads::electricity)?;
    let periods = w.periods();
    periods
        .judge_series("electricity_interval", &at, (period, tol), &mut w.measurements)
        .map_err(|e| anyhow::anyhow!("electricity_information cadence: {e}"))
}

#[then("the plug reports zero current and power within 2 s")]
async fn zero(w: &mut PlugWorld) -> anyhow::Result<()> {
    let within = w.periods().app(2.0) + Duration::from_millis(200);
    let zero = |p: &str| {
        payloads::electricity(p)
            .ok()
            .filter(|e| e.current == 0 && e.power == 0)
    };
    let what = "electricity_information with 0 mA and 0 W";
    w.next_message(
        Side::App,
        w.command_mark,
        "electricity_information",
        within,
        what,
        zero,
    )
    .await
    .map(drop)
}

#[given("a provisioned plug without power monitoring")]
async fn no_power_monitoring(w: &mut PlugWorld) -> anyhow::Result<()> {
    w.respawn_with_device_type("0").await?;
    w.mark = super::provisioning::provision(w, 1, 60, 1).await?;
    let device_type = &w.identity()?.device_type;
    ensure!(
        device_type == "0",
        "the plug's 4001 reply says device_type {device_type:?}"
    );
    Ok(())
}

#[then(expr = "no electricity_information arrives for {int} s")]
async fn none(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    w.watch(w.periods().app(secs as f64)).await;
    let topic = w.identity()?.device_topic("electricity_information");
    w.timeline.none_since(
        Mark::START,
        "electricity_information from a plug of device_type \"0\"",
        |e| matches!(&e.event, crate::drivers::timeline::Event::AppReceived { topic: t, .. } if *t == topic),
    )
}
