//! Shared network helpers: name resolution with the DNS server DHCP gave the station.

use embassy_net::dns::DnsQueryType;
use embassy_net::{IpAddress, Stack};

/// An address for `host`: parsed when it is one, else asked of DNS when `resolve`.
pub async fn address(stack: Stack<'static>, host: &str, resolve: bool) -> Option<IpAddress> {
    if let Ok(ip) = host.parse() {
        return Some(IpAddress::Ipv4(ip));
    }
    if !resolve {
        return None;
    }
    let found = stack.dns_query(host, DnsQueryType::A).await.ok()?;
    found.first().copied()
}
