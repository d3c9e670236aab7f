//! Power metering (spec 3.2.6; PROTOCOL-NOTES "electricity_information"): integer fields in
//! 0.1 V, mA and W, judged against a reference meter's reading, or by physics when the rig
//! has none.

use std::time::Duration;

use crate::measure::{Limits, Measurements};
use crate::payloads::Electricity;

/// A reference meter's reading, in SI units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub volts: f64,
    pub amps: f64,
    pub watts: f64,
}

/// Catches wrong units without a reference meter, by physics: the voltage (0.1 V) inside
/// the rig's mains range, real power no more than apparent power (V x I) within the claimed
/// accuracy, current with power, and the power of a known load within the claim. Power in
/// 0.1 W breaks P <= V x I tenfold; voltage in volts falls far below any mains.
pub fn plausible(e: &Electricity, mains: (f64, f64), claim: f64, load: Option<f64>) -> Result<(), String> {
    let volts = e.voltage as f64 / 10.0;
    let amps = e.current as f64 / 1000.0;
    let watts = e.power as f64;
    if !(mains.0..=mains.1).contains(&volts) {
        return Err(format!(
            "voltage {} (0.1 V) is {volts:.1} V, outside the rig's mains range {:.0}-{:.0} V: is it in 0.1 V?",
            e.voltage, mains.0, mains.1
        ));
    }
    let apparent = volts * amps;
    // One unit of each field's resolution on top of the claim.
    let bound = apparent * (1.0 + claim / 100.0) + (mains.1 * 0.001) + 1.0;
    if watts > bound {
        return Err(format!(
            "power {watts} W exceeds voltage x current = {apparent:.1} VA (bound {bound:.1} W with the claimed {claim} %): is power in W and current in mA?"
        ));
    }
    if let Some(load) = load {
        let tol = load * claim / 100.0 + 1.0;
        if (watts - load).abs() > tol {
            return Err(format!(
                "power {watts} W, the rig's load is {load} W (tolerance {tol:.1} W from the claimed {claim} %)"
            ));
        }
    }
    Ok(())
}

/// Does the plug's sample agree with the reference within `percent` of reading plus one
/// unit of the protocol's resolution? Each field is recorded as `metering_<field>`: the
/// plug's reading against limits around the reference's.
pub fn agrees(
    e: &Electricity,
    m: &Reading,
    percent: f64,
    rec: &mut Measurements,
    at: Duration,
) -> Result<(), String> {
    let checks = [
        ("voltage", e.voltage as f64 / 10.0, m.volts, 0.1, "V"),
        ("current", e.current as f64 / 1000.0, m.amps, 0.001, "A"),
        ("power", e.power as f64, m.watts, 1.0, "W"),
    ];
    let mut bad = None;
    for (name, plug, reference, resolution, unit) in checks {
        let tol = reference.abs() * percent / 100.0 + resolution;
        let pass = rec.record(
            &format!("metering_{name}"),
            unit,
            Limits::within(reference, tol),
            plug,
            at,
        );
        if !pass && bad.is_none() {
            bad = Some(format!(
                "{name}: plug {plug:.3} {unit}, reference {reference:.3} {unit}, tolerance {tol:.3} {unit}"
            ));
        }
    }
    bad.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: Reading = Reading {
        volts: 230.0,
        amps: 0.4348,
        watts: 100.0,
    };

    #[test]
    fn a_sample_within_tolerance_agrees() {
        let e = Electricity {
            voltage: 2309,
            current: 436,
            power: 100,
        };
        assert_eq!(
            agrees(&e, &REF, 3.0, &mut Measurements::default(), Duration::ZERO),
            Ok(())
        );
    }

    #[test]
    fn wrong_units_are_implausible_without_a_reference() {
        let mains = (90.0, 264.0);
        let good = Electricity {
            voltage: 2300,
            current: 261,
            power: 60,
        };
        assert_eq!(plausible(&good, mains, 2.0, Some(60.0)), Ok(()));
        assert_eq!(plausible(&good, mains, 2.0, None), Ok(()));
        let deciwatts = Electricity { power: 600, ..good };
        assert!(plausible(&deciwatts, mains, 2.0, None)
            .unwrap_err()
            .starts_with("power"));
        let volts = Electricity { voltage: 230, ..good };
        assert!(plausible(&volts, mains, 2.0, None)
            .unwrap_err()
            .starts_with("voltage"));
        let wrong_load = Electricity { power: 50, ..good };
        assert!(plausible(&wrong_load, mains, 2.0, Some(60.0)).is_err());
    }

    #[test]
    fn a_wrong_unit_is_caught() {
        // Power in 0.1 W instead of W.
        let e = Electricity {
            voltage: 2300,
            current: 435,
            power: 1000,
        };
        let mut rec = Measurements::default();
        assert!(agrees(&e, &REF, 3.0, &mut rec, Duration::ZERO)
            .unwrap_err()
            .starts_with("power"));
        assert_eq!(rec.all().len(), 3, "every field recorded");
        assert!(!rec.all()[2].pass);
        // Voltage in V instead of 0.1 V.
        let e = Electricity {
            voltage: 230,
            current: 435,
            power: 100,
        };
        assert!(
            agrees(&e, &REF, 3.0, &mut Measurements::default(), Duration::ZERO)
                .unwrap_err()
                .starts_with("voltage")
        );
    }
}
