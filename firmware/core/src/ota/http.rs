//! The upgrade download on the wire, as both boards do it: one HTTP/1.0 GET, then the
//! response head, then the body until the server closes. The boards move the bytes; the
//! request and the head are read here, so the simulated plug and the device behave alike.

use core::fmt::Write;
use heapless::String;

/// `GET {path} HTTP/1.0` with Host and User-Agent. `path` is at most 160 bytes and `host`
/// 64 (the core's `OtaFetch`), so the request fits.
pub fn request(path: &str, host: &str, agent: &str) -> String<320> {
    let mut r = String::new();
    let _ = write!(
        r,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: {agent}\r\n\r\n"
    );
    r
}

/// Where the body starts: just after the head's blank line, once it has arrived.
pub fn body_start(received: &[u8]) -> Option<usize> {
    received.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The code of the `HTTP/1.x NNN reason` status line at the start of `head`.
pub fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\r').next()?;
    let text = core::str::from_utf8(line).ok()?;
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_path_and_host() {
        assert_eq!(
            request("/fw/plug.bin", "updates.local", "plug-sim").as_str(),
            "GET /fw/plug.bin HTTP/1.0\r\nHost: updates.local\r\nUser-Agent: plug-sim\r\n\r\n"
        );
    }

    #[test]
    fn the_head_ends_at_its_blank_line_and_carries_the_status() {
        let r = b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\nbody";
        assert_eq!(body_start(r), Some(r.len() - 4));
        assert_eq!(body_start(&r[..20]), None);
        assert_eq!(status_code(r), Some(404));
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n\r\n"), Some(200));
        assert_eq!(status_code(b"garbage\r\n\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.0 abc\r\n\r\n"), None);
    }
}
