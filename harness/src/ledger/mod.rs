//! The run ledger: every run appended to a database, for the nights that follow (history,
//! trends, flakiness, comparison).
//!
//! One code path for both databases: sqlx's `Any` driver over SQLite (a file, embedded,
//! no server; the default) or PostgreSQL (a URL: a farm whose benches report to one
//! place). The schema is versioned (`schema`). A run is written in two steps: its row
//! first, marked `running`, then at its end, in one transaction, its scenarios, its
//! measurements and the row marked `complete`. A run that dies midway leaves only its row,
//! which reads as `incomplete` (its process is gone), never half its scenarios. Two benches
//! appending at once each write their own rows in their own transactions; SQLite waits
//! for the other writer (busy timeout) rather than fail.

pub mod analysis;
pub mod page;
pub mod read;
pub mod rows;
pub mod schema;
mod write;

use std::sync::Once;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

pub use rows::{LedgerRun, MeasurementRow, RunFilter, ScenarioRow};
pub use write::{feature_id, RunResults};

/// A ledger, open.
pub struct Ledger {
    pool: AnyPool,
    /// Where it is, as given (a file path or a URL), with any password left out.
    pub dest: String,
    pub postgres: bool,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ledger({})", self.dest)
    }
}

/// A database URL for `dest`: a `postgres://` or `postgresql://` URL as it is, a
/// `sqlite:` URL as it is, anything else a SQLite file path (created if missing).
fn url_of(dest: &str) -> (String, bool) {
    if dest.starts_with("postgres://") || dest.starts_with("postgresql://") {
        (dest.to_string(), true)
    } else if dest.starts_with("sqlite:") {
        (dest.to_string(), false)
    } else {
        (format!("sqlite://{dest}?mode=rwc"), false)
    }
}

/// `dest` without the password of a URL's user info, for messages and reports.
pub fn redacted(dest: &str) -> String {
    let Some((scheme, rest)) = dest.split_once("://") else {
        return dest.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => dest.to_string(),
    }
}

impl Ledger {
    /// Opens (and on first use creates) the ledger at `dest`, bringing its schema up to
    /// date. A schema newer than this plugrig's is refused.
    pub async fn open(dest: &str) -> anyhow::Result<Ledger> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let (url, postgres) = url_of(dest);
        let shown = redacted(dest);
        // A SQLite file's directory is made as the file is (`--history reports/ledger.db`
        // before the run has made `reports`).
        if !postgres && !dest.starts_with("sqlite:") {
            if let Some(dir) = std::path::Path::new(dest)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the ledger's directory {}", dir.display()))?;
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if !postgres {
                        // Wait for another bench's writer instead of failing at once, and
                        // let readers go on while one writes.
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("opening the ledger {shown}"))?;
        let ledger = Ledger {
            pool,
            dest: shown,
            postgres,
        };
        ledger.migrate().await?;
        Ok(ledger)
    }

    /// The schema version of the database.
    pub async fn schema_version(&self) -> anyhow::Result<i64> {
        let row: AnyRow = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM plugrig_schema")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("v")?)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        self.pool
            .execute("CREATE TABLE IF NOT EXISTS plugrig_schema (version BIGINT NOT NULL)")
            .await
            .with_context(|| format!("creating the schema table of {}", self.dest))?;
        // Two benches opening a new ledger at once: one migrates, the other's transaction
        // fails on the tables the first made, and it looks again.
        let mut tries = 0;
        loop {
            match self.migrate_once().await {
                Ok(()) => return Ok(()),
                Err(e) if tries < 5 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => return Err(e.context(format!("migrating the ledger {}", self.dest))),
            }
        }
    }

    async fn migrate_once(&self) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        if self.postgres {
            // One migrator at a time; the lock ends with the transaction.
            tx.execute("LOCK TABLE plugrig_schema IN EXCLUSIVE MODE").await?;
        }
        let row: AnyRow = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM plugrig_schema")
            .fetch_one(&mut *tx)
            .await?;
        let current: i64 = row.try_get("v")?;
        let latest = schema::latest();
        anyhow::ensure!(
            current <= latest,
            "the ledger's schema is version {current}, newer than this plugrig's ({latest}): use a newer plugrig"
        );
        for (version, statements) in schema::MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            for s in *statements {
                tx.execute(*s).await?;
            }
            sqlx::query("INSERT INTO plugrig_schema (version) VALUES ($1)")
                .bind(*version)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// `plugrig compare`: run `a` against run `b` of the ledger at `dest`.
pub async fn compare_runs(dest: &str, a: &str, b: &str) -> anyhow::Result<analysis::Comparison> {
    let ledger = Ledger::open(dest).await?;
    let (ra, rb) = (ledger.run(a).await?, ledger.run(b).await?);
    let runs = [ra.clone(), rb.clone()];
    let scenarios = ledger.scenarios_of(&runs).await?;
    let measurements = ledger.measurements_of(&runs).await?;
    let split = |id: &str| -> (Vec<ScenarioRow>, Vec<MeasurementRow>) {
        (
            scenarios.iter().filter(|s| s.run_id == id).cloned().collect(),
            measurements.iter().filter(|m| m.run_id == id).cloned().collect(),
        )
    };
    let (sa, ma) = split(&ra.id);
    let (sb, mb) = split(&rb.id);
    Ok(analysis::compare((&ra, &sa, &ma), (&rb, &sb, &mb)))
}
