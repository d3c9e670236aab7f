//! What acts on a plug: its mains power and its button. Bench drivers (a USB relay board, a
//! command) and a simulated plug's control channel implement the same traits.

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
