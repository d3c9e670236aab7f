//! Headless Chromium for the tests that check a page as a browser renders it (Debian's
//! `chromium` package, or `PLUGRIG_CHROMIUM=/path`).
// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const INSTALL: &str = "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium";

pub fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("PLUGRIG_CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is needed for this test and is not installed: Debian's package \
         `chromium` ({INSTALL}), or set PLUGRIG_CHROMIUM"
    );
}

/// Runs Chromium headless on `page` with `args`; its stdout. Killed after `timeout`.
pub fn headless(page: &Path, profile: &Path, args: &[String], timeout: Duration) -> String {
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let err = tempfile::NamedTempFile::new().expect("temp file");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(out.reopen().expect("stdout file"))
        .stderr(err.reopen().expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("starting chromium ({INSTALL}): {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("waiting for chromium") {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium {args:?} did not finish within {timeout:?}; its stderr:\n{}",
                std::fs::read_to_string(err.path()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(out.path()).unwrap_or_default();
    assert!(
        status.success(),
        "chromium {args:?} exited with {status}; its stderr:\n{}",
        std::fs::read_to_string(err.path()).unwrap_or_default()
    );
    stdout
}
