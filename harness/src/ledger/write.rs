//! Appending a run: its row when it starts, everything else in one transaction at its end.

use std::time::SystemTime;

use sqlx::any::AnyRow;
use sqlx::Row;

use super::Ledger;
use crate::provenance::{Provenance, COMMIT, TREE, VERSION};
use crate::scenario::record::{DutIdentity, Outcome, ScenarioRecord};

/// What a run ends with, for `Ledger::finish_run`.
pub struct RunResults<'a> {
    pub scenarios: &'a [ScenarioRecord],
    pub dut: &'a DutIdentity,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Scenarios the run's tag expression left out.
    pub not_selected: usize,
    pub wall: std::time::Duration,
    pub ended: SystemTime,
}

/// A fresh run id: time-ordered (its start, to the microsecond) then random, so ids sort as
/// runs began and two benches never make the same one.
fn new_run_id(started: SystemTime) -> String {
    let micros = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let mut random = [0u8; 4];
    // getrandom through libc: the kernel's randomness, no crate of its own.
    // SAFETY: getrandom writes at most len bytes into the buffer given.
    let n = unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) };
    if n != random.len() as isize {
        random = std::process::id().to_be_bytes();
    }
    format!("{micros:016x}-{}", u32::from_be_bytes(random))
}

impl Ledger {
    /// Records that a run started: its row, marked `running`. Rows of this host's runs
    /// whose process is gone are marked `incomplete` first.
    pub async fn begin_run(&self, p: &Provenance) -> anyhow::Result<String> {
        self.mark_dead_runs(&p.host).await?;
        let id = new_run_id(p.started);
        let (fw_what, fw_sha, fw_flags) = match &p.firmware {
            Some(f) => (
                Some(f.what.clone()),
                Some(f.sha256.clone()),
                Some(f.flags.clone()),
            ),
            None => (None, None, None),
        };
        sqlx::query(
            "INSERT INTO runs (id, status, started, host, pid, plugrig_version, plugrig_commit,
                plugrig_tree, rig_name, rig_path, rig_sha256, time_scale, firmware_what,
                firmware_sha256, firmware_flags, jitter, tags, features, declaration_path,
                declaration_sha256)
             VALUES ($1, 'running', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19)",
        )
        .bind(&id)
        .bind(rfc3339_micros(p.started))
        .bind(&p.host)
        .bind(i64::from(std::process::id()))
        .bind(VERSION)
        .bind(COMMIT)
        .bind(TREE)
        .bind(&p.rig_name)
        .bind(p.rig_path.display().to_string())
        .bind(&p.rig_sha256)
        .bind(i64::from(p.time_scale))
        .bind(fw_what)
        .bind(fw_sha)
        .bind(fw_flags)
        .bind(&p.jitter)
        .bind(p.tags.clone())
        .bind(p.features.join(" "))
        .bind(p.declaration.as_ref().map(|d| d.0.display().to_string()))
        .bind(p.declaration.as_ref().map(|d| d.1.clone()))
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// Writes a run's scenarios and measurements and marks it `complete`, all or nothing.
    pub async fn finish_run(&self, id: &str, r: &RunResults<'_>) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        for s in r.scenarios {
            // Every attempt is a row; the one carrying the verdict is marked, and only its
            // measurements are kept (the trend follows the verdicts).
            for a in s.attempts.others.iter() {
                insert_attempt(&mut tx, id, s, a, false).await?;
            }
            insert_attempt(&mut tx, id, s, s, true).await?;
            for (seq, m) in s.world.measurements.iter().enumerate() {
                let q = sqlx::query(
                    "INSERT INTO measurements (run_id, feature, line, seq, name, unit, low, high,
                        value, pass, at_s)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(id)
                .bind(feature_id(&s.key.feature))
                .bind(s.key.line as i64)
                .bind(seq as i64)
                .bind(&m.name)
                .bind(m.unit);
                let q = bind_f64(q, m.limits.low);
                bind_f64(q, m.limits.high)
                    .bind(m.value)
                    .bind(i64::from(m.pass))
                    .bind(m.at.as_secs_f64())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let updated = sqlx::query(
            "UPDATE runs SET status = 'complete', ended = $1, passed = $2, failed = $3, skipped = $4,
                wall_s = $5, dut_prefix = $6, dut_device_type = $7, dut_firmware_version = $8,
                dut_product_model = $9, not_selected = $11
             WHERE id = $10 AND status = 'running'",
        )
        .bind(rfc3339_micros(r.ended))
        .bind(r.passed as i64)
        .bind(r.failed as i64)
        .bind(r.skipped as i64)
        .bind(r.wall.as_secs_f64())
        .bind(r.dut.prefix.clone())
        .bind(r.dut.device_type.clone())
        .bind(r.dut.firmware_version.clone())
        .bind(r.dut.product_model.clone())
        .bind(id)
        .bind(r.not_selected as i64)
        .execute(&mut *tx)
        .await?;
        anyhow::ensure!(
            updated.rows_affected() == 1,
            "run {id} is not a running run of this ledger"
        );
        tx.commit().await?;
        Ok(())
    }

    /// Marks `incomplete` the `running` rows of this host whose process is gone: runs that
    /// died (a timeout, the OOM killer) before they could finish.
    async fn mark_dead_runs(&self, host: &str) -> anyhow::Result<()> {
        let rows: Vec<AnyRow> =
            sqlx::query("SELECT id, pid FROM runs WHERE status = 'running' AND host = $1")
                .bind(host)
                .fetch_all(&self.pool)
                .await?;
        for row in rows {
            let (id, pid): (String, i64) = (row.try_get("id")?, row.try_get("pid")?);
            if !crate::drivers::dut::sim::process_alive(pid as i32) {
                sqlx::query("UPDATE runs SET status = 'incomplete' WHERE id = $1 AND status = 'running'")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }
}

/// One attempt's row: `a` is an attempt of scenario `s` (`s` itself for the verdict's).
async fn insert_attempt(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    s: &ScenarioRecord,
    a: &ScenarioRecord,
    verdict: bool,
) -> anyhow::Result<()> {
    let rules: Vec<&str> = s.rules().collect();
    let failure = a
        .steps
        .iter()
        .filter(|st| st.outcome == Outcome::Failed)
        .find_map(|st| st.error.clone());
    let quarantine = s
        .quarantine
        .as_ref()
        .map(|q| format!("{} ({}; until {}; {})", q.reason, q.link, q.expires, q.entry));
    sqlx::query(
        "INSERT INTO scenario_results (run_id, feature, line, feature_name, name, attempt,
            outcome, rules, duration_s, failure, rig_failure, skip_reason, verdict,
            failure_class, quarantine, not_judged)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(id)
    .bind(feature_id(&s.key.feature))
    .bind(s.key.line as i64)
    .bind(&s.feature_name)
    .bind(&s.name)
    .bind(i64::from(a.attempts.number))
    .bind(a.outcome.as_str())
    .bind(rules.join(" "))
    .bind(a.duration.as_secs_f64())
    .bind(failure)
    .bind(a.rig_failure().map(str::to_string))
    .bind(a.skip_reason.clone())
    .bind(i64::from(verdict))
    .bind(a.attempts.class.map(|c| c.name().to_string()))
    .bind(quarantine)
    .bind(
        a.skip_reason
            .as_deref()
            .map(|r| crate::report::statement::not_judged(r).name().to_string()),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A feature file as the ledger names it, the same from any checkout: its path under the
/// last `features/` directory of its path, or else its file name (a nightly job's clone is
/// a new directory every night).
pub fn feature_id(path: &str) -> String {
    let p = path.replace('\\', "/");
    match p.rfind("features/") {
        Some(i) => p[i + "features/".len()..].to_string(),
        None => p.rsplit('/').next().unwrap_or(&p).to_string(),
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds an optional f64. A missing one is bound as `None::<f32>` on purpose: sqlx 0.8.6's
/// `Any` driver swaps the two float types of a NULL (`any/arguments.rs`: a NULL Double is
/// sent as an f32, a NULL Real as an f64), and PostgreSQL refuses a float4 NULL for a
/// DOUBLE PRECISION parameter ("incorrect binary data format"). SQLite takes either.
fn bind_f64(q: AnyQuery<'_>, v: Option<f64>) -> AnyQuery<'_> {
    match v {
        Some(v) => q.bind(v),
        None => q.bind(None::<f32>),
    }
}

/// UTC with microseconds, so that runs started in the same second still sort.
pub fn rfc3339_micros(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}
