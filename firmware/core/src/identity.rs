//! Who the plug is: the values of the 4001 reply, the topic prefix and `firmware_infor`.

use core::fmt::Write;
use heapless::String;

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
    /// The file the plug fetches from the upgrade catalogue.
    pub ota_image: String<48>,
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
        ota_image: String::try_from("plug.bin").unwrap(),
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
}
