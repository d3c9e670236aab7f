//! Upgrades (spec 3.2.4 and 3.3.4): fetch, verify as it streams, report R1-R4.
//!
//! R1: the image arrived whole, verified, and was activated; the plug restarts on it.
//! R2: the server was reached but the upgrade failed (HTTP status, stall, truncated,
//!     corrupt, or an image for another target).
//! R3: the server could not be connected after `ota_attempts` tries.
//! R4: the name did not resolve, or a type-0 realm is not a single IPv4 address.
//!
//! The image is plugrig's (`ota_image`), or with the `vendor-image` variation the vendor
//! format (`vendor_image`) under its own file name.

use core::fmt::Write;
use heapless::String;

use super::{Action, Exit, Plug};
use crate::console::Event as Console;
use crate::faults::Fault;
use crate::ota_image::{ImageError, Verifier};
use crate::time::Instant;
use crate::variations::Variation;
use crate::vendor_image;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtaInput<'a> {
    /// DNS gave no address for the host.
    ResolveFailed,
    /// The TCP connection to the server failed (refused, unreachable, timed out).
    ConnectFailed,
    /// The HTTP status line arrived.
    Status(u16),
    /// The next bytes of the body (already written to the inactive slot by the board).
    Data(&'a [u8]),
    /// The server closed the body normally.
    End,
    /// The connection broke during the transfer.
    Broken,
}

#[derive(Debug)]
pub(super) struct Job {
    host: String<64>,
    port: u16,
    path: String<160>,
    resolve: bool,
    attempts: u8,
    /// Next connection attempt, while waiting between tries.
    retry_at: Option<Instant>,
    /// No progress by then: R2.
    stall_at: Instant,
    reached: bool,
    check: Check,
}

/// The image format this plug accepts.
// One job at a time, so the larger variant costs nothing extra.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Check {
    Plugrig(Verifier),
    Vendor(vendor_image::Verifier),
}

impl Check {
    fn feed(&mut self, d: &[u8]) -> Result<(), ImageError> {
        match self {
            Check::Plugrig(v) => v.feed(d),
            Check::Vendor(v) => v.feed(d),
        }
    }

    fn finish(&self) -> Result<(), ImageError> {
        match self {
            Check::Plugrig(v) => v.finish().map(|_| ()),
            Check::Vendor(v) => v.finish().map(|_| ()),
        }
    }
}

impl Job {
    pub(super) fn deadline(&self) -> Instant {
        self.retry_at.unwrap_or(self.stall_at)
    }
}

/// A dotted-quad IPv4 address and nothing else.
pub fn is_ipv4(s: &str) -> bool {
    let mut parts = 0;
    for p in s.split('.') {
        parts += 1;
        let ok = !p.is_empty()
            && p.len() <= 3
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok_and(|v| v <= 255);
        if !ok {
            return false;
        }
    }
    parts == 4
}

impl Plug {
    pub(super) fn start_ota(&mut self, now: Instant, by_name: bool, realm: &str, port: u16, catalogue: &str) {
        if self.ota.is_some() {
            self.console(Console::Error {
                what: "upgrade already running",
            });
            return;
        }
        if !by_name && !is_ipv4(realm) {
            self.ota_result(now, "R4", "realm is not an ip address");
            return;
        }
        let vendor = self.variations.has(Variation::VendorImage);
        let image = if vendor {
            vendor_image::FILE_NAME
        } else {
            self.id.ota_image.as_str()
        };
        let mut path: String<160> = String::new();
        let _ = write!(path, "/{}{}", catalogue.trim_start_matches('/'), image);
        let check = if vendor {
            Check::Vendor(vendor_image::Verifier::new())
        } else {
            // An empty target accepts any image: only the fault switch asks for that.
            Check::Plugrig(Verifier::new(if self.faults.has(Fault::AcceptWrongTarget) {
                ""
            } else {
                &self.id.ota_target
            }))
        };
        let job = Job {
            host: String::try_from(realm).unwrap_or_default(),
            port,
            path,
            resolve: by_name,
            attempts: 0,
            retry_at: None,
            stall_at: now,
            reached: false,
            check,
        };
        self.ota = Some(job);
        self.ota_attempt(now);
    }

    fn ota_attempt(&mut self, now: Instant) {
        let stall = self.timing.ota_stall;
        let Some(job) = &mut self.ota else {
            return;
        };
        job.attempts += 1;
        job.retry_at = None;
        job.stall_at = now + stall;
        let a = Action::OtaFetch {
            host: job.host.clone(),
            port: job.port,
            path: job.path.clone(),
            resolve: job.resolve,
        };
        self.emit(a);
    }

    pub(super) fn ota_input(&mut self, now: Instant, input: OtaInput<'_>) {
        let stall = self.timing.ota_stall;
        let attempts_max = self.timing.ota_attempts;
        let retry = self.timing.ota_retry;
        let Some(job) = &mut self.ota else {
            return;
        };
        if job.retry_at.is_some() {
            return;
        }
        job.stall_at = now + stall;
        match input {
            OtaInput::ResolveFailed => self.ota_fail(now, "R4", "name did not resolve"),
            OtaInput::ConnectFailed if job.attempts >= attempts_max => {
                self.ota_fail(now, "R3", "server unreachable")
            }
            OtaInput::ConnectFailed => job.retry_at = Some(now + retry),
            OtaInput::Status(200) => job.reached = true,
            OtaInput::Status(_) if self.faults.has(Fault::OtaR3ForHttpError) => {
                self.ota_fail(now, "R3", "http status")
            }
            OtaInput::Status(_) => self.ota_fail(now, "R2", "http status"),
            OtaInput::Data(d) => {
                if !job.reached {
                    self.ota_fail(now, "R2", "data before status");
                } else if let Err(e) = job.check.feed(d) {
                    self.ota_fail(now, "R2", image_error(e));
                }
            }
            OtaInput::End => match job.check.finish() {
                Ok(()) if job.reached => {
                    self.ota = None;
                    self.emit(Action::OtaActivate);
                    self.ota_result(now, "R1", "installed");
                    self.begin_exit(now, Exit::Restart);
                }
                Ok(()) => self.ota_fail(now, "R2", "no status"),
                Err(e) => self.ota_fail(now, "R2", image_error(e)),
            },
            OtaInput::Broken => self.ota_fail(now, "R2", "transfer broken"),
        }
    }

    pub(super) fn ota_timeout(&mut self, now: Instant) {
        let Some(job) = &self.ota else {
            return;
        };
        match job.retry_at {
            Some(t) if now >= t => self.ota_attempt(now),
            Some(_) => {}
            None if now >= job.stall_at => self.ota_fail(now, "R2", "transfer stalled"),
            None => {}
        }
    }

    fn ota_fail(&mut self, now: Instant, result: &'static str, detail: &'static str) {
        self.ota = None;
        self.emit(Action::OtaCancel);
        self.ota_result(now, result, detail);
    }

    fn ota_result(&mut self, now: Instant, result: &'static str, detail: &'static str) {
        self.console(Console::Ota { result, detail });
        let mut s: String<32> = String::new();
        let _ = write!(s, "{{\"ota_result\":\"{result}\"}}");
        self.publish(now, "ota_upgrade_state", s.as_bytes());
    }
}

fn image_error(e: ImageError) -> &'static str {
    match e {
        ImageError::BadMagic | ImageError::BadHeaderCrc | ImageError::BadHeaderField => "bad header",
        ImageError::WrongTarget => "image for another target",
        ImageError::TooLarge => "image too large",
        ImageError::Truncated => "truncated",
        ImageError::TooLong => "longer than announced",
        ImageError::BadBodyCrc => "checksum mismatch",
    }
}
