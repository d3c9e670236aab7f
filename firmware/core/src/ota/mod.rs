//! Over-the-air upgrades, every part the core owns.
//!
//! Read in this order: `job` (one upgrade as the plug runs it: attempts, timers, the
//! image check, the R1-R4 result), `image` (plugrig's own image format, MKPLUGFW header
//! and body, checked as it streams), `http` (the GET request and response head both boards
//! use), `slot` (writing a download into a NOR-flash OTA slot, and reading the installed
//! version back). `vendor_image` is another conformant plug's image format, used only by
//! the `vendor-image` variation ([`crate::variations`]).
//!
//! Refuses: sockets and flash drivers; the boards move the bytes (`plug::contract`'s
//! `OtaFetch`, `OtaInput`, `OtaActivate`).

pub mod http;
pub mod image;
pub(crate) mod job;
pub mod slot;
pub mod vendor_image;

pub(crate) use job::{Job, Outcome, Policy, Request};
