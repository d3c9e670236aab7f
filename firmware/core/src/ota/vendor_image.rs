//! The vendor OTA image of the `vendor-image` variation ([`crate::variations`]): another
//! conformant plug's choice of image format and file name, in place of plugrig's MKPLUGFW
//! image ([`super::image`]). The plug fetches `{catalogue}vendor-fw.img` ([`FILE_NAME`]).
//!
//! Format, all multi-byte integers little-endian, `n` and `L` as read from the image:
//!
//! | offset    | size | field                                                          |
//! |-----------|------|----------------------------------------------------------------|
//! | 0         | 4    | magic, the ASCII bytes `VNDR` (0x56 0x4E 0x44 0x52)            |
//! | 4         | 1    | n, the version string's length in bytes, 1 to 16               |
//! | 5         | n    | the version, printable ASCII without spaces (0x21 to 0x7E), no NUL or padding, e.g. `v2.3.0` |
//! | 5+n       | 4    | L, the body length in bytes, u32; at most 64 MiB              |
//! | 9+n       | L    | the body, any bytes (L may be 0)                               |
//! | 9+n+L     | 4    | CRC-32 of bytes 0..9+n+L (everything before it), u32           |
//!
//! The CRC is IEEE 802.3 (reflected, polynomial 0xEDB88320, initial and final XOR
//! 0xFFFFFFFF), the same as zlib's `crc32` and [`super::image::crc32`]. The image is
//! exactly 13+n+L bytes: nothing may follow the CRC. Anything else (bad magic, n of 0 or
//! over 16, a byte of the version outside 0x21-0x7E, L over 64 MiB, a wrong CRC, fewer or
//! more bytes) is refused, and the upgrade answers R2. After R1 and the restart the plug
//! reports the version string as its `firmware_version`.
//!
//! [`Verifier`] checks an image as it streams in, so nothing is buffered whole;
//! [`version_of`] reads the version back from an installed image's first bytes.

use heapless::{String, Vec};

use super::image::{Crc32, ImageError, MAX_BODY};

pub const MAGIC: &[u8; 4] = b"VNDR";
/// The file the plug asks for under the upgrade's catalogue.
pub const FILE_NAME: &str = "vendor-fw.img";
pub const VERSION_MAX: usize = 16;
/// Magic, n, the longest version and L: the most bytes before the body.
pub const HEAD_MAX: usize = 4 + 1 + VERSION_MAX + 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Magic,
    VersionLen,
    Version,
    BodyLen,
    Body,
    Crc,
    Done,
}

/// Streaming check of an incoming vendor image.
#[derive(Debug, Clone)]
pub struct Verifier {
    stage: Stage,
    /// Bytes of the current fixed-size field (magic, L, CRC) taken so far.
    fill: usize,
    word: [u8; 4],
    version_len: usize,
    version: String<VERSION_MAX>,
    body_len: u32,
    body_seen: u32,
    /// Over every byte before the trailing CRC.
    crc: Crc32,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Self {
        Verifier {
            stage: Stage::Magic,
            fill: 0,
            word: [0; 4],
            version_len: 0,
            version: String::new(),
            body_len: 0,
            body_seen: 0,
            crc: Crc32::new(),
        }
    }

    /// Feeds the next bytes of the transfer. An error is final.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), ImageError> {
        while let Some((&b, rest)) = data.split_first() {
            if self.stage == Stage::Body {
                // The body in bulk: it is nearly all of the image.
                let left = (self.body_len - self.body_seen) as usize;
                let n = left.min(data.len());
                self.crc = self.crc.update(&data[..n]);
                // n <= left, which is a u32.
                self.body_seen += n as u32;
                data = &data[n..];
                if self.body_seen == self.body_len {
                    self.stage = Stage::Crc;
                }
                continue;
            }
            self.byte(b)?;
            data = rest;
        }
        Ok(())
    }

    fn byte(&mut self, b: u8) -> Result<(), ImageError> {
        if self.stage != Stage::Crc {
            self.crc = self.crc.update(&[b]);
        }
        match self.stage {
            Stage::Magic => {
                if b != MAGIC[self.fill] {
                    return Err(ImageError::BadMagic);
                }
                self.fill += 1;
                if self.fill == MAGIC.len() {
                    self.fill = 0;
                    self.stage = Stage::VersionLen;
                }
            }
            Stage::VersionLen => {
                self.version_len = usize::from(b);
                if !(1..=VERSION_MAX).contains(&self.version_len) {
                    return Err(ImageError::BadHeaderField);
                }
                self.stage = Stage::Version;
            }
            Stage::Version => {
                if !(0x21..=0x7E).contains(&b) {
                    return Err(ImageError::BadHeaderField);
                }
                // Cannot fail: the length was checked against the capacity.
                let _ = self.version.push(char::from(b));
                if self.version.len() == self.version_len {
                    self.stage = Stage::BodyLen;
                }
            }
            Stage::BodyLen => {
                if let Some(len) = self.word(b) {
                    if len > MAX_BODY {
                        return Err(ImageError::TooLarge);
                    }
                    self.body_len = len;
                    self.stage = if len == 0 { Stage::Crc } else { Stage::Body };
                }
            }
            Stage::Crc => {
                if let Some(crc) = self.word(b) {
                    if crc != self.crc.finish() {
                        return Err(ImageError::BadBodyCrc);
                    }
                    self.stage = Stage::Done;
                }
            }
            // `feed` takes the body in bulk; a byte here means one too many.
            Stage::Body | Stage::Done => return Err(ImageError::TooLong),
        }
        Ok(())
    }

    /// One byte of a 4-byte little-endian field; the value once it is whole.
    fn word(&mut self, b: u8) -> Option<u32> {
        self.word[self.fill] = b;
        self.fill += 1;
        if self.fill < 4 {
            return None;
        }
        self.fill = 0;
        Some(u32::from_le_bytes(self.word))
    }

    /// The transfer ended: was the image whole and intact? Its version if so.
    pub fn finish(&self) -> Result<&str, ImageError> {
        match self.stage {
            Stage::Done => Ok(self.version.as_str()),
            _ => Err(ImageError::Truncated),
        }
    }
}

/// The bytes before the body, for an image of `version` with a body of `body_len` bytes
/// (None if the version breaks the format's rules). The image is this, the body, and
/// the CRC-32 of both.
pub fn head(version: &str, body_len: u32) -> Option<Vec<u8, HEAD_MAX>> {
    let ok = (1..=VERSION_MAX).contains(&version.len())
        && version.bytes().all(|b| (0x21..=0x7E).contains(&b))
        && body_len <= MAX_BODY;
    if !ok {
        return None;
    }
    let mut h = Vec::new();
    h.extend_from_slice(MAGIC).ok()?;
    h.push(version.len() as u8).ok()?;
    h.extend_from_slice(version.as_bytes()).ok()?;
    h.extend_from_slice(&body_len.to_le_bytes()).ok()?;
    Some(h)
}

/// The version of an installed image, from its first bytes (at least 5 + n of them).
/// Checks the magic and the version's rules; the body was checked when it was installed.
pub fn version_of(image: &[u8]) -> Option<String<VERSION_MAX>> {
    let rest = image.strip_prefix(MAGIC)?;
    let (&n, rest) = rest.split_first()?;
    let v = rest.get(..usize::from(n))?;
    let ok = (1..=VERSION_MAX).contains(&v.len()) && v.iter().all(|b| (0x21..=0x7E).contains(b));
    if !ok {
        return None;
    }
    String::try_from(core::str::from_utf8(v).ok()?).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ota::image::crc32;
    use rstest::rstest;
    use std::vec::Vec;

    /// A whole image, built from the module header's table by hand (not with `head`), so
    /// the test checks the description as another implementer reads it.
    pub(crate) fn image(version: &str, body: &[u8]) -> Vec<u8> {
        let mut v = b"VNDR".to_vec();
        v.push(version.len() as u8);
        v.extend_from_slice(version.as_bytes());
        v.extend_from_slice(&(body.len() as u32).to_le_bytes());
        v.extend_from_slice(body);
        let c = crc32(&v);
        v.extend_from_slice(&c.to_le_bytes());
        v
    }

    fn check(img: &[u8], chunk: usize) -> Result<std::string::String, ImageError> {
        let mut v = Verifier::new();
        for c in img.chunks(chunk.max(1)) {
            v.feed(c)?;
        }
        v.finish().map(std::string::String::from)
    }

    #[rstest]
    #[case(1)]
    #[case(3)]
    #[case(13)]
    #[case(4096)]
    fn a_good_image_verifies_in_any_chunking(#[case] chunk: usize) {
        let img = image("v2.3.0", b"any bytes at all \x00\xff");
        assert_eq!(check(&img, chunk).as_deref(), Ok("v2.3.0"));
    }

    #[test]
    fn an_empty_body_and_a_16_byte_version_are_fine() {
        let v16 = "0123456789abcdef";
        assert_eq!(check(&image(v16, b""), 1).as_deref(), Ok(v16));
    }

    #[test]
    fn head_matches_the_description() {
        let body = b"body";
        let mut img = head("v2.3.0", 4).expect("head").to_vec();
        img.extend_from_slice(body);
        img.extend_from_slice(&crc32(&img).to_le_bytes());
        assert_eq!(img, image("v2.3.0", body));
        assert_eq!(head("", 0), None);
        assert_eq!(head("v 2", 0), None);
        assert_eq!(head("0123456789abcdefg", 0), None);
    }

    #[rstest]
    #[case::bad_magic(|i: &mut Vec<u8>| i[0] = b'X', ImageError::BadMagic)]
    #[case::plugrig_image(|i: &mut Vec<u8>| i[..4].copy_from_slice(b"MKPL"), ImageError::BadMagic)]
    #[case::zero_length_version(|i: &mut Vec<u8>| i[4] = 0, ImageError::BadHeaderField)]
    #[case::long_version(|i: &mut Vec<u8>| i[4] = 17, ImageError::BadHeaderField)]
    #[case::space_in_version(|i: &mut Vec<u8>| i[6] = b' ', ImageError::BadHeaderField)]
    #[case::body_crc(|i: &mut Vec<u8>| i[16] ^= 1, ImageError::BadBodyCrc)]
    #[case::stored_crc(|i: &mut Vec<u8>| { let n = i.len(); i[n - 1] ^= 0x80 }, ImageError::BadBodyCrc)]
    #[case::extra_byte(|i: &mut Vec<u8>| i.push(0), ImageError::TooLong)]
    #[case::truncated(|i: &mut Vec<u8>| { i.pop(); }, ImageError::Truncated)]
    #[case::no_crc(|i: &mut Vec<u8>| { let n = i.len(); i.truncate(n - 4) }, ImageError::Truncated)]
    #[case::too_large(|i: &mut Vec<u8>| i[11..15].copy_from_slice(&(MAX_BODY + 1).to_le_bytes()), ImageError::TooLarge)]
    fn a_damaged_image_is_refused(#[case] damage: fn(&mut Vec<u8>), #[case] want: ImageError) {
        // v2.3.0: n = 6, so L is at 11..15 and the body starts at 15.
        let mut img = image("v2.3.0", b"the body");
        damage(&mut img);
        for chunk in [1, 5, 1000] {
            assert_eq!(check(&img, chunk), Err(want), "chunk {chunk}");
        }
    }

    #[test]
    fn nothing_received_is_truncated() {
        assert_eq!(Verifier::new().finish(), Err(ImageError::Truncated));
    }

    #[test]
    fn the_version_reads_back_from_the_first_bytes() {
        let img = image("v2.3.0", b"body");
        assert_eq!(version_of(&img).as_deref(), Some("v2.3.0"));
        // 5 + n bytes are enough.
        assert_eq!(version_of(&img[..11]).as_deref(), Some("v2.3.0"));
        assert_eq!(version_of(&img[..10]), None);
        assert_eq!(version_of(b"MKPLUGFW"), None);
        assert_eq!(version_of(b""), None);
    }
}
