//! Ports held for the rig's own use, so that no other socket on the host takes them.
//!
//! A port picked by binding port 0 and releasing it is free again at once: any other
//! socket's bind(0) can get it, and so can an outgoing connection's local port, before its
//! intended owner binds it. With plug-sims, wire taps, relays and servers starting four
//! at a time that happened about once in a dozen default runs (issue 19). A
//! [`ReservedPort`] is a bound socket that never listens: Linux keeps its port out of
//! bind(0) and of outgoing connections' ports until it is dropped, and a connection to it
//! is refused.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpSocket;

pub struct ReservedPort {
    pub addr: SocketAddr,
    _holder: TcpSocket,
}

impl std::fmt::Debug for ReservedPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReservedPort({})", self.addr)
    }
}

impl ReservedPort {
    /// A free port of `ip` held for a listener that someone else opens later (a broker
    /// thread, a child process): the holder sets SO_REUSEADDR, which lets another socket
    /// that sets it too (tokio's, mio's and std's listeners do) bind the port as long as
    /// no socket listens on it yet, and keeps out every socket that does not.
    pub fn for_listener(ip: IpAddr) -> std::io::Result<ReservedPort> {
        Self::bind(ip, true)
    }

    /// A free port of `ip` where connections are refused for as long as this lives, and
    /// that nothing else can take meanwhile.
    pub fn refusing(ip: IpAddr) -> std::io::Result<ReservedPort> {
        Self::bind(ip, false)
    }

    fn bind(ip: IpAddr, reuse: bool) -> std::io::Result<ReservedPort> {
        let s = match ip {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        s.set_reuseaddr(reuse)?;
        s.bind(SocketAddr::new(ip, 0))?;
        Ok(ReservedPort {
            addr: s.local_addr()?,
            _holder: s,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

#[cfg(test)]
mod tests {
    use super::ReservedPort;
    use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn a_reserved_port_is_never_handed_out_by_bind_0_and_its_listener_can_still_bind_it() {
        let held = ReservedPort::for_listener(LOOPBACK).expect("reserve");
        // Hold a few thousand ports at once: bind(0) must skip the reserved one every time.
        let others: Vec<TcpListener> = (0..2000)
            .map(|_| TcpListener::bind((LOOPBACK, 0)).expect("bind 0"))
            .collect();
        assert!(others
            .iter()
            .all(|l| l.local_addr().expect("addr").port() != held.port()));
        drop(others);
        // While nothing listens, a connection is refused.
        assert!(TcpStream::connect(held.addr).is_err());
        // std's listener sets SO_REUSEADDR, as tokio's does: the intended owner binds it.
        let owner = TcpListener::bind(held.addr).expect("the owner binds the reserved port");
        TcpStream::connect(held.addr).expect("the owner accepts");
        drop(owner);
    }

    #[test]
    fn a_refusing_port_refuses_and_cannot_be_taken() {
        let held = ReservedPort::refusing(LOOPBACK).expect("reserve");
        assert!(TcpStream::connect(held.addr).is_err());
        assert!(TcpListener::bind(held.addr).is_err());
    }
}
