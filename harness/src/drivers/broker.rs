//! The broker the plug is provisioned against: rumqttd embedded in the harness, or an
//! external one (Debian's mosquitto in CI). rumqttd runs on its own thread and cannot
//! report its port, so a free loopback port is reserved first and held while it runs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use rumqttd::{Config, ConnectionSettings, RouterConfig, ServerSettings};

use crate::rig;

#[derive(Debug, Clone)]
pub struct BrokerInfo {
    pub addr: SocketAddr,
    pub username: String,
    pub password: String,
    pub kind: &'static str,
}

async fn reachable(addr: SocketAddr, within: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("broker at {addr} is not accepting connections after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts (embedded) or checks (external) the rig's broker.
pub async fn start(b: &rig::Broker) -> anyhow::Result<BrokerInfo> {
    match b {
        rig::Broker::Embedded { username, password } => {
            // Held for as long as the process runs, as the broker is: until rumqttd binds
            // it, no other socket may take it (see `reserved_port`).
            let port = crate::drivers::reserved_port::ReservedPort::for_listener([127, 0, 0, 1].into())
                .context("reserving a loopback port for the embedded broker")?;
            let addr = port.addr;
            std::mem::forget(port);
            let mut auth = HashMap::new();
            auth.insert(username.clone(), password.clone());
            let server = ServerSettings {
                name: "v4".into(),
                listen: addr,
                tls: None,
                next_connection_delay_ms: 1,
                connections: ConnectionSettings {
                    connection_timeout_ms: 10_000,
                    max_payload_size: 64 * 1024,
                    max_inflight_count: 100,
                    auth: Some(auth),
                    external_auth: None,
                    dynamic_filters: true,
                },
            };
            let config = Config {
                id: 0,
                router: RouterConfig {
                    max_connections: 10_000,
                    max_outgoing_packet_count: 200,
                    max_segment_size: 100 * 1024 * 1024,
                    max_segment_count: 10,
                    ..Default::default()
                },
                v4: Some(HashMap::from([("v4".to_string(), server)])),
                ..Default::default()
            };
            std::thread::Builder::new()
                .name("rumqttd".into())
                .spawn(move || {
                    let mut broker = rumqttd::Broker::new(config);
                    if let Err(e) = broker.start() {
                        eprintln!("plugrig: embedded broker stopped: {e}");
                    }
                })
                .context("starting the embedded broker thread")?;
            reachable(addr, Duration::from_secs(10)).await?;
            Ok(BrokerInfo {
                addr,
                username: username.clone(),
                password: password.clone(),
                kind: "rumqttd (embedded)",
            })
        }
        rig::Broker::External {
            host,
            port,
            username,
            password,
            tls_port,
        } => {
            let addr = tokio::net::lookup_host((host.as_str(), *port))
                .await
                .with_context(|| format!("resolving broker host {host}"))?
                .next()
                .with_context(|| format!("broker host {host} has no address"))?;
            reachable(addr, Duration::from_secs(10)).await?;
            if let Some(p) = tls_port {
                let tls_addr = SocketAddr::new(addr.ip(), *p);
                reachable(tls_addr, Duration::from_secs(10)).await?;
                crate::drivers::tap::tls::broker_tls_at(addr, tls_addr);
            }
            Ok(BrokerInfo {
                addr,
                username: username.clone().unwrap_or_else(|| "plugrig".into()),
                password: password.clone().unwrap_or_else(|| "plugrig".into()),
                kind: "external",
            })
        }
    }
}
