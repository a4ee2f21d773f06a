//! Fresh databases for the conformance suite: a new SQLite file per test, and a new PostgreSQL
//! schema per test when `BATON_TEST_DATABASE_URL` names a server, so concurrent runs and reruns
//! never collide.

pub mod skip;

use std::str::FromStr;
use std::sync::Arc;

use baton_store::{PostgresStore, SqliteStore, Store};
use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;

pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub sqlite_path: Option<std::path::PathBuf>,
    cleanup: Cleanup,
}

/// A connection below the store, to either database.
enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        options: Box<PgConnectOptions>,
        schema: String,
    },
}

impl TestStore {
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("baton.db");
        let store = SqliteStore::open(&path).await.expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        TestStore {
            store: Arc::new(store),
            sqlite_path: Some(path),
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// `None` when no PostgreSQL server is configured for tests.
    pub async fn postgres() -> Option<TestStore> {
        Self::postgres_through(None).await
    }

    /// The server's address (host and port) of `BATON_TEST_DATABASE_URL`.
    #[allow(dead_code)] // for the runtime's outage test
    pub fn postgres_address() -> Option<(String, u16)> {
        let url = std::env::var("BATON_TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())?;
        let options = PgConnectOptions::from_str(&url).ok()?;
        Some((options.get_host().to_owned(), options.get_port()))
    }

    /// Like [`TestStore::postgres`], with the store connecting through `127.0.0.1:port` (a
    /// proxy a test can cut) instead of straight to the server.
    pub async fn postgres_through(port: Option<u16>) -> Option<TestStore> {
        let url = std::env::var("BATON_TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.is_empty())?;
        let options =
            PgConnectOptions::from_str(&url).expect("BATON_TEST_DATABASE_URL is a postgres URL");
        let schema = format!("baton_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect_with(&options)
            .await
            .expect("connect to test server");
        // The schema name is made here from a UUID, never from input.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.ok();
        let mut scoped = options.clone().options([("search_path", schema.as_str())]);
        if let Some(port) = port {
            scoped = scoped.host("127.0.0.1").port(port);
        }
        let store = PostgresStore::connect(scoped)
            .await
            .expect("connect postgres");
        store.migrate().await.expect("migrate postgres");
        Some(TestStore {
            store: Arc::new(store),
            sqlite_path: None,
            cleanup: Cleanup::Postgres {
                options: Box::new(options),
                schema,
            },
        })
    }

    /// A second store on the same PostgreSQL schema, straight to the server: what another
    /// process sharing the database sees. `None` on SQLite.
    #[allow(dead_code)] // for the runtime's outage test
    pub async fn another_process(&self) -> Option<Arc<dyn Store>> {
        let Cleanup::Postgres { options, schema } = &self.cleanup else {
            return None;
        };
        let scoped = (**options)
            .clone()
            .options([("search_path", schema.as_str())]);
        let store = PostgresStore::connect(scoped)
            .await
            .expect("connect postgres");
        Some(Arc::new(store))
    }

    /// A connection straight to the test's database, below the store.
    async fn raw(&self) -> Raw {
        match &self.cleanup {
            Cleanup::Sqlite(_) => {
                let path = self.sqlite_path.as_ref().expect("a SQLite file");
                Raw::Sqlite(
                    sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                        .await
                        .expect("open the SQLite file"),
                )
            }
            Cleanup::Postgres { options, schema } => {
                let scoped = (**options)
                    .clone()
                    .options([("search_path", schema.as_str())]);
                Raw::Postgres(
                    sqlx::PgConnection::connect_with(&scoped)
                        .await
                        .expect("connect to the test schema"),
                )
            }
        }
    }

    /// Runs one statement straight on the database, below the store: `sqlite` on SQLite,
    /// `postgres` on PostgreSQL. The rows it touched, or the database's error.
    #[allow(dead_code)]
    pub async fn raw_sql(&self, sqlite: &str, postgres: &str) -> Result<u64, String> {
        let done = match self.raw().await {
            Raw::Sqlite(mut raw) => sqlx::query(sqlx::AssertSqlSafe(sqlite.to_owned()))
                .execute(&mut raw)
                .await
                .map(|done| done.rows_affected()),
            Raw::Postgres(mut raw) => sqlx::query(sqlx::AssertSqlSafe(postgres.to_owned()))
                .execute(&mut raw)
                .await
                .map(|done| done.rows_affected()),
        };
        done.map_err(|error| error.to_string())
    }

    /// Every `table.column` (of the UUID columns, which hold every id) that still holds one of
    /// `ids`, with how many rows: what "no row of it remains" checks.
    #[allow(dead_code)]
    pub async fn rows_holding(&self, ids: &[uuid::Uuid]) -> Vec<String> {
        let mut found = Vec::new();
        match self.raw().await {
            Raw::Sqlite(mut raw) => {
                let columns: Vec<(String, String)> = sqlx::query_as(
                    "SELECT m.name, p.name FROM sqlite_schema m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND p.type = 'BLOB'",
                )
                .fetch_all(&mut raw)
                .await
                .unwrap();
                for (table, column) in columns {
                    for id in ids {
                        let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT count(*) FROM \"{table}\" WHERE \"{column}\" = $1"
                        )))
                        .bind(id)
                        .fetch_one(&mut raw)
                        .await
                        .unwrap();
                        if count > 0 {
                            found.push(format!("{table}.{column}: {count}"));
                        }
                    }
                }
            }
            Raw::Postgres(mut raw) => {
                let columns: Vec<(String, String)> = sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND data_type = 'uuid'",
                )
                .fetch_all(&mut raw)
                .await
                .unwrap();
                for (table, column) in columns {
                    let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT count(*) FROM \"{table}\" WHERE \"{column}\" = ANY($1)"
                    )))
                    .bind(ids)
                    .fetch_one(&mut raw)
                    .await
                    .unwrap();
                    if count > 0 {
                        found.push(format!("{table}.{column}: {count}"));
                    }
                }
            }
        }
        found.sort();
        found
    }

    /// Drops the test's schema (a failed test leaves it behind for inspection).
    pub async fn finish(self) {
        self.store.close().await;
        if let Cleanup::Postgres { options, schema } = self.cleanup {
            let mut admin = sqlx::PgConnection::connect_with(&options)
                .await
                .expect("connect to test server");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .expect("drop schema");
        }
    }
}

/// Runs each named test function against SQLite, and against PostgreSQL when configured.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = $crate::harness::TestStore::sqlite().await;
                    super::$name(&test).await;
                    test.finish().await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(test) = $crate::harness::TestStore::postgres().await else {
                        $crate::harness::skip::skipped(
                            "the PostgreSQL half of this suite",
                            "BATON_TEST_DATABASE_URL",
                        );
                        return;
                    };
                    super::$name(&test).await;
                    test.finish().await;
                }
            )*
        }
    };
}
