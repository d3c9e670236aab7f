//! Board descriptions: which GPIO drives what, and how.

/// The electrical level that means "active" on a pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    High,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub gpio: u8,
    /// Level at which the relay is closed, the LED lit, or the button pressed.
    pub active: Level,
}

impl Pin {
    /// The level to drive (or read) for a logical state.
    pub const fn level_for(&self, on: bool) -> bool {
        match self.active {
            Level::High => on,
            Level::Low => !on,
        }
    }

    /// Whether a read level means "active" (pressed, lit).
    pub const fn is_active(&self, high: bool) -> bool {
        self.level_for(high)
    }
}

/// The metering chip's UART (BL0942 in UART mode: 4800 baud, 8N1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterUart {
    /// ESP32 TX, wired to the chip's RX.
    pub tx: u8,
    /// ESP32 RX, wired to the chip's TX.
    pub rx: u8,
    pub baud: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// Human name, printed on the console at boot.
    pub name: &'static str,
    /// The OTA header target this board's firmware accepts (plug-core::ota::image).
    pub ota_target: &'static str,
    /// The 4001 `name` and the topic prefix's second part.
    pub plug_name: &'static str,
    /// The 4001 `specifications` (socket standard): us, eu, uk, cn.
    pub specifications: &'static str,
    pub relay: Pin,
    pub led: Pin,
    pub button: Pin,
    /// None: a plug without metering (device_type 0).
    pub meter: Option<MeterUart>,
}

impl Board {
    /// Every GPIO the board uses, for the overlap check.
    pub fn gpios(&self) -> impl Iterator<Item = u8> + '_ {
        let meter = self.meter.map(|m| [m.tx, m.rx]);
        [self.relay.gpio, self.led.gpio, self.button.gpio]
            .into_iter()
            .chain(meter.into_iter().flatten())
    }

    /// Why this board cannot work on an ESP32-C3, if it cannot.
    pub fn check_esp32c3(&self) -> Result<(), BoardError> {
        let mut seen = 0u32;
        for g in self.gpios() {
            if g > 21 {
                return Err(BoardError::NoSuchGpio(g));
            }
            // GPIO12-17 are the SPI flash; 18/19 are USB D-/D+ (the console port).
            if (12..=17).contains(&g) {
                return Err(BoardError::FlashPin(g));
            }
            if g == 18 || g == 19 {
                return Err(BoardError::UsbPin(g));
            }
            if seen & (1 << g) != 0 {
                return Err(BoardError::Reused(g));
            }
            seen |= 1 << g;
        }
        // GPIO9 is the boot strapping pin: a button there is fine (it is the usual "boot"
        // button), a relay driven low at reset would enter download mode.
        if self.relay.gpio == 9 || self.led.gpio == 9 {
            return Err(BoardError::StrappingOutput(9));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardError {
    NoSuchGpio(u8),
    FlashPin(u8),
    UsbPin(u8),
    Reused(u8),
    StrappingOutput(u8),
}

/// An Athom-style ESP32-C3 EU plug with a BL0942 on UART: relay GPIO5, blue LED GPIO6
/// (active low), button GPIO3 (to ground, internal pull-up), BL0942 on GPIO21 (TX) /
/// GPIO20 (RX) at 4800 baud. Check a real unit's pinout before flashing: vendors change
/// the metering chip and pins between revisions.
pub const ATHOM_C3_BL0942: Board = Board {
    name: "athom-c3-bl0942",
    ota_target: "esp32c3-athom",
    plug_name: "plug_one",
    specifications: "eu",
    relay: Pin {
        gpio: 5,
        active: Level::High,
    },
    led: Pin {
        gpio: 6,
        active: Level::Low,
    },
    button: Pin {
        gpio: 3,
        active: Level::Low,
    },
    meter: Some(MeterUart {
        tx: 21,
        rx: 20,
        baud: 4800,
    }),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_athom_board_is_usable_on_an_esp32c3() {
        assert_eq!(ATHOM_C3_BL0942.check_esp32c3(), Ok(()));
        assert_eq!(ATHOM_C3_BL0942.gpios().count(), 5);
        assert_eq!(ATHOM_C3_BL0942.meter.map(|m| m.baud), Some(4800));
        assert!(
            ATHOM_C3_BL0942.ota_target.len() <= 16,
            "the OTA header holds 16 bytes"
        );
    }

    #[test]
    fn active_low_pins_invert() {
        let led = ATHOM_C3_BL0942.led;
        assert!(!led.level_for(true));
        assert!(led.level_for(false));
        let relay = ATHOM_C3_BL0942.relay;
        assert!(relay.level_for(true));
        // Button to ground: a low read is a press.
        assert!(ATHOM_C3_BL0942.button.is_active(false));
        assert!(!ATHOM_C3_BL0942.button.is_active(true));
    }

    #[test]
    fn unusable_pins_are_named() {
        let mut b = ATHOM_C3_BL0942;
        b.led.gpio = 5;
        assert_eq!(b.check_esp32c3(), Err(BoardError::Reused(5)));
        b.led.gpio = 14;
        assert_eq!(b.check_esp32c3(), Err(BoardError::FlashPin(14)));
        b.led.gpio = 19;
        assert_eq!(b.check_esp32c3(), Err(BoardError::UsbPin(19)));
        b.led.gpio = 30;
        assert_eq!(b.check_esp32c3(), Err(BoardError::NoSuchGpio(30)));
        b.led.gpio = 9;
        assert_eq!(b.check_esp32c3(), Err(BoardError::StrappingOutput(9)));
        let mut plain = ATHOM_C3_BL0942;
        plain.meter = None;
        plain.button.gpio = 9;
        assert_eq!(plain.check_esp32c3(), Ok(()));
    }
}
