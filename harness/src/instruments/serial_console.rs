//! The plug's serial console, read line by line onto the timeline. The same driver reads
//! a bench plug's USB-serial port and the simulated plug's pseudo-terminal. A device's
//! USB port vanishes while it is powered off: the driver reopens it until it is back.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;
use tokio_serial::SerialStream;

use crate::timeline::{Event, Timeline};

pub struct SerialConsole {
    task: JoinHandle<()>,
}

impl Drop for SerialConsole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SerialConsole {
    pub fn start(path: String, baud: u32, timeline: Arc<Timeline>) -> SerialConsole {
        let task = tokio::spawn(async move {
            let mut announced = false;
            loop {
                let port = SerialStream::open(&tokio_serial::new(&path, baud));
                let Ok(port) = port else {
                    if !announced {
                        timeline.push(Event::Note(format!("console {path} not available; retrying")));
                        announced = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                announced = false;
                let mut lines = BufReader::new(port).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let l = l.trim_end_matches('\r');
                    if !l.is_empty() {
                        timeline.push(Event::Console(l.to_string()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        SerialConsole { task }
    }
}

/// The first console line at or after timeline index `from` matching `boot` (the rig's
/// boot pattern; this firmware prints `plug <ms> boot fw=...`), within `limit`: the plug
/// booted.
pub async fn wait_for_boot(
    timeline: &Timeline,
    from: usize,
    boot: &crate::rig::console::Pattern,
    limit: Duration,
) -> anyhow::Result<String> {
    timeline
        .wait_for(from, limit, "a boot line on the console", |e| match &e.event {
            Event::Console(l) if boot.is_match(l) => Some(l.clone()),
            _ => None,
        })
        .await
        .map(|(l, _)| l)
        .map_err(|_| anyhow::anyhow!("no console line matching {:?} within {limit:?}", boot.as_str()))
}
