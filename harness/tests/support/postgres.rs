//! A real PostgreSQL server for a test: Debian's `postgresql` binaries, a new cluster in a
//! temporary directory, listening on loopback only, on a port held for it
//! (`reserved_port`), stopped and removed when dropped. As root (CI) the server runs as the
//! `postgres` user, since PostgreSQL refuses to run as root.
// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub const INSTALL: &str = "apt-get install -y postgresql";

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_user: Option<String>,
    /// postgres://plugrig@127.0.0.1:PORT/postgres
    pub url: String,
}

/// The newest installed server's binaries (/usr/lib/postgresql/N/bin), or None.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p)| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

impl Postgres {
    /// Starts a server, or returns why it cannot (no binaries): a test then fails when
    /// `PLUGRIG_REQUIRE_POSTGRES` is set (CI), and says it did not run otherwise.
    pub fn start() -> Result<Postgres, String> {
        let bin = server_bin().ok_or_else(|| format!("no PostgreSQL server installed ({INSTALL})"))?;
        let dir = tempfile::Builder::new()
            .prefix("plugrig-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let as_user = root.then(|| "postgres".to_string());
        if root {
            let st = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .map_err(|e| e.to_string())?;
            if !st.success() {
                return Err("chown to the postgres user failed".into());
            }
        }
        let data = dir.path().join("data");
        let port = plugrig::drivers::reserved_port::ReservedPort::for_listener([127, 0, 0, 1].into())
            .map_err(|e| e.to_string())?;
        let pg = Postgres {
            url: format!("postgres://plugrig@127.0.0.1:{}/postgres", port.port()),
            dir,
            bin,
            as_user,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "plugrig",
                "--no-sync",
            ],
        )?;
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            port.port(),
            pg.dir.path().display()
        );
        pg.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &options,
                "-l",
                &pg.dir.path().join("log").display().to_string(),
                "-w",
                "start",
            ],
        )?;
        // The server has the port now.
        drop(port);
        Ok(pg)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.as_user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} {args:?} failed: {}{}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout),
                std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
            ))
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run(
            "pg_ctl",
            &["-D", &data.display().to_string(), "-m", "immediate", "-w", "stop"],
        );
    }
}

/// A server for a test, or None when none can be had and `PLUGRIG_REQUIRE_POSTGRES` is
/// not set (the test then says it did not run); with it set, a panic naming the reason.
pub fn server_for_test(test: &str) -> Option<Postgres> {
    match Postgres::start() {
        Ok(pg) => Some(pg),
        Err(why) if std::env::var_os("PLUGRIG_REQUIRE_POSTGRES").is_some() => {
            panic!("{test}: PostgreSQL is required (PLUGRIG_REQUIRE_POSTGRES) and could not start: {why}")
        }
        Err(why) => {
            eprintln!("{test}: NOT RUN on PostgreSQL: {why}");
            None
        }
    }
}
