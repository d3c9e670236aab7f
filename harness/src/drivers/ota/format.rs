//! OTA images as the plug firmware documents them (`firmware/core/src/ota/image.rs`): a
//! 64-byte header, then the body. Written here from that description, not by calling the
//! firmware's code, so a mistake on either side shows.

/// CRC-32 (IEEE, reflected), bit by bit: slow and obviously right.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn padded(dst: &mut [u8], s: &str) {
    let n = s.len().min(dst.len());
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

/// Header fields, free to be wrong on purpose.
pub struct ImageSpec<'a> {
    pub target: &'a str,
    pub version: &'a str,
    pub body: &'a [u8],
}

pub fn build(spec: &ImageSpec<'_>) -> Vec<u8> {
    let mut h = [0u8; 64];
    h[0..8].copy_from_slice(b"MKPLUGFW");
    h[8] = 1;
    padded(&mut h[12..28], spec.target);
    padded(&mut h[28..44], spec.version);
    h[44..48].copy_from_slice(&(spec.body.len() as u32).to_le_bytes());
    h[48..52].copy_from_slice(&crc32(spec.body).to_le_bytes());
    let hc = crc32(&h[0..52]);
    h[52..56].copy_from_slice(&hc.to_le_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(spec.body);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn header_layout() {
        let img = super::build(&super::ImageSpec {
            target: "sim",
            version: "000002",
            body: b"abc",
        });
        assert_eq!(&img[0..8], b"MKPLUGFW");
        assert_eq!(&img[12..15], b"sim");
        assert_eq!(&img[28..34], b"000002");
        assert_eq!(u32::from_le_bytes([img[44], img[45], img[46], img[47]]), 3);
        assert_eq!(img.len(), 67);
    }
}
