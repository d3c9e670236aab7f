//! A packet capture of what went through the wire tap, as a pcapng file that Wireshark
//! (and tshark) open with their MQTT dissector.
//!
//! The tap is a TCP proxy: it sees two byte streams per connection, never the packets that
//! carried them, and the plug's real segments (on a bench, on another host) are out of
//! reach. So the capture is synthetic: each tap connection becomes one made-up TCP
//! conversation, framed as raw IPv4 (LINKTYPE_RAW) with correct lengths, sequence and
//! acknowledgement numbers and checksums, so that Wireshark reassembles the streams and
//! decodes MQTT as if it had been on the wire. What it shows is the bytes the tap
//! forwarded, each read as one segment (split at 1400 bytes) at the time the tap read it;
//! segment boundaries, windows, retransmissions and the plug's real addresses are not
//! the wire's.
//!
//! Addresses are documentation addresses (RFC 5737) so that the file never names a host
//! that could be real: the plug is 192.0.2.10, the broker 198.51.100.1 port 1883 (the
//! port picks Wireshark's MQTT dissector), and tap connection n comes from port 40000 + n.
//! Opening writes the three-way handshake, closing a FIN both ways and the last ACK.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;

use crate::sync::Locked;

pub use crate::drivers::timeline::Dir;

/// The plug's address in captures (RFC 5737 TEST-NET-1).
pub const PLUG_IP: [u8; 4] = [192, 0, 2, 10];
/// The broker's address in captures (RFC 5737 TEST-NET-2).
pub const BROKER_IP: [u8; 4] = [198, 51, 100, 1];
pub const BROKER_PORT: u16 = 1883;
/// Tap connection n comes from this port + n.
pub const FIRST_PLUG_PORT: u16 = 40000;
/// Payload bytes per synthetic segment: a longer read becomes several segments.
pub const SEGMENT: usize = 1400;
/// Bytes of packets kept in memory; past this, packets are counted but not kept (a
/// scenario's MQTT traffic is a few kilobytes; this only bounds a runaway).
const MAX_KEPT: usize = 64 * 1024 * 1024;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// One tap connection in a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnId(usize);

struct Conn {
    plug_port: u16,
    /// Next sequence number each side sends.
    plug_seq: u32,
    broker_seq: u32,
    closed: bool,
}

struct Frame {
    /// Since the Unix epoch.
    at: Duration,
    data: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    conns: Vec<Conn>,
    frames: Vec<Frame>,
    kept_bytes: usize,
    dropped: usize,
    ip_id: u16,
}

/// The synthetic capture of one tap (one scenario). Cheap to share: `Arc<Capture>`.
pub struct Capture {
    wall: SystemTime,
    start: Instant,
    inner: Mutex<Inner>,
    /// Keep the CONNECT password as the plug sent it (`--keep-secrets`); by default it is
    /// masked (`mask::mask_connect_password`).
    keep_secrets: std::sync::atomic::AtomicBool,
}

impl Default for Capture {
    fn default() -> Self {
        Capture::new()
    }
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Capture({} packets)", self.packets())
    }
}

impl Capture {
    pub fn new() -> Capture {
        Capture {
            wall: SystemTime::now(),
            start: Instant::now(),
            inner: Mutex::new(Inner::default()),
            keep_secrets: Default::default(),
        }
    }

    /// Keeps the CONNECT password in this capture (`plugrig run --keep-secrets`).
    pub fn keep_secrets(&self) {
        self.keep_secrets
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.locked()
    }

    /// Wall-clock time that never goes backwards within one capture.
    fn now(&self) -> Duration {
        (self.wall + self.start.elapsed())
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }

    /// A new connection from the plug: SYN, SYN-ACK, ACK.
    pub fn open(&self) -> ConnId {
        let at = self.now();
        let mut g = self.lock();
        let n = g.conns.len();
        // Fixed initial sequence numbers per connection (Wireshark shows relative ones).
        let (plug_isn, broker_isn) = (0x1000_0000u32.wrapping_add(n as u32 * 0x10000), 0x6000_0000u32);
        let plug_port = FIRST_PLUG_PORT.wrapping_add((n % 20000) as u16);
        g.conns.push(Conn {
            plug_port,
            plug_seq: plug_isn.wrapping_add(1),
            broker_seq: broker_isn.wrapping_add(1),
            closed: false,
        });
        g.segment(at, Dir::Up, plug_port, plug_isn, 0, SYN, &[]);
        g.segment(
            at,
            Dir::Down,
            plug_port,
            broker_isn,
            plug_isn.wrapping_add(1),
            SYN | ACK,
            &[],
        );
        g.segment(
            at,
            Dir::Up,
            plug_port,
            plug_isn.wrapping_add(1),
            broker_isn.wrapping_add(1),
            ACK,
            &[],
        );
        ConnId(n)
    }

    /// Bytes the tap forwarded in one direction (one read): PSH/ACK segments of at most
    /// [`SEGMENT`] bytes. Ignored after [`Capture::close`] or for an unknown connection.
    pub fn data(&self, conn: ConnId, dir: Dir, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // The broker password is the bench network's: masked to the same length, so the
        // packet stays well-formed (the checksums are computed below, after).
        let masked = (dir == Dir::Up && !self.keep_secrets.load(std::sync::atomic::Ordering::Relaxed))
            .then(|| super::mask::mask_connect_password(bytes))
            .flatten();
        let bytes = masked.as_deref().unwrap_or(bytes);
        let at = self.now();
        let mut g = self.lock();
        let Some(c) = g.conns.get_mut(conn.0).filter(|c| !c.closed) else {
            return;
        };
        let port = c.plug_port;
        let (mut seq, ack) = match dir {
            Dir::Up => (c.plug_seq, c.broker_seq),
            Dir::Down => (c.broker_seq, c.plug_seq),
        };
        let end = seq.wrapping_add(bytes.len() as u32);
        match dir {
            Dir::Up => c.plug_seq = end,
            Dir::Down => c.broker_seq = end,
        }
        for part in bytes.chunks(SEGMENT) {
            g.segment(at, dir, port, seq, ack, PSH | ACK, part);
            seq = seq.wrapping_add(part.len() as u32);
        }
    }

    /// The connection ended: FIN/ACK from the plug, FIN/ACK from the broker, the last
    /// ACK. A second close does nothing.
    pub fn close(&self, conn: ConnId) {
        let at = self.now();
        let mut g = self.lock();
        let Some(c) = g.conns.get_mut(conn.0).filter(|c| !c.closed) else {
            return;
        };
        c.closed = true;
        let (port, p, b) = (c.plug_port, c.plug_seq, c.broker_seq);
        c.plug_seq = p.wrapping_add(1);
        c.broker_seq = b.wrapping_add(1);
        g.segment(at, Dir::Up, port, p, b, FIN | ACK, &[]);
        g.segment(at, Dir::Down, port, b, p.wrapping_add(1), FIN | ACK, &[]);
        g.segment(at, Dir::Up, port, p.wrapping_add(1), b.wrapping_add(1), ACK, &[]);
    }

    /// Opens a connection that closes when the returned handle drops (also when the task
    /// holding it is aborted, as the tap's cut does).
    pub fn track(self: &Arc<Self>) -> Tracked {
        Tracked {
            capture: self.clone(),
            id: self.open(),
        }
    }

    /// Packets so far, including any not kept.
    pub fn packets(&self) -> usize {
        let g = self.lock();
        g.frames.len() + g.dropped
    }

    /// Writes the capture as pcapng: a section header, one raw-IPv4 interface with
    /// nanosecond timestamps, one enhanced packet block per packet.
    pub fn write_pcapng_to<W: Write>(&self, w: W) -> anyhow::Result<()> {
        let g = self.lock();
        let mut options = vec![SectionHeaderOption::UserApplication(Cow::Borrowed(
            "plugrig wire tap (synthetic TCP/IP framing)",
        ))];
        if g.dropped > 0 {
            options.push(SectionHeaderOption::Comment(Cow::Owned(format!(
                "{} packets not kept: over {MAX_KEPT} bytes",
                g.dropped
            ))));
        }
        let section = SectionHeaderBlock {
            options,
            ..Default::default()
        };
        let mut out = PcapNgWriter::with_section_header(w, section)?;
        out.write_pcapng_block(InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: 0xFFFF,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed("plugrig-tap")),
                // pcap-file writes timestamps in nanoseconds; the default resolution
                // would be microseconds.
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        })?;
        for f in &g.frames {
            out.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: f.at,
                original_len: f.data.len() as u32,
                data: Cow::Borrowed(&f.data),
                options: vec![],
            })?;
        }
        out.into_inner().flush()?;
        Ok(())
    }

    /// Writes the capture to `path` (its folder is created).
    pub fn write_pcapng(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let f = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        self.write_pcapng_to(std::io::BufWriter::new(f))
            .with_context(|| format!("cannot write the capture {}", path.display()))
    }
}

/// A connection in a capture that closes when dropped; see [`Capture::track`].
pub struct Tracked {
    capture: Arc<Capture>,
    id: ConnId,
}

impl Tracked {
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Whether this connection is recorded in `capture`.
    pub fn is_in(&self, capture: &Arc<Capture>) -> bool {
        Arc::ptr_eq(&self.capture, capture)
    }

    pub fn data(&self, dir: Dir, bytes: &[u8]) {
        self.capture.data(self.id, dir, bytes)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.capture.close(self.id)
    }
}

impl Inner {
    #[allow(clippy::too_many_arguments)]
    fn segment(
        &mut self,
        at: Duration,
        dir: Dir,
        plug_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
    ) {
        let len = 40 + payload.len();
        if self.kept_bytes + len > MAX_KEPT {
            self.dropped += 1;
            return;
        }
        self.ip_id = self.ip_id.wrapping_add(1);
        let (src, dst, sport, dport) = match dir {
            Dir::Up => (PLUG_IP, BROKER_IP, plug_port, BROKER_PORT),
            Dir::Down => (BROKER_IP, PLUG_IP, BROKER_PORT, plug_port),
        };
        let data = ipv4_tcp(self.ip_id, src, dst, sport, dport, seq, ack, flags, payload);
        self.kept_bytes += data.len();
        self.frames.push(Frame { at, data });
    }
}

/// One IPv4 packet carrying one TCP segment, without options, checksums filled in.
#[allow(clippy::too_many_arguments)]
fn ipv4_tcp(
    id: u16,
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let tcp_len = 20 + payload.len();
    let total = 20 + tcp_len;
    let mut p = Vec::with_capacity(total);
    // IPv4: version 4, 5 words of header, no TOS; don't fragment; TTL 64; TCP.
    p.extend_from_slice(&[0x45, 0]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let ip_sum = checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    // TCP: 5 words of header, window 65535, no urgent data.
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ack.to_be_bytes());
    p.extend_from_slice(&[5 << 4, flags, 0xFF, 0xFF, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    let mut pseudo = [0u8; 12];
    pseudo[..4].copy_from_slice(&src);
    pseudo[4..8].copy_from_slice(&dst);
    pseudo[9] = 6;
    pseudo[10..].copy_from_slice(&(tcp_len as u16).to_be_bytes());
    let tcp_sum = checksum(&[&pseudo, &p[20..]]);
    p[36..38].copy_from_slice(&tcp_sum.to_be_bytes());
    p
}

/// The Internet checksum (RFC 1071) of the concatenated parts; every part but the last
/// must have an even length.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        for w in part.chunks(2) {
            let word = if w.len() == 2 {
                u16::from_be_bytes([w[0], w[1]])
            } else {
                u16::from_be_bytes([w[0], 0])
            };
            sum += u32::from(word);
        }
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(p: &[u8], i: usize) -> u32 {
        u32::from_be_bytes(p[i..i + 4].try_into().unwrap())
    }

    /// (from plug, seq, ack, flags, payload length) of each packet.
    fn segments(c: &Capture) -> Vec<(bool, u32, u32, u8, usize)> {
        c.lock()
            .frames
            .iter()
            .map(|f| {
                let p = &f.data;
                (
                    p[12..16] == PLUG_IP,
                    u32_at(p, 24),
                    u32_at(p, 28),
                    p[33],
                    p.len() - 40,
                )
            })
            .collect()
    }

    #[test]
    fn internet_checksum_matches_rfc_1071_example() {
        // RFC 1071 section 3: these bytes sum to 0xddf2; the checksum is its complement.
        let b = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&[&b]), !0xddf2);
        // An odd length pads with a zero byte.
        assert_eq!(checksum(&[&[0x01, 0x02, 0x03]]), !0x0402);
    }

    #[test]
    fn ipv4_header_checksum_of_a_known_header() {
        let p = ipv4_tcp(1, PLUG_IP, BROKER_IP, 40000, 1883, 0, 0, SYN, &[]);
        // 4500 0028 0001 4000 4006 [sum] c000 020a c633 6401: the words sum to 0x2b16d,
        // folded 0xb16f, complemented 0x4e90.
        assert_eq!(&p[..10], &[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6]);
        assert_eq!(u16::from_be_bytes([p[10], p[11]]), 0x4e90);
        // A header with its checksum sums to all ones.
        assert_eq!(checksum(&[&p[..20]]), 0);
    }

    #[test]
    fn tcp_checksum_covers_pseudo_header_and_payload() {
        let p = ipv4_tcp(7, BROKER_IP, PLUG_IP, 1883, 40001, 5, 9, PSH | ACK, b"hello");
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
        let mut pseudo = [0u8; 12];
        pseudo[..4].copy_from_slice(&BROKER_IP);
        pseudo[4..8].copy_from_slice(&PLUG_IP);
        pseudo[9] = 6;
        pseudo[10..].copy_from_slice(&25u16.to_be_bytes());
        assert_eq!(checksum(&[&pseudo, &p[20..]]), 0);
        assert_eq!(&p[40..], b"hello");
    }

    #[test]
    fn handshake_data_and_close_carry_consistent_numbers() {
        let c = Capture::new();
        let id = c.open();
        c.data(id, Dir::Up, &[1; 10]);
        c.data(id, Dir::Down, &[2; 4]);
        c.data(id, Dir::Up, &[3; 3000]);
        c.close(id);
        c.close(id);
        c.data(id, Dir::Up, b"after close");
        let s = segments(&c);
        let (p, b) = (0x1000_0000u32, 0x6000_0000u32);
        assert_eq!(
            s,
            vec![
                (true, p, 0, SYN, 0),
                (false, b, p + 1, SYN | ACK, 0),
                (true, p + 1, b + 1, ACK, 0),
                (true, p + 1, b + 1, PSH | ACK, 10),
                (false, b + 1, p + 11, PSH | ACK, 4),
                // 3000 bytes in one read: 1400 + 1400 + 200.
                (true, p + 11, b + 5, PSH | ACK, 1400),
                (true, p + 1411, b + 5, PSH | ACK, 1400),
                (true, p + 2811, b + 5, PSH | ACK, 200),
                (true, p + 3011, b + 5, FIN | ACK, 0),
                (false, b + 5, p + 3012, FIN | ACK, 0),
                (true, p + 3012, b + 6, ACK, 0),
            ]
        );
        assert_eq!(c.packets(), 11);
    }

    #[test]
    fn each_connection_has_its_own_port_and_a_tracked_one_closes_on_drop() {
        let c = Arc::new(Capture::new());
        let first = c.open();
        {
            let t = c.track();
            t.data(Dir::Up, b"x");
        }
        let g = c.lock();
        let ports: Vec<u16> = g
            .frames
            .iter()
            .map(|f| {
                let at = if f.data[12..16] == PLUG_IP { 20 } else { 22 };
                u16::from_be_bytes([f.data[at], f.data[at + 1]])
            })
            .collect();
        assert_eq!(&ports[..3], &[40000; 3]);
        assert_eq!(ports[3], 40001);
        assert_eq!(g.frames.last().unwrap().data[33], ACK);
        assert_eq!(g.frames[g.frames.len() - 2].data[33], FIN | ACK);
        assert!(g.conns[1].closed && !g.conns[first.0].closed);
    }

    #[test]
    fn writes_a_pcapng_the_reader_reads_back() {
        let c = Capture::new();
        let id = c.open();
        c.data(id, Dir::Up, b"abc");
        c.close(id);
        let mut out = Vec::new();
        c.write_pcapng_to(&mut out).unwrap();
        let mut r = pcap_file::pcapng::PcapNgReader::new(&out[..]).unwrap();
        let mut packets = 0;
        while let Some(b) = r.next_block() {
            if let pcap_file::pcapng::Block::EnhancedPacket(e) = b.unwrap() {
                packets += 1;
                assert!(e.timestamp > Duration::from_secs(1_600_000_000));
            }
        }
        assert_eq!(packets, 7);
    }
}
