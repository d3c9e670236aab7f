//! Power metering against the reference meter (spec 3.2.6; PROTOCOL-NOTES
//! "electricity_information"): integer fields in 0.1 V, mA and W, every second, only on
//! plugs of device_type "1".

use std::time::Duration;

use anyhow::{ensure, Context};
use cucumber::{given, then};

use crate::instruments::Measurement;
use crate::instruments::MeterDriver;
use crate::protocol::payloads::{self, Electricity};
use crate::rig;
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
    let class = match &spec {
        rig::Meter::Sdm120 { class_percent, .. } | rig::Meter::Scpi { class_percent, .. } => *class_percent,
    };
    if w.meter.is_none() {
        let sim_control = w.plug.sim().ok().map(|s| s.control);
        let (driver, virtual_meter) = crate::instruments::open_meter(&spec, sim_control).await?;
        w.virtual_meter = virtual_meter;
        w.meter = Some(driver);
    }
    let m = w.meter.as_mut().context("meter")?;
    Ok((m, class))
}

fn claimed_accuracy(w: &PlugWorld) -> f64 {
    match &w.ctx.rig.file.dut {
        rig::Dut::Sim(s) => s.claimed_accuracy_percent,
        rig::Dut::External(e) => e.claimed_accuracy_percent,
    }
}

#[given(expr = "a load of {int} W on the plug")]
async fn load(w: &mut PlugWorld, watts: u32) -> anyhow::Result<()> {
    w.plug.sim()?.control(&format!("load {watts}")).await.map(drop)
}

/// Does the plug's sample agree with the reference within `percent` of reading plus one
/// unit of the protocol's resolution?
fn agrees(e: &Electricity, m: &Measurement, percent: f64) -> Result<(), String> {
    let checks = [
        ("voltage", e.voltage as f64 / 10.0, m.volts, 0.1, "V"),
        ("current", e.current as f64 / 1000.0, m.amps, 0.001, "A"),
        ("power", e.power as f64, m.watts, 1.0, "W"),
    ];
    for (name, plug, reference, resolution, unit) in checks {
        let tol = reference.abs() * percent / 100.0 + resolution;
        if (plug - reference).abs() > tol {
            return Err(format!(
                "{name}: plug {plug:.3} {unit}, reference {reference:.3} {unit}, tolerance {tol:.3} {unit}"
            ));
        }
    }
    Ok(())
}

#[then(expr = "electricity_information agrees with the reference meter, {int} samples in a row")]
async fn agrees_with_reference(w: &mut PlugWorld, samples: usize) -> anyhow::Result<()> {
    let percent = claimed_accuracy(w);
    let (_, class) = meter(w).await?;
    let tolerance = percent + class;
    let (period, tol) = w.periods().cadence();
    crate::bench::protocol_wait(period * (samples as u32 + 1));
    // Let a relay change settle: skip the sample in flight.
    let (_, mut from, _) = w
        .wait_device(w.mark, "electricity_information", period * 3 + tol)
        .await?;
    from += 1;
    for _ in 0..samples {
        let (p, i, _) = w
            .wait_device(from, "electricity_information", period * 3 + tol)
            .await?;
        let e = payloads::electricity(&p)?;
        let (m, _) = meter(w).await?;
        let r = m.measure().await?;
        agrees(&e, &r, tolerance).map_err(|why| anyhow::anyhow!("{why} (sample {p})"))?;
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
    for pair in at.windows(2) {
        let gap = pair[1].saturating_sub(pair[0]);
        ensure!(
            gap.abs_diff(period) <= tol,
            "electricity_information interval {gap:?}, expected {period:?} +- {tol:?}"
        );
    }
    Ok(())
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
        assert_eq!(agrees(&e, &REF, 3.0), Ok(()));
    }

    #[test]
    fn a_wrong_unit_is_caught() {
        // Power in 0.1 W instead of W.
        let e = Electricity {
            voltage: 2300,
            current: 435,
            power: 1000,
        };
        assert!(agrees(&e, &REF, 3.0).unwrap_err().starts_with("power"));
        // Voltage in V instead of 0.1 V.
        let e = Electricity {
            voltage: 230,
            current: 435,
            power: 100,
        };
        assert!(agrees(&e, &REF, 3.0).unwrap_err().starts_with("voltage"));
    }
}
