//! What the notes say of one input and one reply, as pure functions: the finding classes,
//! what a payload asks of the relay, and a reply judged against the envelope and the code
//! the notes pin. `probe` sends and waits; this decides.

use oracle::ap::{self, Reply};
use serde::{Deserialize, Serialize};

use super::generate::Expected;

/// How long a reply the notes pin may take.
pub(super) const PINNED_REPLY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// What the oracle found wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// The plug restarted (a boot line, a new MQTT session) or its process ended.
    Crash,
    /// The AP socket no longer answers 4001.
    Wedged,
    /// The MQTT session is up but read_firmware_infor goes unanswered.
    Silent,
    /// A reply other than the code the notes pin.
    WrongCode,
    /// A reply that is not the protocol's envelope.
    BadReply,
    /// The relay switched on a payload that is not a command.
    RelayChanged,
    /// A countdown started on a payload that is not a valid one.
    CountdownStarted,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Crash => "crash",
            Class::Wedged => "wedged",
            Class::Silent => "silent",
            Class::WrongCode => "wrong-code",
            Class::BadReply => "bad-reply",
            Class::RelayChanged => "relay-changed",
            Class::CountdownStarted => "countdown-started",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub class: Class,
    /// The rule of the notes it breaks.
    pub rule: String,
    pub why: String,
}

pub(super) fn finding(class: Class, rule: &str, why: String) -> Finding {
    Finding {
        class,
        rule: rule.into(),
        why,
    }
}

/// What a session must do after an input that was no finding.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Continue,
    /// A valid command changed the plug's mode (a 4003 provisioned it): start afresh.
    Fresh(String),
}

/// What a payload on a topic asks of the relay, by the notes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Asks {
    /// Nothing: it is not a valid command.
    Nothing,
    Switch(String),
    Countdown,
    Cancel,
    /// The notes do not say (another spelling of "on", a float, duplicate keys).
    Unpinned,
}

pub(super) fn asks(topic: &str, payload: &[u8]) -> Asks {
    let text = String::from_utf8_lossy(payload);
    let parsed = serde_json::from_slice::<serde_json::Value>(payload).ok();
    let object = parsed.as_ref().and_then(|v| v.as_object());
    let twice = |key: &str| text.matches(&format!("\"{key}\"")).count() > 1;
    match topic {
        "app/switch_state" => {
            let Some(o) = object else { return Asks::Nothing };
            if twice("switch_state") {
                return Asks::Unpinned;
            }
            match o.get("switch_state") {
                Some(serde_json::Value::String(s)) if s == "on" || s == "off" => Asks::Switch(s.clone()),
                Some(serde_json::Value::String(_)) => Asks::Unpinned,
                _ => Asks::Nothing,
            }
        }
        "app/delay_time" => {
            let Some(o) = object else { return Asks::Nothing };
            if twice("delay_hour") || twice("delay_minute") {
                return Asks::Unpinned;
            }
            let (h, m) = (o.get("delay_hour"), o.get("delay_minute"));
            match (h.and_then(|v| v.as_i64()), m.and_then(|v| v.as_i64())) {
                (Some(0), Some(0)) => Asks::Cancel,
                (Some(0..=23), Some(0..=59)) => Asks::Countdown,
                (Some(_), Some(_)) => Asks::Nothing,
                _ if h.is_some_and(|v| v.is_f64()) || m.is_some_and(|v| v.is_f64()) => Asks::Unpinned,
                _ => Asks::Nothing,
            }
        }
        _ => Asks::Nothing,
    }
}

/// An error's first line (a wait's error goes on with the timeline's tail, which the
/// reproducer keeps whole).
pub(super) fn first_line(e: &anyhow::Error) -> String {
    format!("{e:#}").lines().next().unwrap_or_default().to_string()
}

/// The reply against the envelope and the pinned code.
pub(super) fn judge_reply(reply: &anyhow::Result<Reply>, expect: Option<Expected>) -> Result<After, Finding> {
    match (reply, expect) {
        (Ok(r), _) if !(0..=6).contains(&r.code) => Err(finding(
            Class::BadReply,
            "ap-envelope",
            format!("code {} is none of the protocol's 0-6: {}", r.code, r.raw),
        )),
        (Ok(r), Some(Expected::Code(c))) if r.code != c => Err(finding(
            Class::WrongCode,
            &format!("ap-code-{c}"),
            format!("answered code {}, the notes pin {c}: {}", r.code, r.raw),
        )),
        (Ok(r), Some(Expected::Code1OrNone)) if r.code != 1 => Err(finding(
            Class::WrongCode,
            "ap-robust",
            format!(
                "oversized input answered code {} (the notes: code 1, or none): {}",
                r.code, r.raw
            ),
        )),
        (Ok(r), _) if r.code == 0 && r.header == Some(ap::WIFI) => {
            Ok(After::Fresh("a valid 4003 provisioned the plug".into()))
        }
        (Ok(_), _) => Ok(After::Continue),
        (Err(e), _) if format!("{e:#}").contains("not JSON") => Err(finding(
            Class::BadReply,
            "ap-envelope",
            format!("the reply is not the protocol's envelope: {e:#}"),
        )),
        (Err(e), Some(Expected::Code(c))) => Err(finding(
            Class::WrongCode,
            &format!("ap-code-{c}"),
            format!("no reply within {PINNED_REPLY_WITHIN:?}; the notes pin code {c}: {e:#}"),
        )),
        (Err(_), _) => Ok(After::Continue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_payload_asks_of_the_relay() {
        let a = |t: &str, p: &str| asks(t, p.as_bytes());
        assert_eq!(
            a("app/switch_state", r#"{"switch_state":"on"}"#),
            Asks::Switch("on".into())
        );
        assert_eq!(
            a("app/switch_state", r#"{"zz":1,"switch_state":"off"}"#),
            Asks::Switch("off".into())
        );
        assert_eq!(a("app/switch_state", r#"{"switch_stat":"on"}"#), Asks::Nothing);
        assert_eq!(a("app/switch_state", r#"{"switch_state":"ON"}"#), Asks::Unpinned);
        assert_eq!(
            a(
                "app/switch_state",
                r#"{"switch_state":"on","switch_state":"off"}"#
            ),
            Asks::Unpinned
        );
        assert_eq!(a("app/switch_state", "\u{1}on"), Asks::Nothing);
        assert_eq!(
            a("app/delay_time", r#"{"delay_hour":1,"delay_minute":2}"#),
            Asks::Countdown
        );
        assert_eq!(
            a("app/delay_time", r#"{"delay_hour":0,"delay_minute":0}"#),
            Asks::Cancel
        );
        assert_eq!(
            a("app/delay_time", r#"{"delay_hour":24,"delay_minute":0}"#),
            Asks::Nothing
        );
        assert_eq!(
            a("app/delay_time", r#"{"delay_hour":1.0,"delay_minute":0}"#),
            Asks::Unpinned
        );
        assert_eq!(
            a("app/switch_state/extra", r#"{"switch_state":"on"}"#),
            Asks::Nothing
        );
    }

    #[test]
    fn replies_are_judged_by_the_pinned_code() {
        let r = |raw: &str| Reply::parse(raw).map_err(|e| anyhow::anyhow!("{e}"));
        let ok = r(r#"{"code":2,"message":"x","result":{"header":4002}}"#);
        assert!(judge_reply(&ok, Some(Expected::Code(2))).is_ok());
        let wrong = judge_reply(&ok, Some(Expected::Code(6))).unwrap_err();
        assert_eq!(
            (wrong.class, wrong.rule.as_str()),
            (Class::WrongCode, "ap-code-6")
        );
        let none: anyhow::Result<Reply> = Err(anyhow::anyhow!("no complete reply within"));
        assert!(judge_reply(&none, None).is_ok());
        assert!(judge_reply(&none, Some(Expected::Code1OrNone)).is_ok());
        assert!(judge_reply(&none, Some(Expected::Code(4))).is_err());
        let odd = r(r#"{"code":9,"message":"x"}"#);
        assert_eq!(judge_reply(&odd, None).unwrap_err().class, Class::BadReply);
    }
}
