//! How a plug's console says what it did. The protocol says nothing about a console: each
//! plug prints its own format, so the rig file gives regular expressions for the lines the
//! suite reads (a PIXIT value, in Matter's words). The defaults are this workspace's
//! firmware format (`plug <ms> relay state=on`, `plug <ms> boot fw=...`).

use regex::Regex;
use serde::{Deserialize, Deserializer};

/// A regular expression from a rig file; a bad one is refused when the rig loads, with the
/// file, the line and the key (toml reports the value's place).
#[derive(Debug, Clone)]
pub struct Pattern(pub Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Regex::new(&s)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("not a regular expression: {e}")))
    }
}

impl Pattern {
    fn new(re: &str) -> Pattern {
        // The defaults below are literals of this file; a test compiles each.
        Pattern(Regex::new(re).unwrap_or_else(|e| panic!("default console pattern {re:?}: {e}")))
    }

    pub fn is_match(&self, line: &str) -> bool {
        self.0.is_match(line)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

pub fn default_boot() -> Pattern {
    Pattern::new(r"boot fw=")
}
pub fn default_relay_on() -> Pattern {
    Pattern::new(r"relay state=on\b")
}
pub fn default_relay_off() -> Pattern {
    Pattern::new(r"relay state=off\b")
}

/// The console lines the suite reads.
#[derive(Debug, Clone)]
pub struct ConsolePatterns {
    pub boot: Pattern,
    pub relay_on: Pattern,
    pub relay_off: Pattern,
}

impl Default for ConsolePatterns {
    fn default() -> Self {
        ConsolePatterns {
            boot: default_boot(),
            relay_on: default_relay_on(),
            relay_off: default_relay_off(),
        }
    }
}

impl ConsolePatterns {
    /// The relay state an observation reports, if it is a console line that reports one.
    pub fn relay_of(&self, e: &oracle::observation::Event) -> Option<bool> {
        match e {
            oracle::observation::Event::Console(l) => self.relay(l),
            _ => None,
        }
    }

    /// The relay state a console line reports, if it reports one.
    pub fn relay(&self, line: &str) -> Option<bool> {
        if self.relay_on.is_match(line) {
            Some(true)
        } else if self.relay_off.is_match(line) {
            Some(false)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_read_this_firmwares_console() {
        let p = ConsolePatterns::default();
        assert_eq!(p.relay("plug 1234 relay state=on"), Some(true));
        assert_eq!(p.relay("plug 1234 relay state=off"), Some(false));
        assert_eq!(p.relay("plug 1234 mqtt up"), None);
        assert!(p.boot.is_match("plug 0 boot fw=000001 mac=02:00:00:00:00:01"));
    }
}
