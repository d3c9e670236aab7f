//! The simulated-rig DUT: a `plug-sim` process per scenario, built from this workspace.
//! Its console (stdout) goes onto the timeline; its control channel stands in for the
//! bench's power switch, button actuator and load.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use instruments::actuators::{ButtonActuator, PowerSwitch};
use instruments::serial_console::SerialConsole;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::sync::{oneshot, OnceCell};

use crate::drivers::timeline::{Event, Timeline};
use crate::rig::sim::SimDut;

static BUILT: OnceCell<PathBuf> = OnceCell::const_new();

/// The plug-sim binary: from the rig file, `PLUGRIG_SIM_BIN`, or built now.
pub async fn binary(cfg: &SimDut) -> anyhow::Result<PathBuf> {
    if let Some(b) = &cfg.binary {
        return Ok(b.clone());
    }
    if let Some(b) = std::env::var_os("PLUGRIG_SIM_BIN") {
        return Ok(PathBuf::from(b));
    }
    BUILT.get_or_try_init(build).await.cloned()
}

async fn build() -> anyhow::Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "-p",
            "plug-sim",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd.output().await.context("running cargo to build plug-sim")?;
    if !out.status.success() {
        bail!("cargo build -p plug-sim failed ({})", out.status);
    }
    match crate::workspace::cargo_executable(&out.stdout, "plug-sim") {
        Some(exe) => Ok(exe),
        None => bail!("cargo built plug-sim but named no executable"),
    }
}

/// The prefix of a simulated plug's state directory under the temporary directory.
const STATE_PREFIX: &str = "plugrig-sim-";
/// In a state directory: the pid of the plugrig process that made it.
const OWNER_FILE: &str = "plugrig.pid";

/// The plug dies with plugrig, however plugrig dies (SIGKILL, the OOM killer, a CI
/// timeout): Linux's parent-death signal, SIGKILL, set in the child before it runs
/// plug-sim. The signal follows the thread that forked, and tokio forks from its worker
/// threads, which live as long as the runtime, so as long as plugrig.
fn exit_with_this_process(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // plugrig died between the fork and the prctl: the signal will not come.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Removes the state directories that runs which died left behind: those whose owner
/// process is gone, and, without an owner file (older runs), those untouched for an hour.
/// Returns how many were removed.
pub fn sweep_stale_state() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(STATE_PREFIX) {
            continue;
        }
        let dir = e.path();
        let stale = match std::fs::read_to_string(dir.join(OWNER_FILE)) {
            Ok(pid) => match pid.trim().parse::<i32>() {
                Ok(pid) => !process_alive(pid),
                Err(_) => true,
            },
            Err(_) => e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600)),
        };
        if stale && std::fs::remove_dir_all(&dir).is_ok() {
            removed += 1;
        }
    }
    removed
}

pub(crate) fn process_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// One running simulated plug.
pub struct SimPlug {
    /// The console reader, when the console is on a pty.
    _serial: Option<SerialConsole>,
    pid: Option<u32>,
    kill: Option<oneshot::Sender<()>>,
    pub ap: SocketAddr,
    pub control: SocketAddr,
    /// Set before a deliberate kill, so the exit is not reported as a failure.
    expected_exit: Arc<AtomicBool>,
    _state: tempfile::TempDir,
}

impl std::fmt::Debug for SimPlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimPlug(ap={}, pid={:?})", self.ap, self.pid)
    }
}

pub struct Spawn<'a> {
    pub cfg: &'a SimDut,
    pub time_scale: u32,
    pub mac: String,
    pub resolver: Option<SocketAddr>,
    /// The run's pass, from 1: the fault seed of pass k is `fault_seed + k - 1`.
    pub pass: u32,
}

impl SimPlug {
    pub async fn spawn(s: Spawn<'_>, timeline: Arc<Timeline>) -> anyhow::Result<SimPlug> {
        let bin = binary(s.cfg).await?;
        let state = tempfile::Builder::new().prefix(STATE_PREFIX).tempdir()?;
        // Whose it is: a run that dies leaves it behind, and the next run's sweep
        // (`sweep_stale_state`) removes it once this process is gone.
        std::fs::write(state.path().join(OWNER_FILE), std::process::id().to_string())?;
        let mut cmd = Command::new(&bin);
        exit_with_this_process(&mut cmd);
        cmd.arg("--state-dir")
            .arg(state.path())
            .args(["--time-scale", &s.time_scale.to_string()])
            .args(["--mac", &s.mac])
            .args(["--device-type", &s.cfg.device_type])
            .args(["--load-watts", &s.cfg.load_watts.to_string()])
            .args(["--gain-error", &s.cfg.gain_error.to_string()])
            .args(["--firmware-version", &s.cfg.firmware_version])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd.args(["--console", &s.cfg.console]);
        for f in &s.cfg.faults {
            cmd.args(["--fault", f]);
        }
        for v in &s.cfg.variants {
            cmd.args(["--variant", v]);
        }
        // A plug started again (a retry, a repeat) draws its intermittent faults again, as a
        // real plug booted again would; the first pass keeps the rig's seed.
        let seed = s.cfg.fault_seed.wrapping_add(u64::from(s.pass.saturating_sub(1)));
        cmd.args(["--fault-seed", &seed.to_string()]);
        if let Some(r) = s.resolver {
            cmd.args(["--resolver", &r.to_string()]);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("plug-sim stdout")?;
        let stderr = child.stderr.take().context("plug-sim stderr")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("plug-sim did not say ready within 20 s")??
            .context("plug-sim closed its stdout before saying ready")?;
        let (ap, control, console_path) = parse_ready(&first)?;
        let serial = console_path.map(|p| SerialConsole::start(p, 115_200, timeline.console_sink()));
        let tl = timeline.clone();
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                tl.push(Event::Console(l));
            }
        });
        let tl = timeline.clone();
        let stderr_read = tokio::spawn(async move {
            let mut err = BufReader::new(stderr).lines();
            let mut last = None;
            while let Ok(Some(l)) = err.next_line().await {
                tl.push(Event::Note(format!("plug-sim stderr: {l}")));
                last = Some(l);
            }
            last
        });
        let expected_exit = Arc::new(AtomicBool::new(false));
        let pid = child.id();
        let (kill, killed) = oneshot::channel::<()>();
        let expected = expected_exit.clone();
        // The process is owned by this task: it reports an unexpected death on the
        // timeline, and kills the plug when the SimPlug is dropped or shut down.
        tokio::spawn(async move {
            tokio::select! {
                st = child.wait() => {
                    if !expected.load(Ordering::SeqCst) {
                        // The stderr pipe ends with the process: its last line says why.
                        let last = tokio::time::timeout(Duration::from_secs(1), stderr_read)
                            .await
                            .ok()
                            .and_then(Result::ok)
                            .flatten();
                        timeline.push(Event::PlugExited(describe(st, last)));
                    }
                }
                _ = killed => {
                    let _ = child.kill().await;
                }
            }
        });
        Ok(SimPlug {
            _serial: serial,
            pid,
            ap,
            control,
            expected_exit,
            kill: Some(kill),
            _state: state,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Kills the process without warning (SIGKILL), as a crash would: its exit is reported.
    pub fn kill_unexpectedly(&self) -> anyhow::Result<()> {
        let pid = self.pid.context("the plug has no process id")?;
        // SAFETY: kill(2) with the pid of the child this handle spawned and owns.
        let r = unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        anyhow::ensure!(r == 0, "kill({pid}, SIGKILL) failed");
        Ok(())
    }

    /// One control-channel command; the plug-sim reply must start with `ok`.
    pub async fn control(&self, cmd: &str) -> anyhow::Result<String> {
        let io = async {
            let mut s = TcpStream::connect(self.control).await?;
            s.set_nodelay(true)?;
            s.write_all(format!("{cmd}\n").as_bytes()).await?;
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line).await?;
            anyhow::Ok(line.trim().to_string())
        };
        let reply = tokio::time::timeout(Duration::from_secs(30), io)
            .await
            .with_context(|| format!("control command {cmd:?} timed out"))??;
        if !reply.starts_with("ok") {
            bail!("control command {cmd:?} failed: {reply}");
        }
        Ok(reply)
    }

    pub fn shutdown(&mut self) {
        self.expected_exit.store(true, Ordering::SeqCst);
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
    }
}

impl Drop for SimPlug {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// How an unexpected exit reads on the timeline. plug-sim's own failures (a socket, file or
/// pty of the host: `EXIT_BOARD_FAILURE`) begin with [`RIG_FAILURE`]: the reports then
/// count the scenario as the rig's failure, not as a verdict on the plug.
fn describe(st: std::io::Result<std::process::ExitStatus>, stderr: Option<String>) -> String {
    let status = exit_status(&st);
    let board = matches!(&st, Ok(s) if s.code() == Some(EXIT_BOARD_FAILURE));
    match (board, stderr) {
        (true, Some(why)) => format!("{RIG_FAILURE}: plug-sim {status}: {why}"),
        (true, None) => format!("{RIG_FAILURE}: plug-sim {status}"),
        (false, Some(last)) => format!("{status}; its last words: {last}"),
        (false, None) => status,
    }
}

/// plug-sim's exit status for a failure of its own (`firmware/sim/src/main.rs`).
const EXIT_BOARD_FAILURE: i32 = 3;

/// The start of a `PlugExited` text that is the rig's failure (see [`describe`]).
pub const RIG_FAILURE: &str = "the rig failed, not the plug";

fn exit_status(st: &std::io::Result<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match st {
        Ok(s) => match (s.code(), s.signal()) {
            (_, Some(sig)) => format!("killed by signal {sig}"),
            (Some(c), _) => format!("exited with status {c}"),
            _ => s.to_string(),
        },
        Err(e) => format!("lost: {e}"),
    }
}

fn parse_ready(line: &str) -> anyhow::Result<(SocketAddr, SocketAddr, Option<String>)> {
    let mut ap = None;
    let mut control = None;
    let mut console = None;
    if !line.starts_with("plug-sim ready") {
        bail!("plug-sim's first line is not its ready line: {line:?}");
    }
    for w in line.split_whitespace() {
        if let Some(a) = w.strip_prefix("ap=") {
            ap = Some(a.parse()?);
        } else if let Some(c) = w.strip_prefix("control=") {
            control = Some(c.parse()?);
        } else if let Some(c) = w.strip_prefix("console=") {
            console = Some(c.to_string());
        }
    }
    Ok((
        ap.context("ready line lacks ap=")?,
        control.context("ready line lacks control=")?,
        console,
    ))
}

impl PowerSwitch for SimPlug {
    async fn set_power(&self, on: bool) -> anyhow::Result<()> {
        self.control(if on { "power on" } else { "power off" })
            .await
            .map(drop)
    }
}

impl ButtonActuator for SimPlug {
    async fn press(&self, hold: Duration) -> anyhow::Result<()> {
        self.control(&format!("button press {}", hold.as_millis()))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ready_line() {
        let (a, c, p) = super::parse_ready("plug-sim ready ap=127.0.0.1:5 control=127.0.0.1:6").unwrap();
        assert_eq!((a.port(), c.port(), p), (5, 6, None));
        let (_, _, p) =
            super::parse_ready("plug-sim ready ap=127.0.0.1:5 control=127.0.0.1:6 console=/dev/pts/3")
                .unwrap();
        assert_eq!(p.as_deref(), Some("/dev/pts/3"));
        assert!(super::parse_ready("hello").is_err());
    }
}
