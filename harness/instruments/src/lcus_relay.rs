//! LCUS-type USB relay boards (CH340 serial, 9600 8N1): each command is four bytes,
//! `A0 <channel> <state> <checksum>`, checksum = (0xA0 + channel + state) mod 256, channels
//! from 1. Which state closes the contact differs between boards, so it is configurable.
//! The relay serves as a power switch (in the mains lead) or a button actuator (across the
//! plug's button).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tokio_serial::SerialStream;

use crate::actuators::{ButtonActuator, PowerSwitch};

pub const HEADER: u8 = 0xA0;

pub fn frame(channel: u8, state: u8) -> [u8; 4] {
    [
        HEADER,
        channel,
        state,
        HEADER.wrapping_add(channel).wrapping_add(state),
    ]
}

/// Boards by port path: the channels of one board (power on 1, button on 2, the usual
/// bench) share its port, which opens exclusively.
type Board = Arc<Mutex<SerialStream>>;
static BOARDS: LazyLock<std::sync::Mutex<HashMap<String, Weak<Mutex<SerialStream>>>>> =
    LazyLock::new(Default::default);

fn board(path: &str, baud: u32) -> anyhow::Result<Board> {
    let mut boards = BOARDS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = boards.get(path).and_then(Weak::upgrade) {
        return Ok(b);
    }
    let port = SerialStream::open(&tokio_serial::new(path, baud))
        .map_err(|e| anyhow::anyhow!("opening the relay board's port {path}: {e}"))?;
    let b = Arc::new(Mutex::new(port));
    boards.insert(path.to_string(), Arc::downgrade(&b));
    Ok(b)
}

pub struct LcusRelay {
    port: Board,
    channel: u8,
    /// The state byte that closes the contact (1 on most boards).
    closed_state: u8,
}

impl LcusRelay {
    pub fn open(path: &str, baud: u32, channel: u8, closed_state: u8) -> anyhow::Result<LcusRelay> {
        ensure!(channel >= 1, "LCUS relay channels start at 1");
        ensure!(closed_state <= 1, "an LCUS relay state is 0 or 1");
        Ok(LcusRelay {
            port: board(path, baud)?,
            channel,
            closed_state,
        })
    }

    /// Closes (true) or opens the contact.
    pub async fn set(&self, closed: bool) -> anyhow::Result<()> {
        let state = if closed {
            self.closed_state
        } else {
            1 - self.closed_state
        };
        let mut p = self.port.lock().await;
        p.write_all(&frame(self.channel, state))
            .await
            .context("writing to the relay board")?;
        p.flush().await.context("writing to the relay board")
    }
}

impl PowerSwitch for LcusRelay {
    fn set_power(&self, on: bool) -> impl Future<Output = anyhow::Result<()>> + Send {
        self.set(on)
    }
}

impl ButtonActuator for LcusRelay {
    async fn press(&self, hold: Duration) -> anyhow::Result<()> {
        self.set(true).await?;
        tokio::time::sleep(hold).await;
        self.set(false).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn frames_carry_their_checksum() {
        assert_eq!(super::frame(1, 1), [0xA0, 0x01, 0x01, 0xA2]);
        assert_eq!(super::frame(1, 0), [0xA0, 0x01, 0x00, 0xA1]);
        assert_eq!(super::frame(4, 1), [0xA0, 0x04, 0x01, 0xA5]);
    }
}
