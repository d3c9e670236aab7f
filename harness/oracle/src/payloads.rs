//! What each device topic must carry (spec 3.2, PROTOCOL-NOTES "Published by the plug").
//! Each parser names the rule a payload breaks.

use anyhow::{bail, Context};
use serde_json::{Map, Value};

fn object(payload: &str, topic: &str) -> anyhow::Result<Map<String, Value>> {
    let v: Value =
        serde_json::from_str(payload).with_context(|| format!("{topic} payload is not JSON: {payload:?}"))?;
    match v {
        Value::Object(o) => Ok(o),
        _ => bail!("{topic} payload is not a JSON object: {payload}"),
    }
}

fn int(o: &Map<String, Value>, k: &str, topic: &str) -> anyhow::Result<i64> {
    match o.get(k) {
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64().unwrap_or_default()),
        other => bail!("{topic}.{k} must be a JSON integer, got {other:?}"),
    }
}

fn string<'a>(o: &'a Map<String, Value>, k: &str, topic: &str) -> anyhow::Result<&'a str> {
    o.get(k)
        .and_then(Value::as_str)
        .with_context(|| format!("{topic}.{k} must be a string, got {:?}", o.get(k)))
}

fn onoff(s: &str, topic: &str) -> anyhow::Result<bool> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        other => bail!("{topic}.switch_state must be \"on\" or \"off\", got {other:?}"),
    }
}

/// `{"switch_state":"on"|"off"}` [spec 3.2.1].
pub fn switch_state(payload: &str) -> anyhow::Result<bool> {
    let o = object(payload, "switch_state")?;
    onoff(string(&o, "switch_state", "switch_state")?, "switch_state")
}

/// `delete_device`: a JSON object [spec 3.2.5; its content `{}` is this project's profile].
pub fn delete_device(payload: &str) -> anyhow::Result<()> {
    object(payload, "delete_device").map(drop)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareInfor {
    pub company_name: String,
    pub production_date: String,
    pub product_model: String,
    pub firmware_version: String,
    pub device_mac: String,
}

/// Five string fields [spec 3.2.2].
pub fn firmware_infor(payload: &str) -> anyhow::Result<FirmwareInfor> {
    let o = object(payload, "firmware_infor")?;
    let s = |k| string(&o, k, "firmware_infor").map(str::to_string);
    Ok(FirmwareInfor {
        company_name: s("company_name")?,
        production_date: s("production_date")?,
        product_model: s("product_model")?,
        firmware_version: s("firmware_version")?,
        device_mac: s("device_mac")?,
    })
}

/// firmware_infor of the plug whose 4001 reply gave `mac`: the same MAC in any spelling
/// [app], and a firmware version.
pub fn firmware_infor_of(payload: &str, mac: &str) -> anyhow::Result<FirmwareInfor> {
    let f = firmware_infor(payload)?;
    anyhow::ensure!(
        crate::same_mac(&f.device_mac, mac),
        "firmware_infor.device_mac {:?}, the 4001 reply said {mac:?}",
        f.device_mac
    );
    anyhow::ensure!(
        !f.firmware_version.is_empty(),
        "firmware_infor.firmware_version is empty"
    );
    Ok(f)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayTime {
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    /// The state the relay takes at the end.
    pub target_on: bool,
}

impl DelayTime {
    pub fn total_seconds(&self) -> i64 {
        self.hour * 3600 + self.minute * 60 + self.second
    }
}

/// `{delay_hour 0-23, delay_minute 0-59, delay_second 0-59, switch_state}` [spec 3.2.3].
pub fn delay_time(payload: &str) -> anyhow::Result<DelayTime> {
    let o = object(payload, "delay_time")?;
    let t = "delay_time";
    let d = DelayTime {
        hour: int(&o, "delay_hour", t)?,
        minute: int(&o, "delay_minute", t)?,
        second: int(&o, "delay_second", t)?,
        target_on: onoff(string(&o, "switch_state", t)?, t)?,
    };
    if !(0..=23).contains(&d.hour) || !(0..=59).contains(&d.minute) || !(0..=59).contains(&d.second) {
        bail!("delay_time fields out of range: {payload}");
    }
    Ok(d)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Electricity {
    /// 0.1 V.
    pub voltage: i64,
    /// mA.
    pub current: i64,
    /// W.
    pub power: i64,
}

/// `{voltage, current, power}`, JSON integers [app], units 0.1 V, mA, W [spec 3.2.6].
pub fn electricity(payload: &str) -> anyhow::Result<Electricity> {
    let o = object(payload, "electricity_information")?;
    let t = "electricity_information";
    let e = Electricity {
        voltage: int(&o, "voltage", t)?,
        current: int(&o, "current", t)?,
        power: int(&o, "power", t)?,
    };
    if e.voltage < 0 || e.current < 0 || e.power < 0 {
        bail!("electricity_information values must not be negative: {payload}");
    }
    Ok(e)
}

/// `{"ota_result":"R1".."R4"}` [spec 3.2.4].
pub fn ota_result(payload: &str) -> anyhow::Result<String> {
    let o = object(payload, "ota_upgrade_state")?;
    let r = string(&o, "ota_result", "ota_upgrade_state")?;
    if !matches!(r, "R1" | "R2" | "R3" | "R4") {
        bail!("ota_result must be R1-R4, got {r:?}");
    }
    Ok(r.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples_parse() {
        assert!(switch_state(r#"{"switch_state":"on"}"#).unwrap());
        let d = delay_time(r#"{"delay_hour":3,"delay_minute":3,"delay_second":59,"switch_state":"off"}"#)
            .unwrap();
        assert_eq!((d.total_seconds(), d.target_on), (3 * 3600 + 3 * 60 + 59, false));
        assert_eq!(
            electricity(r#"{"voltage":2205,"current":200,"power":20}"#)
                .unwrap()
                .voltage,
            2205
        );
        assert_eq!(ota_result(r#"{"ota_result":"R1"}"#).unwrap(), "R1");
    }

    #[test]
    fn violations_name_the_rule() {
        let e = electricity(r#"{"voltage":220.5,"current":200,"power":20}"#).unwrap_err();
        assert!(e.to_string().contains("voltage must be a JSON integer"), "{e}");
        assert!(switch_state(r#"{"switch_state":"ON"}"#).is_err());
        assert!(
            delay_time(r#"{"delay_hour":24,"delay_minute":0,"delay_second":0,"switch_state":"on"}"#).is_err()
        );
        assert!(ota_result(r#"{"ota_result":"R5"}"#).is_err());
        assert!(firmware_infor(r#"{"company_name":"moko"}"#).is_err());
    }
}
