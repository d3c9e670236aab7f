//! Flashable images of the ESP32-C3 firmware, made with the espflash library from the ELF
//! and plug-board's partition table; no hardware involved.
//!
//! - the flash image: bootloader (espflash's bundled ESP-IDF one) at 0x0, the partition
//!   table at 0x8000 and the app in ota_0, merged into one file to write at offset 0;
//! - the app image: what an OTA slot holds (the harness wraps it as an OTA download).

use std::io::Write;

use anyhow::{bail, Context};
pub use esp_idf_part::PartitionTable;
use espflash::flasher::{FlashData, FlashFrequency, FlashMode, FlashSettings, FlashSize};
use espflash::image_format::idf::IdfBootloaderFormat;
use espflash::target::{Chip, XtalFrequency};
use plug_board::partitions::{APP_BUDGET, PARTITIONS_CSV};

/// Where an app image starts the first time it is flashed.
pub const FIRST_SLOT: &str = "ota_0";

pub struct Images {
    /// Address-ordered pieces to write: bootloader, partition table, app.
    pub segments: Vec<(u32, Vec<u8>)>,
    /// The app image alone, as an OTA slot holds it.
    pub app: Vec<u8>,
    /// The partition table as espflash parsed it from plug-board's CSV.
    pub table: PartitionTable,
}

impl Images {
    /// One file for offset 0: the segments with erased bytes (0xFF) between them.
    pub fn merged(&self) -> Vec<u8> {
        let end = self
            .segments
            .iter()
            .map(|(a, d)| *a as usize + d.len())
            .max()
            .unwrap_or(0);
        let mut out = vec![0xFF; end];
        for (addr, data) in &self.segments {
            out[*addr as usize..*addr as usize + data.len()].copy_from_slice(data);
        }
        out
    }
}

/// The flash settings of the plugs this firmware is for: 4 MB, DIO, 80 MHz, 40 MHz crystal.
pub fn flash_data() -> FlashData {
    FlashData::new(
        FlashSettings::new(
            Some(FlashMode::Dio),
            Some(FlashSize::_4Mb),
            Some(FlashFrequency::_80Mhz),
        ),
        0,
        None,
        Chip::Esp32c3,
        XtalFrequency::_40Mhz,
    )
}

pub fn from_elf(elf: &[u8]) -> anyhow::Result<Images> {
    // espflash reads the table from a file.
    let mut csv = tempfile::NamedTempFile::new().context("temporary partition table")?;
    csv.write_all(PARTITIONS_CSV.as_bytes())?;
    let format = IdfBootloaderFormat::new(elf, &flash_data(), Some(csv.path()), None, None, Some(FIRST_SLOT))
        .map_err(|e| anyhow::anyhow!("espflash could not make an image of this ELF: {e}"))?;
    let table = format.partition_table();
    let segments: Vec<(u32, Vec<u8>)> = format
        .flash_segments()
        .map(|s| (s.addr, s.data.into_owned()))
        .collect();
    let Some((_, app)) = segments.last().cloned() else {
        bail!("espflash produced no app segment");
    };
    Ok(Images { segments, app, table })
}

/// "693,456 bytes: 66% of the 1 MiB budget, 35% of a slot".
pub fn size_line(app_len: usize) -> String {
    let slot = plug_board::partitions::slot_size() as f64;
    format!(
        "{} bytes: {:.0}% of the {} KiB budget, {:.0}% of a {} KiB OTA slot",
        app_len,
        100.0 * app_len as f64 / APP_BUDGET as f64,
        APP_BUDGET / 1024,
        100.0 * app_len as f64 / slot,
        slot as u32 / 1024
    )
}
