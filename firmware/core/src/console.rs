//! Console telemetry: one line format that every build prints, so a rig can follow the
//! plug through its serial port.
//!
//! A line is `plug <uptime_ms> <event>[ key=value]...`, ASCII, at most 128 bytes, ended by
//! `\n` (the board adds it). Events:
//!
//! | event        | keys                                  | when                                |
//! |--------------|---------------------------------------|-------------------------------------|
//! | `boot`       | `fw`, `mac`, `configured` (yes/no)    | the core starts                     |
//! | `mode`       | `mode` (ap/station)                   | AP mode entered or left             |
//! | `config`     | `action` (saved/erased)               | configuration written or erased     |
//! | `relay`      | `state` (on/off), `cause`             | the relay changes                   |
//! | `mqtt`       | `state` (up/down/refused), `code`     | the broker session changes          |
//! | `countdown`  | `action` (start/cancel/done), `secs`, `cause` | a countdown changes         |
//! | `ota`        | `result` (R1-R4), `detail`            | an upgrade ends                     |
//! | `reset`      | `cause` (button/app)                  | factory reset                       |
//! | `error`      | `what`                                | something went wrong and was handled|

use core::fmt::{self, Write};
use heapless::String;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    App,
    Button,
    Countdown,
    Boot,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Cause::App => "app",
            Cause::Button => "button",
            Cause::Countdown => "countdown",
            Cause::Boot => "boot",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Boot {
        fw: String<16>,
        mac: String<17>,
        configured: bool,
    },
    Mode {
        ap: bool,
    },
    ConfigSaved,
    ConfigErased,
    Relay {
        on: bool,
        cause: Cause,
    },
    MqttUp,
    MqttDown,
    MqttRefused {
        code: u8,
    },
    CountdownStart {
        secs: u32,
        target_on: bool,
    },
    CountdownCancel {
        cause: &'static str,
    },
    CountdownDone,
    Ota {
        result: &'static str,
        detail: &'static str,
    },
    Reset {
        cause: Cause,
    },
    Error {
        what: &'static str,
    },
}

fn onoff(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Boot { fw, mac, configured } => write!(
                f,
                "boot fw={fw} mac={mac} configured={}",
                if *configured { "yes" } else { "no" }
            ),
            Event::Mode { ap } => write!(f, "mode mode={}", if *ap { "ap" } else { "station" }),
            Event::ConfigSaved => f.write_str("config action=saved"),
            Event::ConfigErased => f.write_str("config action=erased"),
            Event::Relay { on, cause } => {
                write!(f, "relay state={} cause={}", onoff(*on), cause.as_str())
            }
            Event::MqttUp => f.write_str("mqtt state=up"),
            Event::MqttDown => f.write_str("mqtt state=down"),
            Event::MqttRefused { code } => write!(f, "mqtt state=refused code={code}"),
            Event::CountdownStart { secs, target_on } => {
                write!(
                    f,
                    "countdown action=start secs={secs} target={}",
                    onoff(*target_on)
                )
            }
            Event::CountdownCancel { cause } => write!(f, "countdown action=cancel cause={cause}"),
            Event::CountdownDone => f.write_str("countdown action=done"),
            Event::Ota { result, detail } => write!(f, "ota result={result} detail={detail}"),
            Event::Reset { cause } => write!(f, "reset cause={}", cause.as_str()),
            Event::Error { what } => write!(f, "error what={what}"),
        }
    }
}

/// The whole line, without its newline.
pub fn line(uptime_ms: u64, e: &Event) -> String<128> {
    let mut s = String::new();
    // A line too long for the buffer is cut, never dropped.
    let _ = write!(s, "plug {uptime_ms} {e}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_line() {
        let l = line(
            1234,
            &Event::Relay {
                on: true,
                cause: Cause::App,
            },
        );
        assert_eq!(l.as_str(), "plug 1234 relay state=on cause=app");
    }
}
