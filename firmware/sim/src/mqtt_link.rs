//! The broker connection: one TCP socket, opened and closed when the core says. Bytes in
//! both directions pass untouched; the session is the core's.
//!
//! Refuses: retries and timing. A failed connect is reported as a closed link and the
//! core decides when to try again.

use std::time::Duration;

use plug_core::plug::LinkId;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::{AbortHandle, JoinSet};

use crate::events::{pump, Ev};

/// How long a connect may take before the link counts as closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The app task's end of an open link.
pub struct MqttWriter(OwnedWriteHalf);

impl MqttWriter {
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.0.write_all(bytes).await;
    }

    pub async fn close(mut self) {
        let _ = self.0.shutdown().await;
    }
}

/// Connects to `host:port` in a task of `tasks` and reports the link's life as events.
pub fn open(
    tasks: &mut JoinSet<()>,
    tx: UnboundedSender<Ev>,
    link: LinkId,
    host: String,
    port: u16,
) -> AbortHandle {
    tasks.spawn(async move {
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port))).await;
        let Ok(Ok(s)) = connect else {
            let _ = tx.send(Ev::MqttClosed(link));
            return;
        };
        // Nagle plus delayed ACKs would hold small packets ~40 ms on loopback.
        let _ = s.set_nodelay(true);
        let (mut r, w) = s.into_split();
        let _ = tx.send(Ev::MqttOpened(link, MqttWriter(w)));
        pump(&mut r, 2048, &tx, |d| Ev::MqttData(link, d)).await;
        let _ = tx.send(Ev::MqttClosed(link));
    })
}
