//! What provisioning leaves behind: the broker (4002) and the network (4003), and the
//! byte layout they are stored in. The layout is the same on the device and on the
//! simulated plug, so a flash image from one reads on the other.

use heapless::String;

use crate::mqtt::Qos;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    /// IP or domain name, 1-64 bytes.
    pub host: String<64>,
    pub port: u16,
    /// connect_mode 1: TLS.
    pub tls: bool,
    pub username: String<32>,
    pub password: String<32>,
    /// Seconds, 60-120.
    pub keepalive: u16,
    pub qos: Qos,
    pub clean_session: bool,
    /// Empty: the plug uses its MAC.
    pub client_id: String<32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WifiConfig {
    pub ssid: String<32>,
    pub password: String<64>,
    /// OPEN=0, WEP=1, WPA_PSK=2, WPA2_PSK=3, WPA_WPA2_PSK=4.
    pub security: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mqtt: MqttConfig,
    pub wifi: WifiConfig,
}

/// Layout version; a stored record of another version reads as absent.
const LAYOUT: u8 = 1;
/// Largest encoded [`Config`].
pub const ENCODED_MAX: usize =
    1 + (1 + 64) + 2 + 1 + (1 + 32) * 2 + 2 + 1 + 1 + (1 + 32) + (1 + 32) + (1 + 64) + 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    TooShort,
    BadLayout,
    BadField,
}

impl Config {
    /// Encodes into `buf`, returning the length, or None if `buf` is too small.
    pub fn encode(&self, buf: &mut [u8]) -> Option<usize> {
        let mut w = Writer { buf, at: 0 };
        let m = &self.mqtt;
        w.u8(LAYOUT)?;
        w.str(&m.host)?;
        w.bytes(&m.port.to_le_bytes())?;
        w.u8(u8::from(m.tls))?;
        w.str(&m.username)?;
        w.str(&m.password)?;
        w.bytes(&m.keepalive.to_le_bytes())?;
        w.u8(m.qos.into())?;
        w.u8(u8::from(m.clean_session))?;
        w.str(&m.client_id)?;
        w.str(&self.wifi.ssid)?;
        w.str(&self.wifi.password)?;
        w.u8(self.wifi.security)?;
        Some(w.at)
    }

    pub fn decode(buf: &[u8]) -> Result<Config, DecodeError> {
        let mut r = Reader { buf, at: 0 };
        if r.u8()? != LAYOUT {
            return Err(DecodeError::BadLayout);
        }
        let host = r.str()?;
        let port = u16::from_le_bytes([r.u8()?, r.u8()?]);
        let tls = r.bool()?;
        let username = r.str()?;
        let password = r.str()?;
        let keepalive = u16::from_le_bytes([r.u8()?, r.u8()?]);
        let qos = r.u8()?;
        let clean_session = r.bool()?;
        let client_id = r.str()?;
        let wifi = WifiConfig {
            ssid: r.str()?,
            password: r.str()?,
            security: r.u8()?,
        };
        // The numbers are judged once the whole record has been read, so a cut record is
        // TooShort whatever its bytes say.
        let qos = Qos::try_from(qos).map_err(|_| DecodeError::BadField)?;
        if wifi.security > 4 {
            return Err(DecodeError::BadField);
        }
        let mqtt = MqttConfig {
            host,
            port,
            tls,
            username,
            password,
            keepalive,
            qos,
            clean_session,
            client_id,
        };
        Ok(Config { mqtt, wifi })
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let end = self.at.checked_add(b.len())?;
        self.buf.get_mut(self.at..end)?.copy_from_slice(b);
        self.at = end;
        Some(())
    }
    fn u8(&mut self, v: u8) -> Option<()> {
        self.bytes(&[v])
    }
    fn str(&mut self, s: &str) -> Option<()> {
        self.u8(u8::try_from(s.len()).ok()?)?;
        self.bytes(s.as_bytes())
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let v = *self.buf.get(self.at).ok_or(DecodeError::TooShort)?;
        self.at += 1;
        Ok(v)
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadField),
        }
    }
    fn str<const N: usize>(&mut self) -> Result<String<N>, DecodeError> {
        let len = usize::from(self.u8()?);
        let bytes = self
            .buf
            .get(self.at..self.at + len)
            .ok_or(DecodeError::TooShort)?;
        self.at += len;
        let s = core::str::from_utf8(bytes).map_err(|_| DecodeError::BadField)?;
        String::try_from(s).map_err(|_| DecodeError::BadField)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> Config {
        Config {
            mqtt: MqttConfig {
                host: String::try_from("127.0.0.1").unwrap(),
                port: 1883,
                tls: false,
                username: String::try_from("DVES_USER").unwrap(),
                password: String::try_from("DVES_PASS").unwrap(),
                keepalive: 120,
                qos: Qos::ExactlyOnce,
                clean_session: true,
                client_id: String::new(),
            },
            wifi: WifiConfig {
                ssid: String::try_from("Fitpolo").unwrap(),
                password: String::try_from("fitpolo1234.").unwrap(),
                security: 3,
            },
        }
    }

    #[test]
    fn round_trip() {
        let c = sample();
        let mut buf = [0u8; ENCODED_MAX];
        let n = c.encode(&mut buf).unwrap();
        assert_eq!(Config::decode(&buf[..n]), Ok(c));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let c = sample();
        let mut buf = [0u8; ENCODED_MAX];
        let n = c.encode(&mut buf).unwrap();
        for cut in 0..n {
            assert!(Config::decode(&buf[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn another_layout_reads_as_an_error() {
        assert_eq!(Config::decode(&[9, 0, 0]), Err(DecodeError::BadLayout));
    }
}
