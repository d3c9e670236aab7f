//! Conformant variations: choices PROTOCOL-NOTES leaves to the plug, made differently from
//! the default build, so the conformance suite can be proven on a plug that is right in
//! another way than plug-sim is. Every variation stays conformant; that is the difference
//! with [`crate::faults`], whose mechanism (`flags`) it shares.
//!
//! Compiled only with the `conformant-variations` feature (the simulated plug enables it);
//! in any other build `Variations::has` is a constant `false` and every branch folds away.
//! Some are applied by the board, not the core: `console-format` (the board prints the
//! lines, with [`crate::console::Format::Vendor`]), `ap-stays-open` (the board keeps its
//! listener) and the version half of `vendor-image` (the board reads its slot at boot,
//! [`crate::ota::vendor_image::version_of`]).

crate::flags::named_flags! {
    feature = "conformant-variations";
    /// One conformant variation; its name is what plug-sim's `--variant` takes.
    pub enum Variation;
    /// The set of active variations: one bit per [`Variation`].
    pub struct Variations;
    {
        /// On connection the plug subscribes with five SUBSCRIBE packets, one filter each,
        /// each with its own packet id, instead of one packet with five filters.
        SplitSubscribe = "split-subscribe",
        /// Upgrades fetch `{catalogue}vendor-fw.img` in the format of [`crate::ota::vendor_image`]
        /// instead of plugrig's MKPLUGFW image.
        VendorImage = "vendor-image",
        /// The console prints [`crate::console::Format::Vendor`] lines.
        ConsoleFormat = "console-format",
        /// The AP listener stays open after provisioning; outside AP mode a connection is
        /// closed at once without a reply (the core's behaviour outside AP mode).
        ApStaysOpen = "ap-stays-open",
        /// Over 1024 bytes without a complete object: the connection is closed without the
        /// code-1 reply.
        OversizeClose = "oversize-close",
        /// Error replies for input without a parsed header omit `result`:
        /// `{"code":4,"message":"not json"}`.
        BareErrorReply = "bare-error-reply",
        /// The countdown ticks every 1.03 s (within the 1 s +- 0.2 s tolerance), each message
        /// the true remaining time rounded up, so values may skip (27, then 25).
        SlowTick = "slow-tick",
        /// Every publish carries the retain flag (the notes do not forbid it): the broker keeps
        /// the last message of each topic and hands it to the next subscriber.
        Retain = "retain",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_unique_and_round_trips() {
        for (i, (v, name)) in ALL.iter().enumerate() {
            assert_eq!(*v as usize, i, "ALL is in declaration order");
            assert_eq!(Variation::from_name(name), Some(*v));
        }
        assert_eq!(Variation::from_name("no-such-variation"), None);
    }

    #[test]
    fn has_needs_the_feature() {
        let v = Variations::NONE.with(Variation::SlowTick);
        assert_eq!(
            v.has(Variation::SlowTick),
            cfg!(feature = "conformant-variations")
        );
        assert!(!v.has(Variation::SplitSubscribe));
    }
}
