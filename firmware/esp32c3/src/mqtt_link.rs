//! The broker connection: one TCP socket on the station, opened and closed when the core
//! says. Bytes in both directions pass untouched; the session is the core's.

use embassy_futures::select::{select, Either};
use embassy_net::tcp::TcpSocket;
use embassy_net::Stack;
use embassy_time::{with_timeout, Duration};
use embedded_io_async::Write;
use heapless::String;
use plug_core::plug::LinkId;

use crate::events::{chunk, Ev, MqttCmd, EVENTS, MQTT_CMDS};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the writer stopped.
enum Ended {
    /// The core closed the session.
    Closed,
    /// The core opened a new one without closing this one.
    Reopen(LinkId, String<64>, u16),
    Broken,
}

#[embassy_executor::task]
pub async fn run(stack: Stack<'static>) {
    let mut rx = [0u8; 2048];
    let mut tx = [0u8; 2048];
    let mut pending: Option<(LinkId, String<64>, u16)> = None;
    loop {
        let (link, host, port) = match pending.take() {
            Some(p) => p,
            None => match MQTT_CMDS.receive().await {
                MqttCmd::Open { link, host, port } => (link, host, port),
                // Nothing open: a late send or close has nothing to act on.
                MqttCmd::Send(_) | MqttCmd::Close => continue,
            },
        };
        let Some(ip) = crate::net::address(stack, &host, true).await else {
            EVENTS.send(Ev::MqttClosed(link)).await;
            continue;
        };
        let mut sock = TcpSocket::new(stack, &mut rx, &mut tx);
        if !matches!(
            with_timeout(CONNECT_TIMEOUT, sock.connect((ip, port))).await,
            Ok(Ok(()))
        ) {
            sock.abort();
            EVENTS.send(Ev::MqttClosed(link)).await;
            continue;
        }
        EVENTS.send(Ev::MqttOpened(link)).await;
        let (mut reader, mut writer) = sock.split();
        // Side by side, as on the AP socket: the writer keeps taking commands while the
        // reader waits for room in the event channel.
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
                    MqttCmd::Send(bytes) => {
                        if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                            return Ended::Broken;
                        }
                    }
                    MqttCmd::Close => return Ended::Closed,
                    MqttCmd::Open { link, host, port } => return Ended::Reopen(link, host, port),
                }
            }
        };
        match select(read, write).await {
            Either::First(()) | Either::Second(Ended::Broken) => EVENTS.send(Ev::MqttClosed(link)).await,
            Either::Second(Ended::Closed) => {
                sock.close();
                let _ = with_timeout(Duration::from_secs(1), sock.flush()).await;
            }
            Either::Second(Ended::Reopen(link, host, port)) => pending = Some((link, host, port)),
        }
        sock.abort();
    }
}
