//! plugrig-oracle: the harness's own reading of the MK102/MK112 protocol (spec v1.5 and
//! PROTOCOL-NOTES), as a judge with no I/O. What a third party needs to judge a plug from
//! what it observed: the rules and where each comes from ([spec], [app], [profile]), the AP
//! socket's requests, replies and codes, the payload schemas of every topic, the timing
//! tolerances, and the checks that turn observations into verdicts.
//!
//! Read first: `rules` (what is judged), `observation` (what a rig sees, in one vocabulary),
//! then the checks by domain: `ap`, `session`, `subscriptions`, `payloads`, `switch`,
//! `countdown`, `timing`.
//! It owns no clock, no socket and no runtime: callers hand it what they saw and when. It
//! shares no code with the firmware, so a misreading in one is caught by the other.

pub mod ap;
pub mod countdown;
pub mod measure;
pub mod metering;
pub mod observation;
pub mod payloads;
pub mod rules;
pub mod session;
pub mod subscriptions;
pub mod switch;
pub mod timing;

use rumqttc::{Packet, QoS};

/// The four identity values of a 4001 reply, which make the topic prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub function: String,
    pub name: String,
    pub specifications: String,
    pub mac: String,
    /// "0" or "1".
    pub device_type: String,
}

impl Identity {
    /// `{function}/{name}/{specifications}/{mac}` (spec 3.1; the mac exactly as reported).
    pub fn prefix(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.function, self.name, self.specifications, self.mac
        )
    }

    pub fn device_topic(&self, field: &str) -> String {
        format!("{}/device/{field}", self.prefix())
    }

    pub fn app_topic(&self, field: &str) -> String {
        format!("{}/app/{field}", self.prefix())
    }

    pub fn measures_power(&self) -> bool {
        self.device_type == "1"
    }
}

/// Whether two spellings name the same MAC: the same twelve hex digits, whatever the case
/// and separators (`11:22:33:aa:bb:cc`, `112233AABBCC`, `11-22-33-AA-BB-CC`).
pub fn same_mac(a: &str, b: &str) -> bool {
    let digits = |s: &str| -> Option<String> {
        let d: String = s
            .chars()
            .filter(|c| !matches!(c, ':' | '-' | '.'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        (d.len() == 12 && d.chars().all(|c| c.is_ascii_hexdigit())).then_some(d)
    };
    match (digits(a), digits(b)) {
        (Some(x), Some(y)) => x == y,
        // Not MACs: the plug's own identifiers, compared as given.
        _ => a == b,
    }
}

/// Topics the plug publishes (spec 3.2).
pub const DEVICE_FIELDS: [&str; 6] = [
    "switch_state",
    "firmware_infor",
    "delay_time",
    "ota_upgrade_state",
    "delete_device",
    "electricity_information",
];

/// Topics the plug subscribes to (spec 3.3).
pub const APP_FIELDS: [&str; 5] = [
    "switch_state",
    "delay_time",
    "reset",
    "upgrade",
    "read_firmware_infor",
];

pub fn qos_number(q: QoS) -> u8 {
    match q {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

/// One line per packet, for timelines and failure messages.
pub fn packet_summary(p: &Packet) -> String {
    match p {
        Packet::Connect(c) => format!(
            "CONNECT client_id={:?} keepalive={} clean_session={} username={:?}",
            c.client_id,
            c.keep_alive,
            c.clean_session,
            c.login.as_ref().map(|l| l.username.as_str())
        ),
        Packet::ConnAck(a) => format!("CONNACK {:?} session_present={}", a.code, a.session_present),
        Packet::Publish(p) => format!(
            "PUBLISH qos={} pid={} dup={} {} {}",
            qos_number(p.qos),
            p.pkid,
            p.dup,
            p.topic,
            String::from_utf8_lossy(&p.payload)
        ),
        Packet::PubAck(a) => format!("PUBACK {}", a.pkid),
        Packet::PubRec(a) => format!("PUBREC {}", a.pkid),
        Packet::PubRel(a) => format!("PUBREL {}", a.pkid),
        Packet::PubComp(a) => format!("PUBCOMP {}", a.pkid),
        Packet::Subscribe(s) => format!(
            "SUBSCRIBE {}",
            s.filters
                .iter()
                .map(|f| format!("{}@{}", f.path, qos_number(f.qos)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Packet::SubAck(s) => format!("SUBACK {} {:?}", s.pkid, s.return_codes),
        Packet::Unsubscribe(u) => format!("UNSUBSCRIBE {:?}", u.topics),
        Packet::UnsubAck(u) => format!("UNSUBACK {}", u.pkid),
        Packet::PingReq => "PINGREQ".into(),
        Packet::PingResp => "PINGRESP".into(),
        Packet::Disconnect => "DISCONNECT".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mac_in_any_spelling_is_the_same_mac() {
        assert!(super::same_mac("11:22:33:aa:bb:cc", "112233AABBCC"));
        assert!(super::same_mac("11-22-33-AA-BB-CC", "11:22:33:aa:bb:cc"));
        assert!(!super::same_mac("11:22:33:aa:bb:cd", "112233AABBCC"));
        assert!(!super::same_mac("plug-7", "112233AABBCC"));
    }
}
