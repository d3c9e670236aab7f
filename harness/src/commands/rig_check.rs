//! `plugrig rig check`: every instrument of a rig, checked before any firmware is judged.
//! Each answers; the meter reads plausible values with the plug's mains off and on; the
//! console shows a boot after a power cycle; the flasher and the AP network driver are
//! there. A bench rig that fails its check runs no scenario.
//!
//! On the simulated rig the same checks run against one simulated plug, its virtual meter
//! and its console pty, through the same drivers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use instruments::actuators::{ButtonActuator, PowerSwitch};
use instruments::ap_network::ApNetwork;
use instruments::meter::open_meter;
use instruments::{MeterDriver, MeterReading};

use crate::drivers::dut::{DutHandle, OpenOptions};
use crate::drivers::timeline::Timeline;
use crate::rig::capabilities::Capability;
use crate::rig::{Broker, RigFile};

/// One line of the report.
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
}

pub enum Outcome {
    Ok(String),
    Failed(String),
    /// The rig has nothing to check here (no console, no meter); not a failure.
    NotPresent(String),
}

#[derive(Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, name: &str, r: anyhow::Result<String>) {
        let outcome = match r {
            Ok(s) => Outcome::Ok(s),
            Err(e) => Outcome::Failed(format!("{e:#}")),
        };
        self.checks.push(Check {
            name: name.into(),
            outcome,
        });
    }

    fn absent(&mut self, name: &str, why: &str) {
        self.checks.push(Check {
            name: name.into(),
            outcome: Outcome::NotPresent(why.into()),
        });
    }

    pub fn ok(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    pub fn failed(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
            .collect()
    }

    pub fn print(&self) {
        for c in &self.checks {
            match &c.outcome {
                Outcome::Ok(s) => println!("  ok      {:<20} {s}", c.name),
                Outcome::Failed(s) => println!("  FAILED  {:<20} {s}", c.name),
                Outcome::NotPresent(s) => println!("  absent  {:<20} {s}", c.name),
            }
        }
    }
}

/// Mains voltages a plug can be on (100 V -10 % to 240 V +10 %).
const MAINS_V: std::ops::RangeInclusive<f64> = 90.0..=264.0;
/// A plug with its mains cut draws nothing; meters read a little noise.
const OFF_W: f64 = 1.0;
/// The largest load a 16 A plug carries.
const MAX_W: f64 = 4000.0;

/// Runs every check of the rig and returns the report; never stops at the first failure.
pub async fn check(rig: &RigFile) -> Report {
    let mut report = Report::default();
    let timeline = Arc::new(Timeline::default());

    match &rig.broker {
        Broker::Embedded { .. } => report.push("broker", Ok("embedded, started with the run".into())),
        Broker::External { host, port, .. } => {
            let r = tokio::time::timeout(
                Duration::from_secs(3),
                tokio::net::TcpStream::connect((host.as_str(), *port)),
            )
            .await
            .map_err(|_| anyhow::anyhow!("{host}:{port} did not answer within 3 s"))
            .and_then(|r| r.with_context(|| format!("{host}:{port}")))
            .map(|_| format!("{host}:{port} accepts connections"));
            report.push("broker", r);
        }
    }

    let boot_marker = rig.dut.console_patterns().boot;
    let boot_timeout = Duration::from_secs(rig.dut.boot_timeout_s());
    let has_console = rig.capabilities().contains(&Capability::Console);
    match rig.dut.flash() {
        Some(f) => report.push(
            "flasher",
            f.check().await.map(|s| format!("{}: {s}", f.describe())),
        ),
        None => report.absent("flasher", "no [dut.flash]: the plug keeps its firmware"),
    }
    match rig.dut.ap_network() {
        Some(n) => report.push("ap network", ApNetwork::new(n.clone()).check().await),
        None => report.absent(
            "ap network",
            "no [dut.ap_network]: the AP address is reachable as is",
        ),
    }

    let plug = match open_dut(rig, timeline.clone()).await {
        Ok(p) => p,
        Err(e) => {
            report.push("dut drivers", Err(e));
            return report;
        }
    };

    let mut meter = None;
    let mut _virtual = None;
    match &rig.meter {
        Some(spec) => {
            let control = plug.sim().ok().map(|s| s.control);
            match open_meter(spec, control).await {
                Ok((m, v)) => {
                    meter = Some(m);
                    _virtual = v;
                }
                Err(e) => report.push("meter", Err(e)),
            }
        }
        None => report.absent("meter", "no [meter]: the accuracy scenarios skip"),
    }

    if plug.has_power_switch() {
        let off = plug.set_power(false).await;
        report.push("power off", off.map(|_| "mains off".to_string()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some(m) = meter.as_mut() {
            report.push("meter, mains off", mains_off(m).await);
        }
        let mark = timeline.mark();
        report.push("power on", plug.set_power(true).await.map(|_| "mains on".into()));
        if has_console {
            let boot = timeline
                .wait_for_boot(mark, &boot_marker, boot_timeout)
                .await
                .map(|l| format!("after a power cycle: {l}"))
                .context("after power-on");
            report.push("console", boot);
        } else {
            report.absent("console", "no console port in the rig file");
        }
    } else {
        report.absent(
            "power switch",
            "no power switch: no boot check, no mains-off reading",
        );
        if has_console {
            report.absent(
                "console",
                "wired, but without a power switch no boot can be caused",
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(m) = meter.as_mut() {
        report.push("meter, mains on", mains_on(m).await);
    }
    if plug.has_button() {
        report.push(
            "button",
            plug.press(Duration::from_millis(100))
                .await
                .map(|_| "pressed 100 ms".into()),
        );
    } else {
        report.absent("button", "no button driver: factory resets rely on app/reset");
    }
    report
}

async fn open_dut(rig: &RigFile, timeline: Arc<Timeline>) -> anyhow::Result<DutHandle> {
    let o = OpenOptions {
        time_scale: rig.rig.time_scale,
        mac: "02:70:72:00:00:01",
        resolver: None,
        pass: 1,
    };
    DutHandle::open(&rig.dut, o, timeline).await
}

fn show(m: &MeterReading) -> String {
    format!("{:.1} V, {:.3} A, {:.1} W", m.volts, m.amps, m.watts)
}

fn finite(m: &MeterReading) -> anyhow::Result<()> {
    anyhow::ensure!(
        m.volts.is_finite() && m.amps.is_finite() && m.watts.is_finite(),
        "the meter reads a non-number: {m:?}"
    );
    Ok(())
}

async fn mains_off(m: &mut MeterDriver) -> anyhow::Result<String> {
    let r = m.measure().await?;
    finite(&r)?;
    anyhow::ensure!(
        r.watts.abs() <= OFF_W,
        "{} with the plug's mains off: is the meter in the plug's lead?",
        show(&r)
    );
    Ok(show(&r))
}

async fn mains_on(m: &mut MeterDriver) -> anyhow::Result<String> {
    let r = m.measure().await?;
    finite(&r)?;
    anyhow::ensure!(
        MAINS_V.contains(&r.volts),
        "{} with the mains on: not a mains voltage",
        show(&r)
    );
    anyhow::ensure!(
        (-OFF_W..=MAX_W).contains(&r.watts),
        "{} with the mains on: not a power a plug can carry",
        show(&r)
    );
    Ok(show(&r))
}
