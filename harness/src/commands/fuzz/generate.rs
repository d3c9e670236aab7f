//! Structure-aware generation from the protocol's grammar: the 4001/4002/4003 objects and
//! every app topic's payload, each broken in one way at a time (a wrong type, a length at 0,
//! at its limit and past it, up to 64 KiB, deep nesting, duplicate keys, invalid UTF-8, a
//! NUL, numbers at the integer and float edges, a truncated object, a missing or extra
//! field), delivered whole, split at every few bytes or dribbled slowly, beside other open
//! connections; and publishes with extra topic levels, QoS 2 floods and oversized payloads.
//!
//! The choices are proptest strategies drawn with a ChaCha generator seeded from the run's
//! seed and the input's index, so input N of seed S is the same input on every machine.
//! Where the notes pin the code a single defect gets (PROTOCOL-NOTES "AP socket"), the input
//! carries it (`ApInput::expect_code` is decided here, from the defect, not from a plug).
//!
//! Never generated: a 4002 host that is not loopback or a name (a provisioned plug only
//! ever connects to this host), a valid `app/upgrade` (it would send the plug to fetch from
//! a host) and `app/reset` (it ends the session by design).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sha2::{Digest, Sha256};

use super::input::{ApInput, Input, MqttInput};

/// Which inputs a run generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Ap,
    Mqtt,
    Both,
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Target, String> {
        match s {
            "ap" => Ok(Target::Ap),
            "mqtt" => Ok(Target::Mqtt),
            "both" => Ok(Target::Both),
            other => Err(format!("{other:?}: ap, mqtt or both")),
        }
    }
}

/// With `Target::Both`, this many AP inputs, then as many MQTT inputs, and so on.
pub const BOTH_BLOCK: u64 = 40;

/// Input `index` of `seed`: the same on every run.
pub fn input(seed: u64, index: u64, target: Target) -> Generated {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(index.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &h.finalize());
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let which = match target {
        Target::Ap => 0,
        Target::Mqtt => 1,
        // In blocks, so a plug serves a block in one mode rather than one input.
        Target::Both => index / BOTH_BLOCK % 2,
    };
    let drawn = if which == 0 {
        ap_plan().prop_map(Plan::Ap).boxed()
    } else {
        mqtt_plan().prop_map(Plan::Mqtt).boxed()
    };
    match drawn.new_tree(&mut runner) {
        Ok(tree) => build(tree.current()),
        // Only a strategy that rejects everything fails here; none of these filters.
        Err(e) => unreachable!("the fuzz strategies do not reject: {e}"),
    }
}

/// A generated input and, for the AP, the code the notes pin for it (if any).
#[derive(Debug, Clone)]
pub struct Generated {
    pub input: Input,
    pub expect_code: Option<Expected>,
}

/// What the notes say a plug answers to an input with one defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Expected {
    /// This code, with the rule that pins it.
    Code(i64),
    /// Oversized input: a code-1 reply, or none (PROTOCOL-NOTES).
    Code1OrNone,
}

#[derive(Debug, Clone)]
enum Plan {
    Ap(ApPlan),
    Mqtt(MqttPlan),
}

#[derive(Debug, Clone)]
struct ApPlan {
    command: usize,
    defect: Defect,
    field: usize,
    n: usize,
    bytes: Vec<u8>,
    split: usize,
    gap_ms: u64,
    crowd: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    None,
    WrongType,
    Empty,
    AtLimit,
    PastLimit,
    Huge,
    DeepNesting,
    DuplicateKeys,
    InvalidUtf8,
    Nul,
    NumberEdge,
    Truncated,
    Extra,
    Missing,
    NotJson,
    TopLevel,
}

const DEFECTS: [Defect; 16] = [
    Defect::None,
    Defect::WrongType,
    Defect::Empty,
    Defect::AtLimit,
    Defect::PastLimit,
    Defect::Huge,
    Defect::DeepNesting,
    Defect::DuplicateKeys,
    Defect::InvalidUtf8,
    Defect::Nul,
    Defect::NumberEdge,
    Defect::Truncated,
    Defect::Extra,
    Defect::Missing,
    Defect::NotJson,
    Defect::TopLevel,
];

fn ap_plan() -> impl Strategy<Value = ApPlan> {
    (
        0..3usize,
        0..DEFECTS.len(),
        0..16usize,
        1..65_536usize,
        prop::collection::vec(any::<u8>(), 1..64),
        // Whole most of the time; else split every 1-8 bytes.
        prop_oneof![6 => Just(0usize), 1 => 1..9usize],
        prop_oneof![8 => Just(0u64), 1 => 1..25u64],
        prop_oneof![8 => Just(0u8), 1 => 1..4u8],
    )
        .prop_map(|(command, d, field, n, bytes, split, gap_ms, crowd)| ApPlan {
            command,
            defect: DEFECTS[d],
            field,
            n,
            bytes,
            split,
            gap_ms,
            crowd,
        })
}

/// A field of a provisioning command: its name, its kind and limits, a valid value.
#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    /// (min, max) bytes of a string, or None for an integer.
    string: Option<(usize, usize)>,
    int: (i64, i64),
    valid: &'static str,
    required: bool,
}

const fn s(name: &'static str, min: usize, max: usize, valid: &'static str) -> Field {
    Field {
        name,
        string: Some((min, max)),
        int: (0, 0),
        valid,
        required: true,
    }
}

const fn i(name: &'static str, min: i64, max: i64, valid: &'static str) -> Field {
    Field {
        name,
        string: None,
        int: (min, max),
        valid,
        required: true,
    }
}

/// 4002's fields (PROTOCOL-NOTES: lengths and ranges). The host is loopback.
const MQTT: [Field; 9] = [
    s("host", 1, 64, "\"127.0.0.1\""),
    i("port", 0, 65535, "1883"),
    i("connect_mode", 0, 1, "0"),
    s("username", 1, 32, "\"fuzz\""),
    s("password", 1, 32, "\"fuzz-secret\""),
    i("keepalive", 60, 120, "60"),
    i("qos", 0, 2, "1"),
    i("clean_session", 0, 1, "1"),
    Field {
        name: "clientId",
        string: Some((0, 32)),
        int: (0, 0),
        valid: "\"fuzz-client\"",
        required: false,
    },
];

const WIFI: [Field; 3] = [
    s("wifi_ssid", 1, 32, "\"fuzznet\""),
    s("wifi_pwd", 0, 64, "\"fuzz-wifi\""),
    i("wifi_security", 0, 4, "3"),
];

const HEADERS: [i64; 3] = [4001, 4002, 4003];

fn build(plan: Plan) -> Generated {
    match plan {
        Plan::Ap(p) => build_ap(p),
        Plan::Mqtt(p) => build_mqtt(p),
    }
}

fn build_ap(p: ApPlan) -> Generated {
    let header = HEADERS[p.command];
    let fields: &[Field] = match header {
        4002 => &MQTT,
        4003 => &WIFI,
        _ => &[],
    };
    // 4003's code depends on a pending 4002 (0 or 3): not pinned when the rest is valid.
    let valid_code = match header {
        4003 => None,
        _ => Some(Expected::Code(0)),
    };
    let mut entries: Vec<(String, Vec<u8>)> = vec![("header".into(), header.to_string().into_bytes())];
    entries.extend(
        fields
            .iter()
            .map(|f| (f.name.to_string(), f.valid.as_bytes().to_vec())),
    );
    let target = (!fields.is_empty()).then(|| p.field % fields.len());
    let f = target.map(|t| fields[t]);
    let mut kind = format!("{header}");
    let mut expect = valid_code;
    let mut raw: Option<Vec<u8>> = None;
    let set = |entries: &mut Vec<(String, Vec<u8>)>, name: &str, v: Vec<u8>| {
        if let Some(e) = entries.iter_mut().find(|(k, _)| k == name) {
            e.1 = v;
        }
    };
    let string_of = |n: usize| format!("\"{}\"", "a".repeat(n)).into_bytes();
    match (p.defect, f) {
        (Defect::None, _) => kind.push_str(" as the app sends it"),
        (Defect::WrongType, Some(f)) => {
            kind = format!("{header} {} of the wrong type", f.name);
            let v = if f.string.is_some() {
                b"7".to_vec()
            } else {
                b"\"1\"".to_vec()
            };
            set(&mut entries, f.name, v);
            expect = Some(Expected::Code(2));
        }
        (
            Defect::Empty | Defect::AtLimit | Defect::PastLimit,
            Some(
                f @ Field {
                    string: Some((min, max)),
                    ..
                },
            ),
        ) => {
            let n = match p.defect {
                Defect::Empty => 0,
                Defect::AtLimit => max,
                _ => max + 1,
            };
            kind = format!("{header} {} of {n} bytes", f.name);
            set(&mut entries, f.name, string_of(n));
            if n < min || n > max {
                expect = Some(Expected::Code(1));
            }
        }
        (Defect::Huge, Some(f)) => {
            kind = format!("{header} {} of {} bytes", f.name, p.n);
            set(&mut entries, f.name, string_of(p.n));
            expect = if p.n > 1024 {
                Some(Expected::Code1OrNone)
            } else if f.string.is_some_and(|(_, max)| p.n > max) {
                Some(Expected::Code(1))
            } else if f.string.is_none() {
                Some(Expected::Code(2))
            } else {
                valid_code
            };
        }
        (Defect::DeepNesting, _) => {
            let depth = 1 + p.n % 64;
            kind = format!("{header} nested {depth} deep");
            let v = format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
            match f {
                Some(f) => set(&mut entries, f.name, v),
                None => entries.push(("nested".into(), v)),
            }
            expect = None;
        }
        (Defect::DuplicateKeys, _) => {
            let copies = 2 + p.n % 47;
            let (name, value) = entries[target.map_or(0, |t| t + 1)].clone();
            kind = format!("{header} with {copies} copies of {name}");
            for _ in 1..copies {
                entries.push((name.clone(), value.clone()));
            }
            expect = None;
        }
        (Defect::InvalidUtf8 | Defect::Nul, Some(f @ Field { string: Some(_), .. })) => {
            let bad: &[u8] = if p.defect == Defect::Nul {
                b"\x00"
            } else {
                b"\xff\xfe"
            };
            kind = format!(
                "{header} {} with {}",
                f.name,
                if p.defect == Defect::Nul {
                    "a NUL"
                } else {
                    "invalid UTF-8"
                }
            );
            set(&mut entries, f.name, [b"\"a".as_slice(), bad, b"b\""].concat());
            expect = None;
        }
        (Defect::NumberEdge, Some(f @ Field { string: None, .. })) => {
            let (min, max) = f.int;
            let edges: [(String, bool); 8] = [
                ((min - 1).to_string(), true),
                ((max + 1).to_string(), true),
                (i64::MAX.to_string(), true),
                (i64::MIN.to_string(), true),
                ("18446744073709551616".into(), false),
                ("1e308".into(), false),
                ("-0".into(), false),
                ("1.5".into(), false),
            ];
            let (v, pinned) = edges[p.n % edges.len()].clone();
            kind = format!("{header} {} = {v}", f.name);
            set(&mut entries, f.name, v.into_bytes());
            // Integers out of range: 6. Floats and numbers past 64 bits: not pinned.
            expect = pinned.then_some(Expected::Code(6));
        }
        (Defect::Truncated, _) => {
            let whole = object(&entries);
            let cut = 1 + p.n % (whole.len() - 1);
            kind = format!("{header} cut after {cut} of {} bytes", whole.len());
            raw = Some(whole[..cut].to_vec());
            expect = None;
        }
        (Defect::Extra, _) => {
            kind = format!("{header} with an unknown field");
            entries.push(("zz_extra".into(), b"\"ignored\"".to_vec()));
        }
        (Defect::Missing, Some(f)) => {
            kind = format!("{header} without {}", f.name);
            entries.retain(|(k, _)| k != f.name);
            if f.required {
                expect = Some(Expected::Code(5));
            }
        }
        (Defect::NotJson, _) => {
            kind = "not JSON".into();
            // A byte that can start no JSON text, then anything.
            let mut b = vec![0x01];
            b.extend(&p.bytes);
            raw = Some(b);
            expect = Some(Expected::Code(4));
        }
        (Defect::TopLevel, _) => {
            let (k, b): (&str, &[u8]) = match p.n % 3 {
                0 => ("an array", b"[4001]"),
                1 => ("a string", b"\"4001\""),
                _ => ("an empty array", b"[]"),
            };
            kind = format!("JSON that is {k}");
            raw = Some(b.to_vec());
            expect = Some(Expected::Code(5));
        }
        // A defect the command has no field for: the command as the app sends it.
        _ => kind.push_str(" as the app sends it"),
    }
    let bytes = raw.unwrap_or_else(|| object(&entries));
    let writes: Vec<Vec<u8>> = if p.split == 0 {
        vec![bytes]
    } else {
        bytes.chunks(p.split).map(<[u8]>::to_vec).collect()
    };
    let split = writes.len() > 1;
    Generated {
        input: Input::Ap(ApInput {
            kind,
            writes,
            gap_ms: if split { p.gap_ms } else { 0 },
            crowd: p.crowd,
        }),
        // A code is pinned for an object written whole; how a plug reassembles a split
        // one is the [profile] framing rule, judged by its own scenarios.
        expect_code: expect.filter(|_| !split),
    }
}

/// `{"k":v,...}` as written, duplicates and all.
fn object(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"{".to_vec();
    for (n, (k, v)) in entries.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend(format!("\"{k}\":").as_bytes());
        out.extend(v);
    }
    out.push(b'}');
    out
}

#[derive(Debug, Clone)]
struct MqttPlan {
    topic: usize,
    defect: usize,
    on: bool,
    n: usize,
    bytes: Vec<u8>,
    qos: u8,
    flood: u16,
}

fn mqtt_plan() -> impl Strategy<Value = MqttPlan> {
    (
        prop_oneof![4 => Just(0usize), 3 => Just(1usize), 1 => 2..7usize],
        0..12usize,
        any::<bool>(),
        1..65_000usize,
        prop::collection::vec(any::<u8>(), 1..48),
        0..3u8,
        prop_oneof![9 => Just(1u16), 1 => 10..60u16],
    )
        .prop_map(|(topic, defect, on, n, bytes, qos, flood)| MqttPlan {
            topic,
            defect,
            on,
            n,
            bytes,
            qos,
            flood,
        })
}

/// The topics after the plug's prefix: its two commands first, then the rest.
const TOPICS: [&str; 7] = [
    "app/switch_state",
    "app/delay_time",
    "app/read_firmware_infor",
    "app/upgrade",
    "app/switch_state/extra",
    "app/unknown_field",
    "device/switch_state",
];

fn build_mqtt(p: MqttPlan) -> Generated {
    let topic = TOPICS[p.topic];
    let state = if p.on { "on" } else { "off" };
    let hour = (p.n % 30) as i64;
    let minute = (p.n / 30 % 70) as i64;
    let base = match topic {
        "app/delay_time" => format!("{{\"delay_hour\":{hour},\"delay_minute\":{minute}}}"),
        "app/read_firmware_infor" => "{}".into(),
        _ => format!("{{\"switch_state\":\"{state}\"}}"),
    };
    let (kind, payload): (String, Vec<u8>) = match p.defect {
        0 | 1 => ("as the app sends it".into(), base.into_bytes()),
        2 => (
            "a stray field instead of the command's".into(),
            base.replacen("\"switch_state\"", "\"switch_stat\"", 1)
                .replacen("\"delay_hour\"", "\"delay_hours\"", 1)
                .into_bytes(),
        ),
        3 => (
            "an unknown extra field".into(),
            base.replacen('{', "{\"zz_extra\":\"on\",", 1).into_bytes(),
        ),
        4 => (
            "a value of the wrong type".into(),
            base.replacen(&format!("\"{state}\""), "1", 1)
                .replacen(&format!(":{hour},"), ":\"1\",", 1)
                .into_bytes(),
        ),
        5 => ("empty".into(), Vec::new()),
        6 => {
            let mut b = vec![0x01];
            b.extend(&p.bytes);
            ("not JSON".into(), b)
        }
        7 => {
            let size = p.n.min(60_000);
            (
                format!("{size} bytes"),
                format!("{{\"pad\":\"{}\",{}", "a".repeat(size), &base[1..]).into_bytes(),
            )
        }
        8 => {
            let depth = 1 + p.n % 64;
            (
                format!("nested {depth} deep"),
                format!(
                    "{{\"x\":{}{},{}",
                    "[".repeat(depth),
                    "]".repeat(depth),
                    &base[1..]
                )
                .into_bytes(),
            )
        }
        9 => {
            let copies = 2 + p.n % 47;
            let inner = &base[1..base.len() - 1];
            (
                format!("{copies} copies of its fields"),
                format!("{{{}}}", vec![inner; copies].join(",")).into_bytes(),
            )
        }
        10 => (
            "invalid UTF-8".into(),
            [b"{\"switch_state\":\"o".as_slice(), b"\xff\xfe", b"n\"}"].concat(),
        ),
        _ => (
            "a value at the integer edge".into(),
            base.replacen(&format!(":{minute}}}"), ":9223372036854775807}", 1)
                .replacen(&format!("\"{state}\""), "-0", 1)
                .into_bytes(),
        ),
    };
    // An upgrade is only ever sent what cannot start one: no host is ever fetched from.
    let payload = if topic == "app/upgrade" && payload.first() == Some(&b'{') {
        [b"\x01".as_slice(), &payload].concat()
    } else {
        payload
    };
    let qos = p.qos;
    let flood = if qos == 2 { p.flood } else { 1 };
    Generated {
        input: Input::Mqtt(MqttInput {
            kind: format!("{} {kind}", topic.rsplit('/').next().unwrap_or(topic)),
            topic: topic.into(),
            payload,
            qos,
            repeat: flood,
        }),
        expect_code: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_is_its_seed_and_index() {
        for i in 0..50 {
            let a = input(7, i, Target::Both).input;
            let b = input(7, i, Target::Both).input;
            assert_eq!(a, b, "input {i}");
        }
        let differ = (0..50).filter(|&i| input(7, i, Target::Ap).input != input(8, i, Target::Ap).input);
        assert!(differ.count() > 40, "another seed, other inputs");
    }

    #[test]
    fn the_generator_reaches_every_kind_of_defect_and_the_limits() {
        let kinds: Vec<String> = (0..3000)
            .map(|i| input(1, i, Target::Both).input.kind().to_string())
            .collect();
        for want in [
            "wrong type",
            "of 0 bytes",
            "of 65 bytes",
            "nested",
            "copies of",
            "invalid UTF-8",
            "a NUL",
            "= 9223372036854775807",
            "cut after",
            "unknown field",
            "without",
            "not JSON",
            "JSON that is",
            "stray field",
        ] {
            assert!(
                kinds.iter().any(|k| k.contains(want)),
                "no {want:?} in 3000 inputs"
            );
        }
        let big = (0..3000).filter_map(|i| match input(1, i, Target::Ap).input {
            Input::Ap(a) => Some(a.writes.concat().len()),
            Input::Mqtt(_) => None,
        });
        assert!(big.max().unwrap_or(0) > 60_000, "inputs up to 64 KiB");
    }

    #[test]
    fn hosts_are_loopback_and_upgrades_never_start() {
        for i in 0..3000 {
            match input(3, i, Target::Both).input {
                // A cut object never completes: whatever its host's first bytes, it is no 4002.
                Input::Ap(a) if a.kind.contains("cut after") => {}
                Input::Ap(a) => {
                    let text = String::from_utf8_lossy(&a.writes.concat()).into_owned();
                    if let Some(at) = text.find("\"host\":\"") {
                        let host = &text[at + 8..];
                        assert!(
                            host.starts_with("127.0.0.1\"") || host.starts_with('a') || host.starts_with('"'),
                            "{text}"
                        );
                    }
                }
                Input::Mqtt(m) => {
                    assert_ne!(m.topic, "app/reset");
                    if m.topic == "app/upgrade" {
                        assert_ne!(m.payload.first(), Some(&b'{'));
                    }
                }
            }
        }
    }

    #[test]
    fn pinned_codes_follow_the_notes() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..3000 {
            let g = input(5, i, Target::Ap);
            let Input::Ap(a) = &g.input else { continue };
            if let Some(Expected::Code(c)) = g.expect_code {
                seen.insert(c);
                assert_eq!(a.writes.len(), 1, "pinned only for whole writes: {}", a.kind);
            }
            if a.kind == "not JSON" && a.writes.len() == 1 {
                assert_eq!(g.expect_code, Some(Expected::Code(4)));
            }
        }
        for c in [0, 1, 2, 4, 5, 6] {
            assert!(seen.contains(&c), "code {c} pinned somewhere: {seen:?}");
        }
    }
}
