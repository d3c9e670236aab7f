//! What the I/O tasks tell the application task (`app`), and the one read loop they share.
//! Like the ESP32-C3 crate's `events.rs`: owns the message type (with the writer an opened
//! link hands over) and nothing else.
//!
//! Refuses: decisions. A task reports what its socket did; what it means is the core's.

use plug_core::plug::{ConnId, LinkId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use crate::http::OtaEvent;

/// Inputs for the core, from the board's I/O tasks.
pub enum Ev {
    ApAccepted(ConnId, OwnedWriteHalf, AbortHandle),
    ApData(ConnId, Vec<u8>),
    ApClosed(ConnId),
    MqttOpened(LinkId, MqttWriter),
    MqttData(LinkId, Vec<u8>),
    MqttClosed(LinkId),
    Button(bool),
    Ota(LinkId, OtaEvent),
}

/// The app task's end of an open link: the socket itself, or the TLS task's input.
pub enum MqttWriter {
    Plain(OwnedWriteHalf),
    Tls(UnboundedSender<Vec<u8>>),
}

impl MqttWriter {
    pub async fn send(&mut self, bytes: &[u8]) {
        match self {
            MqttWriter::Plain(w) => {
                let _ = w.write_all(bytes).await;
            }
            MqttWriter::Tls(tx) => {
                let _ = tx.send(bytes.to_vec());
            }
        }
    }

    pub async fn close(self) {
        match self {
            MqttWriter::Plain(mut w) => {
                let _ = w.shutdown().await;
            }
            // The TLS task ends when its input closes.
            MqttWriter::Tls(tx) => drop(tx),
        }
    }
}

/// Forwards what a socket reads as events until it closes or fails.
pub async fn pump(r: &mut OwnedReadHalf, chunk: usize, tx: &UnboundedSender<Ev>, ev: impl Fn(Vec<u8>) -> Ev) {
    let mut buf = vec![0u8; chunk];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let _ = tx.send(ev(buf[..n].to_vec()));
            }
        }
    }
}
