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
//!
//! The `console-format` variation ([`Format::Vendor`]) writes the same events the way
//! another vendor's firmware might, for proving a rig's console patterns are configurable:
//!
//! ```text
//! *** BOOT plug-sim 000001 ***          boot (the board's name, the firmware version)
//! [1234] RELAY -> ON                    relay (ON/OFF)
//! [1234] MODE -> AP                     mode (AP/STATION)
//! [1234] CONFIG -> SAVED                config (SAVED/ERASED)
//! [1234] MQTT -> UP                     mqtt (UP/DOWN/REFUSED <code>)
//! [1234] COUNTDOWN -> START 60s ON      countdown (START <secs>s <target>/CANCEL <cause>/DONE)
//! [1234] OTA -> R1 installed            ota (<result> <detail>)
//! [1234] RESET -> BUTTON                reset (BUTTON/APP)
//! [1234] ERROR -> <what>                error
//! ```

use core::fmt::{self, Write};
use heapless::String;

use crate::ota::OtaResult;

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
        result: OtaResult,
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
            Event::Ota { result, detail } => {
                write!(f, "ota result={} detail={detail}", result.as_str())
            }
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

/// Which line format the board prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `plug <uptime_ms> <event> key=value...` (the table above).
    #[default]
    Plugrig,
    /// The `console-format` variation (the block above).
    Vendor,
}

/// The whole line in `format`, without its newline; `board` names the firmware in the
/// vendor boot line.
pub fn line_as(format: Format, board: &str, uptime_ms: u64, e: &Event) -> String<128> {
    if format == Format::Plugrig {
        return line(uptime_ms, e);
    }
    let mut s = String::new();
    let up = |on: bool| if on { "ON" } else { "OFF" };
    // A line too long for the buffer is cut, never dropped.
    let _ = match e {
        Event::Boot { fw, .. } => write!(s, "*** BOOT {board} {fw} ***"),
        Event::Relay { on, .. } => write!(s, "[{uptime_ms}] RELAY -> {}", up(*on)),
        Event::Mode { ap } => write!(s, "[{uptime_ms}] MODE -> {}", if *ap { "AP" } else { "STATION" }),
        Event::ConfigSaved => write!(s, "[{uptime_ms}] CONFIG -> SAVED"),
        Event::ConfigErased => write!(s, "[{uptime_ms}] CONFIG -> ERASED"),
        Event::MqttUp => write!(s, "[{uptime_ms}] MQTT -> UP"),
        Event::MqttDown => write!(s, "[{uptime_ms}] MQTT -> DOWN"),
        Event::MqttRefused { code } => write!(s, "[{uptime_ms}] MQTT -> REFUSED {code}"),
        Event::CountdownStart { secs, target_on } => {
            write!(s, "[{uptime_ms}] COUNTDOWN -> START {secs}s {}", up(*target_on))
        }
        Event::CountdownCancel { cause } => write!(s, "[{uptime_ms}] COUNTDOWN -> CANCEL {cause}"),
        Event::CountdownDone => write!(s, "[{uptime_ms}] COUNTDOWN -> DONE"),
        Event::Ota { result, detail } => {
            write!(s, "[{uptime_ms}] OTA -> {} {detail}", result.as_str())
        }
        Event::Reset { cause } => write!(
            s,
            "[{uptime_ms}] RESET -> {}",
            match cause {
                Cause::Button => "BUTTON",
                Cause::App => "APP",
                Cause::Countdown => "COUNTDOWN",
                Cause::Boot => "BOOT",
            }
        ),
        Event::Error { what } => return error_line(format, uptime_ms, what),
    };
    s
}

/// An error line for a message known only at run time (a board's own errors), in `format`.
pub fn error_line(format: Format, uptime_ms: u64, what: &str) -> String<128> {
    let mut s = String::new();
    let _ = match format {
        Format::Plugrig => write!(s, "plug {uptime_ms} error what={what}"),
        Format::Vendor => write!(s, "[{uptime_ms}] ERROR -> {what}"),
    };
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

    #[test]
    fn ota_line_carries_the_wire_result() {
        let e = Event::Ota {
            result: OtaResult::UpgradeFailed,
            detail: "http status",
        };
        assert_eq!(line(7, &e).as_str(), "plug 7 ota result=R2 detail=http status");
        assert_eq!(
            line_as(Format::Vendor, "plug-sim", 7, &e).as_str(),
            "[7] OTA -> R2 http status"
        );
    }

    fn every_event() -> [Event; 16] {
        let fw = String::try_from("v2.3.0").unwrap();
        let mac = String::try_from("11:22:33:44:55:66").unwrap();
        [
            Event::Boot {
                fw,
                mac,
                configured: true,
            },
            Event::Mode { ap: true },
            Event::Mode { ap: false },
            Event::ConfigSaved,
            Event::ConfigErased,
            Event::Relay {
                on: true,
                cause: Cause::App,
            },
            Event::Relay {
                on: false,
                cause: Cause::Countdown,
            },
            Event::MqttUp,
            Event::MqttDown,
            Event::MqttRefused { code: 5 },
            Event::CountdownStart {
                secs: 60,
                target_on: true,
            },
            Event::CountdownCancel { cause: "switch" },
            Event::CountdownDone,
            Event::Ota {
                result: OtaResult::Success,
                detail: "installed",
            },
            Event::Reset { cause: Cause::Button },
            Event::Error { what: "oops" },
        ]
    }

    #[test]
    fn vendor_lines() {
        let l = |e: &Event| line_as(Format::Vendor, "plug-sim", 1234, e);
        let all = every_event();
        assert_eq!(l(&all[0]).as_str(), "*** BOOT plug-sim v2.3.0 ***");
        assert_eq!(l(&all[5]).as_str(), "[1234] RELAY -> ON");
        assert_eq!(l(&all[6]).as_str(), "[1234] RELAY -> OFF");
        assert_eq!(l(&all[10]).as_str(), "[1234] COUNTDOWN -> START 60s ON");
        assert_eq!(l(&all[15]).as_str(), "[1234] ERROR -> oops");
        for e in &all[1..] {
            let text = l(e);
            assert!(text.starts_with("[1234] "), "{text}");
            assert!(text.contains(" -> "), "{text}");
        }
        for e in &all {
            let text = l(e);
            assert!(
                !text.contains("relay state=") && !text.contains("boot fw=") && !text.starts_with("plug "),
                "{text}"
            );
        }
    }

    #[test]
    fn the_default_format_is_the_plugrig_line() {
        for e in &every_event() {
            assert_eq!(line_as(Format::Plugrig, "plug-sim", 7, e), line(7, e));
        }
        assert_eq!(
            error_line(Format::Plugrig, 7, "config-store(x)").as_str(),
            "plug 7 error what=config-store(x)"
        );
    }
}
