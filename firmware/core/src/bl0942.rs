//! BL0942 metering chip over its UART (4800 8N1), as on the Athom ESP32-C3 plug.
//!
//! Read first: the BL0942 datasheet, "UART communication": the host sends `0x58 0xAA`
//! (read command for address 0, register 0xAA "full packet"); the chip answers 23 bytes:
//!
//! | byte  | field                      |
//! |-------|----------------------------|
//! | 0     | 0x55 frame header          |
//! | 1-3   | I_RMS, u24 LE              |
//! | 4-6   | V_RMS, u24 LE              |
//! | 7-9   | I_FAST_RMS, u24 LE         |
//! | 10-12 | WATT, i24 LE               |
//! | 13-15 | CF_CNT, u24 LE             |
//! | 16-17 | FREQ, u16 LE               |
//! | 18-21 | reserved, STATUS, reserved |
//! | 22    | checksum: !(0x58 + sum of bytes 0..22) |
//!
//! Scale factors are those of the reference design (shunt 1 mOhm, divider 5 x 390 kOhm over
//! 510 Ohm), as ESPHome uses for the Athom plugs: LSB per volt 15873.35944299, per ampere
//! 251213.46469622, per watt 596.

pub const FRAME_LEN: usize = 23;
pub const HEADER: u8 = 0x55;
/// The read command for chip address 0.
pub const READ_CMD: u8 = 0x58;
/// Register address of the full measurement packet.
pub const FULL_PACKET: u8 = 0xAA;
/// What the host writes to ask for one frame.
pub const REQUEST: [u8; 2] = [READ_CMD, FULL_PACKET];

/// LSB per volt, times 10^4 (integer math: no float on the hot path).
pub const UREF_E4: u64 = 158_733_594;
/// LSB per ampere, times 10^4.
pub const IREF_E4: u64 = 2_512_134_647;
/// LSB per watt.
pub const PREF: i64 = 596;

/// One measurement in the units the protocol publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// 0.1 V.
    pub deci_volts: u32,
    /// mA.
    pub milliamps: u32,
    /// W.
    pub watts: u32,
}

/// Raw register values of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Raw {
    pub i_rms: u32,
    pub v_rms: u32,
    pub watt: i32,
}

impl Raw {
    pub fn reading(&self) -> Reading {
        let div_round = |n: u64, d: u64| (n + d / 2) / d;
        let deci_volts = div_round(u64::from(self.v_rms) * 10 * 10_000, UREF_E4);
        let milliamps = div_round(u64::from(self.i_rms) * 1000 * 10_000, IREF_E4);
        // Negative active power means energy flowing back: a plug reports none.
        let watts = (i64::from(self.watt).max(0) + PREF / 2) / PREF;
        Reading {
            deci_volts: u32::try_from(deci_volts).unwrap_or(u32::MAX),
            milliamps: u32::try_from(milliamps).unwrap_or(u32::MAX),
            watts: u32::try_from(watts).unwrap_or(u32::MAX),
        }
    }

    /// The frame a chip with these registers sends (the simulated chip and tests use it).
    pub fn encode(&self) -> [u8; FRAME_LEN] {
        let mut f = [0u8; FRAME_LEN];
        f[0] = HEADER;
        f[1..4].copy_from_slice(&self.i_rms.to_le_bytes()[..3]);
        f[4..7].copy_from_slice(&self.v_rms.to_le_bytes()[..3]);
        f[7..10].copy_from_slice(&self.i_rms.to_le_bytes()[..3]);
        f[10..13].copy_from_slice(&self.watt.to_le_bytes()[..3]);
        // 50 Hz: FREQ holds 1 MHz / f.
        f[16..18].copy_from_slice(&20_000u16.to_le_bytes());
        f[22] = checksum(&f[..22]);
        f
    }
}

pub fn checksum(body: &[u8]) -> u8 {
    !body.iter().fold(READ_CMD, |acc, &b| acc.wrapping_add(b))
}

fn u24(b: &[u8]) -> u32 {
    u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16
}

fn i24(b: &[u8]) -> i32 {
    // Sign-extend from bit 23.
    ((u24(b) << 8) as i32) >> 8
}

/// Decodes one whole frame.
pub fn decode(f: &[u8; FRAME_LEN]) -> Option<Raw> {
    if f[0] != HEADER || checksum(&f[..22]) != f[22] {
        return None;
    }
    Some(Raw {
        i_rms: u24(&f[1..4]),
        v_rms: u24(&f[4..7]),
        watt: i24(&f[10..13]),
    })
}

/// Reassembles frames from UART bytes; after a bad frame it resyncs on the next header.
#[derive(Debug, Clone, Default)]
pub struct FrameReader {
    buf: heapless::Vec<u8, FRAME_LEN>,
    /// Frames dropped for a bad checksum since start.
    pub bad_frames: u32,
}

impl FrameReader {
    /// Feeds bytes; returns the last good frame they completed, if any.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<Raw> {
        let mut last = None;
        for &b in bytes {
            if self.buf.is_empty() && b != HEADER {
                continue;
            }
            let _ = self.buf.push(b);
            if self.buf.len() == FRAME_LEN {
                let mut f = [0u8; FRAME_LEN];
                f.copy_from_slice(&self.buf);
                match decode(&f) {
                    Some(raw) => {
                        last = Some(raw);
                        self.buf.clear();
                    }
                    None => {
                        self.bad_frames += 1;
                        self.resync();
                    }
                }
            }
        }
        last
    }

    fn resync(&mut self) {
        let next = self.buf.iter().skip(1).position(|&b| b == HEADER);
        match next {
            Some(p) => {
                let rest: heapless::Vec<u8, FRAME_LEN> = self.buf.iter().skip(p + 1).copied().collect();
                self.buf = rest;
            }
            None => self.buf.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// Registers for 230.0 V, 0.440 A, 101 W, computed from the scale factors above.
    fn sample() -> Raw {
        Raw {
            i_rms: 110_534,
            v_rms: 3_650_873,
            watt: 60_320,
        }
    }

    #[test]
    fn scales_to_protocol_units() {
        let r = sample().reading();
        assert_eq!(r.deci_volts, 2300);
        assert_eq!(r.milliamps, 440);
        assert_eq!(r.watts, 101);
    }

    #[test]
    fn encode_decode_round_trip() {
        assert_eq!(decode(&sample().encode()), Some(sample()));
    }

    #[test]
    fn negative_power_reads_zero() {
        let raw = Raw {
            watt: -5000,
            ..sample()
        };
        assert_eq!(decode(&raw.encode()).map(|r| r.watt), Some(-5000));
        assert_eq!(raw.reading().watts, 0);
    }

    #[rstest]
    #[case(1)]
    #[case(5)]
    #[case(23)]
    fn frames_reassemble_from_any_chunking(#[case] chunk: usize) {
        let f = sample().encode();
        let mut r = FrameReader::default();
        let mut got = None;
        for c in f.chunks(chunk) {
            got = r.feed(c).or(got);
        }
        assert_eq!(got, Some(sample()));
    }

    #[test]
    fn resyncs_after_noise_and_a_corrupt_frame() {
        let good = sample().encode();
        let mut bad = good;
        bad[5] ^= 0xFF;
        let mut r = FrameReader::default();
        assert_eq!(r.feed(&[0x00, 0x13]), None);
        assert_eq!(r.feed(&bad), None);
        assert_eq!(r.feed(&good), Some(sample()));
        assert_eq!(r.bad_frames, 1);
    }
}
