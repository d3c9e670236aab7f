//! The AP socket as the spec and the vendor apps define it: requests 4001/4002/4003, the
//! reply envelope and the codes 0-6 (spec sections 1-2, PROTOCOL-NOTES "AP socket").

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

pub const DEVICE_INFO: i64 = 4001;
pub const MQTT_SERVER: i64 = 4002;
pub const WIFI: i64 = 4003;

/// Largest reply the vendor app reads in one go [app].
pub const REPLY_MAX: usize = 1024;

/// The spec's error table (section 1).
pub fn code_meaning(code: i64) -> &'static str {
    match code {
        0 => "success",
        1 => "length does not meet the requirements",
        2 => "data type does not meet the requirements",
        3 => "order of MQTT and WiFi configuration is wrong",
        4 => "not JSON",
        5 => "JSON not defined by the document",
        6 => "value out of range",
        _ => "not a code of the spec",
    }
}

/// What the app sends in 4002.
#[derive(Debug, Clone)]
pub struct MqttServer {
    pub host: String,
    pub port: u16,
    pub connect_mode: u8,
    pub username: String,
    pub password: String,
    pub keepalive: u16,
    pub qos: u8,
    pub clean_session: u8,
    /// Sent by both vendor apps [app]; None leaves it out.
    pub client_id: Option<String>,
}

pub fn device_info() -> Value {
    json!({ "header": DEVICE_INFO })
}

pub fn mqtt_server(m: &MqttServer) -> Value {
    let mut v = json!({
        "header": MQTT_SERVER,
        "host": m.host,
        "port": m.port,
        "connect_mode": m.connect_mode,
        "username": m.username,
        "password": m.password,
        "keepalive": m.keepalive,
        "qos": m.qos,
        "clean_session": m.clean_session,
    });
    if let (Some(id), Some(o)) = (&m.client_id, v.as_object_mut()) {
        o.insert("clientId".into(), Value::String(id.clone()));
    }
    v
}

pub fn wifi(ssid: &str, pwd: &str, security: u8) -> Value {
    json!({ "header": WIFI, "wifi_ssid": ssid, "wifi_pwd": pwd, "wifi_security": security })
}

/// A parsed reply: `{"code":N,"message":"...","result":{"header":H,...}}` [spec]. With no
/// parsed header (input that is not JSON, or has no header) a reply may omit `result`, or
/// carry one without `header`: both are conformant (PROTOCOL-NOTES "AP socket").
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: i64,
    pub message: String,
    pub header: Option<i64>,
    /// Empty when the reply has no `result`.
    pub result: Map<String, Value>,
    pub raw: String,
}

impl Reply {
    pub fn parse(raw: &str) -> anyhow::Result<Reply> {
        let v: Value = serde_json::from_str(raw).with_context(|| format!("reply is not JSON: {raw:?}"))?;
        let o = v
            .as_object()
            .with_context(|| format!("reply is not an object: {raw}"))?;
        let code = o
            .get("code")
            .and_then(Value::as_i64)
            .with_context(|| format!("reply has no numeric code: {raw}"))?;
        let message = o
            .get("message")
            .and_then(Value::as_str)
            .with_context(|| format!("reply has no message string: {raw}"))?
            .to_string();
        let result = match o.get("result") {
            None => Map::new(),
            Some(Value::Object(r)) => r.clone(),
            Some(other) => bail!("reply's result is not an object ({other}): {raw}"),
        };
        let header = result.get("header").and_then(Value::as_i64);
        Ok(Reply {
            code,
            message,
            header,
            result,
            raw: raw.to_string(),
        })
    }

    pub fn field(&self, k: &str) -> Option<&str> {
        self.result.get(k).and_then(Value::as_str)
    }

    /// The 4001 identity, every field a string [spec 2.1].
    pub fn identity(&self) -> anyhow::Result<super::Identity> {
        if self.code != 0 || self.header != Some(DEVICE_INFO) {
            bail!("not a successful 4001 reply: {}", self.raw);
        }
        let get = |k: &str| {
            self.field(k)
                .map(str::to_string)
                .with_context(|| format!("4001 reply lacks string {k}: {}", self.raw))
        };
        let id = super::Identity {
            function: get("device_function")?,
            name: get("device_name")?,
            specifications: get("device_specifications")?,
            mac: get("device_mac")?,
            device_type: get("device_type")?,
        };
        if id.device_type != "0" && id.device_type != "1" {
            bail!("device_type must be \"0\" or \"1\", got {:?}", id.device_type);
        }
        for (k, v) in [
            ("device_function", &id.function),
            ("device_name", &id.name),
            ("device_specifications", &id.specifications),
            ("device_mac", &id.mac),
        ] {
            if v.is_empty() || v.contains('/') || v.contains('+') || v.contains('#') {
                bail!("{k} {v:?} cannot be a topic segment");
            }
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example() {
        let r = Reply::parse(r#"{"code":0,"message":"success","result":{"header":4001,"device_function":"iot_plug","device_name":"plug_one","device_specifications":"us","device_mac":"11:22:33:44:55:66","device_type":"1"}}"#).unwrap();
        let id = r.identity().unwrap();
        assert_eq!(
            id.device_topic("switch_state"),
            "iot_plug/plug_one/us/11:22:33:44:55:66/device/switch_state"
        );
        assert!(id.measures_power());
    }

    #[test]
    fn an_error_reply_may_omit_result_when_no_header_was_parsed() {
        let r = Reply::parse(r#"{"code":4,"message":"not json"}"#).unwrap();
        assert_eq!((r.code, r.header), (4, None));
        let r = Reply::parse(r#"{"code":5,"message":"undefined","result":{}}"#).unwrap();
        assert_eq!((r.code, r.header), (5, None));
        assert!(Reply::parse(r#"{"code":5,"message":"x","result":[1]}"#).is_err());
    }

    #[test]
    fn rejects_a_reply_without_the_envelope() {
        assert!(Reply::parse(r#"{"code":0}"#).is_err());
        assert!(Reply::parse("garbage").is_err());
        let r = Reply::parse(r#"{"code":0,"message":"success","result":{"header":4001,"device_function":"iot_plug","device_name":"a/b","device_specifications":"us","device_mac":"m","device_type":"1"}}"#).unwrap();
        assert!(r.identity().is_err());
    }

    #[test]
    fn client_id_is_optional() {
        let mut m = MqttServer {
            host: "h".into(),
            port: 1,
            connect_mode: 0,
            username: "u".into(),
            password: "p".into(),
            keepalive: 60,
            qos: 0,
            clean_session: 1,
            client_id: None,
        };
        assert!(mqtt_server(&m).get("clientId").is_none());
        m.client_id = Some("x".into());
        assert_eq!(mqtt_server(&m)["clientId"], "x");
    }
}
