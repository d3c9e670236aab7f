//! A virtual LCUS relay board on a pseudo-terminal: it reads four-byte commands, drops a
//! frame with a bad checksum and resynchronises on the next 0xA0, and keeps each channel's
//! state for a test (or a simulated world) to read, and can tell a listener of each change
//! (to wire a channel to a simulated plug's mains).

use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::task::JoinHandle;
use tokio_serial::SerialStream;

use crate::lcus_relay::HEADER;

pub struct VirtualLcus {
    pub path: String,
    /// Channel states as last commanded (index 0 is channel 1).
    pub states: Arc<Mutex<[u8; 8]>>,
    /// Frames dropped for a bad checksum or channel.
    pub rejected: Arc<Mutex<u32>>,
    task: JoinHandle<()>,
    _slave: SerialStream,
}

impl Drop for VirtualLcus {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl VirtualLcus {
    pub fn start() -> anyhow::Result<VirtualLcus> {
        VirtualLcus::start_wired(|_, _| {})
    }

    /// As `start`, calling `on_command(channel, state)` for every good frame, in order.
    pub fn start_wired(on_command: impl Fn(u8, u8) + Send + 'static) -> anyhow::Result<VirtualLcus> {
        let (mut master, path, slave) = crate::pty::pair()?;
        let states = Arc::new(Mutex::new([0u8; 8]));
        let rejected = Arc::new(Mutex::new(0u32));
        let (st, rj) = (states.clone(), rejected.clone());
        let task = tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = [0u8; 64];
            while let Ok(n) = master.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while buf.len() >= 4 {
                    if buf[0] != HEADER {
                        buf.remove(0);
                        continue;
                    }
                    let (ch, state, sum) = (buf[1], buf[2], buf[3]);
                    let good = sum == HEADER.wrapping_add(ch).wrapping_add(state)
                        && (1..=8).contains(&ch)
                        && state <= 1;
                    if good {
                        st.lock().unwrap_or_else(|p| p.into_inner())[usize::from(ch - 1)] = state;
                        buf.drain(..4);
                        on_command(ch, state);
                    } else {
                        *rj.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                        buf.remove(0);
                    }
                }
            }
        });
        Ok(VirtualLcus {
            path,
            states,
            rejected,
            task,
            _slave: slave,
        })
    }

    pub fn state(&self, channel: u8) -> u8 {
        self.states.lock().unwrap_or_else(|p| p.into_inner())[usize::from(channel.saturating_sub(1)).min(7)]
    }
}
