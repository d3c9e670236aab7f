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

/// How an upgrade ended: the `ota_result` of `ota_upgrade_state` (spec 3.3.4), and the
/// `result` of the console's `ota` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtaResult {
    /// R1: the image arrived whole, verified, and was activated; the plug restarts on it.
    Success,
    /// R2: the server was reached but the upgrade failed (HTTP error status, stall,
    /// truncated or corrupt image, or an image for another target).
    UpgradeFailed,
    /// R3: the server could not be connected after `Timing::ota_attempts` tries.
    ServerUnreachable,
    /// R4: the name (type 1) did not resolve, or a type-0 realm is not a single IPv4
    /// address (PROTOCOL-NOTES).
    NoAddress,
}

impl OtaResult {
    /// The wire text: `R1` to `R4`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OtaResult::Success => "R1",
            OtaResult::UpgradeFailed => "R2",
            OtaResult::ServerUnreachable => "R3",
            OtaResult::NoAddress => "R4",
        }
    }
}
