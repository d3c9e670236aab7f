//! The broker connection: one TCP socket on the station, opened and closed when the core
//! says, under plug-core's TLS client when the core asks for it (connect_mode 1). Bytes in
//! both directions pass untouched; the session is the core's.
//!
//! Refuses: retries and timing (a failed connect or handshake is a closed link; the core
//! decides when to try again) and the heap: the TLS record buffers live in this task's
//! state, in .bss (docs/tls.md for the figures).

use core::cell::RefCell;

use embassy_futures::select::{select, Either};
use embassy_net::tcp::TcpSocket;
use embassy_net::Stack;
use embassy_time::{with_timeout, Duration};
use embedded_io_async::{Read, Write};
use esp_hal::rng::Trng;
use heapless::String;
use plug_core::console::Event as Console;
use plug_core::plug::LinkId;
use plug_core::tls::{self, Duplex};

use crate::app::say;
use crate::events::{chunk, Ev, MqttCmd, EVENTS, MQTT_CMDS};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the TLS handshake may take, on top of the connect (P-256 on the C3's core).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the core asked to open.
struct Open {
    link: LinkId,
    host: String<64>,
    port: u16,
    tls: bool,
}

/// Why the session stopped.
enum Ended {
    /// The core closed the session.
    Closed,
    /// The core opened a new one without closing this one.
    Reopen(Open),
    /// The socket or the broker ended it.
    Broken,
}

#[embassy_executor::task]
pub async fn run(stack: Stack<'static>) {
    let mut rx = [0u8; 2048];
    let mut tx = [0u8; 2048];
    let mut record_rx = [0u8; tls::RECORD_READ_MAX];
    let mut record_tx = [0u8; tls::RECORD_WRITE_MAX];
    let mut pending: Option<Open> = None;
    loop {
        let open = match pending.take() {
            Some(p) => p,
            None => match MQTT_CMDS.receive().await {
                MqttCmd::Open {
                    link,
                    host,
                    port,
                    tls,
                } => Open {
                    link,
                    host,
                    port,
                    tls,
                },
                // Nothing open: a late send or close has nothing to act on.
                MqttCmd::Send(_) | MqttCmd::Close => continue,
            },
        };
        let link = open.link;
        let Some(ip) = crate::net::address(stack, &open.host, true).await else {
            EVENTS.send(Ev::MqttClosed(link)).await;
            continue;
        };
        let mut sock = TcpSocket::new(stack, &mut rx, &mut tx);
        if !matches!(
            with_timeout(CONNECT_TIMEOUT, sock.connect((ip, open.port))).await,
            Ok(Ok(()))
        ) {
            sock.abort();
            EVENTS.send(Ev::MqttClosed(link)).await;
            continue;
        }
        let ended = {
            let (reader, writer) = sock.split();
            if open.tls {
                over_tls(link, &open.host, reader, writer, &mut record_rx, &mut record_tx).await
            } else {
                session(link, reader, writer).await
            }
        };
        match ended {
            Ended::Broken => sock_closed(link).await,
            Ended::Closed => {
                sock.close();
                let _ = with_timeout(Duration::from_secs(1), sock.flush()).await;
            }
            Ended::Reopen(next) => pending = Some(next),
        }
        sock.abort();
    }
}

/// The TLS handshake over the socket's halves, then the session through the connection.
async fn over_tls(
    link: LinkId,
    host: &str,
    reader: impl Read,
    writer: impl Write,
    record_rx: &mut [u8],
    record_tx: &mut [u8],
) -> Ended {
    let Ok(rng) = Trng::try_new() else {
        // The radio is the entropy source; without it there is no key to make.
        say(&Console::Error {
            what: "tls: no entropy",
        });
        return Ended::Broken;
    };
    let (r, w) = (RefCell::new(reader), RefCell::new(writer));
    let handshake = tls::connect(Duplex::new(&r, &w), record_rx, record_tx, host, rng);
    match with_timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(mut conn)) => {
            let (reader, writer) = conn.split();
            session(link, reader, writer).await
        }
        _ => {
            say(&Console::Error {
                what: "tls handshake failed",
            });
            Ended::Broken
        }
    }
}

async fn sock_closed(link: LinkId) {
    EVENTS.send(Ev::MqttClosed(link)).await;
}

/// The session's bytes both ways, over the socket or the TLS connection, until either
/// side ends it. Side by side, as on the AP socket: the writer keeps taking commands while
/// the reader waits for room in the event channel.
async fn session(link: LinkId, mut reader: impl Read, mut writer: impl Write) -> Ended {
    EVENTS.send(Ev::MqttOpened(link)).await;
    let read = async {
        let mut buf = [0u8; 512];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => EVENTS.send(Ev::MqttData(link, chunk(&buf[..n]))).await,
            }
        }
    };
    let write = async {
        loop {
            match MQTT_CMDS.receive().await {
                // One packet, one flush: under TLS that is one record per packet.
                MqttCmd::Send(bytes) => {
                    if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                        return Ended::Broken;
                    }
                }
                MqttCmd::Close => return Ended::Closed,
                MqttCmd::Open {
                    link,
                    host,
                    port,
                    tls,
                } => {
                    return Ended::Reopen(Open {
                        link,
                        host,
                        port,
                        tls,
                    })
                }
            }
        }
    };
    match select(read, write).await {
        Either::First(()) => Ended::Broken,
        Either::Second(e) => e,
    }
}
