use std::ops::Range;
use std::path::PathBuf;

use oracle::measure::{Limits, Measurements};
use rumqttc::{Packet, Publish, QoS};

use super::timeline::kept_rows;
use super::*;
use crate::scenario::record::{DutIdentity, ScenarioKey, StepRecord, WorldRecord};

fn publish(topic: &str, payload: &str, pkid: u16) -> Event {
    let mut p = Publish::new(topic, QoS::AtLeastOnce, payload.as_bytes().to_vec());
    p.pkid = pkid;
    Event::Mqtt(Dir::Up, Packet::Publish(p))
}

fn at(ms: u64, event: Event) -> Entry {
    Entry {
        at: Duration::from_millis(ms),
        event,
    }
}

fn step(text: &str, outcome: Outcome, error: Option<&str>) -> StepRecord {
    StepRecord {
        text: text.into(),
        outcome,
        error: error.map(str::to_string),
        background: false,
    }
}

fn heartbeat_failed() -> ScenarioRecord {
    let topic = "iot_plug/MK112/US/aabbccddeeff/device/switch_state";
    let mut timeline = vec![
        at(10, Event::ApSent("{\"header\":4001}".into())),
        at(20, Event::ApReceived("{\"code\":0}".into())),
    ];
    let mut m = Measurements::default();
    let lim = Limits::within(3.0, 0.15);
    for (i, t) in [3000u64, 6000, 9000, 12600].into_iter().enumerate() {
        timeline.push(at(t, publish(topic, "{\"switch_state\":\"off\"}", i as u16 + 1)));
        timeline.push(at(
            t + 2,
            Event::Mqtt(Dir::Down, Packet::PubAck(rumqttc::PubAck::new(i as u16 + 1))),
        ));
        if i > 0 {
            let prev = [3000u64, 6000, 9000, 12600][i - 1];
            m.record(
                "heartbeat_interval",
                "s",
                lim,
                (t - prev) as f64 / 1000.0,
                Duration::from_millis(t),
            );
        }
    }
    timeline.push(at(
        13000,
        Event::Console("relay off <script>alert(1)</script>".into()),
    ));
    timeline.push(at(13500, Event::Note("done".into())));
    ScenarioRecord {
        key: ScenarioKey {
            feature: "features/switch.feature".into(),
            line: 25,
        },
        feature_name: "Switching".into(),
        name: "The heartbeat comes every 30 s".into(),
        tags: vec!["rule-switch-heartbeat".into(), "rule-session-keepalive".into()],
        outcome: Outcome::Failed,
        steps: vec![
            step("Given a provisioned plug", Outcome::Passed, None),
            step(
                "Then switch_state arrives every 30 s within tolerance, 3 times in a row",
                Outcome::Failed,
                Some("heartbeat_interval 3.6000 s outside its limits [2.8500, 3.1500]"),
            ),
            step(
                "And no other publish changed the relay meanwhile",
                Outcome::Skipped,
                None,
            ),
        ],
        duration: Duration::from_millis(13600),
        world: WorldRecord {
            timeline,
            measurements: m.all().to_vec(),
            failed_at: Some(Duration::from_millis(12590)),
            capture: Some(PathBuf::from("captures/switch 25.pcapng")),
            ..Default::default()
        },
        skip_reason: None,
        attempts: Default::default(),
        quarantine: None,
    }
}

fn passed(line: usize, entries: usize) -> ScenarioRecord {
    let timeline = (0..entries)
        .map(|i| {
            at(
                i as u64 * 100,
                publish(
                    "iot_plug/MK112/US/aabbccddeeff/device/electricity_information",
                    "{\"voltage\":2301,\"current\":261,\"power\":60}",
                    (i % 60000) as u16 + 1,
                ),
            )
        })
        .collect();
    ScenarioRecord {
        key: ScenarioKey {
            feature: "features/metering.feature".into(),
            line,
        },
        feature_name: "Metering".into(),
        name: format!("Scenario on line {line}"),
        tags: vec!["rule-electricity-cadence".into()],
        outcome: Outcome::Passed,
        steps: vec![step("Then it passes", Outcome::Passed, None)],
        duration: Duration::from_secs(2),
        world: WorldRecord {
            timeline,
            ..Default::default()
        },
        skip_reason: None,
        attempts: Default::default(),
        quarantine: None,
    }
}

fn run(scenarios: Vec<ScenarioRecord>) -> RunRecord {
    RunRecord {
        not_selected: 0,
        rig_name: "sim".into(),
        rig_path: "rigs/sim.toml".into(),
        time_scale: 10,
        advisory_profile: false,
        dut: DutIdentity {
            prefix: Some("iot_plug/MK112/US/aabbccddeeff".into()),
            device_type: Some("1".into()),
            firmware_version: Some("000001".into()),
            product_model: Some("MK112".into()),
        },
        scenarios,
        wall: Duration::from_secs(20),
        provenance: None,
        quarantine_expired: Vec::new(),
    }
}

/// The HTML of the element of id `id` up to the next scenario.
fn scenario_html<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("id=\"{id}\"")).expect(id);
    let start = page[..start].rfind('<').unwrap();
    let end = page[start + 1..]
        .find("<details class=\"scenario")
        .map(|e| start + 1 + e)
        .unwrap_or(page.len());
    &page[start..end]
}

#[test]
fn a_failed_scenario_shows_its_error_failure_moment_and_plot() {
    let skipped = ScenarioRecord {
        key: ScenarioKey {
            feature: "features/reset.feature".into(),
            line: 5,
        },
        feature_name: "Reset".into(),
        name: "A long press".into(),
        tags: vec!["rule-reset-button".into(), "needs_button".into()],
        outcome: Outcome::Skipped,
        steps: vec![],
        duration: Duration::ZERO,
        world: WorldRecord::default(),
        skip_reason: Some("needs button".into()),
        attempts: Default::default(),
        quarantine: None,
    };
    let page = render(&run(vec![passed(3, 10), heartbeat_failed(), skipped]));
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("conformance: 1 passed, 1 failed, 1 skipped"));
    // Failed first, open, with its error, plot and failure moment.
    let first = page.find("<details class=\"scenario").unwrap();
    assert!(page[first..].starts_with("<details class=\"scenario failed\" id=\"scenario-2\" open>"));
    let sc = scenario_html(&page, "scenario-2");
    assert!(sc.contains("The heartbeat comes every 30 s"));
    assert!(sc.contains("heartbeat_interval 3.6000 s outside its limits [2.8500, 3.1500]"));
    assert!(sc.contains("<svg class=\"plot\""), "{sc}");
    assert!(sc.contains("<title id=\"scenario-2-plot-1-title\">heartbeat_interval: 3 intervals"));
    // failed_at 12.590 s: the nearest row is the PUBLISH at 12.600 s.
    let fm = sc.find("failure-moment").expect("a failure-moment row");
    let row = &sc[fm..sc[fm..].find("</tr>").unwrap() + fm];
    assert!(
        row.contains("id=\"scenario-2-failure\"") && row.contains("<td>12.600</td>"),
        "{row}"
    );
    assert!(row.contains("PUBLISH qos=1 pid=4"), "{row}");
    assert!(sc.contains("href=\"#scenario-2-failure\""));
    assert!(sc.contains("href=\"captures/switch%2025.pcapng\""));
    assert!(sc.contains("<b>FAIL</b>"));
    // The summary: identity, rules by source, the skip reason.
    assert!(page.contains("<code>iot_plug/MK112/US/aabbccddeeff</code>"));
    assert!(page.contains("<code>000001</code>"));
    assert!(page.contains("<tr id=\"rule-switch-heartbeat\" class=\"failed\">"));
    assert!(page.contains("<tr id=\"rule-electricity-cadence\" class=\"passed\">"));
    assert!(page.contains("<tr id=\"rule-reset-button\" class=\"skipped\">"));
    assert!(page.contains("<td>needs button</td>"));
    assert!(page.contains("<details class=\"scenario passed\" id=\"scenario-1\">"));
    assert!(page.contains("<details class=\"scenario skipped\" id=\"scenario-3\">"));
    // Nothing fetched.
    for bad in ["http://", "https://", "<link", "src=", "@import", "url("] {
        let hits: Vec<_> = page
            .match_indices(bad)
            .filter(|(i, _)| !page[..*i].ends_with("xmlns=\""))
            .collect();
        assert!(hits.is_empty(), "{bad} in the page");
    }
}

#[test]
fn device_text_is_escaped() {
    let mut s = heartbeat_failed();
    s.world.timeline.push(at(
        13600,
        publish("t/<b>", "{\"x\":\"</td><script>alert('x')</script>\u{0}\"}", 9),
    ));
    s.name = "a <script> name & more".into();
    s.steps[1].error = Some("saw <script>alert(2)</script>".into());
    let page = render(&run(vec![s]));
    let body = &page[page.find("<body>").unwrap()..page.rfind("<script>").unwrap()];
    assert!(!body.contains("<script"), "an unescaped script tag");
    assert!(!body.contains("</td><script"));
    assert!(body.contains("&lt;/td&gt;&lt;script&gt;alert('x')&lt;/script&gt;\\x00"));
    assert_eq!(escape("\"'"), "&quot;&#39;");
    assert!(body.contains("a &lt;script&gt; name &amp; more"));
    assert!(body.contains("t/&lt;b&gt;"));
    assert_eq!(page.matches("<script>").count(), 1, "only the page's own script");
}

#[test]
fn long_timelines_are_cut_but_keep_the_failure() {
    assert_eq!(kept_rows(10, 300, Some(5)), [Range { start: 0, end: 10 }]);
    assert_eq!(kept_rows(1000, 100, None), vec![0..100, 900..1000]);
    assert_eq!(kept_rows(1000, 100, Some(500)), vec![0..100, 475..526, 900..1000]);
    assert_eq!(kept_rows(1000, 100, Some(110)), vec![0..136, 900..1000]);
    let mut s = heartbeat_failed();
    let filler: Vec<Entry> = (0..3000)
        .map(|i| at(20 + i, Event::Console(format!("line {i}"))))
        .collect();
    s.world.timeline.splice(2..2, filler);
    let page = render(&run(vec![s]));
    assert!(page.contains("entries left out"));
    assert!(page.contains("failure-moment"));
    assert!(page.contains("Timeline (3012 entries, "));
}

#[test]
fn advisory_profile_failures_are_counted_apart() {
    let mut s = passed(3, 5);
    s.outcome = Outcome::Failed;
    s.tags = vec!["rule-delay-every-value".into()];
    let mut r = run(vec![s, passed(9, 5)]);
    r.advisory_profile = true;
    let page = render(&r);
    assert!(page.contains(
        "conformance: 1 passed, 1 failed (1 of them [profile] only, advisory: not counted), 0 skipped"
    ));
    assert!(page.contains("<tr id=\"rule-delay-every-value\" class=\"advisory\">"));
    assert!(page.contains("<b>1</b> advisory [profile] failures"));
    assert!(page.contains("<span class=\"badge passed\">PASS</span>"));
}

/// A full default run: about 100 scenarios, timelines up to 2000 entries.
#[test]
fn a_full_run_stays_a_few_mb() {
    let mut scenarios: Vec<ScenarioRecord> = (0..97)
        .map(|i| passed(i * 10 + 1, 100 + (i * 97) % 1900))
        .collect();
    for i in 0..3 {
        let mut f = heartbeat_failed();
        f.key.line = 2000 + i;
        let filler: Vec<Entry> = (0..2000)
            .map(|j| at(20 + j, Event::Console(format!("tick {j}"))))
            .collect();
        f.world.timeline.splice(2..2, filler);
        scenarios.push(f);
    }
    let page = render(&run(scenarios));
    println!("100-scenario report: {} bytes", page.len());
    assert!(page.len() < 3_000_000, "{} bytes", page.len());
}

#[test]
fn write_creates_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report/index.html");
    write(&run(vec![heartbeat_failed()]), &path).unwrap();
    assert!(std::fs::read_to_string(path).unwrap().contains("scenario failed"));
}
