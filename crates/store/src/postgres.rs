//! The PostgreSQL store, for production and for several nodes sharing one database. Workers
//! claim jobs with `FOR UPDATE SKIP LOCKED`, so they never wait on each other's rows.

use std::time::Duration;

use sqlx::{Connection, PgConnection, PgPool};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::sql::HasDatabase;

/// The earliest due job nobody holds, of the organization with the fewest jobs running among
/// those under their limit (`$4`); `SKIP LOCKED` lets concurrent claims pass each other.
const CLAIM_SQL: &str = concat!(
    "UPDATE jobs SET taken_over = (lease_owner IS NOT NULL), lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
     WHERE id = (SELECT j.id FROM jobs j \
     LEFT JOIN (SELECT org_id, count(*) AS running FROM jobs WHERE lease_until >= $3 GROUP BY org_id) busy \
     ON busy.org_id = j.org_id \
     WHERE j.run_at <= $3 AND (j.lease_until IS NULL OR j.lease_until < $3) \
     AND COALESCE(busy.running, 0) < $4 AND ",
    crate::sql::under_workflow_limit!(),
    " ORDER BY COALESCE(busy.running, 0), j.run_at, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED) RETURNING ",
    crate::sql::job_columns!()
);

pub struct PostgresStore {
    pool: PgPool,
}

impl HasDatabase for PostgresStore {
    type Database = sqlx::Postgres;
}

impl PostgresStore {
    /// Connects, failing within a few seconds when the server does not answer. One connection is
    /// made first on its own, so that a refused or misconfigured connection reports its own cause
    /// rather than a pool timeout.
    pub async fn connect(options: PgConnectOptions) -> crate::Result<Self> {
        let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
            .await
            .map_err(|_| {
                crate::StoreError::Connect(format!("no answer within {CONNECT_TIMEOUT:?}"))
            })?
            .map_err(|error| crate::StoreError::Connect(error.to_string()))?;
        probe.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|error| crate::StoreError::Connect(error.to_string()))?;
        Ok(Self { pool })
    }
}

/// `LISTEN baton_jobs`: a trigger on `jobs` notifies when a job becomes claimable.
struct Listener(sqlx::postgres::PgListener);

#[async_trait::async_trait]
impl crate::JobSignal for Listener {
    async fn wait(&mut self) -> crate::Result<()> {
        self.0.recv().await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl crate::JobSignals for PostgresStore {
    async fn job_signal(&self) -> crate::Result<Option<Box<dyn crate::JobSignal>>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen("baton_jobs").await?;
        Ok(Some(Box::new(Listener(listener))))
    }
}

#[async_trait::async_trait]
impl crate::Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> crate::Result<()> {
        sqlx::migrate!("migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn ping(&self) -> crate::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn clock(&self) -> crate::Result<chrono::DateTime<chrono::Utc>> {
        let (now,): (chrono::DateTime<chrono::Utc>,) =
            sqlx::query_as("SELECT now()").fetch_one(&self.pool).await?;
        Ok(now)
    }
}

mod implementation {
    use super::{CLAIM_SQL, PostgresStore};

    crate::sql::impl_store!(
        PostgresStore,
        claim_sql = CLAIM_SQL,
        lock_workflow_sql = Some("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))"),
        hook_by_token = pooled
    );
    crate::sql::impl_execution_store!(PostgresStore);
}
