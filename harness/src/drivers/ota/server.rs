//! The update server: HTTP/1.0 on the rig's address (loopback on the simulated rig, the
//! bench host's address on the plug's network on a bench), one behaviour per catalogue. The catalogue
//! (`/{mode}/`) picks what the plug gets, whatever file name it asks for; every request
//! line is logged for the steps to check (`requests`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::sync::Locked;

/// What the server does for one catalogue.
#[derive(Debug, Clone)]
pub enum Mode {
    /// 200 with these bytes.
    Serve(Arc<Vec<u8>>),
    /// This status, no body.
    Status(u16),
    /// 200 announcing the whole image, then only the first `keep` bytes and a close.
    Truncate(Arc<Vec<u8>>, usize),
    /// 200, the first `keep` bytes, then silence with the connection open.
    Stall(Arc<Vec<u8>>, usize),
}

#[derive(Clone)]
pub struct UpdateServer {
    modes: Arc<Mutex<HashMap<String, Mode>>>,
    log: Arc<Mutex<Vec<String>>>,
    pub addr: SocketAddr,
}

impl UpdateServer {
    /// Listens on a free port of `ip`.
    pub async fn start(ip: std::net::IpAddr) -> anyhow::Result<UpdateServer> {
        let l = TcpListener::bind((ip, 0))
            .await
            .map_err(|e| anyhow::anyhow!("the update server cannot listen on {ip}: {e}"))?;
        let s = UpdateServer {
            modes: Arc::default(),
            log: Arc::default(),
            addr: l.local_addr()?,
        };
        let me = s.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = l.accept().await {
                let me = me.clone();
                tokio::spawn(async move {
                    let _ = me.serve(conn).await;
                });
            }
        });
        Ok(s)
    }

    /// Installs `mode` under a fresh catalogue name; returns the catalogue (`name/`).
    pub fn add(&self, name: &str, mode: Mode) -> String {
        self.modes.locked().insert(name.to_string(), mode);
        format!("{name}/")
    }

    /// The request lines received that name catalogue `name` anywhere in their path.
    pub fn requests(&self, name: &str) -> Vec<String> {
        let needle = format!("/{name}/");
        self.log
            .locked()
            .iter()
            .filter(|l| l.contains(&needle))
            .cloned()
            .collect()
    }

    async fn serve(&self, mut conn: TcpStream) -> anyhow::Result<()> {
        conn.set_nodelay(true)?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await??;
            if n == 0 || head.len() > 16 * 1024 {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let line = text.lines().next().unwrap_or_default().to_string();
        self.log.locked().push(line.clone());
        let path = line.split_whitespace().nth(1).unwrap_or("/");
        // Exactly "/{catalogue}{image}": a doubled or missing slash names no catalogue.
        let name = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            .map(|(n, _)| n.to_string())
            .unwrap_or_default();
        let mode = self.modes.locked().get(&name).cloned();
        let ok = |len: usize| {
            format!(
                "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len}\r\n\r\n"
            )
        };
        match mode {
            None => {
                conn.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    .await?
            }
            Some(Mode::Status(code)) => {
                conn.write_all(format!("HTTP/1.0 {code} Failure\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await?
            }
            Some(Mode::Serve(img)) => {
                conn.write_all(ok(img.len()).as_bytes()).await?;
                conn.write_all(&img).await?;
            }
            Some(Mode::Truncate(img, keep)) => {
                conn.write_all(ok(img.len()).as_bytes()).await?;
                conn.write_all(&img[..keep.min(img.len())]).await?;
            }
            Some(Mode::Stall(img, keep)) => {
                conn.write_all(ok(img.len()).as_bytes()).await?;
                conn.write_all(&img[..keep.min(img.len())]).await?;
                // Hold the connection open without sending: the plug must give up by itself.
                tokio::time::sleep(Duration::from_secs(120)).await;
            }
        }
        conn.shutdown().await?;
        Ok(())
    }
}
