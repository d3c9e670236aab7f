//! One upgrade job (spec 3.2.4 and 3.3.4): fetch, verify as it streams, report how it
//! ended ([`OtaResult`], R1-R4).
//!
//! Read first: spec 3.3.4 (`ota_upgrade_state`). Owns one upgrade job: its attempts, its
//! stall and retry timers and the image check; each input or timeout comes back as an
//! [`Outcome`] the plug acts on (fetch again, cancel and report, or activate and restart;
//! the plug's side is the "upgrade" section of `plug/mod.rs`). Refuses: the slot (the
//! board writes each chunk before passing it in) and the trial of the new image after the
//! restart (the plug's `start_trial`).
//!
//! The image is plugrig's ([`super::image`]), or with the `vendor-image` variation the
//! vendor format ([`super::vendor_image`]) under its own file name.

use core::fmt::Write;
use core::time::Duration;
use heapless::String;

use super::image::{self, ImageError};
use super::{vendor_image, OtaResult};
use crate::plug::{Action, LinkId, OtaInput};
use crate::time::Instant;

/// What an upgrade asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request<'a> {
    /// Type 1: `realm` is a host name to resolve; type 0: an IPv4 address.
    pub by_name: bool,
    pub realm: &'a str,
    pub port: u16,
    pub catalogue: &'a str,
}

/// The rules a job runs by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub stall: Duration,
    pub retry: Duration,
    pub attempts: u8,
    /// The `ota-r3-for-http-error` fault: an HTTP error reported as R3.
    pub r3_for_http_error: bool,
}

/// What the plug must do after an input or a timeout.
// One at a time, so the larger variant costs nothing extra.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Outcome {
    Pending,
    /// Make the next connection attempt ([`Job::attempt`], with a new link).
    Attempt,
    /// Cancel the transfer and report the result, with a detail for the console.
    Failed(OtaResult, &'static str),
    /// Activate the slot, report R1 and restart.
    Installed,
}

#[derive(Debug)]
pub(crate) struct Job {
    host: String<64>,
    port: u16,
    path: String<160>,
    resolve: bool,
    /// The link of the current attempt; inputs from any other are dropped.
    link: LinkId,
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
    Plugrig(image::Verifier),
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
    /// A job, before its first attempt; a type-0 realm that is no address is R4 at once.
    /// `file` is the name fetched under the catalogue; `vendor` picks the vendor image
    /// format; `target` is the plugrig image's target (empty accepts any: only the fault
    /// switch asks for that).
    pub(crate) fn start(req: Request, file: &str, vendor: bool, target: &str) -> Result<Job, &'static str> {
        if !req.by_name && !is_ipv4(req.realm) {
            return Err("realm is not an ip address");
        }
        let mut path: String<160> = String::new();
        let _ = write!(path, "/{}{}", req.catalogue.trim_start_matches('/'), file);
        let check = if vendor {
            Check::Vendor(vendor_image::Verifier::new())
        } else {
            Check::Plugrig(image::Verifier::new(target))
        };
        Ok(Job {
            host: String::try_from(req.realm).unwrap_or_default(),
            port: req.port,
            path,
            resolve: req.by_name,
            link: 0,
            attempts: 0,
            retry_at: None,
            stall_at: Instant::ZERO,
            reached: false,
            check,
        })
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.retry_at.unwrap_or(self.stall_at)
    }

    /// The fetch of the next attempt, on `link`.
    pub(crate) fn attempt(&mut self, now: Instant, link: LinkId, stall: Duration) -> Action {
        self.link = link;
        self.attempts += 1;
        self.retry_at = None;
        self.stall_at = now + stall;
        Action::OtaFetch {
            link,
            host: self.host.clone(),
            port: self.port,
            path: self.path.clone(),
            resolve: self.resolve,
        }
    }

    pub(crate) fn handle(&mut self, now: Instant, link: LinkId, input: OtaInput<'_>, p: Policy) -> Outcome {
        // A link left behind (an earlier attempt), or between attempts.
        if link != self.link || self.retry_at.is_some() {
            return Outcome::Pending;
        }
        self.stall_at = now + p.stall;
        match input {
            OtaInput::ResolveFailed => Outcome::Failed(OtaResult::NoAddress, "name did not resolve"),
            OtaInput::ConnectFailed if self.attempts >= p.attempts => {
                Outcome::Failed(OtaResult::ServerUnreachable, "server unreachable")
            }
            OtaInput::ConnectFailed => {
                self.retry_at = Some(now + p.retry);
                Outcome::Pending
            }
            OtaInput::Status(200) => {
                self.reached = true;
                Outcome::Pending
            }
            OtaInput::Status(_) if p.r3_for_http_error => {
                Outcome::Failed(OtaResult::ServerUnreachable, "http status")
            }
            OtaInput::Status(_) => Outcome::Failed(OtaResult::UpgradeFailed, "http status"),
            OtaInput::Data(_) if !self.reached => {
                Outcome::Failed(OtaResult::UpgradeFailed, "data before status")
            }
            OtaInput::Data(d) => match self.check.feed(d) {
                Ok(()) => Outcome::Pending,
                Err(e) => Outcome::Failed(OtaResult::UpgradeFailed, image_error(e)),
            },
            OtaInput::End => match self.check.finish() {
                Ok(()) if self.reached => Outcome::Installed,
                Ok(()) => Outcome::Failed(OtaResult::UpgradeFailed, "no status"),
                Err(e) => Outcome::Failed(OtaResult::UpgradeFailed, image_error(e)),
            },
            OtaInput::Broken => Outcome::Failed(OtaResult::UpgradeFailed, "transfer broken"),
        }
    }

    pub(crate) fn timeout(&mut self, now: Instant) -> Outcome {
        match self.retry_at {
            Some(t) if now >= t => Outcome::Attempt,
            Some(_) => Outcome::Pending,
            None if now >= self.stall_at => Outcome::Failed(OtaResult::UpgradeFailed, "transfer stalled"),
            None => Outcome::Pending,
        }
    }
}

/// A dotted-quad IPv4 address and nothing else.
fn is_ipv4(s: &str) -> bool {
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
