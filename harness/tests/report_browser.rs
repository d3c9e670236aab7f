//! The HTML report as a browser shows it: a short run with a deliberate fault
//! (`late-heartbeat`) and `--report DIR`, then DIR/index.html loaded in headless Chromium
//! (Debian's `chromium` package). The rendered DOM must show the failed heartbeat scenario
//! as `scenario failed` with its failure-moment row and its plot; a screenshot is taken too.
//!
//! Needs `chromium` on the PATH (or `PLUGRIG_CHROMIUM=/path`): without it the test fails
//! and names the package. As root Chromium's sandbox cannot run, hence `--no-sandbox`.

use std::path::Path;

use std::time::Duration;

#[path = "support/faulty_rig.rs"]
mod faulty_rig;

use faulty_rig::rig_with_fault;
use plugrig::commands::run::{self, RunOptions};

#[path = "support/browser.rs"]
mod browser;
use browser::{chromium, headless};

/// From the opening tag of the element with `class="scenario failed"` that holds `name` to
/// the next scenario (or the end of the scenarios).
fn failed_scenario<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(i) = dom[from..].find("class=\"scenario failed\"") {
        let start = dom[..from + i].rfind('<').unwrap_or(from + i);
        let after = from + i + 1;
        let end = [
            dom[after..].find("class=\"scenario "),
            dom[after..].find("</section>"),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|e| after + e)
        .unwrap_or(dom.len());
        let el = &dom[start..end];
        if el.contains(name) {
            return Some(el);
        }
        from = end;
    }
    None
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[test]
fn the_report_of_a_failed_run_renders_in_a_browser() {
    let browser = chromium();
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report");
    let mut opts = RunOptions::new(rig_with_fault(dir.path(), "late-heartbeat", None));
    opts.tags = Some("@rule-switch-heartbeat or @rule-switch-on-change".into());
    opts.report = Some(report.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let summary = rt.block_on(run::run(opts)).expect("the run starts");
    println!("{}", summary.line());
    let failure = summary
        .failures
        .iter()
        .find(|f| f.rules.iter().any(|r| r == "switch-heartbeat"))
        .unwrap_or_else(|| panic!("the heartbeat scenario should fail on late-heartbeat: {summary:?}"));

    let index = report.join("index.html");
    assert!(
        index.is_file(),
        "the run wrote no {} (run::run calls report::html::write under --report DIR); \
         the report directory has: {:?}",
        index.display(),
        std::fs::read_dir(&report)
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            .unwrap_or_default()
    );
    let size = std::fs::metadata(&index).expect("index.html").len();
    println!("index.html: {size} bytes; browser {}", browser.display());

    let profile = tempfile::tempdir().expect("profile dir");
    let dom = headless(
        &index,
        profile.path(),
        &["--dump-dom".to_string()],
        Duration::from_secs(90),
    );
    assert!(
        dom.contains("<body") && dom.contains("</html>"),
        "no DOM from chromium --dump-dom: {dom:.500}"
    );
    let name = html_escape(&failure.scenario);
    let sc = failed_scenario(&dom, &name).unwrap_or_else(|| {
        panic!(
            "no element of class `scenario failed` with the scenario {name:?} in the rendered DOM ({} bytes)",
            dom.len()
        )
    });
    assert!(
        sc.contains("failure-moment"),
        "the failed scenario has no failure-moment row"
    );
    let svg = sc
        .find("<svg")
        .map(|i| &sc[i..sc[i..].find('>').map_or(sc.len(), |e| i + e)])
        .unwrap_or_else(|| panic!("no <svg in the failed scenario"));
    assert!(
        svg.contains("class=\"plot\""),
        "the failed scenario's svg is not class plot: {svg}"
    );
    assert!(sc.contains("<title"), "the plot has no accessible title");

    let png = dir.path().join("report.png");
    let profile = tempfile::tempdir().expect("profile dir");
    headless(
        &index,
        profile.path(),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2000".to_string(),
        ],
        Duration::from_secs(90),
    );
    let bytes = std::fs::read(&png).expect("the screenshot was written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a screenshot of {} bytes: a blank page?",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("PLUGRIG_REPORT_SCREENSHOT") {
        std::fs::copy(&png, &keep).expect("copy the screenshot");
        std::fs::copy(&index, Path::new(&keep).with_extension("html")).expect("copy the page");
    }
    println!("screenshot: {} bytes", bytes.len());
}
