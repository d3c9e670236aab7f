//! Power metering against the reference meter (spec 3.2.6; PROTOCOL-NOTES
//! "electricity_information"): integer fields in 0.1 V, mA and W, every second, only on
//! plugs of device_type "1".

use std::time::Duration;

use anyhow::{ensure, Context};
use cucumber::{given, then};
use instruments::Measurement;
use instruments::MeterDriver;
use oracle::measure::{Limits, Measurements};
use oracle::payloads::{self, Electricity};

use crate::world::PlugWorld;

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
    if w.meter.is_none() {
        let sim_control = w.plug.sim().ok().map(|s| s.control);
        let (driver, virtual_meter) = instruments::meter::open_meter(&spec, sim_control).await?;
        w.virtual_meter = virtual_meter;
        w.meter = Some(driver);
    }
    let m = w.meter.as_mut().context("meter")?;
    Ok((m, class))
}

fn claimed_accuracy(w: &PlugWorld) -> f64 {
    w.ctx.rig.file.dut.claimed_accuracy_percent()
}

#[given(expr = "a load of {int} W on the plug")]
async fn load(w: &mut PlugWorld, watts: u32) -> anyhow::Result<()> {
    w.plug.sim()?.control(&format!("load {watts}")).await?;
    w.known_load = Some(f64::from(watts));
    Ok(())
}

/// The load's true power when the rig knows it: set by a load driver in this scenario, the
/// simulated socket's load, or a bench's declared fixed load (`dut.load_watts`).
fn known_load(w: &PlugWorld) -> Option<f64> {
    w.known_load.or(w.ctx.rig.file.dut.load_watts())
}

/// Catches wrong units without a reference meter, by physics: the voltage (0.1 V) inside
/// the rig's mains range, real power no more than apparent power (V x I) within the claimed
/// accuracy, current with power, and the power of a known load within the claim. Power in
/// 0.1 W breaks P <= V x I tenfold; voltage in volts falls far below any mains.
fn plausible(e: &Electricity, mains: (f64, f64), claim: f64, load: Option<f64>) -> Result<(), String> {
    let volts = e.voltage as f64 / 10.0;
    let amps = e.current as f64 / 1000.0;
    let watts = e.power as f64;
    if !(mains.0..=mains.1).contains(&volts) {
        return Err(format!(
            "voltage {} (0.1 V) is {volts:.1} V, outside the rig's mains range {:.0}-{:.0} V: is it in 0.1 V?",
            e.voltage, mains.0, mains.1
        ));
    }
    let apparent = volts * amps;
    // One unit of each field's resolution on top of the claim.
    let bound = apparent * (1.0 + claim / 100.0) + (mains.1 * 0.001) + 1.0;
    if watts > bound {
        return Err(format!(
            "power {watts} W exceeds voltage x current = {apparent:.1} VA (bound {bound:.1} W with the claimed {claim} %): is power in W and current in mA?"
        ));
    }
    if let Some(load) = load {
        let tol = load * claim / 100.0 + 1.0;
        if (watts - load).abs() > tol {
            return Err(format!(
                "power {watts} W, the rig's load is {load} W (tolerance {tol:.1} W from the claimed {claim} %)"
            ));
        }
    }
    Ok(())
}

/// Where the samples to judge start: after the one in flight when the step began, so a
/// relay change has settled. `samples` is how many will be judged (for the benchmark's
/// count of protocol waits).
async fn first_settled(w: &PlugWorld, samples: usize) -> anyhow::Result<usize> {
    let (period, tol) = w.periods().cadence();
    crate::bench::protocol_wait(period * (samples as u32 + 1));
    let (_, i, _) = w
        .wait_device(w.mark, "electricity_information", period * 3 + tol)
        .await?;
    Ok(i + 1)
}

/// The next electricity_information at or after timeline index `from`: parsed, as sent,
/// and its index.
async fn next_sample(w: &PlugWorld, from: usize) -> anyhow::Result<(Electricity, String, usize)> {
    let (period, tol) = w.periods().cadence();
    let (p, i, _) = w
        .wait_device(from, "electricity_information", period * 3 + tol)
        .await?;
    Ok((payloads::electricity(&p)?, p, i))
}

#[then(expr = "electricity_information is physically plausible in its units, {int} samples in a row")]
async fn plausible_units(w: &mut PlugWorld, samples: usize) -> anyhow::Result<()> {
    let claim = claimed_accuracy(w);
    let mains = w.ctx.rig.file.rig.mains_range_v;
    let load = known_load(w);
    let mut from = first_settled(w, samples).await?;
    for _ in 0..samples {
        let (e, p, i) = next_sample(w, from).await?;
        plausible(&e, (mains[0], mains[1]), claim, load)
            .map_err(|why| anyhow::anyhow!("{why} (sample {p})"))?;
        from = i + 1;
    }
    Ok(())
}

/// Does the plug's sample agree with the reference within `percent` of reading plus one
/// unit of the protocol's resolution? Each field is recorded as `metering_<field>`: the
/// plug's reading against limits around the reference's.
fn agrees(
    e: &Electricity,
    m: &Measurement,
    percent: f64,
    rec: &mut Measurements,
    at: Duration,
) -> Result<(), String> {
    let checks = [
        ("voltage", e.voltage as f64 / 10.0, m.volts, 0.1, "V"),
        ("current", e.current as f64 / 1000.0, m.amps, 0.001, "A"),
        ("power", e.power as f64, m.watts, 1.0, "W"),
    ];
    let mut bad = None;
    for (name, plug, reference, resolution, unit) in checks {
        let tol = reference.abs() * percent / 100.0 + resolution;
        let pass = rec.record(
            &format!("metering_{name}"),
            unit,
            Limits::within(reference, tol),
            plug,
            at,
        );
        if !pass && bad.is_none() {
            bad = Some(format!(
                "{name}: plug {plug:.3} {unit}, reference {reference:.3} {unit}, tolerance {tol:.3} {unit}"
            ));
        }
    }
    bad.map_or(Ok(()), Err)
}

#[then(expr = "electricity_information agrees with the reference meter, {int} samples in a row")]
async fn agrees_with_reference(w: &mut PlugWorld, samples: usize) -> anyhow::Result<()> {
    let percent = claimed_accuracy(w);
    let (_, class) = meter(w).await?;
    let tolerance = percent + class;
    let mut from = first_settled(w, samples).await?;
    for _ in 0..samples {
        let (e, p, i) = next_sample(w, from).await?;
        let (m, _) = meter(w).await?;
        let r = m.measure().await?;
        let at = w.timeline.now();
        agrees(&e, &r, tolerance, &mut w.measurements, at)
            .map_err(|why| anyhow::anyhow!("{why} (sample {p})"))?;
        from = i + 1;
    }
    Ok(())
}

#[then(expr = "electricity_information arrives every second within tolerance, {int} times in a row")]
async fn cadence(w: &mut PlugWorld, times: usize) -> anyhow::Result<()> {
    let (period, tol) = w.periods().cadence();
    crate::bench::protocol_wait(period * times as u32);
    let mut from = w.mark;
    for _ in 0..=times {
        let (p, i, _) = w
            .wait_device(from, "electricity_information", period * 3 + tol)
            .await?;
        payloads::electricity(&p)?;
        from = i + 1;
    }
    let at: Vec<Duration> = w
        .tap_publishes(w.mark, "electricity_information")?
        .into_iter()
        .map(|(t, _)| t)
        .take(times + 1)
        .collect();
    let gaps: Vec<(Duration, Duration)> = at.windows(2).map(|p| (p[1], p[1].saturating_sub(p[0]))).collect();
    let periods = w.periods();
    periods
        .judge_intervals("electricity_interval", &gaps, (period, tol), &mut w.measurements)
        .map_err(|e| anyhow::anyhow!("electricity_information cadence: {e}"))
}

#[then("the plug reports zero current and power within 2 s")]
async fn zero(w: &mut PlugWorld) -> anyhow::Result<()> {
    let within = w.periods().app(2.0) + Duration::from_millis(200);
    let topic = w.identity()?.device_topic("electricity_information");
    w.timeline
        .wait_for(
            w.command_mark,
            within,
            "electricity_information with 0 mA and 0 W",
            |e| match &e.event {
                crate::timeline::Event::AppReceived { topic: t, payload } if *t == topic => {
                    payloads::electricity(payload)
                        .ok()
                        .filter(|e| e.current == 0 && e.power == 0)
                }
                _ => None,
            },
        )
        .await?;
    Ok(())
}

#[given("a provisioned plug without power monitoring")]
async fn no_power_monitoring(w: &mut PlugWorld) -> anyhow::Result<()> {
    w.respawn_with_device_type("0").await?;
    w.mark = super::provisioning::provision(w, 1, 60, 1).await?;
    ensure!(
        w.identity()?.device_type == "0",
        "the plug's 4001 reply says device_type {:?}",
        w.identity()?.device_type
    );
    Ok(())
}

#[then(expr = "no electricity_information arrives for {int} s")]
async fn none(w: &mut PlugWorld, secs: u64) -> anyhow::Result<()> {
    let window = w.periods().app(secs as f64);
    crate::bench::protocol_wait(window);
    tokio::time::sleep(window).await;
    let topic = w.identity()?.device_topic("electricity_information");
    w.timeline.none_since(
        0,
        "electricity_information from a plug of device_type \"0\"",
        |e| matches!(&e.event, crate::timeline::Event::AppReceived { topic: t, .. } if *t == topic),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: Measurement = Measurement {
        volts: 230.0,
        amps: 0.4348,
        watts: 100.0,
    };

    #[test]
    fn a_sample_within_tolerance_agrees() {
        let e = Electricity {
            voltage: 2309,
            current: 436,
            power: 100,
        };
        assert_eq!(
            agrees(&e, &REF, 3.0, &mut Measurements::default(), Duration::ZERO),
            Ok(())
        );
    }

    #[test]
    fn wrong_units_are_implausible_without_a_reference() {
        let mains = (90.0, 264.0);
        let good = Electricity {
            voltage: 2300,
            current: 261,
            power: 60,
        };
        assert_eq!(plausible(&good, mains, 2.0, Some(60.0)), Ok(()));
        assert_eq!(plausible(&good, mains, 2.0, None), Ok(()));
        let deciwatts = Electricity { power: 600, ..good };
        assert!(plausible(&deciwatts, mains, 2.0, None)
            .unwrap_err()
            .starts_with("power"));
        let volts = Electricity { voltage: 230, ..good };
        assert!(plausible(&volts, mains, 2.0, None)
            .unwrap_err()
            .starts_with("voltage"));
        let wrong_load = Electricity { power: 50, ..good };
        assert!(plausible(&wrong_load, mains, 2.0, Some(60.0)).is_err());
    }

    #[test]
    fn a_wrong_unit_is_caught() {
        // Power in 0.1 W instead of W.
        let e = Electricity {
            voltage: 2300,
            current: 435,
            power: 1000,
        };
        let mut rec = Measurements::default();
        assert!(agrees(&e, &REF, 3.0, &mut rec, Duration::ZERO)
            .unwrap_err()
            .starts_with("power"));
        assert_eq!(rec.all().len(), 3, "every field recorded");
        assert!(!rec.all()[2].pass);
        // Voltage in V instead of 0.1 V.
        let e = Electricity {
            voltage: 230,
            current: 435,
            power: 100,
        };
        assert!(
            agrees(&e, &REF, 3.0, &mut Measurements::default(), Duration::ZERO)
                .unwrap_err()
                .starts_with("voltage")
        );
    }
}
