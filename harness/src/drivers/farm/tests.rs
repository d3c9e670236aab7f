//! Resolving a rig's `place:` ports against a place read from labgrid-client, and the
//! errors for a place or resource that cannot serve them.

use std::path::Path;

use super::*;
use crate::rig::DutSpec;
use crate::sync::Locked;

const RIG: &str = r#"
[rig]
name = "farm"

[dut]
kind = "external"
ap = "127.0.0.1:8266"
broker_host = "127.0.0.1"
console = "place:console"

[dut.power_relay]
port = "place:relay"
channel = 1

[broker]
kind = "embedded"
username = "u"
password = "p"

[meter]
kind = "sdm120"
port = "place:meter"

[farm]
coordinator = "127.0.0.1:20408"
"#;

fn rig() -> RigFile {
    crate::rig::parse(RIG, Path::new("farm.toml")).unwrap_or_else(|e| panic!("{e:#}"))
}

fn place(resources: &str) -> Place {
    show::parse(&format!("Place 'bench-3':\n  acquired: ci/runner\n{resources}"))
        .unwrap_or_else(|e| panic!("{e:#}"))
}

fn serial(name: &str, port: u16, extra: &str) -> String {
    format!(
        "Acquired resource '{name}' (exp/bench/NetworkSerialPort/{name}):\n  {{'acquired': 'bench-3', 'avail': True, 'cls': 'NetworkSerialPort',\n   'params': {{'host': 'bench-3.lab', 'port': {port}, 'speed': 9600{extra}}}}}\n"
    )
}

#[test]
fn place_ports_become_the_resources_urls() {
    let mut r = rig();
    let p = place(&format!(
        "{}{}{}",
        serial("console", 4001, ""),
        serial("meter", 4002, ""),
        serial("relay", 4003, ", 'protocol': 'raw'")
    ));
    let lines = resolve(&mut r, &p).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(lines.len(), 3, "{lines:?}");
    let DutSpec::External(e) = &r.dut else {
        panic!("external")
    };
    assert_eq!(e.console.as_deref(), Some("rfc2217://bench-3.lab:4001"));
    assert_eq!(
        e.power_relay.as_ref().map(|r| r.port.as_str()),
        Some("tcp://bench-3.lab:4003")
    );
    assert!(matches!(&r.meter, Some(MeterSpec::Sdm120 { port, .. }) if port == "rfc2217://bench-3.lab:4002"));
    assert!(references(&r).is_empty());
}

#[test]
fn a_missing_resource_names_the_place_what_it_has_and_the_rig_key() {
    let mut r = rig();
    let p = place(&serial("console", 4001, ""));
    let e = format!("{:#}", resolve(&mut r, &p).expect_err("no relay"));
    assert!(
        e.contains("dut.power_relay.port")
            && e.contains("bench-3")
            && e.contains("'relay'")
            && e.contains("console"),
        "{e}"
    );
}

#[test]
fn unusable_resources_are_refused_by_name() {
    let cases = [
        (serial("x", 4001, "").replace("True", "False"), "not available"),
        (serial("x", 4001, ", 'protocol': 'ssh'"), "protocol"),
        (
            serial("x", 4001, ", 'extra': {'proxy': 'gw', 'proxy_required': True}"),
            "proxy",
        ),
        (
            serial("x", 4001, "").replace("NetworkSerialPort',", "USBSerialPort',"),
            "USBSerialPort",
        ),
        (serial("x", 0, ""), "no TCP port"),
    ];
    for (text, why) in cases {
        let p = place(&text);
        let e = format!("{:#}", port_of(&p.resources[0], "bench-3").expect_err(why));
        assert!(
            e.contains(why) && e.contains("'x'") && e.contains("bench-3"),
            "{why}: {e}"
        );
    }
}

#[test]
fn without_a_place_nothing_changes_and_place_ports_are_refused() {
    let plain = crate::rig::parse(
        &RIG.replace("\"place:console\"", "\"/dev/ttyACM0\"")
            .replace("\"place:relay\"", "\"/dev/ttyUSB0\"")
            .replace("\"place:meter\"", "\"/dev/ttyUSB1\""),
        Path::new("r.toml"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(request(&plain, None).expect("no farm").is_none());
    let e = format!("{:#}", request(&rig(), None).expect_err("place: without a place"));
    assert!(e.contains("--place") && e.contains("dut.console"), "{e}");
    let (_, filters, wait) = request(&rig(), Some("bench-3")).expect("ok").expect("a place");
    assert_eq!(filters, vec!["name=bench-3".to_string()]);
    assert_eq!(wait, Duration::from_secs(3600));
}

#[test]
fn tags_reserve_any_matching_place() {
    let r = crate::rig::parse(
        &RIG.replace(
            "[farm]\n",
            "[farm]\ntags = { board = \"mk112\", meter = \"sdm120\" }\n",
        ),
        Path::new("r.toml"),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let (_, filters, _) = request(&r, None).expect("ok").expect("by tags");
    assert_eq!(
        filters,
        vec!["board=mk112".to_string(), "meter=sdm120".to_string()]
    );
    let bad = crate::rig::parse(
        &RIG.replace("[farm]\n", "[farm]\ntags = { name = \"x\" }\n"),
        Path::new("r.toml"),
    );
    assert!(format!("{:#}", bad.expect_err("name is not a tag")).contains("farm.tags"));
}

#[test]
fn espflash_over_a_place_port_is_refused_with_the_way_to_flash() {
    let text = RIG.replace(
        "[broker]",
        "[dut.flash]\nkind = \"espflash\"\nport = \"place:console\"\n\n[broker]",
    );
    let mut r = crate::rig::parse(&text, Path::new("r.toml")).unwrap_or_else(|e| panic!("{e:#}"));
    let e = format!("{:#}", resolve(&mut r, &place("")).expect_err("espflash"));
    assert!(e.contains("dut.flash.port") && e.contains("command"), "{e}");
}

/// A stand-in for labgrid-client that logs its arguments and answers one place's story.
fn fake_client(dir: &Path) -> (Client, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("calls.log");
    let prog = dir.join("labgrid-client");
    let script = format!(
        r#"#!/bin/sh
echo "$*" >> {log}
case "$*" in
  "reserve --wait --shell name=bench-3") echo "export LG_TOKEN=TOK123";;
  "-p +TOK123 lock") echo "acquired place bench-3";;
  "-p +TOK123 show") printf "Place 'bench-3':\n  acquired: ci/job\n  reservation: TOK123\nAcquired resource 'meter' (e/b/NetworkSerialPort/meter):\n  {{'acquired': 'bench-3', 'avail': True, 'cls': 'NetworkSerialPort', 'params': {{'host': '127.0.0.1', 'port': 4002}}}}\n";;
  "-p bench-3 unlock") echo "released place bench-3";;
  "cancel-reservation TOK123") ;;
  *) echo "unexpected: $*" >&2; exit 1;;
esac
"#,
        log = log.display()
    );
    std::fs::write(&prog, script).expect("write fake labgrid-client");
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (Client::with_program(&prog, None), log)
}

fn calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

const RELEASED: [&str; 2] = ["-p bench-3 unlock", "cancel-reservation TOK123"];

#[test]
fn a_panic_while_holding_the_place_still_releases_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (client, log) = fake_client(dir.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            let filters = vec!["name=bench-3".to_string()];
            let (_lease, place) = Lease::acquire(&client, &filters, Duration::from_secs(30))
                .await
                .unwrap_or_else(|e| panic!("{e:#}"));
            assert_eq!(place.name, "bench-3");
            panic!("a scenario panicked while the place was held");
        })
    }));
    assert!(r.is_err(), "the body panicked");
    let c = calls(&log);
    assert_eq!(&c[c.len() - 2..], RELEASED, "{c:?}");
}

#[tokio::test]
async fn a_failed_run_releases_the_place_and_reports_the_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (client, log) = fake_client(dir.path());
    let text = RIG
        .replace("\"place:console\"", "\"/dev/null\"")
        .replace("[dut.power_relay]\nport = \"place:relay\"\nchannel = 1\n", "");
    let rig = Rig {
        file: crate::rig::parse(&text, Path::new("r.toml")).unwrap_or_else(|e| panic!("{e:#}")),
        path: "r.toml".into(),
    };
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen_in = seen.clone();
    let r = on_place(
        rig,
        (client, vec!["name=bench-3".into()], Duration::from_secs(30)),
        |rig| async move {
            if let Some(MeterSpec::Sdm120 { port, .. }) = &rig.file.meter {
                *seen_in.locked() = port.clone();
            }
            anyhow::Result::<()>::Err(anyhow::anyhow!("3 scenarios failed"))
        },
    )
    .await;
    let e = format!("{:#}", r.err().expect("the body's error comes back"));
    assert!(e.contains("3 scenarios failed"), "{e}");
    assert_eq!(*seen.locked(), "rfc2217://127.0.0.1:4002");
    let c = calls(&log);
    assert_eq!(&c[c.len() - 2..], RELEASED, "{c:?}");
}
