//! Text made safe for HTML and SVG: everything that comes from the device (payloads,
//! console lines, error texts) passes through here.

use std::fmt::Write;

/// Escapes text for HTML content and attribute values. Control characters (a payload may
/// carry NULs) are shown as `\xNN`.
pub fn escape(s: &str) -> String {
    escape_as(s, true)
}

/// As [`escape`], for element content only: quotes stay (JSON payloads are full of them).
pub fn escape_text(s: &str) -> String {
    escape_as(s, false)
}

fn escape_as(s: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            '\'' if quotes => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
