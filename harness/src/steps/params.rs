//! Typed step parameters.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, cucumber::Parameter)]
#[param(name = "onoff", regex = "on|off")]
pub enum OnOff {
    On,
    Off,
}

impl OnOff {
    pub fn is_on(self) -> bool {
        self == OnOff::On
    }
    pub fn as_str(self) -> &'static str {
        if self.is_on() {
            "on"
        } else {
            "off"
        }
    }
}

impl FromStr for OnOff {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(OnOff::On),
            "off" => Ok(OnOff::Off),
            other => Err(format!("expected on or off, got {other}")),
        }
    }
}
