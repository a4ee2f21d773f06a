//! The store's one error type.

use baton_core::TransitionError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist (or belongs to another organization).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule or a concurrent change stopped the write.
    #[error("{0}")]
    Conflict(String),
    /// A delivery key used before for a different request (the first execution's id).
    #[error("the key was used before for a different request (execution {0})")]
    DeliveryMismatch(baton_core::ExecutionId),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("invalid page cursor {0:?}")]
    InvalidCursor(String),
    /// A stored value the code cannot read back, e.g. an unknown state name.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A write made under a lease that another worker has taken over since (see
    /// [`baton_core::job::Fence`]): the write was not made.
    #[error("job {0} was claimed by another worker; this worker's write was refused")]
    LeaseLost(baton_core::JobId),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// An error of the in-thread SQLite connection.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// Whether the database could not be reached (down, restarting, the pool exhausted): the
    /// write may well succeed later, and nothing about the data is wrong.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect(_) => true,
            StoreError::Database(error) => match error {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // A connection cut while it was being opened (a proxy or load balancer in
                // front of a restarting server accepts and closes at once).
                sqlx::Error::Protocol(message) => message.contains("unexpected response"),
                sqlx::Error::Database(database) => database.code().is_some_and(|code| {
                    // Connection exceptions, and a server shutting down or starting up.
                    code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
                }),
                _ => false,
            },
            _ => false,
        }
    }

    /// Turns a foreign-key violation (what the row points at is gone) into
    /// [`StoreError::NotFound`] of `what`.
    pub(crate) fn on_missing(error: sqlx::Error, what: &'static str) -> StoreError {
        if Self::is_foreign_key(&error) {
            StoreError::NotFound(what)
        } else {
            StoreError::Database(error)
        }
    }

    /// [`StoreError::on_missing`], and a unique-constraint violation as
    /// [`StoreError::Conflict`] with `message`.
    pub(crate) fn on_missing_or_unique(
        error: sqlx::Error,
        what: &'static str,
        message: impl FnOnce() -> String,
    ) -> StoreError {
        if Self::is_foreign_key(&error) {
            StoreError::NotFound(what)
        } else {
            Self::on_unique(error, message)
        }
    }

    fn is_foreign_key(error: &sqlx::Error) -> bool {
        matches!(error, sqlx::Error::Database(database) if database.is_foreign_key_violation())
    }

    /// Turns a unique-constraint violation into a [`StoreError::Conflict`] with `message`.
    pub(crate) fn on_unique(error: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
        match &error {
            sqlx::Error::Database(database) if database.is_unique_violation() => {
                StoreError::Conflict(message())
            }
            _ => StoreError::Database(error),
        }
    }
}
