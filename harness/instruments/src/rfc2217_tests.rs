//! The RFC 2217 codec without a network: escaping both ways, the negotiation and its
//! replies, commands split across reads, and the stream over an in-memory pipe.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn decode_all(codec: &mut Codec, chunks: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
    let (mut data, mut replies) = (Vec::new(), Vec::new());
    for c in chunks {
        codec.decode(c, &mut data, &mut replies);
    }
    (data, replies)
}

fn codec() -> Codec {
    Codec::start(SerialSettings::n81(9600)).0
}

#[test]
fn the_opening_asks_for_binary_sga_and_com_port_and_sets_8n1() {
    let (_, out) = Codec::start(SerialSettings::n81(115_200));
    let mut expect = vec![IAC, WILL, BINARY, IAC, WILL, SGA, IAC, WILL, COM_PORT_OPTION];
    expect.extend_from_slice(&[IAC, DO, BINARY, IAC, DO, SGA]);
    // 115200 = 0x0001C200, big-endian.
    expect.extend_from_slice(&[IAC, SB, 44, 1, 0x00, 0x01, 0xC2, 0x00, IAC, SE]);
    expect.extend_from_slice(&[IAC, SB, 44, 2, 8, IAC, SE]);
    expect.extend_from_slice(&[IAC, SB, 44, 3, 1, IAC, SE]);
    expect.extend_from_slice(&[IAC, SB, 44, 4, 1, IAC, SE]);
    expect.extend_from_slice(&[IAC, SB, 44, 5, 1, IAC, SE]);
    assert_eq!(out, expect);
}

#[test]
fn an_ff_in_a_subnegotiation_value_is_doubled() {
    // 0x00FF00FF baud: both 0xFF bytes doubled inside SB.
    let (_, out) = Codec::start(SerialSettings::n81(0x00FF_00FF));
    let at = out
        .windows(4)
        .position(|w| w == [IAC, SB, 44, 1])
        .expect("SET-BAUDRATE");
    assert_eq!(
        &out[at + 4..at + 12],
        &[0x00, 0xFF, 0xFF, 0x00, 0xFF, 0xFF, IAC, SE]
    );
}

#[test]
fn data_is_escaped_on_the_way_out() {
    assert_eq!(
        escape(&[1, 0xFF, 2, 0xFF, 0xFF]),
        vec![1, 0xFF, 0xFF, 2, 0xFF, 0xFF, 0xFF, 0xFF]
    );
    assert_eq!(escape(b"plain"), b"plain".to_vec());
}

#[test]
fn doubled_iac_is_one_data_byte_and_commands_are_stripped() {
    let mut c = codec();
    let input = [
        b'a', IAC, IAC, b'b', IAC, 241, /* NOP */
        b'c', IAC, SB, 44, 106, 0x60, IAC, SE, b'd',
    ];
    let (data, replies) = decode_all(&mut c, &[&input]);
    assert_eq!(data, vec![b'a', 0xFF, b'b', b'c', b'd']);
    assert!(replies.is_empty(), "{replies:?}");
    // A line-state notification proves the server speaks RFC 2217.
    assert_eq!(c.com_port, ComPort::Accepted);
}

#[test]
fn acknowledgements_get_no_reply_and_unwanted_options_are_refused_once() {
    let mut c = codec();
    #[rustfmt::skip]
    let input = [
        IAC, WILL, BINARY, IAC, DO, BINARY, IAC, DO, COM_PORT_OPTION, // acks of ours
        IAC, WILL, 1, IAC, WILL, 1, // ECHO, twice
        IAC, DO, 24, // terminal type
        IAC, WILL, COM_PORT_OPTION, // the server offering to be a COM-port client
    ];
    let (data, replies) = decode_all(&mut c, &[&input]);
    assert!(data.is_empty());
    assert_eq!(
        replies,
        vec![IAC, DONT, 1, IAC, WONT, 24, IAC, DONT, COM_PORT_OPTION]
    );
    assert_eq!(c.com_port, ComPort::Accepted);
}

#[test]
fn a_server_that_refuses_com_port_is_told_apart() {
    let mut c = codec();
    // ser2net answers WONT to a DO COM-PORT: that is about its side, not a refusal.
    let (_, replies) = decode_all(&mut c, &[&[IAC, WONT, COM_PORT_OPTION]]);
    assert_eq!(c.com_port, ComPort::Unanswered);
    assert!(replies.is_empty(), "{replies:?}");
    let (_, replies) = decode_all(&mut c, &[&[IAC, DONT, COM_PORT_OPTION]]);
    assert_eq!(c.com_port, ComPort::Refused);
    assert_eq!(replies, vec![IAC, WONT, COM_PORT_OPTION]);
    // A second DONT is not acknowledged again.
    let (_, replies) = decode_all(&mut c, &[&[IAC, DONT, COM_PORT_OPTION]]);
    assert!(replies.is_empty());
}

#[test]
fn the_servers_baud_answer_is_read_with_escaped_bytes() {
    let mut c = codec();
    let input = [IAC, SB, 44, 101, 0x00, 0xFF, 0xFF, 0x00, 0x10, IAC, SE, b'x'];
    let (data, _) = decode_all(&mut c, &[&input]);
    assert_eq!(c.server_baud, Some(0x00FF_0010));
    assert_eq!(data, vec![b'x']);
}

#[test]
fn every_split_of_the_input_decodes_the_same() {
    let input: Vec<u8> = [
        &[b'A', IAC, IAC][..],
        &[IAC, WILL, 1],
        &[IAC, SB, 44, 101, 0, 0, 0x25, 0x80, IAC, SE],
        &[b'B', IAC, 241, IAC, IAC, b'C'],
        &[IAC, DO, COM_PORT_OPTION, b'D'],
    ]
    .concat();
    let whole = {
        let mut c = codec();
        let r = decode_all(&mut c, &[&input]);
        (r, c.server_baud, c.com_port)
    };
    assert_eq!(whole.0 .0, vec![b'A', 0xFF, b'B', 0xFF, b'C', b'D']);
    assert_eq!(whole.1, Some(9600));
    for a in 0..input.len() {
        for b in a..input.len() {
            let mut c = codec();
            let r = decode_all(&mut c, &[&input[..a], &input[a..b], &input[b..]]);
            assert_eq!((r, c.server_baud, c.com_port), whole, "split at {a} and {b}");
        }
    }
}

/// A fake ser2net on the other end of a pipe: it answers the negotiation, echoes data
/// (undoubling and re-doubling 0xFF), and sends a notification between data.
async fn fake_server(mut io: tokio::io::DuplexStream) {
    let mut c = Codec::start(SerialSettings::n81(9600)).0;
    io.write_all(&[IAC, DO, COM_PORT_OPTION, IAC, WILL, BINARY])
        .await
        .unwrap_or(());
    let mut buf = [0u8; 64];
    loop {
        let n = match io.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let (mut data, mut replies) = (Vec::new(), Vec::new());
        c.decode(&buf[..n], &mut data, &mut replies);
        let mut back = vec![IAC, SB, 44, 107, 0x30, IAC, SE];
        back.extend(escape(&data));
        if io.write_all(&back).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn the_stream_negotiates_and_carries_ff_both_ways() {
    let (client, server) = tokio::io::duplex(16); // small buffers: partial reads and writes
    let srv = tokio::spawn(fake_server(server));
    let mut s = Rfc2217Stream::new(client, SerialSettings::n81(9600));
    let state = tokio::time::timeout(std::time::Duration::from_secs(5), s.negotiate())
        .await
        .expect("negotiation answered")
        .expect("negotiation");
    assert_eq!(state, ComPort::Accepted);
    let frame = [0x01, 0x04, 0xFF, 0x00, 0xFF, 0xFF, 0x0D, 0x0A];
    s.write_all(&frame).await.expect("write");
    s.flush().await.expect("flush");
    let mut got = vec![0u8; frame.len()];
    tokio::time::timeout(std::time::Duration::from_secs(5), s.read_exact(&mut got))
        .await
        .expect("echo within 5 s")
        .expect("read");
    assert_eq!(got, frame);
    drop(s);
    srv.await.expect("server task");
}
