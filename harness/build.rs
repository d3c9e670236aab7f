//! Embeds the git commit plugrig is built from, and whether the work tree differed from it
//! (a dirty mark), for the provenance every report carries (`src/provenance.rs`). Outside a
//! git checkout (a source tarball) both are "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).current_dir("..").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Tracked files that differ from the commit (untracked ones do not change the build).
    let dirty = match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if s.is_empty() => "clean",
        Some(_) => "dirty",
        None => "unknown",
    };
    println!("cargo:rustc-env=PLUGRIG_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=PLUGRIG_GIT_TREE={dirty}");
    // Run again when the commit or the tracked sources change.
    for p in [
        "../.git/HEAD",
        "../.git/index",
        "../.git/refs",
        "src",
        "oracle/src",
        "instruments/src",
        "../firmware/core/src",
        "../firmware/sim/src",
        "../firmware/board/src",
        "../features",
        "../rigs",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
}
