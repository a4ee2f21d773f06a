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
