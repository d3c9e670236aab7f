//! TLS under the MQTT session, for 4002 `connect_mode` 1 (PROTOCOL-NOTES "MQTT session":
//! "connect_mode 1 means TLS" [spec]). Both boards open their broker socket, hand its read
//! and write halves to [`connect`], and then move the session's bytes through the
//! connection's halves instead of the socket's, so the MQTT session above stays the same
//! code with or without TLS.
//!
//! The client is embedded-tls: TLS 1.3 only, TLS_AES_128_GCM_SHA256 (the suite every
//! TLS 1.3 server must offer), key exchange on secp256r1, no heap. A broker that offers
//! only TLS 1.2 cannot be reached (docs/tls.md).
//!
//! What it verifies: nothing about the broker's identity. The protocol provisions no CA and
//! no fingerprint, so there is nothing to check a certificate against; the connection is
//! encrypted against a passive listener, not authenticated against an active one
//! (docs/tls.md, "Security note"). The broker's signature schemes are offered anyway, RSA
//! ones included, so that brokers with RSA keys can complete the handshake.
//!
//! Refuses: sockets, clocks and the heap (it runs over the board's `embedded-io-async`
//! halves; randomness comes from the board). Compiled with the `tls` feature only.

use core::cell::RefCell;
use core::net::IpAddr;

use embedded_io::{ErrorKind, ErrorType};
use embedded_io_async::{Read, Write};
use embedded_tls::{Aes128GcmSha256, TlsConfig, TlsConnection, TlsContext, UnsecureProvider};
use rand_core::CryptoRngCore;

pub use embedded_tls::TlsError;

/// The largest record a TLS 1.3 server may send (2^14 plaintext + 256 of expansion): the
/// read buffer must hold one. Servers may ignore a max_fragment_length request (rustls
/// does), so asking for less would not let the plug keep less.
pub const RECORD_READ_MAX: usize = 16_640;
/// Enough for the largest MQTT packet the plug sends, plus a record's overhead, in one
/// record; longer writes are split into several records.
pub const RECORD_WRITE_MAX: usize = crate::mqtt::PACKET_MAX + embedded_tls::TLS_RECORD_OVERHEAD + 256;

/// The cipher suite the plug offers.
pub type Suite = Aes128GcmSha256;

/// A socket's two halves as one socket that can be cloned, for boards whose socket splits
/// into halves but does not clone (embassy-net's): embedded-tls splits a connection into a
/// reader and a writer over clones of the socket, each clone using only its own half
/// after the split, so neither `RefCell` is ever borrowed twice.
pub struct Duplex<'a, R, W> {
    r: &'a RefCell<R>,
    w: &'a RefCell<W>,
}

impl<R, W> Clone for Duplex<'_, R, W> {
    fn clone(&self) -> Self {
        Duplex { r: self.r, w: self.w }
    }
}

impl<R, W> ErrorType for Duplex<'_, R, W> {
    type Error = ErrorKind;
}

impl<R: Read, W> Read for Duplex<'_, R, W> {
    // The borrow lasts across the read by design: only the reader half reads (above).
    #[allow(clippy::await_holding_refcell_ref)]
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let mut r = self.r.try_borrow_mut().map_err(|_| ErrorKind::Other)?;
        r.read(buf).await.map_err(|e| embedded_io::Error::kind(&e))
    }
}

impl<R, W: Write> Write for Duplex<'_, R, W> {
    #[allow(clippy::await_holding_refcell_ref)]
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let mut w = self.w.try_borrow_mut().map_err(|_| ErrorKind::Other)?;
        w.write(buf).await.map_err(|e| embedded_io::Error::kind(&e))
    }

    #[allow(clippy::await_holding_refcell_ref)]
    async fn flush(&mut self) -> Result<(), ErrorKind> {
        let mut w = self.w.try_borrow_mut().map_err(|_| ErrorKind::Other)?;
        w.flush().await.map_err(|e| embedded_io::Error::kind(&e))
    }
}

impl<'a, R, W> Duplex<'a, R, W> {
    pub fn new(r: &'a RefCell<R>, w: &'a RefCell<W>) -> Self {
        Duplex { r, w }
    }
}

/// An open TLS connection over a board's socket (a clonable one, or a [`Duplex`]).
pub type Connection<'a, S> = TlsConnection<'a, S, Suite>;

/// The server name the plug sends: the provisioned host when it is a name. An address is
/// not sent (RFC 6066 3: "Literal IPv4 and IPv6 addresses are not permitted").
pub fn server_name(host: &str) -> Option<&str> {
    (!host.is_empty() && host.parse::<IpAddr>().is_err()).then_some(host)
}

/// Runs the handshake with the broker at `host` over `socket`. On success the connection
/// carries the session's bytes: `split()` it for a reader and a writer side by side, and
/// flush after each packet. Any error (a plain-MQTT broker, a TLS 1.2-only one, a dropped
/// socket) is the board's to report as a closed link; the core retries as after any.
pub async fn connect<'a, S: Read + Write + Clone + 'a>(
    socket: S,
    read_buf: &'a mut [u8],
    write_buf: &'a mut [u8],
    host: &str,
    rng: impl CryptoRngCore,
) -> Result<Connection<'a, S>, TlsError> {
    let mut config = TlsConfig::new().enable_rsa_signatures();
    if let Some(name) = server_name(host) {
        config = config.with_server_name(name);
    }
    let mut conn = TlsConnection::new(socket, read_buf, write_buf);
    // No verifier: see the module header for why the broker is not authenticated.
    conn.open(TlsContext::new(&config, UnsecureProvider::new::<Suite>(rng)))
        .await?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A socket whose peer answers with `reply` and records what the plug wrote.
    struct Peer {
        reply: &'static [u8],
        at: usize,
    }
    impl ErrorType for Peer {
        type Error = ErrorKind;
    }
    impl Read for Peer {
        async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
            let n = buf.len().min(self.reply.len() - self.at);
            buf[..n].copy_from_slice(&self.reply[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }
    struct Sink(Vec<u8>);
    impl ErrorType for Sink {
        type Error = ErrorKind;
    }
    impl Write for Sink {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        async fn flush(&mut self) -> Result<(), ErrorKind> {
            Ok(())
        }
    }

    /// Fixed bytes, not randomness: tests stay deterministic.
    struct Counter(u8);
    impl rand_core::RngCore for Counter {
        fn next_u32(&mut self) -> u32 {
            rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for b in dest {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for Counter {}

    fn handshake_with(reply: &'static [u8], host: &str) -> (Result<(), TlsError>, Vec<u8>) {
        let r = RefCell::new(Peer { reply, at: 0 });
        let w = RefCell::new(Sink(Vec::new()));
        let (mut rb, mut wb) = ([0u8; RECORD_READ_MAX], [0u8; RECORD_WRITE_MAX]);
        let out =
            futures::executor::block_on(connect(Duplex::new(&r, &w), &mut rb, &mut wb, host, Counter(0)));
        (out.map(|_| ()), w.into_inner().0)
    }

    #[test]
    fn the_first_bytes_are_a_client_hello_with_the_host_name() {
        // A broker speaking MQTT in clear answers a CONNACK-like byte string: an error, no panic.
        let (out, sent) = handshake_with(&[0x20, 0x02, 0x00, 0x00], "broker.example");
        assert!(out.is_err());
        // Handshake record (22), then a ClientHello (1) inside it.
        assert_eq!(sent[0], 0x16);
        assert_eq!(sent[5], 0x01);
        let sni = b"broker.example";
        assert!(
            sent.windows(sni.len()).any(|w| w == sni),
            "SNI carries the host name"
        );
    }

    #[test]
    fn an_address_is_not_sent_as_the_server_name() {
        assert_eq!(server_name("192.168.4.2"), None);
        assert_eq!(server_name("::1"), None);
        assert_eq!(server_name("mqtt.local"), Some("mqtt.local"));
        let (_, sent) = handshake_with(&[], "10.0.0.7");
        assert_eq!(sent[0], 0x16);
        assert!(!sent.windows(8).any(|w| w == b"10.0.0.7"));
    }

    #[test]
    fn a_broker_that_hangs_up_mid_handshake_is_an_error() {
        // A ServerHello record header that promises more than arrives.
        let (out, _) = handshake_with(&[0x16, 0x03, 0x03, 0x00, 0x40, 0x02], "b");
        assert!(out.is_err());
    }
}
