//! Which database to use: `sqlite:PATH` or `postgres://...`, parsed once at start.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

/// A parsed database URL.
#[derive(Clone)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    /// The parsed options, and the URL as written (with its password: never shown), which
    /// PostgreSQL's own tools (`pg_dump`, `pg_restore`) take.
    Postgres(Box<PgConnectOptions>, String),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("missing scheme: expected sqlite:PATH or postgres://USER@HOST/DATABASE")]
    MissingScheme,
    #[error("unknown scheme {0:?}: expected sqlite or postgres")]
    UnknownScheme(String),
    #[error("malformed URL: {0}")]
    Malformed(String),
}

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = text.split_once(':').ok_or(UrlError::MissingScheme)?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(UrlError::MissingScheme);
        }
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let path = rest.strip_prefix("//").unwrap_or(rest);
                let path = path.split_once('?').map_or(path, |(path, _)| path);
                if path.is_empty() {
                    return Err(UrlError::Malformed("sqlite URL names no file".into()));
                }
                Ok(Self::Sqlite(PathBuf::from(path)))
            }
            "postgres" | "postgresql" => PgConnectOptions::from_str(text)
                .map(|options| Self::Postgres(Box::new(options), text.to_owned()))
                .map_err(|error| UrlError::Malformed(error.to_string())),
            other => Err(UrlError::UnknownScheme(other.to_owned())),
        }
    }

    /// The default: a SQLite file in the data dir.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::Sqlite(data_dir.join("baton.db"))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(..) => "postgres",
        }
    }
}

/// Shows where the database is without any password.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(formatter, "sqlite:{}", path.display()),
            Self::Postgres(options, _) => write!(
                formatter,
                "postgres://{}@{}:{}/{}",
                options.get_username(),
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or_default()
            ),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        for text in [
            "sqlite:data/baton.db",
            "sqlite://data/baton.db",
            "sqlite:data/baton.db?mode=rwc",
        ] {
            match DatabaseUrl::parse(text).unwrap() {
                DatabaseUrl::Sqlite(path) => assert_eq!(path, PathBuf::from("data/baton.db")),
                DatabaseUrl::Postgres(..) => panic!("{text} parsed as postgres"),
            }
        }
        assert!(matches!(
            DatabaseUrl::parse("sqlite:"),
            Err(UrlError::Malformed(_))
        ));
    }

    #[test]
    fn postgres_urls_parse_and_display_without_password() {
        let url = DatabaseUrl::parse("postgres://baton:hunter2@db.internal:6543/prod").unwrap();
        assert_eq!(url.backend(), "postgres");
        assert_eq!(url.to_string(), "postgres://baton@db.internal:6543/prod");
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        assert_eq!(
            DatabaseUrl::parse("mysql://root@localhost/db").unwrap_err(),
            UrlError::UnknownScheme("mysql".into())
        );
        assert_eq!(
            DatabaseUrl::parse("just words").unwrap_err(),
            UrlError::MissingScheme
        );
        assert!(matches!(
            DatabaseUrl::parse("postgres://user@host:notaport/db"),
            Err(UrlError::Malformed(_))
        ));
    }
}
