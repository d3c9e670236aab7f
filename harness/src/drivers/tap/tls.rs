//! TLS in the wire tap, for plugs provisioned with 4002 `connect_mode` 1 (PROTOCOL-NOTES
//! "MQTT session": "connect_mode 1 means TLS" [spec]).
//!
//! Plug side: the tap looks at the first bytes of every connection from the plug. A TLS
//! ClientHello is terminated here with a certificate made for this run (rcgen, rustls on
//! ring); anything else passes in clear. Either way the timeline gets how the connection
//! opened (`TapOpened`) and, for TLS, what was negotiated (`TlsHandshake`), and the tap's
//! MQTT decoding, capture and every session check see the plaintext. Nothing here depends
//! on the plug being simulated: a bench plug's TLS is terminated the same way.
//!
//! Broker side: a broker whose rig entry has a `tls_port` (mosquitto's TLS listener in CI)
//! is reached there over TLS. It is the rig's own broker, so its certificate is not checked;
//! its handshake signature is.
//!
//! How it hooks in: each side becomes a plain loopback `TcpStream` bridged to the TLS stream
//! by a relay task, so the tap's pump, quick ACKs, cuts and capture stay as they are for
//! plain connections. A cut drops the tap's end, and the relay then closes the TLS side.
//!
//! Refuses: judging. Whether a plug should have used TLS is the oracle's question
//! (`tls-*` rules), asked of the events recorded here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::drivers::timeline::{Event, Timeline};
use crate::sync::Locked;

/// A TLS record header's content type for a handshake: a ClientHello starts with it; an
/// MQTT CONNECT starts with 0x10.
const HANDSHAKE_RECORD: u8 = 0x16;
/// How long a plug may take to send its first bytes, and to finish the handshake.
const OPENING_WITHIN: Duration = Duration::from_secs(10);

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The tap's server configuration: one self-signed certificate per run (per process),
/// for every name, since the plug verifies no certificate (docs/tls.md, "Security note").
fn server_config() -> anyhow::Result<Arc<ServerConfig>> {
    static CONFIG: OnceLock<Result<Arc<ServerConfig>, String>> = OnceLock::new();
    let made = CONFIG.get_or_init(|| {
        let make = || -> anyhow::Result<Arc<ServerConfig>> {
            let names = vec!["plugrig-tap".to_string(), "localhost".to_string()];
            let ck = rcgen::generate_simple_self_signed(names).context("making the tap's certificate")?;
            let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der())
                .map_err(|e| anyhow::anyhow!("the tap's key: {e}"))?;
            let config = ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(vec![ck.cert.der().clone()], key)?;
            Ok(Arc::new(config))
        };
        make().map_err(|e| format!("{e:#}"))
    });
    made.clone().map_err(|e| anyhow::anyhow!(e))
}

/// The plug's connection as the tap's pump sees it: itself when the plug spoke in clear,
/// or a loopback stream carrying the plaintext of the TLS session the tap terminated.
/// None when the plug sent nothing or the handshake failed (said on the timeline).
pub async fn plug_side(plug: TcpStream, tl: &Arc<Timeline>) -> Option<TcpStream> {
    let mut first = [0u8; 1];
    let tls = match tokio::time::timeout(OPENING_WITHIN, plug.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == HANDSHAKE_RECORD,
        // Closed or silent: nothing to terminate; the pump sees the same.
        _ => return Some(plug),
    };
    tl.push(Event::TapOpened { tls });
    if !tls {
        return Some(plug);
    }
    let config = match server_config() {
        Ok(c) => c,
        Err(e) => {
            tl.push(Event::Note(format!("tap: no TLS server configuration: {e}")));
            return None;
        }
    };
    let accepted = tokio::time::timeout(OPENING_WITHIN, TlsAcceptor::from(config).accept(plug)).await;
    let stream = match accepted {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tl.push(Event::Note(format!(
                "tap: TLS handshake with the plug failed: {e}"
            )));
            return None;
        }
        Err(_) => {
            tl.push(Event::Note(format!(
                "tap: no TLS handshake from the plug within {OPENING_WITHIN:?}"
            )));
            return None;
        }
    };
    let (_, conn) = stream.get_ref();
    tl.push(Event::TlsHandshake {
        version: conn
            .protocol_version()
            .map_or("unknown".into(), |v| format!("{v:?}")),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .map_or("unknown".into(), |s| format!("{:?}", s.suite())),
        sni: conn.server_name().map(str::to_string),
    });
    bridge(stream, tl).await
}

/// Brokers with a TLS listener: the address the tap is given (the broker's plain
/// listener, which the app side uses too) and the TLS listener the tap uses instead. The
/// rig's broker entry says so (`tls_port`); kept here so the tap's interface stays an
/// address.
fn tls_brokers() -> &'static Mutex<HashMap<SocketAddr, SocketAddr>> {
    static MAP: OnceLock<Mutex<HashMap<SocketAddr, SocketAddr>>> = OnceLock::new();
    MAP.get_or_init(Default::default)
}

/// The broker at `plain` is reached over TLS at `tls`.
pub fn broker_tls_at(plain: SocketAddr, tls: SocketAddr) {
    tls_brokers().locked().insert(plain, tls);
}

/// Connects to the broker: in clear, or over TLS when it has a TLS listener.
pub async fn broker_side(addr: SocketAddr, tl: &Arc<Timeline>) -> anyhow::Result<TcpStream> {
    let tls_addr = tls_brokers().locked().get(&addr).copied();
    let Some(tls_addr) = tls_addr else {
        return Ok(TcpStream::connect(addr).await?);
    };
    let tcp = TcpStream::connect(tls_addr).await?;
    let _ = tcp.set_nodelay(true);
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(RigBroker(provider())))
        .with_no_client_auth();
    let name = ServerName::from(tls_addr.ip());
    let stream = tokio::time::timeout(
        OPENING_WITHIN,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .context("TLS handshake with the broker timed out")?
    .context("TLS handshake with the broker")?;
    bridge(stream, tl)
        .await
        .context("bridging the broker's TLS stream")
}

/// A loopback stream whose other end is relayed to and from `tls` until either closes.
async fn bridge<S>(tls: S, tl: &Arc<Timeline>) -> Option<TcpStream>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let pair = async {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let near = TcpStream::connect(l.local_addr()?).await?;
        let (far, _) = l.accept().await?;
        anyhow::Ok((near, far))
    };
    let (near, far) = match pair.await {
        Ok(p) => p,
        Err(e) => {
            tl.push(Event::Note(format!("tap: no loopback pair for TLS: {e}")));
            return None;
        }
    };
    // Small packets leave at once on this hop too (`forward` says why).
    let _ = near.set_nodelay(true);
    let _ = far.set_nodelay(true);
    tokio::spawn(async move {
        let (mut far, mut tls) = (far, tls);
        // Ends when either side closes, which closes the other: a cut reaches the plug.
        let _ = tokio::io::copy_bidirectional(&mut far, &mut tls).await;
    });
    Some(near)
}

/// The rig's own broker: its certificate is whatever CI made at start-up, so it is not
/// checked against a CA; the handshake signature is still verified.
#[derive(Debug)]
struct RigBroker(Arc<CryptoProvider>);

impl ServerCertVerifier for RigBroker {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
