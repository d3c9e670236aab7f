//! The actuator traits scenarios use. A simulated plug implements them through its control
//! channel; bench drivers (a USB relay board, a command) implement the same traits.

use std::future::Future;
use std::time::Duration;

pub trait PowerSwitch: Sync {
    fn set_power(&self, on: bool) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Off for `off`, then on again.
    fn cycle(&self, off: Duration) -> impl Future<Output = anyhow::Result<()>> + Send {
        async move {
            self.set_power(false).await?;
            tokio::time::sleep(off).await;
            self.set_power(true).await
        }
    }
}

pub trait ButtonActuator {
    /// Presses the plug's button for `hold`, then releases it.
    fn press(&self, hold: Duration) -> impl Future<Output = anyhow::Result<()>> + Send;
}

impl PowerSwitch for super::sim::SimPlug {
    async fn set_power(&self, on: bool) -> anyhow::Result<()> {
        self.control(if on { "power on" } else { "power off" })
            .await
            .map(drop)
    }
}

impl ButtonActuator for super::sim::SimPlug {
    async fn press(&self, hold: Duration) -> anyhow::Result<()> {
        self.control(&format!("button press {}", hold.as_millis()))
            .await
            .map(drop)
    }
}
