//! The broker password kept out of the tap's captures (`report::redact` says why): the
//! CONNECT packet's password field is overwritten with `*` of the same length, so the MQTT
//! packet stays well-formed and the synthetic segments' checksums, computed afterwards, stay
//! valid.

/// The password field of an MQTT CONNECT packet at the start of `bytes`, overwritten with
/// `*` of the same length; None when `bytes` does not start with a whole CONNECT that has
/// a password. (A CONNECT split over two reads of the tap is left as it is.)
pub fn mask_connect_password(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.first()? >> 4 != 1 {
        return None;
    }
    // Remaining length: a variable-length integer of at most 4 bytes.
    let mut at = 1;
    let mut remaining = 0usize;
    for shift in 0..4 {
        let b = *bytes.get(at)?;
        at += 1;
        remaining |= usize::from(b & 0x7f) << (7 * shift);
        if b & 0x80 == 0 {
            break;
        }
    }
    let end = at.checked_add(remaining)?;
    if end > bytes.len() {
        return None;
    }
    let field = |at: &mut usize| -> Option<(usize, usize)> {
        let len = usize::from(u16::from_be_bytes([*bytes.get(*at)?, *bytes.get(*at + 1)?]));
        let start = *at + 2;
        *at = start.checked_add(len)?;
        (*at <= end).then_some((start, len))
    };
    field(&mut at)?; // protocol name
    let flags = *bytes.get(at + 1)?; // after the protocol level
    at += 4; // level, flags, keepalive
    field(&mut at)?; // client id
    if flags & 0x04 != 0 {
        field(&mut at)?; // will topic
        field(&mut at)?; // will message
    }
    if flags & 0x80 != 0 {
        field(&mut at)?; // username
    }
    if flags & 0x40 == 0 {
        return None;
    }
    let (start, len) = field(&mut at)?;
    let mut out = bytes.to_vec();
    out[start..start + len].fill(b'*');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(password: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        let field = |b: &mut Vec<u8>, f: &[u8]| {
            b.extend_from_slice(&(f.len() as u16).to_be_bytes());
            b.extend_from_slice(f);
        };
        field(&mut body, b"MQTT");
        body.extend_from_slice(&[4, 0xC2, 0, 60]);
        field(&mut body, b"client-1");
        field(&mut body, b"plugrig");
        field(&mut body, password);
        let mut p = vec![0x10, body.len() as u8];
        p.extend(body);
        p
    }

    #[test]
    fn the_connect_password_is_masked_to_the_same_length() {
        let p = connect(b"plugrig-secret");
        let m = mask_connect_password(&p).expect("a CONNECT with a password");
        assert_eq!(m.len(), p.len());
        assert!(m.ends_with(b"\x00\x0e**************"), "{m:?}");
        assert!(m.windows(7).any(|w| w == b"plugrig"), "the username stays");
        // Still a CONNECT rumqttc reads, with the mask as its password.
        let mut buf = bytes::BytesMut::from(&m[..]);
        let packet = rumqttc::Packet::read(&mut buf, 1 << 20).expect("a packet");
        match packet {
            rumqttc::Packet::Connect(c) => {
                assert_eq!(c.login.map(|l| l.password), Some("*".repeat(14)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(mask_connect_password(&p[..p.len() - 1]), None, "truncated");
        assert_eq!(mask_connect_password(b"\x30\x02ab"), None, "a PUBLISH");
    }
}
