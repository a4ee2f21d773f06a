//! The SQLite store: one file in the data dir, WAL mode, no set-up. Writes are serialized by
//! SQLite itself; readers never block the writer.
//!
//! Executions and their step checkpoints, the hot path of every run, go through an in-thread
//! connection ([`executions`]); everything else through sqlx's pool. See
//! `docs/decisions/0005-sqlite-checkpoints-in-thread.md`.

mod executions;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::sql::HasDatabase;

/// The earliest due job nobody holds, of the organization with the fewest jobs running among
/// those under their limit (`$4`). SQLite has no row locks: the UPDATE takes the database's
/// write lock, so two claims never see the same row.
const CLAIM_SQL: &str = concat!(
    "UPDATE jobs SET taken_over = (lease_owner IS NOT NULL), lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id = (SELECT j.id FROM jobs j \
     LEFT JOIN (SELECT org_id, count(*) AS running FROM jobs WHERE lease_until >= $3 GROUP BY org_id) busy \
     ON busy.org_id = j.org_id \
     WHERE j.run_at <= $3 AND (j.lease_until IS NULL OR j.lease_until < $3) \
     AND COALESCE(busy.running, 0) < $4 AND ",
    crate::sql::under_workflow_limit!(),
    " ORDER BY COALESCE(busy.running, 0), j.run_at, j.id LIMIT 1) RETURNING ",
    crate::sql::job_columns!()
);

pub struct SqliteStore {
    pool: SqlitePool,
    executions: executions::Executions,
}

impl HasDatabase for SqliteStore {
    type Database = sqlx::Sqlite;
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> crate::Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite:")
            .map_err(|error| crate::StoreError::Connect(error.to_string()))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL loses no committed transaction when the process dies; only a
            // power cut can lose the last ones.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    let mut handle = connection.lock_handle().await?;
                    // SAFETY: the handle is locked for this call, so nothing else uses the
                    // connection meanwhile; the handler is a plain function with no state.
                    unsafe {
                        libsqlite3_sys::sqlite3_busy_handler(
                            handle.as_raw_handle().as_ptr(),
                            Some(wait_while_busy),
                            std::ptr::null_mut(),
                        );
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|error| {
                crate::StoreError::Connect(format!("cannot open {}: {error}", path.display()))
            })?;
        let executions = executions::Executions::open(path)?;
        Ok(Self { pool, executions })
    }
}

/// How a connection waits for another's write to finish. SQLite's own handler sleeps for 1, 2,
/// 5, 10 ms and more between tries; writes here take microseconds, so this one yields the
/// thread at first, then sleeps 50 µs at a time, for up to about ten seconds.
extern "C" fn wait_while_busy(
    _: *mut std::ffi::c_void,
    attempts: std::ffi::c_int,
) -> std::ffi::c_int {
    match attempts {
        0..100 => std::thread::yield_now(),
        100..200_000 => std::thread::sleep(Duration::from_micros(50)),
        _ => return 0,
    }
    1
}

/// One process holds a SQLite database: its workers are woken in-process.
#[async_trait::async_trait]
impl crate::JobSignals for SqliteStore {
    async fn job_signal(&self) -> crate::Result<Option<Box<dyn crate::JobSignal>>> {
        Ok(None)
    }
}

#[async_trait::async_trait]
impl crate::Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> crate::Result<()> {
        sqlx::migrate!("migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> crate::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
        self.executions.close();
    }
}

mod implementation {
    use super::{CLAIM_SQL, SqliteStore};

    crate::sql::impl_store!(
        SqliteStore,
        claim_sql = CLAIM_SQL,
        lock_workflow_sql = None,
        hook_by_token = in_thread
    );
}
