//! plug-board: what differs between plug hardware, as data. The ESP32-C3 firmware reads
//! its pins, metering UART and flash layout from here, so another board is a new constant,
//! not new code; the harness reads the flash layout to build flashable images.
//!
//! Kept free of any HAL so the descriptions are checked by host tests (`cargo test -p
//! plug-board`): pins usable on the chip and distinct, partitions aligned, in order, and
//! equal to `partitions.csv`.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod board;
pub mod partitions;

pub use board::{Board, Level, MeterUart, Pin, ATHOM_C3_BL0942};
pub use partitions::{Kind, Partition, FLASH_SIZE, PARTITIONS, PARTITIONS_CSV};
