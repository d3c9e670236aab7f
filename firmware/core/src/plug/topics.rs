//! What the plug publishes on its own, and what it does with the app's topics
//! (spec 3.2 and 3.3).

use core::fmt::Write;
use heapless::{String, Vec};

use super::{Mode, Plug};
use crate::console::{Cause, Event as Console};
use crate::faults::Fault;
use crate::json::{self, parse_object, Object, Value};
use crate::ota;
use crate::time::Instant;

/// The `{prefix}/app/...` topics the plug subscribes to on every connection.
pub(super) const SUBSCRIBED: [&str; 5] = [
    "switch_state",
    "delay_time",
    "reset",
    "upgrade",
    "read_firmware_infor",
];

fn int(o: &Object, key: &str) -> Option<i64> {
    match o.get(key) {
        Some(Value::Int(v)) => Some(*v),
        _ => None,
    }
}

fn text<'o>(o: &'o Object, key: &str) -> Option<(&'o str, usize)> {
    match o.get(key) {
        Some(Value::Str { text, len }) => Some((text.as_str(), *len)),
        _ => None,
    }
}

impl Plug {
    pub(super) fn app_message(&mut self, now: Instant, topic: &str, payload: &[u8]) {
        let prefix = self.id.topic_prefix();
        let Some(field) = topic
            .strip_prefix(prefix.as_str())
            .and_then(|t| t.strip_prefix("/app/"))
        else {
            return;
        };
        match field {
            "switch_state" => {
                let on = parse_object(payload)
                    .ok()
                    .and_then(|(o, _)| match text(&o, "switch_state") {
                        Some(("on", _)) => Some(true),
                        Some(("off", _)) => Some(false),
                        _ => None,
                    });
                let stray = || {
                    let on = payload.windows(5).position(|w| w == b":\"on\"");
                    let off = payload.windows(6).position(|w| w == b":\"off\"");
                    match (on, off) {
                        (Some(a), Some(b)) => Some(a < b),
                        (a, b) => a.map(|_| true).or(b.map(|_| false)),
                    }
                };
                let on = on.or_else(|| {
                    let absent = parse_object(payload).is_ok_and(|(o, _)| o.get("switch_state").is_none());
                    if self.faults.has(Fault::StrayFieldSwitch) && absent {
                        stray()
                    } else {
                        None
                    }
                });
                match on {
                    Some(on) => self.set_relay(now, on, Cause::App),
                    None => self.console(Console::Error {
                        what: "bad switch_state payload",
                    }),
                }
            }
            "delay_time" => {
                let hm = parse_object(payload)
                    .ok()
                    .and_then(|(o, _)| Some((int(&o, "delay_hour")?, int(&o, "delay_minute")?)));
                match hm {
                    Some((h @ 0..=23, m @ 0..=59)) => self.start_countdown(now, h as u32, m as u32),
                    Some((h @ 24..=99, m @ 0..=59)) if self.faults.has(Fault::AcceptOutOfRangeCountdown) => {
                        self.start_countdown(now, h as u32, m as u32)
                    }
                    // Out of range or malformed: ignored, nothing changes.
                    _ => self.console(Console::Error {
                        what: "bad delay_time payload",
                    }),
                }
            }
            // Empty (Android) or {} (iOS): the payload does not matter.
            "reset" => self.factory_reset(now, Cause::App),
            "read_firmware_infor" => self.publish_firmware_infor(now),
            "upgrade" => match parse_object(payload) {
                Ok((o, _)) => self.upgrade_request(now, &o),
                Err(_) => self.console(Console::Error {
                    what: "bad upgrade payload",
                }),
            },
            _ => {}
        }
    }

    pub(super) fn upgrade_request(&mut self, now: Instant, o: &Object) {
        let kind = int(o, "type");
        let realm = text(o, "realm");
        let port = int(o, "port").and_then(|p| u16::try_from(p).ok());
        let catalogue = text(o, "catalogue");
        match (kind, realm, port, catalogue) {
            (Some(k @ 0..=1), Some((realm, rlen)), Some(port), Some((cat, clen)))
                if (1..=64).contains(&rlen) && clen < 100 =>
            {
                let req = ota::Request {
                    by_name: k == 1,
                    realm,
                    port,
                    catalogue: cat,
                };
                self.start_ota(now, req)
            }
            _ => self.console(Console::Error {
                what: "bad upgrade payload",
            }),
        }
    }

    pub(super) fn publish_switch_state(&mut self, now: Instant) {
        let p: &[u8] = if self.relay {
            br#"{"switch_state":"on"}"#
        } else {
            br#"{"switch_state":"off"}"#
        };
        self.publish(now, "switch_state", p);
    }

    pub(super) fn publish_firmware_infor(&mut self, now: Instant) {
        let mut out: Vec<u8, 320> = Vec::new();
        let id = &self.id;
        let fields: [(&str, &str); 5] = [
            ("company_name", &id.company),
            ("production_date", &id.production_date),
            ("product_model", &id.name),
            ("firmware_version", &id.firmware_version),
            ("device_mac", &id.mac),
        ];
        let _ = out.push(b'{');
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                let _ = out.push(b',');
            }
            let _ = json::write_str(&mut out, k);
            let _ = out.push(b':');
            let _ = json::write_str(&mut out, v);
        }
        let _ = out.push(b'}');
        self.publish(now, "firmware_infor", &out);
    }

    pub(super) fn publish_electricity(&mut self, now: Instant) {
        if !matches!(self.mode, Mode::Station(_)) || !self.id.power_monitoring {
            return;
        }
        let Some(r) = self.reading else {
            self.console(Console::Error {
                what: "no meter reading",
            });
            return;
        };
        let voltage = if self.faults.has(Fault::VoltageInVolts) {
            r.deci_volts.saturating_add(5) / 10
        } else {
            r.deci_volts
        };
        let mut s: String<96> = String::new();
        let _ = write!(
            s,
            "{{\"voltage\":{},\"current\":{},\"power\":{}}}",
            voltage,
            r.milliamps,
            if self.faults.has(Fault::PowerInDeciwatts) {
                r.watts * 10
            } else {
                r.watts
            }
        );
        self.publish(now, "electricity_information", s.as_bytes());
    }
}
