//! Putting the workspace's firmware on a bench plug: over its serial port with the espflash
//! library, over the ESP32-C3's USB-JTAG with probe-rs (cargo feature `probe-rs`), or with a
//! command. Then the plug is reset and must print its boot line on the console.
//!
//! What is written is a factory-fresh plug: bootloader, partition table, erased
//! configuration and OTA data (so ota_0 boots, unprovisioned), and the app in ota_0.

pub mod image;
#[cfg(feature = "probe-rs")]
pub mod probe;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

pub use image::Images;
use plug_board::partitions::{Kind, PARTITIONS};

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FlashSpec {
    /// The ROM bootloader over a serial port: the C3's own USB (/dev/ttyACM*) or a USB-UART
    /// bridge (/dev/ttyUSB*), with espflash's reset sequence for each.
    Espflash {
        /// The plug's serial port (a local device: espflash drives the reset lines itself).
        port: String,
        /// Baud rate after connecting (the connection starts at 115200).
        #[serde(default = "flash_baud")]
        baud: u32,
        /// The firmware ELF to flash; without it the rig builds the ESP32-C3 firmware.
        #[serde(default)]
        elf: Option<PathBuf>,
    },
    /// probe-rs over the ESP32-C3's built-in USB-JTAG.
    ProbeRs {
        /// "VID:PID" or "VID:PID:SERIAL" when several probes are attached.
        #[serde(default)]
        probe: Option<String>,
        /// The firmware ELF to flash; without it the rig builds the ESP32-C3 firmware.
        #[serde(default)]
        elf: Option<PathBuf>,
    },
    /// Any tool: `{image}` in an argument becomes the merged flash image (write it at 0x0).
    Command {
        /// The program and its arguments, run without a shell.
        argv: Vec<String>,
        /// The firmware ELF to turn into the image; without it the rig builds the ESP32-C3
        /// firmware.
        #[serde(default)]
        elf: Option<PathBuf>,
    },
}

fn flash_baud() -> u32 {
    460_800
}

impl FlashSpec {
    /// The ELF the rig file names, if any (otherwise the caller builds one).
    pub fn elf(&self) -> Option<&PathBuf> {
        match self {
            FlashSpec::Espflash { elf, .. }
            | FlashSpec::ProbeRs { elf, .. }
            | FlashSpec::Command { elf, .. } => elf.as_ref(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            FlashSpec::Espflash { port, baud, .. } => format!("espflash on {port} at {baud} baud"),
            FlashSpec::ProbeRs { probe, .. } => {
                format!(
                    "probe-rs on {}",
                    probe.as_deref().unwrap_or("the only attached probe")
                )
            }
            FlashSpec::Command { argv, .. } => format!("command {argv:?}"),
        }
    }

    /// Whether the flasher is there, without writing anything: the port opens, the probe
    /// is attached, the command's program exists.
    pub async fn check(&self) -> anyhow::Result<String> {
        match self {
            FlashSpec::Espflash { port, .. } => {
                open_port(port)?;
                Ok(format!("{port} opens"))
            }
            FlashSpec::ProbeRs { probe, .. } => probe_check(probe.as_deref()),
            FlashSpec::Command { argv, .. } => {
                let prog = argv.first().context("flash.argv is empty")?;
                let found = which(prog).with_context(|| format!("flash command {prog:?} not found"))?;
                Ok(format!("{} found", found.display()))
            }
        }
    }
}

/// The segments of a factory-fresh plug, in address order.
pub fn factory_segments(images: &Images) -> Vec<(u32, Vec<u8>)> {
    let mut segs = images.segments.clone();
    for p in PARTITIONS
        .iter()
        .filter(|p| matches!(p.kind, Kind::Config | Kind::OtaData))
    {
        segs.push((p.offset, vec![0xFF; p.size as usize]));
    }
    segs.sort_by_key(|(a, _)| *a);
    segs
}

/// Writes the firmware. The caller waits for the boot line.
pub async fn flash(spec: &FlashSpec, images: &Images) -> anyhow::Result<()> {
    let segments = factory_segments(images);
    match spec {
        FlashSpec::Espflash { port, baud, .. } => {
            let (port, baud) = (port.clone(), *baud);
            tokio::task::spawn_blocking(move || espflash_serial(&port, baud, &segments)).await?
        }
        FlashSpec::ProbeRs { probe, .. } => {
            let probe = probe.clone();
            tokio::task::spawn_blocking(move || probe_flash(probe.as_deref(), &segments)).await?
        }
        FlashSpec::Command { argv, .. } => {
            let dir = tempfile::tempdir()?;
            let image = dir.path().join("plug-esp32c3.flash.bin");
            // One file from 0x0: the gaps between the pieces, the configuration and OTA
            // data among them, are erased bytes.
            tokio::fs::write(&image, images.merged()).await?;
            let args: Vec<String> = argv
                .iter()
                .map(|a| a.replace("{image}", &image.display().to_string()))
                .collect();
            crate::command::run(&args, Duration::from_secs(300)).await
        }
    }
}

fn open_port(port: &str) -> anyhow::Result<serialport::TTYPort> {
    serialport::new(port, 115_200)
        .timeout(Duration::from_secs(3))
        .open_native()
        .with_context(|| format!("flash port {port} cannot be opened"))
}

fn espflash_serial(port: &str, baud: u32, segments: &[(u32, Vec<u8>)]) -> anyhow::Result<()> {
    use espflash::connection::{Connection, ResetAfterOperation, ResetBeforeOperation};
    use espflash::flasher::Flasher;
    use espflash::image_format::Segment;
    use espflash::target::{Chip, DefaultProgressCallback};

    let serial = open_port(port)?;
    // espflash picks its reset sequence from the USB product id: the C3's built-in
    // USB-serial-JTAG (CDC-ACM, ttyACM) or a UART bridge's DTR/RTS lines.
    let usb_jtag = Path::new(port)
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("ttyACM"));
    let info = serialport::UsbPortInfo {
        vid: if usb_jtag { 0x303a } else { 0x10c4 },
        pid: if usb_jtag { 0x1001 } else { 0xea60 },
        serial_number: None,
        manufacturer: None,
        product: None,
        interface: None,
    };
    let conn = Connection::new(
        serial,
        info,
        ResetAfterOperation::HardReset,
        ResetBeforeOperation::DefaultReset,
        115_200,
    );
    let mut flasher = Flasher::connect(conn, true, true, false, Some(Chip::Esp32c3), Some(baud))
        .map_err(|e| anyhow::anyhow!("no ESP32-C3 bootloader answered on {port}: {e}"))?;
    let segs: Vec<Segment<'_>> = segments.iter().map(|(a, d)| Segment::new(*a, d)).collect();
    flasher
        .write_bins_to_flash(&segs, &mut DefaultProgressCallback)
        .map_err(|e| anyhow::anyhow!("flashing over {port} failed: {e}"))?;
    let mut conn = flasher.into_connection();
    conn.reset_after(true, Chip::Esp32c3)
        .map_err(|e| anyhow::anyhow!("resetting the plug over {port} failed: {e}"))
}

#[cfg(not(feature = "probe-rs"))]
fn probe_check(_probe: Option<&str>) -> anyhow::Result<String> {
    anyhow::bail!("this plugrig was built without probe-rs: cargo build -p plugrig --features probe-rs")
}

#[cfg(not(feature = "probe-rs"))]
fn probe_flash(_probe: Option<&str>, _segments: &[(u32, Vec<u8>)]) -> anyhow::Result<()> {
    anyhow::bail!("this plugrig was built without probe-rs: cargo build -p plugrig --features probe-rs")
}

#[cfg(feature = "probe-rs")]
use probe::{check as probe_check, flash as probe_flash};

/// A program on PATH (or a path that exists).
fn which(prog: &str) -> Option<PathBuf> {
    let p = Path::new(prog);
    if p.components().count() > 1 {
        return p.exists().then(|| p.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(prog))
        .find(|c| c.is_file())
}
