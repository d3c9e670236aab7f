//! LCUS-type USB relay boards (CH340 serial, 9600 8N1): each command is four bytes,
//! `A0 <channel> <state> <checksum>`, checksum = (0xA0 + channel + state) mod 256, channels
//! from 1. Which state closes the contact differs between boards, so it is configurable.
//! The relay serves as a power switch (in the mains lead) or a button actuator (across the
//! plug's button). The board may be a bench host's port (`rfc2217://HOST:PORT`): that one is
//! connected at the first command and reconnected after a failed one.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use tokio_serial::SerialStream;

use crate::actuators::{ButtonActuator, PowerSwitch};
use crate::port::{Link, PortAddress, SerialSettings};

pub const HEADER: u8 = 0xA0;

pub fn frame(channel: u8, state: u8) -> [u8; 4] {
    [
        HEADER,
        channel,
        state,
        HEADER.wrapping_add(channel).wrapping_add(state),
    ]
}

/// One board's port: a local device is opened when the relay is; a network port when it is
/// first used (opening a relay is not async, and a bench host may come up after the rig).
struct BoardPort {
    address: PortAddress,
    baud: u32,
    link: Option<Link>,
}

impl BoardPort {
    async fn link(&mut self) -> anyhow::Result<&mut Link> {
        if self.link.is_none() {
            let l = crate::port::open_address(&self.address, SerialSettings::n81(self.baud))
                .await
                .with_context(|| format!("opening the relay board's port {}", self.address))?;
            self.link = Some(l);
        }
        self.link.as_mut().context("the relay board's port")
    }
}

/// Boards by port: the channels of one board (power on 1, button on 2, the usual bench)
/// share its port, which opens exclusively.
type Board = Arc<Mutex<BoardPort>>;
static BOARDS: LazyLock<std::sync::Mutex<HashMap<String, Weak<Mutex<BoardPort>>>>> =
    LazyLock::new(Default::default);

fn board(path: &str, baud: u32) -> anyhow::Result<Board> {
    let mut boards = BOARDS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = boards.get(path).and_then(Weak::upgrade) {
        return Ok(b);
    }
    let address = PortAddress::parse(path).context("the relay board's port")?;
    let link: Option<Link> = match &address {
        PortAddress::Device(_) => Some(Box::new(
            SerialStream::open(&tokio_serial::new(path, baud))
                .map_err(|e| anyhow::anyhow!("opening the relay board's port {path}: {e}"))?,
        )),
        _ => None,
    };
    let b = Arc::new(Mutex::new(BoardPort { address, baud, link }));
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
        let mut board = self.port.lock().await;
        let link = board.link().await?;
        let sent = async {
            link.write_all(&frame(self.channel, state)).await?;
            link.flush().await
        }
        .await;
        if sent.is_err() && board.address.is_network() {
            // A dropped connection to the bench host: reconnect on the next command.
            board.link = None;
        }
        sent.with_context(|| format!("writing to the relay board at {}", board.address))
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
