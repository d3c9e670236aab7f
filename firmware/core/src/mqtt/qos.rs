//! MQTT's quality of service (3.1.1 section 4.3): the level the 4002 command provisions
//! (`qos`, 0-2), which the plug subscribes and publishes at, and which the configuration
//! stores as its number.

use mqttrs::QoS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos {
    /// 0: sent once, never acknowledged.
    AtMostOnce,
    /// 1: PUBLISH, PUBACK; may arrive twice.
    AtLeastOnce,
    /// 2: PUBLISH, PUBREC, PUBREL, PUBCOMP; arrives once.
    ExactlyOnce,
}

impl From<Qos> for u8 {
    /// The level's number, as 4002 and the stored configuration carry it.
    fn from(q: Qos) -> u8 {
        match q {
            Qos::AtMostOnce => 0,
            Qos::AtLeastOnce => 1,
            Qos::ExactlyOnce => 2,
        }
    }
}

impl TryFrom<u8> for Qos {
    /// The number, which names no level.
    type Error = u8;

    fn try_from(n: u8) -> Result<Qos, u8> {
        match n {
            0 => Ok(Qos::AtMostOnce),
            1 => Ok(Qos::AtLeastOnce),
            2 => Ok(Qos::ExactlyOnce),
            _ => Err(n),
        }
    }
}

impl From<Qos> for QoS {
    fn from(q: Qos) -> QoS {
        match q {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        }
    }
}

impl From<QoS> for Qos {
    fn from(q: QoS) -> Qos {
        match q {
            QoS::AtMostOnce => Qos::AtMostOnce,
            QoS::AtLeastOnce => Qos::AtLeastOnce,
            QoS::ExactlyOnce => Qos::ExactlyOnce,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_3_is_no_level() {
        for n in 0..=2u8 {
            let q = Qos::try_from(n).expect("a level");
            assert_eq!(u8::from(q), n);
            assert_eq!(QoS::from(q) as u8, n, "mqttrs numbers them alike");
            assert_eq!(Qos::from(QoS::from(q)), q);
        }
        assert_eq!(Qos::try_from(3), Err(3));
    }
}
