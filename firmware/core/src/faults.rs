//! Deliberate protocol violations, for proving that the conformance suite catches them.
//! Compiled only with the `fault-injection` feature (the simulated plug enables it); in
//! any other build `Faults::has` is a constant `false` and every fault branch folds away.

crate::flags::named_flags! {
    feature = "fault-injection";
    /// One deliberate violation; its name is what plug-sim's `--fault` takes.
    pub enum Fault;
    /// The set of active faults: one bit per [`Fault`].
    pub struct Faults;
    {
        /// An on/off change does not cancel the countdown.
        NoCancelOnSwitch = "no-cancel-on-switch",
        /// electricity_information reports power in 0.1 W instead of W.
        PowerInDeciwatts = "power-in-deciwatts",
        /// 4003 before 4002 answers code 5 instead of 3.
        WrongOrderCode = "wrong-order-code",
        /// The heartbeat comes every 33 s instead of 30 s.
        LateHeartbeat = "late-heartbeat",
        /// An HTTP error from the update server is reported as R3 instead of R2.
        OtaR3ForHttpError = "ota-r3-for-http-error",
        /// An app switch command is not echoed on switch_state.
        NoSwitchEcho = "no-switch-echo",
        /// A string of the wrong length answers code 6 instead of 1.
        LengthAsRangeCode = "length-as-range-code",
        /// Every publish goes out at QoS 0, whatever was provisioned.
        AlwaysQos0 = "always-qos0",
        /// The countdown's last delay_time (0/0/0) is not published.
        NoFinalZero = "no-final-zero",
        /// A 10 s button hold resets without publishing delete_device.
        NoDeleteDevice = "no-delete-device",
        /// A reset keeps the configuration in flash.
        ResetKeepsConfig = "reset-keeps-config",
        /// switch_state is not published on connection.
        NoSwitchStateOnConnect = "no-switch-state-on-connect",
        /// The provisioned clientId is ignored; the plug connects with its MAC.
        IgnoreClientId = "ignore-client-id",
        /// delay_time and electricity_information come every 1.25 s.
        SlowCadence = "slow-cadence",
        /// A countdown of 24 h or more is accepted.
        AcceptOutOfRangeCountdown = "accept-out-of-range-countdown",
        /// An image for another target is installed.
        AcceptWrongTarget = "accept-wrong-target",
        /// After an upgrade (R1) and the restart, firmware_infor still reports the old
        /// version. The board applies it: it is the board that reads the installed version
        /// (see [`crate::identity::Identity::boot_version`]).
        OtaKeepsVersion = "ota-keeps-version",
        /// electricity_information reports voltage in V instead of 0.1 V.
        VoltageInVolts = "voltage-in-volts",
        /// Under connect_mode 1 the plug speaks MQTT in clear, without TLS. The board applies
        /// it: it is the board that opens the broker socket (see plug-sim's `mqtt_link`).
        PlainUnderTls = "plain-under-tls",
        /// Every AP reply ends in a 0x00 byte, where the Android app stops reading [app].
        NulTerminatedReplies = "nul-terminated-replies",
        /// After a frame that is not JSON (code 4) or JSON the document does not define (code
        /// 5), the AP socket answers nothing more (it accepts connections and ignores them)
        /// until the plug restarts: garbage wedges it.
        WedgedByGarbage = "wedged-by-garbage",
        /// For fuzzing to find (issue 23), each reached only by input the suite never sends:
        /// a write on the AP socket nesting JSON deeper than 16 levels restarts the plug (a
        /// crash),
        DeepNestingCrash = "deep-nesting-crash",
        /// a write on the AP socket repeating one key 24 times or more wedges the socket as
        /// `WedgedByGarbage` does,
        DuplicateKeysWedge = "duplicate-keys-wedge",
        /// and an `app/switch_state` payload without a `switch_state` field switches the relay
        /// to the first "on" or "off" value it holds under any other key.
        StrayFieldSwitch = "stray-field-switch",
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
