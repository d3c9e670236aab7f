//! The SDM120 driver against the virtual SDM120 on a pseudo-terminal: the bench code path.

use plugrig::instruments::sdm120::Sdm120;
use plugrig::instruments::virtual_sdm120::VirtualSdm120;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A stand-in for plug-sim's control channel that reports a fixed flow.
async fn fake_world() -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let (r, mut w) = s.into_split();
            let mut line = String::new();
            let _ = BufReader::new(r).read_line(&mut line).await;
            let _ = w
                .write_all(b"ok power=on relay=on load=60 volts=230.0 amps=0.2609 watts=60.00\n")
                .await;
        }
    });
    addr
}

#[tokio::test]
async fn the_driver_reads_the_virtual_meter() {
    let meter = VirtualSdm120::start(fake_world().await, 1).expect("virtual meter");
    let mut sdm = Sdm120::open(&meter.path, 9600, 1).expect("driver opens the pty");
    let m = sdm.measure().await.expect("measurement");
    assert!((m.volts - 230.0).abs() < 1e-3, "{m:?}");
    assert!((m.amps - 0.2609).abs() < 1e-4, "{m:?}");
    assert!((m.watts - 60.0).abs() < 1e-3, "{m:?}");
}

#[tokio::test]
async fn a_meter_at_another_address_does_not_answer() {
    let meter = VirtualSdm120::start(fake_world().await, 7).expect("virtual meter");
    let mut sdm = Sdm120::open(&meter.path, 9600, 1).expect("driver opens the pty");
    let e = sdm.measure().await.expect_err("no answer from address 1");
    assert!(e.to_string().contains("did not answer"), "{e:#}");
}

#[test]
fn a_missing_port_fails_fast_with_its_name() {
    let e = Sdm120::open("/dev/plugrig-no-such-port", 9600, 1)
        .err()
        .expect("no such port");
    assert!(format!("{e:#}").contains("/dev/plugrig-no-such-port"), "{e:#}");
}
