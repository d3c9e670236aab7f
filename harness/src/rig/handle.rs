//! The DUT a scenario drives, whichever kind the rig names.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;

use super::drivers::{ButtonActuator, PowerSwitch};
use super::external::ExternalPlug;
use super::sim::SimPlug;

#[derive(Debug)]
pub enum DutHandle {
    Sim(SimPlug),
    // Boxed: the external plug carries its rig section and relay ports.
    External(Box<ExternalPlug>),
}

impl DutHandle {
    pub fn ap(&self) -> SocketAddr {
        match self {
            DutHandle::Sim(s) => s.ap,
            DutHandle::External(e) => e.ap,
        }
    }

    /// The simulated plug, for the steps only a simulation allows (capability-gated).
    pub fn sim(&self) -> anyhow::Result<&SimPlug> {
        match self {
            DutHandle::Sim(s) => Ok(s),
            DutHandle::External(_) => bail!("this step needs the simulated plug"),
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
