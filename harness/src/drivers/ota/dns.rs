//! A DNS server for the rig's network: A records for the names the rig defines, NXDOMAIN
//! for everything else. On the rig's address: a free loopback port on the simulated rig
//! (the simulated plug is told where), port 53 of the bench host on a bench, where the
//! bench network's DHCP points a plug's resolver. Hand-written: one question, class IN,
//! type A; enough for a plug's lookup.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;

pub struct DnsServer {
    pub addr: SocketAddr,
}

/// The answer to one query, or None for a datagram that is not a query.
pub fn answer(q: &[u8], records: &HashMap<String, Ipv4Addr>) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    // The question's name.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(at + 1..at + 1 + len)?).to_ascii_lowercase());
        at += 1 + len;
    }
    let qtype = u16::from_be_bytes([*q.get(at)?, *q.get(at + 1)?]);
    let question_end = at + 4;
    let name = labels.join(".");
    let found = records.get(&name).filter(|_| qtype == 1);
    let mut r = Vec::with_capacity(question_end + 16);
    r.extend_from_slice(&q[0..2]);
    // QR, opcode copied, AA, RD copied; RA; rcode 0 or 3 (NXDOMAIN).
    r.push(0x84 | (q[2] & 0x79));
    r.push(
        0x80 | if found.is_some() || records.contains_key(&name) {
            0
        } else {
            3
        },
    );
    r.extend_from_slice(&[0, 1, 0, u8::from(found.is_some()), 0, 0, 0, 0]);
    r.extend_from_slice(q.get(12..question_end)?);
    if let Some(ip) = found {
        r.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    Some(r)
}

impl DnsServer {
    pub async fn start(records: HashMap<String, Ipv4Addr>, at: SocketAddr) -> anyhow::Result<DnsServer> {
        let sock = Arc::new(
            UdpSocket::bind(at)
                .await
                .map_err(|e| anyhow::anyhow!("the DNS server cannot listen on {at}: {e}"))?,
        );
        let addr = sock.local_addr()?;
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                if let Some(r) = answer(&buf[..n], &records) {
                    let _ = sock.send_to(&r, from).await;
                }
            }
        });
        Ok(DnsServer { addr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    #[test]
    fn answers_known_names_and_nxdomain_for_the_rest() {
        let records = HashMap::from([("fw.plugrig.test".to_string(), Ipv4Addr::LOCALHOST)]);
        let r = answer(&query("fw.plugrig.test"), &records).unwrap();
        assert_eq!(r[3] & 0x0F, 0);
        assert_eq!(&r[r.len() - 4..], &[127, 0, 0, 1]);
        let r = answer(&query("nowhere.plugrig.test"), &records).unwrap();
        assert_eq!(r[3] & 0x0F, 3);
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 0);
        assert!(answer(&[0; 5], &records).is_none());
    }
}
