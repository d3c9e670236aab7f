//! The provisioning socket (the device's TCP 8266 on 192.168.4.1; here the address the
//! rig gives with `--ap`). One task accepts, one reader task per connection reports what
//! the app sends; the app task (`app`) keeps the write halves and answers.
//!
//! The port is the plug's for the whole life of the process ([`ApPort`]): the ready line
//! names it once, and the plug listens on it again after every power cycle, restart and
//! factory reset, as the device's AP always comes back on 192.168.4.1:8266. A port that was
//! only picked (bound to port 0, then released) could meanwhile be taken by any other
//! socket on the host: another plug's AP, a wire tap, the local port of an outgoing
//! connection. The rig then talked to whatever held it and the plug died with "Address
//! already in use" (issue 19).
//!
//! Refuses: deciding anything about a connection. When to listen, what to answer and
//! when to close are the core's.

use std::net::SocketAddr;
use std::time::Duration;

use plug_core::plug::ConnId;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::{AbortHandle, JoinSet};

use crate::events::{pump, Ev};

/// The AP port, reserved while the process runs: a bound socket that never listens, so a
/// connection to the port is refused while the plug is not in AP mode, as a device that
/// has no access point up refuses it, and no other socket on the host gets the port. Both
/// it and each listener set SO_REUSEADDR: Linux lets a socket with it bind a port another
/// such socket holds, as long as none of them listens, and keeps the port out of bind(0)
/// and of the ephemeral ports of outgoing connections.
pub struct ApPort {
    pub addr: SocketAddr,
    _holder: TcpSocket,
}

impl ApPort {
    pub fn reserve(addr: SocketAddr) -> std::io::Result<ApPort> {
        let holder = reusable(addr)?;
        holder.bind(addr)?;
        let addr = holder.local_addr()?;
        Ok(ApPort {
            addr,
            _holder: holder,
        })
    }
}

fn reusable(addr: SocketAddr) -> std::io::Result<TcpSocket> {
    let s = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    s.set_reuseaddr(true)?;
    Ok(s)
}

fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = reusable(addr)?;
    s.bind(addr)?;
    s.listen(16)
}

/// Listens on `addr` (an [`ApPort`]'s) and accepts connections in a task of `tasks` until
/// aborted. A listener the firmware closed a moment ago (leaving AP mode, or its run
/// before a power cycle) may still be open: the runtime closes an aborted task's socket
/// when it next polls it, so that is waited for, briefly.
pub async fn listen(
    tasks: &mut JoinSet<()>,
    addr: SocketAddr,
    tx: UnboundedSender<Ev>,
) -> anyhow::Result<AbortHandle> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    let listener = loop {
        match bind_listener(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => {
                return Err(anyhow::anyhow!(
                    "the AP port {addr}, reserved by this plug, is still listened on by another socket after 1 s: {e}"
                ))
            }
            Ok(l) => break l,
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
