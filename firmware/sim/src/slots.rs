//! The two OTA slots and the record of which one boots, in the state directory, as the
//! ESP32-C3 crate's `ota_slot` has them in flash: `slots.flash` (a sparse file-backed NOR
//! flash, `flash`, holding ota_0 and ota_1) and `otadata`.
//!
//! Read first: plug-core's `ota::slot`, which writes a download here exactly as on the device
//! (body from the slot's first byte, the 64-byte head in its last sector) and reads the
//! installed version back. Owns the boot record: `otadata` is `N` (slot N boots, confirmed)
//! or `N new P` (slot N boots on trial; P, a slot or `factory`, is what a roll-back
//! returns to). No `otadata`: the factory image, the binary itself, with the version given
//! on the command line. Refuses: deciding when to confirm or roll back (the core's trial).
//!
//! With the `vendor-image` variation the head sector holds the vendor image's first 64
//! bytes, which carry its version; it has no plugrig header for the core to check.

use std::fs;
use std::path::{Path, PathBuf};

use embedded_storage::nor_flash::ReadNorFlash;
use plug_core::ota::image::HEADER_LEN;
use plug_core::ota::slot::{SlotWriter, SECTOR};
use plug_core::ota::vendor_image;

use crate::flash::FileFlash;

/// Each slot's size: the largest body an image may announce and the head sector. Larger
/// than the device's (plug-board), as the simulated plug's image is the host binary.
const SLOT_SIZE: u32 = plug_core::ota::image::MAX_BODY + SECTOR as u32;

/// What `otadata` says boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Boot {
    slot: u8,
    /// On trial, with what a roll-back returns to (None: the factory image).
    trial: Option<Option<u8>>,
}

pub struct Slots {
    dir: PathBuf,
}

impl Slots {
    pub fn new(dir: &Path) -> Slots {
        Slots {
            dir: dir.to_path_buf(),
        }
    }

    fn boot(&self) -> Option<Boot> {
        let s = fs::read_to_string(self.dir.join("otadata")).ok()?;
        let mut words = s.split_whitespace();
        let slot = words.next()?.parse().ok().filter(|n| *n < 2)?;
        let trial = match (words.next(), words.next()) {
            (Some("new"), Some("factory")) => Some(None),
            (Some("new"), Some(p)) => Some(Some(p.parse().ok().filter(|n| *n < 2)?)),
            _ => None,
        };
        Some(Boot { slot, trial })
    }

    /// Writes `otadata` with one atomic rename, so a power cut leaves the old or the new.
    fn record(&self, text: &str) -> std::io::Result<()> {
        let tmp = self.dir.join("otadata.tmp");
        fs::write(&tmp, text)?;
        fs::rename(tmp, self.dir.join("otadata"))
    }

    /// The slot flash, created erased on first use.
    pub fn flash(&self) -> std::io::Result<FileFlash> {
        FileFlash::open_sparse(&self.dir.join("slots.flash"), 2 * SLOT_SIZE as usize)
    }

    fn offset(n: u8) -> u32 {
        u32::from(n) * SLOT_SIZE
    }

    /// Whether this boot is an update not yet confirmed.
    pub fn on_trial(&self) -> bool {
        self.boot().is_some_and(|b| b.trial.is_some())
    }

    fn inactive(&self) -> u8 {
        match self.boot() {
            Some(Boot { slot: 0, .. }) => 1,
            _ => 0,
        }
    }

    /// A writer for the next download, into the slot that is not booting.
    pub fn writer(&self) -> SlotWriter {
        SlotWriter::new(Self::offset(self.inactive()), SLOT_SIZE)
    }

    /// Boots the inactive slot from now on, on trial.
    pub fn activate_inactive(&self) -> std::io::Result<()> {
        let previous = match self.boot() {
            Some(b) => b.slot.to_string(),
            None => "factory".to_string(),
        };
        self.record(&format!("{} new {previous}", self.inactive()))
    }

    /// The update on trial reached the broker: it stays.
    pub fn confirm(&self) -> std::io::Result<()> {
        match self.boot() {
            Some(b) => self.record(&b.slot.to_string()),
            None => Ok(()),
        }
    }

    /// The update on trial failed: boot what booted before it.
    pub fn roll_back(&self) -> std::io::Result<()> {
        match self.boot().and_then(|b| b.trial) {
            Some(Some(previous)) => self.record(&previous.to_string()),
            Some(None) => fs::remove_file(self.dir.join("otadata")),
            None => Ok(()),
        }
    }

    /// The version of the booting image, when one was installed by OTA.
    pub fn active_version(&self) -> Option<String> {
        let n = self.boot()?.slot;
        let mut flash = self.flash().ok()?;
        if let Some(v) = plug_core::ota::slot::installed_version(&mut flash, Self::offset(n), SLOT_SIZE) {
            return Some(v.as_str().to_string());
        }
        // A vendor image: its head (under 64 bytes) is at the start of the head sector.
        let mut head = [0u8; HEADER_LEN];
        let at = Self::offset(n) + SLOT_SIZE - SECTOR as u32;
        flash.read(at, &mut head).ok()?;
        vendor_image::version_of(&head).map(|v| v.as_str().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plug_core::ota::image::Header;

    fn download(slots: &Slots, image: &[u8]) {
        let mut flash = slots.flash().expect("flash");
        let mut w = slots.writer();
        for chunk in image.chunks(500) {
            w.write(&mut flash, chunk).expect("write");
        }
        w.finish(&mut flash).expect("finish");
        slots.activate_inactive().expect("activate");
    }

    fn plugrig(version: &str) -> Vec<u8> {
        let body = b"body of the new firmware";
        let mut v = Header::for_body("sim", version, body)
            .expect("header")
            .encode()
            .to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn no_otadata_is_the_factory_image() {
        let dir = tempfile::tempdir().expect("tempdir");
        let slots = Slots::new(dir.path());
        assert_eq!(slots.active_version(), None);
        assert!(!slots.on_trial());
    }

    #[test]
    fn the_version_of_either_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let slots = Slots::new(dir.path());
        download(&slots, &plugrig("000002"));
        assert_eq!(slots.active_version().as_deref(), Some("000002"));
        // A short vendor image (under 64 bytes), as the description builds it.
        let body = b"body";
        let mut vendor = vendor_image::head("v2.3.0", 4).expect("head").to_vec();
        vendor.extend_from_slice(body);
        let crc = plug_core::ota::image::crc32(&vendor);
        vendor.extend_from_slice(&crc.to_le_bytes());
        assert!(vendor.len() < HEADER_LEN);
        download(&slots, &vendor);
        assert_eq!(slots.active_version().as_deref(), Some("v2.3.0"));
        download(&slots, b"neither");
        assert_eq!(slots.active_version(), None);
    }

    #[test]
    fn an_update_boots_on_trial_until_confirmed_or_rolled_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let slots = Slots::new(dir.path());
        download(&slots, &plugrig("000002"));
        assert!(slots.on_trial());
        slots.confirm().expect("confirm");
        assert!(!slots.on_trial());
        assert_eq!(slots.active_version().as_deref(), Some("000002"));
        // The next one goes to the other slot; rolled back, the confirmed one boots again.
        download(&slots, &plugrig("000003"));
        assert_eq!(slots.active_version().as_deref(), Some("000003"));
        slots.roll_back().expect("roll back");
        assert!(!slots.on_trial());
        assert_eq!(slots.active_version().as_deref(), Some("000002"));
    }

    #[test]
    fn a_first_update_rolled_back_returns_to_the_factory_image() {
        let dir = tempfile::tempdir().expect("tempdir");
        let slots = Slots::new(dir.path());
        download(&slots, &plugrig("000002"));
        slots.roll_back().expect("roll back");
        assert_eq!(slots.active_version(), None);
    }
}
