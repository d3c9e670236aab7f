//! Conformant variations: choices PROTOCOL-NOTES leaves to the plug, made differently from
//! the default build, so the conformance suite can be proven on a plug that is right in
//! another way than plug-sim is. Every variation stays conformant; that is the difference
//! with [`crate::faults`], whose mechanism this mirrors.
//!
//! Compiled only with the `conformant-variations` feature (the simulated plug enables it);
//! in any other build `Variations::has` is a constant `false` and every branch folds away.
//! Some are applied by the board, not the core: `console-format` (the board prints the
//! lines, with [`crate::console::Format::Vendor`]), `ap-stays-open` (the board keeps its
//! listener) and the version half of `vendor-image` (the board reads its slot at boot,
//! [`crate::ota::vendor_image::version_of`]).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Variation {
    /// On connection the plug subscribes with five SUBSCRIBE packets, one filter each,
    /// each with its own packet id, instead of one packet with five filters.
    SplitSubscribe,
    /// Upgrades fetch `{catalogue}vendor-fw.img` in the format of [`crate::ota::vendor_image`]
    /// instead of plugrig's MKPLUGFW image.
    VendorImage,
    /// The console prints [`crate::console::Format::Vendor`] lines.
    ConsoleFormat,
    /// The AP listener stays open after provisioning; outside AP mode a connection is
    /// closed at once without a reply (the core's behaviour outside AP mode).
    ApStaysOpen,
    /// Over 1024 bytes without a complete object: the connection is closed without the
    /// code-1 reply.
    OversizeClose,
    /// Error replies for input without a parsed header omit `result`:
    /// `{"code":4,"message":"not json"}`.
    BareErrorReply,
    /// The countdown ticks every 1.03 s (within the 1 s +- 0.2 s tolerance), each message
    /// the true remaining time rounded up, so values may skip (27, then 25).
    SlowTick,
    /// Every publish carries the retain flag (the notes do not forbid it): the broker keeps
    /// the last message of each topic and hands it to the next subscriber.
    Retain,
}

pub const ALL: [(Variation, &str); 8] = [
    (Variation::SplitSubscribe, "split-subscribe"),
    (Variation::VendorImage, "vendor-image"),
    (Variation::ConsoleFormat, "console-format"),
    (Variation::ApStaysOpen, "ap-stays-open"),
    (Variation::OversizeClose, "oversize-close"),
    (Variation::BareErrorReply, "bare-error-reply"),
    (Variation::SlowTick, "slow-tick"),
    (Variation::Retain, "retain"),
];

impl Variation {
    pub fn from_name(name: &str) -> Option<Variation> {
        ALL.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
    }
}

/// The set of active variations: one bit per [`Variation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Variations(u32);

impl Variations {
    pub const NONE: Variations = Variations(0);

    #[must_use]
    pub fn with(self, v: Variation) -> Variations {
        Variations(self.0 | 1 << (v as u8))
    }

    #[inline(always)]
    pub fn has(self, v: Variation) -> bool {
        cfg!(feature = "conformant-variations") && self.0 & (1 << (v as u8)) != 0
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
