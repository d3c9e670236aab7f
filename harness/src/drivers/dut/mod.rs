//! The DUT a scenario drives, whichever kind the rig names: the one place that builds a
//! simulated plug (a `plug-sim` process per scenario, `sim`) or opens a bench plug's drivers
//! (`external`), and answers for both. Everything else asks these methods.

pub mod external;
pub mod sim;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use external::ExternalPlug;
use instruments::actuators::{ButtonActuator, PowerSwitch};
use sim::SimPlug;

use crate::drivers::timeline::Timeline;
use crate::rig::DutSpec;

#[derive(Debug)]
pub enum DutHandle {
    Sim(SimPlug),
    // Boxed: the external plug carries its rig section and relay ports.
    External(Box<ExternalPlug>),
}

/// What a new plug needs from the run.
pub struct OpenOptions<'a> {
    pub time_scale: u32,
    /// The plug's MAC (a simulated plug takes it; a bench plug has its own).
    pub mac: &'a str,
    /// The DNS server a simulated plug resolves through.
    pub resolver: Option<SocketAddr>,
    /// The run's pass (1 for the first; retries and repeats run more): a simulated plug's
    /// intermittent faults draw again in each pass (`SimDut::fault_seed`).
    pub pass: u32,
}

impl DutHandle {
    /// A simulated plug started for this scenario, or the bench plug's drivers opened.
    pub async fn open(
        dut: &DutSpec,
        o: OpenOptions<'_>,
        timeline: Arc<Timeline>,
    ) -> anyhow::Result<DutHandle> {
        Ok(match dut {
            DutSpec::Sim(cfg) => DutHandle::Sim(SimPlug::spawn(sim_spawn(cfg, &o), timeline).await?),
            DutSpec::External(e) => DutHandle::External(Box::new(ExternalPlug::open(e, timeline).await?)),
        })
    }

    /// The executable a run builds before its first scenario, so no step's deadline pays
    /// for it (the simulated plug's; a bench plug has none).
    /// Also sweeps the state that simulated plugs of runs which died left behind.
    pub async fn prebuild(dut: &DutSpec) -> anyhow::Result<Option<PathBuf>> {
        match dut {
            DutSpec::Sim(cfg) => {
                let swept = sim::sweep_stale_state();
                if swept > 0 {
                    println!("plugrig: removed {swept} simulated plugs' state left by runs that died");
                }
                sim::binary(cfg).await.map(Some)
            }
            DutSpec::External(_) => Ok(None),
        }
    }

    /// Replaces a simulated plug with a fresh one of another device_type, same MAC.
    pub async fn respawn_as(
        &mut self,
        dut: &DutSpec,
        device_type: &str,
        o: OpenOptions<'_>,
        timeline: Arc<Timeline>,
    ) -> anyhow::Result<()> {
        let DutSpec::Sim(cfg) = dut else {
            bail!("only a simulated plug can be restarted as another model");
        };
        let mut cfg = cfg.clone();
        cfg.device_type = device_type.to_string();
        self.shutdown();
        *self = DutHandle::Sim(SimPlug::spawn(sim_spawn(&cfg, &o), timeline).await?);
        Ok(())
    }

    /// The plug's AP socket address.
    pub fn ap(&self) -> SocketAddr {
        match self {
            DutHandle::Sim(s) => s.ap,
            DutHandle::External(e) => e.ap,
        }
    }

    /// One physical plug that outlives the scenario: it must be brought to a known state
    /// before each one and sent back to AP mode after (a simulated plug is discarded).
    pub fn outlives_scenario(&self) -> bool {
        matches!(self, DutHandle::External(_))
    }

    /// The simulated plug, for the steps only a simulation allows (capability-gated).
    pub fn sim(&self) -> anyhow::Result<&SimPlug> {
        match self {
            DutHandle::Sim(s) => Ok(s),
            DutHandle::External(_) => bail!("this step needs the simulated plug"),
        }
    }

    /// Puts this host on the plug's access point (a bench rig's AP network driver joins it;
    /// the simulated plug's is on loopback).
    pub async fn join_ap(&self) -> anyhow::Result<()> {
        match self {
            DutHandle::Sim(_) => Ok(()),
            DutHandle::External(e) => e.join_ap().await,
        }
    }

    /// Back on the network where the plug's broker connection arrives.
    pub async fn leave_ap(&self) -> anyhow::Result<()> {
        match self {
            DutHandle::Sim(_) => Ok(()),
            DutHandle::External(e) => e.leave_ap().await,
        }
    }

    /// Whether the rig can cut the plug's mains (always, on the simulated rig).
    pub fn has_power_switch(&self) -> bool {
        match self {
            DutHandle::Sim(_) => true,
            DutHandle::External(e) => e.has_power_switch(),
        }
    }

    pub fn has_button(&self) -> bool {
        match self {
            DutHandle::Sim(_) => true,
            DutHandle::External(e) => e.has_button(),
        }
    }

    pub fn shutdown(&mut self) {
        if let DutHandle::Sim(s) = self {
            s.shutdown();
        }
    }
}

fn sim_spawn<'a>(cfg: &'a crate::rig::sim::SimDut, o: &OpenOptions<'_>) -> sim::Spawn<'a> {
    sim::Spawn {
        cfg,
        time_scale: o.time_scale,
        mac: o.mac.to_string(),
        resolver: o.resolver,
        pass: o.pass,
    }
}

impl PowerSwitch for DutHandle {
    async fn set_power(&self, on: bool) -> anyhow::Result<()> {
        match self {
            DutHandle::Sim(s) => s.set_power(on).await,
            DutHandle::External(e) => e.set_power(on).await,
        }
    }

    async fn cycle(&self, off: Duration) -> anyhow::Result<()> {
        self.set_power(false).await?;
        tokio::time::sleep(off).await;
        self.set_power(true).await
    }
}

impl ButtonActuator for DutHandle {
    async fn press(&self, hold: Duration) -> anyhow::Result<()> {
        match self {
            DutHandle::Sim(s) => s.press(hold).await,
            DutHandle::External(e) => e.press(hold).await,
        }
    }
}
