//! A NOR flash backed by a file, with the ESP32-C3's geometry: reads of any size, 4-byte
//! writes that can only clear bits, 4 KiB erases back to 0xFF. The config store runs on it
//! exactly as on the device, and so does the core's OTA slot writer (`slots`), so a
//! `kill -9` at any point leaves what a power cut would.

use embedded_storage_async::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

pub const ERASE_SIZE: usize = 4096;
pub const WRITE_SIZE: usize = 4;

#[derive(Debug)]
pub enum FlashError {
    OutOfBounds,
    NotAligned,
    // Read through Debug in the console error line.
    #[allow(dead_code)]
    Io(std::io::ErrorKind),
}

impl NorFlashError for FlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FlashError::NotAligned => NorFlashErrorKind::NotAligned,
            FlashError::Io(_) => NorFlashErrorKind::Other,
        }
    }
}

pub struct FileFlash {
    file: File,
    size: usize,
    /// Bytes are stored inverted, so a sparse file's holes read as erased (0xFF): a large
    /// flash costs no disk until it is written.
    inverted: bool,
}

impl FileFlash {
    /// Opens (or creates, erased) a flash of `pages` erase pages at `path`.
    pub fn open(path: &Path, pages: usize) -> std::io::Result<FileFlash> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let size = pages * ERASE_SIZE;
        let have = file.metadata()?.len() as usize;
        if have < size {
            // New bytes of a fresh flash read as erased.
            file.write_all_at(&vec![0xFF; size - have], have as u64)?;
        }
        Ok(FileFlash {
            file,
            size,
            inverted: false,
        })
    }

    /// Opens (or creates, erased and sparse) a flash of `size` bytes stored inverted: for
    /// the OTA slots, which are large and mostly never written.
    pub fn open_sparse(path: &Path, size: usize) -> std::io::Result<FileFlash> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        if (file.metadata()?.len() as usize) < size {
            file.set_len(size as u64)?;
        }
        Ok(FileFlash {
            file,
            size,
            inverted: true,
        })
    }

    /// The bytes as stored (the identity, or inverted).
    fn stored(&self, bytes: &mut [u8]) {
        if self.inverted {
            bytes.iter_mut().for_each(|b| *b = !*b);
        }
    }

    fn check(&self, offset: u32, len: usize) -> Result<u64, FlashError> {
        let end = (offset as usize)
            .checked_add(len)
            .ok_or(FlashError::OutOfBounds)?;
        if end > self.size {
            return Err(FlashError::OutOfBounds);
        }
        Ok(u64::from(offset))
    }
}

fn io(e: std::io::Error) -> FlashError {
    FlashError::Io(e.kind())
}

impl FileFlash {
    fn read_at(&self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        let at = self.check(offset, bytes.len())?;
        self.file.read_exact_at(bytes, at).map_err(io)?;
        self.stored(bytes);
        Ok(())
    }

    fn erase_range(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        if !(from as usize).is_multiple_of(ERASE_SIZE)
            || !(to as usize).is_multiple_of(ERASE_SIZE)
            || to < from
        {
            return Err(FlashError::NotAligned);
        }
        let at = self.check(from, (to - from) as usize)?;
        let mut erased = vec![0xFF; (to - from) as usize];
        self.stored(&mut erased);
        self.file.write_all_at(&erased, at).map_err(io)
    }

    fn program(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        if !(offset as usize).is_multiple_of(WRITE_SIZE) || !bytes.len().is_multiple_of(WRITE_SIZE) {
            return Err(FlashError::NotAligned);
        }
        let at = self.check(offset, bytes.len())?;
        // NOR programming can only clear bits.
        let mut old = vec![0u8; bytes.len()];
        self.read_at(offset, &mut old)?;
        let mut new: Vec<u8> = old.iter().zip(bytes).map(|(o, n)| o & n).collect();
        self.stored(&mut new);
        self.file.write_all_at(&new, at).map_err(io)
    }
}

// Two faces of one flash: the config store is async (sequential-storage), the core's OTA
// slot writer blocking (as on the device, where esp-storage is both). Both share the
// error type (embedded-storage-async re-exports embedded-storage's).
impl ErrorType for FileFlash {
    type Error = FlashError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    async fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        self.read_at(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.size
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE_SIZE;

    async fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        self.erase_range(from, to)
    }

    async fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        self.program(offset, bytes)
    }
}

impl embedded_storage::nor_flash::ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FlashError> {
        self.read_at(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.size
    }
}

impl embedded_storage::nor_flash::NorFlash for FileFlash {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FlashError> {
        self.erase_range(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        self.program(offset, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn writes_only_clear_bits_and_erase_restores() {
        let dir = std::env::temp_dir().join(format!("plug-sim-flash-{}", std::process::id()));
        let mut f = FileFlash::open(&dir, 2).expect("open");
        block_on(async {
            f.write(0, &[0x0F, 0xF0, 0xFF, 0x00]).await.expect("write");
            f.write(0, &[0xFF, 0xFF, 0x0F, 0xFF]).await.expect("write");
            let mut b = [0u8; 4];
            f.read(0, &mut b).await.expect("read");
            assert_eq!(b, [0x0F, 0xF0, 0x0F, 0x00]);
            assert!(f.write(1, &[0; 4]).await.is_err());
            assert!(f.write(8192, &[0; 4]).await.is_err());
            f.erase(0, 4096).await.expect("erase");
            f.read(0, &mut b).await.expect("read");
            assert_eq!(b, [0xFF; 4]);
        });
        let _ = std::fs::remove_file(dir);
    }
}
