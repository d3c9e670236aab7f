//! What the I/O tasks tell the application task, and what it tells them. Every channel is
//! static and bounded: a full channel makes the producer wait, it never drops or allocates.
//!
//! No heap: messages carry their bytes inline, and each channel's depth is their cost,
//! paid once in .bss (`size -A` on the release ELF shows it).
#![allow(clippy::large_enum_variant)]

use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex as Cs;
use embassy_sync::channel::Channel;
use embassy_sync::signal::Signal;
use heapless::{String, Vec};
use plug_core::config::WifiConfig;
use plug_core::plug::{ConnId, LinkId};
use plug_core::provisioning::Reply;

/// Bytes read from a socket or the UART in one go.
pub type Chunk = Vec<u8, 512>;

/// What happened on the OTA download, in order (the core decides what it means).
pub enum OtaEvent {
    ResolveFailed,
    ConnectFailed,
    Status(u16),
    Data(Chunk),
    End,
    Broken,
}

/// Inputs for the core. MQTT and OTA events carry the link id the core gave the
/// connection they came from, so the core drops what a closed connection said late.
pub enum Ev {
    ApAccepted(ConnId),
    ApData(ConnId, Chunk),
    ApClosed(ConnId),
    NetworkUp,
    NetworkDown,
    MqttOpened(LinkId),
    MqttData(LinkId, Chunk),
    MqttClosed(LinkId),
    Button(bool),
    Meter(Vec<u8, 32>),
    Ota(LinkId, OtaEvent),
}

pub static EVENTS: Channel<Cs, Ev, 8> = Channel::new();

/// Provisioning connections served at once; a third lets the core evict the idlest.
pub const AP_SLOTS: usize = 3;

pub enum ApCmd {
    Send(ConnId, Reply),
    Close(ConnId),
    /// The listener stops: every connection closes after what was queued before.
    CloseAll,
}

pub static AP_CMDS: [Channel<Cs, ApCmd, 2>; AP_SLOTS] = [Channel::new(), Channel::new(), Channel::new()];

pub enum WifiCmd {
    /// The core listens on the AP socket: bring the access point up.
    StartAp,
    Join(WifiConfig),
}

pub static WIFI_CMD: Signal<Cs, WifiCmd> = Signal::new();

pub enum MqttCmd {
    Open {
        link: LinkId,
        host: String<64>,
        port: u16,
        /// connect_mode 1: the session runs under plug-core's TLS client.
        tls: bool,
    },
    Send(plug_core::mqtt::Bytes),
    Close,
}

pub static MQTT_CMDS: Channel<Cs, MqttCmd, 8> = Channel::new();

pub enum OtaCmd {
    Fetch {
        link: LinkId,
        host: String<64>,
        port: u16,
        path: String<160>,
        resolve: bool,
    },
    Cancel,
}

pub static OTA_CMDS: Channel<Cs, OtaCmd, 2> = Channel::new();

/// Ask the metering chip for a full packet.
pub static METER_REQUEST: Signal<Cs, ()> = Signal::new();

/// Copies up to a chunk's capacity; the callers read at most that much.
pub fn chunk(bytes: &[u8]) -> Chunk {
    let n = bytes.len().min(512);
    Vec::from_slice(&bytes[..n]).unwrap_or_default()
}
