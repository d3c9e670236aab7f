//! Writing an update into the inactive OTA partition, switching to it, and confirming or
//! rolling back the first boot after an update.
//!
//! The download is the core's image: a 64-byte header (plug-core::ota::image) and then the
//! ESP app image. The header is the core's to check; plug-core's `ota::slot::SlotWriter`
//! puts the body at the partition's first byte, where the bootloader expects an app image,
//! and keeps the header in the partition's last sector.

use esp_bootloader_esp_idf::ota::OtaImageState;
use esp_bootloader_esp_idf::ota_updater::OtaUpdater;
use esp_bootloader_esp_idf::partitions::{AppPartitionSubType, PARTITION_TABLE_MAX_LEN};
use esp_storage::FlashStorage;
use plug_board::partitions::{Partition, PARTITIONS};

/// The partition table or the bootloader's OTA data could not be used (writing the image
/// itself fails with plug-core's `ota::slot::SlotError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionError {
    /// No OTA data partition or fewer than two app slots in the flashed table.
    NoTable,
    /// The table on flash differs from plug-board's (not flashed by `plugrig image`?).
    Layout,
    Flash,
}

/// The partition the next update goes to, as the bootloader's OTA data says.
pub fn next_slot(flash: &mut FlashStorage<'static>) -> Result<Partition, PartitionError> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let mut ota = OtaUpdater::new(flash, &mut table).map_err(|_| PartitionError::NoTable)?;
    let (region, sub) = ota.next_partition().map_err(|_| PartitionError::NoTable)?;
    let size = region.partition_size() as u32;
    let n = match sub {
        AppPartitionSubType::Ota0 => 0,
        AppPartitionSubType::Ota1 => 1,
        _ => return Err(PartitionError::Layout),
    };
    let p = PARTITIONS
        .iter()
        .copied()
        .find(|p| p.kind == plug_board::Kind::App(n))
        .ok_or(PartitionError::Layout)?;
    if p.size != size {
        return Err(PartitionError::Layout);
    }
    Ok(p)
}

/// Boot the updated slot next, on trial: [`confirm`] makes it stay.
pub fn activate(flash: &mut FlashStorage<'static>) -> Result<(), PartitionError> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let mut ota = OtaUpdater::new(flash, &mut table).map_err(|_| PartitionError::NoTable)?;
    ota.activate_next_partition().map_err(|_| PartitionError::Flash)?;
    ota.set_current_ota_state(OtaImageState::New)
        .map_err(|_| PartitionError::Flash)
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
pub fn confirm(flash: &mut FlashStorage<'static>) -> Result<(), PartitionError> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let mut ota = OtaUpdater::new(flash, &mut table).map_err(|_| PartitionError::NoTable)?;
    ota.set_current_ota_state(OtaImageState::Valid)
        .map_err(|_| PartitionError::Flash)
}

/// The update never reached the broker: mark it invalid and boot the previous slot. This
/// works with any bootloader; one built with rollback support would also catch an update
/// that crashes before getting here.
pub fn roll_back(flash: &mut FlashStorage<'static>) -> Result<(), PartitionError> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let mut ota = OtaUpdater::new(flash, &mut table).map_err(|_| PartitionError::NoTable)?;
    ota.set_current_ota_state(OtaImageState::Invalid)
        .map_err(|_| PartitionError::Flash)?;
    ota.activate_next_partition().map_err(|_| PartitionError::Flash)?;
    ota.set_current_ota_state(OtaImageState::Valid)
        .map_err(|_| PartitionError::Flash)
}

/// The version an update installed in the booted slot (plug-core::ota::slot), or None for
/// a factory-flashed image, which reports its built-in version.
pub fn installed_version(flash: &mut FlashStorage<'static>) -> Option<heapless::String<16>> {
    let mut table = [0u8; PARTITION_TABLE_MAX_LEN];
    let booted = {
        let pt = esp_bootloader_esp_idf::partitions::read_partition_table(flash, &mut table).ok()?;
        pt.booted_partition().ok()??.offset()
    };
    let slot = PARTITIONS.iter().find(|p| p.offset == booted)?;
    plug_core::ota::slot::installed_version(flash, slot.offset, slot.size)
}
