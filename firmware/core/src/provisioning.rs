//! The AP socket: commands 4001/4002/4003 and their replies.
//!
//! Read first: spec sections 1 and 2, and PROTOCOL-NOTES "AP socket". This module owns
//! framing (one JSON value, no delimiter), validation with the error codes in the pinned
//! order 4, 5, 2, 1, 6, 3, and the reply envelope. It does not own the order rule's state
//! (whether a 4002 was accepted): the plug passes that in.

use core::fmt::Write;
use heapless::{String, Vec};

use crate::config::{MqttConfig, WifiConfig};
use crate::identity::Identity;
use crate::json::{self, parse_top_keeping, JsonError, Object, Top, Value};
use crate::mqtt::Qos;

/// A reply is one write of at most this many bytes.
pub const REPLY_MAX: usize = 1024;
/// Input held while waiting for the end of an object.
pub const INPUT_MAX: usize = 1024;

pub type Reply = Vec<u8, REPLY_MAX>;

pub const DEVICE_INFO: i64 = 4001;
pub const MQTT_SERVER: i64 = 4002;
pub const WIFI: i64 = 4003;

/// The spec's reply codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    Ok = 0,
    Length = 1,
    Type = 2,
    Order = 3,
    NotJson = 4,
    Undefined = 5,
    Range = 6,
}

impl Code {
    pub fn message(self) -> &'static str {
        match self {
            Code::Ok => "success",
            Code::Length => "length error",
            Code::Type => "data type error",
            Code::Order => "order error",
            Code::NotJson => "not json",
            Code::Undefined => "undefined data",
            Code::Range => "value out of range",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    DeviceInfo,
    Mqtt(MqttConfig),
    Wifi(WifiConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub code: Code,
    /// The request's header, when one was parsed.
    pub header: Option<i64>,
}

/// What the byte stream of one connection yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// Nothing complete yet.
    NeedMore,
    Command(Command),
    Rejected(Rejection),
    /// Unparseable or oversized: reply with this and drop the connection.
    Fatal(Rejection),
}

/// Reassembles objects from one connection's reads.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    buf: Vec<u8, INPUT_MAX>,
}

impl Stream {
    /// Appends `data`. Returns false if it overflows the input limit (the connection is
    /// then dropped with [`Code::Length`]).
    pub fn push(&mut self, data: &[u8]) -> bool {
        self.buf.extend_from_slice(data).is_ok()
    }

    /// Takes the next complete JSON value off the front, if there is one.
    pub fn next_frame(&mut self) -> Framed {
        // Separators tolerated between and after objects: whitespace, and the NUL some
        // clients end a write with.
        let skip = self
            .buf
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0))
            .unwrap_or(self.buf.len());
        self.consume(skip);
        if self.buf.is_empty() {
            return Framed::NeedMore;
        }
        match parse_top_keeping(&self.buf, is_command_key) {
            Ok((Top::Object(obj), used)) => {
                self.consume(used);
                match parse_command(&obj) {
                    Ok(c) => Framed::Command(c),
                    Err(r) => Framed::Rejected(r),
                }
            }
            // JSON, but no object: no header to read, so nothing to echo (PROTOCOL-NOTES,
            // code 4 is only for what is not JSON at all).
            Ok((Top::Other, used)) => {
                self.consume(used);
                Framed::Rejected(Rejection {
                    code: Code::Undefined,
                    header: None,
                })
            }
            Err(JsonError::Incomplete) if self.buf.is_full() => {
                self.buf.clear();
                Framed::Fatal(Rejection {
                    code: Code::Length,
                    header: None,
                })
            }
            Err(JsonError::Incomplete) => Framed::NeedMore,
            Err(JsonError::Invalid) => {
                self.buf.clear();
                Framed::Fatal(Rejection {
                    code: Code::NotJson,
                    header: None,
                })
            }
        }
    }

    fn consume(&mut self, n: usize) {
        let rest: Vec<u8, INPUT_MAX> = Vec::from_slice(&self.buf[n..]).unwrap_or_default();
        self.buf = rest;
    }

    pub fn overflow_rejection() -> Rejection {
        Rejection {
            code: Code::Length,
            header: None,
        }
    }
}

/// A field's JSON kind and its limits.
#[derive(Clone, Copy)]
enum Kind {
    /// Byte length range of a string.
    Str(usize, usize),
    /// Value range of an integer.
    Int(i64, i64),
}

struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

const MQTT_FIELDS: &[Field] = &[
    req("host", Kind::Str(1, 64)),
    req("port", Kind::Int(0, 65535)),
    req("connect_mode", Kind::Int(0, 1)),
    req("username", Kind::Str(1, 32)),
    req("password", Kind::Str(1, 32)),
    req("keepalive", Kind::Int(60, 120)),
    req("qos", Kind::Int(0, 2)),
    req("clean_session", Kind::Int(0, 1)),
    Field {
        name: "clientId",
        kind: Kind::Str(0, 32),
        required: false,
    },
];

const WIFI_FIELDS: &[Field] = &[
    req("wifi_ssid", Kind::Str(1, 32)),
    req("wifi_pwd", Kind::Str(0, 64)),
    req("wifi_security", Kind::Int(0, 4)),
];

/// A key some command reads. Unknown extra fields are ignored [profile]: not kept at all,
/// so however many come before them, the known fields are still read.
fn is_command_key(key: &str) -> bool {
    key == "header" || MQTT_FIELDS.iter().chain(WIFI_FIELDS).any(|f| f.name == key)
}

/// Validates one object in the pinned order: 5 (header, missing field), 2 (type),
/// 1 (length), 6 (range). Order (3) is the caller's.
pub fn parse_command(obj: &Object) -> Result<Command, Rejection> {
    let header = match obj.get("header") {
        Some(Value::Int(h)) => *h,
        _ => {
            return Err(Rejection {
                code: Code::Undefined,
                header: None,
            })
        }
    };
    let reject = |code| Rejection {
        code,
        header: Some(header),
    };
    let fields = match header {
        DEVICE_INFO => return Ok(Command::DeviceInfo),
        MQTT_SERVER => MQTT_FIELDS,
        WIFI => WIFI_FIELDS,
        _ => return Err(reject(Code::Undefined)),
    };
    if fields.iter().any(|f| f.required && obj.get(f.name).is_none()) {
        return Err(reject(Code::Undefined));
    }
    let present = || fields.iter().filter_map(|f| obj.get(f.name).map(|v| (f, v)));
    for (f, v) in present() {
        let type_ok = matches!(
            (f.kind, v),
            (Kind::Str(..), Value::Str { .. }) | (Kind::Int(..), Value::Int(_))
        );
        if !type_ok {
            return Err(reject(Code::Type));
        }
    }
    for (f, v) in present() {
        if let (Kind::Str(min, max), Value::Str { len, .. }) = (f.kind, v) {
            if *len < min || *len > max {
                return Err(reject(Code::Length));
            }
        }
    }
    for (f, v) in present() {
        if let (Kind::Int(min, max), Value::Int(i)) = (f.kind, v) {
            if *i < min || *i > max {
                return Err(reject(Code::Range));
            }
        }
    }
    // Every field is now known to be present (if required), typed and in range.
    let s = |name| match obj.get(name) {
        Some(Value::Str { text, .. }) => text.as_str(),
        _ => "",
    };
    let i = |name| match obj.get(name) {
        Some(Value::Int(v)) => *v,
        _ => 0,
    };
    let cmd = if header == MQTT_SERVER {
        Command::Mqtt(MqttConfig {
            host: String::try_from(s("host")).unwrap_or_default(),
            port: u16::try_from(i("port")).unwrap_or_default(),
            tls: i("connect_mode") == 1,
            username: String::try_from(s("username")).unwrap_or_default(),
            password: String::try_from(s("password")).unwrap_or_default(),
            keepalive: u16::try_from(i("keepalive")).unwrap_or(60),
            // The range check above let only 0-2 through (anything else is code 6), so
            // the fallback is never taken.
            qos: u8::try_from(i("qos"))
                .ok()
                .and_then(|q| Qos::try_from(q).ok())
                .unwrap_or(Qos::AtMostOnce),
            clean_session: i("clean_session") == 1,
            client_id: String::try_from(s("clientId")).unwrap_or_default(),
        })
    } else {
        Command::Wifi(WifiConfig {
            ssid: String::try_from(s("wifi_ssid")).unwrap_or_default(),
            password: String::try_from(s("wifi_pwd")).unwrap_or_default(),
            security: u8::try_from(i("wifi_security")).unwrap_or_default(),
        })
    };
    Ok(cmd)
}

/// `{"code":N,"message":"...","result":{"header":H[,...]}}`; the 4001 success reply
/// carries the identity. Never contains a NUL byte (json::write_str escapes it).
pub fn reply(code: Code, header: Option<i64>, identity: Option<&Identity>) -> Reply {
    let mut out = Reply::new();
    let _ = write_reply(&mut out, code, header, identity);
    out
}

/// `{"code":N,"message":"..."}`: an error reply without `result`, which PROTOCOL-NOTES
/// allows when no header was parsed (the `bare-error-reply` variation).
pub fn bare_reply(code: Code) -> Reply {
    let mut out = Reply::new();
    let mut head: String<48> = String::new();
    // Cannot fail: a code and a fixed message are far below both capacities.
    let _ = write!(head, "{{\"code\":{},\"message\":", code as u8);
    let _ = out.extend_from_slice(head.as_bytes());
    let _ = json::write_str(&mut out, code.message());
    let _ = out.push(b'}');
    out
}

fn write_reply(
    out: &mut Reply,
    code: Code,
    header: Option<i64>,
    identity: Option<&Identity>,
) -> Result<(), json::Full> {
    let mut head: String<48> = String::new();
    write!(head, "{{\"code\":{},\"message\":", code as u8).map_err(|_| json::Full)?;
    out.extend_from_slice(head.as_bytes()).map_err(|_| json::Full)?;
    json::write_str(out, code.message())?;
    out.extend_from_slice(b",\"result\":{").map_err(|_| json::Full)?;
    if let Some(h) = header {
        let mut t: String<32> = String::new();
        write!(t, "\"header\":{h}").map_err(|_| json::Full)?;
        out.extend_from_slice(t.as_bytes()).map_err(|_| json::Full)?;
    }
    if let Some(id) = identity {
        let fields: [(&str, &str); 5] = [
            ("device_function", &id.function),
            ("device_name", &id.name),
            ("device_specifications", &id.specifications),
            ("device_mac", &id.mac),
            ("device_type", id.device_type()),
        ];
        for (k, v) in fields {
            out.push(b',').map_err(|_| json::Full)?;
            json::write_str(out, k)?;
            out.push(b':').map_err(|_| json::Full)?;
            json::write_str(out, v)?;
        }
    }
    out.extend_from_slice(b"}}").map_err(|_| json::Full)
}

#[cfg(test)]
mod tests;
