//! The two OTA slots and the record of which one boots, as files in the state directory:
//! `ota_0.bin`, `ota_1.bin` and `otadata` (the active slot's number). No `otadata` means
//! the factory image: the binary itself, with the version given on the command line.
//!
//! A slot holds the download as it came, verified by the core before it was activated:
//! plugrig's MKPLUGFW image, or the vendor image of the `vendor-image` variation. (The
//! core's `ota_slot` writer is for NOR flash whose slot must start with the body; a file
//! slot needs no such split, so the version is read from the image's own head.)

use plug_core::ota_image::{Header, HEADER_LEN};
use plug_core::vendor_image;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

pub struct Slots {
    dir: PathBuf,
}

impl Slots {
    pub fn new(dir: &Path) -> Slots {
        Slots {
            dir: dir.to_path_buf(),
        }
    }

    fn slot(&self, n: u8) -> PathBuf {
        self.dir.join(format!("ota_{n}.bin"))
    }

    pub fn active(&self) -> Option<u8> {
        let s = fs::read_to_string(self.dir.join("otadata")).ok()?;
        s.trim().parse().ok().filter(|n| *n < 2)
    }

    pub fn inactive(&self) -> u8 {
        match self.active() {
            Some(0) => 1,
            _ => 0,
        }
    }

    pub fn inactive_path(&self) -> PathBuf {
        self.slot(self.inactive())
    }

    /// Empties the inactive slot before a download.
    pub fn clear_inactive(&self) -> std::io::Result<()> {
        fs::write(self.inactive_path(), b"")
    }

    /// Boots the inactive slot from now on. The switch is one atomic rename, so a power
    /// cut leaves either the old or the new choice.
    pub fn activate_inactive(&self) -> std::io::Result<()> {
        let tmp = self.dir.join("otadata.tmp");
        fs::write(&tmp, self.inactive().to_string())?;
        fs::rename(tmp, self.dir.join("otadata"))
    }

    /// The version of the active image, when one was installed by OTA.
    pub fn active_version(&self) -> Option<String> {
        let n = self.active()?;
        // Both heads fit in the first 64 bytes; a vendor image may be shorter than that.
        let mut h = Vec::with_capacity(HEADER_LEN);
        fs::File::open(self.slot(n))
            .ok()?
            .take(HEADER_LEN as u64)
            .read_to_end(&mut h)
            .ok()?;
        if let Some(head) = h.first_chunk::<HEADER_LEN>() {
            if let Ok(header) = Header::decode(head) {
                return Some(header.version.as_str().to_string());
            }
        }
        vendor_image::version_of(&h).map(|v| v.as_str().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed(image: &[u8]) -> Option<String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let slots = Slots::new(dir.path());
        slots.clear_inactive().expect("clear");
        fs::write(slots.inactive_path(), image).expect("write");
        slots.activate_inactive().expect("activate");
        slots.active_version()
    }

    #[test]
    fn no_otadata_is_the_factory_image() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(Slots::new(dir.path()).active_version(), None);
    }

    #[test]
    fn the_version_of_either_format() {
        let body = b"body";
        let mut plugrig = Header::for_body("sim", "000002", body)
            .expect("header")
            .encode()
            .to_vec();
        plugrig.extend_from_slice(body);
        assert_eq!(installed(&plugrig).as_deref(), Some("000002"));
        // A short vendor image (under 64 bytes), as the description builds it.
        let mut vendor = vendor_image::head("v2.3.0", 4).expect("head").to_vec();
        vendor.extend_from_slice(body);
        let crc = plug_core::ota_image::crc32(&vendor);
        vendor.extend_from_slice(&crc.to_le_bytes());
        assert!(vendor.len() < HEADER_LEN);
        assert_eq!(installed(&vendor).as_deref(), Some("v2.3.0"));
        assert_eq!(installed(b"neither").as_deref(), None);
    }
}
