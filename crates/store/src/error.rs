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
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("invalid page cursor {0:?}")]
    InvalidCursor(String),
    /// A stored value the code cannot read back, e.g. an unknown state name.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
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
