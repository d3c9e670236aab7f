//! A set of named switches, one bit each, compiled in by a cargo feature: the mechanism
//! `faults` and `variations` share, written once.
//!
//! Each switch is declared once, with its doc and its command-line name. [`named_flags!`]
//! makes of that list the enum, `ALL` (every switch with its name, in declaration order),
//! `from_name`, and the set type (`NONE`, `with`, `has`). In a build without the feature,
//! `has` is a constant `false`, so every branch on a switch folds away.

/// ```text
/// named_flags! {
///     feature = "the-feature";
///     /// The enum's doc.
///     pub enum Flag;
///     /// The set's doc.
///     pub struct Flags;
///     {
///         /// A switch's doc.
///         OneSwitch = "one-switch",
///     }
/// }
/// ```
macro_rules! named_flags {
    (
        feature = $feature:tt;
        $(#[$flag_meta:meta])*
        pub enum $Flag:ident;
        $(#[$set_meta:meta])*
        pub struct $Set:ident;
        {
            $( $(#[$meta:meta])* $Variant:ident = $name:literal, )+
        }
    ) => {
        $(#[$flag_meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum $Flag {
            $( $(#[$meta])* $Variant, )+
        }

        /// Every switch with its name, in declaration order (a switch's bit is its place).
        pub const ALL: [($Flag, &str); [$($name),+].len()] = [$(($Flag::$Variant, $name)),+];

        // One bit each in the set's u32.
        const _: () = assert!(ALL.len() <= 32);

        impl $Flag {
            pub fn from_name(name: &str) -> Option<$Flag> {
                ALL.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
            }
        }

        $(#[$set_meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $Set(u32);

        impl $Set {
            pub const NONE: $Set = $Set(0);

            #[must_use]
            pub fn with(self, f: $Flag) -> $Set {
                $Set(self.0 | 1 << (f as u8))
            }

            #[inline(always)]
            pub fn has(self, f: $Flag) -> bool {
                cfg!(feature = $feature) && self.0 & (1 << (f as u8)) != 0
            }
        }
    };
}

pub(crate) use named_flags;
