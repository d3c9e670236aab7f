//! The ESP32-C3 firmware of this workspace seen from the rig: building it (`build`), its
//! flashable images and its OTA image, and putting it on a bench plug before a run (the
//! flashers themselves are instruments).

pub mod build;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use instruments::flash::{flash, image, FlashSpec, Images};
use instruments::serial_console::SerialConsole;

use crate::drivers::timeline::{Mark, Timeline};
use crate::rig::DutSpec;

/// The ELF to flash: the rig file's, or firmware/esp32c3 built now.
pub async fn firmware_images(spec: &FlashSpec) -> anyhow::Result<Images> {
    Ok(firmware_images_from(spec).await?.1)
}

/// The ELF the images come from, and the images.
async fn firmware_images_from(spec: &FlashSpec) -> anyhow::Result<(std::path::PathBuf, Images)> {
    let elf = match spec.elf() {
        Some(e) => e.clone(),
        None => tokio::task::spawn_blocking(build::build_firmware).await??,
    };
    let bytes = tokio::fs::read(&elf)
        .await
        .with_context(|| format!("reading the firmware ELF {}", elf.display()))?;
    Ok((elf, image::from_elf(&bytes)?))
}

/// The app image as an OTA download for the board's target at `version`.
pub fn ota_image(app: &[u8], target: &str, version: &str) -> Vec<u8> {
    crate::drivers::ota::format::build(&crate::drivers::ota::format::ImageSpec {
        target,
        version,
        body: app,
    })
}

/// Flashes, then waits for the boot line on the plug's console (the rig's `console_boot`
/// pattern); without a console, waits the boot timeout and says so.
/// Returns what was flashed, for the run's provenance: the app image's SHA-256 and the ELF
/// it was made from.
pub async fn flash_and_boot(spec: &FlashSpec, dut: &DutSpec) -> anyhow::Result<crate::provenance::Firmware> {
    let (elf, images) = firmware_images_from(spec).await?;
    let flashed = crate::provenance::Firmware {
        what: "application image from".into(),
        path: elf,
        sha256: crate::provenance::sha256_bytes(&images.app),
        flags: String::new(),
    };
    println!("plugrig: app image {}", image::size_line(images.app.len()));
    let timeline = Arc::new(Timeline::default());
    let console = dut
        .console_port()
        .map(|(port, baud)| SerialConsole::start(port, baud, timeline.console_sink()));
    flash(spec, &images).await?;
    let limit = Duration::from_secs(dut.boot_timeout_s());
    if console.is_none() {
        println!("plugrig: no console to see the boot; waiting {limit:?}");
        tokio::time::sleep(limit).await;
        return Ok(flashed);
    }
    let line = timeline
        .wait_for_boot(Mark::START, &dut.console_patterns().boot, limit)
        .await
        .context("the plug did not boot after flashing")?;
    println!("plugrig: booted: {line}");
    Ok(flashed)
}
