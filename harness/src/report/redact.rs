//! Secrets kept out of what a run leaves behind. A bench's broker password and the WiFi
//! password the plug is given are the real network's: a CI artifact (the HTML, JUnit,
//! Cucumber JSON, verdict.txt, the ledger, the terminal log, the captures) must not carry
//! them. `plugrig run --keep-secrets` keeps them, for debugging on a private bench.
//!
//! Text is redacted by value, never by shape: a secret of 4 bytes or more wherever it
//! appears (also JSON-escaped); a shorter one only as the value of a `password` or
//! `wifi_pwd` key, where it cannot be mistaken for other text. A provisioning scenario's
//! deliberately wrong values (an empty password, 33 characters) are not the secrets and
//! stay visible: they are what the scenario sent. In a capture, the CONNECT packet's
//! password field is overwritten with `*` of the same length
//! (`drivers::tap::mask::mask_connect_password`),
//! so the MQTT packet stays well-formed and the synthetic segments' checksums, computed
//! afterwards, stay valid.

use std::borrow::Cow;
use std::io::Write;

use crate::drivers::timeline::Event;
use crate::scenario::record::ScenarioRecord;

/// What a redacted secret reads as.
pub const REDACTED: &str = "[redacted]";

/// The keys whose values are passwords in the protocol's JSON (4002, 4003).
const PASSWORD_KEYS: &[&str] = &["password", "wifi_pwd"];

/// Shorter secrets are redacted only as a password key's value.
const ANYWHERE_FROM: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// The given secrets (empty ones are ignored: nothing to hide).
    pub fn new(values: impl IntoIterator<Item = String>) -> Secrets {
        let mut values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        // The longest first, so that a secret containing another is replaced whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in &self.values {
            let escaped = serde_json::to_string(s).unwrap_or_default();
            let escaped = escaped.trim_matches('"');
            if s.len() >= ANYWHERE_FROM {
                for form in [s.as_str(), escaped] {
                    if out.contains(form) {
                        out = Cow::Owned(out.replace(form, REDACTED));
                    }
                }
            } else {
                for key in PASSWORD_KEYS {
                    // As serde_json writes it, and as it reads inside a JSON string.
                    for (k, v) in [
                        (format!("\"{key}\":\""), format!("{escaped}\"")),
                        (format!("\\\"{key}\\\":\\\""), format!("{escaped}\\\"")),
                    ] {
                        let secret = format!("{k}{v}");
                        if out.contains(&secret) {
                            let hidden = format!("{k}{REDACTED}{}", &v[escaped.len()..]);
                            out = Cow::Owned(out.replace(&secret, &hidden));
                        }
                    }
                }
            }
        }
        out
    }

    fn redact_in_place(&self, s: &mut String) {
        if let Cow::Owned(r) = self.redact(s) {
            *s = r;
        }
    }

    /// Redacts a scenario's record and its other attempts: step errors, timeline texts, and
    /// the CONNECT packet's password.
    pub fn redact_record(&self, r: &mut ScenarioRecord) {
        for st in &mut r.steps {
            if let Some(e) = &mut st.error {
                self.redact_in_place(e);
            }
        }
        if let Some(s) = &mut r.skip_reason {
            self.redact_in_place(s);
        }
        for e in &mut r.world.timeline {
            match &mut e.event {
                Event::ApSent(s)
                | Event::ApReceived(s)
                | Event::Console(s)
                | Event::PlugExited(s)
                | Event::Note(s) => self.redact_in_place(s),
                Event::AppReceived { payload, .. } | Event::AppSent { payload, .. } => {
                    self.redact_in_place(payload)
                }
                Event::Mqtt(_, rumqttc::Packet::Connect(c)) => {
                    if let Some(login) = &mut c.login {
                        login.password = "*".repeat(login.password.len());
                    }
                }
                _ => {}
            }
        }
        for a in &mut r.attempts.others {
            self.redact_record(a);
        }
    }
}

/// A writer that redacts whole lines before passing them on: for the terminal, where
/// cucumber prints a failed step's error with its timeline.
pub struct RedactingWriter<W: Write> {
    inner: W,
    secrets: Secrets,
    line: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    pub fn new(inner: W, secrets: Secrets) -> Self {
        RedactingWriter {
            inner,
            secrets,
            line: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let rest = self.line.split_off(upto);
        let text = String::from_utf8_lossy(&self.line);
        let text = self.secrets.redact(&text);
        self.inner.write_all(text.as_bytes())?;
        self.line = rest;
        Ok(())
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.secrets.is_empty() {
            return self.inner.write(buf);
        }
        self.line.extend_from_slice(buf);
        if let Some(i) = self.line.iter().rposition(|b| *b == b'\n') {
            self.emit(i + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Cucumber's progress lines may rewrite a line in place: what is held is written
        // only when its line ends, or now that a flush asks for it.
        if !self.line.is_empty() {
            let n = self.line.len();
            self.emit(n)?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_secret_goes_wherever_it_is_a_short_one_only_as_a_password() {
        let s = Secrets::new(["plugrig-secret".to_string(), "p".to_string()]);
        let text = r#"ap<- {"header":4002,"password":"plugrig-secret"} note: plugrig-secret; {"password":"p","topic":"plug/p"}"#;
        let r = s.redact(text);
        assert!(!r.contains("plugrig-secret"), "{r}");
        assert!(r.contains(r#""password":"[redacted]","topic":"plug/p""#), "{r}");
        // Inside a JSON string (cucumber's JSON holds the error texts escaped).
        let escaped = serde_json::to_string(text).expect("json");
        let r = s.redact(&escaped);
        assert!(
            !r.contains("plugrig-secret") && r.contains(r#"\"password\":\"[redacted]\""#),
            "{r}"
        );
    }

    #[test]
    fn what_a_scenario_sent_on_purpose_stays() {
        let s = Secrets::new(["plugrig-secret".to_string()]);
        let text = r#"{"header":4002,"password":""} {"password":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#;
        assert_eq!(s.redact(text), text);
        assert!(matches!(
            Secrets::new([String::new()]).redact("x"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_terminal_writer_redacts_whole_lines() {
        let mut w = RedactingWriter::new(Vec::new(), Secrets::new(["plugrig-secret".to_string()]));
        w.write_all(b"step failed: plugrig-se").expect("write");
        w.write_all(b"cret in the 4002\nnext").expect("write");
        w.flush().expect("flush");
        assert_eq!(
            String::from_utf8_lossy(&w.inner),
            "step failed: [redacted] in the 4002\nnext"
        );
    }
}
