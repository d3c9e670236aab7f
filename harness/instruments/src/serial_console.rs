//! The plug's serial console, read line by line and handed to the caller. The same driver reads
//! a bench plug's USB-serial port and the simulated plug's pseudo-terminal. A device's
//! USB port vanishes while it is powered off: the driver reopens it until it is back. On a
//! shared bench the port is a bench host's (`rfc2217://HOST:PORT`): a dropped connection is
//! reopened the same way.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;

use crate::port::SerialSettings;

/// What the console driver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleEvent {
    /// A line the plug printed, without its line ending; empty lines are dropped.
    Line(String),
    /// The port cannot be opened (a device's USB port is gone while it is off); reported once
    /// until it opens again.
    Unavailable(String),
}

pub struct SerialConsole {
    task: JoinHandle<()>,
}

impl Drop for SerialConsole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SerialConsole {
    pub fn start(
        path: String,
        baud: u32,
        sink: impl Fn(ConsoleEvent) + Send + Sync + 'static,
    ) -> SerialConsole {
        let task = tokio::spawn(async move {
            let mut announced = false;
            loop {
                let port = crate::port::open(&path, SerialSettings::n81(baud)).await;
                let port = match port {
                    Ok(p) => p,
                    Err(e) => {
                        if !announced {
                            sink(ConsoleEvent::Unavailable(format!(
                                "console {path} not available ({e:#}); retrying"
                            )));
                            announced = true;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                announced = false;
                let mut lines = BufReader::new(port).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let l = l.trim_end_matches('\r');
                    if !l.is_empty() {
                        sink(ConsoleEvent::Line(l.to_string()));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        SerialConsole { task }
    }
}
