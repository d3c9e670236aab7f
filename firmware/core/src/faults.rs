//! Deliberate protocol violations, for proving that the conformance suite catches them.
//! Compiled only with the `fault-injection` feature (the simulated plug enables it); in
//! any other build `Faults::has` is a constant `false` and every fault branch folds away.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Fault {
    /// An on/off change does not cancel the countdown.
    NoCancelOnSwitch,
    /// electricity_information reports power in 0.1 W instead of W.
    PowerInDeciwatts,
    /// 4003 before 4002 answers code 5 instead of 3.
    WrongOrderCode,
    /// The heartbeat comes every 33 s instead of 30 s.
    LateHeartbeat,
    /// An HTTP error from the update server is reported as R3 instead of R2.
    OtaR3ForHttpError,
    /// An app switch command is not echoed on switch_state.
    NoSwitchEcho,
    /// A string of the wrong length answers code 6 instead of 1.
    LengthAsRangeCode,
    /// Every publish goes out at QoS 0, whatever was provisioned.
    AlwaysQos0,
    /// The countdown's last delay_time (0/0/0) is not published.
    NoFinalZero,
    /// A 10 s button hold resets without publishing delete_device.
    NoDeleteDevice,
    /// A reset keeps the configuration in flash.
    ResetKeepsConfig,
    /// switch_state is not published on connection.
    NoSwitchStateOnConnect,
    /// The provisioned clientId is ignored; the plug connects with its MAC.
    IgnoreClientId,
    /// delay_time and electricity_information come every 1.25 s.
    SlowCadence,
    /// A countdown of 24 h or more is accepted.
    AcceptOutOfRangeCountdown,
    /// An image for another target is installed.
    AcceptWrongTarget,
    /// After an upgrade (R1) and the restart, firmware_infor still reports the old
    /// version. The board applies it: it is the board that reads the installed version
    /// (see [`crate::identity::Identity::boot_version`]).
    OtaKeepsVersion,
    /// electricity_information reports voltage in V instead of 0.1 V.
    VoltageInVolts,
    /// Under connect_mode 1 the plug speaks MQTT in clear, without TLS. The board applies
    /// it: it is the board that opens the broker socket (see plug-sim's `mqtt_link`).
    PlainUnderTls,
    /// Every AP reply ends in a 0x00 byte, where the Android app stops reading [app].
    NulTerminatedReplies,
    /// After a frame that is not JSON (code 4) or JSON the document does not define (code
    /// 5), the AP socket answers nothing more (it accepts connections and ignores them)
    /// until the plug restarts: garbage wedges it.
    WedgedByGarbage,
    /// For fuzzing to find (issue 23), each reached only by input the suite never sends:
    /// a write on the AP socket nesting JSON deeper than 16 levels restarts the plug (a
    /// crash),
    DeepNestingCrash,
    /// a write on the AP socket repeating one key 24 times or more wedges the socket as
    /// `WedgedByGarbage` does,
    DuplicateKeysWedge,
    /// and an `app/switch_state` payload without a `switch_state` field switches the relay
    /// to the first "on" or "off" value it holds under any other key.
    StrayFieldSwitch,
}

pub const ALL: [(Fault, &str); 24] = [
    (Fault::NoCancelOnSwitch, "no-cancel-on-switch"),
    (Fault::PowerInDeciwatts, "power-in-deciwatts"),
    (Fault::WrongOrderCode, "wrong-order-code"),
    (Fault::LateHeartbeat, "late-heartbeat"),
    (Fault::OtaR3ForHttpError, "ota-r3-for-http-error"),
    (Fault::NoSwitchEcho, "no-switch-echo"),
    (Fault::LengthAsRangeCode, "length-as-range-code"),
    (Fault::AlwaysQos0, "always-qos0"),
    (Fault::NoFinalZero, "no-final-zero"),
    (Fault::NoDeleteDevice, "no-delete-device"),
    (Fault::ResetKeepsConfig, "reset-keeps-config"),
    (Fault::NoSwitchStateOnConnect, "no-switch-state-on-connect"),
    (Fault::IgnoreClientId, "ignore-client-id"),
    (Fault::SlowCadence, "slow-cadence"),
    (Fault::AcceptOutOfRangeCountdown, "accept-out-of-range-countdown"),
    (Fault::AcceptWrongTarget, "accept-wrong-target"),
    (Fault::OtaKeepsVersion, "ota-keeps-version"),
    (Fault::VoltageInVolts, "voltage-in-volts"),
    (Fault::PlainUnderTls, "plain-under-tls"),
    (Fault::NulTerminatedReplies, "nul-terminated-replies"),
    (Fault::WedgedByGarbage, "wedged-by-garbage"),
    (Fault::DeepNestingCrash, "deep-nesting-crash"),
    (Fault::DuplicateKeysWedge, "duplicate-keys-wedge"),
    (Fault::StrayFieldSwitch, "stray-field-switch"),
];

impl Fault {
    pub fn from_name(name: &str) -> Option<Fault> {
        ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
    }
}

/// The set of active faults: one bit per [`Fault`], so at most 32 of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults(u32);

impl Faults {
    pub const NONE: Faults = Faults(0);

    #[must_use]
    pub fn with(self, f: Fault) -> Faults {
        Faults(self.0 | 1 << (f as u8))
    }

    #[inline(always)]
    pub fn has(self, f: Fault) -> bool {
        cfg!(feature = "fault-injection") && self.0 & (1 << (f as u8)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_round_trips() {
        for (i, (f, name)) in ALL.iter().enumerate() {
            assert_eq!(*f as usize, i, "ALL is in declaration order");
            assert_eq!(Fault::from_name(name), Some(*f));
        }
        assert_eq!(Fault::from_name("no-such-fault"), None);
    }
}
