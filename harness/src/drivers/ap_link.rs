//! The AP link: the phone's side of the provisioning socket. On the simulated rig the
//! plug's AP is a loopback port; on a bench it is 192.168.4.1:8266 after joining the
//! plug's access point (the bench issue's ApLink drivers).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use oracle::ap::{Reply, REPLY_MAX};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::drivers::timeline::{Event, Timeline};

/// How the timeline notes a reply that breaks `ap-reply-bytes` (its scenario fails on it).
pub const REPLY_BYTES_BROKEN: &str = "ap-reply-bytes broken";

pub struct ApLink {
    stream: TcpStream,
    timeline: Arc<Timeline>,
    /// Bytes read after a complete reply: the start of the next one (a plug may answer two
    /// requests in one write, or the reader get two replies in one read).
    unread: Vec<u8>,
}

/// The plug closed or reset the AP connection before a complete reply. While its access
/// point is coming up this is what a phone app sees, and retries; for bad input it may be
/// the plug's legitimate answer (PROTOCOL-NOTES: oversized input gets "a code-1 reply, or
/// none").
#[derive(Debug)]
pub struct ConnectionLost {
    /// What arrived before the connection went.
    pub got: String,
    pub why: String,
}

impl std::fmt::Display for ConnectionLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the plug {} the AP connection; got {:?}", self.why, self.got)
    }
}

impl std::error::Error for ConnectionLost {}

fn lost(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
    )
}

impl ApLink {
    /// Connects, retrying while the plug's AP is still coming up after boot.
    pub async fn connect(addr: SocketAddr, timeline: Arc<Timeline>) -> anyhow::Result<ApLink> {
        Self::connect_within(addr, timeline, Duration::from_secs(10)).await
    }

    /// Connects, retrying for at most `within`.
    pub async fn connect_within(
        addr: SocketAddr,
        timeline: Arc<Timeline>,
        within: Duration,
    ) -> anyhow::Result<ApLink> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    stream.set_nodelay(true)?;
                    return Ok(ApLink {
                        stream,
                        timeline,
                        unread: Vec::new(),
                    });
                }
                Ok(Err(e)) if tokio::time::Instant::now() < deadline => {
                    // A plug process that is gone will not come up: say so now.
                    if let Some(why) = timeline.plug_exit() {
                        return Err(e).with_context(|| {
                            format!("connecting to the plug's AP socket {addr}: the plug exited ({why})")
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Ok(Err(e)) => {
                    return Err(e).with_context(|| format!("connecting to the plug's AP socket {addr}"))
                }
                Err(_) => bail!("the plug's AP socket {addr} did not accept within {within:?}"),
            }
        }
    }

    /// Sends `bytes` in one write.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.timeline
            .push(Event::ApSent(String::from_utf8_lossy(bytes).into_owned()));
        match self.stream.write_all(bytes).await {
            Err(e) if lost(&e) => Err(ConnectionLost {
                got: String::new(),
                why: format!("reset ({e}) while we wrote to"),
            }
            .into()),
            r => Ok(r?),
        }
    }

    /// Connects and makes one request, retrying within `within` while the plug resets or
    /// closes the connection before answering, as a phone app does while the plug's access
    /// point is still coming up. Only the connection is retried: any reply is returned.
    pub async fn request_fresh(
        addr: SocketAddr,
        v: &Value,
        timeline: Arc<Timeline>,
        within: Duration,
    ) -> anyhow::Result<(ApLink, Reply)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let mut link = ApLink::connect_within(addr, timeline.clone(), left).await?;
            match link.request(v).await {
                Ok(r) => return Ok((link, r)),
                Err(e) if e.is::<ConnectionLost>() && tokio::time::Instant::now() < deadline => {
                    timeline.push(Event::Note(format!("{e}: connecting again")));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends one compact JSON object, as the app does, and reads the reply.
    pub async fn request(&mut self, v: &Value) -> anyhow::Result<Reply> {
        self.send_raw(v.to_string().as_bytes()).await?;
        self.read_reply(Duration::from_secs(5)).await
    }

    /// Reads one reply object: the end is found by parsing [profile], a trailing newline
    /// or NUL is tolerated. A reply that breaks `ap-reply-bytes` (a NUL byte, over
    /// REPLY_MAX bytes) is noted on the timeline ([`REPLY_BYTES_BROKEN`]), not refused.
    pub async fn read_reply(&mut self, within: Duration) -> anyhow::Result<Reply> {
        let deadline = tokio::time::Instant::now() + within;
        // A second reply that came in the same read as the last one goes first.
        let mut buf = std::mem::take(&mut self.unread);
        let mut chunk = [0u8; 1024];
        let gap = |b: &u8| b.is_ascii_whitespace() || *b == 0;
        loop {
            let start = buf.iter().position(|b| !gap(b)).unwrap_or(buf.len());
            if start < buf.len() {
                let mut it = serde_json::Deserializer::from_slice(&buf[start..]).into_iter::<Value>();
                match it.next() {
                    Some(Ok(_)) => {
                        let end = start + it.byte_offset();
                        // The reply with what frames it: the gap before it and a trailing
                        // newline or NUL after it. The rest is the next reply's.
                        let framed_end = end + buf[end..].iter().take_while(|b| gap(b)).count();
                        let framed = &buf[..framed_end];
                        // The reply's bytes are a rule of their own (`ap-reply-bytes`),
                        // judged by its scenario from these notes: the transport only looks,
                        // so a plug that breaks it still gets judged on everything else.
                        if framed.contains(&0) {
                            self.timeline.push(Event::Note(format!(
                                "{REPLY_BYTES_BROKEN}: the reply contains a NUL byte, where the Android app stops reading: {:?}",
                                String::from_utf8_lossy(framed)
                            )));
                        }
                        if end - start > REPLY_MAX {
                            self.timeline.push(Event::Note(format!(
                                "{REPLY_BYTES_BROKEN}: the reply is {} bytes; the app reads at most {REPLY_MAX}",
                                end - start
                            )));
                        }
                        let text = String::from_utf8_lossy(&buf[start..end]).into_owned();
                        self.unread = buf[framed_end..].to_vec();
                        self.timeline.push(Event::ApReceived(text.clone()));
                        return Reply::parse(&text);
                    }
                    Some(Err(e)) if !e.is_eof() => {
                        bail!(
                            "the reply is not JSON ({e}): {:?}",
                            String::from_utf8_lossy(&buf[start..])
                        )
                    }
                    _ => {}
                }
            }
            let n = match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => bail!(
                    "no complete reply within {within:?}; got {:?}",
                    String::from_utf8_lossy(&buf)
                ),
                Ok(Err(e)) if lost(&e) => {
                    self.timeline.push(Event::ApClosed);
                    return Err(ConnectionLost {
                        got: String::from_utf8_lossy(&buf).into_owned(),
                        why: format!("reset ({e})"),
                    }
                    .into());
                }
                Ok(Err(e)) => bail!("reading the reply: {e}"),
                Ok(Ok(0)) => {
                    self.timeline.push(Event::ApClosed);
                    return Err(ConnectionLost {
                        got: String::from_utf8_lossy(&buf).into_owned(),
                        why: "closed".into(),
                    }
                    .into());
                }
                Ok(Ok(n)) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two replies in one write (a plug answering a request that held two objects, found by
    /// `plugrig fuzz`): each read_reply returns one, the second from what the first read
    /// left, and a NUL after a reply counts as that reply's.
    #[tokio::test]
    async fn two_replies_in_one_read_are_two_replies() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            s.write_all(b"{\"code\":5,\"message\":\"undefined data\",\"result\":{}}\0{\"code\":4,\"message\":\"not json\"}\n")
                .await
                .expect("write");
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
        let tl = Arc::new(Timeline::default());
        let mut link = ApLink::connect(addr, tl.clone()).await.expect("connect");
        let first = link
            .read_reply(Duration::from_secs(2))
            .await
            .expect("first reply");
        let second = link
            .read_reply(Duration::from_secs(2))
            .await
            .expect("second reply");
        assert_eq!((first.code, second.code), (5, 4));
        let notes: Vec<String> = tl
            .snapshot()
            .iter()
            .filter_map(|e| match &e.event {
                Event::Note(n) if n.starts_with(REPLY_BYTES_BROKEN) => Some(n.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(notes.len(), 1, "the first reply's NUL: {notes:?}");
        server.await.expect("server");
    }
}
