//! The broker connection: one TCP socket, opened and closed when the core says, under
//! plug-core's TLS client when the core asks for it (connect_mode 1). Bytes in both
//! directions pass untouched; the session is the core's.
//!
//! Refuses: retries and timing. A failed connect or handshake is reported as a closed link
//! and the core decides when to try again. The `plain-under-tls` fault is applied here, as
//! it is about the socket: the plug then speaks MQTT in clear whatever the core asked.

use std::sync::Arc;
use std::time::Duration;

use embedded_io::ErrorKind;
use embedded_io_async::{Read, Write};
use plug_core::plug::LinkId;
use plug_core::tls;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::{AbortHandle, JoinSet};

use crate::events::{pump, Ev, MqttWriter};

/// How long a connect may take before the link counts as closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the TLS handshake may take, on top of the connect.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to `host:port` in a task of `tasks`, over TLS when `tls`, and reports the
/// link's life as events. A local task: embedded-tls's connection is not Send.
pub fn open(
    tasks: &mut JoinSet<()>,
    tx: UnboundedSender<Ev>,
    link: LinkId,
    host: String,
    port: u16,
    tls: bool,
) -> AbortHandle {
    tasks.spawn_local(async move {
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port))).await;
        let Ok(Ok(s)) = connect else {
            let _ = tx.send(Ev::MqttClosed(link));
            return;
        };
        // Nagle plus delayed ACKs would hold small packets ~40 ms on loopback.
        let _ = s.set_nodelay(true);
        if tls {
            over_tls(s, link, &host, &tx).await;
        } else {
            let (mut r, w) = s.into_split();
            let _ = tx.send(Ev::MqttOpened(link, MqttWriter::Plain(w)));
            pump(&mut r, 2048, &tx, |d| Ev::MqttData(link, d)).await;
        }
        let _ = tx.send(Ev::MqttClosed(link));
    })
}

/// The handshake, then the session's bytes both ways until either side ends.
async fn over_tls(s: TcpStream, link: LinkId, host: &str, tx: &UnboundedSender<Ev>) {
    let socket = Socket(Arc::new(s));
    // The same sizes as the device's (plug-core's), so the host build meets the limits
    // the device lives with.
    let mut rb = vec![0u8; tls::RECORD_READ_MAX];
    let mut wb = vec![0u8; tls::RECORD_WRITE_MAX];
    let rng = rand_core::OsRng;
    let conn = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tls::connect(socket, &mut rb, &mut wb, host, rng),
    )
    .await;
    let Ok(Ok(mut conn)) = conn else {
        return;
    };
    let (out_tx, out_rx) = unbounded_channel();
    let _ = tx.send(Ev::MqttOpened(link, MqttWriter::Tls(out_tx)));
    let (mut reader, mut writer) = conn.split();
    let read = async {
        let mut buf = vec![0u8; 2048];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let _ = tx.send(Ev::MqttData(link, buf[..n].to_vec()));
                }
            }
        }
    };
    let write = async move {
        let mut out_rx: UnboundedReceiver<Vec<u8>> = out_rx;
        // One packet, one flush: the session's packets leave when the core sends them.
        while let Some(b) = out_rx.recv().await {
            if writer.write_all(&b).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = read => {}
        () = write => {}
    }
}

/// The TCP stream as embedded-io's socket, shared by the TLS connection's reader and
/// writer: tokio's stream reads and writes through `&self`, so the clones need no lock.
#[derive(Clone)]
struct Socket(Arc<TcpStream>);

impl embedded_io::ErrorType for Socket {
    type Error = ErrorKind;
}

impl Read for Socket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        loop {
            self.0.readable().await.map_err(|_| ErrorKind::Other)?;
            match self.0.try_read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                r => return r.map_err(|_| ErrorKind::Other),
            }
        }
    }
}

impl Write for Socket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        loop {
            self.0.writable().await.map_err(|_| ErrorKind::Other)?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                r => return r.map_err(|_| ErrorKind::Other),
            }
        }
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}
