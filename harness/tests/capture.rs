//! The wire tap's packet capture, read back by tshark: a client connects through a real
//! `Tap` to a fake broker on loopback, and Wireshark's MQTT dissector must find the
//! CONNECT's client id and keepalive and the PUBLISH's topic in the pcapng file.
//!
//! Needs Debian's `tshark` (`apt-get install -y tshark`); without it this test fails.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use plugrig::drivers::tap::Tap;
use plugrig::drivers::timeline::{Event, Timeline};
use rumqttc::{ConnAck, Connect, ConnectReturnCode, Packet, Publish, QoS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CLIENT_ID: &str = "plugrig-capture-test";
const TOPIC: &str = "plugrig/capture/test";

/// tshark's output, or a failure that says how to install it.
fn tshark(args: &[&str]) -> String {
    let out = match Command::new("tshark").args(args).output() {
        Ok(o) => o,
        Err(e) => panic!(
            "cannot run tshark ({e}): this test needs Debian's tshark \
             (apt-get install -y tshark)"
        ),
    };
    assert!(
        out.status.success(),
        "tshark {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tshark printed UTF-8")
}

/// Reads one MQTT packet.
async fn read_packet(s: &mut TcpStream, buf: &mut BytesMut) -> Packet {
    loop {
        match Packet::read(buf, 1 << 16) {
            Ok(p) => return p,
            Err(rumqttc::Error::InsufficientBytes(_)) => {}
            Err(e) => panic!("undecodable MQTT: {e:?}"),
        }
        let n = s.read_buf(buf).await.expect("read");
        assert!(n > 0, "connection closed before a whole packet");
    }
}

/// A broker that answers a CONNECT with a CONNACK and then only reads until the client
/// goes away.
async fn fake_broker(l: TcpListener) {
    let (mut s, _) = l.accept().await.expect("accept");
    let mut buf = BytesMut::new();
    match read_packet(&mut s, &mut buf).await {
        Packet::Connect(..) => {}
        p => panic!("expected CONNECT, got {p:?}"),
    }
    let mut out = BytesMut::new();
    ConnAck::new(ConnectReturnCode::Success, false)
        .write(&mut out)
        .unwrap();
    s.write_all(&out).await.expect("write CONNACK");
    let mut sink = [0u8; 1024];
    while s.read(&mut sink).await.unwrap_or(0) > 0 {}
}

/// The interfaces and packets after the section header, read back with pcap-file.
fn count_blocks(path: &Path) -> (usize, usize) {
    use pcap_file::pcapng::Block;
    let f = std::fs::File::open(path).unwrap();
    let mut r = pcap_file::pcapng::PcapNgReader::new(f).expect("a pcapng section header");
    let (mut interfaces, mut packets) = (0, 0);
    while let Some(b) = r.next_block() {
        match b.expect("a valid block") {
            Block::InterfaceDescription(i) => {
                assert_eq!(i.linktype, pcap_file::DataLink::RAW);
                interfaces += 1;
            }
            Block::EnhancedPacket(_) => packets += 1,
            other => panic!("unexpected block {other:?}"),
        }
    }
    (interfaces, packets)
}

#[tokio::test]
async fn tshark_decodes_mqtt_in_the_taps_capture() {
    // Fail first, and clearly, when tshark is missing.
    tshark(&["--version"]);

    let broker = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broker_addr = broker.local_addr().unwrap();
    let broker_task = tokio::spawn(fake_broker(broker));
    let timeline = Arc::new(Timeline::default());
    let tap = Tap::start("127.0.0.1:0", broker_addr, timeline.clone())
        .await
        .unwrap();

    let mut client = TcpStream::connect(tap.addr).await.unwrap();
    let mut connect = Connect::new(CLIENT_ID);
    connect.keep_alive = 77;
    connect.set_login("plug", "secret");
    let mut publish = Publish::new(TOPIC, QoS::AtLeastOnce, b"{\"switch\":true}".to_vec());
    publish.pkid = 1;
    let mut out = BytesMut::new();
    connect.write(&mut out).unwrap();
    client.write_all(&out).await.unwrap();
    let mut buf = BytesMut::new();
    match read_packet(&mut client, &mut buf).await {
        Packet::ConnAck(..) => {}
        p => panic!("expected CONNACK, got {p:?}"),
    }
    out.clear();
    publish.write(&mut out).unwrap();
    client.write_all(&out).await.unwrap();
    client.shutdown().await.unwrap();
    drop(client);
    timeline
        .wait_for(
            plugrig::drivers::timeline::Mark::START,
            Duration::from_secs(10),
            "the tap's connection to close",
            |e| matches!(e.event, Event::TapConnection { open: false }).then_some(()),
        )
        .await
        .unwrap();
    broker_task.await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("captures").join("capture-test.pcapng");
    tap.capture().write_pcapng(&file).unwrap();
    let path = file.to_str().unwrap();

    let (interfaces, packets) = count_blocks(&file);
    assert_eq!(interfaces, 1);
    assert_eq!(packets, tap.capture().packets());
    // Handshake (3), CONNECT, CONNACK, PUBLISH, then FIN, FIN, ACK: at least 9.
    assert!(packets >= 9, "{packets} packets");

    let rows = tshark(&[
        "-r",
        path,
        "-Y",
        "mqtt",
        "-T",
        "fields",
        "-e",
        "mqtt.msgtype",
        "-e",
        "mqtt.clientid",
        "-e",
        "mqtt.kalive",
        "-e",
        "mqtt.topic",
    ]);
    println!("tshark MQTT fields:\n{rows}");
    // The password is masked to its length; the username stays.
    let login = tshark(&[
        "-r",
        path,
        "-Y",
        "mqtt.msgtype == 1",
        "-T",
        "fields",
        "-e",
        "mqtt.username",
        "-e",
        "mqtt.passwd",
    ]);
    assert_eq!(
        login.trim_end(),
        "plug\t******",
        "the CONNECT's login as tshark reads it"
    );
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.split('\t').collect()).collect();
    assert!(
        rows.contains(&vec!["1", CLIENT_ID, "77", ""]),
        "no CONNECT with client id {CLIENT_ID} and keepalive 77 in {rows:?}"
    );
    assert!(rows.contains(&vec!["2", "", "", ""]), "no CONNACK in {rows:?}");
    assert!(
        rows.contains(&vec!["3", "", "", TOPIC]),
        "no PUBLISH to {TOPIC} in {rows:?}"
    );

    // The framing is clean: checksums verified, no TCP analysis warnings (lost segments,
    // retransmissions, bad ACKs), a FIN from each side.
    let problems = tshark(&[
        "-r",
        path,
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-Y",
        "ip.checksum.status != 1 || tcp.checksum.status != 1 || tcp.analysis.flags",
    ]);
    assert_eq!(problems, "", "tshark found framing problems");
    let fins = tshark(&[
        "-r",
        path,
        "-Y",
        "tcp.flags.fin == 1",
        "-T",
        "fields",
        "-e",
        "tcp.srcport",
    ]);
    let mut fins: Vec<&str> = fins.lines().collect();
    fins.sort();
    assert_eq!(fins, ["1883", "40000"]);
}
