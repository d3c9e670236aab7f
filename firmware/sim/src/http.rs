//! The OTA download: one HTTP/1.0 GET (request and head as plug-core's `ota::http` reads
//! them), reported to the core as it goes. The core decides
//! what the outcome means (R1-R4); this only says what happened on the wire.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc::UnboundedSender;

/// What the transfer saw, in order.
#[derive(Debug)]
pub enum OtaEvent {
    ResolveFailed,
    ConnectFailed,
    Status(u16),
    Data(Vec<u8>),
    End,
    Broken,
}

pub struct Fetch {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub resolve: bool,
    /// DNS server to ask for names; None: the host's resolver.
    pub resolver: Option<SocketAddr>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

async fn address(f: &Fetch) -> Option<IpAddr> {
    if !f.resolve {
        return f.host.parse().ok();
    }
    match f.resolver {
        Some(r) => crate::dns::resolve_a(r, &f.host).await.map(IpAddr::V4),
        None => tokio::net::lookup_host((f.host.as_str(), f.port))
            .await
            .ok()?
            .next()
            .map(|a| a.ip()),
    }
}

pub async fn fetch(f: Fetch, tx: UnboundedSender<OtaEvent>) {
    let send = |e| {
        let _ = tx.send(e);
    };
    let Some(ip) = address(&f).await else {
        send(OtaEvent::ResolveFailed);
        return;
    };
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((ip, f.port))).await;
    let Ok(Ok(mut stream)) = stream else {
        send(OtaEvent::ConnectFailed);
        return;
    };
    let _ = stream.set_nodelay(true);
    let req = plug_core::ota::http::request(&f.path, &f.host, "plug-sim");
    if stream.write_all(req.as_bytes()).await.is_err() {
        send(OtaEvent::Broken);
        return;
    }
    let mut head = Vec::new();
    let mut buf = vec![0u8; 4096];
    let body_start = loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => {
                send(OtaEvent::Broken);
                return;
            }
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if let Some(p) = plug_core::ota::http::body_start(&head) {
            break p;
        }
        if head.len() > 16 * 1024 {
            send(OtaEvent::Broken);
            return;
        }
    };
    let Some(status) = plug_core::ota::http::status_code(&head[..body_start]) else {
        send(OtaEvent::Broken);
        return;
    };
    send(OtaEvent::Status(status));
    if status != 200 {
        return;
    }
    if body_start < head.len() {
        send(OtaEvent::Data(head[body_start..].to_vec()));
    }
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => {
                send(OtaEvent::End);
                return;
            }
            Ok(n) => send(OtaEvent::Data(buf[..n].to_vec())),
            Err(_) => {
                send(OtaEvent::Broken);
                return;
            }
        }
    }
}
