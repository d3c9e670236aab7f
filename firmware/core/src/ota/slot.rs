//! Writing a downloaded image into an OTA slot of NOR flash, for boards whose slots hold
//! the body alone (the ESP32-C3: the bootloader expects an app image at the slot's first
//! byte). The core's 64-byte header is kept aside and written into the slot's last sector,
//! where the new firmware finds its version after the restart ([`installed_version`]).
//!
//! Blocking NOR flash (embedded-storage): the board calls this between events, a sector at
//! a time. NOR rules: erase before write, writes in whole words.

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use heapless::String;

use super::image::{Crc32, Header, HEADER_LEN};

/// Erase unit of the flashes these boards use.
pub const SECTOR: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError {
    /// The body does not fit the slot (its last sector holds the header).
    TooLarge,
    Flash,
}

/// Streams a download into a slot at `offset` of `size` bytes (both sector multiples).
pub struct SlotWriter {
    offset: u32,
    size: u32,
    header: [u8; HEADER_LEN],
    /// Header bytes still to take.
    skip: usize,
    /// Body bytes already on flash.
    written: u32,
    sector: [u8; SECTOR],
    fill: usize,
}

impl SlotWriter {
    pub fn new(offset: u32, size: u32) -> SlotWriter {
        SlotWriter {
            offset,
            size,
            header: [0xFF; HEADER_LEN],
            skip: HEADER_LEN,
            written: 0,
            sector: [0xFF; SECTOR],
            fill: 0,
        }
    }

    /// The next bytes of the download (header first, then body).
    pub fn write<F: NorFlash>(&mut self, flash: &mut F, mut data: &[u8]) -> Result<(), SlotError> {
        let take = self.skip.min(data.len());
        let at = HEADER_LEN - self.skip;
        self.header[at..at + take].copy_from_slice(&data[..take]);
        self.skip -= take;
        data = &data[take..];
        while !data.is_empty() {
            let n = (SECTOR - self.fill).min(data.len());
            self.sector[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
            if self.fill == SECTOR {
                self.flush(flash)?;
            }
        }
        Ok(())
    }

    /// The download ended: the last partial sector (padded with erased bytes), then the
    /// header into the slot's last sector.
    pub fn finish<F: NorFlash>(&mut self, flash: &mut F) -> Result<(), SlotError> {
        if self.fill > 0 {
            self.flush(flash)?;
        }
        let last = self.offset + self.size - SECTOR as u32;
        flash
            .erase(last, last + SECTOR as u32)
            .map_err(|_| SlotError::Flash)?;
        flash.write(last, &self.header).map_err(|_| SlotError::Flash)
    }

    fn flush<F: NorFlash>(&mut self, flash: &mut F) -> Result<(), SlotError> {
        // The last sector is the header's.
        if self.written + SECTOR as u32 > self.size - SECTOR as u32 {
            return Err(SlotError::TooLarge);
        }
        let at = self.offset + self.written;
        self.sector[self.fill..].fill(0xFF);
        flash
            .erase(at, at + SECTOR as u32)
            .map_err(|_| SlotError::Flash)?;
        flash.write(at, &self.sector).map_err(|_| SlotError::Flash)?;
        self.written += SECTOR as u32;
        self.fill = 0;
        Ok(())
    }
}

/// The version an update installed in the slot at `offset`: the header in its last sector,
/// when the body still matches the header's CRC (a slot later flashed over by a tool keeps
/// a stale header, which this rejects). None: not installed by an update.
pub fn installed_version<F: ReadNorFlash>(flash: &mut F, offset: u32, size: u32) -> Option<String<16>> {
    let mut raw = [0u8; HEADER_LEN];
    flash.read(offset + size - SECTOR as u32, &mut raw).ok()?;
    let header = Header::decode(&raw).ok()?;
    if header.body_len > size - SECTOR as u32 {
        return None;
    }
    let mut crc = Crc32::new();
    let mut buf = [0u8; 256];
    let mut at = 0;
    while at < header.body_len {
        let n = (header.body_len - at).min(buf.len() as u32) as usize;
        flash.read(offset + at, &mut buf[..n]).ok()?;
        crc = crc.update(&buf[..n]);
        at += n as u32;
    }
    (crc.finish() == header.body_crc).then_some(header.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_storage::nor_flash::{ErrorType, NorFlashError, NorFlashErrorKind};
    use std::vec;
    use std::vec::Vec;

    /// RAM NOR flash that enforces the rules: aligned erases, word writes that only clear
    /// bits (writing over unerased bytes is an error here, so a missing erase shows).
    struct Nor(Vec<u8>);

    #[derive(Debug)]
    struct E(NorFlashErrorKind);
    impl NorFlashError for E {
        fn kind(&self) -> NorFlashErrorKind {
            self.0
        }
    }
    impl ErrorType for Nor {
        type Error = E;
    }
    impl ReadNorFlash for Nor {
        const READ_SIZE: usize = 1;
        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), E> {
            let o = offset as usize;
            bytes.copy_from_slice(
                self.0
                    .get(o..o + bytes.len())
                    .ok_or(E(NorFlashErrorKind::OutOfBounds))?,
            );
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.0.len()
        }
    }
    impl NorFlash for Nor {
        const WRITE_SIZE: usize = 4;
        const ERASE_SIZE: usize = SECTOR;
        fn erase(&mut self, from: u32, to: u32) -> Result<(), E> {
            if !(from as usize).is_multiple_of(SECTOR) || !(to as usize).is_multiple_of(SECTOR) {
                return Err(E(NorFlashErrorKind::NotAligned));
            }
            self.0[from as usize..to as usize].fill(0xFF);
            Ok(())
        }
        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), E> {
            if !offset.is_multiple_of(4) || !bytes.len().is_multiple_of(4) {
                return Err(E(NorFlashErrorKind::NotAligned));
            }
            for (i, b) in bytes.iter().enumerate() {
                let cell = &mut self.0[offset as usize + i];
                if *cell != 0xFF {
                    return Err(E(NorFlashErrorKind::Other));
                }
                *cell = *b;
            }
            Ok(())
        }
    }

    const SLOT: u32 = 0x10000;
    const SIZE: u32 = 8 * SECTOR as u32;

    fn image(version: &str, body: &[u8]) -> Vec<u8> {
        let h = Header::for_body("esp32c3-athom", version, body).expect("header");
        let mut v = h.encode().to_vec();
        v.extend_from_slice(body);
        v
    }

    fn body(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn a_download_in_odd_chunks_lands_as_body_and_header() {
        // Old contents everywhere: the writer must erase before it writes.
        let mut f = Nor(vec![0x00; 0x30000]);
        let b = body(3 * SECTOR + 123);
        let img = image("000002", &b);
        let mut w = SlotWriter::new(SLOT, SIZE);
        for chunk in img.chunks(1000).chain(core::iter::once(&[][..])) {
            w.write(&mut f, chunk).expect("write");
        }
        w.finish(&mut f).expect("finish");
        let s = SLOT as usize;
        assert_eq!(&f.0[s..s + b.len()], &b[..], "body from the slot's first byte");
        assert!(
            f.0[s + b.len()..s + 4 * SECTOR].iter().all(|x| *x == 0xFF),
            "padding erased"
        );
        let last = s + SIZE as usize - SECTOR;
        assert_eq!(
            &f.0[last..last + HEADER_LEN],
            &img[..HEADER_LEN],
            "header in the last sector"
        );
        assert_eq!(installed_version(&mut f, SLOT, SIZE).as_deref(), Some("000002"));
        assert!(
            f.0[..s].iter().all(|x| *x == 0),
            "nothing before the slot touched"
        );
    }

    #[test]
    fn a_body_that_reaches_the_header_sector_is_refused() {
        let mut f = Nor(vec![0xFF; 0x30000]);
        let img = image("000003", &body(7 * SECTOR + 1));
        let mut w = SlotWriter::new(SLOT, SIZE);
        let r = w.write(&mut f, &img).and_then(|_| w.finish(&mut f));
        assert_eq!(r, Err(SlotError::TooLarge));
        let img = image("000003", &body(7 * SECTOR));
        let mut w = SlotWriter::new(SLOT, SIZE);
        w.write(&mut f, &img).expect("exactly fits");
        w.finish(&mut f).expect("finish");
    }

    #[test]
    fn a_stale_header_over_another_body_gives_no_version() {
        let mut f = Nor(vec![0xFF; 0x30000]);
        let mut w = SlotWriter::new(SLOT, SIZE);
        w.write(&mut f, &image("000002", &body(5000))).expect("write");
        w.finish(&mut f).expect("finish");
        // A tool flashes another app over the slot's start, leaving the last sector.
        f.erase(SLOT, SLOT + SECTOR as u32).expect("erase");
        f.write(SLOT, &[0xE9, 1, 2, 3]).expect("write");
        assert_eq!(installed_version(&mut f, SLOT, SIZE), None);
        // A factory-flashed slot has no header at all.
        let mut blank = Nor(vec![0xFF; 0x30000]);
        assert_eq!(installed_version(&mut blank, SLOT, SIZE), None);
    }
}
