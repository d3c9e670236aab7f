//! Who the plug is: the values of the 4001 reply, the topic prefix and `firmware_infor`.

use core::fmt::Write;
use heapless::String;

use crate::faults::{Fault, Faults};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `iot_plug`.
    pub function: String<16>,
    /// `plug_one`.
    pub name: String<32>,
    /// `us`, `eu`, `uk`, `cn`.
    pub specifications: String<8>,
    /// `11:22:33:44:55:66`, as the topics carry it.
    pub mac: String<17>,
    /// true: device_type "1", the plug measures power and publishes it.
    pub power_monitoring: bool,
    pub company: String<16>,
    pub production_date: String<8>,
    pub firmware_version: String<16>,
    /// Which images this build accepts (the OTA header's target).
    pub ota_target: String<16>,
    /// The name of the file the plug fetches from the upgrade catalogue (its format is
    /// `ota::image`'s).
    pub ota_file: String<48>,
    /// This build can reach the broker over TLS (4002 connect_mode 1). Without it a 4002
    /// asking for TLS is refused with code 6 (out of range for this plug), rather than
    /// accepted and then never connected.
    pub tls: bool,
}

impl Identity {
    /// `{function}/{name}/{specifications}/{mac}`.
    pub fn topic_prefix(&self) -> String<96> {
        let mut s = String::new();
        let _ = write!(
            s,
            "{}/{}/{}/{}",
            self.function, self.name, self.specifications, self.mac
        );
        s
    }

    /// `{prefix}/{side}/{field}`, side `device` or `app`.
    pub fn topic(&self, side: &str, field: &str) -> String<128> {
        let mut s = String::new();
        let _ = write!(s, "{}/{}/{}", self.topic_prefix(), side, field);
        s
    }

    /// At boot: the version an update installed, when the board found one, replaces the
    /// factory version. With the `ota-keeps-version` fault it does not, so after an
    /// upgrade the plug goes on reporting the version it had before.
    pub fn boot_version(&mut self, installed: Option<&str>, faults: Faults) {
        if faults.has(Fault::OtaKeepsVersion) {
            return;
        }
        if let Some(v) = installed.and_then(|v| String::try_from(v).ok()) {
            self.firmware_version = v;
        }
    }

    pub fn device_type(&self) -> &'static str {
        if self.power_monitoring {
            "1"
        } else {
            "0"
        }
    }
}

#[cfg(test)]
pub(crate) fn sample() -> Identity {
    Identity {
        function: String::try_from("iot_plug").unwrap(),
        name: String::try_from("plug_one").unwrap(),
        specifications: String::try_from("us").unwrap(),
        mac: String::try_from("11:22:33:44:55:66").unwrap(),
        power_monitoring: true,
        company: String::try_from("moko").unwrap(),
        production_date: String::try_from("201801").unwrap(),
        firmware_version: String::try_from("000001").unwrap(),
        ota_target: String::try_from("sim").unwrap(),
        ota_file: String::try_from("plug.bin").unwrap(),
        tls: false,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn topics_have_six_segments_with_the_mac_as_reported() {
        let id = super::sample();
        let t = id.topic("device", "switch_state");
        assert_eq!(
            t.as_str(),
            "iot_plug/plug_one/us/11:22:33:44:55:66/device/switch_state"
        );
        assert_eq!(t.split('/').count(), 6);
    }

    #[test]
    fn an_installed_version_replaces_the_factory_one() {
        use crate::faults::Faults;
        let mut id = super::sample();
        id.boot_version(None, Faults::NONE);
        assert_eq!(id.firmware_version.as_str(), "000001");
        id.boot_version(Some("v2.3.0"), Faults::NONE);
        assert_eq!(id.firmware_version.as_str(), "v2.3.0");
    }

    #[cfg(feature = "fault-injection")]
    #[test]
    fn ota_keeps_version_reports_the_old_one() {
        use crate::faults::{Fault, Faults};
        let mut id = super::sample();
        id.boot_version(Some("000002"), Faults::NONE.with(Fault::OtaKeepsVersion));
        assert_eq!(id.firmware_version.as_str(), "000001");
    }
}
