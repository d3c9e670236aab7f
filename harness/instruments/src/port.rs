//! Where a serial instrument is: a local device path, or a port a bench host serves over
//! the network (`rfc2217://host:port`, as ser2net serves it for labgrid, or `tcp://host:port`
//! for a raw byte pipe). The serial drivers open any of them and read the same bytes.

use std::fmt;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::rfc2217::SerialSettings;
use crate::rfc2217::{ComPort, Rfc2217Stream};

/// An open serial link, whatever carries it.
pub trait SerialLink: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> SerialLink for T {}

pub type Link = Box<dyn SerialLink>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortAddress {
    Device(String),
    /// `host:port` of an RFC 2217 server.
    Rfc2217(String),
    /// `host:port` of a raw TCP serial server (no telnet: the baud rate is the server's).
    Tcp(String),
}

impl fmt::Display for PortAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortAddress::Device(p) => f.write_str(p),
            PortAddress::Rfc2217(a) => write!(f, "rfc2217://{a}"),
            PortAddress::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

impl PortAddress {
    /// A rig file's port string. Anything without `scheme://` is a device path.
    pub fn parse(port: &str) -> anyhow::Result<PortAddress> {
        let Some((scheme, rest)) = port.split_once("://") else {
            if port.is_empty() {
                bail!("an empty serial port");
            }
            return Ok(PortAddress::Device(port.to_string()));
        };
        let host_port = |rest: &str| -> anyhow::Result<String> {
            let rest = rest.trim_end_matches('/');
            let (host, p) = rest
                .rsplit_once(':')
                .with_context(|| format!("{port:?}: no port number (want {scheme}://HOST:PORT)"))?;
            if host.is_empty() {
                bail!("{port:?}: no host (want {scheme}://HOST:PORT)");
            }
            p.parse::<u16>()
                .ok()
                .filter(|&n| n != 0)
                .with_context(|| format!("{port:?}: {p:?} is not a TCP port number"))?;
            Ok(rest.to_string())
        };
        match scheme {
            "rfc2217" => Ok(PortAddress::Rfc2217(host_port(rest)?)),
            "tcp" => Ok(PortAddress::Tcp(host_port(rest)?)),
            other => bail!(
                "{port:?}: unknown scheme {other:?} (a device path, rfc2217://HOST:PORT or tcp://HOST:PORT)"
            ),
        }
    }

    pub fn is_network(&self) -> bool {
        !matches!(self, PortAddress::Device(_))
    }
}

/// How long a network port may take to connect and to answer the RFC 2217 negotiation.
const CONNECT: Duration = Duration::from_secs(5);

async fn connect(addr: &str) -> anyhow::Result<tokio::net::TcpStream> {
    let s = tokio::time::timeout(CONNECT, tokio::net::TcpStream::connect(addr))
        .await
        .with_context(|| format!("{addr} did not accept a connection within {CONNECT:?}"))?
        .with_context(|| format!("connecting to {addr}"))?;
    // Modbus frames and relay commands are a few bytes each: no Nagle delay.
    s.set_nodelay(true)?;
    Ok(s)
}

/// Opens a port at `settings`; errors name the port.
pub async fn open(port: &str, settings: SerialSettings) -> anyhow::Result<Link> {
    let addr = PortAddress::parse(port)?;
    open_address(&addr, settings)
        .await
        .with_context(|| format!("opening serial port {addr}"))
}

pub async fn open_address(addr: &PortAddress, settings: SerialSettings) -> anyhow::Result<Link> {
    Ok(match addr {
        PortAddress::Device(path) => {
            let s = tokio_serial::SerialStream::open(&tokio_serial::new(path, settings.baud))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Box::new(s)
        }
        PortAddress::Tcp(a) => Box::new(connect(a).await?),
        PortAddress::Rfc2217(a) => {
            let mut s = Rfc2217Stream::new(connect(a).await?, settings);
            let answer = tokio::time::timeout(CONNECT, s.negotiate())
                .await
                .with_context(|| {
                    format!("{a} answered no telnet negotiation within {CONNECT:?}: is it an RFC 2217 port? (a raw one is tcp://{a})")
                })?
                .with_context(|| format!("negotiating RFC 2217 with {a}"))?;
            match answer {
                ComPort::Accepted => {}
                ComPort::Refused => bail!("{a} refuses COM-PORT-OPTION: a telnet server without RFC 2217 (the baud rate cannot be set)"),
                ComPort::Unanswered => bail!("{a} closed the connection during the RFC 2217 negotiation"),
            }
            Box::new(s)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_strings() {
        assert_eq!(
            PortAddress::parse("/dev/ttyUSB0").unwrap(),
            PortAddress::Device("/dev/ttyUSB0".into())
        );
        assert_eq!(
            PortAddress::parse("rfc2217://bench-3:4001").unwrap(),
            PortAddress::Rfc2217("bench-3:4001".into())
        );
        assert_eq!(
            PortAddress::parse("tcp://[::1]:4002/").unwrap(),
            PortAddress::Tcp("[::1]:4002".into())
        );
        for bad in [
            "rfc2217://bench-3",
            "rfc2217://:4001",
            "tcp://h:0",
            "tcp://h:port",
            "telnet://h:1",
            "",
        ] {
            let e = PortAddress::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(bad) || bad.is_empty(), "{e}");
        }
    }

    #[tokio::test]
    async fn a_raw_tcp_server_is_not_taken_for_rfc2217() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        // Accepts, reads what comes, answers nothing, closes after a moment.
        let srv = tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 256];
                let _ = tokio::time::timeout(Duration::from_millis(200), async {
                    use tokio::io::AsyncReadExt;
                    while s.read(&mut buf).await.is_ok_and(|n| n > 0) {}
                })
                .await;
            }
        });
        let e = open(&format!("rfc2217://{addr}"), SerialSettings::n81(9600))
            .await
            .err()
            .expect("no negotiation");
        let msg = format!("{e:#}");
        assert!(
            msg.contains(&addr.to_string()) && msg.contains("negotiation"),
            "{msg}"
        );
        srv.await.unwrap();
    }
}
