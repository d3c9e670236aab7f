//! The SDM120 driver against the virtual SDM120 on a pseudo-terminal: the bench code path.

use instruments::sdm120::Sdm120;
use instruments::virtual_sdm120::VirtualSdm120;
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

mod lcus {
    use std::time::Duration;

    use instruments::actuators::{ButtonActuator, PowerSwitch};
    use instruments::lcus_relay::LcusRelay;
    use instruments::virtual_lcus::VirtualLcus;
    use tokio::io::AsyncWriteExt;

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    #[tokio::test]
    async fn the_relay_driver_switches_the_virtual_board() {
        let board = VirtualLcus::start().expect("virtual board");
        let relay = LcusRelay::open(&board.path, 9600, 2, 1).expect("driver opens the pty");
        relay.set_power(true).await.expect("on");
        settle().await;
        assert_eq!(board.state(2), 1);
        relay.set_power(false).await.expect("off");
        settle().await;
        assert_eq!(board.state(2), 0);
        assert_eq!(board.state(1), 0, "other channels untouched");
    }

    #[tokio::test]
    async fn an_inverted_board_and_a_button_press() {
        let board = VirtualLcus::start().expect("virtual board");
        // On this board state 0 closes the contact.
        let relay = LcusRelay::open(&board.path, 9600, 1, 0).expect("driver opens the pty");
        relay.set(false).await.expect("open");
        settle().await;
        assert_eq!(board.state(1), 1);
        relay.press(Duration::from_millis(100)).await.expect("press");
        settle().await;
        assert_eq!(board.state(1), 1, "released after the press");
    }

    #[tokio::test]
    async fn a_bad_checksum_is_dropped_and_the_board_resyncs() {
        let board = VirtualLcus::start().expect("virtual board");
        let mut port =
            tokio_serial::SerialStream::open(&tokio_serial::new(&board.path, 9600)).expect("open the pty");
        port.write_all(&[0xA0, 0x01, 0x01, 0x00, 0xA0, 0x03, 0x01, 0xA4])
            .await
            .expect("write");
        settle().await;
        assert_eq!(board.state(1), 0, "the corrupt frame changed nothing");
        assert_eq!(board.state(3), 1, "the next good frame was read");
        assert!(*board.rejected.lock().expect("lock") >= 1);
    }

    #[test]
    fn a_missing_relay_port_fails_fast_with_its_name() {
        let e = LcusRelay::open("/dev/plugrig-no-relay", 9600, 1, 1)
            .err()
            .expect("no such port");
        assert!(format!("{e:#}").contains("/dev/plugrig-no-relay"), "{e:#}");
    }
}

mod external_relay {
    use std::sync::Arc;
    use std::time::Duration;

    use instruments::virtual_lcus::VirtualLcus;
    use plugrig::drivers::dut::external::ExternalPlug;
    use plugrig::drivers::timeline::Timeline;
    use plugrig::rig::external::ExternalDut;

    #[tokio::test]
    async fn an_external_rig_switches_power_and_presses_the_button_through_lcus_relays() {
        let power = VirtualLcus::start().expect("virtual board");
        let button = VirtualLcus::start().expect("virtual board");
        let text = format!(
            "ap = \"127.0.0.1:9\"\nbroker_host = \"127.0.0.1\"\n\
             power_relay = {{ port = \"{p}\", channel = 1 }}\n\
             button_relay = {{ port = \"{b}\", channel = 2, closed_state = 0 }}\n",
            p = power.path,
            b = button.path
        );
        let cfg: ExternalDut = toml::from_str(&text).expect("rig section parses");
        assert!(cfg.has_power_switch() && cfg.has_button());
        let plug = ExternalPlug::open(&cfg, Arc::new(Timeline::default()))
            .await
            .expect("relays open");
        plug.set_power(true).await.expect("power on");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(power.state(1), 1);
        plug.press(Duration::from_millis(50)).await.expect("press");
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Inverted board: released is state 1.
        assert_eq!(button.state(2), 1);
        plug.set_power(false).await.expect("power off");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(power.state(1), 0);
    }

    #[tokio::test]
    async fn power_and_button_can_be_two_channels_of_one_board() {
        let board = VirtualLcus::start().expect("virtual board");
        let text = format!(
            "ap = \"127.0.0.1:9\"\nbroker_host = \"127.0.0.1\"\n\
             power_relay = {{ port = \"{p}\", channel = 1 }}\n\
             button_relay = {{ port = \"{p}\", channel = 2 }}\n",
            p = board.path
        );
        let cfg: ExternalDut = toml::from_str(&text).expect("rig section parses");
        let plug = ExternalPlug::open(&cfg, Arc::new(Timeline::default()))
            .await
            .expect("both channels open the one port");
        plug.set_power(true).await.expect("power on");
        let press = plug.press(Duration::from_millis(200));
        let check = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            (board.state(1), board.state(2))
        };
        let (pressed, during) = tokio::join!(press, check);
        pressed.expect("press");
        assert_eq!(during, (1, 1), "power on and the button held, on one board");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!((board.state(1), board.state(2)), (1, 0));
    }
}

mod scpi {
    use std::sync::Arc;

    use instruments::scpi_analyzer::ScpiAnalyzer;
    use instruments::virtual_scpi::VirtualScpi;
    use instruments::MeterReading;

    #[tokio::test]
    async fn the_analyzer_driver_reads_the_virtual_analyzer() {
        let v = VirtualScpi::start(Arc::new(|| {
            Box::pin(async {
                Ok(MeterReading {
                    volts: 229.87,
                    amps: 0.4349,
                    watts: 99.96,
                })
            })
        }))
        .await
        .expect("virtual analyzer");
        let mut a = ScpiAnalyzer::connect_tcp(&v.addr.to_string())
            .await
            .expect("connects");
        let m = a.measure().await.expect("measurement");
        assert!(
            (m.volts - 229.87).abs() < 0.01
                && (m.amps - 0.4349).abs() < 1e-4
                && (m.watts - 99.96).abs() < 0.01,
            "{m:?}"
        );
    }

    #[tokio::test]
    async fn an_analyzer_that_is_not_there_fails_fast() {
        let refusing =
            plugrig::drivers::reserved_port::ReservedPort::refusing([127, 0, 0, 1].into()).expect("reserve");
        let port = refusing.port();
        let e = ScpiAnalyzer::connect_tcp(&format!("127.0.0.1:{port}"))
            .await
            .err()
            .expect("refused");
        assert!(format!("{e:#}").contains("connecting to the analyzer"), "{e:#}");
    }
}

mod console {
    use std::sync::Arc;
    use std::time::Duration;

    use instruments::pty;
    use instruments::serial_console::SerialConsole;
    use plugrig::drivers::timeline::{Event, Timeline};
    use tokio::io::AsyncWriteExt;
    use tokio_serial::SerialStream;

    /// Writes `line` to the device side until the console driver has put it on the
    /// timeline (the driver may be between opens), at most 5 s.
    async fn say_until_seen(master: &mut SerialStream, timeline: &Timeline, line: &str) {
        for _ in 0..50 {
            master
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .expect("pty write");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let seen = timeline
                .snapshot()
                .iter()
                .any(|e| matches!(&e.event, Event::Console(l) if l == line));
            if seen {
                return;
            }
        }
        panic!("{line:?} never reached the timeline\n{}", timeline.tail());
    }

    #[tokio::test]
    async fn the_console_survives_its_port_vanishing_and_coming_back() {
        // A /dev/serial/by-id style link: the USB port behind it goes away while the plug
        // is powered off and comes back as another device node.
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("usb-Espressif_USB_JTAG_serial_debug_unit-if00");
        let (mut m1, p1, s1) = pty::pair().expect("pty");
        std::os::unix::fs::symlink(&p1, &link).expect("symlink");
        let timeline = Arc::new(Timeline::default());
        let _console = SerialConsole::start(link.display().to_string(), 115_200, timeline.console_sink());
        say_until_seen(
            &mut m1,
            &timeline,
            "plug 5 boot fw=000001 mac=02:00:00:00:00:01 configured=no",
        )
        .await;

        // Power off: the port vanishes.
        drop(m1);
        drop(s1);
        std::fs::remove_file(&link).expect("unlink");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let gone = timeline
            .snapshot()
            .iter()
            .any(|e| matches!(&e.event, Event::Note(n) if n.contains("not available")));
        assert!(gone, "the driver says the port is gone\n{}", timeline.tail());

        // Power on: a new node behind the same name.
        let (mut m2, p2, _s2) = pty::pair().expect("pty");
        std::os::unix::fs::symlink(&p2, &link).expect("symlink");
        say_until_seen(
            &mut m2,
            &timeline,
            "plug 4 boot fw=000001 mac=02:00:00:00:00:01 configured=yes",
        )
        .await;
    }
}
