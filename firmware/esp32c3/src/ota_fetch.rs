//! The OTA download: one HTTP/1.0 GET, reported to the core as it goes. Request and
//! response head are plug-core's `ota::http`, as on the simulated plug, so the suite's OTA
//! scenarios judge the same wire behaviour on both builds. The core decides what the
//! outcome means.

use embassy_futures::select::{select, Either};
use embassy_net::tcp::TcpSocket;
use embassy_net::Stack;
use embassy_time::{with_timeout, Duration};
use embedded_io_async::Write;
use heapless::{String, Vec};
use plug_core::ota::http;
use plug_core::plug::LinkId;

use crate::events::{chunk, Ev, OtaCmd, OtaEvent, EVENTS, OTA_CMDS};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Response head limit; the core's upgrade servers send a few dozen bytes.
const HEAD_MAX: usize = 1024;

struct Fetch {
    link: LinkId,
    host: String<64>,
    port: u16,
    path: String<160>,
    resolve: bool,
}

#[embassy_executor::task]
pub async fn run(stack: Stack<'static>) {
    let mut rx = [0u8; 4096];
    let mut tx = [0u8; 512];
    let mut next: Option<OtaCmd> = None;
    loop {
        let cmd = match next.take() {
            Some(c) => c,
            None => OTA_CMDS.receive().await,
        };
        let OtaCmd::Fetch {
            link,
            host,
            port,
            path,
            resolve,
        } = cmd
        else {
            continue;
        };
        let f = Fetch {
            link,
            host,
            port,
            path,
            resolve,
        };
        // Any command during a transfer ends it: a cancel drops it (the core discards the
        // slot), a new fetch replaces it.
        if let Either::Second(cmd) = select(fetch(stack, &f, &mut rx, &mut tx), OTA_CMDS.receive()).await {
            next = Some(cmd);
        }
    }
}

async fn send(link: LinkId, e: OtaEvent) {
    EVENTS.send(Ev::Ota(link, e)).await;
}

async fn fetch(stack: Stack<'static>, f: &Fetch, rx: &mut [u8], tx: &mut [u8]) {
    let Some(ip) = crate::net::address(stack, &f.host, f.resolve).await else {
        return send(f.link, OtaEvent::ResolveFailed).await;
    };
    let mut sock = TcpSocket::new(stack, rx, tx);
    if !matches!(
        with_timeout(CONNECT_TIMEOUT, sock.connect((ip, f.port))).await,
        Ok(Ok(()))
    ) {
        sock.abort();
        return send(f.link, OtaEvent::ConnectFailed).await;
    }
    let req = http::request(&f.path, &f.host, "plug-esp32c3");
    if sock.write_all(req.as_bytes()).await.is_err() || sock.flush().await.is_err() {
        sock.abort();
        return send(f.link, OtaEvent::Broken).await;
    }
    let mut head: Vec<u8, HEAD_MAX> = Vec::new();
    let mut buf = [0u8; 512];
    let body_start = loop {
        let n = match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return send(f.link, OtaEvent::Broken).await,
            Ok(n) => n,
        };
        if head.extend_from_slice(&buf[..n]).is_err() {
            return send(f.link, OtaEvent::Broken).await;
        }
        if let Some(p) = http::body_start(&head) {
            break p;
        }
    };
    let Some(status) = http::status_code(&head[..body_start]) else {
        return send(f.link, OtaEvent::Broken).await;
    };
    send(f.link, OtaEvent::Status(status)).await;
    if status != 200 {
        sock.abort();
        return;
    }
    for part in head[body_start..].chunks(512) {
        send(f.link, OtaEvent::Data(chunk(part))).await;
    }
    loop {
        match sock.read(&mut buf).await {
            Ok(0) => return send(f.link, OtaEvent::End).await,
            Ok(n) => send(f.link, OtaEvent::Data(chunk(&buf[..n]))).await,
            Err(_) => return send(f.link, OtaEvent::Broken).await,
        }
    }
}
