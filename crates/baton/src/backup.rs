//! `baton backup FILE` and `baton restore FILE`.
//!
//! SQLite is copied with `VACUUM INTO` beside the serving process (one read transaction: the
//! database as it stood at one commit); PostgreSQL by `pg_dump --format=custom` (one snapshot)
//! and put back by `pg_restore` in a single transaction. Either copy is sealed with the backup
//! key (see `baton_store::backup`) as it is written; the plaintext SQLite copy lives only in a
//! private temporary file in the data dir for the time it takes to seal it.
//!
//! The master key is never in a backup: a stolen backup and its backup key still open no
//! credential. Restoring needs the backup key, and serving the restored data needs the master
//! key the data was made with.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use baton_store::DatabaseUrl;
use baton_store::backup::{self, BackupKey, BackupKind};

use crate::cli::BackupArgs;
use crate::settings::{CommonSettings, SettingError};
use crate::{logging, startup};

const SETTING: &str = "backup key (BATON_BACKUP_KEY or --key-file)";

/// The backup key: `BATON_BACKUP_KEY`, else the key file (made now when `make` and missing).
fn key(args: &BackupArgs, make: bool) -> Result<BackupKey, SettingError> {
    if let Some(text) = &args.key {
        return BackupKey::from_base64(text)
            .map_err(|error| SettingError::new(SETTING, error.to_string()));
    }
    let Some(path) = &args.key_file else {
        return Err(SettingError::new(
            SETTING,
            "name the key that seals backups: --key-file FILE (made on the first backup, kept \
             apart from the backups) or BATON_BACKUP_KEY",
        ));
    };
    match std::fs::read_to_string(path) {
        Ok(text) => BackupKey::from_base64(&text)
            .map_err(|error| SettingError::new(SETTING, format!("{}: {error}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && make => {
            let key = BackupKey::generate();
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut file| {
                    file.write_all(format!("{}\n", key.to_base64()).as_bytes())?;
                    file.sync_all()
                })
                .map_err(|error| {
                    SettingError::new(SETTING, format!("cannot write {}: {error}", path.display()))
                })?;
            eprintln!(
                "baton: made backup key {} in {}: keep a copy apart from the backups; without it \
                 they cannot be opened",
                key.id(),
                path.display()
            );
            Ok(key)
        }
        Err(error) => Err(SettingError::new(
            SETTING,
            format!("cannot read {}: {error}", path.display()),
        )),
    }
}

/// A PostgreSQL URL for `pg_dump`/`pg_restore`, its password moved to `PGPASSWORD` so that
/// it never shows in the process list.
fn libpq(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut parsed = url::Url::parse(url).context("the database URL")?;
    let password = parsed
        .password()
        .map(|password| {
            percent_encoding::percent_decode_str(password)
                .decode_utf8()
                .map(|password| password.into_owned())
                .context("the database URL's password is not valid percent-encoding")
        })
        .transpose()?;
    parsed
        .set_password(None)
        .map_err(|()| anyhow::anyhow!("the database URL cannot carry a password"))?;
    Ok((parsed.to_string(), password))
}

/// `pg_dump` or `pg_restore` against `url`, or why it cannot start.
fn postgres_tool(tool: &str, url: &str, args: &[&str]) -> anyhow::Result<std::process::Command> {
    let (dbname, password) = libpq(url)?;
    let mut command = std::process::Command::new(tool);
    command.args(args).arg(format!("--dbname={dbname}"));
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    Ok(command)
}

fn not_found(tool: &str, error: std::io::Error) -> anyhow::Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        anyhow::anyhow!(
            "{tool} was not found: install PostgreSQL's client tools (the server's major version \
             or newer) and make sure {tool} is on PATH"
        )
    } else {
        anyhow::anyhow!("cannot start {tool}: {error}")
    }
}

/// The first lines a tool wrote on stderr, for an error message.
fn said(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.is_empty())
        .take(3)
        .collect();
    lines.join("; ")
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} kB", bytes as f64 / 1024.0)
    }
}

/// A file beside `path` that is removed when dropped unless kept.
struct Partial(PathBuf);

impl Partial {
    fn beside(path: &Path, suffix: &str) -> Self {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{suffix}-{}", std::process::id()));
        Self(PathBuf::from(name))
    }

    fn create(&self) -> std::io::Result<std::fs::File> {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.0)
    }

    /// Moves the file to `path`, durably.
    fn keep_as(self, path: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.0, path)?;
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::File::open(parent)?.sync_all()?;
        }
        std::mem::forget(self);
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let (settings, _) = CommonSettings::resolve(&args.common)?;
    logging::init(settings.log_format, settings.log_or("warn"));
    let key = key(&args, true)?;
    let file = args.file.clone();
    let settings_for_task = settings.clone();
    let (kind, bytes) =
        tokio::task::spawn_blocking(move || seal_database(&settings_for_task, &file, &key))
            .await??;
    println!(
        "backed up {} ({}, {}) to {}; restore it with `baton restore` and the same backup key; \
         the restored data opens with the master key it was made with",
        settings.database,
        kind.describe(),
        size(bytes),
        args.file.display()
    );
    Ok(())
}

fn seal_database(
    settings: &CommonSettings,
    file: &Path,
    key: &BackupKey,
) -> anyhow::Result<(BackupKind, u64)> {
    let sealed = Partial::beside(file, "partial");
    let mut output = std::io::BufWriter::new(
        sealed
            .create()
            .with_context(|| format!("cannot write {}", file.display()))?,
    );
    let (kind, bytes) = match &settings.database {
        DatabaseUrl::Sqlite(path) => {
            let copy = Partial::beside(&settings.data_dir.join(".backup.db"), "snapshot");
            backup::sqlite_snapshot(path, &copy.0)
                .with_context(|| format!("cannot copy {}", settings.database))?;
            let input = std::fs::File::open(&copy.0)?;
            let bytes = backup::seal(input, &mut output, BackupKind::Sqlite, key)?;
            (BackupKind::Sqlite, bytes)
        }
        DatabaseUrl::Postgres(_, url) => {
            let mut child = postgres_tool(
                "pg_dump",
                url,
                &["--format=custom", "--no-owner", "--no-privileges"],
            )?
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| not_found("pg_dump", error))?;
            let stdout = child.stdout.take().expect("piped");
            let sealed = backup::seal(stdout, &mut output, BackupKind::PostgresDump, key);
            let finished = child.wait_with_output()?;
            if !finished.status.success() {
                bail!(
                    "pg_dump of {} failed: {}",
                    settings.database,
                    said(&finished.stderr)
                );
            }
            (BackupKind::PostgresDump, sealed?)
        }
    };
    output
        .into_inner()
        .map_err(|error| error.into_error())?
        .sync_all()?;
    sealed.keep_as(file)?;
    Ok((kind, bytes))
}

pub async fn restore(args: BackupArgs) -> anyhow::Result<()> {
    let (settings, _) = CommonSettings::resolve(&args.common)?;
    logging::init(settings.log_format, settings.log_or("warn"));
    let key = key(&args, false)?;
    let (kind, _) = backup::inspect(
        std::fs::File::open(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?,
    )
    .with_context(|| args.file.display().to_string())?;
    match (&settings.database, kind) {
        (DatabaseUrl::Sqlite(_), BackupKind::Sqlite)
        | (DatabaseUrl::Postgres(..), BackupKind::PostgresDump) => {}
        (database, kind) => bail!(
            "{} holds {}, but the database to restore into is {database}: set \
             BATON_DATABASE_URL to a database of the same kind",
            args.file.display(),
            kind.describe()
        ),
    }
    let tables = backup::table_count(&settings.database)
        .await
        .with_context(|| settings.database.to_string())?;
    if tables > 0 {
        bail!(
            "{} already holds data ({tables} tables): restore only into an empty database (a \
             new data folder, or a new PostgreSQL database), so that nothing is overwritten",
            settings.database
        );
    }
    if let DatabaseUrl::Sqlite(_) = settings.database {
        startup::prepare_data_dir(&settings.data_dir)?;
    }
    let file = args.file.clone();
    let database = settings.database.clone();
    let bytes = tokio::task::spawn_blocking(move || open_into(&database, &file, &key)).await??;
    // A backup from an earlier version is brought up to this one's schema.
    let store = startup::open_store(&settings).await?;
    store.close().await;
    println!(
        "restored {} ({}, {}) into {}; start Baton on it with the master key the data was made with",
        args.file.display(),
        kind.describe(),
        size(bytes),
        settings.database
    );
    Ok(())
}

fn open_into(database: &DatabaseUrl, file: &Path, key: &BackupKey) -> anyhow::Result<u64> {
    let input = std::io::BufReader::new(std::fs::File::open(file)?);
    match database {
        DatabaseUrl::Sqlite(path) => {
            let restoring = Partial::beside(path, "restoring");
            let mut output = restoring.create()?;
            let (_, bytes) = backup::open(input, &mut output, key)
                .with_context(|| file.display().to_string())?;
            output.sync_all()?;
            drop(output);
            backup::sqlite_check(&restoring.0)?;
            restoring.keep_as(path)?;
            Ok(bytes)
        }
        DatabaseUrl::Postgres(_, url) => {
            let mut child = postgres_tool(
                "pg_restore",
                url,
                &[
                    "--no-owner",
                    "--no-privileges",
                    "--exit-on-error",
                    "--single-transaction",
                ],
            )?
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| not_found("pg_restore", error))?;
            let stdin = child.stdin.take().expect("piped");
            let opened = backup::open(input, stdin, key);
            if opened.is_err() {
                // The transaction is never committed: the database stays empty.
                let _ = child.kill();
            }
            let finished = child.wait_with_output()?;
            let (_, bytes) = opened.with_context(|| file.display().to_string())?;
            if !finished.status.success() {
                bail!("pg_restore failed: {}", said(&finished.stderr));
            }
            Ok(bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let (url, password) =
            libpq("postgres://baton:p%40ss%2Fw0rd@db.internal:5433/prod?sslmode=require").unwrap();
        assert_eq!(
            url,
            "postgres://baton@db.internal:5433/prod?sslmode=require"
        );
        assert_eq!(password.as_deref(), Some("p@ss/w0rd"));
        let (url, password) = libpq("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(password, None);
    }
}
