//! Reading the ledger back: runs, their scenarios and their measurements.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::rows::{LedgerRun, MeasurementRow, RunFilter, ScenarioRow};
use super::Ledger;

fn run_of(row: &AnyRow) -> anyhow::Result<LedgerRun> {
    Ok(LedgerRun {
        id: row.try_get("id")?,
        status: row.try_get("status")?,
        started: row.try_get("started")?,
        ended: row.try_get("ended")?,
        host: row.try_get("host")?,
        plugrig_version: row.try_get("plugrig_version")?,
        plugrig_commit: row.try_get("plugrig_commit")?,
        plugrig_tree: row.try_get("plugrig_tree")?,
        rig_name: row.try_get("rig_name")?,
        rig_sha256: row.try_get("rig_sha256")?,
        firmware_sha256: row.try_get("firmware_sha256")?,
        firmware_flags: row.try_get("firmware_flags")?,
        dut_prefix: row.try_get("dut_prefix")?,
        dut_firmware_version: row.try_get("dut_firmware_version")?,
        passed: row.try_get("passed")?,
        failed: row.try_get("failed")?,
        skipped: row.try_get("skipped")?,
        wall_s: row.try_get("wall_s")?,
    })
}

const RUN_COLUMNS: &str = "id, status, started, ended, host, plugrig_version, plugrig_commit, \
    plugrig_tree, rig_name, rig_sha256, firmware_sha256, firmware_flags, dut_prefix, dut_firmware_version, \
    passed, failed, skipped, wall_s";

/// `$1, $2, ... $n` from `from`.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Ledger {
    /// The runs `f` selects, oldest first (a strip reads left to right, newest right).
    pub async fn runs(&self, f: &RunFilter) -> anyhow::Result<Vec<LedgerRun>> {
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs");
        if f.rig.is_some() {
            sql.push_str(" WHERE rig_name = $1");
        }
        sql.push_str(" ORDER BY started DESC, id DESC");
        if let Some(n) = f.last {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        let mut q = sqlx::query(&sql);
        if let Some(r) = &f.rig {
            q = q.bind(r.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut runs = rows.iter().map(run_of).collect::<anyhow::Result<Vec<_>>>()?;
        runs.reverse();
        Ok(runs)
    }

    /// Which of `scenarios` (as the ledger names them: feature id, name) passed at their
    /// first attempt in each of the newest `n` complete runs of rig `rig`, leaving out run
    /// `except` (the run under way). Fewer than `n` such runs: none did.
    pub async fn passed_last_runs(
        &self,
        rig: &str,
        except: &str,
        n: usize,
        scenarios: &[(String, String)],
    ) -> anyhow::Result<Vec<bool>> {
        let runs: Vec<LedgerRun> = self
            .runs(&RunFilter {
                last: None,
                rig: Some(rig.to_string()),
            })
            .await?
            .into_iter()
            .filter(|r| r.status == "complete" && r.id != except)
            .collect();
        if runs.len() < n {
            return Ok(vec![false; scenarios.len()]);
        }
        let runs = &runs[runs.len() - n..];
        let rows = self.scenarios_of(runs).await?;
        let histories = super::analysis::histories(runs, &rows);
        Ok(scenarios
            .iter()
            .map(|(feature, name)| {
                histories
                    .iter()
                    .find(|h| &h.feature == feature && &h.name == name)
                    .is_some_and(|h| {
                        h.cells
                            .iter()
                            .all(|c| c.as_ref().is_some_and(|c| c.letter() == 'P'))
                    })
            })
            .collect())
    }

    /// One run by its id, the random tail of its id, or `last` / `last-N` (N runs before
    /// the newest).
    pub async fn run(&self, which: &str) -> anyhow::Result<LedgerRun> {
        let all = self.runs(&RunFilter::default()).await?;
        let back = match which {
            "last" => Some(0),
            w => w.strip_prefix("last-").and_then(|n| n.parse::<usize>().ok()),
        };
        if let Some(back) = back {
            return all
                .iter()
                .rev()
                .nth(back)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("the ledger {} has no run {which}", self.dest));
        }
        let found: Vec<&LedgerRun> = all
            .iter()
            .filter(|r| r.id == which || r.short_id() == which)
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => anyhow::bail!("the ledger {} has no run {which:?}", self.dest),
            _ => anyhow::bail!("{which:?} names several runs of {}: give the whole id", self.dest),
        }
    }

    /// The rows of `select` (a table's) that belong to `runs`, in `order`.
    async fn rows_of_runs(
        &self,
        select: &str,
        order: &str,
        runs: &[LedgerRun],
    ) -> anyhow::Result<Vec<AnyRow>> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{select} WHERE run_id IN ({}) {order}",
            placeholders(1, runs.len())
        );
        let mut q = sqlx::query(&sql);
        for r in runs {
            q = q.bind(r.id.clone());
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    /// The scenarios of `runs`, every attempt.
    pub async fn scenarios_of(&self, runs: &[LedgerRun]) -> anyhow::Result<Vec<ScenarioRow>> {
        let rows = self
            .rows_of_runs(
                "SELECT run_id, feature, line, feature_name, name, attempt, outcome, rules, duration_s,
                    failure, rig_failure, skip_reason, verdict, failure_class, quarantine
                 FROM scenario_results",
                "ORDER BY feature, line, attempt",
                runs,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ScenarioRow {
                    run_id: row.try_get("run_id")?,
                    feature: row.try_get("feature")?,
                    line: row.try_get("line")?,
                    feature_name: row.try_get("feature_name")?,
                    name: row.try_get("name")?,
                    attempt: row.try_get("attempt")?,
                    outcome: row.try_get("outcome")?,
                    rules: row.try_get("rules")?,
                    duration_s: row.try_get("duration_s")?,
                    failure: row.try_get("failure")?,
                    rig_failure: row.try_get("rig_failure")?,
                    skip_reason: row.try_get("skip_reason")?,
                    verdict: row.try_get::<i64, _>("verdict")? != 0,
                    failure_class: row.try_get("failure_class")?,
                    quarantine: row.try_get("quarantine")?,
                })
            })
            .collect()
    }

    /// The measurements of `runs`.
    pub async fn measurements_of(&self, runs: &[LedgerRun]) -> anyhow::Result<Vec<MeasurementRow>> {
        let rows = self
            .rows_of_runs(
                "SELECT run_id, feature, line, seq, name, unit, low, high, value, pass FROM measurements",
                "ORDER BY feature, line, seq",
                runs,
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(MeasurementRow {
                    run_id: row.try_get("run_id")?,
                    feature: row.try_get("feature")?,
                    line: row.try_get("line")?,
                    seq: row.try_get("seq")?,
                    name: row.try_get("name")?,
                    unit: row.try_get("unit")?,
                    low: row.try_get("low")?,
                    high: row.try_get("high")?,
                    value: row.try_get("value")?,
                    pass: row.try_get::<i64, _>("pass")? != 0,
                })
            })
            .collect()
    }
}
