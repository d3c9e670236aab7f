//! plug-core: the application of an MK102/MK112 smart plug, shared by every build.
//!
//! Refuses: `std`, the heap, I/O and clocks. Bytes, events and the current time come in;
//! actions go out (see [`plug::Plug`]). The board crates (`plug-sim` on the host, the
//! ESP32-C3 firmware) only move bytes and apply actions.
//!
//! Read in this order: `plug` (the application; `plug::contract` is what a board and the
//! plug say to each other), `provisioning` (AP socket), `mqtt` (`mqtt::session` owns the
//! connection, `mqtt::wire` frames and checks its bytes), `ota` (upgrades: the job, the
//! image format, the download and the slot), `bl0942`, `console`, `storage`; with the
//! `tls` feature, `tls` (under the session for connect_mode 1). Test-only switches,
//! compiled into plug-sim alone: `faults` (deliberate violations) and `variations`
//! (conformant choices other than the default, with `ota::vendor_image`).
#![no_std]

#[cfg(test)]
extern crate std;

pub mod bl0942;
pub mod config;
pub mod console;
pub mod faults;
mod flags;
pub mod identity;
pub mod json;
pub mod mqtt;
pub mod ota;
pub mod plug;
pub mod provisioning;
pub mod storage;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod variations;

#[cfg(test)]
mod testutil;

pub use plug::{Action, Input, Plug, Timing};
pub use time::Instant;
