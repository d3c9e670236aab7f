//! The provisioning socket (the device's TCP 8266 on 192.168.4.1; here the address the
//! rig gives with `--ap`). One task accepts, one reader task per connection reports what
//! the app sends; the app task (`app`) keeps the write halves and answers.
//!
//! Refuses: deciding anything about a connection. When to listen, what to answer and
//! when to close are the core's.

use std::net::SocketAddr;
use std::time::Duration;

use plug_core::plug::ConnId;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::{AbortHandle, JoinSet};

use crate::events::{pump, Ev};

/// Binds `addr` and accepts connections in a task of `tasks` until aborted.
pub async fn listen(
    tasks: &mut JoinSet<()>,
    addr: SocketAddr,
    tx: UnboundedSender<Ev>,
) -> anyhow::Result<AbortHandle> {
    // After a restart the previous run's listener (open in station mode with
    // ap-stays-open) goes only when the runtime drops its aborted task: wait a
    // little for the port rather than stop the firmware.
    let mut tries = 0;
    let listener = loop {
        match TcpListener::bind(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            r => break r?,
        }
    };
    Ok(tasks.spawn(async move {
        let mut next: ConnId = 1;
        let mut readers = JoinSet::new();
        while let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            let id = next;
            next = next.wrapping_add(1);
            let (mut r, w) = s.into_split();
            let tx2 = tx.clone();
            let h = readers.spawn(async move {
                pump(&mut r, 1024, &tx2, |d| Ev::ApData(id, d)).await;
                let _ = tx2.send(Ev::ApClosed(id));
            });
            let _ = tx.send(Ev::ApAccepted(id, w, h));
        }
    }))
}
