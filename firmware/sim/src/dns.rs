//! A minimal DNS client for the OTA host name: one A query over UDP to the resolver the
//! network gave the plug (on the simulated rig, the harness's own DNS server on loopback).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;

fn query(id: u16, name: &str) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len()).ok().filter(|l| (1..64).contains(l))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]);
    Some(q)
}

/// Skips a possibly compressed name; returns the offset after it.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *m.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xC0 == 0xC0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

fn answer(m: &[u8], id: u16) -> Option<Ipv4Addr> {
    if m.len() < 12 || m[0..2] != id.to_be_bytes() || m[3] & 0x0F != 0 {
        return None;
    }
    let qd = u16::from_be_bytes([m[4], m[5]]);
    let an = u16::from_be_bytes([m[6], m[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(m, at)? + 4;
    }
    for _ in 0..an {
        at = skip_name(m, at)?;
        let rr = m.get(at..at + 10)?;
        let (kind, len) = (
            u16::from_be_bytes([rr[0], rr[1]]),
            usize::from(u16::from_be_bytes([rr[8], rr[9]])),
        );
        at += 10;
        let data = m.get(at..at + len)?;
        if kind == 1 && len == 4 {
            return Some(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += len;
    }
    None
}

/// Resolves `name` to an IPv4 address through `resolver`; None when it does not resolve.
pub async fn resolve_a(resolver: SocketAddr, name: &str) -> Option<Ipv4Addr> {
    // The unspecified address: the kernel picks the source of the route to the resolver
    // (loopback on the simulated rig, the home network on a bench).
    let bind: SocketAddr = if resolver.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await.ok()?;
    let id = (std::process::id() as u16) ^ 0x5a5a;
    let q = query(id, name)?;
    for _ in 0..3 {
        sock.send_to(&q, resolver).await.ok()?;
        let mut buf = [0u8; 512];
        if let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_secs(1), sock.recv_from(&mut buf)).await
        {
            if from == resolver {
                return answer(&buf[..n], id);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_answer_with_a_compressed_name() {
        let mut m = query(7, "fw.plugrig.test").expect("query");
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = 1;
        m.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9]);
        assert_eq!(answer(&m, 7), Some(Ipv4Addr::new(127, 0, 0, 9)));
        m[3] = 0x83;
        assert_eq!(answer(&m, 7), None, "NXDOMAIN");
        assert_eq!(answer(&m[..5], 7), None);
    }
}
