//! The ESP32-C3 firmware seen from the rig: building it, turning its ELF into flashable
//! and OTA images (`image`), and flashing it onto a plug on the bench (`flash`).

pub mod build;
pub mod flash;
pub mod image;
#[cfg(feature = "probe-rs")]
pub mod probe;
