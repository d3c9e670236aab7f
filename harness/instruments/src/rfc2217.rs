//! RFC 2217 (telnet COM-port control) as a client, for serial ports a bench host serves
//! over the network: ser2net, as labgrid's exporters run it for `USBSerialPort` resources.
//!
//! Read first: RFC 854 (telnet: IAC commands, option negotiation), RFC 856 (BINARY), RFC
//! 858 (SGA) and RFC 2217 (COM-PORT-OPTION 44: SET-BAUDRATE, SET-DATASIZE, SET-PARITY,
//! SET-STOPSIZE, SET-CONTROL; the server answers with the command code + 100).
//!
//! `Codec` is sans-IO: bytes from the network in, serial data and telnet replies out; it
//! keeps its state across reads, so a command split between two TCP segments is decoded
//! the same as a whole one. `Rfc2217Stream` puts it on any byte stream as an
//! `AsyncRead + AsyncWrite`, so the Modbus, console and relay drivers read it as they read a
//! local serial port.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub const IAC: u8 = 255;
pub const DONT: u8 = 254;
pub const DO: u8 = 253;
pub const WONT: u8 = 252;
pub const WILL: u8 = 251;
pub const SB: u8 = 250;
pub const SE: u8 = 240;

pub const BINARY: u8 = 0;
pub const SGA: u8 = 3;
pub const COM_PORT_OPTION: u8 = 44;

pub const SET_BAUDRATE: u8 = 1;
pub const SET_DATASIZE: u8 = 2;
pub const SET_PARITY: u8 = 3;
pub const SET_STOPSIZE: u8 = 4;
pub const SET_CONTROL: u8 = 5;
/// A server's answer to a client command is the command's code plus this.
pub const SERVER_OFFSET: u8 = 100;

/// Options this client enables on its side (WILL): COM-PORT-OPTION is the client's to
/// offer, and the server's DO accepts it (RFC 2217, section 2).
const OURS: [u8; 3] = [BINARY, SGA, COM_PORT_OPTION];
/// Options this client asks the server to enable (DO); anything else it offers is refused.
const THEIRS: [u8; 2] = [BINARY, SGA];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    None,
    Odd,
    Even,
}

/// How the remote port is to be set up (the drivers all use 8N1 at some baud rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
}

impl SerialSettings {
    pub fn n81(baud: u32) -> SerialSettings {
        SerialSettings {
            baud,
            data_bits: 8,
            parity: Parity::None,
            stop_bits: 1,
        }
    }
}

/// What the server has said about COM-PORT-OPTION so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ComPort {
    #[default]
    Unanswered,
    Accepted,
    Refused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    /// After IAC WILL/WONT/DO/DONT: the option byte follows.
    Option(u8),
    Sub,
    SubIac,
}

/// The telnet side of an RFC 2217 connection, without I/O.
#[derive(Debug)]
pub struct Codec {
    state: State,
    sub: Vec<u8>,
    /// Options we asked the server to enable on its side (DO sent) / offered on ours (WILL
    /// sent): an answer to one of those is an acknowledgement and gets no reply, so the two
    /// ends never loop (RFC 1143's rule, in the small).
    sent_do: Vec<u8>,
    sent_will: Vec<u8>,
    refused: Vec<(u8, u8)>,
    pub com_port: ComPort,
    /// The baud rate the server reports having set (its SET-BAUDRATE answer).
    pub server_baud: Option<u32>,
}

fn push_escaped(out: &mut Vec<u8>, data: &[u8]) {
    for &b in data {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
}

/// Doubles every 0xFF of serial data, as telnet requires.
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 4);
    push_escaped(&mut out, data);
    out
}

fn subnegotiation(out: &mut Vec<u8>, command: u8, value: &[u8]) {
    out.extend_from_slice(&[IAC, SB, COM_PORT_OPTION, command]);
    push_escaped(out, value);
    out.extend_from_slice(&[IAC, SE]);
}

impl Codec {
    /// A codec and what the client sends first: the option requests and the port settings.
    pub fn start(settings: SerialSettings) -> (Codec, Vec<u8>) {
        let mut out = Vec::new();
        for opt in OURS {
            out.extend_from_slice(&[IAC, WILL, opt]);
        }
        for opt in THEIRS {
            out.extend_from_slice(&[IAC, DO, opt]);
        }
        subnegotiation(&mut out, SET_BAUDRATE, &settings.baud.to_be_bytes());
        subnegotiation(&mut out, SET_DATASIZE, &[settings.data_bits]);
        let parity = match settings.parity {
            Parity::None => 1,
            Parity::Odd => 2,
            Parity::Even => 3,
        };
        subnegotiation(&mut out, SET_PARITY, &[parity]);
        subnegotiation(&mut out, SET_STOPSIZE, &[settings.stop_bits]);
        // 1: no flow control (the instruments have no handshake lines wired).
        subnegotiation(&mut out, SET_CONTROL, &[1]);
        let codec = Codec {
            state: State::Data,
            sub: Vec::new(),
            sent_do: THEIRS.to_vec(),
            sent_will: OURS.to_vec(),
            refused: Vec::new(),
            com_port: ComPort::Unanswered,
            server_baud: None,
        };
        (codec, out)
    }

    /// Decodes bytes from the server: serial data is appended to `data`, replies the
    /// server must get to `replies`. Telnet commands never reach `data`.
    pub fn decode(&mut self, input: &[u8], data: &mut Vec<u8>, replies: &mut Vec<u8>) {
        for &b in input {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, _) => {
                    data.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    data.push(IAC);
                    State::Data
                }
                (State::Iac, WILL | WONT | DO | DONT) => State::Option(b),
                (State::Iac, SB) => {
                    self.sub.clear();
                    State::Sub
                }
                // NOP, data mark, break, GA and the rest carry nothing for a serial port.
                (State::Iac, _) => State::Data,
                (State::Option(verb), opt) => {
                    self.negotiate(verb, opt, replies);
                    State::Data
                }
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => {
                    self.sub.push(b);
                    State::Sub
                }
                (State::SubIac, IAC) => {
                    self.sub.push(IAC);
                    State::Sub
                }
                (State::SubIac, SE) => {
                    self.subnegotiated();
                    State::Data
                }
                // A malformed subnegotiation: drop it and read on as data.
                (State::SubIac, _) => State::Data,
            };
        }
    }

    fn negotiate(&mut self, verb: u8, opt: u8, replies: &mut Vec<u8>) {
        match verb {
            WILL if THEIRS.contains(&opt) => {
                // An acknowledgement of our DO gets no answer; an offer we want gets DO.
                if self.sent_do.contains(&opt) {
                    return;
                }
                self.sent_do.push(opt);
                replies.extend_from_slice(&[IAC, DO, opt]);
            }
            DO if OURS.contains(&opt) => {
                if opt == COM_PORT_OPTION {
                    self.com_port = ComPort::Accepted;
                }
                if self.sent_will.contains(&opt) {
                    return;
                }
                self.sent_will.push(opt);
                replies.extend_from_slice(&[IAC, WILL, opt]);
            }
            WILL | DO => {
                // Refuse once per option and verb (ECHO, terminal type, the server acting
                // as a COM-port client, ...).
                let answer = if verb == WILL { DONT } else { WONT };
                if !self.refused.contains(&(verb, opt)) {
                    self.refused.push((verb, opt));
                    replies.extend_from_slice(&[IAC, answer, opt]);
                }
            }
            WONT | DONT => {
                // Only a DONT refuses our COM-PORT-OPTION; a WONT is about the server's side.
                if verb == DONT && opt == COM_PORT_OPTION {
                    self.com_port = ComPort::Refused;
                }
                // Acknowledge a switch-off of something we had on, once.
                let (list, answer) = if verb == WONT {
                    (&mut self.sent_do, DONT)
                } else {
                    (&mut self.sent_will, WONT)
                };
                if let Some(i) = list.iter().position(|&o| o == opt) {
                    list.remove(i);
                    replies.extend_from_slice(&[IAC, answer, opt]);
                }
            }
            _ => {}
        }
    }

    fn subnegotiated(&mut self) {
        if self.sub.first() != Some(&COM_PORT_OPTION) {
            return;
        }
        if self.sub.get(1) == Some(&(SET_BAUDRATE + SERVER_OFFSET)) && self.sub.len() == 6 {
            let b = [self.sub[2], self.sub[3], self.sub[4], self.sub[5]];
            self.server_baud = Some(u32::from_be_bytes(b));
        }
        // Any COM-PORT answer (line or modem state notifications too) means the server
        // speaks RFC 2217, even if its WILL was lost in a race with ours.
        if self.com_port == ComPort::Unanswered {
            self.com_port = ComPort::Accepted;
        }
    }
}

/// An RFC 2217 connection as a byte stream of serial data.
pub struct Rfc2217Stream<S> {
    inner: S,
    codec: Codec,
    /// Decoded serial data not yet read.
    data: Vec<u8>,
    data_at: usize,
    /// Escaped data, negotiation and replies not yet written to the server.
    out: Vec<u8>,
    eof: bool,
}

/// Above this much unsent output, writes wait for the network instead of buffering more.
const OUT_LIMIT: usize = 16 * 1024;

impl<S: AsyncRead + AsyncWrite + Unpin> Rfc2217Stream<S> {
    /// Wraps a connected stream; the negotiation and the port settings go out with the
    /// first write or flush (or `negotiate`).
    pub fn new(inner: S, settings: SerialSettings) -> Rfc2217Stream<S> {
        let (codec, out) = Codec::start(settings);
        Rfc2217Stream {
            inner,
            codec,
            data: Vec::new(),
            data_at: 0,
            out,
            eof: false,
        }
    }

    /// Sends the negotiation and waits until the server has answered COM-PORT-OPTION;
    /// serial data that arrives meanwhile is kept for the reader. Reads while it writes, so
    /// a server that answers before reading everything cannot deadlock it.
    pub async fn negotiate(&mut self) -> io::Result<ComPort> {
        std::future::poll_fn(|cx| loop {
            let drained = match self.poll_drain(cx) {
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                p => p.is_ready(),
            };
            if self.codec.com_port != ComPort::Unanswered || self.eof {
                return if drained {
                    Poll::Ready(Ok(self.codec.com_port))
                } else {
                    Poll::Pending
                };
            }
            ready!(self.poll_fill(cx))?;
        })
        .await
    }

    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// Writes pending output; Ready(Ok) when all of it is out.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }

    /// Reads one chunk from the server and decodes it.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut raw = [0u8; 1024];
        let mut rb = ReadBuf::new(&mut raw);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut rb))?;
        if rb.filled().is_empty() {
            self.eof = true;
            return Poll::Ready(Ok(()));
        }
        if self.data_at == self.data.len() {
            self.data.clear();
            self.data_at = 0;
        }
        let mut replies = Vec::new();
        self.codec.decode(rb.filled(), &mut self.data, &mut replies);
        self.out.extend_from_slice(&replies);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Rfc2217Stream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            // Replies to the server's negotiation go out as soon as they are made; a full
            // socket only delays them (the waker is registered for the next poll).
            if !this.out.is_empty() {
                if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            if this.data_at < this.data.len() {
                let n = buf.remaining().min(this.data.len() - this.data_at);
                buf.put_slice(&this.data[this.data_at..this.data_at + n]);
                this.data_at += n;
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            // A chunk holding only telnet commands yields no data: read on.
            ready!(this.poll_fill(cx))?;
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Rfc2217Stream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() >= OUT_LIMIT {
            ready!(this.poll_drain(cx))?;
        }
        push_escaped(&mut this.out, buf);
        // Start sending now; what the socket does not take goes with the next write/flush.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "rfc2217_tests.rs"]
mod tests;
