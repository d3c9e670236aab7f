//! The MQTT wire, below the session: where a packet ends in a byte stream, the sizes a
//! packet must have before the codec may look at it, and the codes the session reports.
//!
//! Read first: MQTT 3.1.1 section 2 (fixed header, remaining length) and 3.2.2.3 (CONNACK
//! return codes). mqttrs encodes and decodes; it assumes well-formed input, so
//! [`check_frame`] stands between it and the broker. Refuses: state; every function here
//! is pure, and bad input is an error value, never a panic.

use heapless::Vec;
use mqttrs::{encode_slice, ConnectReturnCode, Packet};

/// Largest packet the session sends or accepts.
pub const PACKET_MAX: usize = 640;
/// The receive buffer: a whole packet and the start of the next.
pub const RX_MAX: usize = PACKET_MAX * 2;

pub type Bytes = Vec<u8, PACKET_MAX>;

/// The packet as bytes, or None when it does not fit [`PACKET_MAX`].
pub fn encode(p: &Packet<'_>) -> Option<Bytes> {
    let mut buf = [0u8; PACKET_MAX];
    let n = encode_slice(p, &mut buf).ok()?;
    Vec::from_slice(&buf[..n]).ok()
}

pub fn connack_code(c: ConnectReturnCode) -> u8 {
    match c {
        ConnectReturnCode::Accepted => 0,
        ConnectReturnCode::RefusedProtocolVersion => 1,
        ConnectReturnCode::RefusedIdentifierRejected => 2,
        ConnectReturnCode::ServerUnavailable => 3,
        ConnectReturnCode::BadUsernamePassword => 4,
        ConnectReturnCode::NotAuthorized => 5,
    }
}

/// Length of the first whole packet in `buf`, if it is all there.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, &'static str> {
    let mut len = 0usize;
    for pos in 0..4 {
        let Some(&b) = buf.get(1 + pos) else {
            return Ok(None);
        };
        len |= usize::from(b & 0x7F) << (7 * pos);
        if b & 0x80 == 0 {
            let total = 2 + pos + len;
            if total > RX_MAX {
                return Err("packet larger than the receive buffer");
            }
            return Ok((buf.len() >= total).then_some(total));
        }
    }
    Err("malformed remaining length")
}

/// Checks the sizes mqttrs 0.4 would otherwise index past (it assumes well-formed input),
/// so no broker can make the plug panic.
pub fn check_frame(f: &[u8]) -> Result<(), &'static str> {
    let kind = f[0] >> 4;
    let hdr = 1 + f[1..].iter().take(4).position(|b| b & 0x80 == 0).unwrap_or(3) + 1;
    let rl = f.len() - hdr;
    let ok = match kind {
        2 | 4 | 5 | 6 | 7 | 11 => rl == 2,
        3 => {
            let qos = (f[0] >> 1) & 3;
            let topic_len = f
                .get(hdr..hdr + 2)
                .map(|b| usize::from(b[0]) << 8 | usize::from(b[1]));
            topic_len.is_some_and(|t| rl >= 2 + t + if qos > 0 { 2 } else { 0 })
        }
        9 => (3..=7).contains(&rl),
        13 => rl == 0,
        // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT: a server never sends them,
        // and mqttrs would index past a short one.
        _ => return Err("packet a server never sends"),
    };
    if ok {
        Ok(())
    } else {
        Err("malformed packet length")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_ends_where_its_remaining_length_says() {
        assert_eq!(frame_len(&[0x20]), Ok(None));
        assert_eq!(frame_len(&[0x20, 0x02, 0x00]), Ok(None));
        assert_eq!(frame_len(&[0x20, 0x02, 0x00, 0x00, 0xD0]), Ok(Some(4)));
        assert!(frame_len(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        assert!(frame_len(&[0x30, 0xFF, 0x7F]).is_err(), "larger than the buffer");
    }

    #[test]
    fn short_packets_are_refused_before_the_codec_sees_them() {
        assert_eq!(check_frame(&[0x20, 0x02, 0x00, 0x00]), Ok(()));
        assert!(check_frame(&[0x40, 0x01, 0x00]).is_err(), "PUBACK without its id");
        assert!(
            check_frame(&[0x32, 0x03, 0x00, 0x01, b't']).is_err(),
            "QoS 1 without an id"
        );
        assert!(check_frame(&[0x10, 0x00]).is_err(), "CONNECT from a server");
        assert_eq!(check_frame(&[0xD0, 0x00]), Ok(()));
    }
}
