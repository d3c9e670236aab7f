//! The provisioning socket (TCP 8266 on 192.168.4.1) and the access point's DHCP server.
//! Each slot task serves one connection at a time; the core decides what to answer and
//! when to close.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::sync::atomic::{AtomicBool, Ordering};

use edge_nal::UdpBind;
use embassy_futures::select::{select, Either};
use embassy_net::tcp::TcpSocket;
use embassy_net::Stack;
use embassy_time::{with_timeout, Duration, Instant, Timer};
use embedded_io_async::Write;

use crate::events::{chunk, ApCmd, Ev, AP_CMDS, AP_SLOTS, EVENTS};

pub const AP_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 4, 1);
pub const AP_PORT: u16 = 8266;

/// Set by the core's ApListen, cleared by ApStopListening.
pub static LISTENING: AtomicBool = AtomicBool::new(false);

#[embassy_executor::task(pool_size = AP_SLOTS)]
pub async fn slot(stack: Stack<'static>, idx: usize) {
    let mut rx = [0u8; 1024];
    let mut tx = [0u8; 1024];
    let mut gen: u32 = 0;
    loop {
        while !LISTENING.load(Ordering::Relaxed) {
            Timer::after(Duration::from_millis(100)).await;
        }
        let mut sock = TcpSocket::new(stack, &mut rx, &mut tx);
        if sock.accept(AP_PORT).await.is_err() {
            continue;
        }
        gen = gen.wrapping_add(1);
        // id mod AP_SLOTS is the slot, so a reply finds its task from the id alone.
        let id = gen.wrapping_mul(AP_SLOTS as u32) + idx as u32;
        while AP_CMDS[idx].try_receive().is_ok() {}
        EVENTS.send(Ev::ApAccepted(id)).await;
        let (mut reader, mut writer) = sock.split();
        // Reading and writing run side by side: while the reader waits for room in the
        // event channel, the writer still takes the application's commands, so neither
        // side can wait on the other.
        let read = async {
            let mut buf = [0u8; 512];
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => EVENTS.send(Ev::ApData(id, chunk(&buf[..n]))).await,
                }
            }
        };
        let write = async {
            loop {
                match AP_CMDS[idx].receive().await {
                    ApCmd::Send(to, reply) if to == id => {
                        // One write: the app reads a reply as one segment.
                        if writer.write_all(&reply).await.is_err() || writer.flush().await.is_err() {
                            return false;
                        }
                    }
                    ApCmd::Close(to) if to == id => return true,
                    ApCmd::CloseAll => return true,
                    ApCmd::Send(..) | ApCmd::Close(_) => {}
                }
            }
        };
        let closed_by_core = match select(read, write).await {
            Either::First(()) => false,
            Either::Second(by_core) => by_core,
        };
        if closed_by_core {
            sock.close();
            let _ = with_timeout(Duration::from_secs(1), sock.flush()).await;
        } else {
            EVENTS.send(Ev::ApClosed(id)).await;
        }
        sock.abort();
        let _ = with_timeout(Duration::from_secs(1), sock.flush()).await;
    }
}

/// Which slot serves a connection id.
pub fn slot_of(id: plug_core::plug::ConnId) -> usize {
    id as usize % AP_SLOTS
}

#[embassy_executor::task]
pub async fn dhcp_server(stack: Stack<'static>) {
    static BUFFERS: static_cell::StaticCell<edge_nal_embassy::UdpBuffers<1, 600, 600, 2>> =
        static_cell::StaticCell::new();
    let buffers = BUFFERS.init(edge_nal_embassy::UdpBuffers::new());
    let udp = edge_nal_embassy::Udp::new(stack, buffers);
    let mut buf = [0u8; 600];
    loop {
        let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 67);
        let Ok(mut socket) = udp.bind(any).await else {
            Timer::after(Duration::from_secs(1)).await;
            continue;
        };
        let mut server = edge_dhcp::server::Server::<_, 4>::new(|| Instant::now().as_secs(), AP_ADDRESS);
        let mut gateway = [AP_ADDRESS];
        let options = edge_dhcp::server::ServerOptions::new(AP_ADDRESS, Some(&mut gateway));
        let _ = edge_dhcp::io::server::run(&mut server, &options, &mut socket, &mut buf).await;
        Timer::after(Duration::from_secs(1)).await;
    }
}
