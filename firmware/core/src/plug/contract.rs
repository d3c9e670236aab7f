//! The board contract: everything a board and the core say to each other. [`Input`] is
//! what happened (bytes, links, the button), [`Action`] what the board must do, in order;
//! [`Timing`] the application's timers. Read this file to write a board.
//!
//! Owns: the types and their meaning, nothing else. Refuses: behaviour; the plug decides,
//! the board only moves bytes and flips pins.

use core::time::Duration;
use heapless::String;

use crate::config::{Config, WifiConfig};
use crate::console::Event as Console;
use crate::mqtt;
use crate::provisioning::Reply;

/// A connection on the AP socket, numbered by the board.
pub type ConnId = u32;

/// A broker stream or an upgrade download, numbered by the plug in the action that opens
/// it ([`Action::MqttOpen`], [`Action::OtaFetch`]). The board tags every input about the
/// link with it and the plug drops what a link it has left behind says late, so a board
/// keeps no counters of its own: it only routes by the id it was given.
pub type LinkId = u32;

/// Application timers. The simulator divides them by its time scale; network timeouts
/// ([`NetTiming`], `ap_idle`, `ota_retry`, `trial`) stay real. The upgrade's stall timeout
/// is the plug's own decision, not the network's, and scales too: a rig at time scale 10
/// waits 1.5 s for it, not 15 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `switch_state` period (spec 3.2.1: 30 s).
    pub heartbeat: Duration,
    /// `delay_time` and `electricity_information` period, and the meter poll (1 s).
    pub cadence: Duration,
    /// Button hold for a factory reset (spec 3.2.5: 10 s).
    pub hold: Duration,
    /// A release before this is a short press that toggles the relay (2 s).
    pub short_press: Duration,
    /// Idle AP connection dropped after this (real time).
    pub ap_idle: Duration,
    /// An upgrade transfer with no progress for this long fails with R2.
    pub ota_stall: Duration,
    /// Between connection attempts to the upgrade server (real time).
    pub ota_retry: Duration,
    /// Connection attempts before R3.
    pub ota_attempts: u8,
    /// How long a reset or restart waits for in-flight publishes to be acknowledged.
    pub drain: Duration,
    /// An update on trial that has not reached the broker by then is rolled back (real
    /// time).
    pub trial: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat: Duration::from_secs(30),
            cadence: Duration::from_secs(1),
            hold: Duration::from_secs(10),
            short_press: Duration::from_secs(2),
            ap_idle: Duration::from_secs(60),
            ota_stall: Duration::from_secs(15),
            ota_retry: Duration::from_secs(1),
            ota_attempts: 3,
            drain: Duration::from_secs(2),
            trial: Duration::from_secs(300),
        }
    }
}

impl Timing {
    /// Application timers `scale` times faster; network timers unchanged.
    pub fn scaled(scale: u32) -> Timing {
        let d = Timing::default();
        let s = scale.max(1);
        Timing {
            heartbeat: d.heartbeat / s,
            cadence: d.cadence / s,
            hold: d.hold / s,
            short_press: d.short_press / s,
            ota_stall: d.ota_stall / s,
            ..d
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<'a> {
    ApAccepted(ConnId),
    ApData(ConnId, &'a [u8]),
    ApClosed(ConnId),
    /// The station joined the network (and got an address).
    NetworkUp,
    NetworkDown,
    MqttOpened(LinkId),
    MqttData(LinkId, &'a [u8]),
    /// The broker stream closed, or could not be opened.
    MqttClosed(LinkId),
    Button {
        pressed: bool,
    },
    /// Bytes from the metering chip's UART.
    Meter(&'a [u8]),
    Ota(LinkId, OtaInput<'a>),
}

// No heap in the core: an action carries its bytes inline. The queue's size is the cost,
// paid once (`cargo run -p plug-core --example footprint` prints it).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    ApListen,
    /// Close the listener and every AP connection (after writing what is queued).
    ApStopListening,
    ApSend(ConnId, Reply),
    ApClose(ConnId),
    JoinNetwork(WifiConfig),
    MqttOpen {
        link: LinkId,
        host: String<64>,
        port: u16,
        tls: bool,
    },
    MqttSend(mqtt::Bytes),
    MqttClose,
    SetRelay(bool),
    /// Write [`crate::bl0942::REQUEST`] to the metering chip.
    MeterRequest,
    Store(Config),
    Erase,
    /// Fetch `http://{host}:{port}{path}`; resolve `host` by DNS first when `resolve`.
    /// The board writes each received chunk to the inactive slot before passing it in.
    OtaFetch {
        link: LinkId,
        host: String<64>,
        port: u16,
        path: String<160>,
        resolve: bool,
    },
    /// Drop the transfer and discard what was written.
    OtaCancel,
    /// The image in the inactive slot is good: boot from it next, on trial (the next boot
    /// calls [`crate::Plug::start_trial`]).
    OtaActivate,
    /// The update on trial reached the broker: keep it.
    OtaConfirm,
    /// The update on trial never reached the broker: mark it invalid and boot the previous
    /// slot next. A [`Action::Restart`] follows.
    OtaRollBack,
    Restart,
    Console(Console),
}

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
