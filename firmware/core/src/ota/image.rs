//! The OTA image format, defined once for every build that makes or checks an image.
//!
//! An image is a 64-byte header followed by the body (the application as the board's
//! bootloader wants it: an ESP-IDF app image on the ESP32-C3, an executable on the host):
//!
//! | offset | size | field                                         |
//! |--------|------|-----------------------------------------------|
//! | 0      | 8    | magic `MKPLUGFW`                              |
//! | 8      | 1    | header format, 1                              |
//! | 9      | 3    | reserved, zero                                |
//! | 12     | 16   | target, ASCII, NUL-padded (`esp32c3`, `sim`)  |
//! | 28     | 16   | firmware version, ASCII, NUL-padded           |
//! | 44     | 4    | body length, little-endian                    |
//! | 48     | 4    | CRC-32 (IEEE) of the body, little-endian      |
//! | 52     | 4    | CRC-32 of bytes 0..52, little-endian          |
//! | 56     | 8    | reserved, zero                                |
//!
//! [`Verifier`] checks an image as it streams in, so nothing is buffered whole.

use heapless::String;

pub const HEADER_LEN: usize = 64;
pub const MAGIC: &[u8; 8] = b"MKPLUGFW";
const FORMAT: u8 = 1;
/// Largest body accepted: one OTA slot of the 4 MB ESP32-C3 layout, and a generous host binary.
pub const MAX_BODY: u32 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub target: String<16>,
    pub version: String<16>,
    pub body_len: u32,
    pub body_crc: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    BadMagic,
    BadHeaderCrc,
    BadHeaderField,
    WrongTarget,
    TooLarge,
    /// The transfer ended before the body did.
    Truncated,
    /// More bytes than the header announced.
    TooLong,
    BadBodyCrc,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(MAGIC);
        h[8] = FORMAT;
        put_padded(&mut h[12..28], &self.target);
        put_padded(&mut h[28..44], &self.version);
        h[44..48].copy_from_slice(&self.body_len.to_le_bytes());
        h[48..52].copy_from_slice(&self.body_crc.to_le_bytes());
        let hc = crc32(&h[0..52]);
        h[52..56].copy_from_slice(&hc.to_le_bytes());
        h
    }

    pub fn decode(h: &[u8; HEADER_LEN]) -> Result<Header, ImageError> {
        if &h[0..8] != MAGIC {
            return Err(ImageError::BadMagic);
        }
        if crc32(&h[0..52]).to_le_bytes() != h[52..56] {
            return Err(ImageError::BadHeaderCrc);
        }
        if h[8] != FORMAT {
            return Err(ImageError::BadHeaderField);
        }
        let le = |r: core::ops::Range<usize>| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&h[r]);
            u32::from_le_bytes(b)
        };
        Ok(Header {
            target: get_padded(&h[12..28])?,
            version: get_padded(&h[28..44])?,
            body_len: le(44..48),
            body_crc: le(48..52),
        })
    }

    /// The header for `body`.
    pub fn for_body(target: &str, version: &str, body: &[u8]) -> Option<Header> {
        Some(Header {
            target: String::try_from(target).ok()?,
            version: String::try_from(version).ok()?,
            body_len: u32::try_from(body.len()).ok()?,
            body_crc: crc32(body),
        })
    }
}

fn put_padded(dst: &mut [u8], s: &str) {
    let n = s.len().min(dst.len());
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

fn get_padded(src: &[u8]) -> Result<String<16>, ImageError> {
    let end = src.iter().position(|&b| b == 0).unwrap_or(src.len());
    let s = core::str::from_utf8(&src[..end]).map_err(|_| ImageError::BadHeaderField)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ImageError::BadHeaderField);
    }
    String::try_from(s).map_err(|_| ImageError::BadHeaderField)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`) over one buffer.
pub fn crc32(data: &[u8]) -> u32 {
    Crc32::new().update(data).finish()
}

/// The byte-at-a-time table (1 KiB of flash), built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[derive(Debug, Clone, Copy)]
pub struct Crc32(u32);

impl Crc32 {
    pub const fn new() -> Self {
        Crc32(0xFFFF_FFFF)
    }
    pub fn update(mut self, data: &[u8]) -> Self {
        for &b in data {
            self.0 = (self.0 >> 8) ^ CRC_TABLE[((self.0 ^ u32::from(b)) & 0xFF) as usize];
        }
        self
    }
    pub fn finish(self) -> u32 {
        !self.0
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

/// Streaming check of an incoming image for one target.
#[derive(Debug, Clone)]
pub struct Verifier {
    target: String<16>,
    head: [u8; HEADER_LEN],
    head_len: usize,
    header: Option<Header>,
    body_seen: u32,
    crc: Crc32,
}

impl Verifier {
    /// Checks images for `target`; an empty `target` accepts any.
    pub fn new(target: &str) -> Self {
        Verifier {
            target: String::try_from(target).unwrap_or_default(),
            head: [0; HEADER_LEN],
            head_len: 0,
            header: None,
            body_seen: 0,
            crc: Crc32::new(),
        }
    }

    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Feeds the next bytes of the transfer. An error is final.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), ImageError> {
        if self.header.is_none() {
            let take = (HEADER_LEN - self.head_len).min(data.len());
            self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
            self.head_len += take;
            data = &data[take..];
            if self.head_len < HEADER_LEN {
                return Ok(());
            }
            let h = Header::decode(&self.head)?;
            if !self.target.is_empty() && h.target != self.target {
                return Err(ImageError::WrongTarget);
            }
            if h.body_len > MAX_BODY {
                return Err(ImageError::TooLarge);
            }
            self.header = Some(h);
        }
        let Some(h) = &self.header else {
            return Ok(());
        };
        let len = u32::try_from(data.len()).map_err(|_| ImageError::TooLong)?;
        let seen = self.body_seen.checked_add(len).ok_or(ImageError::TooLong)?;
        if seen > h.body_len {
            return Err(ImageError::TooLong);
        }
        self.body_seen = seen;
        self.crc = self.crc.update(data);
        Ok(())
    }

    /// The transfer ended: is the image whole and intact?
    pub fn finish(&self) -> Result<&Header, ImageError> {
        let h = self.header.as_ref().ok_or(ImageError::Truncated)?;
        if self.body_seen != h.body_len {
            return Err(ImageError::Truncated);
        }
        if self.crc.finish() != h.body_crc {
            return Err(ImageError::BadBodyCrc);
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn image(target: &str, body: &[u8]) -> heapless::Vec<u8, 256> {
        let h = Header::for_body(target, "000002", body).unwrap();
        let mut v = heapless::Vec::new();
        v.extend_from_slice(&h.encode()).unwrap();
        v.extend_from_slice(body).unwrap();
        v
    }

    #[test]
    fn crc32_matches_the_ieee_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[rstest]
    #[case(1)]
    #[case(7)]
    #[case(64)]
    #[case(1000)]
    fn a_good_image_verifies_in_any_chunking(#[case] chunk: usize) {
        let img = image("sim", b"new firmware body");
        let mut v = Verifier::new("sim");
        for c in img.chunks(chunk) {
            v.feed(c).unwrap();
        }
        assert_eq!(v.finish().unwrap().version.as_str(), "000002");
    }

    #[test]
    fn header_round_trip() {
        let h = Header::for_body("esp32c3", "1.2.3", b"abc").unwrap();
        assert_eq!(Header::decode(&h.encode()), Ok(h));
    }

    #[rstest]
    #[case::truncated(|img: &mut heapless::Vec<u8, 256>| { img.pop(); }, ImageError::Truncated)]
    #[case::corrupt_body(|img: &mut heapless::Vec<u8, 256>| { img[70] ^= 1; }, ImageError::BadBodyCrc)]
    fn a_damaged_body_fails_at_the_end(
        #[case] damage: fn(&mut heapless::Vec<u8, 256>),
        #[case] want: ImageError,
    ) {
        let mut img = image("sim", b"new firmware body");
        damage(&mut img);
        let mut v = Verifier::new("sim");
        v.feed(&img).unwrap();
        assert_eq!(v.finish().err(), Some(want));
    }

    #[rstest]
    #[case::magic(0, ImageError::BadMagic)]
    #[case::header_field(20, ImageError::BadHeaderCrc)]
    fn a_damaged_header_fails_at_once(#[case] at: usize, #[case] want: ImageError) {
        let mut img = image("sim", b"body");
        img[at] ^= 0x40;
        assert_eq!(Verifier::new("sim").feed(&img), Err(want));
    }

    #[test]
    fn an_image_for_another_target_is_refused() {
        let img = image("esp32c3", b"body");
        assert_eq!(Verifier::new("sim").feed(&img), Err(ImageError::WrongTarget));
    }

    #[test]
    fn extra_bytes_are_refused() {
        let mut img = image("sim", b"body");
        img.push(0).unwrap();
        assert_eq!(Verifier::new("sim").feed(&img), Err(ImageError::TooLong));
    }

    #[test]
    fn nothing_received_is_truncated() {
        assert_eq!(Verifier::new("sim").finish().err(), Some(ImageError::Truncated));
    }
}
