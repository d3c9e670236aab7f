//! The ledger's schema, versioned: each migration is SQL that SQLite and PostgreSQL both
//! take, applied in order inside a transaction, and `plugrig_schema` says how far a
//! database has come. Never edit a migration that has shipped: add the next one.
//!
//! Types are the common ground of both: TEXT, BIGINT (SQLite's INTEGER affinity) and
//! DOUBLE PRECISION (REAL); booleans are BIGINT 0/1 and times RFC 3339 text in UTC, which
//! sorts as time does.

/// (version, statements).
pub const MIGRATIONS: &[(i64, &[&str])] = &[
    (1, V1),
    // Attempts (`--retries`, `--repeat`): one row per attempt, `verdict` 1 on the row that
    // carries the scenario's outcome in the run (rows of version 1 are single attempts);
    // the class of a failed attempt (`retry`); the quarantine entry a scenario fell under.
    (
        2,
        &[
            "ALTER TABLE scenario_results ADD COLUMN verdict BIGINT NOT NULL DEFAULT 1",
            "ALTER TABLE scenario_results ADD COLUMN failure_class TEXT",
            "ALTER TABLE scenario_results ADD COLUMN quarantine TEXT",
        ],
    ),
    // Why a skipped scenario was not judged: 'not applicable' (the plug does not claim what
    // it needs) or 'not checkable' (the rig lacks it); and the plug's declaration a run
    // judged the plug by (`rig::declaration`); how many scenarios the tags left out.
    (
        3,
        &[
            "ALTER TABLE scenario_results ADD COLUMN not_judged TEXT",
            "ALTER TABLE runs ADD COLUMN declaration_path TEXT",
            "ALTER TABLE runs ADD COLUMN declaration_sha256 TEXT",
            "ALTER TABLE runs ADD COLUMN not_selected BIGINT",
        ],
    ),
];

/// Version 1: runs, each scenario's result, each measurement.
const V1: &[&str] = &[
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        started TEXT NOT NULL,
        ended TEXT,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        plugrig_version TEXT NOT NULL,
        plugrig_commit TEXT NOT NULL,
        plugrig_tree TEXT NOT NULL,
        rig_name TEXT NOT NULL,
        rig_path TEXT NOT NULL,
        rig_sha256 TEXT NOT NULL,
        time_scale BIGINT NOT NULL,
        firmware_what TEXT,
        firmware_sha256 TEXT,
        firmware_flags TEXT,
        dut_prefix TEXT,
        dut_device_type TEXT,
        dut_firmware_version TEXT,
        dut_product_model TEXT,
        jitter TEXT NOT NULL,
        tags TEXT,
        features TEXT NOT NULL,
        passed BIGINT,
        failed BIGINT,
        skipped BIGINT,
        wall_s DOUBLE PRECISION
    )",
    "CREATE INDEX runs_by_rig ON runs (rig_name, started)",
    "CREATE TABLE scenario_results (
        run_id TEXT NOT NULL REFERENCES runs (id),
        feature TEXT NOT NULL,
        line BIGINT NOT NULL,
        feature_name TEXT NOT NULL,
        name TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        rules TEXT NOT NULL,
        duration_s DOUBLE PRECISION NOT NULL,
        failure TEXT,
        rig_failure TEXT,
        skip_reason TEXT,
        PRIMARY KEY (run_id, feature, line, attempt)
    )",
    "CREATE TABLE measurements (
        run_id TEXT NOT NULL REFERENCES runs (id),
        feature TEXT NOT NULL,
        line BIGINT NOT NULL,
        seq BIGINT NOT NULL,
        name TEXT NOT NULL,
        unit TEXT NOT NULL,
        low DOUBLE PRECISION,
        high DOUBLE PRECISION,
        value DOUBLE PRECISION NOT NULL,
        pass BIGINT NOT NULL,
        at_s DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (run_id, feature, line, seq)
    )",
    "CREATE INDEX measurements_by_name ON measurements (feature, line, name)",
];

/// The newest schema version this plugrig writes and reads.
pub fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}
