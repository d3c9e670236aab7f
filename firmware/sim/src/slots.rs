//! The two OTA slots and the record of which one boots, as files in the state directory:
//! `ota_0.bin`, `ota_1.bin` and `otadata` (the active slot's number). No `otadata` means
//! the factory image: the binary itself, with the version given on the command line.

use plug_core::ota_image::{Header, HEADER_LEN};
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
        let mut h = [0u8; HEADER_LEN];
        fs::File::open(self.slot(n)).ok()?.read_exact(&mut h).ok()?;
        Header::decode(&h).ok().map(|h| h.version.as_str().to_string())
    }
}
