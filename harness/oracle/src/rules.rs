//! Every rule of PROTOCOL-NOTES the suite checks, with where it comes from. Scenarios name
//! the rules they check with tags `@rule-<id>`; `plugrig coverage` maps one onto the other
//! and fails if a rule has no scenario.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Stated in the vendor document.
    Spec,
    /// Not in the document; the vendor's apps depend on it.
    App,
    /// This project's choice where both are silent.
    Profile,
}

impl Source {
    pub fn tag(self) -> &'static str {
        match self {
            Source::Spec => "[spec]",
            Source::App => "[app]",
            Source::Profile => "[profile]",
        }
    }
}

pub struct Rule {
    pub id: &'static str,
    pub source: Source,
    pub text: &'static str,
}

const fn r(id: &'static str, source: Source, text: &'static str) -> Rule {
    Rule { id, source, text }
}

use Source::{App, Profile, Spec};

pub const RULES: &[Rule] = &[
    // AP socket
    r("declared-claims", Spec, "the plug is what its declaration claims: 4001's device_type and identity, connect_mode 1 where it declares TLS, firmware_infor where it declares its firmware"),
    r("ap-identity", Spec, "4001 answers the five identity fields as strings, device_type \"0\" or \"1\""),
    r("ap-envelope", Spec, "replies are {code, message, result{header}}: a success carries its header"),
    r("ap-error-echo", Profile, "an error reply's result.header echoes the request's header when one was parsed"),
    r("ap-code-1", Spec, "a string of the wrong length gets code 1 (host 1-64, username/password 1-32, ssid 1-32, pwd 0-64, clientId 0-32)"),
    r("ap-code-2", Spec, "a field of the wrong JSON type gets code 2"),
    r("ap-code-3", Spec, "4003 before an accepted 4002 gets code 3"),
    r("ap-code-4", Spec, "input that is not JSON gets code 4"),
    r("ap-code-5", Spec, "JSON without a known numeric header, or missing a required field, gets code 5"),
    r("ap-code-6", Spec, "a number out of range gets code 6"),
    r("ap-type-edges", Profile, "a number with a fraction where an integer is due, and null, are wrong types (code 2): JSON has one number type and the notes pin neither"),
    r("ap-code-order", Profile, "codes are checked in the order 4, 5, 2, 1, 6, 3"),
    r("ap-client-id", App, "the optional clientId of 4002 is the client id the plug connects with"),
    r("ap-4001-any-time", Profile, "4001 is answered at any time, and does not undo an accepted 4002"),
    r("ap-extra-fields", Profile, "unknown extra fields in a known command are ignored"),
    r("ap-reply-bytes", App, "a reply is one JSON object of at most 1024 bytes with no 0x00 byte (the Android app stops reading there)"),
    r("ap-framing", Profile, "the end of a request is found by parsing: split writes and a trailing newline are fine"),
    r("ap-robust", Profile, "garbage, oversized input and idle or half-open clients do not wedge the AP socket"),
    r("ap-join", Spec, "after 4002 then 4003 the plug leaves AP mode and connects to the broker"),
    // Topics and the session
    r("topic-format", Spec, "topics are {function}/{name}/{spec}/{mac}/{device|app}/{field} with the 4001 values"),
    r("session-connect", Spec, "CONNECT carries the provisioned username, password, keepalive and clean session"),
    r("session-qos", Spec, "the plug publishes at the provisioned QoS and completes the QoS flows"),
    r("session-subscribe", Spec, "on connection the plug subscribes to the five app topics"),
    r("session-keepalive", Spec, "the plug sends a control packet at least once per keepalive"),
    r("session-refused", Profile, "refused credentials are retried no faster than once a second, no slower than once a minute"),
    r("session-reconnect", Profile, "after a broker loss the plug reconnects with back-off and republishes switch_state"),
    // connect_mode (4002): 0 TCP, 1 TLS
    r("tls-connect", Spec, "with connect_mode 1 the plug connects over TLS and its session honours the provisioning"),
    r("tls-no-clear", Spec, "with connect_mode 1 every connection opens with a TLS ClientHello: no MQTT in clear"),
    r("tls-not-unasked", Spec, "with connect_mode 0 the plug connects over plain TCP and never starts TLS"),
    // Published by the plug
    r("switch-on-connect", Spec, "switch_state is published on every connection"),
    r("switch-on-change", Spec, "switch_state is published on every on/off change"),
    r("switch-heartbeat", Spec, "switch_state is published every 30 s +- 1 s regardless"),
    r("firmware-infor", Spec, "read_firmware_infor (empty or {}) is answered by firmware_infor with five strings"),
    r("delay-cadence", Spec, "delay_time comes first within 1 s, then every 1 s +- 0.2 s down to 0/0/0, each within 1 s of the true remaining time"),
    r("delay-target", App, "delay_time.switch_state is the state the relay takes at the end"),
    r("delay-every-value", Profile, "delay_time reports every whole second, none skipped"),
    r("delay-end", Profile, "after the last delay_time 0/0/0 the relay switches and switch_state is published"),
    r("delay-cancel-switch", Spec, "an on/off change (app or button) cancels the countdown"),
    r("delay-cancel-power", Spec, "a power cycle cancels the countdown"),
    r("delay-cancel-new", Spec, "a new countdown replaces the running one"),
    r("delay-cancel-zero", Profile, "delay_time 0/0 cancels the countdown and starts none"),
    r("delay-out-of-range", Profile, "out-of-range countdown values change nothing"),
    r("ota-r1", Spec, "a good image is installed, R1, and the plug restarts on it"),
    r("ota-r2", Spec, "a reached server with a failed upgrade (HTTP error, truncated, corrupt, other target) is R2"),
    r("ota-stall", Profile, "a transfer that stalls is abandoned with R2 within 25 s"),
    r("ota-r3", Spec, "a server that cannot be connected is R3"),
    r("ota-r4", Spec, "a name (type 1) that does not resolve is R4"),
    r("ota-r4-realm", Profile, "a type-0 realm that is not a single IPv4 address fails with R4"),
    r("ota-keeps-old", Profile, "after a failed upgrade the old firmware keeps running"),
    r("reset-button", Spec, "a 10 s button hold publishes delete_device, forgets the configuration, returns to AP mode"),
    r("reset-app", Profile, "app/reset resets without delete_device"),
    r("button-short-press", Profile, "a short button press toggles the relay"),
    r("console-relay", Profile, "the serial console reports each relay change, in the order MQTT does (read with the rig's patterns)"),
    r("electricity-format", Spec, "electricity_information carries integer voltage (0.1 V), current (mA), power (W)"),
    r("electricity-units", Spec, "electricity_information is plausible in 0.1 V, mA and W: voltage in the mains range, power no more than V x I, a known load within the claim"),
    r("electricity-cadence", Profile, "electricity_information comes every 1 s +- 0.2 s"),
    r("electricity-accuracy", Profile, "samples agree with the reference meter within its class plus the plug's claim"),
    r("electricity-relay-off", Profile, "with the relay off current and power read zero within 2 s"),
    r("electricity-type0", Profile, "a plug of device_type \"0\" never publishes electricity_information"),
];

pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<&str> = super::RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
