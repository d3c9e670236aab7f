//! What the fuzzer sends, as data: an input is reproducible from its seed and index, and is
//! saved as it was sent (a reproducer file holds the inputs themselves, so a replay does not
//! depend on the generator staying the same).

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One input: a connection's writes to the AP socket, or publishes to the plug's topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "lowercase")]
pub enum Input {
    Ap(ApInput),
    Mqtt(MqttInput),
}

/// Writes on one new connection to the AP socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApInput {
    /// What the generator made (`deep-nesting`, `duplicate-keys`, `not-json`, ...).
    pub kind: String,
    /// The writes, in order: one for a whole object, several for a split or dribble.
    #[serde(serialize_with = "to_b64_list", deserialize_with = "from_b64_list")]
    pub writes: Vec<Vec<u8>>,
    /// The pause between two writes, milliseconds (a slow client).
    pub gap_ms: u64,
    /// Other connections opened first and held, silent, while this one talks.
    pub crowd: u8,
}

/// Publishes on one topic of the plug's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MqttInput {
    pub kind: String,
    /// The topic after the plug's `{function}/{name}/{specifications}/{mac}/` prefix.
    pub topic: String,
    #[serde(serialize_with = "to_b64", deserialize_with = "from_b64")]
    pub payload: Vec<u8>,
    pub qos: u8,
    /// How many times it is published back to back (a flood).
    pub repeat: u16,
}

impl Input {
    /// Bytes sent (a flood's publishes counted once).
    pub fn len(&self) -> usize {
        match self {
            Input::Ap(a) => a.writes.iter().map(Vec::len).sum(),
            Input::Mqtt(m) => m.payload.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kind(&self) -> &str {
        match self {
            Input::Ap(a) => &a.kind,
            Input::Mqtt(m) => &m.kind,
        }
    }

    /// One line for a report: where it went and its first bytes.
    pub fn describe(&self) -> String {
        match self {
            Input::Ap(a) => {
                let all: Vec<u8> = a.writes.concat();
                format!(
                    "AP {} ({} bytes in {} write(s){}{}): {}",
                    a.kind,
                    all.len(),
                    a.writes.len(),
                    if a.gap_ms > 0 {
                        format!(", {} ms apart", a.gap_ms)
                    } else {
                        String::new()
                    },
                    if a.crowd > 0 {
                        format!(", {} other connections open", a.crowd)
                    } else {
                        String::new()
                    },
                    preview(&all)
                )
            }
            Input::Mqtt(m) => format!(
                "MQTT {} on {} (QoS {}, {} byte(s){}): {}",
                m.kind,
                m.topic,
                m.qos,
                m.payload.len(),
                if m.repeat > 1 {
                    format!(", {} times", m.repeat)
                } else {
                    String::new()
                },
                preview(&m.payload)
            ),
        }
    }
}

/// The first 80 bytes, escaped.
pub fn preview(bytes: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        .escape_debug()
        .collect();
    if bytes.len() > 80 {
        format!("\"{text}...\"")
    } else {
        format!("\"{text}\"")
    }
}

fn to_b64<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
}

fn from_b64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(serde::de::Error::custom)
}

fn to_b64_list<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
    let e = base64::engine::general_purpose::STANDARD;
    let list: Vec<String> = v.iter().map(|w| e.encode(w)).collect();
    list.serialize(s)
}

fn from_b64_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
    let list = Vec::<String>::deserialize(d)?;
    let e = base64::engine::general_purpose::STANDARD;
    list.iter()
        .map(|w| e.decode(w).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_round_trip_through_json_with_any_bytes() {
        let i = Input::Ap(ApInput {
            kind: "invalid-utf8".into(),
            writes: vec![vec![0xff, 0x00, b'{'], vec![b'}']],
            gap_ms: 5,
            crowd: 2,
        });
        let text = serde_json::to_string(&i).unwrap_or_else(|e| panic!("{e}"));
        let back: Input = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, i);
        assert_eq!(back.len(), 4);
    }
}
