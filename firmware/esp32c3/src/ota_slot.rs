//! Writing an update into the inactive OTA partition, switching to it, and confirming or
//! rolling back the first boot after an update.
//!
//! The download is the core's image: a 64-byte header (plug-core::ota_image) and then the
//! ESP app image. The header is the core's to check; only the body goes to flash, from
//! the partition's first byte, where the bootloader expects an app image.

use esp_bootloader_esp_idf::ota::OtaImageState;
use esp_bootloader_esp_idf::ota_updater::OtaUpdater;
use esp_bootloader_esp_idf::partitions::{AppPartitionSubType, PARTITION_TABLE_MAX_LEN};
use esp_storage::FlashStorage;
use plug_board::partitions::{Partition, PARTITIONS};
use plug_core::ota_image::HEADER_LEN;

const SECTOR: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError {
    /// No OTA data partition or fewer than two app slots in the flashed table.
    NoTable,
    /// The table on flash differs from plug-board's (not flashed by `plugrig image`?).
    Layout,
    /// The body is larger than a slot.
    TooLarge,
    Flash,
}

/// The partition the next update goes to, as the bootloader's OTA data says.
pub fn next_slot(flash: &mut FlashStorage<'static>) -> Result<Partition, SlotError> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let mut ota = OtaUpdater::new(flash, &mut table).map_err(|_| SlotError::NoTable)?;
    let (region, sub) = ota.next_partition().map_err(|_| SlotError::NoTable)?;
    let size = region.partition_size() as u32;
    let n = match sub {
        AppPartitionSubType::Ota0 => 0,
        AppPartitionSubType::Ota1 => 1,
        _ => return Err(SlotError::Layout),
    };
    let p = PARTITIONS
        .iter()
        .copied()
        .find(|p| p.kind == plug_board::Kind::App(n))
        .ok_or(SlotError::Layout)?;
    if p.size != size {
        return Err(SlotError::Layout);
    }
    Ok(p)
}

/// Streams the body of a download into a slot, a sector at a time.
pub struct SlotWriter {
    slot: Partition,
    /// The core's header, kept for the slot's last sector (see [`installed_version`]).
    header: [u8; HEADER_LEN],
    /// Header bytes still to take.
    skip: usize,
    /// Body bytes already on flash.
    written: u32,
    sector: [u8; SECTOR],
    fill: usize,
}

impl SlotWriter {
    pub fn new(slot: Partition) -> SlotWriter {
        SlotWriter {
            slot,
            header: [0xFF; HEADER_LEN],
            skip: HEADER_LEN,
            written: 0,
            sector: [0xFF; SECTOR],
            fill: 0,
        }
    }

    pub fn write(&mut self, flash: &mut FlashStorage<'static>, mut data: &[u8]) -> Result<(), SlotError> {
        let skip = self.skip.min(data.len());
        let at = HEADER_LEN - self.skip;
        self.header[at..at + skip].copy_from_slice(&data[..skip]);
        self.skip -= skip;
        data = &data[skip..];
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

    /// Writes the last partial sector (padded with erased bytes), then the header into the
    /// slot's last sector, where the new firmware finds its version.
    pub fn finish(&mut self, flash: &mut FlashStorage<'static>) -> Result<(), SlotError> {
        if self.fill > 0 {
            self.flush(flash)?;
        }
        let last = self.slot.end() - SECTOR as u32;
        if self.written > last - self.slot.offset {
            return Err(SlotError::TooLarge);
        }
        flash
            .erase(last, last + SECTOR as u32)
            .map_err(|_| SlotError::Flash)?;
        flash.write_nor(last, &self.header).map_err(|_| SlotError::Flash)
    }

    fn flush(&mut self, flash: &mut FlashStorage<'static>) -> Result<(), SlotError> {
        if self.written + SECTOR as u32 > self.slot.size {
            return Err(SlotError::TooLarge);
        }
        let at = self.slot.offset + self.written;
        self.sector[self.fill..].fill(0xFF);
        flash
            .erase(at, at + SECTOR as u32)
            .map_err(|_| SlotError::Flash)?;
        flash.write_nor(at, &self.sector).map_err(|_| SlotError::Flash)?;
        self.written += SECTOR as u32;
        self.fill = 0;
        Ok(())
    }
}

/// Boot the updated slot next, on trial: [`confirm`] makes it stay.
pub fn activate(flash: &mut FlashStorage<'static>) -> Result<(), SlotError> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let mut ota = OtaUpdater::new(flash, &mut table).map_err(|_| SlotError::NoTable)?;
    ota.activate_next_partition().map_err(|_| SlotError::Flash)?;
    ota.set_current_ota_state(OtaImageState::New)
        .map_err(|_| SlotError::Flash)
}

/// Whether this boot is the first of an update that has not yet proven itself.
pub fn on_trial(flash: &mut FlashStorage<'static>) -> bool {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let Ok(mut ota) = OtaUpdater::new(flash, &mut table) else {
        return false;
    };
    matches!(
        ota.current_ota_state(),
        Ok(OtaImageState::New) | Ok(OtaImageState::PendingVerify)
    )
}

/// The update reached the broker: keep it.
pub fn confirm(flash: &mut FlashStorage<'static>) -> Result<(), SlotError> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let mut ota = OtaUpdater::new(flash, &mut table).map_err(|_| SlotError::NoTable)?;
    ota.set_current_ota_state(OtaImageState::Valid)
        .map_err(|_| SlotError::Flash)
}

/// The update never reached the broker: mark it invalid and boot the previous slot. This
/// works with any bootloader; one built with rollback support would also catch an update
/// that crashes before getting here.
pub fn roll_back(flash: &mut FlashStorage<'static>) -> Result<(), SlotError> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let mut ota = OtaUpdater::new(flash, &mut table).map_err(|_| SlotError::NoTable)?;
    ota.set_current_ota_state(OtaImageState::Invalid)
        .map_err(|_| SlotError::Flash)?;
    ota.activate_next_partition().map_err(|_| SlotError::Flash)?;
    ota.set_current_ota_state(OtaImageState::Valid)
        .map_err(|_| SlotError::Flash)
}

/// The version an update installed in the booted slot: its header, kept in the slot's last
/// sector, when the body still matches it (a slot flashed over by espflash keeps a stale
/// header, which the CRC rejects). None: a factory-flashed image, with its built-in version.
pub fn installed_version(flash: &mut FlashStorage<'static>) -> Option<heapless::String<16>> {
    use plug_core::ota_image::{Crc32, Header};
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let booted = {
        let pt = esp_bootloader_esp_idf::partitions::read_partition_table(flash, &mut table).ok()?;
        pt.booted_partition().ok()??.offset()
    };
    let slot = PARTITIONS.iter().find(|p| p.offset == booted)?;
    let mut raw = [0u8; HEADER_LEN];
    flash.read_nor(slot.end() - SECTOR as u32, &mut raw).ok()?;
    let header = Header::decode(&raw).ok()?;
    if header.body_len > slot.size - SECTOR as u32 {
        return None;
    }
    let mut crc = Crc32::new();
    let mut buf = [0u8; 1024];
    let mut at = 0;
    while at < header.body_len {
        let n = (header.body_len - at).min(buf.len() as u32) as usize;
        flash.read_nor(slot.offset + at, &mut buf[..n]).ok()?;
        crc = crc.update(&buf[..n]);
        at += n as u32;
    }
    (crc.finish() == header.body_crc).then_some(header.version)
}
