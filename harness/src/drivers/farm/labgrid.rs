//! The coordinator, through `labgrid-client` (labgrid's documented interface): reserve a
//! place and wait for it, lock it, read it, unlock it, cancel the reservation.
//!
//! A `Lease` is the place held by this process. Its `Drop` unlocks the place and cancels the
//! reservation synchronously (std::process, no runtime needed), so an error, a panic, or a
//! future dropped on Ctrl-C all release it. Only SIGKILL (or a lost host) leaves a place
//! locked: labgrid's locks do not expire; `plugrig farm unlock --place NAME` frees it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::show::{self, Place};

/// Every labgrid-client call but the waiting reservation must end within this.
const CALL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Client {
    program: std::path::PathBuf,
    /// `LG_COORDINATOR` for the child, when the environment does not set it.
    coordinator: Option<String>,
}

impl Client {
    /// The coordinator: `LG_COORDINATOR` if set (a CI site's own), else the rig file's
    /// `[farm] coordinator`, else labgrid's default (127.0.0.1:20408). `LG_TOKEN`,
    /// `LG_USERNAME` and `LG_HOSTNAME` pass through to labgrid-client unchanged.
    pub fn new(rig_coordinator: Option<&str>) -> Client {
        Client::with_program("labgrid-client", rig_coordinator)
    }

    /// As `new`, with another labgrid-client executable (a wrapper, or a test's stand-in).
    pub fn with_program(program: impl Into<std::path::PathBuf>, rig_coordinator: Option<&str>) -> Client {
        let env = std::env::var_os("LG_COORDINATOR").is_some_and(|v| !v.is_empty());
        Client {
            program: program.into(),
            coordinator: if env {
                None
            } else {
                rig_coordinator.map(str::to_string)
            },
        }
    }

    fn std_command(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(&self.program);
        if let Some(x) = &self.coordinator {
            c.env("LG_COORDINATOR", x);
        }
        c.args(args).stdin(Stdio::null());
        c
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::from(self.std_command(args));
        // A dropped future (Ctrl-C, a timeout) must not leave a client waiting behind us.
        c.kill_on_drop(true);
        c
    }

    /// One labgrid-client call; its stdout, or an error with what it printed.
    pub async fn call(&self, args: &[&str]) -> anyhow::Result<String> {
        let what = format!("labgrid-client {}", args.join(" "));
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {what} (is labgrid installed? pip install labgrid)"))?;
        let out = tokio::time::timeout(CALL, child.wait_with_output())
            .await
            .with_context(|| format!("{what} did not finish within {CALL:?}"))?
            .with_context(|| format!("running {what}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            bail!("{what} failed ({}): {}", out.status, err.trim());
        }
        Ok(stdout)
    }

    /// The place as the coordinator sees it (`-p NAME show`; `+TOKEN` names a reservation's).
    pub async fn show(&self, place: &str) -> anyhow::Result<Place> {
        let out = self.call(&["-p", place, "show"]).await?;
        show::parse(&out).with_context(|| format!("reading labgrid-client -p {place} show"))
    }

    /// Unlocks (releases) a place; sync, for `Drop`. `kick`: even if another user holds it.
    pub fn unlock_sync(&self, place: &str, kick: bool) -> anyhow::Result<()> {
        let mut args = vec!["-p", place, "unlock"];
        if kick {
            args.push("--kick");
        }
        self.call_sync(&args).map(drop)
    }

    pub fn cancel_sync(&self, token: &str) -> anyhow::Result<()> {
        self.call_sync(&["cancel-reservation", token]).map(drop)
    }

    fn call_sync(&self, args: &[&str]) -> anyhow::Result<String> {
        let what = format!("labgrid-client {}", args.join(" "));
        let mut child = self
            .std_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {what}"))?;
        let started = Instant::now();
        // std has no wait-with-timeout: poll. The outputs are a line or two and fit the
        // pipes, so the child never blocks on them.
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break s;
            }
            if started.elapsed() > CALL {
                let _ = child.kill();
                let _ = child.wait();
                bail!("{what} did not finish within {CALL:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |p: Option<&mut dyn std::io::Read>| {
            let mut s = String::new();
            if let Some(p) = p {
                let _ = p.read_to_string(&mut s);
            }
            s
        };
        let out = read(child.stdout.as_mut().map(|p| p as &mut dyn std::io::Read));
        let err = read(child.stderr.as_mut().map(|p| p as &mut dyn std::io::Read));
        if !status.success() {
            bail!("{what} failed ({status}): {}", err.trim());
        }
        Ok(out)
    }
}

/// A place reserved (and, once `lock` succeeded, locked) by this process.
pub struct Lease {
    client: Client,
    pub token: String,
    /// The locked place's name; None until locked.
    pub place: Option<String>,
    released: bool,
}

impl Lease {
    /// `labgrid-client reserve --wait` with `filters` (tags; `name=PLACE` for one place):
    /// waits, up to `wait`, while other jobs hold matching places, then locks the place the
    /// coordinator allocated and reads it.
    pub async fn acquire(
        client: &Client,
        filters: &[String],
        wait: Duration,
    ) -> anyhow::Result<(Lease, Place)> {
        let mut args = vec!["reserve", "--wait", "--shell"];
        args.extend(filters.iter().map(String::as_str));
        let what = format!("labgrid-client {}", args.join(" "));
        let mut child = client
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {what} (is labgrid installed? pip install labgrid)"))?;
        let mut stdout = BufReader::new(child.stdout.take().context("labgrid-client's stdout")?);
        let mut stderr = child.stderr.take().context("labgrid-client's stderr")?;
        // The token comes first, before the wait: from then on a guard cancels it.
        let mut first = String::new();
        let n = tokio::time::timeout(CALL, stdout.read_line(&mut first))
            .await
            .with_context(|| format!("{what}: no reservation token within {CALL:?}"))??;
        let Some(token) = first
            .trim()
            .strip_prefix("export LG_TOKEN=")
            .filter(|t| !t.is_empty())
        else {
            let mut err = String::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), stderr.read_to_string(&mut err)).await;
            let _ = child.wait().await;
            bail!(
                "{what} failed: {}",
                if n == 0 { err.trim() } else { first.trim() }
            );
        };
        let mut lease = Lease {
            client: client.clone(),
            token: token.to_string(),
            place: None,
            released: false,
        };
        println!(
            "plugrig: labgrid reservation {token} ({}): waiting until the place is free",
            filters.join(" ")
        );
        let started = Instant::now();
        let status = tokio::time::timeout(wait, child.wait()).await.with_context(|| {
            format!(
                "no place matching {} came free within {} s ([farm] wait_s)",
                filters.join(" "),
                wait.as_secs()
            )
        })??;
        if !status.success() {
            let mut err = String::new();
            let _ = stderr.read_to_string(&mut err).await;
            bail!("{what} failed ({status}): {}", err.trim());
        }
        let plus = format!("+{}", lease.token);
        client
            .call(&["-p", &plus, "lock"])
            .await
            .context("locking the reserved place")?;
        let place = client.show(&plus).await?;
        lease.place = Some(place.name.clone());
        println!(
            "plugrig: place {} acquired after {:.1} s (reservation {})",
            place.name,
            started.elapsed().as_secs_f64(),
            lease.token
        );
        Ok((lease, place))
    }

    /// Unlocks the place and cancels the reservation; both are tried, the first error is
    /// returned.
    pub fn release(mut self) -> anyhow::Result<()> {
        self.release_now()
    }

    fn release_now(&mut self) -> anyhow::Result<()> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        let unlocked = match &self.place {
            Some(p) => self
                .client
                .unlock_sync(p, false)
                .with_context(|| format!("unlocking place {p}")),
            None => Ok(()),
        };
        let cancelled = self
            .client
            .cancel_sync(&self.token)
            .with_context(|| format!("cancelling reservation {}", self.token));
        if unlocked.is_ok() {
            if let Some(p) = &self.place {
                println!("plugrig: place {p} released");
            }
        }
        unlocked.and(cancelled)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Err(e) = self.release_now() {
            eprintln!(
                "plugrig: {e:#}\nplugrig: free it by hand: plugrig farm unlock --place {}",
                self.place.as_deref().unwrap_or("NAME")
            );
        }
    }
}
